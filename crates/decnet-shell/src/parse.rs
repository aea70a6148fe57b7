//! The command-line parser: bash's quoting, variables, pipes, `;`, `&&`,
//! `||`, `&` and redirections — parsed, never executed.
//!
//! Bounded: at most [`MAX_TOKENS`] tokens per line; any input either parses
//! or yields a [`ParseError`] (proptested: never panics).

/// Most tokens accepted in one line.
pub const MAX_TOKENS: usize = 4096;

/// A piece of a word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// Literal text (quotes removed).
    Lit(String),
    /// `$NAME`, `${NAME}`, `$?`, `$$`, `$1`…
    Var(String),
    /// `~` at the start of a word.
    Tilde,
    /// `$((expression))`: the expression, evaluated at expansion.
    Arith(String),
}

/// One word: segments concatenated after expansion.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Word(pub Vec<Seg>);

impl Word {
    /// The word as typed without expansion (for `NAME=value` detection).
    pub fn literal(&self) -> Option<&str> {
        match self.0.as_slice() {
            [Seg::Lit(s)] => Some(s),
            _ => None,
        }
    }

    fn push_char(&mut self, c: char) {
        if let Some(Seg::Lit(s)) = self.0.last_mut() {
            s.push(c);
        } else {
            self.0.push(Seg::Lit(c.to_string()));
        }
    }

    /// Appends what a `$` expanded to: literal text joins the current
    /// literal, anything else (a variable) is its own segment.
    fn push_expansion(&mut self, seg: Seg) {
        match seg {
            Seg::Lit(s) => {
                for ch in s.chars() {
                    self.push_char(ch);
                }
            }
            seg => self.0.push(seg),
        }
    }
}

/// Redirection operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirKind {
    /// `>`
    Out,
    /// `>>`
    Append,
    /// `<`
    In,
    /// `2>`
    Err,
    /// `2>>`
    ErrAppend,
    /// `2>&1`
    ErrToOut,
    /// `&>`
    Both,
}

/// A redirection of one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    /// Operator.
    pub kind: RedirKind,
    /// Target file (empty for `2>&1`).
    pub target: Word,
}

/// `NAME=value … cmd args… redirs…`
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimpleCommand {
    /// Leading assignments.
    pub assigns: Vec<(String, Word)>,
    /// Command and arguments.
    pub words: Vec<Word>,
    /// Redirections in order.
    pub redirects: Vec<Redirect>,
}

/// Commands joined by `|`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pipeline {
    /// At least one command.
    pub commands: Vec<SimpleCommand>,
}

/// How a pipeline is joined to the one before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Connector {
    /// First, or after `;`, `&` or a newline.
    Seq,
    /// After `&&`.
    And,
    /// After `||`.
    Or,
}

/// Why a line did not parse (bash's wording via `Display`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// A quote was not closed.
    Unterminated(char),
    /// An operator where a word was expected.
    Unexpected(String),
    /// Too many tokens.
    TooLong,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Unterminated(q) => {
                write!(f, "unexpected EOF while looking for matching `{q}'")
            }
            ParseError::Unexpected(t) => write!(f, "syntax error near unexpected token `{t}'"),
            ParseError::TooLong => f.write_str("argument list too long"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Word(Word),
    Op(&'static str),
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Reads `$…` after the `$`; returns the segment (or literal text).
fn dollar(chars: &[char], i: &mut usize) -> Seg {
    match chars.get(*i) {
        Some('{') => {
            let start = *i + 1;
            let mut j = start;
            while j < chars.len() && chars[j] != '}' {
                j += 1;
            }
            if j >= chars.len() {
                *i = chars.len();
                return Seg::Lit(format!("${{{}", chars[start..].iter().collect::<String>()));
            }
            *i = j + 1;
            Seg::Var(chars[start..j].iter().collect())
        }
        Some('(') if chars.get(*i + 1) == Some(&'(') => {
            // `$((…))`: arithmetic, up to the `))` closing it.
            let start = *i + 2;
            let mut depth = 0usize;
            let mut j = start;
            while j < chars.len() {
                match chars[j] {
                    '(' => depth += 1,
                    ')' if depth == 0 && chars.get(j + 1) == Some(&')') => {
                        *i = j + 2;
                        return Seg::Arith(chars[start..j].iter().collect());
                    }
                    ')' => depth = depth.saturating_sub(1),
                    _ => {}
                }
                j += 1;
            }
            *i = chars.len();
            Seg::Lit(format!(
                "${}",
                chars[start - 2..].iter().collect::<String>()
            ))
        }
        Some('(') => {
            // Command substitution is kept literally (never run).
            let mut depth = 0usize;
            let start = *i;
            let mut j = *i;
            while j < chars.len() {
                match chars[j] {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            let end = (j + 1).min(chars.len());
            *i = end;
            Seg::Lit(format!("${}", chars[start..end].iter().collect::<String>()))
        }
        Some(&c) if c == '?' || c == '$' || c == '#' || c == '!' || c.is_ascii_digit() => {
            *i += 1;
            Seg::Var(c.to_string())
        }
        Some(&c) if is_name_start(c) => {
            let start = *i;
            while *i < chars.len() && is_name(chars[*i]) {
                *i += 1;
            }
            Seg::Var(chars[start..*i].iter().collect())
        }
        _ => Seg::Lit("$".into()),
    }
}

/// A `'…'` run starting at `*i` (on the quote): appended verbatim; `*i`
/// ends past the closing quote.
fn single_quoted(chars: &[char], i: &mut usize, w: &mut Word) -> Result<(), ParseError> {
    w.0.push(Seg::Lit(String::new()));
    *i += 1;
    let start = *i;
    while *i < chars.len() && chars[*i] != '\'' {
        *i += 1;
    }
    if *i >= chars.len() {
        return Err(ParseError::Unterminated('\''));
    }
    let s: String = chars[start..*i].iter().collect();
    if let Some(Seg::Lit(l)) = w.0.last_mut() {
        l.push_str(&s);
    }
    *i += 1;
    Ok(())
}

/// A `"…"` run starting at `*i` (on the quote): backslash escapes and `$`
/// expansions inside; `*i` ends past the closing quote.
fn double_quoted(chars: &[char], i: &mut usize, w: &mut Word) -> Result<(), ParseError> {
    w.0.push(Seg::Lit(String::new()));
    *i += 1;
    loop {
        let Some(&d) = chars.get(*i) else {
            return Err(ParseError::Unterminated('"'));
        };
        match d {
            '"' => {
                *i += 1;
                return Ok(());
            }
            '\\' => match chars.get(*i + 1) {
                Some(&n @ ('"' | '\\' | '$' | '`')) => {
                    w.push_char(n);
                    *i += 2;
                }
                Some('\n') => *i += 2,
                _ => {
                    w.push_char('\\');
                    *i += 1;
                }
            },
            '$' => {
                *i += 1;
                w.push_expansion(dollar(chars, i));
            }
            d => {
                w.push_char(d);
                *i += 1;
            }
        }
    }
}

/// A backquoted substitution starting at `*i`: kept literally (quotes
/// included), never run.
fn backquoted(chars: &[char], i: &mut usize, w: &mut Word) -> Result<(), ParseError> {
    let start = *i;
    *i += 1;
    while *i < chars.len() && chars[*i] != '`' {
        *i += 1;
    }
    if *i >= chars.len() {
        return Err(ParseError::Unterminated('`'));
    }
    *i += 1;
    for ch in chars[start..*i].iter() {
        w.push_char(*ch);
    }
    Ok(())
}

/// The control or redirection operator starting with `c` (followed by
/// `next`, `next2`) and how many characters it takes; `fd2` when the word
/// before was exactly `2` (so `2>`, `2>>`, `2>&1`).
fn operator(c: char, next: Option<char>, next2: Option<char>, fd2: bool) -> (&'static str, usize) {
    match (c, next, next2, fd2) {
        ('>', Some('&'), Some('1'), true) => ("2>&1", 3),
        ('>', Some('>'), _, true) => ("2>>", 2),
        ('>', _, _, true) => ("2>", 1),
        ('|', Some('|'), _, _) => ("||", 2),
        ('|', _, _, _) => ("|", 1),
        ('&', Some('&'), _, _) => ("&&", 2),
        ('&', Some('>'), _, _) => ("&>", 2),
        ('&', _, _, _) => ("&", 1),
        (';', _, _, _) => (";", 1),
        ('>', Some('>'), _, _) => (">>", 2),
        ('>', Some('&'), Some('2'), _) => (">&2", 3),
        ('>', Some('|'), _, _) => (">", 2),
        ('>', _, _, _) => (">", 1),
        _ => ("<", 1),
    }
}

fn tokenize(line: &str) -> Result<Vec<Tok>, ParseError> {
    let chars: Vec<char> = line.chars().collect();
    let mut toks = Vec::new();
    let mut cur: Option<Word> = None;
    let mut i = 0;
    let flush = |cur: &mut Option<Word>, toks: &mut Vec<Tok>| {
        if let Some(w) = cur.take() {
            toks.push(Tok::Word(w));
        }
    };
    while i < chars.len() {
        if toks.len() > MAX_TOKENS {
            return Err(ParseError::TooLong);
        }
        let c = chars[i];
        match c {
            ' ' | '\t' | '\r' => {
                flush(&mut cur, &mut toks);
                i += 1;
            }
            '\n' => {
                flush(&mut cur, &mut toks);
                toks.push(Tok::Op(";"));
                i += 1;
            }
            '#' if cur.is_none() => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '\'' => single_quoted(&chars, &mut i, cur.get_or_insert_with(Word::default))?,
            '"' => double_quoted(&chars, &mut i, cur.get_or_insert_with(Word::default))?,
            '\\' => {
                let w = cur.get_or_insert_with(Word::default);
                match chars.get(i + 1) {
                    Some('\n') => {}
                    Some(&n) => w.push_char(n),
                    None => {}
                }
                i += 2;
            }
            '$' => {
                i += 1;
                let seg = dollar(&chars, &mut i);
                cur.get_or_insert_with(Word::default).push_expansion(seg);
            }
            '`' => backquoted(&chars, &mut i, cur.get_or_insert_with(Word::default))?,
            '~' if cur.is_none()
                && matches!(
                    chars.get(i + 1),
                    None | Some('/' | ' ' | '\t' | ';' | '|' | '&')
                ) =>
            {
                cur = Some(Word(vec![Seg::Tilde]));
                i += 1;
            }
            '|' | '&' | ';' | '>' | '<' => {
                // `2>` / `2>>` / `2>&1` when the word so far is exactly "2".
                let fd2 = c == '>' && cur.as_ref().and_then(Word::literal) == Some("2");
                if fd2 {
                    cur = None;
                } else {
                    flush(&mut cur, &mut toks);
                }
                let (op, len) =
                    operator(c, chars.get(i + 1).copied(), chars.get(i + 2).copied(), fd2);
                toks.push(Tok::Op(op));
                i += len;
            }
            c => {
                cur.get_or_insert_with(Word::default).push_char(c);
                i += 1;
            }
        }
    }
    flush(&mut cur, &mut toks);
    if toks.len() > MAX_TOKENS {
        return Err(ParseError::TooLong);
    }
    Ok(toks)
}

fn assignment(w: &Word) -> Option<(String, Word)> {
    let Some(Seg::Lit(first)) = w.0.first() else {
        return None;
    };
    let eq = first.find('=')?;
    let name = &first[..eq];
    if name.is_empty() || !name.starts_with(is_name_start) || !name.chars().all(is_name) {
        return None;
    }
    let mut value = Word(Vec::new());
    let rest = &first[eq + 1..];
    if !rest.is_empty() {
        value.0.push(Seg::Lit(rest.to_owned()));
    }
    value.0.extend(w.0[1..].iter().cloned());
    Some((name.to_owned(), value))
}

/// Parses a command line into `(connector, pipeline)` items.
pub fn parse(line: &str) -> Result<Vec<(Connector, Pipeline)>, ParseError> {
    let toks = tokenize(line)?;
    let mut items: Vec<(Connector, Pipeline)> = Vec::new();
    let mut connector = Connector::Seq;
    let mut pipeline = Pipeline::default();
    let mut cmd = SimpleCommand::default();
    let mut it = toks.into_iter().peekable();
    // True when the last thing seen was `|`, `&&` or `||` (a command must follow).
    let mut need_cmd = false;
    while let Some(t) = it.next() {
        match t {
            Tok::Word(w) => {
                if cmd.words.is_empty() {
                    if let Some(a) = assignment(&w) {
                        cmd.assigns.push(a);
                        need_cmd = false;
                        continue;
                    }
                }
                cmd.words.push(w);
                need_cmd = false;
            }
            Tok::Op(op @ (">" | ">>" | "<" | "2>" | "2>>" | "&>")) => {
                let kind = match op {
                    ">" => RedirKind::Out,
                    ">>" => RedirKind::Append,
                    "<" => RedirKind::In,
                    "2>" => RedirKind::Err,
                    "2>>" => RedirKind::ErrAppend,
                    _ => RedirKind::Both,
                };
                match it.next() {
                    Some(Tok::Word(target)) => cmd.redirects.push(Redirect { kind, target }),
                    Some(Tok::Op(o)) => return Err(ParseError::Unexpected(o.into())),
                    None => return Err(ParseError::Unexpected("newline".into())),
                }
                need_cmd = false;
            }
            Tok::Op("2>&1") => cmd.redirects.push(Redirect {
                kind: RedirKind::ErrToOut,
                target: Word::default(),
            }),
            Tok::Op(">&2") => {}
            Tok::Op("|") => {
                if cmd == SimpleCommand::default() {
                    return Err(ParseError::Unexpected("|".into()));
                }
                pipeline.commands.push(std::mem::take(&mut cmd));
                need_cmd = true;
            }
            Tok::Op(op) => {
                // ; & && ||
                if cmd == SimpleCommand::default() {
                    if pipeline.commands.is_empty() && (op != ";" || need_cmd) {
                        return Err(ParseError::Unexpected(op.into()));
                    }
                    if !pipeline.commands.is_empty() {
                        return Err(ParseError::Unexpected(op.into()));
                    }
                    if op == ";" && items.is_empty() {
                        // A lone leading ';' is an error in bash too.
                        return Err(ParseError::Unexpected(op.into()));
                    }
                    if op == ";" {
                        continue;
                    }
                }
                if cmd != SimpleCommand::default() {
                    pipeline.commands.push(std::mem::take(&mut cmd));
                }
                items.push((connector, std::mem::take(&mut pipeline)));
                connector = match op {
                    "&&" => Connector::And,
                    "||" => Connector::Or,
                    _ => Connector::Seq,
                };
                need_cmd = op == "&&" || op == "||";
            }
        }
    }
    if cmd != SimpleCommand::default() {
        pipeline.commands.push(cmd);
    } else if need_cmd {
        return Err(ParseError::Unexpected("newline".into()));
    }
    if !pipeline.commands.is_empty() {
        items.push((connector, pipeline));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lit(s: &str) -> Word {
        Word(vec![Seg::Lit(s.into())])
    }

    #[test]
    fn pipes_and_sequences() {
        let p = parse("cat /etc/passwd | grep root; echo hi && id || whoami").unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(p[0].1.commands.len(), 2);
        assert_eq!(p[0].1.commands[1].words, vec![lit("grep"), lit("root")]);
        assert_eq!(p[1].0, Connector::Seq);
        assert_eq!(p[2].0, Connector::And);
        assert_eq!(p[3].0, Connector::Or);
    }

    #[test]
    fn quotes_vars_and_redirects() {
        let p = parse(r#"echo 'a b' "c $HOME d" e\ f > /tmp/x 2>/dev/null"#).unwrap();
        let c = &p[0].1.commands[0];
        assert_eq!(c.words[1], lit("a b"));
        assert_eq!(
            c.words[2],
            Word(vec![
                Seg::Lit("c ".into()),
                Seg::Var("HOME".into()),
                Seg::Lit(" d".into())
            ])
        );
        assert_eq!(c.words[3], lit("e f"));
        assert_eq!(c.redirects[0].kind, RedirKind::Out);
        assert_eq!(c.redirects[0].target, lit("/tmp/x"));
        assert_eq!(c.redirects[1].kind, RedirKind::Err);
        let p = parse("echo x >> f 2>&1").unwrap();
        let c = &p[0].1.commands[0];
        assert_eq!(c.redirects[0].kind, RedirKind::Append);
        assert_eq!(c.redirects[1].kind, RedirKind::ErrToOut);
    }

    #[test]
    fn assignments_tilde_comments() {
        let p = parse("A=1 B=x env # comment | no").unwrap();
        let c = &p[0].1.commands[0];
        assert_eq!(c.assigns.len(), 2);
        assert_eq!(c.words, vec![lit("env")]);
        let p = parse("cd ~/x").unwrap();
        assert_eq!(
            p[0].1.commands[0].words[1],
            Word(vec![Seg::Tilde, Seg::Lit("/x".into())])
        );
        assert!(parse("   ").unwrap().is_empty());
        assert_eq!(parse("ls;").unwrap().len(), 1);
    }

    #[test]
    fn errors_use_bash_wording() {
        assert_eq!(
            parse("echo 'abc").unwrap_err().to_string(),
            "unexpected EOF while looking for matching `''"
        );
        assert_eq!(
            parse("| ls").unwrap_err().to_string(),
            "syntax error near unexpected token `|'"
        );
        assert_eq!(
            parse("ls &&").unwrap_err().to_string(),
            "syntax error near unexpected token `newline'"
        );
        assert!(parse("ls > ").is_err());
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_on_shell_alphabet(s in "[a-z $'\"\\\\|&;<>2~#{}()`=\n]{0,120}") {
            if let Ok(items) = parse(&s) {
                for (_, p) in items {
                    prop_assert!(!p.commands.is_empty());
                }
            }
        }
    }
}
