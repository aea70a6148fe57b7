//! Test peers shared by the integration tests and the examples (included
//! with `#[path]`): a real HTTPS server (hyper + rustls, self-signed
//! certificate made with rcgen) that records what it receives and can be
//! stopped and restarted on the same port, and a TLS identity for raw TLS
//! listeners.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A self-signed identity for 127.0.0.1 / localhost, its CA file on disk.
pub struct Identity {
    pub server: Arc<rustls::ServerConfig>,
    pub ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn identity() -> Identity {
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("rcgen");
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ck.cert.pem()).unwrap();
    let cert = CertificateDer::from(ck.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.key_pair.serialize_der()));
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert], key)
    .unwrap();
    Identity {
        server: Arc::new(server),
        ca_file,
        _dir: dir,
    }
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Req {
    pub at: Instant,
    pub path: String,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Req {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

struct Shared {
    requests: Mutex<Vec<Req>>,
    status: AtomicU16,
    body: Mutex<String>,
}

/// An HTTPS server on 127.0.0.1 answering every POST with a set status and
/// body, recording each request.
pub struct Receiver {
    pub addr: SocketAddr,
    pub identity: Identity,
    shared: Arc<Shared>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let r = Receiver {
            addr,
            identity: identity(),
            shared: Arc::new(Shared {
                requests: Mutex::new(Vec::new()),
                status: AtomicU16::new(200),
                body: Mutex::new("ok".into()),
            }),
            task: Mutex::new(None),
        };
        r.serve(listener);
        r
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let acceptor = tokio_rustls::TlsAcceptor::from(self.identity.server.clone());
        let shared = self.shared.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let shared = shared.clone();
                conns.spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let shared = shared.clone();
                        async move {
                            let path = req.uri().path().to_owned();
                            let headers = req.headers().clone();
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            shared.requests.lock().push(Req {
                                at: Instant::now(),
                                path,
                                headers,
                                body,
                            });
                            let status = shared.status.load(Ordering::SeqCst);
                            let body = shared.body.lock().clone();
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .status(status)
                                    .header("content-type", "application/json")
                                    .body(Full::new(Bytes::from(body)))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        *self.task.lock() = Some(task);
    }

    /// `https://127.0.0.1:PORT<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    /// What the next requests are answered with.
    pub fn respond(&self, status: u16, body: &str) {
        self.shared.status.store(status, Ordering::SeqCst);
        *self.shared.body.lock() = body.to_owned();
    }

    /// Closes the port and every connection: clients get "connection refused".
    pub fn stop(&self) {
        if let Some(t) = self.task.lock().take() {
            t.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restart(&self) {
        self.stop();
        for _ in 0..100 {
            if let Ok(l) = tokio::net::TcpListener::bind(self.addr).await {
                self.serve(l);
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("could not rebind {}", self.addr);
    }

    pub fn requests(&self) -> Vec<Req> {
        self.shared.requests.lock().clone()
    }

    pub fn count(&self) -> usize {
        self.shared.requests.lock().len()
    }

    /// Waits until `n` requests arrived (or panics after `secs`).
    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<Req> {
        let deadline = Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            if self.count() >= n {
                return self.requests();
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} requests after {secs}s",
                self.count()
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A decky event from `ip` on web01/ssh.
pub fn event(
    kind: decnet_core::EventKind,
    ip: &str,
    fields: serde_json::Value,
) -> decnet_core::Event {
    let mut e = decnet_core::Event::new("web01", "ssh", kind);
    e.src_ip = ip.parse().unwrap();
    e.src_port = 41000;
    e.dst_ip = "10.0.0.5".parse().unwrap();
    e.dst_port = 22;
    if let serde_json::Value::Object(m) = fields {
        e.fields = m;
    }
    e
}

/// Polls `f` every 10 ms until it holds (panics after `secs`).
pub async fn until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + std::time::Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// An engine on a memory bus with a manual clock (ticking every 10 ms).
pub struct Rig {
    pub bus: Arc<decnet_bus::MemoryBus>,
    pub clock: Arc<decnet_alerts::clock::ManualClock>,
    pub h: decnet_alerts::AlertHandle,
    /// The spool directory (bind it: dropping it deletes the spool).
    pub dir: tempfile::TempDir,
}

pub async fn rig(ini: &str) -> Rig {
    rig_with(ini, decnet_alerts::EngineOptions::default()).await
}

/// [`rig`] with options (clock, tick and queue are the rig's).
pub async fn rig_with(ini: &str, base: decnet_alerts::EngineOptions) -> Rig {
    use chrono::TimeZone;
    let cfg = decnet_alerts::AlertsConfig::from_ini(ini).unwrap();
    let start = chrono::Utc
        .with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
        .unwrap();
    let clock = Arc::new(decnet_alerts::clock::ManualClock::new(start));
    let bus = decnet_bus::MemoryBus::new();
    let dir = tempfile::tempdir().unwrap();
    let opts = decnet_alerts::EngineOptions {
        clock: clock.clone(),
        tick: std::time::Duration::from_millis(10),
        queue: 65_536,
        ..base
    };
    let h = decnet_alerts::AlertEngine::spawn_with(bus.clone(), cfg, dir.path(), opts)
        .await
        .unwrap();
    Rig { bus, clock, h, dir }
}

pub mod scenario;
