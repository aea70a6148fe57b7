//! Small HTTP/1.1 + JSON helper shared by the REST decoys (elasticsearch,
//! docker_api, k8s): hyper serves the connection, every request becomes a
//! `request` event, Basic/Bearer credentials become `auth_attempt`s, and the
//! API answers with a [`Reply`] whose header order and case it controls (Go
//! servers write Title-Case, netty lower-case; nmap matches both literally).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use decnet_core::EventKind;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::fields;
use crate::session::Session;

/// Longest body excerpt copied into an event.
const BODY_EXCERPT: usize = 4096;

/// A request as the APIs see it.
#[derive(Debug, Clone)]
pub struct Req {
    /// Method.
    pub method: String,
    /// Path (no query).
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// Body (bounded by `Limits::max_body`).
    pub body: Bytes,
    /// User-Agent.
    pub user_agent: String,
}

impl Req {
    /// Query parameter value.
    pub fn param(&self, key: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }
    /// All values of a repeated query parameter.
    pub fn params(&self, key: &str) -> Vec<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
            .take(64)
            .collect()
    }
    /// Body parsed as JSON (Null when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status.
    pub status: u16,
    /// Headers in the order they are written (Content-Length/Date are added
    /// after them unless present).
    pub headers: Vec<(&'static str, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Reply {
    /// JSON body (compact) with `content_type`.
    pub fn json(status: u16, v: &serde_json::Value, content_type: &str) -> Self {
        let mut body = serde_json::to_vec(v).unwrap_or_default();
        body.push(b'\n');
        Reply {
            status,
            headers: vec![("Content-Type", content_type.to_owned())],
            body,
        }
    }
    /// Plain text.
    pub fn text(status: u16, body: impl Into<String>, content_type: &str) -> Self {
        Reply {
            status,
            headers: vec![("Content-Type", content_type.to_owned())],
            body: body.into().into_bytes(),
        }
    }
    /// Prepends headers (e.g. `Server`), keeping the given order.
    pub fn with_first(mut self, h: &[(&'static str, String)]) -> Self {
        let mut v = h.to_vec();
        v.append(&mut self.headers);
        self.headers = v;
        self
    }
}

/// A REST decoy.
pub trait RestApi: Send + Sync + 'static {
    /// Service name for error messages.
    fn service(&self) -> &'static str;
    /// Go-style Title-Case header names.
    fn title_case(&self) -> bool;
    /// Answers a request (may emit `command` events through `session`).
    fn handle(&self, req: &Req, session: &Session) -> Reply;
}

fn to_response(r: Reply, title_case: bool) -> Response<Full<Bytes>> {
    let len = r.body.len();
    let mut resp = Response::new(Full::new(Bytes::from(r.body)));
    *resp.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
    let h = resp.headers_mut();
    let mut has_date = false;
    let mut has_len = false;
    for (k, v) in r.headers {
        has_date |= k.eq_ignore_ascii_case("date");
        has_len |= k.eq_ignore_ascii_case("content-length");
        if let (Ok(name), Ok(val)) = (
            HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            h.append(name, val);
        }
    }
    if title_case && !has_date {
        let now = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        if let Ok(v) = HeaderValue::from_str(&now) {
            h.append(hyper::header::DATE, v);
        }
    }
    if !has_len {
        h.append(hyper::header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    resp
}

/// True when `line` looks like an HTTP/1.x request line.
pub fn is_request_line(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(m), Some(t), Some(v), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !m.is_empty()
        && m.iter().all(|b| b.is_ascii_uppercase())
        && !t.is_empty()
        && (v == b"HTTP/1.0" || v == b"HTTP/1.1")
}

/// Serves HTTP/1.1 on `io` with `api` until the peer leaves or idles out.
/// Go-style APIs first check the request line themselves so that garbage
/// gets Go's `400 Bad Request` rather than hyper's.
pub async fn serve<S>(io: S, session: Session, api: Arc<dyn RestApi>, extra: decnet_core::Fields)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if api.title_case() {
        let mut io = io;
        let idle = session.limits().idle_timeout.min(Duration::from_secs(30));
        let mut head = Vec::new();
        let mut chunk = [0u8; 1024];
        while !head.contains(&b'\n') && head.len() < 8192 {
            match crate::io::read_some_idle(&mut io, &mut chunk, idle).await {
                Ok(n) => head.extend_from_slice(&chunk[..n]),
                Err(_) => return,
            }
        }
        let first = head.split(|&b| b == b'\n').next().unwrap_or(&[]);
        if !is_request_line(first) {
            session.emit_error(format!(
                "{}: malformed request line '{}'",
                api.service(),
                crate::wire::excerpt(first, 128)
            ));
            use tokio::io::AsyncWriteExt;
            let _ = io
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request")
                .await;
            return;
        }
        return serve_hyper(crate::tls::Prefixed::new(head, io), session, api, extra).await;
    }
    serve_hyper(io, session, api, extra).await
}

async fn serve_hyper<S>(io: S, session: Session, api: Arc<dyn RestApi>, extra: decnet_core::Fields)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let idle = session.limits().idle_timeout.min(Duration::from_secs(30));
    let max_buf = session.limits().max_line.max(8192) * 4;
    let svc_session = session.clone();
    let title = api.title_case();
    let api2 = api.clone();
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let session = svc_session.clone();
        let api = api2.clone();
        let extra = extra.clone();
        async move {
            let r = handle(req, &session, api.as_ref(), extra).await;
            Ok::<_, Infallible>(to_response(r, api.title_case()))
        }
    });
    let mut b = hyper::server::conn::http1::Builder::new();
    b.timer(TokioTimer::new())
        .header_read_timeout(idle)
        .max_buf_size(max_buf)
        .title_case_headers(title)
        .auto_date_header(false);
    if let Err(e) = b.serve_connection(TokioIo::new(io), svc).await {
        if !e.is_incomplete_message() {
            session.emit_error(format!("{}: {e}", api.service()));
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    session: &Session,
    api: &dyn RestApi,
    extra: decnet_core::Fields,
) -> Reply {
    let (parts, body) = req.into_parts();
    let limit = session.limits().max_body;
    let body = match Limited::new(body, limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            session.emit_error(format!(
                "{}: request body over {limit} bytes",
                api.service()
            ));
            return Reply::json(
                413,
                &serde_json::json!({"message": "request body too large"}),
                "application/json",
            );
        }
    };
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let req = Req {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        body,
        user_agent: header("user-agent"),
    };
    let mut f = fields! {
        "method" => req.method.clone(),
        "path" => req.path.clone(),
        "query" => req.query.clone(),
        "user_agent" => req.user_agent.clone(),
        "body" => decnet_core::event::printable(&req.body[..req.body.len().min(BODY_EXCERPT)]),
        "body_len" => req.body.len() as u64,
    };
    for (k, v) in &extra {
        f.insert(k.clone(), v.clone());
    }
    session.emit(EventKind::Request, f);
    let auth = header("authorization");
    if let Some(b64) = auth
        .strip_prefix("Basic ")
        .or_else(|| auth.strip_prefix("basic "))
    {
        if let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
            let (u, p) = match raw.iter().position(|&b| b == b':') {
                Some(i) => (&raw[..i], &raw[i + 1..]),
                None => (&raw[..], &b""[..]),
            };
            session.emit_auth(
                &decnet_core::event::printable(u),
                "password",
                p,
                false,
                fields! {"method" => "basic", "path" => req.path.clone()},
            );
        }
    } else if let Some(tok) = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("bearer "))
    {
        session.emit_auth(
            "",
            "bearer_token",
            tok.trim().as_bytes(),
            false,
            fields! {"method" => "bearer", "path" => req.path.clone()},
        );
    }
    api.handle(&req, session)
}
