//! IPP over HTTP/1.1 (631): requests are decoded from the first bytes of
//! the body (the attribute groups, at most [`MAX_IPP_HEAD`]); the document
//! of a Print-Job or Send-Document that follows is streamed to an artifact
//! as it arrives, never held whole.

use std::sync::Arc;
use std::time::Duration;

use decnet_core::EventKind;
use tokio::io::{AsyncRead, AsyncWriteExt};

use super::{PrinterHandler, MAX_JOB};
use crate::artifacts::Capture;
use crate::io::LineReader;
use crate::session::Session;
use crate::wire::ipp::{self, attr, IppRequest};
use crate::{fields, Conn};

/// Most body bytes read to find the end of the attribute groups.
pub const MAX_IPP_HEAD: usize = 64 * 1024;

/// An HTTP request body being read: `Content-Length` or chunked, at most
/// [`MAX_JOB`] bytes in all.
struct Body {
    chunked: bool,
    /// Bytes left in the body (content-length) or in the current chunk.
    left: usize,
    total: usize,
    done: bool,
}

impl Body {
    /// `None` when the announced length is over [`MAX_JOB`].
    fn new(headers: &[(String, String)]) -> Option<Body> {
        let get = |k: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.trim().to_owned())
        };
        let chunked = get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let len: usize = get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if !chunked && len > MAX_JOB {
            return None;
        }
        Some(Body {
            chunked,
            left: if chunked { 0 } else { len },
            total: 0,
            done: !chunked && len == 0,
        })
    }

    /// Reads the next bytes of the body into `out`; `Ok(0)` at its end,
    /// `Err` when it is malformed, too large, or the client stalled.
    async fn next<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut LineReader<R>,
        out: &mut [u8],
        idle: Duration,
    ) -> Result<usize, ()> {
        if self.done {
            return Ok(0);
        }
        if self.chunked && self.left == 0 {
            let line = r.read_line(64, idle).await.map_err(|_| ())?;
            let text = String::from_utf8_lossy(&line);
            let size = text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| ())?;
            if size == 0 {
                let _ = r.read_line(1024, idle).await;
                self.done = true;
                return Ok(0);
            }
            if self.total + size > MAX_JOB {
                return Err(());
            }
            self.left = size;
        }
        let want = self.left.min(out.len());
        let n = r.read_some(&mut out[..want], idle).await.map_err(|_| ())?;
        self.left -= n;
        self.total += n;
        if self.left == 0 {
            if self.chunked {
                let _ = r.read_line(8, idle).await;
            } else {
                self.done = true;
            }
        }
        Ok(n)
    }

    /// Reads and discards the rest.
    async fn drain<R: AsyncRead + Unpin>(
        &mut self,
        r: &mut LineReader<R>,
        idle: Duration,
    ) -> Result<(), ()> {
        let mut sink = vec![0u8; 16 * 1024];
        while self.next(r, &mut sink, idle).await? > 0 {}
        Ok(())
    }
}

/// Time to send a request line and headers (nginx's client_header_timeout).
const HEADER_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads a request line and its headers (at most 64 kept).
async fn read_head<R: AsyncRead + Unpin>(
    r: &mut LineReader<R>,
    max_line: usize,
    idle: Duration,
) -> Option<(String, String, Vec<(String, String)>)> {
    let start = r.read_line(max_line, idle).await.ok()?;
    let start = String::from_utf8_lossy(&start).into_owned();
    let mut parts = start.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("/").to_owned();
    let mut headers = Vec::new();
    loop {
        let l = r.read_line(max_line, idle).await.ok()?;
        if l.is_empty() {
            return Some((method, path, headers));
        }
        if headers.len() < 64 {
            let l = String::from_utf8_lossy(&l).into_owned();
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
    }
}

/// The IPP name of an operation, for events.
fn op_name(op: u16) -> &'static str {
    match op {
        0x0002 => "Print-Job",
        0x0004 => "Validate-Job",
        0x0005 => "Create-Job",
        0x0006 => "Send-Document",
        0x0008 => "Cancel-Job",
        0x0009 => "Get-Job-Attributes",
        0x000a => "Get-Jobs",
        0x000b => "Get-Printer-Attributes",
        0x4001 => "CUPS-Get-Default",
        0x4002 => "CUPS-Get-Printers",
        _ => "unknown",
    }
}

/// An IPP error response (client-error-bad-request) for an undecodable request.
fn bad_request() -> Vec<u8> {
    let mut out = vec![1, 1, 0x04, 0x00, 0, 0, 0, 0, 0x01];
    attr(&mut out, 0x47, "attributes-charset", b"utf-8");
    attr(&mut out, 0x48, "attributes-natural-language", b"en");
    out.push(0x03);
    out
}

impl PrinterHandler {
    fn printer_attrs(&self, out: &mut Vec<u8>) {
        let uri = format!("ipp://{}:631/ipp/print", self.uri_host);
        out.push(0x04);
        attr(out, 0x45, "printer-uri-supported", uri.as_bytes());
        attr(out, 0x44, "uri-security-supported", b"none");
        attr(out, 0x44, "uri-authentication-supported", b"none");
        attr(out, 0x42, "printer-name", self.name.as_bytes());
        attr(out, 0x41, "printer-location", self.location.as_bytes());
        attr(out, 0x41, "printer-info", self.model.as_bytes());
        attr(out, 0x41, "printer-make-and-model", self.model.as_bytes());
        attr(out, 0x23, "printer-state", &3u32.to_be_bytes());
        attr(out, 0x44, "printer-state-reasons", b"none");
        attr(out, 0x44, "ipp-versions-supported", b"1.1");
        attr(out, 0x44, "", b"2.0");
        for (i, op) in [2u32, 4, 8, 9, 10, 11].iter().enumerate() {
            attr(
                out,
                0x23,
                if i == 0 { "operations-supported" } else { "" },
                &op.to_be_bytes(),
            );
        }
        attr(out, 0x22, "printer-is-accepting-jobs", &[1]);
        attr(out, 0x21, "queued-job-count", &0u32.to_be_bytes());
        let up = (chrono::Utc::now() - self.boot).num_seconds().max(1) as u32;
        attr(out, 0x21, "printer-up-time", &up.to_be_bytes());
        attr(out, 0x47, "charset-configured", b"utf-8");
        attr(out, 0x47, "charset-supported", b"utf-8");
        attr(out, 0x48, "natural-language-configured", b"en");
        attr(out, 0x48, "generated-natural-language-supported", b"en");
        attr(
            out,
            0x49,
            "document-format-default",
            b"application/octet-stream",
        );
        for (i, f) in [
            "application/octet-stream",
            "application/pdf",
            "application/postscript",
            "application/vnd.hp-PCL",
            "image/urf",
        ]
        .iter()
        .enumerate()
        {
            attr(
                out,
                0x49,
                if i == 0 {
                    "document-format-supported"
                } else {
                    ""
                },
                f.as_bytes(),
            );
        }
        attr(out, 0x44, "pdl-override-supported", b"attempted");
        attr(out, 0x44, "compression-supported", b"none");
        attr(
            out,
            0x41,
            "printer-device-id",
            format!("MFG:HP;MDL:{};CMD:PJL,PCL,PDF,POSTSCRIPT;", self.model).as_bytes(),
        );
        attr(out, 0x41, "printer-serial-number", self.serial.as_bytes());
    }

    /// Reads one POSTed IPP request and answers it; `None` closes the
    /// connection (body too large or malformed).
    async fn post<R: AsyncRead + Unpin>(
        &self,
        r: &mut LineReader<R>,
        headers: &[(String, String)],
        session: &Session,
    ) -> Option<Vec<u8>> {
        let idle = session.limits().idle_timeout;
        let mut body = Body::new(headers)?;
        let mut chunk = vec![0u8; 16 * 1024];
        let mut head = Vec::new();
        let parsed = loop {
            if let Ok(p) = ipp::request(&head) {
                break Ok(p);
            }
            let n = if head.len() < MAX_IPP_HEAD {
                body.next(r, &mut chunk, idle).await.ok()?
            } else {
                0
            };
            if n == 0 {
                break ipp::request(&head);
            }
            head.extend_from_slice(&chunk[..n]);
        };
        let parsed = match parsed {
            Ok(p) => p,
            Err(e) => {
                session.emit_error(format!("ipp: {e}"));
                body.drain(r, idle).await.ok()?;
                return Some(bad_request());
            }
        };
        self.record(&parsed, session);
        let (status, printer, job) = match parsed.op {
            0x000b | 0x4001 | 0x4002 => (0u16, true, None),
            0x0002 | 0x0006 => {
                let doc = &head[parsed.data_offset..];
                self.capture_job(&parsed, doc, &mut body, r, session)
                    .await?;
                (0, false, Some(rand::random::<u16>() as u32 % 900 + 100))
            }
            0x0004 | 0x0008 | 0x000a => (0, false, None),
            0x0005 => (0, false, Some(rand::random::<u16>() as u32 % 900 + 100)),
            _ => (0x0501, false, None),
        };
        body.drain(r, idle).await.ok()?;
        Some(self.response(&parsed, status, printer, job))
    }

    fn record(&self, parsed: &IppRequest, session: &Session) {
        session.emit(
            EventKind::Request,
            fields! {
                "request" => op_name(parsed.op),
                "ipp_operation" => format!("{:#06x}", parsed.op),
                "requesting_user" => parsed.attr("requesting-user-name"),
                "job_name" => parsed.attr("job-name"),
                "printer_uri" => parsed.attr("printer-uri"),
            },
        );
    }

    /// Streams the document (what followed the attributes, then the rest
    /// of the body) to an artifact.
    async fn capture_job<R: AsyncRead + Unpin>(
        &self,
        parsed: &IppRequest,
        first: &[u8],
        body: &mut Body,
        r: &mut LineReader<R>,
        session: &Session,
    ) -> Option<()> {
        let idle = session.limits().idle_timeout;
        let mut capture = Capture::new(session).with_max(MAX_JOB);
        let _ = capture.write(first).await;
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            let n = body.next(r, &mut chunk, idle).await.ok()?;
            if n == 0 {
                break;
            }
            let _ = capture.write(&chunk[..n]).await;
        }
        let name = parsed.attr("job-name").unwrap_or_else(|| "ipp-job".into());
        let extra = fields! {"protocol" => "ipp", "kind" => "print_job", "document_format" => parsed.attr("document-format")};
        let _ = capture.finish(session, &name, extra).await;
        Some(())
    }

    fn response(
        &self,
        parsed: &IppRequest,
        status: u16,
        printer: bool,
        job: Option<u32>,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(&[parsed.version.0.max(1), parsed.version.1]);
        out.extend_from_slice(&status.to_be_bytes());
        out.extend_from_slice(&parsed.request_id.to_be_bytes());
        out.push(0x01);
        attr(&mut out, 0x47, "attributes-charset", b"utf-8");
        attr(&mut out, 0x48, "attributes-natural-language", b"en");
        if printer {
            self.printer_attrs(&mut out);
        }
        if let Some(id) = job {
            out.push(0x02);
            attr(&mut out, 0x21, "job-id", &id.to_be_bytes());
            let uri = format!("ipp://{}:631/jobs/{id}", self.uri_host);
            attr(&mut out, 0x45, "job-uri", uri.as_bytes());
            attr(&mut out, 0x23, "job-state", &5u32.to_be_bytes());
            attr(&mut out, 0x44, "job-state-reasons", b"job-printing");
        }
        out.push(0x03);
        out
    }

    /// Runs one IPP (HTTP/1.1) connection: up to 64 requests.
    pub(super) async fn ipp(self: Arc<Self>, conn: Conn, session: Session) {
        let idle = session.limits().idle_timeout;
        let max_line = session.limits().max_line;
        let (rd, mut wr) = conn.stream.into_split();
        let mut r = LineReader::new(rd);
        for _ in 0..64 {
            let head = tokio::time::timeout(HEADER_TIMEOUT, read_head(&mut r, max_line, idle));
            let Ok(Some((method, path, headers))) = head.await else {
                return;
            };
            let (method, path) = (method.as_str(), path.as_str());
            let server = "Server: HP HTTP Server; HP LaserJet - IPP/2.0\r\n";
            let resp = if method.eq_ignore_ascii_case("POST") {
                let Some(ipp_out) = self.post(&mut r, &headers, &session).await else {
                    session.emit_error("ipp: body too large or malformed");
                    return;
                };
                let mut h = format!(
                    "HTTP/1.1 200 OK\r\n{server}Content-Type: application/ipp\r\nContent-Length: {}\r\n\r\n",
                    ipp_out.len()
                )
                .into_bytes();
                h.extend_from_slice(&ipp_out);
                h
            } else {
                session.emit(
                    EventKind::Request,
                    fields! {"request" => format!("{method} {path}"), "method" => method, "path" => path},
                );
                let page = format!(
                    "<html><head><title>{m}</title></head><body><h1>{m}</h1><p>{n} &mdash; {l}</p></body></html>",
                    m = self.model,
                    n = self.name,
                    l = self.location
                );
                format!(
                    "HTTP/1.1 200 OK\r\n{server}Content-Type: text/html\r\nContent-Length: {}\r\n\r\n{page}",
                    page.len()
                )
                .into_bytes()
            };
            if wr.write_all(&resp).await.is_err() {
                return;
            }
        }
    }
}
