//! The sensor against reference tools, on captures recorded with real
//! clients and servers in network namespaces
//! (`scripts/passive/record_testdata.sh`): JA3 against tshark's
//! `tls.handshake.ja3`, HASSH against tshark's `ssh.kex.hassh`, SYN
//! signatures against `p0f -r` (`scripts/passive/reference.sh` wrote
//! `testdata/reference.tsv`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use decnet_core::{Event, EventKind};
use decnet_passive::replay::{frames, replay};
use decnet_passive::{Analyzer, AnalyzerLimits, FleetView, OsTable};

const DECKY: &str = "10.77.0.2";
const CLIENT: &str = "10.77.0.1";

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

/// The recording's decky: sshd on 22, s_server on 443, nothing else.
fn fleet() -> FleetView {
    let mut v = FleetView::new();
    v.insert_summary(DECKY.parse().expect("ip"), "decky01", ["tcp/22", "tcp/443"]);
    v
}

fn run(pcap: &str) -> Vec<Event> {
    let f = frames(std::fs::File::open(testdata(pcap)).expect("pcap")).expect("readable pcap");
    assert!(!f.is_empty(), "{pcap} has frames");
    let mut a = Analyzer::new(AnalyzerLimits::default(), OsTable::builtin());
    replay(&mut a, &f, &fleet())
}

/// `pcap → kind → (value, detail)` from reference.tsv.
fn reference() -> BTreeMap<(String, String), (String, String)> {
    let text = std::fs::read_to_string(testdata("reference.tsv")).expect("reference.tsv");
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            (
                (c[0].to_owned(), c[1].to_owned()),
                (c[2].to_owned(), c.get(3).copied().unwrap_or("").to_owned()),
            )
        })
        .collect()
}

fn fingerprints<'a>(events: &'a [Event], kind: &str) -> Vec<&'a Event> {
    events
        .iter()
        .filter(|e| {
            e.kind == EventKind::Fingerprint && e.field_str("fingerprint_type") == Some(kind)
        })
        .collect()
}

#[test]
fn ja3_matches_tshark_on_curl_and_openssl_hellos() {
    let refs = reference();
    let mut checked = 0;
    for pcap in [
        "tls12_curl.pcap",
        "tls13_curl.pcap",
        "openssl_s_client.pcap",
    ] {
        let (ja3, ja3_string) = &refs[&(pcap.to_owned(), "ja3".to_owned())];
        let events = run(pcap);
        let tls = fingerprints(&events, "tls");
        assert_eq!(tls.len(), 1, "{pcap}: one ClientHello");
        let e = tls[0];
        assert_eq!(e.field_str("ja3"), Some(ja3.as_str()), "{pcap}");
        assert_eq!(
            e.field_str("ja3_string"),
            Some(ja3_string.as_str()),
            "{pcap}"
        );
        let ja4 = e.field_str("ja4").expect("ja4");
        assert!(
            ja4.starts_with('t') && ja4.split('_').count() == 3,
            "{pcap}: {ja4}"
        );
        assert_eq!(e.decky, "decky01");
        assert_eq!(e.service, "passive");
        assert_eq!(e.src_ip, CLIENT.parse::<IpAddr>().expect("ip"));
        assert_eq!(e.dst_port, 443);
        checked += 1;
    }
    assert_eq!(checked, 3);
    // TLS 1.3 offers 1.3 in supported_versions: JA4 says so.
    let e = run("tls13_curl.pcap");
    assert!(fingerprints(&e, "tls")[0]
        .field_str("ja4")
        .expect("ja4")
        .starts_with("t13"));
    let e = run("tls12_curl.pcap");
    assert!(fingerprints(&e, "tls")[0]
        .field_str("ja4")
        .expect("ja4")
        .starts_with("t12"));
    // openssl s_client sent an SNI.
    let e = run("openssl_s_client.pcap");
    assert_eq!(
        fingerprints(&e, "tls")[0].field_str("tls_sni"),
        Some("decky.example")
    );
}

#[test]
fn hassh_matches_tshark_and_the_published_algorithm() {
    let refs = reference();
    let (hassh, algorithms) = &refs[&("ssh_client.pcap".to_owned(), "hassh".to_owned())];
    let events = run("ssh_client.pcap");
    let ssh = fingerprints(&events, "ssh");
    assert_eq!(ssh.len(), 1);
    let e = ssh[0];
    assert_eq!(e.field_str("hassh"), Some(hassh.as_str()));
    assert_eq!(e.field_str("hassh_algorithms"), Some(algorithms.as_str()));
    // HASSH is md5("kex;enc;mac;cmp"), computed here from tshark's string.
    assert_eq!(decnet_ssh::hello::hassh(algorithms), *hassh);
    assert!(e
        .field_str("client_version")
        .expect("version")
        .starts_with("SSH-2.0-OpenSSH_"));
    assert_eq!(e.dst_port, 22);
}

#[test]
fn syn_signatures_match_p0f() {
    let refs = reference();
    let mut checked = 0;
    for ((pcap, kind), (raw_sig, p0f_os)) in &refs {
        if kind != "syn" {
            continue;
        }
        let events = run(pcap);
        let syn = fingerprints(&events, "tcp");
        assert!(!syn.is_empty(), "{pcap}: a SYN fingerprint");
        assert_eq!(
            syn[0].field_str("tcp_signature"),
            Some(raw_sig.as_str()),
            "{pcap}"
        );
        let family = syn[0].field_str("os_family");
        if p0f_os.starts_with("Linux") {
            assert_eq!(family, Some("linux"), "{pcap}: p0f says {p0f_os}");
        }
        if pcap == "nmap_syn.pcap" {
            assert_eq!(syn[0].field_str("os"), Some("nmap SYN scan"));
            assert_eq!(family, Some("scanner"));
        }
        checked += 1;
    }
    assert!(checked >= 5, "{checked} SYN references");
}

#[test]
fn nmap_syn_scan_is_closed_ports_then_one_sweep() {
    let events = run("nmap_syn.pcap");
    let scans: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind == EventKind::Scan)
        .collect();
    let closed: Vec<u16> = scans
        .iter()
        .filter(|e| e.field_str("event_type") == Some("syn_closed_port"))
        .map(|e| e.dst_port)
        .collect();
    assert_eq!(closed.len(), 5, "{closed:?}");
    assert!(closed.iter().all(|p| *p != 22 && *p != 443), "{closed:?}");
    let sweeps: Vec<&&Event> = scans
        .iter()
        .filter(|e| e.field_str("event_type") == Some("port_sweep"))
        .collect();
    assert_eq!(sweeps.len(), 1);
    // nmap -p 20-30,80,443,8080: 14 ports, the threshold (10) crossed once.
    assert_eq!(sweeps[0].fields["ports_touched"], 10);
    // One SYN fingerprint per source and signature, not one per port.
    assert_eq!(fingerprints(&events, "tcp").len(), 1);
}

#[test]
fn closed_ports_take_no_flow_state() {
    let f = frames(std::fs::File::open(testdata("nmap_syn.pcap")).expect("pcap")).expect("pcap");
    let mut a = Analyzer::new(AnalyzerLimits::default(), OsTable::builtin());
    replay(&mut a, &f, &fleet());
    // Only the SYNs to 22 and 443 (open) opened a flow.
    assert_eq!(a.flows_held(), 2);
}

#[test]
fn nmap_udp_probes_are_udp_probes() {
    let events = run("nmap_udp.pcap");
    let probes: Vec<u16> = events
        .iter()
        .filter(|e| e.kind == EventKind::Scan && e.field_str("event_type") == Some("udp_probe"))
        .map(|e| e.dst_port)
        .collect();
    let mut sorted = probes.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, [53, 69, 123, 161], "{probes:?}");
}

#[test]
fn packets_to_other_hosts_are_ignored() {
    let f = frames(std::fs::File::open(testdata("tls13_curl.pcap")).expect("pcap")).expect("pcap");
    let mut other = FleetView::new();
    other.insert_summary("10.77.0.99".parse().expect("ip"), "elsewhere", ["tcp/443"]);
    let mut a = Analyzer::new(AnalyzerLimits::default(), OsTable::builtin());
    assert!(replay(&mut a, &f, &other).is_empty());
    assert_eq!(a.counters().foreign, f.len() as u64);
}
