//! AWS's exact answers (issue #18): error bodies, messages and members that clients and test
//! suites compare against what real AWS sends. Each test pins one fact about AWS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{EncryptionAlgorithmSpec, KeySpec, KeyUsageType, MacAlgorithmSpec, Tag};
use common::*;

// ----- Secrets Manager ------------------------------------------------------------------

#[test]
fn secrets_manager_errors_carry_capital_message_and_kms_lower_case() {
    let srv = Server::dev();
    let r = srv.signed_json(SignedJson::secrets(
        "DescribeSecret",
        br#"{"SecretId":"no-such-secret"}"#,
    ));
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["__type"], "ResourceNotFoundException");
    assert_eq!(
        v["Message"], "Secrets Manager can't find the specified secret.",
        "{v}"
    );
    assert!(v.get("message").is_none(), "{v}");

    let r = srv.signed_json(SignedJson::kms(
        "DescribeKey",
        br#"{"KeyId":"00000000-0000-0000-0000-000000000000"}"#,
    ));
    let v = r.json();
    assert_eq!(v["__type"], "NotFoundException");
    assert!(
        v["message"].as_str().unwrap().contains("does not exist"),
        "{v}"
    );
    assert!(v.get("Message").is_none(), "{v}");
}

#[test]
fn raw_callers_without_a_client_request_token_are_refused() {
    let srv = Server::dev();
    let r = srv.signed_json(SignedJson::secrets(
        "CreateSecret",
        br#"{"Name":"raw-token","SecretString":"v"}"#,
    ));
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), "InvalidRequestException");
    assert_eq!(
        r.error_message(),
        "You must provide a ClientRequestToken value. We recommend a UUID-type value."
    );
    let r = srv.signed_json(SignedJson::secrets(
        "CreateSecret",
        br#"{"Name":"raw-token","SecretString":"v","ClientRequestToken":"11111111-2222-3333-4444-555555555555"}"#,
    ));
    assert_eq!(r.status, 200, "{}", r.body_str());
    let r = srv.signed_json(SignedJson::secrets(
        "PutSecretValue",
        br#"{"SecretId":"raw-token","SecretString":"w"}"#,
    ));
    assert_eq!(r.error_code(), "InvalidRequestException");
    let r = srv.signed_json(SignedJson::secrets(
        "RotateSecret",
        br#"{"SecretId":"raw-token"}"#,
    ));
    assert_eq!(r.error_code(), "InvalidParameterException");
    assert_eq!(
        r.error_message(),
        "You must provide a ClientRequestToken value. We recommend a UUID-type value."
    );
}

#[tokio::test]
async fn rotate_secret_without_a_function_names_the_missing_lambda() {
    let srv = Server::dev();
    let sm = srv.secrets(PRIMARY);
    sm.create_secret()
        .name("no-lambda")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    let e = expect_err(
        sm.rotate_secret().secret_id("no-lambda").send().await,
        "InvalidRequestException",
    );
    assert_eq!(
        e.message(),
        Some("No Lambda rotation function ARN is associated with this secret.")
    );
}

#[tokio::test]
async fn awsprevious_without_a_previous_version_is_not_found() {
    let srv = Server::dev();
    let sm = srv.secrets(PRIMARY);
    sm.create_secret()
        .name("one-version")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    let e = expect_err(
        sm.get_secret_value()
            .secret_id("one-version")
            .version_stage("AWSPREVIOUS")
            .send()
            .await,
        "ResourceNotFoundException",
    );
    assert_eq!(
        e.message(),
        Some(
            "Secrets Manager can't find the specified secret value for staging label: AWSPREVIOUS"
        )
    );
}

#[tokio::test]
async fn tags_are_an_empty_list_once_every_tag_is_removed() {
    let srv = Server::dev();
    let sm = srv.secrets(PRIMARY);
    sm.create_secret()
        .name("untagged")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    // Never tagged: the member is absent.
    let r = srv.signed_json(SignedJson::secrets(
        "DescribeSecret",
        br#"{"SecretId":"untagged"}"#,
    ));
    assert!(r.json().get("Tags").is_none(), "{}", r.body_str());
    sm.tag_resource()
        .secret_id("untagged")
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key("team")
                .value("a")
                .build(),
        )
        .send()
        .await
        .unwrap();
    sm.untag_resource()
        .secret_id("untagged")
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let r = srv.signed_json(SignedJson::secrets(
        "DescribeSecret",
        br#"{"SecretId":"untagged"}"#,
    ));
    assert_eq!(r.json()["Tags"], serde_json::json!([]), "{}", r.body_str());
    let d = sm
        .describe_secret()
        .secret_id("untagged")
        .send()
        .await
        .unwrap();
    assert_eq!(d.tags(), &[]);
}

#[tokio::test]
async fn tagging_a_secret_scheduled_for_deletion_is_refused() {
    let srv = Server::dev();
    let sm = srv.secrets(PRIMARY);
    sm.create_secret()
        .name("going")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    sm.delete_secret().secret_id("going").send().await.unwrap();
    let tag = aws_sdk_secretsmanager::types::Tag::builder()
        .key("k")
        .value("v")
        .build();
    let e = expect_err(
        sm.tag_resource().secret_id("going").tags(tag).send().await,
        "InvalidRequestException",
    );
    assert!(
        e.message().unwrap().contains("marked for deletion"),
        "{e:?}"
    );
    let e = expect_err(
        sm.untag_resource()
            .secret_id("going")
            .tag_keys("k")
            .send()
            .await,
        "InvalidRequestException",
    );
    assert!(
        e.message().unwrap().contains("marked for deletion"),
        "{e:?}"
    );
}

// ----- KMS --------------------------------------------------------------------------------

#[tokio::test]
async fn identifiers_that_are_no_key_and_arns_of_other_regions() {
    let srv = Server::dev();
    let kms = srv.kms(PRIMARY);
    let e = expect_err(
        kms.describe_key().key_id("fake-key-id").send().await,
        "NotFoundException",
    );
    assert_eq!(e.message(), Some("Invalid keyId 'fake-key-id'"));
    let id = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    let account = srv.account_id().await;
    let other = format!("arn:aws:kms:us-west-2:{account}:key/{id}");
    let e = expect_err(
        kms.describe_key().key_id(&other).send().await,
        "NotFoundException",
    );
    assert_eq!(e.message(), Some("Invalid arn us-west-2"));
}

#[tokio::test]
async fn generate_random_needs_number_of_bytes() {
    let srv = Server::dev();
    let kms = srv.kms(PRIMARY);
    let e = expect_err(kms.generate_random().send().await, "ValidationException");
    assert_eq!(e.message(), Some("NumberOfBytes is required."));
}

#[test]
fn dry_run_is_a_400() {
    let srv = Server::dev();
    let r = srv.signed_json(SignedJson::kms("CreateKey", b"{}"));
    let id = r.json()["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let body = format!(r#"{{"KeyId":"{id}","Plaintext":"aGk=","DryRun":true}}"#);
    let r = srv.signed_json(SignedJson::kms("Encrypt", body.as_bytes()));
    assert_eq!(r.status, 400, "{}", r.body_str());
    assert_eq!(r.error_code(), "DryRunOperationException");
}

#[tokio::test]
async fn tag_limits_and_reserved_prefixes() {
    let srv = Server::dev();
    let kms = srv.kms(PRIMARY);
    let tag = |k: &str| Tag::builder().tag_key(k).tag_value("v").build().unwrap();
    let many: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"))).collect();
    let e = expect_err(
        kms.create_key().set_tags(Some(many)).send().await,
        "TagException",
    );
    assert_eq!(e.message(), Some("Too many tags"));
    for prefix in ["aws:x", "AWS:x", "Aws:x"] {
        let e = expect_err(
            kms.create_key().tags(tag(prefix)).send().await,
            "TagException",
        );
        assert_eq!(e.message(), Some("Tags beginning with aws: are reserved"));
    }
    let e = expect_err(
        kms.create_key()
            .tags(tag("dup"))
            .tags(tag("dup"))
            .send()
            .await,
        "TagException",
    );
    assert_eq!(e.message(), Some("Duplicate tag keys"));
    let long = "k".repeat(129);
    let e = expect_err(
        kms.create_key().tags(tag(&long)).send().await,
        "ValidationException",
    );
    assert!(
        e.message().unwrap().contains("'tags.1.member.tagKey'"),
        "{e:?}"
    );
}

#[tokio::test]
async fn rsa_limits_reencrypt_to_rsa_and_key_material_ids() {
    let srv = Server::dev();
    let kms = srv.kms(PRIMARY);
    let rsa = kms
        .create_key()
        .key_spec(KeySpec::Rsa2048)
        .key_usage(KeyUsageType::EncryptDecrypt)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .clone();
    assert_eq!(
        rsa.current_key_material_id(),
        None,
        "only symmetric keys have one"
    );
    let e = expect_err(
        kms.encrypt()
            .key_id(rsa.key_id())
            .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha1)
            .plaintext(Blob::new(vec![1u8; 215]))
            .send()
            .await,
        "ValidationException",
    );
    assert_eq!(
        e.message(),
        Some("Algorithm RSAES_OAEP_SHA_1 and key spec RSA_2048 cannot encrypt data larger than 214 bytes.")
    );
    // Symmetric → RSA and back.
    let sym = kms.create_key().send().await.unwrap();
    let sym_id = sym.key_metadata().unwrap().key_id().to_string();
    assert!(sym
        .key_metadata()
        .unwrap()
        .current_key_material_id()
        .is_some());
    let ct = kms
        .encrypt()
        .key_id(&sym_id)
        .plaintext(Blob::new(b"move me".to_vec()))
        .send()
        .await
        .unwrap();
    let re = kms
        .re_encrypt()
        .ciphertext_blob(ct.ciphertext_blob().unwrap().clone())
        .destination_key_id(rsa.key_id())
        .destination_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .unwrap();
    assert_eq!(
        re.destination_encryption_algorithm(),
        Some(&EncryptionAlgorithmSpec::RsaesOaepSha256)
    );
    assert!(re.source_key_material_id().is_some());
    assert_eq!(re.destination_key_material_id(), None);
    let back = kms
        .re_encrypt()
        .ciphertext_blob(re.ciphertext_blob().unwrap().clone())
        .source_key_id(rsa.key_id())
        .source_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .destination_key_id(&sym_id)
        .send()
        .await
        .unwrap();
    let plain = kms
        .decrypt()
        .ciphertext_blob(back.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"move me");
    // Decrypt with another key than the ciphertext's.
    let other = kms.create_key().send().await.unwrap();
    let e = expect_err(
        kms.decrypt()
            .key_id(other.key_metadata().unwrap().key_id())
            .ciphertext_blob(ct.ciphertext_blob().unwrap().clone())
            .send()
            .await,
        "IncorrectKeyException",
    );
    assert_eq!(
        e.message(),
        Some("The key ID in the request does not identify a CMK that can perform this operation.")
    );
}

#[tokio::test]
async fn hmac_keys_need_a_key_usage_and_the_matching_algorithm() {
    let srv = Server::dev();
    let kms = srv.kms(PRIMARY);
    let e = expect_err(
        kms.create_key().key_spec(KeySpec::Hmac224).send().await,
        "ValidationException",
    );
    assert_eq!(
        e.message(),
        Some("You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.")
    );
    let md = kms
        .create_key()
        .key_spec(KeySpec::Hmac224)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .clone();
    assert_eq!(md.current_key_material_id(), None);
    let e = expect_err(
        kms.generate_mac()
            .key_id(md.key_id())
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .message(Blob::new(b"m".to_vec()))
            .send()
            .await,
        "InvalidKeyUsageException",
    );
    assert_eq!(
        e.message(),
        Some("Algorithm HMAC_SHA_256 is incompatible with key spec HMAC_224.")
    );
}

#[tokio::test]
async fn replicate_key_of_a_replica_and_replica_tags() {
    let srv = Server::dev();
    let kms = srv.kms(PRIMARY);
    let id = kms
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    let body = format!(r#"{{"KeyId":"{id}","ReplicaRegion":"{REPLICA}"}}"#);
    let r = srv.signed_json(SignedJson::kms("ReplicateKey", body.as_bytes()));
    assert_eq!(r.status, 200, "{}", r.body_str());
    assert!(r.json().get("ReplicaTags").is_none(), "{}", r.body_str());
    let replica = srv.kms(REPLICA);
    eventually(
        "replica Enabled",
        std::time::Duration::from_secs(15),
        || async {
            let md = replica.describe_key().key_id(&id).send().await.ok()?;
            (md.key_metadata()?.key_state() == Some(&aws_sdk_kms::types::KeyState::Enabled))
                .then_some(())
        },
    )
    .await;
    let account = srv.account_id().await;
    let replica_arn = format!("arn:aws:kms:{REPLICA}:{account}:key/{id}");
    let e = expect_err(
        replica
            .replicate_key()
            .key_id(&id)
            .replica_region("us-east-1")
            .send()
            .await,
        "UnsupportedOperationException",
    );
    assert_eq!(
        e.message(),
        Some(format!("{replica_arn} is not a multi-region primary key.").as_str())
    );
}

// ----- ListSecrets filters (AWS's answers as recorded by moto's and LocalStack's AWS-validated tests)

async fn listed(
    sm: &aws_sdk_secretsmanager::Client,
    filters: &[(&str, &[&str])],
) -> std::collections::BTreeSet<String> {
    use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
    let mut req = sm.list_secrets();
    for (k, vs) in filters {
        req = req.filters(
            Filter::builder()
                .key(FilterNameStringType::from(*k))
                .set_values(Some(vs.iter().map(|v| v.to_string()).collect()))
                .build(),
        );
    }
    req.send()
        .await
        .unwrap()
        .secret_list()
        .iter()
        .filter_map(|s| s.name().map(str::to_string))
        .collect()
}

fn names(ns: &[&str]) -> std::collections::BTreeSet<String> {
    ns.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn list_secrets_filters_match_as_aws_does() {
    let srv = Server::dev();
    let sm = srv.secrets(PRIMARY);
    for (name, desc) in [
        ("testing1/one", "a secret"),
        ("/testing2/two", "an secret"),
        ("testing3/three", "asecret"),
        ("/testing4/four", "thesecret"),
    ] {
        sm.create_secret()
            .name(name)
            .description(desc)
            .secret_string("s")
            .send()
            .await
            .unwrap();
    }
    let (one, two, three, four) = (
        "testing1/one",
        "/testing2/two",
        "testing3/three",
        "/testing4/four",
    );
    // name: a case-sensitive prefix of the whole name, `/` included, spaces not splitting.
    assert_eq!(listed(&sm, &[("name", &["/"])]).await, names(&[two, four]));
    assert_eq!(
        listed(&sm, &[("name", &["!/"])]).await,
        names(&[one, three])
    );
    assert_eq!(
        listed(&sm, &[("name", &["/testing2/"])]).await,
        names(&[two])
    );
    assert!(listed(&sm, &[("name", &["testing1 one"])]).await.is_empty());
    assert!(listed(&sm, &[("name", &["Testing1"])]).await.is_empty());
    // Several values in one filter: OR.
    assert_eq!(
        listed(&sm, &[("name", &["testing1", "/testing4"])]).await,
        names(&[one, four])
    );
    // description: every word of the value begins a word of the description, any case.
    assert_eq!(
        listed(&sm, &[("description", &["a"])]).await,
        names(&[one, two, three])
    );
    assert_eq!(
        listed(&sm, &[("description", &["!a"])]).await,
        names(&[four])
    );
    assert_eq!(
        listed(&sm, &[("description", &["A Secret"])]).await,
        names(&[one, two])
    );
    assert_eq!(
        listed(&sm, &[("description", &["!c"])]).await,
        names(&[one, two, three, four])
    );
    // Filters (a key given twice too) combine with AND.
    assert!(
        listed(&sm, &[("description", &["a"]), ("name", &["secret"])])
            .await
            .is_empty()
    );
    assert_eq!(
        listed(&sm, &[("description", &["a"]), ("description", &["an"])]).await,
        names(&[two])
    );
    assert!(listed(&sm, &[("owning-service", &["secretsmanager"])])
        .await
        .is_empty());
}

#[tokio::test]
async fn list_secrets_all_filter_splits_words_at_case_and_punctuation() {
    let srv = Server::dev();
    let sm = srv.secrets(PRIMARY);
    let special = [
        "prod/AppBeta/x1",
        "prod_AppBeta_x1",
        "prod+AppBeta+x1",
        "prod=AppBeta=x1",
        "prod.AppBeta.x1",
        "prod@AppBeta@x1",
        "prod-AppBeta-x1",
    ];
    for n in special
        .iter()
        .chain(&["uat/COMPANY/x1", "uat/COMPANYthings/x1"])
    {
        sm.create_secret()
            .name(*n)
            .secret_string("s")
            .send()
            .await
            .unwrap();
    }
    sm.create_secret()
        .name("tagged")
        .secret_string("s")
        .tags(
            aws_sdk_secretsmanager::types::Tag::builder()
                .key("Owner")
                .value("TeamBlue")
                .build(),
        )
        .send()
        .await
        .unwrap();
    for q in ["AppBeta", "Beta", "beta", "AppBeta prod"] {
        assert_eq!(listed(&sm, &[("all", &[q])]).await, names(&special), "{q}");
    }
    assert!(listed(&sm, &[("all", &["+"])]).await.is_empty());
    assert_eq!(
        listed(&sm, &[("all", &["company"])]).await,
        names(&["uat/COMPANY/x1"])
    );
    assert!(listed(&sm, &[("all", &["things"])]).await.is_empty());
    assert_eq!(
        listed(&sm, &[("all", &["Ythings"])]).await,
        names(&["uat/COMPANYthings/x1"])
    );
    assert!(listed(&sm, &[("all", &["pany"])]).await.is_empty());
    assert_eq!(listed(&sm, &[("all", &["blue"])]).await, names(&["tagged"]));
    assert_eq!(
        listed(&sm, &[("all", &["owner"])]).await,
        names(&["tagged"])
    );
}

#[test]
fn list_secrets_invalid_filters_are_refused_with_aws_messages() {
    let srv = Server::dev();
    let r = srv.signed_json(SignedJson::secrets(
        "ListSecrets",
        br#"{"Filters":[{"Key":"invalid","Values":["foo"]}]}"#,
    ));
    assert_eq!(r.error_code(), "ValidationException");
    assert_eq!(
        r.error_message(),
        "1 validation error detected: Value 'invalid' at 'filters.1.member.key' failed to satisfy \
         constraint: Member must satisfy enum value set: [all, name, tag-key, description, \
         tag-value, primary-region, owning-service]"
    );
    let r = srv.signed_json(SignedJson::secrets(
        "ListSecrets",
        br#"{"Filters":[{"Values":["foo"]}]}"#,
    ));
    assert_eq!(r.error_code(), "InvalidParameterException");
    assert_eq!(r.error_message(), "Invalid filter key");
    let r = srv.signed_json(SignedJson::secrets(
        "ListSecrets",
        br#"{"Filters":[{"Key":"description"}]}"#,
    ));
    assert_eq!(r.error_code(), "InvalidParameterException");
    assert_eq!(
        r.error_message(),
        "Invalid filter values for key: description"
    );
}

// ----- KMS aliases ------------------------------------------------------------------------

#[tokio::test]
async fn list_aliases_shows_the_predefined_aws_aliases() {
    let srv = Server::dev();
    let kms = srv.kms(PRIMARY);
    let all = kms.list_aliases().limit(100).send().await.unwrap();
    let ebs = all
        .aliases()
        .iter()
        .find(|a| a.alias_name() == Some("alias/aws/ebs"))
        .expect("alias/aws/ebs listed");
    assert_eq!(
        ebs.alias_arn(),
        Some(format!("arn:aws:kms:{PRIMARY}:000000000000:alias/aws/ebs").as_str())
    );
    // Predefined, no AWS managed key yet: no TargetKeyId.
    assert_eq!(ebs.target_key_id(), None);
    for name in [
        "alias/aws/acm",
        "alias/aws/dynamodb",
        "alias/aws/elasticfilesystem",
        "alias/aws/lambda",
        "alias/aws/rds",
        "alias/aws/s3",
        "alias/aws/secretsmanager",
        "alias/aws/ssm",
    ] {
        assert!(
            all.aliases().iter().any(|a| a.alias_name() == Some(name)),
            "{name}"
        );
    }
    // First use makes the AWS managed key: DescribeKey of the predefined alias.
    let d = kms
        .describe_key()
        .key_id("alias/aws/ebs")
        .send()
        .await
        .unwrap();
    let md = d.key_metadata().unwrap();
    assert_eq!(
        md.key_manager(),
        Some(&aws_sdk_kms::types::KeyManagerType::Aws)
    );
    let all = kms.list_aliases().limit(100).send().await.unwrap();
    let ebs: Vec<_> = all
        .aliases()
        .iter()
        .filter(|a| a.alias_name() == Some("alias/aws/ebs"))
        .collect();
    assert_eq!(ebs.len(), 1);
    assert_eq!(ebs[0].target_key_id(), Some(md.key_id()));
    // Secrets Manager's first secret makes aws/secretsmanager's key.
    srv.secrets(PRIMARY)
        .create_secret()
        .name("s")
        .secret_string("v")
        .send()
        .await
        .unwrap();
    let sm = kms
        .list_aliases()
        .limit(100)
        .send()
        .await
        .unwrap()
        .aliases()
        .iter()
        .find(|a| a.alias_name() == Some("alias/aws/secretsmanager"))
        .cloned()
        .unwrap();
    assert!(sm.target_key_id().is_some());
}

#[tokio::test]
async fn alias_names_are_validated_with_aws_messages() {
    let srv = Server::dev();
    let kms = srv.kms(PRIMARY);
    let key = kms.create_key().send().await.unwrap();
    let key = key.key_metadata().unwrap().key_id().to_string();
    for name in ["alias/my-alias!", "alias/my-alias$", "alias/my-alias@"] {
        let e = expect_err(
            kms.create_alias()
                .alias_name(name)
                .target_key_id(&key)
                .send()
                .await,
            "ValidationException",
        );
        assert_eq!(
            e.message(),
            Some(
                format!(
                    "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy \
                     constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
                )
                .as_str()
            )
        );
    }
    let e = expect_err(
        kms.create_alias()
            .alias_name("alias/my:alias")
            .target_key_id(&key)
            .send()
            .await,
        "ValidationException",
    );
    assert_eq!(
        e.message(),
        Some("alias/my:alias contains invalid characters for an alias")
    );
    let e = expect_err(
        kms.create_alias()
            .alias_name("wrongprefix/my-alias")
            .target_key_id(&key)
            .send()
            .await,
        "ValidationException",
    );
    assert_eq!(
        e.message(),
        Some(
            "Alias must start with the prefix \"alias/\". Please see \
             https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"
        )
    );
    for reserved in ["alias/aws/ebs", "alias/aws/s3", "alias/aws/mine"] {
        let e = expect_err(
            kms.create_alias()
                .alias_name(reserved)
                .target_key_id(&key)
                .send()
                .await,
            "NotAuthorizedException",
        );
        assert_eq!(e.message(), None, "{reserved}");
    }
    kms.create_alias()
        .alias_name("alias/my-alias_/")
        .target_key_id(&key)
        .send()
        .await
        .unwrap();
    let e = expect_err(
        kms.create_alias()
            .alias_name("alias/other")
            .target_key_id("alias/my-alias_/")
            .send()
            .await,
        "ValidationException",
    );
    assert_eq!(e.message(), Some("Aliases must refer to keys. Not aliases"));
}

#[tokio::test]
async fn rotate_on_demand_of_asymmetric_and_malformed_shared_secret_keys() {
    let srv = Server::dev();
    let kms = srv.kms(PRIMARY);
    for (spec, usage) in [
        (KeySpec::Rsa4096, KeyUsageType::EncryptDecrypt),
        (KeySpec::EccNistP256, KeyUsageType::SignVerify),
        (KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac),
    ] {
        let k = kms
            .create_key()
            .key_spec(spec.clone())
            .key_usage(usage)
            .send()
            .await
            .unwrap();
        let e = expect_err(
            kms.rotate_key_on_demand()
                .key_id(k.key_metadata().unwrap().key_id())
                .send()
                .await,
            "UnsupportedOperationException",
        );
        assert_eq!(e.message(), None, "{spec:?}");
    }
    let k = kms
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::KeyAgreement)
        .send()
        .await
        .unwrap();
    let e = expect_err(
        kms.derive_shared_secret()
            .key_id(k.key_metadata().unwrap().key_id())
            .key_agreement_algorithm(aws_sdk_kms::types::KeyAgreementAlgorithmSpec::Ecdh)
            .public_key(Blob::new(b"InvalidPublicKey".to_vec()))
            .send()
            .await,
        "ValidationException",
    );
    assert_eq!(e.message(), None);
}

#[tokio::test]
async fn decrypts_rsa_oaep_sha1_made_offline_with_the_public_key() {
    use aws_lc_rs::rsa::{
        OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
    };
    let srv = Server::dev();
    let kms = srv.kms(PRIMARY);
    for spec in [KeySpec::Rsa2048, KeySpec::Rsa3072, KeySpec::Rsa4096] {
        let k = kms
            .create_key()
            .key_spec(spec.clone())
            .key_usage(KeyUsageType::EncryptDecrypt)
            .send()
            .await
            .unwrap();
        let id = k.key_metadata().unwrap().key_id().to_string();
        let der = kms.get_public_key().key_id(&id).send().await.unwrap();
        let der = der.public_key().unwrap().as_ref().to_vec();
        let key =
            OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(&der).unwrap()).unwrap();
        for (alg, oaep) in [
            (EncryptionAlgorithmSpec::RsaesOaepSha1, &OAEP_SHA1_MGF1SHA1),
            (
                EncryptionAlgorithmSpec::RsaesOaepSha256,
                &OAEP_SHA256_MGF1SHA256,
            ),
        ] {
            let mut out = vec![0u8; key.ciphertext_size()];
            let ct = key
                .encrypt(oaep, b"made offline", &mut out, None)
                .unwrap()
                .to_vec();
            let d = kms
                .decrypt()
                .key_id(&id)
                .encryption_algorithm(alg.clone())
                .ciphertext_blob(Blob::new(ct))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{spec:?} {alg:?}: {e:?}"));
            assert_eq!(d.plaintext().unwrap().as_ref(), b"made offline");
            assert_eq!(d.encryption_algorithm(), Some(&alg));
        }
    }
}

#[tokio::test]
async fn get_random_password_honours_every_flag_combination() {
    let srv = Server::dev();
    let sm = srv.secrets(PRIMARY);
    const PUNCT: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    for bits in 0u8..32 {
        let (xl, xu, xn, xp, space) = (
            bits & 1 != 0,
            bits & 2 != 0,
            bits & 4 != 0,
            bits & 8 != 0,
            bits & 16 != 0,
        );
        let classes: Vec<fn(char) -> bool> = [
            (!xl).then_some((|c: char| c.is_ascii_lowercase()) as fn(char) -> bool),
            (!xu).then_some((|c: char| c.is_ascii_uppercase()) as fn(char) -> bool),
            (!xn).then_some((|c: char| c.is_ascii_digit()) as fn(char) -> bool),
            (!xp).then_some((|c: char| PUNCT.contains(c)) as fn(char) -> bool),
            space.then_some((|c: char| c == ' ') as fn(char) -> bool),
        ]
        .into_iter()
        .flatten()
        .collect();
        let req = || {
            sm.get_random_password()
                .exclude_lowercase(xl)
                .exclude_uppercase(xu)
                .exclude_numbers(xn)
                .exclude_punctuation(xp)
                .include_space(space)
        };
        if classes.is_empty() {
            let e = expect_err(req().send().await, "InvalidParameterException");
            assert_eq!(
                e.message(),
                Some("Password length is too short based on the required types.")
            );
            continue;
        }
        // RequireEachIncludedType (default true): every included class appears, nothing else.
        let pw = req()
            .password_length(i64::try_from(classes.len()).unwrap())
            .send()
            .await
            .unwrap();
        let pw = pw.random_password().unwrap();
        assert_eq!(pw.chars().count(), classes.len(), "{bits:05b}");
        assert!(
            pw.chars().all(|c| classes.iter().any(|f| f(c))),
            "{bits:05b} {pw:?}"
        );
        assert!(
            classes.iter().all(|f| pw.chars().any(f)),
            "{bits:05b} {pw:?}"
        );
        // Too short for one of each: refused; without RequireEachIncludedType it is fine.
        if classes.len() > 1 {
            let short = i64::try_from(classes.len() - 1).unwrap();
            let e = expect_err(
                req().password_length(short).send().await,
                "InvalidParameterException",
            );
            assert_eq!(
                e.message(),
                Some("Password length is too short based on the required types.")
            );
            let pw = req()
                .password_length(short)
                .require_each_included_type(false)
                .send()
                .await
                .unwrap();
            assert_eq!(
                pw.random_password().unwrap().chars().count(),
                classes.len() - 1
            );
        }
    }
    // Excluding every character of the remaining classes by ExcludeCharacters is the same
    // impossible request.
    let e = expect_err(
        sm.get_random_password()
            .exclude_lowercase(true)
            .exclude_uppercase(true)
            .exclude_punctuation(true)
            .exclude_characters("0123456789")
            .send()
            .await,
        "InvalidParameterException",
    );
    assert_eq!(
        e.message(),
        Some("Password length is too short based on the required types.")
    );
}
