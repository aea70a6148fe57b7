//! `decnet sensor` + `decnet serve --bus nats://…` as a user runs them,
//! against a real nats-server: events from the sensor's decky reach the
//! server's store and log; a deploy command reaches the named sensor.
//! Without nats-server this says so loudly and passes (scripts/interop/nats.sh
//! installs it and sets DECNET_REQUIRE_NATS=1).
#![allow(clippy::unwrap_used)]
#![allow(unsafe_code)] // syscalls (signals, mounts, rusage); each block says why it is sound

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

/// A JetStream nats-server on a free port, storing under `dir/js`; its URL.
fn start_nats(nats_bin: &str, dir: &Path) -> (Kill, String) {
    let nport = free_port();
    let nats = Kill(
        Command::new(nats_bin)
            .args(["-js", "-a", "127.0.0.1", "-p", &nport.to_string(), "-sd"])
            .arg(dir.join("js"))
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
    (nats, format!("nats://127.0.0.1:{nport}"))
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
    let (_nats, url) = start_nats(nats_bin, dir.path());
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

/// Minimal HTTP/1.1 request (`Connection: close`); returns (status, body).
fn http(addr: &str, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
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

/// `decnet serve` number `i` of a scale-out test with fleet `ini`, on NATS
/// `url` and store `db`; once it is up, with its API address.
fn start_server(
    dir: &Path,
    i: usize,
    ini: &str,
    url: &str,
    db: &str,
    off: u16,
    pw: &str,
) -> (Kill, String) {
    let file = dir.join(format!("s{i}.ini"));
    std::fs::write(&file, ini).unwrap();
    let api = format!("127.0.0.1:{}", free_port());
    let mut c = Kill(
        Command::new(env!("CARGO_BIN_EXE_decnet"))
            .arg("serve")
            .arg("--config")
            .arg(&file)
            .arg("--data-dir")
            .arg(dir.join(format!("s{i}")))
            .args(["--bus", url, "--db", db, "--api", &api])
            .args(["--port-offset", &off.to_string()])
            .env("DECNET_ADMIN_PASSWORD", pw)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_line(&mut c.0, "Ctrl-C to stop");
    (c, api)
}

fn holder_pid(holder: &str) -> u32 {
    holder.rsplit(':').nth(1).unwrap().parse().unwrap()
}

/// What several servers share: NATS, a PostgreSQL store, a directory.
struct Shared {
    _pg: decnet_store::testing::PgCluster,
    rt: tokio::runtime::Runtime,
    db: String,
    dir: tempfile::TempDir,
    _nats: Kill,
    url: String,
}

impl Shared {
    /// None (the test is skipped) without nats-server or PostgreSQL.
    fn start() -> Option<Shared> {
        let nats_bin = nats_bin()?;
        let pg = decnet_store::testing::PgCluster::start()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let db = rt.block_on(pg.fresh_database());
        let dir = tempfile::tempdir().unwrap();
        let (nats, url) = start_nats(nats_bin, dir.path());
        Some(Shared {
            _pg: pg,
            rt,
            db,
            dir,
            _nats: nats,
            url,
        })
    }
}

fn two_servers(mode: Mode) {
    let check_intel_totals = mode != Mode::Shares;
    let Some(Shared {
        _pg,
        rt,
        db,
        dir,
        _nats,
        url,
    }) = Shared::start()
    else {
        return;
    };
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
        let ini =
            format!("[general]\nnet = {net}.0/24\n[core{i}]\nip = {net}.10\nservices = telnet\n");
        let (c, api) = start_server(dir.path(), i, &ini, &url, &db, off, pw);
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

/// A signed-webhook receiver: every POST's JSON body, in arrival order.
fn hook_receiver() -> (
    u16,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>> = Default::default();
    let g = got.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut r = BufReader::new(c.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; len];
            if r.read_exact(&mut body).is_ok() {
                if let Ok(v) = serde_json::from_slice(&body) {
                    g.lock().unwrap().push(v);
                }
            }
            let _ =
                c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (port, got)
}

/// One telnet login attempt (refused: the decky has no password set).
fn telnet_login(
    rt: &tokio::runtime::Runtime,
    from: &str,
    to: (&str, u16),
    user: &str,
    password: &str,
) {
    let target: std::net::SocketAddr = format!("{}:{}", to.0, to.1).parse().unwrap();
    let mut s = rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(format!("{from}:0").parse().unwrap()).unwrap();
        let s = sock.connect(target).await.unwrap().into_std().unwrap();
        s.set_nonblocking(false).unwrap();
        s
    });
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 512];
    let mut got = Vec::new();
    for (prompt, answer) in [("login: ", user), ("assword", password)] {
        while !String::from_utf8_lossy(&got).contains(prompt) {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "telnet closed before {prompt:?}");
            got.extend_from_slice(&buf[..n]);
        }
        got.clear();
        s.write_all(format!("{answer}\r\n").as_bytes()).unwrap();
    }
    // The refusal comes after the password: wait for it so the attempt is
    // complete before the next one.
    let _ = s.read(&mut buf);
}

/// Two `decnet serve` on one NATS and one store: both engines see every
/// message, only the intel lease holder raises alerts, so a brute force on a
/// sensor reaches the receiver as one first-sight alert and one digest (not
/// one of each per server). The sensor says it does not use its file's
/// alerts sections; the deploy route applies a deployed INI's.
#[test]
fn two_servers_raise_each_alert_once() {
    let Some(Shared {
        _pg,
        rt,
        db,
        dir,
        _nats,
        url,
    }) = Shared::start()
    else {
        return;
    };
    let (rport, got) = hook_receiver();
    let off = 45000u16;
    let pw = "alerts-admin-pw";
    let alerts = format!(
        "[alerts]\nwindow = 3s\n[alerts.hook]\ntype = webhook\nurl = http://127.0.0.1:{rport}/hook\nsecret = scaleout-hmac-secret-0123\nrules = auth_attempt\nmin_severity = info\n"
    );
    let bin = env!("CARGO_BIN_EXE_decnet");
    let mut servers = Vec::new();
    let mut apis = Vec::new();
    for (i, net) in ["127.0.110", "127.0.111"].iter().enumerate() {
        let ini = format!(
            "[general]\nnet = {net}.0/24\n[core{i}]\nip = {net}.10\nservices = http\n{alerts}"
        );
        let (c, api) = start_server(dir.path(), i, &ini, &url, &db, off, pw);
        servers.push(c);
        apis.push(api);
    }
    std::fs::write(
        dir.path().join("sensor.ini"),
        format!("[general]\nnet = 127.0.112.0/24\n[edge]\nip = 127.0.112.10\nservices = telnet\n{alerts}"),
    )
    .unwrap();
    let sensor_err = dir.path().join("sensor.err");
    let mut sensor = Kill(
        Command::new(bin)
            .args(["sensor", "--name", "site3", "--config"])
            .arg(dir.path().join("sensor.ini"))
            .arg("--data-dir")
            .arg(dir.path().join("sensor"))
            .args(["--bus", &url, "--port-offset", &off.to_string()])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&sensor_err).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_line(&mut sensor.0, "control.site3.deploy");
    let warned = std::fs::read_to_string(&sensor_err).unwrap();
    assert!(
        warned.contains("warning:")
            && warned.contains("[alerts] [alerts.hook] not used by `decnet sensor`"),
        "{warned}"
    );

    // Alerts are raised once a server holds the lease.
    let store = rt.block_on(decnet_store::SqlStore::connect(&db)).unwrap();
    let t = Instant::now();
    let holder = loop {
        if let Some(h) = intel_holder(&rt, &store) {
            break h;
        }
        assert!(t.elapsed() < Duration::from_secs(20), "no lease holder");
        std::thread::sleep(Duration::from_millis(100));
    };
    let tokens: Vec<String> = apis.iter().map(|a| login(a, pw)).collect();
    let emitting: Vec<bool> = (0..2)
        .map(|i| {
            get_json(&apis[i], "/api/v1/alerts/status", &tokens[i])["engine"]["emitting"]
                .as_bool()
                .unwrap()
        })
        .collect();
    let holder_idx = servers
        .iter()
        .position(|c| c.0.id() == holder_pid(&holder))
        .unwrap();
    let want: Vec<bool> = (0..2).map(|i| i == holder_idx).collect();
    assert_eq!(emitting, want, "only the lease holder emits");

    // A brute force: 10 refused logins from one source.
    let attempts = 10;
    for n in 0..attempts {
        telnet_login(
            &rt,
            "127.0.113.7",
            ("127.0.112.10", 23 + off),
            "root",
            &format!("guess{n}"),
        );
    }
    // First sight at once; the digest when the 3 s window closes.
    let kinds = || -> Vec<(String, u64)> {
        got.lock()
            .unwrap()
            .iter()
            .filter(|b| b["topic"] == "alert.auth_attempt")
            .map(|b| {
                let k = &b["payload"]["kind"];
                (
                    k["type"].as_str().unwrap().to_owned(),
                    k["suppressed"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    };
    let t = Instant::now();
    while !kinds().iter().any(|(k, _)| k == "digest") {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no digest: {:?}",
            kinds()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Both servers' windows would have closed by now.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(
        kinds(),
        [("first".to_owned(), 0), ("digest".to_owned(), attempts - 1)],
        "one alert and one digest for the fleet"
    );
    // The history is the store's: both servers show the deliveries sent.
    for i in 0..2 {
        let page = get_json(&apis[i], "/api/v1/alerts/history?limit=10", &tokens[i]);
        assert_eq!(page["total"], 2, "server {i}: {page}");
        for rec in page["data"].as_array().unwrap() {
            assert_eq!(rec["deliveries"][0]["state"], "sent", "server {i}: {rec}");
        }
    }

    // A deployed INI's alerts sections are applied by the server it reaches;
    // invalid ones are refused and change nothing.
    let deploy = |ini: String| {
        let body = serde_json::json!({"ini_content": ini}).to_string();
        http(
            &apis[0],
            "POST",
            "/api/v1/deckies/deploy",
            Some(&tokens[0]),
            &body,
        )
    };
    let (st, body) = deploy(format!(
        "[general]\nnet = 127.0.114.0/24\n[dep1]\nip = 127.0.114.10\nservices = http\n{alerts}[alerts.bad]\ntype = slack\n"
    ));
    assert_eq!(st, 422, "{body}");
    assert!(body.contains("[alerts.bad] url"), "{body}");
    let (st, body) = deploy(format!(
        "[general]\nnet = 127.0.114.0/24\n[dep1]\nip = 127.0.114.10\nservices = http\n{alerts}[alerts.extra]\ntype = webhook\nurl = http://127.0.0.1:{rport}/extra\nsecret = scaleout-hmac-secret-0456\n"
    ));
    assert_eq!(st, 202, "{body}");
    let names = |i: usize| -> Vec<String> {
        get_json(&apis[i], "/api/v1/alerts/channels", &tokens[i])
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(0), ["extra", "hook"]);

    assert_eq!(sigterm_and_wait(&mut sensor.0), 0);
    for s in &mut servers {
        assert_eq!(sigterm_and_wait(&mut s.0), 0);
    }
}
