//! POP3 (RFC 1939/2449/5034) as a Dovecot persona: USER/PASS, APOP,
//! AUTH PLAIN/LOGIN and STLS; a configured login opens a small plausible
//! mailbox (STAT/LIST/UIDL/RETR/TOP/DELE).

use std::sync::Arc;

use futures::future::BoxFuture;
use md5::{Digest, Md5};

use super::{Mech, Message, SaslOutcome};
use crate::config::parse_bool;
use crate::ctx::DeckyCtx;
use crate::line_conn::LineConn;
use crate::session::Session;
use crate::tls::TlsIdentity;
use crate::{fields, Conn, Handler, Service, ServiceError};

/// The `pop3` service.
pub struct Pop3;

/// Per-decky POP3 state.
pub struct Pop3Handler {
    greeting: String,
    apop: bool,
    fqdn: String,
    tls: Option<Arc<TlsIdentity>>,
}

impl Service for Pop3 {
    fn name(&self) -> &'static str {
        "pop3"
    }

    fn validate(&self, cfg: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
        for k in ["apop", "starttls"] {
            if let Some(v) = cfg.get(k) {
                parse_bool(v).ok_or_else(|| format!("{k} '{v}' is not true/false"))?;
            }
        }
        Ok(())
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let flag = |k: &str, d: bool| decky.config("pop3", k).and_then(parse_bool).unwrap_or(d);
        let tls = if flag("starttls", true) {
            Some(Arc::new(TlsIdentity::for_decky(decky, "pop3", &[])?))
        } else {
            None
        };
        Ok(Arc::new(Pop3Handler {
            greeting: decky
                .config("pop3", "banner")
                .unwrap_or("Dovecot ready.")
                .to_owned(),
            apop: flag("apop", false),
            fqdn: decky.persona.fqdn(),
            tls,
        }))
    }
}

/// A POP3 command: uppercased verb and its arguments.
#[derive(Debug, PartialEq, Eq)]
pub struct Command {
    /// Verb, uppercased (at most 8 chars kept).
    pub verb: String,
    /// Arguments split on whitespace (at most 4).
    pub args: Vec<String>,
}

/// Parses a POP3 command line. Never fails.
pub fn parse_command(line: &[u8]) -> Command {
    let text = String::from_utf8_lossy(line);
    let mut it = text.split_ascii_whitespace();
    let verb = it
        .next()
        .unwrap_or("")
        .chars()
        .take(8)
        .collect::<String>()
        .to_ascii_uppercase();
    // PASS may contain spaces: keep the rest of the line as one argument.
    let args = if verb == "PASS" {
        let rest = text.trim_start();
        let rest = rest.get(4..).unwrap_or("");
        let rest = rest.strip_prefix(' ').unwrap_or(rest);
        vec![rest.to_owned()]
    } else {
        it.take(4).map(str::to_owned).collect()
    };
    Command { verb, args }
}

/// Expected APOP digest: md5(timestamp + password), lowercase hex.
pub fn apop_digest(timestamp: &str, password: &[u8]) -> String {
    let mut h = Md5::new();
    h.update(timestamp.as_bytes());
    h.update(password);
    hex::encode(h.finalize())
}

impl Handler for Pop3Handler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move { self.run(conn, session).await })
    }
}

fn msg_index(
    arg: Option<&String>,
    mbox: &[Message],
    deleted: &[bool],
) -> Result<usize, &'static str> {
    let n: usize = arg
        .and_then(|a| a.parse().ok())
        .ok_or("-ERR Invalid message number.\r\n")?;
    if n == 0 || n > mbox.len() || deleted[n - 1] {
        return Err("-ERR There's no message.\r\n");
    }
    Ok(n - 1)
}

fn dot_stuff(text: &str, max_body_lines: Option<usize>) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_body = false;
    let mut body_lines = 0;
    for line in text.split("\r\n") {
        if in_body {
            if let Some(max) = max_body_lines {
                if body_lines >= max {
                    break;
                }
            }
            body_lines += 1;
        }
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
        if line.is_empty() {
            in_body = true;
        }
    }
    out
}

impl Pop3Handler {
    async fn run(&self, conn: Conn, session: Session) {
        let decky = session.decky.clone();
        let mut c = LineConn::new(
            Box::new(conn.stream),
            session,
            self.tls.clone(),
            "-ERR Input line too long.\r\n",
        );
        let timestamp = format!(
            "<{}.{}@{}>",
            std::process::id() % 30000 + 1000,
            chrono::Utc::now().timestamp(),
            self.fqdn
        );
        let greet = if self.apop {
            format!("+OK {} {timestamp}\r\n", self.greeting)
        } else {
            format!("+OK {}\r\n", self.greeting)
        };
        if !c.send(&greet).await {
            return;
        }
        let mut user: Option<String> = None;
        let mut mbox: Option<Vec<Message>> = None;
        let mut deleted: Vec<bool> = Vec::new();
        let delay = c.session().limits().auth_fail_delay;
        loop {
            let Some(line) = c.read_line("-ERR Disconnected for inactivity.\r\n").await else {
                return;
            };
            c.command(&line);
            let cmd = parse_command(&line);
            let a0 = cmd.args.first();
            let reply: String = match (cmd.verb.as_str(), mbox.as_ref()) {
                ("CAPA", _) => {
                    let mut s = String::from("+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n");
                    if c.can_starttls() && mbox.is_none() {
                        s.push_str("STLS\r\n");
                    }
                    if mbox.is_none() {
                        s.push_str("USER\r\nSASL PLAIN LOGIN\r\n");
                    }
                    s.push_str(".\r\n");
                    s
                }
                ("QUIT", _) => {
                    let _ = c.send("+OK Logging out.\r\n").await;
                    return;
                }
                ("NOOP", Some(_)) => "+OK\r\n".into(),
                ("STLS", None) => {
                    if !c.can_starttls() {
                        "-ERR TLS is already active.\r\n".into()
                    } else {
                        if !c.send("+OK Begin TLS negotiation now.\r\n").await
                            || !c.starttls().await
                        {
                            return;
                        }
                        user = None;
                        continue;
                    }
                }
                ("USER", None) => match a0 {
                    Some(u) => {
                        user = Some(u.chars().take(256).collect());
                        "+OK\r\n".into()
                    }
                    None => "-ERR No username given.\r\n".into(),
                },
                ("PASS", None) => match user.take() {
                    None => "-ERR No username given.\r\n".into(),
                    Some(u) => {
                        let pass = a0.cloned().unwrap_or_default();
                        let ok = super::login_ok(&decky, "pop3", &u, pass.as_bytes());
                        c.tagged.emit_auth(
                            &u,
                            "password",
                            pass.as_bytes(),
                            ok,
                            fields! {"method" => "user"},
                        );
                        if ok {
                            let m = super::mailbox(&decky, &u);
                            deleted = vec![false; m.len()];
                            mbox = Some(m);
                            "+OK Logged in.\r\n".into()
                        } else {
                            tokio::time::sleep(delay).await;
                            "-ERR [AUTH] Authentication failed.\r\n".into()
                        }
                    }
                },
                ("APOP", None) => match (cmd.args.first(), cmd.args.get(1)) {
                    (Some(u), Some(digest)) => {
                        let creds = crate::creds::Credentials::for_service(
                            &decky.spec,
                            "pop3",
                            &["imap", "smtp"],
                        );
                        let ok = self.apop
                            && creds.accepted.iter().any(|(cu, cp)| {
                                cu == super::local_part(u)
                                    && apop_digest(&timestamp, cp.as_bytes())
                                        .eq_ignore_ascii_case(digest)
                            });
                        c.tagged.emit_auth(
                            u,
                            "apop_digest",
                            digest.as_bytes(),
                            ok,
                            fields! {"method" => "apop", "challenge" => timestamp.clone()},
                        );
                        if ok {
                            let m = super::mailbox(&decky, u);
                            deleted = vec![false; m.len()];
                            mbox = Some(m);
                            "+OK Logged in.\r\n".into()
                        } else {
                            tokio::time::sleep(delay).await;
                            "-ERR [AUTH] Authentication failed.\r\n".into()
                        }
                    }
                    _ => "-ERR Invalid arguments.\r\n".into(),
                },
                ("AUTH", None) => match a0.map(|m| (m, Mech::parse(m))) {
                    None => "+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n".into(),
                    Some((_, None)) => {
                        "-ERR [AUTH] Unsupported authentication mechanism.\r\n".into()
                    }
                    Some((_, Some(m))) => {
                        let initial = cmd.args.get(1).map(|s| s.as_bytes().to_vec());
                        match super::sasl(&mut c, m, initial.as_deref(), "+ ").await {
                            SaslOutcome::Closed => return,
                            SaslOutcome::Cancelled => {
                                "-ERR Authentication aborted by client.\r\n".into()
                            }
                            SaslOutcome::Malformed => {
                                c.tagged.emit_error("pop3: malformed SASL response");
                                "-ERR Invalid base64 data in continued response\r\n".into()
                            }
                            SaslOutcome::Creds { user: u, pass } => {
                                let ok = super::login_ok(&decky, "pop3", &u, &pass);
                                c.tagged.emit_auth(
                                    &u,
                                    "password",
                                    &pass,
                                    ok,
                                    fields! {"method" => m.name()},
                                );
                                if ok {
                                    let mb = super::mailbox(&decky, &u);
                                    deleted = vec![false; mb.len()];
                                    mbox = Some(mb);
                                    "+OK Logged in.\r\n".into()
                                } else {
                                    tokio::time::sleep(delay).await;
                                    "-ERR [AUTH] Authentication failed.\r\n".into()
                                }
                            }
                        }
                    }
                },
                ("STAT", Some(m)) => {
                    let live = m.iter().zip(&deleted).filter(|(_, d)| !**d);
                    let (n, size) =
                        live.fold((0, 0), |(n, s), (msg, _)| (n + 1, s + msg.text.len()));
                    format!("+OK {n} {size}\r\n")
                }
                ("LIST", Some(m)) | ("UIDL", Some(m)) => {
                    let uidl = cmd.verb == "UIDL";
                    let item = |i: usize| {
                        if uidl {
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
                    match a0 {
                        Some(_) => match msg_index(a0, m, &deleted) {
                            Ok(i) => format!("+OK {}\r\n", item(i)),
                            Err(e) => e.into(),
                        },
                        None => {
                            let mut s = String::from("+OK\r\n");
                            for i in (0..m.len()).filter(|i| !deleted[*i]) {
                                s.push_str(&item(i));
                                s.push_str("\r\n");
                            }
                            s.push_str(".\r\n");
                            s
                        }
                    }
                }
                ("RETR", Some(m)) | ("TOP", Some(m)) => match msg_index(a0, m, &deleted) {
                    Err(e) => e.into(),
                    Ok(i) => {
                        let lines = if cmd.verb == "TOP" {
                            match cmd.args.get(1).and_then(|n| n.parse::<usize>().ok()) {
                                Some(n) => Some(n),
                                None => {
                                    let _ = c.send("-ERR Invalid number of lines.\r\n").await;
                                    continue;
                                }
                            }
                        } else {
                            None
                        };
                        c.tagged.emit(
                            decnet_core::EventKind::Request,
                            fields! {"request" => cmd.verb.to_ascii_lowercase(), "message" => i as u64 + 1},
                        );
                        format!(
                            "+OK {} octets\r\n{}.\r\n",
                            m[i].text.len(),
                            dot_stuff(&m[i].text, lines)
                        )
                    }
                },
                ("DELE", Some(m)) => match msg_index(a0, m, &deleted) {
                    Ok(i) => {
                        deleted[i] = true;
                        "+OK Marked to be deleted.\r\n".into()
                    }
                    Err(e) => e.into(),
                },
                ("RSET", Some(_)) => {
                    deleted.iter_mut().for_each(|d| *d = false);
                    "+OK\r\n".into()
                }
                _ => {
                    if !c.count_error() {
                        let _ = c.send("-ERR Too many bad commands.\r\n").await;
                        return;
                    }
                    "-ERR Unknown command.\r\n".into()
                }
            };
            if !c.send(&reply).await {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn commands() {
        assert_eq!(parse_command(b"user bob").verb, "USER");
        assert_eq!(
            parse_command(b"PASS  two words ").args,
            vec![" two words ".to_owned()]
        );
        assert_eq!(parse_command(b"TOP 1 10").args, vec!["1", "10"]);
        // RFC 1939 example digest.
        assert_eq!(
            apop_digest("<1896.697170952@dbc.mtview.ca.us>", b"tanstaaf"),
            "c4c9334bac560ecc979e58001b3e22fb"
        );
        assert_eq!(
            dot_stuff("A: b\r\n\r\n.x\r\nl2\r\nl3", Some(1)),
            "A: b\r\n\r\n..x\r\n"
        );
    }

    proptest! {
        #[test]
        fn parser_never_panics(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            let c = parse_command(&line);
            prop_assert!(c.args.len() <= 4);
            let _ = dot_stuff(&String::from_utf8_lossy(&line), Some(2));
        }
    }
}
