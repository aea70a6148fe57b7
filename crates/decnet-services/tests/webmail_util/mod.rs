//! Shared by the web/file/mail integration tests: a fleet of deckies on
//! 127.0.62.0/24 with shifted ports, and an event collector.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use decnet_bus::{Bus, Delivery, MemoryBus, Subscription};
use decnet_core::{Event, EventKind};
use decnet_engine::{EngineConfig, Fleet};
use decnet_services::{Limits, Registry};

pub struct Env {
    pub fleet: Arc<Fleet>,
    pub sub: Subscription,
    pub seen: Vec<Arc<Event>>,
    pub dir: tempfile::TempDir,
    pub offset: u16,
}

impl Env {
    /// Deploys every decky of `ini` with ports shifted by `offset`.
    pub async fn start(ini: &str, offset: u16, limits: Limits) -> Env {
        let bus = MemoryBus::new();
        let sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (fleet_spec, _) = decnet_core::fleet::parse_str(ini).expect("valid fleet");
        let fleet = Fleet::new(
            EngineConfig {
                data_dir: dir.path().to_path_buf(),
                port_offset: offset,
                limits,
            },
            Registry::builtin(),
            bus.clone() as Arc<dyn Bus>,
        );
        for d in fleet_spec.deckies {
            fleet.deploy(d).await.expect("deploy");
        }
        Env {
            fleet,
            sub,
            seen: Vec::new(),
            dir,
            offset,
        }
    }

    pub fn addr(&self, ip: &str, port: u16) -> SocketAddr {
        format!("{ip}:{}", port + self.offset).parse().unwrap()
    }

    /// Waits (up to 10 s) for an event matching `pred`, keeping every event seen.
    pub async fn wait_for(&mut self, what: &str, pred: impl Fn(&Event) -> bool) -> Arc<Event> {
        if let Some(e) = self.seen.iter().find(|e| pred(e)) {
            return e.clone();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let env = tokio::time::timeout_at(deadline, self.sub.recv())
                .await
                .unwrap_or_else(|_| panic!("no event: {what}; saw {:#?}", self.seen))
                .expect("bus open");
            if let Some(e) = env.as_event() {
                self.seen.push(e.clone());
                if pred(e) {
                    return e.clone();
                }
            }
        }
    }

    /// Waits for an event of `service` and `kind` whose fields satisfy `pred`.
    pub async fn wait_kind(
        &mut self,
        service: &str,
        kind: EventKind,
        pred: impl Fn(&Event) -> bool,
    ) -> Arc<Event> {
        let svc = service.to_owned();
        self.wait_for(&format!("{service} {kind:?}"), move |e| {
            e.service == svc && e.kind == kind && pred(e)
        })
        .await
    }

    pub async fn stop(self) {
        self.fleet.shutdown().await;
    }
}

pub fn s<'a>(e: &'a Event, k: &str) -> &'a str {
    e.fields.get(k).and_then(|v| v.as_str()).unwrap_or("")
}
