//! Black-box harness: a real server on a free loopback port, a real SQLite
//! store in a temp dir, a real HTTP client.
#![allow(dead_code)]

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use decnet_api::{ApiConfig, ApiHandle, Backends};
use decnet_bus::{Bus, MemoryBus};
use decnet_store::Store;
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub const ADMIN_PW: &str = "admin-password-1";
pub const SECRET: &str = "0123456789abcdef0123456789abcdef-test-secret";

/// Everything the server logged (tracing), shared by all tests of a binary.
pub fn log_buffer() -> Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let b = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_ansi(false)
            .with_writer(move || Writer(b.clone()))
            .try_init();
        buf
    })
    .clone()
}

pub struct Writer(Arc<Mutex<Vec<u8>>>);
impl Write for Writer {
    fn write(&mut self, d: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(d);
        Ok(d.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn logs_text() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned()
}

pub struct Server {
    pub base: String,
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub dir: Arc<tempfile::TempDir>,
    pub store: Arc<dyn Store>,
    pub bus: Arc<MemoryBus>,
    pub handle: Option<ApiHandle>,
    stop: Option<oneshot::Sender<()>>,
}

pub fn config(dir: &std::path::Path) -> ApiConfig {
    let mut c = ApiConfig::new("127.0.0.1:0".parse().unwrap(), dir);
    c.admin_password = Some(ADMIN_PW.into());
    c.jwt_secret = Some(SECRET.into());
    c
}

pub async fn start() -> Server {
    start_with(|_| {}).await
}

pub async fn start_with(f: impl FnOnce(&mut ApiConfig)) -> Server {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    start_in(dir, f).await
}

pub async fn start_in(dir: Arc<tempfile::TempDir>, f: impl FnOnce(&mut ApiConfig)) -> Server {
    start_attached(dir, f, async |_: &mut Backends| {}).await
}

/// A server whose backends `attach` completes (a responder, an engine)
/// once its store and bus exist.
pub async fn start_attached(
    dir: Arc<tempfile::TempDir>,
    f: impl FnOnce(&mut ApiConfig),
    attach: impl AsyncFnOnce(&mut Backends),
) -> Server {
    log_buffer();
    let mut cfg = config(dir.path());
    f(&mut cfg);
    let url = format!("sqlite://{}", dir.path().join("decnet.db").display());
    let store = decnet_store::open(&url).await.expect("open sqlite store");
    let bus = MemoryBus::new();
    let (tx, rx) = oneshot::channel::<()>();
    let bus_dyn: Arc<dyn Bus> = bus.clone();
    let mut backends = Backends::new(store.clone(), bus_dyn);
    attach(&mut backends).await;
    let handle = decnet_api::serve(cfg, backends, async move {
        let _ = rx.await;
    })
    .await
    .expect("serve");
    let addr = handle.local_addr;
    Server {
        base: format!("http://{addr}/api/v1"),
        addr,
        client: reqwest::Client::new(),
        dir,
        store,
        bus,
        handle: Some(handle),
        stop: Some(tx),
    }
}

/// A server with an alerts engine started as `serve` starts it (stored
/// edits over `sections`, history in the store, registered webhooks as
/// channels), spooling in `dir/alerts-spool`.
pub async fn start_with_alerts(
    dir: Arc<tempfile::TempDir>,
    sections: decnet_alerts::config::overrides::Sections,
    source: Option<decnet_api::alerts::AlertsSource>,
) -> (Server, decnet_api::alerts::Started) {
    let spool = dir.path().join("alerts-spool");
    let slot: Arc<Mutex<Option<decnet_api::alerts::Started>>> = Arc::default();
    let s2 = slot.clone();
    let s = start_attached(
        dir,
        |_| {},
        async |b: &mut Backends| {
            let st = decnet_api::alerts::start(
                b.store.clone(),
                b.bus.clone(),
                sections,
                source,
                &spool,
                Default::default(),
            )
            .await
            .unwrap();
            b.alerts = Some(st.backend.clone());
            *s2.lock().unwrap() = Some(st);
        },
    )
    .await;
    let st = slot.lock().unwrap().take().unwrap();
    (s, st)
}

/// Stops the engine (what it still holds stays in the spool), its history
/// writer, then the API.
pub async fn stop_with_alerts(mut s: Server, st: decnet_api::alerts::Started) {
    st.follow.abort();
    st.backend.handle.shutdown().await;
    st.history.finish(Duration::from_secs(5)).await;
    s.stop().await;
}

/// A second API server over `first`'s store (same JWT secret, its own
/// bus, caches and data dir): another process of the same cluster.
pub async fn start_sharing(first: &Server) -> Server {
    log_buffer();
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let cfg = config(dir.path());
    let bus = MemoryBus::new();
    let (tx, rx) = oneshot::channel::<()>();
    let bus_dyn: Arc<dyn Bus> = bus.clone();
    let handle = decnet_api::serve(
        cfg,
        Backends::new(first.store.clone(), bus_dyn),
        async move {
            let _ = rx.await;
        },
    )
    .await
    .expect("serve");
    let addr = handle.local_addr;
    Server {
        base: format!("http://{addr}/api/v1"),
        addr,
        client: reqwest::Client::new(),
        dir,
        store: first.store.clone(),
        bus,
        handle: Some(handle),
        stop: Some(tx),
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Stops gracefully; returns how long it took.
    pub async fn stop(&mut self) -> Duration {
        let t = std::time::Instant::now();
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(15), h.wait())
                .await
                .expect("API stops in time")
                .expect("API stops cleanly");
        }
        t.elapsed()
    }

    /// A client whose connections come from `ip` (127.0.0.0/8).
    pub fn client_from(ip: &str) -> reqwest::Client {
        reqwest::Client::builder()
            .local_address(ip.parse::<IpAddr>().unwrap())
            .build()
            .unwrap()
    }

    pub async fn login_raw(
        &self,
        client: &reqwest::Client,
        user: &str,
        pw: &str,
    ) -> reqwest::Response {
        client
            .post(self.url("/auth/login"))
            .json(&json!({"username": user, "password": pw}))
            .send()
            .await
            .unwrap()
    }

    pub async fn login(&self, user: &str, pw: &str) -> String {
        let r = self.login_raw(&self.client, user, pw).await;
        assert_eq!(r.status(), 200, "login {user}");
        let v: Value = r.json().await.unwrap();
        v["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn admin(&self) -> String {
        self.login("admin", ADMIN_PW).await
    }

    pub async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: Value,
    ) -> reqwest::Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Creates a ready-to-use viewer (password changed) and returns its token.
    pub async fn viewer(&self, admin: &str, name: &str) -> String {
        let r = self
            .send_json(
                reqwest::Method::POST,
                admin,
                "/config/users",
                json!({"username": name, "password": "initial-pass-1", "role": "viewer"}),
            )
            .await;
        assert_eq!(r.status(), 200);
        let t = self.login(name, "initial-pass-1").await;
        let r = self
            .send_json(
                reqwest::Method::POST,
                &t,
                "/auth/change-password",
                json!({"old_password": "initial-pass-1", "new_password": "viewer-pass-2"}),
            )
            .await;
        assert_eq!(r.status(), 200);
        self.login(name, "viewer-pass-2").await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Reads SSE frames from a response body.
pub struct SseReader {
    stream: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buf: String,
}

/// One frame: event name (or "" for a comment) and data (or the comment text).
#[derive(Debug, Clone)]
pub struct Frame {
    pub event: String,
    pub data: String,
    pub comment: bool,
}

impl Frame {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

impl SseReader {
    pub fn new(resp: reqwest::Response) -> Self {
        SseReader {
            stream: Box::pin(resp.bytes_stream()),
            buf: String::new(),
        }
    }

    /// Next frame, or None at end of stream / timeout.
    pub async fn next(&mut self, timeout: Duration) -> Option<Frame> {
        use futures::StreamExt;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(pos) = self.buf.find("\n\n") {
                let raw: String = self.buf.drain(..pos + 2).collect();
                let mut f = Frame {
                    event: String::new(),
                    data: String::new(),
                    comment: false,
                };
                for line in raw.lines() {
                    if let Some(c) = line.strip_prefix(':') {
                        f.comment = true;
                        f.data = c.to_owned();
                    } else if let Some(e) = line.strip_prefix("event:") {
                        f.event = e.trim().to_owned();
                    } else if let Some(d) = line.strip_prefix("data:") {
                        if !f.data.is_empty() {
                            f.data.push('\n');
                        }
                        f.data.push_str(d.strip_prefix(' ').unwrap_or(d));
                    }
                }
                return Some(f);
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??;
            self.buf.push_str(&String::from_utf8_lossy(&chunk.ok()?));
        }
    }

    /// Next non-comment frame.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let f = self.next(left).await?;
            if !f.comment {
                return Some(f);
            }
        }
    }
}

/// A decky event from `ip`.
pub fn event(
    decky: &str,
    service: &str,
    kind: decnet_core::EventKind,
    ip: &str,
) -> decnet_core::Event {
    let mut e = decnet_core::Event::new(decky, service, kind);
    e.src_ip = ip.parse().unwrap();
    e.src_port = 40000;
    e.dst_ip = "127.0.80.10".parse().unwrap();
    e.dst_port = 22;
    e
}

/// GETs `path` until it answers 200 with a body `ok` accepts (15 s at most).
pub async fn eventually(
    s: &Server,
    token: &str,
    path: &str,
    mut ok: impl FnMut(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = s.get(token, path).await;
        if r.status() == 200 {
            let v: Value = r.json().await.unwrap();
            if ok(&v) {
                return v;
            }
        }
        assert!(Instant::now() < deadline, "timed out on {path}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The store ingester on the server's bus, as `serve` runs it.
pub fn start_ingester(s: &Server) -> decnet_store::ingest::IngestHandle {
    let sub = s
        .bus
        .subscribe("events.>", decnet_bus::Delivery::Lossless)
        .unwrap();
    decnet_store::ingest::Ingester::start(s.store.clone(), sub, Default::default())
}

/// The intel worker on the server's bus, as `serve` runs it.
pub async fn start_intel(s: &Server) -> decnet_intel::IntelHandle {
    start_intel_with(s, Default::default()).await
}

/// The intel worker on the server's bus with `cfg` (e.g. geolocation).
pub async fn start_intel_with(
    s: &Server,
    cfg: decnet_intel::IntelConfig,
) -> decnet_intel::IntelHandle {
    let bus: Arc<dyn Bus> = s.bus.clone();
    let sub = bus
        .subscribe("events.>", decnet_bus::Delivery::Lossless)
        .unwrap();
    decnet_intel::Intel::start(s.store.clone(), bus, sub, cfg)
        .await
        .unwrap()
}
