//! Permissions boundaries of users and roles: `PermissionsBoundary` on CreateUser/CreateRole,
//! Put/Delete{User,Role}PermissionsBoundary, and what the authorizer reads
//! ([`Iam::boundary_document`]). A boundary is a managed policy (customer or AWS managed) named
//! by ARN in the entity's record; the authorizer evaluates its default version (ADR 0009).

use super::*;
use crate::entity::{Entity, EntityKind};
use crate::users::UserRecord;
use coffer_model::ops::IamAction;

/// A record that may carry a permissions boundary (users and roles; groups have none).
pub(crate) trait Bounded: Entity {
    fn boundary_mut(&mut self) -> &mut Option<String>;
    fn boundary(&self) -> Option<&str>;
}

impl Bounded for UserRecord {
    fn boundary_mut(&mut self) -> &mut Option<String> {
        &mut self.permissions_boundary
    }
    fn boundary(&self) -> Option<&str> {
        self.permissions_boundary.as_deref()
    }
}

impl Bounded for RoleRecord {
    fn boundary_mut(&mut self) -> &mut Option<String> {
        &mut self.permissions_boundary
    }
    fn boundary(&self) -> Option<&str> {
        self.permissions_boundary.as_deref()
    }
}

impl State {
    /// Users and roles of `account` whose boundary is the policy `arn`.
    pub(crate) fn boundary_usage_count(&self, arn: &str, account: &str) -> usize {
        let users = self
            .users
            .values()
            .filter(|u| u.account == account && u.boundary() == Some(arn))
            .count();
        let roles = self
            .roles
            .values()
            .filter(|r| r.account == account && r.boundary() == Some(arn))
            .count();
        users + roles
    }

    /// The default document of the boundary `arn`; an empty document (which allows nothing)
    /// when the policy is gone, so that a lost boundary never grants more.
    fn boundary_text(&self, arn: &str) -> String {
        self.attached_policy(arn)
            .as_deref()
            .and_then(PolicyRecord::default_document)
            .map(str::to_string)
            .unwrap_or_default()
    }
}

impl Iam {
    /// The canonical ARN of the managed policy `arn` names, for use as a boundary;
    /// `NoSuchEntity` as AWS answers when there is none.
    pub(crate) fn boundary_policy(
        st: &State,
        ctx: &RequestContext,
        arn: &str,
    ) -> Result<String, IamError> {
        Self::find_policy(st, ctx, arn, |arn| {
            IamError::NoSuchEntity(format!(
                "Scope ARN: {arn} does not exist or is not attachable."
            ))
        })
        .map(|p| p.arn.clone())
    }

    /// The permissions boundary document of the user or role `name` of `account` (for the
    /// authorizer); `None` when it has none.
    pub fn boundary_document(&self, kind: EntityKind, account: &str, name: &str) -> Option<String> {
        let st = self.state.read();
        let key = entity_key(account, name);
        let arn = match kind {
            EntityKind::User => st.users.get(&key)?.boundary()?.to_string(),
            EntityKind::Role => st.roles.get(&key)?.boundary()?.to_string(),
            EntityKind::Group => return None,
        };
        Some(st.boundary_text(&arn))
    }

    fn put_boundary<E: Bounded>(
        &self,
        ctx: &RequestContext,
        action: IamAction,
        name: Option<&str>,
        arn: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        E::KIND.check_name(&mut v, name);
        v.required("PermissionsBoundary", &arn);
        wire::check_arn(&mut v, "PermissionsBoundary", arn);
        v.finish()?;
        let arn = given(arn);
        self.update_entity::<E>(ctx, action, given(name), |st, e| {
            *e.boundary_mut() = Some(Self::boundary_policy(st, ctx, arn)?);
            Ok(())
        })
        .map(|_| ())
    }

    fn delete_boundary<E: Bounded>(
        &self,
        ctx: &RequestContext,
        action: IamAction,
        name: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        E::KIND.check_name(&mut v, name);
        v.finish()?;
        self.update_entity::<E>(ctx, action, given(name), |_, e| {
            *e.boundary_mut() = None;
            Ok(())
        })
        .map(|_| ())
    }

    /// `PutUserPermissionsBoundary`.
    pub fn put_user_permissions_boundary(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        arn: Option<&str>,
    ) -> Result<(), IamError> {
        self.put_boundary::<UserRecord>(ctx, IamAction::PutUserPermissionsBoundary, name, arn)
    }

    /// `DeleteUserPermissionsBoundary`.
    pub fn delete_user_permissions_boundary(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
    ) -> Result<(), IamError> {
        self.delete_boundary::<UserRecord>(ctx, IamAction::DeleteUserPermissionsBoundary, name)
    }

    /// `PutRolePermissionsBoundary`.
    pub fn put_role_permissions_boundary(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        arn: Option<&str>,
    ) -> Result<(), IamError> {
        self.put_boundary::<RoleRecord>(ctx, IamAction::PutRolePermissionsBoundary, name, arn)
    }

    /// `DeleteRolePermissionsBoundary`.
    pub fn delete_role_permissions_boundary(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
    ) -> Result<(), IamError> {
        self.delete_boundary::<RoleRecord>(ctx, IamAction::DeleteRolePermissionsBoundary, name)
    }
}
