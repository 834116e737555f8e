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

pub(super) fn matches_filters(s: &Secret, filters: &[Filter]) -> bool {
    filters.iter().all(|f| {
        let key = f.key.as_deref().unwrap_or_default();
        let values = f.values.as_deref().unwrap_or_default();
        let (neg, pos): (Vec<&String>, Vec<&String>) =
            values.iter().partition(|v| v.starts_with('!'));
        let ok_pos = pos.is_empty() || pos.iter().any(|v| filter_match(s, key, v));
        let ok_neg = !neg.iter().any(|v| filter_match(s, key, &v[1..]));
        ok_pos && ok_neg
    })
}

pub(super) fn filter_match(s: &Secret, key: &str, value: &str) -> bool {
    let rec = &s.rec;
    let pr = primary_region(rec);
    match key {
        "name" => rec.name.starts_with(value),
        "description" => rec
            .description
            .as_deref()
            .is_some_and(|d| d.to_lowercase().starts_with(&value.to_lowercase())),
        "tag-key" => rec.tags.iter().any(|t| t.key.starts_with(value)),
        "tag-value" => rec.tags.iter().any(|t| t.value.starts_with(value)),
        "primary-region" => pr.as_deref().is_some_and(|r| r.starts_with(value)),
        "all" => {
            let mut attrs: Vec<String> = vec![rec.name.to_lowercase()];
            attrs.extend(rec.description.iter().map(|d| d.to_lowercase()));
            attrs.extend(rec.tags.iter().map(|t| t.key.to_lowercase()));
            attrs.extend(rec.tags.iter().map(|t| t.value.to_lowercase()));
            attrs.extend(pr.iter().map(|r| r.to_lowercase()));
            value.split_whitespace().any(|w| {
                let w = w.to_lowercase();
                attrs.iter().any(|a| a.starts_with(&w))
            })
        }
        _ => false,
    }
}

pub(super) fn check_filters(v: &mut Validator, filters: &Option<Vec<Filter>>) {
    if let Some(fs) = filters {
        v.count("Filters", Some(fs.len()), 0, 10);
        for (i, f) in fs.iter().enumerate() {
            let n = i + 1;
            v.one_of(
                &format!("filters.{n}.member.key"),
                f.key.as_deref(),
                FILTER_KEYS,
            );
            if let Some(vals) = &f.values {
                v.count(
                    &format!("filters.{n}.member.values"),
                    Some(vals.len()),
                    1,
                    10,
                );
                for val in vals {
                    v.length(&format!("filters.{n}.member.values"), Some(val), 1, 512);
                }
            }
        }
    }
}
