//! The OpenAPI document against the server's real answers: regressions for what schemathesis
//! (`server/schemathesis.sh`) found.

use axum::body::Body;
use serde_json::Value;

use crate::support::TestApp;

async fn document(app: &TestApp) -> Value {
    let r = app.get("/api/openapi.json").await;
    assert_eq!(r.status, 200);
    r.json()
}

/// The statuses documented for `method path` (path as a template).
fn documented(doc: &Value, method: &str, template: &str) -> Vec<u16> {
    let op = &doc["paths"][template][method.to_ascii_lowercase()];
    assert!(op.is_object(), "{method} {template} is not documented");
    op["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.parse().unwrap())
        .collect()
}

/// Makes the request and checks that its status is documented and its error body is
/// `{code, message}` JSON.
async fn conforms(app: &TestApp, doc: &Value, method: &str, uri: &str, template: &str) -> u16 {
    let r = app.call(method, uri, &[], Body::empty()).await;
    let status = r.status.as_u16();
    let statuses = documented(doc, method, template);
    assert!(
        statuses.contains(&status),
        "{method} {uri}: {status} is not among {statuses:?}"
    );
    if status >= 400 {
        assert_eq!(
            r.header("content-type"),
            "application/json",
            "{method} {uri}"
        );
        assert!(!r.code().is_empty(), "{method} {uri}");
    }
    status
}

/// Schemathesis: malformed identifiers (400 `bad_id`) and missing tokens (401) were answered
/// by operations that did not document them.
#[tokio::test]
async fn bad_ids_and_missing_tokens_are_documented() {
    let app = TestApp::new();
    let doc = document(&app).await;
    let cases = [
        ("DELETE", "/api/shares/0", "/api/shares/{id}"),
        ("GET", "/api/shares/0/upload", "/api/shares/{id}/upload"),
        (
            "POST",
            "/api/shares/0/complete",
            "/api/shares/{id}/complete",
        ),
        (
            "PUT",
            "/api/shares/0/parts/0",
            "/api/shares/{id}/parts/{index}",
        ),
        ("GET", "/api/studies/0", "/api/studies/{sid}"),
        ("GET", "/api/studies/0/bundle", "/api/studies/{sid}/bundle"),
        (
            "GET",
            "/api/studies/0/contributions",
            "/api/studies/{sid}/contributions",
        ),
        (
            "POST",
            "/api/studies/0/contributions",
            "/api/studies/{sid}/contributions",
        ),
        (
            "GET",
            "/api/studies/0/contributions/0",
            "/api/studies/{sid}/contributions/{cid}",
        ),
        (
            "DELETE",
            "/api/studies/0/contributions/0",
            "/api/studies/{sid}/contributions/{cid}",
        ),
        (
            "GET",
            "/api/studies/0/contributions/0/upload",
            "/api/studies/{sid}/contributions/{cid}/upload",
        ),
        (
            "POST",
            "/api/studies/0/contributions/0/complete",
            "/api/studies/{sid}/contributions/{cid}/complete",
        ),
        (
            "PUT",
            "/api/studies/0/contributions/0/parts/0",
            "/api/studies/{sid}/contributions/{cid}/parts/{index}",
        ),
    ];
    for (method, uri, template) in cases {
        assert_eq!(conforms(&app, &doc, method, uri, template).await, 400);
    }
    // A well-formed identifier without a token: 401 before anything is looked up.
    let id = "A".repeat(22);
    for (method, uri, template) in [
        (
            "GET",
            format!("/api/shares/{id}/upload"),
            "/api/shares/{id}/upload",
        ),
        (
            "POST",
            format!("/api/shares/{id}/complete"),
            "/api/shares/{id}/complete",
        ),
        ("DELETE", format!("/api/shares/{id}"), "/api/shares/{id}"),
        (
            "GET",
            format!("/api/studies/{id}/bundle"),
            "/api/studies/{sid}/bundle",
        ),
    ] {
        assert_eq!(conforms(&app, &doc, method, &uri, template).await, 401);
    }
    // Of a real upload too (the stateful case schemathesis found).
    let share = app.create_share(10, 1).await;
    let uri = format!("/api/shares/{}/upload", share["id"].as_str().unwrap());
    assert_eq!(
        conforms(&app, &doc, "GET", &uri, "/api/shares/{id}/upload").await,
        401
    );
}

/// Operation ids were duplicated between shares and studies (`create`, `put_part`, ...);
/// every `/api` operation documents 429 and 500, every path parameter its exact shape.
#[tokio::test]
async fn document_is_consistent() {
    let app = TestApp::new();
    let doc = document(&app).await;
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap().to_owned();
            assert!(ids.insert(id.clone()), "operationId {id} is used twice");
            let responses = op["responses"].as_object().unwrap();
            if path.starts_with("/api/") {
                for status in ["429", "500"] {
                    assert!(responses.contains_key(status), "{method} {path}: {status}");
                }
            }
            for param in op["parameters"].as_array().into_iter().flatten() {
                if param["in"] == "path" && param["schema"]["type"] != "integer" {
                    assert!(
                        param["schema"]["pattern"].is_string(),
                        "{method} {path}: {param}"
                    );
                    assert!(responses.contains_key("400"), "{method} {path}");
                }
            }
        }
    }
    // healthz answers 500 when storage fails (API.md), not the 503 the document said.
    assert!(documented(&doc, "GET", "/healthz").contains(&500));
    // Request bounds come from the server's settings.
    let expires = &doc["components"]["schemas"]["CreateShare"]["properties"]["expires_in"];
    assert_eq!(expires["minimum"], app.state.settings.min_expiry);
    assert_eq!(expires["maximum"], app.state.settings.max_expiry);
    let mut linked = std::collections::BTreeSet::new();
    for (template, method) in [
        ("/api/shares", "post"),
        ("/api/studies", "post"),
        ("/api/studies/{sid}/contributions", "post"),
    ] {
        let links = &doc["paths"][template][method]["responses"]["201"]["links"];
        for link in links.as_object().unwrap().values() {
            let target = link["operationId"].as_str().unwrap();
            assert!(ids.contains(target), "link to unknown operation {target}");
            linked.insert(target.to_owned());
        }
    }
    // Issue 18: study creation leads to every study and contribution operation.
    for id in &ids {
        if id.starts_with("studies_") && id != "studies_create" {
            assert!(linked.contains(id), "no link leads to {id}");
        }
    }
}

/// Issue 18: the fingerprint pattern is exactly what the parser accepts. The last of 43
/// base64url characters carries 2 unused bits that the strict decoder wants zero, so the
/// pattern's last class is derived here from the parser over every character.
#[tokio::test]
async fn fingerprint_pattern_matches_the_parser() {
    use medseal_server::handlers::keys::parse_fingerprint;
    use medseal_server::openapi::FINGERPRINT_PATTERN;
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let accepted: String = ALPHABET
        .chars()
        .filter(|c| parse_fingerprint(&format!("{}{c}", "A".repeat(42))).is_ok())
        .collect();
    assert_eq!(
        FINGERPRINT_PATTERN,
        format!("^([A-Za-z0-9_-]{{42}}[{accepted}]|[0-9a-fA-F]{{64}})$")
    );
    // Every base64url character is accepted in the first 42 places.
    for c in ALPHABET.chars() {
        assert!(parse_fingerprint(&format!("{}{c}A", c.to_string().repeat(41))).is_ok());
    }
    // Hex of any case, and nothing of other lengths.
    assert!(parse_fingerprint(&"aF09".repeat(16)).is_ok());
    for bad in [
        "A".repeat(42),
        "A".repeat(44),
        "a".repeat(63),
        "a".repeat(65),
        "g".repeat(64),
    ] {
        assert!(parse_fingerprint(&bad).is_err(), "{bad}");
    }
    let app = TestApp::new();
    let doc = document(&app).await;
    let param = &doc["paths"]["/api/keys/{fingerprint}"]["get"]["parameters"][0];
    assert_eq!(param["schema"]["pattern"], FINGERPRINT_PATTERN);
    // What the pattern allows is 404 (nothing published), never 400.
    let r = app.get(&format!("/api/keys/{}w", "A".repeat(42))).await;
    r.expect_err(404, "not_found");
    let r = app.get(&format!("/api/keys/{}B", "A".repeat(42))).await;
    r.expect_err(400, "bad_id");
}

/// Issue 18: `POST /api/keys` is served (API.md: "PUT, or POST") and declared.
#[tokio::test]
async fn post_keys_is_declared() {
    let app = TestApp::new();
    let doc = document(&app).await;
    let put = documented(&doc, "PUT", "/api/keys");
    let post = documented(&doc, "POST", "/api/keys");
    assert_eq!(put, post);
    assert_eq!(
        doc["paths"]["/api/keys"]["post"]["operationId"],
        "keys_publish_post"
    );
    let r = app
        .call("POST", "/api/keys", &[], Body::from("not a key"))
        .await;
    r.expect_err(400, "bad_key");
}

/// Issue 18: integer fields take integer-valued numbers (`40.0` is a JSON Schema integer) and
/// refuse fractions, negatives and values out of range with 400.
#[tokio::test]
async fn integer_valued_numbers_are_integers() {
    let app = TestApp::new();
    let ok = app
        .post_json(
            "/api/shares",
            serde_json::json!({"size": 10.0, "expires_in": 3600.0, "max_downloads": 40.0}),
        )
        .await;
    assert_eq!(ok.status, 201, "{:?}", ok.body);
    for (field, value) in [
        ("max_downloads", serde_json::json!(40.5)),
        ("max_downloads", serde_json::json!(-1)),
        ("max_downloads", serde_json::json!(-1.0)),
        ("max_downloads", serde_json::json!(4_294_967_296_u64)),
        ("max_downloads", serde_json::json!(1e300)),
        ("size", serde_json::json!(0.5)),
        ("expires_in", serde_json::json!("3600")),
    ] {
        let mut body = serde_json::json!({"size": 10, "expires_in": 3600, "max_downloads": 1});
        body[field] = value.clone();
        let r = app.post_json("/api/shares", body).await;
        r.expect_err(400, "bad_request");
        let message = r.json()["message"].as_str().unwrap().to_owned();
        assert!(
            ["integer", "range", "negative"]
                .iter()
                .any(|w| message.contains(w)),
            "{field}={value}: {message}"
        );
    }
}

/// Issue 18: every operation that reads a body declares 413 and 408, every one with a token
/// 401 and 403, and every 429 carries `Retry-After`; the server's 413 for a size above the
/// declared maximum is among them.
#[tokio::test]
async fn statuses_the_server_can_send_are_declared() {
    let app = TestApp::new();
    let doc = document(&app).await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            if op.get("requestBody").is_some() {
                for status in ["408", "413"] {
                    assert!(responses.contains_key(status), "{method} {path}: {status}");
                }
            }
            if op.get("security").is_some() {
                for status in ["401", "403"] {
                    assert!(responses.contains_key(status), "{method} {path}: {status}");
                }
            }
            if let Some(limited) = responses.get("429") {
                assert!(
                    limited["headers"]["Retry-After"].is_object(),
                    "{method} {path}: 429 without Retry-After"
                );
            }
            // The middleware's token check matches the document's `security`.
            let uri = path.replace(['{', '}'], "");
            let m = axum::http::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            assert_eq!(
                medseal_server::ratelimit::needs_bearer(&m, &uri),
                op.get("security").is_some(),
                "{method} {path}"
            );
        }
    }
    let max = app.state.settings.max_object_size;
    let r = app
        .post_json(
            "/api/shares",
            serde_json::json!({"size": max + 1, "expires_in": 3600, "max_downloads": 1}),
        )
        .await;
    r.expect_err(413, "too_large");
    assert!(documented(&doc, "POST", "/api/shares").contains(&413));
}

/// Issue 18: once a client's rate limit is used up, a request without its required token is
/// `401 missing_token` (not 429), and the 429 others get carries `Retry-After`.
#[tokio::test]
async fn missing_token_is_401_after_the_rate_limit() {
    let app = TestApp::with(|s| {
        s.rate_limit = 0.001;
        s.rate_burst = 1.0;
    });
    let first = app.get("/api/shares/AAAAAAAAAAAAAAAAAAAAAA/upload").await;
    first.expect_err(401, "missing_token");
    let limited = app.get("/api/shares/AAAAAAAAAAAAAAAAAAAAAA").await;
    limited.expect_err(429, "rate_limited");
    assert!(limited.header("retry-after").parse::<u64>().unwrap() >= 1);
    for (method, uri) in [
        ("GET", "/api/shares/AAAAAAAAAAAAAAAAAAAAAA/upload"),
        ("DELETE", "/api/shares/AAAAAAAAAAAAAAAAAAAAAA"),
        ("GET", "/api/studies/AAAAAAAAAAAAAAAAAAAAAA/contributions"),
        ("GET", "/api/studies/AAAAAAAAAAAAAAAAAAAAAA/bundle"),
    ] {
        let r = app.call(method, uri, &[], Body::empty()).await;
        r.expect_err(401, "missing_token");
    }
    // With a token, the limit applies.
    let r = app
        .call(
            "GET",
            "/api/shares/AAAAAAAAAAAAAAAAAAAAAA/upload",
            &[("authorization", "Bearer x")],
            Body::empty(),
        )
        .await;
    r.expect_err(429, "rate_limited");
}
