//! netns mode against the real kernel: a namespace per decky with the
//! persona MAC and stack, sockets opened inside it, crash recovery from the
//! state file. Needs root and iproute2; elsewhere it says loudly that it did
//! not run (CI runs it as root).
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::Path;

use decnet_core::NetMode;
use decnet_net::{bind_tcp_in, netns_name, run_in, AttachSpec, NetConfig, Network, NETNS_DIR};

mod common;
use common::{ip, ip_output, root_with_iproute as can_run, Lan};

/// Listens on `addr` inside `ns`, connects from `scanner`: what the
/// scanner read and the peer address the listener saw.
fn greet(ns: &Path, scanner: &Path, addr: SocketAddr) -> (String, SocketAddr) {
    let listener = bind_tcp_in(ns, addr).unwrap();
    listener.set_nonblocking(false).unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, peer) = listener.accept().unwrap();
        conn.write_all(b"hello\n").unwrap();
        peer
    });
    let greeting = run_in(scanner, || {
        let mut s = TcpStream::connect(addr)?;
        let mut buf = String::new();
        s.read_to_string(&mut buf)?;
        Ok(buf)
    })
    .unwrap();
    (greeting, server.join().unwrap())
}

#[test]
fn netns_decky_is_a_host_with_its_own_mac_stack_and_sockets() {
    if let Err(why) = can_run() {
        eprintln!("SKIPPED netns_decky_is_a_host_with_its_own_mac_stack_and_sockets ({why})");
        return;
    }
    let pid = std::process::id() % 100_000;
    let decky = format!("nt{pid}");
    let lan = Lan::new(
        format!("dnu{pid}"),
        format!("dnu-scan-{pid}"),
        netns_name(&decky),
        "10.79.0.250/24",
    );
    assert!(ip(&[
        "-n",
        &lan.scanner,
        "-6",
        "addr",
        "add",
        "fd00:79::250/64",
        "dev",
        "eth0",
        "nodad"
    ]));
    lan.up();

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("network-state.json");
    let config = NetConfig {
        mode: NetMode::Netns,
        interface: Some(lan.parent.clone()),
        prefix_len: 24,
        prefix_len6: 64,
        gw: Some(Ipv4Addr::new(10, 79, 0, 250)),
        gw6: Some("fd00:79::250".parse().unwrap()),
    };
    // The scanner plays the LAN's router: RFC 9131 lets a router learn a
    // neighbour from an unsolicited advertisement (Linux: forwarding on and
    // accept_untracked_na), which is what the decky's announcement is for.
    let scanner = Path::new(NETNS_DIR).join(&lan.scanner);
    run_in(&scanner, || {
        std::fs::write("/proc/sys/net/ipv6/conf/all/forwarding", "1")?;
        std::fs::write("/proc/sys/net/ipv6/conf/eth0/accept_untracked_na", "1")
    })
    .unwrap();
    let network = Network::open(config.clone(), state.clone()).unwrap();
    let mac = [0x00, 0x50, 0x56, 0x12, 0x34, 0x56];
    let addr = Ipv4Addr::new(10, 79, 0, 10);
    let addr6: Ipv6Addr = "fd00:79::10".parse().unwrap();
    let attached = network
        .attach(&AttachSpec {
            name: &decky,
            ip: IpAddr::V4(addr),
            ip6: Some(addr6),
            mac,
            nmap_os: "windows",
            dhcp: None,
        })
        .unwrap();
    let ns = attached
        .netns
        .clone()
        .expect("netns mode gives a namespace");
    assert_eq!(ns, Path::new(NETNS_DIR).join(&lan.decky_ns));
    assert_eq!(attached.mac, Some(mac), "the link carries the persona MAC");

    // The persona's stack is what the namespace runs.
    let ttl = run_in(&ns, || {
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_default_ttl")
    })
    .unwrap();
    assert_eq!(ttl.trim(), "128");
    let hop_limit = run_in(&ns, || {
        std::fs::read_to_string("/proc/sys/net/ipv6/conf/eth0/hop_limit")
    })
    .unwrap();
    assert_eq!(hop_limit.trim(), "128", "the persona's IPv6 hop limit");
    let host_ttl = std::fs::read_to_string("/proc/sys/net/ipv4/ip_default_ttl").unwrap();
    assert_eq!(host_ttl.trim(), "64", "the host namespace is untouched");

    // Both default routes, and the router already knows the decky's IPv6
    // address at its MAC, before any traffic asked for it.
    let route6 = ip_output(&["-n", &lan.decky_ns, "-6", "route", "show", "default"]);
    assert!(
        route6.starts_with("default via fd00:79::250 dev eth0"),
        "{route6}"
    );
    let route4 = ip_output(&["-n", &lan.decky_ns, "route", "show", "default"]);
    assert!(route4.starts_with("default via 10.79.0.250"), "{route4}");
    let neigh = ip_output(&["-n", &lan.scanner, "-6", "neigh", "show", "fd00:79::10"]);
    assert!(
        neigh.contains(&format!("lladdr {}", decnet_core::format_mac(mac))),
        "the router did not learn the decky from its advertisement: {neigh:?}"
    );

    // A listener opened inside the namespace serves the scanner on the LAN,
    // on the decky's IPv4 address and on its IPv6 one (dual-stack).
    let (greeting, peer) = greet(&ns, &scanner, SocketAddr::from((addr, 4444)));
    assert_eq!(greeting, "hello\n");
    assert_eq!(peer.ip(), Ipv4Addr::new(10, 79, 0, 250));
    let (greeting6, peer6) = greet(&ns, &scanner, SocketAddr::from((addr6, 4444)));
    assert_eq!(greeting6, "hello\n");
    assert_eq!(peer6.ip(), "fd00:79::250".parse::<IpAddr>().unwrap());

    // Crash: the namespace stays; the next open removes it from the state file.
    drop(network);
    assert!(ns.exists());
    let network = Network::open(config, state).unwrap();
    assert!(
        !ns.exists(),
        "recovery removed the namespace of the crashed run"
    );

    // A normal attach/detach leaves nothing.
    network
        .attach(&AttachSpec {
            name: &decky,
            ip: IpAddr::V4(addr),
            ip6: None,
            mac,
            nmap_os: "linux",
            dhcp: None,
        })
        .unwrap();
    assert!(ns.exists());
    network.detach(&decky, &[IpAddr::V4(addr)]).unwrap();
    assert!(!ns.exists());
}
