//! The policy simulator's evaluation (IAM `SimulatePrincipalPolicy`, `SimulateCustomPolicy`):
//! the rules of [`crate::decide`] and [`crate::decide_cross_account`] over the same outcomes,
//! with what the simulator adds: a permissions boundary, service control policies, and the
//! reasons (matched statements, missing context keys).

use crate::policy::{Explanation, Matched};
use crate::{combine, combine_cross_account, Decision, Outcome, Policy, Request};

/// The policies of one simulation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Simulation<'a> {
    /// The identity policies: the principal's and those given.
    pub identity: &'a [Policy],
    /// The permissions boundary, when one is simulated: the identity policies allow only what
    /// it allows too.
    pub boundary: Option<&'a Policy>,
    /// Service control policies, one list per level of the organization (root first): every
    /// level must allow, none may deny.
    pub organizations: &'a [Vec<Policy>],
    /// The resource's policy.
    pub resource: Option<&'a Policy>,
    /// Whether the resource belongs to another account than the caller's: both accounts must
    /// then allow ([`crate::decide_cross_account`]).
    pub cross_account: bool,
}

/// Which policy of a [`Simulation`] a statement is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `identity[n]`.
    Identity(usize),
    /// The permissions boundary.
    Boundary,
    /// The resource's policy.
    Resource,
}

/// The result of simulating one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulated {
    /// The decision.
    pub decision: Decision,
    /// The statements that determine it: the `Deny`s that apply when one does, the `Allow`s
    /// of the identity and resource policies that count when allowed, none when implicitly
    /// denied. Service control policies' statements are left out, as AWS does.
    pub matched: Vec<(Source, Matched)>,
    /// Condition keys the context lacks (identity, boundary and resource policies), each once.
    pub missing: Vec<String>,
    /// Whether the boundary allows, when one is simulated.
    pub allowed_by_boundary: Option<bool>,
    /// Whether the service control policies allow, when some are simulated.
    pub allowed_by_organizations: Option<bool>,
    /// The decision of the identity policies alone (boundary applied).
    pub identity_decision: Decision,
    /// The decision of the resource policy alone, when there is one.
    pub resource_decision: Option<Decision>,
}

fn alone(o: Outcome) -> Decision {
    if o.explicit_deny {
        Decision::ExplicitDeny
    } else if o.allow || o.allow_via_account {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// Simulates `req` against `sim`'s policies.
pub fn simulate(sim: &Simulation<'_>, req: &Request<'_>) -> Simulated {
    let identity: Vec<Explanation> = sim
        .identity
        .iter()
        .map(|p| p.explain_identity(req))
        .collect();
    let boundary = sim.boundary.map(|p| p.explain_identity(req));
    let resource = sim.resource.map(|p| p.explain_resource(req));

    let allowed_by_boundary = boundary
        .as_ref()
        .map(|b| b.outcome.allow && !b.outcome.explicit_deny);
    // A boundary that does not allow takes the identity policies' allows away.
    let mut outcomes: Vec<Outcome> = identity.iter().map(|e| e.outcome).collect();
    if allowed_by_boundary == Some(false) {
        for o in &mut outcomes {
            o.allow = false;
        }
    }
    let resource_outcome = resource.as_ref().map(|e| e.outcome).unwrap_or_default();
    let mut decision = if sim.cross_account {
        combine_cross_account(resource_outcome, Some(&outcomes), None, false)
    } else {
        combine(&outcomes, resource_outcome, None)
    };

    let levels: Vec<Vec<Outcome>> = sim
        .organizations
        .iter()
        .map(|level| level.iter().map(|p| p.evaluate_identity(req)).collect())
        .collect();
    let scp_denies = levels.iter().flatten().any(|o| o.explicit_deny);
    let allowed_by_organizations = (!levels.is_empty())
        .then(|| !scp_denies && levels.iter().all(|l| l.iter().any(|o| o.allow)));
    let boundary_denies = boundary.as_ref().is_some_and(|b| b.outcome.explicit_deny);
    if boundary_denies || scp_denies {
        decision = Decision::ExplicitDeny;
    } else if decision == Decision::Allow && allowed_by_organizations == Some(false) {
        decision = Decision::ImplicitDeny;
    }

    let mut matched = Vec::new();
    let mut missing: Vec<String> = Vec::new();
    let mut note = |source: Source, ex: &Explanation, matched: &mut Vec<(Source, Matched)>| {
        for k in &ex.missing {
            if !missing.iter().any(|m| m.eq_ignore_ascii_case(k)) {
                missing.push(k.clone());
            }
        }
        let wanted = |m: &Matched| match decision {
            Decision::ExplicitDeny => m.deny,
            Decision::Allow => {
                !m.deny
                    && match source {
                        Source::Identity(_) => allowed_by_boundary != Some(false),
                        Source::Boundary => false,
                        Source::Resource => true,
                    }
            }
            Decision::ImplicitDeny => false,
        };
        matched.extend(
            ex.matched
                .iter()
                .filter(|m| wanted(m))
                .map(|m| (source, m.clone())),
        );
    };
    for (i, ex) in identity.iter().enumerate() {
        note(Source::Identity(i), ex, &mut matched);
    }
    if let Some(b) = &boundary {
        note(Source::Boundary, b, &mut matched);
    }
    if let Some(r) = &resource {
        note(Source::Resource, r, &mut matched);
    }

    let identity_decision = combine(&outcomes, Outcome::default(), None);
    Simulated {
        decision,
        matched,
        missing,
        allowed_by_boundary,
        allowed_by_organizations,
        identity_decision: if boundary_denies {
            Decision::ExplicitDeny
        } else {
            identity_decision
        },
        resource_decision: resource.as_ref().map(|r| alone(r.outcome)),
    }
}
