//! Helpers shared by the server tests.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use bytes::Bytes;
use medseal_server::settings::Settings;
use medseal_server::storage::Store;
use medseal_server::{AppState, app};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// Settings for tests: small parts, no rate limit in the way.
pub fn settings(dir: &std::path::Path) -> Settings {
    let mut s = Settings::for_tests(dir.to_path_buf());
    s.part_size = 1024;
    s.rate_limit = 1e9;
    s.rate_burst = 1e9;
    s.purge_delay = 0;
    s
}

/// An app over a local store in a temporary folder, called without a socket.
pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub dir: tempfile::TempDir,
}

/// A response's parts.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or("").to_owned()
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    /// Asserts status and error code.
    #[track_caller]
    pub fn expect_err(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status.as_u16(), self.code().as_str()),
            (status, code),
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
    }
}

impl TestApp {
    pub fn new() -> Self {
        Self::with(|_| {})
    }

    pub fn with(tweak: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = settings(dir.path());
        tweak(&mut s);
        let state = AppState::new(s).expect("state");
        Self::from_state(state, dir)
    }

    pub fn with_store(store: Arc<dyn Store>, tweak: impl FnOnce(&mut Settings)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = settings(dir.path());
        tweak(&mut s);
        Self::from_state(AppState::with_store(s, store), dir)
    }

    fn from_state(state: AppState, dir: tempfile::TempDir) -> Self {
        Self {
            router: app(state.clone()),
            state,
            dir,
        }
    }

    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = self
            .router
            .clone()
            .oneshot(req.body(body.into()).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap_or_default();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.call("GET", uri, &[], Body::empty()).await
    }

    pub async fn post_json(&self, uri: &str, value: Value) -> Reply {
        self.call(
            "POST",
            uri,
            &[("content-type", "application/json")],
            value.to_string(),
        )
        .await
    }

    /// Creates a share and returns its creation answer.
    pub async fn create_share(&self, size: usize, max_downloads: u32) -> Value {
        let r = self
            .post_json(
                "/api/shares",
                json!({"size": size, "expires_in": 3600, "max_downloads": max_downloads}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    }

    /// Uploads every part of `data` to an upload under `base` and completes it, asserting
    /// that the server accepts it.
    pub async fn upload_and_complete(
        &self,
        base: &str,
        token: &str,
        data: &[u8],
        part_size: usize,
    ) {
        self.send_parts(base, token, data, part_size).await;
        let r = self
            .call(
                "POST",
                &format!("{base}/complete"),
                &[("authorization", &format!("Bearer {token}"))],
                Body::empty(),
            )
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }

    /// Uploads every part of `data` to an upload under `base` (`/api/shares/ID`).
    pub async fn send_parts(&self, base: &str, token: &str, data: &[u8], part_size: usize) {
        let bearer = format!("Bearer {token}");
        let parts: Vec<&[u8]> = if data.is_empty() {
            vec![&[]]
        } else {
            data.chunks(part_size).collect()
        };
        for (i, part) in parts.iter().enumerate() {
            let r = self
                .call(
                    "PUT",
                    &format!("{base}/parts/{i}"),
                    &[("authorization", &bearer)],
                    part.to_vec(),
                )
                .await;
            assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        }
    }

    /// Creates, uploads and completes a share; returns (id, revoke token).
    pub async fn share(&self, data: &[u8], max_downloads: u32) -> (String, String) {
        let created = self.create_share(data.len(), max_downloads).await;
        let id = created["id"].as_str().expect("id").to_owned();
        let token = created["upload_token"].as_str().expect("token").to_owned();
        let part_size = usize::try_from(created["part_size"].as_u64().expect("ps")).expect("ps");
        let base = format!("/api/shares/{id}");
        self.upload_and_complete(&base, &token, data, part_size)
            .await;
        (id, created["revoke_token"].as_str().expect("rt").to_owned())
    }
}

/// Deterministic test bytes.
pub fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// A server process started from the built binary.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub url: String,
}

impl ServerProcess {
    /// Starts `medseal-server` with `args` and extra environment, and reads the port from its
    /// one stdout line.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        use std::io::BufRead as _;
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_medseal-server"));
        cmd.args(["--listen", "127.0.0.1:0"]).args(args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .env("MEDSEAL_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn medseal-server");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let url = line
            .trim()
            .strip_prefix("MedSeal listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        Self { child, url }
    }

    /// SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Peak resident memory (VmHWM) in KiB, from /proc.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Serves an app on 127.0.0.1:0 in this process, through the server's own connection loop
/// (header timeout included); returns its base URL.
pub async fn serve(state: AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let timeout = std::time::Duration::from_secs(state.settings.header_timeout);
    let router = app(state);
    tokio::spawn(async move {
        let _ =
            medseal_server::limits::serve(listener, router, timeout, std::future::pending()).await;
    });
    format!("http://{addr}")
}

/// Creates, uploads and completes a share over HTTP; returns (id, revoke token).
pub async fn http_share(
    client: &reqwest::Client,
    base: &str,
    data: &[u8],
    max_downloads: u32,
) -> Result<(String, String), String> {
    let created: Value = client
        .post(format!("{base}/api/shares"))
        .json(&json!({"size": data.len(), "expires_in": 3600, "max_downloads": max_downloads}))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let id = created["id"].as_str().ok_or("no id")?.to_owned();
    let token = created["upload_token"]
        .as_str()
        .ok_or("no token")?
        .to_owned();
    let part_size = created["part_size"].as_u64().ok_or("no part size")? as usize;
    let parts: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(part_size).collect()
    };
    for (i, part) in parts.into_iter().enumerate() {
        let r = client
            .put(format!("{base}/api/shares/{id}/parts/{i}"))
            .bearer_auth(&token)
            .body(part.to_vec())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status() != 200 {
            return Err(format!("part {i}: {}", r.status()));
        }
    }
    let r = client
        .post(format!("{base}/api/shares/{id}/complete"))
        .bearer_auth(&token)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if r.status() != 200 {
        return Err(format!("complete: {}", r.status()));
    }
    Ok((
        id,
        created["revoke_token"].as_str().ok_or("no rt")?.to_owned(),
    ))
}

/// Downloads `count` times concurrently from the given base URLs in turn; returns how many
/// got every byte and checks that all others were refused with 410 `used_up`.
pub async fn race_downloads(
    client: &reqwest::Client,
    bases: &[String],
    id: &str,
    expected: &[u8],
    count: usize,
) -> usize {
    let mut tasks = Vec::new();
    for i in 0..count {
        let url = format!("{}/api/shares/{id}", bases[i % bases.len()]);
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let r = client.get(url).send().await.expect("send");
            let status = r.status().as_u16();
            let body = r.bytes().await.expect("body");
            (status, body)
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (status, body) = t.await.expect("task");
        match status {
            200 => {
                assert_eq!(&body[..], expected);
                ok += 1;
            }
            410 => {
                let v: Value = serde_json::from_slice(&body).expect("json");
                assert_eq!(v["code"], "used_up");
            }
            other => panic!(
                "unexpected status {other}: {}",
                String::from_utf8_lossy(&body)
            ),
        }
    }
    ok
}
