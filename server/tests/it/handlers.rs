//! Handler tests without a socket: the share API, bad input, headers, limits.

use axum::body::Body;
use serde_json::json;

use crate::support::{TestApp, data};

#[tokio::test]
async fn share_round_trip_with_headers() {
    let app = TestApp::new();
    let bytes = data(3000, 1);
    let created = app.create_share(bytes.len(), 3).await;
    assert_eq!(created["part_size"], 1024);
    assert_eq!(created["part_count"], 3);
    assert!(created["expires_at"].as_u64().unwrap() > 0);
    let id = created["id"].as_str().unwrap();
    assert!(medseal_core::id::is_object_id(id));
    let token = created["upload_token"].as_str().unwrap();
    let bearer = format!("Bearer {token}");
    let base = format!("/api/shares/{id}");

    // Not visible before completion.
    app.get(&base).await.expect_err(404, "not_found");

    // Parts out of order are fine; the status lists what arrived.
    for i in [2usize, 0] {
        let end = ((i + 1) * 1024).min(bytes.len());
        let r = app
            .call(
                "PUT",
                &format!("{base}/parts/{i}"),
                &[("authorization", &bearer)],
                bytes[i * 1024..end].to_vec(),
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["index"], i);
    }
    let r = app
        .call(
            "GET",
            &format!("{base}/upload"),
            &[("authorization", &bearer)],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["parts"], json!([0, 2]));
    assert_eq!(r.json()["size"], 3000);
    assert_eq!(r.json()["part_size"], 1024);

    // Completing an incomplete upload.
    app.call(
        "POST",
        &format!("{base}/complete"),
        &[("authorization", &bearer)],
        Body::empty(),
    )
    .await
    .expect_err(409, "incomplete");
    app.get(&base).await.expect_err(404, "not_found");

    let r = app
        .call(
            "PUT",
            &format!("{base}/parts/1"),
            &[("authorization", &bearer)],
            bytes[1024..2048].to_vec(),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = app
        .call(
            "POST",
            &format!("{base}/complete"),
            &[("authorization", &bearer)],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], id);
    // Completing again is harmless.
    let r = app
        .call(
            "POST",
            &format!("{base}/complete"),
            &[("authorization", &bearer)],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 200);
    // Parts can no longer change.
    app.call(
        "PUT",
        &format!("{base}/parts/1"),
        &[("authorization", &bearer)],
        bytes[1024..2048].to_vec(),
    )
    .await
    .expect_err(409, "already_complete");

    let r = app.get(&base).await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], &bytes[..]);
    assert_eq!(r.header("content-type"), "application/octet-stream");
    assert!(r.header("content-disposition").starts_with("attachment"));
    assert_eq!(r.header("cache-control"), "no-store");
    assert_eq!(r.header("content-length"), "3000");
    assert!(
        r.header("content-security-policy")
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(r.header("x-frame-options"), "DENY");
    assert_eq!(r.header("referrer-policy"), "no-referrer");
    assert_eq!(r.header("x-content-type-options"), "nosniff");
    assert_eq!(r.header("cross-origin-opener-policy"), "same-origin");
    assert!(!r.header("permissions-policy").is_empty());
    assert!(r.headers.get("set-cookie").is_none());
}

#[tokio::test]
async fn empty_share_is_one_empty_part() {
    let app = TestApp::new();
    let (id, _) = app.share(&[], 1).await;
    let r = app.get(&format!("/api/shares/{id}")).await;
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn download_limit_then_used_up_tombstone() {
    let app = TestApp::new();
    let bytes = data(2500, 2);
    let (id, revoke) = app.share(&bytes, 2).await;
    let url = format!("/api/shares/{id}");
    // HEAD does not count.
    let r = app.call("HEAD", &url, &[], Body::empty()).await;
    assert_eq!(r.status, 200);
    for _ in 0..2 {
        let r = app.get(&url).await;
        assert_eq!(r.status, 200);
        assert_eq!(&r.body[..], &bytes[..]);
    }
    app.get(&url).await.expect_err(410, "used_up");
    app.get(&url).await.expect_err(410, "used_up");
    // The data is gone: only the tombstone is left.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let left = app
        .state
        .objects
        .store
        .list(&medseal_server::storage::Key::new(&["shares"]).unwrap())
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
    // Revoking a used-up share says why it is gone.
    app.call(
        "DELETE",
        &url,
        &[("authorization", &format!("Bearer {revoke}"))],
        Body::empty(),
    )
    .await
    .expect_err(410, "used_up");
}

#[tokio::test]
async fn ranges() {
    let app = TestApp::new();
    let bytes = data(5000, 3);
    let (id, _) = app.share(&bytes, 1).await;
    let url = format!("/api/shares/{id}");
    // Every range is a download (a share's first bytes are constant, so a range that skips
    // them used to read it for free); the counted answer hands out a resume token, and only
    // requests with that token do not count.
    let r = app
        .call("GET", &url, &[("range", "bytes=1000-3999")], Body::empty())
        .await;
    assert_eq!(r.status, 206);
    assert_eq!(r.header("content-range"), "bytes 1000-3999/5000");
    assert_eq!(&r.body[..], &bytes[1000..4000]);
    let token = r.header("medseal-resume-token").to_owned();
    assert!(!token.is_empty());
    let r = app
        .call(
            "GET",
            &url,
            &[("range", "bytes=-10"), ("medseal-resume-token", &token)],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 206);
    assert_eq!(&r.body[..], &bytes[4990..]);
    let r = app
        .call(
            "GET",
            &url,
            &[("range", "bytes=4000-"), ("medseal-resume-token", &token)],
            Body::empty(),
        )
        .await;
    assert_eq!(&r.body[..], &bytes[4000..]);
    let r = app
        .call(
            "GET",
            &url,
            &[("range", "bytes=9000-"), ("medseal-resume-token", &token)],
            Body::empty(),
        )
        .await;
    r.expect_err(416, "bad_range");
    assert_eq!(r.header("content-range"), "bytes */5000");
    // Without the token the one allowed download is used up, whatever the range.
    app.call("GET", &url, &[("range", "bytes=0-99")], Body::empty())
        .await
        .expect_err(410, "used_up");
    app.get(&url).await.expect_err(410, "used_up");
}

#[tokio::test]
async fn revoke_tokens() {
    let app = TestApp::new();
    let (id, revoke) = app.share(&data(10, 4), 5).await;
    let url = format!("/api/shares/{id}");
    app.call("DELETE", &url, &[], Body::empty())
        .await
        .expect_err(401, "missing_token");
    app.call(
        "DELETE",
        &url,
        &[("authorization", "Bearer nope")],
        Body::empty(),
    )
    .await
    .expect_err(403, "bad_token");
    app.call(
        "DELETE",
        &url,
        &[("authorization", "Basic abc")],
        Body::empty(),
    )
    .await
    .expect_err(403, "bad_token");
    assert_eq!(
        app.get(&url).await.status,
        200,
        "failed deletes change nothing"
    );
    let r = app
        .call(
            "DELETE",
            &url,
            &[("authorization", &format!("Bearer {revoke}"))],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 204);
    app.get(&url).await.expect_err(410, "revoked");
    // A reused token finds the share gone.
    app.call(
        "DELETE",
        &url,
        &[("authorization", &format!("Bearer {revoke}"))],
        Body::empty(),
    )
    .await
    .expect_err(410, "revoked");
}

#[tokio::test]
async fn identifiers_and_paths() {
    let app = TestApp::new();
    app.get("/api/shares/abc").await.expect_err(400, "bad_id");
    app.get("/api/shares/..%2F..%2Fetc%2Fpasswd")
        .await
        .expect_err(400, "bad_id");
    app.get("/api/shares/....................AA")
        .await
        .expect_err(400, "bad_id");
    app.get("/api/shares/AAAAAAAAAAAAAAAAAAAAAA")
        .await
        .expect_err(404, "not_found");
    app.get("/api/shares/AAAAAAAAAAAAAAAAAAAAA%00")
        .await
        .expect_err(400, "bad_id");
    app.get("/api/nothing/here")
        .await
        .expect_err(404, "no_route");
    app.call("PATCH", "/api/shares", &[], Body::empty())
        .await
        .expect_err(405, "method_not_allowed");
    app.call(
        "PUT",
        "/api/shares/AAAAAAAAAAAAAAAAAAAAAA/parts/0",
        &[("authorization", "Bearer x")],
        Body::empty(),
    )
    .await
    .expect_err(404, "not_found");
}

#[tokio::test]
async fn parts_are_checked() {
    let app = TestApp::new();
    let created = app.create_share(1500, 1).await;
    let id = created["id"].as_str().unwrap();
    let bearer = format!("Bearer {}", created["upload_token"].as_str().unwrap());
    let auth = [("authorization", bearer.as_str())];
    let part = |i: &str| format!("/api/shares/{id}/parts/{i}");
    app.call("PUT", &part("0"), &[], vec![0u8; 1024])
        .await
        .expect_err(401, "missing_token");
    app.call(
        "PUT",
        &part("0"),
        &[("authorization", "Bearer wrong")],
        vec![0u8; 1024],
    )
    .await
    .expect_err(403, "bad_token");
    app.call("PUT", &part("2"), &auth, vec![0u8; 10])
        .await
        .expect_err(400, "bad_index");
    app.call("PUT", &part("-1"), &auth, vec![0u8; 10])
        .await
        .expect_err(400, "bad_index");
    app.call("PUT", &part("x"), &auth, vec![0u8; 10])
        .await
        .expect_err(400, "bad_index");
    app.call("PUT", &part("0"), &auth, vec![0u8; 1000])
        .await
        .expect_err(400, "bad_part_size");
    app.call("PUT", &part("0"), &auth, vec![0u8; 5000])
        .await
        .expect_err(413, "too_large");
    app.call("PUT", &part("1"), &auth, vec![0u8; 1024])
        .await
        .expect_err(400, "bad_part_size");
    assert_eq!(
        app.call("PUT", &part("0"), &auth, vec![7u8; 1024])
            .await
            .status,
        200
    );
    // The same bytes again (a retry) succeed; different bytes for the same part do not.
    assert_eq!(
        app.call("PUT", &part("0"), &auth, vec![7u8; 1024])
            .await
            .status,
        200
    );
    app.call("PUT", &part("0"), &auth, vec![8u8; 1024])
        .await
        .expect_err(409, "part_exists");
    // The upload token cannot delete; the revoke token cannot upload.
    app.call("DELETE", &format!("/api/shares/{id}"), &auth, Body::empty())
        .await
        .expect_err(403, "bad_token");
    let revoke = format!("Bearer {}", created["revoke_token"].as_str().unwrap());
    app.call(
        "PUT",
        &part("1"),
        &[("authorization", &revoke)],
        vec![0u8; 476],
    )
    .await
    .expect_err(403, "bad_token");
}

#[tokio::test]
async fn create_is_validated() {
    let app = TestApp::with(|s| {
        s.max_object_size = 10_000;
        s.max_request_body = 200;
    });
    let create = |v| app.post_json("/api/shares", v);
    create(json!({"size": 10, "expires_in": 10, "max_downloads": 1}))
        .await
        .expect_err(400, "bad_expiry");
    create(json!({"size": 10, "expires_in": 99_999_999, "max_downloads": 1}))
        .await
        .expect_err(400, "bad_expiry");
    create(json!({"size": 10, "expires_in": 3600, "max_downloads": 0}))
        .await
        .expect_err(400, "bad_max_downloads");
    create(json!({"size": 10, "expires_in": 3600, "max_downloads": 101}))
        .await
        .expect_err(400, "bad_max_downloads");
    create(json!({"size": 10_001, "expires_in": 3600, "max_downloads": 1}))
        .await
        .expect_err(413, "too_large");
    create(json!({"size": -1, "expires_in": 3600, "max_downloads": 1}))
        .await
        .expect_err(400, "bad_request");
    create(json!({"expires_in": 3600, "max_downloads": 1}))
        .await
        .expect_err(400, "bad_request");
    app.call("POST", "/api/shares", &[], "{not json")
        .await
        .expect_err(400, "bad_request");
    app.call("POST", "/api/shares", &[], vec![b' '; 201])
        .await
        .expect_err(413, "too_large");
}

#[tokio::test]
async fn expiry_buries_the_share() {
    let app = TestApp::with(|s| s.min_expiry = 1);
    let r = app
        .post_json(
            "/api/shares",
            json!({"size": 5, "expires_in": 1, "max_downloads": 3}),
        )
        .await;
    let created = r.json();
    let id = created["id"].as_str().unwrap();
    let base = format!("/api/shares/{id}");
    app.send_parts(
        &base,
        created["upload_token"].as_str().unwrap(),
        b"hello",
        1024,
    )
    .await;
    let bearer = format!("Bearer {}", created["upload_token"].as_str().unwrap());
    assert_eq!(
        app.call(
            "POST",
            &format!("{base}/complete"),
            &[("authorization", &bearer)],
            Body::empty()
        )
        .await
        .status,
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    app.get(&base).await.expect_err(410, "expired");
    app.call(
        "PUT",
        &format!("{base}/parts/0"),
        &[("authorization", &bearer)],
        "hello",
    )
    .await
    .expect_err(410, "expired");
}

#[tokio::test]
async fn quota_and_rate_limits() {
    let app = TestApp::with(|s| s.quota = 3000);
    app.share(&data(2048, 5), 1).await;
    let r = app
        .post_json(
            "/api/shares",
            json!({"size": 2000, "expires_in": 3600, "max_downloads": 1}),
        )
        .await;
    r.expect_err(507, "quota_exceeded");

    let app = TestApp::with(|s| {
        s.rate_limit = 0.01;
        s.rate_burst = 3.0;
    });
    for _ in 0..3 {
        app.get("/api/shares/AAAAAAAAAAAAAAAAAAAAAA")
            .await
            .expect_err(404, "not_found");
    }
    let r = app.get("/api/shares/AAAAAAAAAAAAAAAAAAAAAA").await;
    r.expect_err(429, "rate_limited");
    assert!(r.header("retry-after").parse::<u64>().unwrap() >= 1);
    // The app itself is not rate limited.
    assert_ne!(app.get("/healthz").await.status, 429);
}

#[tokio::test]
async fn ops_endpoints_and_spa() {
    let app = TestApp::with(|s| {
        let dist = s.data_dir.join("dist");
        std::fs::create_dir_all(dist.join("assets")).unwrap();
        std::fs::write(
            dist.join("index.html"),
            "<html><head><script type=\"module\">import init from '/app.js';init();</script>\
             <script src=\"/x.js\"></script></head><body></body></html>",
        )
        .unwrap();
        std::fs::write(dist.join("assets/app.js"), "console.log(1)").unwrap();
        s.static_dir = dist;
    });
    let r = app.get("/healthz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    app.share(&data(100, 6), 1).await;
    let r = app.get("/metrics").await;
    assert_eq!(r.status, 200);
    let text = String::from_utf8_lossy(&r.body);
    assert!(text.contains("medseal_uploads_completed_total 1"), "{text}");
    assert!(text.contains("medseal_bytes_received_total 100"), "{text}");

    let r = app.get("/api/openapi.json").await;
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/shares",
        "/api/shares/{id}",
        "/api/shares/{id}/parts/{index}",
        "/api/keys",
        "/api/studies/{sid}/bundle",
        "/healthz",
        "/metrics",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from OpenAPI"
        );
    }

    // Client-side routes get index.html, with the inline script's hash in the CSP.
    for path in ["/", "/s/AAAAAAAAAAAAAAAAAAAAAA", "/revoke/abc"] {
        let r = app.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(String::from_utf8_lossy(&r.body).contains("import init"));
        let csp = r.header("content-security-policy");
        assert!(csp.contains("'sha256-"), "{csp}");
        assert!(csp.contains("'wasm-unsafe-eval'"));
        assert_eq!(r.header("x-frame-options"), "DENY");
    }
    let r = app.get("/assets/app.js").await;
    assert_eq!(r.status, 200);
    assert_eq!(&r.body[..], b"console.log(1)");
    // Traversal out of the static folder finds nothing outside it.
    let r = app.get("/../../etc/passwd").await;
    assert!(!String::from_utf8_lossy(&r.body).contains("root:"));
    // Errors carry the headers too.
    let r = app.get("/api/shares/bad").await;
    assert!(
        r.header("content-security-policy")
            .contains("default-src 'self'")
    );
    assert_eq!(r.header("cache-control"), "no-store");
}

#[tokio::test]
async fn concurrent_delete_and_download() {
    let app = TestApp::new();
    let bytes = data(64 * 1024, 7);
    let (id, revoke) = app.share(&bytes, 100).await;
    let url = format!("/api/shares/{id}");
    let mut tasks = Vec::new();
    for i in 0..20 {
        let router = app.router.clone();
        let url = url.clone();
        let revoke = revoke.clone();
        tasks.push(tokio::spawn(async move {
            use tower::ServiceExt as _;
            let mut req = axum::http::Request::builder().uri(&url);
            if i == 10 {
                req = req
                    .method("DELETE")
                    .header("authorization", format!("Bearer {revoke}"));
            }
            let res = router
                .oneshot(req.body(Body::empty()).unwrap())
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body = axum::body::to_bytes(res.into_body(), usize::MAX).await;
            (i, status, body)
        }));
    }
    for t in tasks {
        let (i, status, body) = t.await.unwrap();
        if i == 10 {
            assert_eq!(status, 204);
        } else {
            match (status, body) {
                // A download either gets every byte, fails outright, or is cut off (an error,
                // never wrong bytes).
                (200, Ok(b)) => assert_eq!(&b[..], &bytes[..]),
                (200, Err(_)) | (410, _) => {}
                other => panic!("unexpected {:?}", other.0),
            }
        }
    }
    app.get(&url).await.expect_err(410, "revoked");
}
