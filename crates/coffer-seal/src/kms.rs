//! The `kms` seal (auto-unseal): the root key encrypted by a key of an AWS-compatible KMS (AWS
//! KMS, or another Coffer) with the AWS SDK for Rust, under the encryption context
//! `{"coffer:seal": "root-key"}`. The sealed file records the endpoint, region and key so that
//! unsealing needs only credentials.

use crate::{SealConfig, SealError};
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_kms::primitives::Blob;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

const CONTEXT_KEY: &str = "coffer:seal";
const CONTEXT_VALUE: &str = "root-key";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    endpoint: Option<String>,
    region: String,
    key_id: String,
}

fn err(s: String) -> SealError {
    SealError::Kms(s)
}

fn client(config: &SealConfig, stored: &Stored) -> Result<aws_sdk_kms::Client, SealError> {
    let k = &config.kms;
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let access = k
        .access_key_id
        .clone()
        .or_else(|| env("AWS_ACCESS_KEY_ID"))
        .ok_or_else(|| {
            SealError::Config("kind = \"kms\" needs access_key_id (or AWS_ACCESS_KEY_ID)".into())
        })?;
    let secret = k
        .secret_access_key
        .clone()
        .or_else(|| env("AWS_SECRET_ACCESS_KEY").map(Zeroizing::new))
        .ok_or_else(|| {
            SealError::Config(
                "kind = \"kms\" needs the secret access key: set secret_access_key_file or \
                 AWS_SECRET_ACCESS_KEY"
                    .into(),
            )
        })?;
    let token = k
        .session_token
        .clone()
        .or_else(|| env("AWS_SESSION_TOKEN").map(Zeroizing::new));
    let creds = Credentials::new(
        access,
        secret.as_str(),
        token.as_ref().map(|t| t.to_string()),
        None,
        "coffer-seal",
    );
    let mut builder = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(stored.region.clone()))
        .credentials_provider(creds);
    if let Some(e) = &stored.endpoint {
        builder = builder.endpoint_url(e);
    }
    Ok(aws_sdk_kms::Client::from_conf(builder.build()))
}

/// Runs `f` on a runtime of its own in a thread of its own: the seal is opened both from plain
/// commands and from inside the server's runtime, where blocking on another runtime would panic.
fn block_on<T: Send + 'static>(
    f: impl std::future::Future<Output = Result<T, SealError>> + Send + 'static,
) -> Result<T, SealError> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| err(format!("starting a runtime: {e}")))?
            .block_on(f)
    })
    .join()
    .map_err(|_| err("the KMS call panicked".into()))?
}

fn describe<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    what: &str,
    e: aws_sdk_kms::error::SdkError<E, R>,
) -> SealError {
    match e.as_service_error() {
        Some(s) => err(format!(
            "{what}: {}: {}",
            s.code().unwrap_or("error"),
            s.message().unwrap_or("")
        )),
        None => err(format!("{what}: {}", DisplayErrorContext(&e))),
    }
}

fn configured(config: &SealConfig) -> Result<Stored, SealError> {
    let k = &config.kms;
    Ok(Stored {
        endpoint: k.endpoint.clone(),
        region: k
            .region
            .clone()
            .ok_or_else(|| SealError::Config("kind = \"kms\" needs region".into()))?,
        key_id: k
            .key_id
            .clone()
            .ok_or_else(|| SealError::Config("kind = \"kms\" needs key_id".into()))?,
    })
}

pub(crate) fn params(config: &SealConfig) -> Result<serde_json::Value, SealError> {
    serde_json::to_value(configured(config)?).map_err(|e| SealError::Config(e.to_string()))
}

pub(crate) fn wrap(config: &SealConfig, secret: &[u8]) -> Result<Vec<u8>, SealError> {
    let stored = configured(config)?;
    let client = client(config, &stored)?;
    let plaintext = Blob::new(secret.to_vec());
    let key_id = stored.key_id.clone();
    block_on(async move {
        let out = client
            .encrypt()
            .key_id(&key_id)
            .plaintext(plaintext)
            .encryption_context(CONTEXT_KEY, CONTEXT_VALUE)
            .send()
            .await
            .map_err(|e| describe(&format!("Encrypt with {key_id}"), e))?;
        out.ciphertext_blob
            .map(Blob::into_inner)
            .ok_or_else(|| err("Encrypt returned no CiphertextBlob".into()))
    })
}

pub(crate) fn unwrap(
    config: &SealConfig,
    params: &serde_json::Value,
    wrapped: &[u8],
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let mut stored: Stored = serde_json::from_value(params.clone())
        .map_err(|e| SealError::Config(format!("kms parameters: {e}")))?;
    // The endpoint may move (a new address for the same KMS); the key may not.
    if let Some(e) = &config.kms.endpoint {
        stored.endpoint = Some(e.clone());
    }
    let client = client(config, &stored)?;
    let blob = Blob::new(wrapped.to_vec());
    let key_id = stored.key_id.clone();
    let plain = block_on(async move {
        let out = client
            .decrypt()
            .key_id(&key_id)
            .ciphertext_blob(blob)
            .encryption_context(CONTEXT_KEY, CONTEXT_VALUE)
            .send()
            .await
            .map_err(|e| describe(&format!("Decrypt with {key_id}"), e))?;
        out.plaintext
            .map(|b| Zeroizing::new(b.into_inner()))
            .ok_or_else(|| err("Decrypt returned no Plaintext".into()))
    })?;
    Ok(plain)
}
