//! MedSeal's blob server: an axum router over a storage trait. It stores only ciphertext,
//! public keys, signed public study descriptions and hashes of tokens, and serves the app.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use clap::Parser as _;
//! let settings = medseal_server::settings::Settings::parse();
//! let state = medseal_server::AppState::new(settings)?;
//! let router = medseal_server::app(state);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! axum::serve(listener, router).await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::http::HeaderValue;
use axum::routing::{any, get, post, put};

pub mod error;
pub mod handlers;
pub mod headers;
pub mod limits;
pub mod metrics;
pub mod objects;
pub mod openapi;
pub mod ratelimit;
pub mod settings;
pub mod storage;
pub mod sweeper;

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::objects::Objects;
use crate::ratelimit::RateLimiter;
use crate::settings::Settings;
use crate::storage::{Store, StoreError};

/// Everything handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The configuration.
    pub settings: Arc<Settings>,
    /// Objects over the storage backend.
    pub objects: Objects,
    /// Prometheus counters.
    pub metrics: Arc<Metrics>,
    /// Per-client request budget.
    pub limiter: Arc<RateLimiter>,
    /// The Content-Security-Policy header, with hashes of index.html's inline scripts.
    pub csp: HeaderValue,
    /// The `--upload-memory` budget for part bodies, in byte permits taken as bodies arrive (see `handlers::upload_part`).
    pub part_memory: Arc<tokio::sync::Semaphore>,
    /// Part uploads in flight per client address (`--max-parts-per-client`).
    pub in_flight: Arc<limits::InFlight>,
    /// Bytes announced for new uploads per client address (`--client-quota`).
    pub budgets: Arc<limits::ByteBudgets>,
    /// Public keys stored: kept up to date by publications and recounted by every sweep.
    pub key_count: Arc<AtomicU64>,
    /// SMART Health Link passcode checks (Argon2id, up to 64 MiB each): one at a time.
    pub passcode_checks: Arc<tokio::sync::Semaphore>,
}

impl AppState {
    /// Opens the configured backend and reads index.html for the CSP.
    ///
    /// # Errors
    /// If the backend cannot be opened.
    pub fn new(settings: Settings) -> Result<Self, StoreError> {
        let store: Arc<dyn Store> = if settings.storage == "local" {
            Arc::new(storage::local::LocalStore::open(&settings.data_dir)?)
        } else if settings.storage.starts_with("s3://") {
            Arc::new(
                storage::s3::S3Store::from_url(&settings.storage)?.with_claim_settle(
                    std::time::Duration::from_millis(settings.s3_claim_settle_ms),
                ),
            )
        } else {
            return Err(StoreError::Other(
                "--storage must be `local` or `s3://BUCKET[/PREFIX]`".into(),
            ));
        };
        Ok(Self::with_store(settings, store))
    }

    /// State over a given backend (tests pass their own).
    #[must_use]
    pub fn with_store(settings: Settings, store: Arc<dyn Store>) -> Self {
        let csp = headers::content_security_policy(&settings.static_dir, settings.shl_allow_http);
        let limiter = RateLimiter::new(settings.rate_limit, settings.rate_burst);
        let purge_delay = settings.purge_delay;
        // In bytes. At least one whole part always fits, whatever the setting.
        let budget = settings.upload_memory.max(settings.part_size);
        let part_memory = Arc::new(tokio::sync::Semaphore::new(
            usize::try_from(budget)
                .unwrap_or(usize::MAX)
                .min(tokio::sync::Semaphore::MAX_PERMITS),
        ));
        let budgets = limits::ByteBudgets::new(
            settings.client_quota,
            std::time::Duration::from_secs(settings.client_quota_window),
        );
        Self {
            in_flight: Arc::default(),
            budgets: Arc::new(budgets),
            key_count: Arc::new(AtomicU64::new(0)),
            passcode_checks: Arc::new(tokio::sync::Semaphore::new(1)),
            settings: Arc::new(settings),
            objects: Objects {
                store,
                usage: Arc::new(AtomicU64::new(0)),
                leases: Arc::default(),
                purge_delay,
            },
            metrics: Arc::new(Metrics::default()),
            limiter: Arc::new(limiter),
            csp,
            part_memory,
        }
    }
}

/// The whole HTTP surface: API, health, metrics, OpenAPI and the single-page app.
pub fn app(state: AppState) -> Router {
    use handlers::{keys, ops, shares, shl, studies};
    // The routes SMART Health Link viewers on other origins call.
    let shl_public = Router::new()
        .route(
            "/api/shl/{lid}",
            post(shl::manifest)
                .get(shl::direct)
                .delete(shl::revoke)
                .options(shl::preflight),
        )
        .route(
            "/api/shl/{lid}/files/{n}",
            get(shl::file).options(shl::preflight),
        );
    let api = Router::new()
        .route("/api/openapi.json", get(openapi::serve))
        .route("/api/config", get(shl::config))
        .route("/api/shl", post(shl::create))
        .route("/api/shl/{lid}/upload", get(shl::status))
        .route("/api/shl/{lid}/parts/{index}", put(shl::put_part))
        .route("/api/shl/{lid}/complete", post(shl::complete))
        .merge(shl_public)
        .route("/api/shares", post(shares::create))
        .route(
            "/api/shares/{id}",
            get(shares::download).delete(shares::revoke),
        )
        .route("/api/shares/{id}/upload", get(shares::status))
        .route("/api/shares/{id}/parts/{index}", put(shares::put_part))
        .route("/api/shares/{id}/complete", post(shares::complete))
        .route("/api/keys", put(keys::publish).post(keys::publish))
        .route("/api/keys/{fingerprint}", get(keys::fetch))
        .route("/api/studies", post(studies::create))
        .route("/api/studies/{sid}", get(studies::fetch))
        .route(
            "/api/studies/{sid}/contributions",
            post(studies::contribute).get(studies::list),
        )
        .route(
            "/api/studies/{sid}/contributions/{cid}",
            get(studies::download).delete(studies::withdraw),
        )
        .route(
            "/api/studies/{sid}/contributions/{cid}/upload",
            get(studies::status),
        )
        .route(
            "/api/studies/{sid}/contributions/{cid}/parts/{index}",
            put(studies::put_part),
        )
        .route(
            "/api/studies/{sid}/contributions/{cid}/complete",
            post(studies::complete),
        )
        .route("/api/studies/{sid}/bundle", get(studies::bundle))
        .route("/api", any(no_route))
        .route("/api/{*rest}", any(no_route))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ratelimit::middleware,
        ))
        .layer(axum::middleware::from_fn(shl::cors));
    Router::new()
        .merge(api)
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback_service(headers::static_files(&state.settings.static_dir))
        .layer(axum::middleware::from_fn(error::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::access_log,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            headers::security_headers,
        ))
        .with_state(state)
}

async fn no_route() -> ApiError {
    ApiError::NoRoute
}

async fn method_not_allowed() -> ApiError {
    ApiError::Method
}
