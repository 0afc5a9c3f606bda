//! Public keys, addressed by fingerprint (SHA-256 of the DER SubjectPublicKeyInfo).

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use bytes::Bytes;
use rsa::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use rsa::traits::PublicKeyParts as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use tracing::instrument;

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use crate::storage::{Key, StoreError};

/// The smallest and largest RSA moduli accepted, in bits (as medseal-core's pki module).
const MIN_BITS: usize = 3072;
const MAX_BITS: usize = 8192;

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

/// A checked RSA public key with its DER form and fingerprint.
pub struct CheckedKey {
    /// The parsed key.
    pub key: rsa::PublicKey,
    /// DER SubjectPublicKeyInfo.
    pub der: Vec<u8>,
    /// SHA-256 of `der`.
    pub fingerprint: [u8; 32],
}

/// Parses PEM or DER SPKI and checks the modulus size.
///
/// # Errors
/// [`ApiError::BadKey`].
pub fn parse_public_key(body: &[u8]) -> ApiResult<CheckedKey> {
    let key = if body.trim_ascii_start().starts_with(b"-----BEGIN") {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::BadKey("The PEM key is not valid text.".into()))?;
        rsa::PublicKey::from_public_key_pem(text.trim())
    } else {
        rsa::PublicKey::from_public_key_der(body)
    }
    .map_err(|_| {
        ApiError::BadKey(
            "Not an RSA public key (expected SubjectPublicKeyInfo in DER or PEM).".into(),
        )
    })?;
    let bits = key.size() * 8;
    if !(MIN_BITS..=MAX_BITS).contains(&bits) {
        return Err(ApiError::BadKey(format!(
            "RSA keys of {bits} bits are not accepted: MedSeal needs {MIN_BITS} to {MAX_BITS} bits."
        )));
    }
    let der = key
        .to_public_key_der()
        .map_err(|_| ApiError::BadKey("The key cannot be encoded.".into()))?
        .as_bytes()
        .to_vec();
    let fingerprint: [u8; 32] = Sha256::digest(&der).into();
    Ok(CheckedKey {
        key,
        der,
        fingerprint,
    })
}

/// Parses a fingerprint in base64url (43 characters) or hex (64 characters).
///
/// # Errors
/// [`ApiError::BadId`] otherwise.
pub fn parse_fingerprint(text: &str) -> ApiResult<[u8; 32]> {
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| ApiError::BadId)?
    } else if text.len() == 43 {
        medseal_core::id::from_b64url(text).map_err(|_| ApiError::BadId)?
    } else {
        return Err(ApiError::BadId);
    };
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| ApiError::BadId)
}

/// Storage key of a key.
///
/// # Errors
/// Never for 32-byte fingerprints.
pub fn key_key(fingerprint: &[u8; 32]) -> ApiResult<Key> {
    Key::new(&["keys", &medseal_core::id::b64url(fingerprint)]).map_err(ApiError::from)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `PUT /api/keys` (or POST): publishes an RSA public key.
#[utoipa::path(put, path = "/api/keys", tag = "keys",
    request_body(content = Vec<u8>, content_type = "application/octet-stream",
                 description = "SubjectPublicKeyInfo in DER, or PEM `-----BEGIN PUBLIC KEY-----`"),
    responses((status = 201, body = KeyPublished), (status = 200, body = KeyPublished, description = "already published"),
              (status = 400, body = crate::openapi::ErrorBody), (status = 413, body = crate::openapi::ErrorBody)))]
#[instrument(skip_all)]
pub async fn publish(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<KeyPublished>)> {
    let body = super::read_body(&headers, body, state.settings.max_request_body as u64).await?;
    let checked = parse_public_key(&body)?;
    let status = match state
        .objects
        .store
        .create(&key_key(&checked.fingerprint)?, Bytes::from(checked.der))
        .await
    {
        Ok(()) => StatusCode::CREATED,
        Err(StoreError::AlreadyExists) => StatusCode::OK,
        Err(e) => return Err(e.into()),
    };
    Ok((
        status,
        Json(KeyPublished {
            fingerprint: medseal_core::id::b64url(&checked.fingerprint),
            fingerprint_hex: hex(&checked.fingerprint),
            bits: checked.key.size() * 8,
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
    Path(fingerprint): Path<String>,
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
