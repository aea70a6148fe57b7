//! The login limiter: failed logins are counted per *source* and a source
//! with too many recent failures is refused (429) until the oldest leaves
//! the window.
//!
//! Never per account: counting by username let anyone lock the admin out
//! from anywhere with a hundred bad guesses. A correct password from
//! another source always works. Only failures count, and a success forgets
//! that user's failures from that source, so a team behind one NAT shares
//! a budget of typos, not of logins. IPv6 sources are counted per /64 (one
//! host usually holds a whole /64).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// New sources between two sweeps of expired entries.
const SWEEP_EVERY: usize = 10_000;
/// Sources tracked at most; past it (after a sweep) the table starts over,
/// so a flood of sources costs lookups, never unbounded memory.
const MAX_SOURCES: usize = 100_000;
/// Usernames tracked per source (a source spraying names still counts
/// every failure; only the per-user split is lost).
const MAX_USERS_PER_SOURCE: usize = 64;

/// Failed logins of one source, by lowercased username.
#[derive(Default)]
struct Failures {
    by_user: HashMap<String, VecDeque<Instant>>,
}

impl Failures {
    fn expire(&mut self, now: Instant, window: Duration) {
        self.by_user.retain(|_, q| {
            while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
                q.pop_front();
            }
            !q.is_empty()
        });
    }

    fn count(&self) -> usize {
        self.by_user.values().map(VecDeque::len).sum()
    }
}

/// The key a source is counted under: the address, or its /64 for IPv6.
pub fn source_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

/// Failures of every source, with the new sources since the last sweep.
#[derive(Default)]
struct Table {
    sources: HashMap<String, Failures>,
    new_since_sweep: usize,
}

impl Table {
    fn sweep(&mut self, now: Instant, window: Duration) {
        self.sources.retain(|_, f| {
            f.expire(now, window);
            !f.by_user.is_empty()
        });
        self.new_since_sweep = 0;
    }
}

/// Sliding-window count of failed logins per source.
pub struct RateLimiter {
    max: usize,
    window: Duration,
    table: Mutex<Table>,
}

impl RateLimiter {
    /// At most `max` failures per source in `window`.
    pub fn new(max: u32, window: Duration) -> Self {
        RateLimiter {
            max: max.max(1) as usize,
            window,
            table: Mutex::new(Table::default()),
        }
    }

    /// Whether `source` may try a login now; when not, the whole seconds
    /// until it may.
    pub fn check(&self, source: &str) -> Result<(), u64> {
        let now = Instant::now();
        let mut table = self.table.lock();
        let Some(f) = table.sources.get_mut(source) else {
            return Ok(());
        };
        f.expire(now, self.window);
        let count = f.count();
        if count < self.max {
            return Ok(());
        }
        // Allowed again once `count - max + 1` failures have left the
        // window: when the (count - max)-th oldest one expires.
        let mut times: Vec<Instant> = f.by_user.values().flatten().copied().collect();
        times.sort_unstable();
        let frees = times[count - self.max];
        let left = self.window.saturating_sub(now.duration_since(frees));
        Err(left.as_secs() + u64::from(left.subsec_nanos() > 0))
    }

    /// Records a failed login of `user` from `source`.
    pub fn failed(&self, source: &str, user: &str) {
        let now = Instant::now();
        let mut table = self.table.lock();
        if !table.sources.contains_key(source) {
            table.new_since_sweep += 1;
            if table.new_since_sweep >= SWEEP_EVERY || table.sources.len() >= MAX_SOURCES {
                table.sweep(now, self.window);
            }
            if table.sources.len() >= MAX_SOURCES {
                table.sources.clear();
            }
        }
        let f = table.sources.entry(source.to_owned()).or_default();
        let key = if f.by_user.len() >= MAX_USERS_PER_SOURCE && !f.by_user.contains_key(user) {
            // Keep counting the source; lose only which user it was.
            String::new()
        } else {
            user.to_owned()
        };
        f.by_user.entry(key).or_default().push_back(now);
    }

    /// A successful login of `user` from `source`: that user's earlier
    /// failures from there are forgiven (other users' are not).
    pub fn succeeded(&self, source: &str, user: &str) {
        let mut table = self.table.lock();
        if let Some(f) = table.sources.get_mut(source) {
            f.by_user.remove(user);
            if f.by_user.is_empty() {
                table.sources.remove(source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_lock_the_source_not_the_account() {
        let l = RateLimiter::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.check("ip:1").is_ok());
            l.failed("ip:1", "admin");
        }
        let wait = l.check("ip:1").unwrap_err();
        assert!((59..=60).contains(&wait), "{wait}");
        // The same account from another source is not limited.
        assert!(l.check("ip:2").is_ok());
    }

    #[test]
    fn a_success_forgives_only_that_users_failures() {
        let l = RateLimiter::new(3, Duration::from_secs(60));
        l.failed("nat", "alice");
        l.failed("nat", "alice");
        l.failed("nat", "bob");
        assert!(l.check("nat").is_err());
        l.succeeded("nat", "alice");
        assert!(l.check("nat").is_ok(), "bob's one typo is left");
        l.failed("nat", "carol");
        l.failed("nat", "carol");
        assert!(l.check("nat").is_err());
    }

    #[test]
    fn failures_leave_the_window() {
        let l = RateLimiter::new(1, Duration::from_millis(30));
        l.failed("ip", "u");
        assert_eq!(l.check("ip"), Err(1), "a partial second rounds up");
        std::thread::sleep(Duration::from_millis(40));
        assert!(l.check("ip").is_ok());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(source_of(a), source_of(b));
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_ne!(source_of(a), source_of(c));
        let m: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(source_of(m), "192.0.2.7");
    }

    #[test]
    fn a_flood_of_sources_stays_bounded() {
        let l = RateLimiter::new(5, Duration::from_secs(60));
        for i in 0..(MAX_SOURCES + 10) {
            l.failed(&format!("s{i}"), "u");
        }
        assert!(l.table.lock().sources.len() <= MAX_SOURCES);
        for i in 0..200 {
            l.failed("one", &format!("user{i}"));
        }
        let table = l.table.lock();
        let map = &table.sources;
        assert!(map["one"].by_user.len() <= MAX_USERS_PER_SOURCE + 1);
        assert_eq!(map["one"].count(), 200, "every failure still counts");
    }
}
