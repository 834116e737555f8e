//! Connection settings of the PostgreSQL backend: the URL, `sslmode`, the CA file, and the
//! rustls (aws-lc-rs) connector that implements libpq's `sslmode` semantics.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use percent_encoding::percent_decode_str;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::StoreError;

/// TLS to the database, as libpq's `sslmode` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain text only.
    Disable,
    /// TLS if the server offers it, else plain text; the certificate is not checked (libpq's
    /// default). With a CA file, TLS is checked as `verify-ca` (as libpq does with a root
    /// certificate file).
    #[default]
    Prefer,
    /// TLS only; the certificate is not checked unless a CA file is given (then as `verify-ca`).
    Require,
    /// TLS only; the server's certificate must chain to the CA file's certificates (or, without
    /// one, to the webpki/Mozilla roots); its name is not checked.
    VerifyCa,
    /// As `verify-ca`, and the certificate must name the host connected to.
    VerifyFull,
}

impl FromStr for SslMode {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(StoreError::Backend(format!(
                    "postgres: unknown sslmode {other:?} (disable, prefer, require, verify-ca, \
                     verify-full)"
                )))
            }
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        })
    }
}

/// The URL split into what tokio-postgres parses and the TLS settings it does not know.
pub(crate) struct ParsedUrl {
    pub config: tokio_postgres::Config,
    pub ssl_mode: Option<SslMode>,
    pub ca_file: Option<PathBuf>,
}

/// Parses `postgres://user:password@host:port/dbname?param=value&...`, taking out `sslmode` and
/// `sslrootcert` (tokio-postgres knows only disable/prefer/require).
pub(crate) fn parse_url(url: &str) -> Result<ParsedUrl, StoreError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(StoreError::Backend(
            "postgres: the store URL must start with postgres:// or postgresql://".to_string(),
        ));
    }
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut kept = Vec::new();
    let mut ssl_mode = None;
    let mut ca_file = None;
    for pair in query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = || {
            percent_decode_str(value)
                .decode_utf8()
                .map(|v| v.into_owned())
                .map_err(|_| StoreError::Backend(format!("postgres: {name} is not UTF-8")))
        };
        match name {
            "sslmode" => ssl_mode = Some(decoded()?.parse()?),
            "sslrootcert" => ca_file = Some(PathBuf::from(decoded()?)),
            _ => kept.push(pair),
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    // tokio-postgres's errors about a URL do not repeat it (so no password reaches a log).
    let config = tokio_postgres::Config::from_str(&rest)
        .map_err(|e| StoreError::Backend(format!("postgres: invalid store URL: {e}")))?;
    Ok(ParsedUrl {
        config,
        ssl_mode,
        ca_file,
    })
}

/// The certificates of a PEM file.
fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    let failure =
        |what: String| StoreError::Backend(format!("postgres CA file {}: {what}", path.display()));
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| failure(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| failure(e.to_string()))?;
    if certs.is_empty() {
        return Err(failure("no PEM CERTIFICATE found".to_string()));
    }
    Ok(certs)
}

/// The TLS connector for `mode`: rustls with the aws-lc-rs provider (never the process
/// default), TLS 1.2 and 1.3, ALPN `postgresql`. Also returns the mode tokio-postgres applies.
pub(crate) fn connector(
    mode: SslMode,
    ca_file: Option<&Path>,
) -> Result<(MakeRustlsConnect, tokio_postgres::config::SslMode), StoreError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls_error =
        |e: rustls::Error| StoreError::Backend(format!("postgres TLS configuration: {e}"));
    let roots = || -> Result<Arc<rustls::RootCertStore>, StoreError> {
        let mut roots = rustls::RootCertStore::empty();
        match ca_file {
            Some(path) => {
                for cert in load_ca_file(path)? {
                    roots.add(cert).map_err(|e| {
                        StoreError::Backend(format!(
                            "postgres CA file {}: not a usable CA certificate: {e}",
                            path.display()
                        ))
                    })?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        Ok(Arc::new(roots))
    };
    let webpki = |roots| {
        WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| StoreError::Backend(format!("postgres TLS configuration: {e}")))
    };
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, ca_file) {
        (SslMode::Disable, _) | (SslMode::Prefer | SslMode::Require, None) => {
            Arc::new(EncryptOnly(provider.clone()))
        }
        (SslMode::Prefer | SslMode::Require, Some(_)) | (SslMode::VerifyCa, _) => {
            Arc::new(ChainOnly(webpki(roots()?)?))
        }
        (SslMode::VerifyFull, _) => webpki(roots()?)?,
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    let driver_mode = match mode {
        SslMode::Disable => tokio_postgres::config::SslMode::Disable,
        SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            tokio_postgres::config::SslMode::Require
        }
    };
    Ok((MakeRustlsConnect::new(config), driver_mode))
}

/// `sslmode=verify-ca`: the chain must verify, the name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The webpki verifier checks the chain (and expiry) before the name, so a name error
        // means everything else passed.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `sslmode=prefer`/`require` without a CA file: encrypted, the certificate not checked (the
/// handshake signatures still are).
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
