//! TLS for Coffer's listener: rustls with the aws-lc-rs provider only, TLS 1.2 and 1.3, a PEM
//! certificate chain and key, an optional client CA (mutual TLS), ALPN `h2` and `http/1.1`.
//!
//! [`TlsState`] holds the configuration new handshakes use. [`TlsState::reload`] reads the files
//! again and swaps it in only when everything is valid: open connections keep the session they
//! negotiated, and a reload that fails leaves the old certificate in use.
//!
//! File changes are noticed by polling the files' metadata ([`TlsState::changed_on_disk`]) rather
//! than with inotify: Kubernetes secret mounts and cert-manager replace certificates by swapping a
//! symlinked directory, and editors and ACME clients write a new file and rename it, all of which
//! leave an inotify watch on the old inode; a metadata poll of the path sees them all.

use arc_swap::ArcSwap;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Where the certificate, its key and the client CA are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the server certificate first, then any intermediates.
    pub cert_file: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key_file: PathBuf,
    /// PEM: the CA certificates client certificates must chain to. Set, every client must
    /// present a certificate (mutual TLS).
    pub client_ca_file: Option<PathBuf>,
    /// PEM: the federation CA (ADR 0021). Set without `client_ca_file`, a client *may* present
    /// a certificate, which must then chain to it; clients without one are served as before.
    pub peer_ca_file: Option<PathBuf>,
}

/// Why a certificate, key or client CA cannot be used. One line, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The file cannot be read.
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// `certificate file`, `key file`, `client CA file`.
        what: &'static str,
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not what it should be.
    #[error("{what} {path}: {why}")]
    Invalid {
        /// `certificate file`, `key file`, `client CA file`.
        what: &'static str,
        /// The path.
        path: String,
        /// Why, e.g. `no PEM certificate in it` or `certificate expired on 2020-01-01T00:00:00Z`.
        why: String,
    },
    /// The key is not the certificate's.
    #[error("the private key in {key} does not belong to the certificate in {cert}")]
    Mismatch {
        /// The certificate file.
        cert: String,
        /// The key file.
        key: String,
    },
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.display().to_string(),
        source,
    })
}

fn invalid(what: &'static str, path: &Path, why: impl Into<String>) -> TlsError {
    TlsError::Invalid {
        what,
        path: path.display().to_string(),
        why: why.into(),
    }
}

fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(what, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(what, path, format!("invalid PEM ({e})")))?;
    if certs.is_empty() {
        return Err(invalid(what, path, "no PEM certificate in it"));
    }
    Ok(certs)
}

fn rfc3339(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// Checks that `der` parses and is valid now; returns its `notAfter` (Unix seconds).
fn check_validity(what: &'static str, path: &Path, der: &[u8], now: i64) -> Result<i64, TlsError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| invalid(what, path, format!("not an X.509 certificate ({e})")))?;
    let validity = cert.validity();
    let (not_before, not_after) = (
        validity.not_before.timestamp(),
        validity.not_after.timestamp(),
    );
    if not_after < now {
        return Err(invalid(
            what,
            path,
            format!("certificate expired on {}", rfc3339(not_after)),
        ));
    }
    if not_before > now {
        return Err(invalid(
            what,
            path,
            format!("certificate is not valid before {}", rfc3339(not_before)),
        ));
    }
    Ok(not_after)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The provider every TLS use in Coffer takes: aws-lc-rs.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A server configuration from the files, checked: PEM parses, the leaf and client CAs are
/// valid now, the key is the certificate's. Returns it with the leaf's `notAfter`.
pub fn load(files: &TlsFiles) -> Result<(ServerConfig, i64), TlsError> {
    let now = unix_now();
    let chain = certificates("certificate file", &files.cert_file)?;
    let not_after = check_validity("certificate file", &files.cert_file, &chain[0], now)?;
    let key_pem = zeroize::Zeroizing::new(read("key file", &files.key_file)?);
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        invalid(
            "key file",
            &files.key_file,
            format!("no usable PEM private key in it ({e})"),
        )
    })?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| invalid("certificate file", &files.cert_file, e.to_string()))?;
    let builder = match (&files.client_ca_file, &files.peer_ca_file) {
        (None, None) => builder.with_no_client_auth(),
        (Some(ca), _) => {
            builder.with_client_cert_verifier(client_verifier("client CA file", ca, false)?)
        }
        (None, Some(ca)) => {
            builder.with_client_cert_verifier(client_verifier("federation CA file", ca, true)?)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
            cert: files.cert_file.display().to_string(),
            key: files.key_file.display().to_string(),
        },
        e => invalid("key file", &files.key_file, e.to_string()),
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((config, not_after))
}

/// A verifier of client certificates chaining to the CA certificates in `ca`; `optional`: a
/// client may also present none.
fn client_verifier(
    what: &'static str,
    ca: &Path,
    optional: bool,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    let now = unix_now();
    let mut roots = RootCertStore::empty();
    for der in certificates(what, ca)? {
        check_validity(what, ca, &der, now)?;
        roots
            .add(der)
            .map_err(|e| invalid(what, ca, e.to_string()))?;
    }
    let mut b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
    if optional {
        b = b.allow_unauthenticated();
    }
    b.build().map_err(|e| invalid(what, ca, e.to_string()))
}

/// The verifier federation endpoints check a client's certificate chain with: it must chain
/// to the federation CA in `ca_file` (ADR 0021), whatever else the listener accepts.
pub fn peer_verifier(ca_file: &Path) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    client_verifier("federation CA file", ca_file, false)
}

/// A client configuration for mutual TLS to a peer (ADR 0019): trusts only the CA certificates
/// in `ca_file`, presents the certificate chain in `cert_file` with the key in `key_file`.
/// Checked as [`load`] checks the server's files.
pub fn client_config(
    ca_file: &Path,
    cert_file: &Path,
    key_file: &Path,
) -> Result<rustls::ClientConfig, TlsError> {
    let now = unix_now();
    let mut roots = RootCertStore::empty();
    for der in certificates("federation CA file", ca_file)? {
        check_validity("federation CA file", ca_file, &der, now)?;
        roots
            .add(der)
            .map_err(|e| invalid("federation CA file", ca_file, e.to_string()))?;
    }
    let chain = certificates("federation certificate file", cert_file)?;
    check_validity("federation certificate file", cert_file, &chain[0], now)?;
    let key_pem = zeroize::Zeroizing::new(read("federation key file", key_file)?);
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        invalid(
            "federation key file",
            key_file,
            format!("no usable PEM private key in it ({e})"),
        )
    })?;
    rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| invalid("federation certificate file", cert_file, e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError::Mismatch {
                cert: cert_file.display().to_string(),
                key: key_file.display().to_string(),
            },
            e => invalid("federation key file", key_file, e.to_string()),
        })
}

/// What identifies a version of the files on disk (follows symlinks).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Vec<Option<(SystemTime, u64)>>);

impl Stamp {
    fn of(files: &TlsFiles) -> Stamp {
        let one = |p: &Path| {
            std::fs::metadata(p)
                .ok()
                .and_then(|m| Some((m.modified().ok()?, m.len())))
        };
        let mut v = vec![one(&files.cert_file), one(&files.key_file)];
        for ca in files.client_ca_file.iter().chain(&files.peer_ca_file) {
            v.push(one(ca));
        }
        Stamp(v)
    }
}

/// The TLS configuration in use, and how to reload it.
pub struct TlsState {
    files: TlsFiles,
    current: ArcSwap<ServerConfig>,
    stamp: Mutex<Stamp>,
}

impl std::fmt::Debug for TlsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsState")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl TlsState {
    /// Loads the files (see [`load`]).
    pub fn new(files: TlsFiles) -> Result<Self, TlsError> {
        let stamp = Stamp::of(&files);
        let (config, not_after) = load(&files)?;
        record_expiry(not_after);
        Ok(Self {
            files,
            current: ArcSwap::from_pointee(config),
            stamp: Mutex::new(stamp),
        })
    }

    /// The configuration new handshakes use.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current.load_full()
    }

    /// Whether mutual TLS is on.
    pub fn client_auth(&self) -> bool {
        self.files.client_ca_file.is_some()
    }

    /// Reads the files again; on success new handshakes use them, on failure the old
    /// configuration stays and the error says why.
    pub fn reload(&self) -> Result<(), TlsError> {
        let stamp = Stamp::of(&self.files);
        let result = load(&self.files);
        // Remember what was tried, so a broken file is reported once, not at every poll.
        if let Ok(mut s) = self.stamp.lock() {
            *s = stamp;
        }
        match result {
            Ok((config, not_after)) => {
                self.current.store(Arc::new(config));
                record_expiry(not_after);
                metrics::counter!("coffer_tls_reloads_total", "outcome" => "success").increment(1);
                Ok(())
            }
            Err(e) => {
                metrics::counter!("coffer_tls_reloads_total", "outcome" => "failure").increment(1);
                Err(e)
            }
        }
    }

    /// True when a file's modification time or size differs from the last load.
    pub fn changed_on_disk(&self) -> bool {
        let now = Stamp::of(&self.files);
        self.stamp.lock().map(|s| *s != now).unwrap_or(true)
    }
}

#[allow(clippy::cast_precision_loss)]
fn record_expiry(not_after: i64) {
    metrics::gauge!("coffer_tls_certificate_expiry_timestamp_seconds").set(not_after as f64);
}
