//! `ReplicateKey` to a region a federation peer owns (ADR 0021), both ends.
//!
//! The primary's deployment checks the request as for a local replica, asks the peer for a
//! one-time recipient key (`POST /_coffer/federation/v1/recipient-key`), seals the family's
//! payload to it (`coffer_crypto::hybrid`) and sends it (`POST
//! /_coffer/federation/v1/replicate-key`), both over the mutual-TLS peer channel. The peer
//! accepts either only from a client whose certificate chains to the federation CA. Only when
//! the peer answers that the replica exists does the primary record the replica region.
//!
//! Replicate message (the request body, version 1):
//!
//! ```text
//! 0x01 | u16 BE len | account | u16 BE len | key ID | u16 BE len | primary region
//!      | u16 BE len | replica region | sealed payload (coffer_crypto::hybrid, to the end)
//! ```
//!
//! Everything before the sealed payload is the seal's context, so the AEAD authenticates it.

use crate::error::ApiError;
use crate::federation::{Federation, Peer, PeerError, FORWARD_TIMEOUT};
use crate::server::ClientCertificates;
use crate::App;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use bytes::Bytes;
use coffer_core::RequestContext;
use coffer_crypto::hybrid::{self, RecipientKey};
use coffer_model::ops::Service;
use http::StatusCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a peer hands out one-time recipient keys.
pub const RECIPIENT_KEY_PATH: &str = "/_coffer/federation/v1/recipient-key";
/// Where a peer takes a replica to make.
pub const REPLICATE_KEY_PATH: &str = "/_coffer/federation/v1/replicate-key";

/// Where a peer takes a replica's new shared properties (material after a rotation).
pub const SYNC_KEY_PATH: &str = "/_coffer/federation/v1/sync-key";

/// The replicate message's format version.
const MESSAGE_VERSION: u8 = 1;

/// How long a one-time recipient key waits for its message.
const RECIPIENT_KEY_TTL: Duration = Duration::from_secs(60);

/// At most this many one-time recipient keys wait at once (the oldest goes first).
const MAX_PENDING: usize = 64;

/// The largest replicate message taken (every material version of an RSA-4096 key fits).
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// The message header: what the seal is bound to.
fn message_header(account: &str, key_id: &str, primary: &str, replica: &str) -> Option<Vec<u8>> {
    let mut out = vec![MESSAGE_VERSION];
    for part in [account, key_id, primary, replica] {
        let n = u16::try_from(part.len()).ok()?;
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    Some(out)
}

/// A parsed replicate message: its four names, the header bytes, the sealed payload.
struct Message<'a> {
    names: [String; 4],
    header: &'a [u8],
    sealed: &'a [u8],
}

fn parse_message(body: &[u8]) -> Option<Message<'_>> {
    if body.first() != Some(&MESSAGE_VERSION) {
        return None;
    }
    let mut at = 1;
    let mut names: [String; 4] = Default::default();
    for name in &mut names {
        let len = body.get(at..at + 2)?;
        let n = usize::from(u16::from_be_bytes([len[0], len[1]]));
        *name = std::str::from_utf8(body.get(at + 2..at + 2 + n)?)
            .ok()?
            .to_string();
        at += 2 + n;
    }
    Some(Message {
        names,
        header: &body[..at],
        sealed: &body[at..],
    })
}

/// The region a `ReplicateKey` body asks for, when a peer owns it: that peer.
pub(crate) fn peer_region<'f>(fed: &'f Federation, body: &[u8]) -> Option<(&'f Peer, String)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let region = v.get("ReplicaRegion")?.as_str()?;
    if fed.owns(region) {
        return None;
    }
    Some((fed.peer_for(region)?, region.to_string()))
}

fn internal(detail: &dyn std::fmt::Display) -> ApiError {
    ApiError::internal("KMSInternalException", detail)
}

/// `ReplicateKey` of `body` to `peer`'s region for an authenticated caller: AWS's answer.
pub(crate) async fn replicate_to_peer(
    app: &Arc<App>,
    fed: &Federation,
    peer: &Peer,
    ctx: &RequestContext,
    body: &Bytes,
) -> Result<Bytes, ApiError> {
    let req = crate::dispatch::decode(body)?;
    let remote = {
        let (app, ctx) = (app.clone(), ctx.clone());
        tokio::task::spawn_blocking(move || app.coffer.kms.remote_replica(&ctx, req))
            .await
            .map_err(|e| internal(&e))??
    };
    let (head, answer) = match deliver(fed, peer, REPLICATE_KEY_PATH, &remote).await {
        Ok(r) => r,
        Err(e) => return Err(internal(&format!("replicating to {}: {e}", peer.url))),
    };
    let exists = head.status == StatusCode::OK
        || (head.status == StatusCode::BAD_REQUEST
            && error_code(&answer) == Some("AlreadyExistsException".into()));
    if exists {
        // The region holds the key (made now, or by an earlier call whose answer was lost):
        // the family lists it from now on.
        let (app, account, key_id, region) = (
            app.clone(),
            remote.account.clone(),
            remote.key_id.clone(),
            remote.replica_region.clone(),
        );
        tokio::task::spawn_blocking(move || {
            app.coffer
                .kms
                .record_remote_replica(&account, &key_id, &region)
        })
        .await
        .map_err(|e| internal(&e))??;
    }
    if head.status == StatusCode::OK {
        return Ok(answer);
    }
    if exists {
        return Err(coffer_kms::KmsError::AlreadyExists(format!(
            "{} already exists",
            coffer_kms::key_arn(
                ctx.partition(),
                &remote.replica_region,
                &remote.account,
                &remote.key_id
            )
        ))
        .into());
    }
    Err(internal(&format!(
        "replicating to {}: HTTP {} {:?}",
        peer.url,
        head.status.as_u16(),
        error_code(&answer)
    )))
}

/// Sends `remote` to `peer`'s `path`: a one-time recipient key fetched, the payload sealed to
/// it, the replicate message posted; the answer (within [`FORWARD_TIMEOUT`] in all).
async fn deliver(
    fed: &Federation,
    peer: &Peer,
    path: &str,
    remote: &coffer_kms::remote_replica::RemoteReplica,
) -> Result<(http::response::Parts, Bytes), PeerError> {
    let header = message_header(
        &remote.account,
        &remote.key_id,
        &remote.primary_region,
        &remote.replica_region,
    )
    .ok_or_else(|| PeerError::Http("replicate message names too long".into()))?;
    let exchange = async {
        let (head, public) = fed
            .send(peer, post(peer, RECIPIENT_KEY_PATH, Bytes::new())?)
            .await?;
        if head.status != StatusCode::OK {
            return Err(PeerError::Http(format!(
                "recipient key: HTTP {}",
                head.status.as_u16()
            )));
        }
        let sealed = hybrid::seal(&public, &header, &remote.payload)
            .map_err(|e| PeerError::Http(format!("sealing to the peer's key: {e}")))?;
        let mut msg = header.clone();
        msg.extend_from_slice(&sealed);
        fed.send(peer, post(peer, path, Bytes::from(msg))?).await
    };
    tokio::time::timeout(FORWARD_TIMEOUT, exchange)
        .await
        .map_err(|_| PeerError::Timeout)?
}

/// After a successful `RotateKeyOnDemand` (its answer `answer`): the family's new material
/// sent to every peer holding a replica (ADR 0021). Best effort until the outbox exists: a
/// peer that cannot be reached is logged and counted, and the rotation's answer stands (AWS
/// too synchronizes replicas after answering).
pub(crate) async fn sync_after_rotation(
    app: &Arc<App>,
    fed: &Federation,
    ctx: &RequestContext,
    answer: &[u8],
) {
    let key_id = serde_json::from_slice::<serde_json::Value>(answer)
        .ok()
        .and_then(|v| {
            let arn = v.get("KeyId")?.as_str()?;
            Some(arn.rsplit_once("key/")?.1.to_string())
        });
    let Some(key_id) = key_id else {
        return;
    };
    let remotes = {
        let (app, account) = (app.clone(), ctx.account_id.clone());
        tokio::task::spawn_blocking(move || app.coffer.kms.remote_sync(&account, &key_id)).await
    };
    let remotes = match remotes {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "federation: shared properties not sent");
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "federation: shared properties not sent");
            return;
        }
    };
    for remote in remotes {
        let Some(peer) = fed.peer_for(&remote.replica_region) else {
            continue;
        };
        let outcome = match deliver(fed, peer, SYNC_KEY_PATH, &remote).await {
            Ok((head, _)) if head.status == StatusCode::OK => "delivered",
            Ok((head, answer)) => {
                tracing::warn!(peer = %peer.url, region = %remote.replica_region,
                    status = head.status.as_u16(), code = ?error_code(&answer),
                    "federation: the peer refused the key's new shared properties");
                "refused"
            }
            Err(e) => {
                tracing::warn!(peer = %peer.url, region = %remote.replica_region, error = %e,
                    "federation: the key's new shared properties did not reach the peer");
                "failed"
            }
        };
        metrics::counter!("coffer_federation_key_syncs_total", "outcome" => outcome).increment(1);
    }
}

fn error_code(answer: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(answer).ok()?;
    Some(v.get("__type")?.as_str()?.to_string())
}

fn post(peer: &Peer, path: &str, body: Bytes) -> Result<http::Request<Body>, PeerError> {
    http::Request::builder()
        .method("POST")
        .uri(path)
        .header(http::header::HOST, peer.url.trim_start_matches("https://"))
        .header(http::header::CONTENT_TYPE, "application/octet-stream")
        .header(http::header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .map_err(|e| PeerError::Http(e.to_string()))
}

/// Whether the request came on a connection whose client certificate chains to the
/// federation CA.
fn from_peer(fed: &Federation, req: &Request) -> bool {
    let Some(ClientCertificates(chain)) = req.extensions().get::<ClientCertificates>() else {
        return false;
    };
    let Some((leaf, rest)) = chain.split_first() else {
        return false;
    };
    fed.verify_peer(leaf, rest)
}

fn error(status: StatusCode, code: &'static str, message: &str) -> Response {
    let body = serde_json::json!({ "__type": code, "message": message }).to_string();
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    resp
}

fn refused() -> Response {
    error(
        StatusCode::FORBIDDEN,
        "AccessDeniedException",
        "This endpoint is for federation peers presenting a certificate from the federation CA.",
    )
}

/// `POST /_coffer/federation/v1/recipient-key`: a fresh one-time recipient public key.
pub(crate) async fn recipient_key(State(app): State<Arc<App>>, req: Request) -> Response {
    let Some(fed) = app.config.federation.as_deref() else {
        return refused();
    };
    if !from_peer(fed, &req) {
        return refused();
    }
    let key = match RecipientKey::generate() {
        Ok(k) => k,
        Err(e) => {
            let e = internal(&e);
            return error(e.status, e.code, &e.message);
        }
    };
    let public = Bytes::copy_from_slice(key.public_bytes());
    {
        let mut pending = fed.pending.lock();
        pending.retain(|(_, made)| made.elapsed() < RECIPIENT_KEY_TTL);
        if pending.len() >= MAX_PENDING {
            pending.remove(0);
        }
        pending.push((key, Instant::now()));
    }
    let mut resp = Response::new(Body::from(public));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/octet-stream"),
    );
    resp
}

/// `POST /_coffer/federation/v1/replicate-key`: makes the replica a primary's deployment sent,
/// answering `ReplicateKey`'s response or a KMS error.
pub(crate) async fn replicate_key(State(app): State<Arc<App>>, req: Request) -> Response {
    receive(app, req, false).await
}

/// `POST /_coffer/federation/v1/sync-key`: brings a replica up to date with its primary's shared
/// properties, answering `{}` or a KMS error.
pub(crate) async fn sync_key(State(app): State<Arc<App>>, req: Request) -> Response {
    receive(app, req, true).await
}

async fn receive(app: Arc<App>, req: Request, sync: bool) -> Response {
    let request_id = coffer_crypto::random::request_id();
    let Some(fed) = app.config.federation.as_deref() else {
        return refused();
    };
    if !from_peer(fed, &req) {
        return refused();
    }
    let malformed = || {
        error(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "Malformed message.",
        )
    };
    let Ok(body) = axum::body::to_bytes(req.into_body(), MAX_MESSAGE_BYTES).await else {
        return malformed();
    };
    let Some(msg) = parse_message(&body) else {
        return malformed();
    };
    // The one-time key is taken out: a replayed message finds none.
    let key = hybrid::key_id_of(msg.sealed).and_then(|id| {
        let mut pending = fed.pending.lock();
        let at = pending
            .iter()
            .position(|(k, made)| k.id() == id && made.elapsed() < RECIPIENT_KEY_TTL)?;
        Some(pending.swap_remove(at).0)
    });
    let Some(key) = key else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidCiphertextException",
            "Unknown or expired recipient key.",
        );
    };
    let Ok(payload) = key.open(msg.header, msg.sealed) else {
        return error(
            StatusCode::BAD_REQUEST,
            "InvalidCiphertextException",
            "The message could not be authenticated.",
        );
    };
    let [account, key_id, primary, replica] = msg.names;
    if !fed.owns(&replica) {
        return error(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "This deployment does not own the replica region.",
        );
    }
    let run = {
        let app = app.clone();
        move || {
            let kms = &app.coffer.kms;
            if sync {
                kms.accept_remote_sync(&account, &key_id, &primary, &replica, &payload)
                    .map_err(ApiError::from)
                    .and_then(|()| crate::dispatch::encode(serde_json::json!({})))
            } else {
                kms.accept_remote_replica(&account, &key_id, &primary, &replica, &payload)
                    .map_err(ApiError::from)
                    .and_then(crate::dispatch::encode)
            }
        }
    };
    let result = match tokio::task::spawn_blocking(run).await {
        Ok(r) => r,
        Err(e) => Err(internal(&e)),
    };
    match result {
        Ok(bytes) => crate::json_response(StatusCode::OK, bytes, Some(&request_id)),
        Err(e) => crate::json_error_of(Some(Service::Kms), &e, &request_id),
    }
}
