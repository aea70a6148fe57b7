//! Fleet file reload through the real binary: `POST /api/v1/config/reload`
//! (admin) adds, removes and redeploys deckies as the file now says; an
//! invalid file is refused with `FILE:LINE` and the running fleet stays;
//! SIGHUP re-reads the file too.
#![allow(clippy::unwrap_used)]
#![allow(unsafe_code)] // signalling the child by pid

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{http, KillOnDrop};

const OFFSET: u16 = 44000;

fn post(addr: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    http(addr, "POST", path, token, body)
}

fn listening(ip: &str, port: u16) -> bool {
    let addr = format!("{ip}:{}", port + OFFSET).parse().unwrap();
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

fn fleet(deckies: &[(&str, &str, &str)]) -> String {
    let mut s = String::from("[general]\nnet = 127.0.82.0/24\ngw = 127.0.82.1\n");
    for (name, ip, services) in deckies {
        s += &format!("\n[{name}]\nip = {ip}\nservices = {services}\n");
    }
    s
}

/// Writes a fleet of deckies named after their last address byte.
fn write_fleet(ini: &Path, deckies: &[(&str, u8, &str)]) {
    let owned: Vec<(String, String, String)> = deckies
        .iter()
        .map(|(n, last, svc)| (n.to_string(), format!("127.0.82.{last}"), svc.to_string()))
        .collect();
    let refs: Vec<(&str, &str, &str)> = owned
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    std::fs::write(ini, fleet(&refs)).unwrap();
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_fleet_file_is_reloaded_by_api_and_sighup_and_a_bad_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("fleet.ini");
    write_fleet(
        &ini,
        &[
            ("alpha", 10, "telnet"),
            ("bravo", 11, "telnet"),
            ("charlie", 12, "telnet"),
        ],
    );
    let child = Command::new(env!("CARGO_BIN_EXE_decnet"))
        .args(["serve", "--config"])
        .arg(&ini)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--api", "127.0.0.1:0", "--port-offset", &OFFSET.to_string()])
        .env("DECNET_ADMIN_PASSWORD", "reload-admin-pw")
        .env_remove("DECNET_JWT_SECRET")
        .env_remove("DECNET_DB")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("serve exited early").unwrap();
        if let Some(rest) = line.strip_prefix("API + dashboard: http://") {
            break rest.split('/').next().unwrap().to_owned();
        }
    };
    // Keep reading stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let (code, body) = post(
        &addr,
        "/api/v1/auth/login",
        None,
        r#"{"username":"admin","password":"reload-admin-pw"}"#,
    );
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let token = v["access_token"].as_str().unwrap().to_owned();
    assert!(listening("127.0.82.11", 23));

    // bravo goes, charlie becomes a web server, delta arrives.
    write_fleet(
        &ini,
        &[
            ("alpha", 10, "telnet"),
            ("charlie", 12, "http"),
            ("delta", 13, "telnet"),
        ],
    );
    assert_eq!(post(&addr, "/api/v1/config/reload", None, "").0, 401);
    let (code, body) = post(&addr, "/api/v1/config/reload", Some(&token), "");
    assert_eq!(code, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(report["added"], serde_json::json!(["delta"]), "{report}");
    assert_eq!(report["removed"], serde_json::json!(["bravo"]), "{report}");
    assert_eq!(
        report["changed"],
        serde_json::json!(["charlie"]),
        "{report}"
    );
    assert_eq!(report["unchanged"], 1, "{report}");
    assert_eq!(report["failed"], serde_json::json!([]), "{report}");
    assert_eq!(report["alerts"], "applied", "{report}");
    assert!(!listening("127.0.82.11", 23), "bravo still answers");
    assert!(
        listening("127.0.82.12", 80),
        "charlie's web server is not up"
    );
    assert!(!listening("127.0.82.12", 23), "charlie still has telnet");
    assert!(listening("127.0.82.13", 23), "delta is not up");
    assert!(listening("127.0.82.10", 23), "alpha was disturbed");

    // An invalid file: 422 naming the file and line; nothing changes.
    let mut bad = fleet(&[("alpha", "127.0.82.10", "telnet")]);
    bad += "\n[echo]\nip = 127.0.82.300\nservices = telnet\n";
    std::fs::write(&ini, &bad).unwrap();
    let (code, body) = post(&addr, "/api/v1/config/reload", Some(&token), "");
    assert_eq!(code, 422, "{body}");
    let line = bad
        .lines()
        .position(|l| l.starts_with("ip = 127.0.82.300"))
        .unwrap()
        + 1;
    assert!(
        body.contains(&format!("fleet.ini:{line}:")),
        "no FILE:LINE for line {line} in {body}"
    );
    assert!(
        listening("127.0.82.13", 23),
        "a refused reload removed delta"
    );
    assert!(
        listening("127.0.82.12", 80),
        "a refused reload touched charlie"
    );

    // SIGHUP re-reads it too.
    write_fleet(
        &ini,
        &[
            ("alpha", 10, "telnet"),
            ("charlie", 12, "http"),
            ("delta", 13, "telnet"),
            ("echo", 14, "telnet"),
        ],
    );
    // SAFETY: signalling our own child by pid.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGHUP) };
    wait_until("echo deployed after SIGHUP", || {
        listening("127.0.82.14", 23)
    });
    assert!(listening("127.0.82.13", 23));

    let status = child.signal_and_wait(libc::SIGTERM, Duration::from_secs(20));
    assert!(status.success(), "{status:?}");
}
