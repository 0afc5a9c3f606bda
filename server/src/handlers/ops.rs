//! Health and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse as _, Response};
use serde::Serialize;

use crate::AppState;

/// The answer of /healthz.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` when the server answers and its storage can be listed.
    pub status: &'static str,
    /// The storage backend in use (`local` or `s3`).
    pub storage: &'static str,
}

/// `GET /healthz`: 200 if storage answers, 500 `internal` otherwise.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, body = Health), (status = 500, body = crate::openapi::ErrorBody)))]
pub async fn healthz(State(state): State<AppState>) -> Response {
    let probe = crate::storage::Key::new(&["healthz"]);
    let ok = match probe {
        Ok(key) => state.objects.store.list(&key).await.is_ok(),
        Err(_) => false,
    };
    if ok {
        Json(Health {
            status: "ok",
            storage: state.objects.store.name(),
        })
        .into_response()
    } else {
        crate::error::ApiError::Internal("storage does not answer".into()).into_response()
    }
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let usage = state
        .objects
        .usage
        .load(std::sync::atomic::Ordering::Relaxed);
    let mut response = state.metrics.render(usage).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
