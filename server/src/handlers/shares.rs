//! Shares: encrypted blobs with an expiry and a download limit.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::{Completed, PartStored, UploadStatus};
use crate::AppState;
use crate::error::{ApiError, ApiPath, ApiResult, GoneReason};
use crate::metrics::Metrics;
use crate::objects::{Fresh, Meta, Object, new_id, now};

/// A new share upload.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShare {
    /// Total ciphertext bytes that will be uploaded.
    #[serde(deserialize_with = "super::integer")]
    pub size: u64,
    /// Seconds until the share expires (within the server's bounds).
    #[serde(deserialize_with = "super::integer")]
    pub expires_in: u64,
    /// How many downloads are allowed (1 to the server's maximum).
    #[serde(deserialize_with = "super::integer")]
    pub max_downloads: u32,
}

/// A share upload was created. The tokens are shown only here.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShareCreated {
    /// 128-bit identifier, 22 base64url characters.
    pub id: String,
    /// Bearer token for the parts, status and completion requests.
    pub upload_token: String,
    /// Bearer token that deletes the share.
    pub revoke_token: String,
    /// Size of every part but the last.
    pub part_size: u64,
    /// Number of parts to send (indices 0 to part_count - 1).
    pub part_count: u64,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
}

/// Checks a new share's or link's expiry and download limit against the server's bounds.
///
/// # Errors
/// `400 bad_expiry`, `400 bad_max_downloads`.
pub(crate) fn check_lifetime(
    s: &crate::settings::Settings,
    expires_in: u64,
    max_downloads: u32,
) -> ApiResult<()> {
    if !(s.min_expiry..=s.max_expiry).contains(&expires_in) {
        return Err(ApiError::Invalid(
            "bad_expiry",
            format!(
                "expires_in must be between {} and {} seconds.",
                s.min_expiry, s.max_expiry
            ),
        ));
    }
    if max_downloads == 0 || max_downloads > s.max_downloads {
        return Err(ApiError::Invalid(
            "bad_max_downloads",
            format!("max_downloads must be between 1 and {}.", s.max_downloads),
        ));
    }
    Ok(())
}

/// Checks the common bounds of a new upload.
pub(crate) fn check_new_upload(state: &AppState, size: u64) -> ApiResult<()> {
    let s = &state.settings;
    if size > s.max_object_size {
        return Err(ApiError::TooLarge(format!(
            "The object is larger than this server accepts ({} bytes).",
            s.max_object_size
        )));
    }
    let used = state
        .objects
        .usage
        .load(std::sync::atomic::Ordering::Relaxed);
    if used.saturating_add(size) > s.quota {
        return Err(ApiError::QuotaExceeded);
    }
    charge_client(state, size)
}

/// Charges `bytes` to the current request's client address (`--client-quota`), so that one
/// address cannot fill the global quota.
pub(crate) fn charge_client(state: &AppState, bytes: u64) -> ApiResult<()> {
    match crate::limits::current_client() {
        Some(client) => state.budgets.charge(client, bytes),
        None => Ok(()),
    }
}

/// `POST /api/shares`.
#[utoipa::path(post, path = "/api/shares", tag = "shares",
    request_body = CreateShare,
    responses((status = 201, body = ShareCreated),
              (status = 400, body = crate::openapi::ErrorBody), (status = 413, body = crate::openapi::ErrorBody),
              (status = 429, description = "`rate_limited`, or `client_quota`: this address announced more than --client-quota bytes in the window (Retry-After)", body = crate::openapi::ErrorBody),
              (status = 507, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<ShareCreated>)> {
    let req: CreateShare =
        super::read_json(&headers, body, state.settings.max_request_body).await?;
    check_lifetime(&state.settings, req.expires_in, req.max_downloads)?;
    check_new_upload(&state, req.size)?;
    let id = new_id()?;
    let Fresh {
        meta,
        upload_token,
        owner_token: revoke_token,
    } = Meta::fresh(
        req.size,
        state.settings.part_size,
        now().saturating_add(req.expires_in),
        req.max_downloads,
        None,
    )?;
    let obj = Object::share(&id)?;
    state.objects.create_meta(&obj, &meta).await?;
    Metrics::inc(&state.metrics.uploads_created);
    Ok((
        StatusCode::CREATED,
        Json(ShareCreated {
            id,
            upload_token,
            revoke_token,
            part_size: meta.part_size,
            part_count: meta.part_count(),
            expires_at: meta.expires_at,
        }),
    ))
}

/// `PUT /api/shares/{id}/parts/{index}`.
#[utoipa::path(put, path = "/api/shares/{id}/parts/{index}", tag = "shares",
    params(("id" = String, Path), ("index" = u64, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    security(("bearer" = [])),
    responses((status = 200, body = PartStored),
              (status = 400, body = crate::openapi::ErrorBody), (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody),
              (status = 408, description = "`too_slow`: the body arrived slower than --min-body-rate", body = crate::openapi::ErrorBody),
              (status = 409, body = crate::openapi::ErrorBody), (status = 410, body = crate::openapi::ErrorBody), (status = 413, body = crate::openapi::ErrorBody),
              (status = 429, description = "`rate_limited`, or `too_many_parts`: --max-parts-per-client part uploads in flight (Retry-After)", body = crate::openapi::ErrorBody),
              (status = 507, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn put_part(
    State(state): State<AppState>,
    ApiPath((id, index)): ApiPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<PartStored>> {
    let obj = Object::share(&id)?;
    super::upload_part(&state, &obj, &headers, &index, body)
        .await
        .map(Json)
}

/// `GET /api/shares/{id}/upload`.
#[utoipa::path(get, path = "/api/shares/{id}/upload", tag = "shares",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = UploadStatus),
              (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody), (status = 410, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn status(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<Json<UploadStatus>> {
    let obj = Object::share(&id)?;
    super::upload_status(&state, &obj, &headers).await.map(Json)
}

/// `POST /api/shares/{id}/complete`.
#[utoipa::path(post, path = "/api/shares/{id}/complete", tag = "shares",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Completed),
              (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody),
              (status = 409, body = crate::openapi::ErrorBody), (status = 410, body = crate::openapi::ErrorBody), (status = 507, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn complete(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Completed>> {
    let obj = Object::share(&id)?;
    super::upload_complete(&state, &obj, &headers)
        .await
        .map(Json)
}

/// `GET /api/shares/{id}`: the ciphertext, streamed, with Range support.
#[utoipa::path(get, path = "/api/shares/{id}", tag = "shares",
    params(("id" = String, Path), ("Range" = Option<String>, Header),
           ("MedSeal-Resume-Token" = Option<String>, Header, description = "resumes a counted download: the token its answer carried")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>,
               headers(("MedSeal-Resume-Token" = String, description = "on a counted download: resumes it (see API.md)"),
                       ("MedSeal-Resume-Expires" = u64, description = "when that token expires, Unix seconds"))),
              (status = 206, content_type = "application/octet-stream", body = Vec<u8>,
               headers(("MedSeal-Resume-Token" = String, description = "on a counted download: resumes it (see API.md)"),
                       ("MedSeal-Resume-Expires" = u64, description = "when that token expires, Unix seconds"))),
              (status = 400, body = crate::openapi::ErrorBody),
              (status = 403, description = "`bad_resume_token`: unknown, expired or spent", body = crate::openapi::ErrorBody),
              (status = 404, body = crate::openapi::ErrorBody),
              (status = 410, body = crate::openapi::ErrorBody), (status = 416, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn download(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let obj = Object::share(&id)?;
    super::download(&state, &obj, &method, &headers).await
}

/// `DELETE /api/shares/{id}` with the revoke token.
#[utoipa::path(delete, path = "/api/shares/{id}", tag = "shares",
    params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 204),
              (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody),
              (status = 410, body = crate::openapi::ErrorBody), (status = 507, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn revoke(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let obj = Object::share(&id)?;
    super::bearer(&headers)?;
    let loaded = state.objects.load(&obj).await?;
    super::check_token(&headers, &loaded.meta.owner_token_sha256)?;
    state.objects.bury(&obj, GoneReason::Revoked).await?;
    Ok(StatusCode::NO_CONTENT)
}
