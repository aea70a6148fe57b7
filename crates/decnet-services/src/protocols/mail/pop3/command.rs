//! POP3 command syntax: a verb and its arguments. Pure, so it is
//! proptested on its own.

/// What a command asks for (the session decides what each verb may do
/// before and after login).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// CAPA.
    Capa,
    /// QUIT.
    Quit,
    /// NOOP.
    Noop,
    /// STLS.
    Stls,
    /// USER name.
    User,
    /// PASS password.
    Pass,
    /// APOP name digest.
    Apop,
    /// AUTH [mechanism [initial]].
    Auth,
    /// STAT.
    Stat,
    /// LIST [n].
    List,
    /// UIDL [n].
    Uidl,
    /// RETR n.
    Retr,
    /// TOP n lines.
    Top,
    /// DELE n.
    Dele,
    /// RSET.
    Rset,
    /// Anything else.
    Unknown,
}

/// A POP3 command: uppercased verb and its arguments.
#[derive(Debug, PartialEq, Eq)]
pub struct Command {
    /// Verb, uppercased (at most 8 chars kept).
    pub verb: String,
    /// Arguments split on whitespace (at most 4).
    pub args: Vec<String>,
}

impl Command {
    /// The verb this command names.
    pub fn kind(&self) -> Verb {
        match self.verb.as_str() {
            "CAPA" => Verb::Capa,
            "QUIT" => Verb::Quit,
            "NOOP" => Verb::Noop,
            "STLS" => Verb::Stls,
            "USER" => Verb::User,
            "PASS" => Verb::Pass,
            "APOP" => Verb::Apop,
            "AUTH" => Verb::Auth,
            "STAT" => Verb::Stat,
            "LIST" => Verb::List,
            "UIDL" => Verb::Uidl,
            "RETR" => Verb::Retr,
            "TOP" => Verb::Top,
            "DELE" => Verb::Dele,
            "RSET" => Verb::Rset,
            _ => Verb::Unknown,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn commands() {
        assert_eq!(parse_command(b"user bob").verb, "USER");
        assert_eq!(parse_command(b"user bob").kind(), Verb::User);
        assert_eq!(parse_command(b"XTND x").kind(), Verb::Unknown);
        assert_eq!(
            parse_command(b"PASS  two words ").args,
            vec![" two words ".to_owned()]
        );
        assert_eq!(parse_command(b"TOP 1 10").args, vec!["1", "10"]);
    }

    proptest! {
        #[test]
        fn parser_never_panics(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            let c = parse_command(&line);
            prop_assert!(c.args.len() <= 4);
        }
    }
}
