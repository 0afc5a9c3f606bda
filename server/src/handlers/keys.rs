//! Public keys, addressed by fingerprint (SHA-256 of the DER SubjectPublicKeyInfo).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use bytes::Bytes;
use medseal_core::pki::{Fingerprint, KeyError, MAX_RSA_BITS, MIN_RSA_BITS, PublicKey};
use serde::Serialize;
use tracing::instrument;

use crate::AppState;
use crate::error::{ApiError, ApiPath, ApiResult};
use crate::storage::{Key, StoreError};

/// A key was published.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyPublished {
    /// SHA-256 of the DER SubjectPublicKeyInfo, base64url (43 characters): the address.
    pub fingerprint: String,
    /// The same, lower-case hex.
    pub fingerprint_hex: String,
    /// Modulus size in bits.
    pub bits: usize,
}

/// A checked RSA public key (medseal-core's [`PublicKey`]) with its DER form and fingerprint.
pub struct CheckedKey {
    /// The parsed key, 3072 to 8192 bits.
    pub key: PublicKey,
    /// DER SubjectPublicKeyInfo, the stored form.
    pub der: Vec<u8>,
    /// SHA-256 of `der`.
    pub fingerprint: Fingerprint,
}

/// The client-facing words for medseal-core's key errors.
fn bad_key(err: &KeyError) -> ApiError {
    ApiError::BadKey(match err {
        KeyError::BadSize(bits) => format!(
            "RSA keys of {bits} bits are not accepted: MedSeal needs {MIN_RSA_BITS} to \
             {MAX_RSA_BITS} bits."
        ),
        KeyError::Malformed(_) => {
            "Not an RSA public key (expected SubjectPublicKeyInfo in DER or PEM).".into()
        }
        KeyError::Generate | KeyError::Encode => "The key cannot be encoded.".into(),
    })
}

/// Parses PEM or DER SPKI with medseal-core, which also checks the modulus size.
///
/// # Errors
/// [`ApiError::BadKey`].
pub fn parse_public_key(body: &[u8]) -> ApiResult<CheckedKey> {
    let key = if body.trim_ascii_start().starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::BadKey("The PEM key is not valid text.".into()))?;
        PublicKey::from_pem(text)
    } else {
        PublicKey::from_spki_der(body)
    }
    .map_err(|e| bad_key(&e))?;
    let der = key.to_spki_der().map_err(|e| bad_key(&e))?;
    let fingerprint = key.fingerprint();
    Ok(CheckedKey {
        key,
        der,
        fingerprint,
    })
}

/// Parses a fingerprint in base64url (exactly 43 characters) or hex (exactly 64 characters).
/// The shape is checked here, strictly, because the fingerprint names a stored object; the
/// decoding is medseal-core's.
///
/// # Errors
/// [`ApiError::BadId`] otherwise.
pub fn parse_fingerprint(text: &str) -> ApiResult<Fingerprint> {
    let hex = text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit());
    let b64 = text.len() == 43
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !(hex || b64) {
        return Err(ApiError::BadId);
    }
    Fingerprint::parse(text).map_err(|_| ApiError::BadId)
}

/// Storage key of a key.
///
/// # Errors
/// Never for fingerprints (43 base64url characters).
pub fn key_key(fingerprint: &Fingerprint) -> ApiResult<Key> {
    Key::new(&["keys", &fingerprint.to_b64url()]).map_err(ApiError::from)
}

/// `PUT /api/keys` (or POST): publishes an RSA public key. At most `--max-keys` are stored
/// (`507 key_quota`); a key is removed `--key-ttl` after its publication unless a live study
/// names it.
#[utoipa::path(put, path = "/api/keys", tag = "keys",
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
                 description = "SubjectPublicKeyInfo in DER, or PEM `-----BEGIN PUBLIC KEY-----`"),
    responses((status = 201, body = KeyPublished), (status = 200, body = KeyPublished, description = "already published"),
              (status = 400, body = crate::openapi::ErrorBody), (status = 413, body = crate::openapi::ErrorBody),
              (status = 429, description = "`rate_limited` or `client_quota`", body = crate::openapi::ErrorBody),
              (status = 507, description = "`quota_exceeded`, `storage_full`, or `key_quota`: --max-keys keys are stored", body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn publish(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<KeyPublished>)> {
    let body = super::read_body(&headers, body, state.settings.max_request_body as u64).await?;
    let checked = parse_public_key(&body)?;
    let key = key_key(&checked.fingerprint)?;
    let exists = match state.objects.store.head(&key).await {
        Ok(_) => true,
        Err(StoreError::NotFound) => false,
        Err(e) => return Err(e.into()),
    };
    if !exists {
        if state.key_count.load(std::sync::atomic::Ordering::Relaxed) >= state.settings.max_keys {
            return Err(ApiError::KeyQuota);
        }
        super::shares::charge_client(&state, checked.der.len() as u64)?;
    }
    let status = match state
        .objects
        .store
        .create(&key, Bytes::from(checked.der))
        .await
    {
        Ok(()) => {
            state
                .key_count
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            StatusCode::CREATED
        }
        Err(StoreError::AlreadyExists) => StatusCode::OK,
        Err(e) => return Err(e.into()),
    };
    Ok((
        status,
        Json(KeyPublished {
            fingerprint: checked.fingerprint.to_b64url(),
            fingerprint_hex: checked.fingerprint.to_hex(),
            bits: checked.key.bits(),
        }),
    ))
}

/// `GET /api/keys/{fingerprint}`: the DER SubjectPublicKeyInfo whose SHA-256 is the
/// fingerprint, so the client can check it.
#[utoipa::path(get, path = "/api/keys/{fingerprint}", tag = "keys",
    params(("fingerprint" = String, Path, description = "base64url (43) or hex (64)")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>),
              (status = 400, body = crate::openapi::ErrorBody), (status = 404, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn fetch(
    State(state): State<AppState>,
    ApiPath(fingerprint): ApiPath<String>,
) -> ApiResult<Response> {
    let fp = parse_fingerprint(&fingerprint)?;
    let der = state.objects.store.get(&key_key(&fp)?).await?;
    let mut response = der.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    Ok(response)
}
