//! `[canary]` in `serve`/`demo`: the token service over the store, the HTTP
//! and DNS call-home receivers, the credential watcher, and a refresher
//! that keeps the token index in step with the store (other servers'
//! tokens and revocations), points credential tokens at the running fleet
//! and plants tokens into deckies as they come up.

use std::sync::Arc;

use anyhow::Context;
use decnet_bus::{Bus, Delivery};
use decnet_canary::receivers::dns::{DnsConfig, DnsReceiver};
use decnet_canary::receivers::http::HttpReceiver;
use decnet_canary::receivers::Shared;
use decnet_canary::watch::{CredentialWatcher, QUEUE};
use decnet_canary::{CanaryService, Ctx};
use decnet_core::canary::CanaryConfig;
use decnet_engine::Fleet;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// TTL of DNS answers: short, so every resolution reaches the receiver.
const DNS_TTL: u32 = 60;

/// The running canary side of a server.
pub(crate) struct CanaryRun {
    cfg: CanaryConfig,
    service: Arc<CanaryService>,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

fn base_ctx(cfg: &CanaryConfig) -> Ctx {
    let mut ctx = Ctx::new(&cfg.base_url());
    ctx.dns_zone = cfg.dns_zone.clone();
    ctx
}

impl CanaryRun {
    /// Opens the tokens, starts the receivers and the watcher. Triggers
    /// are published on `bus` (the fleet's bus, so they are stored like
    /// decky events); the watcher reads decky events from `events_bus`.
    /// A receiver that cannot bind is reported and left out, as the API is:
    /// the deckies matter more.
    pub(crate) async fn start(
        cfg: &CanaryConfig,
        store: Arc<dyn decnet_store::Store>,
        bus: &Arc<dyn Bus>,
        events_bus: &Arc<dyn Bus>,
    ) -> anyhow::Result<CanaryRun> {
        let service = Arc::new(
            CanaryService::open(store, base_ctx(cfg))
                .await
                .context("cannot load canary tokens")?,
        );
        let shared = Shared::new(service.index(), bus.clone());
        let mut tasks = Vec::new();
        if let Some(addr) = cfg.http {
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => {
                    tasks.push(tokio::spawn(HttpReceiver::new(shared.clone()).serve(l)));
                    println!(
                        "canary: HTTP receiver on {addr} (tokens call {})",
                        cfg.base_url()
                    );
                }
                Err(e) => eprintln!("error: canary HTTP receiver not started on {addr}: {e}"),
            }
        }
        if let (Some(addr), Some(zone)) = (cfg.dns, &cfg.dns_zone) {
            let dns = DnsReceiver::new(
                shared.clone(),
                DnsConfig {
                    zone: zone.clone(),
                    address: cfg.answer(),
                    ttl: DNS_TTL,
                },
            )?;
            match (
                tokio::net::UdpSocket::bind(addr).await,
                tokio::net::TcpListener::bind(addr).await,
            ) {
                (Ok(udp), Ok(tcp)) => {
                    tasks.push(tokio::spawn(dns.clone().serve_udp(udp)));
                    tasks.push(tokio::spawn(dns.serve_tcp(tcp)));
                    println!("canary: DNS receiver for {zone} on {addr} (UDP and TCP)");
                }
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!("error: canary DNS receiver not started on {addr}: {e}")
                }
            }
        }
        let sub = events_bus.subscribe("events.>", Delivery::Lossy { capacity: QUEUE })?;
        tasks.push(tokio::spawn(CredentialWatcher::new(shared).run(sub)));
        Ok(CanaryRun {
            cfg: cfg.clone(),
            service,
            stop: CancellationToken::new(),
            tasks,
        })
    }

    /// The token service, for the API.
    pub(crate) fn service(&self) -> Arc<CanaryService> {
        self.service.clone()
    }

    /// Points credential tokens at the deployed fleet, plants tokens into
    /// its deckies now, then every `refresh`: re-reads tokens from the
    /// store, follows the fleet, plants into new deckies.
    pub(crate) async fn follow_fleet(&mut self, fleet: Arc<Fleet>) {
        let svc = self.service.clone();
        let cfg = self.cfg.clone();
        let mut planted = decnet_api::canary::Planted::new();
        sync_fleet(&svc, &cfg, &fleet, &mut planted).await;
        let stop = self.stop.clone();
        self.tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(cfg.refresh);
            tick.reset();
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {
                        if let Err(e) = svc.reload().await {
                            tracing::warn!("canary token refresh failed: {e}");
                        }
                        sync_fleet(&svc, &cfg, &fleet, &mut planted).await;
                    }
                }
            }
        }));
    }

    /// Stops the receivers, the watcher and the refresher.
    pub(crate) async fn finish(self) {
        self.stop.cancel();
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
    }
}

async fn sync_fleet(
    svc: &CanaryService,
    cfg: &CanaryConfig,
    fleet: &Fleet,
    planted: &mut decnet_api::canary::Planted,
) {
    let mut ctx = base_ctx(cfg);
    ctx.targets = decnet_api::canary::targets(fleet).await;
    if *svc.ctx() != ctx {
        svc.set_ctx(ctx);
    }
    let n = decnet_api::canary::plant_new_deckies(svc, fleet, cfg.plant, planted).await;
    if n > 0 {
        tracing::info!(files = n, "canary files planted into deckies");
    }
}
