//! Reading and moving around the filesystem: `pwd`, `cd`, `ls`, `ll`, `cat`.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::format::{columns, human};
use super::{Cmd, Command, Res};
use crate::shell::{Output, Shell, MAX_OUTPUT};
use crate::vfs::{self, Kind, Node};

/// `pwd`.
pub(crate) struct Pwd;

impl Command for Pwd {
    fn names(&self) -> &'static [&'static str] {
        &["pwd"]
    }

    fn run(&self, sh: &mut Shell, _: &Cmd, _: &mut Output) -> Res {
        Res::ok(format!("{}\n", sh.cwd))
    }
}

/// `cd [DIR|-|~]`: permission-checked, keeps `OLDPWD`.
pub(crate) struct Cd;

impl Command for Cd {
    fn names(&self) -> &'static [&'static str] {
        &["cd"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        cd(sh, c)
    }
}

/// `ls`/`dir`: columns on a terminal, one per line otherwise; `-l`, `-a`,
/// `-A`, `-1`, `-d`, `-h`.
pub(crate) struct Ls;

impl Command for Ls {
    fn names(&self) -> &'static [&'static str] {
        &["ls", "dir"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        ls(sh, c, false)
    }
}

/// `ll`: Debian's `ls -alF` alias.
pub(crate) struct Ll;

impl Command for Ll {
    fn names(&self) -> &'static [&'static str] {
        &["ll"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        ls(sh, c, true)
    }
}

/// `cat [FILE|-]...`.
pub(crate) struct Cat;

impl Command for Cat {
    fn names(&self) -> &'static [&'static str] {
        &["cat"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        cat(sh, c)
    }
}

fn cd(sh: &mut Shell, c: &Cmd) -> Res {
    let target = match c.argv.get(1).map(String::as_str) {
        None | Some("~") => sh.home.clone(),
        Some("-") => match &sh.oldpwd {
            Some(o) => o.clone(),
            None => return Res::err(format!("{}cd: OLDPWD not set\n", sh.err_prefix()), 1),
        },
        Some(p) => p.to_owned(),
    };
    if c.argv.len() > 2 {
        return Res::err(format!("{}cd: too many arguments\n", sh.err_prefix()), 1);
    }
    let abs = sh.abs(&target);
    match sh.stat(&abs) {
        None => Res::err(
            format!("{}cd: {target}: No such file or directory\n", sh.err_prefix()),
            1,
        ),
        Some((_, n)) if !n.is_dir() => {
            Res::err(format!("{}cd: {target}: Not a directory\n", sh.err_prefix()), 1)
        }
        Some((_, n)) if !sh.can(&n, 1) => {
            Res::err(format!("{}cd: {target}: Permission denied\n", sh.err_prefix()), 1)
        }
        Some(_) => {
            sh.oldpwd = Some(std::mem::replace(&mut sh.cwd, abs));
            let mut r = Res::default();
            if c.argv.get(1).map(String::as_str) == Some("-") {
                r.out = format!("{}\n", sh.cwd);
            }
            r
        }
    }
}

fn owner_name(sh: &Shell, uid: u32) -> String {
    match uid {
        0 => "root".into(),
        33 => "www-data".into(),
        _ => sh
            .vfs
            .host()
            .accounts
            .iter()
            .find(|a| a.uid == uid)
            .map(|a| a.name.clone())
            .unwrap_or_else(|| uid.to_string()),
    }
}

fn group_name(sh: &Shell, gid: u32) -> String {
    match gid {
        0 => "root".into(),
        4 => "adm".into(),
        42 => "shadow".into(),
        33 => "www-data".into(),
        _ => owner_name(sh, gid),
    }
}

fn fmt_time(sh: &Shell, t: i64) -> String {
    let now = sh.now().timestamp();
    let dt = DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default();
    if now - t > 182 * 86_400 || t > now + 3600 {
        dt.format("%b %e  %Y").to_string()
    } else {
        dt.format("%b %e %H:%M").to_string()
    }
}

/// The `ls` options that change its output.
struct LsFlags {
    long: bool,
    all: bool,
    almost_all: bool,
    one_per_line: bool,
    dir_only: bool,
    human: bool,
}

impl LsFlags {
    /// Options and operands (`.` when none), or the error for an unknown
    /// option. `ll` starts from `-la`; without a terminal, one per line.
    fn parse(c: &Cmd, ll: bool, interactive: bool) -> Result<(LsFlags, Vec<String>), Res> {
        let mut f = LsFlags {
            long: ll,
            all: ll,
            almost_all: false,
            one_per_line: !interactive,
            dir_only: false,
            human: false,
        };
        let mut paths = Vec::new();
        for a in &c.argv[1..] {
            if a.starts_with('-') && a.len() > 1 && !a.starts_with("--") {
                for ch in a[1..].chars() {
                    match ch {
                        'l' => f.long = true,
                        'a' => f.all = true,
                        'A' => f.almost_all = true,
                        '1' => f.one_per_line = true,
                        'd' => f.dir_only = true,
                        'h' => f.human = true,
                        'F' | 't' | 'r' | 'S' | 'R' | 'i' | 'n' | 'G' | 'C' | 'x' => {}
                        other => {
                            return Err(Res::err(
                                format!("ls: invalid option -- '{other}'\nTry 'ls --help' for more information.\n"),
                                2,
                            ))
                        }
                    }
                }
            } else if !a.starts_with("--") {
                paths.push(a.clone());
            }
        }
        if paths.is_empty() {
            paths.push(".".into());
        }
        Ok((f, paths))
    }
}

fn ls(sh: &Shell, c: &Cmd, ll: bool) -> Res {
    let (f, paths) = match LsFlags::parse(c, ll, sh.opts.interactive) {
        Ok(parsed) => parsed,
        Err(res) => return res,
    };
    let mut res = Res::default();
    // Operands listed as themselves, and directories listed by content
    // (as typed, resolved path).
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for p in &paths {
        let st = if f.long { sh.lstat(p) } else { sh.stat(p) };
        match st {
            None => {
                res.err.push_str(&format!(
                    "ls: cannot access '{p}': No such file or directory\n"
                ));
                res.code = 2;
            }
            Some((abs, n)) => {
                let is_dir = n.is_dir()
                    || (matches!(n.kind, Kind::Link(_))
                        && !f.long
                        && sh.stat(p).map(|x| x.1.is_dir()).unwrap_or(false));
                let follow_dir = f.long && matches!(n.kind, Kind::Link(_)) && p.ends_with('/');
                if (is_dir || follow_dir) && !f.dir_only {
                    dirs.push((p.clone(), sh.resolve(&abs)));
                } else {
                    files.push((p.clone(), n));
                }
            }
        }
    }
    if !files.is_empty() {
        res.out.push_str(&format_entries(sh, &files, &f));
    }
    let multi = paths.len() > 1;
    for (i, (shown, dir)) in dirs.iter().enumerate() {
        if let Some(n) = sh.raw_get(dir) {
            if !sh.can(&n, 4) {
                res.err.push_str(&format!(
                    "ls: cannot open directory '{shown}': Permission denied\n"
                ));
                res.code = 2;
                continue;
            }
        }
        let entries = dir_entries(sh, dir, &f);
        if multi || !files.is_empty() {
            if i > 0 || !files.is_empty() {
                res.out.push('\n');
            }
            let _ = writeln!(res.out, "{shown}:");
        }
        if f.long {
            let blocks: u64 = entries.iter().map(|(_, n)| n.size.div_ceil(4096) * 4).sum();
            let total = if f.human {
                human(blocks * 1024)
            } else {
                blocks.to_string()
            };
            let _ = writeln!(res.out, "total {total}");
        }
        res.out.push_str(&format_entries(sh, &entries, &f));
    }
    res
}

/// A directory's entries as `ls` shows them: hidden ones only with `-a`/`-A`,
/// `.` and `..` first, then by name ignoring leading dots and case.
fn dir_entries(sh: &Shell, dir: &str, f: &LsFlags) -> Vec<(String, Node)> {
    let mut entries: Vec<(String, Node)> = Vec::new();
    if f.all {
        if let Some(n) = sh.raw_get(dir) {
            entries.push((".".into(), n));
        }
        if let Some(n) = sh.raw_get(vfs::parent(dir)) {
            entries.push(("..".into(), n));
        }
    }
    for (name, n) in sh.list_dir(dir) {
        if name.starts_with('.') && !f.all && !f.almost_all {
            continue;
        }
        entries.push((name, n));
    }
    entries.sort_by(|a, b| {
        let ka = a.0.trim_start_matches('.').to_lowercase();
        let kb = b.0.trim_start_matches('.').to_lowercase();
        if a.0 == "." || a.0 == ".." || b.0 == "." || b.0 == ".." {
            a.0.len()
                .cmp(&b.0.len())
                .then(a.0.cmp(&b.0))
                .then_with(|| ka.cmp(&kb))
        } else {
            ka.cmp(&kb).then(a.0.cmp(&b.0))
        }
    });
    if entries.iter().any(|(n, _)| n == "." || n == "..") {
        let (mut dots, rest): (Vec<_>, Vec<_>) = entries
            .into_iter()
            .partition(|(n, _)| n == "." || n == "..");
        dots.sort_by_key(|(n, _)| n.len());
        entries = dots.into_iter().chain(rest).collect();
    }
    entries
}

/// Entries in `ls`'s layout: long listing, one per line, or columns.
fn format_entries(sh: &Shell, entries: &[(String, Node)], f: &LsFlags) -> String {
    if f.long {
        long_listing(sh, entries, f.human)
    } else if f.one_per_line {
        entries.iter().map(|(n, _)| format!("{n}\n")).collect()
    } else {
        columns(entries.iter().map(|(n, _)| n.as_str()).collect(), 80)
    }
}

/// `ls -l` lines, each column as wide as its widest value.
fn long_listing(sh: &Shell, entries: &[(String, Node)], hum: bool) -> String {
    let links = |n: &Node| if n.is_dir() { 2 } else { 1 };
    let size_of = |n: &Node| {
        if hum {
            human(n.size)
        } else {
            n.size.to_string()
        }
    };
    let width = |cell: &dyn Fn(&Node) -> usize| entries.iter().map(|(_, n)| cell(n)).max();
    let wl = width(&|n| links(n).to_string().len()).unwrap_or(1);
    let wu = width(&|n| owner_name(sh, n.uid).len()).unwrap_or(1);
    let wg = width(&|n| group_name(sh, n.gid).len()).unwrap_or(1);
    let ws = width(&|n| size_of(n).len()).unwrap_or(1);
    let mut s = String::new();
    for (name, n) in entries {
        let suffix = match &n.kind {
            Kind::Link(t) => format!(" -> {t}"),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "{} {:>wl$} {:<wu$} {:<wg$} {:>ws$} {} {}{}",
            n.mode_string(),
            links(n),
            owner_name(sh, n.uid),
            group_name(sh, n.gid),
            size_of(n),
            fmt_time(sh, n.mtime),
            name,
            suffix
        );
    }
    s
}

fn cat(sh: &Shell, c: &Cmd) -> Res {
    let mut res = Res::default();
    let files: Vec<&String> = c.argv[1..]
        .iter()
        .filter(|a| !a.starts_with('-') || *a == "-")
        .collect();
    if files.is_empty() {
        res.out = c.stdin.unwrap_or("").to_owned();
        return res;
    }
    for f in files {
        if f == "-" {
            res.out.push_str(c.stdin.unwrap_or(""));
            continue;
        }
        match sh.read_file(f) {
            Ok(s) => res.out.push_str(&s),
            Err(e) => {
                res.err.push_str(&format!("cat: {f}: {e}\n"));
                res.code = 1;
            }
        }
        if res.out.len() > MAX_OUTPUT {
            break;
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::{exec, root, run, user};

    #[test]
    fn pwd_prints_the_working_directory() {
        let mut sh = root();
        assert_eq!(run(&mut sh, "pwd"), "/root\n");
        assert_eq!(run(&mut sh, "cd /var/log; pwd"), "/var/log\n");
    }

    #[test]
    fn cd_moves_checks_and_remembers_oldpwd() {
        let mut sh = root();
        assert_eq!(run(&mut sh, "cd /tmp"), "");
        assert_eq!(run(&mut sh, "cd -"), "/root\n");
        assert_eq!(run(&mut sh, "cd /etc; cd; pwd"), "/root\n");
        assert_eq!(
            run(&mut sh, "cd /etc/passwd"),
            "-bash: cd: /etc/passwd: Not a directory\n"
        );
        assert_eq!(run(&mut sh, "cd a b"), "-bash: cd: too many arguments\n");
        let mut u = user();
        let out = u.execute("cd /root");
        assert_eq!(out.stdout, "-bash: cd: /root: Permission denied\n");
        assert_eq!(out.exit_code, 1);
        assert_eq!(run(&mut u, "cd -"), "-bash: cd: OLDPWD not set\n");
    }

    #[test]
    fn ls_lists_columns_lines_and_errors() {
        let mut sh = root();
        assert_eq!(run(&mut sh, "ls -d /etc /tmp"), "/etc  /tmp\n");
        assert_eq!(run(&mut sh, "ls -1 /home"), "ubuntu\n");
        assert_eq!(run(&mut sh, "dir /home"), "ubuntu\n");
        // Without a terminal, one name per line.
        assert_eq!(run(&mut exec(), "ls /etc/ssh"), "sshd_config\n");
        let out = sh.execute("ls -Z");
        assert_eq!(
            out.stdout,
            "ls: invalid option -- 'Z'\nTry 'ls --help' for more information.\n"
        );
        assert_eq!(out.exit_code, 2);
        assert_eq!(
            run(&mut sh, "ls /etc/hostname /home"),
            "/etc/hostname\n\n/home:\nubuntu\n"
        );
        assert_eq!(
            run(&mut user(), "ls /root"),
            "ls: cannot open directory '/root': Permission denied\n"
        );
    }

    #[test]
    fn ll_is_a_long_listing_with_dot_entries() {
        let mut sh = root();
        let l = run(&mut sh, "ll /etc/ssh");
        let lines: Vec<&str> = l.lines().collect();
        assert_eq!(lines[0], "total 12", "{l}");
        assert!(lines[1].starts_with("drwxr-xr-x 2 root root ") && lines[1].ends_with(" ."));
        assert!(lines[2].ends_with(" .."), "{l}");
        assert!(
            lines[3].starts_with("-rw-r--r-- 1 root root ") && lines[3].ends_with(" sshd_config"),
            "{l}"
        );
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn cat_joins_files_and_stdin() {
        let mut sh = root();
        let host = sh.vfs().host().hostname.clone();
        assert_eq!(
            run(&mut sh, "echo hi | cat - /etc/hostname"),
            format!("hi\n{host}\n")
        );
        assert_eq!(run(&mut sh, "echo piped | cat"), "piped\n");
        let out = sh.execute("cat /etc");
        assert_eq!(out.stdout, "cat: /etc: Is a directory\n");
        assert_eq!(out.exit_code, 1);
    }
}
