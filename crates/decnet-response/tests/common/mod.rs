//! The rig the responder's integration tests share: a responder on a
//! memory bus with a fake clock and a firewall stand-in, an optional real
//! SQLite store, and the CrowdSec endpoints served over real HTTP.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use decnet_bus::{Envelope, MemoryBus, Subscription};
use decnet_core::{Event, EventKind};
use decnet_response::backend::{Backend, BackendError, Enforce};
use decnet_response::state::FakeClock;
use decnet_response::{BackendFactory, BackendKind, Options, Responder};
use ipnet::IpNet;
use parking_lot::Mutex;

/// A firewall stand-in whose availability the test controls. It is the
/// dependency of the code under test (the responder), not the thing tested.
#[derive(Default)]
pub struct Switch {
    pub online: AtomicBool,
    pub applied: Mutex<Vec<Enforce>>,
    pub removed: Mutex<Vec<IpNet>>,
    pub activations: Mutex<u32>,
}

#[async_trait]
impl Backend for Switch {
    fn name(&self) -> &'static str {
        "nftables"
    }
    async fn activate(&self) -> Result<(), BackendError> {
        *self.activations.lock() += 1;
        Ok(())
    }
    async fn probe(&self) -> (bool, String) {
        let on = self.online.load(Ordering::SeqCst);
        (on, if on { "up".into() } else { "down".into() })
    }
    async fn ban(&self, bans: &[Enforce]) -> Result<(), BackendError> {
        if !self.online.load(Ordering::SeqCst) {
            return Err(BackendError::Unavailable("down".into()));
        }
        self.applied.lock().extend_from_slice(bans);
        Ok(())
    }
    async fn unban(&self, v: &[IpNet]) -> Result<(), BackendError> {
        if !self.online.load(Ordering::SeqCst) {
            return Err(BackendError::Unavailable("down".into()));
        }
        self.removed.lock().extend_from_slice(v);
        Ok(())
    }
}

pub fn raw(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn t0() -> chrono::DateTime<chrono::Utc> {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

pub struct Rig {
    pub r: Arc<Responder>,
    pub bus: Arc<MemoryBus>,
    pub clock: Arc<FakeClock>,
    pub fw: Arc<Switch>,
    pub _dir: Option<tempfile::TempDir>,
}

pub async fn rig_with(
    kv: &[(&str, &str)],
    store: Option<(Arc<dyn decnet_store::Store>, tempfile::TempDir)>,
) -> Rig {
    let bus = MemoryBus::new();
    let clock = Arc::new(FakeClock::new(t0()));
    let fw = Arc::new(Switch::default());
    fw.online.store(true, Ordering::SeqCst);
    let fw2 = fw.clone();
    let factory: BackendFactory = Arc::new(move |k, p| -> Arc<dyn Backend> {
        match k {
            BackendKind::Nftables => fw2.clone(),
            other => (decnet_response::default_factory())(other, p),
        }
    });
    let (store, dir) = match store {
        Some((s, d)) => (Some(s), Some(d)),
        None => (None, None),
    };
    let r = Responder::start(
        &raw(kv),
        bus.clone(),
        Options {
            clock: clock.clone(),
            factory,
            store,
            spawn: false,
        },
    )
    .await
    .unwrap();
    Rig {
        r,
        bus,
        clock,
        fw,
        _dir: dir,
    }
}

pub async fn rig(kv: &[(&str, &str)]) -> Rig {
    rig_with(kv, None).await
}

pub async fn sqlite() -> (Arc<dyn decnet_store::Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    (decnet_store::open(&url).await.unwrap(), dir)
}

pub fn ev(src: &str, service: &str, kind: EventKind) -> Event {
    let mut e = Event::new("web01", service, kind);
    e.src_ip = src.parse().unwrap();
    e.src_port = 40000;
    e.dst_ip = "127.0.71.10".parse().unwrap();
    e.dst_port = 22;
    e
}

pub fn drain(sub: &mut Subscription) -> Vec<Arc<Envelope>> {
    std::iter::from_fn(|| sub.try_recv()).collect()
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Serves the CrowdSec decisions endpoints on a loopback port; returns its base URL.
pub async fn serve(r: Arc<Responder>) -> String {
    let l = tokio::net::TcpListener::bind("127.0.71.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(l, decnet_response::crowdsec::router::<()>(r))
            .await
            .unwrap();
    });
    format!("http://{addr}")
}
