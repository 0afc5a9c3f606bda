//! SMART Health Links (HL7 "SMART Health Cards and Links" STU1) hosted by this server.
//!
//! A link is an object `shl/ID` whose bytes are its files, each a compact JWE the sharer's
//! browser or CLI encrypted with the link's key, stored one after the other; its metadata lists
//! the files and keeps the Argon2id hash of the passcode, made by the sharer's client. The key
//! never reaches the server, and a passcode does only in manifest requests.
//!
//! - `POST /api/shl`, then the parts and completion as for shares, with the upload token;
//! - `POST /api/shl/{lid}`: the manifest request (the link's `url`), counted as a download;
//!   small files are `embedded`, larger ones get a `location` good for an hour and for one
//!   copy of the file;
//! - `GET /api/shl/{lid}?recipient=`: the single file of a link without passcode (flag `U`);
//! - `GET /api/shl/{lid}/files/{n}?ticket=`: a `location`;
//! - `DELETE /api/shl/{lid}` with the revoke token.
//!
//! Anything that makes a link unusable (unknown, incomplete, expired, revoked, used up,
//! disabled by wrong passcodes) answers `404`, as the specification asks, with the reason's
//! code in the body. The manifest, direct and location answers carry
//! `Access-Control-Allow-Origin: *`: SMART Health Link viewers are web pages on other origins,
//! and nothing here depends on cookies or ambient credentials.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use medseal_core::shl::{self as core_shl, PasscodeHash};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::{Completed, PartStored, UploadStatus};
use crate::AppState;
use crate::error::{ApiError, ApiPath, ApiResult, GoneReason};
use crate::metrics::Metrics;
use crate::objects::{Fresh, Meta, Object, ShlFile, ShlInfo, now};

/// Most files one link may hold.
pub const MAX_FILES: usize = 16;
/// Wrong passcodes a link allows when its creator does not say.
pub const DEFAULT_ATTEMPTS: u32 = 10;
/// The most wrong passcodes a link may allow.
pub const MAX_ATTEMPTS: u32 = 100;
/// Life of a `location` URL: the specification's limit, one hour.
pub const LOCATION_TTL: u64 = 3600;

fn default_attempts() -> u32 {
    DEFAULT_ATTEMPTS
}

/// One file of a new link.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShlFile {
    /// `application/fhir+json`, `application/smart-health-card` or
    /// `application/smart-api-access`.
    pub content_type: String,
    /// Length of its JWE in bytes (the compact serialization's ASCII).
    #[serde(deserialize_with = "super::integer")]
    pub size: u64,
}

/// The Argon2id hash of a passcode, computed by the sharer's client (FORMAT.md section 9).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasscodeBody {
    /// Always `argon2id`.
    pub alg: String,
    /// Memory cost in KiB.
    #[serde(deserialize_with = "super::integer")]
    pub m: u32,
    /// Passes.
    #[serde(deserialize_with = "super::integer")]
    pub t: u32,
    /// Lanes (1).
    #[serde(deserialize_with = "super::integer")]
    pub p: u32,
    /// 16 random bytes, base64url.
    pub salt: String,
    /// 32 bytes of Argon2id output, base64url.
    pub hash: String,
}

/// A new SMART Health Link upload.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShl {
    /// The files, in manifest order (1 to 16).
    pub files: Vec<NewShlFile>,
    /// Seconds until the link expires (within the server's bounds).
    #[serde(deserialize_with = "super::integer")]
    pub expires_in: u64,
    /// How many manifest requests (or direct downloads) are answered.
    #[serde(deserialize_with = "super::integer")]
    pub max_downloads: u32,
    /// The passcode's hash, for a link with flag `P`.
    #[serde(default)]
    pub passcode: Option<PasscodeBody>,
    /// Wrong passcodes allowed over the link's life (1 to 100, default 10).
    #[serde(default = "default_attempts", deserialize_with = "super::integer")]
    pub max_attempts: u32,
}

/// A link upload was created. The tokens are shown only here.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShlCreated {
    /// 256-bit identifier, 43 base64url characters.
    pub id: String,
    /// The manifest URL's path on this server: the link's `url` is this server's origin
    /// followed by it.
    pub path: String,
    /// Bearer token for the parts, status and completion requests.
    pub upload_token: String,
    /// Bearer token that deletes the link.
    pub revoke_token: String,
    /// Size of every part but the last.
    pub part_size: u64,
    /// Number of parts to send.
    pub part_count: u64,
    /// Expiry, Unix seconds (the link's `exp`).
    pub expires_at: u64,
}

/// A manifest request. Unknown fields are ignored, as the specification asks.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ManifestRequestBody {
    /// Who is asking (a person or organisation), for the sharer.
    pub recipient: String,
    /// The passcode of a link with flag `P`.
    #[serde(default)]
    pub passcode: Option<String>,
    /// Longest `embedded` value wanted; longer files come as `location`.
    #[serde(
        default,
        rename = "embeddedLengthMax",
        deserialize_with = "optional_integer"
    )]
    pub embedded_length_max: Option<u64>,
}

/// An optional integer: absent or `null` is `None`.
fn optional_integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    struct Int(#[serde(deserialize_with = "super::integer")] u64);
    Ok(Option::<Int>::deserialize(d)?.map(|Int(v)| v))
}

/// One file of a manifest.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ManifestFileBody {
    /// The file's content type.
    #[serde(rename = "contentType")]
    pub content_type: String,
    /// The compact JWE, when embedded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedded: Option<String>,
    /// A URL answering the JWE to `GET`, good for an hour, when not embedded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
}

/// The manifest of a link.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ManifestBody {
    /// The files.
    pub files: Vec<ManifestFileBody>,
}

/// The answer to a wrong or missing passcode.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PasscodeRefusedBody {
    /// `wrong_passcode`.
    pub code: String,
    /// A plain sentence for people.
    pub message: String,
    /// Attempts left before the link is disabled.
    #[serde(rename = "remainingAttempts")]
    pub remaining_attempts: u64,
}

/// The query of a direct (`U`) request.
#[derive(Debug, Deserialize)]
pub struct DirectQuery {
    /// Who is asking.
    pub recipient: Option<String>,
}

/// The query of a `location` request.
#[derive(Debug, Deserialize)]
pub struct FileQuery {
    /// The ticket the manifest handed out.
    pub ticket: Option<String>,
}

fn link(lid: &str) -> ApiResult<Object> {
    Object::shl(lid).map_err(|_| ApiError::LinkInactive(None))
}

/// The answer of every error on a link's public routes: gone for any reason is `404`.
fn inactive(e: ApiError) -> ApiError {
    match e {
        ApiError::Gone(reason) => ApiError::LinkInactive(Some(reason)),
        ApiError::NotFound | ApiError::BadResume => ApiError::LinkInactive(None),
        other => other,
    }
}

/// A complete link, its metadata and its SMART Health Link part.
async fn load_link(state: &AppState, obj: &Object) -> ApiResult<(Meta, ShlInfo)> {
    let loaded = state.objects.load(obj).await.map_err(inactive)?;
    if !loaded.complete {
        return Err(ApiError::LinkInactive(None));
    }
    let info =
        loaded.meta.shl.clone().ok_or_else(|| {
            ApiError::Internal("a link without its SMART Health Link data".into())
        })?;
    Ok((loaded.meta, info))
}

/// The origin this server is reached at, for absolute `location` URLs.
fn origin(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.settings.public_url {
        return url.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// `POST /api/shl`.
#[utoipa::path(post, path = "/api/shl", tag = "shl",
    request_body = CreateShl,
    responses((status = 201, body = ShlCreated),
              (status = 400, body = crate::openapi::ErrorBody), (status = 413, body = crate::openapi::ErrorBody),
              (status = 429, description = "`rate_limited`, or `client_quota` (Retry-After)", body = crate::openapi::ErrorBody),
              (status = 507, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<ShlCreated>)> {
    let req: CreateShl = super::read_json(&headers, body, state.settings.max_request_body).await?;
    let s = &state.settings;
    super::shares::check_lifetime(s, req.expires_in, req.max_downloads)?;
    if req.files.is_empty() || req.files.len() > MAX_FILES {
        return Err(ApiError::Invalid(
            "bad_files",
            format!("A link holds 1 to {MAX_FILES} files."),
        ));
    }
    let mut files = Vec::with_capacity(req.files.len());
    for f in &req.files {
        if ![
            core_shl::FHIR_JSON,
            core_shl::HEALTH_CARD,
            core_shl::API_ACCESS,
        ]
        .contains(&f.content_type.as_str())
        {
            return Err(ApiError::Invalid(
                "bad_content_type",
                "A file's content_type must be application/fhir+json, \
                 application/smart-health-card or application/smart-api-access."
                    .into(),
            ));
        }
        if f.size == 0 {
            return Err(ApiError::Invalid(
                "bad_size",
                "A file cannot be empty.".into(),
            ));
        }
        if f.size > s.shl_max_file {
            return Err(ApiError::TooLarge(format!(
                "A SMART Health Link file may be at most {} bytes; this server keeps larger \
                 records as MedSeal links.",
                s.shl_max_file
            )));
        }
        files.push(ShlFile {
            content_type: f.content_type.clone(),
            size: f.size,
        });
    }
    if !(1..=MAX_ATTEMPTS).contains(&req.max_attempts) {
        return Err(ApiError::Invalid(
            "bad_max_attempts",
            format!("max_attempts must be between 1 and {MAX_ATTEMPTS}."),
        ));
    }
    let passcode = match req.passcode {
        None => None,
        Some(p) => {
            let hash = PasscodeHash {
                alg: p.alg,
                m: p.m,
                t: p.t,
                p: p.p,
                salt: p.salt,
                hash: p.hash,
            };
            hash.check()
                .map_err(|m| ApiError::Invalid("bad_passcode", format!("{m}.")))?;
            Some(hash)
        }
    };
    let size = files.iter().map(|f| f.size).sum();
    super::shares::check_new_upload(&state, size)?;
    let id = medseal_core::id::new_link_id()
        .map_err(|_| ApiError::Internal("random number generator failed".into()))?;
    let Fresh {
        meta,
        upload_token,
        owner_token: revoke_token,
    } = Meta::fresh(
        size,
        s.part_size,
        now().saturating_add(req.expires_in),
        req.max_downloads,
        Some(ShlInfo {
            files,
            passcode,
            max_attempts: req.max_attempts,
        }),
    )?;
    let obj = Object::shl(&id)?;
    state.objects.create_meta(&obj, &meta).await?;
    Metrics::inc(&state.metrics.uploads_created);
    Ok((
        StatusCode::CREATED,
        Json(ShlCreated {
            path: format!("/api/shl/{id}"),
            id,
            upload_token,
            revoke_token,
            part_size: meta.part_size,
            part_count: meta.part_count(),
            expires_at: meta.expires_at,
        }),
    ))
}

/// `PUT /api/shl/{lid}/parts/{index}`.
#[utoipa::path(put, path = "/api/shl/{lid}/parts/{index}", tag = "shl",
    params(("lid" = String, Path), ("index" = u64, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    security(("bearer" = [])),
    responses((status = 200, body = PartStored),
              (status = 400, body = crate::openapi::ErrorBody), (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody),
              (status = 408, description = "`too_slow`", body = crate::openapi::ErrorBody),
              (status = 409, body = crate::openapi::ErrorBody), (status = 410, body = crate::openapi::ErrorBody), (status = 413, body = crate::openapi::ErrorBody),
              (status = 429, description = "`rate_limited`, or `too_many_parts` (Retry-After)", body = crate::openapi::ErrorBody),
              (status = 507, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn put_part(
    State(state): State<AppState>,
    ApiPath((lid, index)): ApiPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<PartStored>> {
    let obj = Object::shl(&lid)?;
    super::upload_part(&state, &obj, &headers, &index, body)
        .await
        .map(Json)
}

/// `GET /api/shl/{lid}/upload`.
#[utoipa::path(get, path = "/api/shl/{lid}/upload", tag = "shl",
    params(("lid" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = UploadStatus),
              (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody), (status = 410, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn status(
    State(state): State<AppState>,
    ApiPath(lid): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<Json<UploadStatus>> {
    let obj = Object::shl(&lid)?;
    super::upload_status(&state, &obj, &headers).await.map(Json)
}

/// `POST /api/shl/{lid}/complete`.
#[utoipa::path(post, path = "/api/shl/{lid}/complete", tag = "shl",
    params(("lid" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Completed),
              (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody),
              (status = 400, description = "`bad_jwe`: a file is not a compact JWE with alg dir", body = crate::openapi::ErrorBody),
              (status = 409, body = crate::openapi::ErrorBody), (status = 410, body = crate::openapi::ErrorBody), (status = 507, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn complete(
    State(state): State<AppState>,
    ApiPath(lid): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Completed>> {
    let obj = Object::shl(&lid)?;
    let status = super::upload_status(&state, &obj, &headers).await?;
    if !status.complete && status.parts.len() as u64 == status.part_count {
        let loaded = state.objects.load(&obj).await?;
        check_files(&state, &obj, &loaded.meta).await?;
    }
    super::upload_complete(&state, &obj, &headers)
        .await
        .map(Json)
}

/// `DELETE /api/shl/{lid}` with the revoke token.
#[utoipa::path(delete, path = "/api/shl/{lid}", tag = "shl",
    params(("lid" = String, Path)), security(("bearer" = [])),
    responses((status = 204),
              (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody),
              (status = 410, body = crate::openapi::ErrorBody), (status = 507, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn revoke(
    State(state): State<AppState>,
    ApiPath(lid): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let obj = Object::shl(&lid)?;
    super::bearer(&headers)?;
    let loaded = state.objects.load(&obj).await?;
    super::check_token(&headers, &loaded.meta.owner_token_sha256)?;
    state.objects.bury(&obj, GoneReason::Revoked).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks a manifest request's passcode against the link's hash, spending one of its
/// attempts first, so that parallel guesses cannot make more than `max_attempts` wrong ones.
async fn check_passcode(
    state: &AppState,
    obj: &Object,
    info: &ShlInfo,
    hash: &PasscodeHash,
    given: Option<String>,
) -> ApiResult<()> {
    let max = info.max_attempts;
    let Some(given) = given else {
        // No passcode at all spends nothing: it guesses nothing.
        let taken = state.objects.attempts_taken(obj).await?;
        return Err(ApiError::WrongPasscode(u64::from(
            max.saturating_sub(taken),
        )));
    };
    let Some(n) = state.objects.claim_attempt(obj, max).await? else {
        state.objects.bury(obj, GoneReason::Disabled).await?;
        return Err(ApiError::LinkInactive(Some(GoneReason::Disabled)));
    };
    // The last wrong attempt buries the link (tombstone first, then its markers): a request
    // that loaded the link before that may find the markers gone and claim a fresh one, so
    // the claim counts only if the link is still alive after it.
    if let Some(tomb) = state.objects.tomb(obj).await? {
        return Err(ApiError::LinkInactive(Some(tomb.reason)));
    }
    // Argon2id takes its memory cost for each check: one at a time (PASSCODE_MAX_M_KIB at most).
    let permit = Arc::clone(&state.passcode_checks)
        .acquire_owned()
        .await
        .map_err(|_| ApiError::Internal("passcode check pool closed".into()))?;
    let hash = hash.clone();
    let right = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        hash.verify(&given)
    })
    .await
    .map_err(|_| ApiError::Internal("passcode check failed".into()))?;
    if right {
        state.objects.release_attempt(obj, n).await?;
        return Ok(());
    }
    Metrics::inc(&state.metrics.passcode_failures);
    let left = max.saturating_sub(state.objects.attempts_taken(obj).await?);
    if left == 0 {
        state.objects.bury(obj, GoneReason::Disabled).await?;
    }
    Err(ApiError::WrongPasscode(u64::from(left)))
}

/// `POST /api/shl/{lid}`: the manifest request.
#[utoipa::path(post, path = "/api/shl/{lid}", tag = "shl",
    params(("lid" = String, Path)),
    request_body = ManifestRequestBody,
    responses((status = 200, body = ManifestBody),
              (status = 400, body = crate::openapi::ErrorBody),
              (status = 401, description = "`wrong_passcode`: a wrong or missing passcode", body = PasscodeRefusedBody),
              (status = 404, description = "the link is unknown, expired, revoked, used up or disabled", body = crate::openapi::ErrorBody),
              (status = 507, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn manifest(
    State(state): State<AppState>,
    ApiPath(lid): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let obj = link(&lid)?;
    let req: ManifestRequestBody =
        super::read_json(&headers, body, state.settings.max_request_body).await?;
    if req.recipient.trim().is_empty() {
        return Err(ApiError::Invalid(
            "bad_recipient",
            "recipient must name who is asking.".into(),
        ));
    }
    let (meta, info) = load_link(&state, &obj).await?;
    if let Some(hash) = &info.passcode {
        check_passcode(&state, &obj, &info, hash, req.passcode).await?;
    }
    // The lease is taken before admission so that a purge never starts under the files.
    let lease = state.objects.lease(&obj);
    match state.objects.admit(&obj, meta.max_downloads).await? {
        None => {
            state.objects.write_tomb(&obj, GoneReason::UsedUp).await?;
            lease.purge_when_done();
            return Err(ApiError::LinkInactive(Some(GoneReason::UsedUp)));
        }
        Some(true) => {
            state.objects.write_tomb(&obj, GoneReason::UsedUp).await?;
            lease.purge_when_done();
        }
        Some(false) => {}
    }
    Metrics::inc(&state.metrics.downloads);
    let embed_max = req
        .embedded_length_max
        .unwrap_or(u64::MAX)
        .min(state.settings.shl_embed_max);
    let base = origin(&state, &headers);
    let mut files = Vec::with_capacity(info.files.len());
    for (n, file) in info.files.iter().enumerate() {
        let range = info
            .range(n)
            .ok_or_else(|| ApiError::Internal("file table".into()))?;
        let mut entry = ManifestFileBody {
            content_type: file.content_type.clone(),
            embedded: None,
            location: None,
        };
        if file.size <= embed_max {
            let bytes = read_range(&state, &obj, &meta, range).await?;
            entry.embedded = Some(
                String::from_utf8(bytes)
                    .map_err(|_| ApiError::Internal("a stored JWE is not text".into()))?,
            );
        } else {
            let (ticket, until) = state
                .objects
                .issue_ticket(&obj, &meta, LOCATION_TTL, range)
                .await?;
            // The file stays while its location is good, even if this was the last download.
            lease.keep_until(until);
            entry.location = Some(format!("{base}/api/shl/{lid}/files/{n}?ticket={ticket}"));
        }
        files.push(entry);
    }
    drop(lease);
    let mut response = Json(ManifestBody { files }).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

async fn read_range(
    state: &AppState,
    obj: &Object,
    meta: &Meta,
    range: std::ops::Range<u64>,
) -> ApiResult<Vec<u8>> {
    use futures::TryStreamExt as _;
    let capacity = usize::try_from(range.end - range.start).unwrap_or(0);
    let chunks: Vec<bytes::Bytes> = state
        .objects
        .stream(obj, meta, range)
        .try_collect()
        .await
        .map_err(ApiError::from)?;
    let mut out = Vec::with_capacity(capacity);
    for c in chunks {
        out.extend_from_slice(&c);
    }
    Ok(out)
}

/// Sets the headers of a JWE answer.
fn jose(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(core_shl::JOSE),
    );
    h.remove(header::CONTENT_DISPOSITION);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /api/shl/{lid}?recipient=`: the single file of a link without passcode (flag `U`),
/// counted as a download, with Range and resume as for shares.
#[utoipa::path(get, path = "/api/shl/{lid}", tag = "shl",
    params(("lid" = String, Path), ("recipient" = String, Query, description = "who is asking")),
    responses((status = 200, content_type = "application/jose", body = String),
              (status = 206, content_type = "application/jose", body = String),
              (status = 400, body = crate::openapi::ErrorBody),
              (status = 403, description = "`bad_resume_token`", body = crate::openapi::ErrorBody),
              (status = 404, description = "the link is not active, or needs a manifest request", body = crate::openapi::ErrorBody),
              (status = 416, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn direct(
    State(state): State<AppState>,
    ApiPath(lid): ApiPath<String>,
    Query(query): Query<DirectQuery>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let obj = link(&lid)?;
    if query
        .recipient
        .as_deref()
        .is_none_or(|r| r.trim().is_empty())
    {
        return Err(ApiError::Invalid(
            "bad_recipient",
            "A direct request needs ?recipient= naming who is asking.".into(),
        ));
    }
    let (_, info) = load_link(&state, &obj).await?;
    if info.passcode.is_some() || info.files.len() != 1 {
        return Err(ApiError::LinkInactive(None));
    }
    super::download(&state, &obj, &method, &headers)
        .await
        .map(jose)
        .map_err(inactive)
}

/// `GET /api/shl/{lid}/files/{n}?ticket=`: a manifest's `location`, good for an hour and
/// one copy of the file.
#[utoipa::path(get, path = "/api/shl/{lid}/files/{n}", tag = "shl",
    params(("lid" = String, Path), ("n" = u32, Path), ("ticket" = String, Query)),
    responses((status = 200, content_type = "application/jose", body = String),
              (status = 206, content_type = "application/jose", body = String),
              (status = 404, description = "the link or the ticket is not active", body = crate::openapi::ErrorBody),
              (status = 416, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn file(
    State(state): State<AppState>,
    ApiPath((lid, n)): ApiPath<(String, String)>,
    Query(query): Query<FileQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let obj = link(&lid)?;
    let ticket = query.ticket.ok_or(ApiError::LinkInactive(None))?;
    let n: usize = n.parse().map_err(|_| ApiError::LinkInactive(None))?;
    let (meta, _) = state.objects.load_resumable(&obj).await.map_err(inactive)?;
    let range = meta
        .shl
        .as_ref()
        .and_then(|i| i.range(n))
        .ok_or(ApiError::LinkInactive(None))?;
    let len = range.end - range.start;
    let asked = super::parse_range(&headers, len)?;
    let within = asked.clone().unwrap_or(0..len);
    let (hash, use_n, grant) = state
        .objects
        .claim_resume(&obj, &ticket, within.end - within.start)
        .await
        .map_err(inactive)?;
    if grant.range != Some((range.start, range.end)) {
        return Err(ApiError::LinkInactive(None));
    }
    let served = range.start + within.start..range.start + within.end;
    let lease = state.objects.lease(&obj);
    let body = super::stream_body(
        &state,
        &obj,
        &meta,
        served,
        super::StreamGuard::new(
            lease,
            &state.objects,
            &obj,
            u64::MAX,
            grant.expires_at,
            Some((hash, use_n)),
        ),
    );
    let status = if asked.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(within.end - within.start),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if asked.is_some()
        && let Ok(v) = HeaderValue::from_str(&format!(
            "bytes {}-{}/{len}",
            within.start,
            within.end.saturating_sub(1)
        ))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(jose(response))
}

/// `OPTIONS` on the public routes: the CORS preflight of a viewer on another origin.
pub async fn preflight() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// True for the routes viewers on other origins call: `/api/shl/{lid}` and
/// `/api/shl/{lid}/files/{n}`.
fn is_public_path(path: &str) -> bool {
    let rest = path.strip_prefix("/api/shl/").unwrap_or_default();
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [lid] => !lid.is_empty(),
        [lid, "files", n] => !lid.is_empty() && !n.is_empty(),
        _ => false,
    }
}

/// Middleware around the whole API, outside the rate limiter: on the public routes any origin
/// may read the answers, refusals included (a viewer must be able to read a `429` and its
/// `Retry-After`); they are ciphertext or a list of ciphertexts, and need no cookie.
pub async fn cors(req: Request, next: Next) -> Response {
    let public = is_public_path(req.uri().path());
    let mut response = next.run(req).await;
    if !public {
        return response;
    }
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type, range"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("retry-after, content-range, content-length"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

/// What the app needs to know about this server's settings.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Config {
    /// Whether SMART Health Links on plain-http hosts may be opened (`--shl-allow-http`).
    pub shl_allow_http: bool,
    /// Largest SMART Health Link file (its JWE), bytes.
    pub shl_max_file: u64,
    /// Longest expiry of a share or link, seconds.
    pub max_expiry: u64,
    /// Highest download limit.
    pub max_downloads: u32,
}

/// `GET /api/config`.
#[utoipa::path(get, path = "/api/config", tag = "ops", responses((status = 200, body = Config)))]
pub async fn config(State(state): State<AppState>) -> Json<Config> {
    let s = &state.settings;
    Json(Config {
        shl_allow_http: s.shl_allow_http,
        shl_max_file: s.shl_max_file,
        max_expiry: s.max_expiry,
        max_downloads: s.max_downloads,
    })
}

/// Reads a stored file as it streams and checks that it has the shape of a compact JWE with
/// `alg: dir` and `enc: A256GCM`: five base64url parts, the second (the encrypted key) empty.
/// Only the header is kept in memory.
#[derive(Default)]
struct JweShape {
    dots: usize,
    header: Vec<u8>,
    bad: bool,
    empty_key: bool,
}

impl JweShape {
    fn feed(&mut self, chunk: &[u8]) {
        for &b in chunk {
            if b == b'.' {
                self.dots += 1;
                if self.dots == 2 {
                    self.empty_key = true;
                }
            } else if !(b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                self.bad = true;
            } else if self.dots == 0 {
                if self.header.len() < 4096 {
                    self.header.push(b);
                } else {
                    self.bad = true;
                }
            } else if self.dots == 1 {
                self.empty_key = false;
                self.bad = true;
            }
        }
    }

    fn ok(&self) -> bool {
        !self.bad
            && self.dots == 4
            && self.empty_key
            && std::str::from_utf8(&self.header)
                .ok()
                .and_then(|h| medseal_core::id::from_b64url(h).ok())
                .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
                .is_some_and(|h| h["alg"] == "dir" && h["enc"] == "A256GCM")
    }
}

/// True if `bytes` have the shape of a link's file.
#[must_use]
pub fn looks_like_jwe(bytes: &[u8]) -> bool {
    let mut shape = JweShape::default();
    shape.feed(bytes);
    shape.ok()
}

/// Checks every uploaded file of a link before it is completed.
async fn check_files(state: &AppState, obj: &Object, meta: &Meta) -> ApiResult<()> {
    use futures::StreamExt as _;
    let Some(info) = &meta.shl else {
        return Ok(());
    };
    for n in 0..info.files.len() {
        let range = info
            .range(n)
            .ok_or_else(|| ApiError::Internal("file table".into()))?;
        let mut shape = JweShape::default();
        let mut stream = state.objects.stream(obj, meta, range);
        while let Some(chunk) = stream.next().await {
            shape.feed(&chunk.map_err(ApiError::from)?);
        }
        if !shape.ok() {
            return Err(ApiError::Invalid(
                "bad_jwe",
                format!(
                    "File {n} of the link is not a compact JWE with alg dir and enc A256GCM; \
                     the link was not completed."
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jwe_is_told_from_other_bytes() {
        let jwe = core_shl::encrypt(&[1; 32], b"{}", core_shl::FHIR_JSON, false).unwrap();
        assert!(looks_like_jwe(jwe.as_bytes()));
        assert!(!looks_like_jwe(b"hello"));
        assert!(!looks_like_jwe(b"a.b.c.d.e"));
    }

    #[test]
    fn the_public_routes_are_the_manifest_and_the_files() {
        assert!(is_public_path("/api/shl/abc"));
        assert!(is_public_path("/api/shl/abc/files/0"));
        assert!(!is_public_path("/api/shl/abc/upload"));
        assert!(!is_public_path("/api/shl/abc/parts/0"));
        assert!(!is_public_path("/api/shl/abc/complete"));
        assert!(!is_public_path("/api/shl"));
        assert!(!is_public_path("/api/shares/abc"));
    }

    #[test]
    fn a_null_embedded_length_max_is_no_limit() {
        let req: ManifestRequestBody =
            serde_json::from_str(r#"{"recipient":"r","embeddedLengthMax":null}"#).unwrap();
        assert_eq!(req.embedded_length_max, None);
        assert!(
            serde_json::from_str::<ManifestRequestBody>(
                r#"{"recipient":"r","embeddedLengthMax":-1}"#
            )
            .is_err()
        );
    }

    #[test]
    fn unknown_manifest_fields_are_ignored() {
        let req: ManifestRequestBody = serde_json::from_str(
            r#"{"recipient":"Dr. B","embeddedLengthMax":10.0,"somethingNew":true}"#,
        )
        .unwrap();
        assert_eq!(req.embedded_length_max, Some(10));
    }
}
