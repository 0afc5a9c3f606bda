//! SMART Health Links hosted by the server: manifests, locations, passcodes, limits.

use axum::body::Body;
use medseal_core::shl::{self, PasscodeHash};
use serde_json::{Value, json};

use crate::support::{Reply, TestApp, serve};

/// A link made as a client makes it: files encrypted with `key`, uploaded, completed.
struct Made {
    id: String,
    revoke: String,
    files: Vec<String>,
}

async fn make(app: &TestApp, key: &[u8; 32], texts: &[&[u8]], extra: Value) -> Made {
    let files: Vec<String> = texts
        .iter()
        .map(|t| shl::encrypt(key, t, shl::FHIR_JSON, true).unwrap())
        .collect();
    let mut body = json!({
        "files": files.iter().map(|f| json!({"content_type": shl::FHIR_JSON, "size": f.len()})).collect::<Vec<_>>(),
        "expires_in": 3600,
        "max_downloads": 10,
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
        b.extend(e);
    }
    let r = app.post_json("/api/shl", body).await;
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let created = r.json();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 43, "256 bits");
    assert_eq!(created["path"], format!("/api/shl/{id}"));
    let token = created["upload_token"].as_str().unwrap();
    let base = format!("/api/shl/{id}");
    let blob = files.concat();
    app.upload_and_complete(&base, token, blob.as_bytes(), 1024)
        .await;
    Made {
        id,
        revoke: created["revoke_token"].as_str().unwrap().to_owned(),
        files,
    }
}

async fn ask(app: &TestApp, id: &str, body: Value) -> Reply {
    app.call(
        "POST",
        &format!("/api/shl/{id}"),
        &[
            ("content-type", "application/json"),
            ("host", "medseal.test"),
        ],
        body.to_string(),
    )
    .await
}

#[tokio::test]
async fn manifest_embeds_small_files_and_locates_others_once() {
    let app = TestApp::new();
    let key = [5u8; 32];
    let big: Vec<u8> = (0..5000u32).flat_map(|i| i.to_le_bytes()).collect();
    let made = make(
        &app,
        &key,
        &[b"{\"resourceType\":\"Patient\"}", &big],
        json!({}),
    )
    .await;
    let r = ask(
        &app,
        &made.id,
        json!({"recipient": "Dr. Who", "embeddedLengthMax": 2000, "unknown": 1}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("access-control-allow-origin"), "*");
    assert_eq!(r.header("cache-control"), "no-store");
    let manifest = shl::parse_manifest(&r.body).unwrap();
    assert_eq!(manifest.files.len(), 2);
    assert_eq!(manifest.files[0].content_type, shl::FHIR_JSON);
    assert_eq!(
        manifest.files[0].embedded.as_deref(),
        Some(made.files[0].as_str())
    );
    let opened = shl::decrypt(&key, manifest.files[0].embedded.as_ref().unwrap(), 1 << 20).unwrap();
    assert_eq!(opened.plaintext, b"{\"resourceType\":\"Patient\"}");
    // The second is too long for the client's limit: a location, absolute, on this host.
    assert!(manifest.files[1].embedded.is_none());
    let location = manifest.files[1].location.clone().unwrap();
    let path = location
        .strip_prefix("http://medseal.test")
        .expect("absolute URL on the host");
    let r = app.get(path).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/jose");
    assert_eq!(r.header("access-control-allow-origin"), "*");
    assert_eq!(&r.body[..], made.files[1].as_bytes());
    assert_eq!(
        shl::decrypt(&key, std::str::from_utf8(&r.body).unwrap(), 1 << 20)
            .unwrap()
            .plaintext,
        big
    );
    // A location is good for one copy of its file: a second whole fetch is refused, with 404.
    app.get(path).await.expect_err(404, "not_found");
    // A ticket is bound to its file.
    let other = path.replace("/files/1?", "/files/0?");
    app.get(&other).await.expect_err(404, "not_found");
    // A share's download does not accept a link's ticket either way round, and a made-up
    // ticket is nothing.
    app.get(&format!("/api/shl/{}/files/1?ticket=nope", made.id))
        .await
        .expect_err(404, "not_found");
}

#[tokio::test]
async fn a_ranged_location_fetch_resumes_within_one_copy() {
    let app = TestApp::new();
    let key = [6u8; 32];
    let big: Vec<u8> = (0..9000u32).flat_map(|i| (i * 7).to_le_bytes()).collect();
    let made = make(&app, &key, &[&big], json!({})).await;
    let r = ask(
        &app,
        &made.id,
        json!({"recipient": "x", "embeddedLengthMax": 0}),
    )
    .await;
    let location = r.json()["files"][0]["location"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = location.strip_prefix("http://medseal.test").unwrap();
    let len = made.files[0].len();
    let half = len / 2;
    let first = app
        .call(
            "GET",
            path,
            &[("range", &format!("bytes=0-{}", half - 1))],
            Body::empty(),
        )
        .await;
    assert_eq!(first.status, 206);
    let rest = app
        .call(
            "GET",
            path,
            &[("range", &format!("bytes={half}-"))],
            Body::empty(),
        )
        .await;
    assert_eq!(rest.status, 206);
    assert_eq!(
        rest.header("content-range"),
        format!("bytes {half}-{}/{len}", len - 1)
    );
    assert_eq!(
        [&first.body[..], &rest.body[..]].concat(),
        made.files[0].as_bytes()
    );
    app.call("GET", path, &[("range", "bytes=0-0")], Body::empty())
        .await
        .expect_err(404, "not_found");
}

#[tokio::test]
async fn passcodes_are_counted_over_the_links_life_and_disable_it() {
    let app = TestApp::new();
    let key = [7u8; 32];
    let hash = PasscodeHash::new("open sesame").unwrap();
    let made = make(
        &app,
        &key,
        &[b"{\"resourceType\":\"Bundle\"}"],
        json!({"passcode": hash, "max_attempts": 3}),
    )
    .await;
    // No passcode spends nothing.
    let r = ask(&app, &made.id, json!({"recipient": "x"})).await;
    r.expect_err(401, "wrong_passcode");
    assert_eq!(r.json()["remainingAttempts"], 3);
    let r = ask(
        &app,
        &made.id,
        json!({"recipient": "x", "passcode": "guess"}),
    )
    .await;
    r.expect_err(401, "wrong_passcode");
    assert_eq!(r.json()["remainingAttempts"], 2);
    // The right one works and spends nothing.
    let r = ask(
        &app,
        &made.id,
        json!({"recipient": "x", "passcode": "open sesame"}),
    )
    .await;
    assert_eq!(r.status, 200);
    let r = ask(
        &app,
        &made.id,
        json!({"recipient": "x", "passcode": "guess 2"}),
    )
    .await;
    assert_eq!(r.json()["remainingAttempts"], 1);
    let r = ask(
        &app,
        &made.id,
        json!({"recipient": "x", "passcode": "guess 3"}),
    )
    .await;
    r.expect_err(401, "wrong_passcode");
    assert_eq!(r.json()["remainingAttempts"], 0);
    // Disabled: even the right passcode gets 404 now, and the data is gone.
    ask(
        &app,
        &made.id,
        json!({"recipient": "x", "passcode": "open sesame"}),
    )
    .await
    .expect_err(404, "disabled");
    let stored = walk(app.dir.path());
    assert!(
        !stored
            .iter()
            .any(|p| p.contains(&format!("shl/{}/p/", made.id))),
        "{stored:?}"
    );
}

#[tokio::test]
async fn parallel_guesses_never_pass_the_attempt_limit() {
    let app = TestApp::new();
    let base = serve(app.state.clone()).await;
    let hash = PasscodeHash::new("right").unwrap();
    let made = make(
        &app,
        &[8u8; 32],
        &[b"{\"resourceType\":\"Bundle\"}"],
        json!({"passcode": hash, "max_attempts": 4}),
    )
    .await;
    let client = reqwest::Client::new();
    let url = format!("{base}/api/shl/{}", made.id);
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                client
                    .post(&url)
                    .json(&json!({"recipient": "x", "passcode": format!("wrong {i}")}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let refused = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        refused <= 4,
        "{statuses:?}: at most four wrong passcodes are ever checked"
    );
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 404),
        "{statuses:?}"
    );
    let r = client
        .post(&url)
        .json(&json!({"recipient": "x", "passcode": "right"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "disabled after its attempts");
}

#[tokio::test]
async fn limits_revocation_and_expiry_all_answer_404() {
    let app = TestApp::with(|s| s.min_expiry = 1);
    let key = [9u8; 32];
    let made = make(
        &app,
        &key,
        &[b"{\"resourceType\":\"Patient\"}"],
        json!({"max_downloads": 2}),
    )
    .await;
    assert_eq!(
        ask(&app, &made.id, json!({"recipient": "a"})).await.status,
        200
    );
    assert_eq!(
        ask(&app, &made.id, json!({"recipient": "b"})).await.status,
        200
    );
    ask(&app, &made.id, json!({"recipient": "c"}))
        .await
        .expect_err(404, "used_up");

    let made = make(&app, &key, &[b"{\"resourceType\":\"Patient\"}"], json!({})).await;
    let r = app
        .call(
            "DELETE",
            &format!("/api/shl/{}", made.id),
            &[("authorization", &format!("Bearer {}", made.revoke))],
            Body::empty(),
        )
        .await;
    assert_eq!(r.status, 204);
    ask(&app, &made.id, json!({"recipient": "a"}))
        .await
        .expect_err(404, "revoked");

    let made = make(
        &app,
        &key,
        &[b"{\"resourceType\":\"Patient\"}"],
        json!({"expires_in": 1}),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    ask(&app, &made.id, json!({"recipient": "a"}))
        .await
        .expect_err(404, "expired");

    // Never existed; malformed; no recipient.
    ask(&app, &"A".repeat(43), json!({"recipient": "a"}))
        .await
        .expect_err(404, "not_found");
    ask(&app, "short", json!({"recipient": "a"}))
        .await
        .expect_err(404, "not_found");
    ask(&app, &made.id, json!({}))
        .await
        .expect_err(400, "bad_request");
}

#[tokio::test]
async fn direct_links_answer_a_get_with_the_jwe() {
    let app = TestApp::new();
    let key = [10u8; 32];
    let made = make(&app, &key, &[b"{\"resourceType\":\"Patient\"}"], json!({})).await;
    let r = app
        .get(&format!("/api/shl/{}?recipient=Dr%20B", made.id))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), "application/jose");
    assert_eq!(&r.body[..], made.files[0].as_bytes());
    app.get(&format!("/api/shl/{}", made.id))
        .await
        .expect_err(400, "bad_recipient");
    // Two files, or a passcode: not a direct link.
    let two = make(
        &app,
        &key,
        &[
            b"{\"resourceType\":\"Patient\"}",
            b"{\"resourceType\":\"Patient\"}",
        ],
        json!({}),
    )
    .await;
    app.get(&format!("/api/shl/{}?recipient=x", two.id))
        .await
        .expect_err(404, "not_found");
    let preflight = app
        .call(
            "OPTIONS",
            &format!("/api/shl/{}", made.id),
            &[
                ("origin", "https://viewer.example"),
                ("access-control-request-method", "POST"),
            ],
            Body::empty(),
        )
        .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), "*");
    assert!(
        preflight
            .header("access-control-allow-headers")
            .contains("content-type")
    );
}

#[tokio::test]
async fn uploads_that_are_not_jwe_and_bad_passcode_hashes_are_refused() {
    let app = TestApp::new();
    let r = app
        .post_json("/api/shl", json!({"files": [{"content_type": shl::FHIR_JSON, "size": 5}], "expires_in": 3600, "max_downloads": 1}))
        .await;
    let created = r.json();
    let id = created["id"].as_str().unwrap();
    let token = created["upload_token"].as_str().unwrap();
    app.send_parts(&format!("/api/shl/{id}"), token, b"hello", 1024)
        .await;
    app.call(
        "POST",
        &format!("/api/shl/{id}/complete"),
        &[("authorization", &format!("Bearer {token}"))],
        Body::empty(),
    )
    .await
    .expect_err(400, "bad_jwe");
    ask(&app, id, json!({"recipient": "x"}))
        .await
        .expect_err(404, "not_found");

    let weak = PasscodeHash {
        m: 1024,
        ..PasscodeHash::new("x").unwrap()
    };
    app.post_json("/api/shl", json!({"files": [{"content_type": shl::FHIR_JSON, "size": 5}], "expires_in": 3600, "max_downloads": 1, "passcode": weak}))
        .await
        .expect_err(400, "bad_passcode");
    app.post_json("/api/shl", json!({"files": [{"content_type": "text/html", "size": 5}], "expires_in": 3600, "max_downloads": 1}))
        .await
        .expect_err(400, "bad_content_type");
    app.post_json(
        "/api/shl",
        json!({"files": [], "expires_in": 3600, "max_downloads": 1}),
    )
    .await
    .expect_err(400, "bad_files");
    app.post_json("/api/shl", json!({"files": [{"content_type": shl::FHIR_JSON, "size": 64 << 20}], "expires_in": 3600, "max_downloads": 1}))
        .await
        .expect_err(413, "too_large");
}

/// Every file under `dir`, as paths relative to it with their contents.
fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(
                    p.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
    }
    out
}

#[tokio::test]
async fn the_server_keeps_neither_key_nor_passcode_nor_plaintext() {
    let app = TestApp::new();
    let key = [0x5au8; 32];
    let plaintext = b"{\"resourceType\":\"Patient\",\"name\":[{\"family\":\"Quixotic-Zebra\"}]}";
    let hash = PasscodeHash::new("correct horse").unwrap();
    let made = make(&app, &key, &[plaintext], json!({"passcode": hash})).await;
    assert_eq!(
        ask(
            &app,
            &made.id,
            json!({"recipient": "x", "passcode": "correct horse"})
        )
        .await
        .status,
        200
    );
    let key_b64 = medseal_core::id::b64url(&key);
    for rel in walk(app.dir.path()) {
        let bytes = std::fs::read(app.dir.path().join(&rel)).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in ["correct horse", "Quixotic-Zebra", key_b64.as_str()] {
            assert!(!text.contains(secret), "{rel} holds {secret}");
        }
        assert!(
            !bytes.windows(32).any(|w| w == key),
            "{rel} holds the raw key"
        );
    }
}

async fn post_manifest(app: &TestApp, lid: &str) -> Reply {
    app.call(
        "POST",
        &format!("/api/shl/{lid}"),
        &[
            ("origin", "https://viewer.example"),
            ("content-type", "application/json"),
        ],
        Body::from(r#"{"recipient":"r","embeddedLengthMax":null}"#),
    )
    .await
}

#[tokio::test]
async fn refusals_on_the_public_routes_are_readable_by_other_origins_rate_limits_included() {
    let app = TestApp::with(|s| {
        s.rate_limit = 0.01;
        s.rate_burst = 2.0;
    });
    let lid = "A".repeat(43);
    let first = post_manifest(&app, &lid).await;
    first.expect_err(404, "not_found");
    assert_eq!(first.header("access-control-allow-origin"), "*");
    post_manifest(&app, &lid).await;
    let limited = post_manifest(&app, &lid).await;
    limited.expect_err(429, "rate_limited");
    assert_eq!(limited.header("access-control-allow-origin"), "*");
    assert!(
        limited
            .header("access-control-expose-headers")
            .contains("retry-after")
    );
    // The sharer's own routes stay same-origin only.
    let own = app.get(&format!("/api/shl/{lid}/upload")).await;
    assert_eq!(own.header("access-control-allow-origin"), "");
}
