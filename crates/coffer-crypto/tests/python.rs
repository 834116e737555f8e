//! Outside checks for the post-quantum specs, which the `openssl` 3.0 CLI does not know: Python's
//! `cryptography` package (OpenSSL 3.5+ inside) parses Coffer's ML-DSA and ML-KEM keys, verifies
//! its ML-DSA signatures and encapsulates to its ML-KEM keys. Skipped, with a message, when
//! python3 or a `cryptography` with ML-DSA/ML-KEM is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use coffer_crypto::asymmetric::{
    decapsulate, sign, verify, KeyPair, KeySpec, MessageType, PublicKey, SigningAlgorithm,
};
use std::process::Command;

fn python(script: &str, args: &[&str]) -> Option<std::process::Output> {
    Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .ok()
}

fn have_python_pq() -> bool {
    let ok = python(
        "from cryptography.hazmat.primitives.asymmetric import mldsa, mlkem",
        &[],
    )
    .map(|o| o.status.success())
    .unwrap_or(false);
    if !ok {
        eprintln!("SKIP: python3 with cryptography's mldsa/mlkem is not available");
    }
    ok
}

fn run(script: &str, args: &[&str]) -> Vec<u8> {
    let out = python(script, args).unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

const ML_DSA: &str = r#"
import sys
from cryptography.hazmat.primitives import serialization as s
pub_der, sk_der, msg, sig, out = [open(p, 'rb').read() if i < 4 else p for i, p in enumerate(sys.argv[1:])]
pub = s.load_der_public_key(pub_der)
pub.verify(sig, msg)                      # raises on failure
try:
    pub.verify(sig, msg + b'!')
    sys.exit('tampered message verified')
except Exception:
    pass
sk = s.load_der_private_key(sk_der, None)
assert sk.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo) == pub_der
open(out, 'wb').write(sk.sign(msg))
print(type(pub).__name__)
"#;

#[test]
fn ml_dsa_interoperates() {
    if !have_python_pq() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let msg = b"ML-DSA from Coffer".to_vec();
    for (spec, class) in [
        (KeySpec::MlDsa44, "MLDSA44PublicKey"),
        (KeySpec::MlDsa65, "MLDSA65PublicKey"),
        (KeySpec::MlDsa87, "MLDSA87PublicKey"),
    ] {
        let kp = KeyPair::generate(spec).unwrap();
        let sig = sign(&kp, SigningAlgorithm::MlDsaShake256, &msg, MessageType::Raw).unwrap();
        std::fs::write(p("pub.der"), kp.public_key_der()).unwrap();
        std::fs::write(p("sk.der"), kp.private_key_der()).unwrap();
        std::fs::write(p("msg.bin"), &msg).unwrap();
        std::fs::write(p("sig.bin"), &sig).unwrap();
        let out = run(
            ML_DSA,
            &[
                &p("pub.der"),
                &p("sk.der"),
                &p("msg.bin"),
                &p("sig.bin"),
                &p("theirs.bin"),
            ],
        );
        assert!(String::from_utf8_lossy(&out).contains(class), "{spec}");
        // Python signed with the key it read from Coffer's PKCS#8; Coffer verifies.
        let theirs = std::fs::read(p("theirs.bin")).unwrap();
        let public = PublicKey::from_der(spec, kp.public_key_der()).unwrap();
        assert!(verify(
            &public,
            SigningAlgorithm::MlDsaShake256,
            &msg,
            MessageType::Raw,
            &theirs
        )
        .unwrap());
    }
}

const ML_KEM: &str = r#"
import sys
from cryptography.hazmat.primitives import serialization as s
pub_der = open(sys.argv[1], 'rb').read()
pub = s.load_der_public_key(pub_der)
secret, ct = pub.encapsulate()
open(sys.argv[2], 'wb').write(ct)
open(sys.argv[3], 'wb').write(secret)
assert pub.public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo) == pub_der
print(type(pub).__name__)
"#;

#[test]
fn ml_kem_interoperates() {
    if !have_python_pq() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    // Python's cryptography implements ML-KEM-768 and -1024 only, and reads only seed-form
    // private keys, so Coffer's expandedKey PKCS#8 is not checked here.
    for (spec, class) in [
        (KeySpec::MlKem768, "MLKEM768PublicKey"),
        (KeySpec::MlKem1024, "MLKEM1024PublicKey"),
    ] {
        let kp = KeyPair::generate(spec).unwrap();
        std::fs::write(p("pub.der"), kp.public_key_der()).unwrap();
        let out = run(ML_KEM, &[&p("pub.der"), &p("ct.bin"), &p("ss.bin")]);
        assert!(String::from_utf8_lossy(&out).contains(class), "{spec}");
        let ct = std::fs::read(p("ct.bin")).unwrap();
        let ss = std::fs::read(p("ss.bin")).unwrap();
        assert_eq!(&decapsulate(&kp, &ct).unwrap()[..], &ss[..], "{spec}");
    }
}
