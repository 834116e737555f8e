//! Random bytes from aws-lc-rs's system random source.

use crate::CryptoError;
use zeroize::Zeroizing;

/// `n` random bytes, zeroized when dropped.
pub fn bytes(n: usize) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let mut out = Zeroizing::new(vec![0u8; n]);
    aws_lc_rs::rand::fill(&mut out).map_err(|_| CryptoError::Library)?;
    Ok(out)
}

/// A fixed-size random array (for identifiers and nonces, not secrets).
pub fn array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).map_err(|_| CryptoError::Library)?;
    Ok(out)
}

/// A random (version 4) UUID, hyphenated (`6f1c…-…`): request IDs and the like.
///
/// Drawn from aws-lc-rs's user-space DRBG rather than `uuid::Uuid::new_v4` (a `getrandom`
/// system call each): a request used to make two such calls, a third of its system calls.
pub fn uuid_v4() -> String {
    let bytes = array::<16>().unwrap_or_else(|_| *uuid::Uuid::new_v4().as_bytes());
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

#[cfg(test)]
mod uuid_tests {
    #[test]
    fn uuids_are_version_4_and_distinct() {
        let (a, b) = (super::uuid_v4(), super::uuid_v4());
        assert_ne!(a, b);
        let u = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(u.get_version_num(), 4);
        assert_eq!(a.len(), 36);
    }
}
