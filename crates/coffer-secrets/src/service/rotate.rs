//! RotateSecret, CancelRotateSecret and scheduled rotations.
//!
//! A rotation is recorded as started under the write lock (rotation settings, an empty version
//! labelled AWSPENDING whose ID is the ClientRequestToken), then the lock is released and the
//! rotator runs the four steps, calling back into the service like a Lambda function; the
//! outcome (LastRotatedDate and the next window, or a retry) is recorded under the lock again.
//! A failed step leaves AWSPENDING where it is: the next attempt reuses that version, as AWS
//! reattempts an incomplete rotation with the same token.

use super::*;
use crate::record::RotationRec;
use crate::rotation::{RotationEvent, RotationFailure, RotationStep, Rotator};
use crate::schedule::Plan;

const NO_ROTATION_FUNCTION: &str = "You tried to enable rotation on a secret that doesn't already have a Lambda function ARN configured and you didn't include such an ARN as a parameter in this call.";
/// RotateSecret on a secret with no rotation function, and none given.
const NO_LAMBDA_ARN: &str = "No Lambda rotation function ARN is associated with this secret.";
const CANNOT_INVOKE: &str = "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.";
const PREVIOUS_INCOMPLETE: &str =
    "A previous rotation isn't complete. That rotation will be reattempted.";
/// The first retry of a failed rotation comes this long after the failure; each further
/// failure doubles the wait, up to a day.
const RETRY_BASE_MS: i64 = 5 * 60_000;
const RETRY_MAX_MS: i64 = 86_400_000;
const SCHEDULE_PATTERN: &str = "[0-9A-Za-z\\(\\)#\\?\\*\\-\\/, ]+";

/// A rotation recorded as started, to be run without the lock.
pub(super) struct Started {
    arn: String,
    token: String,
    rotator: Arc<dyn Rotator>,
}

/// How a run of the steps ended.
enum Outcome {
    Done,
    Failed(RotationStep, RotationFailure),
    Cancelled,
}

/// Takes a secret out of the running set when its rotation run ends.
struct RunningGuard<'a> {
    sm: &'a SecretsManager,
    arn: String,
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.sm.running.lock().remove(&self.arn);
    }
}

/// The version a rotation left in progress: AWSPENDING on a version that is not AWSCURRENT.
pub(super) fn pending_rotation(rec: &SecretRecord) -> Option<String> {
    rec.versions
        .iter()
        .find(|v| {
            v.stages.iter().any(|s| s == AWSPENDING) && !v.stages.iter().any(|s| s == AWSCURRENT)
        })
        .map(|v| v.id.clone())
}

fn plan_of(rot: &RotationRec) -> Option<Plan> {
    Plan::parse(
        rot.automatically_after_days,
        rot.duration.as_deref(),
        rot.schedule_expression.as_deref(),
    )
    .ok()
    .flatten()
}

/// Turns rotation on with `lambda_arn` and, when given, the rules.
fn set_rotation(rot: &mut RotationRec, lambda_arn: String, rules: Option<&RotationRulesType>) {
    rot.enabled = true;
    rot.lambda_arn = Some(lambda_arn);
    if let Some(r) = rules {
        rot.automatically_after_days = r.automatically_after_days;
        rot.duration = r.duration.clone();
        rot.schedule_expression = r.schedule_expression.clone();
    }
}

/// Sets the next window to the first one after `after`.
fn reschedule(rot: &mut RotationRec, after: i64) {
    let w = plan_of(rot).and_then(|p| p.next_window(after));
    rot.window_start = w.map(|w| w.start);
    rot.next_rotation = w.map(|w| w.end);
}

/// A change of the value by PutSecretValue or UpdateSecret counts as a rotation for
/// interval schedules: the next window is counted from now.
pub(super) fn note_manual_update(rec: &mut SecretRecord, now: i64) {
    if let Some(rot) = rec.rotation.as_mut().filter(|r| r.enabled) {
        if plan_of(rot).is_some_and(|p| p.counts_manual_updates()) {
            reschedule(rot, now);
        }
    }
}

/// The rotation members of DescribeSecret / ListSecrets: RotationEnabled, RotationLambdaARN,
/// RotationRules, LastRotatedDate, NextRotationDate.
pub(super) struct RotationView {
    pub enabled: Option<bool>,
    pub lambda_arn: Option<String>,
    pub rules: Option<RotationRulesType>,
    pub last_rotated: Option<Timestamp>,
    pub next_rotation: Option<Timestamp>,
}

pub(super) fn rotation_view(rec: &SecretRecord) -> RotationView {
    let Some(rot) = &rec.rotation else {
        return RotationView {
            enabled: None,
            lambda_arn: None,
            rules: None,
            last_rotated: None,
            next_rotation: None,
        };
    };
    let plan = plan_of(rot);
    let rules = plan.map(|p| RotationRulesType {
        automatically_after_days: rot.automatically_after_days.or(p.interval_days()),
        duration: rot.duration.clone(),
        schedule_expression: rot.schedule_expression.clone(),
    });
    RotationView {
        enabled: Some(rot.enabled),
        lambda_arn: rot.lambda_arn.clone(),
        rules,
        last_rotated: rot.last_rotated.filter(|_| rot.enabled).map(ts),
        next_rotation: rot.next_rotation.filter(|_| rot.enabled).map(ts),
    }
}

fn backoff(failures: u32) -> i64 {
    let shift = failures.saturating_sub(1).min(20);
    RETRY_BASE_MS
        .saturating_mul(1i64 << shift)
        .min(RETRY_MAX_MS)
}

/// The context rotation bookkeeping writes run under (replica sync needs one).
fn service_context(rec: &SecretRecord) -> RequestContext {
    RequestContext {
        account_id: rec.account.clone(),
        region: rec.region.clone(),
        principal_arn: format!(
            "arn:{}:iam::{}:root",
            partition_of(&rec.region),
            rec.account
        ),
        role: None,
        secure_transport: false,
    }
}

fn new_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// RotateSecret's validation: the secret ID, the token, the function ARN and the rules (their
/// members, then the schedule they make). Gives the secret ID.
fn checked_rotate_request(req: &RotateSecretRequest) -> Result<String, SmError> {
    let id = checked_id(&req.secret_id, |v| {
        check_token(v, &req.client_request_token);
        v.length(
            "RotationLambdaARN",
            req.rotation_lambda_arn.as_deref(),
            0,
            2048,
        );
        if let Some(r) = &req.rotation_rules {
            v.range(
                "RotationRules.AutomaticallyAfterDays",
                r.automatically_after_days,
                1,
                1000,
            );
            v.length("RotationRules.Duration", r.duration.as_deref(), 2, 3);
            v.pattern(
                "RotationRules.Duration",
                r.duration.as_deref(),
                |d| {
                    d.strip_suffix('h')
                        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
                },
                "[0-9]+h",
            );
            v.length(
                "RotationRules.ScheduleExpression",
                r.schedule_expression.as_deref(),
                1,
                256,
            );
            v.pattern(
                "RotationRules.ScheduleExpression",
                r.schedule_expression.as_deref(),
                |e| {
                    e.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "()#?*-/, ".contains(c))
                },
                SCHEDULE_PATTERN,
            );
        }
    })?;
    if let Some(r) = &req.rotation_rules {
        Plan::parse(
            r.automatically_after_days,
            r.duration.as_deref(),
            r.schedule_expression.as_deref(),
        )
        .map_err(SmError::InvalidParameter)?;
    }
    // SDKs fill the token in; a raw caller without one is refused (RotateSecret says so
    // with InvalidParameterException, where CreateSecret and PutSecretValue use
    // InvalidRequestException).
    if req.client_request_token.is_none() {
        return Err(SmError::InvalidParameter(TOKEN_REQUIRED.to_string()));
    }
    Ok(id)
}

impl SecretsManager {
    /// Replaces the rotators (the `RotationLambdaARN`s rotation can invoke).
    pub fn set_rotators(&self, rotators: RotatorRegistry) {
        *self.rotators.write() = rotators;
    }

    fn rotator(&self, arn: &str) -> Option<Arc<dyn Rotator>> {
        self.rotators.read().get(arn)
    }

    /// RotateSecret: stores the rotation settings and rotates at once (the four steps run
    /// before this returns), or with `RotateImmediately` false runs only testSecret.
    pub fn rotate_secret(
        &self,
        ctx: &RequestContext,
        req: RotateSecretRequest,
    ) -> Result<RotateSecretResponse, SmError> {
        let id = checked_rotate_request(&req)?;
        let immediately = req.rotate_immediately.unwrap_or(true);
        let now = self.clock.now().millis;

        let (resp, run) = {
            let mut st = self.state.write();
            let s = Self::writable(&st, ctx, &id)?;
            Self::check_not_cross_account_replica(&s.rec)?;
            let old = s.rec.rotation.clone();
            let Some(lambda_arn) = blank_to_none(&req.rotation_lambda_arn)
                .or_else(|| old.as_ref().and_then(|o| o.lambda_arn.clone()))
            else {
                return Err(SmError::InvalidRequest(NO_LAMBDA_ARN.to_string()));
            };
            let Some(rotator) = self.rotator(&lambda_arn) else {
                return Err(SmError::AccessDenied(CANNOT_INVOKE.to_string()));
            };
            if pending_rotation(&s.rec).is_some() || self.running.lock().contains(&s.rec.arn) {
                if old.as_ref().is_some_and(|o| o.enabled) {
                    let mut rec = s.snapshot();
                    if let Some(rot) = rec.rotation.as_mut() {
                        rot.retry_at = Some(now);
                    }
                    let mut p = Pending::default();
                    p.upsert(rec, s.blobs.clone())?;
                    self.commit(&mut st, p)?;
                }
                return Err(SmError::InvalidRequest(PREVIOUS_INCOMPLETE.to_string()));
            }
            let token = req.client_request_token.clone().unwrap_or_else(new_token);
            if s.rec.version(&token).is_some() {
                return Err(SmError::ResourceExists(VERSION_EXISTS.to_string()));
            }
            let mut rec = s.snapshot();
            let mut blobs = s.blobs.clone();
            let mut rot = old.unwrap_or_default();
            set_rotation(&mut rot, lambda_arn, req.rotation_rules.as_ref());
            rot.failures = 0;
            rot.retry_at = None;
            let after = rot.last_rotated.unwrap_or(now);
            reschedule(&mut rot, after);
            rec.rotation = Some(rot);
            rec.last_changed = now;
            let mut p = Pending::default();
            let k = rec.kms_key_id.clone();
            for vid in add_version(&mut rec, &token, &[AWSPENDING.to_string()], now, k) {
                p.delete_blob(&rec, &vid);
                blobs.remove(&vid);
            }
            self.sync_replicas(&st, ctx, &mut rec, None, &mut p)?;
            let resp = RotateSecretResponse {
                arn: Some(rec.arn.clone()),
                name: Some(rec.name.clone()),
                version_id: Some(token.clone()),
            };
            let arn = rec.arn.clone();
            p.upsert(rec, blobs)?;
            self.commit(&mut st, p)?;
            self.running.lock().insert(arn.clone());
            (
                resp,
                Started {
                    arn,
                    token,
                    rotator,
                },
            )
        };
        if immediately {
            self.run_rotation(run)?;
        } else {
            self.run_test(run)?;
        }
        Ok(resp)
    }

    /// Sets a secret's rotation settings as RotateSecret validates and stores them, without
    /// rotating or testing: the scheduler rotates when the first window comes (seed files,
    /// which are applied before the rotators are set up and the server serves the callbacks
    /// they make; a function that names no rotator fails at that first rotation, logged and
    /// retried like any failed rotation). Answers whether anything changed;
    /// `ClientRequestToken` and `RotateImmediately` are not used.
    pub fn configure_rotation(
        &self,
        ctx: &RequestContext,
        req: RotateSecretRequest,
    ) -> Result<bool, SmError> {
        let id = checked_rotate_request(&req)?;
        let now = self.clock.now().millis;
        let mut st = self.state.write();
        let s = Self::writable(&st, ctx, &id)?;
        Self::check_not_cross_account_replica(&s.rec)?;
        let old = s.rec.rotation.clone().unwrap_or_default();
        let Some(lambda_arn) =
            blank_to_none(&req.rotation_lambda_arn).or_else(|| old.lambda_arn.clone())
        else {
            return Err(SmError::InvalidRequest(NO_LAMBDA_ARN.to_string()));
        };
        let mut rot = old.clone();
        set_rotation(&mut rot, lambda_arn, req.rotation_rules.as_ref());
        if rot == old {
            return Ok(false);
        }
        let mut rec = s.snapshot();
        let blobs = s.blobs.clone();
        let after = rot.last_rotated.unwrap_or(now);
        reschedule(&mut rot, after);
        rec.rotation = Some(rot);
        rec.last_changed = now;
        let mut p = Pending::default();
        self.sync_replicas(&st, ctx, &mut rec, None, &mut p)?;
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        Ok(true)
    }

    /// CancelRotateSecret: turns rotation off; a version left in AWSPENDING stays where it is
    /// and is named in the answer.
    pub fn cancel_rotate_secret(
        &self,
        ctx: &RequestContext,
        req: CancelRotateSecretRequest,
    ) -> Result<CancelRotateSecretResponse, SmError> {
        let id = checked_id(&req.secret_id, |_| {})?;
        let mut st = self.state.write();
        let s = Self::writable(&st, ctx, &id)?;
        let mut rec = s.snapshot();
        let blobs = s.blobs.clone();
        let Some(rot) = rec.rotation.as_mut().filter(|r| r.lambda_arn.is_some()) else {
            return Err(SmError::InvalidRequest(NO_ROTATION_FUNCTION.to_string()));
        };
        rot.enabled = false;
        rot.window_start = None;
        rot.next_rotation = None;
        rot.retry_at = None;
        rot.failures = 0;
        rec.last_changed = self.clock.now().millis;
        let resp = CancelRotateSecretResponse {
            arn: Some(rec.arn.clone()),
            name: Some(rec.name.clone()),
            version_id: pending_rotation(&rec),
        };
        let mut p = Pending::default();
        self.sync_replicas(&st, ctx, &mut rec, None, &mut p)?;
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        Ok(resp)
    }

    /// Runs the rotations that are due (their window has opened, or a failed one's retry time
    /// has come); returns how many completed.
    pub fn rotate_due(&self) -> Result<usize, SmError> {
        let now = self.clock.now().millis;
        let due: Vec<String> = {
            let st = self.state.read();
            let running = self.running.lock();
            st.secrets
                .values()
                .filter(|s| !s.is_replica() && !s.is_deleted() && !running.contains(&s.rec.arn))
                .filter(|s| is_due(&s.rec, now))
                .map(|s| s.rec.arn.clone())
                .collect()
        };
        let mut done = 0;
        for arn in due {
            if let Some(run) = self.start_scheduled(&arn, now)? {
                if self.run_rotation(run)? {
                    done += 1;
                }
            }
        }
        Ok(done)
    }

    /// Records a scheduled rotation as started: reuses the version left in AWSPENDING, or
    /// creates a new empty one.
    fn start_scheduled(&self, arn: &str, now: i64) -> Result<Option<Started>, SmError> {
        let mut st = self.state.write();
        let Some(key) = st.by_arn.get(arn).cloned() else {
            return Ok(None);
        };
        let Some(s) = st.secrets.get(&key) else {
            return Ok(None);
        };
        if s.is_replica()
            || s.is_deleted()
            || !is_due(&s.rec, now)
            || self.running.lock().contains(arn)
        {
            return Ok(None);
        }
        let mut rec = s.snapshot();
        let mut blobs = s.blobs.clone();
        let ctx = service_context(&rec);
        let lambda_arn = rec
            .rotation
            .as_ref()
            .and_then(|r| r.lambda_arn.clone())
            .unwrap_or_default();
        let mut p = Pending::default();
        let Some(rotator) = self.rotator(&lambda_arn) else {
            tracing::error!(secret = %arn, rotation_lambda_arn = %lambda_arn, "scheduled rotation: no rotator is configured for this RotationLambdaARN");
            if let Some(rot) = rec.rotation.as_mut() {
                rot.failures = rot.failures.saturating_add(1);
                rot.retry_at = Some(now + backoff(rot.failures));
            }
            self.sync_replicas(&st, &ctx, &mut rec, None, &mut p)?;
            p.upsert(rec, blobs)?;
            self.commit(&mut st, p)?;
            return Ok(None);
        };
        let token = match pending_rotation(&rec) {
            Some(t) => t,
            None => {
                let t = new_token();
                let k = rec.kms_key_id.clone();
                for vid in add_version(&mut rec, &t, &[AWSPENDING.to_string()], now, k) {
                    p.delete_blob(&rec, &vid);
                    blobs.remove(&vid);
                }
                t
            }
        };
        if let Some(rot) = rec.rotation.as_mut() {
            rot.retry_at = None;
        }
        self.sync_replicas(&st, &ctx, &mut rec, None, &mut p)?;
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        self.running.lock().insert(arn.to_string());
        Ok(Some(Started {
            arn: arn.to_string(),
            token,
            rotator,
        }))
    }

    /// Whether the rotation of `arn` may go on: the secret exists, is not deleted, and
    /// rotation was not cancelled.
    fn still_rotating(&self, arn: &str) -> bool {
        let st = self.state.read();
        st.by_arn
            .get(arn)
            .and_then(|k| st.secrets.get(k))
            .is_some_and(|s| !s.is_deleted() && s.rec.rotation.as_ref().is_some_and(|r| r.enabled))
    }

    fn invoke_steps(&self, run: &Started, steps: &[RotationStep]) -> Outcome {
        let rotation_token = new_token();
        for step in steps {
            if !self.still_rotating(&run.arn) {
                return Outcome::Cancelled;
            }
            let event = RotationEvent {
                secret_id: run.arn.clone(),
                client_request_token: run.token.clone(),
                step: *step,
                rotation_token: rotation_token.clone(),
            };
            tracing::debug!(secret = %run.arn, version = %run.token, step = step.as_str(), "rotation step");
            if let Err(f) = run.rotator.invoke(&event) {
                return Outcome::Failed(*step, f);
            }
        }
        Outcome::Done
    }

    /// Runs the four steps and records the outcome. Returns whether the rotation completed.
    fn run_rotation(&self, run: Started) -> Result<bool, SmError> {
        let _guard = RunningGuard {
            sm: self,
            arn: run.arn.clone(),
        };
        self.secret_event(
            "RotationStarted",
            &run.arn,
            vec![("versionId", run.token.clone())],
        );
        let outcome = self.invoke_steps(&run, &RotationStep::ALL);
        let now = self.clock.now().millis;
        let mut st = self.state.write();
        let Some(s) = st.by_arn.get(&run.arn).and_then(|k| st.secrets.get(k)) else {
            return Ok(false);
        };
        let mut rec = s.snapshot();
        let blobs = s.blobs.clone();
        let ctx = service_context(&rec);
        let mut failure = match outcome {
            Outcome::Cancelled => {
                tracing::info!(secret = %run.arn, version = %run.token, "rotation cancelled");
                return Ok(false);
            }
            Outcome::Failed(step, f) => Some(format!("{} failed: {f}", step.as_str())),
            Outcome::Done => None,
        };
        let completed = failure.is_none();
        if completed {
            match rec.versions.iter_mut().find(|v| v.id == run.token) {
                Some(v) if v.stages.iter().any(|s| s == AWSCURRENT) => {
                    v.stages.retain(|s| s != AWSPENDING);
                }
                _ => {
                    failure = Some(format!(
                        "the rotation function finished without moving AWSCURRENT to version {}",
                        run.token
                    ));
                }
            }
        }
        let Some(rot) = rec.rotation.as_mut() else {
            return Ok(false);
        };
        match &failure {
            None => {
                rot.last_rotated = Some(now);
                rot.failures = 0;
                rot.retry_at = None;
                reschedule(rot, now);
                tracing::info!(secret = %run.arn, version = %run.token, "rotation complete");
                metrics::counter!("coffer_rotation_runs_total", "kind" => "secret").increment(1);
            }
            Some(why) => {
                rot.failures = rot.failures.saturating_add(1);
                rot.retry_at = Some(now + backoff(rot.failures));
                tracing::warn!(secret = %run.arn, version = %run.token, attempts = rot.failures, reason = %why, "rotation failed; AWSPENDING stays for the next attempt");
                metrics::counter!("coffer_rotation_runs_total", "kind" => "secret").increment(1);
                metrics::counter!("coffer_rotation_failures_total", "kind" => "secret")
                    .increment(1);
            }
        }
        let mut p = Pending::default();
        self.sync_replicas(&st, &ctx, &mut rec, None, &mut p)?;
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)?;
        drop(st);
        match &failure {
            None => self.secret_event(
                "RotationSucceeded",
                &run.arn,
                vec![("versionId", run.token.clone())],
            ),
            Some(_) => self.secret_event(
                "RotationFailed",
                &run.arn,
                vec![("versionId", run.token.clone())],
            ),
        }
        Ok(failure.is_none())
    }

    /// RotateImmediately false: runs testSecret against a new AWSPENDING version, then
    /// removes that version.
    fn run_test(&self, run: Started) -> Result<(), SmError> {
        let _guard = RunningGuard {
            sm: self,
            arn: run.arn.clone(),
        };
        let outcome = self.invoke_steps(&run, &[RotationStep::TestSecret]);
        if let Outcome::Failed(step, f) = &outcome {
            tracing::warn!(secret = %run.arn, step = step.as_str(), reason = %f, "rotation configuration test failed");
        }
        let mut st = self.state.write();
        let Some(s) = st.by_arn.get(&run.arn).and_then(|k| st.secrets.get(k)) else {
            return Ok(());
        };
        let Some(v) = s.rec.version(&run.token) else {
            return Ok(());
        };
        if v.stages.iter().any(|x| x == AWSCURRENT) {
            return Ok(());
        }
        let mut rec = s.snapshot();
        let mut blobs = s.blobs.clone();
        let ctx = service_context(&rec);
        let mut p = Pending::default();
        rec.versions.retain(|v| v.id != run.token);
        if blobs.remove(&run.token).is_some() {
            p.delete_blob(&rec, &run.token);
        }
        self.sync_replicas(&st, &ctx, &mut rec, None, &mut p)?;
        p.upsert(rec, blobs)?;
        self.commit(&mut st, p)
    }
}

/// Whether a rotation of this secret is due at `now`.
fn is_due(rec: &SecretRecord, now: i64) -> bool {
    let Some(rot) = rec.rotation.as_ref().filter(|r| r.enabled) else {
        return false;
    };
    match rot.retry_at {
        Some(t) => t <= now,
        None => rot.window_start.is_some_and(|t| t <= now),
    }
}

impl crate::rotation::SecretsApi for SecretsManager {
    fn describe_secret(
        &self,
        ctx: &RequestContext,
        req: DescribeSecretRequest,
    ) -> Result<DescribeSecretResponse, SmError> {
        SecretsManager::describe_secret(self, ctx, req)
    }

    fn get_secret_value(
        &self,
        ctx: &RequestContext,
        req: GetSecretValueRequest,
    ) -> Result<GetSecretValueResponse, SmError> {
        SecretsManager::get_secret_value(self, ctx, req)
    }

    fn put_secret_value(
        &self,
        ctx: &RequestContext,
        req: PutSecretValueRequest,
    ) -> Result<PutSecretValueResponse, SmError> {
        SecretsManager::put_secret_value(self, ctx, req)
    }

    fn get_random_password(
        &self,
        req: GetRandomPasswordRequest,
    ) -> Result<GetRandomPasswordResponse, SmError> {
        SecretsManager::get_random_password(self, req)
    }

    fn update_secret_version_stage(
        &self,
        ctx: &RequestContext,
        req: UpdateSecretVersionStageRequest,
    ) -> Result<UpdateSecretVersionStageResponse, SmError> {
        SecretsManager::update_secret_version_stage(self, ctx, req)
    }
}
