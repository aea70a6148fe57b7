//! SMTP (RFC 5321) as a Postfix (or Exchange) persona: EHLO with the usual
//! extensions, STARTTLS, AUTH PLAIN/LOGIN captured, and mail accepted and
//! stored whole (capped) as an artifact with its envelope. `smtp` refuses to
//! relay for foreign domains unless the client authenticated with a decky
//! login; `smtp_relay` is the open-relay bait that accepts everything.

use std::sync::Arc;

use decnet_core::{EventKind, OsFamily};
use futures::future::BoxFuture;
use rand::Rng;

use super::{Mech, SaslOutcome};
use crate::config::parse_bool;
use crate::ctx::DeckyCtx;
use crate::line_conn::LineConn;
use crate::session::Session;
use crate::tls::TlsIdentity;
use crate::{fields, Conn, Handler, Service, ServiceError};

/// Largest message accepted by default (the SIZE advertised).
pub const DEFAULT_MAX_MESSAGE: usize = 10 * 1024 * 1024;
/// Most recipients of one message.
pub const MAX_RCPT: usize = 100;

/// The `smtp` service (relay denied).
pub struct Smtp;
/// The `smtp_relay` service (open relay bait).
pub struct SmtpRelay;

/// Per-decky SMTP state.
pub struct SmtpHandler {
    service: &'static str,
    open_relay: bool,
    banner: String,
    fqdn: String,
    domain: String,
    max_message: usize,
    exchange: bool,
    tls: Option<Arc<TlsIdentity>>,
}

fn validate(cfg: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
    if let Some(v) = cfg.get("max_message") {
        v.parse::<usize>()
            .map_err(|_| format!("max_message '{v}' is not a byte count"))?;
    }
    if let Some(v) = cfg.get("starttls") {
        parse_bool(v).ok_or_else(|| format!("starttls '{v}' is not true/false"))?;
    }
    Ok(())
}

fn bind(
    decky: &Arc<DeckyCtx>,
    service: &'static str,
    open_relay: bool,
) -> Result<Arc<dyn Handler>, ServiceError> {
    let p = &decky.persona;
    let fqdn = p.fqdn();
    let exchange = p.distro.family == OsFamily::Windows || p.family() == OsFamily::Windows;
    let banner = match decky.config(service, "banner") {
        Some(b) => b.to_owned(),
        None if exchange => format!(
            "{fqdn} Microsoft ESMTP MAIL Service ready at {}",
            chrono::Utc::now().format("%a, %-d %b %Y %H:%M:%S +0000")
        ),
        None => {
            let tag = match p.distro.os_id {
                "debian" | "kali" => " (Debian/GNU)",
                "ubuntu" => " (Ubuntu)",
                _ => "",
            };
            format!("{fqdn} ESMTP Postfix{tag}")
        }
    };
    let max_message = decky
        .config(service, "max_message")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MAX_MESSAGE)
        .min(crate::artifacts::DEFAULT_MAX_ARTIFACT);
    let tls = if decky
        .config(service, "starttls")
        .and_then(parse_bool)
        .unwrap_or(true)
    {
        Some(Arc::new(TlsIdentity::for_decky(decky, service, &[])?))
    } else {
        None
    };
    Ok(Arc::new(SmtpHandler {
        service,
        open_relay,
        banner,
        fqdn,
        domain: p.domain.clone(),
        max_message,
        exchange,
        tls,
    }))
}

impl Service for Smtp {
    fn name(&self) -> &'static str {
        "smtp"
    }
    fn validate(&self, cfg: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
        validate(cfg)
    }
    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        bind(decky, "smtp", false)
    }
}

impl Service for SmtpRelay {
    fn name(&self) -> &'static str {
        "smtp_relay"
    }
    fn validate(&self, cfg: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
        validate(cfg)
    }
    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        bind(decky, "smtp_relay", true)
    }
}

/// One parsed SMTP command line.
#[derive(Debug, PartialEq, Eq)]
pub struct Command<'a> {
    /// Verb, uppercased.
    pub verb: String,
    /// Everything after the verb, trimmed.
    pub arg: &'a str,
}

/// Splits `VERB arg`. Never fails: garbage yields a garbage verb.
pub fn parse_command(line: &str) -> Command<'_> {
    let line = line.trim_start();
    let (verb, arg) = match line.find([' ', '\t']) {
        Some(i) => (&line[..i], line[i..].trim()),
        None => (line, ""),
    };
    Command {
        verb: verb
            .chars()
            .take(16)
            .collect::<String>()
            .to_ascii_uppercase(),
        arg,
    }
}

/// Extracts the address from `FROM:<a@b> SIZE=1` / `TO:<a@b>` (case-insensitive
/// keyword). `None` when the syntax is wrong.
pub fn parse_path<'a>(arg: &'a str, keyword: &str) -> Option<&'a str> {
    let k = arg.get(..keyword.len())?;
    if !k.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    if let Some(r) = rest.strip_prefix('<') {
        let end = r.find('>')?;
        Some(&r[..end])
    } else {
        // Lenient like Postfix: bare address up to the first space.
        let a = rest.split_whitespace().next()?;
        Some(a)
    }
}

#[derive(Default)]
struct Envelope {
    from: Option<String>,
    rcpt: Vec<String>,
}

fn queue_id(rng: &mut impl Rng) -> String {
    (0..10)
        .map(|_| b"0123456789ABCDEF"[rng.gen_range(0..16)] as char)
        .collect()
}

impl Handler for SmtpHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move { self.run(conn, session).await })
    }
}

impl SmtpHandler {
    fn ehlo_reply(&self, secure: bool, can_tls: bool) -> String {
        let mut exts = vec![
            self.fqdn.clone(),
            "PIPELINING".into(),
            format!("SIZE {}", self.max_message),
            "VRFY".into(),
            "ETRN".into(),
        ];
        if can_tls && !secure {
            exts.push("STARTTLS".into());
        }
        exts.push("AUTH PLAIN LOGIN".into());
        if self.exchange {
            exts.push("AUTH=LOGIN".into());
        }
        exts.extend([
            "ENHANCEDSTATUSCODES".into(),
            "8BITMIME".into(),
            "DSN".into(),
        ]);
        let n = exts.len();
        exts.iter()
            .enumerate()
            .map(|(i, e)| format!("250{}{e}\r\n", if i + 1 == n { ' ' } else { '-' }))
            .collect()
    }

    async fn run(&self, conn: Conn, session: Session) {
        let mut c = LineConn::new(
            Box::new(conn.stream),
            session,
            self.tls.clone(),
            "500 5.5.2 Error: line too long\r\n",
        );
        let timeout_reply = format!("421 4.4.2 {} Error: timeout exceeded\r\n", self.fqdn);
        if !c.send(&format!("220 {}\r\n", self.banner)).await {
            return;
        }
        let mut helo: Option<String> = None;
        let mut authed: Option<String> = None;
        let mut env = Envelope::default();
        let mut rng = rand::rngs::StdRng::from_entropy();
        use rand::SeedableRng;
        loop {
            let Some(line) = c.read_line(&timeout_reply).await else {
                return;
            };
            c.command(&line);
            let text = String::from_utf8_lossy(&line).into_owned();
            let cmd = parse_command(&text);
            let reply: String = match cmd.verb.as_str() {
                "HELO" | "EHLO" if cmd.arg.is_empty() => {
                    format!("501 Syntax: {} hostname\r\n", cmd.verb)
                }
                "HELO" => {
                    helo = Some(cmd.arg.to_owned());
                    env = Envelope::default();
                    format!("250 {}\r\n", self.fqdn)
                }
                "EHLO" => {
                    helo = Some(cmd.arg.to_owned());
                    env = Envelope::default();
                    self.ehlo_reply(c.secure, c.can_starttls())
                }
                "STARTTLS" => {
                    if c.secure {
                        "554 5.5.1 Error: TLS already active\r\n".into()
                    } else if !c.can_starttls() {
                        "502 5.5.2 Error: command not recognized\r\n".into()
                    } else {
                        if !c.send("220 2.0.0 Ready to start TLS\r\n").await || !c.starttls().await
                        {
                            return;
                        }
                        // RFC 3207: forget everything learnt before TLS.
                        helo = None;
                        authed = None;
                        env = Envelope::default();
                        continue;
                    }
                }
                "AUTH" => {
                    if helo.is_none() {
                        "503 5.5.1 Error: send HELO/EHLO first\r\n".into()
                    } else if authed.is_some() {
                        "503 5.5.1 Error: already authenticated\r\n".into()
                    } else if env.from.is_some() {
                        "503 5.5.1 Error: MAIL transaction in progress\r\n".into()
                    } else {
                        let mut it = cmd.arg.split_whitespace();
                        let mech = it.next().unwrap_or("");
                        let initial = it.next().map(|s| s.as_bytes().to_vec());
                        match Mech::parse(mech) {
                            None => "535 5.7.8 Error: authentication failed: Invalid authentication mechanism\r\n".into(),
                            Some(m) => match super::sasl(&mut c, m, initial.as_deref(), "334 ").await {
                                SaslOutcome::Closed => return,
                                SaslOutcome::Cancelled => "501 5.7.0 Authentication aborted\r\n".into(),
                                SaslOutcome::Malformed => {
                                    c.tagged.emit_error("smtp: malformed SASL response");
                                    "501 5.5.2 Cannot decode response\r\n".into()
                                }
                                SaslOutcome::Creds { user, pass } => {
                                    let ok = if self.open_relay {
                                        !user.is_empty()
                                    } else {
                                        super::login_ok(&c.session().decky, self.service, &user, &pass)
                                    };
                                    c.tagged.emit_auth(&user, "password", &pass, ok, fields! {"method" => m.name()});
                                    if ok {
                                        authed = Some(user);
                                        "235 2.7.0 Authentication successful\r\n".into()
                                    } else {
                                        tokio::time::sleep(c.session().limits().auth_fail_delay).await;
                                        "535 5.7.8 Error: authentication failed: authentication failure\r\n".into()
                                    }
                                }
                            },
                        }
                    }
                }
                "MAIL" => {
                    if helo.is_none() {
                        "503 5.5.1 Error: send HELO/EHLO first\r\n".into()
                    } else if env.from.is_some() {
                        "503 5.5.1 Error: nested MAIL command\r\n".into()
                    } else {
                        match parse_path(cmd.arg, "FROM:") {
                            Some(a) => {
                                env.from = Some(a.chars().take(320).collect());
                                "250 2.1.0 Ok\r\n".into()
                            }
                            None => "501 5.5.4 Syntax: MAIL FROM:<address>\r\n".into(),
                        }
                    }
                }
                "RCPT" => {
                    if env.from.is_none() {
                        "503 5.5.1 Error: need MAIL command\r\n".into()
                    } else if env.rcpt.len() >= MAX_RCPT {
                        "452 4.5.3 Error: too many recipients\r\n".into()
                    } else {
                        match parse_path(cmd.arg, "TO:") {
                            None => "501 5.5.4 Syntax: RCPT TO:<address>\r\n".into(),
                            Some(a) => {
                                let local = a
                                    .rsplit_once('@')
                                    .map(|(_, d)| {
                                        d.eq_ignore_ascii_case(&self.domain)
                                            || d.eq_ignore_ascii_case(&self.fqdn)
                                    })
                                    .unwrap_or(true);
                                if self.open_relay || authed.is_some() || local {
                                    env.rcpt.push(a.chars().take(320).collect());
                                    "250 2.1.5 Ok\r\n".into()
                                } else {
                                    c.tagged.emit(
                                        EventKind::Request,
                                        fields! {"request" => "relay_denied", "rcpt_to" => a},
                                    );
                                    format!("554 5.7.1 <{a}>: Relay access denied\r\n")
                                }
                            }
                        }
                    }
                }
                "DATA" => {
                    if env.from.is_none() {
                        "503 5.5.1 Error: need MAIL command\r\n".into()
                    } else if env.rcpt.is_empty() {
                        "503 5.5.1 Error: need RCPT command\r\n".into()
                    } else {
                        if !c.send("354 End data with <CR><LF>.<CR><LF>\r\n").await {
                            return;
                        }
                        let Some((msg, truncated)) = self.read_data(&mut c).await else {
                            return;
                        };
                        let qid = queue_id(&mut rng);
                        let extra = fields! {
                            "mail_from" => env.from.clone().unwrap_or_default(),
                            "rcpt_to" => env.rcpt.clone(),
                            "helo" => helo.clone().unwrap_or_default(),
                            "queue_id" => qid.clone(),
                            "authenticated" => authed.clone().unwrap_or_default(),
                            "relay" => self.open_relay,
                            "tls" => c.secure,
                        };
                        let mut extra = extra;
                        for (k, v) in &c.tagged.tags {
                            extra.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                        if let Err(e) = crate::artifacts::store(
                            c.session(),
                            &format!("{qid}.eml"),
                            &msg,
                            truncated,
                            extra,
                        )
                        .await
                        {
                            c.tagged
                                .emit_error(format!("smtp: storing message failed: {e}"));
                        }
                        env = Envelope::default();
                        if truncated {
                            "552 5.3.4 Error: message file too big\r\n".into()
                        } else {
                            format!("250 2.0.0 Ok: queued as {qid}\r\n")
                        }
                    }
                }
                "RSET" => {
                    env = Envelope::default();
                    "250 2.0.0 Ok\r\n".into()
                }
                "NOOP" => "250 2.0.0 Ok\r\n".into(),
                "VRFY" => {
                    if cmd.arg.is_empty() {
                        "501 5.5.4 Syntax: VRFY address\r\n".into()
                    } else {
                        format!(
                            "252 2.0.0 {}\r\n",
                            cmd.arg.chars().take(256).collect::<String>()
                        )
                    }
                }
                "ETRN" => "458 Unable to queue messages for node\r\n".into(),
                "QUIT" => {
                    let _ = c.send("221 2.0.0 Bye\r\n").await;
                    return;
                }
                _ => {
                    if !c.count_error() {
                        let _ = c.send("421 4.7.0 Error: too many errors\r\n").await;
                        return;
                    }
                    if cmd.verb.starts_with("GET")
                        || cmd.verb.starts_with("POST")
                        || cmd.verb.starts_with("CONNECT")
                    {
                        c.tagged.emit_error("smtp: HTTP request on the mail port");
                    }
                    "502 5.5.2 Error: command not recognized\r\n".into()
                }
            };
            if !c.send(&reply).await {
                return;
            }
        }
    }

    /// Reads DATA until the lone dot, dot-unstuffing, keeping at most
    /// `max_message` bytes. `None`: connection lost mid-message.
    async fn read_data(&self, c: &mut LineConn) -> Option<(Vec<u8>, bool)> {
        let mut msg = Vec::new();
        let mut truncated = false;
        // Over-long lines inside a message are dropped (and reported by
        // LineConn) without a reply; the message is then marked truncated.
        let saved = std::mem::take(&mut c.too_long_reply);
        loop {
            let before = c.errors;
            let line = c.read_line("").await;
            if c.errors != before {
                truncated = true;
            }
            let Some(line) = line else {
                c.too_long_reply = saved;
                return None;
            };
            if line == b"." {
                c.too_long_reply = saved;
                return Some((msg, truncated));
            }
            let body = line.strip_prefix(b".").unwrap_or(&line);
            if msg.len() + body.len() + 2 > self.max_message {
                truncated = true;
                continue;
            }
            msg.extend_from_slice(body);
            msg.extend_from_slice(b"\r\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn commands_and_paths() {
        let c = parse_command("mail FROM:<a@b.c> SIZE=10");
        assert_eq!(c.verb, "MAIL");
        assert_eq!(parse_path(c.arg, "FROM:"), Some("a@b.c"));
        // Postfix accepts a space after the colon.
        assert_eq!(parse_path("to: <x@y>", "TO:"), Some("x@y"));
        assert_eq!(parse_path("TOO:<x@y>", "TO:"), None);
        assert_eq!(parse_path("TO:<>", "TO:"), Some(""));
        assert_eq!(parse_path("to:bob@x", "TO:"), Some("bob@x"));
        assert_eq!(parse_command("").verb, "");
        assert_eq!(parse_bool("Yes"), Some(true));
    }

    proptest! {
        #[test]
        fn parsers_never_panic(line in "\\PC{0,300}") {
            let c = parse_command(&line);
            let _ = parse_path(c.arg, "FROM:");
            let _ = parse_path(&line, "TO:");
        }
    }
}
