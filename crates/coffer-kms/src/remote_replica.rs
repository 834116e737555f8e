//! Multi-Region replicas held by federation peers (ADR 0021): what the primary's deployment
//! sends a peer to make a replica there (the family's shared properties, every material
//! version, the replica's own description, policy and tags), how the peer stores it under its
//! own root key, and the primary's record of the replica region.
//!
//! The payload is plaintext key material: it only ever leaves this module sealed for one peer
//! (`coffer_crypto::hybrid`), and is held in zeroizing buffers meanwhile. Layout (version 1):
//!
//! ```text
//! 0x01 | u32 BE length | header (JSON, no secrets) | per material: u32 BE length | raw bytes
//! ```

use crate::common::*;
use crate::records::*;
use crate::state::Family;
use crate::{key_arn, Kms, KmsError};
use coffer_core::RequestContext;
use coffer_model::kms::*;
use coffer_model::Timestamp;
use coffer_store::Transaction;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use zeroize::Zeroizing;

/// The payload format version.
pub const PAYLOAD_VERSION: u8 = 1;

/// A replica to be made by a peer: where, and the sealed-to-be payload.
pub struct RemoteReplica {
    /// The key's account.
    pub account: String,
    /// The key ID (`mrk-…`).
    pub key_id: String,
    /// The primary's region (this deployment's).
    pub primary_region: String,
    /// The replica's region (the peer's).
    pub replica_region: String,
    /// The encoded payload, key material included.
    pub payload: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for RemoteReplica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteReplica")
            .field("key_id", &self.key_id)
            .field("replica_region", &self.replica_region)
            .finish_non_exhaustive()
    }
}

/// The non-secret part of the payload.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    account: String,
    key_id: String,
    primary_region: String,
    replica_region: String,
    key_spec: String,
    key_usage: String,
    origin: String,
    key_manager: String,
    rotation_enabled: bool,
    rotation_period_days: Option<i64>,
    next_rotation: Option<Timestamp>,
    imported_material_id: Option<String>,
    /// Parallel to the raw materials that follow the header.
    materials: Vec<MaterialMeta>,
    /// The family's other replica regions, wherever they are held.
    other_replicas: Vec<String>,
    description: String,
    policy: String,
    tags: Vec<(String, String)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct MaterialMeta {
    id: String,
    created: Timestamp,
    rotation_type: Option<String>,
}

fn put_len(out: &mut Vec<u8>, n: usize) -> Result<(), KmsError> {
    let n = u32::try_from(n).map_err(|_| KmsError::Internal("payload part too long".into()))?;
    out.extend_from_slice(&n.to_be_bytes());
    Ok(())
}

fn take<'a>(buf: &mut &'a [u8]) -> Result<&'a [u8], KmsError> {
    let bad = || KmsError::Internal("malformed replica payload".into());
    if buf.len() < 4 {
        return Err(bad());
    }
    let n = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let rest = &buf[4..];
    if rest.len() < n {
        return Err(bad());
    }
    let (part, rest) = rest.split_at(n);
    *buf = rest;
    Ok(part)
}

/// The payload's header and its material part, checked against what the seal was bound to.
fn decode<'a>(
    payload: &'a [u8],
    account: &str,
    key_id: &str,
    primary_region: &str,
    replica_region: &str,
) -> Result<(Header, &'a [u8]), KmsError> {
    let bad = |why: &str| KmsError::Internal(format!("replica payload: {why}"));
    let (&version, mut rest) = payload.split_first().ok_or_else(|| bad("empty"))?;
    if version != PAYLOAD_VERSION {
        return Err(bad("unknown version"));
    }
    let h: Header = serde_json::from_slice(take(&mut rest)?)?;
    if h.account != account
        || h.key_id != key_id
        || h.primary_region != primary_region
        || h.replica_region != replica_region
    {
        return Err(bad("header does not match the sealed context"));
    }
    Ok((h, rest))
}

impl Kms {
    /// Adds the payload's materials `fam` lacks (wrapped under this deployment's root key);
    /// whether any was added. Consumes the whole material part.
    fn merge_materials(
        &self,
        fam: &mut Family,
        h: &Header,
        rest: &mut &[u8],
        spec: coffer_crypto::asymmetric::KeySpec,
    ) -> Result<bool, KmsError> {
        let bad = |why: &str| KmsError::Internal(format!("replica payload: {why}"));
        let mut added = false;
        for meta in &h.materials {
            let raw = Zeroizing::new(take(rest)?.to_vec());
            let mut id = [0u8; 32];
            hex::decode_to_slice(&meta.id, &mut id).map_err(|_| bad("material id"))?;
            if fam.material(&id).is_some() {
                continue;
            }
            let key = Self::load_material(spec, &raw)?;
            let m =
                self.add_material_with_id(&mut fam.rec, key, meta.rotation_type.as_deref(), id)?;
            if let Some(last) = fam.rec.materials.last_mut() {
                last.created = meta.created;
            }
            fam.materials.push(Arc::new(m));
            added = true;
        }
        if !rest.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(added)
    }

    /// On the peer: brings an existing replica's family up to date with its primary's shared
    /// properties (material versions it lacks, rotation settings) from a payload of
    /// [`Kms::remote_sync`]. Idempotent: a payload applied twice changes nothing the second time.
    pub fn accept_remote_sync(
        &self,
        account: &str,
        key_id: &str,
        primary_region: &str,
        replica_region: &str,
        payload: &[u8],
    ) -> Result<(), KmsError> {
        let (h, mut rest) = decode(payload, account, key_id, primary_region, replica_region)?;
        let spec = Self::spec_of_name(&h.key_spec)?;
        let mut w = self.world.write();
        let arn = key_arn(
            coffer_core::context::partition_of(replica_region),
            replica_region,
            account,
            key_id,
        );
        let (Some(_), Some(fam)) = (
            w.key(account, replica_region, key_id),
            w.family(account, key_id),
        ) else {
            return Err(KmsError::NotFound(format!("Key '{arn}' does not exist")));
        };
        let mut fam = fam.clone();
        if fam.rec.primary_region != h.primary_region || fam.rec.key_spec != h.key_spec {
            return Err(KmsError::Internal(format!(
                "sync of {key_id} from a primary this replica does not follow"
            )));
        }
        let added = self.merge_materials(&mut fam, &h, &mut rest, spec)?;
        let settings = (h.rotation_enabled, h.rotation_period_days, h.next_rotation);
        let same = settings
            == (
                fam.rec.rotation_enabled,
                fam.rec.rotation_period_days,
                fam.rec.next_rotation,
            );
        if !added && same {
            return Ok(());
        }
        (
            fam.rec.rotation_enabled,
            fam.rec.rotation_period_days,
            fam.rec.next_rotation,
        ) = settings;
        fam.rec.v = RECORD_VERSION;
        let mut tx = Transaction::new();
        tx.put(
            FAMILY_TABLE,
            &fam.rec.store_key(),
            serde_json::to_vec(&fam.rec)?,
        );
        self.commit(&tx)?;
        w.put_family(fam);
        Ok(())
    }

    /// `ReplicateKey` to a region a peer owns, first half: the request checked as a local
    /// replica's would be (same errors), and the payload for the peer. Nothing changes here.
    pub fn remote_replica(
        &self,
        ctx: &RequestContext,
        req: ReplicateKeyRequest,
    ) -> Result<RemoteReplica, KmsError> {
        let w = self.world.read();
        let (_, fam, plan) = self.replica_plan(&w, ctx, req)?;
        Self::payload(&w, &fam, plan)
    }

    /// The payload for a replica in `plan.region` of `fam` (its other replicas: the local
    /// regional records and the remote ones, the primary and the replica itself excluded).
    fn payload(
        w: &crate::state::World,
        fam: &Family,
        plan: crate::multi_region::ReplicaPlan,
    ) -> Result<RemoteReplica, KmsError> {
        let (account, key_id) = (&fam.rec.account, &fam.rec.key_id);
        let mut other_replicas: Vec<String> = w
            .related_keys(account, key_id)
            .iter()
            .map(|k| k.region.clone())
            .chain(fam.rec.remote_replicas.iter().cloned())
            .filter(|r| *r != fam.rec.primary_region && *r != plan.region)
            .collect();
        other_replicas.sort();
        other_replicas.dedup();
        let header = Header {
            account: account.clone(),
            key_id: key_id.clone(),
            primary_region: fam.rec.primary_region.clone(),
            replica_region: plan.region.clone(),
            key_spec: fam.rec.key_spec.clone(),
            key_usage: fam.rec.key_usage.clone(),
            origin: fam.rec.origin.clone(),
            key_manager: fam.rec.key_manager.clone(),
            rotation_enabled: fam.rec.rotation_enabled,
            rotation_period_days: fam.rec.rotation_period_days,
            next_rotation: fam.rec.next_rotation,
            imported_material_id: fam.rec.imported_material_id.clone(),
            materials: fam
                .rec
                .materials
                .iter()
                .map(|m| MaterialMeta {
                    id: m.id.clone(),
                    created: m.created,
                    rotation_type: m.rotation_type.clone(),
                })
                .collect(),
            other_replicas,
            description: plan.description,
            policy: plan.policy,
            tags: plan.tags,
        };
        let header = serde_json::to_vec(&header)?;
        let mut payload = Zeroizing::new(Vec::new());
        payload.push(PAYLOAD_VERSION);
        put_len(&mut payload, header.len())?;
        payload.extend_from_slice(&header);
        for m in &fam.materials {
            let raw = m.key.raw_bytes();
            put_len(&mut payload, raw.len())?;
            payload.extend_from_slice(raw);
        }
        Ok(RemoteReplica {
            account: account.clone(),
            key_id: key_id.clone(),
            primary_region: fam.rec.primary_region.clone(),
            replica_region: plan.region,
            payload,
        })
    }

    /// After a change of the family's shared properties on the primary (a rotation): a payload
    /// for each replica region peers hold, to bring them its material versions and rotation
    /// settings (ADR 0021). Empty when no peer holds a replica.
    pub fn remote_sync(&self, account: &str, key_id: &str) -> Result<Vec<RemoteReplica>, KmsError> {
        let w = self.world.read();
        let Some(fam) = w.family(account, key_id) else {
            return Ok(Vec::new());
        };
        fam.rec
            .remote_replicas
            .iter()
            .map(|region| {
                Self::payload(
                    &w,
                    fam,
                    crate::multi_region::ReplicaPlan {
                        region: region.clone(),
                        description: String::new(),
                        policy: String::new(),
                        tags: Vec::new(),
                    },
                )
            })
            .collect()
    }

    /// `ReplicateKey` to a region a peer owns, last half: the peer made the replica, so the
    /// family lists its region among its replicas from now on.
    pub fn record_remote_replica(
        &self,
        account: &str,
        key_id: &str,
        region: &str,
    ) -> Result<(), KmsError> {
        let mut w = self.world.write();
        let mut fam = w
            .family(account, key_id)
            .ok_or_else(|| KmsError::Internal(format!("family {key_id} vanished")))?
            .clone();
        if fam.rec.remote_replicas.iter().any(|r| r == region) {
            return Ok(());
        }
        fam.rec.remote_replicas.push(region.to_string());
        fam.rec.v = RECORD_VERSION;
        let mut tx = Transaction::new();
        tx.put(
            FAMILY_TABLE,
            &fam.rec.store_key(),
            serde_json::to_vec(&fam.rec)?,
        );
        self.commit(&tx)?;
        w.put_family(fam);
        Ok(())
    }

    /// On the peer: makes the replica a primary's deployment sent (`payload`, opened from its
    /// sealed form; `account`, `key_id` and the regions are what the seal was bound to). The
    /// family's material is wrapped under this deployment's root key. `AlreadyExists` when
    /// the region already holds the key.
    pub fn accept_remote_replica(
        &self,
        account: &str,
        key_id: &str,
        primary_region: &str,
        replica_region: &str,
        payload: &[u8],
    ) -> Result<ReplicateKeyResponse, KmsError> {
        let (h, mut rest) = decode(payload, account, key_id, primary_region, replica_region)?;
        let bad = |why: &str| KmsError::Internal(format!("replica payload: {why}"));
        let spec = Self::spec_of_name(&h.key_spec)?;
        let partition = coffer_core::context::partition_of(replica_region);
        let mut w = self.world.write();
        if w.key(account, replica_region, key_id).is_some() {
            return Err(KmsError::AlreadyExists(format!(
                "{} already exists",
                key_arn(partition, replica_region, account, key_id)
            )));
        }
        let mut fam = match w.family(account, key_id) {
            Some(f) => f.clone(),
            None => Family {
                rec: FamilyRecord {
                    v: RECORD_VERSION,
                    account: account.to_string(),
                    key_id: key_id.to_string(),
                    key_spec: h.key_spec.clone(),
                    key_usage: h.key_usage.clone(),
                    origin: h.origin.clone(),
                    key_manager: h.key_manager.clone(),
                    multi_region: true,
                    primary_region: h.primary_region.clone(),
                    rotation_enabled: h.rotation_enabled,
                    rotation_period_days: h.rotation_period_days,
                    next_rotation: h.next_rotation,
                    materials: Vec::new(),
                    imported_material_id: h.imported_material_id.clone(),
                    rotated_imports: Vec::new(),
                    pending_material: None,
                    remote_replicas: Vec::new(),
                },
                materials: Vec::new(),
            },
        };
        if !fam.rec.multi_region || fam.rec.key_spec != h.key_spec {
            return Err(bad("a different key of this ID is held here"));
        }
        self.merge_materials(&mut fam, &h, &mut rest, spec)?;
        let held: Vec<String> = w
            .related_keys(account, key_id)
            .iter()
            .map(|k| k.region.clone())
            .collect();
        for r in &h.other_replicas {
            if *r != replica_region && !held.contains(r) && !fam.rec.remote_replicas.contains(r) {
                fam.rec.remote_replicas.push(r.clone());
            }
        }
        fam.rec.remote_replicas.retain(|r| r != replica_region);
        fam.rec.v = RECORD_VERSION;
        let replica = self.replica_record(
            &fam.rec,
            crate::multi_region::ReplicaPlan {
                region: replica_region.to_string(),
                description: h.description,
                policy: h.policy,
                tags: h.tags,
            },
        );
        check_policy_document(&replica.policy)?;
        let mut tx = Transaction::new();
        tx.put(
            FAMILY_TABLE,
            &fam.rec.store_key(),
            serde_json::to_vec(&fam.rec)?,
        );
        tx.put(
            KEY_TABLE,
            &replica.store_key(),
            serde_json::to_vec(&replica)?,
        );
        self.commit(&tx)?;
        w.put_family(fam);
        w.put_key(replica.clone());
        let fam = w
            .family(account, key_id)
            .ok_or_else(|| KmsError::Internal("family vanished".into()))?;
        Ok(self.replicate_response(&w, partition, &replica, fam))
    }
}
