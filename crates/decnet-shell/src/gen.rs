//! Builds a decky's filesystem from its persona and seed.
//!
//! Everything random comes from `DeckySeed::rng("vfs")`, so a restart shows
//! the same files with the same sizes, times and history.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use decnet_core::{DeckySeed, Persona};
use rand::seq::SliceRandom;
use rand::Rng;

use crate::vfs::{Account, Content, HostAddrs, HostInfo, Kind, Node, Vfs};

/// Commands that exist in `/usr/bin` (so `which`, `ls /usr/bin` look real).
pub const BIN: &[&str] = &[
    "apt",
    "apt-get",
    "awk",
    "base64",
    "bash",
    "cat",
    "chmod",
    "chown",
    "cp",
    "curl",
    "cut",
    "date",
    "dd",
    "df",
    "dpkg",
    "du",
    "echo",
    "env",
    "find",
    "free",
    "grep",
    "gzip",
    "head",
    "hostname",
    "id",
    "kill",
    "last",
    "less",
    "ln",
    "ls",
    "md5sum",
    "mkdir",
    "more",
    "mv",
    "nano",
    "netstat",
    "nohup",
    "perl",
    "ping",
    "ps",
    "pwd",
    "python3",
    "rm",
    "rmdir",
    "scp",
    "sed",
    "sh",
    "sha256sum",
    "sleep",
    "sort",
    "ss",
    "ssh",
    "sudo",
    "tail",
    "tar",
    "top",
    "touch",
    "uname",
    "uniq",
    "uptime",
    "vi",
    "w",
    "wc",
    "wget",
    "which",
    "who",
    "whoami",
    "xargs",
];
/// The programs of net-tools among [`BIN`] and [`SBIN`]: present only where
/// the distribution installs the package by default.
pub const NET_TOOLS: &[&str] = &["ifconfig", "netstat"];
/// Commands in `/usr/sbin`.
pub const SBIN: &[&str] = &[
    "ifconfig", "ip", "iptables", "sshd", "useradd", "usermod", "reboot", "shutdown", "cron",
];

const HISTORY: &[&str] = &[
    "ls -la",
    "df -h",
    "free -m",
    "sudo apt update",
    "sudo apt upgrade -y",
    "systemctl status nginx",
    "sudo systemctl restart nginx",
    "tail -n 100 /var/log/syslog",
    "journalctl -u ssh --since today",
    "cd /var/www/html",
    "git pull",
    "ps aux | grep python",
    "top",
    "htop",
    "cat /etc/os-release",
    "vim /etc/nginx/sites-available/default",
    "crontab -e",
    "du -sh /var/log/*",
    "ip a",
    "ss -tlnp",
    "docker ps",
    "exit",
];

fn shadow_hash(rng: &mut impl Rng, yescrypt: bool) -> String {
    const B64: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut pick = |n: usize| -> String {
        (0..n)
            .map(|_| B64[rng.gen_range(0..B64.len())] as char)
            .collect()
    };
    if yescrypt {
        format!("$y$j9T${}${}", pick(22), pick(43))
    } else {
        format!("$6${}${}", pick(16), pick(86))
    }
}

/// Seconds between the OS install and the last boot: 30–400 days. The
/// first draw of the `vfs` generator, so [`install_time`] can tell it
/// without building the filesystem.
fn install_offset(rng: &mut impl Rng) -> i64 {
    rng.gen_range(30 * 86_400..400 * 86_400)
}

/// When the persona's OS was installed (what `HostInfo::install_time` of
/// its generated filesystem says), cheaply: services that only need the
/// date (SNMP's engine id) need not generate the filesystem.
pub fn install_time(persona: &Persona, seed: &DeckySeed) -> chrono::DateTime<chrono::Utc> {
    let boot = persona.boot_time.timestamp();
    let install = boot - install_offset(&mut seed.rng("vfs"));
    chrono::DateTime::from_timestamp(install, 0).unwrap_or(persona.boot_time)
}

/// Generates the filesystem of an IPv4 decky at `ip`; see [`generate_on`].
pub fn generate(
    persona: &Persona,
    seed: &DeckySeed,
    ip: Ipv4Addr,
    logins: &[(String, String)],
) -> Vfs {
    generate_on(persona, seed, HostAddrs::from(ip), logins)
}

/// Generates the filesystem of a decky with addresses `addrs` (IPv4, IPv6
/// or both: what its interfaces and `/etc` files show).
///
/// `logins` are the (user, password) pairs it accepts (root first).
pub fn generate_on(
    persona: &Persona,
    seed: &DeckySeed,
    addrs: HostAddrs,
    logins: &[(String, String)],
) -> Vfs {
    // One generator, drawn from in a fixed order: the order of the steps
    // below is part of what a seed reproduces.
    let mut rng = seed.rng("vfs");
    let boot = persona.boot_time.timestamp();
    let install = boot - install_offset(&mut rng);
    let accounts = accounts(logins);
    let mut host = host_info(persona, addrs, &accounts, &mut rng);
    host.install_time = chrono::DateTime::from_timestamp(install, 0).unwrap_or(persona.boot_time);
    let t = Times {
        boot,
        install,
        recent: boot - rng.gen_range(3600..86_400 * 5),
    };
    let mut tree = Tree::default();
    skeleton(&mut tree, &t, &mut rng);
    binaries(&mut tree, &host, &t, &mut rng);
    etc_accounts(&mut tree, persona, &accounts, &t, &mut rng);
    etc_identity(&mut tree, persona, &host, &t);
    etc_config(&mut tree, persona, addrs, &t);
    proc_files(&mut tree, persona, &host, &t, &mut rng);
    homes(&mut tree, &accounts, &t, &mut rng);
    web_and_logs(&mut tree, &t, &mut rng);
    Vfs::from_nodes(host, tree.0)
}

/// Moments the generated files are dated from (Unix seconds).
struct Times {
    /// Last boot.
    boot: i64,
    /// Installation of the system.
    install: i64,
    /// Shortly before the last boot: recently edited files.
    recent: i64,
}

/// The nodes being generated, by absolute path.
#[derive(Default)]
struct Tree(BTreeMap<String, Node>);

impl Tree {
    fn insert(&mut self, path: impl Into<String>, node: Node) {
        self.0.insert(path.into(), node);
    }

    /// A directory owned by `uid` (and its same-numbered group).
    fn dir(&mut self, path: &str, mode: u32, uid: u32, mtime: i64) {
        self.insert(path, Node::dir(mode, uid, uid, mtime));
    }

    fn file(&mut self, path: &str, body: String, mode: u32, uid: u32, gid: u32, mtime: i64) {
        self.insert(path, Node::file(body.into_bytes(), mode, uid, gid, mtime));
    }

    /// A file owned by root:root.
    fn root_file(&mut self, path: &str, body: String, mode: u32, mtime: i64) {
        self.file(path, body, mode, 0, 0, mtime);
    }

    /// A file whose bytes are made up when read (binaries, logs, `/proc`).
    fn synthetic(
        &mut self,
        path: &str,
        content: Content,
        size: u64,
        mode: u32,
        gid: u32,
        mtime: i64,
    ) {
        self.insert(
            path,
            Node {
                kind: Kind::File(content),
                mode,
                uid: 0,
                gid,
                mtime,
                size,
            },
        );
    }
}

/// Root (its password from `logins`, `admin` otherwise), then each other
/// valid login name once, from uid 1000: the accounts [`generate_on`] puts
/// in the filesystem, known without generating it.
pub fn accounts(logins: &[(String, String)]) -> Vec<Account> {
    let mut accounts = vec![Account {
        name: "root".into(),
        password: logins
            .iter()
            .find(|(u, _)| u == "root")
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| "admin".into()),
        uid: 0,
        gid: 0,
        home: "/root".into(),
    }];
    let mut next_uid = 1000;
    for (u, p) in logins {
        if u == "root" || accounts.iter().any(|a| &a.name == u) || !valid_user(u) {
            continue;
        }
        accounts.push(Account {
            name: u.clone(),
            password: p.clone(),
            uid: next_uid,
            gid: next_uid,
            home: format!("/home/{u}"),
        });
        next_uid += 1;
    }
    accounts
}

/// What commands report about the machine.
fn host_info(
    persona: &Persona,
    addrs: HostAddrs,
    accounts: &[Account],
    rng: &mut impl Rng,
) -> HostInfo {
    // Profiles without a recorded build string (devices) get a build
    // date some months before the boot.
    let kernel_version = if persona.kernel_version.is_empty() {
        let d = persona.boot_time - chrono::Duration::days(rng.gen_range(20..200));
        format!("#1 SMP {}", d.format("%a %b %e %H:%M:%S UTC %Y"))
    } else {
        persona.kernel_version.clone()
    };
    HostInfo {
        install_time: persona.boot_time,
        hostname: persona
            .hostname
            .split('.')
            .next()
            .unwrap_or("localhost")
            .to_owned(),
        fqdn: persona.fqdn(),
        kernel: persona.kernel.clone(),
        pretty_name: persona.distro.display_name.to_owned(),
        os_id: persona.distro.os_id.to_owned(),
        version_id: persona.distro.version_id.to_owned(),
        boot_time: persona.boot_time,
        mac: persona.mac_string(),
        addrs,
        cpu_model: persona.cpu_model.to_owned(),
        cpus: persona.cpus,
        mem_kib: persona.mem_kib,
        kernel_version,
        ssh_version: persona.ssh_banner.trim_start_matches("SSH-2.0-").to_owned(),
        openssl: persona.distro.openssl.to_owned(),
        bash_version: persona.distro.bash.to_owned(),
        sudo: persona.distro.has_sudo,
        net_tools: persona.distro.ships_net_tools(),
        accounts: accounts.to_vec(),
        salt: rng.gen(),
    }
}

/// The top-level directories, `/tmp`, `/root`, and the usrmerge symlinks.
fn skeleton(tree: &mut Tree, t: &Times, rng: &mut impl Rng) {
    tree.dir("/", 0o755, 0, t.install);
    for d in [
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/run",
        "/srv",
        "/sys",
        "/usr",
        "/usr/bin",
        "/usr/sbin",
        "/usr/lib",
        "/usr/local",
        "/usr/local/bin",
        "/usr/share",
        "/var",
        "/var/log",
        "/var/lib",
        "/var/www",
        "/var/www/html",
        "/var/cache",
        "/var/spool",
        "/var/spool/cron",
        "/var/backups",
        "/proc/sys",
        "/proc/sys/kernel",
        "/etc/ssh",
        "/etc/cron.d",
        "/etc/apt",
        "/etc/network",
        "/etc/systemd",
        "/etc/default",
    ] {
        tree.dir(d, 0o755, 0, t.install + rng.gen_range(0..86_400));
    }
    // mke2fs makes it when the installer formats the root filesystem.
    tree.dir("/lost+found", 0o700, 0, t.install);
    tree.dir("/tmp", 0o1777, 0, t.recent);
    tree.dir("/var/tmp", 0o1777, 0, t.recent);
    tree.dir("/root", 0o700, 0, t.recent);
    tree.dir("/proc/self", 0o555, 0, t.boot);
    for (l, target) in [
        ("/bin", "usr/bin"),
        ("/sbin", "usr/sbin"),
        ("/lib", "usr/lib"),
        ("/lib64", "usr/lib64"),
    ] {
        tree.insert(
            l,
            Node {
                size: target.len() as u64,
                kind: Kind::Link(target.to_owned()),
                mode: 0o777,
                uid: 0,
                gid: 0,
                mtime: t.install,
            },
        );
    }
    tree.dir("/usr/lib64", 0o755, 0, t.install);
}

/// [`BIN`] and [`SBIN`]: ELF-looking files of plausible sizes (`sudo` setuid).
fn binaries(tree: &mut Tree, host: &HostInfo, t: &Times, rng: &mut impl Rng) {
    for (d, names) in [("/usr/bin", BIN), ("/usr/sbin", SBIN)] {
        for n in names {
            let size = rng.gen_range(14_000..1_400_000u64);
            if *n == "sudo" && !host.sudo {
                continue;
            }
            if NET_TOOLS.contains(n) && !host.net_tools {
                continue;
            }
            let mode = if *n == "sudo" { 0o4755 } else { 0o755 };
            let mtime = t.install + rng.gen_range(0..86_400);
            tree.synthetic(&format!("{d}/{n}"), Content::Binary, size, mode, 0, mtime);
        }
    }
}

/// System accounts every Debian-like host has, after root.
const SYSTEM_USERS: &str = "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
     bin:x:2:2:bin:/bin:/usr/sbin/nologin\n\
     sys:x:3:3:sys:/dev:/usr/sbin/nologin\n\
     sync:x:4:65534:sync:/bin:/bin/sync\n\
     games:x:5:60:games:/usr/games:/usr/sbin/nologin\n\
     man:x:6:12:man:/var/cache/man:/usr/sbin/nologin\n\
     lp:x:7:7:lp:/var/spool/lpd:/usr/sbin/nologin\n\
     mail:x:8:8:mail:/var/mail:/usr/sbin/nologin\n\
     news:x:9:9:news:/var/spool/news:/usr/sbin/nologin\n\
     proxy:x:13:13:proxy:/bin:/usr/sbin/nologin\n\
     www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
     backup:x:34:34:backup:/var/backups:/usr/sbin/nologin\n\
     nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
     systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin\n\
     messagebus:x:100:107::/nonexistent:/usr/sbin/nologin\n\
     sshd:x:101:65534::/run/sshd:/usr/sbin/nologin\n";

/// `/etc/passwd`, `/etc/shadow` (yescrypt, or SHA-512 on Ubuntu 20.04) and
/// `/etc/group`; every login account is in `sudo`.
fn etc_accounts(
    tree: &mut Tree,
    persona: &Persona,
    accounts: &[Account],
    t: &Times,
    rng: &mut impl Rng,
) {
    let mut passwd = format!("root:x:0:0:root:/root:/bin/bash\n{SYSTEM_USERS}");
    let yescrypt =
        !(persona.distro.os_id == "ubuntu" && persona.distro.version_id.starts_with("20"));
    let days = (t.install / 86_400).max(1);
    let mut shadow = format!("root:{}:{days}:0:99999:7:::\n", shadow_hash(rng, yescrypt));
    for line in SYSTEM_USERS.lines() {
        let u = line.split(':').next().unwrap_or_default();
        shadow.push_str(&format!("{u}:*:{days}:0:99999:7:::\n"));
    }
    let mut group = String::from(
        "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\ndisk:x:6:\n\
         lp:x:7:\nmail:x:8:\nnews:x:9:\nwww-data:x:33:\nbackup:x:34:\nstaff:x:50:\n\
         users:x:100:\nnogroup:x:65534:\n",
    );
    let mut sudo_members = Vec::new();
    for a in accounts.iter().skip(1) {
        passwd.push_str(&format!(
            "{n}:x:{u}:{g}:{n},,,:{h}:/bin/bash\n",
            n = a.name,
            u = a.uid,
            g = a.gid,
            h = a.home
        ));
        shadow.push_str(&format!(
            "{}:{}:{days}:0:99999:7:::\n",
            a.name,
            shadow_hash(rng, yescrypt)
        ));
        group.push_str(&format!("{n}:x:{g}:\n", n = a.name, g = a.gid));
        sudo_members.push(a.name.clone());
    }
    group.push_str(&format!("sudo:x:27:{}\n", sudo_members.join(",")));
    tree.root_file("/etc/passwd", passwd, 0o644, t.recent);
    tree.file("/etc/shadow", shadow, 0o640, 0, 42, t.recent);
    tree.root_file("/etc/group", group, 0o644, t.recent);
}

/// Files naming the machine and its distribution.
fn etc_identity(tree: &mut Tree, persona: &Persona, host: &HostInfo, t: &Times) {
    let configured = t.install + 3600;
    tree.root_file(
        "/etc/hostname",
        format!("{}\n", host.hostname),
        0o644,
        configured,
    );
    let named = host.named_at();
    tree.root_file(
        "/etc/hosts",
        format!(
            "127.0.0.1\tlocalhost\n{named}\t{fqdn}\t{h}\n\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n",
            fqdn = host.fqdn,
            h = host.hostname
        ),
        0o644,
        configured,
    );
    tree.root_file(
        "/etc/os-release",
        os_release(persona, host),
        0o644,
        t.install,
    );
    if host.os_id == "debian" {
        tree.root_file(
            "/etc/debian_version",
            format!("{}\n", persona.distro.point_release),
            0o644,
            t.install,
        );
    }
    tree.root_file(
        "/etc/issue",
        format!("{} \\n \\l\n\n", persona.distro.telnet_issue),
        0o644,
        t.install,
    );
    tree.root_file(
        "/etc/issue.net",
        format!("{}\n", persona.distro.telnet_issue),
        0o644,
        t.install,
    );
    tree.root_file(
        "/etc/machine-id",
        format!("{}\n", persona.machine_id),
        0o444,
        t.install,
    );
}

/// `/etc/os-release` of the persona's distribution.
fn os_release(persona: &Persona, host: &HostInfo) -> String {
    let (_, version_codename) = os_names(persona);
    let name = os_name(&host.os_id);
    format!(
        "PRETTY_NAME=\"{pretty}\"\nNAME=\"{name}\"\nVERSION_ID=\"{vid}\"\nVERSION=\"{version}\"\nVERSION_CODENAME={code}\nID={id}\n{like}HOME_URL=\"{home}\"\nSUPPORT_URL=\"{support}\"\nBUG_REPORT_URL=\"{bugs}\"\n",
        pretty = host.pretty_name,
        vid = host.version_id,
        version = version_string(persona, &version_codename),
        code = version_codename,
        id = host.os_id,
        like = match host.os_id.as_str() {
            "ubuntu" => "ID_LIKE=debian\n",
            "centos" | "rocky" | "almalinux" => "ID_LIKE=\"rhel centos fedora\"\n",
            _ => "",
        },
        home = match host.os_id.as_str() {
            "ubuntu" => "https://www.ubuntu.com/",
            "debian" => "https://www.debian.org/",
            _ => "https://www.kernel.org/",
        },
        support = match host.os_id.as_str() {
            "ubuntu" => "https://help.ubuntu.com/",
            "debian" => "https://www.debian.org/support",
            _ => "https://www.kernel.org/",
        },
        bugs = match host.os_id.as_str() {
            "ubuntu" => "https://bugs.launchpad.net/ubuntu/",
            "debian" => "https://bugs.debian.org/",
            _ => "https://www.kernel.org/",
        },
    )
}

/// Configuration bots read: resolver, crontab, sshd, login shells.
fn etc_config(tree: &mut Tree, persona: &Persona, addrs: HostAddrs, t: &Times) {
    // The LAN's router resolves, on the family the decky has.
    let resolver = addrs
        .on_lan(1)
        .map(|r| format!("nameserver {r}\n"))
        .unwrap_or_default();
    tree.root_file(
        "/etc/resolv.conf",
        format!("domain {d}\nsearch {d}\n{resolver}", d = persona.domain),
        0o644,
        t.recent,
    );
    tree.root_file(
        "/etc/crontab",
        "# /etc/crontab: system-wide crontab\nSHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin\n\n17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly\n25 6\t* * *\troot\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }\n".into(),
        0o644,
        t.install,
    );
    tree.root_file(
        "/etc/ssh/sshd_config",
        "Include /etc/ssh/sshd_config.d/*.conf\n\n#Port 22\n#PermitRootLogin prohibit-password\nPermitRootLogin yes\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM yes\nX11Forwarding yes\nPrintMotd no\nAcceptEnv LANG LC_*\nSubsystem\tsftp\t/usr/lib/openssh/sftp-server\n".into(),
        0o644,
        t.install + 3600,
    );
    tree.root_file(
        "/etc/shells",
        "# /etc/shells: valid login shells\n/bin/sh\n/usr/bin/sh\n/bin/bash\n/usr/bin/bash\n/bin/rbash\n/usr/bin/rbash\n/bin/dash\n/usr/bin/dash\n".into(),
        0o644,
        t.install,
    );
}

/// `/proc`: CPU, kernel and memory from the persona; uptime and load are
/// computed when read.
fn proc_files(tree: &mut Tree, persona: &Persona, host: &HostInfo, t: &Times, rng: &mut impl Rng) {
    tree.root_file("/proc/cpuinfo", cpuinfo(persona, rng), 0o444, t.boot);
    tree.root_file(
        "/proc/version",
        format!(
            "Linux version {} ({}) {}\n",
            host.kernel,
            compiler(persona),
            uname_v(host)
        ),
        0o444,
        t.boot,
    );
    tree.root_file("/proc/meminfo", meminfo(host), 0o444, t.boot);
    for (name, value) in [
        ("ostype", "Linux"),
        ("osrelease", host.kernel.as_str()),
        ("hostname", host.hostname.as_str()),
        ("version", host.kernel_version.as_str()),
    ] {
        tree.root_file(
            &format!("/proc/sys/kernel/{name}"),
            format!("{value}\n"),
            0o444,
            t.boot,
        );
    }
    tree.synthetic("/proc/uptime", Content::Uptime, 0, 0o444, 0, t.boot);
    tree.synthetic("/proc/loadavg", Content::LoadAvg, 0, 0o444, 0, t.boot);
    // A directory per running process (what `ps` lists): a /proc without
    // them is a known fake-filesystem tell.
    for pid in [1, 2, 3, 12].into_iter().chain(host.daemon_pids()) {
        tree.dir(&format!("/proc/{pid}"), 0o555, 0, t.boot);
    }
}

/// Each account's home as the installer leaves it: root's dotfiles from
/// base-files, a user's from `/etc/skel` (mode 0700, bookworm's adduser
/// default). Root also has a used look: a shuffled slice of [`HISTORY`]
/// and an empty `authorized_keys`.
fn homes(tree: &mut Tree, accounts: &[Account], t: &Times, rng: &mut impl Rng) {
    // Where adduser copies a new user's dotfiles from.
    tree.dir("/etc/skel", 0o755, 0, t.install);
    for (name, body) in SKEL {
        tree.root_file(
            &format!("/etc/skel/{name}"),
            (*body).into(),
            0o644,
            t.install,
        );
    }
    for a in accounts {
        let uid = a.uid;
        let home = &a.home;
        let dotfiles: &[(&str, &str)] = if uid == 0 {
            &[(".bashrc", ROOT_BASHRC), (".profile", ROOT_PROFILE)]
        } else {
            tree.dir(home, 0o700, uid, t.recent);
            SKEL
        };
        for (name, body) in dotfiles {
            tree.file(
                &format!("{home}/{name}"),
                (*body).into(),
                0o644,
                uid,
                uid,
                t.install,
            );
        }
        if uid != 0 {
            continue;
        }
        let mut hist: Vec<&str> = HISTORY.to_vec();
        hist.shuffle(rng);
        let n = rng.gen_range(8..hist.len());
        let mut h = hist[..n].join("\n");
        h.push('\n');
        tree.file(
            &format!("{home}/.bash_history"),
            h,
            0o600,
            uid,
            uid,
            t.recent,
        );
        tree.dir(&format!("{home}/.ssh"), 0o700, uid, t.install + 7200);
        tree.file(
            &format!("{home}/.ssh/authorized_keys"),
            String::new(),
            0o600,
            uid,
            uid,
            t.install + 7200,
        );
    }
}

/// The page in `/var/www/html` until a web server of the decky puts its
/// own there.
pub const DEFAULT_WEB_INDEX: &str = "<html><body><h1>It works!</h1></body></html>\n";

/// The default web page and `/var/log` files of plausible sizes.
fn web_and_logs(tree: &mut Tree, t: &Times, rng: &mut impl Rng) {
    tree.file(
        "/var/www/html/index.html",
        DEFAULT_WEB_INDEX.into(),
        0o644,
        33,
        33,
        t.install + 86_400,
    );
    // All sizes are drawn before any mtime (the order a seed reproduces).
    let logs = [
        ("/var/log/auth.log", rng.gen_range(20_000..400_000u64)),
        ("/var/log/syslog", rng.gen_range(100_000..4_000_000)),
        ("/var/log/dpkg.log", rng.gen_range(50_000..300_000)),
        ("/var/log/kern.log", rng.gen_range(20_000..200_000)),
        ("/var/log/wtmp", rng.gen_range(5_000..90_000)),
    ];
    for (l, size) in logs {
        let mtime = t.recent + rng.gen_range(0..3600);
        tree.synthetic(l, Content::Binary, size, 0o640, 4, mtime);
    }
}

fn valid_user(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 32
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// os-release `NAME` of each distribution.
fn os_name(os_id: &str) -> &'static str {
    match os_id {
        "debian" => "Debian GNU/Linux",
        "ubuntu" => "Ubuntu",
        "rocky" => "Rocky Linux",
        "centos" => "CentOS Linux",
        "alpine" => "Alpine Linux",
        "fedora" => "Fedora Linux",
        "kali" => "Kali GNU/Linux",
        "arch" => "Arch Linux",
        _ => "Linux",
    }
}

fn os_names(p: &Persona) -> (String, String) {
    let code = match (p.distro.os_id, p.distro.version_id) {
        ("debian", "12") => "bookworm",
        ("debian", "11") => "bullseye",
        ("ubuntu", "22.04") => "jammy",
        ("ubuntu", "20.04") => "focal",
        ("ubuntu", "24.04") => "noble",
        _ => "",
    };
    (p.distro.os_id.to_owned(), code.to_owned())
}

fn version_string(p: &Persona, code: &str) -> String {
    match p.distro.os_id {
        "debian" => format!("{} ({code})", p.distro.version_id),
        "ubuntu" => {
            let pretty = p.distro.display_name.trim_start_matches("Ubuntu ");
            let cap = code
                .chars()
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + &code[1..])
                .unwrap_or_default();
            let animal = match code {
                "jammy" => "Jellyfish",
                "focal" => "Fossa",
                "noble" => "Numbat",
                _ => "",
            };
            format!("{pretty} ({cap} {animal})")
        }
        _ => p.distro.version_id.to_owned(),
    }
}

/// `uname -v` text: the build string of the persona's kernel.
pub fn uname_v(h: &HostInfo) -> String {
    h.kernel_version.clone()
}

fn compiler(p: &Persona) -> &'static str {
    match (p.distro.os_id, p.distro.version_id) {
        ("debian", "12") => "debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40",
        ("ubuntu", "22.04") => "buildd@lcy02-amd64-051) (x86_64-linux-gnu-gcc-12 (Ubuntu 12.3.0-1ubuntu1~22.04) 12.3.0, GNU ld (GNU Binutils for Ubuntu) 2.38",
        ("ubuntu", "20.04") => "buildd@lcy02-amd64-080) (gcc (Ubuntu 9.4.0-1ubuntu1~20.04.2) 9.4.0, GNU ld (GNU Binutils for Ubuntu) 2.34",
        _ => "mockbuild@builder) (gcc (GCC) 11.4.1 20230605, GNU ld version 2.35.2",
    }
}

fn cpuinfo(p: &Persona, rng: &mut impl Rng) -> String {
    let amd = p.cpu_model.starts_with("AMD");
    let mhz: f64 = rng.gen_range(2000.0..3400.0);
    let mut out = String::new();
    for i in 0..p.cpus {
        out.push_str(&format!(
            "processor\t: {i}\nvendor_id\t: {vendor}\ncpu family\t: {fam}\nmodel\t\t: {model}\nmodel name\t: {name}\nstepping\t: {step}\nmicrocode\t: 0x{mc:x}\ncpu MHz\t\t: {mhz:.3}\ncache size\t: {cache} KB\nphysical id\t: 0\nsiblings\t: {n}\ncore id\t\t: {i}\ncpu cores\t: {n}\napicid\t\t: {i}\ninitial apicid\t: {i}\nfpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: 13\nwp\t\t: yes\nflags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology cpuid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch fsgsbase bmi1 avx2 smep bmi2 erms invpcid rdseed adx smap clflushopt xsaveopt xsavec xgetbv1 xsaves arat\nbugs\t\t: spectre_v1 spectre_v2 spec_store_bypass swapgs\nbogomips\t: {bogo:.2}\nclflush size\t: 64\ncache_alignment\t: 64\naddress sizes\t: 46 bits physical, 48 bits virtual\npower management:\n\n",
            vendor = if amd { "AuthenticAMD" } else { "GenuineIntel" },
            fam = if amd { 23 } else { 6 },
            model = if amd { 49 } else { 85 },
            name = p.cpu_model,
            step = if amd { 0 } else { 7 },
            mc = if amd { 0x830104du32 } else { 0x5003604 },
            cache = if amd { 512 } else { 16896 },
            n = p.cpus,
            bogo = mhz * 2.0,
        ));
    }
    out
}

/// Memory split used by `/proc/meminfo` and `free` (KiB): (total, free, available, buffers, cached, swap).
pub fn memory(h: &HostInfo) -> (u64, u64, u64, u64, u64, u64) {
    let total = h.mem_kib;
    let used_pct = 18 + h.salt % 40;
    let free = total * (100 - used_pct) / 100 / 3;
    let buffers = total / 60 + h.salt % 9000;
    let cached = total * (100 - used_pct) / 100 - free - buffers.min(free / 2);
    let avail = free + cached * 9 / 10;
    let swap = if h.salt % 3 == 0 { 0 } else { 2_097_148 };
    (total, free, avail, buffers, cached, swap)
}

fn meminfo(h: &HostInfo) -> String {
    let (total, free, avail, buffers, cached, swap) = memory(h);
    format!(
        "MemTotal:       {total:>8} kB\nMemFree:        {free:>8} kB\nMemAvailable:   {avail:>8} kB\nBuffers:        {buffers:>8} kB\nCached:         {cached:>8} kB\nSwapCached:     {:>8} kB\nActive:         {:>8} kB\nInactive:       {:>8} kB\nSwapTotal:      {swap:>8} kB\nSwapFree:       {swap:>8} kB\nDirty:          {:>8} kB\nShmem:          {:>8} kB\n",
        0,
        total / 4,
        total / 5,
        h.salt % 400,
        total / 100,
    )
}

// Debian's own files: /etc/skel (bash) for users, base-files' dot.bashrc
// and dot.profile for root.
const BASHRC: &str = include_str!("skel/bashrc");
const PROFILE: &str = include_str!("skel/profile");
const BASH_LOGOUT: &str = include_str!("skel/bash_logout");
/// `/etc/skel` of Debian's bash package: a new user's dotfiles.
const SKEL: &[(&str, &str)] = &[
    (".bash_logout", BASH_LOGOUT),
    (".bashrc", BASHRC),
    (".profile", PROFILE),
];
const ROOT_BASHRC: &str = include_str!("skel/root_bashrc");
const ROOT_PROFILE: &str = include_str!("skel/root_profile");

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn logins(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(u, p)| (u.to_string(), p.to_string()))
            .collect()
    }

    #[test]
    fn accounts_start_with_root_and_skip_bad_or_repeated_names() {
        let a = accounts(&logins(&[
            ("admin", "x"),
            ("bad user", "y"),
            ("admin", "z"),
            ("ops", "w"),
        ]));
        let names: Vec<(&str, u32, &str)> = a
            .iter()
            .map(|a| (a.name.as_str(), a.uid, a.password.as_str()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("root", 0, "admin"),
                ("admin", 1000, "x"),
                ("ops", 1001, "w")
            ]
        );
        assert_eq!(a[2].home, "/home/ops");
    }

    #[test]
    fn install_time_is_the_generated_hosts_and_before_its_boot() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
        for name in ["a", "b", "c"] {
            let seed = DeckySeed::new(name, 0);
            let p = Persona::generate(&seed, Some("debian"), &[], "linux", now);
            let v = generate(&p, &seed, Ipv4Addr::new(10, 0, 0, 5), &[]);
            let t = install_time(&p, &seed);
            assert_eq!(t, v.host().install_time, "{name}");
            let before = (p.boot_time - t).num_days();
            assert!((30..400).contains(&before), "{name}: {before} days");
        }
    }

    #[test]
    fn shadow_hashes_follow_the_distribution() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap();
        for (slug, prefix) in [("debian", "root:$y$j9T$"), ("ubuntu20", "root:$6$")] {
            let seed = DeckySeed::new("h", 0);
            let p = Persona::generate(&seed, Some(slug), &[], "linux", now);
            let v = generate(&p, &seed, Ipv4Addr::new(10, 0, 0, 5), &[]);
            let Some(Node {
                kind: Kind::File(Content::Bytes(b)),
                ..
            }) = v.get("/etc/shadow")
            else {
                panic!("no /etc/shadow for {slug}");
            };
            let shadow = String::from_utf8_lossy(&b).into_owned();
            assert!(shadow.starts_with(prefix), "{slug}: {shadow}");
            assert_eq!(shadow.lines().count(), 17, "{slug}");
        }
    }
}
