//! KMS state in memory: every key's unwrapped material and every regional record, indexed by
//! account, region and ID so the request hot paths are hash lookups.

use super::records::{AliasRecord, FamilyRecord, GrantRecord, ImportTokenRecord, KeyRecord};
use coffer_crypto::asymmetric::{HmacKey, KeyPair};
use coffer_crypto::SymmetricKey;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Unwrapped key material of one of the three kinds KMS keys have.
#[derive(Debug)]
pub enum MaterialKey {
    /// `SYMMETRIC_DEFAULT`: AES-256-GCM.
    Symmetric(SymmetricKey),
    /// RSA, ECC, ML-DSA key pairs.
    Pair(KeyPair),
    /// `HMAC_*`.
    Hmac(HmacKey),
}

impl MaterialKey {
    /// The raw bytes: AES or HMAC key bytes, or the PKCS#8 private key.
    pub fn raw_bytes(&self) -> &[u8] {
        match self {
            MaterialKey::Symmetric(k) => k.expose_bytes(),
            MaterialKey::Pair(k) => k.private_key_der(),
            MaterialKey::Hmac(k) => k.expose_bytes(),
        }
    }
}

/// One unwrapped version of key material.
#[derive(Debug)]
pub struct Material {
    /// Its identifier.
    pub id: [u8; 32],
    /// The key.
    pub key: MaterialKey,
}

/// A family: its record and its unwrapped material (oldest first).
#[derive(Debug, Clone)]
pub struct Family {
    /// The persisted record.
    pub rec: FamilyRecord,
    /// Unwrapped material, parallel to `rec.materials`.
    pub materials: Vec<Arc<Material>>,
}

impl Family {
    /// The material that encrypts now.
    pub fn current(&self) -> Option<&Material> {
        self.materials.last().map(|m| m.as_ref())
    }

    /// The material with this ID.
    pub fn material(&self, id: &[u8; 32]) -> Option<&Material> {
        self.materials
            .iter()
            .find(|m| &m.id == id)
            .map(|m| m.as_ref())
    }
}

/// One Region of one account.
#[derive(Debug, Default, Clone)]
pub struct RegionState {
    /// Keys by key ID.
    pub keys: BTreeMap<String, KeyRecord>,
    /// Aliases by name.
    pub aliases: BTreeMap<String, AliasRecord>,
    /// Grants by grant ID.
    pub grants: BTreeMap<String, GrantRecord>,
}

/// Everything KMS holds.
#[derive(Debug, Default)]
pub struct World {
    /// account → key ID → family.
    pub families: HashMap<String, HashMap<String, Family>>,
    /// account → region → regional state.
    pub regions: HashMap<String, HashMap<String, RegionState>>,
    /// Outstanding import parameters by store key (`{account}/{region}/{token_id}`).
    pub imports: HashMap<String, ImportTokenRecord>,
}

impl World {
    /// A family.
    pub fn family(&self, account: &str, key_id: &str) -> Option<&Family> {
        self.families.get(account)?.get(key_id)
    }

    /// A Region's state, if anything was ever made there.
    pub fn region(&self, account: &str, region: &str) -> Option<&RegionState> {
        self.regions.get(account)?.get(region)
    }

    /// A Region's state, created empty on demand.
    pub fn region_mut(&mut self, account: &str, region: &str) -> &mut RegionState {
        self.regions
            .entry(account.to_string())
            .or_default()
            .entry(region.to_string())
            .or_default()
    }

    /// A regional key.
    pub fn key(&self, account: &str, region: &str, key_id: &str) -> Option<&KeyRecord> {
        self.region(account, region)?.keys.get(key_id)
    }

    /// Every regional key of every account and Region.
    pub fn all_keys(&self) -> impl Iterator<Item = &KeyRecord> {
        self.regions
            .values()
            .flat_map(|rs| rs.values())
            .flat_map(|r| r.keys.values())
    }

    /// Every Region's record of the key ID, in Region-name order.
    pub fn related_keys<'a>(&'a self, account: &str, key_id: &'a str) -> Vec<&'a KeyRecord> {
        let mut out: Vec<&KeyRecord> = self
            .regions
            .get(account)
            .map(|rs| rs.values().filter_map(|r| r.keys.get(key_id)).collect())
            .unwrap_or_default();
        out.sort_by(|a, b| a.region.cmp(&b.region));
        out
    }

    /// Inserts or replaces a regional key.
    pub fn put_key(&mut self, rec: KeyRecord) {
        let (account, region) = (rec.account.clone(), rec.region.clone());
        self.region_mut(&account, &region)
            .keys
            .insert(rec.key_id.clone(), rec);
    }

    /// Inserts or replaces a family.
    pub fn put_family(&mut self, fam: Family) {
        self.families
            .entry(fam.rec.account.clone())
            .or_default()
            .insert(fam.rec.key_id.clone(), fam);
    }

    /// Inserts or replaces an alias.
    pub fn put_alias(&mut self, rec: AliasRecord) {
        let (account, region) = (rec.account.clone(), rec.region.clone());
        self.region_mut(&account, &region)
            .aliases
            .insert(rec.name.clone(), rec);
    }
}

impl World {
    /// Inserts or replaces a grant.
    pub fn put_grant(&mut self, rec: GrantRecord) {
        let (account, region) = (rec.account.clone(), rec.region.clone());
        self.region_mut(&account, &region)
            .grants
            .insert(rec.grant_id.clone(), rec);
    }
}
