//! The fake shell: one per login session, sharing the decky's [`Vfs`].
//!
//! `Shell::execute(line)` parses a line, runs the builtin emulations and
//! returns what a terminal would show plus the events worth recording.
//! Nothing here touches the host: every path resolves inside the VFS and
//! every write lands in the session's [`Overlay`].

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::parse::{self, Connector, RedirKind, Seg, SimpleCommand, Word};
use crate::vfs::{self, Content, Kind, Node, Vfs};

/// Something the frontend should record as an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShellEvent {
    /// A command line was entered (one per line).
    Command {
        /// The line as typed.
        command: String,
    },
    /// A URL the attacker tried to fetch (nothing is fetched).
    Download {
        /// The URL.
        url: String,
        /// `wget`, `curl`…
        tool: String,
    },
    /// A password typed at a `sudo`/`su` prompt.
    Password {
        /// Which prompt (`sudo`, `su`).
        prompt: String,
        /// The account whose password was asked.
        user: String,
        /// What was typed.
        password: String,
        /// Whether it was right.
        success: bool,
    },
    /// A file written into the session overlay.
    FileWrite {
        /// Absolute path.
        path: String,
        /// Size after the write.
        size: u64,
    },
}

/// Result of one line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Text for the terminal (stdout and stderr interleaved), `\n` newlines.
    pub stdout: String,
    /// `$?` after the line.
    pub exit_code: i32,
    /// Events to record.
    pub events: Vec<ShellEvent>,
    /// The session should end (`exit`, `logout`).
    pub exit_requested: bool,
    /// A password prompt is pending: show this (no echo) and pass the
    /// answer to [`Shell::password`].
    pub password_prompt: Option<String>,
}

/// Per-session write layer over the shared VFS, with a byte quota.
#[derive(Debug, Default)]
pub struct Overlay {
    entries: BTreeMap<String, Option<Node>>,
    used: u64,
    quota: u64,
}

/// Default overlay quota per session.
pub const DEFAULT_OVERLAY_QUOTA: u64 = 1024 * 1024;
/// Largest output of one line kept (the rest is cut).
pub const MAX_OUTPUT: usize = 256 * 1024;
const MAX_HISTORY: usize = 500;
const MAX_DEPTH: u8 = 4;

#[derive(Debug)]
struct Pending {
    prompt: &'static str,
    user: String,
    argv: Vec<String>,
    tries: u8,
}

/// Settings of a session's shell.
#[derive(Clone, Debug)]
pub struct ShellOptions {
    /// Attacker address shown by `w`/`who`.
    pub remote: String,
    /// Terminal name (`pts/0`).
    pub tty: String,
    /// Interactive (PTY) session; false for `exec`.
    pub interactive: bool,
    /// Per-session overlay quota.
    pub quota: u64,
    /// Time source override (tests); `None` = now.
    pub now: Option<DateTime<Utc>>,
}

impl Default for ShellOptions {
    fn default() -> Self {
        ShellOptions {
            remote: "127.0.0.1".into(),
            tty: "pts/0".into(),
            interactive: true,
            quota: DEFAULT_OVERLAY_QUOTA,
            now: None,
        }
    }
}

/// One login session's shell.
#[derive(Debug)]
pub struct Shell {
    vfs: Arc<Vfs>,
    user: String,
    uid: u32,
    gid: u32,
    home: String,
    cwd: String,
    oldpwd: Option<String>,
    env: Vec<(String, String)>,
    overlay: Overlay,
    history: VecDeque<String>,
    status: i32,
    opts: ShellOptions,
    login: DateTime<Utc>,
    pending: Option<Pending>,
    sudo_ok: bool,
    su_stack: Vec<(String, u32, u32, String)>,
}

struct Cmd<'a> {
    argv: &'a [String],
    stdin: Option<&'a str>,
}

/// user, pid, %cpu, %mem, vsz, rss, tty, stat, command
type Proc = (
    &'static str,
    u32,
    f32,
    f32,
    u32,
    u32,
    &'static str,
    &'static str,
    String,
);

#[derive(Default)]
struct Res {
    out: String,
    err: String,
    code: i32,
}

impl Res {
    fn ok(out: String) -> Res {
        Res {
            out,
            ..Res::default()
        }
    }
    fn err(err: String, code: i32) -> Res {
        Res {
            err,
            code,
            ..Res::default()
        }
    }
}

fn human(bytes: u64) -> String {
    let units = ["", "K", "M", "G", "T"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < units.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes}")
    } else if v < 10.0 {
        format!("{:.1}{}", (v * 10.0).ceil() / 10.0, units[u])
    } else {
        format!("{:.0}{}", v.ceil(), units[u])
    }
}

impl Shell {
    /// A shell for `user` (must be an account of the VFS; unknown users
    /// get a plain uid-1000-style account).
    pub fn new(vfs: Arc<Vfs>, user: &str, opts: ShellOptions) -> Shell {
        let (uid, gid, home) = match vfs.host().account(user) {
            Some(a) => (a.uid, a.gid, a.home.clone()),
            None if user == "root" => (0, 0, "/root".into()),
            None => (1000, 1000, format!("/home/{user}")),
        };
        let login = opts.now.unwrap_or_else(Utc::now);
        Shell {
            cwd: home.clone(),
            vfs,
            user: user.to_owned(),
            uid,
            gid,
            home,
            oldpwd: None,
            env: Vec::new(),
            overlay: Overlay {
                quota: opts.quota,
                ..Overlay::default()
            },
            history: VecDeque::new(),
            status: 0,
            opts,
            login,
            pending: None,
            sudo_ok: false,
            su_stack: Vec::new(),
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.opts.now.unwrap_or_else(Utc::now)
    }

    /// Current user.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The `n`-th most recent history entry (1 = last), for arrow keys.
    pub fn history_back(&self, n: usize) -> Option<&str> {
        if n == 0 || n > self.history.len() {
            return None;
        }
        self.history.get(self.history.len() - n).map(String::as_str)
    }

    /// Current directory.
    pub fn cwd(&self) -> &str {
        &self.cwd
    }

    /// The shared filesystem.
    pub fn vfs(&self) -> &Arc<Vfs> {
        &self.vfs
    }

    /// Bash's PS1 for Debian/Ubuntu: `user@host:~$ `.
    pub fn prompt(&self) -> String {
        let dir = if self.cwd == self.home {
            "~".to_owned()
        } else if let Some(rest) = self.cwd.strip_prefix(&format!("{}/", self.home)) {
            format!("~/{rest}")
        } else {
            self.cwd.clone()
        };
        let sigil = if self.uid == 0 { '#' } else { '$' };
        format!(
            "{}@{}:{}{} ",
            self.user,
            self.vfs.host().hostname,
            dir,
            sigil
        )
    }

    /// The message of the day printed after an interactive login.
    pub fn motd(&self, last_login_from: Option<&str>) -> String {
        let h = self.vfs.host();
        let mut s = format!(
            "Linux {} {} {} x86_64\n\n",
            h.hostname,
            h.kernel,
            crate::gen::uname_v(h)
        );
        if h.os_id == "debian" {
            s.push_str("The programs included with the Debian GNU/Linux system are free software;\nthe exact distribution terms for each program are described in the\nindividual files in /usr/share/doc/*/copyright.\n\nDebian GNU/Linux comes with ABSOLUTELY NO WARRANTY, to the extent\npermitted by applicable law.\n");
        } else if h.os_id == "ubuntu" {
            s = format!(
                "Welcome to {} (GNU/Linux {} x86_64)\n\n * Documentation:  https://help.ubuntu.com\n * Management:     https://landscape.canonical.com\n * Support:        https://ubuntu.com/pro\n",
                h.pretty_name, h.kernel
            );
        }
        if let Some(from) = last_login_from {
            let t = self.login - chrono::Duration::seconds((h.salt % 200_000) as i64 + 3600);
            let _ = writeln!(
                s,
                "Last login: {} from {from}",
                t.format("%a %b %e %H:%M:%S %Y")
            );
        }
        s
    }

    fn account_password(&self, user: &str) -> Option<String> {
        self.vfs.host().account(user).map(|a| a.password.clone())
    }

    /// Answers a pending password prompt.
    pub fn password(&mut self, typed: &str) -> Output {
        let mut out = Output::default();
        let Some(mut p) = self.pending.take() else {
            return out;
        };
        let right = self.account_password(&p.user).as_deref() == Some(typed);
        out.events.push(ShellEvent::Password {
            prompt: p.prompt.to_owned(),
            user: p.user.clone(),
            password: typed.to_owned(),
            success: right,
        });
        if !right {
            p.tries += 1;
            if p.prompt == "su" {
                out.stdout = "su: Authentication failure\n".into();
                out.exit_code = 1;
                self.status = 1;
                return out;
            }
            if p.tries >= 3 {
                out.stdout = "sudo: 3 incorrect password attempts\n".into();
                out.exit_code = 1;
                self.status = 1;
                return out;
            }
            out.stdout = "Sorry, try again.\n".into();
            out.password_prompt = Some(format!("[sudo] password for {}: ", p.user));
            self.pending = Some(p);
            return out;
        }
        if p.prompt == "sudo" {
            self.sudo_ok = true;
        }
        let argv = std::mem::take(&mut p.argv);
        self.become_root(&argv, &mut out);
        out
    }

    fn become_root(&mut self, argv: &[String], out: &mut Output) {
        // argv is what runs as root; empty or a shell → root shell.
        let shells = ["su", "-i", "-s", "bash", "sh", "-", "/bin/bash", "/bin/sh"];
        if argv.is_empty() || argv.iter().all(|a| shells.contains(&a.as_str())) {
            self.su_stack
                .push((self.user.clone(), self.uid, self.gid, self.cwd.clone()));
            self.user = "root".into();
            self.uid = 0;
            self.gid = 0;
            self.home = "/root".into();
            if argv.iter().any(|a| a == "-i" || a == "-") || argv.is_empty() {
                self.cwd = "/root".into();
            }
            out.exit_code = 0;
            self.status = 0;
            return;
        }
        let saved = (self.uid, self.gid, self.user.clone());
        self.uid = 0;
        self.gid = 0;
        self.user = "root".into();
        let res = self.run_argv(argv, None, out, 1);
        self.uid = saved.0;
        self.gid = saved.1;
        self.user = saved.2;
        out.stdout.push_str(&res.out);
        out.stdout.push_str(&res.err);
        out.exit_code = res.code;
        self.status = res.code;
    }

    /// Runs one command line.
    pub fn execute(&mut self, line: &str) -> Output {
        let mut out = Output::default();
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return out;
        }
        out.events.push(ShellEvent::Command {
            command: trimmed.to_owned(),
        });
        if self.history.len() >= MAX_HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(trimmed.to_owned());
        self.run_line(trimmed, &mut out, 0);
        out.exit_code = self.status;
        if out.stdout.len() > MAX_OUTPUT {
            let mut cut = MAX_OUTPUT;
            while !out.stdout.is_char_boundary(cut) {
                cut -= 1;
            }
            out.stdout.truncate(cut);
        }
        out
    }

    fn run_line(&mut self, line: &str, out: &mut Output, depth: u8) {
        let items = match parse::parse(line) {
            Ok(i) => i,
            Err(e) => {
                let _ = writeln!(out.stdout, "-bash: {e}");
                self.status = 2;
                return;
            }
        };
        for (conn, pipeline) in items {
            match conn {
                Connector::And if self.status != 0 => continue,
                Connector::Or if self.status == 0 => continue,
                _ => {}
            }
            let mut stdin: Option<String> = None;
            let n = pipeline.commands.len();
            for (i, c) in pipeline.commands.iter().enumerate() {
                let last = i + 1 == n;
                let res = self.run_simple(c, stdin.take(), out, depth);
                if last {
                    out.stdout.push_str(&res.out);
                } else {
                    stdin = Some(res.out);
                }
                out.stdout.push_str(&res.err);
                self.status = res.code;
                if out.exit_requested || out.password_prompt.is_some() {
                    return;
                }
            }
        }
    }

    fn expand(&self, w: &Word) -> String {
        let mut s = String::new();
        for seg in &w.0 {
            match seg {
                Seg::Lit(l) => s.push_str(l),
                Seg::Tilde => s.push_str(&self.home),
                Seg::Var(v) => s.push_str(&self.var(v)),
            }
        }
        s
    }

    fn var(&self, name: &str) -> String {
        if let Some((_, v)) = self.env.iter().rev().find(|(k, _)| k == name) {
            return v.clone();
        }
        match name {
            "?" => self.status.to_string(),
            "$" => (self.vfs.host().salt % 30_000 + 1200).to_string(),
            "#" => "0".into(),
            "0" => "-bash".into(),
            "HOME" => self.home.clone(),
            "USER" | "LOGNAME" => self.user.clone(),
            "PWD" => self.cwd.clone(),
            "OLDPWD" => self.oldpwd.clone().unwrap_or_default(),
            "SHELL" => "/bin/bash".into(),
            "HOSTNAME" => self.vfs.host().hostname.clone(),
            "PATH" => if self.uid == 0 {
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            } else {
                "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"
            }
            .into(),
            "TERM" => "xterm-256color".into(),
            "LANG" => "C.UTF-8".into(),
            "SHLVL" => "1".into(),
            "UID" => self.uid.to_string(),
            "SSH_CLIENT" | "SSH_CONNECTION" => {
                format!("{} 52814 22", self.opts.remote)
            }
            _ => String::new(),
        }
    }

    fn env_list(&self) -> Vec<(String, String)> {
        let mut names = vec![
            "SHELL",
            "PWD",
            "LOGNAME",
            "HOME",
            "LANG",
            "TERM",
            "USER",
            "SHLVL",
            "SSH_CLIENT",
            "PATH",
        ];
        names.retain(|n| !self.env.iter().any(|(k, _)| k == n));
        let mut v: Vec<(String, String)> =
            names.iter().map(|n| (n.to_string(), self.var(n))).collect();
        v.extend(self.env.iter().cloned());
        v.push(("_".into(), "/usr/bin/env".into()));
        v
    }

    fn set_env(&mut self, k: &str, v: String) {
        if self.env.len() >= 256 || k.len() > 256 || v.len() > 4096 {
            return;
        }
        self.env.retain(|(n, _)| n != k);
        self.env.push((k.to_owned(), v));
    }

    fn run_simple(
        &mut self,
        c: &SimpleCommand,
        stdin: Option<String>,
        out: &mut Output,
        depth: u8,
    ) -> Res {
        if c.words.is_empty() {
            for (k, w) in &c.assigns {
                let v = self.expand(w);
                self.set_env(k, v);
            }
            return Res::default();
        }
        let argv: Vec<String> = c.words.iter().map(|w| self.expand(w)).collect();
        let mut stdin = stdin;
        for r in &c.redirects {
            if r.kind == RedirKind::In {
                let p = self.expand(&r.target);
                match self.read_file(&p) {
                    Ok(s) => stdin = Some(s),
                    Err(e) => return Res::err(format!("-bash: {p}: {e}\n"), 1),
                }
            }
        }
        let mut res = self.run_argv(&argv, stdin.as_deref(), out, depth);
        for r in &c.redirects {
            let target = self.expand(&r.target);
            match r.kind {
                RedirKind::In => {}
                RedirKind::ErrToOut => {
                    let e = std::mem::take(&mut res.err);
                    res.out.push_str(&e);
                }
                RedirKind::Out | RedirKind::Append | RedirKind::Both => {
                    let mut data = std::mem::take(&mut res.out);
                    if r.kind == RedirKind::Both {
                        data.push_str(&std::mem::take(&mut res.err));
                    }
                    if let Err(e) =
                        self.write_file(&target, data.as_bytes(), r.kind == RedirKind::Append, out)
                    {
                        res.err.push_str(&format!("-bash: {target}: {e}\n"));
                        res.code = 1;
                    }
                }
                RedirKind::Err | RedirKind::ErrAppend => {
                    let data = std::mem::take(&mut res.err);
                    if let Err(e) = self.write_file(
                        &target,
                        data.as_bytes(),
                        r.kind == RedirKind::ErrAppend,
                        out,
                    ) {
                        res.err.push_str(&format!("-bash: {target}: {e}\n"));
                    }
                }
            }
        }
        res
    }

    // ---------- filesystem view (overlay over the VFS) ----------

    fn abs(&self, p: &str) -> String {
        crate::vfs::resolve(&self.cwd, p)
    }

    fn raw_get(&self, path: &str) -> Option<Node> {
        match self.overlay.entries.get(path) {
            Some(Some(n)) => Some(n.clone()),
            Some(None) => None,
            None => self.vfs.get(path),
        }
    }

    /// Resolves symlinks in every component (bounded).
    fn resolve(&self, path: &str) -> String {
        let mut cur = String::from("/");
        let mut rest: VecDeque<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let mut hops = 0;
        while let Some(part) = rest.pop_front() {
            let next = if part == ".." {
                vfs::parent(&cur).to_owned()
            } else if part == "." {
                cur.clone()
            } else if cur == "/" {
                format!("/{part}")
            } else {
                format!("{cur}/{part}")
            };
            if let Some(Node {
                kind: Kind::Link(target),
                ..
            }) = self.raw_get(&next)
            {
                hops += 1;
                if hops > 16 {
                    return next;
                }
                let base = if target.starts_with('/') {
                    "/".to_owned()
                } else {
                    cur.clone()
                };
                let mut parts: VecDeque<String> = target
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                parts.extend(rest.drain(..));
                rest = parts;
                cur = base;
                continue;
            }
            cur = next;
        }
        cur
    }

    /// Node at a user path (symlinks followed).
    fn stat(&self, p: &str) -> Option<(String, Node)> {
        let a = self.resolve(&self.abs(p));
        self.raw_get(&a).map(|n| (a, n))
    }

    fn lstat(&self, p: &str) -> Option<(String, Node)> {
        let a = self.abs(p);
        let parent = self.resolve(vfs::parent(&a));
        let full = if a == "/" {
            "/".to_owned()
        } else if parent == "/" {
            format!("/{}", vfs::basename(&a))
        } else {
            format!("{parent}/{}", vfs::basename(&a))
        };
        self.raw_get(&full).map(|n| (full, n))
    }

    fn list_dir(&self, dir: &str) -> Vec<(String, Node)> {
        let mut map: BTreeMap<String, Node> = self.vfs.children(dir).into_iter().collect();
        let prefix = if dir == "/" {
            "/".to_owned()
        } else {
            format!("{dir}/")
        };
        for (k, v) in self.overlay.entries.range(prefix.clone()..) {
            if !k.starts_with(&prefix) {
                break;
            }
            let name = &k[prefix.len()..];
            if name.is_empty() || name.contains('/') {
                continue;
            }
            match v {
                Some(n) => {
                    map.insert(name.to_owned(), n.clone());
                }
                None => {
                    map.remove(name);
                }
            }
        }
        map.into_iter().collect()
    }

    fn can(&self, n: &Node, bit: u32) -> bool {
        if self.uid == 0 {
            return bit != 1 || n.mode & 0o111 != 0 || n.is_dir();
        }
        let m = n.mode;
        if n.uid == self.uid {
            m & (bit << 6) != 0
        } else if n.gid == self.gid {
            m & (bit << 3) != 0
        } else {
            m & bit != 0
        }
    }

    fn content(&self, n: &Node) -> Vec<u8> {
        match &n.kind {
            Kind::File(Content::Bytes(b)) => b.to_vec(),
            Kind::File(Content::Uptime) => {
                let up =
                    (self.now() - self.vfs.host().boot_time).num_milliseconds() as f64 / 1000.0;
                format!("{up:.2} {:.2}\n", up * self.vfs.host().cpus as f64 * 0.93).into_bytes()
            }
            Kind::File(Content::LoadAvg) => {
                let (a, b, c) = self.load();
                format!(
                    "{a:.2} {b:.2} {c:.2} 1/{} {}\n",
                    180 + self.vfs.host().salt % 90,
                    1200 + self.vfs.host().salt % 30_000
                )
                .into_bytes()
            }
            Kind::File(Content::Binary) => {
                let mut v = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0>\0\x01\0\0\0".to_vec();
                v.resize((n.size as usize).min(2048), 0);
                v
            }
            _ => Vec::new(),
        }
    }

    fn read_file(&self, p: &str) -> Result<String, &'static str> {
        match self.stat(p) {
            None => Err("No such file or directory"),
            Some((_, n)) if n.is_dir() => Err("Is a directory"),
            Some((_, n)) if !self.can(&n, 4) => Err("Permission denied"),
            Some((_, n)) => Ok(String::from_utf8_lossy(&self.content(&n)).into_owned()),
        }
    }

    fn parent_writable(&self, abs: &str) -> Result<(), &'static str> {
        let parent = self.resolve(vfs::parent(abs));
        match self.raw_get(&parent) {
            None => Err("No such file or directory"),
            Some(n) if !n.is_dir() => Err("Not a directory"),
            Some(n) if !self.can(&n, 2) => Err("Permission denied"),
            Some(_) => Ok(()),
        }
    }

    fn put(&mut self, path: String, node: Option<Node>) -> Result<(), &'static str> {
        let old = self
            .overlay
            .entries
            .get(&path)
            .and_then(|o| o.as_ref().map(|n| n.size))
            .unwrap_or(0);
        let new = node.as_ref().map(|n| n.size).unwrap_or(0) + path.len() as u64;
        let used = self.overlay.used.saturating_sub(old) + new;
        if used > self.overlay.quota {
            return Err("No space left on device");
        }
        self.overlay.used = used;
        self.overlay.entries.insert(path, node);
        Ok(())
    }

    fn write_file(
        &mut self,
        p: &str,
        data: &[u8],
        append: bool,
        out: &mut Output,
    ) -> Result<(), &'static str> {
        if p == "/dev/null" {
            return Ok(());
        }
        if p.is_empty() {
            return Err("No such file or directory");
        }
        let a = self.resolve(&self.abs(p));
        let now = self.now().timestamp();
        let node = match self.raw_get(&a) {
            Some(n) if n.is_dir() => return Err("Is a directory"),
            Some(n) if !self.can(&n, 2) => return Err("Permission denied"),
            Some(n) => {
                let mut body = if append { self.content(&n) } else { Vec::new() };
                body.extend_from_slice(data);
                Node::file(body, n.mode, n.uid, n.gid, now)
            }
            None => {
                self.parent_writable(&a)?;
                Node::file(data.to_vec(), 0o644, self.uid, self.gid, now)
            }
        };
        let size = node.size;
        self.put(a.clone(), Some(node))?;
        out.events.push(ShellEvent::FileWrite { path: a, size });
        Ok(())
    }

    fn load(&self) -> (f64, f64, f64) {
        let s = self.vfs.host().salt;
        (
            (s % 40) as f64 / 100.0,
            (s % 30) as f64 / 100.0 + 0.02,
            (s % 20) as f64 / 100.0 + 0.05,
        )
    }

    // ---------- dispatch ----------

    fn run_argv(
        &mut self,
        argv: &[String],
        stdin: Option<&str>,
        out: &mut Output,
        depth: u8,
    ) -> Res {
        let Some(name0) = argv.first() else {
            return Res::default();
        };
        let name = name0.rsplit('/').next().unwrap_or(name0).to_owned();
        let c = Cmd { argv, stdin };
        // Absolute/relative paths to something that is not a known binary.
        if name0.contains('/') {
            match self.stat(name0) {
                None => {
                    return Res::err(format!("-bash: {name0}: No such file or directory\n"), 127)
                }
                Some((_, n)) if n.is_dir() => {
                    return Res::err(format!("-bash: {name0}: Is a directory\n"), 126)
                }
                Some((_, n)) if !self.can(&n, 1) => {
                    return Res::err(format!("-bash: {name0}: Permission denied\n"), 126)
                }
                Some((path, n)) => {
                    if !matches!(n.kind, Kind::File(Content::Binary)) {
                        return self.run_script(&path, &n, out, depth);
                    }
                }
            }
        }
        match name.as_str() {
            "echo" => self.echo(&c),
            "pwd" => Res::ok(format!("{}\n", self.cwd)),
            "cd" => self.cd(&c),
            "ls" | "dir" => self.ls(&c, false),
            "ll" => self.ls(&c, true),
            "cat" => self.cat(&c),
            "whoami" => Res::ok(format!("{}\n", self.user)),
            "id" => self.id(&c),
            "uname" => self.uname(&c),
            "hostname" => Res::ok(format!("{}\n", self.vfs.host().hostname)),
            "ps" => self.ps(&c),
            "w" => Res::ok(self.w()),
            "who" => Res::ok(format!(
                "{:<8} {:<12} {} ({})\n",
                self.user,
                self.opts.tty,
                self.login.format("%Y-%m-%d %H:%M"),
                self.opts.remote
            )),
            "uptime" => Res::ok(format!("{}\n", self.uptime_line())),
            "ifconfig" => Res::ok(self.ifconfig()),
            "ip" => self.ip(&c),
            "netstat" | "ss" => Res::ok(self.netstat(&name)),
            "free" => self.free(&c),
            "df" => self.df(&c),
            "history" => Res::ok(
                self.history
                    .iter()
                    .enumerate()
                    .map(|(i, h)| format!("{:>5}  {h}\n", i + 1))
                    .collect(),
            ),
            "env" | "printenv" if argv.len() == 1 => Res::ok(
                self.env_list()
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}\n"))
                    .collect(),
            ),
            "export" | "declare" => self.export(&c),
            "unset" => {
                for a in &argv[1..] {
                    self.env.retain(|(k, _)| k != a);
                }
                Res::default()
            }
            "which" | "command" => self.which(&c),
            "type" => self.which(&c),
            "touch" => self.touch(&c),
            "mkdir" => self.mkdir(&c),
            "rm" | "rmdir" | "unlink" => self.rm(&c),
            "cp" => self.cp_mv(&c, false),
            "mv" => self.cp_mv(&c, true),
            "chmod" => self.chmod(&c),
            "chown" | "chattr" | "sync" | "sleep" | "nohup" | "crontab" | "chpasswd" | "kill"
            | "pkill" | "killall" | "systemctl" | "service" | "ulimit" | "set" | "source" | "."
            | "alias" | "true" | ":" | "disown" | "setenforce" | "iptables" | "ufw" => {
                self.quiet(&c, out, depth)
            }
            "false" => Res::err(String::new(), 1),
            "sudo" => self.sudo(&c, out),
            "su" => self.su(&c, out),
            "wget" | "curl" | "tftp" | "ftpget" | "fetch" => self.download(&c, &name, out),
            "exit" | "logout" => {
                if let Some((u, uid, gid, cwd)) = self.su_stack.pop() {
                    self.home = self
                        .vfs
                        .host()
                        .account(&u)
                        .map(|a| a.home.clone())
                        .unwrap_or_else(|| format!("/home/{u}"));
                    self.user = u;
                    self.uid = uid;
                    self.gid = gid;
                    self.cwd = cwd;
                    return Res::ok("exit\n".into()).with_code(0);
                }
                out.exit_requested = true;
                // `exit N` ends with status N (mod 256), plain `exit` with $?.
                let code = match argv.get(1) {
                    Some(a) => a
                        .parse::<i64>()
                        .map(|n| n.rem_euclid(256) as i32)
                        .unwrap_or(2),
                    None => self.status,
                };
                Res::ok(if name == "logout" || self.opts.interactive {
                    "logout\n".into()
                } else {
                    String::new()
                })
                .with_code(code)
            }
            "head" | "tail" => self.head_tail(&c, name == "head"),
            "grep" | "egrep" | "fgrep" => self.grep(&c),
            "wc" => self.wc(&c),
            "date" => Res::ok(format!(
                "{}\n",
                self.now().format("%a %b %e %H:%M:%S UTC %Y")
            )),
            "nproc" => Res::ok(format!("{}\n", self.vfs.host().cpus)),
            "clear" => Res::ok("\x1b[H\x1b[2J\x1b[3J".into()),
            "bash" | "sh" | "dash" => self.sub_shell(&c, out, depth),
            "base64" | "sort" | "uniq" | "more" | "less" | "tee" | "xargs" => {
                Res::ok(stdin.unwrap_or("").to_owned())
            }
            "lscpu" => Res::ok(self.lscpu()),
            "awk" => self.awk(&c),
            "cut" => self.cut(&c),
            "passwd" => Res::err(
                "passwd: Authentication token manipulation error\npasswd: password unchanged\n"
                    .into(),
                10,
            ),
            "top" | "htop" | "vi" | "vim" | "nano" if !self.opts.interactive => {
                Res::err(format!("{name}: failed to open terminal\n"), 1)
            }
            _ => {
                if crate::gen::BIN.contains(&name.as_str())
                    || crate::gen::SBIN.contains(&name.as_str())
                {
                    // Installed but not emulated: succeed quietly, passing stdin through.
                    Res::ok(stdin.unwrap_or("").to_owned())
                } else {
                    Res::err(format!("-bash: {name0}: command not found\n"), 127)
                }
            }
        }
    }

    fn quiet(&mut self, c: &Cmd, out: &mut Output, depth: u8) -> Res {
        let a = c.argv;
        match a[0].as_str() {
            "crontab" if a.iter().any(|x| x == "-l") => {
                Res::err(format!("no crontab for {}\n", self.user), 1)
            }
            "nohup" if a.len() > 1 => self.run_argv(&a[1..], c.stdin, out, depth + 1),
            "source" | "." if a.len() > 1 => match self.stat(&a[1]) {
                Some((p, n)) if !n.is_dir() => self.run_script(&p, &n, out, depth),
                _ => Res::err(format!("-bash: {}: No such file or directory\n", a[1]), 1),
            },
            "chown" | "chattr" | "iptables" | "setenforce" | "ufw" | "systemctl" | "service"
                if self.uid != 0 =>
            {
                Res::err(format!("{}: Operation not permitted\n", a[0]), 1)
            }
            _ => Res::default(),
        }
    }

    fn run_script(&mut self, path: &str, n: &Node, out: &mut Output, depth: u8) -> Res {
        if depth >= MAX_DEPTH {
            return Res::default();
        }
        let body = String::from_utf8_lossy(&self.content(n)).into_owned();
        let _ = path;
        let before = out.stdout.len();
        for line in body.lines().take(200) {
            if line.starts_with("#!") {
                continue;
            }
            self.run_line(line, out, depth + 1);
            if out.exit_requested {
                out.exit_requested = false;
                break;
            }
        }
        let produced = out.stdout.split_off(before);
        Res {
            out: produced,
            err: String::new(),
            code: self.status,
        }
    }

    fn sub_shell(&mut self, c: &Cmd, out: &mut Output, depth: u8) -> Res {
        let a = c.argv;
        if depth >= MAX_DEPTH {
            return Res::default();
        }
        if let Some(i) = a.iter().position(|x| x == "-c") {
            let Some(script) = a.get(i + 1) else {
                return Res::err(format!("{}: -c: option requires an argument\n", a[0]), 2);
            };
            let before = out.stdout.len();
            self.run_line(script, out, depth + 1);
            let produced = out.stdout.split_off(before);
            out.exit_requested = false;
            return Res {
                out: produced,
                code: self.status,
                ..Res::default()
            };
        }
        if let Some(f) = a.get(1) {
            return match self.stat(f) {
                Some((p, n)) if !n.is_dir() => self.run_script(&p, &n, out, depth),
                _ => Res::err(format!("{}: {f}: No such file or directory\n", a[0]), 127),
            };
        }
        if let Some(input) = c.stdin {
            let before = out.stdout.len();
            for line in input.lines().take(200) {
                self.run_line(line, out, depth + 1);
            }
            let produced = out.stdout.split_off(before);
            return Res::ok(produced).with_code(self.status);
        }
        Res::default()
    }

    // ---------- commands ----------

    fn echo(&self, c: &Cmd) -> Res {
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

    fn cd(&mut self, c: &Cmd) -> Res {
        let target = match c.argv.get(1).map(String::as_str) {
            None | Some("~") => self.home.clone(),
            Some("-") => match &self.oldpwd {
                Some(o) => o.clone(),
                None => return Res::err("-bash: cd: OLDPWD not set\n".into(), 1),
            },
            Some(p) => p.to_owned(),
        };
        if c.argv.len() > 2 {
            return Res::err("-bash: cd: too many arguments\n".into(), 1);
        }
        let abs = self.abs(&target);
        match self.stat(&abs) {
            None => Res::err(
                format!("-bash: cd: {target}: No such file or directory\n"),
                1,
            ),
            Some((_, n)) if !n.is_dir() => {
                Res::err(format!("-bash: cd: {target}: Not a directory\n"), 1)
            }
            Some((_, n)) if !self.can(&n, 1) => {
                Res::err(format!("-bash: cd: {target}: Permission denied\n"), 1)
            }
            Some(_) => {
                self.oldpwd = Some(std::mem::replace(&mut self.cwd, abs));
                let mut r = Res::default();
                if c.argv.get(1).map(String::as_str) == Some("-") {
                    r.out = format!("{}\n", self.cwd);
                }
                r
            }
        }
    }

    fn owner_name(&self, uid: u32) -> String {
        match uid {
            0 => "root".into(),
            33 => "www-data".into(),
            _ => self
                .vfs
                .host()
                .accounts
                .iter()
                .find(|a| a.uid == uid)
                .map(|a| a.name.clone())
                .unwrap_or_else(|| uid.to_string()),
        }
    }

    fn group_name(&self, gid: u32) -> String {
        match gid {
            0 => "root".into(),
            4 => "adm".into(),
            42 => "shadow".into(),
            33 => "www-data".into(),
            _ => self.owner_name(gid),
        }
    }

    fn fmt_time(&self, t: i64) -> String {
        let now = self.now().timestamp();
        let dt = DateTime::<Utc>::from_timestamp(t, 0).unwrap_or_default();
        if now - t > 182 * 86_400 || t > now + 3600 {
            dt.format("%b %e  %Y").to_string()
        } else {
            dt.format("%b %e %H:%M").to_string()
        }
    }

    fn ls(&self, c: &Cmd, ll: bool) -> Res {
        let (mut long, mut all, mut almost, mut one, mut dir_only, mut hum) =
            (ll, ll, false, !self.opts.interactive, false, false);
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
            let st = if long { self.lstat(p) } else { self.stat(p) };
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
                            && self.stat(p).map(|x| x.1.is_dir()).unwrap_or(false));
                    let follow_dir = long && matches!(n.kind, Kind::Link(_)) && p.ends_with('/');
                    if (is_dir || follow_dir) && !dir_only {
                        dirs.push((p.clone(), self.resolve(&abs)));
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
                    .map(|(_, n)| self.owner_name(n.uid).len())
                    .max()
                    .unwrap_or(1);
                let wg = entries
                    .iter()
                    .map(|(_, n)| self.group_name(n.gid).len())
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
                        self.owner_name(n.uid),
                        self.group_name(n.gid),
                        size_of(n),
                        self.fmt_time(n.mtime),
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
            if let Some(n) = self.raw_get(dir) {
                if !self.can(&n, 4) {
                    res.err.push_str(&format!(
                        "ls: cannot open directory '{shown}': Permission denied\n"
                    ));
                    res.code = 2;
                    continue;
                }
            }
            let mut entries: Vec<(String, Node)> = Vec::new();
            if all {
                if let Some(n) = self.raw_get(dir) {
                    entries.push((".".into(), n));
                }
                if let Some(n) = self.raw_get(vfs::parent(dir)) {
                    entries.push(("..".into(), n));
                }
            }
            for (name, n) in self.list_dir(dir) {
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

    fn cat(&self, c: &Cmd) -> Res {
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
            match self.read_file(f) {
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

    fn id(&self, c: &Cmd) -> Res {
        let user = c.argv.iter().skip(1).find(|a| !a.starts_with('-')).cloned();
        let (name, uid, gid) = match &user {
            Some(u) => match self.vfs.host().account(u) {
                Some(a) => (a.name.clone(), a.uid, a.gid),
                None => return Res::err(format!("id: ‘{u}’: no such user\n"), 1),
            },
            None => (self.user.clone(), self.uid, self.gid),
        };
        if c.argv.iter().any(|a| a == "-u") {
            return Res::ok(format!("{uid}\n"));
        }
        if c.argv.iter().any(|a| a == "-un" || a == "-nu") {
            return Res::ok(format!("{name}\n"));
        }
        let groups = if uid == 0 {
            "0(root)".to_owned()
        } else {
            format!("{gid}({name}),4(adm),24(cdrom),27(sudo),30(dip),46(plugdev)")
        };
        Res::ok(format!(
            "uid={uid}({name}) gid={gid}({}) groups={groups}\n",
            if gid == 0 {
                "root".to_owned()
            } else {
                name.clone()
            }
        ))
    }

    fn uname(&self, c: &Cmd) -> Res {
        let h = self.vfs.host();
        let mut flags = String::new();
        for a in &c.argv[1..] {
            match a.as_str() {
                "--all" => flags.push('a'),
                "--kernel-release" => flags.push('r'),
                "--machine" => flags.push('m'),
                "--nodename" => flags.push('n'),
                a if a.starts_with('-') => flags.push_str(&a[1..]),
                _ => {
                    return Res::err(
                        format!(
                        "uname: extra operand ‘{a}’\nTry 'uname --help' for more information.\n"
                    ),
                        1,
                    )
                }
            }
        }
        if flags.is_empty() {
            flags.push('s');
        }
        let all = flags.contains('a');
        let mut parts: Vec<String> = Vec::new();
        for (f, v) in [
            ('s', "Linux".to_owned()),
            ('n', h.hostname.clone()),
            ('r', h.kernel.clone()),
            ('v', crate::gen::uname_v(h)),
            ('m', "x86_64".to_owned()),
            ('p', "unknown".to_owned()),
            ('i', "unknown".to_owned()),
            ('o', "GNU/Linux".to_owned()),
        ] {
            if flags.contains(f) || (all && f != 'p' && f != 'i') {
                parts.push(v);
            }
        }
        for ch in flags.chars() {
            if !"asnrvmpio".contains(ch) {
                return Res::err(
                    format!("uname: invalid option -- '{ch}'\nTry 'uname --help' for more information.\n"),
                    1,
                );
            }
        }
        Res::ok(format!("{}\n", parts.join(" ")))
    }

    fn procs(&self) -> Vec<Proc> {
        // user, pid, cpu, mem, vsz, rss, tty, stat, command
        let s = self.vfs.host().salt;
        let b = |k: u64| (300 + (s.wrapping_mul(k + 7) % 500)) as u32;
        vec![
            ("root", 1, 0.0, 0.1, 167_740, 13_120, "?", "Ss", "/sbin/init".into()),
            ("root", 2, 0.0, 0.0, 0, 0, "?", "S", "[kthreadd]".into()),
            ("root", 3, 0.0, 0.0, 0, 0, "?", "I<", "[rcu_gp]".into()),
            ("root", 12, 0.0, 0.0, 0, 0, "?", "S", "[ksoftirqd/0]".into()),
            ("root", b(1), 0.0, 0.2, 48_232, 16_204, "?", "Ss", "/lib/systemd/systemd-journald".into()),
            ("root", b(2) + 20, 0.0, 0.0, 25_404, 6_112, "?", "Ss", "/lib/systemd/systemd-udevd".into()),
            ("message+", b(3) + 300, 0.0, 0.0, 9_104, 4_940, "?", "Ss", "/usr/bin/dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only".into()),
            ("root", b(4) + 310, 0.0, 0.0, 222_220, 5_680, "?", "Ssl", "/usr/sbin/rsyslogd -n -iNONE".into()),
            ("root", b(5) + 320, 0.0, 0.0, 6_612, 2_732, "?", "Ss", "/usr/sbin/cron -f".into()),
            ("root", b(6) + 330, 0.0, 0.0, 15_432, 9_024, "?", "Ss", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups".into()),
            ("root", b(7) + 340, 0.0, 0.0, 5_872, 1_020, "tty1", "Ss+", "/sbin/agetty -o -p -- \\u --noclear - linux".into()),
        ]
    }

    fn ps(&self, c: &Cmd) -> Res {
        let s = self.vfs.host().salt;
        let bash_pid = (s % 30_000 + 1200) as u32;
        let full = c.argv.len() > 1
            && c.argv[1..]
                .iter()
                .any(|a| a.contains('a') || a.contains('e') || a.contains('x'));
        if !full {
            return Res::ok(format!(
                "    PID TTY          TIME CMD\n{bash_pid:>7} {:<8} 00:00:00 bash\n{:>7} {:<8} 00:00:00 ps\n",
                self.opts.tty,
                bash_pid + 41,
                self.opts.tty
            ));
        }
        let start = self.vfs.host().boot_time.format("%b%d").to_string();
        let mut out = String::from(
            "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n",
        );
        let mut rows = self.procs();
        let login = self.login.format("%H:%M").to_string();
        let user: &'static str = if self.uid == 0 { "root" } else { "user" };
        let uname = if self.uid == 0 {
            "root".to_owned()
        } else {
            self.user.chars().take(8).collect()
        };
        rows.push((
            "root",
            bash_pid - 9,
            0.0,
            0.1,
            17_080,
            10_880,
            "?",
            "Ss",
            format!("sshd: {} [priv]", self.user),
        ));
        for (u, pid, cpu, mem, vsz, rss, tty, stat, cmd) in rows {
            let _ = writeln!(
                out,
                "{:<8} {:>7} {:>4.1} {:>4.1} {:>6} {:>5} {:<8} {:<4} {:>5} {:>6} {}",
                u,
                pid,
                cpu,
                mem,
                vsz,
                rss,
                tty,
                stat,
                start,
                format!("{}:{:02}", pid % 7, pid % 60),
                cmd
            );
        }
        let _ = user;
        let _ = writeln!(
            out,
            "{:<8} {:>7}  0.0  0.0   8600  5300 {:<8} Ss   {:>5}   0:00 -bash",
            uname, bash_pid, self.opts.tty, login
        );
        let _ = writeln!(
            out,
            "{:<8} {:>7}  0.0  0.0  11084  4460 {:<8} R+   {:>5}   0:00 {}",
            uname,
            bash_pid + 41,
            self.opts.tty,
            login,
            c.argv.join(" ")
        );
        Res::ok(out)
    }

    fn uptime_line(&self) -> String {
        let now = self.now();
        let up = (now - self.vfs.host().boot_time).num_seconds().max(0);
        let days = up / 86_400;
        let hours = (up % 86_400) / 3600;
        let mins = (up % 3600) / 60;
        let mut s = format!(" {} up ", now.format("%H:%M:%S"));
        if days > 0 {
            let _ = write!(s, "{days} day{}, ", if days == 1 { "" } else { "s" });
        }
        if hours > 0 {
            let _ = write!(s, "{hours:>2}:{mins:02}");
        } else {
            let _ = write!(s, "{mins} min");
        }
        let (a, b, c) = self.load();
        let _ = write!(s, ",  1 user,  load average: {a:.2}, {b:.2}, {c:.2}");
        s
    }

    fn w(&self) -> String {
        format!(
            "{}\nUSER     TTY      FROM             LOGIN@   IDLE   JCPU   PCPU WHAT\n{:<8} {:<8} {:<16} {}    0.00s  0.02s  0.00s w\n",
            self.uptime_line(),
            self.user.chars().take(8).collect::<String>(),
            self.opts.tty,
            self.opts.remote.chars().take(16).collect::<String>(),
            self.login.format("%H:%M")
        )
    }

    fn iface_numbers(&self) -> (u64, u64, u64, u64) {
        let s = self.vfs.host().salt;
        let up = (self.now() - self.vfs.host().boot_time)
            .num_seconds()
            .max(1) as u64;
        let rxp = up * (3 + s % 11);
        let txp = up * (2 + s % 7);
        (rxp, rxp * 610, txp, txp * 430)
    }

    fn net_parts(&self) -> (String, String, String) {
        let ip = self.vfs.host().ip;
        let o = ip.octets();
        let brd = format!("{}.{}.{}.255", o[0], o[1], o[2]);
        let mac: Vec<u8> = self
            .vfs
            .host()
            .mac
            .split(':')
            .filter_map(|x| u8::from_str_radix(x, 16).ok())
            .collect();
        let v6 = if mac.len() == 6 {
            format!(
                "fe80::{:x}:{:x}:{:x}:{:x}",
                ((mac[0] ^ 2) as u16) << 8 | mac[1] as u16,
                (mac[2] as u16) << 8 | 0xff,
                0xfe00 | mac[3] as u16,
                (mac[4] as u16) << 8 | mac[5] as u16
            )
        } else {
            "fe80::1".into()
        };
        (ip.to_string(), brd, v6)
    }

    fn ifconfig(&self) -> String {
        let (ip, brd, v6) = self.net_parts();
        let (rxp, rxb, txp, txb) = self.iface_numbers();
        let hb = |b: u64| {
            let (v, u) = if b >= 1 << 30 {
                (b as f64 / (1u64 << 30) as f64, "GiB")
            } else if b >= 1 << 20 {
                (b as f64 / (1u64 << 20) as f64, "MiB")
            } else {
                (b as f64 / 1024.0, "KiB")
            };
            format!("{v:.1} {u}")
        };
        format!(
            "eth0: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500\n        inet {ip}  netmask 255.255.255.0  broadcast {brd}\n        inet6 {v6}  prefixlen 64  scopeid 0x20<link>\n        ether {mac}  txqueuelen 1000  (Ethernet)\n        RX packets {rxp}  bytes {rxb} ({})\n        RX errors 0  dropped 0  overruns 0  frame 0\n        TX packets {txp}  bytes {txb} ({})\n        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0\n\nlo: flags=73<UP,LOOPBACK,RUNNING>  mtu 65536\n        inet 127.0.0.1  netmask 255.0.0.0\n        inet6 ::1  prefixlen 128  scopeid 0x10<host>\n        loop  txqueuelen 1000  (Local Loopback)\n        RX packets 3102  bytes 298843 (291.8 KiB)\n        RX errors 0  dropped 0  overruns 0  frame 0\n        TX packets 3102  bytes 298843 (291.8 KiB)\n        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0\n\n",
            hb(rxb),
            hb(txb),
            mac = self.vfs.host().mac,
        )
    }

    fn ip(&self, c: &Cmd) -> Res {
        let (ip, brd, v6) = self.net_parts();
        let sub = c.argv.get(1).map(String::as_str).unwrap_or("");
        match sub {
            "a" | "addr" | "address" | "-4" | "-br" => Res::ok(format!(
                "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n    inet 127.0.0.1/8 scope host lo\n       valid_lft forever preferred_lft forever\n    inet6 ::1/128 scope host noprefixroute \n       valid_lft forever preferred_lft forever\n2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP group default qlen 1000\n    link/ether {mac} brd ff:ff:ff:ff:ff:ff\n    altname enp0s3\n    inet {ip}/24 brd {brd} scope global eth0\n       valid_lft forever preferred_lft forever\n    inet6 {v6}/64 scope link \n       valid_lft forever preferred_lft forever\n",
                mac = self.vfs.host().mac
            )),
            "r" | "route" => {
                let o = self.vfs.host().ip.octets();
                Res::ok(format!(
                    "default via {}.{}.{}.1 dev eth0 onlink \n{}.{}.{}.0/24 dev eth0 proto kernel scope link src {ip} \n",
                    o[0], o[1], o[2], o[0], o[1], o[2]
                ))
            }
            "l" | "link" => Res::ok(format!(
                "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP mode DEFAULT group default qlen 1000\n    link/ether {} brd ff:ff:ff:ff:ff:ff\n",
                self.vfs.host().mac
            )),
            "" => Res::err("Usage: ip [ OPTIONS ] OBJECT { COMMAND | help }\n       ip [ -force ] -batch filename\nwhere  OBJECT := { address | addrlabel | amt | fou | help | ila | ioam | l2tp | link |\n                   macsec | maddress | monitor | mptcp | mroute | mrule |\n                   neighbor | neighbour | netconf | netns | nexthop | ntable |\n                   ntbl | route | rule | sr | tap | tcpmetrics |\n                   token | tunnel | tuntap | vrf | xfrm }\n".into(), 255),
            other => Res::err(format!("Object \"{other}\" is unknown, try \"ip help\".\n"), 255),
        }
    }

    fn netstat(&self, name: &str) -> String {
        let ip = self.vfs.host().ip;
        if name == "ss" {
            format!(
                "Netid State  Recv-Q Send-Q Local Address:Port  Peer Address:Port Process\ntcp   LISTEN 0      128          0.0.0.0:22         0.0.0.0:*          \ntcp   ESTAB  0      0        {ip}:22   {}:52814           \ntcp   LISTEN 0      128             [::]:22            [::]:*          \n",
                self.opts.remote
            )
        } else {
            format!(
                "Active Internet connections (servers and established)\nProto Recv-Q Send-Q Local Address           Foreign Address         State      \ntcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN     \ntcp        0     64 {:<23} {:<23} ESTABLISHED\ntcp6       0      0 :::22                   :::*                    LISTEN     \n",
                format!("{ip}:22"),
                format!("{}:52814", self.opts.remote)
            )
        }
    }

    fn free(&self, c: &Cmd) -> Res {
        let (total, free, avail, buffers, cached, swap) = crate::gen::memory(self.vfs.host());
        let used = total - free - buffers - cached;
        let shared = 1000 + self.vfs.host().salt % 9000;
        let bc = buffers + cached;
        let flag = c.argv.get(1).map(String::as_str).unwrap_or("");
        let f = |k: u64| -> String {
            match flag {
                "-h" | "--human" => {
                    let b = k * 1024;
                    if b >= 1 << 30 {
                        format!("{:.1}Gi", b as f64 / (1u64 << 30) as f64)
                    } else if b == 0 {
                        "0B".into()
                    } else {
                        format!("{}Mi", b / (1 << 20))
                    }
                }
                "-m" | "--mega" => (k / 1024).to_string(),
                "-g" | "--giga" => (k / 1024 / 1024).to_string(),
                _ => k.to_string(),
            }
        };
        Res::ok(format!(
            "               total        used        free      shared  buff/cache   available\nMem:    {:>12} {:>11} {:>11} {:>11} {:>11} {:>11}\nSwap:   {:>12} {:>11} {:>11}\n",
            f(total), f(used), f(free), f(shared), f(bc), f(avail), f(swap), f(0), f(swap)
        ))
    }

    fn df(&self, c: &Cmd) -> Res {
        let s = self.vfs.host().salt;
        let mem = self.vfs.host().mem_kib;
        let size = [20_466_256u64, 30_787_492, 61_611_820, 102_626_232][(s % 4) as usize];
        let used = size / 100 * (12 + s % 50);
        let avail = size - used - size / 20;
        let rows = [
            ("udev", mem / 2, 0, mem / 2, "/dev"),
            (
                "tmpfs",
                mem / 10,
                1_012 + s % 900,
                mem / 10 - 1_012 - s % 900,
                "/run",
            ),
            ("/dev/sda1", size, used, avail, "/"),
            ("tmpfs", mem / 2, 0, mem / 2, "/dev/shm"),
            ("tmpfs", 5_120, 0, 5_120, "/run/lock"),
            ("/dev/sda15", 126_678, 11_840, 114_838, "/boot/efi"),
            ("tmpfs", mem / 10, 4, mem / 10 - 4, "/run/user/0"),
        ];
        let human = c.argv.iter().any(|a| a.starts_with('-') && a.contains('h'));
        let mut out = if human {
            String::from("Filesystem      Size  Used Avail Use% Mounted on\n")
        } else {
            String::from("Filesystem     1K-blocks    Used Available Use% Mounted on\n")
        };
        for (fs, total, used, av, mnt) in rows {
            let pct = if total == 0 {
                0
            } else {
                (used * 100).div_ceil(total)
            };
            if human {
                let _ = writeln!(
                    out,
                    "{:<15} {:>4} {:>5} {:>5} {:>3}% {}",
                    fs,
                    human_k(total),
                    human_k(used),
                    human_k(av),
                    pct,
                    mnt
                );
            } else {
                let _ = writeln!(out, "{fs:<14} {total:>9} {used:>7} {av:>9} {pct:>3}% {mnt}");
            }
        }
        Res::ok(out)
    }

    fn export(&mut self, c: &Cmd) -> Res {
        let args: Vec<&String> = c.argv[1..].iter().filter(|a| !a.starts_with('-')).collect();
        if args.is_empty() {
            return Res::ok(
                self.env_list()
                    .into_iter()
                    .filter(|(k, _)| k != "_")
                    .map(|(k, v)| format!("declare -x {k}=\"{v}\"\n"))
                    .collect(),
            );
        }
        for a in args {
            if let Some((k, v)) = a.split_once('=') {
                if !k.is_empty() && k.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
                    self.set_env(k, v.to_owned());
                } else {
                    return Res::err(format!("-bash: export: `{a}': not a valid identifier\n"), 1);
                }
            }
        }
        Res::default()
    }

    fn which(&self, c: &Cmd) -> Res {
        let mut res = Res::default();
        let builtins = [
            "cd", "echo", "pwd", "export", "history", "exit", "logout", "type", "alias",
        ];
        let is_type = c.argv[0] == "type";
        for a in c.argv[1..].iter().filter(|a| !a.starts_with('-')) {
            let path = if crate::gen::BIN.contains(&a.as_str()) {
                Some(format!("/usr/bin/{a}"))
            } else if crate::gen::SBIN.contains(&a.as_str()) {
                Some(format!("/usr/sbin/{a}"))
            } else if self.raw_get(&format!("/usr/local/bin/{a}")).is_some() {
                Some(format!("/usr/local/bin/{a}"))
            } else {
                None
            };
            match (is_type, builtins.contains(&a.as_str()), path) {
                (true, true, _) => res.out.push_str(&format!("{a} is a shell builtin\n")),
                (true, false, Some(p)) => res.out.push_str(&format!("{a} is {p}\n")),
                (true, false, None) => {
                    res.err.push_str(&format!("-bash: type: {a}: not found\n"));
                    res.code = 1;
                }
                (false, _, Some(p)) => res.out.push_str(&format!("{p}\n")),
                (false, _, None) => res.code = 1,
            }
        }
        res
    }

    fn operands<'b>(&self, c: &'b Cmd) -> Vec<&'b String> {
        c.argv[1..]
            .iter()
            .filter(|a| !a.starts_with('-') || a.len() == 1)
            .collect()
    }

    fn touch(&mut self, c: &Cmd) -> Res {
        let mut res = Res::default();
        let ops: Vec<String> = self.operands(c).into_iter().cloned().collect();
        if ops.is_empty() {
            return Res::err(
                "touch: missing file operand\nTry 'touch --help' for more information.\n".into(),
                1,
            );
        }
        let now = self.now().timestamp();
        for f in ops {
            let a = self.resolve(&self.abs(&f));
            match self.raw_get(&a) {
                Some(mut n) => {
                    n.mtime = now;
                    if let Err(e) = self.put(a, Some(n)) {
                        res.err
                            .push_str(&format!("touch: cannot touch '{f}': {e}\n"));
                        res.code = 1;
                    }
                }
                None => {
                    let r = self.parent_writable(&a).and_then(|_| {
                        self.put(
                            a,
                            Some(Node::file(Vec::new(), 0o644, self.uid, self.gid, now)),
                        )
                    });
                    if let Err(e) = r {
                        res.err
                            .push_str(&format!("touch: cannot touch '{f}': {e}\n"));
                        res.code = 1;
                    }
                }
            }
        }
        res
    }

    fn mkdir(&mut self, c: &Cmd) -> Res {
        let parents = c.argv.iter().any(|a| a.starts_with('-') && a.contains('p'));
        let ops: Vec<String> = self.operands(c).into_iter().cloned().collect();
        if ops.is_empty() {
            return Res::err(
                "mkdir: missing operand\nTry 'mkdir --help' for more information.\n".into(),
                1,
            );
        }
        let mut res = Res::default();
        let now = self.now().timestamp();
        for d in ops {
            let a = self.abs(&d);
            let mut todo = vec![a.clone()];
            if parents {
                let mut p = vfs::parent(&a).to_owned();
                while p != "/" && self.stat(&p).is_none() {
                    todo.push(p.clone());
                    p = vfs::parent(&p).to_owned();
                }
            }
            for dir in todo.into_iter().rev() {
                if self.stat(&dir).is_some() {
                    if !parents {
                        res.err.push_str(&format!(
                            "mkdir: cannot create directory ‘{d}’: File exists\n"
                        ));
                        res.code = 1;
                    }
                    continue;
                }
                let r = self.parent_writable(&dir).and_then(|_| {
                    self.put(dir.clone(), Some(Node::dir(0o755, self.uid, self.gid, now)))
                });
                if let Err(e) = r {
                    res.err
                        .push_str(&format!("mkdir: cannot create directory ‘{d}’: {e}\n"));
                    res.code = 1;
                    break;
                }
            }
        }
        res
    }

    fn rm(&mut self, c: &Cmd) -> Res {
        let recursive = c.argv[0] == "rmdir"
            || c.argv
                .iter()
                .any(|a| a.starts_with('-') && (a.contains('r') || a.contains('R')));
        let force = c.argv.iter().any(|a| a.starts_with('-') && a.contains('f'));
        let mut res = Res::default();
        let ops: Vec<String> = self.operands(c).into_iter().cloned().collect();
        if ops.is_empty() && !force {
            return Res::err(
                format!(
                    "{}: missing operand\nTry '{} --help' for more information.\n",
                    c.argv[0], c.argv[0]
                ),
                1,
            );
        }
        for f in ops {
            match self.lstat(&f) {
                None => {
                    if !force {
                        res.err.push_str(&format!(
                            "rm: cannot remove '{f}': No such file or directory\n"
                        ));
                        res.code = 1;
                    }
                }
                Some((_, n)) if n.is_dir() && !recursive => {
                    res.err
                        .push_str(&format!("rm: cannot remove '{f}': Is a directory\n"));
                    res.code = 1;
                }
                Some((a, _)) => {
                    if let Err(e) = self.parent_writable(&a) {
                        res.err.push_str(&format!("rm: cannot remove '{f}': {e}\n"));
                        res.code = 1;
                        continue;
                    }
                    let mut gone = vec![a.clone()];
                    let prefix = format!("{a}/");
                    if a != "/" {
                        let mut stack = vec![a.clone()];
                        while let Some(d) = stack.pop() {
                            for (name, n) in self.list_dir(&d) {
                                let p = format!("{d}/{name}");
                                if n.is_dir() && gone.len() < 10_000 {
                                    stack.push(p.clone());
                                }
                                gone.push(p);
                            }
                        }
                    }
                    let _ = prefix;
                    for p in gone {
                        if self.vfs.get(&p).is_some() {
                            let _ = self.put(p, None);
                        } else {
                            if let Some(Some(n)) = self.overlay.entries.remove(&p) {
                                self.overlay.used =
                                    self.overlay.used.saturating_sub(n.size + p.len() as u64);
                            }
                        }
                    }
                }
            }
        }
        res
    }

    fn cp_mv(&mut self, c: &Cmd, mv: bool) -> Res {
        let name = &c.argv[0];
        let ops: Vec<String> = self.operands(c).into_iter().cloned().collect();
        if ops.len() < 2 {
            return Res::err(format!("{name}: missing destination file operand after '{}'\nTry '{name} --help' for more information.\n", ops.first().cloned().unwrap_or_default()), 1);
        }
        let (srcs, dst) = ops.split_at(ops.len() - 1);
        let dst = &dst[0];
        let mut res = Res::default();
        let now = self.now().timestamp();
        for s in srcs {
            let Some((sa, n)) = self.stat(s) else {
                res.err.push_str(&format!(
                    "{name}: cannot stat '{s}': No such file or directory\n"
                ));
                res.code = 1;
                continue;
            };
            if n.is_dir() && !mv {
                res.err
                    .push_str(&format!("cp: -r not specified; omitting directory '{s}'\n"));
                res.code = 1;
                continue;
            }
            let mut target = self.resolve(&self.abs(dst));
            if self.raw_get(&target).map(|x| x.is_dir()).unwrap_or(false) {
                target = if target == "/" {
                    format!("/{}", vfs::basename(&sa))
                } else {
                    format!("{target}/{}", vfs::basename(&sa))
                };
            }
            if let Err(e) = self.parent_writable(&target) {
                res.err.push_str(&format!(
                    "{name}: cannot create regular file '{dst}': {e}\n"
                ));
                res.code = 1;
                continue;
            }
            let mut node = n.clone();
            if !mv {
                node.mtime = now;
                node.uid = self.uid;
                node.gid = self.gid;
            }
            if let Err(e) = self.put(target, Some(node)) {
                res.err
                    .push_str(&format!("{name}: error writing '{dst}': {e}\n"));
                res.code = 1;
                continue;
            }
            if mv {
                let _ = self.put(sa, None);
            }
        }
        res
    }

    fn chmod(&mut self, c: &Cmd) -> Res {
        let ops: Vec<String> = c.argv[1..]
            .iter()
            .filter(|a| !a.starts_with("-R"))
            .cloned()
            .collect();
        if ops.len() < 2 {
            return Res::err(
                "chmod: missing operand\nTry 'chmod --help' for more information.\n".into(),
                1,
            );
        }
        let mode = &ops[0];
        let mut res = Res::default();
        for f in &ops[1..] {
            let Some((a, mut n)) = self.stat(f) else {
                res.err.push_str(&format!(
                    "chmod: cannot access '{f}': No such file or directory\n"
                ));
                res.code = 1;
                continue;
            };
            if self.uid != 0 && n.uid != self.uid {
                res.err.push_str(&format!(
                    "chmod: changing permissions of '{f}': Operation not permitted\n"
                ));
                res.code = 1;
                continue;
            }
            match apply_mode(n.mode, mode) {
                Some(m) => n.mode = m,
                None => {
                    return Res::err(
                        format!(
                        "chmod: invalid mode: ‘{mode}’\nTry 'chmod --help' for more information.\n"
                    ),
                        1,
                    )
                }
            }
            let _ = self.put(a, Some(n));
        }
        res
    }

    fn sudo(&mut self, c: &Cmd, out: &mut Output) -> Res {
        let mut args: Vec<String> = c.argv[1..].to_vec();
        let mut stdin_pw = false;
        while let Some(a) = args.first() {
            match a.as_str() {
                "-S" => stdin_pw = true,
                "-i" | "-s" => break,
                "-u" => {
                    args.remove(0);
                }
                x if x.starts_with('-') && x.len() > 1 && x != "-" => {}
                _ => break,
            }
            args.remove(0);
        }
        if c.argv.len() == 1 {
            return Res::err("usage: sudo -h | -K | -k | -V\nusage: sudo -v [-ABknS] [-g group] [-h host] [-p prompt] [-u user]\nusage: sudo -l [-ABknS] [-g group] [-h host] [-p prompt] [-U user] [-u user] [command [arg ...]]\nusage: sudo [-ABbEHknPS] [-r role] [-t type] [-C num] [-D directory] [-g group] [-h host] [-p prompt] [-R num] [-T timeout] [-u user] [VAR=value] [-i | -s] [<command>]\nusage: sudo -e [-ABknS] [-r role] [-t type] [-C num] [-D directory] [-g group] [-h host] [-p prompt] [-R num] [-T timeout] [-u user] file ...\n".into(), 1);
        }
        if self.uid == 0 || self.sudo_ok {
            let mut o = Output::default();
            self.become_root(&args, &mut o);
            out.events.extend(o.events);
            return Res::ok(o.stdout).with_code(o.exit_code);
        }
        let user = self.user.clone();
        if stdin_pw {
            let typed = c
                .stdin
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
                .to_owned();
            self.pending = Some(Pending {
                prompt: "sudo",
                user,
                argv: args,
                tries: 2,
            });
            let o = self.password(&typed);
            out.events.extend(o.events);
            let text = format!(
                "[sudo] password for {}: {}",
                self.user,
                o.stdout.replace("Sorry, try again.\n", "")
            );
            self.pending = None;
            return Res::ok(text).with_code(o.exit_code);
        }
        if !self.opts.interactive {
            return Res::err("sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper\nsudo: a password is required\n".into(), 1);
        }
        out.password_prompt = Some(format!("[sudo] password for {user}: "));
        self.pending = Some(Pending {
            prompt: "sudo",
            user,
            argv: args,
            tries: 0,
        });
        Res::default()
    }

    fn su(&mut self, c: &Cmd, out: &mut Output) -> Res {
        let target = c.argv[1..]
            .iter()
            .find(|a| !a.starts_with('-'))
            .cloned()
            .unwrap_or_else(|| "root".into());
        if target != "root" {
            return Res::err(format!("su: user {target} does not exist or the user entry does not contain all the required fields\n"), 1);
        }
        if self.uid == 0 {
            let mut o = Output::default();
            self.become_root(&["su".to_owned()], &mut o);
            return Res::default();
        }
        if !self.opts.interactive {
            return Res::err("su: must be run from a terminal\n".into(), 1);
        }
        out.password_prompt = Some("Password: ".into());
        self.pending = Some(Pending {
            prompt: "su",
            user: "root".into(),
            argv: vec!["-".into()],
            tries: 2,
        });
        Res::default()
    }

    fn download(&mut self, c: &Cmd, tool: &str, out: &mut Output) -> Res {
        let mut urls = Vec::new();
        let mut ofile: Option<String> = None;
        let mut skip = false;
        for (i, a) in c.argv.iter().enumerate().skip(1) {
            if skip {
                skip = false;
                continue;
            }
            let takes_arg: &[&str] = if tool == "curl" {
                &[
                    "-o",
                    "-H",
                    "-d",
                    "-A",
                    "-u",
                    "-X",
                    "-e",
                    "-x",
                    "-b",
                    "-c",
                    "-m",
                    "-F",
                    "-T",
                    "-w",
                    "-K",
                    "--output",
                    "--header",
                    "--data",
                    "--user-agent",
                    "--user",
                    "--request",
                    "--connect-timeout",
                    "--max-time",
                    "--data-binary",
                ]
            } else {
                &[
                    "-O",
                    "-o",
                    "-P",
                    "-U",
                    "-e",
                    "-t",
                    "-T",
                    "-a",
                    "--output-document",
                    "--user-agent",
                    "--header",
                    "--tries",
                    "--timeout",
                ]
            };
            if takes_arg.contains(&a.as_str()) {
                if matches!(a.as_str(), "-O" | "-o" | "--output" | "--output-document") {
                    ofile = c.argv.get(i + 1).cloned();
                }
                skip = true;
                continue;
            }
            if a.starts_with('-') {
                continue;
            }
            if a.len() <= 2048 && (a.contains("://") || a.contains('.') || a.contains('/')) {
                urls.push(a.clone());
            }
        }
        if urls.is_empty() {
            return match tool {
                "curl" => Res::err("curl: try 'curl --help' or 'curl --manual' for more information\n".into(), 2),
                _ => Res::err(format!("{tool}: missing URL\nUsage: {tool} [OPTION]... [URL]...\n\nTry `{tool} --help' for more options.\n"), 1),
            };
        }
        let mut res = Res::default();
        for u in urls.into_iter().take(16) {
            out.events.push(ShellEvent::Download {
                url: u.clone(),
                tool: tool.to_owned(),
            });
            let (scheme, rest) = match u.split_once("://") {
                Some((s, r)) => (s.to_ascii_lowercase(), r.to_owned()),
                None => ("http".to_owned(), u.clone()),
            };
            let hostport = rest.split('/').next().unwrap_or("");
            let host = hostport.rsplit('@').next().unwrap_or(hostport);
            let (h, port) = match host.rsplit_once(':') {
                Some((h, p)) if p.parse::<u16>().is_ok() => (h.to_owned(), p.to_owned()),
                _ => (
                    host.to_owned(),
                    if scheme == "https" {
                        "443".into()
                    } else {
                        "80".into()
                    },
                ),
            };
            let is_ip = h.parse::<std::net::Ipv4Addr>().is_ok();
            if tool == "curl" {
                if is_ip {
                    res.err.push_str(&format!("curl: (7) Failed to connect to {h} port {port} after {} ms: Couldn't connect to server\n", 3000 + self.vfs.host().salt % 100));
                    res.code = 7;
                } else {
                    res.err
                        .push_str(&format!("curl: (6) Could not resolve host: {h}\n"));
                    res.code = 6;
                }
            } else {
                let when = self.now().format("%Y-%m-%d %H:%M:%S");
                let shown = if u.contains("://") {
                    u.clone()
                } else {
                    format!("http://{u}")
                };
                if is_ip {
                    res.err.push_str(&format!("--{when}--  {shown}\nConnecting to {h}:{port}... failed: Connection timed out.\nRetrying.\n\n"));
                    res.code = 4;
                } else {
                    res.err.push_str(&format!("--{when}--  {shown}\nResolving {h} ({h})... failed: Temporary failure in name resolution.\nwget: unable to resolve host address ‘{h}’\n"));
                    res.code = 4;
                }
            }
        }
        let _ = ofile;
        res
    }

    fn head_tail(&self, c: &Cmd, head: bool) -> Res {
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
            match self.read_file(&files[0]) {
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

    fn grep(&self, c: &Cmd) -> Res {
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
            return Res::err("Usage: grep [OPTION]... PATTERNS [FILE]...\nTry 'grep --help' for more information.\n".into(), 2);
        };
        let text = if rest.len() > 1 {
            match self.read_file(&rest[1]) {
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

    fn wc(&self, c: &Cmd) -> Res {
        let flags: String = c.argv[1..]
            .iter()
            .filter(|a| a.starts_with('-'))
            .map(|a| a[1..].to_owned())
            .collect();
        let file = c.argv[1..].iter().find(|a| !a.starts_with('-'));
        let text = match file {
            Some(f) => match self.read_file(f) {
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

    fn input_of(&self, c: &Cmd, files: &[&String]) -> Result<String, Res> {
        match files.first() {
            Some(f) => self
                .read_file(f)
                .map_err(|e| Res::err(format!("{}: {f}: {e}\n", c.argv[0]), 2)),
            None => Ok(c.stdin.unwrap_or("").to_owned()),
        }
    }

    /// `awk [-F sep] '{print $1,$3}'` — the one-liner bots use; other
    /// programs pass the input through.
    fn awk(&self, c: &Cmd) -> Res {
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
        let text = match self.input_of(c, &rest[1..]) {
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

    /// `cut -d SEP -f LIST` and `cut -c RANGE`.
    fn cut(&self, c: &Cmd) -> Res {
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
        let text = match self.input_of(c, &files) {
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

    fn lscpu(&self) -> String {
        let h = self.vfs.host();
        format!(
            "Architecture:            x86_64\n  CPU op-mode(s):        32-bit, 64-bit\n  Address sizes:         46 bits physical, 48 bits virtual\n  Byte Order:            Little Endian\nCPU(s):                  {n}\n  On-line CPU(s) list:   0-{last}\nVendor ID:               {vendor}\n  Model name:            {model}\n    Thread(s) per core:  1\n    Core(s) per socket:  {n}\n    Socket(s):           1\nVirtualization features: \n  Hypervisor vendor:     KVM\n  Virtualization type:   full\n",
            n = h.cpus,
            last = h.cpus.saturating_sub(1),
            vendor = if h.cpu_model.starts_with("AMD") { "AuthenticAMD" } else { "GenuineIntel" },
            model = h.cpu_model
        )
    }
}

impl Res {
    fn with_code(mut self, code: i32) -> Res {
        self.code = code;
        self
    }
}

fn human_k(k: u64) -> String {
    let b = k * 1024;
    if b == 0 {
        return "0".into();
    }
    human(b)
}

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

fn apply_mode(old: u32, spec: &str) -> Option<u32> {
    if !spec.is_empty() && spec.len() <= 4 && spec.chars().all(|c| c.is_digit(8)) {
        return u32::from_str_radix(spec, 8).ok();
    }
    let mut mode = old;
    for clause in spec.split(',') {
        let op_pos = clause.find(['+', '-', '='])?;
        let (who, rest) = clause.split_at(op_pos);
        let op = rest.chars().next()?;
        let perms = &rest[1..];
        let mut mask = 0u32;
        let who = if who.is_empty() { "a" } else { who };
        for w in who.chars() {
            mask |= match w {
                'u' => 0o4700,
                'g' => 0o2070,
                'o' => 0o1007,
                'a' => 0o7777,
                _ => return None,
            };
        }
        let mut bits = 0u32;
        for p in perms.chars() {
            bits |= match p {
                'r' => 0o444,
                'w' => 0o222,
                'x' => 0o111,
                's' => 0o6000,
                't' => 0o1000,
                _ => return None,
            };
        }
        bits &= mask;
        match op {
            '+' => mode |= bits,
            '-' => mode &= !bits,
            _ => mode = (mode & !mask) | bits,
        }
    }
    Some(mode & 0o7777)
}

/// `ls` column layout for an 80-column terminal.
#[allow(clippy::needless_range_loop)]
fn columns(names: Vec<&str>, width: usize) -> String {
    if names.is_empty() {
        return String::new();
    }
    let n = names.len();
    for rows in 1..=n {
        let cols = n.div_ceil(rows);
        let mut widths = Vec::with_capacity(cols);
        for c in 0..cols {
            let w = (0..rows)
                .filter_map(|r| names.get(c * rows + r))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0);
            widths.push(w);
        }
        let total: usize = widths.iter().sum::<usize>() + 2 * (cols.saturating_sub(1));
        if total <= width || rows == n {
            let mut out = String::new();
            for r in 0..rows {
                let mut line = String::new();
                for c in 0..cols {
                    if let Some(s) = names.get(c * rows + r) {
                        if c + 1 < cols && names.get((c + 1) * rows + r).is_some() {
                            let _ = write!(line, "{:<w$}  ", s, w = widths[c]);
                        } else {
                            line.push_str(s);
                        }
                    }
                }
                out.push_str(line.trim_end());
                out.push('\n');
            }
            return out;
        }
    }
    String::new()
}
