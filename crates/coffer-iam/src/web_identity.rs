//! Web identity tokens: the OpenID Connect ID tokens (JWTs) `AssumeRoleWithWebIdentity`
//! exchanges for role credentials, verified as AWS verifies them (ADR 0018):
//!
//! 1. the token is a compact JWS whose header names an asymmetric `alg` (RS256/384/512,
//!    ES256/384; never `none` or HMAC) and whose payload is a JSON object;
//! 2. its `iss` names an OpenID Connect provider of the role's account;
//! 3. its `aud` (a string or a list) holds one of the provider's client IDs;
//! 4. its signature verifies with a key of the issuer's JWKS (by `kid` when the header has one);
//! 5. `exp` is in the future (no leeway); `nbf` and `iat` are not more than
//!    [`CLOCK_SKEW_SECS`] ahead of the clock; `sub` is present.
//!
//! The JWKS comes from the configuration (a file or inline, for air-gapped sites) or from the
//! issuer over HTTPS: `https://ISSUER/.well-known/openid-configuration`, then its `jwks_uri`
//! (which must be HTTPS too). Fetched sets are cached for [`JWKS_TTL`] and fetched again early
//! when a token names a `kid` the cached set lacks (at most every [`JWKS_MIN_REFRESH`]).

use crate::OidcProviderInfo;
use base64::Engine;
use coffer_crypto::jws::{self, JwkKey, JwsAlg};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How far `nbf` and `iat` may be ahead of this server's clock.
pub const CLOCK_SKEW_SECS: i64 = 300;
/// How long a fetched JWKS is used before it is fetched again.
pub const JWKS_TTL: Duration = Duration::from_secs(3600);
/// The shortest time between two fetches of one issuer's JWKS.
pub const JWKS_MIN_REFRESH: Duration = Duration::from_secs(60);
/// The largest JWKS or discovery document read.
const MAX_DOCUMENT_BYTES: u64 = 1 << 20;

/// Why a token was refused. The text of each is AWS's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT, or its header or payload is not JSON, or a claim has the wrong type.
    #[error("The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)")]
    Malformed,
    /// No provider of the account has the token's issuer.
    #[error("No OpenIDConnect provider found in your account for {0}")]
    NoProvider(String),
    /// The token's audience is none of the provider's client IDs.
    #[error("Incorrect token audience")]
    Audience,
    /// The issuer's keys could not be had (not configured, unreachable, not a JWKS).
    #[error("Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements")]
    Keys,
    /// The signature does not verify with any of the issuer's keys, or the `alg` is refused.
    #[error("The web identity token that was passed could not be validated by AWS. Get a new identity token from the identity provider and then retry the request.")]
    Signature,
    /// `exp` has passed (ExpiredTokenException).
    #[error("Token expired: current date/time {now} must be before the expiration date/time{exp}")]
    Expired {
        /// The clock, seconds since the epoch.
        now: i64,
        /// The token's `exp`.
        exp: i64,
    },
    /// `nbf` or `iat` is ahead of the clock.
    #[error("The web identity token that was passed is not yet valid. Get a new identity token from the identity provider and then retry the request.")]
    NotYetValid,
    /// A claim AWS requires is missing.
    #[error("The web identity token that was passed is missing the {0} claim.")]
    MissingClaim(&'static str),
}

impl TokenError {
    /// Whether AWS answers it `ExpiredTokenException` rather than `InvalidIdentityToken`.
    pub fn is_expired(&self) -> bool {
        matches!(self, Self::Expired { .. })
    }
}

/// A verified token: what the trust policy's conditions and the answer need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The provider that issued it.
    pub provider: OidcProviderInfo,
    /// The `iss` claim as sent (`Provider` in the answer).
    pub iss: String,
    /// `sub`.
    pub sub: String,
    /// The audience that matched a client ID (`Audience` in the answer, `URL:aud`).
    pub aud: String,
    /// `amr`, when the token has it (`URL:amr`).
    pub amr: Vec<String>,
    /// `exp`, seconds since the epoch.
    pub expires: i64,
}

/// Where an issuer's keys come from when they are not fetched.
#[derive(Debug, Clone)]
pub struct StaticJwks {
    /// The issuer, as in tokens' `iss` (`https://…`).
    pub issuer: String,
    /// The JWKS document (`{"keys": [...]}`).
    pub jwks: String,
}

/// How tokens are verified: issuers with configured keys, and how others' keys are fetched.
#[derive(Debug, Clone, Default)]
pub struct WebIdentityConfig {
    /// Issuers whose JWKS is configured (never fetched).
    pub static_jwks: Vec<StaticJwks>,
    /// PEM certificates trusted to fetch JWKS over HTTPS instead of the Mozilla roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Whether keys of issuers without a configured JWKS are fetched at all.
    pub fetch: bool,
    /// How long a fetch may take, in all.
    pub fetch_timeout: Option<Duration>,
}

/// A public key of a JWKS.
#[derive(Debug, Clone)]
struct Jwk {
    kid: Option<String>,
    alg: Option<String>,
    material: Material,
}

#[derive(Debug, Clone)]
enum Material {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ec { crv: String, x: Vec<u8>, y: Vec<u8> },
}

impl Jwk {
    fn key(&self) -> JwkKey<'_> {
        match &self.material {
            Material::Rsa { n, e } => JwkKey::Rsa { n, e },
            Material::Ec { x, y, .. } => JwkKey::Ec { x, y },
        }
    }

    fn fits(&self, alg: JwsAlg, name: &str) -> bool {
        if self.alg.as_deref().is_some_and(|a| a != name) {
            return false;
        }
        match &self.material {
            Material::Rsa { .. } => alg.key_type() == "RSA",
            Material::Ec { crv, .. } => alg.curve() == Some(crv.as_str()),
        }
    }
}

fn b64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
}

/// The signing keys of a JWKS document; keys of other uses or unknown types are left out.
fn parse_jwks(doc: &[u8]) -> Option<Vec<Jwk>> {
    let v: Value = serde_json::from_slice(doc).ok()?;
    let keys = v.get("keys")?.as_array()?;
    let text = |k: &Value, m: &str| k.get(m).and_then(Value::as_str).map(str::to_string);
    let mut out = Vec::new();
    for k in keys {
        if text(k, "use").is_some_and(|u| u != "sig") {
            continue;
        }
        let material = match k.get("kty").and_then(Value::as_str) {
            Some("RSA") => match (
                text(k, "n").and_then(|n| b64(&n)),
                text(k, "e").and_then(|e| b64(&e)),
            ) {
                (Some(n), Some(e)) => Material::Rsa { n, e },
                _ => continue,
            },
            Some("EC") => match (
                text(k, "crv"),
                text(k, "x").and_then(|x| b64(&x)),
                text(k, "y").and_then(|y| b64(&y)),
            ) {
                (Some(crv), Some(x), Some(y)) => Material::Ec { crv, x, y },
                _ => continue,
            },
            _ => continue,
        };
        out.push(Jwk {
            kid: text(k, "kid"),
            alg: text(k, "alg"),
            material,
        });
    }
    Some(out)
}

struct Cached {
    keys: Arc<Vec<Jwk>>,
    fetched: Instant,
}

/// Verifies web identity tokens; holds the configured and the fetched JWKS.
pub struct WebIdentity {
    static_keys: HashMap<String, Arc<Vec<Jwk>>>,
    fetch: bool,
    agent: ureq::Agent,
    cache: parking_lot::Mutex<HashMap<String, Cached>>,
}

impl std::fmt::Debug for WebIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebIdentity")
            .field(
                "static_issuers",
                &self.static_keys.keys().collect::<Vec<_>>(),
            )
            .field("fetch", &self.fetch)
            .finish()
    }
}

/// An issuer's name as providers and the cache know it: without `https://` and trailing `/`.
fn issuer_key(iss: &str) -> String {
    iss.strip_prefix("https://")
        .unwrap_or(iss)
        .trim_end_matches('/')
        .to_string()
}

impl WebIdentity {
    /// A verifier; fails when a configured JWKS or the CA bundle cannot be read.
    pub fn new(config: &WebIdentityConfig) -> Result<Self, String> {
        let mut static_keys = HashMap::new();
        for s in &config.static_jwks {
            let keys = parse_jwks(s.jwks.as_bytes())
                .ok_or_else(|| format!("the JWKS of {} is not a JSON Web Key Set", s.issuer))?;
            static_keys.insert(issuer_key(&s.issuer), Arc::new(keys));
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(provider);
        if let Some(pem) = &config.ca_pem {
            let mut certs = Vec::new();
            for item in ureq::tls::parse_pem(pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c.to_owned()),
                    Ok(_) => {}
                    Err(e) => return Err(format!("the CA bundle is not PEM: {e}")),
                }
            }
            if certs.is_empty() {
                return Err("the CA bundle holds no certificate".into());
            }
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        let agent = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .timeout_global(Some(config.fetch_timeout.unwrap_or(Duration::from_secs(5))))
            .https_only(true)
            .max_redirects(3)
            .build()
            .new_agent();
        Ok(Self {
            static_keys,
            fetch: config.fetch,
            agent,
            cache: parking_lot::Mutex::new(HashMap::new()),
        })
    }

    /// Verifies `token` for a role of an account whose providers `provider_for` finds by
    /// issuer, at `now` (seconds since the epoch).
    pub fn verify(
        &self,
        token: &str,
        provider_for: impl Fn(&str) -> Option<OidcProviderInfo>,
        now: i64,
    ) -> Result<VerifiedToken, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: Map<String, Value> = b64(h)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        let claims: Map<String, Value> = b64(p)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(TokenError::Malformed)?;
        let signature = b64(s).ok_or(TokenError::Malformed)?;

        let iss = match claims.get("iss") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(TokenError::Malformed),
            None => return Err(TokenError::MissingClaim("iss")),
        };
        let provider = provider_for(&iss).ok_or_else(|| TokenError::NoProvider(iss.clone()))?;
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            Some(_) => return Err(TokenError::Malformed),
            None => return Err(TokenError::MissingClaim("aud")),
        };
        let aud = audiences
            .iter()
            .find(|a| provider.client_ids.iter().any(|c| c == *a))
            .ok_or(TokenError::Audience)?
            .to_string();

        let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or("");
        let alg = JwsAlg::from_name(alg_name).ok_or(TokenError::Signature)?;
        if header.contains_key("crit") {
            return Err(TokenError::Signature);
        }
        let kid = header.get("kid").and_then(Value::as_str);
        let keys = self.keys_for(&provider.url, kid)?;
        let signing_input = &token[..h.len() + 1 + p.len()];
        let verified = keys
            .iter()
            .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
            .filter(|k| k.fits(alg, alg_name))
            .any(|k| jws::verify(alg, k.key(), signing_input.as_bytes(), &signature));
        if !verified {
            return Err(TokenError::Signature);
        }

        let number = |name: &'static str| -> Result<Option<i64>, TokenError> {
            match claims.get(name) {
                None => Ok(None),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .or_else(|| n.as_f64().map(|f| f.floor() as i64))
                    .map(Some)
                    .ok_or(TokenError::Malformed),
                Some(_) => Err(TokenError::Malformed),
            }
        };
        let exp = number("exp")?.ok_or(TokenError::MissingClaim("exp"))?;
        if now >= exp {
            return Err(TokenError::Expired { now, exp });
        }
        for claim in ["nbf", "iat"] {
            if number(claim)?.is_some_and(|t| t > now + CLOCK_SKEW_SECS) {
                return Err(TokenError::NotYetValid);
            }
        }
        let sub = match claims.get("sub") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::String(_)) | None => return Err(TokenError::MissingClaim("sub")),
            Some(_) => return Err(TokenError::Malformed),
        };
        let amr = match claims.get("amr") {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        Ok(VerifiedToken {
            provider,
            iss,
            sub,
            aud,
            amr,
            expires: exp,
        })
    }

    /// The issuer's keys: configured, cached, or fetched (again, when `kid` is not among the
    /// cached keys and the last fetch is old enough).
    fn keys_for(&self, issuer: &str, kid: Option<&str>) -> Result<Arc<Vec<Jwk>>, TokenError> {
        if let Some(keys) = self.static_keys.get(issuer) {
            return Ok(keys.clone());
        }
        if !self.fetch {
            return Err(TokenError::Keys);
        }
        let cached = {
            let cache = self.cache.lock();
            cache.get(issuer).map(|c| (c.keys.clone(), c.fetched))
        };
        if let Some((keys, fetched)) = &cached {
            let fresh = fetched.elapsed() < JWKS_TTL;
            let has_kid = kid.is_none_or(|kid| keys.iter().any(|k| k.kid.as_deref() == Some(kid)));
            if fresh && (has_kid || fetched.elapsed() < JWKS_MIN_REFRESH) {
                return Ok(keys.clone());
            }
        }
        match self.fetch_jwks(issuer) {
            Ok(keys) => {
                let keys = Arc::new(keys);
                self.cache.lock().insert(
                    issuer.to_string(),
                    Cached {
                        keys: keys.clone(),
                        fetched: Instant::now(),
                    },
                );
                Ok(keys)
            }
            Err(why) => {
                tracing::warn!(issuer, %why, "web identity: the issuer's keys could not be fetched");
                // A set fetched before still verifies tokens signed with its keys.
                cached.map(|(keys, _)| keys).ok_or(TokenError::Keys)
            }
        }
    }

    fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let mut resp = self
            .agent
            .get(url)
            .header("accept", "application/json")
            .call()
            .map_err(|e| format!("GET {url}: {e}"))?;
        resp.body_mut()
            .with_config()
            .limit(MAX_DOCUMENT_BYTES)
            .read_to_vec()
            .map_err(|e| format!("GET {url}: {e}"))
    }

    fn fetch_jwks(&self, issuer: &str) -> Result<Vec<Jwk>, String> {
        let discovery = format!("https://{issuer}/.well-known/openid-configuration");
        let doc: Value = serde_json::from_slice(&self.get(&discovery)?)
            .map_err(|e| format!("{discovery}: {e}"))?;
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .filter(|u| u.starts_with("https://"))
            .ok_or_else(|| format!("{discovery} names no https jwks_uri"))?;
        parse_jwks(&self.get(jwks_uri)?).ok_or_else(|| format!("{jwks_uri} is not a JWKS"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

    const ISSUER: &str = "https://issuer.example/cluster";

    struct Signer {
        pair: EcdsaKeyPair,
    }

    impl Signer {
        fn new() -> Self {
            let rng = SystemRandom::new();
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            Self {
                pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                    .unwrap(),
            }
        }

        fn jwks(&self, kid: &str) -> String {
            let public = self.pair.public_key().as_ref();
            let enc = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
            serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
                "x": enc(&public[1..33]), "y": enc(&public[33..])}]})
            .to_string()
        }

        fn token(&self, header: Value, claims: Value) -> String {
            let enc = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
            let input = format!(
                "{}.{}",
                enc(header.to_string().as_bytes()),
                enc(claims.to_string().as_bytes())
            );
            let sig = self
                .pair
                .sign(&SystemRandom::new(), input.as_bytes())
                .unwrap();
            format!("{input}.{}", enc(sig.as_ref()))
        }
    }

    fn provider(_: &str) -> Option<OidcProviderInfo> {
        Some(OidcProviderInfo {
            arn: "arn:aws:iam::111122223333:oidc-provider/issuer.example/cluster".into(),
            url: "issuer.example/cluster".into(),
            client_ids: vec!["sts.amazonaws.com".into()],
        })
    }

    fn verifier(signer: &Signer) -> WebIdentity {
        WebIdentity::new(&WebIdentityConfig {
            static_jwks: vec![StaticJwks {
                issuer: ISSUER.into(),
                jwks: signer.jwks("k1"),
            }],
            ..Default::default()
        })
        .unwrap()
    }

    fn claims(now: i64) -> Value {
        serde_json::json!({"iss": ISSUER, "sub": "system:serviceaccount:apps:reader",
            "aud": ["sts.amazonaws.com"], "iat": now - 10, "exp": now + 600})
    }

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn a_good_token_verifies() {
        let s = Signer::new();
        let t = s.token(
            serde_json::json!({"alg": "ES256", "kid": "k1"}),
            claims(NOW),
        );
        let v = verifier(&s).verify(&t, provider, NOW).unwrap();
        assert_eq!(v.sub, "system:serviceaccount:apps:reader");
        assert_eq!(v.aud, "sts.amazonaws.com");
        assert_eq!(v.iss, ISSUER);
    }

    #[test]
    fn bad_tokens_are_refused_with_aws_reasons() {
        let s = Signer::new();
        let w = verifier(&s);
        let header = serde_json::json!({"alg": "ES256", "kid": "k1"});
        let with = |change: &dyn Fn(&mut Value)| {
            let mut c = claims(NOW);
            change(&mut c);
            s.token(header.clone(), c)
        };
        let expired = with(&|c| c["exp"] = (NOW - 1).into());
        assert_eq!(
            w.verify(&expired, provider, NOW),
            Err(TokenError::Expired {
                now: NOW,
                exp: NOW - 1
            })
        );
        let aud = with(&|c| c["aud"] = "other".into());
        assert_eq!(w.verify(&aud, provider, NOW), Err(TokenError::Audience));
        let future = with(&|c| c["nbf"] = (NOW + 3600).into());
        assert_eq!(
            w.verify(&future, provider, NOW),
            Err(TokenError::NotYetValid)
        );
        let no_sub = with(&|c| {
            c.as_object_mut().unwrap().remove("sub");
        });
        assert_eq!(
            w.verify(&no_sub, provider, NOW),
            Err(TokenError::MissingClaim("sub"))
        );
        // Signed by another key.
        let other = Signer::new().token(header.clone(), claims(NOW));
        assert_eq!(w.verify(&other, provider, NOW), Err(TokenError::Signature));
        // alg none, with an empty signature.
        let enc = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        let none = format!(
            "{}.{}.",
            enc(&serde_json::json!({"alg": "none"})),
            enc(&claims(NOW))
        );
        assert_eq!(w.verify(&none, provider, NOW), Err(TokenError::Signature));
        for malformed in ["", "a.b", "a.b.c.d", "!!.??.**"] {
            assert_eq!(
                w.verify(malformed, provider, NOW),
                Err(TokenError::Malformed),
                "{malformed}"
            );
        }
        let good = s.token(header, claims(NOW));
        assert_eq!(
            w.verify(&good, |_| None, NOW),
            Err(TokenError::NoProvider(ISSUER.into()))
        );
    }

    #[test]
    fn an_issuer_without_keys_is_refused_when_fetching_is_off() {
        let s = Signer::new();
        let w = WebIdentity::new(&WebIdentityConfig::default()).unwrap();
        let t = s.token(serde_json::json!({"alg": "ES256"}), claims(NOW));
        assert_eq!(w.verify(&t, provider, NOW), Err(TokenError::Keys));
    }
}
