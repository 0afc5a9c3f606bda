//! Per-client token buckets for /api. The client address is used only as a key in memory:
//! never logged, never stored.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use crate::AppState;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// Token buckets by client.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    /// `rate` requests per second on average, `burst` at once.
    #[must_use]
    pub fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate: rate.max(0.001),
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `client`; on refusal, the seconds until one is available.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, last) = buckets.entry(client).or_insert((self.burst, now));
        let elapsed = now.duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            // Truncation is fine: the value is small and positive.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let wait = ((1.0 - *tokens) / self.rate).ceil() as u64;
            Err(wait.max(1))
        }
    }

    /// Forgets buckets that are full again (called by the sweeper).
    pub fn prune(&self) {
        let now = Instant::now();
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (rate, burst) = (self.rate, self.burst);
        buckets.retain(|_, (tokens, last)| {
            *tokens + now.duration_since(*last).as_secs_f64() * rate < burst
        });
    }
}

/// IPv6 clients are grouped by /64, the block one subscriber usually gets.
#[must_use]
pub fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// True for the operations that need an `Authorization: Bearer` token (those the OpenAPI
/// document marks with `security`): uploads' parts, status and completion, revocation and
/// withdrawal, and a study's contribution list, downloads and bundle.
#[must_use]
pub fn needs_bearer(method: &axum::http::Method, path: &str) -> bool {
    use axum::http::Method;
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    matches!(
        (segments.as_slice(), method),
        (["api", "shares", _, "parts", _], &Method::PUT)
            | (["api", "shares", _, "upload"], &Method::GET)
            | (["api", "shares", _, "complete"], &Method::POST)
            | (["api", "shares", _], &Method::DELETE)
            | (["api", "shl", _, "parts", _], &Method::PUT)
            | (["api", "shl", _, "upload"], &Method::GET)
            | (["api", "shl", _, "complete"], &Method::POST)
            | (["api", "shl", _], &Method::DELETE)
            | (["api", "studies", _, "contributions"], &Method::GET)
            | (["api", "studies", _, "bundle"], &Method::GET)
            | (
                ["api", "studies", _, "contributions", _],
                &Method::GET | &Method::DELETE
            )
            | (
                ["api", "studies", _, "contributions", _, "upload"],
                &Method::GET
            )
            | (
                ["api", "studies", _, "contributions", _, "complete"],
                &Method::POST
            )
            | (
                ["api", "studies", _, "contributions", _, "parts", _],
                &Method::PUT
            )
    )
}

/// Refuses a request with 429 when its client's bucket is empty, or when it is a part upload
/// and its client already has `--max-parts-per-client` running. Runs the handler with the
/// client's key in [`crate::limits::CLIENT`] for the per-client byte budgets.
pub async fn middleware(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let forwarded = if state.settings.trust_forwarded_for {
        req.headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok())
    } else {
        None
    };
    let client = forwarded
        .or_else(|| {
            req.extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
        })
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
    let key = bucket_key(client);
    if let Err(wait) = state.limiter.check(key) {
        // A request that needs a token and has none is refused as such, before the limiter's
        // answer: it costs nothing, and the client learns what to fix (issue 18).
        if needs_bearer(req.method(), req.uri().path())
            && !req
                .headers()
                .contains_key(axum::http::header::AUTHORIZATION)
        {
            return ApiError::MissingToken.into_response();
        }
        Metrics::inc(&state.metrics.rate_limited);
        return ApiError::RateLimited(wait).into_response();
    }
    let is_part = req.method() == axum::http::Method::PUT && req.uri().path().contains("/parts/");
    let _guard = if is_part {
        match state
            .in_flight
            .enter(key, state.settings.max_parts_per_client)
        {
            Ok(guard) => Some(guard),
            Err(e) => {
                Metrics::inc(&state.metrics.rate_limited);
                return e.into_response();
            }
        }
    } else {
        None
    };
    let pace = crate::limits::Pace {
        grace: std::time::Duration::from_secs(state.settings.body_grace),
        rate: state.settings.min_body_rate,
    };
    crate::limits::CLIENT
        .scope(key, crate::limits::PACE.scope(pace, next.run(req)))
        .await
}
