//! Workers that run outside the API (the store ingester, intel, the
//! topology queue…) as `/health` and `/readyz` see them.
//!
//! Their owner (the binary) keeps their handles and finishes them at
//! shutdown; the API only looks. A worker is watched through a
//! `tokio::sync::watch` channel whose sender its task holds: while the
//! sender lives the worker runs, and its value describes progress; once
//! the task ends — returned, failed or panicked — the channel is closed.

use std::sync::Arc;

use tokio::sync::watch;

type Check = dyn Fn() -> Result<Option<String>, String> + Send + Sync;

/// One watched worker.
#[derive(Clone)]
pub struct WorkerProbe {
    /// Component name in `/health` (`ingest_worker`, `intel_worker`…).
    pub name: String,
    /// True if the API is unhealthy (and not ready) without it.
    pub critical: bool,
    check: Arc<Check>,
}

impl std::fmt::Debug for WorkerProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerProbe")
            .field("name", &self.name)
            .field("critical", &self.critical)
            .finish()
    }
}

impl WorkerProbe {
    /// A probe answering with `check`: `Ok(note)` while running, `Err(why)`
    /// when not.
    pub fn new(
        name: impl Into<String>,
        critical: bool,
        check: impl Fn() -> Result<Option<String>, String> + Send + Sync + 'static,
    ) -> Self {
        WorkerProbe {
            name: name.into(),
            critical,
            check: Arc::new(check),
        }
    }

    /// Watches a worker through a channel its task holds the sender of;
    /// `describe` turns the current value into the note shown while it
    /// runs.
    pub fn watching<T: Send + Sync + 'static>(
        name: impl Into<String>,
        critical: bool,
        rx: watch::Receiver<T>,
        describe: impl Fn(&T) -> String + Send + Sync + 'static,
    ) -> Self {
        WorkerProbe::new(name, critical, move || {
            if rx.has_changed().is_err() {
                Err("stopped".into())
            } else {
                Ok(Some(describe(&rx.borrow())))
            }
        })
    }

    /// A channel for a task that has no progress to report: keep the
    /// sender in the task, give the receiver to [`WorkerProbe::watching`].
    pub fn alive_channel() -> (watch::Sender<()>, watch::Receiver<()>) {
        watch::channel(())
    }

    /// The worker's state now.
    pub fn check(&self) -> Result<Option<String>, String> {
        (self.check)()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_watched_worker_fails_when_its_task_ends_even_by_panic() {
        let (tx, rx) = watch::channel(0u64);
        let probe = WorkerProbe::watching("ingest_worker", true, rx, |n| format!("{n} committed"));
        let task = tokio::spawn(async move {
            tx.send_replace(7);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            panic!("worker crashed");
        });
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        assert_eq!(probe.check(), Ok(Some("7 committed".into())));
        assert!(task.await.is_err());
        assert_eq!(probe.check(), Err("stopped".into()));
    }
}
