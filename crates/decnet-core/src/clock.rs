//! Time as a dependency: code whose decisions depend on time (throttle
//! windows, heartbeat timeouts) reads a [`Clock`], so tests drive it with a
//! [`ManualClock`] instead of sleeping.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};

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
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t = after(*t, d);
    }

    /// Jumps to `t`.
    pub fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The wall clock run faster: simulated time starts at the real time of
/// creation and then passes `speed` times as fast (a lived-in decky's hour
/// in a second of a demo or a test). `speed` 1 is the wall clock.
#[derive(Debug)]
pub struct ScaledClock {
    start: DateTime<Utc>,
    started: std::time::Instant,
    speed: f64,
}

impl ScaledClock {
    /// Starts now; `speed` below 1 (or not finite) is taken as 1, so
    /// simulated time never runs behind the wall clock.
    pub fn new(speed: f64) -> Self {
        ScaledClock {
            start: Utc::now(),
            started: std::time::Instant::now(),
            speed: if speed.is_finite() && speed > 1.0 {
                speed
            } else {
                1.0
            },
        }
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        let real = self.started.elapsed().as_secs_f64() * self.speed;
        after(self.start, Duration::from_secs_f64(real.min(1e12)))
    }
}

/// `t + d`, saturating instead of panicking on absurd durations.
pub fn after(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_when_told_and_after_saturates() {
        let t0 = Utc::now();
        let c = ManualClock::new(t0);
        c.advance(Duration::from_secs(90));
        assert_eq!(c.now(), t0 + chrono::Duration::seconds(90));
        c.set(t0);
        assert_eq!(c.now(), t0);
        assert_eq!(after(t0, Duration::MAX), DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn scaled_clock_runs_faster_and_never_slower_than_the_wall() {
        let fast = ScaledClock::new(3600.0);
        std::thread::sleep(Duration::from_millis(20));
        // 20 ms at 3600x is at least 72 simulated seconds.
        assert!(fast.now() - Utc::now() >= chrono::Duration::seconds(70));
        let slow = ScaledClock::new(0.001);
        std::thread::sleep(Duration::from_millis(5));
        assert!((Utc::now() - slow.now()).num_milliseconds().abs() < 1000);
    }
}
