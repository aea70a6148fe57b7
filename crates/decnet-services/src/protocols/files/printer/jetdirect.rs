//! Raw JetDirect (9100): PJL lines are answered or recorded, everything
//! else is the print job, streamed to an artifact as it arrives.

use std::sync::Arc;

use decnet_core::EventKind;
use tokio::io::AsyncWriteExt;

use super::{PrinterHandler, MAX_JOB};
use crate::artifacts::Capture;
use crate::fields;
use crate::io::read_some_idle;
use crate::session::Session;
use crate::wire::ipp;

/// Longest PJL line looked for; longer runs without a newline are job data.
const MAX_PJL_LINE: usize = 8192;
/// Trailing whitespace held back (a job's end is trimmed of it); past this
/// it is written out like any data.
const MAX_TAIL: usize = 64 * 1024;

/// The job of one connection: written out as it comes, except trailing
/// whitespace and escape bytes, which are held until more data follows
/// (so the stored job ends where the printable job does). A job that is
/// only whitespace is never stored.
struct Job {
    capture: Option<Capture>,
    tail: Vec<u8>,
}

impl Job {
    fn new() -> Job {
        Job {
            capture: None,
            tail: Vec::new(),
        }
    }

    async fn push(&mut self, session: &Session, bytes: &[u8]) {
        let is_tail = |b: &u8| *b == 0x1b || b.is_ascii_whitespace();
        let cut = bytes.iter().rposition(|b| !is_tail(b)).map_or(0, |i| i + 1);
        if cut == 0 && self.tail.len() + bytes.len() <= MAX_TAIL {
            self.tail.extend_from_slice(bytes);
            return;
        }
        let capture = self
            .capture
            .get_or_insert_with(|| Capture::new(session).with_max(MAX_JOB));
        let tail = std::mem::take(&mut self.tail);
        let _ = capture.write(&tail).await;
        let _ = capture.write(&bytes[..cut]).await;
        self.tail.extend_from_slice(&bytes[cut..]);
    }

    async fn finish(self, session: &Session) {
        let Some(capture) = self.capture else {
            return;
        };
        let extra = fields! {"protocol" => "jetdirect", "kind" => "print_job"};
        let _ = capture.finish(session, "jetdirect-job", extra).await;
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

    /// Runs one JetDirect connection until the client is done.
    pub(super) async fn jetdirect(self: Arc<Self>, conn: crate::Conn, session: Session) {
        let idle = session.limits().idle_timeout;
        let (mut rd, mut wr) = conn.stream.into_split();
        let mut buf: Vec<u8> = Vec::with_capacity(4096);
        let mut job = Job::new();
        let mut chunk = vec![0u8; 16 * 1024];
        while let Ok(n) = read_some_idle(&mut rd, &mut chunk, idle).await {
            buf.extend_from_slice(&chunk[..n]);
            while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let Some(cmd) = ipp::pjl_command(&line) else {
                    let l = line
                        .strip_prefix(b"\x1b%-12345X".as_slice())
                        .unwrap_or(&line);
                    job.push(&session, l).await;
                    continue;
                };
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
            if buf.len() > MAX_PJL_LINE {
                let rest = std::mem::take(&mut buf);
                job.push(&session, &rest).await;
            }
        }
        job.push(&session, &buf).await;
        job.finish(&session).await;
    }
}
