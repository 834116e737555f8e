//! KMS as Secrets Manager sees it: the [`KeyProvider`] implementation.

use super::ops;
use super::records::{AliasRecord, ALIAS_TABLE, RECORD_VERSION};
use super::{key_arn, Kms, KmsError};
use crate::common::NewKey;
use coffer_core::keys::{KeyFailure, KeyProvider};
use coffer_core::RequestContext;
use coffer_store::Transaction;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// The alias of the AWS managed key Secrets Manager uses by default.
pub const SECRETS_MANAGER_ALIAS: &str = "alias/aws/secretsmanager";

impl From<KmsError> for KeyFailure {
    fn from(e: KmsError) -> Self {
        match e {
            KmsError::NotFound(m) => KeyFailure::NotFound(m),
            KmsError::Disabled(m) => KeyFailure::Disabled(m),
            KmsError::InvalidState(m) => KeyFailure::InvalidState(m),
            KmsError::NotAuthorized(m) | KmsError::AccessDenied(m) => KeyFailure::AccessDenied(m),
            other => KeyFailure::Internal(other.to_string()),
        }
    }
}

impl KeyProvider for Kms {
    fn key_arn(&self, ctx: &RequestContext, key_ref: &str) -> Result<String, KeyFailure> {
        // Naming a key is not a use of it: Secrets Manager resolves references as itself, and
        // the caller's permissions are checked when the key encrypts or decrypts.
        let ctx = &RequestContext {
            role: None,
            ..ctx.clone()
        };
        let w = self.world.read();
        let (key, _) = self.resolve(&w, ctx, ops::KmsAction::DescribeKey.info(), key_ref)?;
        Ok(key_arn(
            ctx.partition(),
            &key.region,
            &key.account,
            &key.key_id,
        ))
    }

    fn default_key_arn(&self, ctx: &RequestContext) -> Result<String, KeyFailure> {
        if let Ok(arn) = KeyProvider::key_arn(self, ctx, SECRETS_MANAGER_ALIAS) {
            return Ok(arn);
        }
        let mut w = self.world.write();
        // Another request may have made it between the two locks.
        if let Some(a) = w
            .region(&ctx.account_id, &ctx.region)
            .and_then(|r| r.aliases.get(SECRETS_MANAGER_ALIAS))
        {
            return Ok(key_arn(
                ctx.partition(),
                &ctx.region,
                &ctx.account_id,
                &a.target_key_id,
            ));
        }
        let policy = format!(
            "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"auto-secretsmanager-2\",\n  \"Statement\" : [ {{\n    \"Sid\" : \"Allow access through AWS Secrets Manager for all principals in the account that are authorized to use AWS Secrets Manager\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : \"*\"\n    }},\n    \"Action\" : [ \"kms:Encrypt\", \"kms:Decrypt\", \"kms:ReEncrypt*\", \"kms:CreateGrant\", \"kms:DescribeKey\" ],\n    \"Resource\" : \"*\",\n    \"Condition\" : {{\n      \"StringEquals\" : {{\n        \"kms:CallerAccount\" : \"{account}\",\n        \"kms:ViaService\" : \"secretsmanager.{region}.amazonaws.com\"\n      }}\n    }}\n  }}, {{\n    \"Sid\" : \"Allow direct access to key metadata to the account\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : \"arn:{partition}:iam::{account}:root\"\n    }},\n    \"Action\" : [ \"kms:Describe*\", \"kms:Get*\", \"kms:List*\", \"kms:RevokeGrant\" ],\n    \"Resource\" : \"*\"\n  }} ]\n}}",
            account = ctx.account_id,
            region = ctx.region,
            partition = ctx.partition(),
        );
        let new = NewKey {
            spec: coffer_crypto::asymmetric::KeySpec::SymmetricDefault,
            usage: "ENCRYPT_DECRYPT",
            material: Some(Kms::generate_material(
                coffer_crypto::asymmetric::KeySpec::SymmetricDefault,
            )?),
            multi_region: false,
            key_manager: "AWS",
            description:
                "Default key that protects my Secrets Manager data when no other key is defined"
                    .into(),
            policy,
            tags: Vec::new(),
            fixed: Default::default(),
        };
        let key = self.create_key_internal(&mut w, ctx, new)?;
        let now = self.clock.now();
        let alias = AliasRecord {
            v: RECORD_VERSION,
            account: ctx.account_id.clone(),
            region: ctx.region.clone(),
            name: SECRETS_MANAGER_ALIAS.into(),
            target_key_id: key.key_id.clone(),
            created: now,
            updated: now,
        };
        let mut tx = Transaction::new();
        tx.put(
            ALIAS_TABLE,
            &alias.store_key(),
            serde_json::to_vec(&alias).map_err(KmsError::from)?,
        );
        self.commit(&tx)?;
        w.put_alias(alias);
        Ok(key_arn(
            ctx.partition(),
            &ctx.region,
            &ctx.account_id,
            &key.key_id,
        ))
    }

    fn generate_data_key(
        &self,
        ctx: &RequestContext,
        key_ref: &str,
        enc_ctx: &BTreeMap<String, String>,
    ) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), KeyFailure> {
        let ctx = &ctx.via_service("secretsmanager");
        let data_key =
            coffer_crypto::random::bytes(32).map_err(|e| KeyFailure::Internal(e.to_string()))?;
        let (blob, _, _) = self.seal(
            ctx,
            ops::KmsAction::GenerateDataKey.info(),
            key_ref,
            enc_ctx,
            &data_key,
            None,
        )?;
        Ok((data_key, blob))
    }

    fn decrypt(
        &self,
        ctx: &RequestContext,
        blob: &[u8],
        enc_ctx: &BTreeMap<String, String>,
    ) -> Result<Zeroizing<Vec<u8>>, KeyFailure> {
        let ctx = &ctx.via_service("secretsmanager");
        let (plain, _, _) = self.open(
            ctx,
            ops::KmsAction::Decrypt.info(),
            blob,
            None,
            enc_ctx,
            None,
        )?;
        Ok(plain)
    }
}
