//! The HTTP/1.x connection of the persona web server, written out rather
//! than left to hyper: what gives a decoy away is exactly what a generic
//! HTTP library decides for itself — header order, the status line's
//! version, its own 400 for junk, when it answers a half-sent line. Each
//! step here does what the server the persona names does ([`Flavour`]):
//! head reading ([`head`]), framing and error pages ([`flavour`]), bodies
//! ([`body`]).

pub mod body;
pub mod flavour;
pub mod head;

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use flavour::{ErrorContext, FileMeta, Flavour, Frame, MethodAnswer, Reply};
pub use head::{Head, HeadError, Version};

use crate::tls::{Io, Tagged};

/// Requests served on one connection before it is closed (Apache's
/// `MaxKeepAliveRequests`).
const MAX_REQUESTS: usize = 100;
/// Time to receive a request body (nginx's client_body_timeout).
const BODY_TIMEOUT: Duration = Duration::from_secs(60);

/// A request as the site sees it.
#[derive(Debug)]
pub struct Request {
    /// The head as sent.
    pub head: Head,
    /// The path, percent-decoded and with dot segments resolved.
    pub path: String,
    /// The query string as sent (without `?`).
    pub query: String,
    /// The body (bounded by the session's `max_body`).
    pub body: Bytes,
}

/// What the connection needs from the site behind it.
pub trait Site: Send + Sync + 'static {
    /// The `Server` header value.
    fn server(&self) -> &str;
    /// The server whose behaviour the site shows.
    fn flavour(&self) -> Flavour;
    /// The port named in Apache's address line when the request names none.
    fn default_port(&self) -> u16;
    /// The answer to a request (records what it must on the way).
    fn respond<'a>(
        &'a self,
        req: &'a Request,
        t: &'a Tagged,
    ) -> futures::future::BoxFuture<'a, Reply>;
}

/// Host and port for Apache's address line: the request's `Host`, else
/// the loopback address Apache falls back to when the machine's name has
/// no address of its own.
/// The host name and port a request named (`Host:`), as Apache takes
/// its server name from it (`UseCanonicalName Off`).
pub fn request_host(head: &Head, default_port: u16) -> (String, u16) {
    error_host(Some(head), default_port)
}

fn error_host(head: Option<&Head>, default_port: u16) -> (String, u16) {
    let Some(host) = head.and_then(|h| h.field("host")).filter(|h| !h.is_empty()) else {
        return ("127.0.0.1".to_owned(), default_port);
    };
    match host.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || host.starts_with('[') => match p.parse() {
            Ok(port) => (h.to_owned(), port),
            Err(_) => (host.clone(), default_port),
        },
        _ => (host, default_port),
    }
}

/// Resolves the target's path: percent-decoding and dot segments. `Err`
/// when the path cannot name a file (a NUL, or `..` above the root).
pub fn resolve_path(target: &str) -> Result<(String, String), PathError> {
    let target = match target.find("://") {
        Some(i) if !target.starts_with('/') => {
            let rest = &target[i + 3..];
            rest.find('/').map(|p| &rest[p..]).unwrap_or("/")
        }
        _ => target,
    };
    let (raw, query) = target.split_once('?').unwrap_or((target, ""));
    let decoded = percent_encoding::percent_decode_str(raw).collect::<Vec<u8>>();
    if decoded.contains(&0) {
        return Err(PathError::Nul);
    }
    let decoded = String::from_utf8_lossy(&decoded);
    let mut parts: Vec<&str> = Vec::new();
    for seg in decoded.split('/').skip(1) {
        match seg {
            "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
            }
            s => parts.push(s),
        }
    }
    let mut path = String::from("/");
    path.push_str(&parts.join("/"));
    Ok((path, query.to_owned()))
}

/// Why a path names no file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    /// A `%00`.
    Nul,
    /// More `..` than segments.
    AboveRoot,
}

/// Serves HTTP/1.x on `io` until the client is done.
pub async fn serve<S: Site, I: Io + 'static>(site: &S, io: I, tagged: Tagged) {
    let session = &tagged.session;
    let idle = session.limits().idle_timeout.min(Duration::from_secs(30));
    let max_body = session.limits().max_body;
    let flavour = site.flavour();
    let (mut rd, mut wr) = tokio::io::split(io);
    let mut buf: Vec<u8> = Vec::with_capacity(2048);
    for _ in 0..MAX_REQUESTS {
        // The head, under one deadline (a slowloris client gets no more).
        let deadline = tokio::time::Instant::now() + idle;
        let end = loop {
            match head::scan(&buf, flavour.reader()) {
                head::Scan::Complete(n) => break n,
                head::Scan::Refused(e) => {
                    tagged.emit_error(format!("http: bad request head ({e:?})"));
                    let _ = send_head_error(&mut wr, site, e, None).await;
                    return;
                }
                head::Scan::Incomplete => {}
            }
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout_at(deadline, rd.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
                Err(_) => {
                    if !buf.iter().all(|b| b.is_ascii_whitespace()) {
                        tagged.emit_error("http: request head timeout");
                    }
                    return;
                }
            }
        };
        let raw: Vec<u8> = buf.drain(..end).collect();
        let head = match head::parse(&raw) {
            Ok(h) => h,
            Err(e) => {
                tagged.emit_error(format!("http: bad request head ({e:?})"));
                let _ = send_head_error(&mut wr, site, e, None).await;
                return;
            }
        };
        if let Some((e, known_host)) = refuse_head(flavour, &head) {
            tagged.emit_error(format!("http: bad request head ({e:?})"));
            let _ = send_head_error(&mut wr, site, e, known_host.then_some(&head)).await;
            return;
        }
        let (path, query) = match resolve_path(&head.target) {
            Ok(pq) => pq,
            // Apache looks a NUL up like any name (and finds nothing).
            Err(PathError::Nul) if flavour == Flavour::Apache => {
                ("/\u{fffd}".to_owned(), String::new())
            }
            Err(_) => {
                let _ = send_head_error(&mut wr, site, HeadError::Bad, Some(&head)).await;
                return;
            }
        };
        let body = match body::read(&head, &mut buf, &mut rd, &mut wr, max_body, BODY_TIMEOUT).await
        {
            Ok(b) => b,
            Err(e) => {
                let (code, msg) = match e {
                    body::BodyError::TooLarge => {
                        (413, format!("http: request body over {max_body} bytes"))
                    }
                    body::BodyError::Timeout => (408, "http: request body timed out".to_owned()),
                    body::BodyError::Malformed => (400, "http: malformed request body".to_owned()),
                    body::BodyError::Closed => return,
                };
                tagged.emit_error(msg);
                let r = error_reply(site, code, Some(&head));
                let _ = write_reply(&mut wr, site, &r, &head, false).await;
                return;
            }
        };
        let req = Request {
            head,
            path,
            query,
            body,
        };
        let reply = site.respond(&req, &tagged).await;
        let keep_alive = wants_keep_alive(&req.head) && reply.status < 500;
        if req.head.version == Version::Http09 {
            let _ = wr.write_all(&reply.body).await;
            let _ = wr.shutdown().await;
            return;
        }
        if !write_reply(&mut wr, site, &reply, &req.head, keep_alive).await || !keep_alive {
            let _ = wr.shutdown().await;
            return;
        }
    }
}

/// What a server refuses once the head is whole, and whether it had
/// taken the request's `Host` in by then (Apache's address line).
fn refuse_head(flavour: Flavour, head: &Head) -> Option<(HeadError, bool)> {
    let nameless = head.fields.iter().any(|(k, _)| k.is_empty());
    match (flavour, head.version) {
        (Flavour::Nginx, Version::Http(ma, _)) if ma > 1 => {
            return Some((HeadError::VersionNotSupported, true))
        }
        // nginx drops invalid header lines; Apache refuses the request
        // while still reading its fields.
        (Flavour::Apache, _) if nameless => return Some((HeadError::Bad, false)),
        _ => {}
    }
    if head.version.at_least_11() && head.field("host").is_none() {
        return Some((HeadError::Bad, true));
    }
    None
}

fn wants_keep_alive(head: &Head) -> bool {
    match head.version {
        Version::Http09 => false,
        v if v.at_least_11() => !head.connection_has("close"),
        _ => head.connection_has("keep-alive"),
    }
}

/// The site's server's error page for `code` as a reply.
pub fn error_reply<S: Site + ?Sized>(site: &S, code: u16, head: Option<&Head>) -> Reply {
    let (host, port) = error_host(head, site.default_port());
    let method = head.map(|h| h.method.as_str()).unwrap_or("GET");
    let cx = ErrorContext {
        host: &host,
        port,
        method,
    };
    let (ct, body) = site.flavour().error_page(code, site.server(), &cx);
    Reply::new(code, ct, body)
}

async fn send_head_error<S: Site, W: tokio::io::AsyncWrite + Unpin>(
    wr: &mut W,
    site: &S,
    e: HeadError,
    head: Option<&Head>,
) -> bool {
    let (host, port) = error_host(head, site.default_port());
    let cx = ErrorContext {
        host: &host,
        port,
        method: head.map(|h| h.method.as_str()).unwrap_or("GET"),
    };
    let (code, ct, body) = site.flavour().head_error_page(e, site.server(), &cx);
    let r = Reply::new(code, ct, body);
    let f = Frame {
        server: site.server(),
        keep_alive: false,
        http10: false,
        head_only: false,
    };
    let out = site.flavour().render(&r, &f, &now_date());
    let ok = wr.write_all(&out).await.is_ok();
    let _ = wr.shutdown().await;
    ok
}

async fn write_reply<S: Site, W: tokio::io::AsyncWrite + Unpin>(
    wr: &mut W,
    site: &S,
    r: &Reply,
    head: &Head,
    keep_alive: bool,
) -> bool {
    let f = Frame {
        server: site.server(),
        keep_alive,
        http10: head.version == Version::Http(1, 0),
        head_only: head.method == "HEAD",
    };
    let out = site.flavour().render(r, &f, &now_date());
    wr.write_all(&out).await.is_ok()
}

/// The `Date` header for now. It changes once a second, so each worker
/// thread keeps the last one it wrote instead of formatting it per reply.
fn now_date() -> String {
    thread_local! {
        static LAST: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let now = chrono::Utc::now().timestamp();
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != now {
            *last = (now, flavour::http_date(now));
        }
        last.1.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_like_a_static_server() {
        assert_eq!(
            resolve_path("/a/./b/../c?x=1").unwrap(),
            ("/a/c".into(), "x=1".into())
        );
        assert_eq!(resolve_path("http://example.com/x").unwrap().0, "/x");
        assert_eq!(resolve_path("http://example.com").unwrap().0, "/");
        assert_eq!(resolve_path("/../../etc/passwd"), Err(PathError::AboveRoot));
        assert_eq!(
            resolve_path("/%2e%2e/%2e%2e/etc/passwd"),
            Err(PathError::AboveRoot)
        );
        assert_eq!(resolve_path("/a%00b"), Err(PathError::Nul));
        assert_eq!(resolve_path("/").unwrap().0, "/");
    }

    #[test]
    fn apache_address_line_names_the_requested_host() {
        let h = head::parse(b"GET / HTTP/1.1\r\nHost: example.com:443\r\n\r\n").unwrap();
        assert_eq!(error_host(Some(&h), 80), ("example.com".into(), 443));
        let h = head::parse(b"GET / HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n").unwrap();
        assert_eq!(error_host(Some(&h), 80), ("10.0.0.1".into(), 80));
        assert_eq!(error_host(None, 443), ("127.0.0.1".into(), 443));
    }
}
