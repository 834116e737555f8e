//! Verifies the `SAMLAssertion` of `AssumeRoleWithSAML`: a base64 `samlp:Response` whose
//! Response or single Assertion carries an enveloped XML signature by one of the provider's
//! metadata certificates (checked by `bergshamra`, trusted keys only), then the assertion's
//! issuer, validity window, audience and attributes, as AWS does (ADR 0018).
//!
//! Signature wrapping: the document is parsed once here (DTD refused); it must hold exactly one
//! `saml:Assertion`, no encrypted one, unique IDs; the first `ds:Signature` (the one verified)
//! must be a child of the Response or of the Assertion and have one `Reference` whose URI is
//! that parent's `#ID`. The claims are read from the Assertion node so bound.

use crate::SamlProviderInfo;
use base64::Engine as _;
use std::collections::BTreeSet;

const PROTOCOL_NS: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const ASSERTION_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";

/// The attribute that names `ROLE_ARN,PROVIDER_ARN` pairs.
pub const ROLE_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/Role";
/// The attribute that names the session.
pub const SESSION_NAME_ATTRIBUTE: &str = "https://aws.amazon.com/SAML/Attributes/RoleSessionName";
/// The attribute that caps the session's duration (seconds).
pub const SESSION_DURATION_ATTRIBUTE: &str =
    "https://aws.amazon.com/SAML/Attributes/SessionDuration";
/// The audiences AWS accepts.
const AUDIENCES: &[&str] = &[
    "https://signin.aws.amazon.com/saml",
    "urn:amazon:webservices",
];
/// How far ahead of the clock `NotBefore` may be (AWS's documented 5 minutes).
const SKEW_MS: i64 = 300_000;

/// Signature algorithms accepted (SHA-1 is refused).
const SIGNATURE_METHODS: &[&str] = &[
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
];
const DIGEST_METHODS: &[&str] = &[
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
];
const TRANSFORMS: &[&str] = &[
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
];

/// Why an assertion is refused; each maps to one AWS error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SamlError {
    /// `InvalidIdentityToken`.
    #[error("{0}")]
    Invalid(String),
    /// `ExpiredTokenException`.
    #[error("{0}")]
    Expired(String),
    /// `IDPRejectedClaim`.
    #[error("{0}")]
    Rejected(String),
}

impl SamlError {
    /// AWS's error code.
    pub fn code(&self) -> &'static str {
        match self {
            SamlError::Invalid(_) => "InvalidIdentityToken",
            SamlError::Expired(_) => "ExpiredTokenException",
            SamlError::Rejected(_) => "IDPRejectedClaim",
        }
    }
}

fn invalid(m: &str) -> SamlError {
    SamlError::Invalid(m.to_string())
}

/// What a verified assertion says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamlClaims {
    /// `Issuer`.
    pub issuer: String,
    /// `Subject/NameID`.
    pub subject: String,
    /// `persistent`, `transient`, or the NameID's full `Format` URI.
    pub subject_type: String,
    /// The AWS audience it names.
    pub audience: String,
    /// Every `Audience`.
    pub audiences: Vec<String>,
    /// The `Role` attribute's values, each `(role ARN, provider ARN)`.
    pub roles: Vec<(String, String)>,
    /// `RoleSessionName`.
    pub session_name: String,
    /// `SessionDuration`, seconds.
    pub session_duration: Option<i64>,
}

fn child<'a, 'i>(
    n: roxmltree::Node<'a, 'i>,
    ns: &str,
    name: &str,
) -> Option<roxmltree::Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name((ns, name)))
}

fn text_of(n: roxmltree::Node<'_, '_>) -> String {
    n.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect::<String>()
        .trim()
        .to_string()
}

fn time_attr(n: roxmltree::Node<'_, '_>, name: &str) -> Result<Option<i64>, SamlError> {
    match n.attribute(name) {
        None => Ok(None),
        Some(v) => crate::saml::parse_xml_time(v)
            .map(Some)
            .ok_or_else(|| invalid("The SAML assertion has an invalid time.")),
    }
}

fn id_of<'a>(n: roxmltree::Node<'a, '_>) -> Option<&'a str> {
    n.attribute("ID")
}

/// Checks the signature's shape and that it covers `target`: returns the expected reference URI.
fn check_signature(sig: roxmltree::Node<'_, '_>, target_id: &str) -> Result<String, SamlError> {
    let bad = || invalid("Invalid signature in the SAML assertion.");
    let si = child(sig, DS_NS, "SignedInfo").ok_or_else(bad)?;
    let method = child(si, DS_NS, "SignatureMethod")
        .and_then(|m| m.attribute("Algorithm"))
        .ok_or_else(bad)?;
    if !SIGNATURE_METHODS.contains(&method) {
        return Err(invalid(
            "The SAML assertion is signed with an algorithm that is not accepted (SHA-1 is refused).",
        ));
    }
    let refs: Vec<_> = si
        .children()
        .filter(|c| c.has_tag_name((DS_NS, "Reference")))
        .collect();
    let [r] = refs.as_slice() else {
        return Err(bad());
    };
    let want = format!("#{target_id}");
    if r.attribute("URI") != Some(want.as_str()) {
        return Err(bad());
    }
    let digest = child(*r, DS_NS, "DigestMethod")
        .and_then(|m| m.attribute("Algorithm"))
        .ok_or_else(bad)?;
    if !DIGEST_METHODS.contains(&digest) {
        return Err(invalid(
            "The SAML assertion is signed with an algorithm that is not accepted (SHA-1 is refused).",
        ));
    }
    if let Some(ts) = child(*r, DS_NS, "Transforms") {
        for t in ts.children().filter(|c| c.is_element()) {
            if !t.has_tag_name((DS_NS, "Transform"))
                || !t
                    .attribute("Algorithm")
                    .is_some_and(|a| TRANSFORMS.contains(&a))
            {
                return Err(bad());
            }
        }
    }
    Ok(want)
}

/// The cryptographic check, by bergshamra with the provider's certificates as the only keys.
fn verify_signature(xml: &str, provider: &SamlProviderInfo, uri: &str) -> Result<(), SamlError> {
    let bad = || invalid("Invalid signature in the SAML assertion.");
    let mut keys = bergshamra::KeysManager::new();
    for der in &provider.certificates {
        if let Ok(k) = bergshamra::keys::loader::load_x509_cert_der(der) {
            keys.add_key(k);
        }
    }
    let ctx = bergshamra::DsigContext::new(keys);
    let result = bergshamra::verify(&ctx, xml).map_err(|_| bad())?;
    if !result.is_valid() || !result.all_reference_digests_verified() {
        return Err(bad());
    }
    match &result {
        bergshamra::VerifyResult::Valid { references, .. }
            if references.len() == 1 && references.iter().all(|r| r.uri == uri) =>
        {
            Ok(())
        }
        _ => Err(bad()),
    }
}

/// Verifies `assertion` (base64 of a `samlp:Response`) for `provider` at `now_ms`.
pub fn verify(
    assertion: &str,
    provider: &SamlProviderInfo,
    now_ms: i64,
) -> Result<SamlClaims, SamlError> {
    let compact: String = assertion
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| invalid("Invalid base64 SAMLResponse."))?;
    let xml = String::from_utf8(bytes).map_err(|_| invalid("Invalid SAML response."))?;
    // roxmltree refuses any DTD (and so entity declarations) by default.
    let doc = roxmltree::Document::parse(&xml).map_err(|_| invalid("Invalid SAML response."))?;
    let root = doc.root_element();
    if !root.has_tag_name((PROTOCOL_NS, "Response")) {
        return Err(invalid("Invalid SAML response."));
    }
    let status = child(root, PROTOCOL_NS, "Status")
        .and_then(|s| child(s, PROTOCOL_NS, "StatusCode"))
        .and_then(|c| c.attribute("Value"));
    if status != Some(SUCCESS) {
        return Err(SamlError::Rejected(
            "The identity provider reported that authentication failed.".into(),
        ));
    }
    // Every ID unique, one Assertion, none encrypted.
    let mut ids = BTreeSet::new();
    for n in doc.descendants().filter(|n| n.is_element()) {
        for a in n.attributes() {
            if matches!(a.name(), "ID" | "Id" | "id" | "AssertionID") && !ids.insert(a.value()) {
                return Err(invalid("Invalid SAML response: duplicate IDs."));
            }
        }
    }
    if doc
        .descendants()
        .any(|n| n.has_tag_name((ASSERTION_NS, "EncryptedAssertion")))
    {
        return Err(invalid("Encrypted SAML assertions are not supported."));
    }
    let assertions: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name((ASSERTION_NS, "Assertion")))
        .collect();
    let [a] = assertions.as_slice() else {
        return Err(invalid(
            "The SAML response must hold exactly one assertion.",
        ));
    };
    let a = *a;
    if a.parent() != Some(root) {
        return Err(invalid("Invalid SAML response."));
    }
    // The first signature is the one bergshamra verifies: it must cover the Response or the
    // Assertion, the element the claims are read from (or its parent).
    let sig = doc
        .descendants()
        .find(|n| n.has_tag_name((DS_NS, "Signature")))
        .ok_or_else(|| invalid("The SAML response is not signed."))?;
    let signed = sig
        .parent()
        .filter(|p| *p == root || *p == a)
        .ok_or_else(|| invalid("Invalid signature in the SAML assertion."))?;
    let id = id_of(signed).ok_or_else(|| invalid("Invalid signature in the SAML assertion."))?;
    let uri = check_signature(sig, id)?;
    verify_signature(&xml, provider, &uri)?;

    // The claims, from the bound Assertion.
    let issuer = child(a, ASSERTION_NS, "Issuer")
        .map(text_of)
        .ok_or_else(|| invalid("The SAML assertion has no Issuer."))?;
    if issuer != provider.entity_id {
        return Err(invalid(
            "The Issuer of the SAML assertion does not match the provider's metadata.",
        ));
    }
    let subject = child(a, ASSERTION_NS, "Subject")
        .ok_or_else(|| invalid("The SAML assertion has no Subject."))?;
    let name_id = child(subject, ASSERTION_NS, "NameID")
        .ok_or_else(|| invalid("The SAML assertion has no NameID."))?;
    let sub = text_of(name_id);
    let subject_type = match name_id.attribute("Format") {
        Some("urn:oasis:names:tc:SAML:2.0:nameid-format:persistent") => "persistent".to_string(),
        Some("urn:oasis:names:tc:SAML:2.0:nameid-format:transient") => "transient".to_string(),
        Some(f) => f.to_string(),
        None => "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified".to_string(),
    };
    let expired = || SamlError::Expired("The SAML assertion has expired.".into());
    let mut bearer = false;
    for sc in subject
        .children()
        .filter(|c| c.has_tag_name((ASSERTION_NS, "SubjectConfirmation")))
    {
        if sc.attribute("Method") != Some("urn:oasis:names:tc:SAML:2.0:cm:bearer") {
            continue;
        }
        bearer = true;
        if let Some(d) = child(sc, ASSERTION_NS, "SubjectConfirmationData") {
            if time_attr(d, "NotOnOrAfter")?.is_some_and(|t| now_ms >= t) {
                return Err(expired());
            }
        }
    }
    if !bearer {
        return Err(invalid(
            "The SAML assertion has no bearer SubjectConfirmation.",
        ));
    }
    let conditions = child(a, ASSERTION_NS, "Conditions");
    let mut audiences = Vec::new();
    if let Some(c) = conditions {
        if time_attr(c, "NotBefore")?.is_some_and(|t| now_ms + SKEW_MS < t) {
            return Err(invalid("The SAML assertion is not yet valid."));
        }
        if time_attr(c, "NotOnOrAfter")?.is_some_and(|t| now_ms >= t) {
            return Err(expired());
        }
        for ar in c
            .children()
            .filter(|n| n.has_tag_name((ASSERTION_NS, "AudienceRestriction")))
        {
            for au in ar
                .children()
                .filter(|n| n.has_tag_name((ASSERTION_NS, "Audience")))
            {
                audiences.push(text_of(au));
            }
        }
    }
    let audience = audiences
        .iter()
        .find(|x| AUDIENCES.contains(&x.as_str()))
        .cloned()
        .ok_or_else(|| {
            invalid("The SAML assertion's audience is not https://signin.aws.amazon.com/saml.")
        })?;
    let mut roles = Vec::new();
    let mut session_name = None;
    let mut session_duration = None;
    for st in a
        .children()
        .filter(|n| n.has_tag_name((ASSERTION_NS, "AttributeStatement")))
    {
        for attr in st
            .children()
            .filter(|n| n.has_tag_name((ASSERTION_NS, "Attribute")))
        {
            let values: Vec<String> = attr
                .children()
                .filter(|n| n.has_tag_name((ASSERTION_NS, "AttributeValue")))
                .map(text_of)
                .collect();
            match attr.attribute("Name") {
                Some(ROLE_ATTRIBUTE) => {
                    for v in values {
                        if let Some((x, y)) = v.split_once(',') {
                            roles.push((x.trim().to_string(), y.trim().to_string()));
                        }
                    }
                }
                Some(SESSION_NAME_ATTRIBUTE) => session_name = values.into_iter().next(),
                Some(SESSION_DURATION_ATTRIBUTE) => {
                    session_duration = values.first().and_then(|v| v.parse::<i64>().ok());
                }
                _ => {}
            }
        }
    }
    let session_name = session_name
        .filter(|n| {
            (2..=64).contains(&n.len())
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+=,.@-_".contains(c))
        })
        .ok_or_else(|| {
            SamlError::Rejected(format!(
                "The SAML assertion lacks a valid {SESSION_NAME_ATTRIBUTE} attribute."
            ))
        })?;
    Ok(SamlClaims {
        issuer,
        subject: sub,
        subject_type,
        audience,
        audiences,
        roles,
        session_name,
        session_duration,
    })
}

/// `SAML:namequalifier`: base64 of SHA-1 of Issuer + account + `/` + provider name, as AWS
/// documents it.
pub fn name_qualifier(issuer: &str, account: &str, provider_name: &str) -> String {
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{issuer}{account}/{provider_name}").as_bytes(),
    );
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;

    /// A test IdP: an RSA key and its self-signed certificate.
    pub(crate) struct Idp {
        key_pem: String,
        pub cert_der: Vec<u8>,
    }

    impl Idp {
        pub(crate) fn new() -> Self {
            let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
            let params = rcgen::CertificateParams::new(vec!["idp.example.com".into()]).unwrap();
            let cert = params.self_signed(&key).unwrap();
            Idp {
                key_pem: key.serialize_pem(),
                cert_der: cert.der().to_vec(),
            }
        }

        /// Signs the element whose ID is `id` (its template Signature is in it).
        pub(crate) fn sign(&self, template: &str) -> String {
            let mut km = bergshamra::KeysManager::new();
            km.add_key(
                bergshamra::keys::loader::load_rsa_private_pem(self.key_pem.as_bytes()).unwrap(),
            );
            bergshamra::sign(&bergshamra::DsigContext::new(km), template).unwrap()
        }
    }

    pub(crate) fn iso(ms: i64) -> String {
        time::OffsetDateTime::from_unix_timestamp(ms / 1000)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    }

    pub(crate) const ISSUER: &str = "https://idp.example.com/saml";
    pub(crate) const ROLE: &str = "arn:aws:iam::111122223333:role/federated";
    pub(crate) const PROVIDER: &str = "arn:aws:iam::111122223333:saml-provider/ExampleIdP";
    pub(crate) const NOW: i64 = 1_900_000_000_000;

    pub(crate) fn signature_template(id: &str) -> String {
        format!(
            r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#{id}"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature>"##
        )
    }

    /// The Assertion (`ID="_a1"`), with `sig` after its Issuer.
    pub(crate) fn assertion(sub: &str, audience: &str, not_after: i64, sig: &str) -> String {
        format!(
            r#"<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_a1" Version="2.0" IssueInstant="{now}"><saml:Issuer>{ISSUER}</saml:Issuer>{sig}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{sub}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{after}" Recipient="https://signin.aws.amazon.com/saml"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{before}" NotOnOrAfter="{after}"><saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AttributeStatement><saml:Attribute Name="{ROLE_ATTRIBUTE}"><saml:AttributeValue>{ROLE},{PROVIDER}</saml:AttributeValue></saml:Attribute><saml:Attribute Name="{SESSION_NAME_ATTRIBUTE}"><saml:AttributeValue>{sub}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion>"#,
            now = iso(NOW),
            before = iso(NOW - 60_000),
            after = iso(not_after),
        )
    }

    pub(crate) fn response(inner: &str) -> String {
        format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r1" Version="2.0" IssueInstant="{now}"><saml:Issuer xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion">{ISSUER}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>{inner}</samlp:Response>"#,
            now = iso(NOW)
        )
    }

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn provider(idp: &Idp) -> SamlProviderInfo {
        SamlProviderInfo {
            arn: PROVIDER.into(),
            account: "111122223333".into(),
            name: "ExampleIdP".into(),
            entity_id: ISSUER.into(),
            certificates: vec![idp.cert_der.clone()],
            valid_until: None,
        }
    }

    fn signed(idp: &Idp, sub: &str) -> String {
        idp.sign(&response(&assertion(
            sub,
            AUDIENCES[0],
            NOW + 300_000,
            &signature_template("_a1"),
        )))
    }

    #[test]
    fn a_signed_assertion_verifies() {
        let idp = Idp::new();
        let c = verify(&b64(&signed(&idp, "alice")), &provider(&idp), NOW).unwrap();
        assert_eq!(c.issuer, ISSUER);
        assert_eq!(c.subject, "alice");
        assert_eq!(c.subject_type, "persistent");
        assert_eq!(c.audience, "https://signin.aws.amazon.com/saml");
        assert_eq!(c.roles, vec![(ROLE.to_string(), PROVIDER.to_string())]);
        assert_eq!(c.session_name, "alice");
        // A signed Response (the Assertion inside it) verifies too.
        let whole = idp.sign(
            &response(&assertion("bob", AUDIENCES[0], NOW + 300_000, "")).replace(
                "</saml:Issuer><samlp:Status>",
                &format!("</saml:Issuer>{}<samlp:Status>", signature_template("_r1")),
            ),
        );
        assert_eq!(
            verify(&b64(&whole), &provider(&idp), NOW).unwrap().subject,
            "bob"
        );
    }

    #[test]
    fn a_tampered_attribute_is_refused() {
        let idp = Idp::new();
        let xml = signed(&idp, "alice").replace(">alice</saml:NameID>", ">admin</saml:NameID>");
        let e = verify(&b64(&xml), &provider(&idp), NOW).unwrap_err();
        assert_eq!(e.code(), "InvalidIdentityToken", "{e}");
    }

    #[test]
    fn signature_wrapping_is_refused() {
        let idp = Idp::new();
        let good = signed(&idp, "alice");
        let signed_assertion =
            &good[good.find("<saml:Assertion").unwrap()..good.find("</samlp:Response>").unwrap()];
        // A second, unsigned Assertion beside the signed one.
        let evil = assertion("admin", AUDIENCES[0], NOW + 300_000, "").replace("_a1", "_evil");
        let two = good.replace("</samlp:Response>", &format!("{evil}</samlp:Response>"));
        assert_eq!(
            verify(&b64(&two), &provider(&idp), NOW).unwrap_err().code(),
            "InvalidIdentityToken"
        );
        // The signed one moved into an Extensions element, an unsigned one in its place.
        let moved = response(&format!(
            "<samlp:Extensions>{signed_assertion}</samlp:Extensions>{evil}"
        ));
        assert_eq!(
            verify(&b64(&moved), &provider(&idp), NOW)
                .unwrap_err()
                .code(),
            "InvalidIdentityToken"
        );
        // The evil assertion reusing the signed one's ID.
        let same_id = response(&format!(
            "{signed_assertion}{}",
            evil.replace("_evil", "_a1")
        ));
        assert_eq!(
            verify(&b64(&same_id), &provider(&idp), NOW)
                .unwrap_err()
                .code(),
            "InvalidIdentityToken"
        );
    }

    #[test]
    fn another_certificate_is_refused() {
        let idp = Idp::new();
        let other = Idp::new();
        let e = verify(&b64(&signed(&idp, "alice")), &provider(&other), NOW).unwrap_err();
        assert_eq!(e.code(), "InvalidIdentityToken", "{e}");
    }

    #[test]
    fn a_certificate_embedded_in_the_signature_is_not_trusted() {
        // Signed by another key that names its own certificate in KeyInfo: only the
        // provider's metadata certificates count.
        let idp = Idp::new();
        let attacker = Idp::new();
        let key_info = format!(
            "<ds:KeyInfo><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>",
            base64::engine::general_purpose::STANDARD.encode(&attacker.cert_der)
        );
        let t = signature_template("_a1").replace("</ds:Signature>", &key_info);
        let xml = attacker.sign(&response(&assertion(
            "admin",
            AUDIENCES[0],
            NOW + 300_000,
            &t,
        )));
        let e = verify(&b64(&xml), &provider(&idp), NOW).unwrap_err();
        assert_eq!(e.code(), "InvalidIdentityToken", "{e}");
        // The same document verifies for a provider whose metadata names that certificate.
        assert!(verify(&b64(&xml), &provider(&attacker), NOW).is_ok());
    }

    #[test]
    fn an_expired_assertion_is_refused() {
        let idp = Idp::new();
        let xml = idp.sign(&response(&assertion(
            "alice",
            AUDIENCES[0],
            NOW - 1000,
            &signature_template("_a1"),
        )));
        assert_eq!(
            verify(&b64(&xml), &provider(&idp), NOW).unwrap_err().code(),
            "ExpiredTokenException"
        );
    }

    #[test]
    fn a_wrong_audience_is_refused() {
        let idp = Idp::new();
        let xml = idp.sign(&response(&assertion(
            "alice",
            "https://elsewhere.example",
            NOW + 300_000,
            &signature_template("_a1"),
        )));
        assert_eq!(
            verify(&b64(&xml), &provider(&idp), NOW).unwrap_err().code(),
            "InvalidIdentityToken"
        );
    }

    #[test]
    fn a_doctype_is_refused() {
        let idp = Idp::new();
        let xml = format!(
            "<!DOCTYPE r [<!ENTITY e \"alice\">]>{}",
            signed(&idp, "alice")
        );
        assert_eq!(
            verify(&b64(&xml), &provider(&idp), NOW).unwrap_err().code(),
            "InvalidIdentityToken"
        );
    }

    #[test]
    fn sha1_is_refused() {
        // (AWS-LC will not even sign RSA-SHA1: the algorithm is named in a signed document.)
        let idp = Idp::new();
        let xml = signed(&idp, "alice").replace(
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
            "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        );
        let e = verify(&b64(&xml), &provider(&idp), NOW).unwrap_err();
        assert!(e.to_string().contains("SHA-1"), "{e}");
    }

    #[test]
    fn name_qualifier_is_awss() {
        // base64(SHA1("https://example.com/saml" + "123456789012" + "/MySAMLIdP")).
        let q = name_qualifier("https://example.com/saml", "123456789012", "MySAMLIdP");
        let d = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            b"https://example.com/saml123456789012/MySAMLIdP",
        );
        assert_eq!(
            q,
            base64::engine::general_purpose::STANDARD.encode(d.as_ref())
        );
    }
}
