//! Text filters: `echo`, `head`, `tail`, `grep`, `wc`, `awk`, `cut`, and the
//! ones that pass their input through (`sort`, `uniq`, `less`…).

use super::{Cmd, Command, Res};
use crate::shell::{Output, Shell};

/// `echo [-neE] ARG...`.
pub(crate) struct Echo;

impl Command for Echo {
    fn names(&self) -> &'static [&'static str] {
        &["echo"]
    }

    fn run(&self, _: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        echo(c)
    }
}

/// `head [-n N|-N] [FILE]`.
pub(crate) struct Head;

impl Command for Head {
    fn names(&self) -> &'static [&'static str] {
        &["head"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        head_tail(sh, c, true)
    }
}

/// `tail [-n N|-N] [FILE]`.
pub(crate) struct Tail;

impl Command for Tail {
    fn names(&self) -> &'static [&'static str] {
        &["tail"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        head_tail(sh, c, false)
    }
}

/// `grep [-vic] PATTERN [FILE]`: fixed strings, `^`/`$` anchors.
pub(crate) struct Grep;

impl Command for Grep {
    fn names(&self) -> &'static [&'static str] {
        &["grep", "egrep", "fgrep"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        grep(sh, c)
    }
}

/// `wc [-lwcm] [FILE]`.
pub(crate) struct Wc;

impl Command for Wc {
    fn names(&self) -> &'static [&'static str] {
        &["wc"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        wc(sh, c)
    }
}

/// `awk [-F sep] '{print $1,$3}'` — the one-liner bots use; other
/// programs pass the input through.
pub(crate) struct Awk;

impl Command for Awk {
    fn names(&self) -> &'static [&'static str] {
        &["awk"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        awk(sh, c)
    }
}

/// `cut -d SEP -f LIST` and `cut -c RANGE`.
pub(crate) struct Cut;

impl Command for Cut {
    fn names(&self) -> &'static [&'static str] {
        &["cut"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        cut(sh, c)
    }
}

/// Filters whose output bots do not read: their input, unchanged.
pub(crate) struct PassThrough;

impl Command for PassThrough {
    fn names(&self) -> &'static [&'static str] {
        &["base64", "sort", "uniq", "more", "less", "tee", "xargs"]
    }

    fn run(&self, _: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        Res::ok(c.stdin.unwrap_or("").to_owned())
    }
}

fn echo(c: &Cmd) -> Res {
    let mut newline = true;
    let mut escapes = false;
    let mut i = 1;
    while let Some(a) = c.argv.get(i) {
        if a.len() > 1 && a.starts_with('-') && a[1..].chars().all(|ch| "neE".contains(ch)) {
            for ch in a[1..].chars() {
                match ch {
                    'n' => newline = false,
                    'e' => escapes = true,
                    _ => escapes = false,
                }
            }
            i += 1;
        } else {
            break;
        }
    }
    let mut s = c.argv[i.min(c.argv.len())..].join(" ");
    if escapes {
        s = unescape(&s);
    }
    if newline {
        s.push('\n');
    }
    Res::ok(s)
}

fn head_tail(sh: &Shell, c: &Cmd, head: bool) -> Res {
    let mut n: usize = 10;
    let mut files = Vec::new();
    let mut it = c.argv[1..].iter();
    while let Some(a) = it.next() {
        if a == "-n" {
            n = it
                .next()
                .and_then(|x| x.trim_start_matches('+').parse().ok())
                .unwrap_or(10);
        } else if let Some(num) = a.strip_prefix("-n") {
            n = num.parse().unwrap_or(10);
        } else if let Some(num) = a.strip_prefix('-') {
            if let Ok(v) = num.parse() {
                n = v;
            }
        } else {
            files.push(a.clone());
        }
    }
    let text = if files.is_empty() {
        c.stdin.unwrap_or("").to_owned()
    } else {
        match sh.read_file(&files[0]) {
            Ok(s) => s,
            Err(e) => {
                let tool = if head { "head" } else { "tail" };
                return Res::err(
                    format!("{tool}: cannot open '{}' for reading: {e}\n", files[0]),
                    1,
                );
            }
        }
    };
    let lines: Vec<&str> = text.lines().collect();
    let pick: Vec<&str> = if head {
        lines.iter().take(n).copied().collect()
    } else {
        lines
            .iter()
            .skip(lines.len().saturating_sub(n))
            .copied()
            .collect()
    };
    let mut s = pick.join("\n");
    if !pick.is_empty() {
        s.push('\n');
    }
    Res::ok(s)
}

fn grep(sh: &Shell, c: &Cmd) -> Res {
    let (mut inv, mut icase, mut count) = (false, false, false);
    let mut rest = Vec::new();
    for a in &c.argv[1..] {
        if a.starts_with('-') && a.len() > 1 {
            for ch in a[1..].chars() {
                match ch {
                    'v' => inv = true,
                    'i' => icase = true,
                    'c' => count = true,
                    _ => {}
                }
            }
        } else {
            rest.push(a.clone());
        }
    }
    let Some(pat) = rest.first().cloned() else {
        return Res::err(
            "Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n"
                .into(),
            2,
        );
    };
    let text = if rest.len() > 1 {
        match sh.read_file(&rest[1]) {
            Ok(s) => s,
            Err(e) => return Res::err(format!("grep: {}: {e}\n", rest[1]), 2),
        }
    } else {
        c.stdin.unwrap_or("").to_owned()
    };
    let (anchor_s, anchor_e) = (pat.starts_with('^'), pat.ends_with('$') && pat.len() > 1);
    let core = pat.trim_start_matches('^');
    let core = if anchor_e {
        &core[..core.len() - 1]
    } else {
        core
    };
    let core = if icase {
        core.to_lowercase()
    } else {
        core.to_owned()
    };
    let mut out = String::new();
    let mut hits = 0;
    for line in text.lines() {
        let l = if icase {
            line.to_lowercase()
        } else {
            line.to_owned()
        };
        let m = match (anchor_s, anchor_e) {
            (true, true) => l == core,
            (true, false) => l.starts_with(&core),
            (false, true) => l.ends_with(&core),
            _ => l.contains(&core),
        };
        if m != inv {
            hits += 1;
            if !count {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if count {
        out = format!("{hits}\n");
    }
    Res {
        out,
        err: String::new(),
        code: if hits > 0 { 0 } else { 1 },
    }
}

fn wc(sh: &Shell, c: &Cmd) -> Res {
    let flags: String = c.argv[1..]
        .iter()
        .filter(|a| a.starts_with('-'))
        .map(|a| a[1..].to_owned())
        .collect();
    let file = c.argv[1..].iter().find(|a| !a.starts_with('-'));
    let text = match file {
        Some(f) => match sh.read_file(f) {
            Ok(s) => s,
            Err(e) => return Res::err(format!("wc: {f}: {e}\n"), 1),
        },
        None => c.stdin.unwrap_or("").to_owned(),
    };
    let l = text.matches('\n').count();
    let w = text.split_whitespace().count();
    let b = text.len();
    let name = file.map(|f| format!(" {f}")).unwrap_or_default();
    let out = match flags.as_str() {
        "l" => format!("{l}{name}\n"),
        "w" => format!("{w}{name}\n"),
        "c" | "m" => format!("{b}{name}\n"),
        _ if file.is_some() => format!("{l:>3} {w:>3} {b:>3}{name}\n"),
        _ => format!("{l:>7} {w:>7} {b:>7}\n"),
    };
    Res::ok(out)
}

fn input_of(sh: &Shell, c: &Cmd, files: &[&String]) -> Result<String, Res> {
    match files.first() {
        Some(f) => sh
            .read_file(f)
            .map_err(|e| Res::err(format!("{}: {f}: {e}\n", c.argv[0]), 2)),
        None => Ok(c.stdin.unwrap_or("").to_owned()),
    }
}

fn awk(sh: &Shell, c: &Cmd) -> Res {
    let mut sep: Option<String> = None;
    let mut rest: Vec<&String> = Vec::new();
    let mut it = c.argv[1..].iter();
    while let Some(a) = it.next() {
        if a == "-F" {
            sep = it.next().cloned();
        } else if let Some(f) = a.strip_prefix("-F") {
            sep = Some(f.to_owned());
        } else {
            rest.push(a);
        }
    }
    let Some(prog) = rest.first() else {
        return Res::err(
            "usage: awk [-F value] [-v var=value] [--] 'program text' [file ...]\n".into(),
            2,
        );
    };
    let text = match input_of(sh, c, &rest[1..]) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let body = prog
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim();
    let Some(args) = body.strip_prefix("print") else {
        return Res::ok(text);
    };
    let args = args.trim().trim_end_matches(';').trim();
    let mut out = String::new();
    for line in text.lines() {
        let fields: Vec<&str> = match &sep {
            Some(s) if !s.is_empty() && s != " " => line.split(s.as_str()).collect(),
            _ => line.split_whitespace().collect(),
        };
        let mut parts = Vec::new();
        for a in args.split(',') {
            let a = a.trim();
            if a.is_empty() {
                parts.push(line.to_owned());
            } else if let Some(n) = a.strip_prefix('$') {
                match n.parse::<usize>() {
                    Ok(0) => parts.push(line.to_owned()),
                    Ok(i) => parts.push(fields.get(i - 1).copied().unwrap_or("").to_owned()),
                    Err(_) if n == "NF" => {
                        parts.push(fields.last().copied().unwrap_or("").to_owned())
                    }
                    Err(_) => parts.push(String::new()),
                }
            } else if a == "NF" {
                parts.push(fields.len().to_string());
            } else {
                parts.push(a.trim_matches('"').to_owned());
            }
        }
        out.push_str(&parts.join(" "));
        out.push('\n');
    }
    Res::ok(out)
}

fn cut(sh: &Shell, c: &Cmd) -> Res {
    let mut delim = "\t".to_owned();
    let mut fields: Option<String> = None;
    let mut chars: Option<String> = None;
    let mut files = Vec::new();
    let mut it = c.argv[1..].iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-d" => delim = it.next().cloned().unwrap_or_default(),
            "-f" => fields = it.next().cloned(),
            "-c" => chars = it.next().cloned(),
            x if x.starts_with("-d") => delim = x[2..].to_owned(),
            x if x.starts_with("-f") => fields = Some(x[2..].to_owned()),
            x if x.starts_with("-c") => chars = Some(x[2..].to_owned()),
            _ => files.push(a),
        }
    }
    let spec = match (&fields, &chars) {
        (Some(f), _) => f.clone(),
        (None, Some(ch)) => ch.clone(),
        _ => {
            return Res::err(
                "cut: you must specify a list of bytes, characters, or fields\nTry 'cut --help' for more information.\n".into(),
                1,
            )
        }
    };
    let want = |i: usize| {
        spec.split(',').any(|r| match r.split_once('-') {
            Some((a, b)) => {
                let a = a.parse().unwrap_or(1);
                let b = b.parse().unwrap_or(usize::MAX);
                i >= a && i <= b
            }
            None => r.parse() == Ok(i),
        })
    };
    let text = match input_of(sh, c, &files) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let d = delim.chars().next().unwrap_or('\t');
    let mut out = String::new();
    for line in text.lines() {
        if fields.is_some() {
            if !line.contains(d) {
                out.push_str(line);
            } else {
                let picked: Vec<&str> = line
                    .split(d)
                    .enumerate()
                    .filter(|(i, _)| want(i + 1))
                    .map(|(_, f)| f)
                    .collect();
                out.push_str(&picked.join(&d.to_string()));
            }
        } else {
            let picked: String = line
                .chars()
                .enumerate()
                .filter(|(i, _)| want(i + 1))
                .map(|(_, ch)| ch)
                .collect();
            out.push_str(&picked);
        }
        out.push('\n');
    }
    Res::ok(out)
}

/// `echo -e` escapes: `\n \t \r \\ \a \e \xHH`.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some('a') => out.push('\x07'),
            Some('e') => out.push('\x1b'),
            Some('x') => {
                let mut v = 0u32;
                let mut n = 0;
                while n < 2 {
                    match it.peek().and_then(|c| c.to_digit(16)) {
                        Some(d) => {
                            v = v * 16 + d;
                            it.next();
                            n += 1;
                        }
                        None => break,
                    }
                }
                if n == 0 {
                    out.push_str("\\x");
                } else if let Some(ch) = char::from_u32(v) {
                    out.push(ch);
                }
            }
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::unescape;
    use crate::commands::testing::{root, run};

    #[test]
    fn echo_handles_flags_and_escapes() {
        let mut sh = root();
        assert_eq!(run(&mut sh, "echo a  b"), "a b\n");
        assert_eq!(run(&mut sh, "echo -n a"), "a");
        assert_eq!(run(&mut sh, "echo -e 'a\\tb\\x41'"), "a\tbA\n");
        assert_eq!(run(&mut sh, "echo -E 'a\\tb'"), "a\\tb\n");
        assert_eq!(run(&mut sh, "echo -x y"), "-x y\n");
        assert_eq!(unescape("\\e[0m\\q\\x"), "\x1b[0m\\q\\x");
    }

    #[test]
    fn head_takes_the_first_lines() {
        let mut sh = root();
        assert_eq!(
            run(&mut sh, "head -n 2 /etc/passwd"),
            "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
        );
        assert_eq!(
            run(&mut sh, "head -1 /etc/shells"),
            "# /etc/shells: valid login shells\n"
        );
        assert_eq!(
            run(&mut sh, "head /nope"),
            "head: cannot open '/nope' for reading: No such file or directory\n"
        );
    }

    #[test]
    fn tail_takes_the_last_lines() {
        let mut sh = root();
        assert_eq!(
            run(&mut sh, "tail -n 2 /etc/shells"),
            "/bin/dash\n/usr/bin/dash\n"
        );
        assert_eq!(run(&mut sh, "cat /etc/shells | tail -1"), "/usr/bin/dash\n");
        assert_eq!(run(&mut sh, "echo -n | tail"), "");
    }

    #[test]
    fn grep_matches_fixed_strings_with_anchors() {
        let mut sh = root();
        assert_eq!(
            run(&mut sh, "grep ^root /etc/passwd"),
            "root:x:0:0:root:/root:/bin/bash\n"
        );
        assert_eq!(run(&mut sh, "grep -c bash$ /etc/shells"), "4\n");
        assert_eq!(run(&mut sh, "grep -v sh /etc/shells"), "");
        assert_eq!(
            run(&mut sh, "grep -i DASH /etc/shells"),
            "/bin/dash\n/usr/bin/dash\n"
        );
        assert_eq!(run(&mut sh, "egrep rbash /etc/shells | wc -l"), "2\n");
        let out = sh.execute("fgrep zzz /etc/shells");
        assert_eq!((out.stdout.as_str(), out.exit_code), ("", 1));
        let out = sh.execute("grep");
        assert_eq!(out.exit_code, 2);
        assert!(out
            .stdout
            .starts_with("Usage: grep [OPTION]... PATTERNS [FILE]...\n"));
    }

    #[test]
    fn wc_counts_lines_words_bytes() {
        let mut sh = root();
        assert_eq!(run(&mut sh, "echo 'a b' | wc"), "      1       2       4\n");
        // Debian 12's file: its comment line and eight shells.
        assert_eq!(run(&mut sh, "wc -l /etc/shells"), "9 /etc/shells\n");
        assert_eq!(run(&mut sh, "echo abc | wc -c"), "4\n");
        assert_eq!(
            run(&mut sh, "wc /nope"),
            "wc: /nope: No such file or directory\n"
        );
    }

    #[test]
    fn awk_prints_fields() {
        let mut sh = root();
        assert_eq!(run(&mut sh, "echo 'a b c' | awk '{print $3,$1}'"), "c a\n");
        assert_eq!(
            run(&mut sh, "echo 'a:b' | awk -F: '{print NF, $NF, $0}'"),
            "2 b a:b\n"
        );
        assert_eq!(
            run(&mut sh, "awk -F : '{print $1}' /etc/passwd | head -1"),
            "root\n"
        );
        // Programs other than `print` pass the input through.
        assert_eq!(run(&mut sh, "echo x | awk 'NR==1'"), "x\n");
        assert_eq!(
            run(&mut sh, "awk '{print}' /nope"),
            "awk: /nope: No such file or directory\n"
        );
    }

    #[test]
    fn cut_picks_fields_and_characters() {
        let mut sh = root();
        assert_eq!(run(&mut sh, "echo a:b:c | cut -d: -f2-"), "b:c\n");
        assert_eq!(run(&mut sh, "echo a:b:c | cut -d : -f 1,3"), "a:c\n");
        assert_eq!(run(&mut sh, "echo abcdef | cut -c2-3"), "bc\n");
        assert_eq!(run(&mut sh, "echo nodelim | cut -d: -f2"), "nodelim\n");
        let out = sh.execute("cut /etc/passwd");
        assert_eq!(out.exit_code, 1);
        assert!(out.stdout.starts_with("cut: you must specify a list"));
    }

    #[test]
    fn pass_through_filters_echo_their_input() {
        let mut sh = root();
        for f in [
            "base64",
            "sort",
            "uniq",
            "more",
            "less",
            "tee /tmp/t",
            "xargs",
        ] {
            assert_eq!(run(&mut sh, &format!("echo b | {f}")), "b\n", "{f}");
        }
        assert_eq!(run(&mut sh, "sort"), "");
    }
}
