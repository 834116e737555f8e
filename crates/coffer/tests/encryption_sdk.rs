//! Outside check: the AWS Encryption SDK for Python (`pip install aws-encryption-sdk`) encrypts
//! with a multi-Region key in eu-central-1 and decrypts with its MRK-aware master key providers
//! in eu-west-1, through Coffer. The primary is disabled before decrypting, so the decryption can
//! only have used the replica. Skipped with a message when python3 or the package is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::*;

/// Encrypts (`encrypt ENDPOINT KEY_ARN FILE`) or decrypts (`decrypt ENDPOINT KEY_ARN FILE
/// ACCOUNT`) with the Encryption SDK; every client the SDK makes goes to ENDPOINT.
const SCRIPT: &str = r#"
import sys
import botocore.session
import aws_encryption_sdk
from aws_encryption_sdk import CommitmentPolicy
from aws_encryption_sdk.key_providers.kms import (
    DiscoveryFilter,
    MRKAwareDiscoveryAwsKmsMasterKeyProvider,
    MRKAwareStrictAwsKmsMasterKeyProvider,
)

mode, endpoint, key_arn, path = sys.argv[1:5]
MESSAGE = b"encrypted in eu-central-1, decrypted in eu-west-1"
CONTEXT = {"purpose": "coffer-mrk-check"}


class CofferSession(botocore.session.Session):
    """A botocore session whose clients all use Coffer's endpoint."""

    def create_client(self, *args, **kwargs):
        if kwargs.get("endpoint_url") is None:
            kwargs["endpoint_url"] = endpoint
        return super().create_client(*args, **kwargs)


def session():
    s = CofferSession()
    s.set_credentials("test", "test")
    return s


client = aws_encryption_sdk.EncryptionSDKClient(
    commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
)
if mode == "encrypt":
    provider = MRKAwareStrictAwsKmsMasterKeyProvider(
        key_ids=[key_arn], botocore_session=session()
    )
    ciphertext, header = client.encrypt(
        source=MESSAGE, key_provider=provider, encryption_context=CONTEXT
    )
    assert len(header.encrypted_data_keys) == 1
    with open(path, "wb") as f:
        f.write(ciphertext)
    print("encrypted", len(ciphertext))
else:
    account = sys.argv[5]
    with open(path, "rb") as f:
        ciphertext = f.read()
    # Strict: the replica's ARN matches the primary's ARN in the message as an MRK.
    strict = MRKAwareStrictAwsKmsMasterKeyProvider(
        key_ids=[key_arn], botocore_session=session()
    )
    plaintext, header = client.decrypt(source=ciphertext, key_provider=strict)
    assert plaintext == MESSAGE, plaintext
    for k, v in CONTEXT.items():
        assert header.encryption_context[k] == v
    # Discovery in eu-west-1: rewrites the primary's ARN to the replica's Region.
    discovery = MRKAwareDiscoveryAwsKmsMasterKeyProvider(
        discovery_region="eu-west-1",
        discovery_filter=DiscoveryFilter(account_ids=[account], partition="aws"),
        botocore_session=session(),
    )
    plaintext, _ = client.decrypt(source=ciphertext, key_provider=discovery)
    assert plaintext == MESSAGE, plaintext
    print("decrypted")
"#;

fn sdk_available() -> bool {
    match Command::new("python3")
        .args(["-c", "import aws_encryption_sdk, botocore, boto3"])
        .output()
    {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            eprintln!(
                "skipping: the aws-encryption-sdk Python package is not installed (pip install aws-encryption-sdk): {}",
                String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or_default()
            );
            false
        }
        Err(e) => {
            eprintln!("skipping: python3 is not available: {e}");
            false
        }
    }
}

fn run(args: &[&str]) {
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_KMS")
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "encryption SDK script {:?} failed:\nstdout: {}\nstderr: {}",
        args.first(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn encryption_sdk_mrk_encrypt_in_one_region_decrypt_in_another() {
    if !sdk_available() {
        return;
    }
    let server = Server::dev();
    let kms = server.kms(PRIMARY);
    let kms_r = server.kms(REPLICA);
    let md = kms
        .create_key()
        .multi_region(true)
        .description("Encryption SDK MRK check")
        .send()
        .await
        .expect("CreateKey");
    let md = md.key_metadata().unwrap();
    let key = md.key_id().to_string();
    let primary_arn = md.arn().unwrap().to_string();
    let account = md.aws_account_id().unwrap().to_string();
    let replica = kms
        .replicate_key()
        .key_id(&key)
        .replica_region(REPLICA)
        .send()
        .await
        .expect("ReplicateKey");
    let replica_arn = replica
        .replica_key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    assert!(replica_arn.contains(":eu-west-1:"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("message.bin");
    let file = file.to_str().unwrap();
    run(&["encrypt", &server.endpoint, &primary_arn, file]);

    // Only the replica can serve the decryption now.
    kms.disable_key().key_id(&key).send().await.unwrap();
    run(&["decrypt", &server.endpoint, &replica_arn, file, &account]);

    // Coffer saw it the same way: GenerateDataKey on the primary, Decrypt on the replica.
    let used = kms.get_key_last_usage().key_id(&key).send().await.unwrap();
    assert_eq!(
        used.key_last_usage()
            .and_then(|u| u.operation())
            .map(|o| o.as_str()),
        Some("GenerateDataKey")
    );
    let used = kms_r
        .get_key_last_usage()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        used.key_last_usage()
            .and_then(|u| u.operation())
            .map(|o| o.as_str()),
        Some("Decrypt")
    );
}
