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

use decnet_store::AttackStore;

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

/// A nats-server with JetStream on a free port, keeping its store in
/// `dir/js`, accepting connections; and its URL.
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

/// One `decnet serve` of a cluster: fleet file `dir/<name>.ini` holding
/// `ini`, data in `dir/<name>`, stderr in `dir/<name>.err`; returned once
/// it is up, with its API address.
struct ServeArgs<'a> {
    dir: &'a Path,
    name: String,
    ini: String,
    url: &'a str,
    db: &'a str,
    off: u16,
    pw: &'a str,
}

fn start_serve(a: ServeArgs<'_>) -> (Kill, String) {
    let ini = a.dir.join(format!("{}.ini", a.name));
    std::fs::write(&ini, &a.ini).unwrap();
    let err = a.dir.join(format!("{}.err", a.name));
    let api = format!("127.0.0.1:{}", free_port());
    let mut c = Kill(
        Command::new(env!("CARGO_BIN_EXE_decnet"))
            .arg("serve")
            .arg("--config")
            .arg(&ini)
            .arg("--data-dir")
            .arg(a.dir.join(&a.name))
            .args(["--bus", a.url, "--db", a.db, "--api", &api])
            .args(["--port-offset", &a.off.to_string()])
            .env("DECNET_ADMIN_PASSWORD", a.pw)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap(),
    );
    let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_line(&mut c.0, "Ctrl-C to stop")
    }));
    if started.is_err() {
        panic!(
            "{} did not start: {:?}",
            a.name,
            std::fs::read_to_string(&err)
        );
    }
    (c, api)
}

/// `decnet sensor --name NAME` with fleet file `dir/sensor.ini` holding
/// `ini`, data in `dir/sensor`; returned once it takes deploy requests.
fn start_sensor(dir: &Path, name: &str, ini: &str, url: &str, off: u16) -> Kill {
    std::fs::write(dir.join("sensor.ini"), ini).unwrap();
    let mut sensor = Kill(
        Command::new(env!("CARGO_BIN_EXE_decnet"))
            .args(["sensor", "--name", name, "--config"])
            .arg(dir.join("sensor.ini"))
            .arg("--data-dir")
            .arg(dir.join("sensor"))
            .args(["--bus", url, "--port-offset", &off.to_string()])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join(format!("sensor-{name}.err"))).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_line(&mut sensor.0, &format!("control.{name}.deploy"));
    sensor
}

/// What a two-server test shares: nats-server, a fresh PostgreSQL database,
/// a runtime for the test's own async calls, a temporary directory. `None`
/// (skipped, loudly) without nats-server or PostgreSQL.
struct Cluster {
    rt: tokio::runtime::Runtime,
    db: String,
    url: String,
    _nats: Kill,
    dir: tempfile::TempDir,
    _pg: decnet_store::testing::PgCluster,
}

/// A failed two-server test shows what its servers said: the panic alone
/// ("stored 177 of 180") rarely names the cause, and the directory holding
/// their stderr is gone once the test ends.
impl Drop for Cluster {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("err") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            eprintln!("--- {} (last {} lines)", path.display(), tail.len());
            for line in tail {
                eprintln!("{line}");
            }
        }
    }
}

impl Cluster {
    fn start() -> Option<Cluster> {
        let nats_bin = nats_bin()?;
        let pg = decnet_store::testing::PgCluster::start()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let db = rt.block_on(pg.fresh_database());
        let dir = tempfile::tempdir().unwrap();
        let (nats, url) = start_nats(nats_bin, dir.path());
        Some(Cluster {
            rt,
            db,
            url,
            _nats: nats,
            dir,
            _pg: pg,
        })
    }

    /// One `decnet serve` per fleet file, named `<prefix><i>`, one after the
    /// other (the first creates the schema and the admin); their API
    /// addresses.
    fn serve(
        &self,
        prefix: &str,
        inis: impl Iterator<Item = String>,
        off: u16,
        pw: &str,
    ) -> (Vec<Kill>, Vec<String>) {
        inis.enumerate()
            .map(|(i, ini)| {
                start_serve(ServeArgs {
                    dir: self.dir.path(),
                    name: format!("{prefix}{i}"),
                    ini,
                    url: &self.url,
                    db: &self.db,
                    off,
                    pw,
                })
            })
            .unzip()
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
/// the lease, the last writer's share won: 84 of 180 events counted). The
/// ATT&CK tag worker rides on the same lease: every request is tagged once
/// and announced once, and an aggregate rule sees all of one source's
/// requests although two pumps split them.
#[test]
fn two_servers_intel_counts_every_event() {
    two_servers(Mode::IntelTotals);
}

/// The server holding the intel lease is killed (SIGKILL) mid-stream: the
/// other one takes the lease within its expiry and resumes from the intel
/// consumer's unacked messages; totals are still every event exactly once,
/// and ATT&CK tagging continues there: every request tagged exactly once.
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
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let (rt, db, url, dir) = (&cluster.rt, &cluster.db, &cluster.url, &cluster.dir);
    // Tests run in parallel: each mode its own decky ports.
    let off = match mode {
        Mode::Shares => 48000u16,
        Mode::IntelTotals => 47000,
        Mode::Failover => 46000,
    };
    let pw = "share-admin-pw";
    let inis = ["127.0.102", "127.0.103"]
        .iter()
        .enumerate()
        .map(|(i, net)| {
            format!("[general]\nnet = {net}.0/24\n[core{i}]\nip = {net}.10\nservices = telnet\n")
        });
    let (mut servers, apis) = cluster.serve("s", inis, off, pw);
    let mut sensor = start_sensor(
        dir.path(),
        "site2",
        "[general]\nnet = 127.0.104.0/24\n[edge]\nip = 127.0.104.10\nservices = http\n",
        url,
        off,
    );

    let store = rt.block_on(decnet_store::SqlStore::connect(db)).unwrap();
    let announced = (mode != Mode::Shares).then(|| TagAnnouncements::collect(url));
    // Requests for a PHPUnit RCE path (one T1190 tag each) where tags are
    // checked.
    let path = |a: u32, j: u32| match mode {
        Mode::Shares => format!("/share/{a}/{j}"),
        _ => format!("/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php?share={a}-{j}"),
    };
    // 12 attackers (own source addresses), 5 requests each, one connection
    // per request, spread over ~1.5 s so both pumps keep pulling. Which
    // pump takes a message is JetStream's choice: where one has had none
    // after 5 waves (a loaded machine), more waves follow, up to 15, so
    // "both took a share" is checked on enough traffic to mean something.
    let attackers = 12u32;
    let (least_waves, most_waves) = (5u32, 15u32);
    let logs = [0, 1].map(|i| dir.path().join(format!("s{i}")).join("decnet.log"));
    let target: std::net::SocketAddr = format!("127.0.104.10:{}", 80 + off).parse().unwrap();
    let mut survivor = 1;
    let mut killed_at = None;
    let mut per = 0u32;
    for j in 0..most_waves {
        let both_shared = edge_lines(&logs[0]) > 0 && edge_lines(&logs[1]) > 0;
        if j >= least_waves && (mode == Mode::Failover || both_shared) {
            break;
        }
        per = j + 1;
        if mode == Mode::Failover && j == 2 {
            // Mid-stream: SIGKILL whichever server holds the intel lease.
            let holder = intel_holder(rt, &store).expect("a server holds the intel lease");
            let pid = holder_pid(&holder);
            let idx = servers
                .iter()
                .position(|c| c.0.id() == pid)
                .unwrap_or_else(|| panic!("lease holder {holder} is none of our servers"));
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            let _ = servers[idx].0.wait();
            survivor = 1 - idx;
            killed_at = Some((Instant::now(), holder, chrono::Utc::now()));
        }
        rt.block_on(async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            for a in 1..=attackers {
                let sock = tokio::net::TcpSocket::new_v4().unwrap();
                sock.bind(format!("127.0.105.{a}:0").parse().unwrap())
                    .unwrap();
                let mut s = sock.connect(target).await.unwrap();
                let req = format!(
                    "GET {} HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n",
                    path(a, j)
                );
                s.write_all(req.as_bytes()).await.unwrap();
                let mut sink = Vec::new();
                s.read_to_end(&mut sink).await.unwrap();
                assert!(sink.starts_with(b"HTTP/1.1 "));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        });
    }
    // One more source asks for 20 distinct paths: a wordlist scan, which
    // only a tagger seeing both pumps' shares of it recognises.
    let wordlist = if mode == Mode::IntelTotals { 20u64 } else { 0 };
    rt.block_on(async {
        for n in 0..wordlist {
            get_from("127.0.106.1", target, &format!("/word{n}")).await;
        }
    });
    eprintln!("{per} waves of {attackers} requests");
    let requests = u64::from(attackers * per);
    if let Some((at, dead, _)) = &killed_at {
        // The survivor takes the lease within its expiry (15 s; it retries
        // every 2 s).
        loop {
            match intel_holder(rt, &store) {
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
    // Every connection is connect + request + disconnect.
    let want = 3 * (requests + wordlist);
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
        assert_eq!(total(i, "&kind=request"), requests + wordlist);
    }
    // Each pump committed (and handed to its event log) only its share. (A
    // killed server may have logged a batch it never acked: it is then
    // logged again by the survivor.)
    let (a, b) = (edge_lines(&logs[0]), edge_lines(&logs[1]));
    if mode != Mode::Failover {
        assert_eq!(a + b, want, "shares add up to every event once: {a} + {b}");
        assert!(
            a > 0 && b > 0,
            "both servers took a share of {per} waves: {a} + {b}"
        );
    } else {
        // The survivor took every wave after the kill; the killed server's
        // share of the first two is JetStream's choice.
        assert!(
            [a, b][survivor] > 0,
            "the survivor took the waves after the kill: {a} + {b}"
        );
    }

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
        let totals_ok = !check_intel_totals || counted == 3 * requests;
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
            "intel: {} attackers (want {attackers}), {counted} events (want {}): {v}",
            ours.len(),
            3 * requests
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    if let Some(announced) = announced {
        let tagged = wait_for_tags(rt, &store, requests, patience);
        if let Some((_, _, killed)) = killed_at {
            // Waves 2..5 were sent after the kill: the survivor tagged them.
            let after = tagged.iter().filter(|t| t.ts > killed).count() as u64;
            assert_eq!(
                after,
                u64::from(attackers * (per - 2)),
                "tagged after the kill"
            );
        } else {
            let scan = rt
                .block_on(store.attack_list_tags(
                    &decnet_store::attack_sql::TagFilter {
                        src_ips: vec!["127.0.106.1".into()],
                        ..Default::default()
                    },
                    100,
                    0,
                ))
                .unwrap();
            assert!(
                scan.data.iter().any(|t| t.rule_id == "scan.wordlist_paths"),
                "the wordlist scan split over two pumps is one tagger's aggregate: {:?}",
                scan.data
            );
        }
        let seen = announced.stop();
        let php: Vec<&(String, String)> = seen
            .iter()
            .filter(|(_, rule)| rule == "web.php_rce_paths")
            .collect();
        let distinct: std::collections::BTreeSet<_> = seen.iter().collect();
        assert_eq!(
            distinct.len(),
            seen.len(),
            "a tag announced twice: {seen:?}"
        );
        // A killed holder may die between storing a tag and announcing it.
        if killed_at.is_none() {
            assert_eq!(php.len() as u64, requests, "every tag announced once");
        }
    }
    assert_eq!(sigterm_and_wait(&mut sensor.0), 0);
    for &i in &alive {
        assert_eq!(sigterm_and_wait(&mut servers[i].0), 0);
    }
}

/// One HTTP GET from `src` (its own source address) to `target`.
async fn get_from(src: &str, target: std::net::SocketAddr, path: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind(format!("{src}:0").parse().unwrap()).unwrap();
    let mut s = sock.connect(target).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut sink = Vec::new();
    s.read_to_end(&mut sink).await.unwrap();
    assert!(sink.starts_with(b"HTTP/1.1 "));
}

/// Every `attack.tag` message on NATS, as (event id, rule id), collected on
/// a thread of its own while the test drives traffic.
struct TagAnnouncements {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<Vec<(String, String)>>,
}

impl TagAnnouncements {
    fn collect(url: &str) -> TagAnnouncements {
        let url = url.to_owned();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let (ready_tx, ready) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                use futures::StreamExt;
                let c = async_nats::connect(url.as_str()).await.unwrap();
                let mut sub = c.subscribe("attack.tag").await.unwrap();
                c.flush().await.unwrap();
                ready_tx.send(()).unwrap();
                let mut seen = Vec::new();
                loop {
                    match tokio::time::timeout(Duration::from_millis(100), sub.next()).await {
                        Ok(Some(m)) => {
                            let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
                            let p = &v["payload"];
                            seen.push((
                                p["event_id"].as_str().unwrap_or("").to_owned(),
                                p["rule_id"].as_str().unwrap_or("").to_owned(),
                            ));
                        }
                        Ok(None) => return seen,
                        Err(_) if stopped.try_recv().is_ok() => return seen,
                        Err(_) => {}
                    }
                }
            })
        });
        ready.recv().unwrap();
        TagAnnouncements { stop, thread }
    }

    /// What was announced, after a last second for stragglers.
    fn stop(self) -> Vec<(String, String)> {
        std::thread::sleep(Duration::from_secs(1));
        let _ = self.stop.send(());
        self.thread.join().unwrap()
    }
}

/// Waits until every one of `requests` PHPUnit requests has its T1190 tag
/// in the store, and checks each is tagged exactly once.
fn wait_for_tags(
    rt: &tokio::runtime::Runtime,
    store: &decnet_store::SqlStore,
    requests: u64,
    patience: Duration,
) -> Vec<decnet_store::attack_sql::TagRow> {
    let t = Instant::now();
    loop {
        let page = rt
            .block_on(store.attack_list_tags(
                &decnet_store::attack_sql::TagFilter {
                    technique_id: Some("T1190".into()),
                    ..Default::default()
                },
                1000,
                0,
            ))
            .unwrap();
        let rows: Vec<_> = page
            .data
            .into_iter()
            .filter(|r| r.rule_id == "web.php_rce_paths" && r.src_ip.starts_with("127.0.105."))
            .collect();
        let events: std::collections::BTreeSet<_> = rows.iter().map(|r| r.event_id).collect();
        assert_eq!(
            events.len(),
            rows.len(),
            "an event tagged twice by one rule"
        );
        if rows.len() as u64 == requests {
            return rows;
        }
        assert!(
            t.elapsed() < patience,
            "{} of {requests} requests tagged",
            rows.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// GET with extra header lines; returns (status, whole response text).
fn get_raw(addr: &str, path: &str, headers: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}

/// Polls `f` every 5 ms until it is true; the time it took.
fn time_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
    t.elapsed()
}

/// The stored `canary_trigger` events of one token, as server `api` reads them.
fn triggers_of(api: &str, tok: &str, id: &str) -> Vec<serde_json::Value> {
    get_json(
        api,
        &format!("/api/v1/canary/tokens/{id}/triggers?limit=100"),
        tok,
    )["items"]
        .as_array()
        .unwrap()
        .clone()
}

/// `RETR path` as an anonymous FTP client (passive mode); the file's
/// text, `None` when it cannot be had.
fn ftp_get(addr: &str, path: &str) -> Option<String> {
    fn reply(r: &mut BufReader<TcpStream>) -> Option<String> {
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let b = line.as_bytes();
            if b.len() >= 4 && b[..3].iter().all(u8::is_ascii_digit) && b[3] == b' ' {
                return Some(line);
            }
        }
    }
    let ctl = TcpStream::connect(addr).ok()?;
    ctl.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut w = ctl.try_clone().ok()?;
    let mut r = BufReader::new(ctl);
    reply(&mut r)?;
    for cmd in ["USER anonymous", "PASS guest@example.com", "TYPE I"] {
        write!(w, "{cmd}\r\n").ok()?;
        reply(&mut r)?;
    }
    write!(w, "PASV\r\n").ok()?;
    let pasv = reply(&mut r)?;
    let nums: Vec<u16> = pasv[pasv.find('(')? + 1..pasv.find(')')?]
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let [h1, h2, h3, h4, p1, p2] = nums[..] else {
        return None;
    };
    let mut data = TcpStream::connect((format!("{h1}.{h2}.{h3}.{h4}"), p1 * 256 + p2)).ok()?;
    data.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(w, "RETR {path}\r\n").ok()?;
    if !reply(&mut r)?.starts_with("150") {
        return None;
    }
    let mut text = String::new();
    data.read_to_string(&mut text).ok()?;
    Some(text)
}

/// Canary tokens scaled out: two servers share a PostgreSQL store and NATS,
/// a sensor runs deckies. A token made on server A is known to server B's
/// receiver within a second (a bus notice, not the periodic re-read) and
/// stops there within a second of its revocation on A; the sensor's decky
/// gets tokens planted by the servers, pointing at the sensor's own deckies,
/// and their use on the sensor triggers (the servers' watcher consumes the
/// sensor's events).
#[test]
fn canary_tokens_reach_every_server_and_the_sensors_deckies() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let (url, dir) = (&cluster.url, &cluster.dir);
    let off = 45000u16;
    let pw = "canary-scale-pw";
    let receivers = ["127.0.110.2:18080", "127.0.111.2:18080"];
    let inis = ["127.0.110", "127.0.111"].iter().enumerate().map(|(i, net)| {
        format!(
            "[general]\nnet = {net}.0/24\n[canary]\nhttp = {}\n[core{i}]\nip = {net}.10\nservices = telnet\n",
            receivers[i]
        )
    });
    let (mut servers, apis) = cluster.serve("c", inis, off, pw);
    let toks: Vec<String> = apis.iter().map(|a| login(a, pw)).collect();
    let (a, b) = (0, 1);

    // A token made on A: B's receiver knows it within a second.
    let (st, body) = http(
        &apis[a],
        "POST",
        "/api/v1/canary/tokens",
        Some(&toks[a]),
        r#"{"kind":"http_url","label":"made on A"}"#,
    );
    assert_eq!(st, 201, "{body}");
    let made = Instant::now();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let id = v["id"].as_str().unwrap().to_owned();
    let call_home = v["call_home"].as_str().unwrap().to_owned();
    let path = call_home
        .strip_prefix(&format!("http://{}", receivers[a]))
        .unwrap()
        .to_owned();
    let ua = "User-Agent: scaleout-canary/1\r\n";
    time_until(
        Duration::from_secs(1),
        "B's receiver knows A's token",
        || get_raw(receivers[b], &path, ua).0 == 200,
    );
    let known_after = made.elapsed();
    // Attributed: B's trigger names the token, stored once for both servers.
    time_until(Duration::from_secs(5), "B's trigger stored", || {
        triggers_of(&apis[a], &toks[a], &id)
            .iter()
            .any(|e| e["fields"]["user_agent"] == "scaleout-canary/1")
    });
    eprintln!("token made on A triggers on B after {known_after:?}");

    // Revoked on A: B's receiver forgets it within a second.
    let (st, body) = http(
        &apis[a],
        "DELETE",
        &format!("/api/v1/canary/tokens/{id}"),
        Some(&toks[a]),
        "",
    );
    assert!(st < 300, "{st} {body}");
    let revoked = Instant::now();
    // Requests B answered before the notice came are triggers (one each).
    let mut answered = 1;
    time_until(
        Duration::from_secs(1),
        "B forgets the revoked token",
        || {
            let st = get_raw(receivers[b], &path, ua).0;
            answered += usize::from(st == 200);
            st == 404
        },
    );
    eprintln!("revocation on A reached B after {:?}", revoked.elapsed());
    time_until(
        Duration::from_secs(5),
        "every answered request stored",
        || triggers_of(&apis[b], &toks[b], &id).len() == answered,
    );
    assert_eq!(get_raw(receivers[b], &path, ua).0, 404);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        triggers_of(&apis[b], &toks[b], &id).len(),
        answered,
        "a revoked token triggers nothing"
    );

    // A sensor whose fleet plants canaries: a web server decky.
    let mut sensor = start_sensor(dir.path(), "site3", "[general]\nnet = 127.0.112.0/24\n[canary]\nplant = yes\nrefresh = 1s\n[edge]\nip = 127.0.112.10\narchetype = web-server\nservices = http, ftp\n", url, off);
    // The servers made its tokens and recorded them as planted on `edge`.
    let mut git_id = String::new();
    time_until(
        Duration::from_secs(20),
        "tokens planted on the sensor's decky",
        || {
            let list = get_json(&apis[b], "/api/v1/canary/tokens", &toks[b]);
            let found = list.as_array().unwrap().iter().find(|t| {
                t["kind"] == "git_config"
                    && t["planted_in"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|p| p["decky"] == "edge")
            });
            if let Some(t) = found {
                git_id = t["id"].as_str().unwrap().to_owned();
            }
            found.is_some()
        },
    );
    // Its git remote is the sensor's http decky, with the token's login.
    let (st, config) = http(
        &apis[b],
        "GET",
        &format!("/api/v1/canary/tokens/{git_id}/download"),
        Some(&toks[b]),
        "",
    );
    assert_eq!(st, 200, "{config}");
    let remote = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("url = http://"))
        .unwrap_or_else(|| panic!("no remote in {config}"))
        .to_owned();
    let (login_part, rest) = remote.split_once('@').unwrap();
    let decky = format!("127.0.112.10:{}", 80 + off);
    assert!(rest.starts_with(&format!("{decky}/")), "{remote}");
    let repo = &rest[decky.len()..];
    // What git does: discovery, a 401, the same again with the login.
    let discover = format!("{repo}/info/refs?service=git-upload-pack");
    let (st, answer) = get_raw(&decky, &discover, "User-Agent: git/2.39.5\r\n");
    assert_eq!(st, 401, "{answer}");
    assert!(answer.contains("Basic realm=\"Git\""), "{answer}");
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(login_part);
    let (st, _) = get_raw(
        &decky,
        &discover,
        &format!("User-Agent: git/2.39.5\r\nAuthorization: Basic {basic}\r\n"),
    );
    assert_eq!(st, 401);
    // The servers' watcher saw the sensor's events: triggers name the
    // token and the sensor's decky.
    let git_triggered = || {
        let t = triggers_of(&apis[a], &toks[a], &git_id);
        let on_edge = |m: &str| {
            t.iter()
                .any(|e| e["decky"] == "edge" && e["fields"]["matched"] == m)
        };
        on_edge("repo_path") && on_edge("password")
    };
    let t = Instant::now();
    while !git_triggered() {
        if t.elapsed() > Duration::from_secs(15) {
            let edge = get_json(&apis[a], "/api/v1/logs?decky=edge&limit=50", &toks[a]);
            let tokens = get_json(&apis[a], "/api/v1/canary/tokens", &toks[a]);
            panic!("git token {git_id} not triggered on the sensor; edge events: {edge}; tokens: {tokens}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // A token placed on the sensor's decky on demand through the API is
    // written there at the sensor's next re-ask (`refresh = 1s` here):
    // found by an anonymous FTP client.
    let (st, body) = http(
        &apis[a],
        "POST",
        "/api/v1/canary/tokens",
        Some(&toks[a]),
        r#"{"kind":"http_url","label":"on demand","planted_in":[{"decky":"edge","path":"/srv/ftp/pub/portal.txt"}]}"#,
    );
    assert_eq!(st, 201, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let call_home = v["call_home"].as_str().unwrap();
    let slug_path = &call_home[call_home.find("/c/").unwrap()..];
    let ftp = format!("127.0.112.10:{}", 21 + off);
    time_until(
        Duration::from_secs(10),
        "on-demand token on the sensor's decky",
        || ftp_get(&ftp, "/pub/portal.txt").is_some_and(|t| t.contains(slug_path)),
    );
    assert_eq!(sigterm_and_wait(&mut sensor.0), 0);
    for s in &mut servers {
        assert_eq!(sigterm_and_wait(&mut s.0), 0);
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
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let (rt, db, url, dir) = (&cluster.rt, &cluster.db, &cluster.url, &cluster.dir);
    let (rport, got) = hook_receiver();
    let off = 44000u16;
    let pw = "alerts-admin-pw";
    let alerts = format!(
        "[alerts]\nwindow = 3s\n[alerts.hook]\ntype = webhook\nurl = http://127.0.0.1:{rport}/hook\nsecret = scaleout-hmac-secret-0123\nrules = auth_attempt\nmin_severity = info\n"
    );
    let bin = env!("CARGO_BIN_EXE_decnet");
    let inis = ["127.0.114", "127.0.115"]
        .iter()
        .enumerate()
        .map(|(i, net)| {
            format!(
                "[general]\nnet = {net}.0/24\n[core{i}]\nip = {net}.10\nservices = http\n{alerts}"
            )
        });
    let (mut servers, apis) = cluster.serve("a", inis, off, pw);
    std::fs::write(
        dir.path().join("sensor.ini"),
        format!("[general]\nnet = 127.0.116.0/24\n[edge]\nip = 127.0.116.10\nservices = telnet\n{alerts}"),
    )
    .unwrap();
    let sensor_err = dir.path().join("sensor.err");
    let mut sensor = Kill(
        Command::new(bin)
            .args(["sensor", "--name", "site3", "--config"])
            .arg(dir.path().join("sensor.ini"))
            .arg("--data-dir")
            .arg(dir.path().join("sensor"))
            .args(["--bus", url, "--port-offset", &off.to_string()])
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
    let store = rt.block_on(decnet_store::SqlStore::connect(db)).unwrap();
    let t = Instant::now();
    let holder = loop {
        if let Some(h) = intel_holder(rt, &store) {
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
            rt,
            "127.0.117.7",
            ("127.0.116.10", 23 + off),
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
        "[general]\nnet = 127.0.118.0/24\n[dep1]\nip = 127.0.118.10\nservices = http\n{alerts}[alerts.bad]\ntype = slack\n"
    ));
    assert_eq!(st, 422, "{body}");
    assert!(body.contains("[alerts.bad] url"), "{body}");
    let (st, body) = deploy(format!(
        "[general]\nnet = 127.0.118.0/24\n[dep1]\nip = 127.0.118.10\nservices = http\n{alerts}[alerts.extra]\ntype = webhook\nurl = http://127.0.0.1:{rport}/extra\nsecret = scaleout-hmac-secret-0456\n"
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
