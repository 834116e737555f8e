//! The health page: request rate, error rate and mean latency over the last ten minutes, drawn
//! as small SVG charts from samples of the node's own Prometheus counters.

use crate::page::{Page, Section};
use crate::{Shared, Signed};
use axum::response::Response;
use maud::{html, Markup};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::time::Instant;

/// Samples kept: one every [`Sampler::INTERVAL`] for ten minutes.
const KEEP: usize = 60;

#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    requests: f64,
    errors: f64,
    seconds: f64,
}

/// Takes samples of the node's request counters.
pub struct Sampler {
    render: Box<dyn Fn() -> String + Send + Sync>,
    samples: Mutex<VecDeque<Sample>>,
}

impl Sampler {
    /// How often [`Sampler::sample`] should be called.
    pub const INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

    /// A sampler over `render`, the node's Prometheus text exposition.
    pub fn new(render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Self {
            render: Box::new(render),
            samples: Mutex::new(VecDeque::with_capacity(KEEP + 1)),
        }
    }

    /// Takes one sample.
    pub fn sample(&self) {
        let text = (self.render)();
        let mut s = Sample {
            at: Instant::now(),
            requests: 0.0,
            errors: 0.0,
            seconds: 0.0,
        };
        for line in text.lines() {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(v) = value.parse::<f64>() else {
                continue;
            };
            if series.starts_with("coffer_requests_total{") {
                s.requests += v;
                if !series.contains("outcome=\"ok\"") {
                    s.errors += v;
                }
            } else if series.starts_with("coffer_request_duration_seconds_sum") {
                s.seconds += v;
            }
        }
        let mut q = self.samples.lock();
        q.push_back(s);
        while q.len() > KEEP + 1 {
            q.pop_front();
        }
    }

    /// Per-interval request rate, error rate and mean latency (ms).
    fn series(&self) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let q = self.samples.lock();
        let mut rate = Vec::new();
        let mut errors = Vec::new();
        let mut latency = Vec::new();
        for (a, b) in q.iter().zip(q.iter().skip(1)) {
            let secs = b.at.duration_since(a.at).as_secs_f64().max(0.001);
            let n = (b.requests - a.requests).max(0.0);
            rate.push(n / secs);
            errors.push((b.errors - a.errors).max(0.0) / secs);
            latency.push(if n > 0.0 {
                (b.seconds - a.seconds).max(0.0) / n * 1000.0
            } else {
                0.0
            });
        }
        (rate, errors, latency)
    }
}

fn chart(label: &str, unit: &str, values: &[f64]) -> Markup {
    let (w, h) = (300.0_f64, 60.0_f64);
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let last = values.last().copied().unwrap_or(0.0);
    let step = if values.len() > 1 {
        w / (values.len() - 1) as f64
    } else {
        w
    };
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let y = if max > 0.0 {
                h - v / max * (h - 4.0)
            } else {
                h
            };
            format!("{:.1},{:.1}", i as f64 * step, y)
        })
        .collect();
    html! {
        figure.chart {
            figcaption { (label) ": " strong { (format!("{last:.2}")) " " (unit) } " (peak " (format!("{max:.2}")) ")" }
            svg role="img" aria-label=(label) viewBox="0 0 300 60" width="300" height="60" xmlns="http://www.w3.org/2000/svg" {
                polyline.spark points=(points.join(" ")) {}
            }
        }
    }
}

/// `GET /health`
pub async fn page(state: Shared, signed: Signed) -> Response {
    let region = signed.session.region();
    let page = Page {
        title: "Health",
        session: &signed.session,
        region: &region,
        section: Section::Health,
    };
    let body = match &state.0.sampler {
        None => {
            html! { p { "Metrics are off on this node (" code { "[metrics] enabled = false" } ")." } }
        }
        Some(s) => {
            let (rate, errors, latency) = s.series();
            html! {
                p.hint { "This node, the last ten minutes, one point every 10 s." }
                @if rate.is_empty() { p { "Collecting the first samples…" } }
                div.charts {
                    (chart("Requests", "per second", &rate))
                    (chart("Errors", "per second", &errors))
                    (chart("Mean latency", "ms", &latency))
                }
            }
        }
    };
    page.render(body)
}
