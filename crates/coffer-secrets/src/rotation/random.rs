//! The `random-password` rotator: AWS's generic rotation template, in process.

use super::{
    finish_secret, rotator_context, staged_versions, RotationEvent, RotationFailure, RotationStep,
    Rotator, SecretsApi,
};
use crate::SmError;
use coffer_core::RequestContext;
use coffer_model::secretsmanager::*;
use std::sync::Weak;

/// Rotates a password in process, as AWS's generic rotation template does: createSecret puts a
/// new value (GetRandomPassword) as AWSPENDING unless the pending version already has one;
/// setSecret and testSecret have nothing outside Secrets Manager to change; finishSecret moves
/// AWSCURRENT. If the current value is a JSON object with a `"password"` key, only that key is
/// replaced; otherwise the whole string.
pub struct RandomPasswordRotator {
    secrets: Weak<dyn SecretsApi>,
    rules: GetRandomPasswordRequest,
}

impl RandomPasswordRotator {
    /// A rotator calling back into `secrets` with these password rules.
    pub fn new(secrets: Weak<dyn SecretsApi>, rules: GetRandomPasswordRequest) -> Self {
        Self { secrets, rules }
    }
}

impl Rotator for RandomPasswordRotator {
    fn invoke(&self, event: &RotationEvent) -> Result<(), RotationFailure> {
        let sm = self
            .secrets
            .upgrade()
            .ok_or_else(|| RotationFailure::new("Secrets Manager is shutting down"))?;
        let sm: &dyn SecretsApi = &*sm;
        let ctx = rotator_context(&event.secret_id, "random-password")?;
        let Some(stages) = staged_versions(sm, &ctx, event)? else {
            return Ok(());
        };
        match event.step {
            RotationStep::CreateSecret => self.create(sm, &ctx, event),
            RotationStep::SetSecret | RotationStep::TestSecret => Ok(()),
            RotationStep::FinishSecret => finish_secret(sm, &ctx, event, &stages),
        }
    }
}

impl RandomPasswordRotator {
    fn create(
        &self,
        sm: &dyn SecretsApi,
        ctx: &RequestContext,
        event: &RotationEvent,
    ) -> Result<(), RotationFailure> {
        let arn = &event.secret_id;
        let token = &event.client_request_token;
        let current = sm.get_secret_value(
            ctx,
            GetSecretValueRequest {
                secret_id: Some(arn.clone()),
                version_id: None,
                version_stage: Some(AWSCURRENT.to_string()),
            },
        )?;
        match sm.get_secret_value(
            ctx,
            GetSecretValueRequest {
                secret_id: Some(arn.clone()),
                version_id: Some(token.clone()),
                version_stage: Some(AWSPENDING.to_string()),
            },
        ) {
            // A retried rotation: the pending value from the earlier attempt is kept.
            Ok(_) => return Ok(()),
            Err(SmError::ResourceNotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let Some(current) = current.secret_string else {
            return Err(RotationFailure::new(format!(
                "the random-password rotator rotates string secrets; {arn} holds a binary value"
            )));
        };
        let password = sm
            .get_random_password(self.rules.clone())?
            .random_password
            .ok_or_else(|| RotationFailure::new("GetRandomPassword returned no password"))?;
        let new_value = match serde_json::from_str::<serde_json::Value>(current.as_str()) {
            Ok(serde_json::Value::Object(mut obj)) if obj.contains_key("password") => {
                obj.insert(
                    "password".to_string(),
                    serde_json::Value::String(password.as_str().to_string()),
                );
                let text = serde_json::to_string(&obj)
                    .map_err(|e| RotationFailure::new(format!("encoding the new value: {e}")))?;
                // Zeroize the parsed copies.
                for v in obj.values_mut() {
                    if let serde_json::Value::String(s) = v {
                        zeroize::Zeroize::zeroize(s);
                    }
                }
                SecretText::new(text)
            }
            _ => password,
        };
        sm.put_secret_value(
            ctx,
            PutSecretValueRequest {
                secret_id: Some(arn.clone()),
                client_request_token: Some(token.clone()),
                secret_binary: None,
                secret_string: Some(new_value),
                version_stages: Some(vec![AWSPENDING.to_string()]),
                rotation_token: None,
            },
        )?;
        Ok(())
    }
}
