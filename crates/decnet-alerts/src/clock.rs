//! Time as a dependency: the noise gate and heartbeat tracker read a
//! [`Clock`], so tests drive them with a [`ManualClock`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;

/// A time source.
pub trait Clock: Send + Sync + 'static {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// Starts at `t`.
    pub fn new(t: DateTime<Utc>) -> Self {
        ManualClock(Mutex::new(t))
    }

    /// Moves forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut t = self.0.lock();
        *t = after(*t, d);
    }

    /// Jumps to `t`.
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock() = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock()
    }
}

/// `a + d` in chrono terms, saturating on absurd durations.
pub fn after(a: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| a.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
