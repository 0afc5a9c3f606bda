//! Security headers on every response, and the single-page app's static files.

use std::path::Path;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use tower_http::services::{ServeDir, ServeFile};

use crate::AppState;

/// The SHA-256 hashes (CSP source form) of the inline `<script>` blocks of an HTML page.
#[must_use]
pub fn inline_script_hashes(html: &str) -> Vec<String> {
    let mut hashes = Vec::new();
    let lower = html.to_ascii_lowercase();
    let mut pos = 0;
    while let Some(start) = lower[pos..].find("<script") {
        let tag_start = pos + start;
        let Some(tag_len) = lower[tag_start..].find('>') else {
            break;
        };
        let body_start = tag_start + tag_len + 1;
        let tag = &lower[tag_start..body_start];
        let Some(body_len) = lower[body_start..].find("</script") else {
            break;
        };
        let body = &html[body_start..body_start + body_len];
        if !tag.contains(" src=") && !tag.contains(" src =") {
            let digest = Sha256::digest(body.as_bytes());
            hashes.push(format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            ));
        }
        pos = body_start + body_len;
    }
    hashes
}

/// The Content-Security-Policy, allowing the inline scripts of `STATIC_DIR/index.html` by hash.
///
/// `connect-src` allows `https:` so that the app can fetch the manifest and files of a SMART
/// Health Link hosted elsewhere straight from the browser (ARCHITECTURE.md, "SMART Health
/// Links: fetched by the browser, not relayed"); `http:` too with `--shl-allow-http`.
#[must_use]
pub fn content_security_policy(static_dir: &Path, allow_http: bool) -> HeaderValue {
    let hashes = std::fs::read_to_string(static_dir.join("index.html"))
        .map(|html| inline_script_hashes(&html))
        .unwrap_or_default();
    let mut script_src = String::from("'self' 'wasm-unsafe-eval'");
    for hash in &hashes {
        script_src.push(' ');
        script_src.push_str(hash);
    }
    // `object-src blob:` and `frame-src blob:` let the record viewer show a decrypted PDF inline
    // from an object URL the page made itself (Chromium frames its PDF viewer); nothing from
    // another origin can be embedded.
    let connect = if allow_http {
        "'self' https: http:"
    } else {
        "'self' https:"
    };
    let policy = format!(
        "default-src 'self'; script-src {script_src}; style-src 'self'; \
         img-src 'self' blob: data:; connect-src {connect}; object-src blob:; frame-src blob:; \
         worker-src 'self' blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    );
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"))
}

/// The app's files, with index.html for every path that is not a file (client-side routes).
pub fn static_files(static_dir: &Path) -> ServeDir<ServeFile> {
    ServeDir::new(static_dir)
        .append_index_html_on_directories(true)
        .fallback(ServeFile::new(static_dir.join("index.html")))
}

/// Adds the security headers to every response, and `Cache-Control: no-store` to everything
/// but the app's static files.
pub async fn security_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let dynamic =
        path == "/api" || path.starts_with("/api/") || path == "/healthz" || path == "/metrics";
    let mut response = next.run(req).await;
    let failed = response.status().is_client_error() || response.status().is_server_error();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, state.csp.clone());
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(
            "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
        ),
    );
    if dynamic || failed {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    } else if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    if state.settings.hsts
        && let Ok(value) =
            HeaderValue::from_str(&format!("max-age={}", state.settings.hsts_max_age))
    {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, value);
    }
    headers.remove(header::SET_COOKIE);
    response
}
