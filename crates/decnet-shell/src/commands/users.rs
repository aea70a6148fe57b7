//! Who the session is and who it can become: `whoami`, `id`, `w`, `who`,
//! `last`, `sudo`, `su`, `passwd`, `exit`/`logout`. Passwords typed at `sudo`/`su`
//! prompts are checked against the decky's accounts and recorded.

use super::sys::uptime_line;
use super::{Cmd, Command, Res};
use crate::shell::{Output, Pending, Shell};

/// `whoami`.
pub(crate) struct Whoami;

impl Command for Whoami {
    fn names(&self) -> &'static [&'static str] {
        &["whoami"]
    }

    fn run(&self, sh: &mut Shell, _: &Cmd, _: &mut Output) -> Res {
        Res::ok(format!("{}\n", sh.user))
    }
}

/// `id [-u|-un] [USER]`.
pub(crate) struct Id;

impl Command for Id {
    fn names(&self) -> &'static [&'static str] {
        &["id"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        id(sh, c)
    }
}

/// `w`: uptime line and the attacker's own session.
pub(crate) struct W;

impl Command for W {
    fn names(&self) -> &'static [&'static str] {
        &["w"]
    }

    fn run(&self, sh: &mut Shell, _: &Cmd, _: &mut Output) -> Res {
        Res::ok(w(sh))
    }
}

/// `who`: the attacker's own session.
pub(crate) struct Who;

impl Command for Who {
    fn names(&self) -> &'static [&'static str] {
        &["who"]
    }

    fn run(&self, sh: &mut Shell, _: &Cmd, _: &mut Output) -> Res {
        Res::ok(format!(
            "{:<8} {:<12} {} ({})\n",
            sh.user,
            sh.opts.tty,
            sh.login.format("%Y-%m-%d %H:%M"),
            sh.opts.remote
        ))
    }
}

/// `last [-n N | -N] [USER]`: the lived-in story's logins, newest first,
/// with the boot and the attacker's own session, as wtmp would hold them.
pub(crate) struct Last;

impl Command for Last {
    fn names(&self) -> &'static [&'static str] {
        &["last"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        let mut limit = usize::MAX;
        let mut only: Option<&str> = None;
        let mut args = c.argv[1..].iter();
        while let Some(a) = args.next() {
            if a == "-n" {
                limit = args.next().and_then(|n| n.parse().ok()).unwrap_or(limit);
            } else if let Some(n) = a.strip_prefix('-').and_then(|n| n.parse().ok()) {
                limit = n;
            } else if !a.starts_with('-') {
                only = Some(a);
            }
        }
        Res::ok(last(sh, limit, only))
    }
}

fn last(sh: &Shell, limit: usize, only: Option<&str>) -> String {
    let host = sh.vfs.host();
    let boot = host.boot_time;
    let wide = |t: chrono::DateTime<chrono::Utc>| t.format("%a %b %e %H:%M").to_string();
    // (when, line): the session, the boot and the story's logins.
    let mut rows: Vec<(i64, String)> = vec![(
        sh.login.timestamp(),
        format!(
            "{:<8} {:<12} {:<16} {}   still logged in\n",
            sh.user.chars().take(8).collect::<String>(),
            sh.opts.tty,
            sh.opts.remote.chars().take(16).collect::<String>(),
            wide(sh.login)
        ),
    )];
    let logins = sh.vfs.logins();
    for l in logins.iter().filter(|l| l.start <= sh.now()) {
        let mins = (l.end - l.start).num_minutes().max(0);
        rows.push((
            l.start.timestamp(),
            format!(
                "{:<8} {:<12} {:<16} {} - {}  ({:02}:{:02})\n",
                l.user.chars().take(8).collect::<String>(),
                l.tty,
                l.from,
                wide(l.start),
                l.end.format("%H:%M"),
                mins / 60,
                mins % 60
            ),
        ));
    }
    rows.retain(|(_, line)| only.is_none_or(|u| line.split(' ').next() == Some(u)));
    if only.is_none_or(|u| u == "reboot") {
        rows.push((
            boot.timestamp(),
            format!(
                "reboot   system boot  {:<16} {}   still running\n",
                host.kernel.chars().take(16).collect::<String>(),
                wide(boot)
            ),
        ));
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    let begins = logins
        .first()
        .map_or(boot, |l| l.start.min(boot))
        .format("%a %b %e %H:%M:%S %Y");
    let mut out: String = rows.into_iter().take(limit).map(|(_, l)| l).collect();
    out.push_str(&format!("\nwtmp begins {begins}\n"));
    out
}

/// `sudo [-S] [-i|-s] [-u USER] [CMD]`: asks for the user's password (from
/// stdin with `-S`; refused without a terminal) and runs CMD as root.
pub(crate) struct Sudo;

impl Command for Sudo {
    fn names(&self) -> &'static [&'static str] {
        &["sudo"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, out: &mut Output) -> Res {
        // A persona without sudo (Debian installed with a root password)
        // has no /usr/bin/sudo: bash finds nothing to run.
        if !sh.vfs.host().sudo {
            return super::not_emulated(sh, c);
        }
        sudo(sh, c, out)
    }
}

/// `su [-] [root]`: asks for root's password on a terminal.
pub(crate) struct Su;

impl Command for Su {
    fn names(&self) -> &'static [&'static str] {
        &["su"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, out: &mut Output) -> Res {
        su(sh, c, out)
    }
}

/// `passwd`: always fails, leaving the password alone.
pub(crate) struct Passwd;

impl Command for Passwd {
    fn names(&self) -> &'static [&'static str] {
        &["passwd"]
    }

    fn run(&self, _: &mut Shell, _: &Cmd, _: &mut Output) -> Res {
        Res::err(
            "passwd: Authentication token manipulation error\npasswd: password unchanged\n".into(),
            10,
        )
    }
}

/// `exit [N]`/`logout`: leaves a `sudo -i`/`su` shell, else ends the session.
pub(crate) struct Exit;

impl Command for Exit {
    fn names(&self) -> &'static [&'static str] {
        &["exit", "logout"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, out: &mut Output) -> Res {
        exit(sh, c, out)
    }
}

fn id(sh: &Shell, c: &Cmd) -> Res {
    let user = c.argv.iter().skip(1).find(|a| !a.starts_with('-')).cloned();
    let (name, uid, gid) = match &user {
        Some(u) => match sh.vfs.host().account(u) {
            Some(a) => (a.name.clone(), a.uid, a.gid),
            None => return Res::err(format!("id: ‘{u}’: no such user\n"), 1),
        },
        None => (sh.user.clone(), sh.uid, sh.gid),
    };
    let groups = groups_of(sh, user.as_deref());
    let group_name = groups.first().map(|(_, n)| n.clone()).unwrap_or_default();
    // Flags may come apart (`-u -n`) or together (`-un`).
    let flags: String = c
        .argv
        .iter()
        .skip(1)
        .filter_map(|a| a.strip_prefix('-'))
        .collect();
    let names = flags.contains('n');
    if flags.contains('u') {
        return Res::ok(if names {
            format!("{name}\n")
        } else {
            format!("{uid}\n")
        });
    }
    if flags.contains('g') {
        return Res::ok(if names {
            format!("{group_name}\n")
        } else {
            format!("{gid}\n")
        });
    }
    if flags.contains('G') {
        let list: Vec<String> = groups
            .iter()
            .map(|(g, n)| if names { n.clone() } else { g.to_string() })
            .collect();
        return Res::ok(format!("{}\n", list.join(" ")));
    }
    let list: Vec<String> = groups.iter().map(|(g, n)| format!("{g}({n})")).collect();
    Res::ok(format!(
        "uid={uid}({name}) gid={gid}({group_name}) groups={}\n",
        list.join(",")
    ))
}

/// The groups of `user` (the session's user when `None`), primary first:
/// root's own, or a first user's as debian-installer makes it.
pub(crate) fn groups_of(sh: &Shell, user: Option<&str>) -> Vec<(u32, String)> {
    let (name, uid, gid) = match user.and_then(|u| sh.vfs.host().account(u)) {
        Some(a) => (a.name.clone(), a.uid, a.gid),
        None => (sh.user.clone(), sh.uid, sh.gid),
    };
    if uid == 0 || gid == 0 {
        return vec![(0, "root".into())];
    }
    let mut v = vec![(gid, name)];
    v.extend(
        [
            (4, "adm"),
            (24, "cdrom"),
            (27, "sudo"),
            (30, "dip"),
            (46, "plugdev"),
        ]
        .map(|(g, n)| (g, n.to_owned())),
    );
    v
}

/// The uptime line, then this session and the real logins in progress
/// (the fleet's admins reaching the host), as many as the line counts.
fn w(sh: &Shell) -> String {
    let row = |user: &str, tty: &str, from: &str, at: chrono::DateTime<chrono::Utc>, what: &str| {
        format!(
            "{:<8} {:<8} {:<16} {}    0.00s  0.02s  0.00s {what}\n",
            user.chars().take(8).collect::<String>(),
            tty,
            from.chars().take(16).collect::<String>(),
            at.format("%H:%M")
        )
    };
    let mut out = format!(
        "{}\nUSER     TTY      FROM             LOGIN@   IDLE   JCPU   PCPU WHAT\n",
        uptime_line(sh)
    );
    out.push_str(&row(&sh.user, &sh.opts.tty, &sh.opts.remote, sh.login, "w"));
    for v in sh.vfs.visitors() {
        out.push_str(&row(&v.user, &v.tty, &v.from, v.start, "-bash"));
    }
    out
}

fn sudo(sh: &mut Shell, c: &Cmd, out: &mut Output) -> Res {
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
    if sh.uid == 0 || sh.sudo_ok {
        let mut o = Output::default();
        sh.become_root(&args, &mut o);
        out.events.extend(o.events);
        return Res::ok(o.stdout).with_code(o.exit_code);
    }
    let user = sh.user.clone();
    if stdin_pw {
        let typed = c
            .stdin
            .unwrap_or("")
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        sh.pending = Some(Pending {
            prompt: "sudo",
            user,
            argv: args,
            tries: 2,
        });
        let o = sh.password(&typed);
        out.events.extend(o.events);
        let text = format!(
            "[sudo] password for {}: {}",
            sh.user,
            o.stdout.replace("Sorry, try again.\n", "")
        );
        sh.pending = None;
        return Res::ok(text).with_code(o.exit_code);
    }
    if !sh.opts.interactive {
        return Res::err("sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper\nsudo: a password is required\n".into(), 1);
    }
    out.password_prompt = Some(format!("[sudo] password for {user}: "));
    sh.pending = Some(Pending {
        prompt: "sudo",
        user,
        argv: args,
        tries: 0,
    });
    Res::default()
}

fn su(sh: &mut Shell, c: &Cmd, out: &mut Output) -> Res {
    let target = c.argv[1..]
        .iter()
        .find(|a| !a.starts_with('-'))
        .cloned()
        .unwrap_or_else(|| "root".into());
    if target != "root" {
        return Res::err(format!("su: user {target} does not exist or the user entry does not contain all the required fields\n"), 1);
    }
    if sh.uid == 0 {
        let mut o = Output::default();
        sh.become_root(&["su".to_owned()], &mut o);
        return Res::default();
    }
    if !sh.opts.interactive {
        return Res::err("su: must be run from a terminal\n".into(), 1);
    }
    out.password_prompt = Some("Password: ".into());
    sh.pending = Some(Pending {
        prompt: "su",
        user: "root".into(),
        argv: vec!["-".into()],
        tries: 2,
    });
    Res::default()
}

fn exit(sh: &mut Shell, c: &Cmd, out: &mut Output) -> Res {
    if let Some((u, uid, gid, cwd)) = sh.su_stack.pop() {
        sh.home = sh
            .vfs
            .host()
            .account(&u)
            .map(|a| a.home.clone())
            .unwrap_or_else(|| format!("/home/{u}"));
        sh.user = u;
        sh.uid = uid;
        sh.gid = gid;
        sh.cwd = cwd;
        return Res::ok("exit\n".into()).with_code(0);
    }
    out.exit_requested = true;
    // `exit N` ends with status N (mod 256), plain `exit` with $?.
    let code = match c.argv.get(1) {
        Some(a) => a
            .parse::<i64>()
            .map(|n| n.rem_euclid(256) as i32)
            .unwrap_or(2),
        None => sh.status,
    };
    Res::ok(if c.name == "logout" || sh.opts.interactive {
        "logout\n".into()
    } else {
        String::new()
    })
    .with_code(code)
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::{exec, on, root, run, user};
    use crate::shell::ShellEvent;

    #[test]
    fn last_lists_the_story_newest_first_with_the_boot_and_this_session() {
        use crate::commands::testing::lived;
        let (clock, vfs) = lived();
        let mut sh = crate::commands::testing::lived_shell(&vfs, "ubuntu");
        let before = run(&mut sh, "last");
        let lines: Vec<&str> = before.lines().collect();
        assert!(
            lines[0].starts_with("ubuntu   pts/0        203.0.113.9"),
            "{before}"
        );
        assert!(lines[0].ends_with("still logged in"), "{before}");
        assert!(before.contains("reboot   system boot"), "{before}");
        assert!(before.contains("wtmp begins "), "{before}");
        // A week of office hours has admins logging in from the LAN.
        let story: Vec<&&str> = lines[1..].iter().filter(|l| l.contains(" - ")).collect();
        assert!(story.len() >= 3, "{before}");
        assert!(story.iter().all(|l| l.contains("10.0.0.2")), "{before}");
        // A busy week later there are more, and the newest is still in the past.
        clock.advance(std::time::Duration::from_secs(7 * 86_400));
        let after = run(&mut sh, "last");
        assert!(after.lines().count() > before.lines().count(), "{after}");
        assert_eq!(run(&mut sh, "last -n 2").lines().count(), 4);
        assert!(run(&mut sh, "last nobody").starts_with("\nwtmp begins"));
    }

    #[test]
    fn whoami_is_the_session_user() {
        assert_eq!(run(&mut root(), "whoami"), "root\n");
        assert_eq!(run(&mut user(), "whoami"), "ubuntu\n");
    }

    #[test]
    fn id_describes_accounts() {
        let mut sh = user();
        assert_eq!(
            run(&mut sh, "id"),
            "uid=1000(ubuntu) gid=1000(ubuntu) groups=1000(ubuntu),4(adm),24(cdrom),27(sudo),30(dip),46(plugdev)\n"
        );
        assert_eq!(run(&mut sh, "id -u"), "1000\n");
        assert_eq!(run(&mut sh, "id -un"), "ubuntu\n");
        assert_eq!(
            run(&mut sh, "id root"),
            "uid=0(root) gid=0(root) groups=0(root)\n"
        );
        let out = sh.execute("id nobody");
        assert_eq!(out.stdout, "id: ‘nobody’: no such user\n");
        assert_eq!(out.exit_code, 1);
    }

    #[test]
    fn w_lists_the_attackers_session() {
        let out = run(&mut user(), "w");
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].contains(" up ") && lines[0].contains("load average"));
        assert_eq!(
            lines[1],
            "USER     TTY      FROM             LOGIN@   IDLE   JCPU   PCPU WHAT"
        );
        assert_eq!(
            lines[2],
            "ubuntu   pts/0    203.0.113.9      10:00    0.00s  0.02s  0.00s w"
        );
    }

    #[test]
    fn who_lists_the_attackers_session() {
        assert_eq!(
            run(&mut user(), "who"),
            "ubuntu   pts/0        2026-11-23 10:00 (203.0.113.9)\n"
        );
    }

    #[test]
    fn sudo_is_missing_where_the_persona_has_none() {
        let out = exec().execute("sudo -n id");
        assert_eq!(out.stdout, "bash: line 1: sudo: command not found\n");
        assert_eq!(out.exit_code, 127);
        assert!(on("ubuntu22", "ubuntu", true)
            .execute("sudo id")
            .password_prompt
            .is_some());
    }

    #[test]
    fn sudo_asks_checks_and_records_the_password() {
        let user = || on("ubuntu22", "ubuntu", true);
        let exec = || on("ubuntu22", "ubuntu", false);
        let mut sh = user();
        let out = sh.execute("sudo whoami");
        assert_eq!(
            out.password_prompt.as_deref(),
            Some("[sudo] password for ubuntu: ")
        );
        let out = sh.password("s3cret");
        assert_eq!(out.stdout, "root\n");
        assert!(matches!(&out.events[0],
            ShellEvent::Password { prompt, user, password, success: true }
                if prompt == "sudo" && user == "ubuntu" && password == "s3cret"));
        // Remembered for the session, as sudo's timestamp.
        assert_eq!(run(&mut sh, "sudo id -u"), "0\n");
        // -S reads the password from stdin, one try.
        let out = user().execute("echo wrong | sudo -S id");
        assert_eq!(
            out.stdout,
            "[sudo] password for ubuntu: sudo: 3 incorrect password attempts\n"
        );
        assert_eq!(out.exit_code, 1);
        assert!(run(&mut exec(), "sudo id").starts_with("sudo: a terminal is required"));
        assert!(run(&mut sh, "sudo").starts_with("usage: sudo -h | -K | -k | -V\n"));
    }

    #[test]
    fn su_asks_for_roots_password() {
        let mut sh = user();
        let out = sh.execute("su -");
        assert_eq!(out.password_prompt.as_deref(), Some("Password: "));
        let out = sh.password("nope");
        assert_eq!(out.stdout, "su: Authentication failure\n");
        assert_eq!(run(&mut sh, "whoami"), "ubuntu\n");
        sh.execute("su");
        sh.password("toor");
        assert_eq!(run(&mut sh, "whoami; pwd"), "root\n/root\n");
        assert!(run(&mut sh, "su bob").starts_with("su: user bob does not exist"));
        assert_eq!(run(&mut exec(), "su"), "su: must be run from a terminal\n");
    }

    #[test]
    fn passwd_never_changes_anything() {
        let out = user().execute("passwd");
        assert_eq!(
            out.stdout,
            "passwd: Authentication token manipulation error\npasswd: password unchanged\n"
        );
        assert_eq!(out.exit_code, 10);
    }

    #[test]
    fn exit_leaves_a_root_shell_then_the_session() {
        let mut sh = on("ubuntu22", "root", true);
        sh.execute("cd /tmp; sudo -i");
        assert_eq!(run(&mut sh, "pwd"), "/root\n");
        let out = sh.execute("exit");
        assert_eq!(out.stdout, "exit\n");
        assert!(!out.exit_requested);
        assert_eq!(run(&mut sh, "pwd"), "/tmp\n");
        let out = sh.execute("false; exit");
        assert_eq!((out.stdout.as_str(), out.exit_code), ("logout\n", 1));
        assert!(out.exit_requested);
        let out = exec().execute("exit 257");
        assert_eq!((out.stdout.as_str(), out.exit_code), ("", 1));
        assert_eq!(exec().execute("logout").stdout, "logout\n");
    }
}
