//! The DHCP client against a real dnsmasq, across namespaces this test
//! creates: a server namespace (bridge `br0` + dnsmasq) and one client
//! namespace per decky, joined by veth pairs whose client end is the
//! decky's `eth0` with its persona MAC and no address — as in netns mode.
//!
//! Needs root, `ip` and `dnsmasq` (CI installs `dnsmasq-base`); without them
//! every test prints `SKIPPED (reason)` and returns.
#![allow(clippy::unwrap_used)]
#![allow(unsafe_code)] // syscalls (signals, mounts, rusage); each block says why it is sound

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use decnet_core::fleet::NetMode;
use decnet_net::dhcp::{self, DhcpClient, HeldLease, Lease};
use decnet_net::{netns_name, run_in, AttachSpec, NetConfig, NetError, Network, NETNS_DIR};

const SUBNET: &str = "10.77.0";

fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    for tool in ["ip", "dnsmasq"] {
        let found = Command::new(tool)
            .arg(if tool == "ip" { "-V" } else { "--version" })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Some(format!("`{tool}` not found"));
        }
    }
    None
}

macro_rules! require_lab {
    () => {
        if let Some(reason) = skip_reason() {
            eprintln!("\n*** SKIPPED ({reason}): DHCP tests need root, ip and dnsmasq ***\n");
            return;
        }
    };
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Namespaces, dnsmasq and a temp dir, all removed on drop (even when an
/// assertion fails half-way).
struct Lab {
    tag: String,
    namespaces: Vec<String>,
    clients: usize,
    dnsmasq: Option<Child>,
    log: Arc<Mutex<String>>,
    dir: tempfile::TempDir,
}

impl Lab {
    /// A server namespace with `br0` = `SUBNET.1/24` (no dnsmasq yet).
    fn new(tag: &str) -> Lab {
        let mut lab = Lab {
            tag: format!("dn-dhcp-{}-{tag}", std::process::id()),
            namespaces: Vec::new(),
            clients: 0,
            dnsmasq: None,
            log: Arc::default(),
            dir: tempfile::tempdir().expect("temp dir"),
        };
        let srv = lab.add_namespace("srv");
        ip(&["-n", &srv, "link", "add", "br0", "type", "bridge"]);
        ip(&[
            "-n",
            &srv,
            "addr",
            "add",
            &format!("{SUBNET}.1/24"),
            "dev",
            "br0",
        ]);
        ip(&["-n", &srv, "link", "set", "br0", "up"]);
        lab
    }

    fn add_namespace(&mut self, role: &str) -> String {
        let name = format!("{}-{role}", self.tag);
        self.namespaces.push(name.clone());
        ip(&["netns", "add", &name]);
        name
    }

    fn server_ns(&self) -> &str {
        &self.namespaces[0]
    }

    /// A decky namespace whose `eth0` (persona MAC, up, no address) is
    /// bridged to the server; returns its handle path.
    fn add_client(&mut self, mac: [u8; 6]) -> (String, PathBuf) {
        let n = self.clients;
        self.clients += 1;
        let ns = self.add_namespace(&format!("cli{n}"));
        let srv = self.server_ns().to_owned();
        let port = format!("lan{n}");
        ip(&[
            "-n", &srv, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
        ]);
        ip(&["-n", &srv, "link", "set", &port, "master", "br0", "up"]);
        ip(&[
            "-n",
            &ns,
            "link",
            "set",
            "eth0",
            "address",
            &decnet_core::format_mac(mac),
        ]);
        ip(&["-n", &ns, "link", "set", "lo", "up"]);
        ip(&["-n", &ns, "link", "set", "eth0", "up"]);
        (ns.clone(), Path::new(NETNS_DIR).join(ns))
    }

    /// A namespace standing in for the host, whose `uplink` is bridged to
    /// the server: the parent interface of netns-mode macvlans.
    fn add_host(&mut self) -> PathBuf {
        let host = self.add_namespace("host");
        let srv = self.server_ns().to_owned();
        ip(&[
            "-n", &srv, "link", "add", "up0", "type", "veth", "peer", "name", "uplink", "netns",
            &host,
        ]);
        ip(&["-n", &srv, "link", "set", "up0", "master", "br0", "up"]);
        ip(&["-n", &host, "link", "set", "uplink", "up"]);
        Path::new(NETNS_DIR).join(host)
    }

    fn leases_path(&self) -> PathBuf {
        self.dir.path().join("leases")
    }

    /// Starts dnsmasq (DHCP only) on `br0` and waits until it serves.
    fn start_dnsmasq(&mut self) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", self.server_ns(), "dnsmasq"])
            .args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--port=0",
                "--interface=br0",
                "--bind-interfaces",
                "--dhcp-authoritative",
                "--log-dhcp",
                "--log-facility=-",
                "--user=root",
            ])
            .arg(format!(
                "--dhcp-range={SUBNET}.50,{SUBNET}.99,255.255.255.0,2m"
            ))
            .arg(format!("--dhcp-option=option:router,{SUBNET}.254"))
            .arg(format!("--dhcp-leasefile={}", self.leases_path().display()))
            .arg(format!(
                "--pid-file={}",
                self.dir.path().join("pid").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dnsmasq");
        let stderr = child.stderr.take().expect("stderr");
        let log = self.log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = log.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        self.dnsmasq = Some(child);
        self.wait_log("DHCP, IP range", Duration::from_secs(10));
    }

    /// Stops dnsmasq (the network loses its DHCP server).
    fn stop_dnsmasq(&mut self) {
        if let Some(mut child) = self.dnsmasq.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn wait_log(&mut self, needle: &str, limit: Duration) {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if self.log.lock().unwrap().contains(needle) {
                return;
            }
            if let Some(status) = self
                .dnsmasq
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("dnsmasq exited ({status}):\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("dnsmasq never logged {needle:?}:\n{}", self.log());
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// dnsmasq's lease line for `mac`, waiting up to 3 s for `pred` on it.
    fn lease_line(&self, mac: [u8; 6], pred: impl Fn(Option<&str>) -> bool) -> Option<String> {
        let mac = decnet_core::format_mac(mac);
        let until = Instant::now() + Duration::from_secs(3);
        loop {
            let text = std::fs::read_to_string(self.leases_path()).unwrap_or_default();
            let line = text
                .lines()
                .find(|l| l.split_whitespace().nth(1) == Some(mac.as_str()));
            if pred(line) || Instant::now() > until {
                return line.map(str::to_owned);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Names and PID that must be gone after drop.
    fn leftovers(&self) -> (Vec<String>, Option<u32>) {
        (
            self.namespaces.clone(),
            self.dnsmasq.as_ref().map(Child::id),
        )
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_dnsmasq();
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn assert_cleaned((namespaces, pid): (Vec<String>, Option<u32>)) {
    for ns in namespaces {
        assert!(
            !Path::new(NETNS_DIR).join(&ns).exists(),
            "namespace {ns} left behind"
        );
    }
    if let Some(pid) = pid {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "dnsmasq {pid} left running"
        );
    }
}

fn in_range(ip: Ipv4Addr) -> bool {
    let [a, b, c, d] = ip.octets();
    format!("{a}.{b}.{c}") == SUBNET && (50..=99).contains(&d)
}

fn expiry(line: &str) -> u64 {
    line.split_whitespace().next().unwrap().parse().unwrap()
}

const TIMEOUT: Duration = Duration::from_secs(20);

#[test]
fn windows_decky_leases_renews_and_releases() {
    require_lab!();
    let mut lab = Lab::new("win");
    lab.start_dnsmasq();
    let mac = [0x00, 0x15, 0x5d, 0x4a, 0x11, 0x02];
    let (ns, handle) = lab.add_client(mac);
    let client = DhcpClient::for_os("windows", "DESKTOP-7Q2K9XJ", mac, "10.0.19045");

    let started = Instant::now();
    let lease = dhcp::acquire(&handle, "eth0", mac, &client, TIMEOUT).expect("lease");
    eprintln!("acquired {lease:?} in {:?}", started.elapsed());
    assert!(in_range(lease.ip), "{} outside the dnsmasq range", lease.ip);
    assert_eq!(lease.prefix_len, 24);
    assert_eq!(lease.router, Some(format!("{SUBNET}.254").parse().unwrap()));
    assert_eq!(
        lease.server,
        format!("{SUBNET}.1").parse::<Ipv4Addr>().unwrap()
    );
    assert_eq!(lease.lease_secs, 120);
    assert!(lease.renew_secs > 0 && lease.renew_secs <= lease.rebind_secs);

    let line = lab
        .lease_line(mac, |l| l.is_some())
        .expect("dnsmasq lease entry");
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(fields[2], lease.ip.to_string(), "{line}");
    assert_eq!(fields[3], "DESKTOP-7Q2K9XJ", "{line}");
    assert_eq!(
        fields[4],
        format!("01:{}", decnet_core::format_mac(mac)),
        "{line}"
    );
    let log = lab.log();
    assert!(log.contains("vendor class: MSFT 5.0"), "{log}");
    assert!(
        log.contains("requested options: 1:netmask, 3:router, 6:dns-server, 15:domain-name"),
        "{log}"
    );

    // The engine adds the address next; renewal is unicast from it.
    let cidr = format!("{}/{}", lease.ip, lease.prefix_len);
    ip(&["-n", &ns, "addr", "add", &cidr, "dev", "eth0"]);
    std::thread::sleep(Duration::from_millis(1100));
    let renewed = dhcp::renew(&handle, "eth0", mac, &client, &lease, TIMEOUT).expect("renew");
    assert_eq!(renewed.ip, lease.ip);
    assert_eq!(renewed.server, lease.server);
    assert!(renewed.obtained_at > lease.obtained_at);
    let after = lab
        .lease_line(mac, |l| l.is_some_and(|l| expiry(l) > expiry(&line)))
        .expect("lease still recorded");
    assert!(
        expiry(&after) > expiry(&line),
        "renewal did not extend the lease: {line} → {after}"
    );

    dhcp::release(&handle, "eth0", mac, &client, &renewed).expect("release");
    let gone = lab.lease_line(mac, |l| l.is_none());
    assert_eq!(gone, None, "lease still recorded after DHCPRELEASE");
    // The log is read by a thread: wait for the line rather than race it.
    lab.wait_log("DHCPRELEASE(br0)", Duration::from_secs(5));

    let left = lab.leftovers();
    drop(lab);
    assert_cleaned(left);
}

#[test]
fn linux_and_embedded_deckies_announce_their_clients() {
    require_lab!();
    let mut lab = Lab::new("lnx");
    lab.start_dnsmasq();
    let linux_mac = [0x52, 0x54, 0x00, 0x3e, 0x10, 0x01];
    let plc_mac = [0x00, 0x0e, 0x8c, 0x7a, 0x20, 0x02];
    let (_, linux_ns) = lab.add_client(linux_mac);
    let (_, plc_ns) = lab.add_client(plc_mac);
    let linux = DhcpClient::for_os("linux", "web-prod-03", linux_mac, "6.1.0-13-amd64");
    let plc = DhcpClient::for_os("embedded", "plc-0042", plc_mac, "4.14.98");

    // Two deckies joining at the same time get distinct addresses.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| dhcp::acquire(&linux_ns, "eth0", linux_mac, &linux, TIMEOUT));
        let b = s.spawn(|| dhcp::acquire(&plc_ns, "eth0", plc_mac, &plc, TIMEOUT));
        (a.join().unwrap(), b.join().unwrap())
    });
    let (a, b) = (a.expect("linux lease"), b.expect("plc lease"));
    assert!(in_range(a.ip) && in_range(b.ip));
    assert_ne!(a.ip, b.ip);

    let line = lab
        .lease_line(linux_mac, |l| l.is_some())
        .expect("linux entry");
    assert!(line.contains(" web-prod-03 "), "{line}");
    // dhcpcd's RFC 4361 client id (0xff, IAID, DUID-LL).
    let iaid = &decnet_core::format_mac(linux_mac)[6..];
    let duid = format!(
        "ff:{iaid}:00:03:00:01:{}",
        decnet_core::format_mac(linux_mac)
    );
    assert!(line.ends_with(&duid), "{line}");
    let line = lab.lease_line(plc_mac, |l| l.is_some()).expect("plc entry");
    assert!(line.contains(" plc-0042 "), "{line}");
    let log = lab.log();
    assert!(
        log.contains("vendor class: dhcpcd-9.4.1:Linux-6.1.0-13-amd64"),
        "{log}"
    );
    assert!(log.contains("vendor class: udhcp 1.36.1"), "{log}");

    let left = lab.leftovers();
    drop(lab);
    assert_cleaned(left);
}

#[test]
fn renewal_falls_back_to_rebinding_and_a_refusal_is_an_error() {
    require_lab!();
    let mut lab = Lab::new("rbd");
    lab.start_dnsmasq();
    let mac = [0x00, 0x1b, 0x21, 0x0c, 0x30, 0x03];
    let (ns, handle) = lab.add_client(mac);
    let client = DhcpClient::for_os("linux", "db-01", mac, "5.15.0-91-generic");
    let lease = dhcp::acquire(&handle, "eth0", mac, &client, TIMEOUT).expect("lease");
    let cidr = format!("{}/{}", lease.ip, lease.prefix_len);
    ip(&["-n", &ns, "addr", "add", &cidr, "dev", "eth0"]);

    // The granting server has gone (nobody at .77): unicast renewal gets no
    // answer, so the client broadcasts (REBINDING) and dnsmasq answers.
    let vanished = Lease {
        server: format!("{SUBNET}.77").parse().unwrap(),
        ..lease.clone()
    };
    let started = Instant::now();
    let rebound = dhcp::renew(
        &handle,
        "eth0",
        mac,
        &client,
        &vanished,
        Duration::from_secs(12),
    )
    .expect("rebinding");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(6),
        "answered before rebinding: {took:?}"
    );
    assert_eq!(rebound.ip, lease.ip);
    assert_eq!(rebound.server, lease.server);

    // An address the server never leased: authoritative dnsmasq says NAK.
    let bogus = Lease {
        ip: format!("{SUBNET}.200").parse().unwrap(),
        ..lease.clone()
    };
    ip(&[
        "-n",
        &ns,
        "addr",
        "add",
        &format!("{SUBNET}.200/24"),
        "dev",
        "eth0",
    ]);
    match dhcp::renew(&handle, "eth0", mac, &client, &bogus, TIMEOUT) {
        Err(NetError::DhcpRefused { server, ip }) => {
            assert_eq!((server, ip), (lease.server, bogus.ip));
        }
        other => panic!("expected a DHCPNAK refusal, got {other:?}"),
    }

    let left = lab.leftovers();
    drop(lab);
    assert_cleaned(left);
}

#[test]
fn held_lease_renews_only_when_due_and_releases() {
    require_lab!();
    let mut lab = Lab::new("held");
    lab.start_dnsmasq();
    let mac = [0x00, 0x0c, 0x29, 0x5b, 0x50, 0x05];
    let (ns, handle) = lab.add_client(mac);
    let client = DhcpClient::for_os("bsd", "fw-edge", mac, "13.2-RELEASE");
    let mut held = HeldLease::acquire(&handle, "eth0", mac, client, TIMEOUT).expect("lease");
    let first = held.lease.clone();
    let line = lab.lease_line(mac, |l| l.is_some()).expect("entry");
    assert!(line.contains(" fw-edge "), "{line}");
    let cidr = format!("{}/{}", first.ip, first.prefix_len);
    ip(&["-n", &ns, "addr", "add", &cidr, "dev", "eth0"]);

    let now = SystemTime::now();
    assert!(!held.renew_if_due(now, TIMEOUT).expect("not due"));
    assert_eq!(held.lease, first, "renewed before T1");
    std::thread::sleep(Duration::from_millis(1100));
    let at_t1 = first.renew_at() + Duration::from_secs(1);
    assert!(held.renew_if_due(at_t1, TIMEOUT).expect("renewal"));
    assert_eq!(held.lease.ip, first.ip);
    assert!(held.lease.obtained_at > first.obtained_at);
    let after = lab
        .lease_line(mac, |l| l.is_some_and(|l| expiry(l) > expiry(&line)))
        .expect("entry");
    assert!(expiry(&after) > expiry(&line), "{line} → {after}");
    let expired = first.expires_at() + Duration::from_secs(1);
    let mut stale = HeldLease {
        lease: first.clone(),
        ..held.clone()
    };
    assert!(matches!(
        stale.renew_if_due(expired, TIMEOUT),
        Err(NetError::Dhcp(_))
    ));

    held.release().expect("release");
    assert_eq!(lab.lease_line(mac, |l| l.is_none()), None);

    let left = lab.leftovers();
    drop(lab);
    assert_cleaned(left);
}

#[test]
fn no_server_means_a_bounded_timeout() {
    require_lab!();
    let mut lab = Lab::new("none");
    let mac = [0x00, 0x50, 0x56, 0x01, 0x40, 0x04];
    let (_, handle) = lab.add_client(mac);
    let client = DhcpClient::for_os("windows_server", "WIN-3MQ0FJ2K1", mac, "10.0.17763");
    let started = Instant::now();
    let err = dhcp::acquire(&handle, "eth0", mac, &client, Duration::from_secs(3))
        .expect_err("no server, no lease");
    let took = started.elapsed();
    assert!(matches!(err, NetError::Dhcp(_)), "{err}");
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(5),
        "timeout not honoured: {took:?}"
    );
    let left = lab.leftovers();
    drop(lab);
    assert_cleaned(left);
}

/// `Network::attach` in netns mode with DHCP, run inside a namespace that
/// stands in for the host: the macvlan child of `uplink` gets its address,
/// prefix and default route from dnsmasq, and detaching releases it.
#[test]
fn netns_attach_takes_its_address_from_dhcp_and_detach_releases_it() {
    require_lab!();
    let mut lab = Lab::new("att");
    lab.start_dnsmasq();
    let host = lab.add_host();
    let decky = format!("dhcpt{}", std::process::id());
    let decky_ns = netns_name(&decky);
    let mac = [0x00, 0x15, 0x5d, 0x9a, 0x60, 0x06];
    let client = DhcpClient::for_os("windows", "DESKTOP-R2D2C3P", mac, "10.0.19045");
    let state = lab.dir.path().join("net-state.json");
    let config = NetConfig {
        mode: NetMode::Netns,
        interface: Some("uplink".into()),
        prefix_len: 16, // what a static decky would get; the lease says 24
        prefix_len6: 64,
        gw: Some(format!("{SUBNET}.1").parse().unwrap()),
        gw6: None,
    };
    // Detach even when an assertion fails, before the lab goes.
    struct Detach<'a>(&'a Path, &'a Network, &'a str);
    impl Drop for Detach<'_> {
        fn drop(&mut self) {
            let _ = run_in(self.0, || Ok(self.1.detach(self.2, &[])));
        }
    }
    let network = run_in(&host, || Ok(Network::open(config, state)))
        .unwrap()
        .expect("open");
    let guard = Detach(&host, &network, &decky);
    let attached = run_in(&host, || {
        Ok(network.attach(&AttachSpec {
            name: &decky,
            ip: std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ip6: None,
            mac,
            nmap_os: "windows",
            dhcp: Some(&client),
        }))
    })
    .unwrap()
    .expect("attach");
    let lease = attached.lease.clone().expect("lease");
    assert_eq!(attached.ip, lease.ip);
    assert!(in_range(lease.ip), "{}", lease.ip);
    assert_eq!(attached.mac, Some(mac));
    assert_eq!(network.lease(&decky), Some(lease.clone()));

    let addrs = Command::new("ip")
        .args(["-n", &decky_ns, "-4", "-o", "addr", "show", "dev", "eth0"])
        .output()
        .unwrap();
    let addrs = String::from_utf8_lossy(&addrs.stdout);
    assert!(addrs.contains(&format!("inet {}/24 ", lease.ip)), "{addrs}");
    let routes = Command::new("ip")
        .args(["-n", &decky_ns, "-4", "route", "show", "default"])
        .output()
        .unwrap();
    let routes = String::from_utf8_lossy(&routes.stdout);
    assert!(routes.contains(&format!("via {SUBNET}.254 ")), "{routes}");
    let line = lab.lease_line(mac, |l| l.is_some()).expect("dnsmasq entry");
    assert!(
        line.contains(&format!(" {} DESKTOP-R2D2C3P ", lease.ip)),
        "{line}"
    );

    // Nothing is due yet.
    let report = network.renew_due(TIMEOUT);
    assert!(report.failed.is_empty() && report.rejoined.is_empty());
    assert_eq!(network.lease(&decky), Some(lease));

    drop(guard);
    assert_eq!(lab.lease_line(mac, |l| l.is_none()), None, "not released");
    assert!(!Path::new(NETNS_DIR).join(&decky_ns).exists());
    assert_eq!(network.lease(&decky), None);

    // Attached again, then past the lease's expiry without a renewal: the
    // decky stops using the expired address, as a real client must, and
    // starts over with a DISCOVER (dnsmasq answers: a new lease is held).
    let guard = Detach(&host, &network, &decky);
    let attached = run_in(&host, || {
        Ok(network.attach(&AttachSpec {
            name: &decky,
            ip: std::net::IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            ip6: None,
            mac,
            nmap_os: "windows",
            dhcp: Some(&client),
        }))
    })
    .unwrap()
    .expect("second attach");
    let lease = attached.lease.expect("second lease");
    let after_expiry = lease.expires_at() + Duration::from_secs(1);
    let report = run_in(&host, || Ok(network.renew_due_at(after_expiry, TIMEOUT))).unwrap();
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.rejoined.len(), 1, "{report:?}");
    let rejoined = &report.rejoined[0];
    assert_eq!(rejoined.decky, decky);
    assert_eq!(rejoined.old_ip, lease.ip);
    let fresh = rejoined.lease.clone();
    assert!(in_range(fresh.ip), "{}", fresh.ip);
    assert!(
        fresh.obtained_at >= lease.obtained_at,
        "a new lease, not the old one"
    );
    assert_eq!(network.lease(&decky), Some(fresh.clone()));
    let addrs = Command::new("ip")
        .args(["-n", &decky_ns, "-4", "-o", "addr", "show", "dev", "eth0"])
        .output()
        .unwrap();
    let addrs = String::from_utf8_lossy(&addrs.stdout);
    // Exactly the new lease's address (the old one was removed first even
    // when the server hands the same one back).
    assert_eq!(addrs.matches("inet ").count(), 1, "{addrs}");
    assert!(addrs.contains(&format!("inet {}/24 ", fresh.ip)), "{addrs}");
    let routes = Command::new("ip")
        .args(["-n", &decky_ns, "-4", "route", "show", "default"])
        .output()
        .unwrap();
    let routes = String::from_utf8_lossy(&routes.stdout);
    assert!(routes.contains(&format!("via {SUBNET}.254 ")), "{routes}");

    // With the server gone, a lost lease cannot be replaced: the decky is
    // left without an address and the failure is reported.
    lab.stop_dnsmasq();
    let after_expiry = fresh.expires_at() + Duration::from_secs(1);
    let t = Instant::now();
    let report = run_in(&host, || {
        Ok(network.renew_due_at(after_expiry, Duration::from_secs(3)))
    })
    .unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "bounded: {:?}",
        t.elapsed()
    );
    assert!(report.rejoined.is_empty(), "{report:?}");
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.failed[0].0, decky);
    assert_eq!(network.lease(&decky), None);
    let addrs = Command::new("ip")
        .args(["-n", &decky_ns, "-4", "-o", "addr", "show", "dev", "eth0"])
        .output()
        .unwrap();
    let addrs = String::from_utf8_lossy(&addrs.stdout);
    assert!(
        !addrs.contains(&fresh.ip.to_string()),
        "expired address kept: {addrs}"
    );
    drop(guard);
    assert!(!Path::new(NETNS_DIR).join(&decky_ns).exists());

    let left = lab.leftovers();
    drop(lab);
    assert_cleaned(left);
}
