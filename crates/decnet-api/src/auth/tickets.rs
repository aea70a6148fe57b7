//! Single-use SSE tickets: `EventSource` cannot send headers, so a
//! logged-in client trades its bearer token for a short-lived ticket.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::RngCore;
use uuid::Uuid;

use crate::error::ApiError;

/// Single-use SSE tickets.
pub struct Tickets {
    ttl: Duration,
    map: Mutex<HashMap<String, (Uuid, Instant)>>,
}

/// Most live tickets.
const MAX_TICKETS: usize = 10_000;

impl Tickets {
    /// New store with a ticket lifetime.
    pub fn new(ttl: Duration) -> Self {
        Tickets {
            ttl,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Mints a ticket for a user.
    pub fn mint(&self, user: Uuid) -> Result<String, ApiError> {
        let mut raw = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut raw);
        let t = hex::encode(raw);
        let now = Instant::now();
        let mut map = self.map.lock();
        map.retain(|_, (_, exp)| *exp > now);
        if map.len() >= MAX_TICKETS {
            return Err(ApiError::TooManyRequests {
                detail: "too many outstanding stream tickets".into(),
                retry_after: self.ttl.as_secs(),
            });
        }
        map.insert(t.clone(), (user, now + self.ttl));
        Ok(t)
    }

    /// Consumes a ticket: the user it was minted for, once.
    pub fn redeem(&self, ticket: &str) -> Option<Uuid> {
        let (user, exp) = self.map.lock().remove(ticket)?;
        (exp > Instant::now()).then_some(user)
    }

    /// Lifetime in seconds.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_are_single_use() {
        let t = Tickets::new(Duration::from_secs(60));
        let u = Uuid::new_v4();
        let tk = t.mint(u).unwrap();
        assert_eq!(t.redeem(&tk), Some(u));
        assert_eq!(t.redeem(&tk), None);
        let t0 = Tickets::new(Duration::from_secs(0));
        let tk = t0.mint(u).unwrap();
        assert_eq!(t0.redeem(&tk), None);
    }
}
