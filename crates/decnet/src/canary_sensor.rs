//! `decnet sensor` with `[canary]`: the servers hold the tokens, run the
//! receivers and watch the sensor's events (they consume them); the sensor
//! only plants. It asks the servers for each new decky's files (its
//! `[canary] plant` deciding archetype planting) and, every `refresh`, for
//! tokens placed on its deckies since (on demand through the API), dropping
//! only those it has not dropped yet, so a file an intruder deleted does not
//! come back by itself.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use decnet_canary::plant::PlantFile;
use decnet_canary::remote_plant::{self, PlantReply, PlantRequest};
use decnet_core::canary::CanaryConfig;
use decnet_engine::Fleet;
use decnet_services::DeckyCtx;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::canary::FLEET_TICK;

/// How long a sensor waits for a server's plant answer.
const PLANT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The sensor's planting task.
pub(crate) struct SensorPlanter {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

/// What one sensor has planted: filesystems (new ones get everything) and,
/// per decky, the tokens whose files were dropped.
struct Planting {
    client: async_nats::Client,
    subject: String,
    auto: bool,
    fleet: Arc<Fleet>,
    planted: decnet_api::canary::Planted,
    dropped: HashMap<String, HashSet<Uuid>>,
}

impl SensorPlanter {
    /// Plants new deckies now and every [`FLEET_TICK`] (a decky whose
    /// request found no server is retried), and asks again for every
    /// decky's placed tokens every `refresh`.
    pub(crate) fn start(
        cfg: &CanaryConfig,
        fleet: Arc<Fleet>,
        client: async_nats::Client,
        sensor: &decnet_nats::SensorName,
    ) -> SensorPlanter {
        let stop = CancellationToken::new();
        let mut p = Planting {
            client,
            subject: sensor.subject(remote_plant::TOPIC),
            auto: cfg.plant,
            fleet,
            planted: decnet_api::canary::Planted::new(),
            dropped: HashMap::new(),
        };
        let refresh = cfg.refresh;
        let s = stop.clone();
        let task = tokio::spawn(async move {
            let mut new_tick = tokio::time::interval(FLEET_TICK);
            let mut resync_tick = tokio::time::interval(refresh);
            resync_tick.reset();
            loop {
                tokio::select! {
                    _ = s.cancelled() => return,
                    _ = new_tick.tick() => p.plant_new().await,
                    _ = resync_tick.tick() => p.resync().await,
                }
            }
        });
        SensorPlanter { stop, task }
    }

    /// Stops planting.
    pub(crate) async fn finish(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

impl Planting {
    async fn plant_new(&mut self) {
        let deckies = decnet_api::canary::unplanted(&self.fleet, &mut self.planted).await;
        if deckies.is_empty() {
            return;
        }
        let targets = decnet_api::canary::targets(&self.fleet).await;
        for d in deckies {
            self.dropped.remove(d.name());
            if self.ask_and_drop(&d, &targets, self.auto).await {
                decnet_api::canary::mark_planted(&mut self.planted, &d);
            }
        }
    }

    /// Tokens placed on planted deckies since they were planted.
    async fn resync(&mut self) {
        let targets = decnet_api::canary::targets(&self.fleet).await;
        let names: Vec<String> = self.planted.keys().cloned().collect();
        for name in names {
            if let Some(d) = self.fleet.decky(&name).await {
                self.ask_and_drop(&d, &targets, false).await;
            }
        }
    }

    /// Asks for `d`'s files and drops those of tokens not dropped there
    /// yet; false when no server answered or it refused.
    async fn ask_and_drop(
        &mut self,
        d: &DeckyCtx,
        targets: &decnet_canary::Targets,
        auto: bool,
    ) -> bool {
        let req = PlantRequest {
            profile: decnet_api::canary::profile(d),
            targets: targets.clone(),
            auto,
        };
        let files = match ask(&self.client, &self.subject, &req).await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(decky = %d.name(), "canary planting postponed: {e}");
                return false;
            }
        };
        let seen = self.dropped.entry(d.name().to_owned()).or_default();
        let fresh: Vec<PlantFile> = files
            .into_iter()
            .filter(|f| !seen.contains(&f.token_id))
            .collect();
        seen.extend(fresh.iter().map(|f| f.token_id));
        let n = decnet_api::canary::drop_files_lazily(d, fresh);
        if n > 0 {
            tracing::info!(decky = %d.name(), files = n, "canary files planted");
        }
        true
    }
}

async fn ask(
    client: &async_nats::Client,
    subject: &str,
    req: &PlantRequest,
) -> anyhow::Result<Vec<PlantFile>> {
    let body = serde_json::to_vec(req)?;
    let msg = tokio::time::timeout(PLANT_WAIT, client.request(subject.to_owned(), body.into()))
        .await
        .map_err(|_| anyhow::anyhow!("no server answered within {} s", PLANT_WAIT.as_secs()))?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let reply: PlantReply = serde_json::from_slice(&msg.payload)?;
    match reply.error {
        Some(e) => anyhow::bail!("the server refused: {e}"),
        None => Ok(reply.files),
    }
}
