//! The simulator's evaluation: the same decisions as `decide`, with matched statements,
//! missing context keys, statement positions, boundaries and service control policies.

use super::{policy, role_req, ACCOUNT, OTHER_ACCOUNT, ROLE, SECRET};
use crate::{
    decide, decide_cross_account, simulate, Context, Decision, Policy, Position, Request,
    Simulation, Source,
};

const GET: &str = "secretsmanager:GetSecretValue";

fn allow_get() -> Policy {
    policy(
        r#"{"Version":"2012-10-17","Statement":[{"Sid":"Read","Effect":"Allow","Action":"secretsmanager:GetSecretValue","Resource":"*"},{"Sid":"Kms","Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}"#,
    )
}

fn deny_get() -> Policy {
    policy(
        r#"{"Version":"2012-10-17","Statement":{"Sid":"No","Effect":"Deny","Action":"secretsmanager:*","Resource":"*"}}"#,
    )
}

fn mfa() -> Policy {
    policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"},"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}}}"#,
    )
}

fn sim(identity: &[Policy], ctx: &Context) -> crate::Simulated {
    simulate(
        &Simulation {
            identity,
            ..Simulation::default()
        },
        &role_req(GET, SECRET, ctx),
    )
}

#[test]
fn decisions_are_decides() {
    let ctx = Context::new();
    let sets: Vec<Vec<Policy>> = vec![
        vec![],
        vec![allow_get()],
        vec![allow_get(), deny_get()],
        vec![mfa()],
    ];
    for ps in &sets {
        let req = role_req(GET, SECRET, &ctx);
        assert_eq!(sim(ps, &ctx).decision, decide(ps, None, None, &req));
    }
}

#[test]
fn matched_statements_are_those_that_decide() {
    let ctx = Context::new();
    let allowed = sim(&[allow_get()], &ctx);
    assert_eq!(allowed.decision, Decision::Allow);
    assert_eq!(allowed.matched.len(), 1);
    assert_eq!(allowed.matched[0].0, Source::Identity(0));
    assert_eq!(allowed.matched[0].1.sid.as_deref(), Some("Read"));
    assert_eq!(allowed.matched[0].1.index, 0);

    // A deny: only the deny is reported.
    let denied = sim(&[allow_get(), deny_get()], &ctx);
    assert_eq!(denied.decision, Decision::ExplicitDeny);
    assert_eq!(denied.matched.len(), 1);
    assert_eq!(denied.matched[0].0, Source::Identity(1));
    assert!(denied.matched[0].1.deny);

    // Nothing allows: nothing is reported.
    let none = sim(&[], &ctx);
    assert_eq!(none.decision, Decision::ImplicitDeny);
    assert!(none.matched.is_empty());
}

#[test]
fn missing_keys_are_reported_as_written() {
    let ctx = Context::new();
    let r = sim(&[mfa()], &ctx);
    assert_eq!(r.decision, Decision::ImplicitDeny);
    assert_eq!(
        r.missing,
        ["aws:MultiFactorAuthPresent", "aws:RequestedRegion"]
    );

    let ctx = Context::new().with("aws:multifactorauthpresent", "true");
    let r = sim(&[mfa()], &ctx);
    assert_eq!(r.missing, ["aws:RequestedRegion"]);
    assert_eq!(r.decision, Decision::ImplicitDeny);

    let ctx = ctx.with("aws:RequestedRegion", "eu-west-1");
    let r = sim(&[mfa()], &ctx);
    assert!(r.missing.is_empty());
    assert_eq!(r.decision, Decision::Allow);

    // A statement for another action asks for its keys too, as AWS's simulator does (its
    // MissingContextValues lists the keys of every statement: boto/boto3#3111).
    let ctx = Context::new();
    let req = role_req("kms:Decrypt", SECRET, &ctx);
    let r = simulate(
        &Simulation {
            identity: &[mfa()],
            ..Simulation::default()
        },
        &req,
    );
    assert_eq!(
        r.missing,
        ["aws:MultiFactorAuthPresent", "aws:RequestedRegion"]
    );
}

#[test]
fn policy_variables_are_context_keys_too() {
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::b","Condition":{"StringLike":{"aws:PrincipalTag/team":"${aws:PrincipalTag/Dept}"}}},{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}]}"#,
    );
    assert_eq!(
        p.missing_keys(&Context::new()),
        [
            "aws:PrincipalTag/team",
            "aws:PrincipalTag/Dept",
            "aws:username"
        ]
    );
    assert_eq!(
        p.missing_keys(&Context::new().with("AWS:UserName", "bob")),
        ["aws:PrincipalTag/team", "aws:PrincipalTag/Dept"]
    );
    // A 2008-10-17 document has no variables.
    let old = policy(
        r#"{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}/*"}}"#,
    );
    assert!(old.missing_keys(&Context::new()).is_empty());
}

#[test]
fn positions_are_awss() {
    // AWS's example: the statement's `{` is the 37th character, its `}` the 166th.
    let p = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*","Condition":{"DateGreaterThan":{"aws:CurrentTime":"2018-08-16T12:00:00Z"}}}}"#,
    );
    assert_eq!(
        p.statement_positions(),
        [(
            Position {
                line: 1,
                column: 38
            },
            Position {
                line: 1,
                column: 167
            }
        )]
    );
    let p = policy(
        "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\", \"Action\": \"a:b\", \"Resource\": \"x:{y}\"},\n    {\n      \"Effect\": \"Deny\",\n      \"Action\": [\"a:c\"],\n      \"Resource\": \"*\"\n    }\n  ]\n}",
    );
    assert_eq!(
        p.statement_positions(),
        [
            (
                Position { line: 4, column: 6 },
                Position {
                    line: 4,
                    column: 62
                }
            ),
            (
                Position { line: 5, column: 6 },
                Position { line: 9, column: 6 }
            )
        ]
    );
}

#[test]
fn a_boundary_limits_identity_allows() {
    let ctx = Context::new();
    let req = role_req(GET, SECRET, &ctx);
    let kms_only = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#,
    );
    let r = simulate(
        &Simulation {
            identity: &[allow_get()],
            boundary: Some(&kms_only),
            ..Simulation::default()
        },
        &req,
    );
    assert_eq!(r.decision, Decision::ImplicitDeny);
    assert_eq!(r.allowed_by_boundary, Some(false));
    assert!(r.matched.is_empty());

    let all = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
    );
    let r = simulate(
        &Simulation {
            identity: &[allow_get()],
            boundary: Some(&all),
            ..Simulation::default()
        },
        &req,
    );
    assert_eq!(r.decision, Decision::Allow);
    assert_eq!(r.allowed_by_boundary, Some(true));

    let r = simulate(
        &Simulation {
            identity: &[allow_get()],
            boundary: Some(&deny_get()),
            ..Simulation::default()
        },
        &req,
    );
    assert_eq!(r.decision, Decision::ExplicitDeny);
    assert_eq!(r.matched[0].0, Source::Boundary);
}

#[test]
fn service_control_policies_must_allow_at_every_level() {
    let ctx = Context::new();
    let req = role_req(GET, SECRET, &ctx);
    let all = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
    );
    let kms_only = policy(
        r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#,
    );
    let levels = vec![vec![all.clone()], vec![kms_only]];
    let r = simulate(
        &Simulation {
            identity: &[allow_get()],
            organizations: &levels,
            ..Simulation::default()
        },
        &req,
    );
    assert_eq!(r.decision, Decision::ImplicitDeny);
    assert_eq!(r.allowed_by_organizations, Some(false));
    let levels = vec![vec![all]];
    let r = simulate(
        &Simulation {
            identity: &[allow_get()],
            organizations: &levels,
            ..Simulation::default()
        },
        &req,
    );
    assert_eq!(r.decision, Decision::Allow);
    assert_eq!(r.allowed_by_organizations, Some(true));
}

#[test]
fn resource_policies_same_and_cross_account() {
    let ctx = Context::new();
    let resource = policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":{{"Sid":"Them","Effect":"Allow","Principal":{{"AWS":"{ROLE}"}},"Action":"secretsmanager:GetSecretValue","Resource":"*"}}}}"#
    ));
    let req = role_req(GET, SECRET, &ctx);
    // Same account: the resource policy alone allows.
    let r = simulate(
        &Simulation {
            identity: &[],
            resource: Some(&resource),
            ..Simulation::default()
        },
        &req,
    );
    assert_eq!(r.decision, decide(&[], Some(&resource), None, &req));
    assert_eq!(r.decision, Decision::Allow);
    assert_eq!(r.matched[0].0, Source::Resource);
    assert_eq!(r.resource_decision, Some(Decision::Allow));

    // Another account's resource: the caller's account must allow too.
    let other = format!("arn:aws:secretsmanager:eu-west-1:{OTHER_ACCOUNT}:secret:s-AbCdEf");
    let req = Request {
        resource: &other,
        ..role_req(GET, SECRET, &ctx)
    };
    assert_eq!(req.principal_account, ACCOUNT);
    for identity in [vec![], vec![allow_get()]] {
        let r = simulate(
            &Simulation {
                identity: &identity,
                resource: Some(&resource),
                cross_account: true,
                ..Simulation::default()
            },
            &req,
        );
        assert_eq!(
            r.decision,
            decide_cross_account(&resource, Some(&identity), None, false, &req)
        );
    }
}
