//! KMS as Secrets Manager sees it: the [`KeyProvider`] implementation.

use super::ops;
use super::records::{AliasRecord, ALIAS_TABLE, RECORD_VERSION};
use super::{key_arn, Kms, KmsError};
use crate::common::NewKey;
use crate::state::World;
use coffer_core::keys::{KeyFailure, KeyProvider};
use coffer_core::RequestContext;
use coffer_store::Transaction;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// The alias of the AWS managed key Secrets Manager uses by default.
pub const SECRETS_MANAGER_ALIAS: &str = "alias/aws/secretsmanager";

/// The predefined AWS aliases ListAliases shows in every account and Region (without a
/// `TargetKeyId` until their AWS managed key exists), with the service each key is used through
/// (`kms:ViaService` `<service>.<region>.amazonaws.com`).
pub const AWS_MANAGED_ALIASES: &[(&str, &str)] = &[
    ("alias/aws/acm", "acm"),
    ("alias/aws/dynamodb", "dynamodb"),
    ("alias/aws/ebs", "ec2"),
    ("alias/aws/elasticfilesystem", "elasticfilesystem"),
    ("alias/aws/es", "es"),
    ("alias/aws/glue", "glue"),
    ("alias/aws/kinesisvideo", "kinesisvideo"),
    ("alias/aws/lambda", "lambda"),
    ("alias/aws/rds", "rds"),
    ("alias/aws/redshift", "redshift"),
    ("alias/aws/s3", "s3"),
    ("alias/aws/secretsmanager", "secretsmanager"),
    ("alias/aws/ssm", "ssm"),
    ("alias/aws/xray", "xray"),
];

impl Kms {
    /// The key ID of the AWS managed key behind a predefined alias, made with its alias on first
    /// use as AWS makes it (a symmetric key, `KeyManager` `AWS`, a policy allowing the account's
    /// principals through the service). `NotFoundException` for any other alias.
    pub(crate) fn aws_managed_key(
        &self,
        w: &mut World,
        ctx: &RequestContext,
        alias: &str,
    ) -> Result<String, KmsError> {
        if let Some(a) = w
            .region(&ctx.account_id, &ctx.region)
            .and_then(|r| r.aliases.get(alias))
        {
            return Ok(a.target_key_id.clone());
        }
        let Some((_, service)) = AWS_MANAGED_ALIASES.iter().find(|(a, _)| *a == alias) else {
            return Err(KmsError::NotFound(format!(
                "Alias {} is not found.",
                crate::alias_arn(ctx.partition(), &ctx.region, &ctx.account_id, alias)
            )));
        };
        let (policy_id, sid, description) = if *service == "secretsmanager" {
            (
                "auto-secretsmanager-2".to_string(),
                "Allow access through AWS Secrets Manager for all principals in the account that are authorized to use AWS Secrets Manager".to_string(),
                "Default key that protects my Secrets Manager data when no other key is defined"
                    .to_string(),
            )
        } else {
            let short = alias.trim_start_matches("alias/aws/");
            (
                format!("auto-{short}"),
                format!("Allow access through {short} for all principals in the account that are authorized to use {short}"),
                format!("Default key that protects my {short} data when no other key is defined"),
            )
        };
        let policy = format!(
            "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"{policy_id}\",\n  \"Statement\" : [ {{\n    \"Sid\" : \"{sid}\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : \"*\"\n    }},\n    \"Action\" : [ \"kms:Encrypt\", \"kms:Decrypt\", \"kms:ReEncrypt*\", {gdk}\"kms:CreateGrant\", \"kms:DescribeKey\" ],\n    \"Resource\" : \"*\",\n    \"Condition\" : {{\n      \"StringEquals\" : {{\n        \"kms:CallerAccount\" : \"{account}\",\n        \"kms:ViaService\" : \"{service}.{region}.amazonaws.com\"\n      }}\n    }}\n  }}, {{\n    \"Sid\" : \"Allow direct access to key metadata to the account\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \"AWS\" : \"arn:{partition}:iam::{account}:root\"\n    }},\n    \"Action\" : [ \"kms:Describe*\", \"kms:Get*\", \"kms:List*\", \"kms:RevokeGrant\" ],\n    \"Resource\" : \"*\"\n  }} ]\n}}",
            account = ctx.account_id,
            region = ctx.region,
            partition = ctx.partition(),
            gdk = if *service == "secretsmanager" {
                ""
            } else {
                "\"kms:GenerateDataKey*\", "
            },
        );
        let new = NewKey {
            spec: coffer_crypto::asymmetric::KeySpec::SymmetricDefault,
            usage: "ENCRYPT_DECRYPT",
            material: Some(Kms::generate_material(
                coffer_crypto::asymmetric::KeySpec::SymmetricDefault,
            )?),
            multi_region: false,
            key_manager: "AWS",
            description,
            policy,
            tags: Vec::new(),
            fixed: Default::default(),
        };
        let key = self.create_key_internal(w, ctx, new)?;
        let now = self.clock.now();
        let rec = AliasRecord {
            v: RECORD_VERSION,
            account: ctx.account_id.clone(),
            region: ctx.region.clone(),
            name: alias.into(),
            target_key_id: key.key_id.clone(),
            created: now,
            updated: now,
        };
        let mut tx = Transaction::new();
        tx.put(ALIAS_TABLE, &rec.store_key(), serde_json::to_vec(&rec)?);
        self.commit(&tx)?;
        w.put_alias(rec);
        Ok(key.key_id.clone())
    }
}

impl From<KmsError> for KeyFailure {
    fn from(e: KmsError) -> Self {
        match e {
            KmsError::NotFound(m) => KeyFailure::NotFound(m),
            KmsError::Disabled(m) => KeyFailure::Disabled(m),
            KmsError::InvalidState(m) => KeyFailure::InvalidState(m),
            KmsError::NotAuthorized(m) | KmsError::AccessDenied(m) => KeyFailure::AccessDenied(m),
            e if e.is_conflict() => KeyFailure::Conflict,
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
        let key_id = self.aws_managed_key(&mut w, ctx, SECRETS_MANAGER_ALIAS)?;
        Ok(key_arn(
            ctx.partition(),
            &ctx.region,
            &ctx.account_id,
            &key_id,
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
