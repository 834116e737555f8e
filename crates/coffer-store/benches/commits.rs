//! Durable commits per second with 1, 8 and 64 concurrent committers of ~1 KB records, and the
//! latency of reads made meanwhile. Prints figures; asserts nothing.
//!
//!     cargo bench -p coffer-store --bench commits
//!
//! Backends: SQLite with group commit (the default) and without it (`max_batch = 1`) in a
//! temporary directory (set `COFFER_BENCH_DIR` to put it on another disk); PostgreSQL too when
//! `COFFER_TEST_POSTGRES_URL` is set (`.ci/postgres` starts a server, with `fsync=off`: turn it
//! on with `ALTER SYSTEM SET fsync = on; SELECT pg_reload_conf();` for durable figures).
//! `COFFER_BENCH_SECONDS` sets the time per row (default 3).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coffer_store::{
    PostgresOptions, PostgresStore, SqliteOptions, SqliteStore, Store, Transaction,
};

const VALUE: usize = 1024;

fn main() {
    let seconds: u64 = std::env::var("COFFER_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let duration = Duration::from_secs(seconds);
    let base = std::env::var_os("COFFER_BENCH_DIR").map(std::path::PathBuf::from);
    let dir = match &base {
        Some(b) => tempfile::tempdir_in(b).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    println!(
        "store commit benchmark: {VALUE}-byte records, {seconds} s per row, dir {}",
        dir.path().display()
    );
    println!(
        "{:<28} {:>10} {:>12} {:>10} {:>10} {:>12}",
        "backend", "committers", "commits/s", "p50 ms", "p99 ms", "read p99 ms"
    );

    for (name, max_batch) in [("sqlite group commit", 512), ("sqlite one per commit", 1)] {
        for threads in [1usize, 8, 64] {
            let path = dir.path().join(format!("bench-{max_batch}-{threads}.db"));
            let options = SqliteOptions {
                max_batch,
                ..SqliteOptions::default()
            };
            let store: Arc<dyn Store> = Arc::new(SqliteStore::open_with(&path, options).unwrap());
            run(name, store, threads, duration);
        }
    }
    postgres(duration);
}

/// PostgreSQL rows, when `COFFER_TEST_POSTGRES_URL` is set (a fresh schema, dropped after).
fn postgres(duration: Duration) {
    let Ok(url) = std::env::var("COFFER_TEST_POSTGRES_URL") else {
        println!("(postgres: COFFER_TEST_POSTGRES_URL not set; skipped)");
        return;
    };
    for (name, max_batch) in [
        ("postgres group commit", 256),
        ("postgres one per commit", 1),
    ] {
        for threads in [1usize, 8, 64] {
            let schema = format!("bench_{}_{max_batch}_{threads}", std::process::id());
            let mut options = PostgresOptions::new(&url);
            options.schema = schema.clone();
            options.max_batch = max_batch;
            options.pool_size = 16;
            let store: Arc<dyn Store> = Arc::new(PostgresStore::open(options).unwrap());
            run(name, store, threads, duration);
            if let Ok(mut client) = postgres::Client::connect(&url, postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"));
            }
        }
    }
}

/// Runs `threads` committers for `duration`, plus one reader; prints one row.
fn run(name: &str, store: Arc<dyn Store>, threads: usize, duration: Duration) {
    let stop = AtomicBool::new(false);
    let commits = AtomicU64::new(0);
    let start = Instant::now();
    let (mut latencies, mut reads) = std::thread::scope(|scope| {
        let writers: Vec<_> = (0..threads)
            .map(|t| {
                let (store, stop, commits) = (&store, &stop, &commits);
                scope.spawn(move || {
                    let mut latencies = Vec::new();
                    let mut i = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let mut value = vec![0x5a; VALUE];
                        value[..8].copy_from_slice(&i.to_be_bytes());
                        let mut tx = Transaction::new();
                        tx.put("bench", &format!("{t}-{}", i % 1000), value);
                        let began = Instant::now();
                        store.commit(&tx).unwrap();
                        latencies.push(began.elapsed());
                        commits.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                    }
                    latencies
                })
            })
            .collect();
        let reader = {
            let (store, stop) = (&store, &stop);
            scope.spawn(move || {
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let began = Instant::now();
                    let _ = store.get("bench", "0-0").unwrap();
                    latencies.push(began.elapsed());
                    std::thread::sleep(Duration::from_millis(1));
                }
                latencies
            })
        };
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        let latencies: Vec<Duration> = writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        (latencies, reader.join().unwrap())
    });
    let elapsed = start.elapsed().as_secs_f64();
    let rate = commits.load(Ordering::Relaxed) as f64 / elapsed;
    println!(
        "{:<28} {:>10} {:>12.0} {:>10.2} {:>10.2} {:>12.2}",
        name,
        threads,
        rate,
        ms(percentile(&mut latencies, 0.50)),
        ms(percentile(&mut latencies, 0.99)),
        ms(percentile(&mut reads, 0.99)),
    );
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
