//! `GetKeyLastUsage`: the last successful cryptographic operation of each Region's key.
//!
//! Uses are recorded in memory on the request path (no store write, no world lock) and written to
//! the store by [`Kms::run_due`], which the scheduler calls every few seconds: a crash loses at
//! most the uses since the last flush, which AWS's own eventually consistent tracking allows.
//! Primary and replica keys track their use independently, as in AWS.

use super::ops::{self, KeyOp};
use super::records::{KeyRecord, LastUseRecord, LAST_USE_TABLE, RECORD_VERSION};
use super::{key_arn, Kms, KmsError};
use crate::common::require_key_id;
use coffer_core::RequestContext;
use coffer_model::kms::{GetKeyLastUsageResponse, KeyIdRequest, KeyLastUsageData};
use coffer_model::Validator;
use coffer_store::Transaction;
use std::collections::{HashMap, HashSet};

/// Last uses by store key, and which of them the store has not seen yet.
#[derive(Debug, Default)]
pub(super) struct Usage {
    pub last: HashMap<String, LastUseRecord>,
    pub dirty: HashSet<String>,
}

/// The `KeyLastUsageTrackingOperation` an operation counts as, if it is one.
fn tracked_name(op: &KeyOp) -> Option<&'static str> {
    use ops::KmsAction as A;
    let action = ops::KmsAction::from_name(op.name)?;
    match action {
        A::ReEncryptFrom | A::ReEncryptTo => Some(coffer_model::ops::KmsOp::ReEncrypt.name()),
        A::Decapsulate
        | A::Decrypt
        | A::DeriveSharedSecret
        | A::Encapsulate
        | A::Encrypt
        | A::GenerateDataKey
        | A::GenerateDataKeyPair
        | A::GenerateDataKeyPairWithoutPlaintext
        | A::GenerateDataKeyWithoutPlaintext
        | A::GenerateMac
        | A::Sign
        | A::Verify
        | A::VerifyMac => Some(op.name),
        _ => None,
    }
}

impl Kms {
    /// Records a successful cryptographic use of `key` by `op`.
    pub(super) fn note_use(&self, key: &KeyRecord, op: &KeyOp) {
        let Some(operation) = tracked_name(op) else {
            return;
        };
        let timestamp = self.clock.now();
        // An ID for the record, not a secret: the cheap generator (no RNG call per request).
        let request_id = coffer_crypto::random::request_id();
        let store_key = key.store_key();
        let mut usage = self.usage.lock();
        match usage.last.get_mut(&store_key) {
            Some(rec) => {
                if rec.operation != operation {
                    rec.operation = operation.to_string();
                }
                rec.timestamp = timestamp;
                rec.request_id = request_id;
            }
            None => {
                let rec = LastUseRecord {
                    v: RECORD_VERSION,
                    account: key.account.clone(),
                    region: key.region.clone(),
                    key_id: key.key_id.clone(),
                    operation: operation.to_string(),
                    timestamp,
                    request_id,
                };
                usage.last.insert(store_key.clone(), rec);
            }
        }
        if !usage.dirty.contains(&store_key) {
            usage.dirty.insert(store_key);
        }
    }

    /// Writes recorded uses the store has not seen (and forgets those of deleted keys).
    pub fn flush_usage(&self) -> Result<(), KmsError> {
        let w = self.world.read();
        let mut usage = self.usage.lock();
        if usage.dirty.is_empty() {
            return Ok(());
        }
        let mut tx = Transaction::new();
        let dirty: Vec<String> = usage.dirty.iter().cloned().collect();
        let mut gone = Vec::new();
        for k in &dirty {
            match usage.last.get(k) {
                Some(rec) if w.key(&rec.account, &rec.region, &rec.key_id).is_some() => {
                    tx.put(LAST_USE_TABLE, k, serde_json::to_vec(rec)?);
                }
                _ => gone.push(k.clone()),
            }
        }
        self.commit(&tx)?;
        for k in gone {
            usage.last.remove(&k);
        }
        usage.dirty.clear();
        Ok(())
    }

    /// Forgets the last use of a deleted key (the caller deletes the store record).
    pub(super) fn forget_use(&self, key: &KeyRecord) {
        let k = format!("{}/{}/{}", key.account, key.region, key.key_id);
        let mut usage = self.usage.lock();
        usage.last.remove(&k);
        usage.dirty.remove(&k);
    }

    /// `GetKeyLastUsage`.
    pub fn get_key_last_usage(
        &self,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<GetKeyLastUsageResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.finish()?;
        let w = self.world.read();
        let (key, _) = self.resolve(
            &w,
            ctx,
            ops::KmsAction::GetKeyLastUsage.info(),
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        let last = self
            .usage
            .lock()
            .last
            .get(&key.store_key())
            .map(|r| KeyLastUsageData {
                operation: Some(r.operation.clone()),
                timestamp: Some(r.timestamp),
                cloud_trail_event_id: None,
                kms_request_id: Some(r.request_id.clone()),
            });
        Ok(GetKeyLastUsageResponse {
            key_id: key_arn(ctx.partition(), &key.region, &key.account, &key.key_id),
            key_last_usage: last,
            tracking_start_date: key.tracking_start.unwrap_or(key.created),
            key_creation_date: key.created,
        })
    }
}
