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
            None => return Res::err("-bash: cd: OLDPWD not set\n".into(), 1),
        },
        Some(p) => p.to_owned(),
    };
    if c.argv.len() > 2 {
        return Res::err("-bash: cd: too many arguments\n".into(), 1);
    }
    let abs = sh.abs(&target);
    match sh.stat(&abs) {
        None => Res::err(
            format!("-bash: cd: {target}: No such file or directory\n"),
            1,
        ),
        Some((_, n)) if !n.is_dir() => {
            Res::err(format!("-bash: cd: {target}: Not a directory\n"), 1)
        }
        Some((_, n)) if !sh.can(&n, 1) => {
            Res::err(format!("-bash: cd: {target}: Permission denied\n"), 1)
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

fn ls(sh: &Shell, c: &Cmd, ll: bool) -> Res {
    let (mut long, mut all, mut almost, mut one, mut dir_only, mut hum) =
        (ll, ll, false, !sh.opts.interactive, false, false);
    let mut paths = Vec::new();
    for a in &c.argv[1..] {
        if a.starts_with('-') && a.len() > 1 && !a.starts_with("--") {
            for ch in a[1..].chars() {
                match ch {
                    'l' => long = true,
                    'a' => all = true,
                    'A' => almost = true,
                    '1' => one = true,
                    'd' => dir_only = true,
                    'h' => hum = true,
                    'F' | 't' | 'r' | 'S' | 'R' | 'i' | 'n' | 'G' | 'C' | 'x' => {}
                    other => {
                        return Res::err(
                            format!("ls: invalid option -- '{other}'\nTry 'ls --help' for more information.\n"),
                            2,
                        )
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
    let mut res = Res::default();
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    for p in &paths {
        let st = if long { sh.lstat(p) } else { sh.stat(p) };
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
                        && !long
                        && sh.stat(p).map(|x| x.1.is_dir()).unwrap_or(false));
                let follow_dir = long && matches!(n.kind, Kind::Link(_)) && p.ends_with('/');
                if (is_dir || follow_dir) && !dir_only {
                    dirs.push((p.clone(), sh.resolve(&abs)));
                } else {
                    files.push((p.clone(), n));
                }
            }
        }
    }
    let fmt_entries = |entries: &[(String, Node)]| -> String {
        if long {
            let links = |n: &Node| if n.is_dir() { 2 } else { 1 };
            let size_of = |n: &Node| {
                if hum {
                    human(n.size)
                } else {
                    n.size.to_string()
                }
            };
            let wl = entries
                .iter()
                .map(|(_, n)| links(n).to_string().len())
                .max()
                .unwrap_or(1);
            let wu = entries
                .iter()
                .map(|(_, n)| owner_name(sh, n.uid).len())
                .max()
                .unwrap_or(1);
            let wg = entries
                .iter()
                .map(|(_, n)| group_name(sh, n.gid).len())
                .max()
                .unwrap_or(1);
            let ws = entries
                .iter()
                .map(|(_, n)| size_of(n).len())
                .max()
                .unwrap_or(1);
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
        } else if one {
            entries.iter().map(|(n, _)| format!("{n}\n")).collect()
        } else {
            columns(entries.iter().map(|(n, _)| n.as_str()).collect(), 80)
        }
    };
    if !files.is_empty() {
        res.out.push_str(&fmt_entries(&files));
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
        let mut entries: Vec<(String, Node)> = Vec::new();
        if all {
            if let Some(n) = sh.raw_get(dir) {
                entries.push((".".into(), n));
            }
            if let Some(n) = sh.raw_get(vfs::parent(dir)) {
                entries.push(("..".into(), n));
            }
        }
        for (name, n) in sh.list_dir(dir) {
            if name.starts_with('.') && !all && !almost {
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
                    .then(std::cmp::Ordering::Equal)
                    .then_with(|| ka.cmp(&kb))
            } else {
                ka.cmp(&kb).then(a.0.cmp(&b.0))
            }
        });
        if entries.iter().any(|(n, _)| n == "." || n == "..") {
            let (dots, rest): (Vec<_>, Vec<_>) = entries
                .into_iter()
                .partition(|(n, _)| n == "." || n == "..");
            let mut d = dots;
            d.sort_by_key(|(n, _)| n.len());
            entries = d.into_iter().chain(rest).collect();
        }
        if multi || !files.is_empty() {
            if i > 0 || !files.is_empty() {
                res.out.push('\n');
            }
            let _ = writeln!(res.out, "{shown}:");
        }
        if long {
            let blocks: u64 = entries.iter().map(|(_, n)| n.size.div_ceil(4096) * 4).sum();
            let _ = writeln!(
                res.out,
                "total {}",
                if hum {
                    human(blocks * 1024)
                } else {
                    blocks.to_string()
                }
            );
        }
        res.out.push_str(&fmt_entries(&entries));
    }
    res
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
