//! decnet-web: the dashboard (`web/` at the repository root: static HTML,
//! CSS and ES modules, no build step) embedded into the binary with
//! rust-embed and served at `/`.
//!
//! * Known files are served with their content type, an `ETag` (sha256 of
//!   the content; `If-None-Match` gives `304`) and `Cache-Control: no-cache`
//!   (file names carry no hash, so the browser revalidates every time).
//! * Any other `GET`/`HEAD` path without a file extension gets `index.html`
//!   (SPA fallback: the client router handles `/attackers/1.2.3.4` etc.).
//! * `/api/…` and `/v1/…` paths are never the dashboard: they answer the
//!   API's JSON `404 {"detail": "Not Found"}`, as does any other method.
//! * Every response carries a strict `Content-Security-Policy` (same origin
//!   only, no inline script or style), `nosniff`, `no-referrer` and
//!   `frame-ancestors 'none'`.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../../web/"]
struct Assets;

/// The policy sent with every dashboard response.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; media-src 'self' blob:; \
object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// A router whose fallback serves the dashboard; mount it with
/// `Router::merge` into an app that has no fallback of its own, or use
/// [`serve`] as that app's fallback handler directly.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().fallback(serve)
}

/// Content type for a file name (the dashboard only ships these kinds).
pub fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" | "license" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn is_api(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/") || path == "/v1" || path.starts_with("/v1/")
}

fn security_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

fn not_found() -> Response {
    let mut r = (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"detail":"Not Found"}"#,
    )
        .into_response();
    security_headers(r.headers_mut());
    r
}

fn file(path: &str, method: &Method, headers: &HeaderMap) -> Option<Response> {
    let f = Assets::get(path)?;
    let etag = format!("\"{}\"", hex(&f.metadata.sha256_hash()[..16]));
    let mut h = HeaderMap::new();
    security_headers(&mut h);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Some((StatusCode::NOT_MODIFIED, h).into_response());
    }
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(f.data.len()));
    let body = if *method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(f.data.into_owned())
    };
    Some((StatusCode::OK, h, body).into_response())
}

fn hex(b: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(D[(x >> 4) as usize] as char);
        s.push(D[(x & 15) as usize] as char);
    }
    s
}

/// The fallback handler: a file of `web/`, `index.html` for client routes,
/// or the API's JSON 404.
pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if is_api(path) || !(method == Method::GET || method == Method::HEAD) {
        return not_found();
    }
    let rel = path.trim_start_matches('/');
    // Never look up anything that could climb out of the tree (the embed
    // only holds web/, but keep the lookup key canonical anyway).
    if rel.split('/').any(|seg| seg == ".." || seg == ".") || rel.contains('\\') {
        return not_found();
    }
    if !rel.is_empty() {
        if let Some(r) = file(rel, &method, &headers) {
            return r;
        }
    }
    let last = rel.rsplit('/').next().unwrap_or("");
    let ext = last.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    if content_type(last) != "application/octet-stream" || ext.eq_ignore_ascii_case("mjs") {
        // A missing asset is a 404, not the app shell.
        return not_found();
    }
    file("index.html", &method, &headers).unwrap_or_else(not_found)
}
