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

/// A request ID in UUID version 4 form, unique but not secret (it is sent to the caller and
/// logged): a per-thread random seed drawn once from aws-lc-rs, then a counter mixed by
/// SplitMix64 — no call into the random generator per request, which showed in profiles (RDRAND).
/// Never use it for key IDs, tokens or anything an attacker must not predict: use [`uuid_v4`].
pub fn request_id() -> String {
    use std::cell::Cell;
    fn mix(mut z: u64) -> u64 {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    thread_local! {
        static STATE: Cell<Option<(u64, u64)>> = const { Cell::new(None) };
    }
    let (seed, n) = STATE.with(|st| {
        let (seed, n) = st.get().unwrap_or_else(|| {
            let b = array::<16>().unwrap_or_else(|_| *uuid::Uuid::new_v4().as_bytes());
            let (lo, hi) = b.split_at(8);
            let word = |s: &[u8]| u64::from_le_bytes(s.try_into().unwrap_or([0; 8]));
            (word(lo), word(hi))
        });
        st.set(Some((seed, n.wrapping_add(1))));
        (seed, n)
    });
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&mix(seed ^ n).to_le_bytes());
    bytes[8..].copy_from_slice(&mix(n.wrapping_add(seed.rotate_left(32))).to_le_bytes());
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

    #[test]
    fn request_ids_are_version_4_and_distinct() {
        let ids: std::collections::HashSet<String> =
            (0..10_000).map(|_| super::request_id()).collect();
        assert_eq!(ids.len(), 10_000);
        let other = std::thread::spawn(super::request_id).join().unwrap();
        assert!(!ids.contains(&other));
        for id in ids.iter().take(10) {
            assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 4);
        }
    }
}
