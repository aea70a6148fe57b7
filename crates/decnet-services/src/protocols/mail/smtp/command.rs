//! SMTP command syntax: a verb, its argument, and the `FROM:`/`TO:` paths
//! of MAIL and RCPT. Pure, so it is proptested on its own.

/// What a command asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// HELO host.
    Helo,
    /// EHLO host.
    Ehlo,
    /// STARTTLS.
    Starttls,
    /// AUTH mechanism [initial].
    Auth,
    /// MAIL FROM:<a>.
    Mail,
    /// RCPT TO:<a>.
    Rcpt,
    /// DATA.
    Data,
    /// RSET.
    Rset,
    /// NOOP.
    Noop,
    /// VRFY address.
    Vrfy,
    /// ETRN node.
    Etrn,
    /// QUIT.
    Quit,
    /// Anything else.
    Unknown,
}

/// One parsed SMTP command line.
#[derive(Debug, PartialEq, Eq)]
pub struct Command<'a> {
    /// Verb, uppercased.
    pub verb: String,
    /// Everything after the verb, trimmed.
    pub arg: &'a str,
}

impl Command<'_> {
    /// The verb this command names.
    pub fn kind(&self) -> Verb {
        match self.verb.as_str() {
            "HELO" => Verb::Helo,
            "EHLO" => Verb::Ehlo,
            "STARTTLS" => Verb::Starttls,
            "AUTH" => Verb::Auth,
            "MAIL" => Verb::Mail,
            "RCPT" => Verb::Rcpt,
            "DATA" => Verb::Data,
            "RSET" => Verb::Rset,
            "NOOP" => Verb::Noop,
            "VRFY" => Verb::Vrfy,
            "ETRN" => Verb::Etrn,
            "QUIT" => Verb::Quit,
            _ => Verb::Unknown,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn commands_and_paths() {
        let c = parse_command("mail FROM:<a@b.c> SIZE=10");
        assert_eq!(c.verb, "MAIL");
        assert_eq!(c.kind(), Verb::Mail);
        assert_eq!(parse_path(c.arg, "FROM:"), Some("a@b.c"));
        // Postfix accepts a space after the colon.
        assert_eq!(parse_path("to: <x@y>", "TO:"), Some("x@y"));
        assert_eq!(parse_path("TOO:<x@y>", "TO:"), None);
        assert_eq!(parse_path("TO:<>", "TO:"), Some(""));
        assert_eq!(parse_path("to:bob@x", "TO:"), Some("bob@x"));
        assert_eq!(parse_command("").verb, "");
        assert_eq!(parse_command("GET / HTTP/1.0").kind(), Verb::Unknown);
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
