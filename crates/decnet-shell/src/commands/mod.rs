//! The commands the fake shell emulates: one unit struct per command,
//! implementing [`Command`], listed once in [`COMMANDS`].
//!
//! Adding a command: write the struct and its `impl Command` in the file of
//! its family, add it to [`COMMANDS`], and add its test beside it (a
//! `#[test]` in that file's `tests` module driving it through a [`Shell`]).
//! Nothing else changes: the shell core finds it by name.
//!
//! Families: [`fs`] (reading and moving around), [`fs_write`] (changing the
//! session overlay), [`text`] (filters), [`sys`] (host facts), [`net`]
//! (interfaces, sockets, downloads), [`users`] (identity, sudo/su, exit),
//! [`proc`] (processes, sub-shells, scripts), [`env`] (variables, history,
//! command lookup), [`builtins`] (bash builtins and small utilities
//! scripts probe with), [`misc`] (no-ops and refusals).

mod builtins;
mod env;
mod format;
mod fs;
mod fs_write;
mod misc;
mod net;
mod proc;
mod sys;
mod text;
mod users;

use crate::shell::{Output, Shell};

/// One command invocation, after expansion.
pub(crate) struct Cmd<'a> {
    /// Words as typed and expanded; `argv[0]` may be a path.
    pub(crate) argv: &'a [String],
    /// The name it was found by (`argv[0]`'s last path component).
    pub(crate) name: &'a str,
    /// Standard input: the previous pipeline stage or a `<` redirection.
    pub(crate) stdin: Option<&'a str>,
    /// Nesting of scripts and sub-shells this runs in.
    pub(crate) depth: u8,
}

/// What one command produced.
#[derive(Default)]
pub(crate) struct Res {
    /// Standard output.
    pub(crate) out: String,
    /// Standard error.
    pub(crate) err: String,
    /// Exit status.
    pub(crate) code: i32,
}

impl Res {
    pub(crate) fn ok(out: String) -> Res {
        Res {
            out,
            ..Res::default()
        }
    }

    pub(crate) fn err(err: String, code: i32) -> Res {
        Res {
            err,
            code,
            ..Res::default()
        }
    }

    pub(crate) fn with_code(mut self, code: i32) -> Res {
        self.code = code;
        self
    }
}

/// An emulated command.
pub(crate) trait Command: Sync {
    /// The names it answers to (`ls`, `dir`).
    fn names(&self) -> &'static [&'static str];

    /// Runs it in `sh`. Events (downloads, file writes) and session effects
    /// (exit, password prompts) go into `out`; the text goes into the result.
    fn run(&self, sh: &mut Shell, c: &Cmd, out: &mut Output) -> Res;
}

/// Every emulated command.
pub(crate) static COMMANDS: &[&dyn Command] = &[
    // fs
    &fs::Pwd,
    &fs::Cd,
    &fs::Ls,
    &fs::Ll,
    &fs::Cat,
    // fs_write
    &fs_write::Touch,
    &fs_write::Mkdir,
    &fs_write::Rm,
    &fs_write::Cp,
    &fs_write::Mv,
    &fs_write::Chmod,
    // text
    &text::Echo,
    &text::Head,
    &text::Tail,
    &text::Grep,
    &text::Wc,
    &text::Awk,
    &text::Cut,
    &text::PassThrough,
    // sys
    &sys::Uname,
    &sys::Hostname,
    &sys::Uptime,
    &sys::Free,
    &sys::Df,
    &sys::Lscpu,
    &sys::Nproc,
    &sys::Date,
    &sys::Clear,
    // net
    &net::Ifconfig,
    &net::Ip,
    &net::Netstat,
    &net::Download,
    &net::Ssh,
    // users
    &users::Whoami,
    &users::Id,
    &users::W,
    &users::Who,
    &users::Last,
    &users::Sudo,
    &users::Su,
    &users::Passwd,
    &users::Exit,
    // proc
    &proc::Ps,
    &proc::SubShell,
    &proc::Source,
    &proc::Nohup,
    // env
    &env::History,
    &env::Env,
    &env::Export,
    &env::Unset,
    &env::Which,
    // builtins
    &builtins::Printf,
    &builtins::Test,
    &builtins::Umask,
    &builtins::Ulimit,
    &builtins::Tty,
    &builtins::Getconf,
    &builtins::Groups,
    // misc
    &misc::Crontab,
    &misc::RootOnly,
    &misc::NoOp,
    &misc::False,
    &misc::FullScreen,
];

/// The command answering to `name`.
pub(crate) fn lookup(name: &str) -> Option<&'static dyn Command> {
    COMMANDS.iter().copied().find(|c| c.names().contains(&name))
}

/// What a name without an emulation does: a program the decky has
/// installed succeeds quietly, passing stdin through; anything else is
/// `command not found`.
pub(crate) fn not_emulated(sh: &Shell, c: &Cmd) -> Res {
    if sh.installed(c.name).is_some() {
        Res::ok(c.stdin.unwrap_or("").to_owned())
    } else {
        Res::err(
            format!("{}{}: command not found\n", sh.err_prefix(), c.argv[0]),
            127,
        )
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! A generated Debian decky and shells on it, for the commands' tests.

    use std::sync::Arc;

    use chrono::{DateTime, TimeZone, Utc};
    use decnet_core::{DeckySeed, Persona};

    use crate::shell::{Shell, ShellOptions};
    use crate::vfs::{HostAddrs, Vfs};

    /// 2026-11-23 10:00:00 UTC, every test's "now".
    pub(crate) fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
    }

    /// Decky `web01` (Debian, 10.0.0.5) accepting root/toor and ubuntu/s3cret.
    pub(crate) fn vfs() -> Arc<Vfs> {
        vfs_of("debian")
    }

    /// `web01` on another distro (`ubuntu22`: one that ships sudo).
    pub(crate) fn vfs_of(distro: &str) -> Arc<Vfs> {
        vfs_at(
            distro,
            HostAddrs::from(std::net::Ipv4Addr::new(10, 0, 0, 5)),
        )
    }

    /// `web01` on `distro` with the addresses `addrs`.
    pub(crate) fn vfs_at(distro: &str, addrs: HostAddrs) -> Arc<Vfs> {
        let seed = DeckySeed::new("web01", 0);
        let p = Persona::generate(&seed, Some(distro), &[], "linux", now());
        Arc::new(crate::generate_on(
            &p,
            &seed,
            addrs,
            &[
                ("root".into(), "toor".into()),
                ("ubuntu".into(), "s3cret".into()),
            ],
        ))
    }

    fn options(interactive: bool) -> ShellOptions {
        ShellOptions {
            remote: "203.0.113.9".into(),
            now: Some(now()),
            interactive,
            ..ShellOptions::default()
        }
    }

    /// A lived-in `web01` on a clock stopped at [`now`] (advance it to
    /// make time pass).
    pub(crate) fn lived() -> (Arc<decnet_core::clock::ManualClock>, Arc<Vfs>) {
        let clock = Arc::new(decnet_core::clock::ManualClock::new(now()));
        let seed = DeckySeed::new("web01", 0);
        let p = Persona::generate(&seed, Some("debian"), &[], "linux", now());
        let vfs = crate::generate(
            &p,
            &seed,
            "10.0.0.5".parse().unwrap(),
            &[
                ("root".into(), "toor".into()),
                ("ubuntu".into(), "s3cret".into()),
            ],
        )
        .with_clock(clock.clone());
        crate::lived::start(
            &vfs,
            &crate::lived::LifeSpec {
                persona: &p,
                seed: &seed,
                archetype: Some("web-server"),
                services: &[],
                writer: None,
            },
        );
        (clock, Arc::new(vfs))
    }

    /// An interactive session of `user` from 203.0.113.9 on a lived-in
    /// decky, reading the decky's own clock.
    pub(crate) fn lived_shell(vfs: &Arc<Vfs>, user: &str) -> Shell {
        Shell::new(
            vfs.clone(),
            user,
            ShellOptions {
                remote: "203.0.113.9".into(),
                interactive: true,
                ..ShellOptions::default()
            },
        )
    }

    /// An interactive root session from 203.0.113.9.
    pub(crate) fn root() -> Shell {
        Shell::new(vfs(), "root", options(true))
    }

    /// An interactive root session on `web01` running `distro`.
    pub(crate) fn root_on(distro: &str) -> Shell {
        Shell::new(vfs_of(distro), "root", options(true))
    }

    /// An interactive root session on a `distro` `web01` with `addrs`, from
    /// `remote`.
    pub(crate) fn root_at(distro: &str, addrs: HostAddrs, remote: &str) -> Shell {
        let opts = ShellOptions {
            remote: remote.into(),
            ..options(true)
        };
        Shell::new(vfs_at(distro, addrs), "root", opts)
    }

    /// An interactive session of the unprivileged `ubuntu`.
    pub(crate) fn user() -> Shell {
        Shell::new(vfs(), "ubuntu", options(true))
    }

    /// A non-interactive (`ssh host cmd`) session of `ubuntu`.
    pub(crate) fn exec() -> Shell {
        Shell::new(vfs(), "ubuntu", options(false))
    }

    /// A session of `user` on `distro`'s `web01`.
    pub(crate) fn on(distro: &str, user: &str, interactive: bool) -> Shell {
        Shell::new(vfs_of(distro), user, options(interactive))
    }

    /// Output text of `line`.
    pub(crate) fn run(sh: &mut Shell, line: &str) -> String {
        sh.execute(line).stdout
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{root, run};
    use super::*;

    #[test]
    fn every_name_is_registered_once() {
        let mut seen = std::collections::HashSet::new();
        for c in COMMANDS {
            for n in c.names() {
                assert!(seen.insert(*n), "{n} registered twice");
            }
        }
    }

    #[test]
    fn lookup_finds_each_name_and_nothing_else() {
        for c in COMMANDS {
            for n in c.names() {
                assert!(lookup(n).is_some(), "{n}");
            }
        }
        assert!(lookup("nope").is_none());
    }

    #[test]
    fn installed_programs_pass_stdin_through_and_others_are_not_found() {
        let mut sh = root();
        assert_eq!(run(&mut sh, "echo data | tar xzf -"), "data\n");
        let out = sh.execute("/usr/bin/perl -e 1");
        assert_eq!((out.stdout.as_str(), out.exit_code), ("", 0));
        let out = sh.execute("frobnicate --all");
        assert_eq!(out.stdout, "-bash: frobnicate: command not found\n");
        assert_eq!(out.exit_code, 127);
    }

    #[test]
    fn paths_are_checked_before_names() {
        let mut sh = root();
        let out = sh.execute("/opt/tool");
        assert_eq!(out.stdout, "-bash: /opt/tool: No such file or directory\n");
        assert_eq!(out.exit_code, 127);
        let out = sh.execute("/etc");
        assert_eq!(out.stdout, "-bash: /etc: Is a directory\n");
        assert_eq!(out.exit_code, 126);
        assert_eq!(run(&mut sh, "/usr/bin/whoami"), "root\n");
    }
}
