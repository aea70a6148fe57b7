//! Short-lived cache of verified bearer tokens → their user, so a dashboard
//! polling `/logs` does not pay two database round trips (revocation, user
//! row) per request.
//!
//! Staleness: an entry lives at most the TTL (3 s by default). Logout,
//! password change/reset, role change and user deletion *in this process*
//! drop the affected entries at once; the same actions taken by another
//! server sharing the store take effect here within the TTL.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use parking_lot::Mutex;
use uuid::Uuid;

use crate::auth::token::CurrentUser;

/// Default lifetime of a cached resolution.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3);
/// Default most tokens cached.
pub const DEFAULT_MAX: usize = 4096;

struct Entry {
    user: CurrentUser,
    at: Instant,
}

struct Inner {
    map: HashMap<String, Entry>,
    /// Bumped by every invalidation; a resolution that started before an
    /// invalidation is not cached (it may have read the old rows).
    generation: u64,
}

/// Bounded token → user cache with a TTL.
pub struct TokenCache {
    ttl: Duration,
    max: usize,
    inner: Mutex<Inner>,
}

impl TokenCache {
    /// New cache; `max` is clamped to at least 1.
    pub fn new(ttl: Duration, max: usize) -> Self {
        TokenCache {
            ttl,
            max: max.max(1),
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                generation: 0,
            }),
        }
    }

    /// The generation to pass to [`TokenCache::insert`]; read it before the
    /// database lookups.
    pub fn generation(&self) -> u64 {
        self.inner.lock().generation
    }

    /// The cached user of a token, if fresh and the token not yet expired.
    pub fn get(&self, token: &str) -> Option<CurrentUser> {
        let now = Instant::now();
        let inner = self.inner.lock();
        let e = inner.map.get(token)?;
        let unexpired = e
            .user
            .claims
            .as_ref()
            .is_some_and(|c| c.exp > Utc::now().timestamp());
        (now.duration_since(e.at) < self.ttl && unexpired).then(|| e.user.clone())
    }

    /// Caches a resolution made at `generation`, unless an invalidation
    /// happened since. When full, stale entries go first, then everything
    /// (a burst of distinct tokens costs lookups, never unbounded memory).
    pub fn insert(&self, token: &str, user: CurrentUser, generation: u64) {
        let now = Instant::now();
        let mut inner = self.inner.lock();
        if inner.generation != generation {
            return;
        }
        if inner.map.len() >= self.max && !inner.map.contains_key(token) {
            let ttl = self.ttl;
            inner.map.retain(|_, e| now.duration_since(e.at) < ttl);
            if inner.map.len() >= self.max {
                inner.map.clear();
            }
        }
        inner.map.insert(token.to_owned(), Entry { user, at: now });
    }

    /// Drops every token with this id (logout).
    pub fn forget_token(&self, jti: Uuid) {
        self.forget(|u| u.claims.as_ref().is_some_and(|c| c.jti == jti));
    }

    /// Drops every token of this user (password, role or deletion).
    pub fn forget_user(&self, user: Uuid) {
        self.forget(|u| u.user.uuid == user);
    }

    fn forget(&self, matches: impl Fn(&CurrentUser) -> bool) {
        let mut inner = self.inner.lock();
        inner.generation += 1;
        inner.map.retain(|_, e| !matches(&e.user));
    }

    /// Entries held (fresh or not).
    pub fn len(&self) -> usize {
        self.inner.lock().map.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::token::Claims;
    use decnet_store::{Role, User};

    fn user(id: Uuid, jti: Uuid, exp_in: i64) -> CurrentUser {
        let now = Utc::now();
        CurrentUser {
            user: User {
                uuid: id,
                username: "u".into(),
                password_hash: String::new(),
                role: Role::Viewer,
                must_change_password: false,
                password_changed_at: now,
                created_at: now,
            },
            claims: Some(Claims {
                uuid: id,
                jti,
                iat: now.timestamp(),
                exp: now.timestamp() + exp_in,
                iss: "decnet".into(),
                aud: "decnet-dashboard".into(),
            }),
        }
    }

    #[test]
    fn bounded_and_expiring() {
        let c = TokenCache::new(Duration::from_secs(60), 8);
        for i in 0..100 {
            let g = c.generation();
            c.insert(
                &format!("t{i}"),
                user(Uuid::new_v4(), Uuid::new_v4(), 60),
                g,
            );
            assert!(c.len() <= 8, "{} entries", c.len());
        }
        assert!(c.get("t99").is_some());
        // A token past its exp is never served from the cache.
        let g = c.generation();
        c.insert("old", user(Uuid::new_v4(), Uuid::new_v4(), -1), g);
        assert!(c.get("old").is_none());
        // Past the TTL an entry is not served either.
        let short = TokenCache::new(Duration::from_millis(20), 8);
        let g = short.generation();
        short.insert("t", user(Uuid::new_v4(), Uuid::new_v4(), 60), g);
        assert!(short.get("t").is_some());
        std::thread::sleep(Duration::from_millis(30));
        assert!(short.get("t").is_none());
    }

    #[test]
    fn invalidation_drops_and_blocks_racing_inserts() {
        let c = TokenCache::new(Duration::from_secs(60), 8);
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let (j1, j2) = (Uuid::new_v4(), Uuid::new_v4());
        let g = c.generation();
        c.insert("a1", user(alice, j1, 60), g);
        c.insert("a2", user(alice, j2, 60), g);
        c.insert("b", user(bob, Uuid::new_v4(), 60), g);
        c.forget_token(j1);
        assert!(c.get("a1").is_none());
        assert!(c.get("a2").is_some());
        // A lookup that began before the logout must not re-add the token.
        c.insert("a1", user(alice, j1, 60), g);
        assert!(c.get("a1").is_none());
        c.forget_user(alice);
        assert!(c.get("a2").is_none());
        assert!(c.get("b").is_some());
    }
}
