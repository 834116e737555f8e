//! The operator commands' client: one HTTP/1.1 GET to a Coffer server, over TLS when the URL
//! is `https://` (rustls with aws-lc-rs; system roots, or `--ca-bundle` / `AWS_CA_BUNDLE`), signed
//! with SigV4 when credentials are given.

use anyhow::{bail, Context, Result};
use coffer_crypto::digest::{hmac_sha256, sha256_hex};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// Credentials to sign with.
pub struct Credentials {
    /// Access key ID.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Zeroizing<String>,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
}

/// Where the credentials come from, in the AWS CLI's order: a credentials file given on the
/// command line, `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, then the shared credentials file
/// (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`) under `profile` / `AWS_PROFILE`.
pub fn credentials(file: Option<&Path>, profile: Option<&str>) -> Result<Credentials> {
    if file.is_none() {
        if let (Ok(ak), Ok(sk)) = (
            std::env::var("AWS_ACCESS_KEY_ID"),
            std::env::var("AWS_SECRET_ACCESS_KEY"),
        ) {
            return Ok(Credentials {
                access_key_id: ak,
                secret_access_key: Zeroizing::new(sk),
                session_token: std::env::var("AWS_SESSION_TOKEN").ok(),
            });
        }
    }
    let path = match file {
        Some(f) => f.to_path_buf(),
        None => match std::env::var_os("AWS_SHARED_CREDENTIALS_FILE") {
            Some(p) => PathBuf::from(p),
            None => PathBuf::from(std::env::var_os("HOME").context(
                "no credentials: pass --credentials-file (e.g. coffer-data/root-credentials)",
            )?)
            .join(".aws/credentials"),
        },
    };
    let profile = profile
        .map(str::to_string)
        .or_else(|| std::env::var("AWS_PROFILE").ok())
        .unwrap_or_else(|| "default".into());
    let text = Zeroizing::new(
        std::fs::read_to_string(&path)
            .with_context(|| format!("reading credentials file {}", path.display()))?,
    );
    let mut in_profile = false;
    let (mut ak, mut sk, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = name.trim() == profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = v.trim().to_string();
            match k.trim() {
                "aws_access_key_id" => ak = Some(v),
                "aws_secret_access_key" => sk = Some(Zeroizing::new(v)),
                "aws_session_token" => token = Some(v),
                _ => {}
            }
        }
    }
    match (ak, sk) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Credentials {
            access_key_id,
            secret_access_key,
            session_token: token,
        }),
        _ => bail!(
            "no credentials for profile [{profile}] in {}",
            path.display()
        ),
    }
}

/// A response.
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Vec<u8>,
}

fn tls_config(ca_bundle: Option<&Path>) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let bundle = ca_bundle
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("AWS_CA_BUNDLE").map(PathBuf::from));
    match bundle {
        Some(path) => {
            let pem = std::fs::read(&path)
                .with_context(|| format!("reading CA bundle {}", path.display()))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.with_context(|| format!("CA bundle {}", path.display()))?;
                roots
                    .add(cert)
                    .with_context(|| format!("CA bundle {}", path.display()))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    Ok(
        rustls::ClientConfig::builder_with_provider(coffer_http::tls::provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// `GET url` (path included), signed by `creds` for service `coffer` when given.
pub async fn get(
    url: &str,
    creds: Option<&Credentials>,
    ca_bundle: Option<&Path>,
    timeout: Duration,
) -> Result<Reply> {
    tokio::time::timeout(timeout, request("GET", url, creds, ca_bundle))
        .await
        .with_context(|| format!("no answer from {url} within {timeout:?}"))?
}

/// `POST url` with an empty body, signed as [`get`] is.
pub async fn post(
    url: &str,
    creds: Option<&Credentials>,
    ca_bundle: Option<&Path>,
    timeout: Duration,
) -> Result<Reply> {
    tokio::time::timeout(timeout, request("POST", url, creds, ca_bundle))
        .await
        .with_context(|| format!("no answer from {url} within {timeout:?}"))?
}

async fn request(
    method: &str,
    url: &str,
    creds: Option<&Credentials>,
    ca_bundle: Option<&Path>,
) -> Result<Reply> {
    let uri: http::Uri = url.parse().with_context(|| format!("not a URL: {url}"))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => bail!("{url}: the endpoint must start with http:// or https://"),
    };
    let host = uri.host().context("the URL has no host")?.to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_else(|| host.clone());
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let connect_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let tcp = tokio::net::TcpStream::connect((connect_host.as_str(), port))
        .await
        .with_context(|| format!("connecting to {host}:{port}"))?;

    let mut req = http::Request::builder()
        .method(method)
        .uri(&path)
        .header("host", &authority);
    if let Some(c) = creds {
        for (k, v) in sign(
            method,
            c,
            &authority,
            &path,
            time::OffsetDateTime::now_utc(),
        ) {
            req = req.header(k, v);
        }
    }
    let req = req.body(Empty::<bytes::Bytes>::new())?;
    if https {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(tls_config(ca_bundle)?));
        let name = ServerName::try_from(connect_host.clone())
            .with_context(|| format!("{host} is not a valid server name"))?;
        let tls = connector
            .connect(name, tcp)
            .await
            .with_context(|| format!("TLS with {host}:{port}"))?;
        send(TokioIo::new(tls), req).await
    } else {
        send(TokioIo::new(tcp), req).await
    }
}

async fn send<I>(io: I, req: http::Request<Empty<bytes::Bytes>>) -> Result<Reply>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes().to_vec();
    Ok(Reply { status, body })
}

/// SigV4 headers for `METHOD path` with an empty body (region `us-east-1`, service `coffer`).
fn sign(
    method: &str,
    c: &Credentials,
    host: &str,
    path: &str,
    now: time::OffsetDateTime,
) -> Vec<(&'static str, String)> {
    let fmt = |f: &[time::format_description::FormatItem<'_>]| now.format(f).unwrap_or_default();
    let amz_date = fmt(time::macros::format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ));
    let date = fmt(time::macros::format_description!("[year][month][day]"));
    let (region, service) = ("us-east-1", "coffer");
    let (p, q) = path.split_once('?').unwrap_or((path, ""));
    let mut headers: Vec<(&'static str, String)> =
        vec![("host", host.to_string()), ("x-amz-date", amz_date.clone())];
    if let Some(t) = &c.session_token {
        headers.push(("x-amz-security-token", t.clone()));
    }
    let signed: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
    let signed = signed.join(";");
    let mut canonical = format!("{method}\n{p}\n{q}\n");
    for (k, v) in &headers {
        canonical.push_str(&format!("{k}:{}\n", v.trim()));
    }
    canonical.push_str(&format!("\n{signed}\n{}", sha256_hex(b"")));
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let k_secret = Zeroizing::new(format!("AWS4{}", c.secret_access_key.as_str()));
    let k_date = hmac_sha256(k_secret.as_bytes(), date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    let k_signing = hmac_sha256(&k_service, b"aws4_request");
    let signature = hex(&hmac_sha256(&k_signing, to_sign.as_bytes()));
    let mut out: Vec<(&'static str, String)> =
        headers.into_iter().filter(|(k, _)| *k != "host").collect();
    out.push((
        "authorization",
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            c.access_key_id
        ),
    ));
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
