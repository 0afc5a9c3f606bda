//! Prometheus counters and the access log. Neither records paths with identifiers, query
//! strings, bodies, tokens or client addresses: only the route template and the status.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::AppState;

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Responses by status class 1xx..5xx (index 0..4).
    pub responses: [AtomicU64; 5],
    /// Ciphertext bytes received in parts.
    pub bytes_in: AtomicU64,
    /// Ciphertext bytes sent in downloads.
    pub bytes_out: AtomicU64,
    /// Uploads created (shares and contributions).
    pub uploads_created: AtomicU64,
    /// Uploads completed.
    pub uploads_completed: AtomicU64,
    /// Downloads started.
    pub downloads: AtomicU64,
    /// Requests refused by the rate limiter.
    pub rate_limited: AtomicU64,
    /// Wrong passcodes given to SMART Health Links.
    pub passcode_failures: AtomicU64,
    /// Objects removed by the sweeper.
    pub swept: AtomicU64,
}

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    #[must_use]
    pub fn render(&self, storage_bytes: u64) -> String {
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            "medseal_bytes_received_total",
            "Ciphertext bytes received in upload parts.",
            self.bytes_in.load(Ordering::Relaxed),
        );
        counter(
            "medseal_bytes_sent_total",
            "Ciphertext bytes sent in downloads.",
            self.bytes_out.load(Ordering::Relaxed),
        );
        counter(
            "medseal_uploads_created_total",
            "Uploads created.",
            self.uploads_created.load(Ordering::Relaxed),
        );
        counter(
            "medseal_uploads_completed_total",
            "Uploads completed.",
            self.uploads_completed.load(Ordering::Relaxed),
        );
        counter(
            "medseal_downloads_total",
            "Downloads started.",
            self.downloads.load(Ordering::Relaxed),
        );
        counter(
            "medseal_shl_passcode_failures_total",
            "Wrong passcodes given to SMART Health Links.",
            self.passcode_failures.load(Ordering::Relaxed),
        );
        counter(
            "medseal_rate_limited_total",
            "Requests refused by the rate limiter.",
            self.rate_limited.load(Ordering::Relaxed),
        );
        counter(
            "medseal_swept_total",
            "Objects removed by the sweeper.",
            self.swept.load(Ordering::Relaxed),
        );
        let _ = writeln!(
            out,
            "# HELP medseal_http_responses_total HTTP responses by status class.\n\
             # TYPE medseal_http_responses_total counter"
        );
        for (i, c) in self.responses.iter().enumerate() {
            let _ = writeln!(
                out,
                "medseal_http_responses_total{{class=\"{}xx\"}} {}",
                i + 1,
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP medseal_storage_bytes Bytes of stored ciphertext parts (as last counted).\n\
             # TYPE medseal_storage_bytes gauge\nmedseal_storage_bytes {storage_bytes}"
        );
        out
    }
}

/// Logs one line per request (method, route template, status, milliseconds) and counts it.
pub async fn access_log(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "static".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    let status = response.status().as_u16();
    if let Some(c) = state
        .metrics
        .responses
        .get(usize::from(status / 100).saturating_sub(1))
    {
        Metrics::inc(c);
    }
    tracing::info!(
        %method,
        route,
        status,
        ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "request"
    );
    response
}
