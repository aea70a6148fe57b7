//! The packet personality against the real kernel: a Windows persona in
//! netns mode, seen from a scanner namespace through a raw socket — option
//! order, SYN/ACK window, TTL, IP IDs counting across replies — and a bulk
//! transfer both ways through the shaped namespace. Needs root, iproute2
//! and nft or iptables; elsewhere it says loudly that it did not run.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use decnet_core::NetMode;
use decnet_net::{bind_tcp_in, netns_name, run_in, AttachSpec, NetConfig, Network, NETNS_DIR};
use socket2::{Domain, Protocol, Socket, Type};

const DECKY: Ipv4Addr = Ipv4Addr::new(10, 81, 0, 10);
const SCANNER: Ipv4Addr = Ipv4Addr::new(10, 81, 0, 250);

mod common;
use common::{ip, root_with_iproute, Lan};

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn can_run() -> Result<(), &'static str> {
    root_with_iproute()?;
    if !have("nft") && !have("iptables-restore") {
        return Err("neither nft nor iptables-restore is installed");
    }
    Ok(())
}

/// The test LAN (veth: host end = macvlan parent, other end = scanner).
fn lan(pid: u32, decky: &str) -> Lan {
    let lan = Lan::new(
        format!("osfp{pid}"),
        format!("osfp-scan-{pid}"),
        netns_name(decky),
        &format!("{SCANNER}/24"),
    );
    lan.up();
    lan
}

/// A TCP packet from the decky as the scanner received it.
struct Seen {
    ttl: u8,
    ip_id: u16,
    src_port: u16,
    dst_port: u16,
    flags: u8,
    window: u16,
    options: Vec<u8>,
}

fn parse(p: &[u8]) -> Option<Seen> {
    let ihl = usize::from(p.first()? & 0x0f) * 4;
    let tcp = p.get(ihl..)?;
    let doff = usize::from(tcp.get(12)? >> 4) * 4;
    (p.get(12..16)? == DECKY.octets()).then_some(())?;
    Some(Seen {
        ttl: p[8],
        ip_id: u16::from_be_bytes([p[4], p[5]]),
        src_port: u16::from_be_bytes([tcp[0], tcp[1]]),
        dst_port: u16::from_be_bytes([tcp[2], tcp[3]]),
        flags: tcp[13],
        window: u16::from_be_bytes([tcp[14], tcp[15]]),
        options: tcp.get(20..doff)?.to_vec(),
    })
}

/// The first packet from the decky's `port` to scanner port `to` (3 s).
fn wait_for(mut raw: &Socket, port: u16, to: u16) -> Seen {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        let Ok(n) = raw.read(&mut buf) else { continue };
        if let Some(seen) = parse(&buf[..n]) {
            if seen.src_port == port && seen.dst_port == to {
                return seen;
            }
        }
    }
    panic!("no packet from decky port {port} to scanner port {to}");
}

/// Connects from the scanner to `port` with a fixed local port (so its
/// replies can be picked out); the stream when the connection was made.
fn connect_from(scanner: &Path, port: u16, local: u16) -> std::io::Result<TcpStream> {
    run_in(scanner, || {
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        s.set_reuse_address(true)?;
        s.bind(&SocketAddr::from((SCANNER, local)).into())?;
        s.connect_timeout(
            &SocketAddr::from((DECKY, port)).into(),
            Duration::from_secs(3),
        )?;
        Ok(TcpStream::from(s))
    })
}

/// Sends `bytes` to the echo-counting listener and reads them back.
fn round_trip(mut stream: TcpStream, bytes: &[u8]) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut reader = stream.try_clone().unwrap();
    let expected = bytes.len();
    let collector = std::thread::spawn(move || {
        let mut back = Vec::with_capacity(expected);
        let mut buf = [0u8; 65536];
        while back.len() < expected {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => back.extend_from_slice(&buf[..n]),
            }
        }
        back
    });
    stream.write_all(bytes).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    collector.join().unwrap()
}

#[test]
fn windows_persona_packets_are_shaped_and_tcp_still_works() {
    if let Err(why) = can_run() {
        eprintln!("SKIPPED windows_persona_packets_are_shaped_and_tcp_still_works ({why})");
        return;
    }
    let pid = std::process::id() % 100_000;
    let decky = format!("osfpt{pid}");
    let lan = lan(pid, &decky);
    let dir = tempfile::tempdir().unwrap();
    let config = NetConfig {
        mode: NetMode::Netns,
        interface: Some(lan.parent.clone()),
        prefix_len: 24,
        prefix_len6: 64,
        gw: Some(SCANNER),
        gw6: None,
    };
    let network = Network::open(config, dir.path().join("state.json")).unwrap();
    let attached = network
        .attach(&AttachSpec {
            name: &decky,
            ip: IpAddr::V4(DECKY),
            ip6: None,
            mac: [0x00, 0x15, 0x5d, 0x01, 0x02, 0x03],
            nmap_os: "windows",
            dhcp: None,
        })
        .unwrap();
    let backend = network.personality(&decky);
    assert!(
        backend.is_some(),
        "the Windows persona was not shaped (see the warning above)"
    );
    eprintln!("personality rules loaded with {backend:?}");
    let ns = attached.netns.clone().unwrap();
    let scanner = Path::new(NETNS_DIR).join(&lan.scanner);

    // An echo server in the decky: what it reads, it writes back.
    let listener = bind_tcp_in(&ns, SocketAddr::from((DECKY, 4445))).unwrap();
    listener.set_nonblocking(false).unwrap();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut conn, _) = listener.accept().unwrap();
            let mut writer = conn.try_clone().unwrap();
            std::io::copy(&mut conn, &mut writer).unwrap();
        }
    });
    let raw = run_in(&scanner, || {
        Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::TCP))
    })
    .unwrap();
    raw.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();

    // The SYN/ACK: Windows option order with the kernel's values, an 8192
    // window (the kernel offers ~64 KiB), TTL 128.
    let first = connect_from(&scanner, 4445, 40001).unwrap();
    let syn_ack = wait_for(&raw, 4445, 40001);
    assert_eq!(syn_ack.flags & 0x12, 0x12);
    assert_eq!(syn_ack.ttl, 128);
    assert_eq!(syn_ack.window, 0x2000);
    assert_eq!(
        &syn_ack.options[..2],
        &[2, 4],
        "MSS first: {:?}",
        syn_ack.options
    );
    assert_eq!(
        &syn_ack.options[4..8],
        &[1, 3, 3, 8],
        "then NOP, WS 8: {:?}",
        syn_ack.options
    );
    assert_eq!(
        &syn_ack.options[8..12],
        &[4, 2, 8, 10],
        "then SACK, timestamps: {:?}",
        syn_ack.options
    );

    // Resets from closed ports: one counter, counting up (Linux sends 0).
    let _ = connect_from(&scanner, 4446, 40002);
    let rst1 = wait_for(&raw, 4446, 40002);
    let _ = connect_from(&scanner, 4446, 40003);
    let rst2 = wait_for(&raw, 4446, 40003);
    assert_eq!(rst1.flags & 0x04, 0x04);
    let step = rst2.ip_id.wrapping_sub(rst1.ip_id);
    assert!(
        (1..=4).contains(&step),
        "IP IDs {} then {}",
        rst1.ip_id,
        rst2.ip_id
    );
    assert_eq!(
        rst1.ip_id.wrapping_sub(syn_ack.ip_id),
        1,
        "shared with the SYN/ACK"
    );

    // A connection the decky opens (chatter): Windows' SYN, no timestamps.
    let outside = run_in(&scanner, || std::net::TcpListener::bind((SCANNER, 4450))).unwrap();
    let opened = run_in(&ns, || {
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        s.bind(&SocketAddr::from((DECKY, 40050)).into())?;
        s.connect_timeout(
            &SocketAddr::from((SCANNER, 4450)).into(),
            Duration::from_secs(3),
        )?;
        Ok(TcpStream::from(s))
    });
    let syn = wait_for(&raw, 40050, 4450);
    assert_eq!(syn.flags & 0x12, 0x02);
    assert_eq!(syn.window, 0x2000);
    assert_eq!(
        &syn.options[4..],
        &[1, 3, 3, 8, 1, 1, 4, 2],
        "{:?}",
        syn.options
    );
    let mut opened = opened.unwrap();
    let (mut accepted, _) = outside.accept().unwrap();
    opened.write_all(b"ping").unwrap();
    let mut got = [0u8; 4];
    accepted.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping", "the connection without timestamps works");

    // Bulk data both ways through the shaped namespace (data segments are
    // not queued, but their flow starts from the rewritten SYN/ACK).
    let blob: Vec<u8> = (0..6u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert_eq!(round_trip(first, &blob), blob, "6 MiB echoed intact");
    let second = connect_from(&scanner, 4445, 40004).unwrap();
    assert_eq!(round_trip(second, &blob[..1 << 20]), &blob[..1 << 20]);
    server.join().unwrap();

    // Detach stops the reader, so the namespace really goes away.
    network.detach(&decky, &[IpAddr::V4(DECKY)]).unwrap();
    assert!(network.personality(&decky).is_none());
    assert!(!Path::new(NETNS_DIR).join(&lan.decky_ns).exists());
}

#[test]
fn rules_without_a_reader_fail_open() {
    if let Err(why) = can_run() {
        eprintln!("SKIPPED rules_without_a_reader_fail_open ({why})");
        return;
    }
    let pid = std::process::id() % 100_000;
    // Two bare namespaces on a veth pair (no Network: the personality is
    // started and stopped by hand, the rules stay, as after a crash).
    let lan = Lan {
        parent: format!("osfq{pid}"),
        scanner: format!("osfp-scan2-{pid}"),
        decky_ns: format!("osfp-dk2-{pid}"),
    };
    assert!(ip(&["netns", "add", &lan.scanner]));
    assert!(ip(&["netns", "add", &lan.decky_ns]));
    assert!(ip(&[
        "link",
        "add",
        &lan.parent,
        "netns",
        &lan.scanner,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        &lan.decky_ns
    ]));
    assert!(ip(&[
        "-n",
        &lan.scanner,
        "link",
        "set",
        &lan.parent,
        "name",
        "eth0"
    ]));
    for (ns, addr) in [(&lan.scanner, SCANNER), (&lan.decky_ns, DECKY)] {
        assert!(ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0"
        ]));
        assert!(ip(&["-n", ns, "link", "set", "eth0", "up"]));
    }
    let ns = Path::new(NETNS_DIR).join(&lan.decky_ns);
    let scanner = Path::new(NETNS_DIR).join(&lan.scanner);
    let running = decnet_net::personality::Personality::start(
        &lan.decky_ns,
        &ns,
        decnet_net::personality::Shape::WINDOWS,
    )
    .unwrap();
    running.stop();
    let ruleset = Command::new("ip")
        .args(["netns", "exec", &lan.decky_ns, "nft", "list", "ruleset"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if have("nft") {
        assert!(ruleset.contains("queue"), "the queue rules stay: {ruleset}");
    }

    let listener = bind_tcp_in(&ns, SocketAddr::from((DECKY, 4447))).unwrap();
    listener.set_nonblocking(false).unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.write_all(b"still here\n").unwrap();
    });
    let raw = run_in(&scanner, || {
        Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::TCP))
    })
    .unwrap();
    raw.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut stream = connect_from(&scanner, 4447, 40011)
        .expect("queued SYN/ACK with no reader must still go out");
    let mut greeting = String::new();
    stream.read_to_string(&mut greeting).unwrap();
    assert_eq!(greeting, "still here\n");
    server.join().unwrap();
    // Unshaped: the kernel's own option order (MSS, SACK, timestamps…).
    let syn_ack = wait_for(&raw, 4447, 40011);
    assert_eq!(
        &syn_ack.options[4..6],
        &[4, 2],
        "Linux order: {:?}",
        syn_ack.options
    );
}
