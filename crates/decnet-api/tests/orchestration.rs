//! Fleet and topology orchestration over HTTP against a real server with a
//! real fleet: deploy an INI and see ports open, file drops visible from the
//! decky's shell, a topology taken through its whole life with its SSE
//! stream asserted event by event, optimistic concurrency, queue resume.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use decnet_api::engine::Engine;
use decnet_api::ApiConfig;
use decnet_bus::{Bus, MemoryBus};
use decnet_engine::topology::Topologies;
use decnet_engine::{EngineConfig, Fleet};
use decnet_services::{Limits, Registry};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

const PW: &str = "orchestration-admin-pw";
const OFFSET: u16 = 48000;

struct Srv {
    base: String,
    http: reqwest::Client,
    token: String,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<decnet_api::ApiHandle>,
    worker_stop: tokio_util::sync::CancellationToken,
    fleet: Arc<Fleet>,
    bus: Arc<dyn Bus>,
}

impl Srv {
    async fn start(dir: &std::path::Path) -> Srv {
        let bus: Arc<dyn Bus> = MemoryBus::new();
        let store = decnet_store::open(&format!("sqlite://{}/decnet.db", dir.display()))
            .await
            .unwrap();
        let limits = Limits {
            auth_fail_delay: Duration::from_millis(10),
            ..Limits::default()
        };
        let fleet = Fleet::new(
            EngineConfig {
                data_dir: dir.join("data"),
                port_offset: OFFSET,
                limits,
            },
            Registry::builtin(),
            bus.clone(),
        );
        let topologies = Topologies::new(store.clone(), fleet.clone(), bus.clone());
        let worker_stop = tokio_util::sync::CancellationToken::new();
        tokio::spawn(topologies.clone().run_worker(worker_stop.clone()));
        let mut cfg = ApiConfig::new("127.0.0.1:0".parse().unwrap(), dir);
        cfg.admin_password = Some(PW.into());
        cfg.jwt_secret = Some("0123456789abcdef0123456789abcdef-orchestration".into());
        cfg.sse_keepalive = Duration::from_secs(1);
        let engine = Some(Engine {
            fleet: fleet.clone(),
            topologies,
            sensors: decnet_api::engine::Sensors::watch(&bus),
        });
        let (tx, rx) = oneshot::channel::<()>();
        let sensor_bus = bus.clone();
        let handle = decnet_api::serve(
            cfg,
            decnet_api::Backends {
                engine,
                ..decnet_api::Backends::new(store, bus)
            },
            async move {
                let _ = rx.await;
            },
        )
        .await
        .unwrap();
        let base = format!("http://{}/api/v1", handle.local_addr);
        let http = reqwest::Client::new();
        let r = http
            .post(format!("{base}/auth/login"))
            .json(&json!({"username": "admin", "password": PW}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let token = r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        Srv {
            base,
            http,
            token,
            stop: Some(tx),
            handle: Some(handle),
            worker_stop,
            fleet,
            bus: sensor_bus,
        }
    }

    async fn stop(mut self) {
        self.worker_stop.cancel();
        let _ = self.stop.take().unwrap().send(());
        self.handle.take().unwrap().wait().await.unwrap();
        self.fleet.shutdown().await;
    }

    async fn req(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let v = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, v)
    }
}

async fn wait_port(ip: &str, port: u16) {
    for _ in 0..200 {
        if TcpStream::connect((ip, port)).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{ip}:{port} never opened");
}

/// Logs into a telnet decky and runs shell commands, returning their output.
async fn telnet_shell(ip: &str, port: u16, password: &str, commands: &[&str]) -> String {
    let mut s = TcpStream::connect((ip, port)).await.unwrap();
    let mut acc = Vec::new();
    async fn until(s: &mut TcpStream, acc: &mut Vec<u8>, needle: &[u8]) -> Vec<u8> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(p) = acc.windows(needle.len()).position(|w| w == needle) {
                let out = acc[..p + needle.len()].to_vec();
                acc.drain(..p + needle.len());
                return out;
            }
            let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
                .await
                .expect("telnet read timeout")
                .unwrap();
            assert!(
                n > 0,
                "telnet closed; got {:?}",
                String::from_utf8_lossy(acc)
            );
            acc.extend_from_slice(&buf[..n]);
        }
    }
    until(&mut s, &mut acc, b"login: ").await;
    s.write_all(b"root\r\n").await.unwrap();
    until(&mut s, &mut acc, b"Password: ").await;
    s.write_all(format!("{password}\r\n").as_bytes())
        .await
        .unwrap();
    until(&mut s, &mut acc, b"# ").await;
    let mut out = String::new();
    for c in commands {
        s.write_all(format!("{c}\r\n").as_bytes()).await.unwrap();
        out.push_str(&String::from_utf8_lossy(
            &until(&mut s, &mut acc, b"# ").await,
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_ini_lifecycle_and_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Srv::start(dir.path()).await;
    let ini = "[general]\nnet = 127.0.90.0/24\n[alpha]\nip = 127.0.90.10\nservices = http, telnet\n[alpha.telnet]\npassword = dropme\n";
    let (st, v) = srv
        .req(
            reqwest::Method::POST,
            "/deckies/deploy",
            Some(json!({"ini_content": ini})),
        )
        .await;
    assert_eq!(st, 202, "{v}");
    assert_eq!(v["deckies"][0]["name"], "alpha");
    assert!(v["deckies"][0]["lifecycle_id"].as_str().unwrap().len() > 10);
    // DECNET's spelling: the same ids as a list.
    assert_eq!(v["lifecycle_ids"], json!([v["deckies"][0]["lifecycle_id"]]));
    let lifecycle_id = v["lifecycle_ids"][0].clone();
    wait_port("127.0.90.10", 80 + OFFSET).await;
    wait_port("127.0.90.10", 23 + OFFSET).await;
    let (_, lc) = srv
        .req(reqwest::Method::GET, "/deckies/lifecycle", None)
        .await;
    assert_eq!(lc[0]["state"], "running", "{lc}");
    assert_eq!(lc[0]["id"], lifecycle_id, "the id names this deploy's row");
    let (_, list) = srv.req(reqwest::Method::GET, "/deckies", None).await;
    assert_eq!(list[0]["name"], "alpha");

    // Same names again → 409; structural garbage → 400; unknown service → 422 naming the line.
    assert_eq!(
        srv.req(
            reqwest::Method::POST,
            "/deckies/deploy",
            Some(json!({"ini_content": ini}))
        )
        .await
        .0,
        409
    );
    assert_eq!(
        srv.req(
            reqwest::Method::POST,
            "/deckies/deploy",
            Some(json!({"ini_content": "this is not ini"}))
        )
        .await
        .0,
        400
    );
    let (st, v) = srv
        .req(
            reqwest::Method::POST,
            "/deckies/deploy",
            Some(json!({"ini_content": "[general]\nnet = 127.0.91.0/24\n[b]\nservices = sshd\n"})),
        )
        .await;
    assert_eq!(st, 422);
    assert!(
        v.to_string().contains("line 4") && v.to_string().contains("sshd"),
        "{v}"
    );
    // Deployment limit.
    assert_eq!(
        srv.req(
            reqwest::Method::PUT,
            "/config/deployment-limit",
            Some(json!({"deployment_limit": 1}))
        )
        .await
        .0,
        200
    );
    let (st, v) = srv.req(reqwest::Method::POST, "/deckies/deploy", Some(json!({"ini_content": "[general]\nnet = 127.0.91.0/24\n[c]\nservices = http\namount = 2\n"}))).await;
    assert_eq!(st, 409);
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("deployment limit is 1"),
        "{v}"
    );
    // Non-JSON → 415.
    let r = srv
        .http
        .post(format!("{}/deckies/deploy", srv.base))
        .bearer_auth(&srv.token)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);

    // File drops: visible from the shell with mode and back-dated mtime.
    let content = base64_encode(b"db_password=Winter2024!\n");
    let (st, v) = srv
        .req(reqwest::Method::POST, "/deckies/files", Some(json!({"decky_name": "alpha", "path": "/root/backup/.env", "content_b64": content, "mode": 0o600, "mtime_offset": -86400 * 400})))
        .await;
    assert_eq!(st, 201, "{v}");
    let out = telnet_shell(
        "127.0.90.10",
        23 + OFFSET,
        "dropme",
        &["ls -l /root/backup/.env", "cat /root/backup/.env"],
    )
    .await;
    assert!(out.contains("-rw------- 1 root root 24"), "{out}");
    assert!(out.contains("db_password=Winter2024!"), "{out}");
    let year_ago = (chrono::Utc::now() - chrono::Duration::days(400))
        .format("%Y")
        .to_string();
    assert!(out.contains(&year_ago), "old files show their year: {out}");
    // Bad drops.
    for (body, want) in [
        (
            json!({"decky_name": "alpha", "path": "relative/x", "content_b64": content}),
            422,
        ),
        (
            json!({"decky_name": "alpha", "path": "/tmp/../etc/x", "content_b64": content}),
            422,
        ),
        (
            json!({"decky_name": "alpha", "path": "/tmp/x", "content_b64": "!!!notbase64"}),
            422,
        ),
        (
            json!({"decky_name": "ghost", "path": "/tmp/x", "content_b64": content}),
            404,
        ),
        (
            json!({"decky_name": "alpha", "path": "/root/backup/.env", "content_b64": content}),
            409,
        ),
    ] {
        let (st, v) = srv
            .req(reqwest::Method::POST, "/deckies/files", Some(body.clone()))
            .await;
        assert_eq!(st, want, "{body} → {v}");
    }
    assert_eq!(
        srv.req(
            reqwest::Method::DELETE,
            "/deckies/files",
            Some(json!({"decky_name": "alpha", "path": "/root/backup/.env"}))
        )
        .await
        .0,
        200
    );
    assert_eq!(
        srv.req(
            reqwest::Method::DELETE,
            "/deckies/files",
            Some(json!({"decky_name": "alpha", "path": "/root/backup/.env"}))
        )
        .await
        .0,
        404
    );

    // A remote sensor's heartbeat shows up in /health (degraded when it says so).
    srv.bus.publish(decnet_bus::Envelope::json(
        "system.site9.health",
        "health",
        json!({"sensor": "site9", "status": "healthy", "deckies": 4}),
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, h) = srv.req(reqwest::Method::GET, "/health", None).await;
    assert_eq!(h["components"]["sensor_site9"]["status"], "ok", "{h}");
    srv.bus.publish(decnet_bus::Envelope::json(
        "system.site9.health",
        "health",
        json!({"sensor": "site9", "status": "degraded", "deckies": 4}),
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, h) = srv.req(reqwest::Method::GET, "/health", None).await;
    assert_eq!(h["components"]["sensor_site9"]["status"], "failing", "{h}");
    assert_eq!(h["status"], "degraded", "{h}");

    // Mutate re-rolls the persona, live on the fleet's decky stream;
    // teardown closes the ports.
    let resp = srv
        .http
        .get(format!("{}/deckies/events", srv.base))
        .bearer_auth(&srv.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut decky_sse = SseReader {
        stream: resp.bytes_stream().boxed(),
        buf: String::new(),
    };
    assert_eq!(decky_sse.next().await.0, "snapshot");
    let (st, m) = srv
        .req(reqwest::Method::POST, "/deckies/alpha/mutate", None)
        .await;
    assert_eq!((st, m["generation"].as_u64()), (200, Some(1)));
    assert!(m["mutated_at"].is_string(), "{m}");
    let (n, e) = loop {
        let (n, e) = decky_sse.next_significant().await;
        if n == "decky.mutated" {
            break (n, e);
        }
    };
    assert_eq!(e["payload"]["generation"], 1, "{n} {e}");
    assert_eq!(e["payload"]["old"]["generation"], 0, "{e}");
    assert_eq!(e["payload"]["new"]["hostname"], m["hostname"], "{e}");
    assert_eq!(
        srv.req(reqwest::Method::DELETE, "/deckies/alpha", None)
            .await
            .0,
        200
    );
    assert!(TcpStream::connect(("127.0.90.10", 80 + OFFSET))
        .await
        .is_err());
    assert_eq!(
        srv.req(reqwest::Method::DELETE, "/deckies/alpha", None)
            .await
            .0,
        404
    );
    srv.stop().await;
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Reads SSE frames: (event name, data JSON); keepalive comments skipped.
struct SseReader {
    stream: futures::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

impl SseReader {
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(pos) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..pos + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(n) = line.strip_prefix("event:") {
                        name = n.trim().to_owned();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return (
                    name,
                    serde_json::from_str(&data).unwrap_or(Value::String(data)),
                );
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .expect("SSE frame in time")
                .expect("stream open")
                .unwrap();
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Next frame that is not a decky lifecycle notice.
    async fn next_significant(&mut self) -> (String, Value) {
        loop {
            let f = self.next().await;
            if f.0 != "decky.lifecycle" {
                return f;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_whole_life_with_sse() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Srv::start(dir.path()).await;
    let (st, t) = srv
        .req(
            reqwest::Method::POST,
            "/topologies",
            Some(json!({"name": "branch", "lans": [{"name": "lan1", "cidr": "127.0.92.0/24"}],
                "deckies": [{"name": "br1", "services": ["telnet"], "config": {"telnet": {"password": "toor"}}}],
                "edges": [{"decky": "br1", "lan": "lan1"}]})),
        )
        .await;
    assert_eq!(st, 201, "{t}");
    let id = t["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (t["status"].as_str(), t["version"].as_i64()),
        (Some("pending"), Some(1))
    );

    // Two concurrent writers with the same version: exactly one 409.
    let lans_path = format!("/topologies/{id}/lans");
    let a = srv.req(
        reqwest::Method::POST,
        &lans_path,
        Some(json!({"version": 1, "name": "lan2", "cidr": "127.0.93.0/24"})),
    );
    let b = srv.req(
        reqwest::Method::POST,
        &lans_path,
        Some(json!({"version": 1, "name": "lan3", "cidr": "127.0.94.0/24"})),
    );
    let ((sa, _), (sb, _)) = tokio::join!(a, b);
    let mut codes = [sa, sb];
    codes.sort();
    assert_eq!(codes, [200, 409]);

    // The stream: snapshot first.
    let resp = srv
        .http
        .get(format!("{}/topologies/{id}/events", srv.base))
        .bearer_auth(&srv.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut sse = SseReader {
        stream: resp.bytes_stream().boxed(),
        buf: String::new(),
    };
    let (name, snap) = sse.next().await;
    assert_eq!(name, "snapshot");
    assert_eq!(
        snap,
        json!({"topology_id": id, "status": "pending", "in_flight": []})
    );
    assert_eq!(
        srv.req(reqwest::Method::GET, "/topologies/nope-nope/events", None)
            .await
            .0,
        404
    );

    // Deploy → deploying, active.
    assert_eq!(
        srv.req(
            reqwest::Method::POST,
            &format!("/topologies/{id}/deploy"),
            None
        )
        .await
        .0,
        202
    );
    let (n, e) = sse.next_significant().await;
    assert_eq!(
        (n.as_str(), e["payload"]["status"].as_str()),
        ("status", Some("deploying")),
        "{e}"
    );
    let (n, e) = sse.next_significant().await;
    assert_eq!(
        (n.as_str(), e["payload"]["status"].as_str()),
        ("status", Some("active")),
        "{e}"
    );
    wait_port("127.0.92.2", 23 + OFFSET).await;

    // A mutation through the queue.
    let (st, m) = srv.req(reqwest::Method::POST, &format!("/topologies/{id}/mutations"), Some(json!({"op": "add_decky", "args": {"name": "br2", "ip": "127.0.92.20", "services": ["http"]}}))).await;
    assert_eq!(st, 202, "{m}");
    for want in ["mutation.enqueued", "mutation.applying", "mutation.applied"] {
        let (n, e) = sse.next_significant().await;
        assert_eq!(n, want, "{e}");
        assert_eq!(e["payload"]["id"], m["id"]);
    }
    wait_port("127.0.92.20", 80 + OFFSET).await;

    // Live service add while a telnet session on the same decky stays open.
    let mut held = TcpStream::connect(("127.0.92.2", 23 + OFFSET))
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    assert!(held.read(&mut buf).await.unwrap() > 0);
    let (st, v) = srv
        .req(
            reqwest::Method::POST,
            &format!("/topologies/{id}/deckies/br1/services"),
            Some(json!({"name": "http"})),
        )
        .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(
        v,
        json!({"decky_name": "br1", "topology_id": id, "services": ["telnet", "http"]})
    );
    let (n, e) = sse.next_significant().await;
    assert_eq!(n, "decky.service_added", "{e}");
    assert_eq!(e["payload"]["services"], json!(["telnet", "http"]));
    wait_port("127.0.92.2", 80 + OFFSET).await;
    held.write_all(b"root\r\n").await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), held.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(n > 0, "the open telnet session survived the service add");
    // Bad service requests.
    assert_eq!(
        srv.req(
            reqwest::Method::POST,
            &format!("/topologies/{id}/deckies/br1/services"),
            Some(json!({"name": "http"}))
        )
        .await
        .0,
        409
    );
    assert_eq!(
        srv.req(
            reqwest::Method::POST,
            &format!("/topologies/{id}/deckies/br1/services"),
            Some(json!({"name": "gopher"}))
        )
        .await
        .0,
        422
    );
    assert_eq!(
        srv.req(
            reqwest::Method::POST,
            &format!("/topologies/{id}/deckies/zz/services"),
            Some(json!({"name": "http"}))
        )
        .await
        .0,
        404
    );
    assert_eq!(
        srv.req(
            reqwest::Method::POST,
            "/topologies/0000/deckies/br1/services",
            Some(json!({"name": "http"}))
        )
        .await
        .0,
        404
    );
    let (st, v) = srv
        .req(
            reqwest::Method::DELETE,
            &format!("/topologies/{id}/deckies/br1/services/http"),
            None,
        )
        .await;
    assert_eq!((st, v["services"].clone()), (200, json!(["telnet"])));
    let (n, _) = sse.next_significant().await;
    assert_eq!(n, "decky.service_removed");

    // A failing mutation degrades the topology.
    srv.req(
        reqwest::Method::POST,
        &format!("/topologies/{id}/mutations"),
        Some(json!({"op": "detach", "args": {"decky": "br1", "lan": "nowhere"}})),
    )
    .await;
    let mut names = Vec::new();
    loop {
        let (n, e) = sse.next_significant().await;
        names.push(n.clone());
        if n == "status" {
            assert_eq!(e["payload"]["status"], "degraded");
            assert!(
                e["payload"]["error"].as_str().unwrap().contains("nowhere"),
                "{e}"
            );
            break;
        }
    }
    assert_eq!(
        names,
        [
            "mutation.enqueued",
            "mutation.applying",
            "mutation.failed",
            "status"
        ]
    );
    let (_, t) = srv
        .req(reqwest::Method::GET, &format!("/topologies/{id}"), None)
        .await;
    assert_eq!(t["status"], "degraded");

    // Teardown.
    assert_eq!(
        srv.req(
            reqwest::Method::POST,
            &format!("/topologies/{id}/teardown"),
            None
        )
        .await
        .0,
        202
    );
    let (n, e) = sse.next_significant().await;
    assert_eq!(
        (n.as_str(), e["payload"]["status"].as_str()),
        ("status", Some("tearing_down"))
    );
    let (n, e) = sse.next_significant().await;
    assert_eq!(
        (n.as_str(), e["payload"]["status"].as_str()),
        ("status", Some("torn_down"))
    );
    assert!(TcpStream::connect(("127.0.92.2", 23 + OFFSET))
        .await
        .is_err());
    drop(sse);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_queue_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Srv::start(dir.path()).await;
    let (_, t) = srv
        .req(
            reqwest::Method::POST,
            "/topologies",
            Some(json!({"name": "q"})),
        )
        .await;
    let id = t["id"].as_str().unwrap().to_owned();
    srv.stop().await;
    // Between runs, a mutation is left "applying" as if its worker died.
    let store = decnet_store::open(&format!("sqlite://{}/decnet.db", dir.path().display()))
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let m = json!({"id": "01900000-0000-7000-8000-000000000001", "topology_id": id, "op": "add_lan", "args": {"name": "resumed", "cidr": "127.0.95.0/24"},
        "status": "applying", "error": null, "created_at": now, "updated_at": now});
    store
        .doc_put(
            "topology_mutation",
            "01900000-0000-7000-8000-000000000001",
            Some(&id),
            None,
            &m,
        )
        .await
        .unwrap();
    drop(store);
    let srv = Srv::start(dir.path()).await;
    let mut applied = false;
    for _ in 0..100 {
        let (_, ms) = srv
            .req(
                reqwest::Method::GET,
                &format!("/topologies/{id}/mutations"),
                None,
            )
            .await;
        if ms[0]["status"] == "applied" {
            applied = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(applied, "the in-flight mutation was resumed and applied");
    let (_, t) = srv
        .req(reqwest::Method::GET, &format!("/topologies/{id}"), None)
        .await;
    assert_eq!(t["lans"][0]["name"], "resumed");
    assert_eq!(
        srv.req(
            reqwest::Method::GET,
            &format!("/topologies/{id}/mutations?status=bogus"),
            None
        )
        .await
        .0,
        422
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blank_topology_as_decnet_creates_it() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Srv::start(dir.path()).await;
    let (st, t) = srv
        .req(
            reqwest::Method::POST,
            "/topologies/blank",
            Some(json!({"name": "maze", "mode": "unihost", "target_host_uuid": null})),
        )
        .await;
    assert_eq!(st, 201, "{t}");
    assert_eq!(t["name"], "maze");
    assert_eq!(t["status"], "pending");
    assert_eq!(t["lans"][0]["name"], "dmz");
    assert_eq!(t["deckies"][0]["name"], "dmz-gateway");
    assert_eq!(t["deckies"][0]["services"], json!(["ssh"]));
    assert_eq!(t["edges"], json!([{"decky": "dmz-gateway", "lan": "dmz"}]));
    // It is a topology like any other.
    let (st, got) = srv
        .req(
            reqwest::Method::GET,
            &format!("/topologies/{}", t["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!((st, &got["name"]), (200, &json!("maze")));
    // DECNET's answers: a taken name is a conflict, a bad body 422.
    let (st, _) = srv
        .req(
            reqwest::Method::POST,
            "/topologies/blank",
            Some(json!({"name": "maze"})),
        )
        .await;
    assert_eq!(st, 409);
    for bad in [
        json!({"name": ""}),
        json!({"name": "x".repeat(65)}),
        json!({"name": "agent-one", "mode": "agent"}),
        json!({"name": "pinned", "target_host_uuid": "0b7e…"}),
    ] {
        let (st, v) = srv
            .req(
                reqwest::Method::POST,
                "/topologies/blank",
                Some(bad.clone()),
            )
            .await;
        assert_eq!(st, 422, "{bad} → {v}");
    }
    srv.stop().await;
}

/// The next `events.>` event on `sub` for which `want` holds.
async fn event_where(
    sub: &mut decnet_bus::Subscription,
    want: impl Fn(&decnet_core::Event) -> bool,
) -> Arc<decnet_core::Event> {
    loop {
        let env = tokio::time::timeout(Duration::from_secs(10), sub.recv())
            .await
            .expect("an event")
            .unwrap();
        if let Some(e) = env.as_event() {
            if want(e) {
                return e.clone();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topology_tarpits_for_all_deckies_a_lan_or_one_decky() {
    let dir = tempfile::tempdir().unwrap();
    let srv = Srv::start(dir.path()).await;
    // A bad list, a bad interval and a clash with a service: 422, saying where.
    for (body, says) in [
        (
            json!({"name": "pits", "tarpit": "ssh:2222, gopher:70"}),
            "topology: unknown tarpit kind 'gopher'",
        ),
        (
            json!({"name": "pits", "tarpit": "ssh:2222", "tarpit_interval": 0}),
            "topology: tarpit_interval",
        ),
        (
            json!({"name": "pits", "deckies": [{"name": "pw", "services": ["http"], "tarpit": "http:80"}]}),
            "decky 'pw': tarpit http:80 and service 'http' both listen on 80/tcp",
        ),
    ] {
        let (st, v) = srv
            .req(reqwest::Method::POST, "/topologies", Some(body))
            .await;
        assert_eq!(st, 422, "{v}");
        assert!(v.to_string().contains(says), "{v}");
    }
    // Every decky holds ssh:2222; the LAN's deckies hold http:8081 instead,
    // and one decky of it its own tcp:4451; intervals fall through.
    let (st, t) = srv
        .req(
            reqwest::Method::POST,
            "/topologies",
            Some(json!({"name": "pits", "tarpit": "ssh:2222", "tarpit_interval": 1,
                "lans": [{"name": "lan1", "cidr": "127.0.96.0/24", "tarpit": "http:8081"}],
                "deckies": [
                    {"name": "pa", "ip": "127.0.96.10", "services": ["telnet"]},
                    {"name": "pb", "ip": "127.0.96.11", "services": ["telnet"]},
                    {"name": "pc", "ip": "127.0.96.12", "services": ["telnet"], "tarpit": "tcp:4451"}],
                "edges": [{"decky": "pb", "lan": "lan1"}, {"decky": "pc", "lan": "lan1"}]})),
        )
        .await;
    assert_eq!(st, 201, "{t}");
    assert_eq!(t["tarpit"], "ssh:2222");
    assert_eq!(t["lans"][0]["tarpit"], "http:8081");
    let id = t["id"].as_str().unwrap().to_owned();
    let mut sub = srv
        .bus
        .subscribe("events.>", decnet_bus::Delivery::Lossless)
        .unwrap();
    let (st, _) = srv
        .req(
            reqwest::Method::POST,
            &format!("/topologies/{id}/deploy"),
            None,
        )
        .await;
    assert_eq!(st, 202);
    wait_port("127.0.96.10", 2222 + OFFSET).await;
    wait_port("127.0.96.11", 8081 + OFFSET).await;
    wait_port("127.0.96.12", 4451 + OFFSET).await;
    for (ip, port) in [
        ("127.0.96.10", 8081),
        ("127.0.96.11", 2222),
        ("127.0.96.12", 8081),
    ] {
        assert!(
            TcpStream::connect((ip, port + OFFSET)).await.is_err(),
            "{ip}:{port} should not be tarpitted"
        );
    }
    // The topology-wide ssh tarpit: banner lines that never become SSH-.
    let mut s = TcpStream::connect(("127.0.96.10", 2222 + OFFSET))
        .await
        .unwrap();
    let enter = event_where(&mut sub, |e| {
        e.decky == "pa" && e.service == "tarpit" && e.kind == decnet_core::EventKind::Connect
    })
    .await;
    assert_eq!(enter.fields["event_type"], "tarpit_enter");
    assert_eq!(enter.fields["tarpit"], "ssh");
    let mut text = Vec::new();
    let mut buf = [0u8; 256];
    while text.iter().filter(|&&b| b == b'\n').count() < 2 {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .expect("a banner line within the interval")
            .unwrap();
        assert!(n > 0, "the tarpit closed");
        text.extend_from_slice(&buf[..n]);
    }
    assert!(!String::from_utf8_lossy(&text).contains("SSH-"));
    drop(s);
    let exit = event_where(&mut sub, |e| {
        e.decky == "pa" && e.kind == decnet_core::EventKind::Disconnect
    })
    .await;
    assert_eq!(exit.fields["event_type"], "tarpit_exit");
    // The LAN's http tarpit: a status line, then a trickle.
    let mut s = TcpStream::connect(("127.0.96.11", 8081 + OFFSET))
        .await
        .unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    while head.len() < 12 {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0);
        head.extend_from_slice(&buf[..n]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200"), "{head:?}");
    let enter = event_where(&mut sub, |e| {
        e.decky == "pb" && e.service == "tarpit" && e.kind == decnet_core::EventKind::Connect
    })
    .await;
    assert_eq!(enter.fields["tarpit"], "http");
    srv.stop().await;
}
