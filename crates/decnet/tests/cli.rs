//! End to end through the real binary: validate exit codes, and a 3-decky
//! fleet served, probed with real protocol exchanges, stopped by SIGTERM.
#![allow(clippy::unwrap_used)]
#![allow(unsafe_code)] // syscalls (signals, mounts, rusage); each block says why it is sound

mod common;

use common::KillOnDrop;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_decnet"))
}

#[test]
fn validate_exit_codes_and_messages() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.ini");
    std::fs::write(
        &good,
        "[general]\nnet = 127.0.66.0/24\n[a]\nservices = ssh\n",
    )
    .unwrap();
    let out = bin().arg("validate").arg(&good).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = dir.path().join("bad.ini");
    std::fs::write(
        &bad,
        "[general]\nnet = 127.0.66.0/24\n[a]\nservices = sshh\namount = 0\n",
    )
    .unwrap();
    let out = bin().arg("validate").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let shown = bad.display().to_string();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with(&format!("{shown}:4: unknown service 'sshh'")),
        "{err}"
    );
    assert_eq!(lines[1], format!("{shown}:5: amount = 0 is outside 1–100"));

    let out = bin()
        .arg("validate")
        .arg(dir.path().join("missing.ini"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn validate_locates_alert_config_errors_and_quotes_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("alerts.ini");
    std::fs::write(
        &f,
        "[general]\nnet = 127.0.66.0/24\n[a]\nservices = ssh\n[alerts]\nwindow = forever\n[alerts.hook]\ntype = webhook\nurl = https://hooks.example/T0KENSECRET\nsecret = short\n[siem.x]\nformat = ecs\n",
    )
    .unwrap();
    let out = bin().arg("validate").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let shown = f.display().to_string();
    for want in [
        format!("{shown}:6: [alerts] window:"),
        format!("{shown}:10: [alerts.hook] secret:"),
        format!("{shown}:11: [siem.x] sink:"),
    ] {
        assert!(
            err.lines().any(|l| l.starts_with(&want)),
            "no {want:?} in\n{err}"
        );
    }
    assert!(!err.contains("T0KENSECRET"), "{err}");
}

/// Reads until `needle`, keeping whatever follows it for the next call.
fn read_until(stream: &mut TcpStream, acc: &mut Vec<u8>, needle: &[u8]) {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(pos) = acc.windows(needle.len()).position(|w| w == needle) {
            acc.drain(..pos + needle.len());
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {:?} in {:?}",
            String::from_utf8_lossy(needle),
            String::from_utf8_lossy(acc)
        );
        match stream.read(&mut buf) {
            Ok(0) => panic!(
                "connection closed while waiting for {:?}",
                String::from_utf8_lossy(needle)
            ),
            Ok(n) => acc.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("read error: {e}"),
        }
    }
}

#[test]
fn serve_three_deckies_and_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("fleet.ini");
    std::fs::write(
        &ini,
        "[general]\nnet = 127.0.66.0/24\ngw = 127.0.66.1\n\n[alpha]\nip = 127.0.66.10\nservices = http, telnet\n\n[beta]\nip = 127.0.66.11\nservices = http\n\n[gamma]\nip = 127.0.66.12\nservices = telnet\n[gamma.telnet]\npassword = hunter2\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let offset = 41000u16;
    let child = bin()
        .args(["serve", "--config"])
        .arg(&ini)
        .arg("--data-dir")
        .arg(&data)
        .args(["--api", "127.0.0.1:0", "--port-offset", &offset.to_string()])
        .env("DECNET_ADMIN_PASSWORD", "test-admin-password")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut guard = KillOnDrop(child);
    let child = &mut guard.0;
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut table = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stdout.read_line(&mut line).unwrap() > 0,
            "binary exited early; output so far:\n{table}"
        );
        table.push_str(&line);
        if line.contains("deckies up") {
            break;
        }
    }
    assert!(table.contains("3 deckies up"), "{table}");
    for name in ["alpha", "beta", "gamma"] {
        assert!(table.contains(name), "{table}");
    }

    // HTTP on alpha and beta: a login POST on beta.
    for (ip, body) in [
        ("127.0.66.10", None),
        ("127.0.66.11", Some("username=admin&password=letmein")),
    ] {
        let mut s = TcpStream::connect((ip, 80 + offset)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let req = match body {
            None => format!("GET /wp-admin HTTP/1.1\r\nHost: {ip}\r\nConnection: close\r\n\r\n"),
            Some(b) => format!("POST /login HTTP/1.1\r\nHost: {ip}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}", b.len()),
        };
        s.write_all(req.as_bytes()).unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 "), "{resp}");
        assert!(
            !resp.to_lowercase().contains("decnet"),
            "decoy must not name itself: {resp}"
        );
    }

    // Telnet on gamma: wrong password, then the configured one.
    let mut t = TcpStream::connect(("127.0.66.12", 23 + offset)).unwrap();
    t.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut acc = Vec::new();
    read_until(&mut t, &mut acc, b"login: ");
    t.write_all(b"root\r\n").unwrap();
    read_until(&mut t, &mut acc, b"Password: ");
    t.write_all(b"wrong\r\n").unwrap();
    read_until(&mut t, &mut acc, b"Login incorrect");
    read_until(&mut t, &mut acc, b"login: ");
    t.write_all(b"root\r\n").unwrap();
    read_until(&mut t, &mut acc, b"Password: ");
    t.write_all(b"hunter2\r\n").unwrap();
    read_until(&mut t, &mut acc, b"# ");
    t.write_all(b"exit\r\n").unwrap();
    read_until(&mut t, &mut acc, b"logout");
    drop(t);

    // Graceful stop.
    std::thread::sleep(Duration::from_millis(200));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "decnet did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "stderr:\n{err}");

    let log = std::fs::read_to_string(data.join("decnet.log")).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    let count = |decky: &str, svc: &str, kind: &str| {
        lines
            .iter()
            .filter(|l| l.contains(&format!(" {decky} {svc} - {kind} [relay@55555 ")))
            .count()
    };
    assert_eq!(count("alpha", "http", "request"), 1, "{log}");
    assert_eq!(count("beta", "http", "auth_attempt"), 1, "{log}");
    assert_eq!(count("gamma", "telnet", "auth_attempt"), 2, "{log}");
    assert_eq!(count("gamma", "telnet", "command"), 1, "{log}");
    // Every connection opened was closed, and those closes were flushed.
    for (d, s) in [("alpha", "http"), ("beta", "http"), ("gamma", "telnet")] {
        assert_eq!(count(d, s, "connect"), 1, "{d}/{s}\n{log}");
        assert_eq!(count(d, s, "disconnect"), 1, "{d}/{s}\n{log}");
    }
    let beta_auth = lines
        .iter()
        .find(|l| l.contains(" beta http - auth_attempt "))
        .unwrap();
    assert!(
        beta_auth.contains("username=\"admin\"") && beta_auth.contains("password=\"letmein\""),
        "{beta_auth}"
    );
    assert!(beta_auth.starts_with("<134>1 "), "{beta_auth}");
    let ok_login = lines
        .iter()
        .filter(|l| l.contains(" gamma telnet - auth_attempt "))
        .nth(1)
        .unwrap();
    assert!(
        ok_login.contains("success=\"true\"") && ok_login.contains("password=\"hunter2\""),
        "{ok_login}"
    );
}

#[test]
fn validate_opens_the_geoip_databases_relative_to_the_fleet_file() {
    let dir = tempfile::tempdir().unwrap();
    let testdata =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../decnet-intel/testdata");
    for f in ["geo-test-city.mmdb", "geo-test-asn.mmdb"] {
        std::fs::copy(testdata.join(f), dir.path().join(f)).unwrap();
    }
    let good = dir.path().join("geo.ini");
    std::fs::write(
        &good,
        "[geoip]\ndatabases = geo-test-city.mmdb, geo-test-asn.mmdb\n[a]\nip = 127.0.66.9\nservices = ssh\n",
    )
    .unwrap();
    let out = bin().arg("validate").arg(&good).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("geoip:")
            && said.contains("decnet-test-City")
            && said.contains("decnet-test-ASN"),
        "{said}"
    );

    let bad = dir.path().join("bad.ini");
    std::fs::write(
        &bad,
        "[geoip]\ndatabases = nowhere.mmdb\n[a]\nip = 127.0.66.9\nservices = ssh\n",
    )
    .unwrap();
    let out = bin().arg("validate").arg(&bad).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("geoip: ") && err.contains("nowhere.mmdb"),
        "{err}"
    );
}

#[test]
fn validate_reads_the_enrich_keys_and_never_prints_them() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("abuseipdb.key");
    std::fs::write(&key, "abuse-validate-secret-77\n").unwrap();
    let good = dir.path().join("enrich.ini");
    std::fs::write(
        &good,
        format!(
            "[enrich]\nabuseipdb_key = file:{}\ngreynoise_key = gn-inline-secret-88\nrate = 30\n[a]\nip = 127.0.66.9\nservices = ssh\n",
            key.display()
        ),
    )
    .unwrap();
    let out = bin().arg("validate").arg(&good).output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("enrich: abuseipdb (https://api.abuseipdb.com), greynoise"),
        "{said}"
    );
    assert!(
        !said.contains("abuse-validate-secret-77") && !said.contains("gn-inline-secret-88"),
        "{said}"
    );

    let bad = dir.path().join("bad.ini");
    std::fs::write(
        &bad,
        "[a]\nip = 127.0.66.9\nservices = ssh\n[enrich]\ngreynoise_key = env:DECNET_CLI_TEST_UNSET_GN_KEY\n",
    )
    .unwrap();
    let out = bin().arg("validate").arg(&bad).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad.ini:5: [enrich] greynoise_key: environment variable DECNET_CLI_TEST_UNSET_GN_KEY is not set"),
        "{err}"
    );
}
