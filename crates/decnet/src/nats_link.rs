//! The link to NATS when `--bus` names one: the client, the copy of the
//! local bus onto it, and its bounded close.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use decnet_bus::Bus;
use tokio_util::sync::CancellationToken;

use crate::nats_args::NatsArgs;

/// Stops publishing to NATS within 5 s, whatever NATS is doing: what it
/// has not acknowledged by then is in the spool, on disk, for the next start.
pub(crate) async fn close_nats(nats: &decnet_nats::NatsBus) {
    if nats.close(std::time::Duration::from_secs(5)).await != decnet_nats::Closed::Settled {
        eprintln!("warning: some events were not acknowledged by NATS; they stay in the spool for the next start");
    }
}

/// `--bus`: `memory` (in-process) or `nats://HOST:PORT` / `tls://HOST:PORT`;
/// the NATS client spools under `data_dir/spool`.
pub(crate) async fn nats_bus(
    bus: &str,
    nats: &NatsArgs,
    data_dir: &Path,
    sensor: Option<decnet_nats::SensorName>,
) -> anyhow::Result<Option<Arc<decnet_nats::NatsBus>>> {
    match bus {
        "memory" => Ok(None),
        url if url.starts_with("nats://") || url.starts_with("tls://") => {
            let cfg = nats.config(url, &data_dir.join("spool"), sensor);
            let nb = decnet_nats::NatsBus::start(&cfg)
                .await
                .with_context(|| format!("cannot start the NATS bus {url}"))?;
            Ok(Some(nb))
        }
        other => anyhow::bail!("--bus {other}: use 'memory' or nats://HOST:PORT"),
    }
}

/// Copies every message of the local bus to NATS (lossless, never blocks the fleet).
pub(crate) struct Forwarder {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Forwarder {
    /// Forwards what is queued, then stops.
    pub(crate) async fn finish(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}

pub(crate) fn forward_to_nats(
    local: &Arc<dyn Bus>,
    nats: Arc<decnet_nats::NatsBus>,
) -> anyhow::Result<Forwarder> {
    let mut sub = local.subscribe(">", decnet_bus::Delivery::Lossless)?;
    let stop = CancellationToken::new();
    let s = stop.clone();
    let task = tokio::spawn(async move {
        loop {
            let env = tokio::select! {
                biased;
                e = sub.recv() => e,
                _ = s.cancelled() => None,
            };
            match env {
                Some(env) => nats.publish((*env).clone()),
                None => break,
            }
        }
        while let Some(env) = sub.try_recv() {
            nats.publish((*env).clone());
        }
    });
    Ok(Forwarder { stop, task })
}
