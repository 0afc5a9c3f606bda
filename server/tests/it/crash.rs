//! SIGKILL the server while many uploads are in flight, restart it on the same folder: every
//! acknowledged upload reads back byte for byte and no unfinished one is visible.

use std::sync::{Arc, Mutex};

use crate::support::{ServerProcess, data};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fate {
    /// Some parts sent, complete never sent.
    Unfinished,
    /// Complete sent, no answer seen (may or may not have happened).
    CompleteSent,
    /// Complete answered 200.
    Acknowledged,
}

#[tokio::test]
async fn crash_during_uploads_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    let args = [
        "--data-dir",
        data_dir.as_str(),
        "--part-size",
        "65536",
        "--rate-limit",
        "1000000",
        "--rate-burst",
        "1000000",
    ];
    let mut server = ServerProcess::start(&args, &[]);
    let base = server.url.clone();
    let client = reqwest::Client::new();
    let log: Arc<Mutex<Vec<(String, usize, Fate)>>> = Arc::default();
    let mut tasks = Vec::new();
    for n in 0..48usize {
        let (client, base, log) = (client.clone(), base.clone(), Arc::clone(&log));
        tasks.push(tokio::spawn(async move {
            let len = 65536 * (1 + n % 6) + n * 7;
            let bytes = data(len, n as u8);
            let created: serde_json::Value = client
                .post(format!("{base}/api/shares"))
                .json(&serde_json::json!({"size": len, "expires_in": 3600, "max_downloads": 5}))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let id = created["id"].as_str()?.to_owned();
            let token = created["upload_token"].as_str()?.to_owned();
            log.lock().unwrap().push((id.clone(), n, Fate::Unfinished));
            for (i, part) in bytes.chunks(65536).enumerate() {
                let r = client
                    .put(format!("{base}/api/shares/{id}/parts/{i}"))
                    .bearer_auth(&token)
                    .body(part.to_vec())
                    .send()
                    .await
                    .ok()?;
                assert_eq!(r.status(), 200);
            }
            let set = |fate| {
                let mut log = log.lock().unwrap();
                if let Some(e) = log.iter_mut().find(|e| e.0 == id) {
                    e.2 = fate;
                }
            };
            set(Fate::CompleteSent);
            let r = client
                .post(format!("{base}/api/shares/{id}/complete"))
                .bearer_auth(&token)
                .send()
                .await
                .ok()?;
            if r.status() == 200 {
                set(Fate::Acknowledged);
            }
            Some(())
        }));
    }
    // Kill once some uploads are acknowledged, while the rest are in flight.
    for _ in 0..400 {
        let acked = log
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.2 == Fate::Acknowledged)
            .count();
        if acked >= 8 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    server.kill();
    for t in tasks {
        let _ = t.await;
    }
    let log = log.lock().unwrap().clone();
    let count = |f| log.iter().filter(|e| e.2 == f).count();
    println!(
        "crash test: {} acknowledged, {} complete in flight, {} unfinished",
        count(Fate::Acknowledged),
        count(Fate::CompleteSent),
        count(Fate::Unfinished)
    );
    assert!(count(Fate::Acknowledged) >= 8);
    assert!(
        count(Fate::Unfinished) > 0,
        "the kill came too late to test anything"
    );

    let server = ServerProcess::start(&args, &[]);
    for (id, n, fate) in &log {
        let len = 65536 * (1 + n % 6) + n * 7;
        let r = client
            .get(format!("{}/api/shares/{id}", server.url))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.bytes().await.unwrap();
        match (fate, status) {
            (Fate::Acknowledged | Fate::CompleteSent, 200) => {
                assert_eq!(&body[..], &data(len, *n as u8)[..], "{id}")
            }
            (Fate::Unfinished | Fate::CompleteSent, 404) => {}
            other => panic!("{id}: {other:?}"),
        }
    }
    // No temporary file survived the restart.
    assert_eq!(
        std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
        0
    );
}
