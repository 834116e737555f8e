//! Cross-account use by ARN (issue #18, ADR 0017), with the AWS SDK for Rust on a `--dev` server:
//! account 111111111111 (A) owns KMS keys and secrets, 222222222222 (B) uses them by their ARNs,
//! as its root user and as a role session. Both accounts must allow: A's key policy (or a grant)
//! or secret resource policy, and B's own policies (B's root user implicitly).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aws_credential_types::Credentials;
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use common::*;

const A: &str = "111111111111";
const B: &str = "222222222222";
const C: &str = "333333333333";

fn root(account: &str) -> String {
    format!("arn:aws:iam::{account}:root")
}

/// A key policy: A's root may do everything; `extra` statements follow.
fn key_policy(extra: &[String]) -> String {
    let mut statements = vec![format!(
        r#"{{"Sid":"Owner","Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"kms:*","Resource":"*"}}"#,
        root(A)
    )];
    statements.extend(extra.iter().cloned());
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{}]}}"#,
        statements.join(",")
    )
}

fn allow(principal: &str, actions: &[&str]) -> String {
    let actions: Vec<String> = actions.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"{principal}"}},"Action":[{}],"Resource":"*"}}"#,
        actions.join(",")
    )
}

/// The actions B is allowed on A's shared key, the non-cross-account ones included (which
/// still fail: AWS ignores them for another account).
const SHARED_ACTIONS: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:DescribeKey",
    "kms:GetKeyRotationStatus",
    "kms:ListGrants",
    "kms:CreateGrant",
    "kms:ScheduleKeyDeletion",
    "kms:EnableKeyRotation",
    "kms:DisableKey",
    "kms:GetKeyPolicy",
    "kms:TagResource",
];

struct World {
    server: Server,
}

impl World {
    fn new() -> Self {
        Self {
            server: Server::dev(),
        }
    }

    fn kms(&self, account: &str) -> aws_sdk_kms::Client {
        self.server.kms_as(PRIMARY, account, "secret")
    }

    fn secrets(&self, account: &str) -> aws_sdk_secretsmanager::Client {
        self.server.secrets_as(PRIMARY, account, "secret")
    }

    fn iam(&self, account: &str) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::Config::builder()
                .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
                .region(aws_sdk_iam::config::Region::new("us-east-1"))
                .endpoint_url(&self.server.endpoint)
                .credentials_provider(Credentials::new(account, "secret", None, None, "test"))
                .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled())
                .build(),
        )
    }

    /// A key of A with `policy`; its ARN.
    async fn key(&self, policy: &str) -> String {
        self.kms(A)
            .create_key()
            .policy(policy)
            .send()
            .await
            .expect("CreateKey")
            .key_metadata()
            .expect("KeyMetadata")
            .arn()
            .expect("Arn")
            .to_string()
    }

    /// A role of B (trusting B) with the inline policy `allowing` these actions on `*` (none:
    /// no policy); a session of it.
    async fn role_session(&self, name: &str, allowing: &[&str]) -> (String, Session) {
        let iam = self.iam(B);
        let trust = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"sts:AssumeRole"}}]}}"#,
            root(B)
        );
        let arn = iam
            .create_role()
            .role_name(name)
            .assume_role_policy_document(trust)
            .send()
            .await
            .expect("CreateRole")
            .role()
            .expect("Role")
            .arn()
            .to_string();
        if !allowing.is_empty() {
            let actions: Vec<String> = allowing.iter().map(|a| format!("\"{a}\"")).collect();
            iam.put_role_policy()
                .role_name(name)
                .policy_name("use")
                .policy_document(format!(
                    r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":[{}],"Resource":"*"}}]}}"#,
                    actions.join(",")
                ))
                .send()
                .await
                .expect("PutRolePolicy");
        }
        let out = self
            .server
            .sts_as(PRIMARY, B, "secret")
            .assume_role()
            .role_arn(&arn)
            .role_session_name("ses")
            .send()
            .await
            .expect("AssumeRole");
        let c = out.credentials().expect("Credentials");
        let session = Session {
            creds: Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_string()),
                None,
                "assumed",
            ),
            endpoint: self.server.endpoint.clone(),
        };
        (arn, session)
    }
}

struct Session {
    creds: Credentials,
    endpoint: String,
}

impl Session {
    fn kms(&self) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::from_conf(
            aws_sdk_kms::Config::builder()
                .behavior_version(aws_sdk_kms::config::BehaviorVersion::latest())
                .region(aws_sdk_kms::config::Region::new(PRIMARY))
                .endpoint_url(&self.endpoint)
                .credentials_provider(self.creds.clone())
                .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
                .build(),
        )
    }

    fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::Config::builder()
                .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
                .region(aws_sdk_secretsmanager::config::Region::new(PRIMARY))
                .endpoint_url(&self.endpoint)
                .credentials_provider(self.creds.clone())
                .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
                .build(),
        )
    }
}

async fn encrypt(
    kms: &aws_sdk_kms::Client,
    key: &str,
    text: &[u8],
) -> Result<
    aws_sdk_kms::operation::encrypt::EncryptOutput,
    aws_sdk_kms::error::SdkError<aws_sdk_kms::operation::encrypt::EncryptError>,
> {
    kms.encrypt()
        .key_id(key)
        .plaintext(Blob::new(text))
        .send()
        .await
}

async fn decrypt(
    kms: &aws_sdk_kms::Client,
    blob: &[u8],
) -> Result<
    aws_sdk_kms::operation::decrypt::DecryptOutput,
    aws_sdk_kms::error::SdkError<aws_sdk_kms::operation::decrypt::DecryptError>,
> {
    kms.decrypt().ciphertext_blob(Blob::new(blob)).send().await
}

fn message<E: ProvideErrorMetadata>(e: &E) -> String {
    e.message().unwrap_or_default().to_string()
}

#[tokio::test]
async fn b_root_and_b_role_encrypt_and_decrypt_with_a_key_by_arn() {
    let w = World::new();
    let (role_arn, role) = w
        .role_session("user", &["kms:Encrypt", "kms:Decrypt"])
        .await;
    let key = w
        .key(&key_policy(&[
            allow(&root(B), SHARED_ACTIONS),
            allow(&role_arn, &["kms:Encrypt", "kms:Decrypt"]),
        ]))
        .await;
    assert!(key.contains(&format!(":{A}:key/")), "{key}");

    // B's root user: implicitly allowed by B, allowed by A's key policy.
    let out = encrypt(&w.kms(B), &key, b"from b")
        .await
        .expect("B encrypts");
    assert_eq!(out.key_id(), Some(key.as_str()), "the key is A's");
    let blob = out.ciphertext_blob().unwrap().as_ref().to_vec();
    // The ciphertext names its key: B decrypts without KeyId, and A reads B's ciphertext.
    let plain = decrypt(&w.kms(B), &blob).await.expect("B decrypts");
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"from b");
    assert_eq!(plain.key_id(), Some(key.as_str()));
    let plain = decrypt(&w.kms(A), &blob).await.expect("A decrypts");
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"from b");
    // With KeyId naming A's key by ARN too.
    let plain = w
        .kms(B)
        .decrypt()
        .key_id(&key)
        .ciphertext_blob(Blob::new(blob.clone()))
        .send()
        .await
        .expect("B decrypts naming the key");
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"from b");

    // A ciphertext A made, B decrypts.
    let from_a = encrypt(&w.kms(A), &key, b"from a")
        .await
        .expect("A encrypts");
    let plain = decrypt(&w.kms(B), from_a.ciphertext_blob().unwrap().as_ref())
        .await
        .expect("B decrypts A's ciphertext");
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"from a");

    // B's role: named by A's key policy and allowed by its own identity policy.
    let out = encrypt(&role.kms(), &key, b"from role")
        .await
        .expect("B's role encrypts");
    let plain = decrypt(&role.kms(), out.ciphertext_blob().unwrap().as_ref())
        .await
        .expect("B's role decrypts");
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"from role");

    // Other operations AWS allows across accounts, by the key ARN.
    let d = w
        .kms(B)
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .expect("DescribeKey");
    assert_eq!(
        d.key_metadata().unwrap().aws_account_id(),
        Some(A),
        "the key's account"
    );
    w.kms(B)
        .generate_data_key()
        .key_id(&key)
        .number_of_bytes(32)
        .send()
        .await
        .expect("GenerateDataKey");
    let status = w
        .kms(B)
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .expect("GetKeyRotationStatus");
    assert_eq!(status.key_id(), Some(key.as_str()));

    // A key ID alone names a key of the caller's own account.
    let id = key.rsplit('/').next().unwrap();
    let e = expect_err(encrypt(&w.kms(B), id, b"x").await, "NotFoundException");
    assert!(message(&e).contains(&format!(":{B}:key/{id}")), "{e:?}");
}

#[tokio::test]
async fn refused_without_a_key_policy_statement_or_b_identity_policy() {
    let w = World::new();
    let (_, without_policy) = w.role_session("bare", &[]).await;
    let (role_arn, with_policy) = w
        .role_session("user", &["kms:Encrypt", "kms:Decrypt"])
        .await;
    // A's key whose policy names only A.
    let private = w.key(&key_policy(&[])).await;
    let e = expect_err(
        encrypt(&w.kms(B), &private, b"x").await,
        "AccessDeniedException",
    );
    assert_eq!(
        message(&e),
        format!(
            "User: {} is not authorized to perform: kms:Encrypt on resource: {private} because no resource-based policy allows the kms:Encrypt action",
            root(B)
        )
    );
    // Nor may B decrypt a ciphertext of it.
    let blob = encrypt(&w.kms(A), &private, b"secret")
        .await
        .expect("A encrypts")
        .ciphertext_blob()
        .unwrap()
        .as_ref()
        .to_vec();
    let e = expect_err(decrypt(&w.kms(B), &blob).await, "AccessDeniedException");
    assert!(message(&e).contains("kms:Decrypt"), "{e:?}");
    let e = expect_err(
        decrypt(&with_policy.kms(), &blob).await,
        "AccessDeniedException",
    );
    assert!(
        message(&e).contains("because no resource-based policy allows the kms:Decrypt action"),
        "{e:?}"
    );

    // A's key policy allows B's account; a role of B still needs its own identity policy.
    let shared = w.key(&key_policy(&[allow(&root(B), SHARED_ACTIONS)])).await;
    let e = expect_err(
        encrypt(&without_policy.kms(), &shared, b"x").await,
        "AccessDeniedException",
    );
    let m = message(&e);
    assert!(
        m.starts_with(&format!("User: arn:aws:sts::{B}:assumed-role/bare/ses ")),
        "{m}"
    );
    assert!(
        m.ends_with(&format!(
            "kms:Encrypt on resource: {shared} because no identity-based policy allows the kms:Encrypt action"
        )),
        "{m}"
    );
    // Naming the role in the key policy does not spare it B's own policies either.
    let named = w
        .key(&key_policy(&[allow(
            &format!("arn:aws:iam::{B}:role/bare"),
            &["kms:Encrypt"],
        )]))
        .await;
    expect_err(
        encrypt(&without_policy.kms(), &named, b"x").await,
        "AccessDeniedException",
    );
    // The role with an identity policy, on a key whose policy names B's account.
    encrypt(&with_policy.kms(), &shared, b"x")
        .await
        .expect("both accounts allow");
    let _ = role_arn;

    // An explicit deny in A's key policy wins over B's root user.
    let denied = w
        .key(&key_policy(&[
            allow(&root(B), &["kms:Encrypt"]),
            format!(
                r#"{{"Effect":"Deny","Principal":{{"AWS":"{}"}},"Action":"kms:Encrypt","Resource":"*"}}"#,
                root(B)
            ),
        ]))
        .await;
    let e = expect_err(
        encrypt(&w.kms(B), &denied, b"x").await,
        "AccessDeniedException",
    );
    assert!(
        message(&e).ends_with("with an explicit deny in a resource-based policy"),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_grant_to_b_allows_without_a_key_policy_statement() {
    let w = World::new();
    let key = w.key(&key_policy(&[])).await;
    expect_err(
        encrypt(&w.kms(B), &key, b"x").await,
        "AccessDeniedException",
    );
    w.kms(A)
        .create_grant()
        .key_id(&key)
        .grantee_principal(root(B))
        .operations(aws_sdk_kms::types::GrantOperation::Encrypt)
        .send()
        .await
        .expect("CreateGrant");
    encrypt(&w.kms(B), &key, b"x")
        .await
        .expect("the grant allows B");
    expect_err(
        w.kms(B).describe_key().key_id(&key).send().await,
        "AccessDeniedException",
    );
}

#[tokio::test]
async fn only_cross_account_operations_and_no_alias_names_from_another_account() {
    let w = World::new();
    let key = w.key(&key_policy(&[allow(&root(B), SHARED_ACTIONS)])).await;
    let id = key.rsplit('/').next().unwrap().to_string();
    w.kms(A)
        .create_alias()
        .alias_name("alias/shared")
        .target_key_id(&id)
        .send()
        .await
        .expect("CreateAlias");
    let kms = w.kms(B);

    // Operations AWS refuses across accounts, although A's key policy allows them: AWS answers
    // as for a key that does not exist.
    expect_err(
        kms.schedule_key_deletion().key_id(&key).send().await,
        "NotFoundException",
    );
    expect_err(
        kms.enable_key_rotation().key_id(&key).send().await,
        "NotFoundException",
    );
    expect_err(
        kms.disable_key().key_id(&key).send().await,
        "NotFoundException",
    );
    expect_err(
        kms.get_key_policy().key_id(&key).send().await,
        "NotFoundException",
    );
    expect_err(
        kms.tag_resource()
            .key_id(&key)
            .tags(
                aws_sdk_kms::types::Tag::builder()
                    .tag_key("k")
                    .tag_value("v")
                    .build()
                    .unwrap(),
            )
            .send()
            .await,
        "NotFoundException",
    );
    // The key is untouched.
    let d = w.kms(A).describe_key().key_id(&key).send().await.unwrap();
    assert_eq!(
        d.key_metadata().unwrap().key_state(),
        Some(&aws_sdk_kms::types::KeyState::Enabled)
    );

    // An alias name is looked up in the caller's own account.
    let e = expect_err(
        encrypt(&kms, "alias/shared", b"x").await,
        "NotFoundException",
    );
    assert!(message(&e).contains(&format!(":{B}:alias/shared")), "{e:?}");
    // An alias ARN names A's alias: AWS's Encrypt reference ("To specify a KMS key in a different
    // AWS account, you must use the key ARN or alias ARN"); the key it names is A's key.
    let alias_arn = format!("arn:aws:kms:{PRIMARY}:{A}:alias/shared");
    let out = encrypt(&kms, &alias_arn, b"x")
        .await
        .expect("alias ARN of A");
    assert_eq!(out.key_id(), Some(key.as_str()));
    // Not for an operation that takes no alias.
    expect_err(
        kms.get_key_rotation_status()
            .key_id(&alias_arn)
            .send()
            .await,
        "NotFoundException",
    );

    // Grants across accounts live with A's key.
    let grant = kms
        .create_grant()
        .key_id(&key)
        .grantee_principal(root(C))
        .operations(aws_sdk_kms::types::GrantOperation::Decrypt)
        .send()
        .await
        .expect("B creates a grant on A's key");
    let listed = w
        .kms(A)
        .list_grants()
        .key_id(&key)
        .send()
        .await
        .expect("A lists grants");
    assert!(listed
        .grants()
        .iter()
        .any(|g| g.grant_id() == grant.grant_id()));
    let listed = kms
        .list_grants()
        .key_id(&key)
        .send()
        .await
        .expect("B lists grants");
    assert_eq!(listed.grants().len(), 1);
}

#[tokio::test]
async fn caller_account_condition_sees_the_callers_account() {
    let w = World::new();
    let key = w
        .key(&key_policy(&[format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"*"}},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*","Condition":{{"StringEquals":{{"kms:CallerAccount":"{B}"}}}}}}"#
        )]))
        .await;
    let blob = encrypt(&w.kms(B), &key, b"x")
        .await
        .expect("kms:CallerAccount is B's")
        .ciphertext_blob()
        .unwrap()
        .as_ref()
        .to_vec();
    decrypt(&w.kms(B), &blob).await.expect("B decrypts");
    expect_err(
        encrypt(&w.kms(C), &key, b"x").await,
        "AccessDeniedException",
    );
    expect_err(decrypt(&w.kms(C), &blob).await, "AccessDeniedException");
    // The owner is not limited by a statement about other accounts.
    decrypt(&w.kms(A), &blob).await.expect("A decrypts");
}

/// A secret of A under `kms_key` (`None`: aws/secretsmanager) with a resource policy allowing
/// `principal` (`None`: no policy); its ARN.
async fn secret_of_a(
    w: &World,
    name: &str,
    kms_key: Option<&str>,
    principal: Option<&str>,
) -> String {
    let sm = w.secrets(A);
    let mut create = sm.create_secret().name(name).secret_string("s3cr3t");
    if let Some(k) = kms_key {
        create = create.kms_key_id(k);
    }
    let arn = create
        .send()
        .await
        .expect("CreateSecret")
        .arn()
        .unwrap()
        .to_string();
    if let Some(p) = principal {
        sm.put_resource_policy()
            .secret_id(&arn)
            .resource_policy(format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{p}"}},"Action":["secretsmanager:GetSecretValue","secretsmanager:DescribeSecret","secretsmanager:PutSecretValue"],"Resource":"*"}}]}}"#
            ))
            .send()
            .await
            .expect("PutResourcePolicy");
    }
    arn
}

#[tokio::test]
async fn secrets_manager_get_secret_value_by_arn_of_another_account() {
    let w = World::new();
    let (_, role) = w
        .role_session(
            "reader",
            &[
                "secretsmanager:GetSecretValue",
                "secretsmanager:DescribeSecret",
                "kms:Decrypt",
            ],
        )
        .await;
    let (_, bare) = w.role_session("bare", &[]).await;
    let key = w
        .key(&key_policy(&[format!(
            r#"{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":["kms:Decrypt","kms:GenerateDataKey","kms:DescribeKey"],"Resource":"*","Condition":{{"StringEquals":{{"kms:CallerAccount":"{B}"}}}}}}"#,
            root(B)
        )]))
        .await;
    let shared = secret_of_a(&w, "shared", Some(&key), Some(&root(B))).await;
    let sm = w.secrets(B);

    // B's root user.
    let v = sm
        .get_secret_value()
        .secret_id(&shared)
        .send()
        .await
        .expect("B reads A's secret");
    assert_eq!(v.secret_string(), Some("s3cr3t"));
    assert_eq!(v.arn(), Some(shared.as_str()));
    let d = sm
        .describe_secret()
        .secret_id(&shared)
        .send()
        .await
        .expect("DescribeSecret");
    assert_eq!(d.name(), Some("shared"));
    // B writes a new version; A reads it.
    sm.put_secret_value()
        .secret_id(&shared)
        .secret_string("from b")
        .send()
        .await
        .expect("B puts a value");
    let v = w
        .secrets(A)
        .get_secret_value()
        .secret_id("shared")
        .send()
        .await
        .unwrap();
    assert_eq!(v.secret_string(), Some("from b"));

    // B's role, with its own identity policy.
    let v = role
        .secrets()
        .get_secret_value()
        .secret_id(&shared)
        .send()
        .await
        .expect("B's role reads A's secret");
    assert_eq!(v.secret_string(), Some("from b"));
    // Without one.
    let e = expect_err(
        bare.secrets()
            .get_secret_value()
            .secret_id(&shared)
            .send()
            .await,
        "AccessDeniedException",
    );
    assert!(
        e.message().unwrap_or_default().ends_with(
            "because no identity-based policy allows the secretsmanager:GetSecretValue action"
        ),
        "{e:?}"
    );

    // A name, or a partial ARN, names B's own secrets.
    expect_err(
        sm.get_secret_value().secret_id("shared").send().await,
        "ResourceNotFoundException",
    );
    expect_err(
        sm.get_secret_value()
            .secret_id(&shared[..shared.len() - 7])
            .send()
            .await,
        "ResourceNotFoundException",
    );
    // An operation AWS does not allow across accounts.
    let batch = sm
        .batch_get_secret_value()
        .secret_id_list(&shared)
        .send()
        .await
        .expect("BatchGetSecretValue");
    assert!(batch.secret_values().is_empty());
    assert_eq!(
        batch.errors()[0].error_code(),
        Some("ResourceNotFoundException")
    );

    // No resource policy: refused, for B's root user too.
    let private = secret_of_a(&w, "private", Some(&key), None).await;
    let e = expect_err(
        sm.get_secret_value().secret_id(&private).send().await,
        "AccessDeniedException",
    );
    assert_eq!(
        e.message(),
        Some(
            format!(
                "User: {} is not authorized to perform: secretsmanager:GetSecretValue on resource: {private} because no resource-based policy allows the secretsmanager:GetSecretValue action",
                root(B)
            )
            .as_str()
        )
    );
    // Another account than the one the key policy names.
    expect_err(
        w.secrets(C)
            .get_secret_value()
            .secret_id(&shared)
            .send()
            .await,
        "AccessDeniedException",
    );

    // Under the AWS managed key aws/secretsmanager: never readable from another account.
    let managed = secret_of_a(&w, "managed", None, Some(&root(B))).await;
    let e = expect_err(
        sm.get_secret_value().secret_id(&managed).send().await,
        "AccessDeniedException",
    );
    assert_eq!(e.message(), Some("Access to KMS is not allowed"));
    expect_err(
        sm.put_secret_value()
            .secret_id(&managed)
            .secret_string("x")
            .send()
            .await,
        "AccessDeniedException",
    );
    // Its metadata is readable as the resource policy allows.
    sm.describe_secret()
        .secret_id(&managed)
        .send()
        .await
        .expect("DescribeSecret of the managed-key secret");
}
