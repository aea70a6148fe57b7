//! bash builtins and small coreutils that scripts and bots probe a shell
//! with (`printf`, `test`/`[`, `umask`, `ulimit`, `tty`, `getconf`,
//! `groups`): answered as bash 5 on Debian does, since a `command not
//! found` for any of them gives a fake shell away at once.

use std::fmt::Write as _;

use super::{Cmd, Command, Res};
use crate::shell::{Output, Shell};
use crate::vfs::Kind;

/// `printf FORMAT [ARG…]`: `%s`, `%d`/`%i`, `%b`, `%%` and backslash
/// escapes; the format is reused while arguments remain, as bash does.
pub(crate) struct Printf;

impl Command for Printf {
    fn names(&self) -> &'static [&'static str] {
        &["printf"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        let Some(format) = c.argv.get(1) else {
            return Res::err(
                format!(
                    "{}printf: usage: printf [-v var] format [arguments]\n",
                    sh.err_prefix()
                ),
                2,
            );
        };
        let mut args = c.argv[2..].iter().map(String::as_str);
        let mut out = String::new();
        loop {
            let used = printf_once(format, &mut args, &mut out);
            if !used || args.len() == 0 || out.len() > crate::shell::MAX_OUTPUT {
                break;
            }
        }
        Res::ok(out)
    }
}

/// One pass over `format`; returns whether it consumed any argument.
fn printf_once<'a>(
    format: &str,
    args: &mut impl ExactSizeIterator<Item = &'a str>,
    out: &mut String,
) -> bool {
    let mut used = false;
    let mut chars = format.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => match chars.next() {
                Some(e) => out.push_str(&escape(e)),
                None => out.push('\\'),
            },
            '%' => match chars.next() {
                Some('%') => out.push('%'),
                Some('s') => {
                    used = true;
                    out.push_str(args.next().unwrap_or(""));
                }
                Some('b') => {
                    used = true;
                    out.push_str(&unescape(args.next().unwrap_or("")));
                }
                Some('d' | 'i') => {
                    used = true;
                    let a = args.next().unwrap_or("0");
                    let _ = write!(out, "{}", a.trim().parse::<i64>().unwrap_or(0));
                }
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            },
            c => out.push(c),
        }
    }
    used
}

fn escape(e: char) -> String {
    match e {
        'n' => "\n".into(),
        't' => "\t".into(),
        'r' => "\r".into(),
        'a' => "\x07".into(),
        'e' => "\x1b".into(),
        '\\' => "\\".into(),
        other => format!("\\{other}"),
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(e) => out.push_str(&escape(e)),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `test EXPR` / `[ EXPR ]`: file tests on the decoy filesystem, string
/// and integer comparisons, `!`.
pub(crate) struct Test;

impl Command for Test {
    fn names(&self) -> &'static [&'static str] {
        &["test", "["]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        let mut args: Vec<&str> = c.argv[1..].iter().map(String::as_str).collect();
        if c.name == "[" {
            if args.last() != Some(&"]") {
                return Res::err(format!("{}[: missing `]'\n", sh.err_prefix()), 2);
            }
            args.pop();
        }
        match test(sh, &args) {
            Ok(true) => Res::default(),
            Ok(false) => Res::err(String::new(), 1),
            Err(msg) => Res::err(format!("{}{}: {msg}\n", sh.err_prefix(), c.name), 2),
        }
    }
}

fn test(sh: &Shell, args: &[&str]) -> Result<bool, String> {
    match args {
        [] => Ok(false),
        ["!", rest @ ..] => test(sh, rest).map(|v| !v),
        [s] => Ok(!s.is_empty()),
        [op, path] if op.len() == 2 && op.starts_with('-') => file_test(sh, op, path),
        [a, op, b] => compare(a, op, b),
        _ => Err("too many arguments".into()),
    }
}

fn file_test(sh: &Shell, op: &str, operand: &str) -> Result<bool, String> {
    match op {
        "-z" => return Ok(operand.is_empty()),
        "-n" => return Ok(!operand.is_empty()),
        _ => {}
    }
    let node = sh.stat(operand).map(|(_, n)| n);
    Ok(match (op, node) {
        (_, None) => false,
        ("-e" | "-a", Some(_)) => true,
        ("-f", Some(n)) => matches!(n.kind, Kind::File(_)),
        ("-d", Some(n)) => n.is_dir(),
        ("-L" | "-h", Some(n)) => matches!(n.kind, Kind::Link(_)),
        ("-r", Some(n)) => sh.can(&n, 4),
        ("-w", Some(n)) => sh.can(&n, 2),
        ("-x", Some(n)) => sh.can(&n, 1),
        ("-s", Some(n)) => n.is_dir() || !sh.content(&n).is_empty(),
        _ => return Err(format!("{op}: unary operator expected")),
    })
}

fn compare(a: &str, op: &str, b: &str) -> Result<bool, String> {
    let int = |s: &str| {
        s.trim()
            .parse::<i64>()
            .map_err(|_| format!("{s}: integer expression expected"))
    };
    Ok(match op {
        "=" | "==" => a == b,
        "!=" => a != b,
        "-eq" => int(a)? == int(b)?,
        "-ne" => int(a)? != int(b)?,
        "-lt" => int(a)? < int(b)?,
        "-le" => int(a)? <= int(b)?,
        "-gt" => int(a)? > int(b)?,
        "-ge" => int(a)? >= int(b)?,
        _ => return Err(format!("{op}: binary operator expected")),
    })
}

/// `umask`: Debian's default 022 (login.defs / pam_umask); setting it is
/// accepted.
pub(crate) struct Umask;

impl Command for Umask {
    fn names(&self) -> &'static [&'static str] {
        &["umask"]
    }

    fn run(&self, _: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        match c.argv.get(1).map(String::as_str) {
            None => Res::ok("0022\n".into()),
            Some("-S") => Res::ok("u=rwx,g=rx,o=rx\n".into()),
            Some(_) => Res::default(),
        }
    }
}

/// `ulimit`: systemd's defaults for a login session (1024 open files,
/// everything else unlimited); setting a limit is accepted.
pub(crate) struct Ulimit;

impl Command for Ulimit {
    fn names(&self) -> &'static [&'static str] {
        &["ulimit"]
    }

    fn run(&self, _: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        let flags: Vec<&str> = c.argv[1..].iter().map(String::as_str).collect();
        // An operand after the flag sets the limit: nothing to print.
        if flags.iter().any(|a| !a.starts_with('-')) {
            return Res::default();
        }
        let value = match flags.last().copied() {
            Some("-n") => "1024",
            Some("-s") => "8192",
            _ => "unlimited",
        };
        Res::ok(format!("{value}\n"))
    }
}

/// `tty`: the session's terminal, or `not a tty` for an exec request.
pub(crate) struct Tty;

impl Command for Tty {
    fn names(&self) -> &'static [&'static str] {
        &["tty"]
    }

    fn run(&self, sh: &mut Shell, _: &Cmd, _: &mut Output) -> Res {
        if sh.opts.interactive {
            Res::ok(format!("/dev/{}\n", sh.opts.tty))
        } else {
            Res::ok("not a tty\n".into()).with_code(1)
        }
    }
}

/// `getconf NAME`: the x86_64 values scripts ask for.
pub(crate) struct Getconf;

impl Command for Getconf {
    fn names(&self) -> &'static [&'static str] {
        &["getconf"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        let Some(name) = c.argv.get(1) else {
            return Res::err("Usage: getconf [-v specification] variable_name [pathname]\n       getconf -a [pathname]\n".into(), 1);
        };
        let value = match name.as_str() {
            "LONG_BIT" => "64".to_owned(),
            "PAGESIZE" | "PAGE_SIZE" => "4096".to_owned(),
            "CLK_TCK" => "100".to_owned(),
            "_NPROCESSORS_ONLN" | "_NPROCESSORS_CONF" => sh.vfs.host().cpus.to_string(),
            other => return Res::err(format!("getconf: Unrecognized variable `{other}'\n"), 1),
        };
        Res::ok(format!("{value}\n"))
    }
}

/// `groups [USER]`: the account's group names.
pub(crate) struct Groups;

impl Command for Groups {
    fn names(&self) -> &'static [&'static str] {
        &["groups"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        let names = |groups: Vec<(u32, String)>| {
            groups
                .into_iter()
                .map(|(_, n)| n)
                .collect::<Vec<_>>()
                .join(" ")
        };
        match c.argv.get(1) {
            None => Res::ok(format!("{}\n", names(super::users::groups_of(sh, None)))),
            Some(u) => match sh.vfs.host().account(u) {
                Some(a) => {
                    let name = a.name.clone();
                    let list = names(super::users::groups_of(sh, Some(&name)));
                    Res::ok(format!("{name} : {list}\n"))
                }
                None => Res::err(format!("groups: ‘{u}’: no such user\n"), 1),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::{exec, root, user};

    #[test]
    fn printf_formats_and_reuses_its_format() {
        let out = exec().execute("printf 'a\\tb\\n'");
        assert_eq!((out.stdout.as_str(), out.exit_code), ("a\tb\n", 0));
        assert_eq!(
            root().execute("printf '%s=%d\\n' a 1 b x").stdout,
            "a=1\nb=0\n"
        );
        assert_eq!(root().execute("printf '100%%'").stdout, "100%");
    }

    #[test]
    fn test_checks_the_decoy_filesystem_and_compares() {
        let mut sh = exec();
        assert_eq!(
            sh.execute("test -x /usr/bin/perl && echo perl").stdout,
            "perl\n"
        );
        assert_eq!(sh.execute("test -e /nonexistent").exit_code, 1);
        assert_eq!(sh.execute("[ -d /etc ] && echo dir").stdout, "dir\n");
        assert_eq!(sh.execute("[ 3 -gt 2 ]").exit_code, 0);
        assert_eq!(sh.execute("[ ! a = a ]").exit_code, 1);
        let out = sh.execute("[ 1 -eq 1");
        assert_eq!(out.stdout, "bash: line 1: [: missing `]'\n");
        assert_eq!(out.exit_code, 2);
        assert_eq!(
            sh.execute("test x -lt 2").stdout,
            "bash: line 1: test: x: integer expression expected\n"
        );
    }

    #[test]
    fn limits_terminal_and_configuration() {
        let mut sh = exec();
        assert_eq!(sh.execute("umask").stdout, "0022\n");
        assert_eq!(sh.execute("ulimit -n").stdout, "1024\n");
        assert_eq!(sh.execute("ulimit").stdout, "unlimited\n");
        let out = sh.execute("tty");
        assert_eq!((out.stdout.as_str(), out.exit_code), ("not a tty\n", 1));
        assert_eq!(root().execute("tty").stdout, "/dev/pts/0\n");
        assert_eq!(sh.execute("getconf LONG_BIT").stdout, "64\n");
        assert_eq!(sh.execute("getconf NOPE").exit_code, 1);
    }

    #[test]
    fn groups_names_the_accounts_groups() {
        assert_eq!(root().execute("groups").stdout, "root\n");
        assert_eq!(
            user().execute("groups").stdout,
            "ubuntu adm cdrom sudo dip plugdev\n"
        );
        assert_eq!(
            root().execute("groups ubuntu").stdout,
            "ubuntu : ubuntu adm cdrom sudo dip plugdev\n"
        );
    }
}
