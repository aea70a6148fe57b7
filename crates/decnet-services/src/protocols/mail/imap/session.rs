//! One IMAP connection: reads commands (with their literals), and runs
//! each verb in its own method against the session's state (logged-in
//! mailbox, selected folder).

use super::command::{
    literal_suffix, parse_command, sequence, valid_tag, Command, ParseError, Verb, MAX_LITERAL,
};
use super::prefix::{self, Prefix};
use super::ImapHandler;
use crate::fields;
use crate::line_conn::{Judged, LineConn, Next, RefuseEarly};
use crate::protocols::mail::{self, Mech, Message, SaslOutcome};

const FOLDERS: &[(&str, &str)] = &[
    ("INBOX", "\\HasNoChildren"),
    ("Drafts", "\\HasNoChildren \\Drafts"),
    ("Sent", "\\HasNoChildren \\Sent"),
    ("Junk", "\\HasNoChildren \\Junk"),
    ("Trash", "\\HasNoChildren \\Trash"),
    ("Archive", "\\HasNoChildren \\Archive"),
];

const TOO_MANY_ERRORS: &str = "* BYE Too many invalid IMAP commands.\r\n";

/// Bad commands imap-login takes before it hangs up (Dovecot's
/// `CLIENT_MAX_BAD_COMMANDS`): the third is answered with the BYE alone.
const LOGIN_MAX_BAD: u32 = 3;

/// imap-login's one answer to any command it cannot run: it knows no
/// command names beyond its own, so it never says which.
const LOGIN_BAD: &str = "BAD Error in IMAP command received by server.";

/// What Dovecot tells a client that sent a password in clear while
/// `disable_plaintext_auth` is on.
const PLAINTEXT_REFUSED: &str = "* BAD [ALERT] Plaintext authentication not allowed without SSL/TLS, but your client did it anyway. If anyone was listening, the password was exposed.\r\n";

/// The state of one IMAP connection.
pub(super) struct ImapSession<'h> {
    h: &'h ImapHandler,
    c: LineConn,
    /// The mailbox after a successful login.
    mbox: Option<Vec<Message>>,
    /// Who logged in: SELECT reads their mailbox afresh, so mail that
    /// arrived since the login shows up as a real server's would.
    user: Option<String>,
    selected: bool,
    /// Bad commands before login.
    bad: u32,
    /// The rest of a line refused by its start is still to be skipped.
    skip_line: bool,
}

/// One read from the client.
enum Input {
    /// A command line with its literals.
    Command(Vec<u8>),
    /// The start of a line imap-login refused before its end arrived.
    Refused(Vec<u8>),
}

impl<'h> ImapSession<'h> {
    pub(super) fn new(h: &'h ImapHandler, c: LineConn) -> Self {
        ImapSession {
            h,
            c,
            mbox: None,
            user: None,
            selected: false,
            bad: 0,
            skip_line: false,
        }
    }

    /// Greets, then serves commands until the client leaves.
    pub(super) async fn run(mut self) {
        let greet = format!(
            "* OK [CAPABILITY {}] {}\r\n",
            self.h.capability(false, self.c.can_starttls(), false),
            self.h.product
        );
        if !self.c.send(&greet).await {
            return;
        }
        loop {
            let next = match self.read_command().await {
                None => return,
                Some(Input::Refused(part)) => {
                    self.c.command(&part);
                    self.skip_line = true;
                    self.refused(prefix::judge(&part))
                }
                Some(Input::Command(buf)) => {
                    self.c.command(&buf);
                    match prefix::judge(&[&buf[..], b"\n"].concat()) {
                        verdict @ (Prefix::BadTag | Prefix::BadName(_)) if self.mbox.is_none() => {
                            self.refused(verdict)
                        }
                        _ => match parse_command(&buf) {
                            Ok(cmd) => self.apply(&cmd).await,
                            Err(e) => self.parse_error(e),
                        },
                    }
                }
            };
            if !self.c.reply(next).await {
                return;
            }
        }
    }

    /// Reads one command with its literals (bounded). `None`: connection over.
    async fn read_command(&mut self) -> Option<Input> {
        const IDLE: &str = "* BYE Disconnected for inactivity.\r\n";
        let c = &mut self.c;
        if std::mem::take(&mut self.skip_line) {
            c.read_line(IDLE).await?;
        }
        // imap-login judges tag and command name as they arrive; the
        // post-login process reads whole lines.
        let judge: Option<RefuseEarly<'_>> = self.mbox.is_none().then_some(&prefix::refused);
        let mut buf = match c.read_line_judged(IDLE, judge).await? {
            Judged::Line(l) => l,
            Judged::Refused(part) => return Some(Input::Refused(part)),
        };
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
                return if plus {
                    None
                } else {
                    Some(Input::Command(Vec::new()))
                };
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
        Some(Input::Command(buf))
    }

    /// A line imap-login refused by its tag or command name.
    fn refused(&mut self, verdict: Prefix) -> Next {
        match verdict {
            Prefix::BadName(tag) => self.login_bad(&tag),
            _ => self.login_bad("*"),
        }
    }

    /// A command imap-login rejects: counted, and the third ends the
    /// connection.
    fn login_bad(&mut self, tag: &str) -> Next {
        self.bad += 1;
        if self.bad >= LOGIN_MAX_BAD {
            return Next::CloseWith(TOO_MANY_ERRORS.into());
        }
        let tag = if valid_tag(tag) { tag } else { "*" };
        Next::Reply(format!("{tag} {LOGIN_BAD}\r\n"))
    }

    fn parse_error(&mut self, e: ParseError) -> Next {
        if self.mbox.is_none() {
            return match e {
                ParseError::NoTag => self.login_bad("*"),
                ParseError::NoCommand(t) | ParseError::Syntax(t) => self.login_bad(&t),
                // imap-login sends its parser's words and does not count them.
                ParseError::Malformed(t, words) => Next::Reply(format!("{t} BAD {words}\r\n")),
            };
        }
        if !self.c.count_error() {
            return Next::CloseWith(TOO_MANY_ERRORS.into());
        }
        Next::Reply(match e {
            ParseError::NoTag => "* BAD Error in IMAP command received by server.\r\n".to_owned(),
            ParseError::NoCommand(t) => {
                format!("{t} BAD Error in IMAP command received by server.\r\n")
            }
            ParseError::Syntax(t) | ParseError::Malformed(t, _) => {
                format!("{t} BAD Error in IMAP command: Invalid arguments.\r\n")
            }
        })
    }

    /// Runs one command. What a verb may do depends on whether the client
    /// logged in and selected a folder, as in Dovecot.
    async fn apply(&mut self, cmd: &Command) -> Next {
        let authed = self.mbox.is_some();
        let login_verb = matches!(
            cmd.verb(),
            Verb::Capability
                | Verb::Noop
                | Verb::Id
                | Verb::Logout
                | Verb::Starttls
                | Verb::Login
                | Verb::Authenticate
        );
        if !authed && (!login_verb || !valid_tag(&cmd.tag)) {
            return self.login_bad(&cmd.tag);
        }
        match cmd.verb() {
            Verb::Capability => self.capability(cmd),
            Verb::Noop => ok(cmd, "NOOP completed."),
            Verb::Id => Next::Reply(format!(
                "* ID (\"name\" \"Dovecot\")\r\n{} OK ID completed.\r\n",
                cmd.tag
            )),
            Verb::Logout => Next::CloseWith(format!(
                "* BYE Logging out\r\n{} OK Logout completed.\r\n",
                cmd.tag
            )),
            Verb::Enable if authed => {
                Next::Reply(format!("* ENABLED\r\n{} OK Enabled.\r\n", cmd.tag))
            }
            Verb::Starttls | Verb::Login | Verb::Authenticate if authed => not_now(cmd),
            Verb::Starttls => self.starttls(cmd).await,
            Verb::Login => self.login(cmd).await,
            Verb::Authenticate => self.authenticate(cmd).await,
            // Before login, Dovecot answers these with a plain BAD.
            Verb::Namespace
            | Verb::List
            | Verb::Status
            | Verb::Select
            | Verb::Search
            | Verb::Fetch
            | Verb::Uid
                if !authed =>
            {
                not_now(cmd)
            }
            Verb::Modify
                if !authed && matches!(cmd.name.as_str(), "CREATE" | "DELETE" | "APPEND") =>
            {
                not_now(cmd)
            }
            Verb::Namespace => Next::Reply(format!(
                "* NAMESPACE ((\"\" \".\")) NIL NIL\r\n{} OK Namespace completed.\r\n",
                cmd.tag
            )),
            Verb::List => list(cmd),
            Verb::Status => self.status(cmd),
            Verb::Select => self.select(cmd),
            Verb::Modify if authed => {
                Next::Reply(format!("{} NO [NOPERM] Permission denied\r\n", cmd.tag))
            }
            Verb::Search | Verb::Fetch | Verb::Uid if !self.selected => no_mailbox(cmd),
            Verb::Search => self.search(cmd),
            Verb::Fetch => self.fetch(cmd, false),
            Verb::Uid => self.uid(cmd),
            Verb::Close | Verb::Unselect if authed && self.selected => {
                self.selected = false;
                let what = if cmd.verb() == Verb::Close {
                    "Close"
                } else {
                    "Unselect"
                };
                ok(cmd, &format!("{what} completed."))
            }
            Verb::Expunge | Verb::Check if authed && self.selected => {
                let what = if cmd.verb() == Verb::Check {
                    "Check"
                } else {
                    "Expunge"
                };
                ok(cmd, &format!("{what} completed."))
            }
            Verb::Close | Verb::Expunge if authed => no_mailbox(cmd),
            _ => self.unknown(cmd),
        }
    }

    fn capability(&self, cmd: &Command) -> Next {
        let done = if self.mbox.is_some() {
            "Capability completed."
        } else {
            "Pre-login capabilities listed, post-login capabilities have more."
        };
        Next::Reply(format!(
            "* CAPABILITY {}\r\n{} OK {done}\r\n",
            self.h
                .capability(self.c.secure, self.c.can_starttls(), self.mbox.is_some()),
            cmd.tag
        ))
    }

    async fn starttls(&mut self, cmd: &Command) -> Next {
        if !self.c.can_starttls() {
            return Next::Reply(format!("{} BAD TLS is already active.\r\n", cmd.tag));
        }
        let go = format!("{} OK Begin TLS negotiation now.\r\n", cmd.tag);
        if !self.c.send(&go).await || !self.c.starttls().await {
            return Next::Close;
        }
        Next::Quiet
    }

    async fn login(&mut self, cmd: &Command) -> Next {
        if cmd.args.len() != 2 {
            return self.login_bad(&cmd.tag);
        }
        let user = decnet_core::event::printable(cmd.args[0].bytes());
        let pass = cmd.args[1].bytes().to_vec();
        if !self.h.takes_passwords(self.c.secure) {
            self.refused_login(&user, &pass, "login");
            return Next::Reply(format!(
                "{PLAINTEXT_REFUSED}{} NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n",
                cmd.tag
            ));
        }
        self.check_login(cmd, &user, &pass, "login").await
    }

    /// Records a password sent in clear that the persona refuses unread.
    fn refused_login(&self, user: &str, pass: &[u8], method: &str) {
        self.c.tagged.emit_auth(
            user,
            "password",
            pass,
            false,
            fields! {"method" => method, "refused" => "plaintext"},
        );
    }

    async fn authenticate(&mut self, cmd: &Command) -> Next {
        let Some(m) = Mech::parse(&cmd.arg(0)) else {
            return Next::Reply(format!(
                "{} NO Unsupported authentication mechanism.\r\n",
                cmd.tag
            ));
        };
        let initial = cmd.args.get(1).map(|a| a.bytes().to_vec());
        if !self.h.takes_passwords(self.c.secure) {
            // A SASL-IR initial response already carries the login.
            if let Some((user, pass)) = initial
                .as_deref()
                .filter(|_| m == Mech::Plain)
                .and_then(mail::b64)
                .as_deref()
                .and_then(mail::split_plain)
            {
                self.refused_login(&user, &pass, m.name());
            }
            return Next::Reply(format!(
                "{} NO [PRIVACYREQUIRED] Plaintext authentication disabled.\r\n",
                cmd.tag
            ));
        }
        match mail::sasl(&mut self.c, m, initial.as_deref(), "+ ").await {
            SaslOutcome::Closed => Next::Close,
            SaslOutcome::Cancelled => Next::Reply(format!(
                "{} BAD Authentication aborted by client.\r\n",
                cmd.tag
            )),
            SaslOutcome::Malformed => {
                self.c.tagged.emit_error("imap: malformed SASL response");
                Next::Reply(format!(
                    "{} BAD Invalid base64 data in continued response\r\n",
                    cmd.tag
                ))
            }
            SaslOutcome::Creds { user, pass } => {
                self.check_login(cmd, &user, &pass, m.name()).await
            }
        }
    }

    /// Records the attempt; a decky login opens the bait mailbox.
    async fn check_login(&mut self, cmd: &Command, user: &str, pass: &[u8], method: &str) -> Next {
        let decky = self.c.session().decky.clone();
        let ok = mail::login_ok(&decky, "imap", user, pass);
        self.c
            .tagged
            .emit_auth(user, "password", pass, ok, fields! {"method" => method});
        if ok {
            self.mbox = Some(mail::mailbox(&decky, user));
            self.user = Some(user.to_owned());
            // The post-login process reads longer lines than imap-login.
            self.c.line_cap = usize::MAX;
            return Next::Reply(format!(
                "{} OK [CAPABILITY {}] Logged in\r\n",
                cmd.tag,
                self.h.capability(self.c.secure, false, true)
            ));
        }
        if !self.c.auth_fail_delay().await {
            return Next::Close;
        }
        Next::Reply(format!(
            "{} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n",
            cmd.tag
        ))
    }

    fn messages(&self) -> &[Message] {
        self.mbox.as_deref().unwrap_or(&[])
    }

    fn uid_next(&self) -> u32 {
        self.messages().last().map(|x| x.uid + 1).unwrap_or(1)
    }

    fn status(&self, cmd: &Command) -> Next {
        let folder = cmd.arg(0);
        let n = if folder.eq_ignore_ascii_case("INBOX") {
            self.messages().len()
        } else {
            0
        };
        Next::Reply(format!(
            "* STATUS {folder} (MESSAGES {n} RECENT 0 UIDNEXT {} UNSEEN {})\r\n{} OK Status completed.\r\n",
            self.uid_next(),
            n.min(1),
            cmd.tag
        ))
    }

    fn select(&mut self, cmd: &Command) -> Next {
        let folder = cmd.arg(0);
        if !FOLDERS.iter().any(|(f, _)| f.eq_ignore_ascii_case(&folder)) {
            return Next::Reply(format!(
                "{} NO Mailbox doesn't exist: {}\r\n",
                cmd.tag,
                folder.chars().take(100).collect::<String>()
            ));
        }
        self.selected = true;
        if let Some(user) = &self.user {
            self.mbox = Some(mail::mailbox(&self.c.session().decky, user));
        }
        let n = if folder.eq_ignore_ascii_case("INBOX") {
            self.messages().len()
        } else {
            0
        };
        let rw = if cmd.name == "SELECT" {
            "READ-WRITE"
        } else {
            "READ-ONLY"
        };
        Next::Reply(format!(
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n* {n} EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1698231004] UIDs valid\r\n* OK [UIDNEXT {}] Predicted next UID\r\n{} OK [{rw}] Select completed.\r\n",
            self.uid_next(),
            cmd.tag
        ))
    }

    fn search(&self, cmd: &Command) -> Next {
        let ids: Vec<String> = (1..=self.messages().len()).map(|i| i.to_string()).collect();
        search_reply(cmd, &ids)
    }

    fn fetch(&self, cmd: &Command, by_uid: bool) -> Next {
        let (request, first) = if by_uid {
            ("uid fetch", 1)
        } else {
            ("fetch", 0)
        };
        let (set, items) = (cmd.arg(first), cmd.arg(first + 1));
        self.c.tagged.emit(
            decnet_core::EventKind::Request,
            fields! {"request" => request, "set" => set.clone(), "items" => items.clone()},
        );
        Next::Reply(format!(
            "{}{} OK Fetch completed.\r\n",
            fetch(self.messages(), &set, &items, by_uid),
            cmd.tag
        ))
    }

    fn uid(&self, cmd: &Command) -> Next {
        let sub = cmd.arg(0);
        if sub.eq_ignore_ascii_case("FETCH") {
            self.fetch(cmd, true)
        } else if sub.eq_ignore_ascii_case("SEARCH") {
            let ids: Vec<String> = self.messages().iter().map(|x| x.uid.to_string()).collect();
            search_reply(cmd, &ids)
        } else {
            no_mailbox(cmd)
        }
    }

    fn unknown(&mut self, cmd: &Command) -> Next {
        if !self.c.count_error() {
            return Next::CloseWith(TOO_MANY_ERRORS.into());
        }
        Next::Reply(format!(
            "{} BAD Error in IMAP command {}: Unknown command.\r\n",
            cmd.tag,
            cmd.name.chars().take(32).collect::<String>()
        ))
    }
}

fn ok(cmd: &Command, text: &str) -> Next {
    Next::Reply(format!("{} OK {text}\r\n", cmd.tag))
}

/// A known command in the wrong state (before or after login).
fn not_now(cmd: &Command) -> Next {
    Next::Reply(format!(
        "{} BAD Error in IMAP command {}: Unknown command.\r\n",
        cmd.tag, cmd.name
    ))
}

fn no_mailbox(cmd: &Command) -> Next {
    Next::Reply(format!("{} BAD No mailbox selected.\r\n", cmd.tag))
}

fn search_reply(cmd: &Command, ids: &[String]) -> Next {
    Next::Reply(format!(
        "* SEARCH {}\r\n{} OK Search completed.\r\n",
        ids.join(" "),
        cmd.tag
    ))
}

fn list(cmd: &Command) -> Next {
    let pattern = cmd.arg(1);
    let mut s = String::new();
    if pattern.is_empty() {
        s.push_str(&format!("* {} (\\Noselect) \".\" \"\"\r\n", cmd.name));
    } else {
        for (name, flags) in FOLDERS {
            if pattern == "*" || pattern == "%" || pattern.eq_ignore_ascii_case(name) {
                s.push_str(&format!("* {} ({flags}) \".\" {name}\r\n", cmd.name));
            }
        }
    }
    let what = if cmd.name == "LIST" { "List" } else { "Lsub" };
    Next::Reply(format!("{s}{} OK {what} completed.\r\n", cmd.tag))
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
