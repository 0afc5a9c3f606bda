//! SMART Health Links in the browser (HL7 "SMART Health Cards and Links" STU1), with the core's
//! payload, JWE and passcode-hash code (`medseal_core::shl`).
//!
//! Opening: this page fetches the other host's manifest (or a `U` link's single file) itself,
//! with CORS, and decrypts in WebAssembly. MedSeal's server relays nothing: it never sees the
//! link's URL, key or passcode (ARCHITECTURE.md, "SMART Health Links: fetched by the browser").
//! Sharing: each file is encrypted here as a compact JWE with a fresh key, the passcode is
//! hashed here (Argon2id), and the server gets the ciphertext and the hash.

use std::cell::Cell;
use std::rc::Rc;

use gloo::net::http::{Request, Response};
use medseal_core::shl::{self as core_shl, Link, ManifestRequest, PasscodeHash};
use serde::Deserialize;

use crate::api::{self, ApiFailure};

/// Who is asking, as this viewer tells the link's host.
pub const RECIPIENT: &str = "MedSeal web viewer";
/// Largest file (JWE) fetched, and largest plaintext a compressed file may expand to.
const MAX_FILE: usize = 64 << 20;
/// Longest `Retry-After` waited out before telling the person to try later.
const MAX_RETRY_WAIT: u64 = 30;

/// What the server tells the app of its SMART Health Link settings.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Config {
    /// Plain-http manifest hosts may be followed (tests on loopback).
    pub shl_allow_http: bool,
    /// Largest file (its JWE) a link hosted here may have.
    pub shl_max_file: u64,
}

/// `GET /api/config`.
pub async fn config() -> Result<Config, ApiFailure> {
    let response = Request::get("/api/config")
        .send()
        .await
        .map_err(|_| ApiFailure::network())?;
    if !response.ok() {
        return Err(api::failure(response).await);
    }
    response.json().await.map_err(|_| ApiFailure::network())
}

/// Why a link could not be opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// `401`: the passcode is wrong (or missing); attempts left before the link is disabled.
    WrongPasscode(Option<u64>),
    /// Anything else, in words for people.
    Other(String),
}

impl Failure {
    /// A sentence for people.
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            Self::WrongPasscode(Some(0)) => {
                "That passcode is wrong, and it was the last attempt: the link is now disabled. Ask the person who shared it for a new one.".into()
            }
            Self::WrongPasscode(Some(n)) => format!(
                "That passcode is wrong. {n} attempt{} left before the link is disabled.",
                if *n == 1 { "" } else { "s" }
            ),
            Self::WrongPasscode(None) => "That passcode is wrong.".into(),
            Self::Other(message) => message.clone(),
        }
    }
}

fn other(message: impl Into<String>) -> Failure {
    Failure::Other(message.into())
}

/// Checks a URL the link leads to: https always, plain http only when the server allows it.
pub fn check_url(url: &str, allow_http: bool) -> Result<(), Failure> {
    let lower = url.trim().to_ascii_lowercase();
    if lower.starts_with("https://") || (allow_http && lower.starts_with("http://")) {
        Ok(())
    } else if lower.starts_with("http://") {
        Err(other(
            "This link's host uses plain http, which anyone on the way could read or change. MedSeal opens SMART Health Links over https only.",
        ))
    } else {
        Err(other(
            "This link does not lead to a web address MedSeal can open.",
        ))
    }
}

/// A file as the host served it: its content type from the manifest (none for a `U` link) and
/// its JWE.
pub struct Fetched {
    pub content_type: Option<String>,
    pub jwe: String,
}

async fn send_with_retry(make: impl Fn() -> Result<Request, Failure>) -> Result<Response, Failure> {
    let mut tries = 0;
    loop {
        let response = make()?.send().await.map_err(|_| {
            other("The link's host could not be reached. Check your connection, or ask the person who shared the link whether it still works.")
        })?;
        if response.ok() {
            return Ok(response);
        }
        let status = response.status();
        let wait = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
        match status {
            401 => {
                return Err(Failure::WrongPasscode(
                    body.get("remainingAttempts")
                        .and_then(serde_json::Value::as_u64),
                ));
            }
            404 => {
                let why = match body.get("code").and_then(serde_json::Value::as_str) {
                    Some("expired") => " It has expired.",
                    Some("revoked") => " The person who shared it revoked it.",
                    Some("used_up") => " It was opened as many times as its sender allowed.",
                    Some("disabled") => " Too many wrong passcodes were tried.",
                    _ => "",
                };
                return Err(other(format!(
                    "This SMART Health Link is no longer active.{why} Ask the person who shared it for a new one."
                )));
            }
            429 if tries < 2 && wait.is_some_and(|w| w <= MAX_RETRY_WAIT) => {
                tries += 1;
                let ms = u32::try_from(wait.unwrap_or(1).max(1) * 1000).unwrap_or(30_000);
                gloo::timers::future::TimeoutFuture::new(ms).await;
            }
            429 => {
                return Err(other(format!(
                    "The link's host is busy. Try again in {} seconds.",
                    wait.unwrap_or(60)
                )));
            }
            _ => {
                return Err(other(format!(
                    "The link's host answered with an error ({status})."
                )));
            }
        }
    }
}

async fn text_of(response: Response, what: &str) -> Result<String, Failure> {
    if response
        .headers()
        .get("content-length")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .is_some_and(|n| n > MAX_FILE)
    {
        return Err(other(format!("{what} is too large to open here.")));
    }
    let text = response
        .text()
        .await
        .map_err(|_| other(format!("Reading {what} broke off. Try again.")))?;
    if text.len() > MAX_FILE {
        return Err(other(format!("{what} is too large to open here.")));
    }
    Ok(text)
}

/// Fetches a link's files: the manifest (`POST` with the recipient and passcode) and each file
/// embedded or from its `location`, or, with flag `U`, the single file (`GET ?recipient=`).
pub async fn fetch_files(
    link: &Link,
    passcode: Option<&str>,
    allow_http: bool,
) -> Result<Vec<Fetched>, Failure> {
    check_url(&link.url, allow_http)?;
    if link.has_flag('U') {
        let url = web_sys::Url::new(&link.url)
            .map_err(|_| other("This link's address is not a web address."))?;
        url.search_params().append("recipient", RECIPIENT);
        let url = String::from(url.href());
        let response = send_with_retry(|| {
            Request::get(&url)
                .build()
                .map_err(|_| other("The browser could not make the request."))
        })
        .await?;
        return Ok(vec![Fetched {
            content_type: None,
            jwe: text_of(response, "The file").await?,
        }]);
    }
    let body = ManifestRequest {
        recipient: RECIPIENT.into(),
        passcode: passcode.map(str::to_owned),
        embedded_length_max: None,
    };
    let response = send_with_retry(|| {
        Request::post(&link.url)
            .json(&body)
            .map_err(|_| other("The browser could not make the request."))
    })
    .await?;
    let text = text_of(response, "The manifest").await?;
    let manifest = core_shl::parse_manifest(text.as_bytes())
        .map_err(|_| other("The link's host answered with something that is not a manifest."))?;
    if manifest.files.is_empty() {
        return Err(other("This link holds no files."));
    }
    let mut files = Vec::new();
    for file in manifest.files {
        let jwe = match (file.embedded, file.location) {
            (Some(jwe), _) => jwe,
            (None, Some(location)) => {
                check_url(&location, allow_http)?;
                let response = send_with_retry(|| {
                    Request::get(&location)
                        .build()
                        .map_err(|_| other("The browser could not make the request."))
                })
                .await?;
                text_of(response, "A file of the link").await?
            }
            (None, None) => return Err(other("The manifest lists a file without its content.")),
        };
        files.push(Fetched {
            content_type: Some(file.content_type),
            jwe,
        });
    }
    Ok(files)
}

/// One decrypted file, ready for the record viewer.
#[derive(Clone, Debug, PartialEq)]
pub struct Opened {
    /// A neutral name: `shl-file-N.json`, `health-card-N.json`.
    pub name: String,
    /// Its content type.
    pub content_type: String,
    /// The bytes to show (for a health card, its FHIR bundle as JSON).
    pub data: Vec<u8>,
    /// For a health card: its issuer, whose signature was not verified.
    pub card_issuer: Option<String>,
}

/// Decrypts the fetched files with the link's key. A health card file gives one entry per card
/// (its bundle); other content types are kept as they are, for download.
pub fn open_files(link: &Link, fetched: Vec<Fetched>) -> Result<Vec<Opened>, Failure> {
    let mut out = Vec::new();
    for (n, file) in fetched.into_iter().enumerate() {
        let opened = core_shl::decrypt(&link.key, &file.jwe, MAX_FILE).map_err(|e| {
            other(format!(
                "File {} of the link cannot be decrypted: {e} The link may be damaged or incomplete.",
                n + 1
            ))
        })?;
        let content_type = file
            .content_type
            .or(opened.content_type)
            .unwrap_or_else(|| core_shl::FHIR_JSON.to_owned());
        match core_shl::read_fhir(&content_type, &opened.plaintext) {
            Ok(contents) if content_type.starts_with(core_shl::HEALTH_CARD) => {
                for (i, card) in contents.into_iter().enumerate() {
                    out.push(Opened {
                        name: format!("health-card-{}-{}.json", n + 1, i + 1),
                        content_type: core_shl::FHIR_JSON.into(),
                        data: serde_json::to_vec_pretty(&card.resource).unwrap_or_default(),
                        card_issuer: Some(
                            card.card_issuer
                                .unwrap_or_else(|| "an unnamed issuer".into()),
                        ),
                    });
                }
            }
            Ok(_) | Err(core_shl::ShlError::Unsupported(_)) => out.push(Opened {
                name: format!("shl-file-{}.json", n + 1),
                content_type,
                data: opened.plaintext,
                card_issuer: None,
            }),
            Err(e) => return Err(other(format!("File {} of the link: {e}", n + 1))),
        }
    }
    Ok(out)
}

/// A file to share as a link: its bytes and content type.
pub struct ToShare {
    pub content_type: &'static str,
    pub data: Rc<Vec<u8>>,
}

/// Why a set of files does not fit a SMART Health Link, or `None` if it does.
#[must_use]
pub fn does_not_fit(files: &[(String, Rc<Vec<u8>>)], config: &Config) -> Option<String> {
    if files.len() > 16 {
        return Some("A SMART Health Link holds at most 16 files.".into());
    }
    for (name, data) in files {
        if core_shl::content_type_of(data).is_none() {
            return Some(format!(
                "“{name}” is not a FHIR JSON resource or a SMART Health Card, and a SMART Health Link carries only those."
            ));
        }
        // Deflate may grow incompressible data a little; JWE base64url adds a third.
        let estimate = (data.len() as u64 + 1024) * 4 / 3;
        if estimate > config.shl_max_file {
            return Some(format!(
                "“{name}” is too large for a SMART Health Link on this server (at most {} MiB).",
                config.shl_max_file >> 20
            ));
        }
    }
    None
}

#[derive(Deserialize)]
struct Created {
    id: String,
    path: String,
    upload_token: String,
    revoke_token: String,
    part_size: u64,
    expires_at: u64,
}

/// A link hosted here.
pub struct Hosted {
    /// `{origin}/#shlink:/...`.
    pub link: String,
    /// The private page that revokes it.
    pub revoke_link: String,
}

/// Encrypts the files with a new link key, hashes the passcode, hosts the link on this server
/// and makes `{origin}/#shlink:/...`. `progress(what, fraction)` tells what is happening.
pub async fn host(
    files: Vec<ToShare>,
    passcode: Option<&str>,
    expires_in: u64,
    max_downloads: u32,
    label: Option<String>,
    progress: impl Fn(&str, f64),
    cancelled: &Rc<Cell<bool>>,
) -> Result<Hosted, String> {
    let origin = crate::browser::origin();
    if origin.len() + "/api/shl/".len() + 43 > core_shl::MAX_URL_LEN {
        return Err("This server's address is too long for a SMART Health Link.".into());
    }
    let mut link = Link::generate(String::new()).map_err(|e| e.to_string())?;
    progress("Encrypting", 0.0);
    let mut body = Vec::new();
    let mut sizes = Vec::new();
    for file in &files {
        let jwe = core_shl::encrypt(&link.key, &file.data, file.content_type, true)
            .map_err(|e| e.to_string())?;
        sizes.push(serde_json::json!({"content_type": file.content_type, "size": jwe.len()}));
        body.extend_from_slice(jwe.as_bytes());
    }
    let mut request = serde_json::json!({
        "files": sizes,
        "expires_in": expires_in,
        "max_downloads": max_downloads,
    });
    if let Some(passcode) = passcode {
        progress("Protecting the passcode", 0.0);
        // Let the page paint the step before the (deliberately slow) hash.
        gloo::timers::future::TimeoutFuture::new(0).await;
        let hash = PasscodeHash::new(passcode).map_err(|e| e.to_string())?;
        request["passcode"] = serde_json::to_value(&hash).map_err(|e| e.to_string())?;
    }
    let response = Request::post("/api/shl")
        .json(&request)
        .map_err(|e| e.to_string())?
        .send()
        .await
        .map_err(|_| ApiFailure::network().message)?;
    if !response.ok() {
        return Err(api::failure(response).await.message);
    }
    let created: Created = response
        .json()
        .await
        .map_err(|_| ApiFailure::network().message)?;
    let base = format!("/api/shl/{}", created.id);
    let bearer = format!("Bearer {}", created.upload_token);
    let sent = api::send_parts(
        &base,
        &body,
        created.part_size,
        &bearer,
        |f| progress("Uploading", f),
        cancelled,
    )
    .await;
    if let Err(failure) = sent {
        let _ = api::revoke_shl(&created.id, &created.revoke_token).await;
        return Err(failure.message);
    }
    link.url = format!("{origin}{}", created.path);
    link.exp = Some(created.expires_at);
    link.label = label;
    link.set_flags(if passcode.is_some() { "P" } else { "" });
    Ok(Hosted {
        link: format!("{origin}/#{}", link.encode()),
        revoke_link: format!(
            "{origin}/revoke/shl/{}#{}",
            created.id, created.revoke_token
        ),
    })
}
