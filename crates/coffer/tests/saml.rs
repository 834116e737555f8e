//! SAML 2.0 identity providers (issue 13 part 4, ADR 0018) through the AWS SDK for Rust and the
//! AWS CLI against the real binary: an IdP signing certificate made in the test (rcgen), its
//! metadata written as an IdP publishes it, then Create/Get/List/Update/Tag/DeleteSAMLProvider
//! with AWS's answers (malformed metadata, a document too short, a duplicate name, an unknown
//! ARN), the provider kept across a restart. Then the federation itself: a `samlp:Response`
//! signed in the test (bergshamra, RSA-SHA256, the Assertion enveloped-signed) is exchanged for
//! a role's credentials with AssumeRoleWithSAML through the AWS CLI (unsigned, as it sends it)
//! and the SDK; the credentials read a secret; bad assertions get AWS's answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use common::*;
use serde_json::{json, Value};
use std::time::{SystemTime, UNIX_EPOCH};

/// IdP metadata naming `entity_id` and the base64 DER signing certificate `cert_b64`, padded
/// past IAM's 1000-character minimum as real metadata is (an organization, contacts).
fn metadata(entity_id: &str, cert_b64: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{entity_id}" validUntil="2036-01-01T00:00:00Z">
  <md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo>
        <ds:X509Data>
          <ds:X509Certificate>{cert_b64}</ds:X509Certificate>
        </ds:X509Data>
      </ds:KeyInfo>
    </md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://idp.example.com/saml/sso/post"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp.example.com/saml/sso/redirect"/>
  </md:IDPSSODescriptor>
  <md:Organization>
    <md:OrganizationName xml:lang="en">Example Identity</md:OrganizationName>
    <md:OrganizationDisplayName xml:lang="en">Example Identity Provider</md:OrganizationDisplayName>
    <md:OrganizationURL xml:lang="en">https://idp.example.com/</md:OrganizationURL>
  </md:Organization>
  <md:ContactPerson contactType="technical">
    <md:EmailAddress>mailto:identity@example.com</md:EmailAddress>
  </md:ContactPerson>
</md:EntityDescriptor>
"#
    )
}

/// A fresh self-signed signing certificate (rcgen's default key, ECDSA P-256), base64 DER.
fn signing_cert() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["idp.example.com".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    base64::engine::general_purpose::STANDARD.encode(cert.der())
}

#[tokio::test]
async fn saml_providers_are_iam_entities_with_awss_answers() {
    let mut server = Server::secure();
    let account = server.account_id().await;
    let iam = server.iam();
    let doc = metadata("https://idp.example.com/saml", &signing_cert());
    assert!(doc.len() >= 1000, "{}", doc.len());

    let arn = iam
        .create_saml_provider()
        .name("ExampleIdP")
        .saml_metadata_document(&doc)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("team")
                .value("identity")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap()
        .saml_provider_arn()
        .unwrap()
        .to_string();
    assert_eq!(
        arn,
        format!("arn:aws:iam::{account}:saml-provider/ExampleIdP")
    );

    // The same name again; metadata that is not an IdP's; a document under 1000 characters.
    let e = iam
        .create_saml_provider()
        .name("ExampleIdP")
        .saml_metadata_document(&doc)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("EntityAlreadyExists"));
    let no_key = doc.replace("use=\"signing\"", "use=\"encryption\"");
    let e = iam
        .create_saml_provider()
        .name("Broken")
        .saml_metadata_document(&no_key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidInput"));
    assert_eq!(e.message(), Some("Could not parse metadata"));
    let e = iam
        .create_saml_provider()
        .name("Short")
        .saml_metadata_document("<md:EntityDescriptor/>")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationError"), "{e:?}");
    let e = iam
        .create_saml_provider()
        .name("bad name")
        .saml_metadata_document(&doc)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ValidationError"), "{e:?}");

    let got = iam
        .get_saml_provider()
        .saml_provider_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(got.saml_metadata_document(), Some(doc.as_str()));
    assert!(got.create_date().is_some());
    assert_eq!(got.valid_until().map(|t| t.secs()), Some(2_082_758_400));
    assert_eq!(got.tags()[0].key(), "team");

    // A new certificate (a key rollover): the document is replaced.
    let rolled = metadata("https://idp.example.com/saml", &signing_cert());
    let updated = iam
        .update_saml_provider()
        .saml_provider_arn(&arn)
        .saml_metadata_document(&rolled)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.saml_provider_arn(), Some(arn.as_str()));
    let e = iam
        .update_saml_provider()
        .saml_provider_arn(&arn)
        .saml_metadata_document(&no_key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidInput"));

    iam.untag_saml_provider()
        .saml_provider_arn(&arn)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let tags = iam
        .list_saml_provider_tags()
        .saml_provider_arn(&arn)
        .send()
        .await
        .unwrap();
    assert!(tags.tags().is_empty());

    // Kept across a restart.
    server.terminate();
    server.start_again();
    let iam = server.iam();
    let listed = iam.list_saml_providers().send().await.unwrap();
    let arns: Vec<_> = listed
        .saml_provider_list()
        .iter()
        .filter_map(|p| p.arn())
        .collect();
    assert_eq!(arns, [arn.as_str()]);
    let got = iam
        .get_saml_provider()
        .saml_provider_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(got.saml_metadata_document(), Some(rolled.as_str()));

    if have_aws_cli() {
        let (ak, sk) = server.creds();
        let out = aws_cli(
            &server,
            &["iam", "get-saml-provider", "--saml-provider-arn", &arn],
            &[
                ("AWS_ACCESS_KEY_ID", &ak),
                ("AWS_SECRET_ACCESS_KEY", &sk),
                ("AWS_DEFAULT_REGION", "us-east-1"),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["SAMLMetadataDocument"], rolled.as_str());
    } else {
        eprintln!("aws CLI not installed: skipping the CLI half of this test");
    }

    iam.delete_saml_provider()
        .saml_provider_arn(&arn)
        .send()
        .await
        .unwrap();
    let e = iam
        .get_saml_provider()
        .saml_provider_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("NoSuchEntity"));
    assert_eq!(
        e.message(),
        Some(format!("SAMLProvider not found for arn {arn}").as_str())
    );
    let e = iam
        .delete_saml_provider()
        .saml_provider_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("NoSuchEntity"));
}

/// A test IdP: an RSA key and its self-signed certificate.
struct Idp {
    key_pem: String,
    cert_der: Vec<u8>,
}

impl Idp {
    fn new() -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(vec!["idp.example.com".into()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        Idp {
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
        }
    }

    fn cert_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.cert_der)
    }

    /// A signed Response for `sub`, offering `role` through `provider`, valid `ttl_s` from now
    /// (negative: already expired), base64 as the browser posts it.
    fn assertion(&self, sub: &str, role: &str, provider: &str, ttl_s: i64) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let iso = |t: i64| {
            time::OffsetDateTime::from_unix_timestamp(t)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap()
        };
        let (issued, before, after) = (iso(now), iso(now - 60), iso(now + ttl_s));
        let sig = r##"<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/><ds:Reference URI="#_assertion1"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature>"##;
        let template = format!(
            r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_response1" Version="2.0" IssueInstant="{issued}" Destination="https://signin.aws.amazon.com/saml"><saml:Issuer>{ISSUER}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status><saml:Assertion ID="_assertion1" Version="2.0" IssueInstant="{issued}"><saml:Issuer>{ISSUER}</saml:Issuer>{sig}<saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">{sub}</saml:NameID><saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData NotOnOrAfter="{after}" Recipient="https://signin.aws.amazon.com/saml"/></saml:SubjectConfirmation></saml:Subject><saml:Conditions NotBefore="{before}" NotOnOrAfter="{after}"><saml:AudienceRestriction><saml:Audience>https://signin.aws.amazon.com/saml</saml:Audience></saml:AudienceRestriction></saml:Conditions><saml:AuthnStatement AuthnInstant="{issued}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement><saml:AttributeStatement><saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/Role"><saml:AttributeValue>{provider},{role}</saml:AttributeValue></saml:Attribute><saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/RoleSessionName"><saml:AttributeValue>{sub}@example.com</saml:AttributeValue></saml:Attribute><saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/SessionDuration"><saml:AttributeValue>1800</saml:AttributeValue></saml:Attribute></saml:AttributeStatement></saml:Assertion></samlp:Response>"#
        );
        let mut keys = bergshamra::KeysManager::new();
        keys.add_key(
            bergshamra::keys::loader::load_rsa_private_pem(self.key_pem.as_bytes()).unwrap(),
        );
        let signed = bergshamra::sign(&bergshamra::DsigContext::new(keys), &template).unwrap();
        base64::engine::general_purpose::STANDARD.encode(signed)
    }
}

const ISSUER: &str = "https://idp.example.com/saml";

#[tokio::test]
async fn a_signed_saml_assertion_is_exchanged_for_role_credentials() {
    let mut server = Server::start(Options {
        config: Some("[audit]\nfile = \"audit/trail.jsonl\"\n".into()),
        ..Options::default()
    });
    let account = server.account_id().await;
    let iam = server.iam();
    let idp = Idp::new();
    let provider_arn = iam
        .create_saml_provider()
        .name("ExampleIdP")
        .saml_metadata_document(metadata(ISSUER, &idp.cert_b64()))
        .send()
        .await
        .unwrap()
        .saml_provider_arn()
        .unwrap()
        .to_string();
    let trust = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithSAML",
            "Condition": {"StringEquals": {
                "SAML:aud": "https://signin.aws.amazon.com/saml",
                "SAML:sub": "alice",
            }}
        }]
    });
    let role_arn = iam
        .create_role()
        .role_name("saml-readers")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_string();
    iam.put_role_policy()
        .role_name("saml-readers")
        .policy_name("read")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": ["secretsmanager:GetSecretValue", "kms:Decrypt"], "Resource": "*"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let secret_arn = server
        .secrets("us-east-1")
        .create_secret()
        .name("app/db")
        .secret_string("s3cr3t")
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();

    // The SDK (AssumeRoleWithSAML is sent unsigned).
    let sts = server.sts("us-east-1");
    let out = sts
        .assume_role_with_saml()
        .role_arn(&role_arn)
        .principal_arn(&provider_arn)
        .saml_assertion(idp.assertion("alice", &role_arn, &provider_arn, 300))
        .send()
        .await
        .unwrap();
    assert_eq!(out.subject(), Some("alice"));
    assert_eq!(out.subject_type(), Some("persistent"));
    assert_eq!(out.issuer(), Some(ISSUER));
    assert_eq!(out.audience(), Some("https://signin.aws.amazon.com/saml"));
    use aws_lc_rs::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY};
    let qualifier = base64::engine::general_purpose::STANDARD.encode(digest(
        &SHA1_FOR_LEGACY_USE_ONLY,
        format!("{ISSUER}{account}/ExampleIdP").as_bytes(),
    ));
    assert_eq!(out.name_qualifier(), Some(qualifier.as_str()));
    assert_eq!(
        out.assumed_role_user().unwrap().arn(),
        format!("arn:aws:sts::{account}:assumed-role/saml-readers/alice@example.com")
    );
    let c = out.credentials().unwrap();
    let creds = aws_credential_types::Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "saml",
    );
    let got = server
        .secrets_with("us-east-1", creds)
        .get_secret_value()
        .secret_id(&secret_arn)
        .send()
        .await
        .unwrap();
    assert_eq!(got.secret_string(), Some("s3cr3t"));

    // Bad assertions: another subject (the trust's SAML:sub), tampered, expired, another
    // provider named.
    let e = sts
        .assume_role_with_saml()
        .role_arn(&role_arn)
        .principal_arn(&provider_arn)
        .saml_assertion(idp.assertion("mallory", &role_arn, &provider_arn, 300))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("AccessDenied"), "{e:?}");
    assert_eq!(
        e.message(),
        Some("Not authorized to perform sts:AssumeRoleWithSAML")
    );
    let good = idp.assertion("alice", &role_arn, &provider_arn, 300);
    let xml = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(&good)
            .unwrap(),
    )
    .unwrap();
    let tampered = base64::engine::general_purpose::STANDARD
        .encode(xml.replace(">alice</saml:NameID>", ">mallory</saml:NameID>"));
    let e = sts
        .assume_role_with_saml()
        .role_arn(&role_arn)
        .principal_arn(&provider_arn)
        .saml_assertion(tampered)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidIdentityToken"), "{e:?}");
    let e = sts
        .assume_role_with_saml()
        .role_arn(&role_arn)
        .principal_arn(&provider_arn)
        .saml_assertion(idp.assertion("alice", &role_arn, &provider_arn, -10))
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("ExpiredTokenException"), "{e:?}");
    let e = sts
        .assume_role_with_saml()
        .role_arn(&role_arn)
        .principal_arn(format!("arn:aws:iam::{account}:saml-provider/Nowhere"))
        .saml_assertion(good.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidIdentityToken"), "{e:?}");
    assert_eq!(e.message(), Some("Specified provider doesn't exist"));

    // The AWS CLI.
    if have_aws_cli() {
        let out = aws_cli(
            &server,
            &[
                "sts",
                "assume-role-with-saml",
                "--role-arn",
                &role_arn,
                "--principal-arn",
                &provider_arn,
                "--saml-assertion",
                &idp.assertion("alice", &role_arn, &provider_arn, 300),
                "--region",
                "us-east-1",
            ],
            &[],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["Subject"], "alice");
        assert_eq!(v["NameQualifier"], qualifier.as_str());
        let env = [
            (
                "AWS_ACCESS_KEY_ID",
                v["Credentials"]["AccessKeyId"].as_str().unwrap(),
            ),
            (
                "AWS_SECRET_ACCESS_KEY",
                v["Credentials"]["SecretAccessKey"].as_str().unwrap(),
            ),
            (
                "AWS_SESSION_TOKEN",
                v["Credentials"]["SessionToken"].as_str().unwrap(),
            ),
        ];
        let out = aws_cli(
            &server,
            &[
                "secretsmanager",
                "get-secret-value",
                "--secret-id",
                &secret_arn,
                "--region",
                "us-east-1",
            ],
            &env,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["SecretString"], "s3cr3t");
        let out = aws_cli(
            &server,
            &[
                "sts",
                "assume-role-with-saml",
                "--role-arn",
                &role_arn,
                "--principal-arn",
                &provider_arn,
                "--saml-assertion",
                "bm90IHNhbWw=",
                "--region",
                "us-east-1",
            ],
            &[],
        );
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("InvalidIdentityToken"), "{stderr}");
    } else {
        eprintln!("aws CLI not installed: skipping the CLI half of this test");
    }

    // The audit trail: SAMLUser callers, the assertion never recorded.
    server.terminate().expect("the server stops");
    let recs = common::audit::records(&server);
    let ok = common::audit::find(&recs, "sts.amazonaws.com", "AssumeRoleWithSAML", None);
    assert!(!ok.is_empty());
    let id = &ok[0]["userIdentity"];
    assert_eq!(id["type"], "SAMLUser", "{id}");
    assert_eq!(id["principalId"], format!("{qualifier}:alice").as_str());
    assert_eq!(id["userName"], "alice");
    assert_eq!(id["identityProvider"], provider_arn.as_str());
    let trail = recs.iter().map(Value::to_string).collect::<String>();
    assert!(!trail.contains(&good), "the assertion is in the trail");
    assert!(
        !trail.contains("_assertion1"),
        "the assertion is in the trail"
    );
}
