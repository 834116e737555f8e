//! #14, first slice: regions as failure domains. Two deployments, A (eu-central-1) and B
//! (eu-west-1), each its own process and data directory, started from one state file so both
//! know the same root credentials (each keeps its own root key). A request signed for B's
//! region sent to A is refused with AWS's wrong-region error, or forwarded to B over mutual TLS
//! with `forward = true`; STS is global and served locally; a peer whose certificate is not from
//! the federation CA fails closed; bad topologies are one-line start-up errors. ReplicateKey to
//! B's region made on A creates the replica at B with the family's material (ADR 0021), and
//! RotateKeyOnDemand on A brings B the new material.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::pki::TestCa;
use common::*;
use std::path::PathBuf;

const ACCOUNT: &str = "111111111111";

/// A state file holding one account's root credentials, for every deployment to start from.
struct FedState {
    dir: tempfile::TempDir,
    state: PathBuf,
    pass: PathBuf,
    ak: String,
    sk: String,
}

impl FedState {
    fn new() -> FedState {
        let dir = tempfile::tempdir().unwrap();
        let origin = dir.path().join("origin");
        let out = run_coffer(
            dir.path(),
            &[
                "operator",
                "init",
                "--data-dir",
                origin.to_str().unwrap(),
                "--account",
                ACCOUNT,
            ],
            &[],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (ak, sk) = parse_credentials(&String::from_utf8(out.stdout).unwrap());
        let pass = dir.path().join("pass");
        std::fs::write(&pass, "federation test passphrase\n").unwrap();
        let state = dir.path().join("federation.state");
        let out = run_coffer(
            dir.path(),
            &[
                "state",
                "export",
                "--data-dir",
                origin.to_str().unwrap(),
                "--out",
                state.to_str().unwrap(),
                "--passphrase-file",
                pass.to_str().unwrap(),
            ],
            &[],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        FedState {
            dir,
            state,
            pass,
            ak,
            sk,
        }
    }

    /// `coffer state import` of the file into a server's data directory before it starts.
    fn import(&self) -> Vec<String> {
        vec![
            "state".into(),
            "import".into(),
            self.state.to_str().unwrap().into(),
            "--data-dir".into(),
            "{data}".into(),
            "--passphrase-file".into(),
            self.pass.to_str().unwrap().into(),
        ]
    }
}

/// B: owns eu-west-1, speaks TLS with a server certificate `server_ca` issued, takes
/// federation calls from clients with a certificate `fed_ca` issued.
fn start_b(state: &FedState, server_ca: &TestCa, fed_ca: &TestCa) -> Server {
    let pem = server_ca.server();
    Server::start(Options {
        config: Some(
            "[tls]\ncert_file = \"server.crt\"\nkey_file = \"server.key\"\n\
             [federation]\nregions = [\"eu-west-1\"]\nca_file = \"fed-ca.pem\"\n"
                .into(),
        ),
        files: vec![
            ("server.crt".into(), pem.cert),
            ("server.key".into(), pem.key),
            ("fed-ca.pem".into(), fed_ca.cert_pem.clone()),
        ],
        ca_pem: Some(server_ca.cert_pem.clone()),
        setup: vec![state.import()],
        ..Options::default()
    })
}

/// A: owns eu-central-1, plain HTTP on loopback, B as its peer for eu-west-1.
fn start_a(state: &FedState, fed_ca: &TestCa, b: &Server, forward: bool) -> Server {
    let node = fed_ca.client("coffer-central");
    Server::start(Options {
        config: Some(format!(
            "[federation]\nregions = [\"eu-central-1\"]\nforward = {forward}\n\
             ca_file = \"fed-ca.pem\"\ncert_file = \"node.pem\"\nkey_file = \"node-key.pem\"\n\
             [[federation.peers]]\nregions = [\"eu-west-1\"]\nurl = \"https://{}\"\n",
            b.addr
        )),
        files: vec![
            ("fed-ca.pem".into(), fed_ca.cert_pem.clone()),
            ("node.pem".into(), node.cert),
            ("node-key.pem".into(), node.key),
        ],
        setup: vec![state.import()],
        ..Options::default()
    })
}

/// `coffer status --json` of a server, with the federation's root credentials.
fn status(server: &Server, state: &FedState) -> serde_json::Value {
    let creds = state.dir.path().join("credentials");
    std::fs::write(
        &creds,
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            state.ak, state.sk
        ),
    )
    .unwrap();
    let out = run_coffer(
        server.dir(),
        &[
            "status",
            "--endpoint",
            &server.endpoint,
            "--credentials-file",
            creds.to_str().unwrap(),
            "--json",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_region_not_owned_is_refused_as_aws_refuses_it() {
    let a = Server::start(Options {
        config: Some("[federation]\nregions = [\"eu-central-1\"]\n".into()),
        ..Options::default()
    });
    let e = expect_err(
        a.kms(REPLICA).create_key().send().await,
        "InvalidSignatureException",
    );
    assert_eq!(
        e.message(),
        Some("Credential should be scoped to a valid region, not 'eu-west-1'. ")
    );
    let sm = a.secrets(REPLICA);
    expect_err(sm.list_secrets().send().await, "InvalidSignatureException");
    // The owned region is served; STS and IAM are global.
    let key = a.kms(PRIMARY).create_key().send().await.unwrap();
    assert!(key
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .contains(":eu-central-1:"));
    let who = a.sts(REPLICA).get_caller_identity().send().await.unwrap();
    assert!(is_account_id(who.account().unwrap()));
    a.iam().list_roles().send().await.unwrap();
    assert_eq!(a.get("/_coffer/health/ready").status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn forward_sends_a_peers_region_to_the_peer_over_mutual_tls() {
    let state = FedState::new();
    let ca = TestCa::new("coffer federation CA");
    let b = start_b(&state, &ca, &ca);
    let a = start_a(&state, &ca, &b, true);
    let (ak, sk) = (state.ak.as_str(), state.sk.as_str());

    let created = a
        .kms_as(REPLICA, ak, sk)
        .create_key()
        .description("made through A")
        .send()
        .await
        .unwrap();
    let meta = created.key_metadata().unwrap();
    let id = meta.key_id().to_string();
    assert_eq!(
        meta.arn().unwrap(),
        format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{id}")
    );
    // Through A, signed for eu-west-1: B's answer.
    let d = a
        .kms_as(REPLICA, ak, sk)
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.key_metadata().unwrap().description(),
        Some("made through A")
    );
    // At B directly: the key is there.
    let d = b
        .kms_as(REPLICA, ak, sk)
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.key_metadata().unwrap().description(),
        Some("made through A")
    );
    // A does not hold it.
    expect_err(
        a.kms_as(PRIMARY, ak, sk)
            .describe_key()
            .key_id(&id)
            .send()
            .await,
        "NotFoundException",
    );
    // An error of B's comes back unchanged.
    expect_err(
        a.kms_as(REPLICA, ak, sk)
            .describe_key()
            .key_id("alias/none")
            .send()
            .await,
        "NotFoundException",
    );
    // STS is global: served by A whatever the region.
    let who = a
        .sts_as(REPLICA, ak, sk)
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.account(), Some(ACCOUNT));

    let s = status(&a, &state);
    let fed = &s["federation"];
    assert_eq!(fed["regions"], serde_json::json!(["eu-central-1"]));
    assert_eq!(fed["forward"], true);
    let peer = &fed["peers"][0];
    assert_eq!(peer["url"], format!("https://{}", b.addr));
    assert_eq!(peer["regions"], serde_json::json!(["eu-west-1"]));
    assert_eq!(peer["ready"], true, "{peer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_peer_without_a_federation_certificate_fails_closed() {
    let state = FedState::new();
    let fed_ca = TestCa::new("coffer federation CA");
    let rogue = TestCa::new("some other CA");
    let b = start_b(&state, &rogue, &fed_ca);
    let a = start_a(&state, &fed_ca, &b, true);
    let (ak, sk) = (state.ak.as_str(), state.sk.as_str());
    let e = a
        .kms_as(REPLICA, ak, sk)
        .create_key()
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("KMSInternalException"), "{e:?}");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(500));
    assert_eq!(
        e.message(),
        Some("We encountered an internal error. Please try again.")
    );
    // Nothing was made at B.
    let keys = b.kms_as(REPLICA, ak, sk).list_keys().send().await.unwrap();
    assert!(keys.keys().is_empty(), "{keys:?}");
    let s = status(&a, &state);
    let peer = &s["federation"]["peers"][0];
    assert_eq!(peer["ready"], false, "{peer}");
    assert!(
        peer["error"]
            .as_str()
            .unwrap()
            .contains("TLS handshake failed"),
        "{peer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn replicate_key_to_a_peers_region_makes_the_replica_there() {
    let state = FedState::new();
    let ca = TestCa::new("coffer federation CA");
    let mut b = start_b(&state, &ca, &ca);
    let a = start_a(&state, &ca, &b, false);
    let (ak, sk) = (state.ak.as_str(), state.sk.as_str());
    let (a_kms, b_kms) = (a.kms_as(PRIMARY, ak, sk), b.kms_as(REPLICA, ak, sk));

    let id = a_kms
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    // Two material versions, both of which must travel.
    let old_blob = encrypt(&a_kms, &id, b"before rotation").await;
    a_kms
        .rotate_key_on_demand()
        .key_id(&id)
        .send()
        .await
        .unwrap();

    let r = a_kms
        .replicate_key()
        .key_id(&id)
        .replica_region(REPLICA)
        .description("replica on B")
        .tags(
            aws_sdk_kms::types::Tag::builder()
                .tag_key("side")
                .tag_value("west")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let md = r.replica_key_metadata().unwrap();
    assert_eq!(
        md.arn().unwrap(),
        format!("arn:aws:kms:eu-west-1:{ACCOUNT}:key/{id}")
    );
    assert_eq!(md.key_state().unwrap().as_str(), "Creating");
    assert_eq!(r.replica_tags().len(), 1);
    assert!(r.replica_policy().is_some());

    // At B: the replica, B's own record.
    let d = b_kms.describe_key().key_id(&id).send().await.unwrap();
    let md = d.key_metadata().unwrap();
    assert_eq!(md.description(), Some("replica on B"));
    assert_eq!(md.key_state().unwrap().as_str(), "Enabled");
    assert_eq!(md.key_manager().unwrap().as_str(), "CUSTOMER");
    let mrc = md.multi_region_configuration().unwrap();
    assert_eq!(mrc.multi_region_key_type().unwrap().as_str(), "REPLICA");
    assert_eq!(mrc.primary_key().unwrap().region(), Some(PRIMARY));
    // At A: the primary lists the replica B holds.
    let d = a_kms.describe_key().key_id(&id).send().await.unwrap();
    let mrc = d
        .key_metadata()
        .unwrap()
        .multi_region_configuration()
        .unwrap();
    assert_eq!(mrc.multi_region_key_type().unwrap().as_str(), "PRIMARY");
    let replicas: Vec<_> = mrc
        .replica_keys()
        .iter()
        .filter_map(|k| k.region())
        .collect();
    assert_eq!(replicas, [REPLICA]);

    // Ciphertexts cross both ways, old material included.
    assert_eq!(decrypt(&b_kms, &old_blob).await, b"before rotation");
    let blob = encrypt(&a_kms, &id, b"from A").await;
    assert_eq!(decrypt(&b_kms, &blob).await, b"from A");
    let blob = encrypt(&b_kms, &id, b"from B").await;
    assert_eq!(decrypt(&a_kms, &blob).await, b"from B");

    // A rotation on the primary reaches the replica: new material decrypts on B.
    a_kms
        .rotate_key_on_demand()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    let blob = encrypt(&a_kms, &id, b"after rotation").await;
    assert_eq!(decrypt(&b_kms, &blob).await, b"after rotation");
    let blob = encrypt(&b_kms, &id, b"from B, rotated").await;
    assert_eq!(decrypt(&a_kms, &blob).await, b"from B, rotated");

    // Again: AWS's AlreadyExistsException.
    expect_err(
        a_kms
            .replicate_key()
            .key_id(&id)
            .replica_region(REPLICA)
            .send()
            .await,
        "AlreadyExistsException",
    );

    // The internal endpoint: refused without a certificate, or with one of another CA; a
    // federation certificate gets a one-time recipient key.
    let mut tls = pki::ClientTls::trusting(&ca.cert_pem);
    let path = "/_coffer/federation/v1/recipient-key";
    let r = pki::https(&b.addr, &tls, "POST", path, &[], b"").unwrap();
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    tls.client = Some(TestCa::new("some other CA").client("intruder"));
    assert!(pki::https(&b.addr, &tls, "POST", path, &[], b"").map_or(true, |r| r.status != 200));
    tls.client = Some(ca.client("coffer-central"));
    let r = pki::https(&b.addr, &tls, "POST", path, &[], b"").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), coffer_crypto::hybrid::PUBLIC_LEN);
    // A replicate message to nobody's key is refused.
    let r = pki::https(
        &b.addr,
        &tls,
        "POST",
        "/_coffer/federation/v1/replicate-key",
        &[],
        b"\x01",
    )
    .unwrap();
    assert_eq!(r.status, 400);

    // The peer down: KMSInternalException, and nothing half-made at A.
    let id2 = a_kms
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    b.kill9();
    let e = a_kms
        .replicate_key()
        .key_id(&id2)
        .replica_region(REPLICA)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("KMSInternalException"), "{e:?}");
    assert_eq!(
        e.message(),
        Some("We encountered an internal error. Please try again.")
    );
    let d = a_kms.describe_key().key_id(&id2).send().await.unwrap();
    let mrc = d
        .key_metadata()
        .unwrap()
        .multi_region_configuration()
        .unwrap();
    assert!(mrc.replica_keys().is_empty());
}

async fn encrypt(
    kms: &aws_sdk_kms::Client,
    id: &str,
    data: &[u8],
) -> aws_sdk_kms::primitives::Blob {
    kms.encrypt()
        .key_id(id)
        .plaintext(aws_sdk_kms::primitives::Blob::new(data))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone()
}

async fn decrypt(kms: &aws_sdk_kms::Client, blob: &aws_sdk_kms::primitives::Blob) -> Vec<u8> {
    kms.decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .unwrap()
        .plaintext()
        .unwrap()
        .as_ref()
        .to_vec()
}

/// `coffer serve` and `coffer config check` refuse `toml` with one line containing `needle`.
fn refused(toml: &str, needle: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("coffer.toml"),
        format!("listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\n{toml}"),
    )
    .unwrap();
    for args in [
        &["serve", "--config", "coffer.toml"][..],
        &["config", "check", "--config", "coffer.toml"][..],
    ] {
        let out = run_coffer(dir.path(), args, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} accepted {toml}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(needle), "{needle:?} not in {stderr}");
        assert!(
            !dir.path().join("data").exists(),
            "the data dir was created"
        );
    }
}

#[test]
fn bad_topologies_are_one_line_errors() {
    let files = "ca_file = \"ca.pem\"\ncert_file = \"n.pem\"\nkey_file = \"k.pem\"\n";
    refused(
        &format!(
            "[federation]\nregions = [\"eu-central-1\", \"eu-west-1\"]\n{files}\
             [[federation.peers]]\nregions = [\"eu-west-1\"]\nurl = \"https://west:8443\"\n"
        ),
        "[[federation.peers]] 1 regions: region eu-west-1 is owned twice, by [federation] \
         regions and by [[federation.peers]] 1",
    );
    refused(
        &format!(
            "[federation]\nregions = [\"eu-central-1\"]\n{files}\
             [[federation.peers]]\nregions = [\"eu-west-1\"]\nurl = \"http://west:8443\"\n"
        ),
        "[[federation.peers]] 1: url \"http://west:8443\" must be https://",
    );
    refused(
        "[federation]\nregions = [\"middle-earth\"]\n",
        "[federation] regions: \"middle-earth\" is not a region name",
    );
    refused(
        "[federation]\nregions = [\"eu-central-1\"]\nforward = true\n",
        "[federation] forward = true needs [[federation.peers]]",
    );
    refused(
        "[federation]\nregions = [\"eu-central-1\"]\n\
         [[federation.peers]]\nregions = [\"eu-west-1\"]\nurl = \"https://west:8443\"\n",
        "[federation] ca_file is required",
    );
    // The files are loaded: a missing one names itself.
    refused(
        &format!(
            "[federation]\nregions = [\"eu-central-1\"]\n{files}\
             [[federation.peers]]\nregions = [\"eu-west-1\"]\nurl = \"https://west:8443\"\n"
        ),
        "cannot read federation CA file ca.pem",
    );
}
