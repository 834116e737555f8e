//! ListSecrets: filters, sorting and pagination.

use super::*;

impl SecretsManager {
    /// ListSecrets (the caller's region: primaries, replicas and standalone secrets).
    pub fn list_secrets(
        &self,
        ctx: &RequestContext,
        req: ListSecretsRequest,
    ) -> Result<ListSecretsResponse, SmError> {
        let mut v = Validator::new();
        v.range("MaxResults", req.max_results, 1, 100);
        v.length("NextToken", req.next_token.as_deref(), 1, 4096);
        check_filters(&mut v, &req.filters);
        v.one_of("SortOrder", req.sort_order.as_deref(), SORT_ORDERS);
        v.one_of("SortBy", req.sort_by.as_deref(), SORT_BYS);
        finish(v)?;
        check_filter_members(&req.filters)?;
        let offset = decode_token(&req.next_token)?;
        let include_deleted = req.include_planned_deletion.unwrap_or(false);
        let filters = req.filters.clone().unwrap_or_default();
        let st = self.state.read();
        let mut found: Vec<&Secret> = st
            .secrets
            .iter()
            .filter(|(k, _)| k.account == ctx.account_id && k.region == ctx.region)
            .map(|(_, s)| s)
            .filter(|s| include_deleted || !s.is_deleted())
            .filter(|s| matches_filters(s, &filters))
            .collect();
        sort_secrets(
            &mut found,
            req.sort_by.as_deref(),
            req.sort_order.as_deref(),
        );
        let max = usize::try_from(req.max_results.unwrap_or(100)).unwrap_or(100);
        let page = found
            .iter()
            .skip(offset)
            .take(max)
            .map(|s| list_entry(s))
            .collect();
        let end = offset.saturating_add(max);
        Ok(ListSecretsResponse {
            secret_list: Some(page),
            next_token: (end < found.len()).then(|| encode_token(end)),
        })
    }
}

pub(super) fn list_entry(s: &Secret) -> SecretListEntry {
    let rec = &s.rec;
    let rot = rotate::rotation_view(rec);
    SecretListEntry {
        arn: Some(rec.arn.clone()),
        name: Some(rec.name.clone()),
        secret_type: rec.secret_type.clone(),
        description: blank_to_none(&rec.description),
        kms_key_id: rec.kms_key_id.clone(),
        rotation_enabled: rot.enabled,
        rotation_lambda_arn: rot.lambda_arn,
        rotation_rules: rot.rules,
        last_rotated_date: rot.last_rotated,
        next_rotation_date: rot.next_rotation,
        last_changed_date: Some(ts(rec.last_changed)),
        last_accessed_date: s.last_accessed().map(ts),
        deleted_date: rec.deleted_date.map(ts),
        tags: to_tags(rec),
        secret_versions_to_stages: stages_map(rec),
        owning_service: None,
        created_date: Some(ts(rec.created)),
        primary_region: primary_region(rec),
    }
}

pub(super) fn sort_secrets(found: &mut [&Secret], by: Option<&str>, order: Option<&str>) {
    let by = by.unwrap_or("created-date");
    found.sort_by(|a, b| {
        let ord = match by {
            "name" => a.rec.name.cmp(&b.rec.name),
            "last-changed-date" => a.rec.last_changed.cmp(&b.rec.last_changed),
            "last-accessed-date" => a.last_accessed().cmp(&b.last_accessed()),
            _ => a.rec.created.cmp(&b.rec.created),
        };
        ord.then_with(|| a.rec.name.cmp(&b.rec.name))
    });
    if order != Some("asc") {
        found.reverse();
    }
}

/// Whether a secret passes every filter. Filters combine with AND (a key given twice must match
/// twice); the values of one filter with OR, a value starting with `!` matching what the rest
/// does not.
pub(super) fn matches_filters(s: &Secret, filters: &[Filter]) -> bool {
    filters.iter().all(|f| {
        let key = f.key.as_deref().unwrap_or_default();
        let values = f.values.as_deref().unwrap_or_default();
        values.iter().any(|v| match v.strip_prefix('!') {
            Some(rest) => !filter_match(s, key, rest),
            None => filter_match(s, key, v),
        })
    })
}

/// One filter value against one secret, as AWS matches each key: `name`, `tag-key`, `tag-value`
/// and `primary-region` are case-sensitive prefixes of the whole attribute (`/` included, a space
/// is just a character); `description` and `all` split the value into words, each of which must
/// begin a word of the same attribute, ignoring case (`all` over the name, description, tag keys
/// and tag values). No secret here is managed by another service, so `owning-service` matches none.
pub(super) fn filter_match(s: &Secret, key: &str, value: &str) -> bool {
    let rec = &s.rec;
    match key {
        "name" => rec.name.starts_with(value),
        "description" => rec
            .description
            .as_deref()
            .is_some_and(|d| words_match(value, d)),
        "tag-key" => rec.tags.iter().any(|t| t.key.starts_with(value)),
        "tag-value" => rec.tags.iter().any(|t| t.value.starts_with(value)),
        "primary-region" => primary_region(rec).is_some_and(|r| r.starts_with(value)),
        "all" => std::iter::once(rec.name.as_str())
            .chain(rec.description.as_deref())
            .chain(rec.tags.iter().map(|t| t.key.as_str()))
            .chain(rec.tags.iter().map(|t| t.value.as_str()))
            .any(|a| words_match(value, a)),
        _ => false,
    }
}

/// Every word of `query` begins some word of `attr` (case-insensitive); a query without words
/// (`+`, `/`) matches nothing.
fn words_match(query: &str, attr: &str) -> bool {
    let q = search_words(query);
    if q.is_empty() {
        return false;
    }
    let a = search_words(attr);
    q.iter()
        .all(|w| a.iter().any(|x| x.starts_with(w.as_str())))
}

/// The words Secrets Manager's search sees in a string, lower-cased: runs of letters and digits,
/// split where lower case turns to upper case (`MyTest` → my, test), where a capital begins a
/// capitalised word after capitals (`COMPANYthings` → compan, ythings) and between letters and
/// digits (`credsDatabase#892` → creds, database, 892). Punctuation and spaces separate words.
pub(super) fn search_words(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut words = Vec::new();
    let mut cur = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if let Some(&p) = i.checked_sub(1).and_then(|j| chars.get(j)) {
            let next = chars.get(i + 1).copied();
            let boundary = p.is_alphanumeric()
                && ((p.is_lowercase() && c.is_uppercase())
                    || (p.is_alphabetic() != c.is_alphabetic())
                    || (p.is_uppercase()
                        && c.is_uppercase()
                        && next.is_some_and(|n| n.is_lowercase())));
            if boundary && !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
        }
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// The filter value pattern of the model (`FilterValueStringType`).
const FILTER_VALUE_PATTERN: &str = "^\\!?[a-zA-Z0-9 :_@\\/\\+\\=\\.\\-\\!]*$";
/// The filter keys in the order AWS lists them in its enum message.
const FILTER_KEYS_AWS_ORDER: &[&str] = &[
    "all",
    "name",
    "tag-key",
    "description",
    "tag-value",
    "primary-region",
    "owning-service",
];

fn filter_value_ok(v: &str) -> bool {
    let body = v.strip_prefix('!').unwrap_or(v);
    body.chars()
        .all(|c| c.is_ascii_alphanumeric() || " :_@/+=.-!".contains(c))
}

/// The model's constraints on Filters (ValidationException, every failure at once), then
/// Secrets Manager's own checks: a filter without a key or without values is
/// InvalidParameterException.
pub(super) fn check_filters(v: &mut Validator, filters: &Option<Vec<Filter>>) {
    if let Some(fs) = filters {
        v.count("Filters", Some(fs.len()), 0, 10);
        for (i, f) in fs.iter().enumerate() {
            let n = i + 1;
            if let Some(k) = f.key.as_deref() {
                if !FILTER_KEYS.contains(&k) {
                    v.fail(
                        &format!("filters.{n}.member.key"),
                        Some(k),
                        &format!(
                            "Member must satisfy enum value set: [{}]",
                            FILTER_KEYS_AWS_ORDER.join(", ")
                        ),
                    );
                }
            }
            if let Some(vals) = &f.values {
                let member = format!("filters.{n}.member.values");
                v.count(&member, Some(vals.len()), 1, 10);
                let mut constraints = Vec::new();
                if vals.iter().any(|x| x.chars().count() > 512) {
                    constraints
                        .push("Member must have length less than or equal to 512".to_string());
                }
                if vals.iter().any(|x| !filter_value_ok(x)) {
                    constraints.push(format!(
                        "Member must satisfy regular expression pattern: {FILTER_VALUE_PATTERN}"
                    ));
                }
                if !constraints.is_empty() {
                    v.fail(
                        &member,
                        Some(&format!("[{}]", vals.join(", "))),
                        &format!(
                            "Member must satisfy constraint: [{}]",
                            constraints.join(", ")
                        ),
                    );
                }
            }
        }
    }
}

/// After validation: a filter needs a key and values.
pub(super) fn check_filter_members(filters: &Option<Vec<Filter>>) -> Result<(), SmError> {
    for f in filters.iter().flatten() {
        let Some(key) = f.key.as_deref() else {
            return Err(SmError::InvalidParameter("Invalid filter key".to_string()));
        };
        if f.values.as_ref().is_none_or(|v| v.is_empty()) {
            return Err(SmError::InvalidParameter(format!(
                "Invalid filter values for key: {key}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::search_words;

    #[test]
    fn words_as_secrets_manager_search_splits_them() {
        let w = |s: &str| search_words(s);
        assert_eq!(w("credsDatabase#892"), ["creds", "database", "892"]);
        assert_eq!(w("MyTestPhrase"), ["my", "test", "phrase"]);
        assert_eq!(w("Mytest"), ["mytest"]);
        assert_eq!(w("prod/AppBeta/x1"), ["prod", "app", "beta", "x", "1"]);
        assert_eq!(w("uat/COMPANY/a"), ["uat", "company", "a"]);
        assert_eq!(w("uat/COMPANYthings/a"), ["uat", "compan", "ythings", "a"]);
        assert_eq!(w("my test"), ["my", "test"]);
        assert!(w("+").is_empty());
    }
}
