//! Runtime state of one backend, driven by probe results and a clock.
//!
//! BanGUI's `process_health_probe_result`, made a pure function of
//! `(state, probe, now)` so a fake clock drives it in tests and the result
//! can be stored and published (several processes then agree on it):
//!
//! * offline → online: `online`; if a pending recovery exists, it is
//!   resolved: `recovered` is emitted and the record cleared (with the
//!   activation record).
//! * online → offline: `offline`; if the last activation happened within
//!   the crash window, a `pending_recovery` record is created (unless one is
//!   already open) and emitted.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Time as a dependency (shared with the alerts engine); [`FakeClock`]
/// drives it in tests.
pub use decnet_core::clock::{Clock, ManualClock as FakeClock, SystemClock};

/// An activation: the backend was enabled or its configuration reloaded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activation {
    /// When.
    pub at: DateTime<Utc>,
    /// Why (`startup`, `policy reloaded`, `enabled by admin`…).
    pub reason: String,
}

/// An activation followed by a crash, waiting for the backend to return.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRecovery {
    /// The activation blamed.
    pub activation: Activation,
    /// When the backend was seen offline.
    pub detected_at: DateTime<Utc>,
}

/// Stored and served state of one backend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendState {
    /// Backend name.
    pub backend: String,
    /// Last probe result.
    pub online: bool,
    /// Has any probe run yet.
    pub probed: bool,
    /// When `online` last changed (or the first probe).
    pub since: Option<DateTime<Utc>>,
    /// Last probe.
    pub last_probe: Option<DateTime<Utc>>,
    /// Last probe's detail (version, error).
    pub detail: String,
    /// Last activation, cleared on recovery.
    pub last_activation: Option<Activation>,
    /// Open activation-crash record.
    pub pending_recovery: Option<PendingRecovery>,
    /// Bans waiting to be replayed.
    pub pending_replay: usize,
}

/// What a probe changed; each becomes a `response.backend.<name>` event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Came (or first seen) online.
    Online,
    /// Went (or first seen) offline.
    Offline,
    /// Went offline within the crash window of an activation.
    PendingRecovery(PendingRecovery),
    /// Returned after an activation crash.
    Recovered(PendingRecovery),
}

impl Transition {
    /// Event name: `online`, `offline`, `pending_recovery`, `recovered`.
    pub fn name(&self) -> &'static str {
        match self {
            Transition::Online => "online",
            Transition::Offline => "offline",
            Transition::PendingRecovery(_) => "pending_recovery",
            Transition::Recovered(_) => "recovered",
        }
    }
}

impl BackendState {
    /// Fresh, never probed.
    pub fn new(backend: &str) -> Self {
        BackendState {
            backend: backend.to_owned(),
            online: false,
            probed: false,
            since: None,
            last_probe: None,
            detail: String::new(),
            last_activation: None,
            pending_recovery: None,
            pending_replay: 0,
        }
    }

    /// Records an activation at `now`.
    pub fn record_activation(&mut self, now: DateTime<Utc>, reason: &str) {
        self.last_activation = Some(Activation {
            at: now,
            reason: reason.to_owned(),
        });
    }

    /// Applies a probe result; returns the transitions, in order.
    pub fn on_probe(
        &mut self,
        online: bool,
        detail: &str,
        now: DateTime<Utc>,
        crash_window: Duration,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        let was_probed = self.probed;
        let was_online = self.online;
        self.probed = true;
        self.last_probe = Some(now);
        self.detail = detail.chars().take(200).collect();
        if was_probed && online == was_online {
            return out;
        }
        self.online = online;
        self.since = Some(now);
        if online {
            out.push(Transition::Online);
            if let Some(p) = self.pending_recovery.take() {
                self.last_activation = None;
                out.push(Transition::Recovered(p));
            }
        } else {
            out.push(Transition::Offline);
            // A first probe that finds the backend down right after startup
            // counts too: the activation (startup) did not survive.
            if let Some(a) = &self.last_activation {
                let since = now.signed_duration_since(a.at);
                let window = chrono::Duration::from_std(crash_window)
                    .unwrap_or_else(|_| chrono::Duration::seconds(60));
                if since >= chrono::Duration::zero()
                    && since <= window
                    && self.pending_recovery.is_none()
                {
                    let p = PendingRecovery {
                        activation: a.clone(),
                        detected_at: now,
                    };
                    self.pending_recovery = Some(p.clone());
                    out.push(Transition::PendingRecovery(p));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        "2026-11-23T10:00:00Z".parse().unwrap()
    }

    const W: Duration = Duration::from_secs(60);

    fn names(t: &[Transition]) -> Vec<&'static str> {
        t.iter().map(|t| t.name()).collect()
    }

    #[test]
    fn online_offline_transitions_only_on_change() {
        let clock = FakeClock::new(t0());
        let mut s = BackendState::new("fail2ban");
        assert_eq!(names(&s.on_probe(true, "v1", clock.now(), W)), ["online"]);
        clock.advance(Duration::from_secs(10));
        assert!(s.on_probe(true, "v1", clock.now(), W).is_empty());
        clock.advance(Duration::from_secs(10));
        assert_eq!(names(&s.on_probe(false, "", clock.now(), W)), ["offline"]);
        assert!(s.pending_recovery.is_none());
        assert!(s.on_probe(false, "", clock.now(), W).is_empty());
        assert_eq!(s.since, Some(t0() + chrono::Duration::seconds(20)));
        assert_eq!(names(&s.on_probe(true, "", clock.now(), W)), ["online"]);
    }

    #[test]
    fn crash_within_window_is_pending_recovery_then_recovered() {
        let clock = FakeClock::new(t0());
        let mut s = BackendState::new("fail2ban");
        s.on_probe(true, "", clock.now(), W);
        clock.advance(Duration::from_secs(300));
        s.record_activation(clock.now(), "policy reloaded");
        clock.advance(Duration::from_secs(59));
        let t = s.on_probe(false, "", clock.now(), W);
        assert_eq!(names(&t), ["offline", "pending_recovery"]);
        let Transition::PendingRecovery(p) = &t[1] else {
            unreachable!()
        };
        assert_eq!(p.activation.reason, "policy reloaded");
        assert_eq!(p.activation.at, t0() + chrono::Duration::seconds(300));
        assert_eq!(p.detected_at, t0() + chrono::Duration::seconds(359));
        // Still down, and a second flap does not open a second record.
        clock.advance(Duration::from_secs(5));
        assert!(s.on_probe(false, "", clock.now(), W).is_empty());
        let t = s.on_probe(true, "", clock.now(), W);
        assert_eq!(names(&t), ["online", "recovered"]);
        assert!(s.pending_recovery.is_none());
        assert!(s.last_activation.is_none(), "record cleared on recovery");
        // Going down again afterwards is a plain outage.
        assert_eq!(names(&s.on_probe(false, "", clock.now(), W)), ["offline"]);
    }

    #[test]
    fn crash_after_window_is_plain_offline() {
        let clock = FakeClock::new(t0());
        let mut s = BackendState::new("nftables");
        s.on_probe(true, "", clock.now(), W);
        s.record_activation(clock.now(), "startup");
        clock.advance(Duration::from_secs(61));
        assert_eq!(names(&s.on_probe(false, "", clock.now(), W)), ["offline"]);
        assert!(s.pending_recovery.is_none());
        assert_eq!(names(&s.on_probe(true, "", clock.now(), W)), ["online"]);
    }

    #[test]
    fn first_probe_down_right_after_startup_is_a_crash() {
        let clock = FakeClock::new(t0());
        let mut s = BackendState::new("fail2ban");
        s.record_activation(clock.now(), "startup");
        clock.advance(Duration::from_secs(1));
        assert_eq!(
            names(&s.on_probe(false, "no socket", clock.now(), W)),
            ["offline", "pending_recovery"]
        );
    }

    #[test]
    fn state_round_trips_through_json() {
        let clock = FakeClock::new(t0());
        let mut s = BackendState::new("fail2ban");
        s.on_probe(true, "", clock.now(), W);
        s.record_activation(clock.now(), "startup");
        s.on_probe(false, "", clock.now(), W);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["pending_recovery"]["activation"]["reason"], "startup");
        let back: BackendState = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }
}
