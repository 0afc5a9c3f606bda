//! Tests over real HTTP on port 0.

use crate::support::{ServerProcess, TestApp, data, http_share, race_downloads, serve};

#[tokio::test]
async fn over_http_with_ranges_and_an_exact_limit() {
    let app = TestApp::new();
    let base = serve(app.state.clone()).await;
    let client = reqwest::Client::new();
    let bytes = data(10_000, 9);
    let (id, _) = http_share(&client, &base, &bytes, 100).await.unwrap();
    let url = format!("{base}/api/shares/{id}");
    let r = client
        .get(&url)
        .header("range", "bytes=5000-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    assert_eq!(&r.bytes().await.unwrap()[..], &bytes[5000..]);
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(&r.bytes().await.unwrap()[..], &bytes[..]);

    let (id, _) = http_share(&client, &base, &bytes, 5).await.unwrap();
    let ok = race_downloads(&client, &[base.clone()], &id, &bytes, 30).await;
    assert_eq!(ok, 5);
}

#[tokio::test]
async fn binary_prints_its_address_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        &[
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--static-dir",
            dir.path().join("none").to_str().unwrap(),
        ],
        &[],
    );
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("set-cookie").is_none());
    let bytes = data(3000, 10);
    let (id, _) = http_share(&client, &server.url, &bytes, 1).await.unwrap();
    let r = client
        .get(format!("{}/api/shares/{id}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(&r.bytes().await.unwrap()[..], &bytes[..]);
}

#[test]
fn help_documents_flags() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_medseal-server"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--listen",
        "--data-dir",
        "--storage",
        "--static-dir",
        "--quota",
        "MEDSEAL_LISTEN",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
}
