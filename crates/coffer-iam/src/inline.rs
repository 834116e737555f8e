//! Inline role policies: Put/Get/Delete/ListRolePolicies.

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
        let mut v = Validator::new();
        check_role_name(&mut v, role);
        check_policy_name(&mut v, name);
        v.required("PolicyDocument", &document);
        wire::check_document(&mut v, "PolicyDocument", document);
        v.finish()?;
        let (role, name, doc) = (given(role), given(name), given(document));
        self.authorize(ctx, IamAction::PutRolePolicy, &self.role_arn_for(ctx, role))?;
        document::validate(doc, Kind::Inline)?;
        let mut st = self.state.write();
        let r = st.role(&ctx.account_id, role)?;
        let (account, role_name) = (r.account.clone(), r.name.clone());
        let role_key = entity_key(&account, &role_name);
        let lower = name.to_ascii_lowercase();
        let others: usize = st
            .inline
            .get(&role_key)
            .into_iter()
            .flatten()
            .filter(|(k, _)| **k != lower)
            .map(|(_, p)| document::size(&p.document))
            .sum();
        if others + document::size(doc) > document::INLINE_POLICIES_SIZE {
            return Err(IamError::LimitExceeded(format!(
                "Maximum policy size of {} bytes exceeded for role {role_name}",
                document::INLINE_POLICIES_SIZE
            )));
        }
        let rec = RolePolicyRecord {
            v: RECORD_VERSION,
            account,
            role_name,
            policy_name: name.to_string(),
            document: doc.to_string(),
        };
        // The key is the same for a name differing only in case: that policy is replaced.
        let mut tx = Transaction::new();
        put(
            &mut tx,
            ROLE_POLICY_TABLE,
            &role_policy_key(&rec.account, &rec.role_name, &rec.policy_name),
            &rec,
        )?;
        self.commit(&tx)?;
        st.inline.entry(role_key).or_default().insert(lower, rec);
        Ok(())
    }

    /// `GetRolePolicy`.
    pub fn get_role_policy(
        &self,
        ctx: &RequestContext,
        role: Option<&str>,
        name: Option<&str>,
    ) -> Result<RolePolicy, IamError> {
        let mut v = Validator::new();
        check_role_name(&mut v, role);
        check_policy_name(&mut v, name);
        v.finish()?;
        let (role, name) = (given(role), given(name));
        self.authorize(ctx, IamAction::GetRolePolicy, &self.role_arn_for(ctx, role))?;
        let st = self.state.read();
        let r = st.role(&ctx.account_id, role)?;
        st.inline
            .get(&entity_key(&r.account, &r.name))
            .and_then(|m| m.get(&name.to_ascii_lowercase()))
            .map(|p| RolePolicy {
                role_name: r.name.clone(),
                policy_name: p.policy_name.clone(),
                policy_document: p.document.clone(),
            })
            .ok_or_else(|| {
                IamError::NoSuchEntity(format!("The role policy with name {name} cannot be found."))
            })
    }

    /// `DeleteRolePolicy`.
    pub fn delete_role_policy(
        &self,
        ctx: &RequestContext,
        role: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), IamError> {
        let mut v = Validator::new();
        check_role_name(&mut v, role);
        check_policy_name(&mut v, name);
        v.finish()?;
        let (role, name) = (given(role), given(name));
        self.authorize(
            ctx,
            IamAction::DeleteRolePolicy,
            &self.role_arn_for(ctx, role),
        )?;
        let mut st = self.state.write();
        let r = st.role(&ctx.account_id, role)?;
        let role_key = entity_key(&r.account, &r.name);
        let lower = name.to_ascii_lowercase();
        let Some(old) = st.inline.get(&role_key).and_then(|m| m.get(&lower)) else {
            return Err(IamError::NoSuchEntity(format!(
                "The role policy with name {name} cannot be found."
            )));
        };
        let mut tx = Transaction::new();
        tx.delete(
            ROLE_POLICY_TABLE,
            &role_policy_key(&old.account, &old.role_name, &old.policy_name),
        );
        self.commit(&tx)?;
        if let Some(m) = st.inline.get_mut(&role_key) {
            m.remove(&lower);
            if m.is_empty() {
                st.inline.remove(&role_key);
            }
        }
        Ok(())
    }

    /// `ListRolePolicies`: the names of the role's inline policies, by name.
    pub fn list_role_policies(
        &self,
        ctx: &RequestContext,
        role: Option<&str>,
        paging: &Paging,
    ) -> Result<Page<String>, IamError> {
        let mut v = Validator::new();
        check_role_name(&mut v, role);
        paging.check(&mut v);
        v.finish()?;
        let role = given(role);
        self.authorize(
            ctx,
            IamAction::ListRolePolicies,
            &self.role_arn_for(ctx, role),
        )?;
        let st = self.state.read();
        let r = st.role(&ctx.account_id, role)?;
        let items = st
            .inline
            .get(&entity_key(&r.account, &r.name))
            .into_iter()
            .flatten()
            .map(|(k, p)| (k.clone(), p.policy_name.clone()))
            .collect();
        page(items, paging)
    }
}
