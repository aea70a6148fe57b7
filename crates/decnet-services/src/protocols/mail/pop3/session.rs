//! One POP3 connection: each verb is a method over the session's state
//! (pending USER, the mailbox after login, deletion marks).

use super::command::{parse_command, Command, Verb};
use super::{apop_digest, dot_stuff, Pop3Handler};
use crate::fields;
use crate::line_conn::{LineConn, Next};
use crate::protocols::mail::{self, Mech, Message, SaslOutcome};

/// Bad commands pop3-login takes before it hangs up (Dovecot's
/// `CLIENT_MAX_BAD_COMMANDS`).
const LOGIN_MAX_BAD: u32 = 3;

/// pop3-login's answer to USER/PASS while `disable_plaintext_auth` is on.
const PLAINTEXT_REFUSED: &str =
    "-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n";

/// The state of one POP3 connection.
pub(super) struct Pop3Session<'h> {
    h: &'h Pop3Handler,
    c: LineConn,
    /// The APOP challenge of this connection's greeting.
    timestamp: String,
    user: Option<String>,
    mbox: Option<Vec<Message>>,
    deleted: Vec<bool>,
    /// Bad commands before login.
    bad: u32,
}

impl<'h> Pop3Session<'h> {
    pub(super) fn new(h: &'h Pop3Handler, c: LineConn) -> Self {
        let timestamp = format!(
            "<{}.{}@{}>",
            std::process::id() % 30000 + 1000,
            chrono::Utc::now().timestamp(),
            h.fqdn
        );
        Pop3Session {
            h,
            c,
            timestamp,
            user: None,
            mbox: None,
            deleted: Vec::new(),
            bad: 0,
        }
    }

    /// Greets, then serves commands until the client leaves.
    pub(super) async fn run(mut self) {
        let greet = if self.h.apop {
            format!("+OK {} {}\r\n", self.h.greeting, self.timestamp)
        } else {
            format!("+OK {}\r\n", self.h.greeting)
        };
        if !self.c.send(&greet).await {
            return;
        }
        loop {
            let Some(line) = self
                .c
                .read_line("-ERR Disconnected for inactivity.\r\n")
                .await
            else {
                return;
            };
            self.c.command(&line);
            let cmd = parse_command(&line);
            let next = self.apply(&cmd).await;
            if !self.c.reply(next).await {
                return;
            }
        }
    }

    /// Runs one command: login verbs before login, mailbox verbs after.
    async fn apply(&mut self, cmd: &Command) -> Next {
        let authed = self.mbox.is_some();
        match (cmd.kind(), authed) {
            (Verb::Capa, _) => self.capa(),
            // pop3-login's goodbye has no full stop; the mail process's has.
            (Verb::Quit, false) => Next::CloseWith("+OK Logging out\r\n".into()),
            (Verb::Quit, true) => Next::CloseWith("+OK Logging out.\r\n".into()),
            (Verb::Noop, true) => reply("+OK\r\n"),
            (Verb::Stls, false) => self.stls().await,
            (Verb::User, false) => self.user(cmd),
            (Verb::Pass, false) => self.pass(cmd).await,
            (Verb::Apop, false) => self.apop(cmd).await,
            (Verb::Auth, false) => self.auth(cmd).await,
            (Verb::Stat, true) => self.stat(),
            (Verb::List | Verb::Uidl, true) => self.list(cmd),
            (Verb::Retr | Verb::Top, true) => self.retr(cmd),
            (Verb::Dele, true) => self.dele(cmd),
            (Verb::Rset, true) => {
                self.deleted.iter_mut().for_each(|d| *d = false);
                reply("+OK\r\n")
            }
            _ => self.unknown(),
        }
    }

    fn capa(&self) -> Next {
        let mut s = String::from(
            "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n",
        );
        if self.c.can_starttls() && self.mbox.is_none() {
            s.push_str("STLS\r\n");
        }
        if self.mbox.is_none() {
            if self.takes_passwords() {
                s.push_str("USER\r\nSASL PLAIN LOGIN\r\n");
            } else {
                s.push_str("SASL\r\n");
            }
        }
        s.push_str(".\r\n");
        Next::Reply(s)
    }

    async fn stls(&mut self) -> Next {
        if !self.c.can_starttls() {
            return reply("-ERR TLS is already active.\r\n");
        }
        if !self.c.send("+OK Begin TLS negotiation now.\r\n").await || !self.c.starttls().await {
            return Next::Close;
        }
        self.user = None;
        Next::Quiet
    }

    /// True when a password may be taken on this connection now.
    fn takes_passwords(&self) -> bool {
        self.c.secure || self.h.plaintext_auth
    }

    fn user(&mut self, cmd: &Command) -> Next {
        match cmd.args.first() {
            Some(u) => {
                // Kept even when refused: the PASS that follows is recorded with it.
                self.user = Some(u.chars().take(256).collect());
                if !self.takes_passwords() {
                    return reply(PLAINTEXT_REFUSED);
                }
                reply("+OK\r\n")
            }
            None => reply("-ERR No username given.\r\n"),
        }
    }

    async fn pass(&mut self, cmd: &Command) -> Next {
        if !self.takes_passwords() {
            let pass = cmd.args.first().cloned().unwrap_or_default();
            let user = self.user.take().unwrap_or_default();
            self.c.tagged.emit_auth(
                &user,
                "password",
                pass.as_bytes(),
                false,
                fields! {"method" => "user", "refused" => "plaintext"},
            );
            return reply(PLAINTEXT_REFUSED);
        }
        let Some(u) = self.user.take() else {
            return reply("-ERR No username given.\r\n");
        };
        let pass = cmd.args.first().cloned().unwrap_or_default();
        let ok = mail::login_ok(&self.c.session().decky, "pop3", &u, pass.as_bytes());
        self.login(
            &u,
            "password",
            pass.as_bytes(),
            ok,
            fields! {"method" => "user"},
        )
        .await
    }

    async fn apop(&mut self, cmd: &Command) -> Next {
        let (Some(u), Some(digest)) = (cmd.args.first(), cmd.args.get(1)) else {
            return reply("-ERR Invalid arguments.\r\n");
        };
        let creds = crate::creds::Credentials::for_service(
            &self.c.session().decky.spec,
            "pop3",
            &["imap", "smtp"],
        );
        let ok = self.h.apop
            && creds.accepted.iter().any(|(cu, cp)| {
                cu == mail::local_part(u)
                    && apop_digest(&self.timestamp, cp.as_bytes()).eq_ignore_ascii_case(digest)
            });
        let extra = fields! {"method" => "apop", "challenge" => self.timestamp.clone()};
        if !self.h.apop {
            self.c
                .tagged
                .emit_auth(u, "apop_digest", digest.as_bytes(), false, extra);
            return reply("-ERR APOP not enabled.\r\n");
        }
        self.login(u, "apop_digest", digest.as_bytes(), ok, extra)
            .await
    }

    async fn auth(&mut self, cmd: &Command) -> Next {
        let Some(name) = cmd.args.first() else {
            if !self.takes_passwords() {
                return reply("+OK\r\n.\r\n");
            }
            return reply("+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n");
        };
        let Some(m) = Mech::parse(name) else {
            return reply("-ERR [AUTH] Unsupported authentication mechanism.\r\n");
        };
        if !self.takes_passwords() {
            return reply("-ERR [AUTH] Plaintext authentication disabled.\r\n");
        }
        let initial = cmd.args.get(1).map(|s| s.as_bytes().to_vec());
        match mail::sasl(&mut self.c, m, initial.as_deref(), "+ ").await {
            SaslOutcome::Closed => Next::Close,
            SaslOutcome::Cancelled => reply("-ERR Authentication aborted by client.\r\n"),
            SaslOutcome::Malformed => {
                self.c.tagged.emit_error("pop3: malformed SASL response");
                reply("-ERR Invalid base64 data in continued response\r\n")
            }
            SaslOutcome::Creds { user, pass } => {
                let ok = mail::login_ok(&self.c.session().decky, "pop3", &user, &pass);
                self.login(&user, "password", &pass, ok, fields! {"method" => m.name()})
                    .await
            }
        }
    }

    /// Records an attempt; a decky login opens the bait mailbox.
    async fn login(
        &mut self,
        user: &str,
        secret_kind: &str,
        secret: &[u8],
        ok: bool,
        extra: decnet_core::Fields,
    ) -> Next {
        self.c
            .tagged
            .emit_auth(user, secret_kind, secret, ok, extra);
        if ok {
            let m = mail::mailbox(&self.c.session().decky, user);
            self.deleted = vec![false; m.len()];
            self.mbox = Some(m);
            // The post-login pop3 process reads longer lines than pop3-login.
            self.c.line_cap = usize::MAX;
            return reply("+OK Logged in.\r\n");
        }
        if !self.c.auth_fail_delay().await {
            return Next::Close;
        }
        reply("-ERR [AUTH] Authentication failed.\r\n")
    }

    fn messages(&self) -> &[Message] {
        self.mbox.as_deref().unwrap_or(&[])
    }

    /// Index of the live message named by `arg`, or the error reply.
    fn message(&self, arg: Option<&String>) -> Result<usize, Next> {
        let n: usize = arg
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| reply("-ERR Invalid message number.\r\n"))?;
        if n == 0 || n > self.messages().len() || self.deleted[n - 1] {
            return Err(reply("-ERR There's no message.\r\n"));
        }
        Ok(n - 1)
    }

    fn stat(&self) -> Next {
        let live = self
            .messages()
            .iter()
            .zip(&self.deleted)
            .filter(|(_, d)| !**d);
        let (n, size) = live.fold((0, 0), |(n, s), (msg, _)| (n + 1, s + msg.text.len()));
        Next::Reply(format!("+OK {n} {size}\r\n"))
    }

    fn list(&self, cmd: &Command) -> Next {
        let m = self.messages();
        let item = |i: usize| {
            if cmd.kind() == Verb::Uidl {
                format!(
                    "{} {:08x}{:08x}",
                    i + 1,
                    m[i].uid,
                    0x5f3a_0000u32 + m[i].uid
                )
            } else {
                format!("{} {}", i + 1, m[i].text.len())
            }
        };
        if !cmd.args.is_empty() {
            return match self.message(cmd.args.first()) {
                Ok(i) => Next::Reply(format!("+OK {}\r\n", item(i))),
                Err(e) => e,
            };
        }
        let mut s = String::from("+OK\r\n");
        for i in (0..m.len()).filter(|i| !self.deleted[*i]) {
            s.push_str(&item(i));
            s.push_str("\r\n");
        }
        s.push_str(".\r\n");
        Next::Reply(s)
    }

    fn retr(&self, cmd: &Command) -> Next {
        let i = match self.message(cmd.args.first()) {
            Ok(i) => i,
            Err(e) => return e,
        };
        let lines = if cmd.kind() == Verb::Top {
            match cmd.args.get(1).and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => Some(n),
                None => return reply("-ERR Invalid number of lines.\r\n"),
            }
        } else {
            None
        };
        self.c.tagged.emit(
            decnet_core::EventKind::Request,
            fields! {"request" => cmd.verb.to_ascii_lowercase(), "message" => i as u64 + 1},
        );
        let text = &self.messages()[i].text;
        Next::Reply(format!(
            "+OK {} octets\r\n{}.\r\n",
            text.len(),
            dot_stuff(text, lines)
        ))
    }

    fn dele(&mut self, cmd: &Command) -> Next {
        match self.message(cmd.args.first()) {
            Ok(i) => {
                self.deleted[i] = true;
                reply("+OK Marked to be deleted.\r\n")
            }
            Err(e) => e,
        }
    }

    fn unknown(&mut self) -> Next {
        if self.mbox.is_none() {
            self.bad += 1;
            if self.bad >= LOGIN_MAX_BAD {
                return Next::CloseWith(
                    "-ERR Unknown command.\r\n-ERR Too many invalid bad commands.\r\n".into(),
                );
            }
        }
        if !self.c.count_error() {
            return Next::CloseWith("-ERR Too many bad commands.\r\n".into());
        }
        reply("-ERR Unknown command.\r\n")
    }
}

fn reply(s: &str) -> Next {
    Next::Reply(s.to_owned())
}
