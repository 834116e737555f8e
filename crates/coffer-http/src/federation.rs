//! Regions as failure domains (ADR 0019), first slice: which regions this deployment owns, its
//! peers, and what happens to a request signed for a region it does not own.
//!
//! A request's region is its SigV4 credential scope's. Regional services (KMS, Secrets Manager,
//! CloudTrail) are served only for owned regions; for another region the request is refused with
//! the error AWS gives when a request signed for one region reaches another region's endpoint
//! ([`wrong_region`]), or, with `forward`, sent unchanged to the peer owning that region over
//! mutual TLS and the peer's answer returned unchanged ([`route`]). IAM and STS are global in
//! AWS and always served locally; region-less paths (health, metrics, admin) are never affected.

use crate::error::{ApiError, Protocol};
use crate::sigv4::{self, AuthError, RequestParts};
use crate::App;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use std::sync::Arc;
use std::time::Duration;

/// The header a forwarding deployment adds: a request carrying it is never forwarded again
/// (two deployments that each think the other owns a region cannot bounce a request for ever).
pub const FORWARDED_HEADER: &str = "x-coffer-forwarded";

/// How long a forwarded request may take, connection and TLS handshake included.
pub(crate) const FORWARD_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the TCP connection and TLS handshake to a peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long `coffer status` waits for a peer's readiness probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The largest answer taken from a peer (Coffer's own answers are far smaller).
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// Headers that belong to one connection, not to the request or answer (RFC 9110 §7.6.1).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Another deployment of the federation.
#[derive(Debug, Clone)]
pub struct Peer {
    /// The regions it owns.
    pub regions: Vec<String>,
    /// Its `https://host:port` URL, as configured.
    pub url: String,
    host: String,
    port: u16,
}

impl Peer {
    /// A peer at `url` (`https://host[:port]`, no path) owning `regions`.
    pub fn new(regions: Vec<String>, url: &str) -> Result<Self, String> {
        let uri: http::Uri = url
            .parse()
            .map_err(|_| format!("url {url:?} is not a URL"))?;
        if uri.scheme_str() != Some("https") {
            return Err(format!("url {url:?} must be https://…"));
        }
        let host = uri
            .host()
            .ok_or_else(|| format!("url {url:?} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Ok(Self {
            regions,
            url: url.trim_end_matches('/').to_string(),
            host,
            port: uri.port_u16().unwrap_or(443),
        })
    }
}

/// The topology: owned regions, peers, and the mutual-TLS client configuration for them.
pub struct Federation {
    /// The regions this deployment owns.
    pub regions: Vec<String>,
    /// Forward a request for a peer's region instead of refusing it.
    pub forward: bool,
    /// The other deployments.
    pub peers: Vec<Peer>,
    /// Trusts only the federation CA; presents this deployment's certificate (`None`: no peers).
    tls: Option<Arc<rustls::ClientConfig>>,
    /// Checks that a client certificate chains to the federation CA (`None`: no `ca_file`, so
    /// the federation endpoints refuse everyone).
    peer_verifier: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
    /// One-time recipient keys handed out for key replication and not yet used (ADR 0021).
    pub(crate) pending:
        parking_lot::Mutex<Vec<(coffer_crypto::hybrid::RecipientKey, std::time::Instant)>>,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation")
            .field("regions", &self.regions)
            .field("forward", &self.forward)
            .field("peers", &self.peers)
            .finish_non_exhaustive()
    }
}

/// Why a peer could not be reached. The detail is for the log and `coffer status`, never for an
/// API client.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// No TCP connection or no TLS session within the time allowed.
    #[error("timed out")]
    Timeout,
    /// The TCP connection failed.
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    /// The TLS handshake failed (e.g. a certificate not from the federation CA).
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    /// HTTP failed on the connection.
    #[error("HTTP: {0}")]
    Http(String),
    /// Peers are configured without the mutual-TLS files.
    #[error("no federation TLS configuration")]
    NoTls,
}

impl Federation {
    /// The topology; `tls` is the client configuration for peers (required when there are any).
    pub fn new(
        regions: Vec<String>,
        forward: bool,
        peers: Vec<Peer>,
        tls: Option<rustls::ClientConfig>,
    ) -> Self {
        let tls = tls.map(|mut c| {
            c.alpn_protocols = vec![b"http/1.1".to_vec()];
            Arc::new(c)
        });
        Self {
            regions,
            forward,
            peers,
            tls,
            peer_verifier: None,
            pending: parking_lot::Mutex::new(Vec::new()),
        }
    }

    /// Accepts federation endpoint calls only from clients whose certificate `verifier` accepts
    /// (one for the federation CA, [`crate::tls::peer_verifier`]).
    #[must_use]
    pub fn with_peer_verifier(
        mut self,
        verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    ) -> Self {
        self.peer_verifier = Some(verifier);
        self
    }

    /// Whether a client's certificate chain (`leaf`, then `rest`) chains to the federation CA.
    pub(crate) fn verify_peer(
        &self,
        leaf: &rustls_pki_types::CertificateDer<'_>,
        rest: &[rustls_pki_types::CertificateDer<'_>],
    ) -> bool {
        self.peer_verifier.as_ref().is_some_and(|v| {
            v.verify_client_cert(leaf, rest, rustls_pki_types::UnixTime::now())
                .is_ok()
        })
    }

    /// Whether this deployment serves `region` itself.
    pub fn owns(&self, region: &str) -> bool {
        self.regions.iter().any(|r| r == region)
    }

    /// The peer owning `region`, if any.
    pub fn peer_for(&self, region: &str) -> Option<&Peer> {
        self.peers
            .iter()
            .find(|p| p.regions.iter().any(|r| r == region))
    }

    async fn connect(
        &self,
        peer: &Peer,
    ) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, PeerError> {
        let tls = self.tls.clone().ok_or(PeerError::NoTls)?;
        let name = ServerName::try_from(peer.host.clone())
            .map_err(|e| PeerError::Http(format!("{} is not a server name: {e}", peer.host)))?;
        let connect = async {
            let tcp = tokio::net::TcpStream::connect((peer.host.as_str(), peer.port))
                .await
                .map_err(PeerError::Connect)?;
            let _ = tcp.set_nodelay(true);
            tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .map_err(PeerError::Tls)
        };
        tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| PeerError::Timeout)?
    }

    /// Sends `req` to `peer` on a new mutual-TLS connection (HTTP/1.1); the answer, its body read.
    pub(crate) async fn send(
        &self,
        peer: &Peer,
        req: http::Request<Body>,
    ) -> Result<(http::response::Parts, Bytes), PeerError> {
        let io = self.connect(peer).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| PeerError::Http(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "peer connection ended with an error");
            }
        });
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| PeerError::Http(e.to_string()))?;
        let (parts, body) = resp.into_parts();
        let body = axum::body::to_bytes(Body::new(body), MAX_ANSWER_BYTES)
            .await
            .map_err(|e| PeerError::Http(e.to_string()))?;
        Ok((parts, body))
    }

    /// Forwards a request unchanged (method, path and query, headers with the SigV4
    /// `Authorization` and `Host`, body) and returns the peer's answer unchanged.
    async fn forward(
        &self,
        peer: &Peer,
        parts: &http::request::Parts,
        body: &Bytes,
    ) -> Result<Response, PeerError> {
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        let mut req = http::Request::builder()
            .method(parts.method.clone())
            .uri(path);
        for (name, value) in &parts.headers {
            if !HOP_BY_HOP.contains(&name.as_str()) && name != http::header::CONTENT_LENGTH {
                req = req.header(name, value);
            }
        }
        if !parts.headers.contains_key(http::header::HOST) {
            if let Some(a) = parts.uri.authority() {
                req = req.header(http::header::HOST, a.as_str());
            }
        }
        let req = req
            .header(http::header::CONTENT_LENGTH, body.len())
            .header(FORWARDED_HEADER, self.regions.join(","))
            .body(Body::from(body.clone()))
            .map_err(|e| PeerError::Http(e.to_string()))?;
        let send = self.send(peer, req);
        let (head, body) = tokio::time::timeout(FORWARD_TIMEOUT, send)
            .await
            .map_err(|_| PeerError::Timeout)??;
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = head.status;
        for (name, value) in &head.headers {
            if !HOP_BY_HOP.contains(&name.as_str()) && name != http::header::CONTENT_LENGTH {
                resp.headers_mut().append(name, value.clone());
            }
        }
        Ok(resp)
    }

    /// Each peer's URL, regions and whether it answered `GET /_coffer/health/ready` with 200
    /// over mutual TLS (all probed at once, each within a short timeout).
    pub async fn peer_status(self: &Arc<Self>) -> Vec<serde_json::Value> {
        let mut probes = Vec::new();
        for i in 0..self.peers.len() {
            let fed = self.clone();
            probes.push(tokio::spawn(async move { fed.probe(i).await }));
        }
        let mut out = Vec::new();
        for p in probes {
            out.push(p.await.unwrap_or(serde_json::Value::Null));
        }
        out
    }

    async fn probe(&self, i: usize) -> serde_json::Value {
        let Some(peer) = self.peers.get(i) else {
            return serde_json::Value::Null;
        };
        let probe = async {
            let req = http::Request::builder()
                .method("GET")
                .uri("/_coffer/health/ready")
                .header(http::header::HOST, peer.url.trim_start_matches("https://"))
                .body(Body::empty())
                .map_err(|e| PeerError::Http(e.to_string()))?;
            self.send(peer, req).await
        };
        let outcome = match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
            Ok(Ok((head, _))) if head.status == http::StatusCode::OK => Ok(()),
            Ok(Ok((head, _))) => Err(format!("not ready (HTTP {})", head.status.as_u16())),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(PeerError::Timeout.to_string()),
        };
        serde_json::json!({
            "url": peer.url,
            "regions": peer.regions,
            "ready": outcome.is_ok(),
            "error": outcome.err(),
        })
    }
}

/// Services that are regional in AWS (by SigV4 signing name). IAM and STS are global; `coffer`
/// (the admin endpoints) is not an AWS service.
pub fn regional(signing_name: &str) -> bool {
    matches!(signing_name, "kms" | "secretsmanager" | "cloudtrail")
}

/// The error AWS answers when a request signed for `region` reaches an endpoint of another
/// region: `InvalidSignatureException` (JSON) / `SignatureDoesNotMatch` (Query), "Credential
/// should be scoped to a valid region, not 'REGION'. ".
pub fn wrong_region(region: &str, protocol: Protocol) -> ApiError {
    crate::error::auth_error(
        &AuthError::InvalidSignature(format!(
            "Credential should be scoped to a valid region, not '{region}'. "
        )),
        protocol,
    )
}

/// With `forward = true`: the peer's answer to a JSON request signed for a region a peer owns.
/// `None`: the request is served (or refused) here — federation is off, the region is owned,
/// no peer owns it, the service is global, the request is not signed, or it was forwarded here.
pub(crate) async fn route(
    app: &App,
    parts: &http::request::Parts,
    body: &Bytes,
    target: &str,
    request_id: &str,
) -> Option<Response> {
    let fed = app.config.federation.as_deref()?;
    if !fed.forward || parts.headers.contains_key(FORWARDED_HEADER) {
        return None;
    }
    let rp = RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body,
    };
    let parsed = sigv4::parse(&rp).ok()?;
    let (region, service) = (&parsed.credential.region, &parsed.credential.service);
    if !regional(service) || fed.owns(region) {
        return None;
    }
    let peer = fed.peer_for(region)?;
    match fed.forward(peer, parts, body).await {
        Ok(resp) => {
            metrics::counter!("coffer_federation_forwarded_total", "outcome" => "answered")
                .increment(1);
            Some(resp)
        }
        Err(e) => {
            metrics::counter!("coffer_federation_forwarded_total", "outcome" => "failed")
                .increment(1);
            tracing::warn!(peer = %peer.url, %region, error = %e, "forwarding to the peer failed");
            let service = crate::service_of_target(Some(target));
            let code = service.map_or("InternalFailure", crate::internal_code);
            let err = ApiError::internal(code, &format!("forwarding to {}: {e}", peer.url));
            Some(crate::json_error_of(service, &err, request_id))
        }
    }
}
