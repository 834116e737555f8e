//! SAML 2.0 identity providers: Create/Get/List/Update/DeleteSAMLProvider and their tags. A
//! provider keeps the IdP's metadata document as given; at create and update the document is
//! parsed (`EntityDescriptor` → `IDPSSODescriptor` → `KeyDescriptor` → `X509Certificate`) and its
//! `entityID` and signing certificates are kept beside it, for `AssumeRoleWithSAML`.
//!
//! Table `iam_saml_provider`, key `ACCOUNT/NAME`.

use super::*;
use coffer_model::ops::IamAction;

pub(crate) const SAML_TABLE: &str = "iam_saml_provider";
/// SAML providers in one account (AWS's quota).
const MAX_PROVIDERS: usize = 100;
/// `SAMLMetadataDocumentType`'s bounds.
const MIN_DOCUMENT: usize = 1000;
const MAX_DOCUMENT: usize = 10_000_000;

const MD_NS: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";

/// AWS's answer to a document it cannot use.
const INVALID_METADATA: &str = "Could not parse metadata";

/// A provider as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub(crate) struct SamlRecord {
    pub v: u32,
    pub account: String,
    pub name: String,
    pub arn: String,
    /// The metadata document, as given.
    pub metadata: String,
    /// The metadata's `entityID`: an assertion's `Issuer` must equal it.
    pub entity_id: String,
    /// The IdP's signing certificates, DER, base64 as in the metadata.
    pub certificates: Vec<String>,
    /// Milliseconds since the epoch.
    pub create_date: i64,
    /// The metadata's `validUntil`, milliseconds since the epoch.
    #[serde(default)]
    pub valid_until: Option<i64>,
    #[serde(default)]
    pub tags: Vec<TagRec>,
}

/// What `AssumeRoleWithSAML` needs of a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlProviderInfo {
    /// `arn:aws:iam::ACCOUNT:saml-provider/NAME`.
    pub arn: String,
    /// The provider's account.
    pub account: String,
    /// The provider's name.
    pub name: String,
    /// The IdP's `entityID`.
    pub entity_id: String,
    /// Signing certificates (DER).
    pub certificates: Vec<Vec<u8>>,
    /// The metadata's `validUntil`, milliseconds since the epoch.
    pub valid_until: Option<i64>,
}

/// `GetSAMLProvider`'s answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlProvider {
    /// `SAMLMetadataDocument`.
    pub metadata: String,
    /// `CreateDate`.
    pub create_date: Timestamp,
    /// `ValidUntil`, when the metadata says.
    pub valid_until: Option<Timestamp>,
    /// `Tags`.
    pub tags: Vec<Tag>,
}

/// One entry of `ListSAMLProviders`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlProviderEntry {
    /// `Arn`.
    pub arn: String,
    /// `CreateDate`.
    pub create_date: Timestamp,
    /// `ValidUntil`.
    pub valid_until: Option<Timestamp>,
}

/// What the metadata says that matters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Metadata {
    pub entity_id: String,
    /// Base64 DER, whitespace removed.
    pub certificates: Vec<String>,
    pub valid_until: Option<i64>,
}

/// An `xsd:dateTime` (`2030-01-01T00:00:00Z`, with or without a fraction) as epoch milliseconds.
pub(crate) fn parse_xml_time(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Parses IdP metadata; `None` if it is not an `EntityDescriptor` with an `IDPSSODescriptor` that
/// names at least one signing certificate. Documents with a DTD are refused (roxmltree's default).
pub(crate) fn parse_metadata(doc: &str) -> Option<Metadata> {
    use base64::Engine as _;
    let xml = roxmltree::Document::parse(doc).ok()?;
    let root = xml.root_element();
    if !root.has_tag_name((MD_NS, "EntityDescriptor")) {
        return None;
    }
    let entity_id = root.attribute("entityID")?.trim().to_string();
    if entity_id.is_empty() {
        return None;
    }
    let valid_until = match root.attribute("validUntil") {
        Some(v) => Some(parse_xml_time(v)?),
        None => None,
    };
    let mut certificates = Vec::new();
    for idp in root
        .children()
        .filter(|n| n.has_tag_name((MD_NS, "IDPSSODescriptor")))
    {
        let protocols = idp.attribute("protocolSupportEnumeration").unwrap_or("");
        if !protocols.split_whitespace().any(|p| p == PROTOCOL_NS) {
            continue;
        }
        for kd in idp
            .children()
            .filter(|n| n.has_tag_name((MD_NS, "KeyDescriptor")))
        {
            if !matches!(kd.attribute("use"), None | Some("signing")) {
                continue;
            }
            for cert in kd
                .descendants()
                .filter(|n| n.has_tag_name((DS_NS, "X509Certificate")))
            {
                let b64: String = cert
                    .text()
                    .unwrap_or("")
                    .chars()
                    .filter(|c| !c.is_ascii_whitespace())
                    .collect();
                base64::engine::general_purpose::STANDARD
                    .decode(&b64)
                    .ok()
                    .filter(|der| !der.is_empty())?;
                if !certificates.contains(&b64) {
                    certificates.push(b64);
                }
            }
        }
    }
    if certificates.is_empty() {
        return None;
    }
    Some(Metadata {
        entity_id,
        certificates,
        valid_until,
    })
}

fn saml_key(account: &str, name: &str) -> String {
    format!("{account}/{name}")
}

fn provider_not_found(arn: &str) -> IamError {
    IamError::NoSuchEntity(format!("SAMLProvider not found for arn {arn}"))
}

fn check_provider_arn(v: &mut Validator, arn: Option<&str>) {
    v.required("SAMLProviderArn", &arn);
    wire::check_arn(v, "SAMLProviderArn", arn);
}

fn check_document(v: &mut Validator, doc: Option<&str>) {
    // Counted in characters, as AWS's length constraints are; the message does not echo a
    // document that may be megabytes long.
    if let Some(d) = doc {
        let n = d.chars().count();
        if !(MIN_DOCUMENT..=MAX_DOCUMENT).contains(&n) {
            let bound = if n < MIN_DOCUMENT {
                format!("Member must have length greater than or equal to {MIN_DOCUMENT}")
            } else {
                format!("Member must have length less than or equal to {MAX_DOCUMENT}")
            };
            v.fail("SAMLMetadataDocument", None, &bound);
        }
    }
}

fn is_provider_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.' || c == '-')
}

fn metadata_of(doc: &str) -> Result<Metadata, IamError> {
    parse_metadata(doc).ok_or_else(|| IamError::InvalidInput(INVALID_METADATA.into()))
}

fn info_of(r: &SamlRecord) -> SamlProviderInfo {
    use base64::Engine as _;
    SamlProviderInfo {
        arn: r.arn.clone(),
        account: r.account.clone(),
        name: r.name.clone(),
        entity_id: r.entity_id.clone(),
        certificates: r
            .certificates
            .iter()
            .filter_map(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
            .collect(),
        valid_until: r.valid_until,
    }
}

impl Iam {
    /// The SAML provider an ARN names (any account: the role's account is checked by the
    /// caller), for `AssumeRoleWithSAML`.
    pub fn saml_provider_by_arn(&self, arn: &str) -> Option<SamlProviderInfo> {
        let a = IamArn::parse(arn).filter(|a| a.kind == "saml-provider" && a.path == "/")?;
        let st = self.state.read();
        st.saml
            .get(&saml_key(&a.account, &a.name))
            .filter(|r| r.arn == arn)
            .map(info_of)
    }

    /// The provider an ARN names, in the caller's account.
    fn saml_record<'a>(
        st: &'a State,
        ctx: &RequestContext,
        arn: &str,
    ) -> Result<&'a SamlRecord, IamError> {
        let a = IamArn::parse(arn)
            .filter(|a| a.kind == "saml-provider")
            .ok_or_else(|| IamError::InvalidInput(format!("ARN {arn} is not valid.")))?;
        if a.account != ctx.account_id || a.path != "/" {
            return Err(provider_not_found(arn));
        }
        st.saml
            .get(&saml_key(&a.account, &a.name))
            .filter(|r| r.arn == arn)
            .ok_or_else(|| provider_not_found(arn))
    }

    fn save_saml(&self, st: &mut State, rec: SamlRecord) -> Result<(), IamError> {
        let key = saml_key(&rec.account, &rec.name);
        let mut tx = Transaction::new();
        put(&mut tx, SAML_TABLE, &key, &rec)?;
        self.commit(&tx)?;
        st.saml.insert(key, rec);
        Ok(())
    }

    fn update_saml_with(
        &self,
        ctx: &RequestContext,
        action: IamAction,
        arn: &str,
        change: impl FnOnce(&mut SamlRecord) -> Result<(), IamError>,
    ) -> Result<(), IamError> {
        self.authorize(ctx, action, arn)?;
        let mut st = self.state.write();
        let mut rec = Self::saml_record(&st, ctx, arn)?.clone();
        change(&mut rec)?;
        self.save_saml(&mut st, rec)
    }

    /// `CreateSAMLProvider`: its ARN.
    pub fn create_saml_provider(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        document: Option<&str>,
        tags: Option<&[Tag]>,
    ) -> Result<String, IamError> {
        let mut v = Validator::new();
        v.required("SAMLMetadataDocument", &document);
        check_document(&mut v, document);
        v.required("Name", &name);
        v.length("Name", name, 1, 128);
        v.pattern("Name", name, is_provider_name, "[\\w._-]+");
        wire::check_tags(&mut v, "Tags", tags);
        v.finish()?;
        let name = given(name).to_string();
        let document = given(document);
        let tags = tags.unwrap_or_default();
        check_duplicate_tags(tags)?;
        let arn = format!(
            "arn:{}:iam::{}:saml-provider/{name}",
            ctx.partition(),
            ctx.account_id
        );
        self.authorize(ctx, IamAction::CreateSAMLProvider, &arn)?;
        let md = metadata_of(document)?;
        let mut st = self.state.write();
        if st.saml.contains_key(&saml_key(&ctx.account_id, &name)) {
            return Err(IamError::EntityAlreadyExists(format!(
                "SAMLProvider {name} already exists"
            )));
        }
        if st
            .saml
            .values()
            .filter(|r| r.account == ctx.account_id)
            .count()
            >= MAX_PROVIDERS
        {
            return Err(IamError::LimitExceeded(format!(
                "Cannot exceed quota for SAMLProvidersPerAccount: {MAX_PROVIDERS}"
            )));
        }
        let rec = SamlRecord {
            v: RECORD_VERSION,
            account: ctx.account_id.clone(),
            name,
            arn: arn.clone(),
            metadata: document.to_string(),
            entity_id: md.entity_id,
            certificates: md.certificates,
            create_date: self.now(),
            valid_until: md.valid_until,
            tags: tags.iter().map(TagRec::from).collect(),
        };
        self.save_saml(&mut st, rec)?;
        Ok(arn)
    }

    /// `GetSAMLProvider`.
    pub fn get_saml_provider(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
    ) -> Result<SamlProvider, IamError> {
        let mut v = Validator::new();
        check_provider_arn(&mut v, arn);
        v.finish()?;
        let arn = given(arn);
        self.authorize(ctx, IamAction::GetSAMLProvider, arn)?;
        let st = self.state.read();
        let r = Self::saml_record(&st, ctx, arn)?;
        Ok(SamlProvider {
            metadata: r.metadata.clone(),
            create_date: Timestamp::from_millis(r.create_date),
            valid_until: r.valid_until.map(Timestamp::from_millis),
            tags: tags_of(&r.tags),
        })
    }

    /// `ListSAMLProviders`, in ARN order (IAM does not page this list).
    pub fn list_saml_providers(
        &self,
        ctx: &RequestContext,
    ) -> Result<Vec<SamlProviderEntry>, IamError> {
        self.authorize(
            ctx,
            IamAction::ListSAMLProviders,
            &Self::wildcard_arn(ctx, "saml-provider"),
        )?;
        let st = self.state.read();
        let mut out: Vec<SamlProviderEntry> = st
            .saml
            .values()
            .filter(|r| r.account == ctx.account_id)
            .map(|r| SamlProviderEntry {
                arn: r.arn.clone(),
                create_date: Timestamp::from_millis(r.create_date),
                valid_until: r.valid_until.map(Timestamp::from_millis),
            })
            .collect();
        out.sort_by(|a, b| a.arn.cmp(&b.arn));
        Ok(out)
    }

    /// `UpdateSAMLProvider`: replaces the metadata document; its ARN.
    pub fn update_saml_provider(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
        document: Option<&str>,
    ) -> Result<String, IamError> {
        let mut v = Validator::new();
        check_document(&mut v, document);
        check_provider_arn(&mut v, arn);
        v.finish()?;
        let arn = given(arn);
        let md = match document {
            Some(d) => Some((d.to_string(), metadata_of(d)?)),
            None => None,
        };
        self.update_saml_with(ctx, IamAction::UpdateSAMLProvider, arn, |r| {
            if let Some((doc, md)) = md {
                r.metadata = doc;
                r.entity_id = md.entity_id;
                r.certificates = md.certificates;
                r.valid_until = md.valid_until;
            }
            Ok(())
        })?;
        Ok(arn.to_string())
    }

    /// `DeleteSAMLProvider`. Roles that trust it stay; their trust no longer matches.
    pub fn delete_saml_provider(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_provider_arn(&mut v, arn);
        v.finish()?;
        let arn = given(arn);
        self.authorize(ctx, IamAction::DeleteSAMLProvider, arn)?;
        let mut st = self.state.write();
        let key = {
            let r = Self::saml_record(&st, ctx, arn)?;
            saml_key(&r.account, &r.name)
        };
        let mut tx = Transaction::new();
        tx.delete(SAML_TABLE, &key);
        self.commit(&tx)?;
        st.saml.remove(&key);
        Ok(())
    }

    /// `TagSAMLProvider`.
    pub fn tag_saml_provider(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
        tags: Option<&[Tag]>,
    ) -> Result<(), IamError> {
        let tags = tags_to_add(|v| check_provider_arn(v, arn), tags)?;
        self.update_saml_with(ctx, IamAction::TagSAMLProvider, given(arn), |r| {
            r.tags = merge_tags(&r.tags, tags)?;
            Ok(())
        })
    }

    /// `UntagSAMLProvider`.
    pub fn untag_saml_provider(
        &self,
        ctx: &RequestContext,
        arn: Option<&str>,
        keys: Option<&[String]>,
    ) -> Result<(), IamError> {
        let keys = tag_keys_to_remove(|v| check_provider_arn(v, arn), keys)?;
        self.update_saml_with(ctx, IamAction::UntagSAMLProvider, given(arn), |r| {
            r.tags = remove_tags(&r.tags, keys);
            Ok(())
        })
    }

    /// `ListSAMLProviderTags`.
    pub fn list_saml_provider_tags(
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
        self.authorize(ctx, IamAction::ListSAMLProviderTags, arn)?;
        let st = self.state.read();
        let r = Self::saml_record(&st, ctx, arn)?;
        page(ordered(tags_of(&r.tags)), paging)
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    fn metadata(entity: &str, body: &str) -> String {
        format!(
            r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{entity}" validUntil="2030-01-01T00:00:00Z">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    {body}
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
        )
    }

    const KEY: &str = r#"<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>
      MIIBszCCAVmgAwIBAgIU
    </ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#;

    #[test]
    fn metadata_gives_entity_id_signing_certificates_and_valid_until() {
        let md = parse_metadata(&metadata("https://idp.example/", KEY)).unwrap();
        assert_eq!(md.entity_id, "https://idp.example/");
        assert_eq!(md.certificates, vec!["MIIBszCCAVmgAwIBAgIU".to_string()]);
        assert_eq!(md.valid_until, parse_xml_time("2030-01-01T00:00:00Z"));
        assert_eq!(md.valid_until, Some(1_893_456_000_000));
    }

    #[test]
    fn malformed_metadata_is_refused() {
        // No signing key.
        assert!(parse_metadata(&metadata("https://idp.example/", "")).is_none());
        // An encryption key only.
        let enc = KEY.replace("use=\"signing\"", "use=\"encryption\"");
        assert!(parse_metadata(&metadata("https://idp.example/", &enc)).is_none());
        // Not XML, the wrong root, an empty entityID.
        assert!(parse_metadata("not xml").is_none());
        assert!(parse_metadata("<a/>").is_none());
        assert!(parse_metadata(&metadata("", KEY)).is_none());
        // A DTD (entity expansion) is refused.
        let dtd = format!(
            "<!DOCTYPE x [<!ENTITY e \"idp\">]>{}",
            metadata("https://&e;.example/", KEY).replace("<?xml version=\"1.0\"?>", "")
        );
        assert!(parse_metadata(&dtd).is_none());
    }
}
