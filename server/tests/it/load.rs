//! A bounded load test on loopback: many concurrent uploads and downloads, every byte checked,
//! throughput and the server's peak memory reported. MEDSEAL_LOAD_MB (default 64) sets the
//! total bytes uploaded; MEDSEAL_LOAD_CLIENTS (default 32) the concurrency.

use std::time::Instant;

use sha2::{Digest as _, Sha256};

use crate::support::{ServerProcess, data, http_share};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_uploads_and_downloads() {
    let total_mb = env_usize("MEDSEAL_LOAD_MB", 64);
    let clients = env_usize("MEDSEAL_LOAD_CLIENTS", 32);
    let per_client = (total_mb << 20) / clients;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        &[
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--part-size",
            "1048576",
            "--rate-limit",
            "1000000",
            "--rate-burst",
            "1000000",
            // Every client is 127.0.0.1 here: lift the per-address cap on parts in flight.
            "--max-parts-per-client",
            "1000",
        ],
        &[],
    );
    let client = reqwest::Client::new();
    let base = server.url.clone();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..clients {
        let (client, base) = (client.clone(), base.clone());
        tasks.push(tokio::spawn(async move {
            let bytes = data(per_client + n, n as u8);
            let (id, _) = http_share(&client, &base, &bytes, 2).await.expect("upload");
            (id, Sha256::digest(&bytes), bytes.len())
        }));
    }
    let mut shares = Vec::new();
    for t in tasks {
        shares.push(t.await.unwrap());
    }
    let up_secs = started.elapsed().as_secs_f64();
    let bytes_total: usize = shares.iter().map(|s| s.2).sum();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for round in 0..2 {
        for (id, digest, len) in &shares {
            let (client, url, digest, len) = (
                client.clone(),
                format!("{base}/api/shares/{id}"),
                *digest,
                *len,
            );
            let _ = round;
            tasks.push(tokio::spawn(async move {
                use futures::StreamExt as _;
                let r = client.get(url).send().await.expect("get");
                assert_eq!(r.status(), 200);
                let mut hasher = Sha256::new();
                let mut got = 0;
                let mut stream = r.bytes_stream();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.expect("chunk");
                    got += chunk.len();
                    hasher.update(&chunk);
                }
                assert_eq!(got, len);
                assert_eq!(hasher.finalize(), digest);
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let down_secs = started.elapsed().as_secs_f64();
    let peak_mib = server.peak_rss_kib().unwrap_or(0) / 1024;
    let mb = bytes_total as f64 / 1e6;
    println!(
        "load test: {clients} clients, {mb:.1} MB up in {up_secs:.2}s ({:.0} MB/s), \
         {:.1} MB down in {down_secs:.2}s ({:.0} MB/s), server peak RSS {peak_mib} MiB",
        mb / up_secs,
        2.0 * mb,
        2.0 * mb / down_secs
    );
    // Memory stays bounded: parts are at most 1 MiB each, downloads stream.
    assert!(peak_mib < 400, "peak RSS {peak_mib} MiB");
    // Every share reached its limit and is gone.
    let r = client
        .get(format!("{base}/api/shares/{}", shares[0].0))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
}
