//! SAML 2.0 identity providers (issue 13 part 4, ADR 0018) through the AWS SDK for Rust and the
//! AWS CLI against the real binary: an IdP signing certificate made in the test (rcgen), its
//! metadata written as an IdP publishes it, then Create/Get/List/Update/Tag/DeleteSAMLProvider
//! with AWS's answers (malformed metadata, a document too short, a duplicate name, an unknown
//! ARN), the provider kept across a restart. AssumeRoleWithSAML is not served yet: it answers
//! what it answered before (`InvalidAction`), unsigned as the CLI sends it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use common::*;
use serde_json::Value;

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

        // AssumeRoleWithSAML is not served yet; the CLI sends it unsigned.
        let assertion = base64::engine::general_purpose::STANDARD.encode("<samlp:Response/>");
        let out = aws_cli(
            &server,
            &[
                "sts",
                "assume-role-with-saml",
                "--role-arn",
                &format!("arn:aws:iam::{account}:role/federated"),
                "--principal-arn",
                &arn,
                "--saml-assertion",
                &assertion,
                "--region",
                "us-east-1",
            ],
            &[],
        );
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("InvalidAction"), "{stderr}");
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
