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
