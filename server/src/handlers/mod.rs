//! Request handlers, and the upload and download steps that shares and contributions share.

use std::ops::Range;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::{ApiError, ApiResult, GoneReason};
use crate::metrics::Metrics;
use crate::objects::{Loaded, Object, Objects, token_matches};

pub mod keys;
pub mod ops;
pub mod shares;
pub mod shl;
pub mod studies;

/// Reads a whole body of at most `limit` bytes, at the pace the /api middleware set
/// ([`crate::limits::PACE`]).
///
/// # Errors
/// [`ApiError::TooLarge`] past the limit, [`ApiError::BadRequest`] if the body breaks off,
/// [`ApiError::TooSlow`] if it arrives slower than the minimum rate.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: u64) -> ApiResult<Bytes> {
    read_body_held(headers, body, limit, None)
        .await
        .map(|(bytes, _)| bytes)
}

/// As [`read_body`]; with `memory`, each piece takes its size in bytes of that budget as it
/// arrives (waiting while the budget is used up, within the same pace), and the returned
/// permit holds it until dropped.
async fn read_body_held(
    headers: &HeaderMap,
    body: Body,
    limit: u64,
    memory: Option<&std::sync::Arc<tokio::sync::Semaphore>>,
) -> ApiResult<(Bytes, Option<tokio::sync::OwnedSemaphorePermit>)> {
    let too_large =
        || ApiError::TooLarge(format!("The request body is larger than {limit} bytes."));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let pace = crate::limits::PACE
        .try_with(|p| *p)
        .unwrap_or(crate::limits::Pace::NONE);
    let start = tokio::time::Instant::now();
    let mut held: Option<tokio::sync::OwnedSemaphorePermit> = None;
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::new();
    loop {
        let deadline = pace.deadline(start.into_std(), buf.len() as u64);
        let next = async {
            let chunk = match stream.next().await {
                None => return Ok(None),
                Some(chunk) => {
                    chunk.map_err(|_| ApiError::BadRequest("the body was cut off".into()))?
                }
            };
            if (buf.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            if let Some(memory) = memory {
                let permit = std::sync::Arc::clone(memory)
                    .acquire_many_owned(u32::try_from(chunk.len()).unwrap_or(u32::MAX))
                    .await
                    .map_err(|_| ApiError::Internal("the upload memory budget is closed".into()))?;
                match &mut held {
                    Some(h) => h.merge(permit),
                    None => held = Some(permit),
                }
            }
            Ok(Some(chunk))
        };
        let chunk = match deadline {
            None => next.await?,
            Some(at) => tokio::time::timeout_at(at.into(), next)
                .await
                .map_err(|_| ApiError::TooSlow)??,
        };
        let Some(chunk) = chunk else { break };
        buf.extend_from_slice(&chunk);
    }
    Ok((buf.freeze(), held))
}

/// Reads a JSON body of at most `limit` bytes.
///
/// # Errors
/// As [`read_body`], or [`ApiError::BadRequest`] for JSON that does not fit `T`.
pub async fn read_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> ApiResult<T> {
    let bytes = read_body(headers, body, limit as u64).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        // serde's message names the field and position, never echoes values beyond a type.
        ApiError::BadRequest(e.to_string())
    })
}

/// The bearer token of a request.
///
/// # Errors
/// [`ApiError::MissingToken`] without an `Authorization` header, [`ApiError::BadToken`] if it
/// is not a bearer token.
pub fn bearer(headers: &HeaderMap) -> ApiResult<&str> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::MissingToken)?;
    let text = value.to_str().map_err(|_| ApiError::BadToken)?;
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .ok_or(ApiError::BadToken)?
        .trim();
    if token.is_empty() {
        return Err(ApiError::MissingToken);
    }
    Ok(token)
}

/// Checks a bearer token against a stored hash.
///
/// # Errors
/// As [`bearer`], or [`ApiError::BadToken`] on mismatch.
pub fn check_token(headers: &HeaderMap, stored_hash: &str) -> ApiResult<()> {
    if token_matches(bearer(headers)?, stored_hash) {
        Ok(())
    } else {
        Err(ApiError::BadToken)
    }
}

/// The byte range asked for by a `Range` header, if any and if usable. Only one range of the
/// `bytes` unit is honoured; any other form is ignored (the whole object is sent), as RFC 9110
/// allows.
///
/// # Errors
/// [`ApiError::BadRange`] if the range lies outside the object.
pub fn parse_range(headers: &HeaderMap, size: u64) -> ApiResult<Option<Range<u64>>> {
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        let Ok(suffix) = last.parse::<u64>() else {
            return Ok(None);
        };
        if suffix == 0 || size == 0 {
            return Err(ApiError::BadRange(size));
        }
        size.saturating_sub(suffix)..size
    } else {
        let Ok(start) = first.parse::<u64>() else {
            return Ok(None);
        };
        let end = if last.is_empty() {
            size
        } else {
            let Ok(last) = last.parse::<u64>() else {
                return Ok(None);
            };
            if last < start {
                return Ok(None);
            }
            last.saturating_add(1).min(size)
        };
        if start >= size {
            return Err(ApiError::BadRange(size));
        }
        start..end
    };
    Ok(Some(range))
}

/// The answer to a part upload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PartStored {
    /// The part's index.
    pub index: u64,
    /// Its length in bytes.
    pub size: u64,
}

/// What the server has of an upload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadStatus {
    /// Indices of the parts received, ascending.
    pub parts: Vec<u64>,
    /// Declared total size.
    pub size: u64,
    /// Size of every part but the last.
    pub part_size: u64,
    /// Number of parts the upload needs.
    pub part_count: u64,
    /// True once completed.
    pub complete: bool,
}

/// The answer to completing an upload.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Completed {
    /// The object's identifier.
    pub id: String,
}

/// Loads an object for its uploader, checking the upload token.
async fn load_for_upload(
    objects: &Objects,
    obj: &Object,
    headers: &HeaderMap,
) -> ApiResult<Loaded> {
    // Look for the token first so that a request without one learns nothing.
    bearer(headers)?;
    let loaded = objects.load(obj).await?;
    check_token(headers, &loaded.meta.upload_token_sha256)?;
    Ok(loaded)
}

/// `PUT .../parts/{index}`.
///
/// # Errors
/// Token, index, size, quota and storage errors.
pub async fn upload_part(
    state: &AppState,
    obj: &Object,
    headers: &HeaderMap,
    index: &str,
    body: Body,
) -> ApiResult<PartStored> {
    let loaded = load_for_upload(&state.objects, obj, headers).await?;
    let index: u64 = index.parse().map_err(|_| ApiError::BadIndex)?;
    let meta = &loaded.meta;
    if index >= meta.part_count() {
        return Err(ApiError::BadIndex);
    }
    // The body is held in memory until it is stored: each piece takes its size of the upload
    // memory budget as it arrives, so slow bodies hold only what they sent and concurrent
    // uploads wait instead of growing the server's memory.
    let (data, _budget) =
        read_body_held(headers, body, meta.part_size, Some(&state.part_memory)).await?;
    if loaded.complete {
        // Checked after reading so a client's retried part of a finished upload gets a clear
        // answer, and nothing is written.
        return Err(ApiError::AlreadyComplete);
    }
    let expected = meta.part_len(index);
    if data.len() as u64 != expected {
        return Err(ApiError::BadPartSize(format!(
            "Part {index} must be exactly {expected} bytes; it has {}.",
            data.len()
        )));
    }
    let used = state
        .objects
        .usage
        .load(std::sync::atomic::Ordering::Relaxed);
    if used.saturating_add(expected) > state.settings.quota {
        return Err(ApiError::QuotaExceeded);
    }
    state.objects.put_part(obj, index, data).await?;
    state
        .metrics
        .bytes_in
        .fetch_add(expected, std::sync::atomic::Ordering::Relaxed);
    Ok(PartStored {
        index,
        size: expected,
    })
}

/// `GET .../upload`.
///
/// # Errors
/// Token and storage errors.
pub async fn upload_status(
    state: &AppState,
    obj: &Object,
    headers: &HeaderMap,
) -> ApiResult<UploadStatus> {
    let loaded = load_for_upload(&state.objects, obj, headers).await?;
    let parts = state.objects.parts(obj).await?;
    Ok(UploadStatus {
        parts: parts.into_iter().map(|(i, _)| i).collect(),
        size: loaded.meta.size,
        part_size: loaded.meta.part_size,
        part_count: loaded.meta.part_count(),
        complete: loaded.complete,
    })
}

/// `POST .../complete`. Completing twice succeeds (a retry after a lost answer).
///
/// # Errors
/// [`ApiError::Incomplete`] if parts are missing; token and storage errors.
pub async fn upload_complete(
    state: &AppState,
    obj: &Object,
    headers: &HeaderMap,
) -> ApiResult<Completed> {
    let loaded = load_for_upload(&state.objects, obj, headers).await?;
    if !loaded.complete {
        state.objects.complete(obj, &loaded.meta).await?;
        Metrics::inc(&state.metrics.uploads_completed);
    }
    Ok(Completed { id: obj.id.clone() })
}

/// The request and response header of resume tokens.
pub const RESUME_HEADER: &str = "medseal-resume-token";
/// The response header with the resume token's expiry, Unix seconds.
pub const RESUME_EXPIRES_HEADER: &str = "medseal-resume-expires";

/// Streams a complete object, admitting the download against its limit. Every GET that can
/// carry content counts once, whatever its `Range` (from byte 0, later, a suffix or several
/// ranges), unless it presents a valid `MedSeal-Resume-Token`: that token is handed out by
/// each counted download of a limited object and resumes it within its life and one copy's
/// worth of bytes. HEAD never counts and sends no content.
///
/// # Errors
/// Not found, gone, range, resume token and storage errors.
pub async fn download(
    state: &AppState,
    obj: &Object,
    method: &Method,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let is_head = *method == Method::HEAD;
    let resume = match headers.get(RESUME_HEADER) {
        None => None,
        Some(v) => Some(v.to_str().map_err(|_| ApiError::BadResume)?.trim()),
    };
    let (meta, _used_up) = match resume {
        Some(_) => state.objects.load_resumable(obj).await?,
        None => {
            let loaded = state.objects.load(obj).await?;
            if !loaded.complete {
                return Err(ApiError::NotFound);
            }
            (loaded.meta, false)
        }
    };
    let range = parse_range(headers, meta.size)?;
    let served = range.clone().unwrap_or(0..meta.size);
    let length = served.end - served.start;
    // The lease is taken before admission so that a purge never starts under this stream.
    let lease = state.objects.lease(obj);
    let mut issued: Option<(String, u64)> = None;
    let mut resumed: Option<(String, u32)> = None;
    let mut keep_until = 0;
    if is_head {
        // No content, so nothing to count.
    } else if let (Some(token), true) = (resume, meta.max_downloads > 0) {
        let (hash, n, grant) = state.objects.claim_resume(obj, token, length).await?;
        if grant.range.is_some() {
            // A SMART Health Link file's ticket, not a download's resume token.
            return Err(ApiError::BadResume);
        }
        resumed = Some((hash, n));
        // A used-up object's data goes when the counted download's token expires.
        keep_until = grant.expires_at;
    } else {
        if meta.max_downloads > 0 {
            match state.objects.admit(obj, meta.max_downloads).await? {
                None => {
                    // Streams admitted earlier may still be running: purge only after them.
                    state.objects.write_tomb(obj, GoneReason::UsedUp).await?;
                    lease.purge_when_done();
                    return Err(ApiError::Gone(GoneReason::UsedUp));
                }
                Some(true) => {
                    state.objects.write_tomb(obj, GoneReason::UsedUp).await?;
                    lease.purge_when_done();
                }
                Some(false) => {}
            }
            let grant = state
                .objects
                .issue_resume(obj, &meta, state.settings.resume_ttl)
                .await?;
            keep_until = grant.1;
            issued = Some(grant);
        }
        Metrics::inc(&state.metrics.downloads);
    }
    let status = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let body = if is_head {
        drop(lease);
        Body::empty()
    } else {
        // Only the whole object, sent whole, needs no resume.
        let total = if served.start == 0 && served.end == meta.size {
            length
        } else {
            u64::MAX
        };
        let guard = StreamGuard::new(lease, &state.objects, obj, total, keep_until, resumed);
        stream_body(state, obj, &meta, served.clone(), guard)
    };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) =
        HeaderValue::from_str(&format!("attachment; filename=\"medseal-{}.bin\"", obj.id))
    {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    if range.is_some() {
        let last = served.end.saturating_sub(1);
        if let Ok(v) =
            HeaderValue::from_str(&format!("bytes {}-{last}/{}", served.start, meta.size))
        {
            h.insert(header::CONTENT_RANGE, v);
        }
    }
    if let Some((token, expires)) = issued {
        if let Ok(v) = HeaderValue::from_str(&token) {
            h.insert(RESUME_HEADER, v);
        }
        h.insert(RESUME_EXPIRES_HEADER, HeaderValue::from(expires));
    }
    Ok(response)
}

/// The body of a download: `served` of the object, counted in the metrics, with `guard`
/// living as long as the stream.
pub(crate) fn stream_body(
    state: &AppState,
    obj: &Object,
    meta: &crate::objects::Meta,
    served: Range<u64>,
    mut guard: StreamGuard,
) -> Body {
    let metrics = std::sync::Arc::clone(&state.metrics);
    let stream = state
        .objects
        .stream(obj, meta, served)
        .map(move |chunk| match chunk {
            Ok(bytes) => {
                // Through a reference to the whole guard, so the closure owns it (a field
                // alone would be captured as a copy and the guard dropped at once).
                let guard: &mut StreamGuard = &mut guard;
                guard.sent += bytes.len() as u64;
                metrics
                    .bytes_out
                    .fetch_add(bytes.len() as u64, std::sync::atomic::Ordering::Relaxed);
                Ok(bytes)
            }
            Err(e) => {
                tracing::warn!(error = %e, "download stream failed");
                Err(std::io::Error::other("storage failed during download"))
            }
        });
    Body::from_stream(stream)
}

/// Lives as long as a download stream: keeps the object's data while a cut-off stream may be
/// resumed, and records the bytes a resumed request sent.
pub(crate) struct StreamGuard {
    lease: crate::objects::Lease,
    objects: Objects,
    obj: Object,
    sent: u64,
    total: u64,
    keep_until: u64,
    resumed: Option<(String, u32)>,
}

impl StreamGuard {
    /// A guard for a stream of `total` bytes (`u64::MAX`: a part, never "sent whole"), keeping
    /// the data until `keep_until` if cut off, recording the bytes of resumed use `resumed`.
    pub(crate) fn new(
        lease: crate::objects::Lease,
        objects: &Objects,
        obj: &Object,
        total: u64,
        keep_until: u64,
        resumed: Option<(String, u32)>,
    ) -> Self {
        Self {
            lease,
            objects: objects.clone(),
            obj: obj.clone(),
            sent: 0,
            total,
            keep_until,
            resumed,
        }
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if self.sent < self.total {
            self.lease.keep_until(self.keep_until);
        }
        if let Some((hash, n)) = self.resumed.take() {
            let (objects, obj, sent) = (self.objects.clone(), self.obj.clone(), self.sent);
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                handle.spawn(async move {
                    if let Err(e) = objects.resume_sent(&obj, &hash, n, sent).await {
                        tracing::warn!(error = %e, "recording a resumed download failed");
                    }
                });
            }
        }
    }
}

/// `deserialize_with` for integer fields: JSON Schema's `integer` (which the OpenAPI document
/// declares) includes integer-valued numbers such as `40.0`, so they are accepted as well as
/// `40`. Fractions (`40.5`), negatives, non-finite values and values out of `T`'s range are
/// refused with a message naming the problem (a `400 bad_request`).
///
/// # Errors
/// As described.
pub fn integer<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    struct Visitor<T>(std::marker::PhantomData<T>);
    impl<T: TryFrom<u64>> serde::de::Visitor<'_> for Visitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a non-negative integer")
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<T, E> {
            T::try_from(v).map_err(|_| E::custom(format!("{v} is out of range")))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<T, E> {
            let v = u64::try_from(v).map_err(|_| E::custom("a negative number is not allowed"))?;
            self.visit_u64(v)
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<T, E> {
            // 2^64 as f64: every integer-valued f64 below it fits a u64 exactly.
            const LIMIT: f64 = 18_446_744_073_709_551_616.0;
            if !v.is_finite() || v.fract() != 0.0 {
                return Err(E::custom(format!("{v} is not an integer")));
            }
            if v < 0.0 {
                return Err(E::custom("a negative number is not allowed"));
            }
            if v >= LIMIT {
                return Err(E::custom(format!("{v} is out of range")));
            }
            // Exact: v is a non-negative integer below 2^64.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = v as u64;
            self.visit_u64(n)
        }
    }
    deserializer.deserialize_any(Visitor(std::marker::PhantomData))
}
