//! The little DER this module needs: reading a `SubjectPublicKeyInfo` header to check which key it
//! holds, and writing/reading the ML-KEM encodings that aws-lc-rs does not provide. Every read is
//! bounds-checked and rejects anything but definite, minimal lengths.

/// `rsaEncryption` (1.2.840.113549.1.1.1).
pub(crate) const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// `id-ecPublicKey` (1.2.840.10045.2.1).
pub(crate) const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// `prime256v1` / secp256r1 (1.2.840.10045.3.1.7).
pub(crate) const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// `secp384r1` (1.3.132.0.34).
pub(crate) const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
/// `secp521r1` (1.3.132.0.35).
pub(crate) const OID_P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
/// `secp256k1` (1.3.132.0.10).
pub(crate) const OID_SECP256K1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x0a];
/// `id-Ed25519` (1.3.101.112).
pub(crate) const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];
/// `id-ml-dsa-44` (2.16.840.1.101.3.4.3.17).
pub(crate) const OID_ML_DSA_44: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x11];
/// `id-ml-dsa-65` (2.16.840.1.101.3.4.3.18).
pub(crate) const OID_ML_DSA_65: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x12];
/// `id-ml-dsa-87` (2.16.840.1.101.3.4.3.19).
pub(crate) const OID_ML_DSA_87: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x03, 0x13];
/// `id-alg-ml-kem-512` (2.16.840.1.101.3.4.4.1).
pub(crate) const OID_ML_KEM_512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, 0x01];
/// `id-alg-ml-kem-768` (2.16.840.1.101.3.4.4.2).
pub(crate) const OID_ML_KEM_768: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, 0x02];
/// `id-alg-ml-kem-1024` (2.16.840.1.101.3.4.4.3).
pub(crate) const OID_ML_KEM_1024: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, 0x03];

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_NULL: u8 = 0x05;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;

/// A cursor over DER bytes.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { rest: input }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Reads one TLV and returns its tag and contents.
    pub(crate) fn any(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.rest.split_first()?;
        if tag & 0x1f == 0x1f {
            return None; // high tag numbers: never used here
        }
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None; // indefinite or absurd length
            }
            let (len_bytes, rest) = rest.split_at(n);
            if len_bytes[0] == 0 {
                return None; // not minimal
            }
            let len = len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len < 0x80 {
                return None; // not minimal
            }
            (len, rest)
        };
        if rest.len() < len {
            return None;
        }
        let (value, rest) = rest.split_at(len);
        self.rest = rest;
        Some((tag, value))
    }

    /// Reads one TLV that must carry `tag`.
    pub(crate) fn expect(&mut self, tag: u8) -> Option<&'a [u8]> {
        match self.any()? {
            (t, v) if t == tag => Some(v),
            _ => None,
        }
    }
}

/// The parts of a `SubjectPublicKeyInfo` this crate checks.
pub(crate) struct Spki<'a> {
    /// The algorithm OID.
    pub(crate) algorithm: &'a [u8],
    /// The parameters: `Some(oid)` for a named curve, `None` when absent or NULL.
    pub(crate) curve: Option<&'a [u8]>,
    /// The key bits, without the unused-bits byte.
    pub(crate) key: &'a [u8],
}

/// Parses a DER `SubjectPublicKeyInfo`, requiring the whole input to be exactly one.
pub(crate) fn parse_spki(input: &[u8]) -> Option<Spki<'_>> {
    let mut outer = Reader::new(input);
    let body = outer.expect(TAG_SEQUENCE)?;
    if !outer.is_empty() {
        return None;
    }
    let mut r = Reader::new(body);
    let alg = r.expect(TAG_SEQUENCE)?;
    let bits = r.expect(TAG_BIT_STRING)?;
    if !r.is_empty() {
        return None;
    }
    let mut a = Reader::new(alg);
    let algorithm = a.expect(TAG_OID)?;
    let curve = match a.any() {
        None => None,
        Some((TAG_NULL, [])) => None,
        Some((TAG_OID, oid)) => Some(oid),
        Some(_) => return None,
    };
    if !a.is_empty() {
        return None;
    }
    let (&unused, key) = bits.split_first()?;
    if unused != 0 {
        return None;
    }
    Some(Spki {
        algorithm,
        curve,
        key,
    })
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        // Fits in the short form.
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Appends one TLV.
pub(crate) fn push_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    push_len(out, value.len());
    out.extend_from_slice(value);
}

/// `SEQUENCE { OID }`: an AlgorithmIdentifier with absent parameters (the ML-KEM form).
fn algorithm_identifier(oid: &[u8]) -> Vec<u8> {
    let mut inner = Vec::with_capacity(oid.len() + 2);
    push_tlv(&mut inner, TAG_OID, oid);
    let mut out = Vec::with_capacity(inner.len() + 2);
    push_tlv(&mut out, TAG_SEQUENCE, &inner);
    out
}

/// A `SubjectPublicKeyInfo` with absent algorithm parameters around raw key bytes.
pub(crate) fn encode_spki(oid: &[u8], key: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(key.len() + 1);
    bits.push(0);
    bits.extend_from_slice(key);
    let mut body = algorithm_identifier(oid);
    push_tlv(&mut body, TAG_BIT_STRING, &bits);
    let mut out = Vec::with_capacity(body.len() + 4);
    push_tlv(&mut out, TAG_SEQUENCE, &body);
    out
}

/// A PKCS#8 v1 `PrivateKeyInfo` whose private key is `OCTET STRING { OCTET STRING key }` — the
/// `expandedKey` choice of the ML-KEM private key encoding.
pub(crate) fn encode_pkcs8_expanded(oid: &[u8], key: &[u8]) -> zeroize::Zeroizing<Vec<u8>> {
    use zeroize::Zeroizing;
    let mut inner = Zeroizing::new(Vec::with_capacity(key.len() + 4));
    push_tlv(&mut inner, TAG_OCTET_STRING, key);
    let mut body = Zeroizing::new(Vec::with_capacity(inner.len() + 24));
    push_tlv(&mut body, TAG_INTEGER, &[0]);
    body.extend_from_slice(&algorithm_identifier(oid));
    push_tlv(&mut body, TAG_OCTET_STRING, &inner);
    let mut out = Zeroizing::new(Vec::with_capacity(body.len() + 4));
    push_tlv(&mut out, TAG_SEQUENCE, &body);
    out
}

/// Reads a PKCS#8 `PrivateKeyInfo` (v1 or v2) for `oid` and returns the `expandedKey` of the
/// `expandedKey` or `both` forms. The seed-only form is refused: aws-lc-rs cannot expand an
/// ML-KEM seed.
pub(crate) fn parse_pkcs8_expanded<'a>(input: &'a [u8], oid: &[u8]) -> Option<&'a [u8]> {
    let mut outer = Reader::new(input);
    let body = outer.expect(TAG_SEQUENCE)?;
    if !outer.is_empty() {
        return None;
    }
    let mut r = Reader::new(body);
    let version = r.expect(TAG_INTEGER)?;
    if version != [0] && version != [1] {
        return None;
    }
    let mut alg = Reader::new(r.expect(TAG_SEQUENCE)?);
    if alg.expect(TAG_OID)? != oid || !alg.is_empty() {
        return None;
    }
    let wrapped = r.expect(TAG_OCTET_STRING)?;
    // Optional attributes [0] and public key [1] may follow; they are ignored.
    let mut w = Reader::new(wrapped);
    let key = match w.any()? {
        (TAG_OCTET_STRING, expanded) => expanded,
        (TAG_SEQUENCE, both) => {
            // `both`: the seed (which aws-lc-rs cannot use) and the expanded key.
            let mut b = Reader::new(both);
            let seed = b.expect(TAG_OCTET_STRING)?;
            let expanded = b.expect(TAG_OCTET_STRING)?;
            if seed.len() != 64 || !b.is_empty() {
                return None;
            }
            expanded
        }
        _ => return None,
    };
    if !w.is_empty() {
        return None;
    }
    Some(key)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip() {
        for len in [0usize, 1, 127, 128, 255, 256, 1632, 70000] {
            let v = vec![7u8; len];
            let mut out = Vec::new();
            push_tlv(&mut out, TAG_OCTET_STRING, &v);
            let mut r = Reader::new(&out);
            assert_eq!(r.expect(TAG_OCTET_STRING).unwrap(), &v[..]);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn rejects_non_minimal_and_truncated() {
        assert!(Reader::new(&[0x04, 0x81, 0x05, 0, 0, 0, 0, 0])
            .any()
            .is_none());
        assert!(Reader::new(&[0x04, 0x82, 0x00, 0x80]).any().is_none());
        assert!(Reader::new(&[0x04, 0x80]).any().is_none());
        assert!(Reader::new(&[0x04, 0x05, 1, 2]).any().is_none());
        assert!(Reader::new(&[0x1f, 0x01, 0x00]).any().is_none());
    }

    #[test]
    fn spki_round_trip() {
        let der = encode_spki(OID_ML_KEM_512, &[1, 2, 3]);
        let s = parse_spki(&der).unwrap();
        assert_eq!(s.algorithm, OID_ML_KEM_512);
        assert!(s.curve.is_none());
        assert_eq!(s.key, &[1, 2, 3]);
        let mut trailing = der.clone();
        trailing.push(0);
        assert!(parse_spki(&trailing).is_none());
    }

    #[test]
    fn pkcs8_round_trip() {
        let der = encode_pkcs8_expanded(OID_ML_KEM_768, &[9u8; 300]);
        assert_eq!(
            parse_pkcs8_expanded(&der, OID_ML_KEM_768).unwrap(),
            &[9u8; 300][..]
        );
        assert!(parse_pkcs8_expanded(&der, OID_ML_KEM_512).is_none());

        // The `both` form yields the expanded key; the seed-only form is refused.
        let mut both = Vec::new();
        push_tlv(&mut both, TAG_OCTET_STRING, &[1u8; 64]);
        push_tlv(&mut both, TAG_OCTET_STRING, &[9u8; 300]);
        let mut inner = Vec::new();
        push_tlv(&mut inner, TAG_SEQUENCE, &both);
        let der = pkcs8_with(OID_ML_KEM_768, &inner);
        assert_eq!(
            parse_pkcs8_expanded(&der, OID_ML_KEM_768).unwrap(),
            &[9u8; 300][..]
        );
        let mut seed = Vec::new();
        push_tlv(&mut seed, 0x80, &[1u8; 64]);
        assert!(parse_pkcs8_expanded(&pkcs8_with(OID_ML_KEM_768, &seed), OID_ML_KEM_768).is_none());
    }

    fn pkcs8_with(oid: &[u8], private_key: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        push_tlv(&mut body, TAG_INTEGER, &[0]);
        body.extend_from_slice(&algorithm_identifier(oid));
        push_tlv(&mut body, TAG_OCTET_STRING, private_key);
        let mut out = Vec::new();
        push_tlv(&mut out, TAG_SEQUENCE, &body);
        out
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..300usize {
            let v: Vec<u8> = (0..len).map(|i| (i * 131 % 251) as u8).collect();
            let _ = parse_spki(&v);
            let _ = parse_pkcs8_expanded(&v, OID_ML_KEM_512);
            let mut w = v.clone();
            if w.len() > 2 {
                w[0] = 0x30;
                w[1] = 0x82;
            }
            let _ = parse_spki(&w);
            let _ = parse_pkcs8_expanded(&w, OID_ML_KEM_512);
        }
    }
}
