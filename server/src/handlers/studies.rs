//! Studies (signed public descriptions) and their anonymous contributions.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use bytes::Bytes;
use futures::StreamExt as _;
use medseal_core::pki::{PublicKey, SignatureError};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use super::{Completed, PartStored, UploadStatus};
use crate::AppState;
use crate::error::{ApiError, ApiPath, ApiResult, GoneReason};
use crate::metrics::Metrics;
use crate::objects::{Meta, Object, hash_token, new_id, new_token, now};
use crate::storage::StoreError;

/// The context string of study signatures: they cover medseal-core
/// `pki::signed_bytes(STUDY_CONTEXT, description)`, checked with `PublicKey::verify_canonical`.
pub const STUDY_CONTEXT: &str = "medseal/v1 study";

/// What the server keeps about a study, at `studies/SID/meta`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StudyMeta {
    /// SHA-256 of the admin token.
    pub admin_token_sha256: String,
    /// Creation time.
    pub created_at: u64,
    /// Contributions are refused from this time on.
    pub closes_at: u64,
    /// The study and its contributions are deleted at this time.
    pub expires_at: u64,
    /// The researcher's key fingerprint, base64url.
    pub key_fingerprint: String,
}

/// `POST /api/studies` body: the description and its signature. The server stores and serves
/// this body byte for byte.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SignedStudy {
    /// The study description: any JSON object with at least `key_fingerprint` (base64url or
    /// hex SHA-256 of the researcher's published SPKI) and optionally `closes_at` (Unix
    /// seconds, in the future and at most `--max-expiry` ahead, to the end of that UTC day;
    /// without it the study closes `--max-expiry` from now).
    #[schema(value_type = Object)]
    pub description: serde_json::Value,
    /// RSA-PSS-SHA256 (salt 32) signature, base64url, over `"medseal-signature\0" ||
    /// "medseal/v1 study" || "\0" || canonical JSON of description`.
    pub signature: String,
}

/// A study was created. The admin token is shown only here.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StudyCreated {
    /// 128-bit study identifier: base64url of the first 16 bytes of SHA-256("medseal/v1 study
    /// id" || 0x00 || canonical JSON of the description), which clients recompute.
    pub id: String,
    /// Bearer token to list and download contributions.
    pub admin_token: String,
    /// When contributions stop being accepted, Unix seconds.
    pub closes_at: u64,
    /// When the study and its contributions are deleted, Unix seconds.
    pub expires_at: u64,
}

/// A new contribution upload.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContribution {
    /// Total ciphertext bytes that will be uploaded.
    #[serde(deserialize_with = "super::integer")]
    pub size: u64,
}

/// A contribution upload was created. The tokens are shown only here.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContributionCreated {
    /// 128-bit contribution identifier.
    pub id: String,
    /// Bearer token for the parts, status and completion requests.
    pub upload_token: String,
    /// Bearer token that withdraws (deletes) the contribution.
    pub withdraw_token: String,
    /// Size of every part but the last.
    pub part_size: u64,
    /// Number of parts to send.
    pub part_count: u64,
    /// When it is deleted with its study, Unix seconds.
    pub expires_at: u64,
}

/// One complete contribution in a listing.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContributionInfo {
    /// Contribution identifier.
    pub id: String,
    /// Ciphertext bytes.
    pub size: u64,
    /// Upload creation time, Unix seconds.
    pub created_at: u64,
}

fn meta_key(study: &Object) -> ApiResult<crate::storage::Key> {
    study.prefix.join("meta").map_err(ApiError::from)
}

fn description_key(study: &Object) -> ApiResult<crate::storage::Key> {
    study.prefix.join("description").map_err(ApiError::from)
}

/// Loads a live study; buries it if it expired.
async fn load_study(state: &AppState, study: &Object) -> ApiResult<StudyMeta> {
    if let Some(tomb) = state.objects.tomb(study).await? {
        return Err(ApiError::Gone(tomb.reason));
    }
    let meta: StudyMeta = match state.objects.store.get(&meta_key(study)?).await {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::Internal(format!("corrupt study metadata: {e}")))?,
        Err(StoreError::NotFound) => return Err(ApiError::NotFound),
        Err(e) => return Err(e.into()),
    };
    if now() >= meta.expires_at {
        state.objects.bury(study, GoneReason::Expired).await?;
        return Err(ApiError::Gone(GoneReason::Expired));
    }
    Ok(meta)
}

async fn load_for_admin(state: &AppState, sid: &str, headers: &HeaderMap) -> ApiResult<Object> {
    let study = Object::study(sid)?;
    super::bearer(headers)?;
    let meta = load_study(state, &study).await?;
    super::check_token(headers, &meta.admin_token_sha256)?;
    Ok(study)
}

/// The latest `closes_at` a study created at `now` may have: `now + max_expiry`, rounded up to
/// the last second of that UTC day, since researchers choose a closing date rather than a
/// second (the study page closes at 23:59:59 UTC of the chosen day).
#[must_use]
pub fn latest_close(now: u64, max_expiry: u64) -> u64 {
    let limit = now.saturating_add(max_expiry);
    (limit / 86_400)
        .saturating_mul(86_400)
        .saturating_add(86_399)
}

/// `POST /api/studies`: stores a signed study description after verifying its signature with
/// the published key it names. A `closes_at` in the past or beyond [`latest_close`] is
/// `400 bad_expiry`.
#[utoipa::path(post, path = "/api/studies", tag = "studies", request_body = SignedStudy,
    responses((status = 201, body = StudyCreated),
              (status = 400, description = "`bad_request`, `bad_signature`, or `bad_expiry`: closes_at in the past or more than --max-expiry ahead", body = crate::openapi::ErrorBody), (status = 409, description = "`study_exists`: this signed description was already posted (the id is derived from it)", body = crate::openapi::ErrorBody), (status = 413, body = crate::openapi::ErrorBody), (status = 422, body = crate::openapi::ErrorBody), (status = 507, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<StudyCreated>)> {
    let raw = super::read_body(&headers, body, state.settings.max_request_body as u64).await?;
    let signed: SignedStudy =
        serde_json::from_slice(&raw).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let Some(description) = signed.description.as_object() else {
        return Err(ApiError::BadRequest(
            "description must be a JSON object".into(),
        ));
    };
    let Some(fp_text) = description.get("key_fingerprint").and_then(|v| v.as_str()) else {
        return Err(ApiError::BadRequest(
            "description.key_fingerprint (string) is required".into(),
        ));
    };
    let fingerprint = super::keys::parse_fingerprint(fp_text)
        .map_err(|_| ApiError::BadRequest("description.key_fingerprint is malformed".into()))?;
    let closes_at = match description.get("closes_at") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            ApiError::BadRequest("description.closes_at must be Unix seconds".into())
        })?),
    };
    let der = match state
        .objects
        .store
        .get(&super::keys::key_key(&fingerprint)?)
        .await
    {
        Ok(der) => der,
        Err(StoreError::NotFound) => return Err(ApiError::UnknownKey),
        Err(e) => return Err(e.into()),
    };
    // Stored keys were checked when published; failing to read one is the server's fault.
    let key = PublicKey::from_spki_der(&der)
        .map_err(|e| ApiError::Internal(format!("stored public key unreadable: {e}")))?;
    let signature = medseal_core::id::from_b64url(signed.signature.trim())
        .map_err(|_| ApiError::BadSignature)?;
    key.verify_canonical(STUDY_CONTEXT, &signed.description, &signature)
        .map_err(|e| match e {
            SignatureError::Invalid | SignatureError::Sign => ApiError::BadSignature,
            SignatureError::Encode => ApiError::BadRequest(format!("description: {e}")),
        })?;

    let s = &state.settings;
    let created_at = now();
    let closes_at = match closes_at {
        None => created_at.saturating_add(s.max_expiry),
        Some(t) if t <= created_at => {
            return Err(ApiError::Invalid(
                "bad_expiry",
                "description.closes_at is in the past.".into(),
            ));
        }
        // The closing date is signed and shown to patients, so the server refuses one it would
        // not honour rather than closing the study earlier than it says.
        Some(t) if t > latest_close(created_at, s.max_expiry) => {
            return Err(ApiError::Invalid(
                "bad_expiry",
                format!(
                    "description.closes_at is too far ahead: this server keeps studies open for \
                     at most {} days (until the end of that day, UTC). Choose an earlier closing \
                     date.",
                    s.max_expiry / 86_400
                ),
            ));
        }
        Some(t) => t,
    };
    let expires_at = closes_at.saturating_add(s.study_retention);
    // The id is derived from the signed description (FORMAT.md appendix A), so every client
    // can check that the description it is served is the one of the id in its link.
    let id = medseal_core::study::study_id_of(&signed.description)
        .map_err(|e| ApiError::BadRequest(format!("description: {e}")))?;
    let admin_token = new_token()?;
    let study = Object::study(&id)?;
    if state.objects.tomb(&study).await?.is_some() {
        return Err(ApiError::StudyExists);
    }
    let meta = StudyMeta {
        admin_token_sha256: hash_token(&admin_token),
        created_at,
        closes_at,
        expires_at,
        key_fingerprint: fingerprint.to_b64url(),
    };
    // The description first: a study is visible only once its metadata exists.
    state
        .objects
        .store
        .create(&description_key(&study)?, raw)
        .await
        .map_err(|e| match e {
            StoreError::AlreadyExists => ApiError::StudyExists,
            other => other.into(),
        })?;
    let meta_bytes = serde_json::to_vec(&meta).map_err(|e| ApiError::Internal(e.to_string()))?;
    state
        .objects
        .store
        .create(&meta_key(&study)?, Bytes::from(meta_bytes))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(StudyCreated {
            id,
            admin_token,
            closes_at,
            expires_at,
        }),
    ))
}

/// `GET /api/studies/{sid}`: the signed description exactly as it was posted.
#[utoipa::path(get, path = "/api/studies/{sid}", tag = "studies", params(("sid" = String, Path)),
    responses((status = 200, content_type = "application/json", body = Object),
              (status = 404, body = crate::openapi::ErrorBody), (status = 410, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn fetch(
    State(state): State<AppState>,
    ApiPath(sid): ApiPath<String>,
) -> ApiResult<Response> {
    let study = Object::study(&sid)?;
    load_study(&state, &study).await?;
    let raw = state.objects.store.get(&description_key(&study)?).await?;
    let mut response = raw.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// `POST /api/studies/{sid}/contributions`: starts an anonymous contribution upload.
#[utoipa::path(post, path = "/api/studies/{sid}/contributions", tag = "studies",
    params(("sid" = String, Path)), request_body = CreateContribution,
    responses((status = 201, body = ContributionCreated),
              (status = 400, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody), (status = 410, body = crate::openapi::ErrorBody),
              (status = 413, body = crate::openapi::ErrorBody),
              (status = 429, description = "`rate_limited`, or `client_quota`: this address announced more than --client-quota bytes in the window (Retry-After)", body = crate::openapi::ErrorBody),
              (status = 507, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn contribute(
    State(state): State<AppState>,
    ApiPath(sid): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<ContributionCreated>)> {
    let study = Object::study(&sid)?;
    let req: CreateContribution =
        super::read_json(&headers, body, state.settings.max_request_body).await?;
    let study_meta = load_study(&state, &study).await?;
    if now() >= study_meta.closes_at {
        return Err(ApiError::Closed);
    }
    super::shares::check_new_upload(&state, req.size)?;
    let id = new_id()?;
    let upload_token = new_token()?;
    let withdraw_token = new_token()?;
    let meta = Meta {
        size: req.size,
        part_size: state.settings.part_size,
        created_at: now(),
        expires_at: study_meta.expires_at,
        max_downloads: 0,
        upload_token_sha256: hash_token(&upload_token),
        owner_token_sha256: hash_token(&withdraw_token),
        shl: None,
    };
    let obj = Object::contribution(&sid, &id)?;
    state.objects.create_meta(&obj, &meta).await?;
    Metrics::inc(&state.metrics.uploads_created);
    Ok((
        StatusCode::CREATED,
        Json(ContributionCreated {
            id,
            upload_token,
            withdraw_token,
            part_size: meta.part_size,
            part_count: meta.part_count(),
            expires_at: meta.expires_at,
        }),
    ))
}

/// `PUT /api/studies/{sid}/contributions/{cid}/parts/{index}`.
#[utoipa::path(put, path = "/api/studies/{sid}/contributions/{cid}/parts/{index}", tag = "studies",
    params(("sid" = String, Path), ("cid" = String, Path), ("index" = u64, Path)),
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
    ApiPath((sid, cid, index)): ApiPath<(String, String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<PartStored>> {
    let obj = Object::contribution(&sid, &cid)?;
    super::upload_part(&state, &obj, &headers, &index, body)
        .await
        .map(Json)
}

/// `GET /api/studies/{sid}/contributions/{cid}/upload`.
#[utoipa::path(get, path = "/api/studies/{sid}/contributions/{cid}/upload", tag = "studies",
    params(("sid" = String, Path), ("cid" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = UploadStatus),
              (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody), (status = 410, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn status(
    State(state): State<AppState>,
    ApiPath((sid, cid)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Json<UploadStatus>> {
    let obj = Object::contribution(&sid, &cid)?;
    super::upload_status(&state, &obj, &headers).await.map(Json)
}

/// `POST /api/studies/{sid}/contributions/{cid}/complete`.
#[utoipa::path(post, path = "/api/studies/{sid}/contributions/{cid}/complete", tag = "studies",
    params(("sid" = String, Path), ("cid" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Completed),
              (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody),
              (status = 409, body = crate::openapi::ErrorBody), (status = 410, body = crate::openapi::ErrorBody), (status = 507, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn complete(
    State(state): State<AppState>,
    ApiPath((sid, cid)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Json<Completed>> {
    let obj = Object::contribution(&sid, &cid)?;
    super::upload_complete(&state, &obj, &headers)
        .await
        .map(Json)
}

/// `DELETE /api/studies/{sid}/contributions/{cid}` with the withdraw token, while the study is
/// open (after its `closes_at`, `409 study_closed` and the contribution stays); or with the
/// study's admin token, at any time while the study exists (the researcher removes, say, a
/// contribution that cannot be decrypted).
#[utoipa::path(delete, path = "/api/studies/{sid}/contributions/{cid}", tag = "studies",
    params(("sid" = String, Path), ("cid" = String, Path)), security(("bearer" = [])),
    responses((status = 204, description = "deleted (withdraw token while open, or admin token)"),
              (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody),
              (status = 409, description = "`study_closed`: the study has closed; the contribution is kept (withdraw token only)", body = crate::openapi::ErrorBody),
              (status = 410, body = crate::openapi::ErrorBody), (status = 507, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn withdraw(
    State(state): State<AppState>,
    ApiPath((sid, cid)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    let obj = Object::contribution(&sid, &cid)?;
    let token = super::bearer(&headers)?;
    let loaded = state.objects.load(&obj).await?;
    let study_meta = load_study(&state, &Object::study(&sid)?).await?;
    if crate::objects::token_matches(token, &study_meta.admin_token_sha256) {
        state.objects.bury(&obj, GoneReason::Withdrawn).await?;
        return Ok(StatusCode::NO_CONTENT);
    }
    super::check_token(&headers, &loaded.meta.owner_token_sha256)?;
    // Once a study has closed the researcher may have downloaded its bundle: a withdrawal
    // could no longer take the data back, so the server refuses it rather than pretend.
    if now() >= study_meta.closes_at {
        return Err(ApiError::StudyClosed);
    }
    state.objects.bury(&obj, GoneReason::Withdrawn).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The complete contributions of a study, oldest first.
async fn complete_contributions(state: &AppState, sid: &str) -> ApiResult<Vec<(Object, Meta)>> {
    let prefix = crate::storage::Key::new(&["studies", sid, "c"]).map_err(ApiError::from)?;
    let mut ids: Vec<String> = state
        .objects
        .store
        .list(&prefix)
        .await?
        .into_iter()
        .filter_map(|info| {
            let segs: Vec<&str> = info.key.segments().collect();
            (segs.len() == 5 && segs[4] == "complete").then(|| segs[3].to_owned())
        })
        .collect();
    ids.sort();
    ids.dedup();
    let mut out = Vec::new();
    for cid in ids {
        let obj = Object::contribution(sid, &cid)?;
        match state.objects.load(&obj).await {
            Ok(loaded) if loaded.complete => out.push((obj, loaded.meta)),
            Ok(_) | Err(ApiError::Gone(_) | ApiError::NotFound) => {}
            Err(e) => return Err(e),
        }
    }
    out.sort_by(|a, b| (a.1.created_at, &a.0.id).cmp(&(b.1.created_at, &b.0.id)));
    Ok(out)
}

/// `GET /api/studies/{sid}/contributions` with the admin token.
#[utoipa::path(get, path = "/api/studies/{sid}/contributions", tag = "studies",
    params(("sid" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = Vec<ContributionInfo>),
              (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody), (status = 410, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn list(
    State(state): State<AppState>,
    ApiPath(sid): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<ContributionInfo>>> {
    load_for_admin(&state, &sid, &headers).await?;
    let items = complete_contributions(&state, &sid).await?;
    Ok(Json(
        items
            .into_iter()
            .map(|(obj, meta)| ContributionInfo {
                id: obj.id,
                size: meta.size,
                created_at: meta.created_at,
            })
            .collect(),
    ))
}

/// `GET /api/studies/{sid}/contributions/{cid}` with the admin token: one contribution.
#[utoipa::path(get, path = "/api/studies/{sid}/contributions/{cid}", tag = "studies",
    params(("sid" = String, Path), ("cid" = String, Path), ("Range" = Option<String>, Header)),
    security(("bearer" = [])),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
              (status = 206, content_type = "application/octet-stream", body = Vec<u8>),
              (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody),
              (status = 410, body = crate::openapi::ErrorBody), (status = 416, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn download(
    State(state): State<AppState>,
    ApiPath((sid, cid)): ApiPath<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let obj = Object::contribution(&sid, &cid)?;
    load_for_admin(&state, &sid, &headers).await?;
    super::download(&state, &obj, &method, &headers).await
}

/// The bundle's first bytes.
pub const BUNDLE_MAGIC: &[u8; 16] = b"MEDSEAL-BUNDLE1\n";

/// `GET /api/studies/{sid}/bundle` with the admin token: every complete contribution in one
/// stream. Framing (all integers big-endian): `MEDSEAL-BUNDLE1\n`, u32 count, then per
/// contribution: u8 id length (22), the id in ASCII, u64 created_at, u64 size, `size` bytes of
/// ciphertext; finally a u8 0 as end marker (a bundle without it was cut off).
#[utoipa::path(get, path = "/api/studies/{sid}/bundle", tag = "studies",
    params(("sid" = String, Path)), security(("bearer" = [])),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
              (status = 401, body = crate::openapi::ErrorBody), (status = 403, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody), (status = 410, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn bundle(
    State(state): State<AppState>,
    ApiPath(sid): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    load_for_admin(&state, &sid, &headers).await?;
    let items = complete_contributions(&state, &sid).await?;
    let mut head = BUNDLE_MAGIC.to_vec();
    head.extend_from_slice(&u32::try_from(items.len()).unwrap_or(u32::MAX).to_be_bytes());
    let mut total = head.len() as u64 + 1;
    let mut pieces: Vec<crate::storage::ByteStream> =
        vec![futures::stream::once(async move { Ok(Bytes::from(head)) }).boxed()];
    for (obj, meta) in &items {
        let mut record = Vec::with_capacity(1 + obj.id.len() + 16);
        record.push(u8::try_from(obj.id.len()).unwrap_or(u8::MAX));
        record.extend_from_slice(obj.id.as_bytes());
        record.extend_from_slice(&meta.created_at.to_be_bytes());
        record.extend_from_slice(&meta.size.to_be_bytes());
        total += record.len() as u64 + meta.size;
        pieces.push(futures::stream::once(async move { Ok(Bytes::from(record)) }).boxed());
        pieces.push(state.objects.stream(obj, meta, 0..meta.size));
    }
    pieces.push(futures::stream::once(async { Ok(Bytes::from_static(&[0u8])) }).boxed());
    let metrics = std::sync::Arc::clone(&state.metrics);
    let stream = futures::stream::iter(pieces)
        .flatten()
        .map(move |chunk| match chunk {
            Ok(bytes) => {
                metrics
                    .bytes_out
                    .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
                Ok(bytes)
            }
            Err(e) => {
                tracing::warn!(error = %e, "bundle stream failed");
                Err(std::io::Error::other("storage failed during download"))
            }
        });
    let mut response = Body::from_stream(stream).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(total));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"medseal-study-{sid}.bundle\""
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
