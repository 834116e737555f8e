//! Cross-account secret replication and named resource policies (ADR 0008), end to end through
//! botocore 1.44.8 — the AWS SDK for Rust and the machine's awscli predate these operations and
//! members. Two accounts of one `--dev` server (a 12-digit access key ID is the account):
//! 111111111111 owns the primary, 222222222222 the replica. One Python script runs a scenario,
//! records every call's answer (the response, or the error code, message and status) under a
//! step name, and prints them as JSON; the tests assert on them in order. Skips when the botocore
//! virtualenv is missing (`.ci/run` makes it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{botocore, Server, PRIMARY};
use serde_json::Value;

const A1: &str = "111111111111";
const A2: &str = "222222222222";

const SCRIPT: &str = r#"
import json, sys, traceback
import botocore, botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError, ParamValidationError

endpoint, region, scenario = sys.argv[1:4]
A1, A2 = "111111111111", "222222222222"
session = botocore.session.get_session()
config = Config(retries={"max_attempts": 1})

def client(service, account):
    return session.create_client(service, endpoint_url=endpoint, region_name=region,
                                 aws_access_key_id=account, aws_secret_access_key="test",
                                 config=config)

sm1, sm2 = client("secretsmanager", A1), client("secretsmanager", A2)
kms1, kms2 = client("kms", A1), client("kms", A2)
steps, ids = {}, {}
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A2}:root"},
    "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})

def call(step, c, op, **kw):
    """Runs one call and records its answer under `step`; returns the response or None."""
    assert step not in steps, f"step {step} twice"
    try:
        resp = getattr(c, op)(**kw)
        resp.pop("ResponseMetadata", None)
        steps[step] = {"ok": resp}
        return resp
    except ClientError as e:
        steps[step] = {"error": e.response.get("Error", {}).get("Code"),
                       "message": e.response.get("Error", {}).get("Message"),
                       "status": e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")}
        return None
    except ParamValidationError as e:
        steps[step] = {"client_error": str(e)}
        return None

def need(step, c, op, **kw):
    """A call the rest of the scenario depends on."""
    resp = call(step, c, op, **kw)
    if resp is None:
        raise RuntimeError(f"{step} failed: {steps[step]}")
    return resp

def pair(tag, name, value):
    """Account 2's key, account 1's primary `name` with `value`, account 2's replica
    `name-replica` under that key, associated; their ARNs in ids[tag]."""
    key = need(f"{tag}.kms2.CreateKey", kms2, "create_key", Description=f"{name} replica key")
    p = need(f"{tag}.sm1.CreateSecret", sm1, "create_secret", Name=name, SecretString=value)
    r = need(f"{tag}.sm2.CreateSecret", sm2, "create_secret", Name=f"{name}-replica",
             KmsKeyId=key["KeyMetadata"]["Arn"], CrossAccountPrimaryARN=p["ARN"])
    ids[tag] = {"key": key["KeyMetadata"]["Arn"], "key_id": key["KeyMetadata"]["KeyId"],
                "primary": p["ARN"], "primary_v1": p["VersionId"], "replica": r["ARN"]}
    need(f"{tag}.sm1.Associate", sm1, "associate_cross_account_replica", SecretId=p["ARN"],
         CrossAccountReplicaARN=r["ARN"])
    return ids[tag]

def happy():
    key = need("kms2.CreateKey", kms2, "create_key", Description="xa replica key")["KeyMetadata"]
    p = need("sm1.CreateSecret", sm1, "create_secret", Name="xa/db", SecretString="v1")
    r = need("sm2.CreateSecret", sm2, "create_secret", Name="xa/db-replica", KmsKeyId=key["Arn"],
             CrossAccountPrimaryARN=p["ARN"])
    ids.update(key=key["Arn"], key_id=key["KeyId"], primary=p["ARN"], primary_v1=p["VersionId"],
               replica=r["ARN"])
    call("sm2.DescribeSecret.pending", sm2, "describe_secret", SecretId=r["ARN"])
    call("sm2.GetSecretValue.pending", sm2, "get_secret_value", SecretId=r["ARN"])
    call("sm2.ListResourcePolicies.pending", sm2, "list_resource_policies", SecretId=r["ARN"])
    call("sm2.GetResourcePolicy.managed", sm2, "get_resource_policy", SecretId=r["ARN"],
         PolicyName="cross-account-replication")
    call("sm1.Associate", sm1, "associate_cross_account_replica", SecretId=p["ARN"],
         CrossAccountReplicaARN=r["ARN"])
    call("sm2.GetSecretValue.v1", sm2, "get_secret_value", SecretId=r["ARN"])
    call("sm1.DescribeSecret.linked", sm1, "describe_secret", SecretId="xa/db")
    call("sm2.DescribeSecret.linked", sm2, "describe_secret", SecretId="xa/db-replica")
    v2 = need("sm1.PutSecretValue.v2", sm1, "put_secret_value", SecretId="xa/db",
              SecretString="v2")
    ids["primary_v2"] = v2["VersionId"]
    call("sm2.GetSecretValue.v2", sm2, "get_secret_value", SecretId=r["ARN"])
    call("sm2.GetSecretValue.previous", sm2, "get_secret_value", SecretId=r["ARN"],
         VersionStage="AWSPREVIOUS")
    call("sm1.Associate.again", sm1, "associate_cross_account_replica", SecretId=p["ARN"],
         CrossAccountReplicaARN=r["ARN"])
    call("sm1.DescribeSecret.again", sm1, "describe_secret", SecretId="xa/db")
    call("sm2.GetSecretValue.again", sm2, "get_secret_value", SecretId=r["ARN"])
    # What does not replicate: the description; the replica's own default policy is its owner's.
    call("sm1.UpdateSecret.description", sm1, "update_secret", SecretId="xa/db",
         Description="the primary's description")
    call("sm2.DescribeSecret.own", sm2, "describe_secret", SecretId=r["ARN"])
    call("sm2.PutResourcePolicy", sm2, "put_resource_policy", SecretId=r["ARN"],
         ResourcePolicy=POLICY)
    call("sm2.ListResourcePolicies.both", sm2, "list_resource_policies", SecretId=r["ARN"])
    call("sm2.DeleteResourcePolicy.managed", sm2, "delete_resource_policy", SecretId=r["ARN"],
         PolicyName="cross-account-replication")
    call("sm2.GetResourcePolicy.managed_kept", sm2, "get_resource_policy", SecretId=r["ARN"],
         PolicyName="cross-account-replication")

def rules():
    s = pair("setup", "xa/db", "v1")
    r, p = s["replica"], s["primary"]
    # A linked replica refuses value writes; its own description and tags stay writable.
    call("sm2.PutSecretValue", sm2, "put_secret_value", SecretId=r, SecretString="x")
    call("sm2.UpdateSecret.value", sm2, "update_secret", SecretId=r, SecretString="x")
    call("sm2.UpdateSecretVersionStage", sm2, "update_secret_version_stage", SecretId=r,
         VersionStage="MINE", MoveToVersionId=s["primary_v1"])
    call("sm2.ReplicateSecretToRegions", sm2, "replicate_secret_to_regions", SecretId=r,
         AddReplicaRegions=[{"Region": "eu-west-1"}])
    call("sm2.UpdateSecret.description", sm2, "update_secret", SecretId=r,
         Description="the replica's own")
    call("sm2.TagResource", sm2, "tag_resource", SecretId=r, Tags=[{"Key": "owner", "Value": "a2"}])
    call("sm2.GetSecretValue.unchanged", sm2, "get_secret_value", SecretId=r)
    # Neither side may be deleted while linked.
    call("sm1.DeleteSecret.primary", sm1, "delete_secret", SecretId=p)
    call("sm1.DeleteSecret.primary_force", sm1, "delete_secret", SecretId=p,
         ForceDeleteWithoutRecovery=True)
    call("sm2.DeleteSecret.replica", sm2, "delete_secret", SecretId=r)
    # CreateSecret with CrossAccountPrimaryARN.
    key = s["key"]
    call("sm2.CreateSecret.with_string", sm2, "create_secret", Name="xa/bad-1", KmsKeyId=key,
         CrossAccountPrimaryARN=p, SecretString="x")
    call("sm2.CreateSecret.with_binary", sm2, "create_secret", Name="xa/bad-2", KmsKeyId=key,
         CrossAccountPrimaryARN=p, SecretBinary=b"x")
    call("sm2.CreateSecret.with_description", sm2, "create_secret", Name="xa/bad-3", KmsKeyId=key,
         CrossAccountPrimaryARN=p, Description="d")
    call("sm2.CreateSecret.without_key", sm2, "create_secret", Name="xa/bad-4",
         CrossAccountPrimaryARN=p)
    call("sm2.CreateSecret.default_key", sm2, "create_secret", Name="xa/bad-5",
         KmsKeyId="alias/aws/secretsmanager", CrossAccountPrimaryARN=p)
    call("sm2.CreateSecret.other_region", sm2, "create_secret", Name="xa/bad-6", KmsKeyId=key,
         CrossAccountPrimaryARN=p.replace(f":{region}:", ":eu-west-1:"))
    call("sm2.CreateSecret.not_an_arn", sm2, "create_secret", Name="xa/bad-7", KmsKeyId=key,
         CrossAccountPrimaryARN="xa/db-this-is-not-an-arn")
    k1 = need("kms1.CreateKey", kms1, "create_key")["KeyMetadata"]["Arn"]
    call("sm1.CreateSecret.same_account", sm1, "create_secret", Name="xa/bad-8", KmsKeyId=k1,
         CrossAccountPrimaryARN=p)
    call("sm2.ListSecrets", sm2, "list_secrets")
    call("sm1.ListSecrets", sm1, "list_secrets")
    # AssociateCrossAccountReplica.
    call("sm1.Associate.missing", sm1, "associate_cross_account_replica", SecretId=p,
         CrossAccountReplicaARN=f"arn:aws:secretsmanager:{region}:{A2}:secret:xa/nope-AbCdEf")
    lonely = need("sm1.CreateSecret.lonely", sm1, "create_secret", Name="xa/lonely",
                  SecretString="l")
    other = need("sm1.CreateSecret.other", sm1, "create_secret", Name="xa/other",
                 SecretString="o")
    other_r = need("sm2.CreateSecret.other_replica", sm2, "create_secret",
                   Name="xa/other-replica", KmsKeyId=key, CrossAccountPrimaryARN=other["ARN"])
    ids.update(lonely=lonely["ARN"], other=other["ARN"], other_replica=other_r["ARN"])
    call("sm1.Associate.wrong_primary", sm1, "associate_cross_account_replica",
         SecretId=lonely["ARN"], CrossAccountReplicaARN=other_r["ARN"])
    call("sm1.Associate.same_account", sm1, "associate_cross_account_replica",
         SecretId=lonely["ARN"], CrossAccountReplicaARN=other["ARN"])
    call("sm1.DescribeSecret.lonely", sm1, "describe_secret", SecretId=lonely["ARN"])
    call("sm2.DescribeSecret.other_replica", sm2, "describe_secret", SecretId=other_r["ARN"])
    r2 = need("sm2.CreateSecret.second_replica", sm2, "create_secret", Name="xa/db-replica-2",
              KmsKeyId=key, CrossAccountPrimaryARN=p)
    ids["second_replica"] = r2["ARN"]
    call("sm1.Associate.second", sm1, "associate_cross_account_replica", SecretId=p,
         CrossAccountReplicaARN=r2["ARN"])
    call("sm1.DescribeSecret.primary", sm1, "describe_secret", SecretId=p)
    call("sm2.DescribeSecret.second_replica", sm2, "describe_secret", SecretId=r2["ARN"])

def ending():
    s = pair("setup", "xa/db", "v1")
    r, p = s["replica"], s["primary"]
    # The primary ends the link.
    call("sm1.Disassociate", sm1, "disassociate_cross_account_replica", SecretId=p,
         CrossAccountReplicaARN=r)
    call("sm1.DescribeSecret.disassociated", sm1, "describe_secret", SecretId=p)
    call("sm2.DescribeSecret.detached", sm2, "describe_secret", SecretId=r)
    call("sm1.PutSecretValue.v2", sm1, "put_secret_value", SecretId=p, SecretString="v2")
    call("sm2.GetSecretValue.detached", sm2, "get_secret_value", SecretId=r)
    call("sm2.PutSecretValue.detached", sm2, "put_secret_value", SecretId=r, SecretString="x")
    call("sm2.DeleteSecret.detached", sm2, "delete_secret", SecretId=r)
    call("sm2.Stop", sm2, "stop_replication_to_replica", SecretId=r)
    call("sm2.DescribeSecret.standalone", sm2, "describe_secret", SecretId=r)
    call("sm2.ListResourcePolicies.standalone", sm2, "list_resource_policies", SecretId=r)
    call("sm2.GetResourcePolicy.managed_gone", sm2, "get_resource_policy", SecretId=r,
         PolicyName="cross-account-replication")
    call("sm2.GetSecretValue.standalone", sm2, "get_secret_value", SecretId=r)
    call("sm2.PutSecretValue.standalone", sm2, "put_secret_value", SecretId=r,
         SecretString="mine")
    call("sm2.GetSecretValue.mine", sm2, "get_secret_value", SecretId=r)
    call("sm1.GetSecretValue.primary", sm1, "get_secret_value", SecretId=p)
    call("sm1.DeleteSecret.primary", sm1, "delete_secret", SecretId=p)
    call("sm2.DeleteSecret.replica", sm2, "delete_secret", SecretId=r)
    # The replica ends the link first.
    t = pair("other", "yb/db", "w1")
    r, p = t["replica"], t["primary"]
    call("sm2.Stop.first", sm2, "stop_replication_to_replica", SecretId=r)
    call("sm1.DescribeSecret.replica_stopped", sm1, "describe_secret", SecretId=p)
    call("sm2.DescribeSecret.stopped", sm2, "describe_secret", SecretId=r)
    call("sm2.ListResourcePolicies.stopped", sm2, "list_resource_policies", SecretId=r)
    call("sm1.PutSecretValue.after_stop", sm1, "put_secret_value", SecretId=p,
         SecretString="w2")
    call("sm2.GetSecretValue.after_stop", sm2, "get_secret_value", SecretId=r)
    call("sm2.PutSecretValue.after_stop", sm2, "put_secret_value", SecretId=r,
         SecretString="own")
    call("sm1.DeleteSecret.primary_detached", sm1, "delete_secret", SecretId=p)
    call("sm1.Disassociate.detached", sm1, "disassociate_cross_account_replica", SecretId=p,
         CrossAccountReplicaARN=r)
    call("sm1.DescribeSecret.cleared", sm1, "describe_secret", SecretId=p)
    call("sm1.DeleteSecret.primary_cleared", sm1, "delete_secret", SecretId=p)
    call("sm2.DeleteSecret.stopped", sm2, "delete_secret", SecretId=r)

def failure():
    s = pair("setup", "xa/db", "v1")
    r, p = s["replica"], s["primary"]
    call("kms2.DisableKey", kms2, "disable_key", KeyId=s["key"])
    v2 = call("sm1.PutSecretValue.v2", sm1, "put_secret_value", SecretId=p, SecretString="v2")
    ids["v2"] = v2 and v2["VersionId"]
    call("sm1.GetSecretValue.v2", sm1, "get_secret_value", SecretId=p)
    call("sm1.DescribeSecret.failed", sm1, "describe_secret", SecretId=p)
    call("sm2.DescribeSecret.failed", sm2, "describe_secret", SecretId=r)
    call("kms2.EnableKey", kms2, "enable_key", KeyId=s["key"])
    call("sm2.GetSecretValue.stale", sm2, "get_secret_value", SecretId=r)
    v3 = call("sm1.PutSecretValue.v3", sm1, "put_secret_value", SecretId=p, SecretString="v3")
    ids["v3"] = v3 and v3["VersionId"]
    call("sm1.DescribeSecret.recovered", sm1, "describe_secret", SecretId=p)
    call("sm2.DescribeSecret.recovered", sm2, "describe_secret", SecretId=r)
    call("sm2.GetSecretValue.v3", sm2, "get_secret_value", SecretId=r)
    call("sm2.GetSecretValue.previous", sm2, "get_secret_value", SecretId=r,
         VersionStage="AWSPREVIOUS")
    if ids["v2"]:
        call("sm2.GetSecretValue.v2_version", sm2, "get_secret_value", SecretId=r,
             VersionId=ids["v2"])
    # Association under a key KMS refuses changes nothing; associating again repairs.
    k = need("kms2.CreateKey.k3", kms2, "create_key")["KeyMetadata"]["Arn"]
    p2 = need("sm1.CreateSecret.p2", sm1, "create_secret", Name="xa/p2", SecretString="p1")
    r2 = need("sm2.CreateSecret.p2_replica", sm2, "create_secret", Name="xa/p2-replica",
              KmsKeyId=k, CrossAccountPrimaryARN=p2["ARN"])
    ids.update(p2=p2["ARN"], p2_replica=r2["ARN"])
    call("kms2.DisableKey.k3", kms2, "disable_key", KeyId=k)
    call("sm1.Associate.refused", sm1, "associate_cross_account_replica", SecretId=p2["ARN"],
         CrossAccountReplicaARN=r2["ARN"])
    call("sm1.DescribeSecret.p2_refused", sm1, "describe_secret", SecretId=p2["ARN"])
    call("sm2.DescribeSecret.p2_refused", sm2, "describe_secret", SecretId=r2["ARN"])
    call("kms2.EnableKey.k3", kms2, "enable_key", KeyId=k)
    call("sm1.Associate.p2", sm1, "associate_cross_account_replica", SecretId=p2["ARN"],
         CrossAccountReplicaARN=r2["ARN"])
    call("sm2.GetSecretValue.p2_p1", sm2, "get_secret_value", SecretId=r2["ARN"])
    call("kms2.DisableKey.k3_again", kms2, "disable_key", KeyId=k)
    call("sm1.PutSecretValue.p2_p2", sm1, "put_secret_value", SecretId=p2["ARN"],
         SecretString="p2")
    call("sm1.DescribeSecret.p2_failed", sm1, "describe_secret", SecretId=p2["ARN"])
    call("kms2.EnableKey.k3_again", kms2, "enable_key", KeyId=k)
    call("sm1.Associate.repair", sm1, "associate_cross_account_replica", SecretId=p2["ARN"],
         CrossAccountReplicaARN=r2["ARN"])
    call("sm1.DescribeSecret.p2_repaired", sm1, "describe_secret", SecretId=p2["ARN"])
    call("sm2.GetSecretValue.p2_repaired", sm2, "get_secret_value", SecretId=r2["ARN"])

def named():
    p = need("sm1.CreateSecret", sm1, "create_secret", Name="np/plain", SecretString="x")
    ids["policy"] = POLICY
    s = p["ARN"]
    call("sm1.ListResourcePolicies.none", sm1, "list_resource_policies", SecretId=s)
    call("sm1.PutResourcePolicy.other", sm1, "put_resource_policy", SecretId=s,
         ResourcePolicy=POLICY, PolicyName="other")
    call("sm1.PutResourcePolicy.default", sm1, "put_resource_policy", SecretId=s,
         ResourcePolicy=POLICY)
    call("sm1.ListResourcePolicies.default", sm1, "list_resource_policies", SecretId=s)
    call("sm1.GetResourcePolicy.unnamed", sm1, "get_resource_policy", SecretId=s)
    call("sm1.GetResourcePolicy.default", sm1, "get_resource_policy", SecretId=s,
         PolicyName="default")
    call("sm1.GetResourcePolicy.nope", sm1, "get_resource_policy", SecretId=s, PolicyName="nope")
    call("sm1.GetResourcePolicy.managed", sm1, "get_resource_policy", SecretId=s,
         PolicyName="cross-account-replication")
    call("sm1.DeleteResourcePolicy.other", sm1, "delete_resource_policy", SecretId=s,
         PolicyName="other")
    call("sm1.GetResourcePolicy.still", sm1, "get_resource_policy", SecretId=s)
    call("sm1.PutResourcePolicy.explicit_default", sm1, "put_resource_policy", SecretId=s,
         ResourcePolicy=POLICY, PolicyName="default")
    call("sm1.DeleteResourcePolicy.default", sm1, "delete_resource_policy", SecretId=s,
         PolicyName="default")
    call("sm1.ListResourcePolicies.after_delete", sm1, "list_resource_policies", SecretId=s)
    call("sm1.ListResourcePolicies.missing", sm1, "list_resource_policies",
         SecretId="np/no-such-secret")

crash = None
try:
    scenarios = {"happy": happy, "rules": rules, "ending": ending, "failure": failure,
                 "named": named}
    scenarios[scenario]()
except Exception:
    crash = traceback.format_exc()
print(json.dumps({"botocore": botocore.__version__, "steps": steps, "ids": ids, "crash": crash},
                 default=str))
"#;

/// One scenario's recorded answers.
struct Run {
    out: Value,
    // Keeps the server (and its log, printed on a panic) alive while the test asserts.
    _server: Server,
}

impl Run {
    /// Runs `scenario` against a fresh `--dev` server; `None` (after `skipping: …`) without the
    /// botocore virtualenv.
    fn scenario(scenario: &str) -> Option<Run> {
        let python = match botocore::python() {
            Ok(p) => p,
            Err(why) => {
                println!("skipping: {why}");
                return None;
            }
        };
        let server = Server::dev();
        let out = botocore::run_json(&python, SCRIPT, &[&server.endpoint, PRIMARY, scenario]);
        Some(Run {
            out,
            _server: server,
        })
    }

    #[track_caller]
    fn step(&self, step: &str) -> &Value {
        self.out["steps"].get(step).unwrap_or_else(|| {
            panic!(
                "step {step} did not run; the script stopped with:\n{}",
                self.out["crash"].as_str().unwrap_or("(no crash)")
            )
        })
    }

    /// The response of a step that must have succeeded.
    #[track_caller]
    fn ok(&self, step: &str) -> &Value {
        let r = self.step(step);
        r.get("ok")
            .unwrap_or_else(|| panic!("{step}: expected success, got {r}"))
    }

    /// Asserts that a step failed with `code` and a 4xx status.
    #[track_caller]
    fn err(&self, step: &str, code: &str) {
        let r = self.step(step);
        assert_eq!(
            r["error"].as_str(),
            Some(code),
            "{step}: expected {code}, got {r}"
        );
        assert!(
            matches!(r["status"].as_u64(), Some(400..=499)),
            "{step}: {code} should be a 4xx: {r}"
        );
    }

    #[track_caller]
    fn id(&self, name: &str) -> &str {
        self.out["ids"][name]
            .as_str()
            .unwrap_or_else(|| panic!("no id {name} in {}", self.out["ids"]))
    }

    #[track_caller]
    fn id_of(&self, tag: &str, name: &str) -> &str {
        self.out["ids"][tag][name]
            .as_str()
            .unwrap_or_else(|| panic!("no id {tag}.{name} in {}", self.out["ids"]))
    }

    /// The script ran to its end.
    #[track_caller]
    fn finished(&self) {
        assert!(
            self.out["crash"].is_null(),
            "the script stopped early:\n{}",
            self.out["crash"].as_str().unwrap_or_default()
        );
    }
}

/// `SecretString` and `VersionId` of a GetSecretValue step that must have succeeded.
#[track_caller]
fn value<'a>(run: &'a Run, step: &str) -> (&'a str, &'a str) {
    let v = run.ok(step);
    (
        v["SecretString"]
            .as_str()
            .unwrap_or_else(|| panic!("{step}: no SecretString in {v}")),
        v["VersionId"]
            .as_str()
            .unwrap_or_else(|| panic!("{step}: no VersionId in {v}")),
    )
}

#[track_caller]
fn has_stage(run: &Run, step: &str, stage: &str) -> bool {
    run.ok(step)["VersionStages"]
        .as_array()
        .is_some_and(|a| a.iter().any(|s| s == stage))
}

/// `PolicyName`s of a ListResourcePolicies step that must have succeeded, in order.
#[track_caller]
fn policy_names(run: &Run, step: &str) -> Vec<String> {
    let v = run.ok(step);
    v.get("ResourcePolicies")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|p| {
                    p["PolicyName"]
                        .as_str()
                        .unwrap_or_else(|| panic!("{step}: a policy without PolicyName: {v}"))
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `CrossAccountReplicas` of a DescribeSecret step (empty when absent).
#[track_caller]
fn replicas<'a>(run: &'a Run, step: &str) -> &'a [Value] {
    run.ok(step)
        .get("CrossAccountReplicas")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// The single `CrossAccountReplicas` entry of a DescribeSecret step.
#[track_caller]
fn only_replica<'a>(run: &'a Run, step: &str) -> &'a Value {
    let r = replicas(run, step);
    assert_eq!(
        r.len(),
        1,
        "{step}: want one CrossAccountReplicas entry: {r:?}"
    );
    &r[0]
}

/// `CrossAccountPrimary` of a DescribeSecret step that must have one.
#[track_caller]
fn primary_link<'a>(run: &'a Run, step: &str) -> &'a Value {
    let d = run.ok(step);
    d.get("CrossAccountPrimary")
        .filter(|v| !v.is_null())
        .unwrap_or_else(|| panic!("{step}: no CrossAccountPrimary in {d}"))
}

#[track_caller]
fn has_no_primary_link(run: &Run, step: &str) {
    let d = run.ok(step);
    assert!(
        d.get("CrossAccountPrimary").is_none_or(Value::is_null),
        "{step}: a standalone secret has no CrossAccountPrimary: {d}"
    );
}

#[track_caller]
fn status_message(v: &Value, what: &str) -> String {
    let m = v["StatusMessage"].as_str().unwrap_or_default();
    assert!(
        !m.trim().is_empty(),
        "{what}: Failed without a StatusMessage: {v}"
    );
    m.to_string()
}

fn policy_json(run: &Run, step: &str) -> Value {
    let p = run.ok(step);
    let doc = p["ResourcePolicy"]
        .as_str()
        .unwrap_or_else(|| panic!("{step}: no ResourcePolicy in {p}"));
    serde_json::from_str(doc).unwrap_or_else(|e| panic!("{step}: policy is not JSON ({e}): {doc}"))
}

#[test]
fn cross_account_replica_follows_its_primary() {
    let Some(run) = Run::scenario("happy") else {
        return;
    };
    let primary = run.id("primary");
    let replica = run.id("replica");
    let v1 = run.id("primary_v1");
    assert!(
        primary.starts_with(&format!(
            "arn:aws:secretsmanager:{PRIMARY}:{A1}:secret:xa/db-"
        )),
        "{primary}"
    );
    assert!(
        replica.starts_with(&format!(
            "arn:aws:secretsmanager:{PRIMARY}:{A2}:secret:xa/db-replica-"
        )),
        "{replica}"
    );

    // The replica starts empty, Pending, with the managed policy for the primary account.
    let pending = run.ok("sm2.DescribeSecret.pending");
    let link = primary_link(&run, "sm2.DescribeSecret.pending");
    assert_eq!(link["PrimarySecretARN"], primary, "{pending}");
    assert_eq!(link["ReplicationStatus"], "Pending", "{pending}");
    assert!(
        pending
            .get("CrossAccountReplicas")
            .is_none_or(|r| r.as_array().is_some_and(Vec::is_empty)),
        "a replica lists no replicas of its own: {pending}"
    );
    let kms_key = pending["KmsKeyId"].as_str().unwrap_or_default();
    assert!(
        !kms_key.is_empty() && run.id("key").ends_with(kms_key),
        "the replica is under account 2's key {}: {pending}",
        run.id("key")
    );
    run.err("sm2.GetSecretValue.pending", "ResourceNotFoundException");
    assert_eq!(
        policy_names(&run, "sm2.ListResourcePolicies.pending"),
        ["cross-account-replication"]
    );
    let managed = run.ok("sm2.GetResourcePolicy.managed");
    assert_eq!(
        managed["PolicyName"], "cross-account-replication",
        "{managed}"
    );
    let doc = policy_json(&run, "sm2.GetResourcePolicy.managed").to_string();
    assert!(
        doc.contains(A1),
        "the managed policy names account {A1}: {doc}"
    );
    assert!(
        doc.contains("secretsmanager:AcceptCrossAccountReplication"),
        "the managed policy allows AcceptCrossAccountReplication: {doc}"
    );

    // Association copies the current value, with its VersionId.
    let assoc = run.ok("sm1.Associate");
    assert_eq!(assoc["ReplicationStatus"], "InSync", "{assoc}");
    assert_eq!(assoc["ARN"], primary, "{assoc}");
    assert_eq!(assoc["CrossAccountReplicaARN"], replica, "{assoc}");
    assert_eq!(value(&run, "sm2.GetSecretValue.v1"), ("v1", v1));
    assert!(has_stage(&run, "sm2.GetSecretValue.v1", "AWSCURRENT"));
    let entry = only_replica(&run, "sm1.DescribeSecret.linked");
    assert_eq!(entry["ReplicaSecretARN"], replica, "{entry}");
    assert_eq!(entry["ReplicationStatus"], "InSync", "{entry}");
    has_no_primary_link(&run, "sm1.DescribeSecret.linked");
    let link = primary_link(&run, "sm2.DescribeSecret.linked");
    assert_eq!(link["PrimarySecretARN"], primary, "{link}");
    assert_eq!(link["ReplicationStatus"], "InSync", "{link}");

    // A new primary value becomes the replica's AWSCURRENT; the old one its AWSPREVIOUS.
    let v2 = run.id("primary_v2");
    assert_eq!(value(&run, "sm2.GetSecretValue.v2"), ("v2", v2));
    assert_eq!(value(&run, "sm2.GetSecretValue.previous"), ("v1", v1));
    assert!(has_stage(
        &run,
        "sm2.GetSecretValue.previous",
        "AWSPREVIOUS"
    ));

    // Associating again is idempotent.
    assert_eq!(
        run.ok("sm1.Associate.again"),
        run.ok("sm1.Associate"),
        "associating the same replica again gives the same answer"
    );
    let entry = only_replica(&run, "sm1.DescribeSecret.again");
    assert_eq!(entry["ReplicaSecretARN"], replica, "{entry}");
    assert_eq!(entry["ReplicationStatus"], "InSync", "{entry}");
    assert_eq!(value(&run, "sm2.GetSecretValue.again"), ("v2", v2));

    // Only the value replicates; the replica's policies are its owner's.
    run.ok("sm1.UpdateSecret.description");
    let own = run.ok("sm2.DescribeSecret.own");
    assert!(
        own.get("Description")
            .is_none_or(|d| d != "the primary's description"),
        "the description does not replicate: {own}"
    );
    run.ok("sm2.PutResourcePolicy");
    assert_eq!(
        policy_names(&run, "sm2.ListResourcePolicies.both"),
        ["default", "cross-account-replication"],
        "default first, then the others alphabetically"
    );
    run.err(
        "sm2.DeleteResourcePolicy.managed",
        "InvalidParameterException",
    );
    run.ok("sm2.GetResourcePolicy.managed_kept");
    run.finished();
}

#[test]
fn cross_account_rules_are_enforced() {
    let Some(run) = Run::scenario("rules") else {
        return;
    };
    let primary = run.id_of("setup", "primary");
    let replica = run.id_of("setup", "replica");
    assert_eq!(run.ok("setup.sm1.Associate")["ReplicationStatus"], "InSync");

    // A linked replica refuses value writes and keeps the primary's value.
    for step in [
        "sm2.PutSecretValue",
        "sm2.UpdateSecret.value",
        "sm2.UpdateSecretVersionStage",
        "sm2.ReplicateSecretToRegions",
    ] {
        run.err(step, "InvalidRequestException");
    }
    run.ok("sm2.UpdateSecret.description");
    run.ok("sm2.TagResource");
    assert_eq!(
        value(&run, "sm2.GetSecretValue.unchanged"),
        ("v1", run.id_of("setup", "primary_v1"))
    );

    // Neither side can be deleted while linked.
    run.err("sm1.DeleteSecret.primary", "InvalidRequestException");
    run.err("sm1.DeleteSecret.primary_force", "InvalidRequestException");
    run.err("sm2.DeleteSecret.replica", "InvalidRequestException");

    // CreateSecret with CrossAccountPrimaryARN.
    for step in [
        "sm2.CreateSecret.with_string",
        "sm2.CreateSecret.with_binary",
        "sm2.CreateSecret.with_description",
        "sm2.CreateSecret.without_key",
        "sm2.CreateSecret.default_key",
        "sm2.CreateSecret.other_region",
        "sm2.CreateSecret.not_an_arn",
        "sm1.CreateSecret.same_account",
    ] {
        run.err(step, "InvalidParameterException");
    }
    let names = |step: &str| -> Vec<String> {
        let v = run.ok(step);
        let mut n: Vec<String> = v["SecretList"]
            .as_array()
            .unwrap_or_else(|| panic!("{step}: no SecretList in {v}"))
            .iter()
            .map(|s| s["Name"].as_str().unwrap_or_default().to_string())
            .collect();
        n.sort();
        n
    };
    assert_eq!(
        names("sm2.ListSecrets"),
        ["xa/db-replica"],
        "refused CreateSecret calls created nothing"
    );
    assert_eq!(names("sm1.ListSecrets"), ["xa/db"]);

    // AssociateCrossAccountReplica.
    run.err("sm1.Associate.missing", "ResourceNotFoundException");
    run.err("sm1.Associate.wrong_primary", "InvalidRequestException");
    run.err("sm1.Associate.same_account", "InvalidParameterException");
    assert!(
        replicas(&run, "sm1.DescribeSecret.lonely").is_empty(),
        "refused associations link nothing: {}",
        run.ok("sm1.DescribeSecret.lonely")
    );
    let link = primary_link(&run, "sm2.DescribeSecret.other_replica");
    assert_eq!(link["PrimarySecretARN"], run.id("other"), "{link}");
    assert_eq!(link["ReplicationStatus"], "Pending", "{link}");
    run.err("sm1.Associate.second", "LimitExceededException");
    let entry = only_replica(&run, "sm1.DescribeSecret.primary");
    assert_eq!(entry["ReplicaSecretARN"], replica, "{entry}");
    let link = primary_link(&run, "sm2.DescribeSecret.second_replica");
    assert_eq!(link["PrimarySecretARN"], primary, "{link}");
    assert_eq!(link["ReplicationStatus"], "Pending", "{link}");
    run.finished();
}

#[test]
fn either_side_ends_the_link() {
    let Some(run) = Run::scenario("ending") else {
        return;
    };
    let primary = run.id_of("setup", "primary");
    let replica = run.id_of("setup", "replica");

    // DisassociateCrossAccountReplica (primary side).
    let d = run.ok("sm1.Disassociate");
    assert_eq!(d["ARN"], primary, "{d}");
    assert_eq!(d["CrossAccountReplicaARN"], replica, "{d}");
    assert!(
        replicas(&run, "sm1.DescribeSecret.disassociated").is_empty(),
        "{}",
        run.ok("sm1.DescribeSecret.disassociated")
    );
    let link = primary_link(&run, "sm2.DescribeSecret.detached");
    assert_eq!(link["PrimarySecretARN"], primary, "{link}");
    assert_eq!(link["ReplicationStatus"], "Detached", "{link}");
    run.ok("sm1.PutSecretValue.v2");
    assert_eq!(value(&run, "sm2.GetSecretValue.detached").0, "v1");
    run.err("sm2.PutSecretValue.detached", "InvalidRequestException");
    run.err("sm2.DeleteSecret.detached", "InvalidRequestException");

    // StopReplicationToReplica (replica side) makes it standalone.
    assert_eq!(run.ok("sm2.Stop")["ARN"], replica);
    has_no_primary_link(&run, "sm2.DescribeSecret.standalone");
    assert!(
        !policy_names(&run, "sm2.ListResourcePolicies.standalone")
            .iter()
            .any(|n| n == "cross-account-replication"),
        "the managed policy goes with the link"
    );
    run.err(
        "sm2.GetResourcePolicy.managed_gone",
        "ResourceNotFoundException",
    );
    assert_eq!(value(&run, "sm2.GetSecretValue.standalone").0, "v1");
    run.ok("sm2.PutSecretValue.standalone");
    assert_eq!(value(&run, "sm2.GetSecretValue.mine").0, "mine");
    assert_eq!(value(&run, "sm1.GetSecretValue.primary").0, "v2");
    run.ok("sm1.DeleteSecret.primary");
    run.ok("sm2.DeleteSecret.replica");

    // The other order: the replica stops first.
    let primary = run.id_of("other", "primary");
    let replica = run.id_of("other", "replica");
    assert_eq!(run.ok("sm2.Stop.first")["ARN"], replica);
    let entry = only_replica(&run, "sm1.DescribeSecret.replica_stopped");
    assert_eq!(entry["ReplicaSecretARN"], replica, "{entry}");
    assert_eq!(entry["ReplicationStatus"], "Detached", "{entry}");
    has_no_primary_link(&run, "sm2.DescribeSecret.stopped");
    assert!(!policy_names(&run, "sm2.ListResourcePolicies.stopped")
        .iter()
        .any(|n| n == "cross-account-replication"));
    run.ok("sm1.PutSecretValue.after_stop");
    assert_eq!(value(&run, "sm2.GetSecretValue.after_stop").0, "w1");
    run.ok("sm2.PutSecretValue.after_stop");
    run.err(
        "sm1.DeleteSecret.primary_detached",
        "InvalidRequestException",
    );
    let d = run.ok("sm1.Disassociate.detached");
    assert_eq!(d["ARN"], primary, "{d}");
    assert!(replicas(&run, "sm1.DescribeSecret.cleared").is_empty());
    run.ok("sm1.DeleteSecret.primary_cleared");
    run.ok("sm2.DeleteSecret.stopped");
    run.finished();
}

#[test]
fn replication_failure_is_reported_and_repaired() {
    let Some(run) = Run::scenario("failure") else {
        return;
    };
    let v1 = run.id_of("setup", "primary_v1");

    // The replica's key disabled: the primary still changes; both sides say Failed, and why.
    run.ok("kms2.DisableKey");
    run.ok("sm1.PutSecretValue.v2");
    assert_eq!(value(&run, "sm1.GetSecretValue.v2").0, "v2");
    let entry = only_replica(&run, "sm1.DescribeSecret.failed");
    assert_eq!(entry["ReplicationStatus"], "Failed", "{entry}");
    status_message(entry, "primary side");
    let link = primary_link(&run, "sm2.DescribeSecret.failed");
    assert_eq!(link["ReplicationStatus"], "Failed", "{link}");
    status_message(link, "replica side");
    run.ok("kms2.EnableKey");
    assert_eq!(
        value(&run, "sm2.GetSecretValue.stale"),
        ("v1", v1),
        "a failed replication leaves the replica as it was"
    );

    // The next change replicates again.
    run.ok("sm1.PutSecretValue.v3");
    let v3 = run.id("v3");
    let entry = only_replica(&run, "sm1.DescribeSecret.recovered");
    assert_eq!(entry["ReplicationStatus"], "InSync", "{entry}");
    let link = primary_link(&run, "sm2.DescribeSecret.recovered");
    assert_eq!(link["ReplicationStatus"], "InSync", "{link}");
    assert_eq!(value(&run, "sm2.GetSecretValue.v3"), ("v3", v3));
    assert_eq!(
        value(&run, "sm2.GetSecretValue.previous"),
        ("v1", v1),
        "the replica's previous current version becomes AWSPREVIOUS"
    );
    run.err("sm2.GetSecretValue.v2_version", "ResourceNotFoundException");

    // Associating under a key KMS refuses fails and changes nothing; associating again repairs.
    run.ok("kms2.DisableKey.k3");
    run.err("sm1.Associate.refused", "InvalidRequestException");
    assert!(replicas(&run, "sm1.DescribeSecret.p2_refused").is_empty());
    let link = primary_link(&run, "sm2.DescribeSecret.p2_refused");
    assert_eq!(link["ReplicationStatus"], "Pending", "{link}");
    run.ok("kms2.EnableKey.k3");
    assert_eq!(run.ok("sm1.Associate.p2")["ReplicationStatus"], "InSync");
    assert_eq!(value(&run, "sm2.GetSecretValue.p2_p1").0, "p1");
    run.ok("kms2.DisableKey.k3_again");
    run.ok("sm1.PutSecretValue.p2_p2");
    let entry = only_replica(&run, "sm1.DescribeSecret.p2_failed");
    assert_eq!(entry["ReplicationStatus"], "Failed", "{entry}");
    run.ok("kms2.EnableKey.k3_again");
    assert_eq!(
        run.ok("sm1.Associate.repair")["ReplicationStatus"],
        "InSync"
    );
    let entry = only_replica(&run, "sm1.DescribeSecret.p2_repaired");
    assert_eq!(entry["ReplicationStatus"], "InSync", "{entry}");
    assert_eq!(value(&run, "sm2.GetSecretValue.p2_repaired").0, "p2");
    run.finished();
}

#[test]
fn named_resource_policies_on_an_ordinary_secret() {
    let Some(run) = Run::scenario("named") else {
        return;
    };
    let policy: Value = serde_json::from_str(run.id("policy")).unwrap();
    assert!(policy_names(&run, "sm1.ListResourcePolicies.none").is_empty());
    run.err("sm1.PutResourcePolicy.other", "InvalidParameterException");
    run.ok("sm1.PutResourcePolicy.default");
    assert_eq!(
        policy_names(&run, "sm1.ListResourcePolicies.default"),
        ["default"]
    );
    assert_eq!(policy_json(&run, "sm1.GetResourcePolicy.unnamed"), policy);
    assert_eq!(policy_json(&run, "sm1.GetResourcePolicy.default"), policy);
    run.err("sm1.GetResourcePolicy.nope", "ResourceNotFoundException");
    run.err("sm1.GetResourcePolicy.managed", "ResourceNotFoundException");
    run.err(
        "sm1.DeleteResourcePolicy.other",
        "InvalidParameterException",
    );
    assert_eq!(
        policy_json(&run, "sm1.GetResourcePolicy.still"),
        policy,
        "a refused delete changes nothing"
    );
    run.ok("sm1.PutResourcePolicy.explicit_default");
    run.ok("sm1.DeleteResourcePolicy.default");
    assert!(policy_names(&run, "sm1.ListResourcePolicies.after_delete").is_empty());
    run.err(
        "sm1.ListResourcePolicies.missing",
        "ResourceNotFoundException",
    );
    run.finished();
}
