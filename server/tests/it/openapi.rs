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
                if param["in"] == "path" && param["name"] != "index" {
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
    let links = &doc["paths"]["/api/shares"]["post"]["responses"]["201"]["links"];
    for link in links.as_object().unwrap().values() {
        let target = link["operationId"].as_str().unwrap();
        assert!(ids.contains(target), "link to unknown operation {target}");
    }
}
