//! The composition root: every service of one deployment opened together over one store, wired
//! to each other through coffer-core's interfaces. This is what the HTTP layer holds.

use coffer_core::authz::{Authorizer, PolicySource};
use coffer_core::keys::KeyProvider;
use coffer_core::Clock;
use coffer_crypto::RootKey;
use coffer_iam::identity::{Identity, IdentityError};
use coffer_iam::sts::{Sts, StsError};
use coffer_iam::{Iam, IamError};
use coffer_kms::{Kms, KmsError};
use coffer_secrets::{RotatorRegistry, RotatorsConfig, SecretsManager, SmError};
use coffer_store::{Store, StoreError, Transaction};
use std::sync::Arc;

/// Why the services could not start or reset. Text for operators' logs.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// KMS state.
    #[error("kms: {0}")]
    Kms(#[from] KmsError),
    /// Secrets Manager state.
    #[error("secrets manager: {0}")]
    Secrets(#[from] SmError),
    /// Identity state.
    #[error("identity: {0}")]
    Identity(#[from] IdentityError),
    /// IAM state.
    #[error("iam: {0}")]
    Iam(#[from] IamError),
    /// STS session state.
    #[error("sts: {0}")]
    Sts(#[from] StsError),
    /// The store.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A rekey could not persist the keyring or finish.
    #[error("rekey: {0}")]
    Rekey(String),
    /// A service could not be set up as configured.
    #[error("configuration: {0}")]
    Config(String),
}

/// Persists the root keyring through the data directory's seal (the binary knows the seal).
pub type PersistKeyring = dyn Fn(&RootKey) -> Result<(), String> + Send + Sync;

/// What a rekey did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RekeyReport {
    /// The root-key generation every record is wrapped under now.
    pub generation: u32,
    /// The generations retired.
    pub retired: Vec<u32>,
    /// Records rewritten.
    pub rewrapped: usize,
}

/// Tables a state export leaves out (see [`Coffer::export_state`]).
const NOT_EXPORTED: &[&str] = &[
    coffer_kms::records::IMPORT_TABLE,
    coffer_store::EPOCH_TABLE,
    crate::follow::LEASE_TABLE,
    // Console sign-ins belong to the deployment that issued them (wrapped under its root key).
    crate::console::SESSION_TABLE,
];

/// One stored record, as a state file carries it.
#[derive(Clone, PartialEq, Eq)]
pub struct StateRecord {
    /// The store table.
    pub table: String,
    /// The record's key.
    pub key: String,
    /// Its bytes as stored (root-wrapped fields wrapped).
    pub value: Vec<u8>,
}

impl std::fmt::Debug for StateRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "StateRecord({}/{}, {} bytes)",
            self.table,
            self.key,
            self.value.len()
        )
    }
}

/// What [`Coffer::export_state`] gives.
pub struct ExportedState {
    /// Every record.
    pub records: Vec<StateRecord>,
    /// The root keyring the records are wrapped under ([`RootKey::to_bytes`]).
    pub root: zeroize::Zeroizing<Vec<u8>>,
}

/// Records re-wrapped per transaction (and per hold of a service's write lock).
const REKEY_BATCH: usize = 256;

/// Every service of one Coffer deployment.
pub struct Coffer {
    /// AWS KMS.
    pub kms: Arc<Kms>,
    /// AWS Secrets Manager.
    pub secrets: Arc<SecretsManager>,
    /// Accounts and access keys.
    pub identity: Arc<Identity>,
    /// AWS IAM: roles and their policies.
    pub iam: Arc<Iam>,
    /// STS sessions (temporary credentials of assumed roles).
    pub sts: Arc<Sts>,
    /// Evaluates role sessions' requests (ADR 0009).
    pub authz: Arc<Authorizer>,
    /// The clock every service uses.
    pub clock: Arc<dyn Clock>,
    store: Arc<dyn Store>,
    root: RootKey,
    rekeying: parking_lot::Mutex<()>,
    /// Set when the store is shared with other nodes ([`Coffer::open_shared`]).
    pub(crate) follower: Option<crate::follow::Follower>,
    /// Verifies `AssumeRoleWithWebIdentity`'s tokens ([`Coffer::set_web_identity`]).
    web_identity: parking_lot::RwLock<Arc<coffer_iam::web_identity::WebIdentity>>,
}

/// Until configured: issuers' keys are fetched over HTTPS, trusting the Mozilla roots.
fn default_web_identity() -> Result<coffer_iam::web_identity::WebIdentity, CoreError> {
    coffer_iam::web_identity::WebIdentity::new(&coffer_iam::web_identity::WebIdentityConfig {
        fetch: true,
        ..Default::default()
    })
    .map_err(CoreError::Config)
}

impl Coffer {
    /// Loads every service's state from `store`.
    pub fn open(
        store: Arc<dyn Store>,
        root: RootKey,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CoreError> {
        let kms = Arc::new(Kms::load(store.clone(), root.clone(), clock.clone())?);
        let provider: Arc<dyn KeyProvider> = kms.clone();
        let secrets = Arc::new(SecretsManager::load(
            store.clone(),
            provider,
            clock.clone(),
        )?);
        let identity = Arc::new(Identity::load(store.clone(), root.clone())?);
        let iam = Arc::new(Iam::load(store.clone(), clock.clone())?);
        let sts = Arc::new(Sts::load(store.clone(), root.clone(), clock.clone())?);
        let policies: Arc<dyn PolicySource> = iam.clone();
        let authz = Arc::new(Authorizer::new(policies, clock.clone()));
        kms.set_authorizer(authz.clone());
        secrets.set_authorizer(authz.clone());
        Ok(Self {
            kms,
            secrets,
            identity,
            iam,
            sts,
            authz,
            clock,
            store,
            root,
            rekeying: parking_lot::Mutex::new(()),
            follower: None,
            web_identity: parking_lot::RwLock::new(Arc::new(default_web_identity()?)),
        })
    }

    /// How web identity tokens are verified from now on (the `[web_identity]` configuration).
    pub fn set_web_identity(&self, verifier: coffer_iam::web_identity::WebIdentity) {
        *self.web_identity.write() = Arc::new(verifier);
    }

    /// The web identity token verifier.
    pub fn web_identity(&self) -> Arc<coffer_iam::web_identity::WebIdentity> {
        self.web_identity.read().clone()
    }

    /// Sets where KMS and Secrets Manager report what they do on their own (the audit trail).
    pub fn set_service_events(&self, receiver: Arc<dyn coffer_core::events::ServiceEvents>) {
        self.kms.set_events(receiver.clone());
        self.secrets.set_events(receiver);
    }

    /// The store every service writes to (for records outside the services' domains, such as
    /// the console's sessions).
    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The root key (to wrap what such records must not hold in plaintext).
    pub(crate) fn root_key(&self) -> &RootKey {
        &self.root
    }

    /// The root keyring's generations (more than one: a rekey is under way).
    pub fn root_generations(&self) -> Vec<u32> {
        self.root.generations()
    }

    /// Root-key rotation (ADR 0015): a new root-key generation is made current and persisted,
    /// every stored record is re-wrapped under it in batches while the services keep serving,
    /// and the older generations are retired (and the keyring persisted again) only once the
    /// store holds nothing wrapped under them. A crash anywhere leaves a keyring that opens
    /// every record; [`Coffer::finish_rekey`] at the next start completes it.
    pub fn rekey(&self, persist: &PersistKeyring) -> Result<RekeyReport, CoreError> {
        let _one = self.rekeying.lock();
        if self.root.generations().len() == 1 {
            self.root
                .begin_rekey()
                .map_err(|e| CoreError::Rekey(e.to_string()))?;
            persist(&self.root).map_err(CoreError::Rekey)?;
        }
        self.finish_locked(persist)
    }

    /// Completes a rekey that was begun (by a process that crashed or was stopped); nothing to
    /// do when the keyring has one generation.
    pub fn finish_rekey(&self, persist: &PersistKeyring) -> Result<RekeyReport, CoreError> {
        let _one = self.rekeying.lock();
        self.finish_locked(persist)
    }

    fn finish_locked(&self, persist: &PersistKeyring) -> Result<RekeyReport, CoreError> {
        let mut rewrapped = 0;
        // Crash testing only (tests/rekey.rs): abort the process after this many batches
        // (`retire`: just before the old generations are retired).
        let failpoint = std::env::var("COFFER_FAILPOINT_REKEY_ABORT_AFTER").ok();
        let abort_at = failpoint.as_deref().and_then(|v| v.parse::<usize>().ok());
        let mut batches = 0;
        if self.root.generations().len() > 1 {
            loop {
                if abort_at == Some(batches) {
                    std::process::abort();
                }
                batches += 1;
                let kms = self.kms.rewrap_batch(REKEY_BATCH)?;
                let keys = self.identity.rewrap_batch(REKEY_BATCH)?;
                let sessions = self.sts.rewrap_batch(REKEY_BATCH)?;
                rewrapped += kms + keys.rewritten + sessions.rewritten;
                if kms == 0 && !keys.more() && !sessions.more() {
                    break;
                }
            }
        }
        let pending = self.kms.pending_rewrap()?
            + self.identity.pending_rewrap()?
            + self.sts.pending_rewrap()?;
        if pending > 0 {
            return Err(CoreError::Rekey(format!(
                "{pending} records are still wrapped under an older root-key generation; the \
                 older generations are kept: run the rekey again"
            )));
        }
        if failpoint.as_deref() == Some("retire") {
            std::process::abort();
        }
        let retired = self.root.retire_old();
        if !retired.is_empty() {
            persist(&self.root).map_err(CoreError::Rekey)?;
        }
        Ok(RekeyReport {
            generation: self.root.generation(),
            retired,
            rewrapped,
        })
    }

    /// Empties all state (the `--dev` reset). Access keys survive in memory only if re-made by the caller.
    pub fn reset(&self) -> Result<(), CoreError> {
        self.store.clear()?;
        self.secrets.reset();
        self.kms.reset();
        self.identity.reset();
        self.iam.reset();
        self.sts.reset();
        Ok(())
    }

    /// The whole state for a state file: every record of every table as stored (root-wrapped
    /// fields still wrapped) and the root keyring that opens them. What is kept in memory
    /// between scheduler runs is flushed first. Outstanding import parameters are left out:
    /// their tokens are bound to this deployment's root key and expire within a day.
    pub fn export_state(&self) -> Result<ExportedState, CoreError> {
        self.flush()?;
        let mut records = Vec::new();
        for table in self.store.table_counts()?.keys() {
            if NOT_EXPORTED.contains(&table.as_str()) {
                continue;
            }
            for (key, value) in self.store.scan(table)? {
                records.push(StateRecord {
                    table: table.clone(),
                    key,
                    value,
                });
            }
        }
        Ok(ExportedState {
            records,
            root: self.root.to_bytes(),
        })
    }

    /// Replaces the whole state with `records`, whose root-wrapped fields are wrapped under
    /// `from` (the exporting deployment's root keyring): each is re-wrapped under this
    /// deployment's root key, the result is loaded into a scratch in-memory deployment first
    /// (so a record any service cannot read is refused before anything changes), then one
    /// store transaction deletes every record and writes the new ones, and every service
    /// reloads its memory from the store. Returns how many records were written.
    pub fn import_state(
        &self,
        records: Vec<StateRecord>,
        from: &RootKey,
    ) -> Result<usize, CoreError> {
        let _one = self.rekeying.lock();
        let mut converted = Vec::with_capacity(records.len());
        for r in records {
            let value = match r.table.as_str() {
                coffer_kms::records::FAMILY_TABLE => {
                    coffer_kms::transfer_family(&r.value, from, &self.root)?
                }
                coffer_iam::identity::ACCESS_KEY_TABLE => {
                    Identity::transfer_record(&r.value, from, &self.root)?
                }
                coffer_iam::sts::SESSION_TABLE => Sts::transfer_record(&r.value, from, &self.root)?,
                t if NOT_EXPORTED.contains(&t) => continue,
                _ => r.value,
            };
            converted.push(StateRecord { value, ..r });
        }
        // Every service must be able to load the new state before the real one is touched.
        let scratch: Arc<dyn Store> = Arc::new(coffer_store::MemoryStore::new());
        let mut tx = Transaction::new();
        for r in &converted {
            tx.put(&r.table, &r.key, r.value.clone());
        }
        scratch.commit(&tx)?;
        drop(Coffer::open(
            scratch,
            self.root.clone(),
            self.clock.clone(),
        )?);

        let mut tx = Transaction::new();
        for table in self.store.table_counts()?.keys() {
            for (key, _) in self.store.scan(table)? {
                tx.delete(table, &key);
            }
        }
        for r in converted.iter() {
            tx.put(&r.table, &r.key, r.value.clone());
        }
        self.store.commit(&tx)?;
        self.reload()?;
        Ok(converted.len())
    }

    /// Whether the store holds no record at all (a first start).
    pub fn is_empty(&self) -> Result<bool, CoreError> {
        Ok(self.store.table_counts()?.values().all(|n| *n == 0))
    }

    /// Runs `build` against a scratch in-memory deployment under this deployment's root key and
    /// clock, then writes everything it made into this (empty) store in one transaction: a
    /// first start's seed file costs one commit instead of one per entry. Refused when the
    /// store holds anything.
    pub fn build_in_scratch<R, E: From<CoreError>>(
        &self,
        build: impl FnOnce(&Coffer) -> Result<R, E>,
    ) -> Result<R, E> {
        if !self.is_empty()? {
            return Err(CoreError::Store(StoreError::Backend(
                "build_in_scratch needs an empty store".into(),
            ))
            .into());
        }
        let store: Arc<dyn Store> = Arc::new(coffer_store::MemoryStore::new());
        let scratch = Coffer::open(store, self.root.clone(), self.clock.clone())?;
        let out = build(&scratch)?;
        let state = scratch.export_state()?;
        self.import_state(state.records, &self.root)?;
        Ok(out)
    }

    /// Every service reads its state from the store again.
    fn reload(&self) -> Result<(), CoreError> {
        self.kms.reload()?;
        self.secrets.reload()?;
        self.identity.reload()?;
        self.iam.reload()?;
        self.sts.reload()?;
        Ok(())
    }

    /// Sets the rotators Secrets Manager rotation invokes (from `--rotators FILE`).
    pub fn use_rotators(&self, config: &RotatorsConfig) {
        let api: Arc<dyn coffer_secrets::SecretsApi> = self.secrets.clone();
        let registry = RotatorRegistry::from_config(config, Arc::downgrade(&api));
        self.secrets.set_rotators(registry);
    }

    /// Runs what is due: secrets past their recovery window, keys past their waiting period,
    /// secret rotations (which log their own outcome), expired STS sessions. Returns how many
    /// resources were deleted.
    pub fn run_due(&self) -> Result<usize, CoreError> {
        self.run_due_until(&|| false)
    }

    /// [`Coffer::run_due`], checking `stop` between its steps: a shutdown waits for the step
    /// that runs, never for the rest.
    pub fn run_due_until(&self, stop: &dyn Fn() -> bool) -> Result<usize, CoreError> {
        let mut done = 0;
        // On a shared store, decide from what every node has committed.
        self.catch_up()?;
        if stop() {
            return Ok(done);
        }
        done += self.secrets.purge_due()?;
        if stop() {
            return Ok(done);
        }
        done += self.kms.run_due()?;
        if stop() {
            return Ok(done);
        }
        self.secrets.rotate_due()?;
        if stop() {
            return Ok(done);
        }
        done += self.sts.purge_expired()?;
        Ok(done)
    }

    /// Writes what is kept in memory between scheduler runs (KMS last-use records, secrets'
    /// LastAccessedDate): the last step of a graceful shutdown.
    pub fn flush(&self) -> Result<(), CoreError> {
        self.kms.flush_usage()?;
        self.secrets.flush_access_dates()?;
        Ok(())
    }

    /// Reads from the store: `Ok` when it answers (the readiness probe).
    pub fn check_store(&self) -> Result<(), CoreError> {
        self.store.get("meta", "readiness-probe")?;
        Ok(())
    }

    /// A consistent copy of the store, still encrypted as stored, in the new SQLite file `dest`
    /// ([`Store::backup`]); writes go on meanwhile.
    pub fn backup_store(
        &self,
        dest: &std::path::Path,
    ) -> Result<coffer_store::BackupInfo, StoreError> {
        self.store.backup(dest)
    }
}
