//! The API and `decnet user` through the real binary: users created by the
//! CLI log in over HTTP to a `decnet serve`, the generated admin password is
//! printed and forced to change, SIGTERM stops everything.
#![allow(clippy::unwrap_used)]
#![allow(unsafe_code)] // syscalls (signals, mounts, rusage); each block says why it is sound

mod common;

use common::KillOnDrop;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_decnet"));
    for k in [
        "DECNET_ADMIN_PASSWORD",
        "DECNET_ADMIN_USER",
        "DECNET_JWT_SECRET",
        "DECNET_DB",
        "DECNET_USER_PASSWORD",
    ] {
        c.env_remove(k);
    }
    c
}

/// Minimal HTTP/1.1 POST with a JSON body; returns (status, body).
fn post_json(addr: &str, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status: u16 = out.split(' ').nth(1).unwrap().parse().unwrap();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

fn run_ok(args: &[&str], data: &std::path::Path) -> String {
    let out = bin()
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn user_cli_and_api_login_through_serve() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let out = run_ok(
        &[
            "user",
            "add",
            "bob",
            "--role",
            "viewer",
            "--password",
            "bob-password-1",
        ],
        &data,
    );
    assert!(out.contains("created viewer user 'bob'"), "{out}");
    // Duplicate fails.
    let dup = bin()
        .args(["user", "add", "bob", "--password", "whatever-123"])
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(!dup.status.success());
    // Generated password for a second user is printed.
    let out = run_ok(&["user", "add", "carol", "--role", "admin"], &data);
    assert!(out.contains("password: "), "{out}");
    let out = run_ok(
        &["user", "passwd", "bob", "--password", "bob-password-2"],
        &data,
    );
    assert!(out.contains("changed"), "{out}");
    let list = run_ok(&["user", "list"], &data);
    assert!(
        list.lines()
            .any(|l| l.starts_with("bob") && l.contains("viewer") && l.contains("no")),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.starts_with("carol") && l.contains("admin") && l.contains("yes")),
        "{list}"
    );

    let ini = dir.path().join("fleet.ini");
    std::fs::write(
        &ini,
        "[general]\nnet = 127.0.81.0/24\ngw = 127.0.81.1\n\n[api01]\nip = 127.0.81.10\nservices = telnet\n",
    )
    .unwrap();
    let child = bin()
        .args(["serve", "--config"])
        .arg(&ini)
        .arg("--data-dir")
        .arg(&data)
        .args(["--api", "127.0.0.1:0", "--port-offset", "43000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let (mut addr, mut admin_pw) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while addr.is_none() || admin_pw.is_none() {
        assert!(
            Instant::now() < deadline,
            "serve did not print the API address"
        );
        let Some(Ok(line)) = lines.next() else {
            panic!("serve exited early")
        };
        if let Some(rest) = line.strip_prefix("API + dashboard: http://") {
            addr = Some(rest.split('/').next().unwrap().to_owned());
        }
        if let Some(i) = line.find("created with password: ") {
            admin_pw = Some(
                line[i + "created with password: ".len()..]
                    .trim()
                    .to_owned(),
            );
        }
    }
    let addr = addr.unwrap();
    let admin_pw = admin_pw.unwrap();
    assert_eq!(
        std::fs::read_to_string(data.join("admin-password"))
            .unwrap()
            .trim(),
        admin_pw
    );
    let (code, body) = post_json(
        &addr,
        "/api/v1/auth/login",
        r#"{"username":"bob","password":"bob-password-2"}"#,
    );
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"must_change_password\":false"), "{body}");
    let (code, _) = post_json(
        &addr,
        "/api/v1/auth/login",
        r#"{"username":"bob","password":"bob-password-1"}"#,
    );
    assert_eq!(code, 401);
    let (code, body) = post_json(
        &addr,
        "/api/v1/auth/login",
        &format!(r#"{{"username":"admin","password":"{admin_pw}"}}"#),
    );
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"must_change_password\":true"), "{body}");

    // SIGTERM: API then fleet stop, exit 0.
    // SAFETY: signalling our own child by pid.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "serve did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(TcpStream::connect(&addr).is_err(), "API still listening");
}
