//! A bounded line-protocol connection that can switch to TLS mid-stream
//! (STARTTLS for smtp/pop3/imap, AUTH TLS for ftp): lines capped at
//! `Limits::max_line`, protocol errors counted, every read under the idle
//! timeout.

use std::sync::Arc;
use std::time::Duration;

use decnet_core::EventKind;
use tokio::io::AsyncWriteExt;

use crate::fields;
pub use crate::io::RefuseEarly;
use crate::io::{Early, LineReader, ReadError};
use crate::session::Session;
use crate::tls::{BoxIo, Tagged, TlsIdentity};

/// Protocol errors (oversize lines, garbage) tolerated before hanging up.
pub const MAX_ERRORS: u32 = 20;

/// A line-protocol connection that may switch to TLS mid-stream.
pub struct LineConn {
    reader: LineReader<BoxIo>,
    /// The session, tagged with the TLS fingerprint after STARTTLS.
    pub tagged: Tagged,
    tls: Option<Arc<TlsIdentity>>,
    /// True once STARTTLS completed.
    pub secure: bool,
    /// Protocol errors so far.
    pub errors: u32,
    /// Reply sent for a line over the limit (`None`: only the error event).
    pub too_long_reply: &'static str,
    /// End the connection after `too_long_reply` (what Dovecot does when
    /// its input buffer overflows), instead of reading on.
    pub close_on_too_long: bool,
    /// The imitated daemon's own line limit, when lower than the session's.
    pub line_cap: usize,
    /// Answer an overflow as soon as the buffered part passes the limit
    /// (a daemon whose input buffer filled up), not at the newline.
    pub overflow_at_once: bool,
}

/// A line, or the start of one refused before its newline arrived (those
/// bytes are consumed; the rest of that line is still to come).
pub enum Judged {
    /// A whole line.
    Line(Vec<u8>),
    /// Refused by its start (the bytes read so far).
    Refused(Vec<u8>),
}

impl LineConn {
    /// Wraps an accepted socket.
    pub fn new(
        io: BoxIo,
        session: Session,
        tls: Option<Arc<TlsIdentity>>,
        too_long_reply: &'static str,
    ) -> Self {
        LineConn {
            reader: LineReader::new(io),
            tagged: Tagged::new(session),
            tls,
            secure: false,
            errors: 0,
            too_long_reply,
            close_on_too_long: false,
            line_cap: usize::MAX,
            overflow_at_once: false,
        }
    }

    /// Wraps an accepted TCP connection.
    pub fn accept(
        conn: crate::Conn,
        session: Session,
        tls: Option<Arc<TlsIdentity>>,
        too_long_reply: &'static str,
    ) -> Self {
        LineConn::new(Box::new(conn.stream), session, tls, too_long_reply)
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.tagged.session
    }

    /// True when STARTTLS can be offered.
    pub fn can_starttls(&self) -> bool {
        self.tls.is_some() && !self.secure
    }

    /// Writes a reply (CRLF added by the caller).
    pub async fn send(&mut self, s: &str) -> bool {
        self.send_bytes(s.as_bytes()).await
    }

    /// Writes raw bytes.
    pub async fn send_bytes(&mut self, b: &[u8]) -> bool {
        let w = self.reader.get_mut();
        matches!(
            tokio::time::timeout(Duration::from_secs(30), async {
                w.write_all(b).await?;
                w.flush().await
            })
            .await,
            Ok(Ok(()))
        )
    }

    /// Reads one line. Oversized lines get `too_long_reply` and an `error`
    /// event; `None` means the connection is over (EOF, idle timeout — with
    /// `timeout_reply` sent — or too many errors).
    pub async fn read_line(&mut self, timeout_reply: &str) -> Option<Vec<u8>> {
        match self.read_line_judged(timeout_reply, None).await? {
            Judged::Line(l) => Some(l),
            Judged::Refused(_) => None,
        }
    }

    /// [`Self::read_line`], where `refuse` may reject a line by its start
    /// before the newline arrives.
    pub async fn read_line_judged(
        &mut self,
        timeout_reply: &str,
        refuse: Option<RefuseEarly<'_>>,
    ) -> Option<Judged> {
        let max = self.session().limits().max_line.min(self.line_cap);
        let idle = self.session().limits().idle_timeout;
        let early = Early {
            overflow: self.overflow_at_once,
            refuse,
        };
        loop {
            match self.reader.read_line_early(max, idle, early).await {
                Err(ReadError::Refused(part)) => return Some(Judged::Refused(part)),
                Ok(line) => {
                    if line.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
                        self.tagged.emit_error(format!(
                            "binary data in command: {}",
                            decnet_core::event::printable(&line[..line.len().min(64)])
                        ));
                        if !self.count_error() {
                            return None;
                        }
                    }
                    return Some(Judged::Line(line));
                }
                Err(ReadError::TooLong(n)) => {
                    self.tagged
                        .emit_error(format!("line longer than {n} bytes"));
                    if !self.too_long_reply.is_empty() {
                        let r = self.too_long_reply;
                        if !self.send(r).await {
                            return None;
                        }
                    }
                    if self.close_on_too_long || !self.count_error() {
                        return None;
                    }
                }
                Err(ReadError::Timeout) => {
                    self.tagged.emit_error("idle timeout");
                    if !timeout_reply.is_empty() {
                        let _ = self.send(timeout_reply).await;
                    }
                    return None;
                }
                Err(_) => return None,
            }
        }
    }

    /// Reads exactly `n` bytes (IMAP literals, capped by the caller).
    pub async fn read_exact(&mut self, n: usize) -> Option<Vec<u8>> {
        let idle = self.session().limits().idle_timeout;
        let mut out = vec![0u8; n];
        let mut got = 0;
        while got < n {
            match self.reader.read_some(&mut out[got..], idle).await {
                Ok(k) => got += k,
                Err(_) => return None,
            }
        }
        Some(out)
    }

    /// Counts a protocol error; false once there were too many.
    pub fn count_error(&mut self) -> bool {
        self.errors += 1;
        self.errors < MAX_ERRORS
    }

    /// Publishes a `command` event for a protocol line.
    pub fn command(&self, line: &[u8]) {
        let cut = &line[..line.len().min(1024)];
        self.tagged.emit(
            EventKind::Command,
            fields! {"command" => decnet_core::event::printable(cut)},
        );
    }

    /// Switches to TLS after the "go ahead" reply was sent. False: the
    /// connection is unusable (handshake failed) and must be dropped.
    pub async fn starttls(&mut self) -> bool {
        let Some(tls) = self.tls.clone() else {
            return false;
        };
        let placeholder: BoxIo = Box::new(tokio::io::duplex(1).0);
        let reader = std::mem::replace(&mut self.reader, LineReader::new(placeholder));
        let (io, rest) = reader.into_parts();
        if !rest.is_empty() {
            // RFC 3207 §4.2: plaintext pipelined after STARTTLS must be dropped.
            self.tagged.emit_error(format!(
                "{} bytes pipelined after STARTTLS discarded",
                rest.len()
            ));
        }
        let idle = self.session().limits().idle_timeout;
        match crate::tls::starttls(&tls, io, &mut self.tagged, idle).await {
            Some(io) => {
                self.reader = LineReader::new(io);
                self.secure = true;
                true
            }
            None => false,
        }
    }
}

/// What a command asks the session loop to do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// Send this reply and read the next command.
    Reply(String),
    /// Nothing to send (the command answered by itself); read on.
    Quiet,
    /// End the session without a word.
    Close,
    /// Send this reply, then end the session.
    CloseWith(String),
}

impl LineConn {
    /// Carries out `next`; false when the session is over.
    pub async fn reply(&mut self, next: Next) -> bool {
        match next {
            Next::Reply(r) => self.send(&r).await,
            Next::Quiet => true,
            Next::Close => false,
            Next::CloseWith(r) => {
                let _ = self.send(&r).await;
                false
            }
        }
    }

    /// Waits the decky's failed-login delay, as a stock daemon does
    /// before answering a wrong password. False when the peer left
    /// meanwhile: the session ends at once and frees its slot.
    pub async fn auth_fail_delay(&mut self) -> bool {
        let delay = self.session().limits().auth_fail_delay;
        self.reader.sleep_unless_closed(delay).await
    }
}
