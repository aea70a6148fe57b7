//! Supervised background workers: each runs as a task, is restarted with
//! exponential backoff when it fails, panics or exits early, and reports its
//! state to `/health` and `/workers`. Shutdown cancels them all.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What a worker factory returns.
pub type WorkerFuture = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// Builds one run of a worker; gets a shutdown receiver that flips to true.
pub type WorkerFactory = Arc<dyn Fn(watch::Receiver<bool>) -> WorkerFuture + Send + Sync>;

/// Longest restart delay.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Lifecycle state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Running.
    Running,
    /// Failed; waiting to restart.
    Restarting,
    /// Stopped by shutdown.
    Stopped,
}

/// A worker as shown by `/workers`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct WorkerStatus {
    /// Name (`webhooks`, `ingest`…).
    pub name: String,
    /// True if the API is unhealthy without it.
    pub critical: bool,
    /// Current state.
    pub state: WorkerState,
    /// Restarts so far.
    pub restarts: u64,
    /// Last failure, if any.
    pub last_error: Option<String>,
    /// When the current state began.
    pub since: DateTime<Utc>,
}

type Entry = (Arc<Mutex<WorkerStatus>>, JoinHandle<()>);

/// Runs and restarts workers.
pub struct Supervisor {
    backoff: Duration,
    shutdown_tx: watch::Sender<bool>,
    workers: Mutex<Vec<Entry>>,
}

impl Supervisor {
    /// New supervisor; `backoff` is the first restart delay.
    pub fn new(backoff: Duration) -> Arc<Self> {
        let (shutdown_tx, _) = watch::channel(false);
        Arc::new(Supervisor {
            backoff,
            shutdown_tx,
            workers: Mutex::new(Vec::new()),
        })
    }

    /// Starts a worker under supervision.
    pub fn spawn(&self, name: &str, critical: bool, factory: WorkerFactory) {
        let status = Arc::new(Mutex::new(WorkerStatus {
            name: name.to_owned(),
            critical,
            state: WorkerState::Running,
            restarts: 0,
            last_error: None,
            since: Utc::now(),
        }));
        let st = status.clone();
        let mut shutdown = self.shutdown_tx.subscribe();
        let base = self.backoff;
        let name = name.to_owned();
        let handle = tokio::spawn(async move {
            let mut delay = base;
            loop {
                if *shutdown.borrow() {
                    break;
                }
                set(&st, WorkerState::Running, None);
                let run = std::panic::AssertUnwindSafe(factory(shutdown.clone())).catch_unwind();
                let outcome = tokio::select! {
                    r = run => r,
                    _ = shutdown.wait_for(|v| *v) => break,
                };
                if *shutdown.borrow() {
                    break;
                }
                let err = match outcome {
                    Ok(Ok(())) => "exited unexpectedly".to_owned(),
                    Ok(Err(e)) => format!("{e:#}"),
                    Err(p) => {
                        let msg = p
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| p.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "panic".into());
                        format!("panicked: {msg}")
                    }
                };
                tracing::warn!(worker = %name, error = %err, retry_in = ?delay, "worker failed; restarting");
                set(&st, WorkerState::Restarting, Some(err));
                st.lock().restarts += 1;
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shutdown.wait_for(|v| *v) => break,
                }
                delay = (delay * 2).min(MAX_BACKOFF);
            }
            set(&st, WorkerState::Stopped, None);
        });
        self.workers.lock().push((status, handle));
    }

    /// Every worker's status.
    pub fn statuses(&self) -> Vec<WorkerStatus> {
        self.workers
            .lock()
            .iter()
            .map(|(s, _)| s.lock().clone())
            .collect()
    }

    /// A shutdown receiver for code that is not a supervised worker.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown_tx.subscribe()
    }

    /// Signals every worker and waits up to `grace` for them to stop, then aborts the rest.
    pub async fn shutdown(&self, grace: Duration) {
        let _ = self.shutdown_tx.send(true);
        let handles: Vec<_> = self
            .workers
            .lock()
            .iter_mut()
            .map(|(s, h)| (s.clone(), std::mem::replace(h, tokio::spawn(async {}))))
            .collect();
        for (s, mut h) in handles {
            if tokio::time::timeout(grace, &mut h).await.is_err() {
                h.abort();
                set(&s, WorkerState::Stopped, Some("aborted at shutdown".into()));
            }
        }
    }
}

fn set(st: &Mutex<WorkerStatus>, state: WorkerState, err: Option<String>) {
    let mut s = st.lock();
    if s.state != state {
        s.since = Utc::now();
    }
    s.state = state;
    if err.is_some() {
        s.last_error = err;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn failing_and_panicking_workers_restart_with_backoff() {
        let sup = Supervisor::new(Duration::from_millis(10));
        let runs = Arc::new(AtomicU32::new(0));
        let r = runs.clone();
        sup.spawn(
            "flaky",
            true,
            Arc::new(move |mut stop| {
                let n = r.fetch_add(1, Ordering::SeqCst);
                Box::pin(async move {
                    match n {
                        0 => anyhow::bail!("boom"),
                        1 => panic!("kaboom"),
                        _ => {
                            let _ = stop.wait_for(|v| *v).await;
                            Ok(())
                        }
                    }
                })
            }),
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while runs.load(Ordering::SeqCst) < 3 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let s = &sup.statuses()[0];
        assert_eq!(s.state, WorkerState::Running);
        assert_eq!(s.restarts, 2);
        assert!(s.last_error.as_deref().unwrap().contains("kaboom"));
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        sup.shutdown(Duration::from_secs(1)).await;
        assert_eq!(sup.statuses()[0].state, WorkerState::Stopped);
    }
}
