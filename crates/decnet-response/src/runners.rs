//! Backend runners: one task per enabled backend, each owning its driver,
//! its runtime state ([`BackendState`], stored and published on every
//! transition) and a queue of bans and unbans. A runner probes its backend
//! every `probe_interval`, replays every enforced ban when the backend comes
//! back, and re-probes after a failed apply.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use decnet_bus::Envelope;
use decnet_store::Store;
use ipnet::IpNet;
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::Notify;

use crate::backend::{Backend, Enforce, Fail2ban, InProcess, Nftables};
use crate::persist::keys;
use crate::policy::{BackendKind, Policy};
use crate::state::{BackendState, Transition};
use crate::{Responder, ResponseError};

/// Builds the driver for a backend kind (tests substitute their own).
pub type BackendFactory = Arc<dyn Fn(BackendKind, &Policy) -> Arc<dyn Backend> + Send + Sync>;

/// The default factory: real nft / fail2ban-client, in-process otherwise.
pub fn default_factory() -> BackendFactory {
    Arc::new(|k, p| -> Arc<dyn Backend> {
        match k {
            BackendKind::Nftables => Arc::new(Nftables::from_policy(p)),
            BackendKind::Fail2ban => Arc::new(Fail2ban::from_policy(p)),
            other => Arc::new(InProcess(other)),
        }
    })
}

/// Work queued for one runner.
#[derive(Default)]
pub(crate) struct Ops {
    /// Bans to enforce.
    pub(crate) bans: Vec<Enforce>,
    /// Bans to lift.
    pub(crate) unbans: Vec<IpNet>,
    /// Re-apply every enforced ban (the backend came back or failed).
    pub(crate) replay_all: bool,
}

/// One backend's driver, state and work queue.
pub struct Runner {
    kind: BackendKind,
    driver: Arc<dyn Backend>,
    state: Mutex<BackendState>,
    ops: Mutex<Ops>,
    wake: Notify,
    probe_now: AtomicBool,
    stop: AtomicBool,
}

impl Runner {
    fn new(kind: BackendKind, driver: Arc<dyn Backend>, state: BackendState, ops: Ops) -> Runner {
        Runner {
            kind,
            driver,
            state: Mutex::new(state),
            ops: Mutex::new(ops),
            wake: Notify::new(),
            probe_now: AtomicBool::new(true),
            stop: AtomicBool::new(false),
        }
    }

    /// Ends its task (at its next wake-up, which this causes).
    pub(crate) fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Current state.
    pub fn state(&self) -> BackendState {
        self.state.lock().clone()
    }

    /// Backend kind.
    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    /// Whether bans must be pushed to it (the in-process backends read the
    /// ban table instead).
    pub(crate) fn enforces(&self) -> bool {
        matches!(self.kind, BackendKind::Nftables | BackendKind::Fail2ban)
    }

    /// Edits its queue and wakes its task.
    pub(crate) fn push(&self, f: impl FnOnce(&mut Ops)) {
        f(&mut self.ops.lock());
        self.wake.notify_one();
    }
}

impl Responder {
    /// Backend runners, in policy order.
    pub fn runners(&self) -> Vec<Arc<Runner>> {
        self.runners.lock().clone()
    }

    /// Re-activates one backend (audited): an activation for crash tracking.
    pub async fn activate(
        self: &Arc<Self>,
        actor: &str,
        backend: &str,
    ) -> Result<(), ResponseError> {
        let r = self
            .runners()
            .into_iter()
            .find(|r| r.kind.as_str() == backend)
            .ok_or_else(|| ResponseError::NotFound(format!("backend {backend} is not enabled")))?;
        {
            let mut i = self.inner.lock();
            self.audit(&mut i, actor, "activate", backend, "activated by admin");
        }
        self.activate_runner(&r, &format!("activated by {actor}"))
            .await;
        Ok(())
    }

    async fn activate_runner(&self, r: &Arc<Runner>, reason: &str) {
        let now = self.clock.now();
        r.state.lock().record_activation(now, reason);
        if let Err(e) = r.driver.activate().await {
            tracing::warn!(backend = r.kind.as_str(), error = %e, "activation failed");
        }
        self.save_backend(r).await;
        r.probe_now.store(true, Ordering::Release);
        r.push(|o| o.replay_all = true);
    }

    /// Makes the runners match the policy's backends: a kept backend gets a
    /// fresh driver with its state and queue, a new one starts from its
    /// stored state, a dropped one stops. Each is (re)activated; with
    /// `spawn`, each gets its task.
    pub(crate) async fn sync_runners(self: &Arc<Self>, reason: &str, spawn: bool) {
        let policy = self.policy();
        let current = self.runners();
        let mut next = Vec::new();
        for kind in &policy.backends {
            let driver = (self.factory)(*kind, &policy);
            if let Some(r) = current.iter().find(|r| r.kind == *kind) {
                // Reconfigure: keep the state, swap the driver.
                let ops = std::mem::take(&mut *r.ops.lock());
                next.push(Arc::new(Runner::new(*kind, driver, r.state(), ops)));
                r.stop();
            } else {
                let state = self.stored_state(*kind).await;
                next.push(Arc::new(Runner::new(*kind, driver, state, Ops::default())));
            }
        }
        for r in &current {
            if !policy.backends.contains(&r.kind) {
                r.stop();
            }
        }
        *self.runners.lock() = next.clone();
        for r in &next {
            self.activate_runner(r, reason).await;
            if spawn {
                let me = self.clone();
                let r2 = r.clone();
                let h = tokio::spawn(async move { me.run_backend(r2).await });
                self.tasks.lock().push(h);
            }
        }
    }

    /// A backend's stored state (a fresh one if none or unreadable).
    async fn stored_state(&self, kind: BackendKind) -> BackendState {
        if let Some(s) = &self.store {
            if let Ok(Some(v)) = s
                .get_setting(&format!("{}{}", keys::BACKEND_PREFIX, kind.as_str()))
                .await
            {
                if let Ok(saved) = serde_json::from_value::<BackendState>(v) {
                    return saved;
                }
            }
        }
        BackendState::new(kind.as_str())
    }

    async fn save_backend(&self, r: &Runner) {
        if let Some(s) = &self.store {
            let v = serde_json::to_value(r.state()).unwrap_or_default();
            if let Err(e) = s
                .put_setting(&format!("{}{}", keys::BACKEND_PREFIX, r.kind.as_str()), &v)
                .await
            {
                tracing::warn!(error = %e, "cannot store backend state");
            }
        }
    }

    /// One probe of one runner: applies transitions, publishes them.
    pub async fn probe(&self, r: &Runner) -> Vec<Transition> {
        let was_up = {
            let s = r.state.lock();
            s.probed && s.online
        };
        if !was_up {
            // Recreate what may have been lost (nft table after a flush).
            let _ = r.driver.activate().await;
        }
        let (ok, detail) = r.driver.probe().await;
        let window = self.policy().crash_window;
        let now = self.clock.now();
        let ts = r.state.lock().on_probe(ok, &detail, now, window);
        for t in &ts {
            if matches!(t, Transition::Online) {
                r.ops.lock().replay_all = true;
            }
            self.publish_transition(r, t);
        }
        if !ts.is_empty() {
            self.save_backend(r).await;
        }
        ts
    }

    fn publish_transition(&self, r: &Runner, t: &Transition) {
        let name = t.name();
        let state = r.state();
        let record = match t {
            Transition::PendingRecovery(p) | Transition::Recovered(p) => json!(p),
            _ => serde_json::Value::Null,
        };
        if matches!(t, Transition::Offline | Transition::PendingRecovery(_)) {
            tracing::warn!(topic = %format!("response.backend.{name}"), backend = r.kind.as_str(), detail = %state.detail, "backend {name}");
        } else {
            tracing::info!(topic = %format!("response.backend.{name}"), backend = r.kind.as_str(), detail = %state.detail, "backend {name}");
        }
        self.bus.publish(Envelope::json(
            format!("response.backend.{name}"),
            name,
            json!({"node": self.node, "backend": r.kind.as_str(), "state": state, "record": record}),
        ));
    }

    /// Applies queued work to one runner if it is online: full replay after
    /// a return, then queued bans and unbans. Returns false on a failure
    /// (the runner then re-probes).
    pub async fn flush(&self, r: &Runner) -> bool {
        if !r.enforces() {
            // The ban table is the in-process backends' state.
            *r.ops.lock() = Ops::default();
            return true;
        }
        let online = r.state.lock().online;
        let ops = {
            let mut o = r.ops.lock();
            if !online {
                // Bans wait for the full replay on return; unbans are kept.
                let n = o.bans.len();
                o.bans.clear();
                if n > 0 {
                    o.replay_all = true;
                }
                let pending = if o.replay_all {
                    self.enforced_count()
                } else {
                    0
                };
                r.state.lock().pending_replay = pending + o.unbans.len();
                return true;
            }
            std::mem::take(&mut *o)
        };
        let mut bans = ops.bans;
        if ops.replay_all {
            let now = self.clock.now();
            bans = self
                .inner
                .lock()
                .table
                .active()
                .filter(|b| !b.dry_run && b.expires_at > now)
                .map(|b| Enforce {
                    value: b.value,
                    ttl_secs: b.remaining_secs(now),
                })
                .collect();
            if !bans.is_empty() {
                tracing::info!(
                    backend = r.kind.as_str(),
                    bans = bans.len(),
                    "replaying bans"
                );
            }
        }
        let mut ok = true;
        if !bans.is_empty() {
            if let Err(e) = r.driver.ban(&bans).await {
                tracing::warn!(backend = r.kind.as_str(), error = %e, "ban failed; will replay");
                r.ops.lock().replay_all = true;
                ok = false;
            }
        }
        if !ops.unbans.is_empty() {
            if let Err(e) = r.driver.unban(&ops.unbans).await {
                tracing::warn!(backend = r.kind.as_str(), error = %e, "unban failed; will retry");
                r.ops.lock().unbans.extend(ops.unbans);
                ok = false;
            }
        }
        r.state.lock().pending_replay = 0;
        ok
    }

    fn enforced_count(&self) -> usize {
        self.inner
            .lock()
            .table
            .active()
            .filter(|b| !b.dry_run)
            .count()
    }

    /// The runner task: probes on schedule or on demand, flushes queued
    /// work, sleeps until woken, the next probe, or shutdown.
    async fn run_backend(self: Arc<Self>, r: Arc<Runner>) {
        let mut stop = self.shutdown.subscribe();
        let mut next_probe = tokio::time::Instant::now();
        loop {
            if r.stop.load(Ordering::Acquire) || *stop.borrow() {
                break;
            }
            let now = tokio::time::Instant::now();
            if now >= next_probe || r.probe_now.swap(false, Ordering::AcqRel) {
                self.probe(&r).await;
                next_probe = tokio::time::Instant::now() + self.policy().probe_interval;
            }
            let pending = {
                let o = r.ops.lock();
                !o.bans.is_empty() || !o.unbans.is_empty() || o.replay_all
            };
            if pending && !self.flush(&r).await {
                r.probe_now.store(true, Ordering::Release);
                // Back off a little before re-probing a failing backend.
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            tokio::select! {
                _ = r.wake.notified() => {}
                _ = tokio::time::sleep_until(next_probe) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

/// Reads every backend's state from the store: what a process that does not
/// run the backends (another API instance) serves as status.
pub async fn stored_backend_states(
    store: &dyn Store,
    kinds: &[BackendKind],
) -> Result<Vec<BackendState>, ResponseError> {
    let mut out = Vec::new();
    for k in kinds {
        let key = format!("{}{}", keys::BACKEND_PREFIX, k.as_str());
        if let Some(v) = store
            .get_setting(&key)
            .await
            .map_err(|e| ResponseError::Store(e.to_string()))?
        {
            if let Ok(s) = serde_json::from_value(v) {
                out.push(s);
            }
        }
    }
    Ok(out)
}
