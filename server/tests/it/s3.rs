//! The S3 backend against a real S3-compatible server (s3s-fs) started here on 127.0.0.1, with
//! two replicas sharing one bucket.

use std::path::PathBuf;
use std::sync::Arc;

use medseal_server::storage::s3::S3Store;
use object_store::aws::AmazonS3Builder;

use crate::support::{ServerProcess, TestApp, data, http_share, race_downloads, serve};

const ACCESS: &str = "medsealtest";
const SECRET: &str = "medsealtestsecret";
const BUCKET: &str = "medseal";

fn s3s_fs() -> PathBuf {
    if let Some(path) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("s3s-fs"))
            .find(|p| p.is_file())
    }) {
        return path;
    }
    let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let cargo_bin = home.join(".cargo/bin/s3s-fs");
    assert!(
        cargo_bin.is_file(),
        "s3s-fs is not installed, so the S3 tests cannot run. Run `cargo xtask test`, which \
         installs it, or `cargo install --locked s3s-fs --version 0.14.1 --features binary`."
    );
    cargo_bin
}

/// A running s3s-fs with one bucket; killed on drop.
struct S3Server {
    child: std::process::Child,
    endpoint: String,
    _dir: tempfile::TempDir,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl S3Server {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // s3s-fs keeps each bucket as a folder of its root: creating it creates the bucket.
        std::fs::create_dir_all(dir.path().join(BUCKET)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(s3s_fs())
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--access-key",
                ACCESS,
                "--secret-key",
                SECRET,
            ])
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        let endpoint = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Self {
            child,
            endpoint,
            _dir: dir,
        }
    }

    fn store(&self) -> Arc<S3Store> {
        let inner = AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_bucket_name(BUCKET)
            .with_access_key_id(ACCESS)
            .with_secret_access_key(SECRET)
            .with_region("us-east-1")
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            .build()
            .expect("s3 store");
        Arc::new(S3Store::new(Arc::new(inner), "replicas"))
    }
}

#[tokio::test]
async fn two_replicas_share_one_bucket() {
    let s3 = S3Server::start().await;
    // Keep used-up data a while, as in production, so streams on the other replica finish.
    let a = TestApp::with_store(s3.store(), |s| s.purge_delay = 30);
    let b = TestApp::with_store(s3.store(), |s| s.purge_delay = 30);
    let (url_a, url_b) = (serve(a.state.clone()).await, serve(b.state.clone()).await);
    let client = reqwest::Client::new();

    // Upload through one, download through the other, with a range.
    let bytes = data(5000, 11);
    let (id, revoke) = http_share(&client, &url_a, &bytes, 50).await.unwrap();
    let r = client
        .get(format!("{url_b}/api/shares/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(&r.bytes().await.unwrap()[..], &bytes[..]);
    let r = client
        .get(format!("{url_b}/api/shares/{id}"))
        .header("range", "bytes=1500-2599")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(&r.bytes().await.unwrap()[..], &bytes[1500..2600]);

    // Create-only writes hold in S3 too: a different part 0 is refused.
    let created = a.create_share(2000, 1).await;
    let sid = created["id"].as_str().unwrap();
    let bearer = format!("Bearer {}", created["upload_token"].as_str().unwrap());
    let part0 = format!("/api/shares/{sid}/parts/0");
    assert_eq!(
        a.call(
            "PUT",
            &part0,
            &[("authorization", &bearer)],
            vec![1u8; 1024]
        )
        .await
        .status,
        200
    );
    b.call(
        "PUT",
        &part0,
        &[("authorization", &bearer)],
        vec![2u8; 1024],
    )
    .await
    .expect_err(409, "part_exists");
    b.call(
        "POST",
        &format!("/api/shares/{sid}/complete"),
        &[("authorization", &bearer)],
        axum::body::Body::empty(),
    )
    .await
    .expect_err(409, "incomplete");

    // Revoke through B, gone through A.
    let r = client
        .delete(format!("{url_b}/api/shares/{id}"))
        .bearer_auth(&revoke)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    a.get(&format!("/api/shares/{id}"))
        .await
        .expect_err(410, "revoked");

    // A limit of N admits exactly N among many concurrent attempts spread over both.
    for n in [1u32, 4] {
        let bytes = data(3000, n as u8);
        let (id, _) = http_share(&client, &url_b, &bytes, n).await.unwrap();
        let ok = race_downloads(&client, &[url_a.clone(), url_b.clone()], &id, &bytes, 24).await;
        assert_eq!(ok, n as usize, "limit {n}");
    }

    // The sweeper runs on both replicas at once without harm.
    let (ra, rb) = tokio::join!(
        medseal_server::sweeper::sweep(&a.state),
        medseal_server::sweeper::sweep(&b.state)
    );
    ra.unwrap();
    rb.unwrap();
}

#[tokio::test]
async fn binary_with_s3_storage_from_the_environment() {
    let s3 = S3Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        &[
            "--storage",
            &format!("s3://{BUCKET}/bin"),
            "--data-dir",
            dir.path().to_str().unwrap(),
        ],
        &[
            ("AWS_ENDPOINT", s3.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", ACCESS),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ALLOW_HTTP", "true"),
        ],
    );
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["storage"], "s3");
    let bytes = data(100_000, 12);
    let (id, _) = http_share(&client, &server.url, &bytes, 1).await.unwrap();
    let r = client
        .get(format!("{}/api/shares/{id}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(&r.bytes().await.unwrap()[..], &bytes[..]);
    // Nothing was written to the local folder.
    assert!(!dir.path().join("objects").exists());
}
