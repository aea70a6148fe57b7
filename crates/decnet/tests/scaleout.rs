//! `decnet sensor` + `decnet serve --bus nats://…` as a user runs them,
//! against a real nats-server: events from the sensor's decky reach the
//! server's store and log; a deploy command reaches the named sensor.
//! Without nats-server this says so loudly and passes (scripts/interop/nats.sh
//! installs it and sets DECNET_REQUIRE_NATS=1).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Kill(Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn nats_bin() -> Option<&'static str> {
    let found = [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists());
    if found.is_none() {
        assert!(
            std::env::var("DECNET_REQUIRE_NATS")
                .map(|v| v != "1")
                .unwrap_or(true),
            "DECNET_REQUIRE_NATS=1 but nats-server is missing"
        );
        eprintln!("\n*** SKIPPED: nats-server not found; the sensor/serve scale-out test did not run ***\n");
    }
    found
}

fn wait_line(child: &mut Child, needle: &str) -> String {
    let out = child.stdout.take().unwrap();
    let mut r = BufReader::new(out);
    let mut all = String::new();
    loop {
        let mut line = String::new();
        assert!(
            r.read_line(&mut line).unwrap() > 0,
            "process exited; output:\n{all}"
        );
        all.push_str(&line);
        if line.contains(needle) {
            // keep draining in the background so the child never blocks on stdout
            std::thread::spawn(move || {
                let mut sink = String::new();
                let _ = r.read_to_string(&mut sink);
            });
            return all;
        }
    }
}

fn sigterm_and_wait(c: &mut Child) -> i32 {
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    let t = Instant::now();
    loop {
        if let Some(s) = c.try_wait().unwrap() {
            return s.code().unwrap_or(-1);
        }
        assert!(t.elapsed() < Duration::from_secs(20), "did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sensor_to_server_through_jetstream_and_deploy_command() {
    let Some(nats_bin) = nats_bin() else { return };
    let dir = tempfile::tempdir().unwrap();
    let nport = free_port();
    let _nats = Kill(
        Command::new(nats_bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &nport.to_string(), "-sd"])
            .arg(dir.path().join("js"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", nport)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    let url = format!("nats://127.0.0.1:{nport}");
    let off = 49000u16;

    std::fs::write(
        dir.path().join("sensor.ini"),
        "[general]\nnet = 127.0.96.0/24\n[edge1]\nip = 127.0.96.10\nservices = telnet\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("server.ini"),
        "[general]\nnet = 127.0.97.0/24\n[core1]\nip = 127.0.97.10\nservices = http\n",
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_decnet");
    let mut server = Kill(
        Command::new(bin)
            .args(["serve", "--config"])
            .arg(dir.path().join("server.ini"))
            .arg("--data-dir")
            .arg(dir.path().join("server"))
            .args([
                "--bus",
                &url,
                "--api",
                "127.0.0.1:0",
                "--port-offset",
                &off.to_string(),
            ])
            .env("DECNET_ADMIN_PASSWORD", "scaleout-admin-pw")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_line(&mut server.0, "Ctrl-C to stop");
    let mut sensor = Kill(
        Command::new(bin)
            .args(["sensor", "--name", "site1", "--config"])
            .arg(dir.path().join("sensor.ini"))
            .arg("--data-dir")
            .arg(dir.path().join("sensor"))
            .args(["--bus", &url, "--port-offset", &off.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_line(&mut sensor.0, "control.site1.deploy");

    // An attacker logs into the sensor's telnet decky.
    let mut s = TcpStream::connect(("127.0.96.10", 23 + off)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 512];
    let mut got = Vec::new();
    while !String::from_utf8_lossy(&got).contains("login: ") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    s.write_all(b"mallory\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(b"Sup3rS3cret\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    drop(s);

    // A deploy command addressed to site1 (request/reply over NATS).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let reply: serde_json::Value = rt.block_on(async {
        let c = async_nats::connect(url.as_str()).await.unwrap();
        let body = serde_json::json!({"ini_content": "[general]\nnet = 127.0.96.0/24\n[edge2]\nip = 127.0.96.20\nservices = http\n"});
        let r = tokio::time::timeout(Duration::from_secs(10), c.request("control.site1.deploy", serde_json::to_vec(&body).unwrap().into())).await.unwrap().unwrap();
        serde_json::from_slice(&r.payload).unwrap()
    });
    assert_eq!(reply["ok"], true, "{reply}");
    assert_eq!(reply["deckies"], serde_json::json!(["edge2"]));
    assert!(
        TcpStream::connect(("127.0.96.20", 80 + off)).is_ok(),
        "edge2 listens on the sensor"
    );

    // The server's store/log receive the sensor's events (via JetStream).
    let log = dir.path().join("server").join("decnet.log");
    let t = Instant::now();
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains(" edge1 telnet - auth_attempt ") && text.contains("username=\"mallory\"") {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "sensor event never reached the server log:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(sigterm_and_wait(&mut sensor.0), 0);
    assert_eq!(sigterm_and_wait(&mut server.0), 0);
    // The sensor kept its own log too.
    let sensor_log = std::fs::read_to_string(dir.path().join("sensor").join("decnet.log")).unwrap();
    assert!(sensor_log.contains("username=\"mallory\""));
}
