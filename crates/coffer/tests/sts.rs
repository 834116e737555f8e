//! STS beyond AssumeRole's basics (issue 13, ADR 0018): GetSessionToken and GetFederationToken
//! with the AWS SDK for Rust and the AWS CLI; AssumeRole's session tags (`aws:PrincipalTag` in a
//! key policy, `sts:TagSession` in the trust policy, transitive tags in a role chain), external
//! ID, source identity (set, shown, kept and unchangeable in a chain) and the role-chaining
//! duration cap; GetContextKeysForCustomPolicy / GetContextKeysForPrincipalPolicy.
// `PackedPolicySize` is what Coffer answers; the SDK marks it deprecated.
#![allow(clippy::unwrap_used, clippy::expect_used, deprecated)]

mod common;

use aws_credential_types::Credentials;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_sts::types::Tag;
use common::*;
use serde_json::{json, Value};

fn temporary(c: &aws_sdk_sts::types::Credentials, name: &'static str) -> Credentials {
    Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        name,
    )
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build().unwrap()
}

async fn encrypts(server: &Server, creds: &Credentials, key: &str) -> Result<(), String> {
    server
        .kms_with(PRIMARY, creds.clone())
        .encrypt()
        .key_id(key)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            format!(
                "{}: {}",
                e.code().unwrap_or_default(),
                e.message().unwrap_or_default()
            )
        })
}

#[tokio::test]
async fn session_tokens_and_federated_users() {
    let mut server = Server::secure();
    let account = server.account_id().await;
    let iam = server.iam();
    let key = server
        .kms(PRIMARY)
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let secret = server
        .secrets(PRIMARY)
        .create_secret()
        .name("app/db")
        .secret_string("pw")
        .kms_key_id(&key)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let user = iam
        .create_user()
        .user_name("app")
        .send()
        .await
        .unwrap()
        .user()
        .unwrap()
        .clone();
    let user_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": &key},
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": &secret},
        {"Effect": "Allow", "Action": ["sts:GetFederationToken", "sts:TagSession"], "Resource": "*",
         "Condition": {"StringLike": {"aws:username": "app"}}}]});
    iam.put_user_policy()
        .user_name("app")
        .policy_name("app")
        .policy_document(user_policy.to_string())
        .send()
        .await
        .unwrap();
    let k = iam
        .create_access_key()
        .user_name("app")
        .send()
        .await
        .unwrap()
        .access_key()
        .unwrap()
        .clone();
    let (ak, sk) = (k.access_key_id(), k.secret_access_key());
    let user_sts = server.sts_as(PRIMARY, ak, sk);

    // GetSessionToken: the user's own permissions, twelve hours by default.
    let before = std::time::SystemTime::now();
    let out = user_sts.get_session_token().send().await.unwrap();
    let c = out.credentials().unwrap();
    assert!(c.access_key_id().starts_with("ASIA"));
    let lasts = std::time::SystemTime::try_from(*c.expiration())
        .unwrap()
        .duration_since(before)
        .unwrap()
        .as_secs();
    assert!((43_100..=43_300).contains(&lasts), "{lasts}");
    let session = temporary(c, "session-token");
    let who = server
        .sts_with(PRIMARY, session.clone())
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.arn(), Some(user.arn()));
    assert_eq!(who.user_id(), Some(user.user_id()));
    encrypts(&server, &session, &key).await.unwrap();
    let value = server
        .secrets_with(PRIMARY, session.clone())
        .get_secret_value()
        .secret_id(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(value.secret_string(), Some("pw"));
    let e = expect_err(
        server
            .secrets_with(PRIMARY, session.clone())
            .list_secrets()
            .send()
            .await,
        "AccessDeniedException",
    );
    assert!(e.message().unwrap().starts_with(&format!(
        "User: {} is not authorized to perform: secretsmanager:ListSecrets",
        user.arn()
    )));
    // No IAM without MFA; of STS, AssumeRole and GetCallerIdentity only.
    let e = expect_err(
        server.iam_with(session.clone()).list_users().send().await,
        "InvalidClientTokenId",
    );
    assert_eq!(
        e.message(),
        Some("The security token included in the request is invalid")
    );
    let e = expect_err(
        server
            .sts_with(PRIMARY, session.clone())
            .get_session_token()
            .send()
            .await,
        "AccessDenied",
    );
    assert_eq!(
        e.message(),
        Some("Cannot call GetSessionToken with session credentials")
    );
    // MFA: Coffer has no MFA devices, so no serial number is the user's.
    let e = expect_err(
        user_sts
            .get_session_token()
            .serial_number(format!("arn:aws:iam::{account}:mfa/app"))
            .token_code("123456")
            .send()
            .await,
        "AccessDenied",
    );
    assert!(e
        .message()
        .unwrap()
        .starts_with("MultiFactorAuthentication failed, unable to validate MFA code."));
    expect_err(
        user_sts
            .get_session_token()
            .duration_seconds(899)
            .send()
            .await,
        "ValidationError",
    );
    // The root user's sessions last an hour at most.
    let out = server
        .sts(PRIMARY)
        .get_session_token()
        .duration_seconds(7200)
        .send()
        .await
        .unwrap();
    let lasts = std::time::SystemTime::try_from(*out.credentials().unwrap().expiration())
        .unwrap()
        .duration_since(before)
        .unwrap()
        .as_secs();
    assert!(lasts <= 3700, "{lasts}");
    let root_session = temporary(out.credentials().unwrap(), "root-session");
    let who = server
        .sts_with(PRIMARY, root_session.clone())
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(
        who.arn(),
        Some(format!("arn:aws:iam::{account}:root").as_str())
    );
    encrypts(&server, &root_session, &key).await.unwrap();

    // GetFederationToken: the intersection of the user's policies and the session policy.
    let out = user_sts
        .get_federation_token()
        .name("proxy")
        .policy(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": ["kms:Encrypt", "secretsmanager:ListSecrets"], "Resource": "*"}]})
            .to_string(),
        )
        .tags(tag("team", "blue"))
        .send()
        .await
        .unwrap();
    let fed_arn = format!("arn:aws:sts::{account}:federated-user/proxy");
    let fu = out.federated_user().unwrap();
    assert_eq!(fu.arn(), fed_arn);
    assert_eq!(fu.federated_user_id(), format!("{account}:proxy"));
    assert!(out.packed_policy_size().is_some());
    let fed = temporary(out.credentials().unwrap(), "federated");
    let who = server
        .sts_with(PRIMARY, fed.clone())
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.arn(), Some(fed_arn.as_str()));
    assert_eq!(who.user_id(), Some(format!("{account}:proxy").as_str()));
    // Allowed by both.
    encrypts(&server, &fed, &key).await.unwrap();
    let blob = server
        .kms(PRIMARY)
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    // The user may decrypt, the session policy does not say so.
    let e = expect_err(
        server
            .kms_with(PRIMARY, fed.clone())
            .decrypt()
            .ciphertext_blob(blob)
            .send()
            .await,
        "AccessDeniedException",
    );
    assert!(e.message().unwrap().starts_with(&format!(
        "User: {fed_arn} is not authorized to perform: kms:Decrypt"
    )));
    // The session policy allows ListSecrets, the user's policies do not.
    expect_err(
        server
            .secrets_with(PRIMARY, fed.clone())
            .list_secrets()
            .send()
            .await,
        "AccessDeniedException",
    );
    // No IAM at all, and of STS only GetCallerIdentity.
    expect_err(
        server.iam_with(fed.clone()).list_users().send().await,
        "InvalidClientTokenId",
    );
    expect_err(
        server
            .sts_with(PRIMARY, fed.clone())
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/any"))
            .role_session_name("s1")
            .send()
            .await,
        "AccessDenied",
    );
    let e = expect_err(
        server
            .sts_with(PRIMARY, fed.clone())
            .get_federation_token()
            .name("again")
            .send()
            .await,
        "AccessDenied",
    );
    assert_eq!(
        e.message(),
        Some("Cannot call GetFederationToken with session credentials")
    );
    // Managed session policies (PolicyArns) count like an inline one.
    let encrypt_policy = iam
        .create_policy()
        .policy_name("encrypt-only")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": "kms:Encrypt", "Resource": "*"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap()
        .policy()
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let out = user_sts
        .get_federation_token()
        .name("managed")
        .policy_arns(
            aws_sdk_sts::types::PolicyDescriptorType::builder()
                .arn(&encrypt_policy)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let managed = temporary(out.credentials().unwrap(), "managed");
    encrypts(&server, &managed, &key).await.unwrap();
    expect_err(
        server
            .secrets_with(PRIMARY, managed.clone())
            .get_secret_value()
            .secret_id(&secret)
            .send()
            .await,
        "AccessDeniedException",
    );
    // No session policy: no permissions.
    let out = user_sts
        .get_federation_token()
        .name("bare")
        .send()
        .await
        .unwrap();
    let bare = temporary(out.credentials().unwrap(), "bare");
    let denied = encrypts(&server, &bare, &key).await.unwrap_err();
    assert!(denied.starts_with("AccessDeniedException"), "{denied}");
    // A user whose policies do not allow sts:GetFederationToken.
    iam.create_user().user_name("other").send().await.unwrap();
    let k2 = iam
        .create_access_key()
        .user_name("other")
        .send()
        .await
        .unwrap()
        .access_key()
        .unwrap()
        .clone();
    let e = expect_err(
        server
            .sts_as(PRIMARY, k2.access_key_id(), k2.secret_access_key())
            .get_federation_token()
            .name("proxy")
            .send()
            .await,
        "AccessDenied",
    );
    assert_eq!(
        e.message().unwrap(),
        format!("User: arn:aws:iam::{account}:user/other is not authorized to perform: sts:GetFederationToken on resource: {fed_arn} because no identity-based policy allows the sts:GetFederationToken action")
    );
    expect_err(
        user_sts.get_federation_token().name("x").send().await,
        "ValidationError",
    );

    // GetContextKeysFor*: what the user's policies and a given one refer to.
    let keys = iam
        .get_context_keys_for_principal_policy()
        .policy_source_arn(user.arn())
        .policy_input_list(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*",
                "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}}}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        keys.context_key_names(),
        ["aws:username", "aws:PrincipalTag/team"]
    );
    let e = expect_err(
        iam.get_context_keys_for_principal_policy()
            .policy_source_arn(format!("arn:aws:iam::{account}:user/nobody"))
            .send()
            .await,
        "NoSuchEntity",
    );
    assert_eq!(
        e.message(),
        Some("The user with name nobody cannot be found.")
    );

    // Sessions survive a crash: the federated user is still itself, with the intersection; the
    // GetSessionToken session still the user, still without IAM.
    server.crash_restart();
    let who = server
        .sts_with(PRIMARY, fed.clone())
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.arn(), Some(fed_arn.as_str()));
    encrypts(&server, &fed, &key).await.unwrap();
    expect_err(
        server
            .secrets_with(PRIMARY, fed.clone())
            .list_secrets()
            .send()
            .await,
        "AccessDeniedException",
    );
    let denied = encrypts(&server, &bare, &key).await.unwrap_err();
    assert!(denied.starts_with("AccessDeniedException"), "{denied}");
    expect_err(
        server.iam_with(session.clone()).list_users().send().await,
        "InvalidClientTokenId",
    );
    let who = server
        .sts_with(PRIMARY, session.clone())
        .get_caller_identity()
        .send()
        .await
        .unwrap();
    assert_eq!(who.arn(), Some(user.arn()));

    // The AWS CLI, as users run it.
    if !have_aws_cli() {
        eprintln!("skipping the AWS CLI part: aws is not installed");
        return;
    }
    let env = [
        ("AWS_ACCESS_KEY_ID", ak),
        ("AWS_SECRET_ACCESS_KEY", sk),
        ("AWS_DEFAULT_REGION", PRIMARY),
    ];
    let out = aws_cli(
        &server,
        &["sts", "get-session-token", "--duration-seconds", "900"],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let c = &v["Credentials"];
    let session_env = [
        ("AWS_ACCESS_KEY_ID", c["AccessKeyId"].as_str().unwrap()),
        (
            "AWS_SECRET_ACCESS_KEY",
            c["SecretAccessKey"].as_str().unwrap(),
        ),
        ("AWS_SESSION_TOKEN", c["SessionToken"].as_str().unwrap()),
        ("AWS_DEFAULT_REGION", PRIMARY),
    ];
    let out = aws_cli(&server, &["sts", "get-caller-identity"], &session_env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Arn"], user.arn());
    let out = aws_cli(&server, &["iam", "list-users"], &session_env);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("InvalidClientTokenId"));
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Action": "kms:Encrypt", "Resource": "*"}]})
    .to_string();
    let out = aws_cli(
        &server,
        &[
            "sts",
            "get-federation-token",
            "--name",
            "cli-proxy",
            "--policy",
            &policy,
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["FederatedUser"]["Arn"],
        format!("arn:aws:sts::{account}:federated-user/cli-proxy")
    );
    let c = &v["Credentials"];
    let fed_env = [
        ("AWS_ACCESS_KEY_ID", c["AccessKeyId"].as_str().unwrap()),
        (
            "AWS_SECRET_ACCESS_KEY",
            c["SecretAccessKey"].as_str().unwrap(),
        ),
        ("AWS_SESSION_TOKEN", c["SessionToken"].as_str().unwrap()),
        ("AWS_DEFAULT_REGION", PRIMARY),
    ];
    let out = aws_cli(
        &server,
        &[
            "kms",
            "encrypt",
            "--key-id",
            &key,
            "--plaintext",
            "aGVsbG8=",
        ],
        &fed_env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = aws_cli(
        &server,
        &[
            "iam",
            "get-context-keys-for-custom-policy",
            "--policy-input-list",
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"arn:aws:dynamodb:us-west-2:123456789012:table/${aws:username}","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2015-08-16T12:00:00Z"}}}}"#,
        ],
        &env_root(&server)
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        json!({"ContextKeyNames": ["aws:username", "aws:CurrentTime"]})
    );
}

fn env_root(server: &Server) -> [(&'static str, String); 3] {
    let (ak, sk) = server.root_credentials();
    [
        ("AWS_ACCESS_KEY_ID", ak),
        ("AWS_SECRET_ACCESS_KEY", sk),
        ("AWS_DEFAULT_REGION", PRIMARY.to_string()),
    ]
}

/// A role with the trust policy `trust` and sessions of up to 12 hours.
async fn role(server: &Server, name: &str, trust: Value) -> String {
    server
        .iam()
        .create_role()
        .role_name(name)
        .max_session_duration(43_200)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_string()
}

fn trust(principal: &str, actions: &[&str], condition: Option<Value>) -> Value {
    let mut s = json!({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": actions});
    if let Some(c) = condition {
        s["Condition"] = c;
    }
    json!({"Version": "2012-10-17", "Statement": [s]})
}

#[tokio::test]
async fn assume_role_tags_external_id_and_source_identity() {
    let mut server = Server::secure();
    let account = server.account_id().await;
    let root = format!("arn:aws:iam::{account}:root");
    let all = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"];
    let tagged = role(&server, "tagged", trust(&root, &all, None)).await;
    let untagged = role(&server, "untagged", trust(&root, &["sts:AssumeRole"], None)).await;
    let external = role(
        &server,
        "external",
        trust(
            &root,
            &["sts:AssumeRole"],
            Some(json!({"StringEquals": {"sts:ExternalId": "x-7731"}})),
        ),
    )
    .await;
    let first = role(&server, "first", trust(&root, &all, None)).await;
    let second = role(&server, "second", trust(&first, &all, None)).await;
    // A key whose policy lets sessions of `tagged` and `second` encrypt when their
    // principal tag `team` is `blue`.
    let key_policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": &root}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": [&tagged, &second]}, "Action": "kms:Encrypt",
         "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "blue"}}},
        {"Effect": "Allow", "Principal": {"AWS": &second}, "Action": "kms:DescribeKey",
         "Resource": "*", "Condition": {"StringEquals": {"aws:SourceIdentity": "alice"}}}]});
    let key = server
        .kms(PRIMARY)
        .create_key()
        .policy(key_policy.to_string())
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let sts = server.sts(PRIMARY);

    // Session tags: `team=blue` encrypts, `team=red` is denied.
    let blue = sts
        .assume_role()
        .role_arn(&tagged)
        .role_session_name("blue")
        .tags(tag("team", "blue"))
        .send()
        .await
        .unwrap();
    assert!(blue.packed_policy_size().is_some());
    encrypts(
        &server,
        &temporary(blue.credentials().unwrap(), "blue"),
        &key,
    )
    .await
    .unwrap();
    let red = sts
        .assume_role()
        .role_arn(&tagged)
        .role_session_name("red")
        .tags(tag("Team", "red"))
        .send()
        .await
        .unwrap();
    let denied = encrypts(&server, &temporary(red.credentials().unwrap(), "red"), &key)
        .await
        .unwrap_err();
    assert!(denied.starts_with("AccessDeniedException"), "{denied}");
    // Passing tags needs sts:TagSession in the trust policy.
    let e = expect_err(
        sts.assume_role()
            .role_arn(&untagged)
            .role_session_name("s1")
            .tags(tag("team", "blue"))
            .send()
            .await,
        "AccessDenied",
    );
    assert_eq!(
        e.message().unwrap(),
        format!(
            "User: {root} is not authorized to perform: sts:TagSession on resource: {untagged}"
        )
    );
    sts.assume_role()
        .role_arn(&untagged)
        .role_session_name("s1")
        .send()
        .await
        .unwrap();
    // Tag rules.
    expect_err(
        sts.assume_role()
            .role_arn(&tagged)
            .role_session_name("s1")
            .tags(tag("team", "blue"))
            .transitive_tag_keys("project")
            .send()
            .await,
        "InvalidParameterValue",
    );
    expect_err(
        sts.assume_role()
            .role_arn(&tagged)
            .role_session_name("s1")
            .tags(tag("team", "blue"))
            .tags(tag("TEAM", "red"))
            .send()
            .await,
        "InvalidParameterValue",
    );
    let mut too_many = sts.assume_role().role_arn(&tagged).role_session_name("s1");
    for i in 0..51 {
        too_many = too_many.tags(tag(&format!("k{i}"), "v"));
    }
    expect_err(too_many.send().await, "ValidationError");

    // ExternalId: only the right one.
    for given in [None, Some("x-0000")] {
        let mut req = sts
            .assume_role()
            .role_arn(&external)
            .role_session_name("s1");
        if let Some(g) = given {
            req = req.external_id(g);
        }
        expect_err(req.send().await, "AccessDenied");
    }
    sts.assume_role()
        .role_arn(&external)
        .role_session_name("s1")
        .external_id("x-7731")
        .send()
        .await
        .unwrap();

    // SourceIdentity: set on the first session, shown, kept along the chain, never changed.
    let e = expect_err(
        sts.assume_role()
            .role_arn(&untagged)
            .role_session_name("s1")
            .source_identity("alice")
            .send()
            .await,
        "AccessDenied",
    );
    assert!(e.message().unwrap().contains("sts:SetSourceIdentity"));
    let one = sts
        .assume_role()
        .role_arn(&first)
        .role_session_name("one")
        .source_identity("alice")
        .tags(tag("team", "blue"))
        .tags(tag("cost", "7"))
        .transitive_tag_keys("team")
        .send()
        .await
        .unwrap();
    assert_eq!(one.source_identity(), Some("alice"));
    let one_sts = server.sts_with(PRIMARY, temporary(one.credentials().unwrap(), "one"));
    let two = one_sts
        .assume_role()
        .role_arn(&second)
        .role_session_name("two")
        .send()
        .await
        .unwrap();
    assert_eq!(two.source_identity(), Some("alice"));
    let two_creds = temporary(two.credentials().unwrap(), "two");
    // The transitive tag came along; `aws:SourceIdentity` is the chain's.
    encrypts(&server, &two_creds, &key).await.unwrap();
    server
        .kms_with(PRIMARY, two_creds.clone())
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    let e = expect_err(
        one_sts
            .assume_role()
            .role_arn(&second)
            .role_session_name("two")
            .source_identity("mallory")
            .send()
            .await,
        "AccessDenied",
    );
    assert!(e.message().unwrap().contains("sts:SetSourceIdentity"));
    // A transitive tag cannot be overridden down the chain.
    expect_err(
        one_sts
            .assume_role()
            .role_arn(&second)
            .role_session_name("two")
            .tags(tag("team", "red"))
            .send()
            .await,
        "InvalidParameterValue",
    );
    // Role chaining: an hour at most.
    let e = expect_err(
        one_sts
            .assume_role()
            .role_arn(&second)
            .role_session_name("two")
            .duration_seconds(7200)
            .send()
            .await,
        "ValidationError",
    );
    assert_eq!(
        e.message(),
        Some("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
    );
    let short = server
        .iam()
        .create_role()
        .role_name("short")
        .assume_role_policy_document(trust(&root, &all, None).to_string())
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_string();
    let e = expect_err(
        sts.assume_role()
            .role_arn(&short)
            .role_session_name("long")
            .duration_seconds(7200)
            .send()
            .await,
        "ValidationError",
    );
    assert_eq!(
        e.message(),
        Some("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    );
    expect_err(
        sts.assume_role()
            .role_arn(&first)
            .role_session_name("s1")
            .source_identity("a")
            .send()
            .await,
        "ValidationError",
    );

    // Tags, transitive keys and the source identity survive a crash.
    server.crash_restart();
    encrypts(&server, &two_creds, &key).await.unwrap();
    server
        .kms_with(PRIMARY, two_creds.clone())
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    let one_sts = server.sts_with(PRIMARY, temporary(one.credentials().unwrap(), "one"));
    let again = one_sts
        .assume_role()
        .role_arn(&second)
        .role_session_name("three")
        .send()
        .await
        .unwrap();
    assert_eq!(again.source_identity(), Some("alice"));
    encrypts(
        &server,
        &temporary(again.credentials().unwrap(), "three"),
        &key,
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn federated_users_and_source_identities_in_the_audit_trail() {
    let mut server = Server::start(Options {
        config: Some("[audit]\nfile = \"audit/trail.jsonl\"\n".into()),
        ..Options::default()
    });
    let account = server.account_id().await;
    let root = format!("arn:aws:iam::{account}:root");
    let iam = server.iam();
    let user = iam
        .create_user()
        .user_name("broker")
        .send()
        .await
        .unwrap()
        .user()
        .unwrap()
        .clone();
    iam.put_user_policy()
        .user_name("broker")
        .policy_name("p")
        .policy_document(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": ["sts:GetFederationToken", "kms:ListKeys"], "Resource": "*"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let k = iam
        .create_access_key()
        .user_name("broker")
        .send()
        .await
        .unwrap()
        .access_key()
        .unwrap()
        .clone();
    let out = server
        .sts_as(PRIMARY, k.access_key_id(), k.secret_access_key())
        .get_federation_token()
        .name("client-7")
        .policy(
            json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                "Action": "kms:ListKeys", "Resource": "*"}]})
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    let c = out.credentials().unwrap();
    let mut sensitive = vec![
        c.secret_access_key().to_string(),
        c.session_token().to_string(),
    ];
    let fed = temporary(c, "federated");
    server
        .kms_with(PRIMARY, fed.clone())
        .list_keys()
        .send()
        .await
        .unwrap();

    let first = role(
        &server,
        "si-first",
        trust(&root, &["sts:AssumeRole", "sts:SetSourceIdentity"], None),
    )
    .await;
    let assumed = server
        .sts(PRIMARY)
        .assume_role()
        .role_arn(&first)
        .role_session_name("admin-task")
        .source_identity("alice")
        .send()
        .await
        .unwrap();
    let c = assumed.credentials().unwrap();
    sensitive.push(c.secret_access_key().to_string());
    sensitive.push(c.session_token().to_string());
    let session_ak = c.access_key_id().to_string();
    // The session's own calls carry the source identity (refused here: the role has no
    // policy; recorded all the same).
    let _ = server
        .kms_with(PRIMARY, temporary(c, "si"))
        .list_keys()
        .send()
        .await;
    let st = server
        .sts(PRIMARY)
        .get_session_token()
        .send()
        .await
        .unwrap();
    sensitive.push(st.credentials().unwrap().secret_access_key().to_string());
    sensitive.push(st.credentials().unwrap().session_token().to_string());
    let root_session = temporary(st.credentials().unwrap(), "root-session");
    server
        .kms_with(PRIMARY, root_session.clone())
        .list_keys()
        .send()
        .await
        .unwrap();

    server.terminate().expect("the server stops");
    let recs = common::audit::records(&server);
    let kms_calls = common::audit::find(&recs, "kms.amazonaws.com", "ListKeys", None);
    let by_fed = kms_calls
        .iter()
        .find(|r| r["userIdentity"]["type"] == "FederatedUser")
        .unwrap_or_else(|| panic!("no FederatedUser record: {kms_calls:#?}"));
    let who = &by_fed["userIdentity"];
    assert_eq!(who["principalId"], format!("{account}:client-7"));
    assert_eq!(
        who["arn"],
        format!("arn:aws:sts::{account}:federated-user/client-7")
    );
    assert_eq!(who["accessKeyId"], fed.access_key_id());
    let issuer = &who["sessionContext"]["sessionIssuer"];
    assert_eq!(issuer["type"], "IAMUser");
    assert_eq!(issuer["userName"], "broker");
    assert_eq!(issuer["principalId"], user.user_id());
    let gft = common::audit::find(&recs, "sts.amazonaws.com", "GetFederationToken", None);
    assert_eq!(gft.len(), 1);
    assert_eq!(
        gft[0]["responseElements"]["federatedUser"]["arn"],
        format!("arn:aws:sts::{account}:federated-user/client-7")
    );

    let ar = common::audit::find(&recs, "sts.amazonaws.com", "AssumeRole", None);
    assert_eq!(ar.len(), 1);
    assert_eq!(ar[0]["requestParameters"]["sourceIdentity"], "alice");
    assert_eq!(ar[0]["responseElements"]["sourceIdentity"], "alice");
    let by_session = recs
        .iter()
        .find(|r| r["userIdentity"]["accessKeyId"] == session_ak.as_str())
        .expect("a record of the session's call");
    assert_eq!(
        by_session["userIdentity"]["sessionContext"]["sourceIdentity"],
        "alice"
    );
    // The root user's GetSessionToken session: Root, with the session's attributes.
    let by_root_session = recs
        .iter()
        .find(|r| r["userIdentity"]["accessKeyId"] == root_session.access_key_id())
        .expect("a record of the root session's call");
    assert_eq!(by_root_session["userIdentity"]["type"], "Root");
    assert_eq!(
        by_root_session["userIdentity"]["sessionContext"]["attributes"]["mfaAuthenticated"],
        "false"
    );
    // No issued secret or token is anywhere in the trail.
    let trail: Vec<u8> = common::audit::segments(&server)
        .iter()
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect();
    for s in &sensitive {
        assert!(
            !contains_bytes(&trail, s.as_bytes()),
            "the trail holds a credential"
        );
    }
}
