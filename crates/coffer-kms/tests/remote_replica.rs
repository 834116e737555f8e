//! ADR 0021: a multi-Region replica made by another deployment (another `Kms`, store and root
//! key) from the payload its primary's deployment sends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use coffer_core::{Clock, RequestContext};
use coffer_crypto::RootKey;
use coffer_kms::{Kms, KmsError};
use coffer_model::kms::*;
use coffer_model::{Blob, Timestamp};
use coffer_store::{MemoryStore, Store};
use std::sync::Arc;

struct FixedClock;
impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(1_800_000_000_000)
    }
}

fn deployment(root: u8) -> (Arc<dyn Store>, Kms) {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let root = RootKey::from_bytes(&[root; 32]).unwrap();
    let kms = Kms::load(store.clone(), root, Arc::new(FixedClock)).unwrap();
    (store, kms)
}

fn ctx(region: &str) -> RequestContext {
    RequestContext {
        account_id: "111122223333".into(),
        region: region.into(),
        principal_arn: "arn:aws:iam::111122223333:root".into(),
        role: None,
        secure_transport: false,
    }
}

fn encrypt(kms: &Kms, region: &str, key: &str) -> Vec<u8> {
    kms.encrypt(
        &ctx(region),
        EncryptRequest {
            key_id: Some(key.into()),
            plaintext: Some(Blob::new(b"hello".to_vec())),
            ..Default::default()
        },
    )
    .unwrap()
    .ciphertext_blob
    .as_slice()
    .to_vec()
}

fn decrypt(kms: &Kms, region: &str, blob: &[u8]) -> Result<Vec<u8>, KmsError> {
    kms.decrypt(
        &ctx(region),
        DecryptRequest {
            ciphertext_blob: Some(Blob::new(blob.to_vec())),
            ..Default::default()
        },
    )
    .map(|r| r.plaintext.as_slice().to_vec())
}

fn replicate(region: &str, key: &str) -> ReplicateKeyRequest {
    ReplicateKeyRequest {
        key_id: Some(key.into()),
        replica_region: Some(region.into()),
        description: Some("replica on B".into()),
        ..Default::default()
    }
}

#[test]
fn a_peer_makes_the_replica_from_the_payload_and_ciphertexts_cross() {
    let (_, a) = deployment(1);
    let (b_store, b) = deployment(2);
    let key = a
        .create_key(
            &ctx("eu-central-1"),
            CreateKeyRequest {
                multi_region: Some(true),
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata
        .key_id;
    // Two material versions: every one travels.
    let old = encrypt(&a, "eu-central-1", &key);
    a.rotate_key_on_demand(
        &ctx("eu-central-1"),
        KeyIdRequest {
            key_id: Some(key.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let rr = a
        .remote_replica(&ctx("eu-central-1"), replicate("eu-west-1", &key))
        .unwrap();
    let resp = b
        .accept_remote_replica(
            &rr.account,
            &rr.key_id,
            &rr.primary_region,
            &rr.replica_region,
            &rr.payload,
        )
        .unwrap();
    let md = resp.replica_key_metadata;
    assert_eq!(md.key_state, "Creating");
    assert_eq!(md.description, "replica on B");
    let mrc = md.multi_region_configuration.unwrap();
    assert_eq!(mrc.multi_region_key_type, "REPLICA");
    assert_eq!(mrc.primary_key.region, "eu-central-1");
    a.record_remote_replica(&rr.account, &rr.key_id, "eu-west-1")
        .unwrap();
    let d = a
        .describe_key(
            &ctx("eu-central-1"),
            KeyIdRequest {
                key_id: Some(key.clone()),
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata;
    let replicas: Vec<_> = d
        .multi_region_configuration
        .unwrap()
        .replica_keys
        .into_iter()
        .map(|k| k.region)
        .collect();
    assert_eq!(replicas, ["eu-west-1"]);
    // Both material versions decrypt on B; B's ciphertexts decrypt on A.
    assert_eq!(decrypt(&b, "eu-west-1", &old).unwrap(), b"hello");
    let new = encrypt(&a, "eu-central-1", &key);
    assert_eq!(decrypt(&b, "eu-west-1", &new).unwrap(), b"hello");
    let from_b = encrypt(&b, "eu-west-1", &key);
    assert_eq!(decrypt(&a, "eu-central-1", &from_b).unwrap(), b"hello");
    // B's store holds the replica under B's own root key: it reloads from its store.
    let reloaded = Kms::load(
        b_store.clone(),
        RootKey::from_bytes(&[2; 32]).unwrap(),
        Arc::new(FixedClock),
    )
    .unwrap();
    assert_eq!(decrypt(&reloaded, "eu-west-1", &new).unwrap(), b"hello");
    assert!(Kms::load(
        b_store,
        RootKey::from_bytes(&[1; 32]).unwrap(),
        Arc::new(FixedClock)
    )
    .is_err());
    // Again: AlreadyExists, on A before anything is sent, and on B.
    assert!(matches!(
        a.remote_replica(&ctx("eu-central-1"), replicate("eu-west-1", &key)),
        Err(KmsError::AlreadyExists(_))
    ));
    assert!(matches!(
        b.accept_remote_replica(
            &rr.account,
            &rr.key_id,
            &rr.primary_region,
            &rr.replica_region,
            &rr.payload
        ),
        Err(KmsError::AlreadyExists(_))
    ));
}

#[test]
fn a_rotation_on_the_primary_reaches_the_peer_by_sync() {
    let (_, a) = deployment(1);
    let (_, b) = deployment(2);
    let key = a
        .create_key(
            &ctx("eu-central-1"),
            CreateKeyRequest {
                multi_region: Some(true),
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata
        .key_id;
    // No peer holds a replica yet: nothing to send.
    assert!(a.remote_sync("111122223333", &key).unwrap().is_empty());
    let rr = a
        .remote_replica(&ctx("eu-central-1"), replicate("eu-west-1", &key))
        .unwrap();
    let (acct, id, p, r) = (
        &rr.account,
        &rr.key_id,
        &rr.primary_region,
        &rr.replica_region,
    );
    // A sync before the replica exists is NotFound.
    assert!(matches!(
        b.accept_remote_sync(acct, id, p, r, &rr.payload),
        Err(KmsError::NotFound(_))
    ));
    b.accept_remote_replica(acct, id, p, r, &rr.payload)
        .unwrap();
    a.record_remote_replica(acct, id, r).unwrap();
    a.rotate_key_on_demand(
        &ctx("eu-central-1"),
        KeyIdRequest {
            key_id: Some(key.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let blob = encrypt(&a, "eu-central-1", &key);
    assert!(decrypt(&b, "eu-west-1", &blob).is_err());
    let syncs = a.remote_sync("111122223333", &key).unwrap();
    assert_eq!(syncs.len(), 1);
    let s = &syncs[0];
    assert_eq!(s.replica_region, "eu-west-1");
    b.accept_remote_sync(
        &s.account,
        &s.key_id,
        &s.primary_region,
        &s.replica_region,
        &s.payload,
    )
    .unwrap();
    assert_eq!(decrypt(&b, "eu-west-1", &blob).unwrap(), b"hello");
    // Applied again: harmless.
    b.accept_remote_sync(
        &s.account,
        &s.key_id,
        &s.primary_region,
        &s.replica_region,
        &s.payload,
    )
    .unwrap();
    assert_eq!(decrypt(&b, "eu-west-1", &blob).unwrap(), b"hello");
}

#[test]
fn the_payload_must_match_its_sealed_context() {
    let (_, a) = deployment(1);
    let (_, b) = deployment(2);
    let key = a
        .create_key(
            &ctx("eu-central-1"),
            CreateKeyRequest {
                multi_region: Some(true),
                ..Default::default()
            },
        )
        .unwrap()
        .key_metadata
        .key_id;
    let rr = a
        .remote_replica(&ctx("eu-central-1"), replicate("eu-west-1", &key))
        .unwrap();
    let r = b.accept_remote_replica(
        &rr.account,
        &rr.key_id,
        &rr.primary_region,
        "us-east-1",
        &rr.payload,
    );
    assert!(matches!(r, Err(KmsError::Internal(_))));
    let r = b.accept_remote_replica(
        &rr.account,
        &rr.key_id,
        &rr.primary_region,
        &rr.replica_region,
        &rr.payload[..rr.payload.len() - 1],
    );
    assert!(matches!(r, Err(KmsError::Internal(_))));
    // A single-Region key cannot be replicated at all (as locally).
    let single = a
        .create_key(&ctx("eu-central-1"), CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    assert!(matches!(
        a.remote_replica(&ctx("eu-central-1"), replicate("eu-west-1", &single)),
        Err(KmsError::UnsupportedOperation(_))
    ));
}
