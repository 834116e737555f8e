//! The `http` rotator: POSTs each rotation event to a service of the operator's.

use super::{RotationEvent, RotationFailure, Rotator};
use std::sync::Arc;
use std::time::Duration;

/// POSTs each event as JSON to a URL; any 2xx answer is success. The receiving service calls
/// back into Coffer's API with its own credentials, as a Lambda function would.
pub struct HttpRotator {
    url: String,
    agent: ureq::Agent,
}

impl HttpRotator {
    /// A rotator POSTing to `url`, giving up on a step after `timeout`.
    pub fn new(url: String, timeout: Duration) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(provider)
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .new_agent();
        Self { url, agent }
    }
}

impl Rotator for HttpRotator {
    fn invoke(&self, event: &RotationEvent) -> Result<(), RotationFailure> {
        let body = serde_json::to_vec(event)
            .map_err(|e| RotationFailure::new(format!("encoding the event: {e}")))?;
        let resp = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .send(&body[..])
            .map_err(|e| RotationFailure::new(format!("POST {}: {e}", self.url)))?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(RotationFailure::new(format!(
                "POST {} answered {status}",
                self.url
            )))
        }
    }
}
