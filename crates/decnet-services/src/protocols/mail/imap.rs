//! IMAP4rev1 (RFC 3501) as a Dovecot persona: LOGIN, AUTHENTICATE
//! PLAIN/LOGIN (SASL-IR), STARTTLS, literals; after a configured login a
//! plausible folder list and INBOX (LIST/SELECT/STATUS/FETCH/SEARCH).

use std::sync::Arc;

use futures::future::BoxFuture;

use super::{Mech, Message, SaslOutcome};
use crate::config::parse_bool;
use crate::ctx::DeckyCtx;
use crate::line_conn::LineConn;
use crate::session::Session;
use crate::tls::TlsIdentity;
use crate::{fields, Conn, Handler, Service, ServiceError};

/// Largest literal accepted in a command.
pub const MAX_LITERAL: usize = 64 * 1024;
/// Most arguments parsed from one command.
pub const MAX_ARGS: usize = 64;

/// The `imap` service.
pub struct Imap;

/// Per-decky IMAP state.
pub struct ImapHandler {
    product: String,
    tls: Option<Arc<TlsIdentity>>,
}

impl Service for Imap {
    fn name(&self) -> &'static str {
        "imap"
    }

    fn validate(&self, cfg: &std::collections::BTreeMap<String, String>) -> Result<(), String> {
        if let Some(v) = cfg.get("starttls") {
            parse_bool(v).ok_or_else(|| format!("starttls '{v}' is not true/false"))?;
        }
        Ok(())
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let tls = if decky
            .config("imap", "starttls")
            .and_then(parse_bool)
            .unwrap_or(true)
        {
            Some(Arc::new(TlsIdentity::for_decky(decky, "imap", &[])?))
        } else {
            None
        };
        let product = match decky.persona.distro.os_id {
            "ubuntu" => "Dovecot (Ubuntu) ready.",
            _ => "Dovecot ready.",
        };
        Ok(Arc::new(ImapHandler {
            product: decky.config("imap", "banner").unwrap_or(product).to_owned(),
            tls,
        }))
    }
}

/// One argument of an IMAP command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Atom (or NIL, numbers, sequence sets…).
    Atom(String),
    /// Quoted string or literal, raw bytes.
    Str(Vec<u8>),
    /// Parenthesised list, kept as raw text.
    List(String),
}

impl Arg {
    /// The argument as bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Arg::Atom(s) | Arg::List(s) => s.as_bytes(),
            Arg::Str(b) => b,
        }
    }
    /// The argument as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.bytes()).into_owned()
    }
}

/// A parsed command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// Client tag.
    pub tag: String,
    /// Command name, uppercased.
    pub name: String,
    /// Arguments.
    pub args: Vec<Arg>,
}

/// Why a command did not parse.
#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    /// No tag at all.
    NoTag,
    /// Tag but no command.
    NoCommand(String),
    /// Broken syntax after the tag.
    Syntax(String),
}

/// If `line` ends with a literal announcement `{n}` or `{n+}`, its size and
/// whether it is non-synchronising.
pub fn literal_suffix(line: &[u8]) -> Option<(usize, bool)> {
    let l = line.strip_suffix(b"}")?;
    let open = l.iter().rposition(|&b| b == b'{')?;
    let inner = &l[open + 1..];
    let (digits, plus) = match inner.strip_suffix(b"+") {
        Some(d) => (d, true),
        None => (inner, false),
    };
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((n, plus))
}

/// Parses an assembled command: the first line with any literals inlined as
/// `{n}\r\n<n bytes>` followed by the rest of the line.
pub fn parse_command(buf: &[u8]) -> Result<Command, ParseError> {
    let mut i = 0;
    let n = buf.len();
    let word = |i: &mut usize| {
        let s = *i;
        while *i < n && buf[*i] != b' ' {
            *i += 1;
        }
        String::from_utf8_lossy(&buf[s..*i]).into_owned()
    };
    let tag = word(&mut i);
    if tag.is_empty() || tag.len() > 64 {
        return Err(ParseError::NoTag);
    }
    while i < n && buf[i] == b' ' {
        i += 1;
    }
    let name = word(&mut i).to_ascii_uppercase();
    if name.is_empty() {
        return Err(ParseError::NoCommand(tag));
    }
    let name: String = name.chars().take(32).collect();
    let mut args = Vec::new();
    let syntax = |t: &str| ParseError::Syntax(t.to_owned());
    loop {
        while i < n && buf[i] == b' ' {
            i += 1;
        }
        if i >= n {
            break;
        }
        if args.len() >= MAX_ARGS {
            return Err(syntax(&tag));
        }
        match buf[i] {
            b'"' => {
                i += 1;
                let mut s = Vec::new();
                loop {
                    if i >= n {
                        return Err(syntax(&tag));
                    }
                    match buf[i] {
                        b'\\' if i + 1 < n => {
                            s.push(buf[i + 1]);
                            i += 2;
                        }
                        b'"' => {
                            i += 1;
                            break;
                        }
                        b => {
                            s.push(b);
                            i += 1;
                        }
                    }
                }
                args.push(Arg::Str(s));
            }
            b'{' => {
                let close = buf[i..]
                    .iter()
                    .position(|&b| b == b'}')
                    .ok_or_else(|| syntax(&tag))?
                    + i;
                let (len, _) = literal_suffix(&buf[i..=close]).ok_or_else(|| syntax(&tag))?;
                let start = close + 1;
                if buf.get(start..start + 2) != Some(b"\r\n") || start + 2 + len > n {
                    return Err(syntax(&tag));
                }
                args.push(Arg::Str(buf[start + 2..start + 2 + len].to_vec()));
                i = start + 2 + len;
            }
            b'(' => {
                let s = i;
                let mut depth = 0usize;
                while i < n {
                    match buf[i] {
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                if depth != 0 {
                    return Err(syntax(&tag));
                }
                args.push(Arg::List(String::from_utf8_lossy(&buf[s..i]).into_owned()));
            }
            _ => {
                let s = i;
                // Atoms may carry brackets (BODY[HEADER.FIELDS (FROM)]).
                let mut depth = 0usize;
                while i < n && (buf[i] != b' ' || depth > 0) {
                    match buf[i] {
                        b'[' => depth += 1,
                        b']' => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                    i += 1;
                }
                args.push(Arg::Atom(String::from_utf8_lossy(&buf[s..i]).into_owned()));
            }
        }
    }
    Ok(Command { tag, name, args })
}

impl Handler for ImapHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move { self.run(conn, session).await })
    }
}

const FOLDERS: &[(&str, &str)] = &[
    ("INBOX", "\\HasNoChildren"),
    ("Drafts", "\\HasNoChildren \\Drafts"),
    ("Sent", "\\HasNoChildren \\Sent"),
    ("Junk", "\\HasNoChildren \\Junk"),
    ("Trash", "\\HasNoChildren \\Trash"),
    ("Archive", "\\HasNoChildren \\Archive"),
];

impl ImapHandler {
    fn capability(&self, secure: bool, can_tls: bool, authed: bool) -> String {
        let mut c = String::from("IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+");
        if authed {
            c.push_str(" SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS MOVE SPECIAL-USE");
        } else {
            if can_tls && !secure {
                c.push_str(" STARTTLS");
            }
            c.push_str(" AUTH=PLAIN AUTH=LOGIN");
        }
        c
    }

    /// Reads one command with its literals (bounded). `None`: connection over.
    async fn read_command(c: &mut LineConn) -> Option<Vec<u8>> {
        let mut buf = c
            .read_line("* BYE Disconnected for inactivity.\r\n")
            .await?;
        let mut total = buf.len();
        while let Some((len, plus)) = literal_suffix(&buf) {
            total += len;
            if len > MAX_LITERAL || total > MAX_LITERAL * 2 {
                c.tagged
                    .emit_error(format!("imap: literal of {len} bytes refused"));
                if !c.send("* BAD Literal too large\r\n").await {
                    return None;
                }
                // The client will send the literal anyway if it was non-synchronising.
                return if plus { None } else { Some(Vec::new()) };
            }
            if !plus && !c.send("+ OK\r\n").await {
                return None;
            }
            let lit = c.read_exact(len).await?;
            let rest = c.read_line("").await?;
            buf.extend_from_slice(b"\r\n");
            buf.extend_from_slice(&lit);
            buf.extend_from_slice(&rest);
        }
        Some(buf)
    }

    async fn run(&self, conn: Conn, session: Session) {
        let decky = session.decky.clone();
        let mut c = LineConn::new(
            Box::new(conn.stream),
            session,
            self.tls.clone(),
            "* BAD Line too long\r\n",
        );
        let greet = format!(
            "* OK [CAPABILITY {}] {}\r\n",
            self.capability(false, c.can_starttls(), false),
            self.product
        );
        if !c.send(&greet).await {
            return;
        }
        let delay = c.session().limits().auth_fail_delay;
        let mut mbox: Option<Vec<Message>> = None;
        let mut selected = false;
        loop {
            let Some(buf) = Self::read_command(&mut c).await else {
                return;
            };
            if buf.is_empty() {
                continue;
            }
            c.command(&buf);
            let cmd = match parse_command(&buf) {
                Ok(cmd) => cmd,
                Err(e) => {
                    if !c.count_error() {
                        let _ = c.send("* BYE Too many invalid IMAP commands.\r\n").await;
                        return;
                    }
                    let r = match e {
                        ParseError::NoTag => {
                            "* BAD Error in IMAP command received by server.\r\n".to_owned()
                        }
                        ParseError::NoCommand(t) => {
                            format!("{t} BAD Error in IMAP command received by server.\r\n")
                        }
                        ParseError::Syntax(t) => {
                            format!("{t} BAD Error in IMAP command: Invalid arguments.\r\n")
                        }
                    };
                    if !c.send(&r).await {
                        return;
                    }
                    continue;
                }
            };
            let tag = cmd.tag.clone();
            let arg = |i: usize| cmd.args.get(i).map(Arg::text).unwrap_or_default();
            let reply: String = match (cmd.name.as_str(), mbox.as_ref()) {
                ("CAPABILITY", _) => format!(
                    "* CAPABILITY {}\r\n{tag} OK Capability completed.\r\n",
                    self.capability(c.secure, c.can_starttls(), mbox.is_some())
                ),
                ("NOOP", _) => format!("{tag} OK NOOP completed.\r\n"),
                ("ID", _) => format!("* ID (\"name\" \"Dovecot\")\r\n{tag} OK ID completed.\r\n"),
                ("ENABLE", Some(_)) => format!("* ENABLED\r\n{tag} OK Enabled.\r\n"),
                ("LOGOUT", _) => {
                    let _ = c
                        .send(&format!(
                            "* BYE Logging out\r\n{tag} OK Logout completed.\r\n"
                        ))
                        .await;
                    return;
                }
                ("STARTTLS", None) => {
                    if !c.can_starttls() {
                        format!("{tag} BAD TLS is already active.\r\n")
                    } else {
                        if !c
                            .send(&format!("{tag} OK Begin TLS negotiation now.\r\n"))
                            .await
                            || !c.starttls().await
                        {
                            return;
                        }
                        continue;
                    }
                }
                ("LOGIN", None) => {
                    if cmd.args.len() != 2 {
                        format!("{tag} BAD Error in IMAP command LOGIN: Invalid arguments.\r\n")
                    } else {
                        let user = decnet_core::event::printable(cmd.args[0].bytes());
                        let pass = cmd.args[1].bytes().to_vec();
                        let ok = super::login_ok(&decky, "imap", &user, &pass);
                        c.tagged.emit_auth(
                            &user,
                            "password",
                            &pass,
                            ok,
                            fields! {"method" => "login"},
                        );
                        if ok {
                            mbox = Some(super::mailbox(&decky, &user));
                            format!(
                                "{tag} OK [CAPABILITY {}] Logged in\r\n",
                                self.capability(c.secure, false, true)
                            )
                        } else {
                            tokio::time::sleep(delay).await;
                            format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
                        }
                    }
                }
                ("AUTHENTICATE", None) => match Mech::parse(&arg(0)) {
                    None => format!("{tag} NO Unsupported authentication mechanism.\r\n"),
                    Some(m) => {
                        let initial = cmd.args.get(1).map(|a| a.bytes().to_vec());
                        match super::sasl(&mut c, m, initial.as_deref(), "+ ").await {
                            SaslOutcome::Closed => return,
                            SaslOutcome::Cancelled => {
                                format!("{tag} BAD Authentication aborted by client.\r\n")
                            }
                            SaslOutcome::Malformed => {
                                c.tagged.emit_error("imap: malformed SASL response");
                                format!("{tag} BAD Invalid base64 data in continued response\r\n")
                            }
                            SaslOutcome::Creds { user, pass } => {
                                let ok = super::login_ok(&decky, "imap", &user, &pass);
                                c.tagged.emit_auth(
                                    &user,
                                    "password",
                                    &pass,
                                    ok,
                                    fields! {"method" => m.name()},
                                );
                                if ok {
                                    mbox = Some(super::mailbox(&decky, &user));
                                    format!(
                                        "{tag} OK [CAPABILITY {}] Logged in\r\n",
                                        self.capability(c.secure, false, true)
                                    )
                                } else {
                                    tokio::time::sleep(delay).await;
                                    format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
                                }
                            }
                        }
                    }
                },
                ("LOGIN" | "AUTHENTICATE" | "STARTTLS", Some(_)) => {
                    format!(
                        "{tag} BAD Error in IMAP command {}: Unknown command.\r\n",
                        cmd.name
                    )
                }
                ("NAMESPACE", Some(_)) => format!(
                    "* NAMESPACE ((\"\" \".\")) NIL NIL\r\n{tag} OK Namespace completed.\r\n"
                ),
                ("LIST" | "LSUB", Some(_)) => {
                    let pattern = arg(1);
                    let mut s = String::new();
                    if pattern.is_empty() {
                        s.push_str(&format!("* {} (\\Noselect) \".\" \"\"\r\n", cmd.name));
                    } else {
                        for (name, flags) in FOLDERS {
                            if pattern == "*"
                                || pattern == "%"
                                || pattern.eq_ignore_ascii_case(name)
                            {
                                s.push_str(&format!("* {} ({flags}) \".\" {name}\r\n", cmd.name));
                            }
                        }
                    }
                    format!(
                        "{s}{tag} OK {} completed.\r\n",
                        if cmd.name == "LIST" { "List" } else { "Lsub" }
                    )
                }
                ("STATUS", Some(m)) => {
                    let folder = arg(0);
                    let n = if folder.eq_ignore_ascii_case("INBOX") {
                        m.len()
                    } else {
                        0
                    };
                    format!(
                        "* STATUS {folder} (MESSAGES {n} RECENT 0 UIDNEXT {} UNSEEN {})\r\n{tag} OK Status completed.\r\n",
                        m.last().map(|x| x.uid + 1).unwrap_or(1),
                        n.min(1)
                    )
                }
                ("SELECT" | "EXAMINE", Some(m)) => {
                    let folder = arg(0);
                    if !FOLDERS.iter().any(|(f, _)| f.eq_ignore_ascii_case(&folder)) {
                        format!(
                            "{tag} NO Mailbox doesn't exist: {}\r\n",
                            folder.chars().take(100).collect::<String>()
                        )
                    } else {
                        selected = true;
                        let n = if folder.eq_ignore_ascii_case("INBOX") {
                            m.len()
                        } else {
                            0
                        };
                        let rw = if cmd.name == "SELECT" {
                            "READ-WRITE"
                        } else {
                            "READ-ONLY"
                        };
                        format!(
                            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n* {n} EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1698231004] UIDs valid\r\n* OK [UIDNEXT {}] Predicted next UID\r\n{tag} OK [{rw}] Select completed.\r\n",
                            m.last().map(|x| x.uid + 1).unwrap_or(1)
                        )
                    }
                }
                ("SEARCH", Some(m)) if selected => {
                    let ids: Vec<String> = (1..=m.len()).map(|i| i.to_string()).collect();
                    format!(
                        "* SEARCH {}\r\n{tag} OK Search completed.\r\n",
                        ids.join(" ")
                    )
                }
                ("FETCH", Some(m)) if selected => {
                    c.tagged.emit(
                        decnet_core::EventKind::Request,
                        fields! {"request" => "fetch", "set" => arg(0), "items" => arg(1)},
                    );
                    format!(
                        "{}{tag} OK Fetch completed.\r\n",
                        fetch(m, &arg(0), &arg(1), false)
                    )
                }
                ("UID", Some(m)) if selected && arg(0).eq_ignore_ascii_case("FETCH") => {
                    c.tagged.emit(
                        decnet_core::EventKind::Request,
                        fields! {"request" => "uid fetch", "set" => arg(1), "items" => arg(2)},
                    );
                    format!(
                        "{}{tag} OK Fetch completed.\r\n",
                        fetch(m, &arg(1), &arg(2), true)
                    )
                }
                ("UID", Some(m)) if selected && arg(0).eq_ignore_ascii_case("SEARCH") => {
                    let ids: Vec<String> = m.iter().map(|x| x.uid.to_string()).collect();
                    format!(
                        "* SEARCH {}\r\n{tag} OK Search completed.\r\n",
                        ids.join(" ")
                    )
                }
                ("CLOSE" | "UNSELECT", Some(_)) if selected => {
                    selected = false;
                    format!(
                        "{tag} OK {} completed.\r\n",
                        if cmd.name == "CLOSE" {
                            "Close"
                        } else {
                            "Unselect"
                        }
                    )
                }
                ("EXPUNGE" | "CHECK", Some(_)) if selected => format!(
                    "{tag} OK {} completed.\r\n",
                    if cmd.name == "CHECK" {
                        "Check"
                    } else {
                        "Expunge"
                    }
                ),
                (
                    "CREATE" | "DELETE" | "RENAME" | "SUBSCRIBE" | "UNSUBSCRIBE" | "APPEND",
                    Some(_),
                ) => {
                    format!("{tag} NO [NOPERM] Permission denied\r\n")
                }
                (_, None)
                    if [
                        "LIST",
                        "LSUB",
                        "SELECT",
                        "EXAMINE",
                        "STATUS",
                        "FETCH",
                        "SEARCH",
                        "UID",
                        "NAMESPACE",
                        "CREATE",
                        "DELETE",
                        "APPEND",
                    ]
                    .contains(&cmd.name.as_str()) =>
                {
                    format!(
                        "{tag} BAD Error in IMAP command {}: Unknown command.\r\n",
                        cmd.name
                    )
                }
                ("FETCH" | "SEARCH" | "UID" | "CLOSE" | "EXPUNGE", Some(_)) => {
                    format!("{tag} BAD No mailbox selected.\r\n")
                }
                _ => {
                    if !c.count_error() {
                        let _ = c.send("* BYE Too many invalid IMAP commands.\r\n").await;
                        return;
                    }
                    format!(
                        "{tag} BAD Error in IMAP command {}: Unknown command.\r\n",
                        cmd.name.chars().take(32).collect::<String>()
                    )
                }
            };
            if !c.send(&reply).await {
                return;
            }
        }
    }
}

/// Expands a sequence set (`1`, `1:3`, `2:*`, `1,3`) over `1..=max`.
pub fn sequence(set: &str, max: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for part in set.split(',').take(32) {
        let num = |s: &str| {
            if s == "*" {
                Some(max)
            } else {
                s.parse::<usize>().ok()
            }
        };
        let (a, b) = match part.split_once(':') {
            Some((a, b)) => (num(a), num(b)),
            None => (num(part), num(part)),
        };
        if let (Some(a), Some(b)) = (a, b) {
            let (lo, hi) = (a.min(b).max(1), a.max(b).min(max));
            for i in lo..=hi {
                if !out.contains(&i) {
                    out.push(i);
                }
            }
        }
    }
    out
}

fn fetch(m: &[Message], set: &str, items: &str, by_uid: bool) -> String {
    let up = items.to_ascii_uppercase();
    let idx: Vec<usize> = if by_uid {
        let uids: Vec<usize> = sequence(set, m.last().map(|x| x.uid as usize).unwrap_or(0));
        (1..=m.len())
            .filter(|i| uids.contains(&(m[i - 1].uid as usize)))
            .collect()
    } else {
        sequence(set, m.len())
    };
    let mut out = String::new();
    for i in idx {
        let msg = &m[i - 1];
        let mut parts = vec![format!("UID {}", msg.uid)];
        if up.contains("FLAGS") || up.contains("ALL") || up.contains("FAST") {
            parts.push("FLAGS (\\Seen)".into());
        }
        if up.contains("RFC822.SIZE") || up.contains("ALL") || up.contains("FAST") {
            parts.push(format!("RFC822.SIZE {}", msg.text.len()));
        }
        if up.contains("BODY[HEADER")
            || up.contains("BODY.PEEK[HEADER")
            || up.contains("RFC822.HEADER")
        {
            let head = msg.text.split("\r\n\r\n").next().unwrap_or("").to_owned() + "\r\n\r\n";
            parts.push(format!("BODY[HEADER] {{{}}}\r\n{head}", head.len()));
        } else if up.contains("BODY[]") || up.contains("BODY.PEEK[]") || up.contains("RFC822") {
            parts.push(format!("BODY[] {{{}}}\r\n{}", msg.text.len(), msg.text));
        }
        out.push_str(&format!("* {i} FETCH ({})\r\n", parts.join(" ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn commands_with_strings_and_literals() {
        let c = parse_command(b"a1 LOGIN \"bob\" \"p\\\"w d\"").unwrap();
        assert_eq!(c.tag, "a1");
        assert_eq!(c.name, "LOGIN");
        assert_eq!(
            c.args,
            vec![Arg::Str(b"bob".to_vec()), Arg::Str(b"p\"w d".to_vec())]
        );
        let c = parse_command(b"x login {5}\r\nalice {3}\r\nxyz").unwrap();
        assert_eq!(
            c.args,
            vec![Arg::Str(b"alice".to_vec()), Arg::Str(b"xyz".to_vec())]
        );
        let c = parse_command(b"t FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM)])").unwrap();
        assert_eq!(c.args.len(), 2);
        assert_eq!(literal_suffix(b"a LOGIN {12+}"), Some((12, true)));
        assert_eq!(literal_suffix(b"a LOGIN {x}"), None);
        assert_eq!(parse_command(b""), Err(ParseError::NoTag));
        assert_eq!(parse_command(b"a"), Err(ParseError::NoCommand("a".into())));
        assert!(matches!(
            parse_command(b"a LOGIN \"open"),
            Err(ParseError::Syntax(_))
        ));
        assert_eq!(sequence("2:*", 3), vec![2, 3]);
        assert_eq!(sequence("1,3,9", 3), vec![1, 3]);
    }

    proptest! {
        #[test]
        fn parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_command(&data);
            let _ = literal_suffix(&data);
            let _ = sequence(&String::from_utf8_lossy(&data), 5);
        }

        #[test]
        fn structured_never_panics(tag in "[a-z0-9]{1,5}", words in proptest::collection::vec("[\"(){}\\[\\]a-z0-9 +*:\\\\]{0,12}", 0..8)) {
            let line = format!("{tag} {}", words.join(" "));
            let _ = parse_command(line.as_bytes());
        }
    }
}
