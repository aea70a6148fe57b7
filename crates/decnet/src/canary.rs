//! `[canary]` in `serve`/`demo`: the token service over the store, the HTTP
//! and DNS call-home receivers, the credential watcher, token change
//! notices (other servers' tokens and revocations, at once), a slow
//! safety-net re-read of the store, and a fleet follower that points
//! credential tokens at the running fleet and plants tokens into deckies as
//! they come up. With NATS a server also answers sensors' plant requests;
//! `decnet sensor` runs only `canary_sensor::SensorPlanter`.

use std::sync::Arc;

use anyhow::Context;
use decnet_bus::{Bus, Delivery};
use decnet_canary::receivers::dns::{DnsConfig, DnsReceiver};
use decnet_canary::receivers::http::HttpReceiver;
use decnet_canary::receivers::Shared;
use decnet_canary::remote_plant;
use decnet_canary::watch::{CredentialWatcher, QUEUE};
use decnet_canary::{CanaryService, Ctx};
use decnet_core::canary::CanaryConfig;
use decnet_engine::Fleet;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// TTL of DNS answers: short, so every resolution reaches the receiver.
const DNS_TTL: u32 = 60;
/// How often the fleet is followed: credential tokens re-pointed, new
/// deckies planted (local work, no store read unless a decky is new).
pub(crate) const FLEET_TICK: std::time::Duration = std::time::Duration::from_secs(10);

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
    /// Token change notices go on `notice_bus` (the API's bus: NATS when
    /// scaled out, so every server hears them) and are followed from it.
    pub(crate) async fn start(
        cfg: &CanaryConfig,
        store: Arc<dyn decnet_store::Store>,
        bus: &Arc<dyn Bus>,
        events_bus: &Arc<dyn Bus>,
        notice_bus: &Arc<dyn Bus>,
    ) -> anyhow::Result<CanaryRun> {
        let service = Arc::new(
            CanaryService::open(store, base_ctx(cfg))
                .await
                .context("cannot load canary tokens")?
                .notify_on(notice_bus.clone()),
        );
        let notices = notice_bus.subscribe(
            decnet_canary::notice::PATTERN,
            Delivery::Lossy {
                capacity: decnet_canary::notice::QUEUE,
            },
        )?;
        let shared = Shared::new(service.index(), bus.clone());
        let mut tasks = vec![tokio::spawn(service.clone().follow_notices(notices))];
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
    /// its deckies now, then every [`FLEET_TICK`] follows the fleet and
    /// plants into new deckies, and every `refresh` re-reads every token
    /// from the store (a safety net: notices carry changes at once).
    pub(crate) async fn follow_fleet(&mut self, fleet: Arc<Fleet>) {
        let svc = self.service.clone();
        let cfg = self.cfg.clone();
        let mut planted = decnet_api::canary::Planted::new();
        sync_fleet(&svc, &cfg, &fleet, &mut planted).await;
        let stop = self.stop.clone();
        self.tasks.push(tokio::spawn(async move {
            let mut fleet_tick = tokio::time::interval(FLEET_TICK);
            let mut reload_tick = tokio::time::interval(cfg.refresh);
            fleet_tick.reset();
            reload_tick.reset();
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = reload_tick.tick() => {
                        if let Err(e) = svc.reload().await {
                            tracing::warn!("canary token refresh failed: {e}");
                        }
                    }
                    _ = fleet_tick.tick() => sync_fleet(&svc, &cfg, &fleet, &mut planted).await,
                }
            }
        }));
    }

    /// Answers sensors' plant requests (one server of those sharing NATS
    /// answers each: a queue group).
    pub(crate) async fn serve_sensors(&mut self, client: async_nats::Client) -> anyhow::Result<()> {
        use futures::StreamExt;
        let mut sub = client
            .queue_subscribe(
                remote_plant::SERVER_PATTERN,
                remote_plant::QUEUE_GROUP.into(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("NATS subscribe {}: {e}", remote_plant::SERVER_PATTERN))?;
        let svc = self.service.clone();
        let stop = self.stop.clone();
        self.tasks.push(tokio::spawn(async move {
            loop {
                let msg = tokio::select! {
                    _ = stop.cancelled() => return,
                    m = sub.next() => match m { Some(m) => m, None => return },
                };
                let Some(to) = msg.reply else { continue };
                let reply = svc
                    .answer_plant(&msg.payload, decnet_api::canary::PLANTER)
                    .await;
                if let Some(e) = &reply.error {
                    tracing::warn!(
                        subject = msg.subject.as_str(),
                        "canary plant request refused: {e}"
                    );
                }
                let body = serde_json::to_vec(&reply).unwrap_or_default();
                if let Err(e) = client.publish(to, body.into()).await {
                    tracing::warn!("canary plant answer not sent: {e}");
                }
            }
        }));
        Ok(())
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
