//! `decnet sensor` + `decnet serve --bus nats://…` as a user runs them,
//! against a real nats-server: events from the sensor's decky reach the
//! server's store and log; a deploy command reaches the named sensor.
//! Without nats-server this says so loudly and passes (scripts/interop/nats.sh
//! installs it and sets DECNET_REQUIRE_NATS=1).
#![allow(clippy::unwrap_used)]
#![allow(unsafe_code)] // syscalls (signals, mounts, rusage); each block says why it is sound

mod common;

use common::http;

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

fn get_json(addr: &str, path: &str, token: &str) -> serde_json::Value {
    let (st, body) = http(addr, "GET", path, Some(token), "");
    assert_eq!(st, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn login(addr: &str, password: &str) -> String {
    let body = format!(r#"{{"username":"admin","password":"{password}"}}"#);
    let (st, body) = http(addr, "POST", "/api/v1/auth/login", None, &body);
    assert_eq!(st, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

/// Lines of a server's event log about decky `edge`.
fn edge_lines(log: &Path) -> u64 {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" edge http - "))
        .count() as u64
}

/// Two `decnet serve` processes on one durable consumer and one PostgreSQL
/// store: each one's pump commits (and logs, and profiles) only its share,
/// the shares add up to every event once, and intel has every attacker once.
#[test]
fn two_servers_share_the_durable_consumer_exactly_once() {
    two_servers(Mode::Shares);
}

/// Intel is a cluster-wide singleton fed by its own durable consumer, so
/// per-attacker totals are every event once, not one pump's share (before
/// the lease, the last writer's share won: 84 of 180 events counted).
#[test]
fn two_servers_intel_counts_every_event() {
    two_servers(Mode::IntelTotals);
}

/// The server holding the intel lease is killed (SIGKILL) mid-stream: the
/// other one takes the lease within its expiry and resumes from the intel
/// consumer's unacked messages; totals are still every event exactly once.
#[test]
fn intel_lease_fails_over_when_its_holder_is_killed() {
    two_servers(Mode::Failover);
}

/// What a two-server run checks.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Pumps' shares add up; every attacker known to intel.
    Shares,
    /// Plus exact per-attacker totals.
    IntelTotals,
    /// Plus the intel lease holder killed after two of five waves.
    Failover,
}

/// Holder id of the intel lease (`host:pid:tag`) once live.
fn intel_holder(rt: &tokio::runtime::Runtime, store: &decnet_store::SqlStore) -> Option<String> {
    rt.block_on(decnet_store::lease::info(store, "intel"))
        .unwrap()
        .filter(|i| i.live)
        .map(|i| i.holder)
}

fn holder_pid(holder: &str) -> u32 {
    holder.rsplit(':').nth(1).unwrap().parse().unwrap()
}

fn two_servers(mode: Mode) {
    let check_intel_totals = mode != Mode::Shares;
    let Some(nats_bin) = nats_bin() else { return };
    let Some(pg) = decnet_store::testing::PgCluster::start() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(pg.fresh_database());
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
    // Tests run in parallel: each mode its own decky ports.
    let off = match mode {
        Mode::Shares => 48000u16,
        Mode::IntelTotals => 47000,
        Mode::Failover => 46000,
    };
    let pw = "share-admin-pw";
    let bin = env!("CARGO_BIN_EXE_decnet");
    let mut servers = Vec::new();
    let mut apis = Vec::new();
    // One after the other: the first one creates the schema and the admin.
    for (i, net) in ["127.0.102", "127.0.103"].iter().enumerate() {
        let ini = dir.path().join(format!("s{i}.ini"));
        std::fs::write(
            &ini,
            format!("[general]\nnet = {net}.0/24\n[core{i}]\nip = {net}.10\nservices = telnet\n"),
        )
        .unwrap();
        let api = format!("127.0.0.1:{}", free_port());
        let mut c = Kill(
            Command::new(bin)
                .arg("serve")
                .arg("--config")
                .arg(&ini)
                .arg("--data-dir")
                .arg(dir.path().join(format!("s{i}")))
                .args(["--bus", &url, "--db", &db, "--api", &api])
                .args(["--port-offset", &off.to_string()])
                .env("DECNET_ADMIN_PASSWORD", pw)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        wait_line(&mut c.0, "Ctrl-C to stop");
        servers.push(c);
        apis.push(api);
    }
    std::fs::write(
        dir.path().join("sensor.ini"),
        "[general]\nnet = 127.0.104.0/24\n[edge]\nip = 127.0.104.10\nservices = http\n",
    )
    .unwrap();
    let mut sensor = Kill(
        Command::new(bin)
            .args(["sensor", "--name", "site2", "--config"])
            .arg(dir.path().join("sensor.ini"))
            .arg("--data-dir")
            .arg(dir.path().join("sensor"))
            .args(["--bus", &url, "--port-offset", &off.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_line(&mut sensor.0, "control.site2.deploy");

    let store = rt.block_on(decnet_store::SqlStore::connect(&db)).unwrap();
    // 12 attackers (own source addresses), 5 requests each, one connection
    // per request, spread over ~1.5 s so both pumps keep pulling.
    let (attackers, per) = (12u32, 5u32);
    let target: std::net::SocketAddr = format!("127.0.104.10:{}", 80 + off).parse().unwrap();
    let mut survivor = 1;
    let mut killed_at = None;
    for j in 0..per {
        if mode == Mode::Failover && j == 2 {
            // Mid-stream: SIGKILL whichever server holds the intel lease.
            let holder = intel_holder(&rt, &store).expect("a server holds the intel lease");
            let pid = holder_pid(&holder);
            let idx = servers
                .iter()
                .position(|c| c.0.id() == pid)
                .unwrap_or_else(|| panic!("lease holder {holder} is none of our servers"));
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            let _ = servers[idx].0.wait();
            survivor = 1 - idx;
            killed_at = Some((Instant::now(), holder));
        }
        rt.block_on(async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            for a in 1..=attackers {
                let sock = tokio::net::TcpSocket::new_v4().unwrap();
                sock.bind(format!("127.0.105.{a}:0").parse().unwrap())
                    .unwrap();
                let mut s = sock.connect(target).await.unwrap();
                let req = format!(
                    "GET /share/{a}/{j} HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n"
                );
                s.write_all(req.as_bytes()).await.unwrap();
                let mut sink = Vec::new();
                s.read_to_end(&mut sink).await.unwrap();
                assert!(sink.starts_with(b"HTTP/1.1 "));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        });
    }
    let requests = u64::from(attackers * per);
    if let Some((at, dead)) = &killed_at {
        // The survivor takes the lease within its expiry (15 s; it retries
        // every 2 s).
        loop {
            match intel_holder(&rt, &store) {
                Some(h) if h != *dead => {
                    assert_eq!(holder_pid(&h), servers[survivor].0.id());
                    eprintln!("intel lease taken over {:?} after the kill", at.elapsed());
                    // The survivor's /health names the new holder.
                    let tok = login(&apis[survivor], pw);
                    let health = get_json(&apis[survivor], "/api/v1/health", &tok);
                    let lease = &health["components"]["intel_lease"];
                    assert_eq!(lease["status"], "ok", "{health}");
                    assert_eq!(lease["detail"], format!("held by {h}"), "{health}");
                    break;
                }
                _ => {}
            }
            assert!(
                at.elapsed() < Duration::from_secs(18),
                "no takeover of the intel lease within its expiry"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    let alive: Vec<usize> = match mode {
        Mode::Failover => vec![survivor],
        _ => vec![0, 1],
    };
    let tokens: Vec<String> = apis
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if alive.contains(&i) {
                login(a, pw)
            } else {
                String::new()
            }
        })
        .collect();
    let total = |i: usize, q: &str| -> u64 {
        get_json(
            &apis[i],
            &format!("/api/v1/logs?decky=edge{q}&limit=1"),
            &tokens[i],
        )["total"]
            .as_u64()
            .unwrap()
    };
    let logs = [0, 1].map(|i| dir.path().join(format!("s{i}")).join("decnet.log"));
    // Every connection is connect + request + disconnect.
    let want = 3 * requests;
    // A killed server's fetched-but-unacked pump batch is redelivered after
    // the pump's 30 s ack wait.
    let patience = Duration::from_secs(if mode == Mode::Failover { 60 } else { 30 });
    let first = alive[0];
    let t = Instant::now();
    while total(first, "") < want || edge_lines(&logs[0]) + edge_lines(&logs[1]) < want {
        assert!(
            t.elapsed() < patience,
            "stored {} of {want}, logged {} + {}",
            total(first, ""),
            edge_lines(&logs[0]),
            edge_lines(&logs[1])
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    // Exactly once in the shared store, seen identically by both APIs.
    for &i in &alive {
        assert_eq!(total(i, ""), want, "server {i}: every event once");
        assert_eq!(total(i, "&kind=request"), requests);
    }
    // Each pump committed (and handed to its event log) only its share. (A
    // killed server may have logged a batch it never acked: it is then
    // logged again by the survivor.)
    let (a, b) = (edge_lines(&logs[0]), edge_lines(&logs[1]));
    if mode != Mode::Failover {
        assert_eq!(a + b, want, "shares add up to every event once: {a} + {b}");
    }
    assert!(a > 0 && b > 0, "both servers took a share: {a} + {b}");

    // Intel (one lease holder, fed every event): every attacker once; its
    // exact event total when asked.
    let t = Instant::now();
    loop {
        let v = get_json(
            &apis[survivor],
            "/api/v1/attackers?limit=100",
            &tokens[survivor],
        );
        let rows = v["data"].as_array().unwrap();
        let ours: Vec<&serde_json::Value> = rows
            .iter()
            .filter(|r| r["ip"].as_str().unwrap_or("").starts_with("127.0.105."))
            .collect();
        let counted: u64 = ours
            .iter()
            .map(|r| r["event_count"].as_u64().unwrap_or(0))
            .sum();
        let all_in = ours
            .iter()
            .all(|r| r["event_count"].as_u64().unwrap_or(0) > 0);
        let totals_ok = !check_intel_totals || counted == want;
        if ours.len() == attackers as usize && all_in && totals_ok {
            let mut ips: Vec<&str> = ours.iter().map(|r| r["ip"].as_str().unwrap()).collect();
            ips.sort();
            ips.dedup();
            assert_eq!(ips.len(), attackers as usize, "no attacker twice");
            if check_intel_totals {
                for r in &ours {
                    assert_eq!(r["event_count"], 3 * per as u64, "{r}");
                }
            }
            break;
        }
        assert!(
            t.elapsed() < patience,
            "intel: {} attackers (want {attackers}), {counted} events (want {want}): {v}",
            ours.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(sigterm_and_wait(&mut sensor.0), 0);
    for &i in &alive {
        assert_eq!(sigterm_and_wait(&mut servers[i].0), 0);
    }
}
