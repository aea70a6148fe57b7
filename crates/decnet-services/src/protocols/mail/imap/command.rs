//! IMAP command syntax: a tagged line with quoted strings, literals
//! (already inlined by the reader), parenthesised lists and atoms, and the
//! verb it names. Pure, so it is proptested on its own.

/// Largest literal accepted in a command.
pub const MAX_LITERAL: usize = 64 * 1024;
/// Most arguments parsed from one command.
pub const MAX_ARGS: usize = 64;

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

impl Command {
    /// Argument `i` as text (empty when absent).
    pub fn arg(&self, i: usize) -> String {
        self.args.get(i).map(Arg::text).unwrap_or_default()
    }

    /// The verb this command names.
    pub fn verb(&self) -> Verb {
        Verb::of(&self.name)
    }
}

/// What a command asks for, independent of the session's state (the
/// session decides what each verb may do before and after login).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// CAPABILITY.
    Capability,
    /// NOOP.
    Noop,
    /// ID.
    Id,
    /// ENABLE.
    Enable,
    /// LOGOUT.
    Logout,
    /// STARTTLS.
    Starttls,
    /// LOGIN user pass.
    Login,
    /// AUTHENTICATE mech [initial].
    Authenticate,
    /// NAMESPACE.
    Namespace,
    /// LIST / LSUB ref pattern.
    List,
    /// STATUS folder items.
    Status,
    /// SELECT / EXAMINE folder.
    Select,
    /// SEARCH criteria.
    Search,
    /// FETCH set items.
    Fetch,
    /// UID FETCH / UID SEARCH / other UID commands.
    Uid,
    /// CLOSE.
    Close,
    /// UNSELECT.
    Unselect,
    /// EXPUNGE.
    Expunge,
    /// CHECK.
    Check,
    /// Mailbox changes the decoy refuses (CREATE, DELETE, APPEND, …).
    Modify,
    /// Anything else.
    Unknown,
}

impl Verb {
    /// The verb of an (uppercased) command name.
    pub fn of(name: &str) -> Verb {
        match name {
            "CAPABILITY" => Verb::Capability,
            "NOOP" => Verb::Noop,
            "ID" => Verb::Id,
            "ENABLE" => Verb::Enable,
            "LOGOUT" => Verb::Logout,
            "STARTTLS" => Verb::Starttls,
            "LOGIN" => Verb::Login,
            "AUTHENTICATE" => Verb::Authenticate,
            "NAMESPACE" => Verb::Namespace,
            "LIST" | "LSUB" => Verb::List,
            "STATUS" => Verb::Status,
            "SELECT" | "EXAMINE" => Verb::Select,
            "SEARCH" => Verb::Search,
            "FETCH" => Verb::Fetch,
            "UID" => Verb::Uid,
            "CLOSE" => Verb::Close,
            "UNSELECT" => Verb::Unselect,
            "EXPUNGE" => Verb::Expunge,
            "CHECK" => Verb::Check,
            "CREATE" | "DELETE" | "RENAME" | "SUBSCRIBE" | "UNSUBSCRIBE" | "APPEND" => Verb::Modify,
            _ => Verb::Unknown,
        }
    }
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
    /// Broken syntax Dovecot's parser names (`Missing '"'`…): the tag and
    /// the parser's words.
    Malformed(String, &'static str),
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

/// A cursor over one assembled command.
struct Scanner<'a> {
    buf: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn at_end(&self) -> bool {
        self.i >= self.buf.len()
    }

    fn skip_spaces(&mut self) {
        while self.buf.get(self.i) == Some(&b' ') {
            self.i += 1;
        }
    }

    fn word(&mut self) -> String {
        let s = self.i;
        while self.i < self.buf.len() && self.buf[self.i] != b' ' {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.buf[s..self.i]).into_owned()
    }

    /// `"…"` with backslash escapes; the opening quote is current.
    fn quoted(&mut self) -> Result<Arg, &'static str> {
        self.quoted_inner().ok_or("Missing '\"'")
    }

    fn quoted_inner(&mut self) -> Option<Arg> {
        self.i += 1;
        let mut s = Vec::new();
        loop {
            match *self.buf.get(self.i)? {
                b'\\' if self.i + 1 < self.buf.len() => {
                    s.push(self.buf[self.i + 1]);
                    self.i += 2;
                }
                b'"' => {
                    self.i += 1;
                    return Some(Arg::Str(s));
                }
                b => {
                    s.push(b);
                    self.i += 1;
                }
            }
        }
    }

    /// `{n}\r\n<n bytes>`, as the reader inlined it.
    fn literal(&mut self) -> Option<Arg> {
        let close = self.buf[self.i..].iter().position(|&b| b == b'}')? + self.i;
        let (len, _) = literal_suffix(&self.buf[self.i..=close])?;
        let start = close + 1;
        if self.buf.get(start..start + 2) != Some(b"\r\n") || start + 2 + len > self.buf.len() {
            return None;
        }
        self.i = start + 2 + len;
        Some(Arg::Str(self.buf[start + 2..self.i].to_vec()))
    }

    /// `( … )`, nested, kept as raw text.
    fn list(&mut self) -> Option<Arg> {
        let s = self.i;
        let mut depth = 0usize;
        while self.i < self.buf.len() {
            match self.buf[self.i] {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        self.i += 1;
                        break;
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        (depth == 0).then(|| Arg::List(String::from_utf8_lossy(&self.buf[s..self.i]).into_owned()))
    }

    /// An atom; it may carry brackets (`BODY[HEADER.FIELDS (FROM)]`).
    /// Outside brackets a `)` or a quote or control byte is refused in
    /// Dovecot's words.
    fn atom(&mut self) -> Result<Arg, &'static str> {
        let s = self.i;
        let mut depth = 0usize;
        while self.i < self.buf.len() && (self.buf[self.i] != b' ' || depth > 0) {
            match self.buf[self.i] {
                b'[' => depth += 1,
                b']' => depth = depth.saturating_sub(1),
                b')' if depth == 0 => return Err("Unexpected ')'"),
                b'"' | 0..=0x1f if depth == 0 => return Err("Invalid characters in atom"),
                _ => {}
            }
            self.i += 1;
        }
        Ok(Arg::Atom(
            String::from_utf8_lossy(&self.buf[s..self.i]).into_owned(),
        ))
    }
}

/// Parses an assembled command: the first line with any literals inlined as
/// `{n}\r\n<n bytes>` followed by the rest of the line.
pub fn parse_command(buf: &[u8]) -> Result<Command, ParseError> {
    let mut sc = Scanner { buf, i: 0 };
    let tag = sc.word();
    if tag.is_empty() || tag.len() > 64 {
        return Err(ParseError::NoTag);
    }
    sc.skip_spaces();
    let name = sc.word().to_ascii_uppercase();
    if name.is_empty() {
        return Err(ParseError::NoCommand(tag));
    }
    let name: String = name.chars().take(32).collect();
    let mut args = Vec::new();
    loop {
        sc.skip_spaces();
        if sc.at_end() {
            break;
        }
        let arg = match (args.len() < MAX_ARGS).then(|| buf[sc.i]) {
            None => None,
            Some(b'"') => Some(sc.quoted()),
            Some(b'{') => sc.literal().map(Ok),
            Some(b'(') => Some(sc.list().ok_or("Missing ')'")),
            Some(_) => Some(sc.atom()),
        };
        match arg {
            Some(Ok(a)) => args.push(a),
            Some(Err(words)) => return Err(ParseError::Malformed(tag, words)),
            None => return Err(ParseError::Syntax(tag)),
        }
    }
    Ok(Command { tag, name, args })
}

/// True when `tag` is a tag Dovecot echoes back: IMAP `ASTRING-CHAR`s
/// other than `+` (RFC 3501 `tag`). Anything else is answered with `*`.
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.bytes().all(|b| {
            (0x21..0x7f).contains(&b)
                && !matches!(
                    b,
                    b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b'+' | b']'
                )
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn commands_with_strings_and_literals() {
        let c = parse_command(b"a1 LOGIN \"bob\" \"p\\\"w d\"").unwrap();
        assert_eq!(c.tag, "a1");
        assert_eq!(c.name, "LOGIN");
        assert_eq!(c.verb(), Verb::Login);
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
        assert!(valid_tag("a1") && valid_tag("A0001") && valid_tag("x["));
        assert!(!valid_tag("") && !valid_tag("a+") && !valid_tag("\u{fffd}j") && !valid_tag("*"));
        assert!(!valid_tag("x]"));
        assert_eq!(parse_command(b"a"), Err(ParseError::NoCommand("a".into())));
        assert_eq!(
            parse_command(b"a LOGIN \"open"),
            Err(ParseError::Malformed("a".into(), "Missing '\"'"))
        );
        assert_eq!(
            parse_command(b"a LIST (unclosed"),
            Err(ParseError::Malformed("a".into(), "Missing ')'"))
        );
        assert_eq!(
            parse_command(b"a LOGIN x)"),
            Err(ParseError::Malformed("a".into(), "Unexpected ')'"))
        );
        assert_eq!(
            parse_command(b"a LOGIN a\"b c"),
            Err(ParseError::Malformed(
                "a".into(),
                "Invalid characters in atom"
            ))
        );
        assert!(matches!(
            parse_command(b"a LOGIN {9}\r\nshort"),
            Err(ParseError::Syntax(_))
        ));
        assert_eq!(sequence("2:*", 3), vec![2, 3]);
        assert_eq!(sequence("1,3,9", 3), vec![1, 3]);
        assert_eq!(Verb::of("EXAMINE"), Verb::Select);
        assert_eq!(Verb::of("XYZZY"), Verb::Unknown);
    }

    #[test]
    fn too_many_arguments_is_a_syntax_error() {
        let line = format!("t FETCH {}", vec!["x"; MAX_ARGS + 1].join(" "));
        assert_eq!(
            parse_command(line.as_bytes()),
            Err(ParseError::Syntax("t".into()))
        );
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
