//! IPv6 in fleet files: v6-only and dual-stack deckies, allocation from
//! `net6`, and FILE:LINE errors for every misuse.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv6Addr};

use decnet_core::fleet::parse_str;

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

#[test]
fn ipv6_net_allocates_v6_only_deckies() {
    let text = "[general]\nmode = alias\ninterface = lo\nnet = fd00:dec::/64\n\n[web]\nservices = http\namount = 2\n";
    let (fleet, warnings) = parse_str(text).expect("valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(fleet.general.net, None);
    assert_eq!(fleet.general.net6, Some("fd00:dec::/64".parse().unwrap()));
    let ips: Vec<IpAddr> = fleet.deckies.iter().map(|d| d.ip).collect();
    // The subnet-router anycast address (fd00:dec::) is never handed out.
    assert_eq!(
        ips,
        [IpAddr::V6(v6("fd00:dec::1")), IpAddr::V6(v6("fd00:dec::2"))]
    );
    assert!(fleet
        .deckies
        .iter()
        .all(|d| d.ip6.is_none() && d.ipv4().is_none()));
}

#[test]
fn net_and_net6_make_dual_stack_deckies() {
    let text = "[general]\nmode = alias\ninterface = lo\nnet = 10.9.0.0/24\nnet6 = fd00:dec:0:1::/64\n\n[a]\nservices = ssh\nip = 10.9.0.7\nip6 = fd00:dec:0:1::7\n\n[b]\nservices = ssh\n\n[c]\nservices = ssh\nip = fd00:dec:0:1::1\n";
    let (fleet, _) = parse_str(text).expect("valid");
    let a = &fleet.deckies[0];
    assert_eq!(a.ip.to_string(), "10.9.0.7");
    assert_eq!(a.ip6, Some(v6("fd00:dec:0:1::7")));
    assert_eq!(a.addrs().len(), 2);
    // b gets one of each; c's explicit v6 address is not handed to b.
    let b = &fleet.deckies[1];
    assert_eq!(b.ip.to_string(), "10.9.0.1");
    assert_eq!(b.ip6, Some(v6("fd00:dec:0:1::2")));
    // An explicit address of one family gives exactly that address.
    let c = &fleet.deckies[2];
    assert_eq!(c.ip, IpAddr::V6(v6("fd00:dec:0:1::1")));
    assert_eq!(c.ip6, None);
    assert_eq!(c.ipv6(), Some(v6("fd00:dec:0:1::1")));
}

#[test]
fn loopback_mode_accepts_only_the_v6_loopback_address() {
    let ok = parse_str("[a]\nservices = http\nip = ::1\n").expect("::1 is loopback");
    assert_eq!(ok.0.deckies[0].ip, IpAddr::V6(Ipv6Addr::LOCALHOST));
    let report = parse_str("[a]\nservices = http\nip = 127.0.0.5\nip6 = fd00::5\n").unwrap_err();
    assert_eq!(
        report.render("f.ini"),
        "f.ini:4: ip6 fd00::5 is not ::1, the one IPv6 loopback address, which mode = loopback requires; use mode = alias (interface = lo works) for other IPv6 addresses\n"
    );
}

#[test]
fn ipv6_misuse_is_reported_by_line() {
    let text = "\
[general]
mode = alias
interface = lo
net = fd00:dec::/64
net6 = fd00:beef::/64

[a]
services = ssh
ip6 = 10.9.0.4
ip = fd00:dec::9

[a2]
services = ssh
ip = fd00:dec::11
ip6 = fd00:dec::10

[b]
services = ssh
ip = fd00:feed::1

[c]
services = ssh
amount = 2
ip6 = fd00:dec::20

[d]
services = ssh
ip = fd00:dec::9

[e]
services = ssh
ip6 = not-an-address
";
    let report = parse_str(text).unwrap_err();
    assert_eq!(
        report.render("f.ini"),
        "\
f.ini:5: a second IPv6 network: give net6 (or an IPv6 net) once
f.ini:9: ip6 = '10.9.0.4' is not an IPv6 address
f.ini:15: ip6 = fd00:dec::10: [a2] already has an IPv6 address; a decky has at most one IPv4 (ip =) and one IPv6 (ip6 =) address
f.ini:19: ip6 fd00:feed::1 is outside net6 fd00:dec::/64
f.ini:24: [c]: ip = cannot be combined with amount = 2; remove ip=/ip6= (addresses are allocated from net/net6) or use amount = 1
f.ini:28: duplicate IP fd00:dec::9: already used by [a]
f.ini:32: ip6 = 'not-an-address' is not an IPv6 address
"
    );
}

#[test]
fn too_small_net6_and_multicast_are_refused() {
    let report = parse_str("[general]\nnet6 = fd00::/127\n\n[a]\nservices = ssh\nip = ff02::1\n")
        .unwrap_err();
    let text = report.render("f.ini");
    assert!(
        text.contains("f.ini:2: IPv6 network fd00::/127 has no room"),
        "{text}"
    );
    assert!(
        text.contains("f.ini:6: ip6 ff02::1 cannot be a host address"),
        "{text}"
    );
}

#[test]
fn gw6_is_never_allocated_and_may_be_link_local() {
    let text = "[general]\nmode = netns\ninterface = eth0\nnet6 = fd00:dec::/64\ngw6 = fd00:dec::1\n\n[web]\nservices = http\namount = 2\n";
    let (fleet, _) = parse_str(text).expect("valid");
    assert_eq!(fleet.general.gw6, Some(v6("fd00:dec::1")));
    let ips: Vec<IpAddr> = fleet.deckies.iter().map(|d| d.ip).collect();
    assert_eq!(
        ips,
        [IpAddr::V6(v6("fd00:dec::2")), IpAddr::V6(v6("fd00:dec::3"))],
        "the gateway's address is skipped"
    );
    let link_local = text.replace("gw6 = fd00:dec::1", "gw6 = fe80::1");
    let (fleet, _) = parse_str(&link_local).expect("a link-local router is on-link");
    assert_eq!(fleet.general.gw6, Some(v6("fe80::1")));
    assert_eq!(fleet.deckies[0].ip, IpAddr::V6(v6("fd00:dec::1")));
}

#[test]
fn bad_gw6_is_reported_by_line() {
    let report = parse_str(
        "[general]\nmode = netns\ninterface = eth0\nnet6 = fd00:dec::/64\ngw6 = 10.0.0.1\n\n[a]\nservices = ssh\n",
    )
    .unwrap_err();
    assert_eq!(
        report.render("f.ini"),
        "f.ini:5: gw6 = '10.0.0.1' is not an IPv6 address like fd00:dec::1\n"
    );
    let report = parse_str(
        "[general]\nmode = netns\ninterface = eth0\nnet6 = fd00:dec::/64\ngw6 = fd00:beef::1\n\n[a]\nservices = ssh\nip6 = fd00:dec::1\n\n[b]\nservices = ssh\nip = fd00:dec::1\n",
    )
    .unwrap_err();
    let text = report.render("f.ini");
    assert!(
        text.contains(
            "f.ini:5: gw6 fd00:beef::1 is outside net6 fd00:dec::/64 (and not link-local fe80::/10)\n"
        ),
        "{text}"
    );
    let report = parse_str(
        "[general]\nmode = netns\ninterface = eth0\nnet6 = fd00:dec::/64\ngw6 = fd00:dec::1\n\n[a]\nservices = ssh\nip = fd00:dec::1\n",
    )
    .unwrap_err();
    assert_eq!(
        report.render("f.ini"),
        "f.ini:9: ip6 fd00:dec::1 is the IPv6 gateway address\n"
    );
    let report =
        parse_str("[general]\nnet6 = fd00:dec::/64\ngw6 = ff02::2\n\n[a]\nservices = ssh\n")
            .unwrap_err();
    assert!(report
        .render("f.ini")
        .contains("f.ini:3: gw6 ff02::2 cannot be a router's address\n"));
}
