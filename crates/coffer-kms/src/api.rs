//! The KMS operations, one method each, taking and returning the wire types.

use super::ops::{self, KeyOp};
use super::records::*;
use super::state::{Family, MaterialKey, World};
use super::{alias_arn, key_arn, Kms, KmsError};
use coffer_core::RequestContext;
use coffer_crypto::asymmetric::KeySpec;
use coffer_crypto::ciphertext::{self, EncryptionContext};
use coffer_model::kms::*;
use coffer_model::{Blob, Timestamp, ValidationError, Validator};
use coffer_store::Transaction;
use std::sync::Arc;
use zeroize::Zeroizing;

const KEY_ID: (usize, usize) = (1, 2048);
const MAX_TAGS: usize = 50;
const DEFAULT_ROTATION_DAYS: i64 = 365;
/// AWS's quota of on-demand rotations per key.
const MAX_ON_DEMAND_ROTATIONS: usize = 25;
/// AWS's quota of aliases per KMS key.
const MAX_ALIASES_PER_KEY: usize = 50;

pub(super) fn require_key_id(v: &mut Validator, member: &str, key_id: &Option<String>) {
    v.required(member, key_id);
    v.length(member, key_id.as_deref(), KEY_ID.0, KEY_ID.1);
}

pub(super) fn validate_grant_tokens(v: &mut Validator, tokens: &Option<Vec<String>>) {
    v.count("GrantTokens", tokens.as_ref().map(Vec::len), 0, 10);
}

/// A key ID as Coffer makes them: a UUID, or `mrk-` and 32 hex digits.
fn key_id_shaped(s: &str) -> bool {
    let hex = |p: &str| p.chars().all(|c| c.is_ascii_hexdigit());
    if let Some(rest) = s.strip_prefix("mrk-") {
        return rest.len() == 32 && hex(rest);
    }
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12]) && parts.iter().all(|p| hex(p))
}

fn alias_name_ok(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '_' | '-'))
}

fn policy_chars_ok(s: &str) -> bool {
    s.chars()
        .all(|c| matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{ff}'))
}

fn validate_policy(v: &mut Validator, policy: &Option<String>) {
    v.length("Policy", policy.as_deref(), 1, 131_072);
    v.pattern(
        "Policy",
        policy.as_deref(),
        policy_chars_ok,
        "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
    );
}

fn check_policy_document(policy: &str) -> Result<(), KmsError> {
    if policy.len() > 32_768 {
        return Err(KmsError::LimitExceeded(
            "The key policy exceeds the maximum size of 32 KB.".into(),
        ));
    }
    match serde_json::from_str::<serde_json::Value>(policy) {
        Ok(serde_json::Value::Object(o)) if o.contains_key("Statement") => {}
        _ => {
            return Err(KmsError::MalformedPolicyDocument(
                "The policy document is not valid JSON or lacks a Statement.".into(),
            ))
        }
    }
    // The evaluator must be able to read what is stored: a policy it could not parse would
    // silently allow nothing (ADR 0009).
    coffer_policy::Policy::parse(policy)
        .and_then(|p| p.validate(coffer_policy::PolicyKind::Resource))
        .map_err(|e| KmsError::MalformedPolicyDocument(e.to_string()))
}

fn validate_tags(v: &mut Validator, tags: &Option<Vec<Tag>>) {
    if let Some(tags) = tags {
        for (i, t) in tags.iter().enumerate() {
            let k = format!("Tags.{}.member.TagKey", i + 1);
            let val = format!("Tags.{}.member.TagValue", i + 1);
            v.required(&k, &t.tag_key);
            v.length(&k, t.tag_key.as_deref(), 1, 128);
            v.required(&val, &t.tag_value);
            v.length(&val, t.tag_value.as_deref(), 0, 256);
        }
    }
}

/// Applies tags to a tag list, AWS-style: new keys appended, existing keys updated.
fn merge_tags(existing: &mut Vec<(String, String)>, tags: &[Tag]) -> Result<(), KmsError> {
    for t in tags {
        let (Some(k), Some(val)) = (&t.tag_key, &t.tag_value) else {
            continue;
        };
        if k.starts_with("aws:") {
            return Err(KmsError::Tag(
                "Tags beginning with aws: are reserved.".into(),
            ));
        }
        match existing.iter_mut().find(|(ek, _)| ek == k) {
            Some(e) => e.1 = val.clone(),
            None => existing.push((k.clone(), val.clone())),
        }
    }
    if existing.len() > MAX_TAGS {
        return Err(KmsError::LimitExceeded(format!(
            "A KMS key can have at most {MAX_TAGS} tags."
        )));
    }
    Ok(())
}

fn wire_tags(tags: &[(String, String)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag {
            tag_key: Some(k.clone()),
            tag_value: Some(v.clone()),
        })
        .collect()
}

/// The key policy AWS applies when none is given.
fn default_policy(partition: &str, account: &str) -> String {
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : \"arn:{partition}:iam::{account}:root\"\n    }},\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  }} ]\n}}"
    )
}

/// Pagination: the marker is the hex of the last item's sort key.
pub(super) fn page<T, K: AsRef<str>>(
    items: Vec<(K, T)>,
    limit: Option<i64>,
    default_limit: usize,
    max_limit: usize,
    marker: Option<&str>,
) -> Result<(Vec<T>, Option<String>), KmsError> {
    let after = match marker {
        Some(m) => Some(
            hex::decode(m)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| KmsError::InvalidMarker("Invalid marker".into()))?,
        ),
        None => None,
    };
    let limit = limit.map_or(default_limit, |l| {
        usize::try_from(l).unwrap_or(default_limit).min(max_limit)
    });
    let mut out = Vec::new();
    let mut next = None;
    let mut last_key = None;
    for (k, item) in items {
        if let Some(a) = &after {
            if k.as_ref() <= a.as_str() {
                continue;
            }
        }
        if out.len() == limit {
            next = last_key.map(|lk: String| hex::encode(lk.as_bytes()));
            break;
        }
        last_key = Some(k.as_ref().to_string());
        out.push(item);
    }
    Ok((out, next))
}

pub(super) fn validate_list(v: &mut Validator, limit: Option<i64>, marker: Option<&str>) {
    v.range("Limit", limit, 1, 1000);
    v.length("Marker", marker, 1, 1024);
}

pub(super) fn dry_run(flag: Option<bool>) -> Result<(), KmsError> {
    if flag == Some(true) {
        return Err(KmsError::DryRun(
            "The request would have succeeded, but the DryRun option is set.".into(),
        ));
    }
    Ok(())
}

/// The algorithm lists DescribeKey and GetPublicKey report, by key spec and usage.
#[derive(Default)]
pub(super) struct Algorithms {
    pub encryption: Option<Vec<String>>,
    pub signing: Option<Vec<String>>,
    pub mac: Option<Vec<String>>,
    pub key_agreement: Option<Vec<String>>,
    pub encapsulation: Option<Vec<String>>,
}

impl Algorithms {
    pub(super) fn of(fam: &FamilyRecord) -> Self {
        use coffer_crypto::asymmetric as a;
        let Ok(spec) = fam.key_spec.parse::<KeySpec>() else {
            return Self::default();
        };
        fn names<T: Copy>(list: &[T], name: fn(T) -> &'static str) -> Option<Vec<String>> {
            Some(list.iter().map(|x| name(*x).to_string()).collect())
        }
        match fam.key_usage.as_str() {
            "ENCRYPT_DECRYPT" => Self {
                encryption: names(
                    a::encryption_algorithms(spec),
                    a::EncryptionAlgorithm::as_str,
                ),
                ..Self::default()
            },
            "SIGN_VERIFY" => Self {
                signing: names(a::signing_algorithms(spec), a::SigningAlgorithm::as_str),
                ..Self::default()
            },
            "GENERATE_VERIFY_MAC" => Self {
                mac: names(a::mac_algorithms(spec), a::MacAlgorithm::as_str),
                ..Self::default()
            },
            "KEY_AGREEMENT" => Self {
                key_agreement: names(
                    a::key_agreement_algorithms(spec),
                    a::KeyAgreementAlgorithm::as_str,
                ),
                ..Self::default()
            },
            "ENCAPSULATE_DECAPSULATE" => Self {
                encapsulation: names(
                    a::encapsulation_algorithms(spec),
                    a::EncapsulationAlgorithm::as_str,
                ),
                ..Self::default()
            },
            _ => Self::default(),
        }
    }
}

/// What a new key is made of.
pub(crate) struct NewKey {
    pub spec: coffer_crypto::asymmetric::KeySpec,
    pub usage: &'static str,
    /// `None` for a key that waits for imported material (origin `EXTERNAL`).
    pub material: Option<super::state::MaterialKey>,
    pub multi_region: bool,
    pub key_manager: &'static str,
    pub description: String,
    pub policy: String,
    pub tags: Vec<(String, String)>,
}

impl Kms {
    /// The whole `KeyMetadata` of a regional key.
    pub(crate) fn metadata(
        &self,
        w: &World,
        partition: &str,
        key: &KeyRecord,
        fam: &Family,
    ) -> KeyMetadata {
        let arn = key_arn(partition, &key.region, &key.account, &key.key_id);
        let mrc = fam.rec.multi_region.then(|| {
            let related = w.related_keys(&key.account, &key.key_id);
            let primary_region = fam.rec.primary_region.clone();
            MultiRegionConfiguration {
                multi_region_key_type: if key.region == primary_region {
                    "PRIMARY"
                } else {
                    "REPLICA"
                }
                .to_string(),
                primary_key: MultiRegionKey {
                    arn: key_arn(partition, &primary_region, &key.account, &key.key_id),
                    region: primary_region.clone(),
                },
                replica_keys: related
                    .iter()
                    .filter(|k| k.region != primary_region)
                    .map(|k| MultiRegionKey {
                        arn: key_arn(partition, &k.region, &k.account, &k.key_id),
                        region: k.region.clone(),
                    })
                    .collect(),
            }
        });
        let algorithms = Algorithms::of(&fam.rec);
        let state = self.effective_state(key);
        let imported = key
            .imported
            .as_ref()
            .filter(|_| state != KeyState::PendingImport);
        let external = fam.rec.origin == "EXTERNAL";
        KeyMetadata {
            aws_account_id: key.account.clone(),
            key_id: key.key_id.clone(),
            arn,
            creation_date: key.created,
            enabled: state == KeyState::Enabled,
            description: key.description.clone(),
            key_usage: fam.rec.key_usage.clone(),
            key_state: state.as_str().to_string(),
            deletion_date: key.deletion_date,
            origin: fam.rec.origin.clone(),
            key_manager: fam.rec.key_manager.clone(),
            customer_master_key_spec: fam.rec.key_spec.clone(),
            key_spec: fam.rec.key_spec.clone(),
            encryption_algorithms: algorithms.encryption,
            signing_algorithms: algorithms.signing,
            mac_algorithms: algorithms.mac,
            key_agreement_algorithms: algorithms.key_agreement,
            encapsulation_algorithms: algorithms.encapsulation,
            multi_region: fam.rec.multi_region,
            multi_region_configuration: mrc,
            pending_deletion_window_in_days: (key.state == KeyState::PendingReplicaDeletion)
                .then_some(key.pending_window_days)
                .flatten(),
            current_key_material_id: if external {
                imported.map(|m| m.material_id.clone())
            } else {
                fam.rec.materials.last().map(|m| m.id.clone())
            },
            valid_to: imported.and_then(|m| m.valid_to),
            expiration_model: imported.map(|m| m.expiration_model.clone()),
        }
    }

    /// Creates a key family and its first regional key, committing both.
    pub(crate) fn create_key_internal(
        &self,
        w: &mut World,
        ctx: &RequestContext,
        new: NewKey,
    ) -> Result<KeyRecord, KmsError> {
        let NewKey {
            spec,
            usage,
            material,
            multi_region,
            key_manager,
            description,
            policy,
            tags,
        } = new;
        let origin = if material.is_some() {
            "AWS_KMS"
        } else {
            "EXTERNAL"
        };
        let key_id = if multi_region {
            format!("mrk-{}", uuid::Uuid::new_v4().simple())
        } else {
            uuid::Uuid::new_v4().to_string()
        };
        let mut fam = FamilyRecord {
            v: RECORD_VERSION,
            account: ctx.account_id.clone(),
            key_id: key_id.clone(),
            key_spec: spec.as_str().into(),
            key_usage: usage.into(),
            origin: origin.into(),
            key_manager: key_manager.into(),
            multi_region,
            primary_region: ctx.region.clone(),
            rotation_enabled: key_manager == "AWS"
                && spec == coffer_crypto::asymmetric::KeySpec::SymmetricDefault,
            rotation_period_days: (key_manager == "AWS").then_some(DEFAULT_ROTATION_DAYS),
            next_rotation: (key_manager == "AWS")
                .then(|| self.clock.now().plus_days(DEFAULT_ROTATION_DAYS)),
            materials: Vec::new(),
            imported_material_id: None,
        };
        let material = match material {
            Some(m) => Some(self.add_material(&mut fam, m, None)?),
            None => None,
        };
        let now = self.clock.now();
        let key = KeyRecord {
            v: RECORD_VERSION,
            account: ctx.account_id.clone(),
            region: ctx.region.clone(),
            key_id,
            description,
            policy,
            state: if material.is_some() {
                KeyState::Enabled
            } else {
                KeyState::PendingImport
            },
            created: now,
            deletion_date: None,
            pending_window_days: None,
            tags,
            imported: None,
            tracking_start: Some(now),
        };
        let mut tx = Transaction::new();
        tx.put(FAMILY_TABLE, &fam.store_key(), serde_json::to_vec(&fam)?);
        tx.put(KEY_TABLE, &key.store_key(), serde_json::to_vec(&key)?);
        self.commit(&tx)?;
        w.put_family(Family {
            rec: fam,
            materials: material.into_iter().map(Arc::new).collect(),
        });
        w.put_key(key.clone());
        Ok(key)
    }

    /// `CreateKey`.
    pub fn create_key(
        &self,
        ctx: &RequestContext,
        req: CreateKeyRequest,
    ) -> Result<KeyMetadataResponse, KmsError> {
        let mut v = Validator::new();
        validate_policy(&mut v, &req.policy);
        v.length("Description", req.description.as_deref(), 0, 8192);
        v.one_of("KeyUsage", req.key_usage.as_deref(), KEY_USAGES);
        v.one_of(
            "CustomerMasterKeySpec",
            req.customer_master_key_spec.as_deref(),
            CUSTOMER_MASTER_KEY_SPECS,
        );
        v.one_of("KeySpec", req.key_spec.as_deref(), KEY_SPECS);
        v.one_of("Origin", req.origin.as_deref(), ORIGINS);
        v.length(
            "CustomKeyStoreId",
            req.custom_key_store_id.as_deref(),
            1,
            64,
        );
        v.length("XksKeyId", req.xks_key_id.as_deref(), 1, 128);
        validate_tags(&mut v, &req.tags);
        v.finish()?;
        if req.key_spec.is_some() && req.customer_master_key_spec.is_some() {
            return Err(ValidationError {
                message: "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.".into(),
            }
            .into());
        }
        let spec = req
            .key_spec
            .as_deref()
            .or(req.customer_master_key_spec.as_deref())
            .unwrap_or("SYMMETRIC_DEFAULT");
        let spec: KeySpec = spec
            .parse()
            .map_err(|_| KmsError::Internal(format!("validated key spec {spec} unknown")))?;
        if spec == KeySpec::Sm2 {
            return Err(KmsError::UnsupportedOperation(
                if ctx.region.starts_with("cn-") {
                    "Coffer does not support the SM2 key spec: it has no SM2 implementation.".into()
                } else {
                    format!("KeySpec SM2 is not supported in {}; it is available only in the China Regions.", ctx.region)
                },
            ));
        }
        let usage = req.key_usage.as_deref().unwrap_or("ENCRYPT_DECRYPT");
        if !spec.key_usages().iter().any(|u| u.as_str() == usage) {
            return Err(ValidationError {
                message: format!("KeyUsage {usage} is not compatible with KeySpec {spec}"),
            }
            .into());
        }
        let usage: &'static str = KEY_USAGES
            .iter()
            .find(|u| **u == usage)
            .copied()
            .unwrap_or("ENCRYPT_DECRYPT");
        let origin = req.origin.as_deref().unwrap_or("AWS_KMS");
        Self::check_no_custom_key_store(req.custom_key_store_id.as_deref())?;
        if !matches!(origin, "AWS_KMS" | "EXTERNAL") || req.xks_key_id.is_some() {
            return Err(KmsError::UnsupportedOperation(format!(
                "Origin {origin} requires a custom key store; Coffer has no custom key stores."
            )));
        }
        let policy = match req.policy {
            Some(p) => {
                check_policy_document(&p)?;
                p
            }
            None => default_policy(ctx.partition(), &ctx.account_id),
        };
        let mut tags = Vec::new();
        merge_tags(&mut tags, req.tags.as_deref().unwrap_or_default())?;
        let material = if origin == "EXTERNAL" {
            None
        } else {
            Some(Self::generate_material(spec)?)
        };
        let mut w = self.world.write();
        let new = NewKey {
            spec,
            usage,
            material,
            multi_region: req.multi_region.unwrap_or(false),
            key_manager: "CUSTOMER",
            description: req.description.unwrap_or_default(),
            policy,
            tags,
        };
        let key = self.create_key_internal(&mut w, ctx, new)?;
        let fam = w
            .family(&ctx.account_id, &key.key_id)
            .ok_or_else(|| KmsError::Internal("family vanished".into()))?;
        Ok(KeyMetadataResponse {
            key_metadata: self.metadata(&w, ctx.partition(), &key, fam),
        })
    }

    /// `DescribeKey`.
    pub fn describe_key(
        &self,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<KeyMetadataResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        validate_grant_tokens(&mut v, &req.grant_tokens);
        v.finish()?;
        let w = self.world.read();
        let (key, fam) = self.resolve(
            &w,
            ctx,
            &ops::DESCRIBE_KEY,
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        Ok(KeyMetadataResponse {
            key_metadata: self.metadata(&w, ctx.partition(), key, fam),
        })
    }

    /// `ListKeys`.
    ///
    /// `ResourceOwners`: `SELF` lists the caller's keys in the Region, `OTHER_ACCOUNTS_VIA_RAM`
    /// the keys other accounts share with the caller through AWS RAM, after the caller's own when
    /// both are given; absent means `SELF`. Coffer has no RAM and no cross-account key use (every
    /// key is reached only from its own account), so no account shares a key and the shared part
    /// is always empty: `[OTHER_ACCOUNTS_VIA_RAM]` lists nothing, and with both values the listing
    /// ends with the caller's last key. A value given twice counts once. Markers name the
    /// caller's last listed key, so a request for shared keys alone, which never returns a
    /// marker, refuses one (AWS: a marker is only good for the `ResourceOwners` that returned it).
    pub fn list_keys(
        &self,
        ctx: &RequestContext,
        req: ListKeysRequest,
    ) -> Result<ListKeysResponse, KmsError> {
        let mut v = Validator::new();
        validate_list(&mut v, req.limit, req.marker.as_deref());
        let owners = req.resource_owners.as_deref();
        v.count("ResourceOwners", owners.map(<[String]>::len), 1, 2);
        for (i, owner) in owners.into_iter().flatten().enumerate() {
            v.one_of(
                &format!("ResourceOwners.{}.member", i + 1),
                Some(owner),
                RESOURCE_OWNERS,
            );
        }
        v.finish()?;
        let own = owners.is_none_or(|o| o.iter().any(|x| x == "SELF"));
        if !own {
            if req.marker.is_some() {
                return Err(KmsError::InvalidMarker("Invalid marker".into()));
            }
            return Ok(ListKeysResponse {
                keys: Vec::new(),
                truncated: false,
                next_marker: None,
            });
        }
        let w = self.world.read();
        let items: Vec<(String, KeyListEntry)> = w
            .region(&ctx.account_id, &ctx.region)
            .map(|r| {
                r.keys
                    .values()
                    .map(|k| {
                        (
                            k.key_id.clone(),
                            KeyListEntry {
                                key_id: k.key_id.clone(),
                                key_arn: key_arn(ctx.partition(), &k.region, &k.account, &k.key_id),
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (keys, next) = page(items, req.limit, 100, 1000, req.marker.as_deref())?;
        Ok(ListKeysResponse {
            keys,
            truncated: next.is_some(),
            next_marker: next,
        })
    }

    /// Applies `change` to the regional key that `key_ref` names for `op`, commits, returns it.
    fn update_key(
        &self,
        ctx: &RequestContext,
        op: &KeyOp,
        key_ref: &str,
        change: impl FnOnce(&mut KeyRecord) -> Result<(), KmsError>,
    ) -> Result<KeyRecord, KmsError> {
        let mut w = self.world.write();
        let (key, _) = self.resolve(&w, ctx, op, key_ref)?;
        let mut key = key.clone();
        change(&mut key)?;
        let mut tx = Transaction::new();
        tx.put(KEY_TABLE, &key.store_key(), serde_json::to_vec(&key)?);
        self.commit(&tx)?;
        w.put_key(key.clone());
        Ok(key)
    }

    /// Applies `change` to the family of the key `key_ref` names for `op`, commits.
    fn update_family(
        &self,
        ctx: &RequestContext,
        op: &KeyOp,
        key_ref: &str,
        change: impl FnOnce(&KeyRecord, &mut FamilyRecord) -> Result<(), KmsError>,
    ) -> Result<(), KmsError> {
        let mut w = self.world.write();
        let (key, fam) = self.resolve(&w, ctx, op, key_ref)?;
        let mut fam = fam.clone();
        change(key, &mut fam.rec)?;
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

    pub(super) fn key_id_only(req: &KeyIdRequest) -> Result<String, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.finish()?;
        Ok(req.key_id.clone().unwrap_or_default())
    }

    /// `EnableKey`.
    pub fn enable_key(&self, ctx: &RequestContext, req: KeyIdRequest) -> Result<Empty, KmsError> {
        let id = Self::key_id_only(&req)?;
        self.update_key(ctx, &ops::ENABLE_KEY, &id, |k| {
            k.state = KeyState::Enabled;
            Ok(())
        })?;
        Ok(Empty {})
    }

    /// `DisableKey`.
    pub fn disable_key(&self, ctx: &RequestContext, req: KeyIdRequest) -> Result<Empty, KmsError> {
        let id = Self::key_id_only(&req)?;
        self.update_key(ctx, &ops::DISABLE_KEY, &id, |k| {
            k.state = KeyState::Disabled;
            Ok(())
        })?;
        Ok(Empty {})
    }

    fn rotation_allowed(
        ctx: &RequestContext,
        key: &KeyRecord,
        fam: &FamilyRecord,
    ) -> Result<(), KmsError> {
        let arn = key_arn(ctx.partition(), &key.region, &key.account, &key.key_id);
        if fam.key_manager == "AWS" {
            return Err(KmsError::UnsupportedOperation(format!(
                "{arn} is an AWS managed key; its rotation is managed by AWS."
            )));
        }
        if fam.origin == "EXTERNAL" {
            return Err(KmsError::UnsupportedOperation(format!(
                "{arn} has imported key material (origin EXTERNAL): KMS does not rotate it automatically, and Coffer does not support on-demand rotation of imported key material."
            )));
        }
        if fam.multi_region && key.region != fam.primary_region {
            return Err(KmsError::UnsupportedOperation(format!(
                "{arn} is a multi-Region replica key. Manage automatic rotation on its primary key in {}.",
                fam.primary_region
            )));
        }
        Ok(())
    }

    /// `EnableKeyRotation`.
    pub fn enable_key_rotation(
        &self,
        ctx: &RequestContext,
        req: EnableKeyRotationRequest,
    ) -> Result<Empty, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.range(
            "RotationPeriodInDays",
            req.rotation_period_in_days,
            90,
            2560,
        );
        v.finish()?;
        let now = self.clock.now();
        self.update_family(
            ctx,
            &ops::ENABLE_KEY_ROTATION,
            req.key_id.as_deref().unwrap_or_default(),
            |key, fam| {
                Self::rotation_allowed(ctx, key, fam)?;
                let days = req
                    .rotation_period_in_days
                    .or(fam.rotation_period_days)
                    .unwrap_or(DEFAULT_ROTATION_DAYS);
                fam.rotation_enabled = true;
                fam.rotation_period_days = Some(days);
                fam.next_rotation = Some(now.plus_days(days));
                Ok(())
            },
        )?;
        Ok(Empty {})
    }

    /// `DisableKeyRotation`.
    pub fn disable_key_rotation(
        &self,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<Empty, KmsError> {
        let id = Self::key_id_only(&req)?;
        self.update_family(ctx, &ops::DISABLE_KEY_ROTATION, &id, |key, fam| {
            Self::rotation_allowed(ctx, key, fam)?;
            fam.rotation_enabled = false;
            fam.next_rotation = None;
            Ok(())
        })?;
        Ok(Empty {})
    }

    /// `GetKeyRotationStatus`.
    pub fn get_key_rotation_status(
        &self,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<GetKeyRotationStatusResponse, KmsError> {
        let id = Self::key_id_only(&req)?;
        let w = self.world.read();
        let (key, fam) = self.resolve(&w, ctx, &ops::GET_KEY_ROTATION_STATUS, &id)?;
        let enabled = fam.rec.rotation_enabled;
        Ok(GetKeyRotationStatusResponse {
            key_rotation_enabled: enabled,
            key_id: key_arn(ctx.partition(), &key.region, &key.account, &key.key_id),
            rotation_period_in_days: if enabled {
                fam.rec.rotation_period_days
            } else {
                None
            },
            next_rotation_date: if enabled { fam.rec.next_rotation } else { None },
        })
    }

    /// `ScheduleKeyDeletion`.
    pub fn schedule_key_deletion(
        &self,
        ctx: &RequestContext,
        req: ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.range("PendingWindowInDays", req.pending_window_in_days, 7, 30);
        v.finish()?;
        let days = req.pending_window_in_days.unwrap_or(30);
        let now = self.clock.now();
        let mut w = self.world.write();
        let (key, fam) = self.resolve(
            &w,
            ctx,
            &ops::SCHEDULE_KEY_DELETION,
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        let arn = key_arn(ctx.partition(), &key.region, &key.account, &key.key_id);
        if fam.rec.key_manager == "AWS" {
            return Err(KmsError::UnsupportedOperation(format!(
                "{arn} is an AWS managed key and cannot be deleted."
            )));
        }
        let has_replicas = fam.rec.multi_region
            && key.region == fam.rec.primary_region
            && w.related_keys(&key.account, &key.key_id).len() > 1;
        let mut key = key.clone();
        key.pending_window_days = Some(days);
        if has_replicas {
            key.state = KeyState::PendingReplicaDeletion;
            key.deletion_date = None;
        } else {
            key.state = KeyState::PendingDeletion;
            key.deletion_date = Some(now.plus_days(days));
        }
        let mut tx = Transaction::new();
        tx.put(KEY_TABLE, &key.store_key(), serde_json::to_vec(&key)?);
        self.commit(&tx)?;
        let resp = ScheduleKeyDeletionResponse {
            key_id: arn,
            deletion_date: key.deletion_date,
            key_state: key.state.as_str().to_string(),
            pending_window_in_days: days,
        };
        w.put_key(key);
        Ok(resp)
    }

    /// `CancelKeyDeletion`: the key comes back disabled.
    pub fn cancel_key_deletion(
        &self,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<KeyIdResponse, KmsError> {
        let id = Self::key_id_only(&req)?;
        let external = {
            let w = self.world.read();
            let (_, fam) = self.resolve(&w, ctx, &ops::CANCEL_KEY_DELETION, &id)?;
            fam.rec.origin == "EXTERNAL"
        };
        let now = self.clock.now();
        let key = self.update_key(ctx, &ops::CANCEL_KEY_DELETION, &id, |k| {
            // A key without (unexpired) imported material goes back to waiting for it.
            let holds = k
                .imported
                .as_ref()
                .is_some_and(|m| m.valid_to.is_none_or(|t| t > now));
            k.state = if external && !holds {
                KeyState::PendingImport
            } else {
                KeyState::Disabled
            };
            k.deletion_date = None;
            k.pending_window_days = None;
            Ok(())
        })?;
        Ok(KeyIdResponse {
            key_id: key_arn(ctx.partition(), &key.region, &key.account, &key.key_id),
        })
    }

    fn validate_alias_request(
        req: &AliasRequest,
        needs_target: bool,
    ) -> Result<(String, String), KmsError> {
        let mut v = Validator::new();
        v.required("AliasName", &req.alias_name);
        v.length("AliasName", req.alias_name.as_deref(), 1, 256);
        v.pattern(
            "AliasName",
            req.alias_name.as_deref(),
            alias_name_ok,
            "^[a-zA-Z0-9:/_-]+$",
        );
        if needs_target {
            require_key_id(&mut v, "TargetKeyId", &req.target_key_id);
        }
        v.finish()?;
        let name = req.alias_name.clone().unwrap_or_default();
        if !name.starts_with("alias/") || name.len() == "alias/".len() {
            return Err(ValidationError {
                message: "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html".into(),
            }
            .into());
        }
        Ok((name, req.target_key_id.clone().unwrap_or_default()))
    }

    /// `CreateAlias`.
    pub fn create_alias(&self, ctx: &RequestContext, req: AliasRequest) -> Result<Empty, KmsError> {
        let (name, target) = Self::validate_alias_request(&req, true)?;
        if name.starts_with("alias/aws/") {
            return Err(KmsError::NotAuthorized(
                "Cannot create alias with reserved prefix alias/aws/".into(),
            ));
        }
        let mut w = self.world.write();
        let (key, _) = self.resolve(&w, ctx, &ops::CREATE_ALIAS, &target)?;
        let arn = alias_arn(ctx.partition(), &ctx.region, &ctx.account_id, &name);
        if w.region(&ctx.account_id, &ctx.region)
            .is_some_and(|r| r.aliases.contains_key(&name))
        {
            return Err(KmsError::AlreadyExists(format!(
                "An alias with the name {arn} already exists"
            )));
        }
        Self::check_alias_quota(&w, ctx, &key.key_id)?;
        let now = self.clock.now();
        let rec = AliasRecord {
            v: RECORD_VERSION,
            account: ctx.account_id.clone(),
            region: ctx.region.clone(),
            name,
            target_key_id: key.key_id.clone(),
            created: now,
            updated: now,
        };
        let mut tx = Transaction::new();
        tx.put(ALIAS_TABLE, &rec.store_key(), serde_json::to_vec(&rec)?);
        self.commit(&tx)?;
        w.put_alias(rec);
        Ok(Empty {})
    }

    fn existing_alias(
        w: &World,
        ctx: &RequestContext,
        name: &str,
    ) -> Result<AliasRecord, KmsError> {
        w.region(&ctx.account_id, &ctx.region)
            .and_then(|r| r.aliases.get(name))
            .cloned()
            .ok_or_else(|| {
                KmsError::NotFound(format!(
                    "Alias {} is not found.",
                    alias_arn(ctx.partition(), &ctx.region, &ctx.account_id, name)
                ))
            })
    }

    /// AWS's quota of aliases per key.
    fn check_alias_quota(w: &World, ctx: &RequestContext, key_id: &str) -> Result<(), KmsError> {
        let n = w.region(&ctx.account_id, &ctx.region).map_or(0, |r| {
            r.aliases
                .values()
                .filter(|a| a.target_key_id == key_id)
                .count()
        });
        if n >= MAX_ALIASES_PER_KEY {
            return Err(KmsError::LimitExceeded(format!(
                "The KMS key {} already has {MAX_ALIASES_PER_KEY} aliases, the maximum allowed.",
                key_arn(ctx.partition(), &ctx.region, &ctx.account_id, key_id)
            )));
        }
        Ok(())
    }

    /// `UpdateAlias`.
    pub fn update_alias(&self, ctx: &RequestContext, req: AliasRequest) -> Result<Empty, KmsError> {
        let (name, target) = Self::validate_alias_request(&req, true)?;
        let mut w = self.world.write();
        let mut rec = Self::existing_alias(&w, ctx, &name)?;
        let (key, _) = self.resolve(&w, ctx, &ops::UPDATE_ALIAS, &target)?;
        if rec.target_key_id != key.key_id {
            Self::check_alias_quota(&w, ctx, &key.key_id)?;
        }
        rec.target_key_id = key.key_id.clone();
        rec.updated = self.clock.now();
        let mut tx = Transaction::new();
        tx.put(ALIAS_TABLE, &rec.store_key(), serde_json::to_vec(&rec)?);
        self.commit(&tx)?;
        w.put_alias(rec);
        Ok(Empty {})
    }

    /// `DeleteAlias`.
    pub fn delete_alias(&self, ctx: &RequestContext, req: AliasRequest) -> Result<Empty, KmsError> {
        let (name, _) = Self::validate_alias_request(&req, false)?;
        let mut w = self.world.write();
        let rec = Self::existing_alias(&w, ctx, &name)?;
        let mut tx = Transaction::new();
        tx.delete(ALIAS_TABLE, &rec.store_key());
        self.commit(&tx)?;
        w.region_mut(&ctx.account_id, &ctx.region)
            .aliases
            .remove(&name);
        Ok(Empty {})
    }

    /// `ListAliases`.
    pub fn list_aliases(
        &self,
        ctx: &RequestContext,
        req: ListRequest,
    ) -> Result<ListAliasesResponse, KmsError> {
        let mut v = Validator::new();
        v.length("KeyId", req.key_id.as_deref(), KEY_ID.0, KEY_ID.1);
        validate_list(&mut v, req.limit, req.marker.as_deref());
        v.finish()?;
        let w = self.world.read();
        let filter = match &req.key_id {
            Some(k) => Some(
                self.resolve(&w, ctx, &ops::LIST_ALIASES, k)?
                    .0
                    .key_id
                    .clone(),
            ),
            None => None,
        };
        let items: Vec<(String, AliasListEntry)> = w
            .region(&ctx.account_id, &ctx.region)
            .map(|r| {
                r.aliases
                    .values()
                    .filter(|a| filter.as_ref().is_none_or(|f| &a.target_key_id == f))
                    .map(|a| {
                        (
                            a.name.clone(),
                            AliasListEntry {
                                alias_name: a.name.clone(),
                                alias_arn: alias_arn(
                                    ctx.partition(),
                                    &a.region,
                                    &a.account,
                                    &a.name,
                                ),
                                target_key_id: Some(a.target_key_id.clone()),
                                creation_date: Some(a.created),
                                last_updated_date: Some(a.updated),
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let (aliases, next) = page(items, req.limit, 50, 100, req.marker.as_deref())?;
        Ok(ListAliasesResponse {
            aliases,
            truncated: next.is_some(),
            next_marker: next,
        })
    }

    /// `TagResource`.
    pub fn tag_resource(
        &self,
        ctx: &RequestContext,
        req: TagResourceRequest,
    ) -> Result<Empty, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("Tags", &req.tags);
        validate_tags(&mut v, &req.tags);
        v.finish()?;
        let tags = req.tags.unwrap_or_default();
        self.update_key(
            ctx,
            &ops::TAG_RESOURCE,
            req.key_id.as_deref().unwrap_or_default(),
            |k| merge_tags(&mut k.tags, &tags),
        )?;
        Ok(Empty {})
    }

    /// `UntagResource`.
    pub fn untag_resource(
        &self,
        ctx: &RequestContext,
        req: UntagResourceRequest,
    ) -> Result<Empty, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("TagKeys", &req.tag_keys);
        for (i, k) in req.tag_keys.iter().flatten().enumerate() {
            v.length(&format!("TagKeys.{}.member", i + 1), Some(k), 1, 128);
        }
        v.finish()?;
        let keys = req.tag_keys.unwrap_or_default();
        self.update_key(
            ctx,
            &ops::UNTAG_RESOURCE,
            req.key_id.as_deref().unwrap_or_default(),
            |k| {
                k.tags.retain(|(tk, _)| !keys.contains(tk));
                Ok(())
            },
        )?;
        Ok(Empty {})
    }

    /// `ListResourceTags`.
    pub fn list_resource_tags(
        &self,
        ctx: &RequestContext,
        req: ListRequest,
    ) -> Result<ListResourceTagsResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        validate_list(&mut v, req.limit, req.marker.as_deref());
        v.finish()?;
        let w = self.world.read();
        let (key, _) = self.resolve(
            &w,
            ctx,
            &ops::LIST_RESOURCE_TAGS,
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        let items: Vec<(String, Tag)> = key
            .tags
            .iter()
            .enumerate()
            .map(|(i, (k, val))| {
                (
                    format!("{i:08}"),
                    Tag {
                        tag_key: Some(k.clone()),
                        tag_value: Some(val.clone()),
                    },
                )
            })
            .collect();
        let (tags, next) = page(items, req.limit, 50, 50, req.marker.as_deref())?;
        Ok(ListResourceTagsResponse {
            tags,
            truncated: next.is_some(),
            next_marker: next,
        })
    }

    fn policy_name(v: &mut Validator, name: &Option<String>) {
        v.length("PolicyName", name.as_deref(), 1, 128);
        v.pattern(
            "PolicyName",
            name.as_deref(),
            |s| s.chars().all(|c| c.is_alphanumeric() || c == '_'),
            "[\\w]+",
        );
    }

    fn check_policy_name(name: Option<&str>) -> Result<(), KmsError> {
        match name {
            None | Some("default") => Ok(()),
            Some(_) => Err(KmsError::NotFound("No such policy exists".into())),
        }
    }

    /// `GetKeyPolicy`.
    pub fn get_key_policy(
        &self,
        ctx: &RequestContext,
        req: KeyPolicyRequest,
    ) -> Result<GetKeyPolicyResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        Self::policy_name(&mut v, &req.policy_name);
        v.finish()?;
        let w = self.world.read();
        let (key, _) = self.resolve(
            &w,
            ctx,
            &ops::GET_KEY_POLICY,
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        Self::check_policy_name(req.policy_name.as_deref())?;
        Ok(GetKeyPolicyResponse {
            policy: key.policy.clone(),
            policy_name: "default".into(),
        })
    }

    /// `PutKeyPolicy`.
    pub fn put_key_policy(
        &self,
        ctx: &RequestContext,
        req: KeyPolicyRequest,
    ) -> Result<Empty, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        Self::policy_name(&mut v, &req.policy_name);
        v.required("Policy", &req.policy);
        validate_policy(&mut v, &req.policy);
        v.finish()?;
        Self::check_policy_name(req.policy_name.as_deref())?;
        let policy = req.policy.unwrap_or_default();
        check_policy_document(&policy)?;
        self.update_key(
            ctx,
            &ops::PUT_KEY_POLICY,
            req.key_id.as_deref().unwrap_or_default(),
            |k| {
                k.policy = policy;
                Ok(())
            },
        )?;
        Ok(Empty {})
    }

    /// `ListKeyPolicies`.
    pub fn list_key_policies(
        &self,
        ctx: &RequestContext,
        req: ListRequest,
    ) -> Result<ListKeyPoliciesResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        validate_list(&mut v, req.limit, req.marker.as_deref());
        v.finish()?;
        let w = self.world.read();
        self.resolve(
            &w,
            ctx,
            &ops::LIST_KEY_POLICIES,
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        Ok(ListKeyPoliciesResponse {
            policy_names: vec!["default".into()],
            truncated: false,
        })
    }

    /// `UpdateKeyDescription`.
    pub fn update_key_description(
        &self,
        ctx: &RequestContext,
        req: UpdateKeyDescriptionRequest,
    ) -> Result<Empty, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("Description", &req.description);
        v.length("Description", req.description.as_deref(), 0, 8192);
        v.finish()?;
        let description = req.description.unwrap_or_default();
        self.update_key(
            ctx,
            &ops::UPDATE_KEY_DESCRIPTION,
            req.key_id.as_deref().unwrap_or_default(),
            |k| {
                k.description = description;
                Ok(())
            },
        )?;
        Ok(Empty {})
    }

    /// Seals `plaintext` under the current material of the key `key_ref` names:
    /// (blob, key ARN, material ID).
    pub(crate) fn seal(
        &self,
        ctx: &RequestContext,
        op: &KeyOp,
        key_ref: &str,
        enc_ctx: &EncryptionContext,
        plaintext: &[u8],
        dry: Option<bool>,
    ) -> Result<(Vec<u8>, String, String), KmsError> {
        let w = self.world.read();
        let (key, fam) = self.resolve(&w, ctx, op, key_ref)?;
        dry_run(dry)?;
        let material = fam
            .current()
            .ok_or_else(|| KmsError::Internal("family without material".into()))?;
        let MaterialKey::Symmetric(aes) = &material.key else {
            return Err(KmsError::InvalidKeyUsage(format!(
                "{} key spec is {} which is not valid for {}.",
                key_arn(ctx.partition(), &key.region, &key.account, &key.key_id),
                fam.rec.key_spec,
                op.name
            )));
        };
        let blob = ciphertext::seal(aes, &key.key_id, &material.id, enc_ctx, plaintext)?;
        self.note_use(key, op);
        Ok((
            blob,
            key_arn(ctx.partition(), &key.region, &key.account, &key.key_id),
            hex::encode(material.id),
        ))
    }

    /// Opens a blob with the caller's Region's key of the ID it names: (plaintext, key ARN, material ID).
    pub(crate) fn open(
        &self,
        ctx: &RequestContext,
        op: &KeyOp,
        blob: &[u8],
        key_ref: Option<&str>,
        enc_ctx: &EncryptionContext,
        dry: Option<bool>,
    ) -> Result<(Zeroizing<Vec<u8>>, String, String), KmsError> {
        let parsed =
            ciphertext::parse(blob).map_err(|_| KmsError::InvalidCiphertext(String::new()))?;
        // A blob whose header names no possible key ID is garbage, not a reference to a key.
        if !key_id_shaped(&parsed.header.key_id) {
            return Err(KmsError::InvalidCiphertext(String::new()));
        }
        let w = self.world.read();
        if let Some(r) = key_ref {
            let (named, _) = self.resolve(&w, ctx, op, r)?;
            if named.key_id != parsed.header.key_id {
                return Err(KmsError::IncorrectKey(
                    "The key ID in the request does not identify a CMK that can perform this operation.".into(),
                ));
            }
        }
        let (key, fam) = self.resolve(&w, ctx, op, &parsed.header.key_id)?;
        let material = fam
            .material(&parsed.header.material_id)
            .ok_or_else(|| KmsError::InvalidCiphertext(String::new()))?;
        let MaterialKey::Symmetric(aes) = &material.key else {
            return Err(KmsError::InvalidCiphertext(String::new()));
        };
        let plain = parsed
            .open(aes, enc_ctx)
            .map_err(|_| KmsError::InvalidCiphertext(String::new()))?;
        dry_run(dry)?;
        self.note_use(key, op);
        Ok((
            plain,
            key_arn(ctx.partition(), &key.region, &key.account, &key.key_id),
            hex::encode(material.id),
        ))
    }

    fn check_algorithm(v: &mut Validator, member: &str, alg: Option<&str>) {
        v.one_of(member, alg, ENCRYPTION_ALGORITHMS);
    }

    fn symmetric_only(alg: Option<&str>) -> Result<(), KmsError> {
        match alg {
            None | Some("SYMMETRIC_DEFAULT") => Ok(()),
            Some(a) => Err(KmsError::InvalidKeyUsage(format!(
                "{a} is not a valid encryption algorithm for a SYMMETRIC_DEFAULT key."
            ))),
        }
    }

    /// `Encrypt`.
    pub fn encrypt(
        &self,
        ctx: &RequestContext,
        req: EncryptRequest,
    ) -> Result<EncryptResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("Plaintext", &req.plaintext);
        v.blob_length(
            "Plaintext",
            req.plaintext.as_ref().map(Blob::as_slice),
            1,
            4096,
        );
        validate_grant_tokens(&mut v, &req.grant_tokens);
        Self::check_algorithm(
            &mut v,
            "EncryptionAlgorithm",
            req.encryption_algorithm.as_deref(),
        );
        v.finish()?;
        let plaintext = req.plaintext.unwrap_or_default();
        if let Some(alg @ ("RSAES_OAEP_SHA_1" | "RSAES_OAEP_SHA_256")) =
            req.encryption_algorithm.as_deref()
        {
            return self.encrypt_rsa(
                ctx,
                req.key_id.as_deref().unwrap_or_default(),
                alg,
                plaintext.as_slice(),
                req.dry_run,
            );
        }
        Self::symmetric_only(req.encryption_algorithm.as_deref())?;
        let enc_ctx = req.encryption_context.unwrap_or_default();
        let (blob, arn, _) = self.seal(
            ctx,
            &ops::ENCRYPT,
            req.key_id.as_deref().unwrap_or_default(),
            &enc_ctx,
            plaintext.as_slice(),
            req.dry_run,
        )?;
        Ok(EncryptResponse {
            ciphertext_blob: Blob::new(blob),
            key_id: arn,
            encryption_algorithm: "SYMMETRIC_DEFAULT".into(),
        })
    }

    /// `Decrypt`.
    pub fn decrypt(
        &self,
        ctx: &RequestContext,
        req: DecryptRequest,
    ) -> Result<DecryptResponse, KmsError> {
        let mut v = Validator::new();
        v.required("CiphertextBlob", &req.ciphertext_blob);
        v.blob_length(
            "CiphertextBlob",
            req.ciphertext_blob.as_ref().map(Blob::as_slice),
            1,
            6144,
        );
        v.length("KeyId", req.key_id.as_deref(), KEY_ID.0, KEY_ID.1);
        validate_grant_tokens(&mut v, &req.grant_tokens);
        Self::check_algorithm(
            &mut v,
            "EncryptionAlgorithm",
            req.encryption_algorithm.as_deref(),
        );
        v.finish()?;
        if req.recipient.is_some() {
            return Err(KmsError::UnsupportedOperation(
                "Coffer does not support attested Recipient requests.".into(),
            ));
        }
        let blob = req.ciphertext_blob.unwrap_or_default();
        if let Some(alg @ ("RSAES_OAEP_SHA_1" | "RSAES_OAEP_SHA_256")) =
            req.encryption_algorithm.as_deref()
        {
            let (plain, arn, material) = self.decrypt_rsa(
                ctx,
                req.key_id.as_deref(),
                alg,
                blob.as_slice(),
                req.dry_run,
            )?;
            return Ok(DecryptResponse {
                key_id: arn,
                plaintext: Blob::from(plain),
                encryption_algorithm: alg.into(),
                key_material_id: material,
            });
        }
        Self::symmetric_only(req.encryption_algorithm.as_deref())?;
        let (plain, arn, material) = self.open(
            ctx,
            &ops::DECRYPT,
            blob.as_slice(),
            req.key_id.as_deref(),
            &req.encryption_context.unwrap_or_default(),
            req.dry_run,
        )?;
        Ok(DecryptResponse {
            key_id: arn,
            plaintext: Blob::from(plain),
            encryption_algorithm: "SYMMETRIC_DEFAULT".into(),
            key_material_id: material,
        })
    }

    /// `ReEncrypt`.
    pub fn re_encrypt(
        &self,
        ctx: &RequestContext,
        req: ReEncryptRequest,
    ) -> Result<ReEncryptResponse, KmsError> {
        let mut v = Validator::new();
        v.required("CiphertextBlob", &req.ciphertext_blob);
        v.blob_length(
            "CiphertextBlob",
            req.ciphertext_blob.as_ref().map(Blob::as_slice),
            1,
            6144,
        );
        v.length(
            "SourceKeyId",
            req.source_key_id.as_deref(),
            KEY_ID.0,
            KEY_ID.1,
        );
        require_key_id(&mut v, "DestinationKeyId", &req.destination_key_id);
        Self::check_algorithm(
            &mut v,
            "SourceEncryptionAlgorithm",
            req.source_encryption_algorithm.as_deref(),
        );
        Self::check_algorithm(
            &mut v,
            "DestinationEncryptionAlgorithm",
            req.destination_encryption_algorithm.as_deref(),
        );
        validate_grant_tokens(&mut v, &req.grant_tokens);
        v.finish()?;
        Self::symmetric_only(req.source_encryption_algorithm.as_deref())?;
        Self::symmetric_only(req.destination_encryption_algorithm.as_deref())?;
        let blob = req.ciphertext_blob.unwrap_or_default();
        let (plain, source_arn, source_material) = self.open(
            ctx,
            &ops::RE_ENCRYPT_FROM,
            blob.as_slice(),
            req.source_key_id.as_deref(),
            &req.source_encryption_context.unwrap_or_default(),
            None,
        )?;
        let (new_blob, arn, material) = self.seal(
            ctx,
            &ops::RE_ENCRYPT_TO,
            req.destination_key_id.as_deref().unwrap_or_default(),
            &req.destination_encryption_context.unwrap_or_default(),
            &plain,
            req.dry_run,
        )?;
        Ok(ReEncryptResponse {
            ciphertext_blob: Blob::new(new_blob),
            source_key_id: source_arn,
            key_id: arn,
            source_encryption_algorithm: "SYMMETRIC_DEFAULT".into(),
            destination_encryption_algorithm: "SYMMETRIC_DEFAULT".into(),
            source_key_material_id: source_material,
            destination_key_material_id: material,
        })
    }

    fn data_key_len(
        number_of_bytes: Option<i64>,
        key_spec: Option<&str>,
    ) -> Result<usize, KmsError> {
        match (number_of_bytes, key_spec) {
            (Some(n), None) => Ok(usize::try_from(n).unwrap_or(0)),
            (None, Some("AES_256")) => Ok(32),
            (None, Some("AES_128")) => Ok(16),
            _ => Err(ValidationError {
                message: "Please specify either number of bytes or key spec.".into(),
            }
            .into()),
        }
    }

    fn generate_data_key_common(
        &self,
        ctx: &RequestContext,
        op: &KeyOp,
        req: GenerateDataKeyRequest,
        with_plaintext: bool,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.range("NumberOfBytes", req.number_of_bytes, 1, 1024);
        v.one_of("KeySpec", req.key_spec.as_deref(), DATA_KEY_SPECS);
        validate_grant_tokens(&mut v, &req.grant_tokens);
        v.finish()?;
        let len = Self::data_key_len(req.number_of_bytes, req.key_spec.as_deref())?;
        if req.recipient.is_some() {
            return Err(KmsError::UnsupportedOperation(
                "Coffer does not support attested Recipient requests.".into(),
            ));
        }
        let data_key = coffer_crypto::random::bytes(len)?;
        let (blob, arn, material) = self.seal(
            ctx,
            op,
            req.key_id.as_deref().unwrap_or_default(),
            &req.encryption_context.unwrap_or_default(),
            &data_key,
            req.dry_run,
        )?;
        Ok(GenerateDataKeyResponse {
            ciphertext_blob: Blob::new(blob),
            plaintext: with_plaintext.then(|| Blob::from(data_key)),
            key_id: arn,
            key_material_id: material,
        })
    }

    /// `GenerateDataKey`.
    pub fn generate_data_key(
        &self,
        ctx: &RequestContext,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        self.generate_data_key_common(ctx, &ops::GENERATE_DATA_KEY, req, true)
    }

    /// `GenerateDataKeyWithoutPlaintext`.
    pub fn generate_data_key_without_plaintext(
        &self,
        ctx: &RequestContext,
        req: GenerateDataKeyRequest,
    ) -> Result<GenerateDataKeyResponse, KmsError> {
        self.generate_data_key_common(ctx, &ops::GENERATE_DATA_KEY_WITHOUT_PLAINTEXT, req, false)
    }

    /// `GenerateRandom`.
    pub fn generate_random(
        &self,
        _ctx: &RequestContext,
        req: GenerateRandomRequest,
    ) -> Result<GenerateRandomResponse, KmsError> {
        let mut v = Validator::new();
        v.range("NumberOfBytes", req.number_of_bytes, 1, 1024);
        v.length(
            "CustomKeyStoreId",
            req.custom_key_store_id.as_deref(),
            1,
            64,
        );
        v.finish()?;
        Self::check_no_custom_key_store(req.custom_key_store_id.as_deref())?;
        if req.recipient.is_some() {
            return Err(KmsError::UnsupportedOperation(
                "Coffer does not support attested Recipient requests.".into(),
            ));
        }
        let n = req.number_of_bytes.ok_or_else(|| {
            KmsError::from(ValidationError {
                message: "Please specify number of bytes.".into(),
            })
        })?;
        let bytes = coffer_crypto::random::bytes(usize::try_from(n).unwrap_or(0))?;
        Ok(GenerateRandomResponse {
            plaintext: Blob::from(bytes),
        })
    }

    /// `ReplicateKey`: a replica of a multi-Region primary key in another Region.
    pub fn replicate_key(
        &self,
        ctx: &RequestContext,
        req: ReplicateKeyRequest,
    ) -> Result<ReplicateKeyResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("ReplicaRegion", &req.replica_region);
        v.length("ReplicaRegion", req.replica_region.as_deref(), 1, 32);
        v.pattern(
            "ReplicaRegion",
            req.replica_region.as_deref(),
            coffer_core::context::is_region_name,
            "^([a-z]+-){2,3}\\d+$",
        );
        validate_policy(&mut v, &req.policy);
        v.length("Description", req.description.as_deref(), 0, 8192);
        validate_tags(&mut v, &req.tags);
        v.finish()?;
        let replica_region = req.replica_region.clone().unwrap_or_default();
        let mut w = self.world.write();
        let (key, fam) = self.resolve(
            &w,
            ctx,
            &ops::REPLICATE_KEY,
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        let arn = key_arn(ctx.partition(), &key.region, &key.account, &key.key_id);
        if !fam.rec.multi_region {
            return Err(KmsError::UnsupportedOperation(format!(
                "{arn} is not a multi-Region key."
            )));
        }
        if key.region != fam.rec.primary_region {
            return Err(KmsError::UnsupportedOperation(format!(
                "{arn} is not a multi-Region primary key. Replicate the primary key in {}.",
                fam.rec.primary_region
            )));
        }
        if coffer_core::context::partition_of(&replica_region) != ctx.partition()
            || replica_region == ctx.region
        {
            return Err(ValidationError {
                message: format!(
                    "The replica region {replica_region} is not valid for the primary key {arn}."
                ),
            }
            .into());
        }
        if w.key(&ctx.account_id, &replica_region, &key.key_id)
            .is_some()
        {
            return Err(KmsError::AlreadyExists(format!(
                "{} already exists",
                key_arn(ctx.partition(), &replica_region, &key.account, &key.key_id)
            )));
        }
        let policy = match req.policy {
            Some(p) => {
                check_policy_document(&p)?;
                p
            }
            None => default_policy(ctx.partition(), &ctx.account_id),
        };
        let mut tags = Vec::new();
        merge_tags(&mut tags, req.tags.as_deref().unwrap_or_default())?;
        let replica = KeyRecord {
            v: RECORD_VERSION,
            account: ctx.account_id.clone(),
            region: replica_region,
            key_id: key.key_id.clone(),
            description: req.description.unwrap_or_default(),
            policy: policy.clone(),
            // A replica of a key with imported material waits for the same material.
            state: if fam.rec.origin == "EXTERNAL" {
                KeyState::PendingImport
            } else {
                KeyState::Enabled
            },
            created: self.clock.now(),
            deletion_date: None,
            pending_window_days: None,
            tags: tags.clone(),
            imported: None,
            tracking_start: Some(self.clock.now()),
        };
        let mut tx = Transaction::new();
        tx.put(
            KEY_TABLE,
            &replica.store_key(),
            serde_json::to_vec(&replica)?,
        );
        self.commit(&tx)?;
        w.put_key(replica.clone());
        let fam = w
            .family(&ctx.account_id, &replica.key_id)
            .ok_or_else(|| KmsError::Internal("family vanished".into()))?;
        let mut md = self.metadata(&w, ctx.partition(), &replica, fam);
        // The replica is usable as soon as this call returns; AWS reports it as still being made.
        md.key_state = "Creating".into();
        md.enabled = false;
        Ok(ReplicateKeyResponse {
            replica_key_metadata: md,
            replica_policy: policy,
            replica_tags: wire_tags(&tags),
        })
    }

    /// `UpdatePrimaryRegion`.
    pub fn update_primary_region(
        &self,
        ctx: &RequestContext,
        req: UpdatePrimaryRegionRequest,
    ) -> Result<Empty, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.required("PrimaryRegion", &req.primary_region);
        v.length("PrimaryRegion", req.primary_region.as_deref(), 1, 32);
        v.pattern(
            "PrimaryRegion",
            req.primary_region.as_deref(),
            coffer_core::context::is_region_name,
            "^([a-z]+-){2,3}\\d+$",
        );
        v.finish()?;
        let target = req.primary_region.unwrap_or_default();
        let mut w = self.world.write();
        let (key, fam) = self.resolve(
            &w,
            ctx,
            &ops::UPDATE_PRIMARY_REGION,
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        let arn = key_arn(ctx.partition(), &key.region, &key.account, &key.key_id);
        if !fam.rec.multi_region || key.region != fam.rec.primary_region {
            return Err(KmsError::UnsupportedOperation(format!(
                "{arn} is not a multi-Region primary key."
            )));
        }
        if w.key(&ctx.account_id, &target, &key.key_id).is_none() {
            return Err(KmsError::NotFound(format!(
                "Key '{}' does not exist",
                key_arn(ctx.partition(), &target, &key.account, &key.key_id)
            )));
        }
        let mut fam = fam.clone();
        fam.rec.primary_region = target;
        let mut tx = Transaction::new();
        tx.put(
            FAMILY_TABLE,
            &fam.rec.store_key(),
            serde_json::to_vec(&fam.rec)?,
        );
        self.commit(&tx)?;
        w.put_family(fam);
        Ok(Empty {})
    }

    /// `RotateKeyOnDemand`: new material for the whole family now; earlier ciphertexts still decrypt.
    pub fn rotate_key_on_demand(
        &self,
        ctx: &RequestContext,
        req: KeyIdRequest,
    ) -> Result<KeyIdResponse, KmsError> {
        let id = Self::key_id_only(&req)?;
        let mut w = self.world.write();
        let (key, fam) = self.resolve(&w, ctx, &ops::ROTATE_KEY_ON_DEMAND, &id)?;
        Self::rotation_allowed(ctx, key, &fam.rec)?;
        let arn = key_arn(ctx.partition(), &key.region, &key.account, &key.key_id);
        let done = fam
            .rec
            .materials
            .iter()
            .filter(|m| m.rotation_type.as_deref() == Some("ON_DEMAND"))
            .count();
        if done >= MAX_ON_DEMAND_ROTATIONS {
            return Err(KmsError::LimitExceeded(format!(
                "{arn} has reached the maximum of {MAX_ON_DEMAND_ROTATIONS} on-demand rotations."
            )));
        }
        let mut rec = fam.rec.clone();
        let material = self.add_material(
            &mut rec,
            Self::generate_material(coffer_crypto::asymmetric::KeySpec::SymmetricDefault)?,
            Some("ON_DEMAND"),
        )?;
        let mut tx = Transaction::new();
        tx.put(FAMILY_TABLE, &rec.store_key(), serde_json::to_vec(&rec)?);
        self.commit(&tx)?;
        let materials = Self::with_material(fam, material);
        w.put_family(Family { rec, materials });
        Ok(KeyIdResponse { key_id: arn })
    }

    fn with_material(
        fam: &Family,
        material: super::state::Material,
    ) -> Vec<Arc<super::state::Material>> {
        let mut materials = fam.materials.clone();
        materials.push(Arc::new(material));
        materials
    }

    /// `ListKeyRotations`.
    pub fn list_key_rotations(
        &self,
        ctx: &RequestContext,
        req: ListKeyRotationsRequest,
    ) -> Result<ListKeyRotationsResponse, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.one_of(
            "IncludeKeyMaterial",
            req.include_key_material.as_deref(),
            &["ALL_KEY_MATERIAL", "ROTATIONS_ONLY"],
        );
        validate_list(&mut v, req.limit, req.marker.as_deref());
        v.finish()?;
        let w = self.world.read();
        let (key, fam) = self.resolve(
            &w,
            ctx,
            &ops::LIST_KEY_ROTATIONS,
            req.key_id.as_deref().unwrap_or_default(),
        )?;
        let arn = key_arn(ctx.partition(), &key.region, &key.account, &key.key_id);
        let all = req.include_key_material.as_deref() == Some("ALL_KEY_MATERIAL");
        let last = fam.rec.materials.len().saturating_sub(1);
        let external = fam.rec.origin == "EXTERNAL";
        let imported = key
            .imported
            .as_ref()
            .filter(|_| self.effective_state(key) != KeyState::PendingImport);
        let items: Vec<(String, RotationsListEntry)> = if external {
            // One imported material per family: listed with this Region's import state.
            fam.rec
                .imported_material_id
                .iter()
                .filter(|_| all)
                .map(|id| {
                    let here = imported.filter(|m| &m.material_id == id);
                    (
                        "00000000".to_string(),
                        RotationsListEntry {
                            key_id: arn.clone(),
                            key_material_id: id.clone(),
                            key_material_description: key
                                .imported
                                .as_ref()
                                .and_then(|m| m.description.clone()),
                            import_state: Some(
                                if here.is_some() {
                                    "IMPORTED"
                                } else {
                                    "PENDING_IMPORT"
                                }
                                .into(),
                            ),
                            key_material_state: "CURRENT".into(),
                            expiration_model: here.map(|m| m.expiration_model.clone()),
                            valid_to: here.and_then(|m| m.valid_to),
                            rotation_date: None,
                            rotation_type: None,
                        },
                    )
                })
                .collect()
        } else {
            fam.rec
                .materials
                .iter()
                .enumerate()
                .filter(|(_, m)| all || m.rotation_type.is_some())
                .map(|(i, m)| {
                    (
                        format!("{i:08}"),
                        RotationsListEntry {
                            key_id: arn.clone(),
                            key_material_id: m.id.clone(),
                            key_material_description: None,
                            import_state: None,
                            key_material_state: if i == last { "CURRENT" } else { "NON_CURRENT" }
                                .into(),
                            expiration_model: None,
                            valid_to: None,
                            rotation_date: m.rotation_type.is_some().then_some(m.created),
                            rotation_type: m.rotation_type.clone(),
                        },
                    )
                })
                .collect()
        };
        let (rotations, next) = page(items, req.limit, 100, 1000, req.marker.as_deref())?;
        Ok(ListKeyRotationsResponse {
            rotations,
            truncated: next.is_some(),
            next_marker: next,
        })
    }

    /// Deletes every key whose waiting period has ended (and its aliases), starts the waiting period
    /// of primaries whose last replica went, and rotates material that is due. Returns how many keys
    /// were deleted.
    pub fn run_due(&self) -> Result<usize, KmsError> {
        let now = self.clock.now();
        let mut w = self.world.write();
        let mut deleted = 0;
        // Keys past their deletion date.
        let due: Vec<KeyRecord> = w
            .regions
            .values()
            .flat_map(|rs| rs.values())
            .flat_map(|r| r.keys.values())
            .filter(|k| {
                k.state == KeyState::PendingDeletion && k.deletion_date.is_some_and(|d| d <= now)
            })
            .cloned()
            .collect();
        for key in due {
            let mut tx = Transaction::new();
            tx.delete(KEY_TABLE, &key.store_key());
            let aliases: Vec<AliasRecord> = w
                .region(&key.account, &key.region)
                .map(|r| {
                    r.aliases
                        .values()
                        .filter(|a| a.target_key_id == key.key_id)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            for a in &aliases {
                tx.delete(ALIAS_TABLE, &a.store_key());
            }
            let grants: Vec<String> = w
                .region(&key.account, &key.region)
                .map(|r| {
                    r.grants
                        .values()
                        .filter(|g| g.key_id == key.key_id)
                        .map(|g| g.grant_id.clone())
                        .collect()
                })
                .unwrap_or_default();
            for g in &grants {
                tx.delete(GRANT_TABLE, &format!("{}/{}/{g}", key.account, key.region));
            }
            tx.delete(LAST_USE_TABLE, &key.store_key());
            let tokens: Vec<String> = w
                .imports
                .iter()
                .filter(|(_, t)| {
                    t.account == key.account && t.region == key.region && t.key_id == key.key_id
                })
                .map(|(k, _)| k.clone())
                .collect();
            for t in &tokens {
                tx.delete(IMPORT_TABLE, t);
            }
            let remaining: Vec<KeyRecord> = w
                .related_keys(&key.account, &key.key_id)
                .into_iter()
                .filter(|k| k.region != key.region)
                .cloned()
                .collect();
            let mut primary_update = None;
            let mut pruned = None;
            if remaining.is_empty() {
                tx.delete(FAMILY_TABLE, &format!("{}/{}", key.account, key.key_id));
            } else {
                pruned = Self::prune_imported(&w, &key, true);
                if let Some(f) = &pruned {
                    tx.put(
                        FAMILY_TABLE,
                        &f.rec.store_key(),
                        serde_json::to_vec(&f.rec)?,
                    );
                }
            }
            if remaining.len() == 1 && remaining[0].state == KeyState::PendingReplicaDeletion {
                let mut p = remaining[0].clone();
                p.state = KeyState::PendingDeletion;
                p.deletion_date = Some(now.plus_days(p.pending_window_days.unwrap_or(30)));
                tx.put(KEY_TABLE, &p.store_key(), serde_json::to_vec(&p)?);
                primary_update = Some(p);
            }
            self.commit(&tx)?;
            let region = w.region_mut(&key.account, &key.region);
            region.keys.remove(&key.key_id);
            for a in aliases {
                region.aliases.remove(&a.name);
            }
            for g in grants {
                region.grants.remove(&g);
            }
            if remaining.is_empty() {
                if let Some(f) = w.families.get_mut(&key.account) {
                    f.remove(&key.key_id);
                }
            }
            if let Some(p) = primary_update {
                w.put_key(p);
            }
            if let Some(f) = pruned {
                w.put_family(f);
            }
            for t in tokens {
                w.imports.remove(&t);
            }
            self.forget_use(&key);
            deleted += 1;
        }
        // Imported material past its ValidTo; expired import parameters.
        self.expire_imports(&mut w, now)?;
        // Automatic rotation that is due.
        let rotate: Vec<Family> = w
            .families
            .values()
            .flat_map(|f| f.values())
            .filter(|f| {
                f.rec.rotation_enabled
                    && f.rec.origin != "EXTERNAL"
                    && f.rec.next_rotation.is_some_and(|d| d <= now)
            })
            .cloned()
            .collect();
        for fam in rotate {
            let mut rec = fam.rec.clone();
            let material = self.add_material(
                &mut rec,
                Self::generate_material(coffer_crypto::asymmetric::KeySpec::SymmetricDefault)?,
                Some("AUTOMATIC"),
            )?;
            rec.next_rotation =
                Some(now.plus_days(rec.rotation_period_days.unwrap_or(DEFAULT_ROTATION_DAYS)));
            let mut tx = Transaction::new();
            tx.put(FAMILY_TABLE, &rec.store_key(), serde_json::to_vec(&rec)?);
            self.commit(&tx)?;
            let materials = Self::with_material(&fam, material);
            w.put_family(Family { rec, materials });
        }
        drop(w);
        self.flush_usage()?;
        Ok(deleted)
    }

    /// The earliest instant at which [`Kms::run_due`] has work, if any.
    pub fn next_due(&self) -> Option<Timestamp> {
        let w = self.world.read();
        let deletions = w
            .regions
            .values()
            .flat_map(|rs| rs.values())
            .flat_map(|r| r.keys.values())
            .filter_map(|k| {
                (k.state == KeyState::PendingDeletion)
                    .then_some(k.deletion_date)
                    .flatten()
            });
        let rotations = w
            .families
            .values()
            .flat_map(|f| f.values())
            .filter_map(|f| {
                f.rec
                    .rotation_enabled
                    .then_some(f.rec.next_rotation)
                    .flatten()
            });
        deletions
            .chain(rotations)
            .chain(Self::next_import_due(&w))
            .min()
    }
}
