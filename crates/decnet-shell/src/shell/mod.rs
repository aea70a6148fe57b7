//! The fake shell: one per login session, sharing the decky's [`Vfs`].
//!
//! `Shell::execute(line)` parses a line, runs the builtin emulations and
//! returns what a terminal would show plus the events worth recording.
//! Nothing here touches the host: every path resolves inside the VFS and
//! every write lands in the session's [`Overlay`].
//!
//! This module is the core (session state, prompt, password prompts,
//! pipelines, expansion, redirections, script execution); each command is
//! an item of [`crate::commands`], found by name in its registry.

mod overlay;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::commands::{self, Cmd, Res};
use crate::parse::{self, Connector, RedirKind, Seg, SimpleCommand, Word};
use crate::vfs::{Content, Kind, Node, Vfs};

pub use overlay::Overlay;

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

/// What readline sends once a line is accepted when it bracketed the
/// prompt ([`Shell::bracketed_paste`]): the mode off, back to column 0.
pub const BRACKETED_PASTE_OFF: &str = "\x1b[?2004l\r";

/// Default overlay quota per session.
pub const DEFAULT_OVERLAY_QUOTA: u64 = 1024 * 1024;
/// Largest output of one line kept (the rest is cut).
pub const MAX_OUTPUT: usize = 256 * 1024;
const MAX_HISTORY: usize = 500;
/// Most lines of one script or `-c` string run.
const MAX_SCRIPT_LINES: usize = 200;
/// Deepest nesting of scripts and `bash -c`.
pub(crate) const MAX_DEPTH: u8 = 4;

/// A `sudo`/`su` waiting for its password.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) prompt: &'static str,
    pub(crate) user: String,
    pub(crate) argv: Vec<String>,
    pub(crate) tries: u8,
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
    pub(crate) vfs: Arc<Vfs>,
    pub(crate) user: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) home: String,
    pub(crate) cwd: String,
    pub(crate) oldpwd: Option<String>,
    pub(crate) env: Vec<(String, String)>,
    overlay: Overlay,
    pub(crate) history: VecDeque<String>,
    pub(crate) status: i32,
    pub(crate) opts: ShellOptions,
    pub(crate) login: DateTime<Utc>,
    pub(crate) pending: Option<Pending>,
    pub(crate) sudo_ok: bool,
    pub(crate) su_stack: Vec<(String, u32, u32, String)>,
    /// What bash is running, innermost last: the login shell (`-bash`),
    /// a `bash -c` string (`bash`) or a script (its path), each with the
    /// line it is on (`None` for an interactive shell). Its messages start
    /// with this (`-bash: `, `bash: line 1: `) and `$0` is its name.
    pub(crate) origin: Vec<(String, Option<u32>)>,
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
        let login = opts.now.unwrap_or_else(|| vfs.now());
        // sshd runs a login shell on a terminal, `bash -c '<command>'` for
        // an exec request.
        let origin = if opts.interactive {
            ("-bash".to_owned(), None)
        } else {
            ("bash".to_owned(), Some(1))
        };
        Shell {
            origin: vec![origin],
            cwd: home.clone(),
            vfs,
            user: user.to_owned(),
            uid,
            gid,
            home,
            oldpwd: None,
            env: Vec::new(),
            overlay: Overlay::with_quota(opts.quota),
            history: VecDeque::new(),
            status: 0,
            opts,
            login,
            pending: None,
            sudo_ok: false,
            su_stack: Vec::new(),
        }
    }

    /// How bash starts the messages it prints itself: `-bash: ` in a login
    /// shell, `bash: line 3: ` in a `-c` string, `./x.sh: line 3: ` in a script.
    pub(crate) fn err_prefix(&self) -> String {
        match self.origin.last() {
            Some((name, Some(line))) => format!("{name}: line {line}: "),
            Some((name, None)) => format!("{name}: "),
            None => "-bash: ".into(),
        }
    }

    /// Runs `text` line by line as bash runs a `-c` string or a script
    /// named `name`: messages carry the line number, `$0` is `name`, and
    /// `exit` ends it (not the session unless this is the session itself).
    pub(crate) fn run_source(&mut self, name: &str, text: &str, out: &mut Output, depth: u8) {
        self.origin.push((name.to_owned(), Some(1)));
        for (i, line) in text.lines().take(MAX_SCRIPT_LINES).enumerate() {
            if let Some(top) = self.origin.last_mut() {
                top.1 = Some(i as u32 + 1);
            }
            self.run_line(line, out, depth);
            if out.exit_requested || out.password_prompt.is_some() {
                break;
            }
        }
        self.origin.pop();
    }

    /// The login shell's process id (`$$`, `ps`), fixed per decky.
    pub(crate) fn pid(&self) -> u32 {
        (self.vfs.host().salt % 30_000 + 1200) as u32
    }

    /// The session clock ([`ShellOptions::now`] in tests, else the
    /// decky's clock, which the lived-in story runs on too).
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.opts.now.unwrap_or_else(|| self.vfs.now())
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
        let dir = self.prompt_dir();
        let sigil = if self.uid == 0 { '#' } else { '$' };
        format!(
            "{}@{}:{}{} ",
            self.user,
            self.vfs.host().hostname,
            dir,
            sigil
        )
    }

    /// What bash sends before reading a line on a terminal named `term`
    /// (`TERM` of the PTY request): readline's bracketed-paste switch
    /// (on by default from bash 5.1, never on a `dumb` terminal), then
    /// PS1 as the account's dotfiles set it: base-files' root `.bashrc`
    /// leaves Debian's plain PS1, `/etc/skel/.bashrc` adds the xterm
    /// title (`xterm*`/`rxvt*`) and colours (`xterm-color`/`*-256color`).
    pub fn terminal_prompt(&self, term: &str) -> String {
        let mut s = String::new();
        if self.bracketed_paste(term) {
            s.push_str("\x1b[?2004h");
        }
        if self.uid == 0 {
            s.push_str(&self.prompt());
            return s;
        }
        let dir = self.prompt_dir();
        let host = &self.vfs.host().hostname;
        if term.starts_with("xterm") || term.starts_with("rxvt") {
            let _ = write!(s, "\x1b]0;{}@{host}: {dir}\x07", self.user);
        }
        if term == "xterm-color" || term.ends_with("-256color") {
            let _ = write!(
                s,
                "\x1b[01;32m{}@{host}\x1b[00m:\x1b[01;34m{dir}\x1b[00m$ ",
                self.user
            );
        } else {
            s.push_str(&self.prompt());
        }
        s
    }

    /// Whether readline brackets pastes on `term` (bash ≥ 5.1 and a
    /// terminal that is not `dumb`); after each accepted line it switches
    /// the mode off again ([`BRACKETED_PASTE_OFF`]).
    pub fn bracketed_paste(&self, term: &str) -> bool {
        let v = &self.vfs.host().bash_version;
        let mut it = v
            .split(|c: char| !c.is_ascii_digit())
            .map(|x| x.parse::<u32>().unwrap_or(0));
        let version = (it.next().unwrap_or(0), it.next().unwrap_or(0));
        version >= (5, 1) && !term.is_empty() && term != "dumb"
    }

    /// `\w` of PS1: the working directory with the home shown as `~`.
    fn prompt_dir(&self) -> String {
        if self.cwd == self.home {
            "~".to_owned()
        } else if let Some(rest) = self.cwd.strip_prefix(&format!("{}/", self.home)) {
            format!("~/{rest}")
        } else {
            self.cwd.clone()
        }
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
            // sshd writes this line itself, `\r\n` through the terminal's
            // ONLCR: what arrives ends `\r\r\n`.
            let _ = write!(
                s,
                "Last login: {} from {from}\r\n",
                t.format("%a %b %e %H:%M:%S %Y")
            );
        }
        s
    }

    /// The password a decky account accepts.
    pub(crate) fn account_password(&self, user: &str) -> Option<String> {
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

    /// After a right `sudo`/`su` password: runs `argv` as root, or (empty,
    /// or a shell) switches this session to root until `exit`.
    pub(crate) fn become_root(&mut self, argv: &[String], out: &mut Output) {
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
        if self.opts.interactive || self.origin.len() > 1 {
            self.run_line(trimmed, &mut out, 0);
        } else {
            // An exec request is `bash -c '<command>'`: numbered lines.
            self.origin.clear();
            self.run_source("bash", line, &mut out, 0);
            self.origin.push(("bash".into(), Some(1)));
        }
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

    /// Parses and runs one line: `;`, `&&`, `||` and pipelines.
    pub(crate) fn run_line(&mut self, line: &str, out: &mut Output, depth: u8) {
        let items = match parse::parse(line) {
            Ok(i) => i,
            Err(e) => {
                // bash names the -c string in its syntax errors.
                let prefix = match self.origin.last() {
                    Some((name, Some(n))) if name == "bash" => format!("bash: -c: line {n}: "),
                    _ => self.err_prefix(),
                };
                let _ = writeln!(out.stdout, "{prefix}{e}");
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

    /// A word with `~` and `$VAR` expanded.
    fn expand(&self, w: &Word) -> String {
        let mut s = String::new();
        for seg in &w.0 {
            match seg {
                Seg::Lit(l) => s.push_str(l),
                Seg::Tilde => s.push_str(&self.home),
                Seg::Var(v) => s.push_str(&self.var(v)),
                Seg::Arith(e) => match crate::arith::eval(e, &|name| self.var(name)) {
                    Some(n) => {
                        let _ = write!(s, "{n}");
                    }
                    None => {
                        let _ = write!(s, "$(({e}))");
                    }
                },
            }
        }
        s
    }

    /// A variable: set ones first, then what a Debian login shell has.
    fn var(&self, name: &str) -> String {
        if let Some((_, v)) = self.env.iter().rev().find(|(k, _)| k == name) {
            return v.clone();
        }
        match name {
            "?" => self.status.to_string(),
            "$" => self.pid().to_string(),
            "#" => "0".into(),
            "0" => self
                .origin
                .last()
                .map(|(name, _)| name.clone())
                .unwrap_or_else(|| "-bash".into()),
            "BASH_VERSION" => self.vfs.host().bash_version.clone(),
            "BASH" => "/usr/bin/bash".into(),
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

    /// The environment `env` and `export` list.
    pub(crate) fn env_list(&self) -> Vec<(String, String)> {
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

    /// Sets a variable (bounded: 256 variables, 4 KiB values).
    pub(crate) fn set_env(&mut self, k: &str, v: String) {
        if self.env.len() >= 256 || k.len() > 256 || v.len() > 4096 {
            return;
        }
        self.env.retain(|(n, _)| n != k);
        self.env.push((k.to_owned(), v));
    }

    /// Runs one pipeline stage: assignments alone set variables; otherwise
    /// expands the words, reads a `<` file, runs, and redirects the output.
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
                    Err(e) => return Res::err(format!("{}{p}: {e}\n", self.err_prefix()), 1),
                }
            }
        }
        let mut res = self.run_argv(&argv, stdin.as_deref(), out, depth);
        self.redirect_output(c, &mut res, out);
        res
    }

    /// Applies `>`, `>>`, `2>`, `2>>`, `&>` and `2>&1`, in order, to what a
    /// command produced; files are written to the session overlay.
    fn redirect_output(&mut self, c: &SimpleCommand, res: &mut Res, out: &mut Output) {
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
                        res.err
                            .push_str(&format!("{}{target}: {e}\n", self.err_prefix()));
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
                        res.err
                            .push_str(&format!("{}{target}: {e}\n", self.err_prefix()));
                    }
                }
            }
        }
    }

    /// Runs one command (already expanded): a path names a script or a
    /// known binary; a name is looked up in the command registry.
    pub(crate) fn run_argv(
        &mut self,
        argv: &[String],
        stdin: Option<&str>,
        out: &mut Output,
        depth: u8,
    ) -> Res {
        let Some(name0) = argv.first() else {
            return Res::default();
        };
        let name = name0.rsplit('/').next().unwrap_or(name0);
        // Absolute/relative paths to something that is not a known binary.
        if name0.contains('/') {
            let p = self.err_prefix();
            match self.stat(name0) {
                None => return Res::err(format!("{p}{name0}: No such file or directory\n"), 127),
                Some((_, n)) if n.is_dir() => {
                    return Res::err(format!("{p}{name0}: Is a directory\n"), 126)
                }
                Some((_, n)) if !self.can(&n, 1) => {
                    return Res::err(format!("{p}{name0}: Permission denied\n"), 126)
                }
                Some((_, n)) => {
                    if !matches!(n.kind, Kind::File(Content::Binary)) {
                        return self.run_script(name0, &n, out, depth);
                    }
                }
            }
        }
        let c = Cmd {
            argv,
            name,
            stdin,
            depth,
        };
        match commands::lookup(name) {
            Some(command) => command.run(self, &c, out),
            None => commands::not_emulated(self, &c),
        }
    }

    /// Runs the script file `name` in this session (at most
    /// [`MAX_SCRIPT_LINES`] lines, bounded nesting); `exit` in it ends the
    /// script, not the session.
    pub(crate) fn run_script(&mut self, name: &str, n: &Node, out: &mut Output, depth: u8) -> Res {
        if depth >= MAX_DEPTH {
            return Res::default();
        }
        let body = String::from_utf8_lossy(&self.content(n)).into_owned();
        let before = out.stdout.len();
        self.run_source(name, &body, out, depth + 1);
        out.exit_requested = false;
        let produced = out.stdout.split_off(before);
        Res {
            out: produced,
            err: String::new(),
            code: self.status,
        }
    }
}
