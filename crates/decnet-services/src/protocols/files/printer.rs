//! Network printer: IPP on 631 (HTTP POST of `application/ipp`:
//! Get-Printer-Attributes / CUPS-Get-Printers describe the persona's
//! printer, Print-Job documents are captured) and raw JetDirect on 9100
//! (PJL `@PJL INFO ID/STATUS/CONFIG/FILESYS` answered, file-system PJL
//! recorded as commands, everything else captured as the print job).
//! Jobs go to `artifacts::store`.

use std::sync::Arc;

use decnet_core::EventKind;
use futures::future::BoxFuture;
use rand::seq::SliceRandom;
use tokio::io::{AsyncRead, AsyncWriteExt};

use crate::ctx::DeckyCtx;
use crate::io::read_some_idle;
use crate::io::LineReader;
use crate::session::Session;
use crate::wire::ipp::{self, attr};
use crate::{artifacts, fields, Conn, Handler, Service, ServiceError};

/// Largest print job kept (bytes beyond are counted, not stored).
pub const MAX_JOB: usize = 8 * 1024 * 1024;

/// The `printer` service.
pub struct Printer;

/// Per-decky printer persona.
pub struct PrinterHandler {
    model: String,
    name: String,
    location: String,
    serial: String,
    boot: chrono::DateTime<chrono::Utc>,
    uri_host: String,
}

const MODELS: &[&str] = &[
    "HP LaserJet Pro M404dn",
    "HP LaserJet Enterprise M507",
    "HP Color LaserJet MFP M479fdw",
    "HP OfficeJet Pro 9025",
];

impl Service for Printer {
    fn name(&self) -> &'static str {
        "printer"
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        use rand::Rng;
        let mut rng = decnet_core::DeckySeed::new(decky.name(), decky.generation).rng("printer");
        let model = *MODELS.choose(&mut rng).unwrap_or(&MODELS[0]);
        let model = decky.config("printer", "model").unwrap_or(model).to_owned();
        Ok(Arc::new(PrinterHandler {
            model,
            name: decky.persona.hostname.clone(),
            location: decky
                .config("printer", "location")
                .unwrap_or(
                    ["2nd floor copy room", "Finance", "Reception", "HR office"]
                        [rng.gen_range(0..4)],
                )
                .to_owned(),
            serial: format!(
                "VNB{}{:06}",
                ["3R", "4K", "8W"][rng.gen_range(0..3)],
                rng.gen_range(0..1_000_000u32)
            ),
            boot: decky.persona.boot_time,
            uri_host: decky.ip().to_string(),
        }))
    }
}

impl PrinterHandler {
    fn pjl_answer(&self, cmd: &str) -> Option<String> {
        let up = cmd.to_ascii_uppercase();
        let body = if up.starts_with("@PJL INFO ID") {
            format!("\"{}\"", self.model)
        } else if up.starts_with("@PJL INFO STATUS") {
            "CODE=10001\r\nDISPLAY=\"Ready\"\r\nONLINE=TRUE".to_owned()
        } else if up.starts_with("@PJL INFO CONFIG") {
            "IN TRAYS [2 ENUMERATED]\r\n\tINTRAY1 MP\r\n\tINTRAY2 PC\r\nDUPLEX\r\nMEMORY=536870912"
                .to_owned()
        } else if up.starts_with("@PJL INFO FILESYS") {
            "VOLUME TOTAL SIZE FREE SPACE LOCATION LABEL STATUS\r\n0:\t  134217728\t  121634816\tRAM  ?  READ-WRITE".to_owned()
        } else if up.starts_with("@PJL INFO PRODINFO") {
            format!("SERIALNUMBER={}", self.serial)
        } else if up.starts_with("@PJL FSDIRLIST") || up.starts_with("@PJL FSQUERY") {
            "FILEERROR=3".to_owned()
        } else {
            return None;
        };
        Some(format!("{cmd}\r\n{body}\r\n\x0c"))
    }

    async fn jetdirect(self: Arc<Self>, conn: Conn, session: Session) {
        let idle = session.limits().idle_timeout;
        let (mut rd, mut wr) = conn.stream.into_split();
        let mut buf: Vec<u8> = Vec::with_capacity(4096);
        let mut job: Vec<u8> = Vec::new();
        let mut total = 0usize;
        let mut chunk = vec![0u8; 16 * 1024];
        let push_job = |job: &mut Vec<u8>, b: &[u8], total: &mut usize| {
            *total += b.len();
            let room = MAX_JOB.saturating_sub(job.len());
            job.extend_from_slice(&b[..b.len().min(room)]);
        };
        loop {
            let n = match read_some_idle(&mut rd, &mut chunk, idle).await {
                Ok(n) => n,
                Err(_) => break,
            };
            buf.extend_from_slice(&chunk[..n]);
            while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                match ipp::pjl_command(&line) {
                    Some(cmd) => {
                        session.emit(
                            EventKind::Command,
                            fields! {"command" => cmd.clone(), "protocol" => "pjl"},
                        );
                        if let Some(a) = self.pjl_answer(&cmd) {
                            if wr.write_all(a.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                    None => {
                        let l = line
                            .strip_prefix(b"\x1b%-12345X".as_slice())
                            .unwrap_or(&line);
                        push_job(&mut job, l, &mut total);
                    }
                }
            }
            if buf.len() > 8192 {
                let rest = std::mem::take(&mut buf);
                push_job(&mut job, &rest, &mut total);
            }
        }
        let rest = std::mem::take(&mut buf);
        push_job(&mut job, &rest, &mut total);
        while job
            .last()
            .is_some_and(|b| *b == 0x1b || b.is_ascii_whitespace())
        {
            job.pop();
        }
        if job.iter().any(|b| !b.is_ascii_whitespace()) {
            let truncated = total > job.len();
            let _ = artifacts::store(
                &session,
                "jetdirect-job",
                &job,
                truncated,
                fields! {"protocol" => "jetdirect", "kind" => "print_job"},
            )
            .await;
        }
    }

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

    async fn ipp_request(&self, req: &[u8], session: &Session) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        let parsed = match ipp::request(req) {
            Ok(r) => r,
            Err(e) => {
                session.emit_error(format!("ipp: {e}"));
                out.extend_from_slice(&[1, 1, 0x04, 0x00, 0, 0, 0, 0, 0x01]);
                attr(&mut out, 0x47, "attributes-charset", b"utf-8");
                attr(&mut out, 0x48, "attributes-natural-language", b"en");
                out.push(0x03);
                return out;
            }
        };
        let op_name = match parsed.op {
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
        };
        session.emit(
            EventKind::Request,
            fields! {
                "request" => op_name,
                "ipp_operation" => format!("{:#06x}", parsed.op),
                "requesting_user" => parsed.attr("requesting-user-name"),
                "job_name" => parsed.attr("job-name"),
                "printer_uri" => parsed.attr("printer-uri"),
            },
        );
        let (status, printer, job) = match parsed.op {
            0x000b | 0x4001 | 0x4002 => (0u16, true, None),
            0x0002 | 0x0006 => {
                let data = &req[parsed.data_offset..];
                let name = parsed.attr("job-name").unwrap_or_else(|| "ipp-job".into());
                let _ = artifacts::store(
                    session,
                    &name,
                    data,
                    false,
                    fields! {"protocol" => "ipp", "kind" => "print_job", "document_format" => parsed.attr("document-format")},
                )
                .await;
                (0, false, Some(rand::random::<u16>() as u32 % 900 + 100))
            }
            0x0004 | 0x0008 | 0x000a => (0, false, None),
            0x0005 => (0, false, Some(rand::random::<u16>() as u32 % 900 + 100)),
            _ => (0x0501, false, None),
        };
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

    async fn read_body<R: AsyncRead + Unpin>(
        r: &mut LineReader<R>,
        headers: &[(String, String)],
        idle: std::time::Duration,
    ) -> Option<Vec<u8>> {
        let get = |k: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.trim().to_owned())
        };
        let mut body = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                let line = r.read_line(64, idle).await.ok()?;
                let size = usize::from_str_radix(
                    String::from_utf8_lossy(&line).split(';').next()?.trim(),
                    16,
                )
                .ok()?;
                if size == 0 {
                    let _ = r.read_line(1024, idle).await;
                    return Some(body);
                }
                if body.len() + size > MAX_JOB {
                    return None;
                }
                let mut left = size;
                while left > 0 {
                    let want = left.min(chunk.len());
                    let n = r.read_some(&mut chunk[..want], idle).await.ok()?;
                    body.extend_from_slice(&chunk[..n]);
                    left -= n;
                }
                let _ = r.read_line(8, idle).await;
            }
        }
        let len: usize = get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if len > MAX_JOB {
            return None;
        }
        while body.len() < len {
            let want = (len - body.len()).min(chunk.len());
            let n = r.read_some(&mut chunk[..want], idle).await.ok()?;
            body.extend_from_slice(&chunk[..n]);
        }
        Some(body)
    }

    async fn ipp(self: Arc<Self>, conn: Conn, session: Session) {
        let idle = session.limits().idle_timeout;
        let max_line = session.limits().max_line;
        let (rd, mut wr) = conn.stream.into_split();
        let mut r = LineReader::new(rd);
        for _ in 0..64 {
            let Ok(start) = r.read_line(max_line, idle).await else {
                return;
            };
            let start = String::from_utf8_lossy(&start).into_owned();
            let mut parts = start.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
            let mut headers = Vec::new();
            loop {
                let Ok(l) = r.read_line(max_line, idle).await else {
                    return;
                };
                if l.is_empty() {
                    break;
                }
                if headers.len() < 64 {
                    let l = String::from_utf8_lossy(&l).into_owned();
                    if let Some((k, v)) = l.split_once(':') {
                        headers.push((k.trim().to_owned(), v.trim().to_owned()));
                    }
                }
            }
            let server = "Server: HP HTTP Server; HP LaserJet - IPP/2.0\r\n";
            let resp = if method.eq_ignore_ascii_case("POST") {
                let Some(body) = Self::read_body(&mut r, &headers, idle).await else {
                    session.emit_error("ipp: body too large or malformed");
                    return;
                };
                let ipp_out = self.ipp_request(&body, &session).await;
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

impl Handler for PrinterHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        match conn.nominal_port {
            9100 => Box::pin(self.jetdirect(conn, session)),
            _ => Box::pin(self.ipp(conn, session)),
        }
    }
}
