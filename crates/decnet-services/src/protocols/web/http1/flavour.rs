//! How each web server frames its answers: status line, which headers in
//! which order, its own error pages byte for byte, and what it does with
//! methods a static page does not take. One persona, one server: the
//! `Server` header the persona names picks the flavour, so an nginx persona
//! answers as Debian's nginx does and an Apache one as Debian's Apache.

use std::borrow::Cow;

use bytes::Bytes;

use super::head::HeadError;

/// The server whose framing a persona's answers carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// nginx (`server_tokens on`).
    Nginx,
    /// Apache httpd 2.4 (Debian's default `ServerTokens OS`).
    Apache,
    /// Anything else (IIS, device servers): a plain HTTP/1.1 framing.
    Generic,
}

/// A static file's validators (what nginx and Apache derive from its
/// inode): unix mtime and its sub-second part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileMeta {
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// Microseconds past `mtime` (Apache's ETag carries them).
    pub micros: u32,
}

/// One answer, before framing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, when the answer has one.
    pub content_type: Option<Cow<'static, str>>,
    /// Body (sent in full unless the request was HEAD or HTTP/0.9 framing).
    pub body: Bytes,
    /// Set for a static file: validators, ranges, and the static
    /// handler's method rules apply.
    pub file: Option<FileMeta>,
    /// Headers the route adds (`Location`, `WWW-Authenticate`, `Allow`…).
    pub extra: Vec<(&'static str, String)>,
    /// `Content-Range` of a partial answer.
    pub content_range: Option<String>,
}

impl Reply {
    /// An answer with a body and content type.
    pub fn new(
        status: u16,
        content_type: impl Into<Cow<'static, str>>,
        body: impl Into<Bytes>,
    ) -> Self {
        Reply {
            status,
            content_type: Some(content_type.into()),
            body: body.into(),
            file: None,
            extra: Vec::new(),
            content_range: None,
        }
    }

    /// Adds a header.
    pub fn with(mut self, name: &'static str, value: String) -> Self {
        self.extra.push((name, value));
        self
    }
}

/// What the framing needs to know about the request and the server.
pub struct Frame<'a> {
    /// The `Server` header value.
    pub server: &'a str,
    /// True when the connection stays open after this answer.
    pub keep_alive: bool,
    /// True when the request was HTTP/1.0 (Apache answers its keep-alive
    /// with `Keep-Alive`/`Connection: Keep-Alive`).
    pub http10: bool,
    /// HEAD: headers only.
    pub head_only: bool,
}

/// What an error page names: the request's host and port (Apache's
/// address line) and its method.
pub struct ErrorContext<'a> {
    /// Host for Apache's address line.
    pub host: &'a str,
    /// Port for Apache's address line.
    pub port: u16,
    /// Request method, when one was read.
    pub method: &'a str,
}

impl Flavour {
    /// The flavour of a `Server` header value.
    pub fn of(server: &str) -> Flavour {
        if server.starts_with("nginx") {
            Flavour::Nginx
        } else if server.starts_with("Apache") {
            Flavour::Apache
        } else {
            Flavour::Generic
        }
    }

    /// How this server reads a request head.
    pub fn reader(self) -> super::head::Reader {
        match self {
            Flavour::Nginx => super::head::Reader::Eager,
            _ => super::head::Reader::Lined,
        }
    }

    /// The reason phrase this server sends with `code`.
    pub fn reason(self, code: u16) -> &'static str {
        match (self, code) {
            (Flavour::Nginx, 302) => "Moved Temporarily",
            (Flavour::Nginx, 405) => "Not Allowed",
            (Flavour::Nginx, 408) => "Request Time-out",
            (Flavour::Nginx, 414) => "Request-URI Too Large",
            (Flavour::Nginx, 503) => "Service Temporarily Unavailable",
            (_, 414) => "Request-URI Too Long",
            (_, 408) => "Request Timeout",
            (_, 413) => "Request Entity Too Large",
            (_, 416) => "Requested Range Not Satisfiable",
            (_, c) => hyper::StatusCode::from_u16(c)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Unknown"),
        }
    }

    /// The error page this server sends for `code` (content type, body).
    pub fn error_page(
        self,
        code: u16,
        server: &str,
        cx: &ErrorContext<'_>,
    ) -> (&'static str, String) {
        self.error_page_with(code, server, cx, None)
    }

    /// The error page for a refused head.
    pub fn head_error_page(
        self,
        e: HeadError,
        server: &str,
        cx: &ErrorContext<'_>,
    ) -> (u16, &'static str, String) {
        let code = match e {
            HeadError::Bad | HeadError::FieldTooLarge => 400,
            HeadError::UriTooLong => 414,
            HeadError::VersionNotSupported => 505,
        };
        let (ct, body) = self.error_page_with(code, server, cx, Some(e));
        (code, ct, body)
    }

    fn error_page_with(
        self,
        code: u16,
        server: &str,
        cx: &ErrorContext<'_>,
        head: Option<HeadError>,
    ) -> (&'static str, String) {
        let reason = self.reason(code);
        match self {
            Flavour::Nginx => {
                let server = html_escape(server);
                let body = if head == Some(HeadError::FieldTooLarge) {
                    format!("<html>\r\n<head><title>400 Request Header Or Cookie Too Large</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>Request Header Or Cookie Too Large</center>\r\n<hr><center>{server}</center>\r\n</body>\r\n</html>\r\n")
                } else {
                    format!("<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n<hr><center>{server}</center>\r\n</body>\r\n</html>\r\n")
                };
                ("text/html", body)
            }
            Flavour::Apache => {
                let method = html_escape(cx.method);
                let text = match code {
                    400 if head == Some(HeadError::FieldTooLarge) => "Your browser sent a request that this server could not understand.<br />\nSize of a request header field exceeds server limit.</p>\n".to_owned(),
                    400 => "Your browser sent a request that this server could not understand.<br />\n</p>\n".to_owned(),
                    401 => "This server could not verify that you\nare authorized to access the document\nrequested.  Either you supplied the wrong\ncredentials (e.g., bad password), or your\nbrowser doesn't understand how to supply\nthe credentials required.</p>\n".to_owned(),
                    403 => "You don't have permission to access this resource.</p>\n".to_owned(),
                    404 => "The requested URL was not found on this server.</p>\n".to_owned(),
                    405 => format!("The requested method {method} is not allowed for this URL.</p>\n"),
                    408 => "Server timeout waiting for the HTTP request from the client.</p>\n".to_owned(),
                    413 => format!("The requested resource does not allow request data with {method} requests, or the amount of data provided in\nthe request exceeds the capacity limit.\n</p>\n"),
                    414 => "The requested URL's length exceeds the capacity\nlimit for this server.<br />\n</p>\n".to_owned(),
                    501 => format!("{method} not supported for current URL.<br />\n</p>\n"),
                    _ => "The server encountered an internal error or\nmisconfiguration and was unable to complete\nyour request.</p>\n".to_owned(),
                };
                let body = format!(
                    "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n<html><head>\n<title>{code} {reason}</title>\n</head><body>\n<h1>{reason}</h1>\n<p>{text}<hr>\n<address>{} Server at {} Port {}</address>\n</body></html>\n",
                    html_escape(server),
                    html_escape(cx.host),
                    cx.port
                );
                ("text/html; charset=iso-8859-1", body)
            }
            Flavour::Generic => {
                if server.starts_with("Microsoft-IIS") {
                    return ("text/html", format!(
                        "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">\r\n<html xmlns=\"http://www.w3.org/1999/xhtml\">\r\n<head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=iso-8859-1\"/>\r\n<title>{code} - {reason}.</title>\r\n</head>\r\n<body>\r\n<div id=\"header\"><h1>Server Error</h1></div>\r\n<div id=\"content\">\r\n <div class=\"content-container\"><fieldset>\r\n  <h2>{code} - {reason}.</h2>\r\n </fieldset></div>\r\n</div>\r\n</body>\r\n</html>\r\n"
                    ));
                }
                // Device and appliance servers: nginx's page shape with their name.
                let name = html_escape(server.split(' ').next().unwrap_or(server));
                ("text/html; charset=utf-8", format!(
                    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}</h1></center>\r\n<hr><center>{name}</center>\r\n</body>\r\n</html>\r\n"
                ))
            }
        }
    }

    /// What this server does with `method` on a static file (`Some`: the
    /// answer instead of the file). `exists` is false for a path that
    /// names no file.
    pub fn static_method_gate(self, method: &str, exists: bool) -> Option<MethodAnswer> {
        if matches!(method, "GET" | "HEAD") {
            return None;
        }
        match self {
            // try_files answers a missing file first; the static module
            // then refuses everything but GET and HEAD.
            Flavour::Nginx if !exists => None,
            Flavour::Nginx => Some(MethodAnswer::Error(405)),
            Flavour::Apache => match method {
                // The default handler serves a file to a POST.
                "POST" => None,
                "OPTIONS" => Some(MethodAnswer::Options),
                // Debian's security.conf has `TraceEnable Off`.
                "TRACE" => Some(MethodAnswer::NotAllowed("")),
                m if APACHE_KNOWN_METHODS.contains(&m) => {
                    Some(MethodAnswer::NotAllowed(APACHE_ALLOW))
                }
                _ => Some(MethodAnswer::NotImplemented(APACHE_ALLOW)),
            },
            Flavour::Generic => None,
        }
    }

    /// Frames `r` for the wire: status line and headers in this server's
    /// order, then the body.
    pub fn render(self, r: &Reply, f: &Frame<'_>, date: &str) -> Vec<u8> {
        let mut h = String::with_capacity(256);
        let reason = self.reason(r.status);
        h.push_str(&format!("HTTP/1.1 {} {reason}\r\n", r.status));
        let len = r.body.len();
        let has_length = r.status != 304;
        let etag = r.file.map(|m| self.etag(m, len_for_etag(r)));
        let last_modified = r.file.map(|m| http_date(m.mtime));
        let connection = |h: &mut String| match (self, f.keep_alive, f.http10) {
            (Flavour::Apache, true, false) => {}
            (Flavour::Apache, true, true) => {
                h.push_str("Keep-Alive: timeout=5, max=100\r\nConnection: Keep-Alive\r\n")
            }
            (_, true, _) => h.push_str("Connection: keep-alive\r\n"),
            (_, false, _) => h.push_str("Connection: close\r\n"),
        };
        match self {
            Flavour::Nginx => {
                push(&mut h, "Server", f.server);
                push(&mut h, "Date", date);
                if let Some(ct) = &r.content_type {
                    push(&mut h, "Content-Type", ct);
                }
                if has_length {
                    push(&mut h, "Content-Length", &len.to_string());
                }
                if let Some(lm) = &last_modified {
                    push(&mut h, "Last-Modified", lm);
                }
                for (k, v) in r.extra.iter().filter(|(k, _)| *k == "Location") {
                    push(&mut h, k, v);
                }
                connection(&mut h);
                if let Some(e) = &etag {
                    push(&mut h, "ETag", e);
                }
                if r.file.is_some() && r.status == 200 {
                    push(&mut h, "Accept-Ranges", "bytes");
                }
                if let Some(cr) = &r.content_range {
                    push(&mut h, "Content-Range", cr);
                }
                for (k, v) in r.extra.iter().filter(|(k, _)| *k != "Location") {
                    push(&mut h, k, v);
                }
            }
            Flavour::Apache => {
                push(&mut h, "Date", date);
                push(&mut h, "Server", f.server);
                for (k, v) in &r.extra {
                    push(&mut h, k, v);
                }
                if let Some(lm) = &last_modified {
                    push(&mut h, "Last-Modified", lm);
                }
                if let Some(e) = &etag {
                    push(&mut h, "ETag", e);
                    push(&mut h, "Accept-Ranges", "bytes");
                }
                if has_length {
                    push(&mut h, "Content-Length", &len.to_string());
                }
                // mod_deflate's marker on what it could have compressed.
                if r.file.is_some() {
                    push(&mut h, "Vary", "Accept-Encoding");
                }
                if let Some(cr) = &r.content_range {
                    push(&mut h, "Content-Range", cr);
                }
                connection(&mut h);
                if let Some(ct) = &r.content_type {
                    push(&mut h, "Content-Type", ct);
                }
            }
            Flavour::Generic => {
                push(&mut h, "Server", f.server);
                if let Some(ct) = &r.content_type {
                    push(&mut h, "Content-Type", ct);
                }
                for (k, v) in &r.extra {
                    push(&mut h, k, v);
                }
                if has_length {
                    push(&mut h, "Content-Length", &len.to_string());
                }
                push(&mut h, "Date", date);
                if !f.keep_alive {
                    push(&mut h, "Connection", "close");
                }
            }
        }
        h.push_str("\r\n");
        let mut out = h.into_bytes();
        if !f.head_only && r.status != 304 {
            out.extend_from_slice(&r.body);
        }
        out
    }

    fn etag(self, m: FileMeta, len: usize) -> String {
        match self {
            Flavour::Apache => format!(
                "\"{len:x}-{:x}\"",
                m.mtime as u64 * 1_000_000 + u64::from(m.micros)
            ),
            _ => format!("\"{:x}-{len:x}\"", m.mtime),
        }
    }
}

/// The whole file's length (a partial answer's ETag is the file's).
fn len_for_etag(r: &Reply) -> usize {
    r.content_range
        .as_deref()
        .and_then(|cr| cr.rsplit('/').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(r.body.len())
}

/// What a server answers instead of a static file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MethodAnswer {
    /// Its error page with this status.
    Error(u16),
    /// Apache's `OPTIONS`: 200, `Allow`, empty body.
    Options,
    /// Apache's 405 with this `Allow`.
    NotAllowed(&'static str),
    /// Apache's 501 with this `Allow`.
    NotImplemented(&'static str),
}

/// What Apache's default handler lists in `Allow` for a static file.
pub const APACHE_ALLOW: &str = "GET,POST,OPTIONS,HEAD";

/// Methods Apache registers (the rest are 501).
const APACHE_KNOWN_METHODS: &[&str] = &[
    "PUT",
    "DELETE",
    "CONNECT",
    "PATCH",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "VERSION-CONTROL",
    "CHECKOUT",
    "UNCHECKOUT",
    "CHECKIN",
    "UPDATE",
    "LABEL",
    "REPORT",
    "MKWORKSPACE",
    "MKACTIVITY",
    "BASELINE-CONTROL",
    "MERGE",
];

fn push(h: &mut String, k: &str, v: &str) {
    h.push_str(k);
    h.push_str(": ");
    h.push_str(v);
    h.push_str("\r\n");
}

/// An HTTP date (RFC 9110 IMF-fixdate).
pub fn http_date(unix: i64) -> String {
    // httpdate writes the fixed layout directly (chrono's strftime parsed
    // its pattern on every response: a few % of a request's CPU). It
    // takes times from the epoch to year 9999, as chrono's default did
    // for what it could not represent.
    const LAST: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let secs = u64::try_from(unix).unwrap_or(0).min(LAST);
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// Escapes text for HTML.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx() -> ErrorContext<'static> {
        ErrorContext {
            host: "127.0.0.1",
            port: 80,
            method: "GET",
        }
    }

    /// The layout servers write, as chrono spells it.
    fn chrono_date(unix: i64) -> String {
        chrono::DateTime::from_timestamp(unix, 0)
            .unwrap_or_default()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string()
    }

    #[test]
    fn http_dates_are_imf_fixdate() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        // Before the epoch and past year 9999: clamped, never a panic.
        assert_eq!(http_date(-5), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
        // Leap days and century years.
        for t in [951_782_400, 4_107_542_400, 1_709_164_800, 1_700_000_000] {
            assert_eq!(http_date(t), chrono_date(t), "{t}");
        }
    }

    proptest::proptest! {
        #[test]
        fn http_dates_match_chrono_in_range(t in 0i64..253_402_300_799) {
            proptest::prop_assert_eq!(http_date(t), chrono_date(t));
        }
    }

    #[test]
    fn nginx_error_pages_have_debian_nginx_lengths() {
        for (code, len) in [(400, 157), (404, 153), (405, 157), (414, 177), (505, 187)] {
            let (ct, body) = Flavour::Nginx.error_page(code, "nginx/1.22.1", &cx());
            assert_eq!((ct, body.len()), ("text/html", len), "{code}");
        }
        let (_, _, big) =
            Flavour::Nginx.head_error_page(HeadError::FieldTooLarge, "nginx/1.22.1", &cx());
        assert_eq!(big.len(), 233);
    }

    #[test]
    fn apache_error_pages_have_debian_apache_lengths() {
        let s = "Apache/2.4.71 (Debian)";
        let at = |host: &'static str, method: &'static str| ErrorContext {
            host,
            port: 80,
            method,
        };
        for (code, cx, len) in [
            (400, at("127.0.0.1", "GET"), 341),
            (404, at("127.0.59.81", "GET"), 313),
            (403, at("127.0.59.81", "GET"), 316),
            (405, at("127.0.59.81", "DELETE"), 340),
            (501, at("127.0.59.81", "FOO"), 319),
            (414, at("127.0.0.1", "GET"), 363),
        ] {
            let (ct, body) = Flavour::Apache.error_page(code, s, &cx);
            assert_eq!(ct, "text/html; charset=iso-8859-1");
            assert_eq!(body.len(), len, "{code}: {body}");
        }
        let (_, _, big) = Flavour::Apache.head_error_page(HeadError::FieldTooLarge, s, &cx());
        assert_eq!(big.len(), 393);
    }

    #[test]
    fn header_order_follows_the_server() {
        let mut r = Reply::new(200, "text/html", "hello");
        r.file = Some(FileMeta {
            mtime: 1_700_000_000,
            micros: 5,
        });
        let f = Frame {
            server: "nginx/1.22.1",
            keep_alive: false,
            http10: false,
            head_only: false,
        };
        let out = String::from_utf8(Flavour::Nginx.render(&r, &f, "D")).unwrap();
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: D\r\nContent-Type: text/html\r\nContent-Length: 5\r\nLast-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\nConnection: close\r\nETag: \"6553f100-5\"\r\nAccept-Ranges: bytes\r\n\r\nhello"
        );
        let f = Frame {
            server: "Apache/2.4.71 (Debian)",
            keep_alive: true,
            http10: false,
            head_only: true,
        };
        let out = String::from_utf8(Flavour::Apache.render(&r, &f, "D")).unwrap();
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\nDate: D\r\nServer: Apache/2.4.71 (Debian)\r\nLast-Modified: Tue, 14 Nov 2023 22:13:20 GMT\r\nETag: \"5-60a24181e4005\"\r\nAccept-Ranges: bytes\r\nContent-Length: 5\r\nVary: Accept-Encoding\r\nContent-Type: text/html\r\n\r\n"
        );
    }

    #[test]
    fn static_method_rules_differ_per_server() {
        assert_eq!(Flavour::Nginx.static_method_gate("GET", true), None);
        assert_eq!(
            Flavour::Nginx.static_method_gate("POST", true),
            Some(MethodAnswer::Error(405))
        );
        assert_eq!(Flavour::Nginx.static_method_gate("PUT", false), None);
        assert_eq!(Flavour::Apache.static_method_gate("POST", true), None);
        assert_eq!(
            Flavour::Apache.static_method_gate("OPTIONS", true),
            Some(MethodAnswer::Options)
        );
        assert_eq!(
            Flavour::Apache.static_method_gate("FOO", false),
            Some(MethodAnswer::NotImplemented(APACHE_ALLOW))
        );
    }
}
