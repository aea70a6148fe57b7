//! Facts about the host: `uname`, `hostname`, `uptime`, `free`, `df`,
//! `lscpu`, `nproc`, `date`, and `clear`. Numbers come from the persona and
//! the decky's seed, so a decky reports the same machine every time.

use std::fmt::Write as _;

use super::format::human_k;
use super::{Cmd, Command, Res};
use crate::shell::{Output, Shell};

/// `uname [-asnrvmpio]`.
pub(crate) struct Uname;

impl Command for Uname {
    fn names(&self) -> &'static [&'static str] {
        &["uname"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        uname(sh, c)
    }
}

/// `hostname [-I|-i|-f|-d]`.
pub(crate) struct Hostname;

impl Command for Hostname {
    fn names(&self) -> &'static [&'static str] {
        &["hostname"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        let h = sh.vfs.host();
        let line = match c.argv.get(1).map(String::as_str) {
            // Every address of every interface but loopback and link-local,
            // each followed by a space, as net-tools prints them.
            Some("-I" | "--all-ip-addresses") => {
                let addrs = [
                    h.addrs.v4.map(|a| a.to_string()),
                    h.addrs.v6.map(|a| a.to_string()),
                ];
                addrs.into_iter().flatten().map(|a| a + " ").collect()
            }
            Some("-i" | "--ip-address") => h.named_at(),
            Some("-f" | "--fqdn" | "--long") => h.fqdn.clone(),
            Some("-d" | "--domain") => h
                .fqdn
                .split_once('.')
                .map(|(_, d)| d.to_owned())
                .unwrap_or_default(),
            _ => h.hostname.clone(),
        };
        Res::ok(format!("{line}\n"))
    }
}

/// `uptime`: since the persona's boot time.
pub(crate) struct Uptime;

impl Command for Uptime {
    fn names(&self) -> &'static [&'static str] {
        &["uptime"]
    }

    fn run(&self, sh: &mut Shell, _: &Cmd, _: &mut Output) -> Res {
        Res::ok(format!("{}\n", uptime_line(sh)))
    }
}

/// `free [-h|-m|-g]`.
pub(crate) struct Free;

impl Command for Free {
    fn names(&self) -> &'static [&'static str] {
        &["free"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        free(sh, c)
    }
}

/// `df [-h]`.
pub(crate) struct Df;

impl Command for Df {
    fn names(&self) -> &'static [&'static str] {
        &["df"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        df(sh, c)
    }
}

/// `lscpu`.
pub(crate) struct Lscpu;

impl Command for Lscpu {
    fn names(&self) -> &'static [&'static str] {
        &["lscpu"]
    }

    fn run(&self, sh: &mut Shell, _: &Cmd, _: &mut Output) -> Res {
        Res::ok(lscpu(sh))
    }
}

/// `nproc`.
pub(crate) struct Nproc;

impl Command for Nproc {
    fn names(&self) -> &'static [&'static str] {
        &["nproc"]
    }

    fn run(&self, sh: &mut Shell, _: &Cmd, _: &mut Output) -> Res {
        Res::ok(format!("{}\n", sh.vfs.host().cpus))
    }
}

/// `date` (UTC).
pub(crate) struct Date;

impl Command for Date {
    fn names(&self) -> &'static [&'static str] {
        &["date"]
    }

    fn run(&self, sh: &mut Shell, _: &Cmd, _: &mut Output) -> Res {
        Res::ok(format!("{}\n", sh.now().format("%a %b %e %H:%M:%S UTC %Y")))
    }
}

/// `clear`: the terminal's clear-screen sequence.
pub(crate) struct Clear;

impl Command for Clear {
    fn names(&self) -> &'static [&'static str] {
        &["clear"]
    }

    fn run(&self, _: &mut Shell, _: &Cmd, _: &mut Output) -> Res {
        Res::ok("\x1b[H\x1b[2J\x1b[3J".into())
    }
}

fn uname(sh: &Shell, c: &Cmd) -> Res {
    let h = sh.vfs.host();
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
                format!(
                    "uname: invalid option -- '{ch}'\nTry 'uname --help' for more information.\n"
                ),
                1,
            );
        }
    }
    Res::ok(format!("{}\n", parts.join(" ")))
}

/// `uptime`'s line, also the first line of `w`.
pub(crate) fn uptime_line(sh: &Shell) -> String {
    let now = sh.now();
    let up = (now - sh.vfs.host().boot_time).num_seconds().max(0);
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
    let (a, b, c) = sh.load();
    // This session and the real logins in progress, as `w` lists them.
    let users = 1 + sh.vfs.visitors().len();
    let plural = if users == 1 { "" } else { "s" };
    let _ = write!(
        s,
        ",  {users} user{plural},  load average: {a:.2}, {b:.2}, {c:.2}"
    );
    s
}

fn free(sh: &Shell, c: &Cmd) -> Res {
    let (total, free, avail, buffers, cached, swap) = crate::gen::memory(sh.vfs.host());
    let used = total - free - buffers - cached;
    let shared = 1000 + sh.vfs.host().salt % 9000;
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

fn df(sh: &Shell, c: &Cmd) -> Res {
    let s = sh.vfs.host().salt;
    let mem = sh.vfs.host().mem_kib;
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

fn lscpu(sh: &Shell) -> String {
    let h = sh.vfs.host();
    format!(
        "Architecture:            x86_64\n  CPU op-mode(s):        32-bit, 64-bit\n  Address sizes:         46 bits physical, 48 bits virtual\n  Byte Order:            Little Endian\nCPU(s):                  {n}\n  On-line CPU(s) list:   0-{last}\nVendor ID:               {vendor}\n  Model name:            {model}\n    Thread(s) per core:  1\n    Core(s) per socket:  {n}\n    Socket(s):           1\nVirtualization features: \n  Hypervisor vendor:     KVM\n  Virtualization type:   full\n",
        n = h.cpus,
        last = h.cpus.saturating_sub(1),
        vendor = if h.cpu_model.starts_with("AMD") { "AuthenticAMD" } else { "GenuineIntel" },
        model = h.cpu_model
    )
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::{now, root, run};

    #[test]
    fn uname_prints_the_fields_asked_for() {
        let mut sh = root();
        let h = sh.vfs().host().clone();
        assert_eq!(run(&mut sh, "uname"), "Linux\n");
        assert_eq!(
            run(&mut sh, "uname -snrm"),
            format!("Linux {} {} x86_64\n", h.hostname, h.kernel)
        );
        assert_eq!(run(&mut sh, "uname -a"), run(&mut sh, "uname --all"));
        assert!(run(&mut sh, "uname -a").ends_with(" x86_64 GNU/Linux\n"));
        assert_eq!(
            run(&mut sh, "uname -z"),
            "uname: invalid option -- 'z'\nTry 'uname --help' for more information.\n"
        );
        assert_eq!(
            run(&mut sh, "uname foo"),
            "uname: extra operand ‘foo’\nTry 'uname --help' for more information.\n"
        );
    }

    #[test]
    fn hostname_is_the_personas() {
        let mut sh = root();
        let h = sh.vfs().host().hostname.clone();
        assert_eq!(run(&mut sh, "hostname"), format!("{h}\n"));
    }

    #[test]
    fn uptime_counts_from_the_boot_time() {
        let mut sh = root();
        let up = now() - sh.vfs().host().boot_time;
        let (a, b, c) = sh.load();
        let line = run(&mut sh, "uptime");
        assert!(line.starts_with(" 10:00:00 up "), "{line}");
        assert!(
            line.contains(&format!(" {} days, ", up.num_days())),
            "{line}"
        );
        assert!(
            line.ends_with(&format!(
                ",  1 user,  load average: {a:.2}, {b:.2}, {c:.2}\n"
            )),
            "{line}"
        );
    }

    #[test]
    fn free_shows_the_personas_memory() {
        let mut sh = root();
        let total = sh.vfs().host().mem_kib;
        let out = run(&mut sh, "free");
        let mem: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(mem[0], "Mem:");
        assert_eq!(mem[1], total.to_string());
        let m = run(&mut sh, "free -m");
        let mem_m: Vec<&str> = m.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(mem_m[1], (total / 1024).to_string());
        assert!(run(&mut sh, "free -h")
            .lines()
            .nth(1)
            .unwrap()
            .contains("Gi"));
    }

    #[test]
    fn df_lists_the_root_filesystem() {
        let mut sh = root();
        let out = run(&mut sh, "df");
        assert!(out.starts_with("Filesystem     1K-blocks    Used Available Use% Mounted on\n"));
        assert!(
            out.lines()
                .any(|l| l.starts_with("/dev/sda1 ") && l.ends_with("% /")),
            "{out}"
        );
        assert_eq!(out.lines().count(), 8);
        let h = run(&mut sh, "df -h");
        assert!(h.starts_with("Filesystem      Size  Used Avail Use% Mounted on\n"));
        assert!(h.contains("/run/lock"), "{h}");
    }

    #[test]
    fn lscpu_matches_the_persona() {
        let mut sh = root();
        let h = sh.vfs().host().clone();
        let out = run(&mut sh, "lscpu");
        assert!(out.starts_with("Architecture:            x86_64\n"));
        assert!(out.contains(&format!("CPU(s):                  {}\n", h.cpus)));
        assert!(out.contains(&format!("  Model name:            {}\n", h.cpu_model)));
    }

    #[test]
    fn nproc_is_the_cpu_count() {
        let mut sh = root();
        let n = sh.vfs().host().cpus;
        assert_eq!(run(&mut sh, "nproc"), format!("{n}\n"));
    }

    #[test]
    fn date_is_utc_now() {
        assert_eq!(run(&mut root(), "date"), "Mon Nov 23 10:00:00 UTC 2026\n");
    }

    #[test]
    fn clear_sends_the_clear_screen_sequence() {
        assert_eq!(run(&mut root(), "clear"), "\x1b[H\x1b[2J\x1b[3J");
    }
}
