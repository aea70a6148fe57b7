//! The login rate limiter.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Sliding-window limiter: at most `max` hits per `window` per key.
pub struct RateLimiter {
    max: usize,
    window: Duration,
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// Most keys tracked before expired ones are swept.
const LIMITER_SWEEP_AT: usize = 10_000;

impl RateLimiter {
    /// New limiter.
    pub fn new(max: u32, window: Duration) -> Self {
        RateLimiter {
            max: max.max(1) as usize,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Records one hit for every key unless any key is over the limit; then
    /// returns the seconds until the earliest retry can succeed.
    pub fn hit(&self, keys: &[String]) -> Result<(), u64> {
        let now = Instant::now();
        let mut map = self.hits.lock();
        if map.len() > LIMITER_SWEEP_AT {
            let window = self.window;
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        let mut wait = 0u64;
        for k in keys {
            if let Some(q) = map.get_mut(k) {
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    q.pop_front();
                }
                if q.len() >= self.max {
                    let oldest = *q.front().expect("non-empty");
                    let left = self.window.saturating_sub(now.duration_since(oldest));
                    wait = wait.max(left.as_secs() + 1);
                }
            }
        }
        if wait > 0 {
            return Err(wait);
        }
        for k in keys {
            map.entry(k.clone()).or_default().push_back(now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_blocks_after_max_per_key() {
        let l = RateLimiter::new(3, Duration::from_secs(60));
        let keys = vec!["ip:1".to_string(), "user:a".to_string()];
        for _ in 0..3 {
            assert!(l.hit(&keys).is_ok());
        }
        let wait = l.hit(&keys).unwrap_err();
        assert!((1..=61).contains(&wait));
        // Another user from the same IP is still limited by the IP key.
        assert!(l.hit(&["ip:1".into(), "user:b".into()]).is_err());
        assert!(l.hit(&["ip:2".into(), "user:b".into()]).is_ok());
    }
}
