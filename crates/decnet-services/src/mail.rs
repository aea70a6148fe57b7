//! What smtp, pop3 and imap share: a bounded line connection that can be
//! upgraded with STARTTLS, SASL PLAIN/LOGIN exchanges, the login check and
//! the plausible mailbox shown after a login.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use decnet_core::EventKind;
use rand::Rng;
use tokio::io::AsyncWriteExt;

use crate::creds::Credentials;
use crate::ctx::{DeckyCtx, Session};
use crate::fields;
use crate::io::{LineReader, ReadError};
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
}

/// Outcome of a SASL exchange.
#[derive(Debug, PartialEq, Eq)]
pub enum SaslOutcome {
    /// Credentials received.
    Creds {
        /// Username (authcid).
        user: String,
        /// Password bytes.
        pass: Vec<u8>,
    },
    /// Client sent `*`.
    Cancelled,
    /// Undecodable response.
    Malformed,
    /// Connection gone.
    Closed,
}

/// A SASL mechanism we speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mech {
    /// RFC 4616.
    Plain,
    /// The de-facto LOGIN mechanism.
    Login,
}

impl Mech {
    /// Parses a mechanism name.
    pub fn parse(s: &str) -> Option<Mech> {
        if s.eq_ignore_ascii_case("PLAIN") {
            Some(Mech::Plain)
        } else if s.eq_ignore_ascii_case("LOGIN") {
            Some(Mech::Login)
        } else {
            None
        }
    }

    /// Lowercase name for events.
    pub fn name(self) -> &'static str {
        match self {
            Mech::Plain => "plain",
            Mech::Login => "login",
        }
    }
}

/// Decodes a base64 SASL response (whitespace trimmed; `=` is empty).
pub fn b64(data: &[u8]) -> Option<Vec<u8>> {
    let t = data.trim_ascii();
    if t == b"=" {
        return Some(Vec::new());
    }
    base64::engine::general_purpose::STANDARD.decode(t).ok()
}

/// Splits a decoded PLAIN message `authzid\0authcid\0passwd`.
pub fn split_plain(raw: &[u8]) -> Option<(String, Vec<u8>)> {
    let mut parts = raw.splitn(3, |&b| b == 0);
    let _authz = parts.next()?;
    let user = parts.next()?;
    let pass = parts.next()?;
    Some((decnet_core::event::printable(user), pass.to_vec()))
}

/// Strips `@domain` from a mail login, for checking against decky users.
pub fn local_part(user: &str) -> &str {
    user.split('@').next().unwrap_or(user)
}

/// True when `user`/`pass` is one of the decky's accepted logins for `service`.
pub fn login_ok(decky: &DeckyCtx, service: &str, user: &str, pass: &[u8]) -> bool {
    Credentials::for_service(decky, service, &["imap", "pop3", "smtp"])
        .check(local_part(user), pass)
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
        }
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
        let max = self.session().limits().max_line;
        let idle = self.session().limits().idle_timeout;
        loop {
            match self.reader.read_line(max, idle).await {
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
                    return Some(line);
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
                    if !self.count_error() {
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

    async fn ask(&mut self, prompt: &str, challenge: String) -> Option<Vec<u8>> {
        if !self.send(&format!("{prompt}{challenge}\r\n")).await {
            return None;
        }
        self.read_line("").await
    }

    /// Runs a SASL PLAIN/LOGIN exchange. `prompt` prefixes server
    /// challenges (`"334 "` for SMTP, `"+ "` for IMAP/POP3). `initial` is
    /// an initial response sent with the command.
    pub async fn sasl(&mut self, mech: Mech, initial: Option<&[u8]>, prompt: &str) -> SaslOutcome {
        let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        match mech {
            Mech::Plain => {
                let resp = match initial {
                    Some(r) => r.to_vec(),
                    None => match self.ask(prompt, String::new()).await {
                        Some(l) => l,
                        None => return SaslOutcome::Closed,
                    },
                };
                if resp.trim_ascii() == b"*" {
                    return SaslOutcome::Cancelled;
                }
                match b64(&resp).as_deref().and_then(split_plain) {
                    Some((user, pass)) => SaslOutcome::Creds { user, pass },
                    None => SaslOutcome::Malformed,
                }
            }
            Mech::Login => {
                let user = match initial {
                    Some(r) => r.to_vec(),
                    None => match self.ask(prompt, enc("Username:")).await {
                        Some(l) => l,
                        None => return SaslOutcome::Closed,
                    },
                };
                if user.trim_ascii() == b"*" {
                    return SaslOutcome::Cancelled;
                }
                let Some(user) = b64(&user) else {
                    return SaslOutcome::Malformed;
                };
                let pass = match self.ask(prompt, enc("Password:")).await {
                    Some(l) => l,
                    None => return SaslOutcome::Closed,
                };
                if pass.trim_ascii() == b"*" {
                    return SaslOutcome::Cancelled;
                }
                match b64(&pass) {
                    Some(pass) => SaslOutcome::Creds {
                        user: decnet_core::event::printable(&user),
                        pass,
                    },
                    None => SaslOutcome::Malformed,
                }
            }
        }
    }
}

/// A message of the bait mailbox.
#[derive(Clone, Debug)]
pub struct Message {
    /// Full RFC 5322 text, CRLF line ends.
    pub text: String,
    /// Stable unique id.
    pub uid: u32,
}

/// The plausible mailbox a logged-in user sees (seeded per decky).
pub fn mailbox(decky: &DeckyCtx, user: &str) -> Vec<Message> {
    let p = &decky.persona;
    let domain = &p.domain;
    let mut rng = decnet_core::DeckySeed::new(decky.name(), decky.generation).rng("mailbox");
    let user = local_part(user);
    let base = p.boot_time;
    let templates: [(&str, &str, &str); 4] = [
        (
            "it-helpdesk",
            "Scheduled maintenance this weekend",
            "Hi all,\r\n\r\nThe file server and VPN will be unavailable on Saturday between 22:00 and 02:00 for patching.\r\n\r\nRegards,\r\nIT Helpdesk\r\n",
        ),
        (
            "hr",
            "Updated travel expense policy",
            "Hello,\r\n\r\nPlease find the updated travel expense policy on the intranet under HR > Policies.\r\nClaims submitted after the 15th will be processed next month.\r\n\r\nThanks,\r\nHR\r\n",
        ),
        (
            "backup",
            "Backup job report: SUCCESS",
            "Job: nightly-full\r\nStatus: Success\r\nProcessed: 412.6 GB\r\nDuration: 03:12:44\r\nTarget: nas01\r\n",
        ),
        (
            "finance",
            "Q3 invoices - action needed",
            "Hi,\r\n\r\nThree supplier invoices are still waiting for approval in the portal. Could you have a look before Friday?\r\n\r\nBest,\r\nFinance\r\n",
        ),
    ];
    let n = rng.gen_range(2..=templates.len());
    (0..n)
        .map(|i| {
            let (from, subject, body) = templates[i];
            let when = base + chrono::Duration::minutes(rng.gen_range(600..40_000) * (i as i64 + 1));
            let id: u64 = rng.gen();
            Message {
                uid: 100 + i as u32 * 3 + rng.gen_range(0..3),
                text: format!(
                    "Return-Path: <{from}@{domain}>\r\nFrom: <{from}@{domain}>\r\nTo: {user}@{domain}\r\nSubject: {subject}\r\nDate: {}\r\nMessage-ID: <{id:016x}@{domain}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}",
                    when.format("%a, %d %b %Y %H:%M:%S +0000")
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_and_login_decoding() {
        let enc = base64::engine::general_purpose::STANDARD.encode(b"\0alice\0pa:ss");
        let (u, p) = split_plain(&b64(enc.as_bytes()).unwrap()).unwrap();
        assert_eq!(u, "alice");
        assert_eq!(p, b"pa:ss");
        assert_eq!(b64(b"="), Some(vec![]));
        assert!(split_plain(b"nonul").is_none());
        assert_eq!(local_part("root@corp.local"), "root");
        assert_eq!(Mech::parse("login"), Some(Mech::Login));
        assert_eq!(Mech::parse("CRAM-MD5"), None);
    }

    proptest! {
        #[test]
        fn sasl_decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Some(raw) = b64(&data) { let _ = split_plain(&raw); }
            let _ = split_plain(&data);
            let _ = local_part(&String::from_utf8_lossy(&data));
        }
    }
}
