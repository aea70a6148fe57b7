//! The session's environment: `history`, `env`/`printenv`,
//! `export`/`declare`, `unset`, and command lookup (`which`, `command`,
//! `type`).

use super::{not_emulated, Cmd, Command, Res};
use crate::shell::{Output, Shell};

/// `history`: this session's lines, numbered.
pub(crate) struct History;

impl Command for History {
    fn names(&self) -> &'static [&'static str] {
        &["history"]
    }

    fn run(&self, sh: &mut Shell, _: &Cmd, _: &mut Output) -> Res {
        Res::ok(
            sh.history
                .iter()
                .enumerate()
                .map(|(i, h)| format!("{:>5}  {h}\n", i + 1))
                .collect(),
        )
    }
}

/// `env`/`printenv` without arguments list the environment; with
/// arguments they are the installed programs they are.
pub(crate) struct Env;

impl Command for Env {
    fn names(&self) -> &'static [&'static str] {
        &["env", "printenv"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        if c.argv.len() != 1 {
            return not_emulated(sh, c);
        }
        Res::ok(
            sh.env_list()
                .into_iter()
                .map(|(k, v)| format!("{k}={v}\n"))
                .collect(),
        )
    }
}

/// `export [NAME=VALUE...]`: sets, or lists as `declare -x`.
pub(crate) struct Export;

impl Command for Export {
    fn names(&self) -> &'static [&'static str] {
        &["export", "declare"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        export(sh, c)
    }
}

/// `unset NAME...`.
pub(crate) struct Unset;

impl Command for Unset {
    fn names(&self) -> &'static [&'static str] {
        &["unset"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        for a in &c.argv[1..] {
            sh.env.retain(|(k, _)| k != a);
        }
        Res::default()
    }
}

/// `which`/`command -v` print the path; `type` also knows the builtins.
pub(crate) struct Which;

impl Command for Which {
    fn names(&self) -> &'static [&'static str] {
        &["which", "command", "type"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        which(sh, c)
    }
}

fn export(sh: &mut Shell, c: &Cmd) -> Res {
    let args: Vec<&String> = c.argv[1..].iter().filter(|a| !a.starts_with('-')).collect();
    if args.is_empty() {
        return Res::ok(
            sh.env_list()
                .into_iter()
                .filter(|(k, _)| k != "_")
                .map(|(k, v)| format!("declare -x {k}=\"{v}\"\n"))
                .collect(),
        );
    }
    for a in args {
        if let Some((k, v)) = a.split_once('=') {
            if !k.is_empty() && k.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
                sh.set_env(k, v.to_owned());
            } else {
                return Res::err(
                    format!("{}export: `{a}': not a valid identifier\n", sh.err_prefix()),
                    1,
                );
            }
        }
    }
    Res::default()
}

fn which(sh: &Shell, c: &Cmd) -> Res {
    let mut res = Res::default();
    let builtins = [
        "cd", "echo", "pwd", "export", "history", "exit", "logout", "type", "alias",
    ];
    let is_type = c.argv[0] == "type";
    for a in c.argv[1..].iter().filter(|a| !a.starts_with('-')) {
        let path = sh.installed(a);
        match (is_type, builtins.contains(&a.as_str()), path) {
            (true, true, _) => res.out.push_str(&format!("{a} is a shell builtin\n")),
            (true, false, Some(p)) => res.out.push_str(&format!("{a} is {p}\n")),
            (true, false, None) => {
                res.err
                    .push_str(&format!("{}type: {a}: not found\n", sh.err_prefix()));
                res.code = 1;
            }
            (false, _, Some(p)) => res.out.push_str(&format!("{p}\n")),
            (false, _, None) => res.code = 1,
        }
    }
    res
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::{root, run};

    #[test]
    fn history_numbers_this_sessions_lines() {
        let mut sh = root();
        sh.execute("echo a");
        assert_eq!(run(&mut sh, "history"), "    1  echo a\n    2  history\n");
    }

    #[test]
    fn env_lists_the_login_environment() {
        let mut sh = root();
        sh.execute("export FOO=bar");
        let out = run(&mut sh, "env");
        assert!(
            out.starts_with("SHELL=/bin/bash\nPWD=/root\nLOGNAME=root\nHOME=/root\n"),
            "{out}"
        );
        assert!(out.contains("SSH_CLIENT=203.0.113.9 52814 22\n"));
        assert!(out.ends_with("FOO=bar\n_=/usr/bin/env\n"), "{out}");
        assert_eq!(run(&mut sh, "printenv"), out);
        // With arguments, env is the installed program.
        assert_eq!(sh.execute("env -i x").exit_code, 0);
    }

    #[test]
    fn export_sets_and_lists_variables() {
        let mut sh = root();
        assert_eq!(run(&mut sh, "export FOO=bar; echo $FOO"), "bar\n");
        assert!(run(&mut sh, "export").contains("declare -x FOO=\"bar\"\n"));
        assert!(run(&mut sh, "declare").contains("declare -x HOME=\"/root\"\n"));
        let out = sh.execute("export a-b=2");
        assert_eq!(
            out.stdout,
            "-bash: export: `a-b=2': not a valid identifier\n"
        );
        assert_eq!(out.exit_code, 1);
    }

    #[test]
    fn unset_removes_variables() {
        let mut sh = root();
        assert_eq!(run(&mut sh, "export A=1; unset A; echo \"[$A]\""), "[]\n");
    }

    #[test]
    fn which_and_type_find_programs_and_builtins() {
        let mut sh = root();
        assert_eq!(
            run(&mut sh, "which ls useradd nope"),
            "/usr/bin/ls\n/usr/sbin/useradd\n"
        );
        assert_eq!(sh.execute("which nope").exit_code, 1);
        assert_eq!(run(&mut sh, "command -v wget"), "/usr/bin/wget\n");
        assert_eq!(
            run(&mut sh, "type cd ls"),
            "cd is a shell builtin\nls is /usr/bin/ls\n"
        );
        assert_eq!(run(&mut sh, "type nope"), "-bash: type: nope: not found\n");
    }
}
