//! Helpers shared by the tests that drive the real binary.
// Each test file uses its own subset.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// Kills the child if the test fails half-way, so no decnet outlives its test.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl KillOnDrop {
    /// Sends `signal` and waits (at most `within`) for the exit status.
    #[allow(unsafe_code)] // kill(2) on our own child
    pub fn signal_and_wait(&mut self, signal: i32, within: Duration) -> ExitStatus {
        // SAFETY: signalling our own child by pid.
        unsafe { libc::kill(self.0.id() as i32, signal) };
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = self.0.try_wait().unwrap() {
                return s;
            }
            assert!(Instant::now() < deadline, "decnet did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Minimal HTTP/1.1 request (`Connection: close`); returns (status, body).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.split(' ').nth(1).unwrap().parse().unwrap();
    (
        status,
        out.split("\r\n\r\n").nth(1).unwrap_or("").to_owned(),
    )
}
