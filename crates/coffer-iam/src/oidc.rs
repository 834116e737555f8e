//! OpenID Connect identity providers: Create/Get/List/DeleteOpenIDConnectProvider,
//! UpdateOpenIDConnectProviderThumbprint, Add/RemoveClientID…, and their tags. A provider names
//! an issuer (`Url`, kept without `https://`, as IAM shows it) and the audiences (`ClientIDList`)
//! whose tokens `AssumeRoleWithWebIdentity` accepts; [`crate::web_identity`] verifies the tokens.
//!
//! Table `iam_oidc_provider`, key `ACCOUNT/URL` (URL without scheme).

use super::*;
use coffer_model::ops::IamAction;

pub(crate) const OIDC_TABLE: &str = "iam_oidc_provider";
/// OIDC providers in one account (AWS's quota).
const MAX_PROVIDERS: usize = 100;
/// Client IDs of one provider (AWS's quota).
const MAX_CLIENT_IDS: usize = 100;
/// Thumbprints of one provider (AWS's quota).
const MAX_THUMBPRINTS: usize = 5;

/// A provider as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub(crate) struct OidcRecord {
    pub v: u32,
    pub account: String,
    /// The issuer without `https://`: `token.actions.githubusercontent.com`.
    pub url: String,
    pub arn: String,
    pub client_ids: Vec<String>,
    pub thumbprints: Vec<String>,
    /// Milliseconds since the epoch.
    pub create_date: i64,
    #[serde(default)]
    pub tags: Vec<TagRec>,
}

/// What `AssumeRoleWithWebIdentity` needs of a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcProviderInfo {
    /// `arn:aws:iam::ACCOUNT:oidc-provider/URL`.
    pub arn: String,
    /// The issuer without `https://`; also the prefix of the trust policy's condition keys
    /// (`URL:sub`, `URL:aud`).
    pub url: String,
    /// The audiences accepted.
    pub client_ids: Vec<String>,
}

fn oidc_key(account: &str, url: &str) -> String {
    format!("{account}/{url}")
}

fn provider_not_found(arn: &str) -> IamError {
    IamError::NoSuchEntity(format!("OpenIDConnect Provider not found for arn {arn}"))
}

/// The issuer a provider `Url` names, without scheme and trailing `/`; `None` if it is not an
/// `https://` URL with a host.
fn issuer_of(url: &str) -> Option<String> {
    let rest = url.strip_prefix("https://")?;
    let rest = rest.trim_end_matches('/');
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || rest.contains(['?', '#', ' ']) {
        return None;
    }
    Some(rest.to_string())
}

fn check_provider_arn(v: &mut Validator, arn: Option<&str>) {
    v.required("OpenIDConnectProviderArn", &arn);
    wire::check_arn(v, "OpenIDConnectProviderArn", arn);
}

fn check_client_id(v: &mut Validator, member: &str, id: Option<&str>) {
    v.length(member, id, 1, 255);
}

fn check_thumbprints(v: &mut Validator, list: &[String]) {
    for (i, t) in list.iter().enumerate() {
        v.length(&format!("ThumbprintList.{}", i + 1), Some(t), 40, 40);
    }
}

fn check_thumbprint_values(list: &[String]) -> Result<(), IamError> {
    if list.len() > MAX_THUMBPRINTS {
        return Err(IamError::LimitExceeded(format!(
            "Thumbprint list must contain fewer than {} entries.",
            MAX_THUMBPRINTS + 1
        )));
    }
    if let Some(bad) = list
        .iter()
        .find(|t| !t.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(IamError::InvalidInput(format!(
            "Thumbprint {bad} is not a valid hex-encoded SHA-1 fingerprint."
        )));
    }
    Ok(())
}

/// `GetOpenIDConnectProvider`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcProvider {
    /// `Url`, without `https://`.
    pub url: String,
    /// `ClientIDList`.
    pub client_ids: Vec<String>,
    /// `ThumbprintList`.
    pub thumbprints: Vec<String>,
    /// `CreateDate`.
    pub create_date: Timestamp,
    /// `Tags`.
    pub tags: Vec<Tag>,
}

impl Iam {
    /// The provider of `account` whose issuer is `iss` (a token's `iss`, with or without
    /// `https://`).
    pub fn oidc_provider_for_issuer(&self, account: &str, iss: &str) -> Option<OidcProviderInfo> {
        let url = iss.strip_prefix("https://").unwrap_or(iss);
        let url = url.trim_end_matches('/');
        let st = self.state.read();
        st.oidc
            .get(&oidc_key(account, url))
            .map(|r| OidcProviderInfo {
                arn: r.arn.clone(),
                url: r.url.clone(),
                client_ids: r.client_ids.clone(),
            })
    }

    /// The provider an ARN names, in the caller's account.
    fn oidc_record<'a>(
        st: &'a State,
        ctx: &RequestContext,
        arn: &str,
    ) -> Result<&'a OidcRecord, IamError> {
        let a = IamArn::parse(arn)
            .filter(|a| a.kind == "oidc-provider")
            .ok_or_else(|| IamError::InvalidInput(format!("ARN {arn} is not valid.")))?;
        if a.account != ctx.account_id {
            return Err(provider_not_found(arn));
        }
        let url = format!("{}{}", a.path.trim_start_matches('/'), a.name);
        st.oidc
            .get(&oidc_key(&a.account, &url))
            .filter(|r| r.arn == arn)
            .ok_or_else(|| provider_not_found(arn))
    }

    fn save_oidc(&self, st: &mut State, rec: OidcRecord) -> Result<(), IamError> {
        let key = oidc_key(&rec.account, &rec.url);
        let mut tx = Transaction::new();
        put(&mut tx, OIDC_TABLE, &key, &rec)?;
        self.commit(&tx)?;
        st.oidc.insert(key, rec);
        Ok(())
    }

    /// Applies `change` to the provider `arn` names and stores it.
    fn update_oidc_with(
        &self,
        ctx: &RequestContext,
        action: IamAction,
        arn: &str,
        change: impl FnOnce(&mut OidcRecord) -> Result<(), IamError>,
    ) -> Result<(), IamError> {
        self.authorize(ctx, action, arn)?;
        let mut st = self.state.write();
        let mut rec = Self::oidc_record(&st, ctx, arn)?.clone();
        change(&mut rec)?;
        self.save_oidc(&mut st, rec)
    }

    /// `CreateOpenIDConnectProvider`: its ARN.
    pub fn create_oidc_provider(
        &self,
        ctx: &RequestContext,
        url: Option<&str>,
        client_ids: Option<&[String]>,
        thumbprints: Option<&[String]>,
        tags: Option<&[Tag]>,
    ) -> Result<String, IamError> {
        let mut v = Validator::new();
        v.required("Url", &url);
        v.length("Url", url, 1, 255);
        for (i, c) in client_ids.unwrap_or_default().iter().enumerate() {
            check_client_id(&mut v, &format!("ClientIDList.{}", i + 1), Some(c));
        }
        check_thumbprints(&mut v, thumbprints.unwrap_or_default());
        wire::check_tags(&mut v, "Tags", tags);
        v.finish()?;
        let given_url = given(url);
        let issuer = issuer_of(given_url).ok_or_else(|| {
            IamError::InvalidInput(format!(
                "The URL {given_url} is not valid: it must begin with https:// and name a host."
            ))
        })?;
        let thumbprints = thumbprints.unwrap_or_default().to_vec();
        check_thumbprint_values(&thumbprints)?;
        let mut ids: Vec<String> = Vec::new();
        for c in client_ids.unwrap_or_default() {
            if !ids.contains(c) {
                ids.push(c.clone());
            }
        }
        if ids.len() > MAX_CLIENT_IDS {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}"
            )));
        }
        let tags = tags.unwrap_or_default();
        check_duplicate_tags(tags)?;
        let arn = format!(
            "arn:{}:iam::{}:oidc-provider/{issuer}",
            ctx.partition(),
            ctx.account_id
        );
        self.authorize(ctx, IamAction::CreateOpenIDConnectProvider, &arn)?;
        let mut st = self.state.write();
        if st.oidc.contains_key(&oidc_key(&ctx.account_id, &issuer)) {
            return Err(IamError::EntityAlreadyExists(format!(
                "Provider with url https://{issuer} already exists."
            )));
        }
        if st
            .oidc
            .values()
            .filter(|r| r.account == ctx.account_id)
            .count()
            >= MAX_PROVIDERS
        {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for OpenIdConnectProvidersPerAccount: {MAX_PROVIDERS}"
            )));
        }
        let rec = OidcRecord {
            v: RECORD_VERSION,
            account: ctx.account_id.clone(),
            url: issuer,
            arn: arn.clone(),
            client_ids: ids,
            thumbprints,
            create_date: self.now(),
            tags: tags.iter().map(TagRec::from).collect(),
        };
        self.save_oidc(&mut st, rec)?;
        Ok(arn)
    }

    /// `GetOpenIDConnectProvider`.
    pub fn get_oidc_provider(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
    ) -> Result<OidcProvider, IamError> {
        let mut v = Validator::new();
        check_provider_arn(&mut v, arn);
        v.finish()?;
        let arn = given(arn);
        self.authorize(ctx, IamAction::GetOpenIDConnectProvider, arn)?;
        let st = self.state.read();
        let r = Self::oidc_record(&st, ctx, arn)?;
        Ok(OidcProvider {
            url: r.url.clone(),
            client_ids: r.client_ids.clone(),
            thumbprints: r.thumbprints.clone(),
            create_date: Timestamp::from_millis(r.create_date),
            tags: tags_of(&r.tags),
        })
    }

    /// `ListOpenIDConnectProviders`: the ARNs, in order (IAM does not page this list).
    pub fn list_oidc_providers(&self, ctx: &RequestContext) -> Result<Vec<String>, IamError> {
        self.authorize(
            ctx,
            IamAction::ListOpenIDConnectProviders,
            &Self::wildcard_arn(ctx, "oidc-provider"),
        )?;
        let st = self.state.read();
        let mut arns: Vec<String> = st
            .oidc
            .values()
            .filter(|r| r.account == ctx.account_id)
            .map(|r| r.arn.clone())
            .collect();
        arns.sort();
        Ok(arns)
    }

    /// `DeleteOpenIDConnectProvider`. Roles that trust it stay; their trust no longer matches.
    pub fn delete_oidc_provider(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_provider_arn(&mut v, arn);
        v.finish()?;
        let arn = given(arn);
        self.authorize(ctx, IamAction::DeleteOpenIDConnectProvider, arn)?;
        let mut st = self.state.write();
        let key = {
            let r = Self::oidc_record(&st, ctx, arn)?;
            oidc_key(&r.account, &r.url)
        };
        let mut tx = Transaction::new();
        tx.delete(OIDC_TABLE, &key);
        self.commit(&tx)?;
        st.oidc.remove(&key);
        Ok(())
    }

    /// `UpdateOpenIDConnectProviderThumbprint`: replaces the list.
    pub fn update_oidc_thumbprints(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
        thumbprints: Option<&[String]>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_provider_arn(&mut v, arn);
        v.required("ThumbprintList", &thumbprints);
        check_thumbprints(&mut v, thumbprints.unwrap_or_default());
        v.finish()?;
        let list = thumbprints.unwrap_or_default().to_vec();
        check_thumbprint_values(&list)?;
        self.update_oidc_with(
            ctx,
            IamAction::UpdateOpenIDConnectProviderThumbprint,
            given(arn),
            |r| {
                r.thumbprints = list;
                Ok(())
            },
        )
    }

    /// `AddClientIDToOpenIDConnectProvider` (one already there is not an error).
    pub fn add_oidc_client_id(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_provider_arn(&mut v, arn);
        v.required("ClientID", &client_id);
        check_client_id(&mut v, "ClientID", client_id);
        v.finish()?;
        let id = given(client_id).to_string();
        self.update_oidc_with(
            ctx,
            IamAction::AddClientIDToOpenIDConnectProvider,
            given(arn),
            |r| {
                if !r.client_ids.contains(&id) {
                    if r.client_ids.len() >= MAX_CLIENT_IDS {
                        return Err(IamError::LimitExceeded(format!(
                            "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {MAX_CLIENT_IDS}"
                        )));
                    }
                    r.client_ids.push(id);
                }
                Ok(())
            },
        )
    }

    /// `RemoveClientIDFromOpenIDConnectProvider` (one not there is not an error).
    pub fn remove_oidc_client_id(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
        client_id: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_provider_arn(&mut v, arn);
        v.required("ClientID", &client_id);
        check_client_id(&mut v, "ClientID", client_id);
        v.finish()?;
        let id = given(client_id);
        self.update_oidc_with(
            ctx,
            IamAction::RemoveClientIDFromOpenIDConnectProvider,
            given(arn),
            |r| {
                r.client_ids.retain(|c| c != id);
                Ok(())
            },
        )
    }

    /// `TagOpenIDConnectProvider`.
    pub fn tag_oidc_provider(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
        tags: Option<&[Tag]>,
    ) -> Result<(), IamError> {
        let tags = tags_to_add(|v| check_provider_arn(v, arn), tags)?;
        self.update_oidc_with(ctx, IamAction::TagOpenIDConnectProvider, given(arn), |r| {
            r.tags = merge_tags(&r.tags, tags)?;
            Ok(())
        })
    }

    /// `UntagOpenIDConnectProvider`.
    pub fn untag_oidc_provider(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
        keys: Option<&[String]>,
    ) -> Result<(), IamError> {
        let keys = tag_keys_to_remove(|v| check_provider_arn(v, arn), keys)?;
        self.update_oidc_with(
            ctx,
            IamAction::UntagOpenIDConnectProvider,
            given(arn),
            |r| {
                r.tags = remove_tags(&r.tags, keys);
                Ok(())
            },
        )
    }

    /// `ListOpenIDConnectProviderTags`.
    pub fn list_oidc_provider_tags(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<Tag>, IamError> {
        let mut v = Validator::new();
        check_provider_arn(&mut v, arn);
        paging.check(&mut v);
        v.finish()?;
        let arn = given(arn);
        self.authorize(ctx, IamAction::ListOpenIDConnectProviderTags, arn)?;
        let st = self.state.read();
        let r = Self::oidc_record(&st, ctx, arn)?;
        page(ordered(tags_of(&r.tags)), paging)
    }
}

#[cfg(test)]
mod unit {
    use super::issuer_of;

    #[test]
    fn issuers_are_https_urls_without_scheme_or_trailing_slash() {
        assert_eq!(
            issuer_of("https://token.actions.githubusercontent.com").as_deref(),
            Some("token.actions.githubusercontent.com")
        );
        assert_eq!(
            issuer_of("https://oidc.eks.eu-west-1.amazonaws.com/id/ABC/").as_deref(),
            Some("oidc.eks.eu-west-1.amazonaws.com/id/ABC")
        );
        for bad in [
            "http://a.example",
            "https://",
            "a.example",
            "https://a/?x=1",
        ] {
            assert_eq!(issuer_of(bad), None, "{bad}");
        }
    }
}
