//! Commands bots run for their side effects, which the decky accepts
//! without doing anything (`kill`, `sleep`, `alias`…), refuses to a
//! non-root user (`systemctl`, `iptables`…), or cannot run without a
//! terminal (`top`, `vi`…).

use super::{not_emulated, Cmd, Command, Res};
use crate::shell::{Output, Shell};

/// `crontab -l` finds none; anything else is accepted.
pub(crate) struct Crontab;

impl Command for Crontab {
    fn names(&self) -> &'static [&'static str] {
        &["crontab"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        if c.argv.iter().any(|x| x == "-l") {
            return Res::err(format!("no crontab for {}\n", sh.user), 1);
        }
        Res::default()
    }
}

/// Administration commands: accepted from root, refused to anyone else.
pub(crate) struct RootOnly;

impl Command for RootOnly {
    fn names(&self) -> &'static [&'static str] {
        &[
            "chown",
            "chattr",
            "iptables",
            "setenforce",
            "ufw",
            "systemctl",
            "service",
        ]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        if sh.uid != 0 {
            return Res::err(format!("{}: Operation not permitted\n", c.argv[0]), 1);
        }
        Res::default()
    }
}

/// Succeed silently.
pub(crate) struct NoOp;

impl Command for NoOp {
    fn names(&self) -> &'static [&'static str] {
        &[
            "sync", "sleep", "chpasswd", "kill", "pkill", "killall", "set", "alias", "true", ":",
            "disown",
        ]
    }

    fn run(&self, _: &mut Shell, _: &Cmd, _: &mut Output) -> Res {
        Res::default()
    }
}

/// `false`.
pub(crate) struct False;

impl Command for False {
    fn names(&self) -> &'static [&'static str] {
        &["false"]
    }

    fn run(&self, _: &mut Shell, _: &Cmd, _: &mut Output) -> Res {
        Res::err(String::new(), 1)
    }
}

/// Full-screen programs: without a terminal they fail to open it; on one
/// they are whatever is installed.
pub(crate) struct FullScreen;

impl Command for FullScreen {
    fn names(&self) -> &'static [&'static str] {
        &["top", "htop", "vi", "vim", "nano"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        if !sh.opts.interactive {
            return Res::err(format!("{}: failed to open terminal\n", c.name), 1);
        }
        not_emulated(sh, c)
    }
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::{exec, root, run, user};

    #[test]
    fn crontab_has_no_entries() {
        let mut sh = user();
        let out = sh.execute("crontab -l");
        assert_eq!(out.stdout, "no crontab for ubuntu\n");
        assert_eq!(out.exit_code, 1);
        assert_eq!(sh.execute("crontab -e").exit_code, 0);
    }

    #[test]
    fn administration_is_refused_to_non_root() {
        let mut sh = user();
        for cmd in [
            "systemctl stop ssh",
            "service ssh stop",
            "iptables -F",
            "chown root x",
        ] {
            let out = sh.execute(cmd);
            let name = cmd.split(' ').next().unwrap();
            assert_eq!(out.stdout, format!("{name}: Operation not permitted\n"));
            assert_eq!(out.exit_code, 1);
        }
        let out = root().execute("ufw disable; setenforce 0; chattr +i /etc/passwd");
        assert_eq!((out.stdout.as_str(), out.exit_code), ("", 0));
    }

    #[test]
    fn no_ops_succeed_silently() {
        let out = user().execute("kill -9 1; pkill x; killall y; sleep 5; sync; set -e; alias x=y; disown; chpasswd; :; true");
        assert_eq!((out.stdout.as_str(), out.exit_code), ("", 0));
    }

    #[test]
    fn false_fails_silently() {
        let out = root().execute("false");
        assert_eq!((out.stdout.as_str(), out.exit_code), ("", 1));
    }

    #[test]
    fn full_screen_programs_need_a_terminal() {
        let out = exec().execute("top");
        assert_eq!(out.stdout, "top: failed to open terminal\n");
        assert_eq!(out.exit_code, 1);
        let mut sh = root();
        // On a terminal: installed ones run (and return), others are missing.
        assert_eq!(sh.execute("vi /etc/passwd").exit_code, 0);
        assert_eq!(run(&mut sh, "htop"), "-bash: htop: command not found\n");
    }
}
