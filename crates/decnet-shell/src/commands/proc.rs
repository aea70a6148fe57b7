//! Processes and what runs them: `ps`, `bash`/`sh`/`dash` (`-c`, a script
//! file, or stdin), `source`/`.`, and `nohup`. Scripts run in this same
//! fake shell, nested at most [`MAX_DEPTH`] deep.

use std::fmt::Write as _;

use super::{Cmd, Command, Res};
use crate::shell::{Output, Shell, MAX_DEPTH};

/// `ps` (this terminal) and `ps aux`/`-ef` (a plausible systemd host).
pub(crate) struct Ps;

impl Command for Ps {
    fn names(&self) -> &'static [&'static str] {
        &["ps"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        ps(sh, c)
    }
}

/// `bash -c CMD`, `bash FILE`, `… | bash`.
pub(crate) struct SubShell;

impl Command for SubShell {
    fn names(&self) -> &'static [&'static str] {
        &["bash", "sh", "dash"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, out: &mut Output) -> Res {
        sub_shell(sh, c, out)
    }
}

/// `source FILE`/`. FILE`: runs it in this session.
pub(crate) struct Source;

impl Command for Source {
    fn names(&self) -> &'static [&'static str] {
        &["source", "."]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, out: &mut Output) -> Res {
        let a = c.argv;
        if a.len() < 2 {
            return Res::default();
        }
        match sh.stat(&a[1]) {
            Some((_, n)) if !n.is_dir() => sh.run_script(&a[1], &n, out, c.depth),
            _ => Res::err(
                format!("{}{}: No such file or directory\n", sh.err_prefix(), a[1]),
                1,
            ),
        }
    }
}

/// `nohup CMD`: runs CMD.
pub(crate) struct Nohup;

impl Command for Nohup {
    fn names(&self) -> &'static [&'static str] {
        &["nohup"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, out: &mut Output) -> Res {
        if c.argv.len() > 1 {
            sh.run_argv(&c.argv[1..], c.stdin, out, c.depth + 1)
        } else {
            Res::default()
        }
    }
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

fn procs(sh: &Shell) -> Vec<Proc> {
    // user, pid, cpu, mem, vsz, rss, tty, stat, command
    let d = sh.vfs.host().daemon_pids();
    vec![
        ("root", 1, 0.0, 0.1, 167_740, 13_120, "?", "Ss", "/sbin/init".into()),
        ("root", 2, 0.0, 0.0, 0, 0, "?", "S", "[kthreadd]".into()),
        ("root", 3, 0.0, 0.0, 0, 0, "?", "I<", "[rcu_gp]".into()),
        ("root", 12, 0.0, 0.0, 0, 0, "?", "S", "[ksoftirqd/0]".into()),
        ("root", d[0], 0.0, 0.2, 48_232, 16_204, "?", "Ss", "/lib/systemd/systemd-journald".into()),
        ("root", d[1], 0.0, 0.0, 25_404, 6_112, "?", "Ss", "/lib/systemd/systemd-udevd".into()),
        ("message+", d[2], 0.0, 0.0, 9_104, 4_940, "?", "Ss", "/usr/bin/dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation --syslog-only".into()),
        ("root", d[3], 0.0, 0.0, 222_220, 5_680, "?", "Ssl", "/usr/sbin/rsyslogd -n -iNONE".into()),
        ("root", d[4], 0.0, 0.0, 6_612, 2_732, "?", "Ss", "/usr/sbin/cron -f".into()),
        ("root", d[5], 0.0, 0.0, 15_432, 9_024, "?", "Ss", "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups".into()),
        ("root", d[6], 0.0, 0.0, 5_872, 1_020, "tty1", "Ss+", "/sbin/agetty -o -p -- \\u --noclear - linux".into()),
    ]
}

/// `ps -p PID… -o FORMAT`: chosen columns of this session's processes.
/// An exec request is `bash -c` running one command, which bash execs in
/// place: there `$$` is `ps` itself and no bash is left (hence the
/// classic `ps -p $$ -o comm=` answering `ps` over SSH exec).
fn ps_selected(sh: &Shell, c: &Cmd) -> Res {
    let args = c.argv.join(" ");
    let tty = if sh.opts.interactive {
        sh.opts.tty.as_str()
    } else {
        "?"
    };
    let own: Vec<(u32, &str, &str)> = if sh.opts.interactive {
        vec![(sh.pid(), "bash", "-bash"), (sh.pid() + 41, "ps", &args)]
    } else {
        vec![(sh.pid(), "ps", &args)]
    };
    let mut pids: Option<Vec<u32>> = None;
    let mut format: Vec<String> = Vec::new();
    let mut it = c.argv[1..].iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-p" | "--pid" => {
                let list = it.next().map(String::as_str).unwrap_or("");
                pids.get_or_insert_with(Vec::new).extend(
                    list.split([',', ' '])
                        .filter_map(|p| p.trim().parse::<u32>().ok()),
                );
            }
            "-o" | "--format" => format.extend(
                it.next()
                    .into_iter()
                    .flat_map(|f| f.split(',').map(str::to_owned)),
            ),
            _ => {}
        }
    }
    if format.is_empty() {
        format = ["pid", "tty", "time", "cmd"].map(str::to_owned).to_vec();
    }
    let rows: Vec<_> = own
        .into_iter()
        .filter(|(pid, ..)| pids.as_ref().is_none_or(|want| want.contains(pid)))
        .collect();
    let columns: Vec<(&str, Option<&str>)> = format
        .iter()
        .map(|f| match f.split_once('=') {
            Some((name, label)) => (name, Some(label)),
            None => (f.as_str(), None),
        })
        .collect();
    let cell = |name: &str, row: &(u32, &str, &str)| -> String {
        match name {
            "pid" => format!("{:>7}", row.0),
            "comm" | "ucomm" => row.1.to_owned(),
            "args" | "cmd" | "command" => row.2.to_owned(),
            "tty" | "tt" => format!("{tty:<8}"),
            "time" => "00:00:00".to_owned(),
            "user" => sh.user.chars().take(8).collect(),
            _ => String::new(),
        }
    };
    let header = |name: &str| -> String {
        match name {
            "pid" => format!("{:>7}", "PID"),
            "comm" | "ucomm" | "args" | "cmd" | "command" => "COMMAND".to_owned(),
            "tty" | "tt" => format!("{:<8}", "TT"),
            "time" => format!("{:>8}", "TIME"),
            other => other.to_ascii_uppercase(),
        }
    };
    let mut out = String::new();
    if columns
        .iter()
        .any(|(_, label)| label.is_none_or(|l| !l.is_empty()))
    {
        let heads: Vec<String> = columns
            .iter()
            .map(|(n, label)| label.map(str::to_owned).unwrap_or_else(|| header(n)))
            .collect();
        let _ = writeln!(out, "{}", heads.join(" ").trim_end());
    }
    for row in &rows {
        let cells: Vec<String> = columns.iter().map(|(n, _)| cell(n, row)).collect();
        let _ = writeln!(out, "{}", cells.join(" ").trim_end());
    }
    Res::ok(out).with_code(if rows.is_empty() { 1 } else { 0 })
}

fn ps(sh: &Shell, c: &Cmd) -> Res {
    if c.argv
        .iter()
        .any(|a| a == "-o" || a == "-p" || a == "--pid" || a == "--format")
    {
        return ps_selected(sh, c);
    }
    let bash_pid = sh.pid();
    let full = c.argv.len() > 1
        && c.argv[1..]
            .iter()
            .any(|a| a.contains('a') || a.contains('e') || a.contains('x'));
    if !full {
        return Res::ok(format!(
            "    PID TTY          TIME CMD\n{bash_pid:>7} {:<8} 00:00:00 bash\n{:>7} {:<8} 00:00:00 ps\n",
            sh.opts.tty,
            bash_pid + 41,
            sh.opts.tty
        ));
    }
    let start = sh.vfs.host().boot_time.format("%b%d").to_string();
    let mut out = String::from(
        "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n",
    );
    let mut rows = procs(sh);
    let login = sh.login.format("%H:%M").to_string();
    let uname = if sh.uid == 0 {
        "root".to_owned()
    } else {
        sh.user.chars().take(8).collect()
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
        format!("sshd: {} [priv]", sh.user),
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
    let _ = writeln!(
        out,
        "{:<8} {:>7}  0.0  0.0   8600  5300 {:<8} Ss   {:>5}   0:00 -bash",
        uname, bash_pid, sh.opts.tty, login
    );
    let _ = writeln!(
        out,
        "{:<8} {:>7}  0.0  0.0  11084  4460 {:<8} R+   {:>5}   0:00 {}",
        uname,
        bash_pid + 41,
        sh.opts.tty,
        login,
        c.argv.join(" ")
    );
    Res::ok(out)
}

fn sub_shell(sh: &mut Shell, c: &Cmd, out: &mut Output) -> Res {
    let depth = c.depth;
    let a = c.argv;
    if depth >= MAX_DEPTH {
        return Res::default();
    }
    if let Some(i) = a.iter().position(|x| x == "-c") {
        let Some(script) = a.get(i + 1) else {
            return Res::err(format!("{}: -c: option requires an argument\n", a[0]), 2);
        };
        let before = out.stdout.len();
        sh.run_source("bash", script, out, depth + 1);
        let produced = out.stdout.split_off(before);
        out.exit_requested = false;
        return Res {
            out: produced,
            code: sh.status,
            ..Res::default()
        };
    }
    if let Some(f) = a.get(1) {
        return match sh.stat(f) {
            Some((_, n)) if !n.is_dir() => sh.run_script(f, &n, out, c.depth),
            _ => Res::err(format!("{}: {f}: No such file or directory\n", a[0]), 127),
        };
    }
    if let Some(input) = c.stdin {
        let before = out.stdout.len();
        for line in input.lines().take(200) {
            sh.run_line(line, out, depth + 1);
        }
        let produced = out.stdout.split_off(before);
        return Res::ok(produced).with_code(sh.status);
    }
    Res::default()
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::{exec, root, run, user};

    #[test]
    fn ps_shows_this_terminal_or_the_whole_host() {
        let mut sh = user();
        let pid: u32 = run(&mut sh, "echo $$").trim().parse().unwrap();
        assert_eq!(
            run(&mut sh, "ps"),
            format!(
                "    PID TTY          TIME CMD\n{pid:>7} pts/0    00:00:00 bash\n{:>7} pts/0    00:00:00 ps\n",
                pid + 41
            )
        );
        let all = run(&mut sh, "ps aux");
        let lines: Vec<&str> = all.lines().collect();
        assert_eq!(
            lines[0],
            "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND"
        );
        assert!(lines[1].starts_with("root           1 ") && lines[1].ends_with(" /sbin/init"));
        assert!(lines.iter().any(|l| l.ends_with("sshd: ubuntu [priv]")));
        assert!(
            lines[lines.len() - 1].ends_with(" R+   10:00   0:00 ps aux"),
            "{all}"
        );
    }

    #[test]
    fn ps_selects_processes_and_columns() {
        // Over exec, bash has exec'd the one command: `$$` is ps.
        let mut sh = exec();
        assert_eq!(run(&mut sh, "ps -p $$ -o comm="), "ps\n");
        let mut sh = user();
        assert_eq!(run(&mut sh, "ps -p $$ -o comm="), "bash\n");
        let pid = run(&mut sh, "echo $$");
        assert_eq!(
            run(&mut sh, "ps -o pid,comm -p $$"),
            format!("    PID COMMAND\n{:>7} bash\n", pid.trim())
        );
        let out = sh.execute("ps -p 1 -o comm=");
        assert_eq!((out.stdout.as_str(), out.exit_code), ("", 1));
    }

    #[test]
    fn sub_shells_run_commands_scripts_and_stdin() {
        let out = exec().execute("bash -c 'echo a; exit 3'");
        assert_eq!(out.stdout, "a\n");
        assert_eq!(out.exit_code, 3);
        assert!(!out.exit_requested);
        let mut sh = root();
        assert_eq!(run(&mut sh, "echo 'echo piped' | sh"), "piped\n");
        sh.execute("echo whoami > /tmp/s");
        assert_eq!(run(&mut sh, "dash /tmp/s"), "root\n");
        let out = sh.execute("sh /nope");
        assert_eq!(out.stdout, "sh: /nope: No such file or directory\n");
        assert_eq!(out.exit_code, 127);
        assert_eq!(
            run(&mut sh, "bash -c"),
            "bash: -c: option requires an argument\n"
        );
        // Nesting is bounded: a script running itself stops.
        sh.execute("echo 'echo x; sh /tmp/loop' > /tmp/loop");
        assert_eq!(run(&mut sh, "sh /tmp/loop"), "x\nx\nx\nx\n");
    }

    #[test]
    fn source_runs_a_file_in_this_session() {
        let mut sh = root();
        sh.execute("echo 'export Z=1; cd /tmp' > /tmp/env.sh");
        assert_eq!(run(&mut sh, ". /tmp/env.sh; echo $Z; pwd"), "1\n/tmp\n");
        let out = sh.execute("source /nope");
        assert_eq!(out.stdout, "-bash: /nope: No such file or directory\n");
        assert_eq!(out.exit_code, 1);
    }

    #[test]
    fn nohup_runs_its_command() {
        let mut sh = root();
        assert_eq!(run(&mut sh, "nohup echo hi"), "hi\n");
        assert_eq!(run(&mut sh, "nohup"), "");
    }
}
