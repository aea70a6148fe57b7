//! Golden tests for fleet validation messages, plus a never-panic property.
#![allow(clippy::unwrap_used)]

use decnet_core::fleet::{parse_bytes, parse_str};
use proptest::prelude::*;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fleets/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn good_fleet_expands_and_allocates() {
    let (fleet, warnings) = parse_str(&fixture("good.ini")).expect("valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    let names: Vec<_> = fleet.deckies.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["web01", "db-01", "db-02", "db-03"]);
    let ips: Vec<String> = fleet.deckies.iter().map(|d| d.ip.to_string()).collect();
    assert_eq!(
        ips,
        ["127.0.50.10", "127.0.50.2", "127.0.50.3", "127.0.50.4"]
    );
    assert_eq!(fleet.deckies[0].services, ["ssh", "http", "ftp"]);
    assert_eq!(fleet.deckies[0].config("ssh")["password"], "admin");
    assert_eq!(fleet.deckies[1].services, ["mysql", "postgres", "redis"]);
    assert_eq!(fleet.deckies[3].config("redis")["password"], "s3cret");
}

#[test]
fn bad_fleet_reports_every_error_golden() {
    let report = parse_str(&fixture("bad.ini")).unwrap_err();
    let rendered = report.render("bad.ini");
    let expected = fixture("bad.expected");
    if rendered != expected {
        panic!("golden mismatch\n--- got ---\n{rendered}--- expected ---\n{expected}");
    }
}

#[test]
fn oversized_file_rejected() {
    let big = format!("[a]\nservices = ssh\n; {}\n", "x".repeat(600 * 1024));
    let report = parse_str(&big).unwrap_err();
    assert_eq!(
        report.render("f.ini"),
        "f.ini:1: file is 601 KiB; the limit is 512 KiB\n"
    );
    assert!(report.is_structural());
}

#[test]
fn non_utf8_reports_line() {
    let report = parse_bytes(b"[a]\nservices = ssh\nip = \xff\n").unwrap_err();
    assert_eq!(report.render("f"), "f:3: not UTF-8 text\n");
}

#[test]
fn missing_net_for_allocation() {
    let report = parse_str("[a]\nservices = ssh\n").unwrap_err();
    assert_eq!(
        report.render("f"),
        "f:1: [a] has no ip= and [general] has no net= to allocate one from\n"
    );
}

#[test]
fn loopback_mode_requires_loopback_ips() {
    let report = parse_str("[a]\nip = 10.0.0.5\nservices = ssh\n").unwrap_err();
    assert_eq!(
        report.render("f"),
        "f:2: ip 10.0.0.5 is not in 127.0.0.0/8, which mode = loopback requires\n"
    );
}

#[test]
fn dhcp_deckies_take_no_address_from_net() {
    let text = "[general]\nnet = 10.1.0.0/24\nmode = netns\ninterface = eth0\n\n\
                [pc]\narchetype = windows-workstation\namount = 2\ndhcp = true\n\n\
                [srv]\nservices = ssh\n";
    let (fleet, _) = parse_str(text).expect("valid");
    let got: Vec<(String, String, bool)> = fleet
        .deckies
        .iter()
        .map(|d| (d.name.clone(), d.ip.to_string(), d.dhcp))
        .collect();
    assert_eq!(
        got,
        [
            ("pc-01".into(), "0.0.0.0".into(), true),
            ("pc-02".into(), "0.0.0.0".into(), true),
            // The static decky still gets the first free address.
            ("srv".into(), "10.1.0.1".into(), false),
        ]
    );

    let both = "[general]\nnet = 10.1.0.0/24\nmode = netns\ninterface = eth0\n\
                [pc]\nservices = ssh\nip = 10.1.0.9\ndhcp = yes\n";
    let report = parse_str(both).unwrap_err();
    assert_eq!(
        report.render("f"),
        "f:8: [pc]: dhcp = true takes the address from the DHCP server; remove ip =/ip6 = (line 7)\n"
    );
    let alias = "[general]\nnet = 10.1.0.0/24\nmode = alias\ninterface = eth0\n\
                 [pc]\nservices = ssh\ndhcp = true\n";
    let report = parse_str(alias).unwrap_err();
    assert!(
        report
            .render("f")
            .starts_with("f:7: [pc]: dhcp = true needs mode = netns"),
        "{}",
        report.render("f")
    );
}

#[test]
fn crlf_and_colon_syntax() {
    let (fleet, _) =
        parse_str("[general]\r\nnet: 127.0.9.0/24\r\n[a]\r\nservices: ssh,telnet\r\n").unwrap();
    assert_eq!(fleet.deckies[0].services, ["ssh", "telnet"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn parser_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = parse_bytes(&bytes);
    }

    #[test]
    fn parser_never_panics_on_ini_like_text(lines in proptest::collection::vec(
        prop_oneof![
            "\\[[a-z.\\-]{0,12}\\]",
            "(ip|services|amount|archetype|net|gw|mode|nmap_os|distro) ?[=:] ?[ -~]{0,30}",
            "[ -~]{0,40}",
            Just("amount = 100".to_string()),
            Just("[general]".to_string()),
            Just("net = 127.0.0.0/30".to_string()),
        ], 0..40)) {
        let text = lines.join("\n");
        let _ = parse_str(&text);
    }
}

/// A DECNET fleet file with per-service keys: the ones decnet honours pass
/// quietly, the others warn by line and name, and nothing fails.
#[test]
fn decnet_service_keys_are_honoured_or_warned_by_line() {
    let text = "[general]\nnet = 127.0.50.0/24\nlog_compat = decnet\n\n\
[web]\nip = 127.0.50.10\nservices = http, https, dns\n\n\
[web.http]\nresponse_code = 403\nfake_app = jenkins\nserver_header = Apache\n\n\
[web.https]\ntls_cert = /etc/cert.pem\nsrever_header = typo\n\n\
[web.dns]\ndomain = corp.example\nbind_version = 9.18.1\n";
    let (fleet, warnings) = parse_str(text).expect("warnings do not fail validation");
    assert_eq!(
        fleet.general.log_compat,
        decnet_core::syslog::LogStyle::Decnet
    );
    let at: Vec<(usize, &str)> = warnings
        .iter()
        .map(|w| (w.line, w.message.as_str()))
        .collect();
    assert_eq!(at.len(), 3, "{at:?}");
    assert_eq!(at[0].0, 11);
    assert!(at[0].1.contains("fake_app = 'jenkins'"), "{at:?}");
    assert_eq!(at[1].0, 15);
    assert!(at[1].1.contains("DECNET key 'tls_cert'"), "{at:?}");
    assert_eq!(at[2].0, 16);
    assert!(at[2].1.contains("unknown key 'srever_header'"), "{at:?}");
    assert_eq!(fleet.deckies[0].config("http")["response_code"], "403");
}

#[test]
fn unknown_log_compat_is_an_error() {
    let e = parse_str("[general]\nlog_compat = splunk\n[a]\nip = 127.0.50.3\nservices = ssh\n")
        .unwrap_err();
    assert!(
        e.render("f.ini").contains("f.ini:2: log_compat = 'splunk'"),
        "{}",
        e.render("f.ini")
    );
}

#[test]
fn geoip_databases_are_listed_and_unknown_keys_warned() {
    let text = "[geoip]\ndatabases = /var/lib/GeoLite2-City.mmdb, asn.mmdb\ncity = x\n\n[w]\nip = 127.0.50.10\nservices = ssh\n";
    let (fleet, warnings) = parse_str(text).expect("valid");
    assert_eq!(fleet.geoip, ["/var/lib/GeoLite2-City.mmdb", "asn.mmdb"]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].line, 3);
    assert!(warnings[0].message.contains("[geoip]"), "{warnings:?}");
}

#[test]
fn enrich_section_is_parsed_and_its_errors_carry_lines() {
    let text = "[enrich]\nabuseipdb_key = env:ABUSEIPDB_KEY\nrate = 20\n\n[w]\nip = 127.0.50.10\nservices = ssh\n";
    let (fleet, warnings) = parse_str(text).expect("valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    let e = fleet.enrich.expect("[enrich] kept");
    assert_eq!(e.rate, 20);
    assert_eq!(e.abuseipdb_key.map(|k| k.line), Some(2));
    let bad =
        "[w]\nip = 127.0.50.10\nservices = ssh\n[enrich]\ngreynoise_key = k\ntimeout = forever\n";
    let out = parse_str(bad).unwrap_err().render("f.ini");
    assert!(out.contains("f.ini:6: [enrich] timeout"), "{out}");
}

#[test]
fn tarpit_keys_reach_the_decky_spec() {
    let text = "[general]\nnet = 127.0.60.0/24\n\n[trap]\nservices = http\ntarpit = ssh:22, http:8081, tcp:445\ntarpit_interval = 3\n";
    let (fleet, warnings) = parse_str(text).expect("valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    let d = &fleet.deckies[0];
    let got: Vec<(&str, u16)> = d
        .tarpits
        .iter()
        .map(|t| (t.kind.as_str(), t.port))
        .collect();
    assert_eq!(got, [("ssh", 22), ("http", 8081), ("tcp", 445)]);
    assert_eq!(d.tarpit_interval, 3);
}

#[test]
fn tarpit_errors_name_their_line() {
    let text = "[general]\nnet = 127.0.60.0/24\n\n[trap]\nservices = http, ssh\ntarpit = ssh:22, gopher:70\ntarpit_interval = 0\n";
    let rendered = parse_str(text).unwrap_err().render("f.ini");
    assert!(
        rendered.contains("f.ini:6: [trap]: unknown tarpit kind 'gopher'"),
        "{rendered}"
    );
    assert!(
        rendered.contains("f.ini:6: [trap]: tarpit ssh:22 and service 'ssh' both listen on 22/tcp"),
        "{rendered}"
    );
    assert!(
        rendered.contains("f.ini:7: tarpit_interval = '0'"),
        "{rendered}"
    );
}
