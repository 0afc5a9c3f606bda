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

/// Part bodies share one memory budget (`--upload-memory`): a part waits while the budget is
/// taken instead of adding its size to the server's memory, and goes through once it frees.
#[tokio::test]
async fn part_uploads_wait_for_the_upload_memory_budget() {
    // A budget of one byte still admits one whole part (1 KiB in the test settings).
    // Sixteen part uploads at once from one address: above the default per-address cap.
    let app = TestApp::with(|s| {
        s.upload_memory = 1;
        s.max_parts_per_client = 64;
    });
    let base = serve(app.state.clone()).await;
    let client = reqwest::Client::new();
    let budget = app.state.part_memory.available_permits();
    // Counted in bytes as they arrive (it was KiB reserved before the body).
    assert_eq!(budget, 1024, "one part of 1 KiB");

    // Take the whole budget: an upload must now wait, not fail and not go around it.
    let held = app
        .state
        .part_memory
        .clone()
        .acquire_many_owned(budget as u32)
        .await
        .unwrap();
    let bytes = data(3_000, 4);
    let upload = tokio::spawn({
        let (client, base, bytes) = (client.clone(), base.clone(), bytes.clone());
        async move { http_share(&client, &base, &bytes, 1).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert!(!upload.is_finished(), "the part waited for the budget");
    drop(held);
    let (id, _) = upload
        .await
        .unwrap()
        .expect("the upload completes once the budget frees");
    assert_eq!(fetch(&client, &base, &id).await, bytes);

    // Sixteen concurrent uploads through a one-part budget all complete intact.
    let uploads: Vec<_> = (0..16u8)
        .map(|i| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                let bytes = data(2_500, i);
                let (id, _) = http_share(&client, &base, &bytes, 1).await.unwrap();
                (id, bytes)
            })
        })
        .collect();
    for upload in uploads {
        let (id, bytes) = upload.await.unwrap();
        assert_eq!(fetch(&client, &base, &id).await, bytes);
    }
    assert_eq!(
        app.state.part_memory.available_permits(),
        budget,
        "the budget is whole again"
    );
}

/// Downloads a share's bytes.
async fn fetch(client: &reqwest::Client, base: &str, id: &str) -> Vec<u8> {
    let response = client
        .get(format!("{base}/api/shares/{id}"))
        .send()
        .await
        .unwrap();
    response.bytes().await.unwrap().to_vec()
}
