//! Issue 13, server side, over real HTTP on loopback: every response that can carry a share's
//! content counts as a download unless it resumes one with its token; slow and greedy clients
//! cannot stall or fill the server; the researcher deletes any contribution; HSTS.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::support::{TestApp, data, http_share, serve};

const RESUME: &str = "medseal-resume-token";

async fn status_and_code(r: reqwest::Response) -> (u16, String) {
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    (status, v["code"].as_str().unwrap_or("").to_owned())
}

/// `Range: bytes=10-` used to be a free download (only ranges from byte 0 counted, and a
/// container's first bytes are constant): a share with max_downloads=1 was read whole again
/// and again. Now any GET that carries content counts, in every Range form; HEAD does not.
#[tokio::test]
async fn every_ranged_get_counts_as_a_download_and_head_does_not() {
    let app = TestApp::new();
    let base = serve(app.state.clone()).await;
    let client = reqwest::Client::new();
    let bytes = data(10_000, 3);
    for range in [
        "bytes=10-",
        "bytes=0-",
        "bytes=-9990",
        "bytes=10-20,30-",
        "bytes=5-100",
        "items=0-",
    ] {
        let (id, _) = http_share(&client, &base, &bytes, 1).await.unwrap();
        let url = format!("{base}/api/shares/{id}");
        // HEAD first: no content, and it does not use the download up.
        let r = client.head(&url).send().await.unwrap();
        assert_eq!(r.status(), 200, "{range}");
        assert_eq!(r.headers()["content-length"], "10000");
        assert!(r.headers().get(RESUME).is_none(), "HEAD hands out no token");
        assert!(
            r.bytes().await.unwrap().is_empty(),
            "HEAD carries no content"
        );

        let r = client
            .get(&url)
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert!(
            r.status() == 200 || r.status() == 206,
            "{range}: {}",
            r.status()
        );
        assert!(
            r.headers().get(RESUME).is_some(),
            "{range}: a counted download has a token"
        );
        assert!(!r.bytes().await.unwrap().is_empty());
        // The one allowed download is used: the same trick again is refused.
        let r = client
            .get(&url)
            .header("range", range)
            .send()
            .await
            .unwrap();
        assert_eq!(status_and_code(r).await, (410, "used_up".into()), "{range}");
        let r = client.get(&url).send().await.unwrap();
        assert_eq!(status_and_code(r).await, (410, "used_up".into()), "{range}");
        let r = client.head(&url).send().await.unwrap();
        assert_eq!(r.status(), 410, "{range}");
    }
    // A made-up resume token is refused, not served and not counted.
    let (id, _) = http_share(&client, &base, &bytes, 1).await.unwrap();
    let url = format!("{base}/api/shares/{id}");
    let r = client
        .get(&url)
        .header("range", "bytes=10-")
        .header(RESUME, "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(r).await, (403, "bad_resume_token".into()));
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(&r.bytes().await.unwrap()[..], &bytes[..]);
}

/// A download cut off half way resumes with the token of the counted response and gives the
/// exact bytes, even though it was the share's last allowed download; the token fetches no
/// more than one copy, and is bound to its share.
#[tokio::test]
async fn a_cut_download_resumes_with_its_token() {
    let app = TestApp::with(|s| s.part_size = 256 * 1024);
    let base = serve(app.state.clone()).await;
    let client = reqwest::Client::new();
    // Larger than loopback socket buffers, so the cut happens while the server still sends.
    let bytes = data(24 * 1024 * 1024, 5);
    let (id, _) = http_share(&client, &base, &bytes, 1).await.unwrap();
    let (other, _) = http_share(&client, &base, &data(5000, 1), 1).await.unwrap();
    let url = format!("{base}/api/shares/{id}");

    let mut r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let token = r.headers()[RESUME].to_str().unwrap().to_owned();
    let expires: u64 = r.headers()["medseal-resume-expires"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(expires > medseal_server::objects::now());
    let mut got = Vec::new();
    while got.len() < 1024 * 1024 {
        got.extend_from_slice(&r.chunk().await.unwrap().expect("more bytes"));
    }
    drop(r); // The connection breaks off here.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Without the token it is used up.
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(status_and_code(r).await, (410, "used_up".into()));
    // The token does not open another share.
    let r = client
        .get(format!("{base}/api/shares/{other}"))
        .header("range", "bytes=10-")
        .header(RESUME, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(r).await, (403, "bad_resume_token".into()));
    // With it, the rest comes, byte for byte.
    let r = client
        .get(&url)
        .header("range", format!("bytes={}-", got.len()))
        .header(RESUME, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 206);
    assert!(
        r.headers().get(RESUME).is_none(),
        "a resume is not a new download"
    );
    got.extend_from_slice(&r.bytes().await.unwrap());
    assert_eq!(got.len(), bytes.len());
    assert!(got == bytes, "the resumed bytes are exact");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The token has fetched a whole copy's worth: asking for everything again is refused.
    let r = client
        .get(&url)
        .header("range", "bytes=0-")
        .header(RESUME, &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a token fetches at most one copy");
}

/// Reads an HTTP status from a raw socket (0 if it closed without an answer).
async fn read_status(stream: &mut tokio::net::tcp::OwnedReadHalf) -> u16 {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Opens a connection from the loopback address `from`.
async fn connect_from(from: [u8; 4], to: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// 24 part uploads that trickle a byte at a time (from three addresses) and a client that
/// trickles its headers no longer stall an honest 5 MB upload: the memory budget is taken as
/// bytes arrive, each address has at most 4 parts in flight (429), bodies slower than the
/// minimum rate are refused with 408, and headers must arrive in time.
#[tokio::test]
async fn trickling_clients_do_not_stall_an_honest_upload() {
    let app = TestApp::with(|s| {
        s.part_size = 4 * 1024 * 1024;
        s.upload_memory = 8 * 1024 * 1024;
        s.body_grace = 2;
        s.min_body_rate = 1000;
        s.max_parts_per_client = 4;
        s.header_timeout = 2;
    });
    let base = serve(app.state.clone()).await;
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let mut slow = Vec::new();
    for i in 0..24u8 {
        let created = app.create_share(4 * 1024 * 1024, 1).await;
        let id = created["id"].as_str().unwrap().to_owned();
        let token = created["upload_token"].as_str().unwrap().to_owned();
        let from = [127, 0, 0, 2 + i % 3];
        slow.push(tokio::spawn(async move {
            let stream = connect_from(from, addr).await;
            let (mut read, mut write) = stream.into_split();
            let head = format!(
                "PUT /api/shares/{id}/parts/0 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \
                 {token}\r\nContent-Length: 4194304\r\n\r\n"
            );
            write.write_all(head.as_bytes()).await.unwrap();
            let trickle = async move {
                loop {
                    if write.write_all(b"x").await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                std::future::pending::<()>().await;
            };
            tokio::select! {
                status = read_status(&mut read) => status,
                () = trickle => unreachable!(),
            }
        }));
    }
    // A client that sends its headers a byte at a time is cut off.
    let slow_headers = tokio::spawn(async move {
        let stream = connect_from([127, 0, 0, 9], addr).await;
        let (mut read, mut write) = stream.into_split();
        let trickle = async move {
            for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaa" {
                if write.write_all(&[*b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            std::future::pending::<()>().await;
        };
        tokio::select! {
            status = read_status(&mut read) => status,
            () = trickle => unreachable!(),
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;

    let client = reqwest::Client::new();
    let honest = data(5_000_000, 11);
    let (id, _) = tokio::time::timeout(
        Duration::from_secs(60),
        http_share(&client, &base, &honest, 1),
    )
    .await
    .expect("the honest upload completes despite the trickling clients")
    .expect("the honest upload succeeds");
    let r = client
        .get(format!("{base}/api/shares/{id}"))
        .send()
        .await
        .unwrap();
    assert!(r.bytes().await.unwrap() == honest);

    let mut statuses = Vec::new();
    for task in slow {
        statuses.push(
            tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .expect("every slow client gets an answer")
                .unwrap(),
        );
    }
    assert!(
        statuses.iter().all(|s| *s == 408 || *s == 429),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        12,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 408).count(),
        12,
        "{statuses:?}"
    );
    let header_status = tokio::time::timeout(Duration::from_secs(30), slow_headers)
        .await
        .expect("the slow-header connection is closed")
        .unwrap();
    assert!(
        header_status == 0 || header_status == 408,
        "{header_status}"
    );
    // Memory was accounted as it arrived and is whole again.
    assert_eq!(app.state.part_memory.available_permits(), 8 * 1024 * 1024);
}

/// One address cannot fill the global quota: past --client-quota bytes in the window it gets
/// 429 `client_quota` with Retry-After; another address still uploads.
#[tokio::test]
async fn one_address_cannot_fill_the_quota() {
    let app = TestApp::with(|s| s.client_quota = 10_000);
    let base = serve(app.state.clone()).await;
    let client = reqwest::Client::new();
    let create = |client: reqwest::Client, size: u64| {
        let base = base.clone();
        async move {
            client
                .post(format!("{base}/api/shares"))
                .json(&json!({"size": size, "expires_in": 3600, "max_downloads": 1}))
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(create(client.clone(), 8_000).await.status(), 201);
    let r = create(client.clone(), 4_000).await;
    assert!(r.headers().get("retry-after").is_some());
    assert_eq!(status_and_code(r).await, (429, "client_quota".into()));
    // Another address has its own budget.
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    assert_eq!(create(other, 4_000).await.status(), 201);
}

/// Published keys have a count quota and an expiry: past --max-keys, 507 `key_quota`; a key
/// older than --key-ttl that no live study names is swept.
#[tokio::test]
async fn published_keys_have_a_quota_and_an_expiry() {
    use rsa::pkcs8::EncodePublicKey as _;
    let app = TestApp::with(|s| {
        s.max_keys = 1;
        s.key_ttl = 0;
    });
    let base = serve(app.state.clone()).await;
    let client = reqwest::Client::new();
    let keys: Vec<Vec<u8>> = (0..2)
        .map(|_| {
            rsa::PrivateKey::new(&mut getrandom::SysRng, 3072)
                .unwrap()
                .to_public_key()
                .to_public_key_der()
                .unwrap()
                .as_bytes()
                .to_vec()
        })
        .collect();
    let put = |der: Vec<u8>| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            client
                .put(format!("{base}/api/keys"))
                .body(der)
                .send()
                .await
                .unwrap()
        }
    };
    let r = put(keys[0].clone()).await;
    assert_eq!(r.status(), 201);
    let fp = r.json::<Value>().await.unwrap()["fingerprint"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        put(keys[0].clone()).await.status(),
        200,
        "publishing again is fine"
    );
    let r = put(keys[1].clone()).await;
    assert_eq!(status_and_code(r).await, (507, "key_quota".into()));
    // One second later the key is past its zero-second life, and no study names it.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    medseal_server::sweeper::sweep(&app.state).await.unwrap();
    let r = client
        .get(format!("{base}/api/keys/{fp}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "the expired key was swept");
    assert_eq!(put(keys[1].clone()).await.status(), 201, "the quota freed");
}

/// `--hsts` sends Strict-Transport-Security; without it nothing is sent.
#[tokio::test]
async fn hsts_is_an_option() {
    let client = reqwest::Client::new();
    let app = TestApp::with(|s| {
        s.hsts = true;
        s.hsts_max_age = 600;
    });
    let base = serve(app.state.clone()).await;
    for path in ["/healthz", "/api/shares/x", "/"] {
        let r = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(
            r.headers()["strict-transport-security"],
            "max-age=600",
            "{path}"
        );
    }
    let app = TestApp::new();
    let base = serve(app.state.clone()).await;
    let r = client.get(format!("{base}/healthz")).send().await.unwrap();
    assert!(r.headers().get("strict-transport-security").is_none());
}
