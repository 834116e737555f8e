//! What the fuzz targets share: one in-process Coffer (in-memory store, `--dev` front) and the
//! property every request must keep — whatever the input, the answer is an AWS error or a
//! success, never a 5xx, a panic or a hang. Each target lives in `fuzz_targets/`.
#![forbid(unsafe_code)]

use axum::body::Body;
use axum::Router;
use coffer_http::{App, Coffer, Config};
use coffer_model::ops::{Operation, Protocol, Service};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

/// The shared server: a router over a Coffer with an in-memory store.
pub struct Harness {
    rt: tokio::runtime::Runtime,
    router: Router,
    coffer: Arc<Coffer>,
    calls: std::sync::atomic::AtomicU64,
}

/// The in-process server every target shares (built on first use).
pub fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let store = Arc::new(coffer_store::MemoryStore::new());
        let root = coffer_crypto::root::RootKey::generate().expect("root key");
        let coffer = Arc::new(
            Coffer::open(store, root, Arc::new(coffer_core::clock::SystemClock)).expect("open"),
        );
        let app = Arc::new(App {
            coffer: coffer.clone(),
            config: Config {
                dev: true,
                check_responses: false,
                ..Config::default()
            },
            audit: None,
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        Harness {
            rt,
            router: coffer_http::router(app),
            coffer,
            calls: Default::default(),
        }
    })
}

/// The operations of the JSON 1.1 services (KMS, Secrets Manager, CloudTrail), from the registry.
pub fn json_operations() -> Vec<&'static Operation> {
    operations_of(Protocol::Json)
}

/// The operations of the Query services (STS, IAM), from the registry.
pub fn query_operations() -> Vec<&'static Operation> {
    operations_of(Protocol::Query)
}

fn operations_of(p: Protocol) -> Vec<&'static Operation> {
    Service::ALL
        .iter()
        .filter(|s| s.info().protocol == p)
        .flat_map(|s| s.operations().iter())
        .collect()
}

/// An answer: status and body.
pub struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: Vec<u8>,
}

impl Harness {
    /// Sends one JSON 1.1 request for `op` with `body`, checks the property and returns the answer.
    pub fn json(&self, op: &Operation, body: Vec<u8>) -> Answer {
        let info = op.service.info();
        let target = format!("{}.{}", info.target_prefix.unwrap_or(""), op.name);
        let req = Request::post("/")
            .header("host", "localhost")
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", target)
            .body(Body::from(body))
            .expect("request");
        let a = self.send(req);
        if !a.status.is_success() {
            let v: serde_json::Value = serde_json::from_slice(&a.body)
                .unwrap_or_else(|_| panic!("{}: error body is not JSON", op.name));
            assert!(
                v.get("__type").and_then(|t| t.as_str()).is_some(),
                "{}: error without __type",
                op.name
            );
        }
        a
    }

    /// Sends one Query request (form body, `Action` first), checks the property.
    pub fn query(&self, op: &Operation, service: &str, rest: &[u8]) -> Answer {
        let info = op.service.info();
        let mut body = format!("Action={}&Version={}&", op.name, info.api_version).into_bytes();
        body.extend_from_slice(rest);
        let req = Request::post("/")
            .header("host", format!("{service}.amazonaws.com"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .expect("request");
        let a = self.send(req);
        if !a.status.is_success() {
            let text = String::from_utf8_lossy(&a.body);
            assert!(text.contains("<Code>"), "{}: error without Code", op.name);
        }
        a
    }

    /// Sends any request and checks that it was not answered with a server error.
    pub fn send(&self, req: Request<Body>) -> Answer {
        let n = self
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Keep memory bounded over a long run: start from empty every so often.
        if n % 5_000 == 4_999 {
            self.coffer.reset().expect("reset");
        }
        let (status, body) = self.rt.block_on(async {
            let resp = self
                .router
                .clone()
                .oneshot(req)
                .await
                .expect("infallible");
            let status = resp.status();
            let body = resp
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes()
                .to_vec();
            (status, body)
        });
        assert!(
            !status.is_server_error(),
            "server error {status}: {}",
            String::from_utf8_lossy(&body)
        );
        Answer { status, body }
    }
}

/// Replaces the member at `path` (indices into successive objects' members) of a sample input;
/// where the path runs out of containers, the value there is replaced.
pub fn mutate(v: &mut serde_json::Value, path: &[u8], new: serde_json::Value) {
    let Some((&step, rest)) = path.split_first() else {
        *v = new;
        return;
    };
    let child = match v {
        serde_json::Value::Object(m) if !m.is_empty() => {
            let n = m.len();
            m.values_mut().nth(step as usize % n)
        }
        serde_json::Value::Array(a) if !a.is_empty() => {
            let n = a.len();
            a.get_mut(step as usize % n)
        }
        _ => None,
    };
    match child {
        Some(c) => mutate(c, rest, new),
        None => *v = new,
    }
}

/// An arbitrary JSON value of bounded depth from the fuzzer's bytes.
pub fn arbitrary_json(u: &mut arbitrary::Unstructured<'_>, depth: u8) -> serde_json::Value {
    use serde_json::Value as V;
    let kind: u8 = u.arbitrary().unwrap_or(0);
    match kind % 8 {
        0 => V::Null,
        1 => V::Bool(u.arbitrary().unwrap_or(false)),
        2 => V::from(u.arbitrary::<i64>().unwrap_or(0)),
        3 => V::from(u.arbitrary::<f64>().unwrap_or(0.0)),
        4 | 5 => V::from(u.arbitrary::<String>().unwrap_or_default()),
        6 if depth > 0 => {
            let n = u.int_in_range(0..=4u8).unwrap_or(0);
            V::Array((0..n).map(|_| arbitrary_json(u, depth - 1)).collect())
        }
        7 if depth > 0 => {
            let n = u.int_in_range(0..=4u8).unwrap_or(0);
            V::Object(
                (0..n)
                    .map(|_| {
                        (
                            u.arbitrary::<String>().unwrap_or_default(),
                            arbitrary_json(u, depth - 1),
                        )
                    })
                    .collect(),
            )
        }
        _ => V::from(u.arbitrary::<u32>().unwrap_or(0)),
    }
}
