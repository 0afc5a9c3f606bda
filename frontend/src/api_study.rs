//! HTTP calls of keys and studies. Only public keys, signed public descriptions, ciphertext
//! and bearer tokens (in headers, never in URLs) are ever sent.

use gloo::net::http::{Request, Response};
use serde::{Deserialize, Serialize};

use crate::api::ApiFailure;

fn network() -> ApiFailure {
    ApiFailure {
        code: "network".into(),
        message: "The MedSeal server could not be reached. Check your connection and try again."
            .into(),
    }
}

async fn failure(response: Response) -> ApiFailure {
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

async fn checked(response: Result<Response, gloo::net::Error>) -> Result<Response, ApiFailure> {
    let response = response.map_err(|_| network())?;
    if response.ok() {
        Ok(response)
    } else {
        Err(failure(response).await)
    }
}

/// Publishes a public key (DER SubjectPublicKeyInfo).
pub async fn publish_key(spki: &[u8]) -> Result<(), ApiFailure> {
    let body = js_sys::Uint8Array::from(spki);
    let request = Request::put("/api/keys")
        .header("Content-Type", "application/octet-stream")
        .body(body)
        .map_err(|_| network())?;
    checked(request.send().await).await.map(|_| ())
}

/// Fetches a published key by fingerprint (base64url). The caller checks its hash.
pub async fn fetch_key(fingerprint: &str) -> Result<Vec<u8>, ApiFailure> {
    let response = checked(
        Request::get(&format!("/api/keys/{fingerprint}"))
            .send()
            .await,
    )
    .await?;
    response.binary().await.map_err(|_| network())
}

/// The server's answer to a new study.
#[derive(Clone, Debug, Deserialize)]
pub struct StudyCreated {
    pub id: String,
    pub admin_token: String,
}

/// Publishes a signed study (the JSON body `{description, signature}`).
pub async fn create_study(signed_body: &str) -> Result<StudyCreated, ApiFailure> {
    let request = Request::post("/api/studies")
        .header("Content-Type", "application/json")
        .body(signed_body)
        .map_err(|_| network())?;
    let response = checked(request.send().await).await?;
    response.json().await.map_err(|_| network())
}

/// The signed study exactly as the server holds it.
pub async fn fetch_study(id: &str) -> Result<Vec<u8>, ApiFailure> {
    let response = checked(Request::get(&format!("/api/studies/{id}")).send().await).await?;
    response.binary().await.map_err(|_| network())
}

#[derive(Serialize)]
struct CreateContribution {
    size: u64,
}

#[derive(Deserialize)]
struct ContributionCreated {
    id: String,
    upload_token: String,
    withdraw_token: String,
    part_size: u64,
}

/// A stored contribution: its id and the secret that withdraws it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contributed {
    pub id: String,
    pub withdraw_token: String,
}

/// Uploads a sealed contribution anonymously: create, parts, complete.
pub async fn contribute(
    study: &str,
    ciphertext: &[u8],
    progress: impl Fn(f64),
) -> Result<Contributed, ApiFailure> {
    let request = Request::post(&format!("/api/studies/{study}/contributions"))
        .json(&CreateContribution {
            size: ciphertext.len() as u64,
        })
        .map_err(|_| network())?;
    let created: ContributionCreated = checked(request.send().await)
        .await?
        .json()
        .await
        .map_err(|_| network())?;
    let bearer = format!("Bearer {}", created.upload_token);
    let part_size = usize::try_from(created.part_size.max(1)).unwrap_or(usize::MAX);
    let parts: Vec<&[u8]> = ciphertext.chunks(part_size).collect();
    let total = parts.len().max(1);
    for (index, part) in parts.into_iter().enumerate() {
        let mut attempt = 0;
        loop {
            let request = Request::put(&format!(
                "/api/studies/{study}/contributions/{}/parts/{index}",
                created.id
            ))
            .header("Authorization", &bearer)
            .header("Content-Type", "application/octet-stream")
            .body(js_sys::Uint8Array::from(part))
            .map_err(|_| network())?;
            match checked(request.send().await).await {
                Ok(_) => break,
                Err(f) if f.code == "network" && attempt < 3 => {
                    attempt += 1;
                    gloo::timers::future::TimeoutFuture::new(500 * attempt).await;
                }
                Err(f) => return Err(f),
            }
        }
        progress((index + 1) as f64 / total as f64);
    }
    checked(
        Request::post(&format!(
            "/api/studies/{study}/contributions/{}/complete",
            created.id
        ))
        .header("Authorization", &bearer)
        .send()
        .await,
    )
    .await?;
    Ok(Contributed {
        id: created.id,
        withdraw_token: created.withdraw_token,
    })
}

/// Withdraws (deletes) a contribution.
pub async fn withdraw(study: &str, id: &str, token: &str) -> Result<(), ApiFailure> {
    checked(
        Request::delete(&format!("/api/studies/{study}/contributions/{id}"))
            .header("Authorization", &format!("Bearer {token}"))
            .send()
            .await,
    )
    .await
    .map(|_| ())
}

/// One contribution in the researcher's list.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ContributionInfo {
    pub id: String,
    pub size: u64,
    pub created_at: u64,
}

/// The study's complete contributions (admin token).
pub async fn list_contributions(
    study: &str,
    admin_token: &str,
) -> Result<Vec<ContributionInfo>, ApiFailure> {
    let response = checked(
        Request::get(&format!("/api/studies/{study}/contributions"))
            .header("Authorization", &format!("Bearer {admin_token}"))
            .send()
            .await,
    )
    .await?;
    response.json().await.map_err(|_| network())
}

/// Downloads a share's ciphertext (for a share sealed to a doctor's key).
pub async fn download_share(id: &str) -> Result<Vec<u8>, ApiFailure> {
    let response = checked(Request::get(&format!("/api/shares/{id}")).send().await).await?;
    response.binary().await.map_err(|_| network())
}
