//! IAM users' access keys: Create/List/Update/DeleteAccessKey and GetAccessKeyLastUsed. The
//! keys live in [`coffer_iam::identity`] (secrets wrapped under the root key, shown once, at
//! creation); the users, and who may manage whose keys, in [`coffer_iam::Iam`].

use super::{iso8601, Params, Xml};
use crate::Coffer;
use coffer_core::RequestContext;
use coffer_iam::identity::{AccessKeyMeta, IdentityError, MAX_KEYS_PER_USER};
use coffer_iam::{IamError, UserInfo};
use coffer_model::ops::{IamAction, IamOp};
use coffer_model::{Timestamp, Validator};

fn identity_error(e: IdentityError) -> IamError {
    match e {
        IdentityError::Store(s) => IamError::Store(s),
        other => IamError::Internal(other.to_string()),
    }
}

fn no_such_key(id: &str) -> IamError {
    IamError::NoSuchEntity(format!("The Access Key with id {id} cannot be found."))
}

fn status(active: bool) -> &'static str {
    if active {
        "Active"
    } else {
        "Inactive"
    }
}

fn meta_xml(x: &mut Xml, k: &AccessKeyMeta) {
    x.elem("UserName", &k.user_name);
    x.elem("AccessKeyId", &k.access_key_id);
    x.elem("Status", status(k.active));
    x.elem(
        "CreateDate",
        &iso8601(Timestamp::from_millis(k.create_date)),
    );
}

/// The user an access-key request is about: `UserName`, or else the calling user. A root
/// caller must name one: Coffer makes no further root access keys.
fn target_user(
    coffer: &Coffer,
    ctx: &RequestContext,
    action: IamAction,
    name: Option<&str>,
) -> Result<UserInfo, IamError> {
    let mut v = Validator::new();
    coffer_model::iam::check_name(&mut v, "UserName", name, 128);
    v.finish()?;
    let name = match (name, &ctx.role) {
        (Some(n), _) => n.to_string(),
        (None, Some(r)) if r.is_user() => r.role_name.clone(),
        _ => {
            return Err(IamError::InvalidInput(
                "Coffer manages access keys of IAM users only: name the user (UserName).".into(),
            ))
        }
    };
    coffer.iam.authorize_user_action(ctx, action, &name)?;
    coffer.iam.user(&ctx.account_id, &name).ok_or_else(|| {
        IamError::NoSuchEntity(format!("The user with name {name} cannot be found."))
    })
}

fn check_key_id(v: &mut Validator, id: Option<&str>) {
    v.required("AccessKeyId", &id);
    v.length("AccessKeyId", id, 16, 128);
    v.pattern(
        "AccessKeyId",
        id,
        |s| s.chars().all(|c| c.is_ascii_alphanumeric()),
        "[\\w]+",
    );
}

/// Runs one access-key operation; `Ok(Some(xml))` is the inside of its `…Result` element.
pub(super) fn run(
    coffer: &Coffer,
    ctx: &RequestContext,
    op: IamOp,
    p: &Params<'_>,
) -> Result<Option<String>, IamError> {
    let identity = &coffer.identity;
    let mut x = Xml::default();
    match op {
        IamOp::CreateAccessKey => {
            let user = target_user(coffer, ctx, IamAction::CreateAccessKey, p.get("UserName"))?;
            let now = coffer.clock.now().millis;
            let now = now - now.rem_euclid(1000);
            let key = identity
                .create_user_key(&ctx.account_id, (&user.name, &user.arn, &user.user_id), now)
                .map_err(identity_error)?
                .ok_or_else(|| {
                    IamError::LimitExceeded(format!(
                        "Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER}"
                    ))
                })?;
            x.open("AccessKey");
            x.elem("UserName", &key.meta.user_name);
            x.elem("AccessKeyId", &key.meta.access_key_id);
            x.elem("Status", status(true));
            x.elem("SecretAccessKey", &key.secret_access_key);
            x.elem(
                "CreateDate",
                &iso8601(Timestamp::from_millis(key.meta.create_date)),
            );
            x.close("AccessKey");
        }
        IamOp::ListAccessKeys => {
            let mut v = Validator::new();
            let paging = p.paging()?;
            paging.check(&mut v);
            v.finish()?;
            let user = target_user(coffer, ctx, IamAction::ListAccessKeys, p.get("UserName"))?;
            let keys = identity.user_keys(&ctx.account_id, &user.name);
            x.list("AccessKeyMetadata", &keys, meta_xml);
            x.elem("IsTruncated", "false");
        }
        IamOp::UpdateAccessKey => {
            let (id, st) = (p.get("AccessKeyId"), p.get("Status"));
            let mut v = Validator::new();
            check_key_id(&mut v, id);
            v.required("Status", &st);
            v.one_of("Status", st, &["Active", "Inactive"]);
            v.finish()?;
            let id = id.unwrap_or_default();
            let user = target_user(coffer, ctx, IamAction::UpdateAccessKey, p.get("UserName"))?;
            let found = identity
                .set_key_active(&ctx.account_id, &user.name, id, st == Some("Active"))
                .map_err(identity_error)?;
            if !found {
                return Err(no_such_key(id));
            }
            return Ok(None);
        }
        IamOp::DeleteAccessKey => {
            let id = p.get("AccessKeyId");
            let mut v = Validator::new();
            check_key_id(&mut v, id);
            v.finish()?;
            let id = id.unwrap_or_default();
            let user = target_user(coffer, ctx, IamAction::DeleteAccessKey, p.get("UserName"))?;
            let found = identity
                .delete_user_key(&ctx.account_id, &user.name, id)
                .map_err(identity_error)?;
            if !found {
                return Err(no_such_key(id));
            }
            return Ok(None);
        }
        IamOp::GetAccessKeyLastUsed => {
            let id = p.get("AccessKeyId");
            let mut v = Validator::new();
            check_key_id(&mut v, id);
            v.finish()?;
            let id = id.unwrap_or_default();
            let (user, used) = identity
                .key_last_used(&ctx.account_id, id)
                .ok_or_else(|| no_such_key(id))?;
            coffer
                .iam
                .authorize_user_action(ctx, IamAction::GetAccessKeyLastUsed, &user)?;
            x.elem("UserName", &user);
            x.open("AccessKeyLastUsed");
            match used {
                Some(u) => {
                    x.elem("LastUsedDate", &iso8601(Timestamp::from_millis(u.date)));
                    x.elem("ServiceName", &u.service);
                    x.elem("Region", &u.region);
                }
                None => {
                    x.elem("ServiceName", "N/A");
                    x.elem("Region", "N/A");
                }
            }
            x.close("AccessKeyLastUsed");
        }
        other => {
            return Err(IamError::Internal(format!(
                "operation {} is not an access-key operation",
                other.name()
            )))
        }
    }
    Ok(Some(x.0))
}
