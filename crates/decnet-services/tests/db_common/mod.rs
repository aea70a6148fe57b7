//! Shared harness of the database and infrastructure service tests:
//! deckies deployed in-process through the engine on 127.0.63.0/24 with
//! every port shifted by 30000.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use decnet_bus::{Bus, Delivery, MemoryBus, Subscription};
use decnet_core::{Event, EventKind};
use decnet_engine::fleet::{EngineConfig, Fleet};
use decnet_services::{Limits, Registry};

/// Port shift of every test decky.
pub const OFFSET: u16 = 30000;

/// A running one-decky fleet and a subscription to its events.
pub struct Env {
    pub fleet: Arc<Fleet>,
    pub sub: Subscription,
    pub ip: String,
    _dir: tempfile::TempDir,
}

/// Deploys `[t]` at `ip` with `body` (services, distro, `[t.x]` sections).
pub async fn deploy(ip: &str, body: &str) -> Env {
    let text = format!("[t]\nip = {ip}\n{body}\n");
    let (fleet, report) = decnet_core::fleet::parse_str(&text).expect("valid fleet");
    let _ = report;
    let bus = MemoryBus::new();
    let sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let f = Fleet::new(
        EngineConfig {
            data_dir: dir.path().to_path_buf(),
            port_offset: OFFSET,
            limits: Limits {
                idle_timeout: Duration::from_secs(5),
                auth_fail_delay: Duration::from_millis(10),
                ..Limits::default()
            },
        },
        Registry::builtin(),
        bus as Arc<dyn Bus>,
    );
    f.deploy(fleet.deckies[0].clone()).await.expect("deploy");
    Env {
        fleet: f,
        sub,
        ip: ip.to_owned(),
        _dir: dir,
    }
}

impl Env {
    /// `ip:port+OFFSET`.
    pub fn addr(&self, port: u16) -> String {
        format!("{}:{}", self.ip, port + OFFSET)
    }

    /// Next event of `kind` (others skipped), within 10 s.
    pub async fn next(&mut self, kind: EventKind) -> Arc<Event> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let env = tokio::time::timeout_at(deadline, self.sub.recv())
                .await
                .unwrap_or_else(|_| panic!("no {kind:?} event in time"))
                .expect("bus open");
            let e = env.as_event().expect("event").clone();
            if e.kind == kind {
                return e;
            }
        }
    }

    /// Every event received until `quiet` passes without one.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Arc<Event>> {
        let mut out = Vec::new();
        while let Ok(Some(env)) = tokio::time::timeout(quiet, self.sub.recv()).await {
            out.push(env.as_event().unwrap().clone());
        }
        out
    }

    pub async fn stop(self) {
        self.fleet.shutdown().await;
    }
}

/// String field of an event.
pub fn s<'a>(e: &'a Event, k: &str) -> &'a str {
    e.fields
        .get(k)
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("field {k} missing in {:?}", e.fields))
}
