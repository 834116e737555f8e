//! Outside checks: the `openssl` CLI verifies Coffer's signatures, parses its public and private
//! keys, encrypts for it and decrypts from it, and recomputes its HMACs and ECDH secrets. Each
//! test prints a skip message and passes when `openssl` is not installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use coffer_crypto::asymmetric::{
    decrypt, derive_shared_secret, encrypt, sign, signing_algorithms, verify, EncryptionAlgorithm,
    HmacKey, KeyAgreementAlgorithm, KeyPair, KeySpec, MacAlgorithm, MessageType, PublicKey,
    SigningAlgorithm,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIP: the openssl CLI is not installed; outside checks not run");
    }
    ok
}

fn openssl(args: &[&str]) -> Output {
    Command::new("openssl").args(args).output().unwrap()
}

/// Runs openssl and insists on success.
fn openssl_ok(args: &[&str]) -> Vec<u8> {
    let out = openssl(args);
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Dir(tempfile::tempdir().unwrap())
    }
    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let p: PathBuf = self.0.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    }
    fn path(&self, name: &str) -> String {
        self.0.path().join(name).to_str().unwrap().to_string()
    }
}

fn read(p: &str) -> Vec<u8> {
    std::fs::read(Path::new(p)).unwrap()
}

/// Writes the public key, checks openssl re-encodes it to the same bytes, returns a PEM path.
fn public_pem(dir: &Dir, kp: &KeyPair, name: &str) -> String {
    let der = dir.write(&format!("{name}.der"), kp.public_key_der());
    let pem = dir.path(&format!("{name}.pem"));
    openssl_ok(&[
        "pkey", "-pubin", "-inform", "DER", "-in", &der, "-out", &pem,
    ]);
    let back = dir.path(&format!("{name}.back.der"));
    openssl_ok(&[
        "pkey", "-pubin", "-in", &pem, "-outform", "DER", "-out", &back,
    ]);
    assert_eq!(
        read(&back),
        kp.public_key_der(),
        "{name}: SPKI is not canonical"
    );
    pem
}

fn hash_name(alg: SigningAlgorithm) -> &'static str {
    match alg.digest_len() {
        Some(32) => "sha256",
        Some(48) => "sha384",
        _ => "sha512",
    }
}

fn is_pss(alg: SigningAlgorithm) -> bool {
    matches!(
        alg,
        SigningAlgorithm::RsassaPssSha256
            | SigningAlgorithm::RsassaPssSha384
            | SigningAlgorithm::RsassaPssSha512
    )
}

fn digest(alg: SigningAlgorithm, msg: &[u8]) -> Vec<u8> {
    use aws_lc_rs::digest as d;
    let a = match alg.digest_len() {
        Some(32) => &d::SHA256,
        Some(48) => &d::SHA384,
        _ => &d::SHA512,
    };
    d::digest(a, msg).as_ref().to_vec()
}

#[test]
fn spki_names_the_algorithm_and_curve() {
    if !have_openssl() {
        return;
    }
    let dir = Dir::new();
    for (spec, names) in [
        (KeySpec::Rsa2048, &["rsaEncryption", "NULL"][..]),
        (KeySpec::EccNistP256, &["id-ecPublicKey", "prime256v1"][..]),
        (KeySpec::EccNistP384, &["id-ecPublicKey", "secp384r1"][..]),
        (KeySpec::EccNistP521, &["id-ecPublicKey", "secp521r1"][..]),
        (KeySpec::EccSecgP256k1, &["id-ecPublicKey", "secp256k1"][..]),
        (KeySpec::EccNistEdwards25519, &["ED25519"][..]),
    ] {
        let kp = KeyPair::generate(spec).unwrap();
        let der = dir.write("spki.der", kp.public_key_der());
        let text =
            String::from_utf8(openssl_ok(&["asn1parse", "-inform", "DER", "-in", &der])).unwrap();
        for n in names {
            assert!(text.contains(n), "{spec}: {n} missing in\n{text}");
        }
        // Private keys are PKCS#8 openssl reads, with the same public key.
        let sk = dir.write("sk.der", kp.private_key_der());
        let pubout = dir.path("pub.der");
        openssl_ok(&[
            "pkey", "-inform", "DER", "-in", &sk, "-pubout", "-outform", "DER", "-out", &pubout,
        ]);
        assert_eq!(read(&pubout), kp.public_key_der(), "{spec}");
        if spec != KeySpec::EccNistEdwards25519 && spec != KeySpec::Rsa2048 {
            // Uncompressed point: 04 || X || Y at the end of the BIT STRING.
            let spki = kp.public_key_der();
            let coord = match spec {
                KeySpec::EccNistP384 => 48,
                KeySpec::EccNistP521 => 66,
                _ => 32,
            };
            assert_eq!(spki[spki.len() - 2 * coord - 1], 0x04, "{spec}");
        }
    }
}

#[test]
fn openssl_verifies_coffer_signatures() {
    if !have_openssl() {
        return;
    }
    let dir = Dir::new();
    let msg = b"Coffer signs, OpenSSL verifies.".to_vec();
    let msg_path = dir.write("msg.bin", &msg);
    for spec in [
        KeySpec::Rsa2048,
        KeySpec::Rsa3072,
        KeySpec::Rsa4096,
        KeySpec::EccNistP256,
        KeySpec::EccNistP384,
        KeySpec::EccNistP521,
        KeySpec::EccSecgP256k1,
        KeySpec::EccNistEdwards25519,
    ] {
        let kp = KeyPair::generate(spec).unwrap();
        let pem = public_pem(&dir, &kp, "pub");
        for &alg in signing_algorithms(spec) {
            if alg == SigningAlgorithm::Ed25519PhSha512 {
                continue; // Unsupported in Coffer.
            }
            let sig = sign(&kp, alg, &msg, MessageType::Raw).unwrap();
            let sig_path = dir.write("sig.bin", &sig);
            let mut bad = sig.clone();
            bad[sig.len() / 2] ^= 1;
            let bad_path = dir.write("bad.bin", &bad);

            if alg == SigningAlgorithm::Ed25519Sha512 {
                let args = |s: &str| {
                    vec![
                        "pkeyutl".to_string(),
                        "-verify".into(),
                        "-pubin".into(),
                        "-inkey".into(),
                        pem.clone(),
                        "-rawin".into(),
                        "-in".into(),
                        msg_path.clone(),
                        "-sigfile".into(),
                        s.to_string(),
                    ]
                };
                let a = args(&sig_path);
                openssl_ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
                let b = args(&bad_path);
                assert!(!openssl(&b.iter().map(String::as_str).collect::<Vec<_>>())
                    .status
                    .success());
                continue;
            }

            // RAW: openssl hashes the message.
            let hash = format!("-{}", hash_name(alg));
            let mut raw_args = vec!["dgst", hash.as_str(), "-verify", pem.as_str()];
            if is_pss(alg) {
                raw_args.extend([
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    "rsa_pss_saltlen:digest",
                    "-sigopt",
                ]);
                raw_args.push(match hash_name(alg) {
                    "sha256" => "rsa_mgf1_md:sha256",
                    "sha384" => "rsa_mgf1_md:sha384",
                    _ => "rsa_mgf1_md:sha512",
                });
            }
            let mut ok = raw_args.clone();
            ok.extend(["-signature", sig_path.as_str(), msg_path.as_str()]);
            openssl_ok(&ok);
            let mut ko = raw_args.clone();
            ko.extend(["-signature", bad_path.as_str(), msg_path.as_str()]);
            assert!(!openssl(&ko).status.success(), "{spec} {alg} tampered");

            // DIGEST: Coffer signs the digest; openssl verifies it as a digest and as RAW.
            let d = digest(alg, &msg);
            let d_path = dir.write("digest.bin", &d);
            let dsig = sign(&kp, alg, &d, MessageType::Digest).unwrap();
            let dsig_path = dir.write("dsig.bin", &dsig);
            let md = format!("digest:{}", hash_name(alg));
            let mut pk_args = vec![
                "pkeyutl",
                "-verify",
                "-pubin",
                "-inkey",
                pem.as_str(),
                "-in",
                d_path.as_str(),
                "-sigfile",
                dsig_path.as_str(),
                "-pkeyopt",
                md.as_str(),
            ];
            if is_pss(alg) {
                pk_args.extend([
                    "-pkeyopt",
                    "rsa_padding_mode:pss",
                    "-pkeyopt",
                    "rsa_pss_saltlen:digest",
                ]);
            }
            openssl_ok(&pk_args);
            let mut ok = raw_args.clone();
            ok.extend(["-signature", dsig_path.as_str(), msg_path.as_str()]);
            openssl_ok(&ok);
        }
    }
}

/// openssl generates keys and signs; Coffer loads the PKCS#8 and verifies.
#[test]
fn coffer_loads_openssl_keys_and_verifies_openssl_signatures() {
    if !have_openssl() {
        return;
    }
    let dir = Dir::new();
    let msg_path = dir.write("msg.bin", b"OpenSSL signs, Coffer verifies.");
    let cases: [(KeySpec, &[&str], SigningAlgorithm); 5] = [
        (
            KeySpec::Rsa2048,
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            SigningAlgorithm::RsassaPssSha256,
        ),
        (
            KeySpec::Rsa3072,
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
            SigningAlgorithm::RsassaPkcs1V15Sha384,
        ),
        (
            KeySpec::EccNistP384,
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            SigningAlgorithm::EcdsaSha384,
        ),
        (
            KeySpec::EccSecgP256k1,
            &[
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:secp256k1",
            ],
            SigningAlgorithm::EcdsaSha256,
        ),
        (
            KeySpec::EccNistEdwards25519,
            &["-algorithm", "ED25519"],
            SigningAlgorithm::Ed25519Sha512,
        ),
    ];
    for (spec, gen, alg) in cases {
        // genpkey's DER output is the traditional form for RSA; convert to PKCS#8 explicitly.
        let pem = dir.path("sk.pem");
        let sk = dir.path("sk.der");
        let mut args = vec!["genpkey"];
        args.extend(gen);
        args.extend(["-out", pem.as_str()]);
        openssl_ok(&args);
        openssl_ok(&[
            "pkcs8", "-topk8", "-nocrypt", "-in", &pem, "-outform", "DER", "-out", &sk,
        ]);
        let kp = KeyPair::from_pkcs8(spec, &read(&sk)).unwrap();
        let spki = dir.path("pub.der");
        openssl_ok(&[
            "pkey", "-inform", "DER", "-in", &sk, "-pubout", "-outform", "DER", "-out", &spki,
        ]);
        let public = PublicKey::from_der(spec, &read(&spki)).unwrap();
        assert_eq!(&public, kp.public_key());

        let sig = dir.path("sig.bin");
        if alg == SigningAlgorithm::Ed25519Sha512 {
            openssl_ok(&[
                "pkeyutl", "-sign", "-inkey", &sk, "-keyform", "DER", "-rawin", "-in", &msg_path,
                "-out", &sig,
            ]);
        } else {
            let hash = format!("-{}", hash_name(alg));
            let mut a = vec![
                "dgst",
                hash.as_str(),
                "-sign",
                sk.as_str(),
                "-keyform",
                "DER",
                "-out",
                sig.as_str(),
            ];
            if is_pss(alg) {
                a.extend([
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    "rsa_pss_saltlen:digest",
                ]);
            }
            a.push(msg_path.as_str());
            openssl_ok(&a);
        }
        let msg = read(&msg_path);
        assert!(
            verify(&public, alg, &msg, MessageType::Raw, &read(&sig)).unwrap(),
            "{spec} {alg}"
        );
        assert!(!verify(&public, alg, b"other", MessageType::Raw, &read(&sig)).unwrap());
    }
}

#[test]
fn rsa_oaep_both_directions() {
    if !have_openssl() {
        return;
    }
    let dir = Dir::new();
    for spec in [KeySpec::Rsa2048, KeySpec::Rsa4096] {
        let kp = KeyPair::generate(spec).unwrap();
        let pem = public_pem(&dir, &kp, "pub");
        let sk = dir.write("sk.der", kp.private_key_der());
        for (alg, md) in [
            (EncryptionAlgorithm::RsaesOaepSha1, "sha1"),
            (EncryptionAlgorithm::RsaesOaepSha256, "sha256"),
        ] {
            let max = coffer_crypto::asymmetric::max_plaintext_len(spec, alg).unwrap();
            let pt: Vec<u8> = (0..max).map(|i| (i * 7) as u8).collect();
            let pt_path = dir.write("pt.bin", &pt);
            let oaep_md = format!("rsa_oaep_md:{md}");
            let mgf_md = format!("rsa_mgf1_md:{md}");
            // openssl encrypts, Coffer decrypts.
            let ct = dir.path("ct.bin");
            openssl_ok(&[
                "pkeyutl",
                "-encrypt",
                "-pubin",
                "-inkey",
                &pem,
                "-in",
                &pt_path,
                "-out",
                &ct,
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                &oaep_md,
                "-pkeyopt",
                &mgf_md,
            ]);
            assert_eq!(
                &decrypt(&kp, alg, &read(&ct)).unwrap()[..],
                &pt[..],
                "{spec} {alg}"
            );
            // Coffer encrypts, openssl decrypts with the exported PKCS#8.
            let ours = encrypt(kp.public_key(), alg, &pt).unwrap();
            let ct2 = dir.write("ct2.bin", &ours);
            let out = dir.path("out.bin");
            openssl_ok(&[
                "pkeyutl",
                "-decrypt",
                "-inkey",
                &sk,
                "-keyform",
                "DER",
                "-in",
                &ct2,
                "-out",
                &out,
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                &oaep_md,
                "-pkeyopt",
                &mgf_md,
            ]);
            assert_eq!(read(&out), pt, "{spec} {alg}");
        }
    }
}

#[test]
fn hmac_matches_openssl() {
    if !have_openssl() {
        return;
    }
    let dir = Dir::new();
    let msg = b"GenerateMac message";
    let msg_path = dir.write("msg.bin", msg);
    for (spec, alg, md) in [
        (KeySpec::Hmac224, MacAlgorithm::HmacSha224, "-sha224"),
        (KeySpec::Hmac256, MacAlgorithm::HmacSha256, "-sha256"),
        (KeySpec::Hmac384, MacAlgorithm::HmacSha384, "-sha384"),
        (KeySpec::Hmac512, MacAlgorithm::HmacSha512, "-sha512"),
    ] {
        let k = HmacKey::generate(spec).unwrap();
        let hexkey = format!("hexkey:{}", hex::encode(k.expose_bytes()));
        let theirs = openssl_ok(&[
            "dgst", md, "-mac", "HMAC", "-macopt", &hexkey, "-binary", &msg_path,
        ]);
        assert_eq!(k.generate_mac(alg, msg).unwrap(), theirs, "{spec}");
        assert!(k.verify_mac(alg, msg, &theirs).unwrap());
    }
}

#[test]
fn ecdh_matches_openssl() {
    if !have_openssl() {
        return;
    }
    let dir = Dir::new();
    for (spec, curve) in [
        (KeySpec::EccNistP256, "P-256"),
        (KeySpec::EccNistP384, "P-384"),
        (KeySpec::EccNistP521, "P-521"),
    ] {
        let ours = KeyPair::generate(spec).unwrap();
        let our_pub = public_pem(&dir, &ours, "ours");
        let peer_pem = dir.path("peer.pem");
        let peer_sk = dir.path("peer.der");
        let param = format!("ec_paramgen_curve:{curve}");
        openssl_ok(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            &param,
            "-out",
            &peer_pem,
        ]);
        openssl_ok(&[
            "pkcs8", "-topk8", "-nocrypt", "-in", &peer_pem, "-outform", "DER", "-out", &peer_sk,
        ]);
        let peer_spki = dir.path("peer_pub.der");
        openssl_ok(&[
            "pkey", "-inform", "DER", "-in", &peer_sk, "-pubout", "-outform", "DER", "-out",
            &peer_spki,
        ]);
        let theirs = openssl_ok(&[
            "pkeyutl", "-derive", "-inkey", &peer_sk, "-keyform", "DER", "-peerkey", &our_pub,
        ]);
        let secret =
            derive_shared_secret(&ours, KeyAgreementAlgorithm::Ecdh, &read(&peer_spki)).unwrap();
        assert_eq!(&secret[..], &theirs[..], "{spec}");
    }
}
