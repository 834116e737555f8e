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
    world_with(false)
}

/// A world whose key is a multi-Region primary in the first region.
fn world_mrk() -> World {
    world_with(true)
}

fn world_with(multi_region: bool) -> World {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let root = RootKey::from_bytes(&[7u8; 32]).unwrap();
    let clock = Arc::new(FakeClock(AtomicI64::new(1_800_000_000_000)));
    let kms = Kms::load(store.clone(), root.clone(), clock.clone()).unwrap();
    let key = kms
        .create_key(
            &ctx(),
            CreateKeyRequest {
                multi_region: Some(multi_region),
                ..Default::default()
            },
        )
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

// ---------------------------------------------------------------------------------------------
// Multi-Region key families
// ---------------------------------------------------------------------------------------------

const REGIONS: [&str; 3] = ["eu-central-1", "eu-west-1", "us-east-1"];

fn ctx_in(region: &str) -> RequestContext {
    RequestContext {
        region: region.into(),
        ..ctx()
    }
}

#[derive(Debug, Clone)]
enum FamilyOp {
    /// ReplicateKey called in region `.0` to region `.1`.
    Replicate(usize, usize),
    /// UpdatePrimaryRegion called in region `.0` naming region `.1`.
    UpdatePrimary(usize, usize),
    Schedule(usize, i64),
    Cancel(usize),
    Enable(usize),
    Disable(usize),
    /// Decrypt, in this region, of the ciphertext made in the first primary region at the start.
    Decrypt(usize),
    Days(i64),
}

fn family_op() -> impl Strategy<Value = FamilyOp> {
    let r = || 0usize..3;
    prop_oneof![
        4 => (r(), r()).prop_map(|(a, b)| FamilyOp::Replicate(a, b)),
        2 => (r(), 1usize..3).prop_map(|(a, k)| FamilyOp::UpdatePrimary(a, (a + k) % 3)),
        3 => (r(), 7i64..=30).prop_map(|(a, d)| FamilyOp::Schedule(a, d)),
        1 => r().prop_map(FamilyOp::Cancel),
        1 => r().prop_map(FamilyOp::Enable),
        1 => r().prop_map(FamilyOp::Disable),
        2 => r().prop_map(FamilyOp::Decrypt),
        3 => (1i64..=20).prop_map(FamilyOp::Days),
    ]
}

/// The model of a family: each region's key state (`None`: no key there), the primary's region
/// and each key's pending window.
#[derive(Debug, Clone)]
struct Family {
    states: [Option<State>; 3],
    replica_wait: [bool; 3],
    windows: [i64; 3],
    primary: usize,
}

impl Family {
    fn members(&self) -> usize {
        self.states.iter().filter(|s| s.is_some()).count()
    }
}

/// The error for an operation that needs an Enabled key (use), or accepts Enabled and Disabled
/// (manage), on a key in `s`.
fn family_expected(s: Option<State>, use_only: bool) -> Option<&'static str> {
    match s {
        None => Some("NotFound"),
        Some(State::Enabled) => None,
        Some(State::Disabled) if use_only => Some("Disabled"),
        Some(State::Disabled) => None,
        Some(_) => Some("InvalidState"),
    }
}

fn family_step(w: &mut World, f: &mut Family, op: &FamilyOp) -> Result<(), String> {
    let key = || Some(w.key.clone());
    let (got, want) = match *op {
        FamilyOp::Replicate(at, to) => {
            let r = code(&w.kms.replicate_key(
                &ctx_in(REGIONS[at]),
                ReplicateKeyRequest {
                    key_id: key(),
                    replica_region: Some(REGIONS[to].into()),
                    ..Default::default()
                },
            ));
            let want = match family_expected(f.states[at], false) {
                Some(e) => Some(e),
                None if at != f.primary => Some("other"), // UnsupportedOperation: not the primary
                None if at == to => Some("other"),        // ValidationException
                None if f.states[to].is_some() => Some("other"), // AlreadyExists
                None => {
                    f.states[to] = Some(State::Enabled);
                    f.replica_wait[to] = false;
                    None
                }
            };
            (r, want)
        }
        FamilyOp::UpdatePrimary(at, to) => {
            let r = code(&w.kms.update_primary_region(
                &ctx_in(REGIONS[at]),
                UpdatePrimaryRegionRequest {
                    key_id: key(),
                    primary_region: Some(REGIONS[to].into()),
                },
            ));
            let want = match family_expected(f.states[at], true) {
                Some(e) => Some(e),
                None if at != f.primary => Some("other"), // UnsupportedOperation
                None => match family_expected(f.states[to], true) {
                    Some(e) => Some(e),
                    None => {
                        f.primary = to;
                        None
                    }
                },
            };
            (r, want)
        }
        FamilyOp::Schedule(at, days) => {
            let r = w.kms.schedule_key_deletion(
                &ctx_in(REGIONS[at]),
                ScheduleKeyDeletionRequest {
                    key_id: key(),
                    pending_window_in_days: Some(days),
                },
            );
            let want = family_expected(f.states[at], false);
            if want.is_none() {
                f.windows[at] = days;
                if at == f.primary && f.members() > 1 {
                    f.replica_wait[at] = true;
                    f.states[at] = Some(State::PendingDeletion(i64::MAX));
                    if r.as_ref().map(|x| x.key_state.as_str()).ok()
                        != Some("PendingReplicaDeletion")
                    {
                        return Err(format!("a primary with replicas: {r:?}"));
                    }
                } else {
                    let due = r
                        .as_ref()
                        .ok()
                        .and_then(|x| x.deletion_date)
                        .map(|t| t.millis)
                        .ok_or_else(|| format!("no DeletionDate: {r:?}"))?;
                    f.states[at] = Some(State::PendingDeletion(due));
                }
            }
            (code(&r), want)
        }
        FamilyOp::Cancel(at) => {
            let r = code(&w.kms.cancel_key_deletion(
                &ctx_in(REGIONS[at]),
                KeyIdRequest {
                    key_id: key(),
                    grant_tokens: None,
                },
            ));
            let want = match f.states[at] {
                None => Some("NotFound"),
                Some(State::PendingDeletion(_)) => {
                    f.states[at] = Some(State::Disabled);
                    f.replica_wait[at] = false;
                    None
                }
                Some(_) => Some("InvalidState"),
            };
            (r, want)
        }
        FamilyOp::Enable(at) | FamilyOp::Disable(at) => {
            let enable = matches!(op, FamilyOp::Enable(_));
            let req = KeyIdRequest {
                key_id: key(),
                grant_tokens: None,
            };
            let c = ctx_in(REGIONS[at]);
            let r = if enable {
                code(&w.kms.enable_key(&c, req))
            } else {
                code(&w.kms.disable_key(&c, req))
            };
            let want = family_expected(f.states[at], false);
            if want.is_none() {
                f.states[at] = Some(if enable {
                    State::Enabled
                } else {
                    State::Disabled
                });
            }
            (r, want)
        }
        FamilyOp::Decrypt(at) => {
            let r = w.kms.decrypt(
                &ctx_in(REGIONS[at]),
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
            (code(&r), family_expected(f.states[at], true))
        }
        FamilyOp::Days(d) => {
            w.clock.0.fetch_add(d * DAY_MS, Ordering::SeqCst);
            w.kms.run_due().map_err(|e| format!("run_due: {e}"))?;
            let now = w.clock.now().millis;
            for i in 0..3 {
                if let Some(State::PendingDeletion(due)) = f.states[i] {
                    if !f.replica_wait[i] && now >= due {
                        f.states[i] = None;
                    }
                }
            }
            // The last replica gone: a primary waiting for it starts its own window now.
            let p = f.primary;
            if f.members() == 1 && f.replica_wait[p] {
                f.replica_wait[p] = false;
                f.states[p] = Some(State::PendingDeletion(now + f.windows[p] * DAY_MS));
            }
            (None, None)
        }
    };
    if got != want {
        return Err(format!(
            "{op:?} in {f:?}: got {got:?}, the model says {want:?}"
        ));
    }
    check_family(w, f)
}

/// Every region's DescribeKey shows the model's state, and every member names the model's
/// primary and the model's replicas.
fn check_family(w: &World, f: &Family) -> Result<(), String> {
    for (i, region) in REGIONS.iter().enumerate() {
        let d = w.kms.describe_key(
            &ctx_in(region),
            KeyIdRequest {
                key_id: Some(w.key.clone()),
                grant_tokens: None,
            },
        );
        let want = f.states[i].map(|s| {
            if f.replica_wait[i] {
                "PendingReplicaDeletion"
            } else {
                s.name().unwrap_or("Deleted")
            }
        });
        match (want, d) {
            (None, Err(KmsError::NotFound(_))) => {}
            (Some(want), Ok(d)) if d.key_metadata.key_state == want => {
                let m = d
                    .key_metadata
                    .multi_region_configuration
                    .ok_or("no MultiRegionConfiguration")?;
                if m.primary_key.region != REGIONS[f.primary] {
                    return Err(format!(
                        "{region}: primary {}, the model says {}",
                        m.primary_key.region, REGIONS[f.primary]
                    ));
                }
                let mut replicas: Vec<&str> =
                    m.replica_keys.iter().map(|k| k.region.as_str()).collect();
                replicas.sort_unstable();
                let mut model: Vec<&str> = (0..3)
                    .filter(|&j| j != f.primary && f.states[j].is_some())
                    .map(|j| REGIONS[j])
                    .collect();
                model.sort_unstable();
                if replicas != model {
                    return Err(format!(
                        "{region}: replicas {replicas:?}, the model says {model:?}"
                    ));
                }
            }
            (want, got) => {
                return Err(format!(
                    "{region}: DescribeKey {got:?}, the model says {want:?}"
                ))
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn multi_region_families_follow_the_model(ops in proptest::collection::vec(family_op(), 1..40)) {
        let mut w = world_mrk();
        let mut f = Family {
            states: [Some(State::Enabled), None, None],
            replica_wait: [false; 3],
            windows: [30; 3],
            primary: 0,
        };
        for (i, o) in ops.iter().enumerate() {
            if let Err(e) = family_step(&mut w, &mut f, o) {
                prop_assert!(false, "step {i} of {ops:?}: {e}");
            }
        }
        // And from the store.
        w.kms = Kms::load(w.store.clone(), w.root.clone(), w.clock.clone()).unwrap();
        if let Err(e) = check_family(&w, &f) {
            prop_assert!(false, "after a reload, {ops:?}: {e}");
        }
    }
}
