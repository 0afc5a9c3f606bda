//! The API's errors: each has a stable `code`, a plain `message` and an HTTP status. The detail
//! of internal failures goes to the log, never to the client.

use axum::extract::{FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt as _;
use medseal_core::wire::ApiError as WireError;
use serde::de::DeserializeOwned;

use crate::storage::StoreError;

/// Why an object is gone for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoneReason {
    /// Its expiry passed.
    Expired,
    /// Its download limit was reached.
    UsedUp,
    /// Its owner deleted it with the revoke token.
    Revoked,
    /// Its contributor withdrew it with the withdraw token.
    Withdrawn,
    /// A SMART Health Link whose passcode was given wrongly as often as it allows.
    Disabled,
}

impl GoneReason {
    /// The error code sent for this reason.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::Expired => "expired",
            Self::UsedUp => "used_up",
            Self::Revoked => "revoked",
            Self::Withdrawn => "withdrawn",
            Self::Disabled => "disabled",
        }
    }
}

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// An identifier in the path is not 22 base64url characters.
    #[error("the identifier is malformed")]
    BadId,
    /// No such object (or not yet complete).
    #[error("no such object")]
    NotFound,
    /// The object existed and is gone for the given reason.
    #[error("the object is gone")]
    Gone(GoneReason),
    /// A SMART Health Link that is gone, expired, used up or unknown: the specification asks
    /// for `404` whatever the reason (`None`: never existed or not complete).
    #[error("the link is not active")]
    LinkInactive(Option<GoneReason>),
    /// A SMART Health Link's passcode is wrong or missing; so many attempts remain.
    #[error("the passcode is not right")]
    WrongPasscode(u64),
    /// The request needs a bearer token and has none.
    #[error("a bearer token is required")]
    MissingToken,
    /// The bearer token does not match.
    #[error("the token is not valid for this object")]
    BadToken,
    /// The request body is not acceptable JSON or lacks a field.
    #[error("bad request body: {0}")]
    BadRequest(String),
    /// A field value is out of the server's bounds (code, message).
    #[error("{1}")]
    Invalid(&'static str, String),
    /// A body or declared size is larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// A part index is outside the upload.
    #[error("the part index is outside this upload")]
    BadIndex,
    /// A part has the wrong length.
    #[error("{0}")]
    BadPartSize(String),
    /// A different part with this index was already stored.
    #[error("this part was already uploaded with different bytes")]
    PartExists,
    /// The upload is already complete, so parts can no longer change.
    #[error("the upload is already complete")]
    AlreadyComplete,
    /// Completing an upload with parts missing.
    #[error("{0}")]
    Incomplete(String),
    /// The Range header cannot be satisfied.
    #[error("the requested range is not satisfiable")]
    BadRange(u64),
    /// The study no longer accepts contributions.
    #[error("the study is closed")]
    Closed,
    /// The study has closed, so its contributions can no longer be withdrawn.
    #[error("the study is closed; contributions can no longer be withdrawn")]
    StudyClosed,
    /// A study names a public key the server does not have.
    #[error("the study's public key is not published on this server")]
    UnknownKey,
    /// A public key is malformed or of an unaccepted size.
    #[error("{0}")]
    BadKey(String),
    /// A study signature does not verify.
    #[error("the study signature does not verify with its public key")]
    BadSignature,
    /// A study with this description (so with this id) already exists or existed.
    #[error("this study already exists")]
    StudyExists,
    /// The client made too many requests.
    #[error("too many requests")]
    RateLimited(u64),
    /// A request body arrived slower than `--min-body-rate` after `--body-grace`.
    #[error("the request body arrives too slowly")]
    TooSlow,
    /// The client already has `--max-parts-per-client` part uploads running (retry after).
    #[error("too many part uploads at once")]
    TooManyParts(u64),
    /// The client's `--client-quota` for this window is used up (seconds until it renews).
    #[error("the client's upload budget is used up")]
    ClientQuota(u64),
    /// `--max-keys` public keys are stored already.
    #[error("the server's key quota is exhausted")]
    KeyQuota,
    /// A `MedSeal-Resume-Token` is unknown, expired or spent.
    #[error("the resume token is not valid")]
    BadResume,
    /// The global storage quota would be exceeded.
    #[error("the server's storage quota is exhausted")]
    QuotaExceeded,
    /// The storage backend has no space left.
    #[error("the server's storage is full")]
    StorageFull,
    /// Unknown API path.
    #[error("no such API endpoint")]
    NoRoute,
    /// Wrong method on a known path.
    #[error("method not allowed")]
    Method,
    /// Something failed inside the server (detail only in the log).
    #[error("internal error: {0}")]
    Internal(String),
    /// An error answer made outside the handlers (the static file service, the HTTP stack)
    /// without a JSON body: see [`json_errors`].
    #[error("HTTP {0}")]
    Status(StatusCode),
}

impl ApiError {
    /// The HTTP status, stable code and message sent to the client.
    #[must_use]
    pub fn parts(&self) -> (StatusCode, &'static str, String) {
        use StatusCode as S;
        match self {
            Self::BadId => (
                S::BAD_REQUEST,
                "bad_id",
                "The identifier is malformed.".into(),
            ),
            Self::NotFound => (
                S::NOT_FOUND,
                "not_found",
                "Nothing is stored under this identifier.".into(),
            ),
            Self::Gone(reason) => {
                let message = match reason {
                    GoneReason::Expired => "This link has expired and its data was deleted.",
                    GoneReason::UsedUp => {
                        "This link reached its download limit and its data was deleted."
                    }
                    GoneReason::Revoked => "The sender revoked this link and its data was deleted.",
                    GoneReason::Withdrawn => "This contribution was withdrawn and deleted.",
                    GoneReason::Disabled => {
                        "This link was disabled after too many wrong passcodes and its data was deleted."
                    }
                };
                (S::GONE, reason.code(), message.into())
            }
            Self::LinkInactive(reason) => {
                let (_, code, message) = match reason {
                    Some(r) => Self::Gone(*r).parts(),
                    None => Self::NotFound.parts(),
                };
                (S::NOT_FOUND, code, message)
            }
            Self::WrongPasscode(left) => (
                S::UNAUTHORIZED,
                "wrong_passcode",
                if *left == 0 {
                    "The passcode is not right. No attempts remain: the link is disabled.".into()
                } else {
                    format!(
                        "The passcode is not right. {left} attempts remain before the link is disabled."
                    )
                },
            ),
            Self::MissingToken => (
                S::UNAUTHORIZED,
                "missing_token",
                "This request needs an `Authorization: Bearer` token.".into(),
            ),
            Self::BadToken => (
                S::FORBIDDEN,
                "bad_token",
                "The token is not valid for this object.".into(),
            ),
            Self::BadRequest(detail) => (
                S::BAD_REQUEST,
                "bad_request",
                format!("The request body is not valid: {detail}."),
            ),
            Self::Invalid(code, message) => (S::BAD_REQUEST, code, message.clone()),
            Self::TooLarge(message) => (S::PAYLOAD_TOO_LARGE, "too_large", message.clone()),
            Self::BadIndex => (
                S::BAD_REQUEST,
                "bad_index",
                "The part index is outside this upload.".into(),
            ),
            Self::BadPartSize(message) => (S::BAD_REQUEST, "bad_part_size", message.clone()),
            Self::PartExists => (
                S::CONFLICT,
                "part_exists",
                "This part was already uploaded with different bytes.".into(),
            ),
            Self::AlreadyComplete => (
                S::CONFLICT,
                "already_complete",
                "The upload is already complete; its parts cannot change.".into(),
            ),
            Self::Incomplete(message) => (S::CONFLICT, "incomplete", message.clone()),
            Self::BadRange(_) => (
                S::RANGE_NOT_SATISFIABLE,
                "bad_range",
                "The requested byte range is not satisfiable.".into(),
            ),
            Self::Closed => (
                S::GONE,
                "closed",
                "This study is closed and accepts no more contributions.".into(),
            ),
            Self::StudyClosed => (
                S::CONFLICT,
                "study_closed",
                "This study has closed, so its contributions can no longer be withdrawn: the \
                 researcher may already have them. Contact the researcher named in the study."
                    .into(),
            ),
            Self::UnknownKey => (
                S::UNPROCESSABLE_ENTITY,
                "unknown_key",
                "The study's public key must be published (PUT /api/keys) first.".into(),
            ),
            Self::BadKey(message) => (S::BAD_REQUEST, "bad_key", message.clone()),
            Self::BadSignature => (
                S::BAD_REQUEST,
                "bad_signature",
                "The study signature does not verify with its public key.".into(),
            ),
            Self::StudyExists => (
                S::CONFLICT,
                "study_exists",
                "A study with this exact signed description already exists: its id is derived \
                 from the description. Sign a new description (with a new nonce) to create \
                 another study."
                    .into(),
            ),
            Self::RateLimited(_) => (
                S::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests. Wait a moment and try again.".into(),
            ),
            Self::TooSlow => (
                S::REQUEST_TIMEOUT,
                "too_slow",
                "The request body arrived too slowly. Try again on a better connection.".into(),
            ),
            Self::TooManyParts(_) => (
                S::TOO_MANY_REQUESTS,
                "too_many_parts",
                "Too many part uploads from this address at once. Wait for one to finish.".into(),
            ),
            Self::ClientQuota(_) => (
                S::TOO_MANY_REQUESTS,
                "client_quota",
                "This address has uploaded as much as the server accepts for now. Try again \
                 later."
                    .into(),
            ),
            Self::KeyQuota => (
                S::INSUFFICIENT_STORAGE,
                "key_quota",
                "The server stores as many public keys as it accepts. Try again later.".into(),
            ),
            Self::BadResume => (
                S::FORBIDDEN,
                "bad_resume_token",
                "The resume token is unknown, expired or spent for this share. Download again \
                 without it (that counts as a download)."
                    .into(),
            ),
            Self::QuotaExceeded => (
                S::INSUFFICIENT_STORAGE,
                "quota_exceeded",
                "The server's storage quota is exhausted. Try again later.".into(),
            ),
            Self::StorageFull => (
                S::INSUFFICIENT_STORAGE,
                "storage_full",
                "The server's storage is full. Try again later.".into(),
            ),
            Self::NoRoute => (
                S::NOT_FOUND,
                "no_route",
                "There is no such API endpoint.".into(),
            ),
            Self::Method => (
                S::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "This method is not allowed on this path.".into(),
            ),
            Self::Internal(_) => (
                S::INTERNAL_SERVER_ERROR,
                "internal",
                "The server failed to handle this request. Try again later.".into(),
            ),
            Self::Status(status) => Self::status_parts(*status),
        }
    }
}

impl ApiError {
    /// The code and message of an error status that no handler produced: the code of the
    /// handlers' error with that status where there is one, else `bad_request` (4xx) or
    /// `internal` (5xx). The status is kept.
    fn status_parts(status: StatusCode) -> (StatusCode, &'static str, String) {
        let (code, message) = match status.as_u16() {
            404 => ("not_found", "There is nothing at this address."),
            405 => (
                "method_not_allowed",
                "This method is not allowed on this path.",
            ),
            413 => ("too_large", "The request is too large."),
            416 => ("bad_range", "The requested byte range is not satisfiable."),
            429 => (
                "rate_limited",
                "Too many requests. Wait a moment and try again.",
            ),
            500..=599 => (
                "internal",
                "The server failed to handle this request. Try again later.",
            ),
            _ => ("bad_request", "The request is malformed."),
        };
        (status, code, message.into())
    }
}

/// Path parameters, as axum's `Path`, but a path that cannot be decoded (malformed
/// percent-encoding, invalid UTF-8) is `400 bad_id` in JSON, like any other malformed
/// identifier, instead of axum's plain-text rejection.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::PathRejection;
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                tracing::debug!(kind = %e.kind(), "undecodable path parameter");
                Err(ApiError::BadId)
            }
            // Only a handler mounted on a route without the parameters it expects.
            Err(other) => Err(ApiError::Internal(other.body_text())),
        }
    }
}

/// Middleware: every error answer is JSON `{code, message}` with a stable code. Responses of
/// 400 and above without a JSON body (from the static file service or axum itself) get the
/// body of [`ApiError::Status`], keeping their status and their `Allow`, `Retry-After` and
/// `Content-Range` headers; a handler that panics gets `500 internal` instead of a dropped
/// connection.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let response = match std::panic::AssertUnwindSafe(next.run(req))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(_) => return ApiError::Internal("a handler panicked".into()).into_response(),
    };
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let mut fresh = ApiError::Status(status).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER, header::CONTENT_RANGE] {
        if let Some(value) = response.headers().get(&name) {
            fresh.headers_mut().insert(name, value.clone());
        }
    }
    fresh
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => Self::NotFound,
            StoreError::Full => Self::StorageFull,
            other => Self::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        if status.is_server_error() {
            // The detail names no token, body or client: storage errors carry keys and io errors.
            tracing::error!(code, detail = %self, "request failed");
        } else {
            tracing::debug!(code, "request refused");
        }
        let body = WireError {
            code: code.to_owned(),
            message,
        };
        let mut response = if let Self::WrongPasscode(left) = self {
            // The specification's body for a wrong passcode, beside the usual two fields.
            let body = serde_json::json!({
                "code": body.code, "message": body.message, "remainingAttempts": left,
            });
            (status, axum::Json(body)).into_response()
        } else {
            (status, axum::Json(body)).into_response()
        };
        match self {
            Self::RateLimited(secs) | Self::TooManyParts(secs) | Self::ClientQuota(secs) => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            Self::BadRange(size) => {
                if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
            }
            _ => {}
        }
        response
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;
