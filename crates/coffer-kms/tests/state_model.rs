//! Property test (issue #16 part 2): a KMS key's states under any sequence of EnableKey,
//! DisableKey, ScheduleKeyDeletion, CancelKeyDeletion, UpdateKeyDescription, TagResource,
//! Encrypt, Decrypt, GenerateDataKey and the passing of days, compared after every step with
//! a reference model written from AWS's key-state table: which operations succeed in which
//! state, which error the others get (DisabledException for cryptography on a disabled key,
//! KMSInvalidStateException for a key pending deletion, NotFoundException once it is
//! deleted), and that the state read back through DescribeKey — and from the store, by a
//! freshly loaded service — is the model's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use coffer_core::{Clock, RequestContext};
use coffer_crypto::RootKey;
use coffer_kms::{Kms, KmsError};
use coffer_model::kms::*;
use coffer_model::{Blob, Timestamp};
use coffer_store::{MemoryStore, Store};
use proptest::prelude::*;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

const DAY_MS: i64 = 86_400_000;

struct FakeClock(AtomicI64);
impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
}

fn ctx() -> RequestContext {
    RequestContext {
        account_id: "111122223333".into(),
        region: "eu-central-1".into(),
        principal_arn: "arn:aws:iam::111122223333:root".into(),
        role: None,
        secure_transport: false,
    }
}

/// The model's key states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Enabled,
    Disabled,
    /// Deleted at this time (ms).
    PendingDeletion(i64),
    Deleted,
}

impl State {
    fn name(self) -> Option<&'static str> {
        match self {
            State::Enabled => Some("Enabled"),
            State::Disabled => Some("Disabled"),
            State::PendingDeletion(_) => Some("PendingDeletion"),
            State::Deleted => None,
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Enable,
    Disable,
    Schedule(i64),
    Cancel,
    Describe(u8),
    Tag(u8),
    Encrypt,
    Decrypt,
    DataKey,
    Days(i64),
    Reload,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Enable),
        3 => Just(Op::Disable),
        2 => (7i64..=30).prop_map(Op::Schedule),
        2 => Just(Op::Cancel),
        1 => any::<u8>().prop_map(Op::Describe),
        1 => any::<u8>().prop_map(Op::Tag),
        2 => Just(Op::Encrypt),
        2 => Just(Op::Decrypt),
        1 => Just(Op::DataKey),
        2 => (1i64..=12).prop_map(Op::Days),
        1 => Just(Op::Reload),
    ]
}

/// The error code AWS's key-state table gives `op` in `state`, or `None` for success.
/// `crypto`: the operation uses the key material (Encrypt, Decrypt, GenerateDataKey).
fn expected(state: State, crypto: bool, allowed_pending: bool) -> Option<&'static str> {
    match state {
        State::Deleted => Some("NotFound"),
        State::PendingDeletion(_) if allowed_pending => None,
        State::PendingDeletion(_) => Some("InvalidState"),
        State::Disabled if crypto => Some("Disabled"),
        State::Enabled | State::Disabled => None,
    }
}

fn code<T>(r: &Result<T, KmsError>) -> Option<&'static str> {
    match r {
        Ok(_) => None,
        Err(KmsError::NotFound(_)) => Some("NotFound"),
        Err(KmsError::InvalidState(_)) => Some("InvalidState"),
        Err(KmsError::Disabled(_)) => Some("Disabled"),
        Err(_) => Some("other"),
    }
}

struct World {
    store: Arc<dyn Store>,
    root: RootKey,
    clock: Arc<FakeClock>,
    kms: Kms,
    key: String,
    ciphertext: Vec<u8>,
}

fn world() -> World {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let root = RootKey::from_bytes(&[7u8; 32]).unwrap();
    let clock = Arc::new(FakeClock(AtomicI64::new(1_800_000_000_000)));
    let kms = Kms::load(store.clone(), root.clone(), clock.clone()).unwrap();
    let key = kms
        .create_key(&ctx(), CreateKeyRequest::default())
        .unwrap()
        .key_metadata
        .key_id;
    let ciphertext = kms
        .encrypt(
            &ctx(),
            EncryptRequest {
                key_id: Some(key.clone()),
                plaintext: Some(Blob::new(b"model".to_vec())),
                ..Default::default()
            },
        )
        .unwrap()
        .ciphertext_blob
        .as_slice()
        .to_vec();
    World {
        store,
        root,
        clock,
        kms,
        key,
        ciphertext,
    }
}

fn id(w: &World) -> Option<String> {
    Some(w.key.clone())
}

/// Runs `op` on the service and the model; returns an explanation of any difference.
fn step(w: &mut World, model: &mut State, op: &Op) -> Result<(), String> {
    let c = ctx();
    let (got, want) = match op {
        Op::Enable => {
            let r = code(&w.kms.enable_key(
                &c,
                KeyIdRequest {
                    key_id: id(w),
                    grant_tokens: None,
                },
            ));
            let want = expected(*model, false, false);
            if want.is_none() {
                *model = State::Enabled;
            }
            (r, want)
        }
        Op::Disable => {
            let r = code(&w.kms.disable_key(
                &c,
                KeyIdRequest {
                    key_id: id(w),
                    grant_tokens: None,
                },
            ));
            let want = expected(*model, false, false);
            if want.is_none() {
                *model = State::Disabled;
            }
            (r, want)
        }
        Op::Schedule(days) => {
            let r = w.kms.schedule_key_deletion(
                &c,
                ScheduleKeyDeletionRequest {
                    key_id: id(w),
                    pending_window_in_days: Some(*days),
                },
            );
            let want = expected(*model, false, false);
            if let Ok(resp) = &r {
                let due = resp
                    .deletion_date
                    .map(|t| t.millis)
                    .ok_or("ScheduleKeyDeletion without DeletionDate")?;
                let now = w.clock.now().millis;
                if due < now + days * DAY_MS || due > now + (days + 1) * DAY_MS {
                    return Err(format!("DeletionDate {due} for {days} days from {now}"));
                }
                if resp.key_state != "PendingDeletion" {
                    return Err(format!("ScheduleKeyDeletion answered {}", resp.key_state));
                }
                if want.is_none() {
                    *model = State::PendingDeletion(due);
                }
            }
            (code(&r), want)
        }
        Op::Cancel => {
            let r = code(&w.kms.cancel_key_deletion(
                &c,
                KeyIdRequest {
                    key_id: id(w),
                    grant_tokens: None,
                },
            ));
            let want = match *model {
                State::PendingDeletion(_) => {
                    *model = State::Disabled;
                    None
                }
                State::Deleted => Some("NotFound"),
                _ => Some("InvalidState"),
            };
            (r, want)
        }
        Op::Describe(n) => {
            let r = code(&w.kms.update_key_description(
                &c,
                UpdateKeyDescriptionRequest {
                    key_id: id(w),
                    description: Some(format!("description {n}")),
                },
            ));
            (r, expected(*model, false, false))
        }
        Op::Tag(n) => {
            let r = code(&w.kms.tag_resource(
                &c,
                TagResourceRequest {
                    key_id: id(w),
                    tags: Some(vec![Tag {
                        tag_key: Some(format!("k{}", n % 4)),
                        tag_value: Some(format!("v{n}")),
                    }]),
                },
            ));
            (r, expected(*model, false, false))
        }
        Op::Encrypt => {
            let r = w.kms.encrypt(
                &c,
                EncryptRequest {
                    key_id: id(w),
                    plaintext: Some(Blob::new(b"x".to_vec())),
                    ..Default::default()
                },
            );
            (code(&r), expected(*model, true, false))
        }
        Op::Decrypt => {
            let r = w.kms.decrypt(
                &c,
                DecryptRequest {
                    ciphertext_blob: Some(Blob::new(w.ciphertext.clone())),
                    ..Default::default()
                },
            );
            if let Ok(p) = &r {
                if p.plaintext.as_slice() != b"model" {
                    return Err("Decrypt gave another plaintext".into());
                }
            }
            // A ciphertext of a deleted key can never be decrypted: AWS answers
            // NotFoundException for the key it names.
            (code(&r), expected(*model, true, false))
        }
        Op::DataKey => {
            let r = w.kms.generate_data_key(
                &c,
                GenerateDataKeyRequest {
                    key_id: id(w),
                    key_spec: Some("AES_256".into()),
                    ..Default::default()
                },
            );
            (code(&r), expected(*model, true, false))
        }
        Op::Days(d) => {
            w.clock.0.fetch_add(d * DAY_MS, Ordering::SeqCst);
            w.kms.run_due().map_err(|e| format!("run_due: {e}"))?;
            if let State::PendingDeletion(due) = *model {
                if w.clock.now().millis >= due {
                    *model = State::Deleted;
                }
            }
            (None, None)
        }
        Op::Reload => {
            w.kms = Kms::load(w.store.clone(), w.root.clone(), w.clock.clone())
                .map_err(|e| format!("reload: {e}"))?;
            (None, None)
        }
    };
    if got != want {
        return Err(format!(
            "{op:?} in {model:?}: got {got:?}, the model says {want:?}"
        ));
    }
    check_state(w, *model)
}

/// DescribeKey, on the service and on a service loaded from the store, shows the model's state.
fn check_state(w: &World, model: State) -> Result<(), String> {
    let fresh = Kms::load(w.store.clone(), w.root.clone(), w.clock.clone())
        .map_err(|e| format!("load: {e}"))?;
    for (which, kms) in [("service", &w.kms), ("reloaded", &fresh)] {
        let d = kms.describe_key(
            &ctx(),
            KeyIdRequest {
                key_id: id(w),
                grant_tokens: None,
            },
        );
        match (model.name(), d) {
            (None, Err(KmsError::NotFound(_))) => {}
            (Some(want), Ok(d)) if d.key_metadata.key_state == want => {
                let pending = matches!(model, State::PendingDeletion(_));
                if d.key_metadata.deletion_date.is_some() != pending {
                    return Err(format!("{which}: DeletionDate in {want}"));
                }
                if d.key_metadata.enabled != (want == "Enabled") {
                    return Err(format!("{which}: Enabled flag in {want}"));
                }
            }
            (want, got) => {
                return Err(format!(
                    "{which}: DescribeKey {got:?}, the model says {want:?}"
                ))
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn key_states_follow_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let mut w = world();
        let mut model = State::Enabled;
        for (i, o) in ops.iter().enumerate() {
            if let Err(e) = step(&mut w, &mut model, o) {
                prop_assert!(false, "step {i} of {ops:?}: {e}");
            }
        }
    }
}
