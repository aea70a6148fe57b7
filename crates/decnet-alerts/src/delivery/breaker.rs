//! Circuit breaker of one channel, a pure state machine over `Instant`s:
//! closed (delivering) → after `threshold` consecutive retryable failures,
//! open (nothing is attempted) → after `open_for`, half-open (one probe
//! goes; the others wait) → closed on success, open again on failure.

use std::time::{Duration, Instant};

/// What a delivery may do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Go ahead.
    Go,
    /// Go ahead as the half-open probe.
    Probe,
    /// Wait until then and ask again.
    Wait(Instant),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed,
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// How long a delivery waiting on someone else's probe sleeps before asking again.
pub const PROBE_POLL: Duration = Duration::from_millis(50);

/// See the module doc.
#[derive(Clone, Debug)]
pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    state: State,
    consecutive_failures: u32,
    opened: u64,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Breaker {
            threshold: threshold.max(1),
            open_for,
            state: State::Closed,
            consecutive_failures: 0,
            opened: 0,
        }
    }

    /// May a delivery try now?
    pub fn admit(&mut self, now: Instant) -> Admit {
        match self.state {
            State::Closed => Admit::Go,
            State::Open { until } if now < until => Admit::Wait(until),
            State::Open { .. } | State::HalfOpen { probing: false } => {
                self.state = State::HalfOpen { probing: true };
                Admit::Probe
            }
            State::HalfOpen { probing: true } => Admit::Wait(now + PROBE_POLL),
        }
    }

    /// The channel took a message (or refused it for reasons of its own,
    /// which still proves it is up).
    pub fn success(&mut self) {
        self.state = State::Closed;
        self.consecutive_failures = 0;
    }

    /// A retryable failure.
    pub fn failure(&mut self, now: Instant) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let trip = match self.state {
            State::HalfOpen { .. } => true,
            State::Closed => self.consecutive_failures >= self.threshold,
            State::Open { .. } => false,
        };
        if trip {
            self.state = State::Open {
                until: now + self.open_for,
            };
            self.opened += 1;
        }
    }

    /// `closed`, `open` or `half_open` (an open breaker past its wait is
    /// reported half-open: the next delivery probes).
    pub fn name(&self, now: Instant) -> &'static str {
        match self.state {
            State::Closed => "closed",
            State::Open { until } if now < until => "open",
            _ => "half_open",
        }
    }

    /// Failures in a row.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Times it opened.
    pub fn times_opened(&self) -> u64 {
        self.opened
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_open_half_open_cycle() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut b = Breaker::new(3, 10 * s);
        assert_eq!(b.admit(t0), Admit::Go);
        b.failure(t0);
        b.failure(t0);
        assert_eq!((b.admit(t0), b.name(t0)), (Admit::Go, "closed"));
        b.failure(t0);
        assert_eq!(b.name(t0), "open");
        assert_eq!(b.admit(t0 + s), Admit::Wait(t0 + 10 * s));
        assert_eq!(b.name(t0 + 10 * s), "half_open");
        assert_eq!(b.admit(t0 + 10 * s), Admit::Probe);
        assert_eq!(b.admit(t0 + 10 * s), Admit::Wait(t0 + 10 * s + PROBE_POLL));
        b.failure(t0 + 11 * s);
        assert_eq!(b.admit(t0 + 12 * s), Admit::Wait(t0 + 21 * s));
        assert_eq!(b.admit(t0 + 21 * s), Admit::Probe);
        b.success();
        assert_eq!(
            (b.admit(t0 + 21 * s), b.consecutive_failures()),
            (Admit::Go, 0)
        );
        assert_eq!(b.times_opened(), 2);
    }
}
