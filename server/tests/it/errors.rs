//! Every error answer is JSON `{code, message}` with a stable code, whoever produced it: a
//! handler, a path that cannot be decoded, the static file service, or a panic.

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use axum::routing::get;
use tower::ServiceExt as _;

use crate::support::{Reply, TestApp};

#[track_caller]
fn json_error(r: &Reply, status: u16, code: &str) {
    r.expect_err(status, code);
    assert_eq!(r.header("content-type"), "application/json");
    assert!(!r.json()["message"].as_str().unwrap_or("").is_empty());
}

/// Malformed percent-encodings (`%FF` is not UTF-8, `%C3%28` is an invalid sequence) in every
/// path parameter of every route were axum's plain-text 400.
#[tokio::test]
async fn undecodable_path_parameters_are_json_bad_id() {
    let app = TestApp::new();
    let id = "A".repeat(22);
    for bad in ["%FF", "%C3%28", "%80abc"] {
        let routes = [
            ("GET", format!("/api/shares/{bad}")),
            ("HEAD", format!("/api/shares/{bad}")),
            ("DELETE", format!("/api/shares/{bad}")),
            ("GET", format!("/api/shares/{bad}/upload")),
            ("POST", format!("/api/shares/{bad}/complete")),
            ("PUT", format!("/api/shares/{bad}/parts/0")),
            ("PUT", format!("/api/shares/{id}/parts/{bad}")),
            ("GET", format!("/api/keys/{bad}")),
            ("GET", format!("/api/studies/{bad}")),
            ("POST", format!("/api/studies/{bad}/contributions")),
            ("GET", format!("/api/studies/{bad}/contributions")),
            ("GET", format!("/api/studies/{bad}/bundle")),
            ("GET", format!("/api/studies/{id}/contributions/{bad}")),
            ("DELETE", format!("/api/studies/{bad}/contributions/{id}")),
            (
                "GET",
                format!("/api/studies/{id}/contributions/{bad}/upload"),
            ),
            (
                "POST",
                format!("/api/studies/{id}/contributions/{bad}/complete"),
            ),
            (
                "PUT",
                format!("/api/studies/{id}/contributions/{id}/parts/{bad}"),
            ),
        ];
        for (method, uri) in routes {
            let r = app.call(method, &uri, &[], Body::empty()).await;
            if method == "HEAD" {
                assert_eq!(r.status, 400, "{uri}");
                assert_eq!(r.header("content-type"), "application/json", "{uri}");
            } else {
                json_error(&r, 400, "bad_id");
            }
        }
    }
    // Escapes that are merely not escapes decode to themselves and fail the identifier check.
    json_error(&app.get("/api/shares/%zz").await, 400, "bad_id");
}

/// The static file service answered wrong methods with an empty 405 and, without an app
/// folder, missing files with an empty 404.
#[tokio::test]
async fn static_file_errors_are_json() {
    let app = TestApp::new();
    let r = app.get("/no/such/page").await;
    json_error(&r, 404, "not_found");
    // Security headers stay on the rewritten answer.
    assert!(
        r.header("content-security-policy")
            .contains("frame-ancestors")
    );

    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), "<!doctype html>").unwrap();
    let static_dir = site.path().to_path_buf();
    let app = TestApp::with(move |s| s.static_dir = static_dir);
    for uri in ["/", "/index.html", "/s/abc"] {
        let r = app.call("POST", uri, &[], Body::empty()).await;
        json_error(&r, 405, "method_not_allowed");
        assert!(r.header("allow").contains("GET"), "{uri}");
    }
    // What works still works, untouched.
    let r = app.get("/s/abc").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").starts_with("text/html"));
}

async fn call(router: Router, uri: &str) -> Reply {
    let response = router
        .oneshot(
            axum::http::Request::builder()
                .uri(uri)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Reply {
        status,
        headers,
        body,
    }
}

/// The middleware itself: plain-text errors of any status become JSON with the status kept,
/// JSON errors and successes pass untouched, and a panicking handler is a 500 rather than a
/// dropped connection.
#[tokio::test]
async fn the_json_errors_layer() {
    let router = Router::new()
        .route(
            "/teapot",
            get(|| async { (StatusCode::IM_A_TEAPOT, "short and stout") }),
        )
        .route(
            "/unavailable",
            get(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [("retry-after", "7")],
                    "busy",
                )
            }),
        )
        .route("/fine", get(|| async { "fine" }))
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("a bug in a handler");
                }
                "unreachable"
            }),
        )
        .layer(axum::middleware::from_fn(
            medseal_server::error::json_errors,
        ));
    json_error(&call(router.clone(), "/teapot").await, 418, "bad_request");
    let r = call(router.clone(), "/unavailable").await;
    json_error(&r, 503, "internal");
    assert_eq!(r.header("retry-after"), "7");
    let r = call(router.clone(), "/fine").await;
    assert_eq!((r.status.as_u16(), &r.body[..]), (200, &b"fine"[..]));
    json_error(&call(router.clone(), "/panic").await, 500, "internal");
    // Axum's own 404 for an unknown route.
    json_error(&call(router, "/elsewhere").await, 404, "not_found");
}
