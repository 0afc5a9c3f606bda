//! The few HTTP calls of the MedSeal API the CLI makes (server/API.md), over reqwest's
//! blocking client with rustls. Bearer tokens go only in the `Authorization` header; bodies are
//! public keys, signed public descriptions and ciphertext.

use std::io::Read;
use std::time::Duration;

use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::{StatusCode, Url};

/// Largest study description or public key the CLI accepts (the server's own request limit is
/// 64 KiB by default).
pub const MAX_SMALL_BODY: u64 = 1 << 20;

/// A failed call: the HTTP status and the server's stable code, or a network failure.
#[derive(Debug)]
pub struct Failure {
    /// The HTTP status, `None` when no answer came.
    pub status: Option<u16>,
    /// The server's `code` (`network` when no answer came, `http_NNN` for a body that is not
    /// MedSeal's JSON error).
    pub code: String,
    /// The server's `message`, or what went wrong.
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(status) => write!(f, "{} (HTTP {status} {})", self.message, self.code),
            None => f.write_str(&self.message),
        }
    }
}

/// One MedSeal server.
pub struct Server {
    base: Url,
    client: Client,
}

impl Server {
    /// The server at `url` (`http://` or `https://`, optionally with a path prefix).
    pub fn new(url: &str) -> Result<Self, String> {
        let mut base = Url::parse(url.trim()).map_err(|e| format!("{url}: not a URL: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(format!(
                "{url}: the server must be an http:// or https:// address"
            ));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(format!(
                "{url}: give the server's address without a query or fragment"
            ));
        }
        // Url::join replaces the last path segment unless the path ends with '/'.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let client = Client::builder()
            .user_agent(concat!("medseal-cli/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(30))
            // reqwest's blocking client times each step (sending a request until its answer
            // starts, then each read of the body), not the whole transfer: bundles can be large.
            .timeout(Duration::from_secs(300))
            .referer(false)
            .build()
            .map_err(|e| format!("cannot start the HTTP client: {e}"))?;
        Ok(Self { base, client })
    }

    /// The server's address without the trailing `/`, for the links the CLI prints.
    pub fn origin(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_owned()
    }

    fn url(&self, path: &str) -> Result<Url, Failure> {
        self.base.join(path).map_err(|e| Failure {
            status: None,
            code: "bad_url".into(),
            message: format!("cannot build the address of {path}: {e}"),
        })
    }

    fn send(&self, request: RequestBuilder) -> Result<Response, Failure> {
        let response = request.send().map_err(|e| self.network(&e))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(failure_of(response))
        }
    }

    fn network(&self, e: &reqwest::Error) -> Failure {
        // reqwest's Display names the URL; the URLs the CLI builds hold no secret, but the
        // innermost cause ("connection refused", a TLS error) is what helps.
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        Failure {
            status: None,
            code: "network".into(),
            message: format!(
                "the MedSeal server at {} could not be reached: {cause}",
                self.origin()
            ),
        }
    }

    /// `GET path`, at most `limit` bytes of body.
    fn get_small(&self, path: &str, bearer: Option<&str>) -> Result<Vec<u8>, Failure> {
        let mut request = self.client.get(self.url(path)?);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = self.send(request)?;
        read_bounded(response, MAX_SMALL_BODY, path).map_err(|e| self.body_failure(e))
    }

    fn body_failure(&self, e: BodyError) -> Failure {
        match e {
            BodyError::TooLarge(message) => Failure {
                status: None,
                code: "too_large".into(),
                message,
            },
            BodyError::Read(e) => Failure {
                status: None,
                code: "network".into(),
                message: format!(
                    "the download from {} broke off: {e}. Try again.",
                    self.origin()
                ),
            },
        }
    }

    /// `GET /api/studies/{sid}`: the signed study, byte for byte.
    pub fn study(&self, sid: &str) -> Result<Vec<u8>, Failure> {
        self.get_small(&format!("api/studies/{sid}"), None)
    }

    /// `GET /api/keys/{fingerprint}`: a published key's DER SubjectPublicKeyInfo (the caller
    /// checks that it hashes to the fingerprint).
    pub fn key(&self, fingerprint: &str) -> Result<Vec<u8>, Failure> {
        self.get_small(&format!("api/keys/{fingerprint}"), None)
    }

    /// `GET /api/studies/{sid}/bundle` with the admin token, as a stream: refused before the
    /// download when the announced length passes `limit`, and as soon as the body does.
    pub fn bundle(
        &self,
        sid: &str,
        admin_token: &str,
        limit: u64,
    ) -> Result<Bounded<Response>, Failure> {
        let path = format!("api/studies/{sid}/bundle");
        let request = self.client.get(self.url(&path)?).bearer_auth(admin_token);
        let response = self.send(request)?;
        if let Some(n) = response.content_length()
            && n > limit
        {
            return Err(Failure {
                status: None,
                code: "too_large".into(),
                message: format!(
                    "the bundle is larger ({n} bytes) than this command accepts ({limit} bytes)"
                ),
            });
        }
        let announced = response.content_length();
        Ok(Bounded {
            inner: response,
            left: limit,
            limit,
            announced,
        })
    }

    /// Uploads a sealed contribution with no identity: create, parts, complete (the same calls
    /// as the browser). Returns the contribution's id and withdraw token. If a step fails after
    /// the upload was created, the unfinished upload is deleted with its withdraw token (best
    /// effort: the server never shows an unfinished upload and drops it when the study ends).
    pub fn contribute(&self, sid: &str, ciphertext: &[u8]) -> Result<(String, String), Failure> {
        #[derive(serde::Deserialize)]
        struct Created {
            id: String,
            upload_token: String,
            withdraw_token: String,
            part_size: u64,
        }
        let response = self.send(
            self.client
                .post(self.url(&format!("api/studies/{sid}/contributions"))?)
                .json(&serde_json::json!({ "size": ciphertext.len() as u64 })),
        )?;
        let body = read_bounded(response, MAX_SMALL_BODY, "the server's answer")
            .map_err(|e| self.body_failure(e))?;
        let created: Created = serde_json::from_slice(&body).map_err(|e| Failure {
            status: None,
            code: "bad_answer".into(),
            message: format!("the server's answer to a new contribution is not readable: {e}"),
        })?;
        let base = format!("api/studies/{sid}/contributions/{}", created.id);
        let upload = || -> Result<(), Failure> {
            self.upload_parts(&base, &created.upload_token, ciphertext, created.part_size)
        };
        if let Err(f) = upload() {
            if let Ok(url) = self.url(&base) {
                let _ = self
                    .client
                    .delete(url)
                    .bearer_auth(&created.withdraw_token)
                    .send();
            }
            return Err(f);
        }
        Ok((created.id, created.withdraw_token))
    }
}

impl Server {
    /// Sends `bytes` as the parts of the upload at `base` (`api/.../ID`), then completes it:
    /// the same calls as the browser. A lost connection is retried; sending a stored part again
    /// with the same bytes succeeds.
    fn upload_parts(
        &self,
        base: &str,
        token: &str,
        bytes: &[u8],
        part_size: u64,
    ) -> Result<(), Failure> {
        let part_size = usize::try_from(part_size.max(1)).unwrap_or(usize::MAX);
        let parts: Vec<&[u8]> = if bytes.is_empty() {
            vec![&[]]
        } else {
            bytes.chunks(part_size).collect()
        };
        for (index, part) in parts.into_iter().enumerate() {
            let url = self.url(&format!("{base}/parts/{index}"))?;
            let mut attempt = 0u32;
            loop {
                let request = self
                    .client
                    .put(url.clone())
                    .bearer_auth(token)
                    .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                    .body(part.to_vec());
                match self.send(request) {
                    Ok(_) => break,
                    Err(f) if f.status.is_none() && attempt < 3 => {
                        attempt += 1;
                        std::thread::sleep(Duration::from_millis(500 * u64::from(attempt)));
                    }
                    Err(f) => return Err(f),
                }
            }
        }
        self.send(
            self.client
                .post(self.url(&format!("{base}/complete"))?)
                .bearer_auth(token),
        )?;
        Ok(())
    }

    /// `POST path` with a JSON body; the JSON answer, parsed.
    fn post_small<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, Failure> {
        let response = self.send(self.client.post(self.url(path)?).json(body))?;
        let bytes = read_bounded(response, MAX_SMALL_BODY, "the server's answer")
            .map_err(|e| self.body_failure(e))?;
        serde_json::from_slice(&bytes).map_err(|e| Failure {
            status: None,
            code: "bad_answer".into(),
            message: format!("the server's answer to {path} is not readable: {e}"),
        })
    }

    /// `GET /api/config`: the limits this server puts on new links.
    pub fn config(&self) -> Result<ServerConfig, Failure> {
        let bytes = self.get_small("api/config", None)?;
        serde_json::from_slice(&bytes).map_err(|e| Failure {
            status: None,
            code: "bad_answer".into(),
            message: format!(
                "{} does not describe its limits (is it a MedSeal server new enough for SMART Health Links?): {e}",
                self.origin()
            ),
        })
    }

    /// Hosts a SMART Health Link: `POST /api/shl` with the files' sizes and the passcode hash,
    /// then the files (their JWEs one after the other) as parts, then completion. If a step
    /// fails after the link was created, it is revoked (best effort).
    pub fn host_link(
        &self,
        request: &serde_json::Value,
        files: &[u8],
    ) -> Result<ShlCreated, Failure> {
        let created: ShlCreated = self.post_small("api/shl", request)?;
        let base = format!("api/shl/{}", created.id);
        if let Err(f) = self.upload_parts(&base, &created.upload_token, files, created.part_size) {
            if let Ok(url) = self.url(&base) {
                let _ = self
                    .client
                    .delete(url)
                    .bearer_auth(&created.revoke_token)
                    .send();
            }
            return Err(f);
        }
        Ok(created)
    }

    /// `DELETE /api/shl/{lid}` with the revoke token.
    pub fn revoke_link(&self, lid: &str, token: &str) -> Result<(), Failure> {
        self.send(
            self.client
                .delete(self.url(&format!("api/shl/{lid}"))?)
                .bearer_auth(token),
        )?;
        Ok(())
    }
}

/// What `GET /api/config` tells of a server's limits.
#[derive(Debug, serde::Deserialize)]
pub struct ServerConfig {
    /// Largest file (its JWE) of a SMART Health Link, in bytes.
    pub shl_max_file: u64,
    /// Longest life of a link, in seconds.
    pub max_expiry: u64,
    /// Most downloads (manifest requests) a link may allow.
    pub max_downloads: u32,
}

/// The server's answer to a new SMART Health Link.
#[derive(Debug, serde::Deserialize)]
pub struct ShlCreated {
    /// The link's id.
    pub id: String,
    /// The manifest path on the server.
    pub path: String,
    upload_token: String,
    /// Deletes the link.
    pub revoke_token: String,
    part_size: u64,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
}

enum BodyError {
    TooLarge(String),
    Read(std::io::Error),
}

/// Reads a body into memory, refusing more than `limit` bytes.
fn read_bounded(response: Response, limit: u64, what: &str) -> Result<Vec<u8>, BodyError> {
    let too_large = |n: u64| {
        BodyError::TooLarge(format!(
            "{what} is larger ({n} bytes or more) than this command accepts ({limit} bytes)"
        ))
    };
    let announced = response.content_length();
    if let Some(n) = announced
        && n > limit
    {
        return Err(too_large(n));
    }
    let capacity = usize::try_from(announced.unwrap_or(0).min(limit)).unwrap_or(0);
    let mut out = Vec::with_capacity(capacity);
    response
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(BodyError::Read)?;
    if out.len() as u64 > limit {
        return Err(too_large(out.len() as u64));
    }
    Ok(out)
}

/// A body read as a stream that fails once it passes `limit` bytes.
pub struct Bounded<R> {
    inner: R,
    left: u64,
    limit: u64,
    announced: Option<u64>,
}

impl<R> Bounded<R> {
    /// The length the server announced (`Content-Length`), if it did.
    pub fn announced(&self) -> Option<u64> {
        self.announced
    }
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            std::io::Error::other(format!(
                "the bundle is larger than this command accepts ({} bytes); raise \
                 --max-bundle-size",
                self.limit
            ))
        })?;
        Ok(n)
    }
}

/// The server's JSON error, or a description of an answer that is not one.
fn failure_of(response: Response) -> Failure {
    let status = response.status();
    let mut body = Vec::new();
    let _ = response.take(64 * 1024).read_to_end(&mut body);
    match serde_json::from_slice::<medseal_core::wire::ApiError>(&body) {
        Ok(e) => Failure {
            status: Some(status.as_u16()),
            code: e.code,
            message: e.message,
        },
        Err(_) => Failure {
            status: Some(status.as_u16()),
            code: format!("http_{}", status.as_u16()),
            message: format!(
                "the server answered {} with a body that is not a MedSeal error (is this a MedSeal server?)",
                status_text(status)
            ),
        },
    }
}

fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}
