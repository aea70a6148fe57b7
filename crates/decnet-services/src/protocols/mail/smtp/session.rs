//! One SMTP connection: each verb is a method over the session's state
//! (HELO name, authenticated user, the envelope of the mail in progress).

use decnet_core::EventKind;
use rand::{Rng, SeedableRng};

use super::command::{parse_command, parse_path, Command, Verb};
use super::{SmtpHandler, MAX_RCPT};
use crate::artifacts::{ArtifactError, Capture};
use crate::fields;
use crate::line_conn::{LineConn, Next};
use crate::protocols::mail::{self, Mech, SaslOutcome};

/// Where the lines of a DATA go.
trait DataSink {
    /// Bytes were dropped from the message.
    fn mark_truncated(&mut self);
    /// Appends bytes of the message.
    async fn write(&mut self, bytes: &[u8]);
}

impl DataSink for Capture {
    fn mark_truncated(&mut self) {
        Capture::mark_truncated(self);
    }

    async fn write(&mut self, bytes: &[u8]) {
        // A quota refusal is answered once the message is in.
        let _ = Capture::write(self, bytes).await;
    }
}

/// The fleet's own message, held for local delivery (bounded by the
/// session's `max_message` like any other).
#[derive(Default)]
struct Letterbox {
    text: Vec<u8>,
    truncated: bool,
}

impl DataSink for Letterbox {
    fn mark_truncated(&mut self) {
        self.truncated = true;
    }

    async fn write(&mut self, bytes: &[u8]) {
        self.text.extend_from_slice(bytes);
    }
}

#[derive(Default)]
struct Envelope {
    from: Option<String>,
    rcpt: Vec<String>,
    /// A recipient was accepted for relay because the client is in
    /// `mynetworks`.
    relayed: bool,
}

/// Debian's `mynetworks` (what its postinst writes): loopback only,
/// `127.0.0.0/8 [::ffff:127.0.0.0]/104 [::1]/128`. Postfix relays for
/// these clients without authentication.
pub(super) fn in_mynetworks(peer: std::net::IpAddr) -> bool {
    peer.to_canonical().is_loopback()
}

/// The state of one SMTP connection.
pub(super) struct SmtpSession<'h> {
    h: &'h SmtpHandler,
    c: LineConn,
    helo: Option<String>,
    authed: Option<String>,
    env: Envelope,
    rng: rand::rngs::StdRng,
}

fn reply(s: &str) -> Next {
    Next::Reply(s.to_owned())
}

fn queue_id(rng: &mut impl Rng) -> String {
    (0..10)
        .map(|_| b"0123456789ABCDEF"[rng.gen_range(0..16)] as char)
        .collect()
}

impl<'h> SmtpSession<'h> {
    pub(super) fn new(h: &'h SmtpHandler, c: LineConn) -> Self {
        SmtpSession {
            h,
            c,
            helo: None,
            authed: None,
            env: Envelope::default(),
            rng: rand::rngs::StdRng::from_entropy(),
        }
    }

    /// Greets, then serves commands until the client leaves.
    pub(super) async fn run(mut self) {
        let timeout_reply = format!("421 4.4.2 {} Error: timeout exceeded\r\n", self.h.fqdn);
        if !self.c.send(&format!("220 {}\r\n", self.h.banner)).await {
            return;
        }
        loop {
            let Some(line) = self.c.read_line(&timeout_reply).await else {
                return;
            };
            self.c.command(&line);
            let next = match self.postfix_screen(&line) {
                Some(n) => n,
                None => {
                    let text = String::from_utf8_lossy(&line).into_owned();
                    self.apply(&parse_command(&text)).await
                }
            };
            if !self.c.reply(next).await {
                return;
            }
        }
    }

    /// What Postfix's smtpd answers before it looks a command up: invalid
    /// UTF-8 (`smtputf8_enable`), an empty line, and — from
    /// `smtpd_forbidden_commands` (CONNECT, GET, POST, and lines that do
    /// not start with a letter) — a goodbye to HTTP clients and junk.
    fn postfix_screen(&mut self, line: &[u8]) -> Option<Next> {
        if self.h.exchange {
            return None;
        }
        let Ok(text) = std::str::from_utf8(line) else {
            return Some(self.syntax_error("500 5.5.2 Error: bad UTF-8 syntax\r\n"));
        };
        let text = text.trim();
        if text.is_empty() {
            return Some(self.syntax_error("500 5.5.2 Error: bad syntax\r\n"));
        }
        let verb = parse_command(text).verb;
        if !text.starts_with(|c: char| c.is_ascii_alphabetic())
            || matches!(verb.as_str(), "CONNECT" | "GET" | "POST")
            || looks_like_header(text)
        {
            self.c
                .tagged
                .emit_error("smtp: HTTP request or junk on the mail port");
            return Some(Next::CloseWith(
                "221 2.7.0 Error: I can break rules, too. Goodbye.\r\n".into(),
            ));
        }
        None
    }

    fn syntax_error(&mut self, r: &str) -> Next {
        if !self.c.count_error() {
            return Next::CloseWith("421 4.7.0 Error: too many errors\r\n".into());
        }
        reply(r)
    }

    async fn apply(&mut self, cmd: &Command<'_>) -> Next {
        match cmd.kind() {
            Verb::Helo | Verb::Ehlo if cmd.arg.is_empty() => {
                Next::Reply(format!("501 Syntax: {} hostname\r\n", cmd.verb))
            }
            Verb::Helo | Verb::Ehlo => self.helo(cmd),
            Verb::Starttls => self.starttls().await,
            Verb::Auth => self.auth(cmd).await,
            Verb::Mail => self.mail(cmd),
            Verb::Rcpt => self.rcpt(cmd),
            Verb::Data => self.data().await,
            Verb::Rset => {
                self.env = Envelope::default();
                reply("250 2.0.0 Ok\r\n")
            }
            Verb::Noop => reply("250 2.0.0 Ok\r\n"),
            Verb::Vrfy if cmd.arg.is_empty() => reply("501 5.5.4 Syntax: VRFY address\r\n"),
            Verb::Vrfy => Next::Reply(format!(
                "252 2.0.0 {}\r\n",
                cmd.arg.chars().take(256).collect::<String>()
            )),
            Verb::Etrn => reply("458 Unable to queue messages for node\r\n"),
            Verb::Quit => Next::CloseWith("221 2.0.0 Bye\r\n".into()),
            Verb::Unknown => self.unknown(cmd),
        }
    }

    fn helo(&mut self, cmd: &Command<'_>) -> Next {
        self.helo = Some(cmd.arg.to_owned());
        self.env = Envelope::default();
        if cmd.kind() == Verb::Helo {
            Next::Reply(format!("250 {}\r\n", self.h.fqdn))
        } else {
            Next::Reply(self.h.ehlo_reply(self.c.secure, self.c.can_starttls()))
        }
    }

    async fn starttls(&mut self) -> Next {
        if self.c.secure {
            return reply("554 5.5.1 Error: TLS already active\r\n");
        }
        if !self.c.can_starttls() {
            return self.unknown_reply();
        }
        if !self.c.send("220 2.0.0 Ready to start TLS\r\n").await || !self.c.starttls().await {
            return Next::Close;
        }
        // RFC 3207: forget everything learnt before TLS.
        self.helo = None;
        self.authed = None;
        self.env = Envelope::default();
        Next::Quiet
    }

    async fn auth(&mut self, cmd: &Command<'_>) -> Next {
        if !self.h.auth {
            // Credentials sent with the command are kept all the same.
            let mut it = cmd.arg.split_whitespace();
            if let (Some(Mech::Plain), Some(initial)) =
                (Mech::parse(it.next().unwrap_or("")), it.next())
            {
                if let Some((user, pass)) = mail::b64(initial.as_bytes())
                    .as_deref()
                    .and_then(mail::split_plain)
                {
                    self.c.tagged.emit_auth(
                        &user,
                        "password",
                        &pass,
                        false,
                        fields! {"method" => "plain", "refused" => "auth_disabled"},
                    );
                }
            }
            return reply("503 5.5.1 Error: authentication not enabled\r\n");
        }
        if self.helo.is_none() {
            return reply("503 5.5.1 Error: send HELO/EHLO first\r\n");
        }
        if self.authed.is_some() {
            return reply("503 5.5.1 Error: already authenticated\r\n");
        }
        if self.env.from.is_some() {
            return reply("503 5.5.1 Error: MAIL transaction in progress\r\n");
        }
        let mut it = cmd.arg.split_whitespace();
        let Some(m) = Mech::parse(it.next().unwrap_or("")) else {
            return reply(
                "535 5.7.8 Error: authentication failed: Invalid authentication mechanism\r\n",
            );
        };
        let initial = it.next().map(|s| s.as_bytes().to_vec());
        match mail::sasl(&mut self.c, m, initial.as_deref(), "334 ").await {
            SaslOutcome::Closed => Next::Close,
            SaslOutcome::Cancelled => reply("501 5.7.0 Authentication aborted\r\n"),
            SaslOutcome::Malformed => {
                self.c.tagged.emit_error("smtp: malformed SASL response");
                reply("501 5.5.2 Cannot decode response\r\n")
            }
            SaslOutcome::Creds { user, pass } => self.check_login(m, user, &pass).await,
        }
    }

    async fn check_login(&mut self, m: Mech, user: String, pass: &[u8]) -> Next {
        let ok = if self.h.open_relay {
            !user.is_empty()
        } else {
            mail::login_ok(&self.c.session().decky, self.h.service, &user, pass)
        };
        self.c
            .tagged
            .emit_auth(&user, "password", pass, ok, fields! {"method" => m.name()});
        if ok {
            self.authed = Some(user);
            return reply("235 2.7.0 Authentication successful\r\n");
        }
        if !self.c.auth_fail_delay().await {
            return Next::Close;
        }
        reply("535 5.7.8 Error: authentication failed: authentication failure\r\n")
    }

    fn mail(&mut self, cmd: &Command<'_>) -> Next {
        // Postfix does not require HELO (`smtpd_helo_required = no`).
        if self.helo.is_none() && self.h.exchange {
            return reply("503 5.5.1 Error: send HELO/EHLO first\r\n");
        }
        if self.env.from.is_some() {
            return reply("503 5.5.1 Error: nested MAIL command\r\n");
        }
        match parse_path(cmd.arg, "FROM:") {
            Some(a) if a.contains(['<', '>']) => reply("501 5.1.7 Bad sender address syntax\r\n"),
            Some(a) => {
                self.env.from = Some(a.chars().take(320).collect());
                reply("250 2.1.0 Ok\r\n")
            }
            None => reply("501 5.5.4 Syntax: MAIL FROM:<address>\r\n"),
        }
    }

    fn rcpt(&mut self, cmd: &Command<'_>) -> Next {
        if self.env.from.is_none() {
            return reply("503 5.5.1 Error: need MAIL command\r\n");
        }
        if self.env.rcpt.len() >= MAX_RCPT {
            return reply("452 4.5.3 Error: too many recipients\r\n");
        }
        let Some(a) = parse_path(cmd.arg, "TO:") else {
            return reply("501 5.5.4 Syntax: RCPT TO:<address>\r\n");
        };
        let local = a
            .rsplit_once('@')
            .map(|(_, d)| {
                d.eq_ignore_ascii_case(&self.h.domain) || d.eq_ignore_ascii_case(&self.h.fqdn)
            })
            .unwrap_or(true);
        if self.h.open_relay || self.authed.is_some() || local {
            self.env.rcpt.push(a.chars().take(320).collect());
            return reply("250 2.1.5 Ok\r\n");
        }
        // A relay attempt is reported whether or not it is allowed.
        let trusted = !self.h.exchange && in_mynetworks(self.c.session().peer.ip());
        let request = if trusted {
            "relay_trusted"
        } else {
            "relay_denied"
        };
        self.c.tagged.emit(
            EventKind::Request,
            fields! {"request" => request, "rcpt_to" => a},
        );
        if trusted {
            self.env.relayed = true;
            self.env.rcpt.push(a.chars().take(320).collect());
            return reply("250 2.1.5 Ok\r\n");
        }
        // Postfix's default `smtpd_relay_restrictions` ends in
        // `defer_unauth_destination`: a temporary refusal.
        let status = if self.h.exchange {
            "554 5.7.1"
        } else {
            "454 4.7.1"
        };
        Next::Reply(format!("{status} <{a}>: Relay access denied\r\n"))
    }

    /// The fleet's own mail (chatter from a workstation decky): delivered
    /// to the local recipients' Maildirs, where IMAP and POP3 find it; no
    /// artifact and no event.
    async fn deliver_locally(&mut self) -> Next {
        if !self.c.send("354 End data with <CR><LF>.<CR><LF>\r\n").await {
            return Next::Close;
        }
        let mut letter = Letterbox::default();
        if !self.read_data(&mut letter).await {
            return Next::Close;
        }
        let qid = queue_id(&mut self.rng);
        let vfs = self.c.session().decky.vfs();
        let env = std::mem::take(&mut self.env);
        let sender = env.from.unwrap_or_default();
        for rcpt in env.rcpt {
            decnet_shell::lived::mail::deliver_to(&vfs, &sender, &rcpt, &qid, &letter.text);
        }
        if letter.truncated {
            reply("552 5.3.4 Error: message file too big\r\n")
        } else {
            Next::Reply(format!("250 2.0.0 Ok: queued as {qid}\r\n"))
        }
    }

    async fn data(&mut self) -> Next {
        if self.env.from.is_none() && self.h.exchange {
            return reply("503 5.5.1 Error: need MAIL command\r\n");
        }
        if self.env.rcpt.is_empty() {
            return match self.env.from {
                Some(_) if !self.h.exchange => reply("554 5.5.1 Error: no valid recipients\r\n"),
                _ => reply("503 5.5.1 Error: need RCPT command\r\n"),
            };
        }
        if self.c.session().internal {
            return self.deliver_locally().await;
        }
        if !self.c.send("354 End data with <CR><LF>.<CR><LF>\r\n").await {
            return Next::Close;
        }
        let mut capture = Capture::new(self.c.session());
        if !self.read_data(&mut capture).await {
            return Next::Close;
        }
        let qid = queue_id(&mut self.rng);
        let mut extra = fields! {
            "mail_from" => self.env.from.clone().unwrap_or_default(),
            "rcpt_to" => self.env.rcpt.clone(),
            "helo" => self.helo.clone().unwrap_or_default(),
            "queue_id" => qid.clone(),
            "authenticated" => self.authed.clone().unwrap_or_default(),
            "relay" => self.h.open_relay || self.env.relayed,
            "tls" => self.c.secure,
        };
        for (k, v) in &self.c.tagged.tags {
            extra.entry(k.clone()).or_insert_with(|| v.clone());
        }
        self.env = Envelope::default();
        let truncated = capture.truncated();
        let name = format!("{qid}.eml");
        match capture.finish(self.c.session(), &name, extra).await {
            // Postfix's answer when its queue file system is full.
            Err(ArtifactError::QuotaFull { .. }) => {
                return reply("452 4.3.1 Insufficient system storage\r\n")
            }
            Err(e) => self
                .c
                .tagged
                .emit_error(format!("smtp: storing message failed: {e}")),
            Ok(_) => {}
        }
        if truncated {
            reply("552 5.3.4 Error: message file too big\r\n")
        } else {
            Next::Reply(format!("250 2.0.0 Ok: queued as {qid}\r\n"))
        }
    }

    /// Reads DATA until the lone dot, dot-unstuffing, into `capture`
    /// (whole lines, at most `max_message` bytes). False: connection lost
    /// mid-message.
    async fn read_data(&mut self, capture: &mut impl DataSink) -> bool {
        let c = &mut self.c;
        let mut size = 0;
        // Over-long lines inside a message are dropped (and reported by
        // LineConn) without a reply; the message is then marked truncated.
        let saved = std::mem::take(&mut c.too_long_reply);
        loop {
            let before = c.errors;
            let line = c.read_line("").await;
            if c.errors != before {
                capture.mark_truncated();
            }
            let Some(line) = line else {
                c.too_long_reply = saved;
                return false;
            };
            if line == b"." {
                c.too_long_reply = saved;
                return true;
            }
            let body = line.strip_prefix(b".").unwrap_or(&line);
            if size + body.len() + 2 > self.h.max_message {
                capture.mark_truncated();
                continue;
            }
            size += body.len() + 2;
            capture.write(body).await;
            capture.write(b"\r\n").await;
        }
    }

    fn unknown(&mut self, cmd: &Command<'_>) -> Next {
        if !self.c.count_error() {
            return Next::CloseWith("421 4.7.0 Error: too many errors\r\n".into());
        }
        if cmd.verb.starts_with("GET")
            || cmd.verb.starts_with("POST")
            || cmd.verb.starts_with("CONNECT")
        {
            self.c
                .tagged
                .emit_error("smtp: HTTP request on the mail port");
        }
        self.unknown_reply()
    }

    fn unknown_reply(&self) -> Next {
        if self.h.exchange {
            return reply("502 5.5.2 Error: command not recognized\r\n");
        }
        reply("500 5.5.2 Error: command not recognized\r\n")
    }
}

/// Postfix's `is_header()` on a command's first word: a mail header name
/// (`Via:`, `From:`…) means a client pasting a message or another
/// protocol's request, which smtpd drops like a forbidden command.
fn looks_like_header(text: &str) -> bool {
    let word = text.split_ascii_whitespace().next().unwrap_or("");
    word.find(':')
        .is_some_and(|i| i > 0 && word[..i].bytes().all(|b| b.is_ascii_graphic()))
}

#[cfg(test)]
mod tests {
    use super::in_mynetworks;

    #[test]
    fn mynetworks_is_debians_loopback_only_list() {
        for trusted in ["127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.5"] {
            assert!(in_mynetworks(trusted.parse().unwrap()), "{trusted}");
        }
        for remote in [
            "10.0.0.1",
            "192.168.1.20",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            "0.0.0.0",
        ] {
            assert!(!in_mynetworks(remote.parse().unwrap()), "{remote}");
        }
    }
}
