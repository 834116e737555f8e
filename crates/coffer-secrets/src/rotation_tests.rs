//! Rotation: RotateSecret / CancelRotateSecret, the four steps through an in-memory rotator,
//! failures and their recovery, scheduled rotations, and the random-password rotator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::rotation::{RotationEvent, RotationFailure, RotationStep, Rotator, RotatorRegistry};
use super::tests::{
    ctx, id, text, token, AllBytes, FakeKms, TestClock, TestStore, ACCOUNT, EU_C, EU_W, T0,
};
use super::*;
use coffer_model::secretsmanager::*;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

const LAMBDA: &str = "arn:aws:lambda:eu-central-1:123456789012:function:rotate";
const DAY: i64 = 86_400_000;
const NO_FUNCTION: &str = "You tried to enable rotation on a secret that doesn't already have a Lambda function ARN configured and you didn't include such an ARN as a parameter in this call.";
const CANNOT_INVOKE: &str = "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy grants access to the principal secretsmanager.amazonaws.com.";
const INCOMPLETE: &str = "A previous rotation isn't complete. That rotation will be reattempted.";

/// A rotation "Lambda" in memory: AWS's generic template logic, values `value-1`, `value-2`, ...
/// It can fail a step a number of times, and records every event it receives.
struct ScriptedRotator {
    sm: Weak<SecretsManager>,
    events: Mutex<Vec<RotationEvent>>,
    fail: Mutex<Option<(RotationStep, u32)>>,
    /// Calls CancelRotateSecret while running this step.
    cancel_during: Mutex<Option<RotationStep>>,
    made: Mutex<u32>,
}

impl ScriptedRotator {
    fn new(sm: &Arc<SecretsManager>) -> Arc<Self> {
        Arc::new(Self {
            sm: Arc::downgrade(sm),
            events: Mutex::new(Vec::new()),
            fail: Mutex::new(None),
            cancel_during: Mutex::new(None),
            made: Mutex::new(0),
        })
    }

    fn steps(&self) -> Vec<RotationStep> {
        self.events.lock().iter().map(|e| e.step).collect()
    }
}

impl Rotator for ScriptedRotator {
    fn invoke(&self, event: &RotationEvent) -> Result<(), RotationFailure> {
        self.events.lock().push(event.clone());
        let sm = self.sm.upgrade().unwrap();
        let c = ctx(EU_C);
        if let Some((step, n)) = self.fail.lock().as_mut() {
            if *step == event.step && *n > 0 {
                *n -= 1;
                return Err(RotationFailure::new("injected failure"));
            }
        }
        if *self.cancel_during.lock() == Some(event.step) {
            sm.cancel_rotate_secret(
                &c,
                SecretIdRequest {
                    secret_id: Some(event.secret_id.clone()),
                },
            )?;
        }
        match event.step {
            RotationStep::CreateSecret => {
                let pending = sm.get_secret_value(
                    &c,
                    GetSecretValueRequest {
                        secret_id: Some(event.secret_id.clone()),
                        version_id: Some(event.client_request_token.clone()),
                        version_stage: Some(AWSPENDING.into()),
                    },
                );
                match pending {
                    Ok(_) => Ok(()),
                    Err(SmError::ResourceNotFound(_)) => {
                        let n = {
                            let mut m = self.made.lock();
                            *m += 1;
                            *m
                        };
                        sm.put_secret_value(
                            &c,
                            PutSecretValueRequest {
                                secret_id: Some(event.secret_id.clone()),
                                client_request_token: Some(event.client_request_token.clone()),
                                secret_string: text(&format!("value-{n}")),
                                version_stages: Some(vec![AWSPENDING.into()]),
                                ..Default::default()
                            },
                        )?;
                        Ok(())
                    }
                    Err(e) => Err(e.into()),
                }
            }
            RotationStep::SetSecret | RotationStep::TestSecret => Ok(()),
            RotationStep::FinishSecret => {
                let d = sm.describe_secret(
                    &c,
                    SecretIdRequest {
                        secret_id: Some(event.secret_id.clone()),
                    },
                )?;
                let current = d
                    .version_ids_to_stages
                    .unwrap_or_default()
                    .into_iter()
                    .find(|(_, s)| s.iter().any(|x| x == AWSCURRENT))
                    .map(|(v, _)| v);
                if current.as_deref() == Some(event.client_request_token.as_str()) {
                    return Ok(());
                }
                sm.update_secret_version_stage(
                    &c,
                    UpdateSecretVersionStageRequest {
                        secret_id: Some(event.secret_id.clone()),
                        version_stage: Some(AWSCURRENT.into()),
                        remove_from_version_id: current,
                        move_to_version_id: Some(event.client_request_token.clone()),
                    },
                )?;
                Ok(())
            }
        }
    }
}

struct Env {
    store: Arc<TestStore>,
    kms: Arc<FakeKms>,
    clock: Arc<TestClock>,
    sm: Arc<SecretsManager>,
    rotator: Arc<ScriptedRotator>,
}

impl Env {
    fn new() -> Self {
        let store = Arc::new(TestStore::memory());
        let kms = Arc::new(FakeKms::default());
        kms.add_key(&[EU_C, EU_W], "mrk-1");
        let clock = Arc::new(TestClock(std::sync::atomic::AtomicI64::new(T0)));
        let sm = Arc::new(SecretsManager::load(store.clone(), kms.clone(), clock.clone()).unwrap());
        let rotator = ScriptedRotator::new(&sm);
        let mut reg = RotatorRegistry::new();
        reg.insert(LAMBDA, rotator.clone());
        sm.set_rotators(reg);
        Self {
            store,
            kms,
            clock,
            sm,
            rotator,
        }
    }

    /// A new service over the same store (a restart), with the same kind of rotator.
    fn restart(&mut self) {
        self.sm = Arc::new(
            SecretsManager::load(self.store.clone(), self.kms.clone(), self.clock.clone()).unwrap(),
        );
        self.rotator = ScriptedRotator::new(&self.sm);
        let mut reg = RotatorRegistry::new();
        reg.insert(LAMBDA, self.rotator.clone());
        self.sm.set_rotators(reg);
    }

    fn now(&self) -> i64 {
        self.clock.0.load(Ordering::SeqCst)
    }

    fn advance(&self, ms: i64) {
        self.clock.0.fetch_add(ms, Ordering::SeqCst);
    }

    fn create(&self, name: &str, value: &str) -> String {
        self.sm
            .create_secret(
                &ctx(EU_C),
                CreateSecretRequest {
                    name: id(name),
                    client_request_token: Some(token(1)),
                    secret_string: text(value),
                    ..Default::default()
                },
            )
            .unwrap()
            .arn
            .unwrap()
    }

    fn rotate(&self, sid: &str, req: RotateSecretRequest) -> Result<RotateSecretResponse, SmError> {
        self.sm.rotate_secret(
            &ctx(EU_C),
            RotateSecretRequest {
                secret_id: id(sid),
                ..req
            },
        )
    }

    fn value(&self, sid: &str, stage: &str) -> Result<String, SmError> {
        self.sm
            .get_secret_value(
                &ctx(EU_C),
                GetSecretValueRequest {
                    secret_id: id(sid),
                    version_stage: Some(stage.into()),
                    ..Default::default()
                },
            )
            .map(|r| r.secret_string.unwrap().as_str().to_string())
    }

    fn describe(&self, sid: &str) -> DescribeSecretResponse {
        self.sm
            .describe_secret(&ctx(EU_C), SecretIdRequest { secret_id: id(sid) })
            .unwrap()
    }

    fn stages(&self, sid: &str) -> BTreeMap<String, Vec<String>> {
        self.describe(sid).version_ids_to_stages.unwrap_or_default()
    }
}

fn with_days(days: i64, tok: &str) -> RotateSecretRequest {
    RotateSecretRequest {
        client_request_token: id(tok),
        rotation_lambda_arn: id(LAMBDA),
        rotation_rules: Some(RotationRulesType {
            automatically_after_days: Some(days),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn day_start(t: i64) -> i64 {
    t - t.rem_euclid(DAY)
}

fn rotation_token_of(t: &str) -> String {
    format!("{t:-<36}")
}

#[test]
fn rotate_runs_the_four_steps_and_moves_the_labels() {
    let env = Env::new();
    let arn = env.create("db", "old");
    let tok = rotation_token_of("rot-1");
    let resp = env.rotate("db", with_days(30, &tok)).unwrap();
    assert_eq!(resp.arn.as_deref(), Some(arn.as_str()));
    assert_eq!(resp.name.as_deref(), Some("db"));
    assert_eq!(resp.version_id.as_deref(), Some(tok.as_str()));

    let events = env.rotator.events.lock().clone();
    assert_eq!(env.rotator.steps(), RotationStep::ALL.to_vec());
    for e in &events {
        assert_eq!(e.secret_id, arn);
        assert_eq!(e.client_request_token, tok);
        assert_eq!(e.rotation_token, events[0].rotation_token);
    }
    assert!(events[0].rotation_token.len() >= 36);

    assert_eq!(env.value("db", AWSCURRENT).unwrap(), "value-1");
    assert_eq!(env.value("db", AWSPREVIOUS).unwrap(), "old");
    let stages = env.stages("db");
    assert_eq!(stages[&tok], vec![AWSCURRENT.to_string()]);
    assert_eq!(stages[&token(1)], vec![AWSPREVIOUS.to_string()]);

    let d = env.describe("db");
    assert_eq!(d.rotation_enabled, Some(true));
    assert_eq!(d.rotation_lambda_arn.as_deref(), Some(LAMBDA));
    assert_eq!(
        d.rotation_rules,
        Some(RotationRulesType {
            automatically_after_days: Some(30),
            ..Default::default()
        })
    );
    assert_eq!(d.last_rotated_date.unwrap().millis, T0);
    assert_eq!(
        d.next_rotation_date.unwrap().millis,
        day_start(T0) + 31 * DAY - 1000
    );
    let wire = serde_json::to_value(&d).unwrap();
    assert_eq!(wire["RotationLambdaARN"], LAMBDA);
    assert_eq!(wire["RotationRules"]["AutomaticallyAfterDays"], 30);

    let entry = env
        .sm
        .list_secrets(&ctx(EU_C), ListSecretsRequest::default())
        .unwrap()
        .secret_list
        .unwrap()
        .remove(0);
    assert_eq!(entry.rotation_enabled, Some(true));
    assert_eq!(entry.rotation_lambda_arn.as_deref(), Some(LAMBDA));
    assert_eq!(entry.next_rotation_date, d.next_rotation_date);
    assert_eq!(entry.last_rotated_date, d.last_rotated_date);

    // A secret never rotated shows none of it.
    env.create("plain", "x");
    let d = env.describe("plain");
    assert_eq!(d.rotation_enabled, None);
    assert!(d.rotation_rules.is_none() && d.next_rotation_date.is_none());
}

#[test]
fn a_failed_step_leaves_awspending_and_the_retry_recovers() {
    for (i, failing) in RotationStep::ALL.into_iter().enumerate() {
        let env = Env::new();
        env.create("db", "old");
        *env.rotator.fail.lock() = Some((failing, 1));
        let tok = rotation_token_of(&format!("fail-{i}"));
        // Rotation is asynchronous in AWS: a failing step does not fail RotateSecret.
        env.rotate("db", with_days(7, &tok)).unwrap();
        let mut want_steps = RotationStep::ALL[..=i].to_vec();
        assert_eq!(env.rotator.steps(), want_steps, "{failing:?}");

        // AWSCURRENT has not moved; AWSPENDING is on the new version, empty if createSecret failed.
        assert_eq!(env.value("db", AWSCURRENT).unwrap(), "old");
        assert_eq!(env.stages("db")[&tok], vec![AWSPENDING.to_string()]);
        let pending = env.value("db", AWSPENDING);
        if failing == RotationStep::CreateSecret {
            let e = pending.unwrap_err();
            assert!(matches!(e, SmError::ResourceNotFound(_)), "{e:?}");
            assert_eq!(
                e.to_string(),
                "Secrets Manager can't find the specified secret value for staging label: AWSPENDING"
            );
        } else {
            assert_eq!(pending.unwrap(), "value-1");
        }
        let d = env.describe("db");
        assert_eq!(d.rotation_enabled, Some(true));
        assert!(d.last_rotated_date.is_none());

        // A new rotation is refused while this one is incomplete...
        let e = env
            .rotate("db", with_days(7, &rotation_token_of("other")))
            .unwrap_err();
        assert!(matches!(e, SmError::InvalidRequest(_)));
        assert_eq!(e.to_string(), INCOMPLETE);
        // ... and, as AWS says, that rotation is reattempted: same version, same value.
        assert_eq!(env.sm.rotate_due().unwrap(), 1);
        want_steps.extend(RotationStep::ALL);
        assert_eq!(env.rotator.steps(), want_steps);
        let events = env.rotator.events.lock().clone();
        assert!(events.iter().all(|e| e.client_request_token == tok));
        assert_eq!(env.value("db", AWSCURRENT).unwrap(), "value-1");
        assert_eq!(env.value("db", AWSPREVIOUS).unwrap(), "old");
        assert_eq!(env.stages("db")[&tok], vec![AWSCURRENT.to_string()]);
        assert_eq!(env.describe("db").last_rotated_date.unwrap().millis, T0);
    }
}

#[test]
fn failed_rotations_are_retried_later_by_the_scheduler() {
    let env = Env::new();
    env.create("db", "old");
    *env.rotator.fail.lock() = Some((RotationStep::SetSecret, 2));
    env.rotate("db", with_days(7, &rotation_token_of("r")))
        .unwrap();
    // Not at once: the first retry comes 5 minutes later, the next 10 minutes after that.
    assert_eq!(env.sm.rotate_due().unwrap(), 0);
    env.advance(5 * 60_000);
    assert_eq!(env.sm.rotate_due().unwrap(), 0);
    assert_eq!(env.value("db", AWSCURRENT).unwrap(), "old");
    env.advance(9 * 60_000);
    assert_eq!(env.sm.rotate_due().unwrap(), 0);
    env.advance(60_000);
    assert_eq!(env.sm.rotate_due().unwrap(), 1);
    assert_eq!(env.value("db", AWSCURRENT).unwrap(), "value-1");
    assert_eq!(env.rotator.steps().len(), 2 + 2 + 4);
}

#[test]
fn rotate_immediately_false_only_tests_the_configuration() {
    let env = Env::new();
    env.create("db", "old");
    let tok = rotation_token_of("test-only");
    let resp = env
        .rotate(
            "db",
            RotateSecretRequest {
                rotate_immediately: Some(false),
                ..with_days(10, &tok)
            },
        )
        .unwrap();
    assert_eq!(resp.version_id.as_deref(), Some(tok.as_str()));
    assert_eq!(env.rotator.steps(), vec![RotationStep::TestSecret]);
    // The AWSPENDING version made for the test is gone again.
    let stages = env.stages("db");
    assert_eq!(stages.len(), 1);
    assert!(!stages.contains_key(&tok));
    assert_eq!(env.value("db", AWSCURRENT).unwrap(), "old");
    let d = env.describe("db");
    assert_eq!(d.rotation_enabled, Some(true));
    assert!(d.last_rotated_date.is_none());
    assert_eq!(
        d.next_rotation_date.unwrap().millis,
        day_start(T0) + 11 * DAY - 1000
    );
    // Nothing is due before the window opens; then the scheduler rotates.
    env.advance(day_start(T0) + 10 * DAY - env.now() - 1);
    assert_eq!(env.sm.rotate_due().unwrap(), 0);
    env.advance(1);
    assert_eq!(env.sm.rotate_due().unwrap(), 1);
    assert_eq!(env.value("db", AWSCURRENT).unwrap(), "value-1");
}

#[test]
fn scheduled_rotations_run_from_run_due_and_survive_a_restart() {
    let mut env = Env::new();
    env.create("db", "old");
    env.rotate("db", with_days(1, &rotation_token_of("first")))
        .unwrap();
    assert_eq!(env.value("db", AWSCURRENT).unwrap(), "value-1");
    let next = env.describe("db").next_rotation_date.unwrap().millis;
    assert_eq!(next, day_start(T0) + 2 * DAY - 1000);
    assert_eq!(env.sm.rotate_due().unwrap(), 0);

    env.restart();
    assert_eq!(env.describe("db").next_rotation_date.unwrap().millis, next);
    env.advance(day_start(T0) + DAY - env.now());
    assert_eq!(env.sm.rotate_due().unwrap(), 1);
    assert_eq!(env.rotator.steps(), RotationStep::ALL.to_vec());
    assert_eq!(env.value("db", AWSCURRENT).unwrap(), "value-1");
    // The restarted rotator counts from 1 again; the version is new.
    let tok = env.rotator.events.lock()[0].client_request_token.clone();
    assert_eq!(env.stages("db")[&tok], vec![AWSCURRENT.to_string()]);
    let d = env.describe("db");
    assert_eq!(d.last_rotated_date.unwrap().millis, env.now());
    assert_eq!(
        d.next_rotation_date.unwrap().millis,
        day_start(env.now()) + 2 * DAY - 1000
    );
    assert_eq!(env.sm.rotate_due().unwrap(), 0);
}

#[test]
fn schedule_expressions_and_manual_updates() {
    let env = Env::new();
    env.create("db", "old");
    env.rotate(
        "db",
        RotateSecretRequest {
            client_request_token: id(&rotation_token_of("x")),
            rotation_lambda_arn: id(LAMBDA),
            rotation_rules: Some(RotationRulesType {
                schedule_expression: Some("rate(10 days)".into()),
                duration: Some("4h".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .unwrap();
    let d = env.describe("db");
    assert_eq!(
        d.rotation_rules,
        Some(RotationRulesType {
            automatically_after_days: Some(10),
            duration: Some("4h".into()),
            schedule_expression: Some("rate(10 days)".into()),
        })
    );
    assert_eq!(
        d.next_rotation_date.unwrap().millis,
        day_start(T0) + 10 * DAY + 4 * 3_600_000 - 1000
    );
    // A value put by hand counts as a rotation for the schedule.
    env.advance(3 * DAY);
    env.sm
        .put_secret_value(
            &ctx(EU_C),
            PutSecretValueRequest {
                secret_id: id("db"),
                client_request_token: Some(token(9)),
                secret_string: text("manual"),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        env.describe("db").next_rotation_date.unwrap().millis,
        day_start(env.now()) + 10 * DAY + 4 * 3_600_000 - 1000
    );
    // Settings given without rules keep the stored ones; a cron schedule is accepted.
    env.rotate(
        "db",
        RotateSecretRequest {
            client_request_token: id(&rotation_token_of("y")),
            rotation_rules: Some(RotationRulesType {
                schedule_expression: Some("cron(0 16 ? * MON *)".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .unwrap();
    let d = env.describe("db");
    assert_eq!(d.rotation_lambda_arn.as_deref(), Some(LAMBDA));
    assert_eq!(
        d.rotation_rules.unwrap().schedule_expression.as_deref(),
        Some("cron(0 16 ? * MON *)")
    );
}

#[test]
fn cancel_rotate_secret() {
    let env = Env::new();
    env.create("db", "old");
    let e = env
        .sm
        .cancel_rotate_secret(
            &ctx(EU_C),
            SecretIdRequest {
                secret_id: id("db"),
            },
        )
        .unwrap_err();
    assert!(matches!(e, SmError::InvalidRequest(_)));
    assert_eq!(e.to_string(), NO_FUNCTION);

    // A rotation left incomplete: cancel names its version and leaves the label.
    *env.rotator.fail.lock() = Some((RotationStep::TestSecret, 1));
    let tok = rotation_token_of("c");
    env.rotate("db", with_days(3, &tok)).unwrap();
    let resp = env
        .sm
        .cancel_rotate_secret(
            &ctx(EU_C),
            SecretIdRequest {
                secret_id: id("db"),
            },
        )
        .unwrap();
    assert_eq!(resp.version_id.as_deref(), Some(tok.as_str()));
    assert_eq!(resp.name.as_deref(), Some("db"));
    assert_eq!(env.stages("db")[&tok], vec![AWSPENDING.to_string()]);
    let d = env.describe("db");
    assert_eq!(d.rotation_enabled, Some(false));
    assert_eq!(d.rotation_lambda_arn.as_deref(), Some(LAMBDA));
    assert!(d.rotation_rules.is_some());
    assert!(d.next_rotation_date.is_none() && d.last_rotated_date.is_none());
    // Nothing is retried or scheduled while rotation is off.
    env.advance(100 * DAY);
    assert_eq!(env.sm.rotate_due().unwrap(), 0);
    assert_eq!(env.value("db", AWSCURRENT).unwrap(), "old");

    // After removing the stale label, rotation can be turned on again with the stored settings.
    env.sm
        .update_secret_version_stage(
            &ctx(EU_C),
            UpdateSecretVersionStageRequest {
                secret_id: id("db"),
                version_stage: Some(AWSPENDING.into()),
                remove_from_version_id: Some(tok.clone()),
                move_to_version_id: None,
            },
        )
        .unwrap();
    env.rotate(
        "db",
        RotateSecretRequest {
            client_request_token: id(&rotation_token_of("again")),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(env.value("db", AWSCURRENT).unwrap(), "value-2");
}

#[test]
fn cancel_during_a_rotation_stops_it() {
    let env = Env::new();
    env.create("db", "old");
    *env.rotator.cancel_during.lock() = Some(RotationStep::SetSecret);
    let tok = rotation_token_of("mid");
    env.rotate("db", with_days(3, &tok)).unwrap();
    assert_eq!(
        env.rotator.steps(),
        vec![RotationStep::CreateSecret, RotationStep::SetSecret]
    );
    assert_eq!(env.value("db", AWSCURRENT).unwrap(), "old");
    assert_eq!(env.value("db", AWSPENDING).unwrap(), "value-1");
    assert_eq!(env.describe("db").rotation_enabled, Some(false));
}

#[test]
fn rotate_secret_refusals() {
    let env = Env::new();
    env.create("db", "old");
    let tok = rotation_token_of("t");
    // No rotation function configured, none given.
    let e = env
        .rotate(
            "db",
            RotateSecretRequest {
                client_request_token: id(&tok),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(matches!(e, SmError::InvalidRequest(_)));
    assert_eq!(
        e.to_string(),
        "No Lambda rotation function ARN is associated with this secret."
    );
    // A function no rotator stands in for: AWS's "cannot invoke", nothing stored.
    let e = env
        .rotate(
            "db",
            RotateSecretRequest {
                rotation_lambda_arn: id(
                    "arn:aws:lambda:eu-central-1:123456789012:function:missing",
                ),
                ..with_days(1, &tok)
            },
        )
        .unwrap_err();
    assert!(matches!(e, SmError::AccessDenied(_)));
    assert_eq!(e.to_string(), CANNOT_INVOKE);
    assert_eq!(env.describe("db").rotation_enabled, None);
    assert_eq!(env.stages("db").len(), 1);
    assert!(env.rotator.steps().is_empty());

    // Validation as the model says.
    for bad in [
        with_days(0, &tok),
        with_days(1001, &tok),
        with_days(1, "short"),
        RotateSecretRequest {
            rotation_rules: Some(RotationRulesType {
                schedule_expression: Some("rate(1 days)".into()),
                duration: Some("3x".into()),
                ..Default::default()
            }),
            ..with_days(1, &tok)
        },
        RotateSecretRequest {
            rotation_rules: Some(RotationRulesType {
                schedule_expression: Some("rate(1 days);".into()),
                ..Default::default()
            }),
            ..with_days(1, &tok)
        },
    ] {
        let e = env.rotate("db", bad).unwrap_err();
        assert!(matches!(e, SmError::Validation(_)), "{e:?}");
    }
    for bad in [
        RotationRulesType {
            automatically_after_days: Some(1),
            schedule_expression: Some("rate(1 days)".into()),
            ..Default::default()
        },
        RotationRulesType {
            schedule_expression: Some("rate(2 hours)".into()),
            ..Default::default()
        },
        RotationRulesType {
            schedule_expression: Some("cron(0 1 * * * *)".into()),
            ..Default::default()
        },
        RotationRulesType {
            schedule_expression: Some("rate(1 days)".into()),
            duration: Some("25h".into()),
            ..Default::default()
        },
    ] {
        let e = env
            .rotate(
                "db",
                RotateSecretRequest {
                    rotation_rules: Some(bad),
                    ..with_days(1, &tok)
                },
            )
            .unwrap_err();
        assert!(matches!(e, SmError::InvalidParameter(_)), "{e:?}");
    }
    let e = env.rotate("nope", with_days(1, &tok)).unwrap_err();
    assert!(matches!(e, SmError::ResourceNotFound(_)));
    assert!(env.rotator.steps().is_empty());

    // A replica is rotated through its primary.
    env.sm
        .create_secret(
            &ctx(EU_C),
            CreateSecretRequest {
                name: id("rep"),
                client_request_token: Some(token(1)),
                secret_string: text("v"),
                kms_key_id: id("mrk-1"),
                add_replica_regions: Some(vec![ReplicaRegionType {
                    region: id(EU_W),
                    kms_key_id: id("mrk-1"),
                }]),
                ..Default::default()
            },
        )
        .unwrap();
    let e = env
        .sm
        .rotate_secret(
            &ctx(EU_W),
            RotateSecretRequest {
                secret_id: id("rep"),
                ..with_days(1, &tok)
            },
        )
        .unwrap_err();
    assert!(matches!(e, SmError::InvalidParameter(_)));
    assert_eq!(
        e.to_string(),
        "Operation not permitted on a replica secret. Call must be made in primary secret's region."
    );
    // Rotating the primary updates the replica, which shows the rotation settings too.
    env.rotate("rep", with_days(1, &tok)).unwrap();
    let replica_value = env
        .sm
        .get_secret_value(
            &ctx(EU_W),
            GetSecretValueRequest {
                secret_id: id("rep"),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(replica_value.secret_string.unwrap().as_str(), "value-1");
    let d = env
        .sm
        .describe_secret(
            &ctx(EU_W),
            SecretIdRequest {
                secret_id: id("rep"),
            },
        )
        .unwrap();
    assert_eq!(d.rotation_enabled, Some(true));

    // A secret scheduled for deletion is not rotated.
    env.sm
        .delete_secret(
            &ctx(EU_C),
            DeleteSecretRequest {
                secret_id: id("db"),
                ..Default::default()
            },
        )
        .unwrap();
    let e = env.rotate("db", with_days(1, &tok)).unwrap_err();
    assert!(matches!(e, SmError::InvalidRequest(_)));
    let _ = ACCOUNT;
}

#[test]
fn random_password_rotator_end_to_end() {
    let env = Env::new();
    let config = RotatorsConfig::from_toml(&format!(
        "[[rotator]]\narn = \"{LAMBDA}\"\nkind = \"random-password\"\nlength = 24\nexclude_punctuation = true\n"
    ))
    .unwrap();
    env.sm.set_rotators(RotatorRegistry::from_config(
        &config,
        Arc::downgrade(&env.sm) as std::sync::Weak<dyn crate::SecretsApi>,
    ));

    // A JSON secret: only "password" changes.
    env.create(
        "db",
        r#"{"username":"app","password":"old-pw","port":5432}"#,
    );
    env.rotate("db", with_days(30, &rotation_token_of("pw1")))
        .unwrap();
    let now: serde_json::Value =
        serde_json::from_str(&env.value("db", AWSCURRENT).unwrap()).unwrap();
    assert_eq!(now["username"], "app");
    assert_eq!(now["port"], 5432);
    let pw = now["password"].as_str().unwrap();
    assert_eq!(pw.len(), 24);
    assert!(pw.chars().all(|c| c.is_ascii_alphanumeric()), "{pw}");
    assert_ne!(pw, "old-pw");
    assert_eq!(
        env.value("db", AWSPREVIOUS).unwrap(),
        r#"{"username":"app","password":"old-pw","port":5432}"#
    );

    // A plain string: the whole value changes.
    env.create("plain", "hunter2");
    env.rotate("plain", with_days(30, &rotation_token_of("pw2")))
        .unwrap();
    let v = env.value("plain", AWSCURRENT).unwrap();
    assert_eq!(v.len(), 24);
    assert_eq!(env.value("plain", AWSPREVIOUS).unwrap(), "hunter2");

    // A pending value from an earlier, failed attempt is kept, as AWS's template keeps it.
    env.create("kept", "old");
    let tok = rotation_token_of("kept");
    env.sm
        .put_secret_value(
            &ctx(EU_C),
            PutSecretValueRequest {
                secret_id: id("kept"),
                client_request_token: id(&tok),
                secret_string: text("prepared"),
                version_stages: Some(vec![AWSPENDING.into()]),
                ..Default::default()
            },
        )
        .unwrap();
    let e = env
        .rotate("kept", with_days(30, &rotation_token_of("new")))
        .unwrap_err();
    assert_eq!(e.to_string(), INCOMPLETE);
    // Rotation was not on yet, so there is nothing to reattempt until it is turned on; once
    // on, the scheduler finishes the incomplete rotation with its own version.
    assert_eq!(env.sm.rotate_due().unwrap(), 0);
    assert_eq!(env.describe("kept").rotation_enabled, None);
}

#[test]
fn incomplete_rotation_with_a_prepared_value_is_finished_with_it() {
    let env = Env::new();
    let config = RotatorsConfig::from_toml(&format!(
        "[[rotator]]\narn = \"{LAMBDA}\"\nkind = \"random-password\"\n"
    ))
    .unwrap();
    env.sm.set_rotators(RotatorRegistry::from_config(
        &config,
        Arc::downgrade(&env.sm) as std::sync::Weak<dyn crate::SecretsApi>,
    ));
    env.create("db", "old");
    let tok = rotation_token_of("first");
    env.rotate("db", with_days(30, &tok)).unwrap();
    let first = env.value("db", AWSCURRENT).unwrap();
    assert_eq!(first.len(), 32);
    // A rotation function that failed after createSecret left a prepared AWSPENDING value.
    let tok2 = rotation_token_of("second");
    env.sm
        .put_secret_value(
            &ctx(EU_C),
            PutSecretValueRequest {
                secret_id: id("db"),
                client_request_token: id(&tok2),
                secret_string: text("prepared"),
                version_stages: Some(vec![AWSPENDING.into()]),
                ..Default::default()
            },
        )
        .unwrap();
    let e = env
        .rotate("db", with_days(30, &rotation_token_of("third")))
        .unwrap_err();
    assert_eq!(e.to_string(), INCOMPLETE);
    assert_eq!(env.sm.rotate_due().unwrap(), 1);
    assert_eq!(env.value("db", AWSCURRENT).unwrap(), "prepared");
    assert_eq!(env.value("db", AWSPREVIOUS).unwrap(), first);
    assert_eq!(env.stages("db")[&tok2], vec![AWSCURRENT.to_string()]);
}

#[test]
fn no_rotator_for_a_scheduled_rotation_is_retried_not_dropped() {
    let env = Env::new();
    env.create("db", "old");
    env.rotate("db", with_days(1, &rotation_token_of("a")))
        .unwrap();
    env.sm.set_rotators(RotatorRegistry::new());
    env.advance(2 * DAY);
    assert_eq!(env.sm.rotate_due().unwrap(), 0);
    assert_eq!(env.describe("db").rotation_enabled, Some(true));
    // Once the rotator is back, the retry runs.
    let mut reg = RotatorRegistry::new();
    reg.insert(LAMBDA, env.rotator.clone());
    env.sm.set_rotators(reg);
    env.advance(5 * 60_000);
    assert_eq!(env.sm.rotate_due().unwrap(), 1);
    assert_eq!(env.value("db", AWSCURRENT).unwrap(), "value-2");
}

#[test]
fn rotation_state_is_in_the_store_without_values() {
    let env = Env::new();
    env.create("db", "old-secret-value");
    env.rotate("db", with_days(1, &rotation_token_of("s")))
        .unwrap();
    let bytes = env.store.all_bytes();
    let s = String::from_utf8_lossy(&bytes);
    assert!(s.contains(LAMBDA));
    assert!(!s.contains("old-secret-value") && !s.contains("value-1"));
}
