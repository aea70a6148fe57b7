//! The mutation queue worker: claims each pending mutation with a CAS
//! (`pending → applying`, so two workers never apply one), applies it, and
//! on restart puts whatever a crash left `applying` back in the queue.

use std::sync::Arc;

use decnet_store::StoreError;

use super::model::{Mutation, MutationStatus, TopoResult, TopologyError, TopologyStatus};
use super::validate::validate;
use super::Topologies;

impl Topologies {
    /// Puts mutations left `applying` by a crashed process back in the queue.
    pub async fn resume(&self) -> TopoResult<usize> {
        let mut n = 0;
        for t in self.list().await? {
            for mut m in self
                .mutations(&t.id, Some(MutationStatus::Applying))
                .await?
            {
                m.status = MutationStatus::Pending;
                if self.put_mutation(&mut m).await.is_ok() {
                    n += 1;
                }
            }
        }
        self.wake.notify_one();
        Ok(n)
    }

    /// Claims and applies every pending mutation (all topologies, queue order).
    /// Returns how many this call applied or failed.
    pub async fn drain(&self) -> TopoResult<usize> {
        let mut done = 0;
        for t in self.list().await? {
            for mut m in self.mutations(&t.id, Some(MutationStatus::Pending)).await? {
                m.status = MutationStatus::Applying;
                match self.put_mutation(&mut m).await {
                    Ok(()) => {}
                    Err(TopologyError::Conflict(_)) => continue, // another worker claimed it
                    Err(e) => return Err(e),
                }
                self.publish(
                    &m.topology_id,
                    "mutation.applying",
                    serde_json::to_value(&m).unwrap_or_default(),
                );
                match self.apply(&m).await {
                    Ok(()) => {
                        m.status = MutationStatus::Applied;
                        m.error = None;
                        self.put_mutation(&mut m).await?;
                        self.publish(
                            &m.topology_id,
                            "mutation.applied",
                            serde_json::to_value(&m).unwrap_or_default(),
                        );
                    }
                    Err(e) => {
                        m.status = MutationStatus::Failed;
                        m.error = Some(e.to_string());
                        self.put_mutation(&mut m).await?;
                        self.publish(
                            &m.topology_id,
                            "mutation.failed",
                            serde_json::to_value(&m).unwrap_or_default(),
                        );
                        let t = self.get(&m.topology_id).await?;
                        let msg = format!("mutation {} ({:?}) failed: {e}", m.id, m.op);
                        if t.status == TopologyStatus::Active {
                            let _ = self
                                .set_status(&m.topology_id, TopologyStatus::Degraded, Some(msg))
                                .await;
                        } else {
                            let _ = self.record_error(&m.topology_id, msg).await;
                        }
                    }
                }
                done += 1;
            }
        }
        Ok(done)
    }

    /// Runs the queue worker until `stop` is cancelled.
    pub async fn run_worker(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        if let Err(e) = self.resume().await {
            tracing::warn!("topology queue resume failed: {e}");
        }
        loop {
            if let Err(e) = self.drain().await {
                tracing::warn!("topology mutation worker: {e}");
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
            }
        }
    }

    /// Applies one claimed mutation: the model change under CAS (retried on
    /// concurrent edits), with the live change first for additions so a
    /// failing start leaves the model unchanged.
    async fn apply(&self, m: &Mutation) -> TopoResult<()> {
        let id = &m.topology_id;
        for attempt in 0..16 {
            let t = self.get(id).await?;
            let mut next = t.clone();
            let change = m.apply_to(&mut next, t.status.is_live())?;
            validate(&next)?;
            if let Some(name) = &change.stop {
                if self.fleet.topology_of(name).as_deref() == Some(id.as_str()) {
                    let _ = self.fleet.teardown(name).await;
                }
            }
            if let Some(d) = &change.start {
                self.start_decky(&next, d).await?;
            }
            match self.put_topology(id, Some(t.version), &next).await {
                Ok(_) => return Ok(()),
                Err(StoreError::Conflict(_)) if attempt < 15 => {
                    if let Some(d) = &change.start {
                        let _ = self.fleet.teardown(&d.name).await;
                    }
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(TopologyError::Conflict("topology kept changing".into()))
    }
}
