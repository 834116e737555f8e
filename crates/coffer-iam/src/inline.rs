//! Inline role policies: Put/Get/Delete/ListRolePolicies (through [`crate::entity`], shared with
//! users and groups).

use super::*;
use coffer_model::ops::IamAction;

impl Iam {
    /// `PutRolePolicy`: adds or replaces an inline policy; a role's inline policies together
    /// hold at most 10,240 characters (white space not counted).
    pub fn put_role_policy(
        &self,
        ctx: &RequestContext,
        role: Option<&str>,
        name: Option<&str>,
        document: Option<&str>,
    ) -> Result<(), IamError> {
        self.put_entity_policy::<RoleRecord>(ctx, IamAction::PutRolePolicy, role, name, document)
    }

    /// `GetRolePolicy`.
    pub fn get_role_policy(
        &self,
        ctx: &RequestContext,
        role: Option<&str>,
        name: Option<&str>,
    ) -> Result<RolePolicy, IamError> {
        let (role_name, policy_name, policy_document) =
            self.get_entity_policy::<RoleRecord>(ctx, IamAction::GetRolePolicy, role, name)?;
        Ok(RolePolicy {
            role_name,
            policy_name,
            policy_document,
        })
    }

    /// `DeleteRolePolicy`.
    pub fn delete_role_policy(
        &self,
        ctx: &RequestContext,
        role: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), IamError> {
        self.delete_entity_policy::<RoleRecord>(ctx, IamAction::DeleteRolePolicy, role, name)
    }

    /// `ListRolePolicies`: the names of the role's inline policies, by name.
    pub fn list_role_policies(
        &self,
        ctx: &RequestContext,
        role: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<String>, IamError> {
        self.list_entity_policies::<RoleRecord>(ctx, IamAction::ListRolePolicies, role, paging)
    }
}
