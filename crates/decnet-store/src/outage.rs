//! Bookkeeping of a writer that keeps failing (a full disk, a database
//! that went away): when it began, how many attempts, the last error — for
//! `/health` — and log lines that say so without flooding: the first
//! failure, then one line per [`LOG_EVERY`], then the recovery.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// At most one "still failing" line per this period.
pub const LOG_EVERY: Duration = Duration::from_secs(30);

struct Run {
    since: Instant,
    attempts: u64,
    error: String,
    logged: Instant,
}

/// The failure state of one writer.
pub struct Outage {
    what: &'static str,
    run: Mutex<Option<Run>>,
}

impl Outage {
    /// `what` names the writer in log lines ("store writes", "event log writes").
    pub fn new(what: &'static str) -> Self {
        Outage {
            what,
            run: Mutex::new(None),
        }
    }

    /// Records a failed attempt; `context` (what is waiting, what was
    /// dropped) goes into the log line when one is due.
    pub fn failed(&self, error: &str, context: &str) {
        let mut run = self.run.lock();
        let now = Instant::now();
        match &mut *run {
            None => {
                tracing::warn!(
                    error,
                    "{} failing; retrying until they work ({context})",
                    self.what
                );
                *run = Some(Run {
                    since: now,
                    attempts: 1,
                    error: error.to_owned(),
                    logged: now,
                });
            }
            Some(r) => {
                r.attempts += 1;
                if r.error != error {
                    r.error = error.to_owned();
                }
                if now.duration_since(r.logged) >= LOG_EVERY {
                    r.logged = now;
                    tracing::warn!(
                        error,
                        failing_secs = r.since.elapsed().as_secs(),
                        attempts = r.attempts,
                        "{} still failing; retrying ({context})",
                        self.what
                    );
                }
            }
        }
    }

    /// Records a success; logs the recovery if there was a failure.
    pub fn recovered(&self, context: impl FnOnce() -> String) {
        if let Some(r) = self.run.lock().take() {
            tracing::info!(
                after_secs = r.since.elapsed().as_secs(),
                attempts = r.attempts,
                "{} resumed ({})",
                self.what,
                context()
            );
        }
    }

    /// `failing for N s (M attempts): error`, while failing.
    pub fn describe(&self) -> Option<String> {
        self.run.lock().as_ref().map(|r| {
            format!(
                "failing for {} s ({} attempts): {}",
                r.since.elapsed().as_secs(),
                r.attempts,
                r.error
            )
        })
    }

    /// `(ok, detail)` for `/health`: `counts` alone while working, prefixed
    /// with `"{what} failing for …: error; "` while failing.
    pub fn health(&self, counts: String) -> (bool, String) {
        match self.describe() {
            None => (true, counts),
            Some(why) => (false, format!("{} {why}; {counts}", self.what)),
        }
    }

    /// The last error, while failing.
    pub fn last_error(&self) -> Option<String> {
        self.run.lock().as_ref().map(|r| r.error.clone())
    }

    /// True while failing.
    pub fn is_failing(&self) -> bool {
        self.run.lock().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_of_failures_is_described_until_it_recovers() {
        let o = Outage::new("test writes");
        assert!(!o.is_failing() && o.describe().is_none());
        o.failed("disk full", "3 waiting");
        o.failed("disk full", "4 waiting");
        let d = o.describe().unwrap();
        assert!(d.contains("(2 attempts): disk full"), "{d}");
        assert_eq!(o.last_error().as_deref(), Some("disk full"));
        o.recovered(|| "ok".into());
        assert!(!o.is_failing());
    }
}
