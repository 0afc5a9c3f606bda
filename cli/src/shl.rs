//! `medseal shl`: SMART Health Links (HL7 "SMART Health Cards and Links" STU1) from the command
//! line.
//!
//! - `create` encrypts FHIR JSON or SMART Health Card files with a fresh link key (compact JWE,
//!   `dir`/`A256GCM`, compressed), hashes the passcode locally (Argon2id, FORMAT.md section 9),
//!   hosts the files on a MedSeal server and prints the link. The key and the passcode never
//!   leave this machine.
//! - `open` follows any SMART Health Link, on MedSeal or another host: the manifest request
//!   (or, with flag `U`, the single file), each file embedded or fetched from its `location`,
//!   decrypted with the link's key, and written byte for byte to a folder.
//! - `revoke` deletes a MedSeal-hosted link with its revoke token.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use medseal_core::shl::{self as core_shl, Link, ManifestRequest, PasscodeHash};
use reqwest::Url;
use reqwest::blocking::{Client, Response};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::http::Server;
use crate::io::{Output, describe, read_secret};

/// Longest label a link carries (the specification's limit).
const MAX_LABEL: usize = 80;
/// Longest `url` a link may carry (the specification's limit, so that QR codes stay small).
const MAX_URL: usize = 128;
/// Largest manifest `open` reads (embedded files are inside it).
const MAX_MANIFEST: u64 = 64 << 20;
/// Largest file (JWE) `open` downloads from a `location` or a `U` link.
const MAX_FILE: u64 = 64 << 20;
/// Largest plaintext a compressed file may expand to.
const MAX_PLAINTEXT: usize = 256 << 20;
/// Longest `Retry-After` `open` waits for before giving up (it tries twice more).
const MAX_RETRY_WAIT: u64 = 60;

/// What `medseal shl create` was asked.
pub struct Create<'a> {
    /// The MedSeal server that hosts the link.
    pub server: &'a str,
    /// The files, in manifest order.
    pub files: &'a [PathBuf],
    /// The passcode, first line of this file (flag `P`).
    pub passcode_file: Option<&'a Path>,
    /// Wrong passcodes allowed.
    pub max_attempts: Option<u32>,
    /// Seconds until the link expires (default: a week, within the server's bound).
    pub expires_in: Option<u64>,
    /// Manifest requests answered (default: 10, within the server's bound).
    pub max_downloads: Option<u32>,
    /// The link's label.
    pub label: Option<&'a str>,
    /// Flag `U`: a single file fetched with `GET`, no manifest.
    pub direct: bool,
    /// The viewer the printed link opens in (default: the server's own page).
    pub viewer: Option<&'a str>,
    /// Where to write the revoke token (mode 0600); else it goes to stderr.
    pub revoke_token_file: Option<&'a Path>,
}

/// The content type of a file to share: FHIR JSON or a SMART Health Card file.
fn content_type_of(path: &Path, bytes: &[u8]) -> Result<&'static str, String> {
    core_shl::content_type_of(bytes).ok_or_else(|| {
        format!(
            "{}: neither a FHIR JSON resource nor a SMART Health Card file; a SMART Health Link carries only those (share it as a MedSeal link instead)",
            path.display()
        )
    })
}

fn read_passcode(path: &Path) -> Result<Zeroizing<String>, String> {
    let bytes = read_secret(path)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| format!("{}: the passcode is not UTF-8", path.display()))?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(format!("{}: the passcode file is empty", path.display()));
    }
    Ok(Zeroizing::new(line.to_owned()))
}

/// `medseal shl create`.
pub fn create(req: &Create<'_>) -> Result<(), String> {
    if req.files.is_empty() || req.files.len() > 16 {
        return Err("give 1 to 16 files".into());
    }
    if req.direct && (req.files.len() != 1 || req.passcode_file.is_some()) {
        return Err(
            "--direct (flag U) shares exactly one file and cannot have a passcode, as the specification asks"
                .into(),
        );
    }
    let label = match req.label.map(str::trim) {
        Some(l) if l.chars().count() > MAX_LABEL => {
            return Err(format!("the label is longer than {MAX_LABEL} characters"));
        }
        Some(l) if l.chars().any(char::is_control) => {
            return Err("the label holds control characters".into());
        }
        Some("") | None => None,
        Some(l) => Some(l.to_owned()),
    };
    let server = Server::new(req.server)?;
    let config = server.config().map_err(|f| f.to_string())?;
    let expires_in = req
        .expires_in
        .unwrap_or_else(|| (7 * 24 * 3600).min(config.max_expiry));
    let max_downloads = req
        .max_downloads
        .unwrap_or_else(|| 10.min(config.max_downloads));

    let origin = server.origin();
    // The key is made before the link's URL is known: only the URL is added afterwards.
    let mut link = Link::generate(String::new()).map_err(|e| e.to_string())?;
    let mut body = Vec::new();
    let mut files = Vec::new();
    for path in req.files {
        let plaintext = Zeroizing::new(std::fs::read(path).map_err(|e| describe(path, &e))?);
        let content_type = content_type_of(path, &plaintext)?;
        let jwe = core_shl::encrypt(&link.key, &plaintext, content_type, true)
            .map_err(|e| e.to_string())?;
        if jwe.len() as u64 > config.shl_max_file {
            return Err(format!(
                "{}: {} bytes once encrypted, more than the {} bytes {origin} takes for one file of a link",
                path.display(),
                jwe.len(),
                config.shl_max_file
            ));
        }
        files.push(serde_json::json!({"content_type": content_type, "size": jwe.len()}));
        body.extend_from_slice(jwe.as_bytes());
    }
    let mut request = serde_json::json!({
        "files": files,
        "expires_in": expires_in,
        "max_downloads": max_downloads,
    });
    if let Some(path) = req.passcode_file {
        let passcode = read_passcode(path)?;
        let hash = PasscodeHash::new(&passcode).map_err(|e| e.to_string())?;
        request["passcode"] = serde_json::to_value(&hash).map_err(|e| e.to_string())?;
        if let Some(n) = req.max_attempts {
            request["max_attempts"] = n.into();
        }
    }
    // `/api/shl/` and a 43-character id.
    if origin.len() + 52 > MAX_URL {
        return Err(format!(
            "{origin}: the server's address is too long for a SMART Health Link (its url may have at most {MAX_URL} characters)"
        ));
    }
    let created = server
        .host_link(&request, &body)
        .map_err(|f| f.to_string())?;
    link.url = format!("{origin}{}", created.path);
    link.exp = Some(created.expires_at);
    link.label = label;
    let mut flags = String::new();
    if req.passcode_file.is_some() {
        flags.push('P');
    }
    if req.direct {
        flags.push('U');
    }
    link.set_flags(&flags);

    let viewer = req.viewer.map_or(origin.as_str(), str::trim);
    let viewer = viewer.trim_end_matches('/');
    println!("{viewer}/#{}", link.encode());
    match req.revoke_token_file {
        Some(path) => write_private(path, created.revoke_token.as_bytes())?,
        None => eprintln!(
            "medseal: revoke the link with: medseal shl revoke {}/api/shl/{} --token-file FILE (the file holding {})",
            origin, created.id, created.revoke_token
        ),
    }
    Ok(())
}

/// Writes a secret file with mode 0600, complete or not at all.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut out = Output::create(path)?;
    out.write(bytes)?;
    out.write(b"\n")?;
    #[cfg(unix)]
    if let Output::File(w, _) = &out {
        use std::os::unix::fs::PermissionsExt as _;
        w.get_ref()
            .as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| describe(path, &e))?;
    }
    out.commit()
}

/// What `medseal shl open` was asked.
pub struct Open<'a> {
    /// The link: `shlink:/...`, or a viewer URL with `#shlink:/...`; `-` reads it from stdin.
    pub link: &'a str,
    /// The folder to write the files to (made if missing).
    pub output: &'a Path,
    /// The passcode, first line of this file.
    pub passcode_file: Option<&'a Path>,
    /// Who is asking, sent to the host.
    pub recipient: &'a str,
    /// Follow `http://` links (for a test host on localhost).
    pub allow_http: bool,
}

fn read_link(text: &str) -> Result<String, String> {
    if text == "-" {
        let mut s = String::new();
        std::io::stdin()
            .take(1 << 20)
            .read_to_string(&mut s)
            .map_err(|e| format!("standard input: {e}"))?;
        Ok(s.trim().to_owned())
    } else {
        Ok(text.trim().to_owned())
    }
}

/// `medseal shl open`.
pub fn open(req: &Open<'_>) -> Result<(), String> {
    let link = Link::parse(&read_link(req.link)?).map_err(|e| e.to_string())?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if link.expired(now) {
        return Err("this SMART Health Link has expired".into());
    }
    let url = Url::parse(&link.url).map_err(|e| format!("the link's url is not a URL: {e}"))?;
    check_scheme(&url, req.allow_http)?;
    if req.recipient.trim().is_empty() {
        return Err("--recipient must not be empty".into());
    }
    let passcode = match (link.has_flag('P'), req.passcode_file) {
        (true, Some(path)) => Some(read_passcode(path)?),
        (true, None) => {
            return Err(
                "this link is protected by a passcode: give it with --passcode-file (the sharer tells you the passcode separately)"
                    .into(),
            );
        }
        (false, _) => None,
    };
    let client = client(req.allow_http)?;
    let files: Vec<(Option<String>, String)> = if link.has_flag('U') {
        let mut url = url.clone();
        url.query_pairs_mut()
            .append_pair("recipient", req.recipient);
        let response = send(|| client.get(url.clone()))?;
        vec![(None, read_text(response, MAX_FILE, "the file")?)]
    } else {
        let body = ManifestRequest {
            recipient: req.recipient.to_owned(),
            passcode: passcode.as_ref().map(|p| p.as_str().to_owned()),
            embedded_length_max: None,
        };
        let response = send(|| client.post(url.clone()).json(&body))?;
        let text = read_text(response, MAX_MANIFEST, "the manifest")?;
        let manifest =
            core_shl::parse_manifest(text.as_bytes()).map_err(|e| format!("the host: {e}"))?;
        if manifest.files.is_empty() {
            return Err("the link's manifest lists no files".into());
        }
        let mut files = Vec::new();
        for file in manifest.files {
            let jwe = match (file.embedded, file.location) {
                (Some(jwe), _) => jwe,
                (None, Some(location)) => {
                    let location = Url::parse(&location)
                        .map_err(|e| format!("a file's location is not a URL: {e}"))?;
                    check_scheme(&location, req.allow_http)?;
                    let response = send(|| client.get(location.clone()))?;
                    read_text(response, MAX_FILE, "a file of the link")?
                }
                (None, None) => unreachable!("parse_manifest refuses a file with neither"),
            };
            files.push((Some(file.content_type), jwe));
        }
        files
    };
    std::fs::create_dir_all(req.output).map_err(|e| describe(req.output, &e))?;
    if let Some(label) = link.display_label() {
        eprintln!("medseal: {label}");
    }
    // Everything is decrypted and checked before anything is written.
    let mut opened = Vec::new();
    for (n, (listed, jwe)) in files.into_iter().enumerate() {
        let file = core_shl::decrypt(&link.key, &jwe, MAX_PLAINTEXT)
            .map_err(|e| format!("file {}: {e}", n + 1))?;
        let content_type = listed
            .or_else(|| file.content_type.clone())
            .unwrap_or_else(|| core_shl::FHIR_JSON.to_owned());
        let summary = match core_shl::read_fhir(&content_type, &file.plaintext) {
            Ok(contents) => contents
                .iter()
                .map(|c| {
                    let kind = c
                        .resource
                        .get("resourceType")
                        .and_then(Value::as_str)
                        .unwrap_or("resource");
                    match &c.card_issuer {
                        Some(iss) => format!(
                            "{kind} from a SMART Health Card issued by {iss} (signature not verified)"
                        ),
                        None => kind.to_owned(),
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
            Err(core_shl::ShlError::Unsupported(_)) => format!("{content_type}, kept as it is"),
            Err(e) => return Err(format!("file {}: {e}", n + 1)),
        };
        opened.push((content_type, file.plaintext, summary));
    }
    for (n, (content_type, plaintext, summary)) in opened.iter().enumerate() {
        let ext = if content_type.starts_with(core_shl::HEALTH_CARD) {
            "smart-health-card"
        } else {
            "json"
        };
        let path = req.output.join(format!("shl-file-{}.{ext}", n + 1));
        let mut out = Output::create(&path)?;
        out.write(plaintext)?;
        out.commit()?;
        eprintln!("medseal: {}: {summary}", path.display());
    }
    Ok(())
}

fn check_scheme(url: &Url, allow_http: bool) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http => Ok(()),
        "http" => Err(format!(
            "{url}: the link is served over plain http, which anyone on the way can read and change; give --allow-http (or MEDSEAL_SHL_ALLOW_HTTP=1) only for a test host"
        )),
        other => Err(format!(
            "{url}: {other}: links are followed over https only"
        )),
    }
}

fn client(allow_http: bool) -> Result<Client, String> {
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 5 {
            attempt.error("too many redirects")
        } else if attempt.url().scheme() == "https" || allow_http {
            attempt.follow()
        } else {
            attempt.error("a redirect to plain http")
        }
    });
    Client::builder()
        .user_agent(concat!("medseal-cli/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .timeout(Duration::from_secs(300))
        .referer(false)
        .redirect(policy)
        .build()
        .map_err(|e| format!("cannot start the HTTP client: {e}"))
}

/// Sends a request, waiting out `429 Retry-After` (up to a minute, twice); any other failure is
/// described for people.
fn send(request: impl Fn() -> reqwest::blocking::RequestBuilder) -> Result<Response, String> {
    let mut tries = 0;
    loop {
        let response = request().send().map_err(|e| {
            let mut cause: &dyn std::error::Error = &e;
            while let Some(next) = cause.source() {
                cause = next;
            }
            format!("the link's host could not be reached: {cause}")
        })?;
        let status = response.status().as_u16();
        if response.status().is_success() {
            return Ok(response);
        }
        let wait = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let body = read_text(response, 64 * 1024, "the answer").unwrap_or_default();
        let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        match status {
            401 => {
                let left = json.get("remainingAttempts").and_then(Value::as_u64);
                return Err(match left {
                    Some(0) => {
                        "wrong passcode: no attempts are left, the link is now disabled".to_owned()
                    }
                    Some(n) => {
                        format!("wrong passcode: {n} attempts left before the link is disabled")
                    }
                    None => "wrong passcode".to_owned(),
                });
            }
            404 => {
                let why = match json.get("code").and_then(Value::as_str) {
                    Some("expired") => " (it expired)",
                    Some("revoked") => " (the sharer revoked it)",
                    Some("used_up") => " (it was opened as many times as the sharer allowed)",
                    Some("disabled") => " (too many wrong passcodes)",
                    _ => "",
                };
                return Err(format!("this SMART Health Link is no longer active{why}"));
            }
            429 if tries < 2 && wait.is_some_and(|w| w <= MAX_RETRY_WAIT) => {
                tries += 1;
                std::thread::sleep(Duration::from_secs(wait.unwrap_or(1).max(1)));
            }
            429 => {
                return Err(format!(
                    "the link's host is busy: try again in {} seconds",
                    wait.unwrap_or(60)
                ));
            }
            _ => {
                let message = json
                    .get("message")
                    .and_then(Value::as_str)
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default();
                return Err(format!("the link's host answered HTTP {status}{message}"));
            }
        }
    }
}

/// Reads a text body of at most `limit` bytes.
fn read_text(response: Response, limit: u64, what: &str) -> Result<String, String> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(format!("{what} is larger than {limit} bytes"));
    }
    let mut out = Vec::new();
    response
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("reading {what} broke off: {e}"))?;
    if out.len() as u64 > limit {
        return Err(format!("{what} is larger than {limit} bytes"));
    }
    String::from_utf8(out).map_err(|_| format!("{what} is not text"))
}

/// `medseal shl revoke`: deletes a MedSeal-hosted link.
pub fn revoke(link: &str, token_file: &Path) -> Result<(), String> {
    let text = read_link(link)?;
    let url = match Link::parse(&text) {
        Ok(link) => link.url,
        Err(_) => text,
    };
    let Some((server, lid)) = url.rsplit_once("/api/shl/") else {
        return Err(format!(
            "{url}: not a MedSeal-hosted link (its url is https://HOST/api/shl/ID)"
        ));
    };
    if !medseal_core::id::is_link_id(lid) {
        return Err(format!("{lid}: not a link id"));
    }
    let token = read_secret(token_file)?;
    let token = std::str::from_utf8(&token)
        .map_err(|_| format!("{}: not a token", token_file.display()))?
        .trim()
        .to_owned();
    Server::new(server)?
        .revoke_link(lid, &token)
        .map_err(|f| f.to_string())?;
    eprintln!("medseal: the link is revoked");
    Ok(())
}
