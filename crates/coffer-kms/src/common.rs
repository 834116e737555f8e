//! What the KMS operations share: validation of common members, tags, the default key policy,
//! pagination, DryRun, and the algorithm lists of a key spec.

use super::records::*;
use super::{Kms, KmsError};
use coffer_crypto::asymmetric::KeySpec;
use coffer_model::kms::*;
use coffer_model::Validator;

pub(crate) const KEY_ID: (usize, usize) = (1, 2048);
pub(crate) const MAX_TAGS: usize = 50;
pub(crate) const DEFAULT_ROTATION_DAYS: i64 = 365;
/// AWS's quota of on-demand rotations per key.
pub(crate) const MAX_ON_DEMAND_ROTATIONS: usize = 25;
/// AWS's quota of aliases per KMS key.
pub(crate) const MAX_ALIASES_PER_KEY: usize = 50;

pub(crate) fn require_key_id(v: &mut Validator, member: &str, key_id: &Option<String>) {
    v.required(member, key_id);
    v.length(member, key_id.as_deref(), KEY_ID.0, KEY_ID.1);
}

pub(crate) fn validate_grant_tokens(v: &mut Validator, tokens: &Option<Vec<String>>) {
    v.count("GrantTokens", tokens.as_ref().map(Vec::len), 0, 10);
}

/// A key ID as Coffer makes them: a UUID, or `mrk-` and 32 hex digits.
pub(crate) fn key_id_shaped(s: &str) -> bool {
    let hex = |p: &str| p.chars().all(|c| c.is_ascii_hexdigit());
    if let Some(rest) = s.strip_prefix("mrk-") {
        return rest.len() == 32 && hex(rest);
    }
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12]) && parts.iter().all(|p| hex(p))
}

pub(crate) fn alias_name_ok(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '_' | '-'))
}

pub(crate) fn policy_chars_ok(s: &str) -> bool {
    s.chars()
        .all(|c| matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{ff}'))
}

pub(crate) fn validate_policy(v: &mut Validator, policy: &Option<String>) {
    v.length("Policy", policy.as_deref(), 1, 131_072);
    v.pattern(
        "Policy",
        policy.as_deref(),
        policy_chars_ok,
        "[\\u0009\\u000A\\u000D\\u0020-\\u00FF]+",
    );
}

pub(crate) fn check_policy_document(policy: &str) -> Result<(), KmsError> {
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

pub(crate) fn validate_tags(v: &mut Validator, tags: &Option<Vec<Tag>>) {
    if let Some(tags) = tags {
        for (i, t) in tags.iter().enumerate() {
            // AWS names these members in lower camel case throughout: tags.1.member.tagKey.
            let k = format!("Tags.{}.member.tagKey", i + 1);
            let val = format!("Tags.{}.member.tagValue", i + 1);
            v.required(&k, &t.tag_key);
            v.length(&k, t.tag_key.as_deref(), 1, 128);
            v.required(&val, &t.tag_value);
            v.length(&val, t.tag_value.as_deref(), 0, 256);
        }
    }
}

/// Applies tags to a tag list, AWS-style: new keys appended, existing keys updated.
pub(crate) fn merge_tags(
    existing: &mut Vec<(String, String)>,
    tags: &[Tag],
) -> Result<(), KmsError> {
    // What AWS refuses in the request itself, in its order: a key given twice, more than 50
    // tags, a reserved prefix (in any case: `AWS:` too).
    let mut seen = std::collections::HashSet::new();
    if tags
        .iter()
        .filter_map(|t| t.tag_key.as_deref())
        .any(|k| !seen.insert(k))
    {
        return Err(KmsError::Tag("Duplicate tag keys".into()));
    }
    if tags.len() > MAX_TAGS {
        return Err(KmsError::Tag("Too many tags".into()));
    }
    if tags
        .iter()
        .filter_map(|t| t.tag_key.as_deref())
        .any(|k| k.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")))
    {
        return Err(KmsError::Tag(
            "Tags beginning with aws: are reserved".into(),
        ));
    }
    for t in tags {
        let (Some(k), Some(val)) = (&t.tag_key, &t.tag_value) else {
            continue;
        };
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

pub(crate) fn wire_tags(tags: &[(String, String)]) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag {
            tag_key: Some(k.clone()),
            tag_value: Some(v.clone()),
        })
        .collect()
}

/// The key policy AWS applies when none is given.
pub(crate) fn default_policy(partition: &str, account: &str) -> String {
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : \"arn:{partition}:iam::{account}:root\"\n    }},\n    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  }} ]\n}}"
    )
}

/// Pagination: the marker is the hex of the last item's sort key.
pub(crate) fn page<T, K: AsRef<str>>(
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

pub(crate) fn validate_list(v: &mut Validator, limit: Option<i64>, marker: Option<&str>) {
    v.range("Limit", limit, 1, 1000);
    v.length("Marker", marker, 1, 1024);
}

pub(crate) fn dry_run(flag: Option<bool>) -> Result<(), KmsError> {
    if flag == Some(true) {
        return Err(KmsError::DryRun(
            "The request would have succeeded, but the DryRun option is set.".into(),
        ));
    }
    Ok(())
}

/// The algorithm lists DescribeKey and GetPublicKey report, by key spec and usage.
#[derive(Default)]
pub(crate) struct Algorithms {
    pub encryption: Option<Vec<String>>,
    pub signing: Option<Vec<String>>,
    pub mac: Option<Vec<String>>,
    pub key_agreement: Option<Vec<String>>,
    pub encapsulation: Option<Vec<String>>,
}

impl Algorithms {
    pub(crate) fn of(fam: &FamilyRecord) -> Self {
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
    /// A seed file's fixed key ID and material ID (`None`: random), and its `EXTERNAL`
    /// material given at creation.
    pub fixed: super::seed::Fixed,
}

impl Kms {
    pub(crate) fn key_id_only(req: &KeyIdRequest) -> Result<String, KmsError> {
        let mut v = Validator::new();
        require_key_id(&mut v, "KeyId", &req.key_id);
        v.finish()?;
        Ok(req.key_id.clone().unwrap_or_default())
    }
}
