//! The HTTP call-home receiver: its own listener, answering as a default
//! Debian nginx (and, to the clients of the credential kinds, as an
//! S3-compatible store and a git server), publishing a `canary_trigger`
//! for every request that names a live token.
//!
//! A request names a token by, in order: an AWS key id (SigV4/SigV2
//! `Authorization` or a presigned URL), an HTTP Basic login, a bearer
//! token, a git repository path, or a slug anywhere in the path.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::nginx;
use super::Shared;
use crate::index::KeyKind;
use crate::token::Token;
use crate::trigger::{self, Via};

/// Bounds on what one client can make the receiver hold.
#[derive(Clone, Debug)]
pub struct HttpLimits {
    /// Connections served at once; more are closed at accept.
    pub max_connections: usize,
    /// Time to send the request head (and body).
    pub read_timeout: Duration,
    /// Longest a connection lives, keep-alive included.
    pub connection_lifetime: Duration,
    /// Request head buffer (hyper's minimum is 8 KiB).
    pub max_head_bytes: usize,
    /// Largest body read (S3 uploads are read and dropped).
    pub max_body: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 1024,
            read_timeout: Duration::from_secs(10),
            connection_lifetime: Duration::from_secs(60),
            max_head_bytes: 16 * 1024,
            max_body: 64 * 1024,
        }
    }
}

/// The receiver.
pub struct HttpReceiver {
    shared: Shared,
    limits: HttpLimits,
}

/// What the client seems to speak, which decides the answer's shape.
#[derive(Debug, PartialEq, Eq)]
enum Dialect {
    /// Signed AWS request for `service` (`s3`, `sts`…).
    Aws {
        service: String,
        known: bool,
        key_id: String,
    },
    /// git smart HTTP.
    Git,
    /// Anything else.
    Web,
}

type Resp = Response<Full<Bytes>>;

impl HttpReceiver {
    /// A receiver with default limits.
    pub fn new(shared: Shared) -> Arc<Self> {
        Self::with_limits(shared, HttpLimits::default())
    }

    /// A receiver with explicit limits.
    pub fn with_limits(shared: Shared, limits: HttpLimits) -> Arc<Self> {
        Arc::new(HttpReceiver { shared, limits })
    }

    /// Serves `listener` until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        let max = self.limits.max_connections;
        super::accept_loop(listener, max, move |stream, peer| {
            let me = self.clone();
            async move {
                let local = stream.local_addr().unwrap_or(peer);
                let limits = me.limits.clone();
                let svc = hyper::service::service_fn(move |req| {
                    let me = me.clone();
                    async move { Ok::<_, Infallible>(me.handle(req, peer, local).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(limits.read_timeout)
                    .title_case_headers(true)
                    .max_buf_size(limits.max_head_bytes.max(8192))
                    .serve_connection(TokioIo::new(stream), svc);
                let _ = tokio::time::timeout(limits.connection_lifetime, conn).await;
            }
        })
        .await
    }

    async fn handle(&self, req: Request<Incoming>, peer: SocketAddr, local: SocketAddr) -> Resp {
        let (parts, body) = req.into_parts();
        let read = tokio::time::timeout(
            self.limits.read_timeout,
            Limited::new(body, self.limits.max_body).collect(),
        )
        .await;
        let keep_alive = wants_keep_alive(&parts);
        if !matches!(read, Ok(Ok(_))) {
            return page(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request Entity Too Large",
                false,
            );
        }
        let (hit, dialect) = self.identify(&parts);
        if let Some((token, matched)) = &hit {
            self.publish(token, *matched, &parts, peer, local);
        }
        respond(&parts, hit.is_some(), dialect, keep_alive)
    }

    /// Which live token the request names, and how it is spoken.
    fn identify(&self, parts: &Parts) -> (Option<(Arc<Token>, KeyKind)>, Dialect) {
        let idx = &self.shared.index;
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let auth = header("authorization").unwrap_or("");
        let query = parts.uri.query().unwrap_or("");
        if let Some((key_id, service)) = aws_credential(auth, query) {
            let hit = idx.lookup(KeyKind::AwsKeyId, &key_id);
            let known = hit.is_some();
            return (
                hit.map(|t| (t, KeyKind::AwsKeyId)),
                Dialect::Aws {
                    service,
                    known,
                    key_id,
                },
            );
        }
        let path = parts.uri.path();
        let dialect = if path.ends_with("/info/refs")
            || path.ends_with("/git-upload-pack")
            || path.ends_with("/git-receive-pack")
        {
            Dialect::Git
        } else {
            Dialect::Web
        };
        if let Some((user, pass)) = basic(auth) {
            if let Some(t) = idx.lookup(KeyKind::Password, &pass) {
                let verified = t.credentials.iter().any(
                    |c| matches!(c, crate::Credential::Login { username, .. } if *username == user),
                );
                let kind = if verified {
                    KeyKind::Password
                } else {
                    KeyKind::Username
                };
                return (Some((t, kind)), dialect);
            }
            if let Some(t) = idx.lookup(KeyKind::Username, &user) {
                return (Some((t, KeyKind::Username)), dialect);
            }
        }
        if let Some(b) = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("bearer "))
        {
            if let Some(t) = idx.lookup(KeyKind::Bearer, b.trim()) {
                return (Some((t, KeyKind::Bearer)), dialect);
            }
        }
        if let Some(end) = path.find(".git") {
            if let Some(t) = idx.lookup(KeyKind::RepoPath, &path[..end + 4]) {
                return (Some((t, KeyKind::RepoPath)), dialect);
            }
        }
        (idx.find_slug_in(path).map(|t| (t, KeyKind::Slug)), dialect)
    }

    fn publish(
        &self,
        token: &Token,
        matched: KeyKind,
        parts: &Parts,
        peer: SocketAddr,
        local: SocketAddr,
    ) {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default()
        };
        let (host, ua) = (header("host"), header("user-agent"));
        let via = Via::Http {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            host: &host,
            user_agent: &ua,
            matched,
        };
        let count = self.shared.counter.bump(token.id, peer.ip());
        let mut e = trigger::event(token, peer, local, &via, count);
        let fwd = header("x-forwarded-for");
        if !fwd.is_empty() {
            // Recorded, never trusted: the peer address stays the source.
            e = e.with(
                "forwarded_for",
                fwd.chars().take(trigger::FIELD_MAX).collect::<String>(),
            );
        }
        self.shared.bus.publish_event(e);
    }
}

fn wants_keep_alive(parts: &Parts) -> bool {
    let conn = parts
        .headers
        .get(hyper::header::CONNECTION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    match parts.version {
        hyper::Version::HTTP_10 => conn.contains("keep-alive"),
        _ => !conn.contains("close"),
    }
}

/// `(key id, service)` from a SigV4/SigV2 `Authorization` or a presigned query.
fn aws_credential(auth: &str, query: &str) -> Option<(String, String)> {
    let scope = if let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256") {
        rest.split([',', ' '])
            .find_map(|p| p.trim().strip_prefix("Credential="))
            .map(str::to_owned)
    } else if let Some(rest) = auth.strip_prefix("AWS ") {
        rest.split(':').next().map(|k| format!("{k}/-/-/s3"))
    } else {
        query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            match k {
                "X-Amz-Credential" => Some(percent_decode(v)),
                "AWSAccessKeyId" => Some(format!("{}/-/-/s3", percent_decode(v))),
                _ => None,
            }
        })
    }?;
    let mut it = scope.split('/');
    let key = it.next()?.trim();
    let service = it.nth(2).unwrap_or("s3");
    if key.is_empty() || key.len() > 128 {
        return None;
    }
    Some((key.to_owned(), service.chars().take(32).collect()))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1..i + 3)) {
            (b'%', Some(h))
                if std::str::from_utf8(h)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .is_some() =>
            {
                out.push(
                    u8::from_str_radix(std::str::from_utf8(h).unwrap_or("0"), 16).unwrap_or(0),
                );
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn basic(auth: &str) -> Option<(String, String)> {
    let b64 = auth
        .strip_prefix("Basic ")
        .or_else(|| auth.strip_prefix("basic "))?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

/// Builds a response with nginx's header order: Server, Date,
/// Content-Type, Content-Length, then the rest, then Connection.
fn reply(
    status: StatusCode,
    content_type: &str,
    body: Bytes,
    extra: &[(&str, String)],
    keep_alive: bool,
) -> Resp {
    let mut r = Response::new(Full::new(body.clone()));
    *r.status_mut() = status;
    let h = r.headers_mut();
    let mut put = |k: &str, v: &str| {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.append(k, v);
        }
    };
    put("server", nginx::SERVER);
    put("date", &nginx::http_date(chrono::Utc::now()));
    put("content-type", content_type);
    put("content-length", &body.len().to_string());
    for (k, v) in extra {
        put(k, v);
    }
    put(
        "connection",
        if keep_alive { "keep-alive" } else { "close" },
    );
    r
}

fn page(status: StatusCode, reason: &str, keep_alive: bool) -> Resp {
    reply(
        status,
        "text/html",
        Bytes::from(nginx::error_page(status.as_u16(), reason)),
        &[],
        keep_alive,
    )
}

/// Last-Modified of the pages we pretend are static files: fixed, as a
/// file's would be.
const STATIC_MTIME: &str = "Tue, 14 Feb 2023 09:21:07 GMT";

fn respond(parts: &Parts, hit: bool, dialect: Dialect, keep_alive: bool) -> Resp {
    match dialect {
        Dialect::Aws {
            service,
            known,
            key_id,
        } => return aws_error(&service, known, &key_id, keep_alive),
        Dialect::Git => {
            let mut r = page(
                StatusCode::UNAUTHORIZED,
                "Authorization Required",
                keep_alive,
            );
            r.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Git\""),
            );
            return r;
        }
        Dialect::Web => {}
    }
    let path = parts.uri.path();
    let last_modified = [("last-modified", STATIC_MTIME.to_owned())];
    if hit {
        let lower = path.to_ascii_lowercase();
        let accept = parts
            .headers
            .get("accept")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let ext = lower.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        return match ext {
            "css" => reply(
                StatusCode::OK,
                "text/css",
                Bytes::new(),
                &last_modified,
                keep_alive,
            ),
            "js" => reply(
                StatusCode::OK,
                "application/javascript",
                Bytes::new(),
                &last_modified,
                keep_alive,
            ),
            "gif" | "png" | "jpg" | "jpeg" | "ico" | "bmp" | "webp" => reply(
                StatusCode::OK,
                "image/gif",
                Bytes::from_static(nginx::PIXEL_GIF),
                &last_modified,
                keep_alive,
            ),
            _ if accept.starts_with("image/") => reply(
                StatusCode::OK,
                "image/gif",
                Bytes::from_static(nginx::PIXEL_GIF),
                &last_modified,
                keep_alive,
            ),
            _ => reply(
                StatusCode::OK,
                "text/html",
                Bytes::from_static(nginx::INDEX.as_bytes()),
                &last_modified,
                keep_alive,
            ),
        };
    }
    match path {
        "/" | "/index.nginx-debian.html" => reply(
            StatusCode::OK,
            "text/html",
            Bytes::from_static(nginx::INDEX.as_bytes()),
            &last_modified,
            keep_alive,
        ),
        _ => page(StatusCode::NOT_FOUND, "Not Found", keep_alive),
    }
}

/// The error an S3-compatible store or STS returns for a key it will not honour.
fn aws_error(service: &str, known: bool, key_id: &str, keep_alive: bool) -> Resp {
    let request_id = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .to_ascii_uppercase();
    if service == "sts" || service == "iam" {
        let body = format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>InvalidClientTokenId</Code>\n    <Message>The security token included in the request is invalid.</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n</ErrorResponse>\n",
            uuid::Uuid::new_v4()
        );
        return reply(
            StatusCode::FORBIDDEN,
            "text/xml",
            Bytes::from(body),
            &[],
            keep_alive,
        );
    }
    let (code, msg) = if known {
        ("AccessDenied", "Access Denied".to_owned())
    } else {
        (
            "InvalidAccessKeyId",
            "The Access Key Id you provided does not exist in our records.".to_owned(),
        )
    };
    let key = if known {
        String::new()
    } else {
        format!(
            "<AccessKeyId>{}</AccessKeyId>",
            crate::kinds::xml_escape(key_id)
        )
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{msg}</Message>{key}<RequestId>{}</RequestId><HostId>{}</HostId></Error>",
        &request_id[..16],
        base64::engine::general_purpose::STANDARD.encode(&request_id)
    );
    reply(
        StatusCode::FORBIDDEN,
        "application/xml",
        Bytes::from(body),
        &[("x-amz-request-id", request_id[..16].to_owned())],
        keep_alive,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_key_ids_are_found_in_every_signing_style() {
        let v4 = "AWS4-HMAC-SHA256 Credential=AKIAABCDEFGHIJKLMNOP/20250101/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=ab";
        assert_eq!(
            aws_credential(v4, ""),
            Some(("AKIAABCDEFGHIJKLMNOP".into(), "s3".into()))
        );
        let sts = v4.replace("/s3/", "/sts/");
        assert_eq!(aws_credential(&sts, "").unwrap().1, "sts");
        assert_eq!(
            aws_credential("AWS AKIAQQQQ:sig", "").unwrap().0,
            "AKIAQQQQ"
        );
        let q = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAZZZZ%2F20250101%2Fus-east-1%2Fs3%2Faws4_request";
        assert_eq!(
            aws_credential("", q),
            Some(("AKIAZZZZ".into(), "s3".into()))
        );
        assert_eq!(aws_credential("Bearer x", "a=b"), None);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    proptest::proptest! {
        #[test]
        fn header_parsers_take_any_text(auth in ".{0,200}", query in ".{0,200}") {
            let _ = aws_credential(&auth, &query);
            let _ = basic(&auth);
            let _ = percent_decode(&query);
            let with_prefix = format!("AWS4-HMAC-SHA256 Credential={auth}");
            let _ = aws_credential(&with_prefix, "");
        }
    }

    #[test]
    fn basic_logins_decode() {
        assert_eq!(basic("Basic dTpwOnE="), Some(("u".into(), "p:q".into())));
        assert_eq!(basic("Basic !!"), None);
    }
}
