//! Several nodes on one store (ADR 0004, "Several nodes"): each node follows the change log and
//! reloads a service whose records another node changed; every write is guarded by its
//! service's epoch ([`coffer_store::epoch`]), and one decided from a stale copy is run again
//! after catching up ([`Coffer::retrying`]).

use crate::services::{Coffer, CoreError};
use coffer_store::{Domain, EpochStore, Store, StoreError, Subscription};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The services' domains: which tables each one decides together. Identity comes before IAM:
/// the first matching prefix wins.
pub const DOMAINS: &[Domain] = &[
    Domain {
        name: "kms",
        prefixes: &["kms_"],
    },
    Domain {
        name: "secretsmanager",
        prefixes: &["sm_"],
    },
    Domain {
        name: "identity",
        prefixes: &[coffer_iam::identity::ACCESS_KEY_TABLE],
    },
    Domain {
        name: "iam",
        prefixes: &["iam_"],
    },
    Domain {
        name: "sts",
        prefixes: &[coffer_iam::sts::SESSION_TABLE],
    },
];

/// How many times an operation decided from stale state is run again before its conflict is
/// answered as an internal error. Each run first catches up, after a random pause that grows
/// with the tries (up to [`CONFLICT_PAUSE_MAX_MS`]), so that nodes writing one service at once
/// do not keep colliding.
pub const CONFLICT_RETRIES: usize = 24;

/// The table of leases: which node runs what only one node may run at a time.
pub const LEASE_TABLE: &str = "coffer_lease";

/// The scheduler's lease (scheduled deletions, rotations, expiries run on one node at a time).
const SCHEDULER_LEASE: &str = "scheduler";

/// A lease record: who holds it, until when (Unix milliseconds, the holder's clock).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct LeaseRecord {
    v: u32,
    holder: String,
    until: i64,
}

/// How closely a node follows the others' commits (`[store] consistency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consistency {
    /// Another node's change is applied when its notification arrives (milliseconds); a
    /// resource not found, or an unknown access key, catches up from the store first.
    #[default]
    Eventual,
    /// Every request first reads the change log: read-your-writes through any node, for any
    /// client, at one database round trip per request.
    Strict,
}

/// The longest pause before a retry, in milliseconds.
pub const CONFLICT_PAUSE_MAX_MS: u64 = 64;

/// Change-log entries read per step of a catch-up.
const FOLLOW_BATCH: usize = 4096;

/// A node's position in the shared change log.
pub(crate) struct Follower {
    store: Arc<EpochStore>,
    /// Every commit up to this sequence is reflected in memory (or was not this node's concern).
    applied: AtomicU64,
    /// One catch-up at a time.
    step: Mutex<()>,
    subscription: Subscription,
    /// This node's name in leases (random per process).
    node: String,
    consistency: Consistency,
}

impl Follower {
    /// A follower whose memory was loaded after `head` was read (and after every domain was
    /// marked).
    pub(crate) fn new(
        store: Arc<EpochStore>,
        head: u64,
        consistency: Consistency,
    ) -> Result<Self, StoreError> {
        let subscription = store.subscribe()?;
        Ok(Self {
            store,
            applied: AtomicU64::new(head),
            step: Mutex::new(()),
            subscription,
            node: uuid::Uuid::new_v4().to_string(),
            consistency,
        })
    }
}

impl Coffer {
    /// Opens every service over a store shared with other nodes: each domain's epoch is read
    /// before its state, and the node follows the change log from the head read before that.
    pub fn open_shared(
        store: Arc<EpochStore>,
        root: coffer_crypto::RootKey,
        clock: Arc<dyn coffer_core::Clock>,
        consistency: Consistency,
    ) -> Result<Self, CoreError> {
        let head = store.log_bounds()?.head;
        for d in 0..DOMAINS.len() {
            store.mark(d)?;
        }
        let shared: Arc<dyn Store> = store.clone();
        let mut coffer = Coffer::open(shared, root, clock)?;
        coffer.follower = Some(Follower::new(store, head, consistency)?);
        Ok(coffer)
    }

    /// Whether this node shares its store with others (and follows the change log).
    pub fn is_shared(&self) -> bool {
        self.follower.is_some()
    }

    /// The last sequence of the change log this node has applied (0 when not shared).
    pub fn applied_seq(&self) -> u64 {
        self.follower
            .as_ref()
            .map_or(0, |f| f.applied.load(Ordering::Acquire))
    }

    /// Catches up if a commit newer than what was applied is known (from this node or, through
    /// the store's notifications, another): the cheap check every request makes, so that a
    /// client that wrote through one node and reads through another sees its write. With
    /// [`Consistency::Strict`] it always reads the change log.
    pub fn catch_up_if_behind(&self) {
        if let Some(f) = &self.follower {
            if f.consistency == Consistency::Strict
                || f.subscription.latest() > f.applied.load(Ordering::Acquire)
            {
                if let Err(e) = self.catch_up() {
                    tracing::warn!(error = %e, "catching up with the shared store failed");
                }
            }
        }
    }

    /// Applies every commit other nodes made since the last catch-up: each service whose
    /// records changed reloads (a log compacted past this node's position reloads them all).
    pub fn catch_up(&self) -> Result<(), CoreError> {
        let Some(f) = &self.follower else {
            return Ok(());
        };
        let _one = f.step.lock();
        loop {
            let after = f.applied.load(Ordering::Acquire);
            let changes = match f.store.changes_since(after, FOLLOW_BATCH) {
                Ok(changes) => changes,
                Err(StoreError::LogTruncated { .. }) => {
                    let head = f.store.log_bounds()?.head;
                    for d in 0..DOMAINS.len() {
                        self.reload_domain(f, d)?;
                    }
                    f.applied.store(head, Ordering::Release);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let Some(last) = changes.last().map(|c| c.seq) else {
                return Ok(());
            };
            let mut dirty = [false; DOMAINS.len()];
            for c in &changes {
                if let Some(d) = f.store.domain_of(&c.table) {
                    if !f.store.reflects(c) {
                        dirty[d] = true;
                    }
                }
            }
            for (d, _) in dirty.iter().enumerate().filter(|(_, dirty)| **dirty) {
                self.apply_domain(f, d, &changes)?;
            }
            f.applied.store(last, Ordering::Release);
        }
    }

    /// Follows the change log until `stop` says so: waits for a notification (or
    /// [`coffer_store::FOLLOWER_POLL`]) and catches up. Run it on a thread of its own.
    pub fn follow(&self, stop: &dyn Fn() -> bool) {
        let Some(f) = &self.follower else {
            return;
        };
        while !stop() {
            f.subscription.wait(
                f.applied.load(Ordering::Acquire),
                coffer_store::FOLLOWER_POLL,
            );
            if let Err(e) = self.catch_up() {
                tracing::warn!(error = %e, "following the shared store failed; retrying");
                std::thread::sleep(coffer_store::FOLLOWER_POLL);
            }
        }
    }

    /// After an operation failed with a conflict (decided from state another node had
    /// changed): whether to run it again, having caught up. Counts the tries in `tries`, up to
    /// [`CONFLICT_RETRIES`]; never on a store this node does not share.
    pub fn retry_after_conflict(&self, tries: &mut usize) -> bool {
        if self.follower.is_none() || *tries >= CONFLICT_RETRIES {
            return false;
        }
        *tries += 1;
        if *tries > 1 {
            let ceiling = (1u64 << (*tries).min(7)).min(CONFLICT_PAUSE_MAX_MS);
            let pause = coffer_crypto::random::bytes(2)
                .map(|b| u64::from(u16::from_le_bytes([b[0], b[1]])) % (ceiling * 1000))
                .unwrap_or(ceiling * 500);
            std::thread::sleep(std::time::Duration::from_micros(pause));
        }
        match self.catch_up() {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "catching up after a conflict failed");
                false
            }
        }
    }

    /// After an operation found nothing by the name it was given: whether to look again, having
    /// caught up from the store itself (not waiting for a notification), once per request
    /// (`looked`); never on a store this node does not share. A resource made through another
    /// node a moment ago is then found even if its notification is still on the way.
    pub fn retry_after_miss(&self, looked: &mut bool) -> bool {
        if self.follower.is_none() || *looked {
            return false;
        }
        *looked = true;
        match self.catch_up() {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "catching up after a miss failed");
                false
            }
        }
    }

    /// Runs `op` again while it fails with a conflict and [`Coffer::retry_after_conflict`]
    /// allows.
    pub fn retrying<T, E>(
        &self,
        is_conflict: impl Fn(&E) -> bool,
        mut op: impl FnMut() -> Result<T, E>,
    ) -> Result<T, E> {
        let mut tries = 0;
        loop {
            match op() {
                Err(e) if is_conflict(&e) && self.retry_after_conflict(&mut tries) => continue,
                r => return r,
            }
        }
    }

    /// Whether this node runs the scheduled work now. Always on a store it does not share;
    /// otherwise when it holds the scheduler lease, taking it when it is free or has expired and
    /// renewing it for `ttl` (compare-and-set on the lease record, so two nodes never both
    /// hold it). A node that dies holding it is replaced once `ttl` has passed; the work it
    /// left half done (a rotation between its steps) is resumed from the store by the next.
    pub fn hold_scheduler_lease(&self, ttl: std::time::Duration) -> Result<bool, CoreError> {
        let Some(f) = &self.follower else {
            return Ok(true);
        };
        let now = self.clock.now().millis;
        let current = f.store.get_versioned(LEASE_TABLE, SCHEDULER_LEASE)?;
        let held = match &current {
            Some(r) => match serde_json::from_slice::<LeaseRecord>(&r.value) {
                Ok(l) if l.holder != f.node && l.until > now => return Ok(false),
                _ => Some(r.version),
            },
            None => None,
        };
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let lease = LeaseRecord {
            v: 1,
            holder: f.node.clone(),
            until: now.saturating_add(ttl_ms),
        };
        let bytes = serde_json::to_vec(&lease)
            .map_err(|e| CoreError::Store(StoreError::Backend(format!("lease record: {e}"))))?;
        let mut tx = coffer_store::Transaction::new();
        tx.require(LEASE_TABLE, SCHEDULER_LEASE, held)
            .put(LEASE_TABLE, SCHEDULER_LEASE, bytes);
        match f.store.commit(&tx) {
            Ok(()) => Ok(true),
            Err(e) if e.is_conflict() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Brings domain `d` up to date with `changes`: KMS, Secrets Manager and STS sessions apply
    /// them record by record (falling back to a reload if one does not apply); access keys and
    /// IAM, written rarely, reload.
    fn apply_domain(
        &self,
        f: &Follower,
        d: usize,
        changes: &[coffer_store::Change],
    ) -> Result<(), CoreError> {
        let pending = |c: &coffer_store::Change| !f.store.reflects(c);
        let applied = |seq: u64| f.store.advance(d, seq);
        let outcome = match d {
            0 => self
                .kms
                .apply_changes(changes, &pending, &applied)
                .map_err(CoreError::from),
            1 => self
                .secrets
                .apply_changes(changes, &pending, &applied)
                .map_err(CoreError::from),
            4 => self
                .sts
                .apply_changes(changes, &pending, &applied)
                .map_err(CoreError::from),
            _ => return self.reload_domain(f, d),
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::warn!(error = %e, "applying changes failed; reloading");
                self.reload_domain(f, d)
            }
        }
    }

    fn reload_domain(&self, f: &Follower, d: usize) -> Result<(), CoreError> {
        let mark = || f.store.mark(d);
        match d {
            0 => self.kms.reload_with(&mark)?,
            1 => self.secrets.reload_with(&mark)?,
            2 => self.identity.reload_with(&mark)?,
            3 => self.iam.reload_with(&mark)?,
            _ => self.sts.reload_with(&mark)?,
        }
        Ok(())
    }
}
