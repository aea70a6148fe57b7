//! The embedded dashboard router: index, module content types, SPA
//! fallback, API paths never shadowed, caching and security headers.
#![allow(clippy::unwrap_used)]

use axum::body::{to_bytes, Body};
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use tower::ServiceExt;

async fn get(
    app: &Router,
    method: Method,
    path: &str,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .method(method)
                .uri(path)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = to_bytes(res.into_body(), 8 << 20).await.unwrap().to_vec();
    (status, headers, body)
}

fn app() -> Router {
    decnet_web::router()
}

#[tokio::test]
async fn serves_index_at_root_with_strict_csp() {
    let app = app();
    let (st, h, body) = get(&app, Method::GET, "/").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
    let html = String::from_utf8(body).unwrap();
    assert!(
        html.contains("<script type=\"module\" src=\"/js/app.js\">"),
        "{html}"
    );
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"));
    assert!(!csp.contains("unsafe-inline"));
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(h[header::CACHE_CONTROL], "no-cache");
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    // No inline script: the CSP would block it.
    assert!(!html.contains("<script>"));
}

#[tokio::test]
async fn js_modules_are_text_javascript() {
    let app = app();
    for path in ["/js/app.js", "/js/api.js", "/js/pages/overview.js"] {
        let (st, h, body) = get(&app, Method::GET, path).await;
        assert_eq!(st, StatusCode::OK, "{path}");
        assert_eq!(
            h[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8",
            "{path}"
        );
        assert!(!body.is_empty());
        assert_eq!(
            h[header::CONTENT_LENGTH].to_str().unwrap(),
            body.len().to_string()
        );
    }
    let (st, h, _) = get(&app, Method::GET, "/css/app.css").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "text/css; charset=utf-8");
}

#[tokio::test]
async fn spa_fallback_serves_index_for_client_routes() {
    let app = app();
    let (_, _, index) = get(&app, Method::GET, "/").await;
    for path in [
        "/fleet",
        "/attackers/203.0.113.7",
        "/topologies/abc-123",
        "/login?next=%2Flogs",
    ] {
        let (st, h, body) = get(&app, Method::GET, path).await;
        assert_eq!(st, StatusCode::OK, "{path}");
        assert_eq!(
            h[header::CONTENT_TYPE],
            "text/html; charset=utf-8",
            "{path}"
        );
        assert_eq!(body, index, "{path}");
    }
    // HEAD: headers, no body.
    let (st, h, body) = get(&app, Method::HEAD, "/fleet").await;
    assert_eq!(st, StatusCode::OK);
    assert!(h.contains_key(header::ETAG));
    assert!(body.is_empty());
}

#[tokio::test]
async fn missing_assets_and_api_paths_are_json_404s() {
    let app = app();
    for path in [
        "/js/nope.js",
        "/css/missing.css",
        "/api/v1/nope",
        "/api",
        "/v1/decisions/x",
        "/../Cargo.toml",
        "/js/../index.html",
    ] {
        let (st, h, body) = get(&app, Method::GET, path).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(h[header::CONTENT_TYPE], "application/json", "{path}");
        assert_eq!(body, br#"{"detail":"Not Found"}"#, "{path}");
    }
    let (st, _, _) = get(&app, Method::POST, "/fleet").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn etag_revalidation_gives_304() {
    let app = app();
    let (_, h, _) = get(&app, Method::GET, "/js/app.js").await;
    let etag = h[header::ETAG].clone();
    let res = app
        .clone()
        .oneshot(
            Request::builder()
                .uri("/js/app.js")
                .header(header::IF_NONE_MATCH, etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_MODIFIED);
    let body = to_bytes(res.into_body(), 1024).await.unwrap();
    assert!(body.is_empty());
}

#[test]
fn content_types() {
    assert_eq!(decnet_web::content_type("a/b.svg"), "image/svg+xml");
    assert_eq!(
        decnet_web::content_type("LICENSE.txt"),
        "text/plain; charset=utf-8"
    );
    assert_eq!(decnet_web::content_type("x"), "application/octet-stream");
}
