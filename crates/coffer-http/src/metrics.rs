//! Prometheus metrics: the `metrics` facade with `metrics-exporter-prometheus` rendering the
//! text format, and `metrics-process` for the `process_*` family.
//!
//! Requests are recorded at one point, [`record_request`], once the response and the
//! `service:operation` label are known. Label values come from fixed lists only (the served
//! services, the operations of their models, AWS error codes, which are `&'static str`), so a
//! client cannot grow the label set: an operation not in the model is `unknown`. Key IDs, secret
//! names, account IDs and Regions are never labels.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `coffer_requests_total` | counter | `service`, `operation`, `outcome` (`ok` or the AWS error code) |
//! | `coffer_request_duration_seconds` | histogram | `service`, `operation` |
//! | `coffer_requests_in_flight` | gauge | |
//! | `coffer_connections_open` | gauge | |
//! | `coffer_connections_total` | counter | `transport` (`tls`, `plain`) |
//! | `coffer_tls_handshake_failures_total` | counter | |
//! | `coffer_tls_reloads_total` | counter | `outcome` (`success`, `failure`) |
//! | `coffer_tls_certificate_expiry_timestamp_seconds` | gauge | |
//! | `coffer_store_commit_duration_seconds` | histogram | |
//! | `coffer_store_commit_errors_total` | counter | |
//! | `coffer_kms_keys` | gauge | `state` (AWS key states) |
//! | `coffer_secrets` | gauge | `state` (`Active`, `PendingDeletion`) |
//! | `coffer_rotation_runs_total` | counter | `kind` (`secret`, `key`) |
//! | `coffer_rotation_failures_total` | counter | `kind` |
//! | `coffer_scheduler_runs_total` | counter | `outcome` (`success`, `failure`) |
//! | `coffer_scheduler_run_duration_seconds` | histogram | |
//! | `coffer_scheduler_lag_seconds` | gauge | |
//! | `coffer_scheduler_last_run_timestamp_seconds` | gauge | |
//! | `coffer_build_info` | gauge (1) | `version`, `commit`, `target` |
//! | `process_*` | | CPU, memory, file descriptors, threads, start time |

use crate::Coffer;
use axum::response::Response;
use coffer_store::{Store, StoreError, Transaction};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The AWS error code of an error response, attached by the renderers as a response extension
/// so that the metrics see it without parsing the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub &'static str);

/// What the build says about itself (`coffer_build_info`).
#[derive(Debug, Clone)]
pub struct BuildInfo {
    /// The crate version.
    pub version: &'static str,
    /// The git commit it was built from, or `unknown`.
    pub commit: &'static str,
}

/// Why the recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(String);

/// The installed recorder: renders `/metrics`.
pub struct Metrics {
    handle: PrometheusHandle,
    process: metrics_process::Collector,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

/// Latency buckets (seconds): 100 µs to 30 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// Installs the process-wide recorder (once per process).
pub fn install(build: &BuildInfo) -> Result<Arc<Metrics>, MetricsError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
        .map_err(|e| MetricsError(e.to_string()))?
        .install_recorder()
        .map_err(|e| MetricsError(e.to_string()))?;
    describe();
    let process = metrics_process::Collector::default();
    process.describe();
    metrics::gauge!(
        "coffer_build_info",
        "version" => build.version,
        "commit" => build.commit,
        "target" => format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
    )
    .set(1.0);
    Ok(Arc::new(Metrics { handle, process }))
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "coffer_requests_total",
        "AWS API requests by service, operation and outcome (ok or the AWS error code)."
    );
    describe_histogram!(
        "coffer_request_duration_seconds",
        Unit::Seconds,
        "Time from the request's arrival to its response, by service and operation."
    );
    describe_gauge!(
        "coffer_requests_in_flight",
        "AWS API requests being served now."
    );
    describe_gauge!("coffer_connections_open", "Open client connections.");
    describe_counter!(
        "coffer_connections_total",
        "Client connections accepted, by transport."
    );
    describe_counter!(
        "coffer_tls_handshake_failures_total",
        "TLS handshakes that failed or timed out."
    );
    describe_counter!(
        "coffer_tls_reloads_total",
        "Certificate reloads (SIGHUP or a file change), by outcome."
    );
    describe_gauge!(
        "coffer_tls_certificate_expiry_timestamp_seconds",
        Unit::Seconds,
        "notAfter of the server certificate in use (Unix time)."
    );
    describe_histogram!(
        "coffer_store_commit_duration_seconds",
        Unit::Seconds,
        "Time to make one store transaction durable."
    );
    describe_counter!(
        "coffer_store_commit_errors_total",
        "Store commits that failed."
    );
    describe_gauge!("coffer_kms_keys", "KMS keys (one per Region) by key state.");
    describe_gauge!("coffer_secrets", "Secrets (replicas included) by state.");
    describe_counter!(
        "coffer_rotation_runs_total",
        "Rotations run: secret rotations and automatic key material rotations."
    );
    describe_counter!("coffer_rotation_failures_total", "Rotations that failed.");
    describe_counter!(
        "coffer_scheduler_runs_total",
        "Runs of the scheduler (deletions, rotations, expiries), by outcome."
    );
    describe_histogram!(
        "coffer_scheduler_run_duration_seconds",
        Unit::Seconds,
        "Time one scheduler run took."
    );
    describe_gauge!(
        "coffer_scheduler_lag_seconds",
        Unit::Seconds,
        "How late the last scheduler run started against its schedule."
    );
    describe_gauge!(
        "coffer_scheduler_last_run_timestamp_seconds",
        Unit::Seconds,
        "When the scheduler last finished a run (Unix time)."
    );
    describe_gauge!(
        "coffer_build_info",
        "Always 1; the labels say which build is running."
    );
}

impl Metrics {
    /// The Prometheus text exposition, with the state gauges brought up to date.
    #[allow(clippy::cast_precision_loss)]
    pub fn render(&self, coffer: &Coffer) -> String {
        let mut keys = coffer.kms.key_counts();
        // Every state always present, so that alerts see 0 rather than no series.
        for state in [
            "Enabled",
            "Disabled",
            "PendingDeletion",
            "PendingReplicaDeletion",
            "PendingImport",
        ] {
            keys.entry(state).or_insert(0);
        }
        for (state, n) in keys {
            metrics::gauge!("coffer_kms_keys", "state" => state).set(n as f64);
        }
        let secrets = coffer.secrets.secret_counts();
        for state in ["Active", "PendingDeletion"] {
            let n = secrets.get(state).copied().unwrap_or(0);
            metrics::gauge!("coffer_secrets", "state" => state).set(n as f64);
        }
        self.process.collect();
        self.handle.render()
    }

    /// Drains histogram buffers; call every few seconds.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// Counts a request as in flight until dropped.
#[derive(Debug)]
pub struct InFlight(());

impl InFlight {
    /// One more request in flight.
    pub fn start() -> Self {
        metrics::gauge!("coffer_requests_in_flight").increment(1.0);
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        metrics::gauge!("coffer_requests_in_flight").decrement(1.0);
    }
}

/// `(service, operation)` labels for the `op` string the handlers return (`kms:Encrypt`,
/// `sts:AssumeRole`, a bare Query action, or an unknown target): only names from the operation
/// registry (`coffer_model::ops`), so a client cannot add label values.
pub fn labels(op: &str) -> (&'static str, &'static str) {
    use coffer_model::ops::Service;
    fn find(service: Service, name: &str) -> Option<(&'static str, &'static str)> {
        service
            .operations()
            .iter()
            .find(|o| o.name == name)
            .map(|o| (service.signing_name(), o.name))
    }
    match op.split_once(':') {
        Some((service, name)) => match Service::from_signing_name(service) {
            Some(s) => find(s, name).unwrap_or((s.signing_name(), "unknown")),
            None => ("unknown", "unknown"),
        },
        // A Query request refused before its service was known (SigV4 failed).
        None => find(Service::Sts, op)
            .or_else(|| find(Service::Iam, op))
            .unwrap_or(("unknown", "unknown")),
    }
}

/// The outcome label of a response: `ok`, or its AWS error code.
pub fn outcome(resp: &Response) -> &'static str {
    match resp.extensions().get::<ErrorCode>() {
        Some(ErrorCode(code)) => code,
        None if resp.status().is_success() => "ok",
        None if resp.status().is_server_error() => "InternalFailure",
        None => "UnknownError",
    }
}

/// Records one finished AWS API request.
pub fn record_request(op: &str, resp: &Response, elapsed: Duration) {
    let (service, operation) = labels(op);
    record(service, operation, outcome(resp), elapsed);
}

/// Records one request by its labels.
///
/// The handles of a label set are looked up in the recorder once per thread and kept: the
/// recorder's own lookup (hashing and comparing every label) showed in profiles of the hot path.
/// Labels are `&'static str`s from bounded sets, so the cache is bounded too.
pub fn record(
    service: &'static str,
    operation: &'static str,
    outcome: &'static str,
    elapsed: Duration,
) {
    type Handles = (metrics::Counter, metrics::Histogram);
    thread_local! {
        static HANDLES: std::cell::RefCell<std::collections::HashMap<[&'static str; 3], Handles>> =
            std::cell::RefCell::new(std::collections::HashMap::new());
    }
    HANDLES.with(|cache| {
        let mut cache = cache.borrow_mut();
        let (counter, histogram) =
            cache
                .entry([service, operation, outcome])
                .or_insert_with(|| {
                    (
                        metrics::counter!(
                            "coffer_requests_total",
                            "service" => service,
                            "operation" => operation,
                            "outcome" => outcome,
                        ),
                        metrics::histogram!(
                            "coffer_request_duration_seconds",
                            "service" => service,
                            "operation" => operation,
                        ),
                    )
                });
        counter.increment(1);
        histogram.record(elapsed.as_secs_f64());
    });
}

/// One scheduler run: how late it started, how long it took, whether it succeeded.
#[allow(clippy::cast_precision_loss)]
pub fn record_scheduler_run(lag: Duration, took: Duration, ok: bool) {
    metrics::gauge!("coffer_scheduler_lag_seconds").set(lag.as_secs_f64());
    metrics::histogram!("coffer_scheduler_run_duration_seconds").record(took.as_secs_f64());
    metrics::counter!(
        "coffer_scheduler_runs_total",
        "outcome" => if ok { "success" } else { "failure" },
    )
    .increment(1);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    metrics::gauge!("coffer_scheduler_last_run_timestamp_seconds").set(now);
}

/// A [`Store`] that times its commits (`coffer_store_commit_duration_seconds`).
///
/// Every method forwards to the wrapped store; a method added to the trait must be forwarded
/// here too.
pub struct MeteredStore(pub Arc<dyn Store>);

impl MeteredStore {
    fn timed<T>(&self, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = f();
        metrics::histogram!("coffer_store_commit_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        if result.is_err() {
            metrics::counter!("coffer_store_commit_errors_total").increment(1);
        }
        result
    }
}

/// Every call is forwarded; commits are timed and their failures counted.
impl Store for MeteredStore {
    fn scan(&self, table: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        self.0.scan(table)
    }

    fn get(&self, table: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(table, key)
    }

    fn commit(&self, tx: &Transaction) -> Result<(), StoreError> {
        self.timed(|| self.0.commit(tx))
    }

    fn clear(&self) -> Result<(), StoreError> {
        self.0.clear()
    }

    fn get_versioned(
        &self,
        table: &str,
        key: &str,
    ) -> Result<Option<coffer_store::Record>, StoreError> {
        self.0.get_versioned(table, key)
    }

    fn scan_versioned(
        &self,
        table: &str,
    ) -> Result<Vec<(String, coffer_store::Record)>, StoreError> {
        self.0.scan_versioned(table)
    }

    fn commit_info(&self, tx: &Transaction) -> Result<coffer_store::CommitInfo, StoreError> {
        self.timed(|| self.0.commit_info(tx))
    }

    fn changes_since(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<coffer_store::Change>, StoreError> {
        self.0.changes_since(after, limit)
    }

    fn log_bounds(&self) -> Result<coffer_store::LogBounds, StoreError> {
        self.0.log_bounds()
    }

    fn compact_log(&self, through: u64) -> Result<(), StoreError> {
        self.0.compact_log(through)
    }

    fn subscribe(&self) -> Result<coffer_store::Subscription, StoreError> {
        self.0.subscribe()
    }

    fn backup(&self, dest: &std::path::Path) -> Result<coffer_store::BackupInfo, StoreError> {
        self.0.backup(dest)
    }

    fn table_counts(&self) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
        self.0.table_counts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(labels("kms:Encrypt"), ("kms", "Encrypt"));
        assert_eq!(labels("kms:NoSuchThing"), ("kms", "unknown"));
        assert_eq!(labels("TrentService.Whatever"), ("unknown", "unknown"));
        assert_eq!(labels("evil:Encrypt"), ("unknown", "unknown"));
        assert_eq!(labels("AssumeRole"), ("sts", "AssumeRole"));
        assert_eq!(labels("CreateRole"), ("iam", "CreateRole"));
        assert_eq!(labels("random-garbage"), ("unknown", "unknown"));
        assert_eq!(
            labels("secretsmanager:GetSecretValue"),
            ("secretsmanager", "GetSecretValue")
        );
    }
}
