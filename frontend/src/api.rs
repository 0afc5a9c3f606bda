//! The server's HTTP API as the app uses it. Only ciphertext and public values are ever passed in.

use std::cell::Cell;
use std::rc::Rc;

use gloo::net::http::{Request, Response};
use serde::{Deserialize, Serialize};

/// An error for people: what went wrong, in words, never a stack trace or a raw code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiFailure {
    /// The server's stable code (`not_found`, `used_up`...) or `network`.
    pub code: String,
    /// A sentence to show.
    pub message: String,
}

impl ApiFailure {
    pub(crate) fn network() -> Self {
        Self {
            code: "network".into(),
            message:
                "The MedSeal server could not be reached. Check your connection and try again."
                    .into(),
        }
    }
}

pub(crate) async fn failure(response: Response) -> ApiFailure {
    let status = response.status();
    match response.json::<medseal_core::wire::ApiError>().await {
        Ok(body) => ApiFailure {
            code: body.code,
            message: body.message,
        },
        Err(_) => ApiFailure {
            code: format!("http_{status}"),
            message: format!("The server answered with an unexpected error ({status})."),
        },
    }
}

#[derive(Serialize)]
struct CreateShare {
    size: u64,
    expires_in: u64,
    max_downloads: u32,
}

/// The server's answer to a new upload.
#[derive(Clone, Debug, Deserialize)]
pub struct ShareUpload {
    pub id: String,
    pub upload_token: String,
    pub revoke_token: String,
    pub part_size: u64,
}

/// Uploads `ciphertext` held in memory as a share: create, send every part, complete. The
/// patient's share page does not use this: its worker seals and uploads parts as they are ready
/// (`src/bin/medseal-worker.rs`), so large files never sit in memory. `progress` gets the
/// fraction sent after each part.
pub async fn upload_share(
    ciphertext: &[u8],
    expires_in: u64,
    max_downloads: u32,
    progress: impl Fn(f64),
    cancelled: &Rc<Cell<bool>>,
) -> Result<ShareUpload, ApiFailure> {
    let body = CreateShare {
        size: ciphertext.len() as u64,
        expires_in,
        max_downloads,
    };
    let response = Request::post("/api/shares")
        .json(&body)
        .map_err(|_| ApiFailure::network())?
        .send()
        .await
        .map_err(|_| ApiFailure::network())?;
    if !response.ok() {
        return Err(failure(response).await);
    }
    let upload: ShareUpload = response.json().await.map_err(|_| ApiFailure::network())?;
    let bearer = format!("Bearer {}", upload.upload_token);
    let base = format!("/api/shares/{}", upload.id);
    send_parts(
        &base,
        ciphertext,
        upload.part_size,
        &bearer,
        progress,
        cancelled,
    )
    .await?;
    Ok(upload)
}

/// Sends `bytes` as the parts of the upload at `base` (`/api/shares/ID`, `/api/shl/ID`), then
/// completes it. `progress` gets the fraction sent after each part.
pub async fn send_parts(
    base: &str,
    bytes: &[u8],
    part_size: u64,
    bearer: &str,
    progress: impl Fn(f64),
    cancelled: &Rc<Cell<bool>>,
) -> Result<(), ApiFailure> {
    let part_size = usize::try_from(part_size.max(1)).unwrap_or(usize::MAX);
    let parts: Vec<&[u8]> = if bytes.is_empty() {
        vec![&[][..]]
    } else {
        bytes.chunks(part_size).collect()
    };
    let total = parts.len();
    for (index, part) in parts.into_iter().enumerate() {
        if cancelled.get() {
            return Err(ApiFailure {
                code: "cancelled".into(),
                message: "Cancelled.".into(),
            });
        }
        // A dropped connection costs one part, not the upload: try the part again a few times.
        let mut attempt = 0;
        loop {
            match put_part(base, index, part, bearer).await {
                Ok(()) => break,
                Err(failure) if failure.code == "network" && attempt < 3 => {
                    attempt += 1;
                    gloo::timers::future::TimeoutFuture::new(500 * attempt).await;
                }
                Err(failure) => return Err(failure),
            }
        }
        progress((index + 1) as f64 / total as f64);
    }
    let response = Request::post(&format!("{base}/complete"))
        .header("Authorization", bearer)
        .send()
        .await
        .map_err(|_| ApiFailure::network())?;
    if !response.ok() {
        return Err(failure(response).await);
    }
    Ok(())
}

async fn put_part(base: &str, index: usize, part: &[u8], bearer: &str) -> Result<(), ApiFailure> {
    let array = js_sys::Uint8Array::from(part);
    let response = Request::put(&format!("{base}/parts/{index}"))
        .header("Authorization", bearer)
        .header("Content-Type", "application/octet-stream")
        .body(array)
        .map_err(|_| ApiFailure::network())?
        .send()
        .await
        .map_err(|_| ApiFailure::network())?;
    if response.ok() {
        Ok(())
    } else {
        Err(failure(response).await)
    }
}

/// Deletes a share with its revoke token.
pub async fn revoke_share(id: &str, revoke_token: &str) -> Result<(), ApiFailure> {
    revoke_at(&format!("/api/shares/{id}"), revoke_token).await
}

/// Deletes a SMART Health Link hosted here with its revoke token.
pub async fn revoke_shl(id: &str, revoke_token: &str) -> Result<(), ApiFailure> {
    revoke_at(&format!("/api/shl/{id}"), revoke_token).await
}

async fn revoke_at(path: &str, revoke_token: &str) -> Result<(), ApiFailure> {
    let response = Request::delete(path)
        .header("Authorization", &format!("Bearer {revoke_token}"))
        .send()
        .await
        .map_err(|_| ApiFailure::network())?;
    if response.ok() {
        Ok(())
    } else {
        Err(failure(response).await)
    }
}

/// Words for a share that cannot be opened, by the server's code.
#[must_use]
pub fn explain_share_failure(failure: &ApiFailure) -> String {
    match failure.code.as_str() {
        "not_found" | "bad_id" => "This link does not point to a share. It may have been mistyped.".into(),
        "expired" => "This link has expired. Ask the sender to share the record again.".into(),
        "used_up" => "This link has been used up: it allowed a limited number of downloads, and all have been made.".into(),
        "revoked" => "The sender has revoked this link. The record is no longer available.".into(),
        _ => failure.message.clone(),
    }
}
