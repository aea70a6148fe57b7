//! Passwords (argon2id), JWTs (HS256, `uuid jti iat exp iss aud`), the
//! login rate limiter, SSE tickets and the role extractors.
//!
//! Extractors run in argument order and all of these read only the request
//! head, so a handler written `fn h(_: Admin, ApiJson(body): ApiJson<T>)`
//! rejects a viewer (403) before the body is read or validated.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use decnet_store::{Role, User};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use parking_lot::Mutex;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;

/// Token issuer.
pub const ISSUER: &str = "decnet";
/// Token audience.
pub const AUDIENCE: &str = "decnet-dashboard";
/// Token lifetime.
pub const TOKEN_TTL: Duration = Duration::from_secs(240 * 60);

/// Hashes a password with argon2id (on the blocking pool: it is CPU-heavy).
pub async fn hash_password(password: &str) -> Result<String, ApiError> {
    let pw = password.to_owned();
    tokio::task::spawn_blocking(move || hash_password_blocking(&pw))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// Synchronous argon2id hash, for the CLI.
pub fn hash_password_blocking(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Verifies a password against a PHC string; false on any malformed hash.
pub fn verify_password_blocking(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// Async wrapper of [`verify_password_blocking`]. With `None` it burns the
/// same time against a dummy hash so unknown usernames are not faster.
pub async fn verify_password(password: &str, phc: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let pw = password.to_owned();
    let known = phc.is_some();
    let phc = match phc {
        Some(p) => p.to_owned(),
        None => DUMMY
            .get_or_init(|| hash_password_blocking("decnet-dummy-password").unwrap_or_default())
            .clone(),
    };
    tokio::task::spawn_blocking(move || verify_password_blocking(&pw, &phc))
        .await
        .unwrap_or(false)
        && known
}

/// A random password: 20 characters from an unambiguous alphabet.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut bytes = [0u8; 20];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// JWT claims, exactly these.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    /// User id.
    pub uuid: Uuid,
    /// Token id (revocation key).
    pub jti: Uuid,
    /// Issued at (unix seconds).
    pub iat: i64,
    /// Expiry (unix seconds).
    pub exp: i64,
    /// `decnet`.
    pub iss: String,
    /// `decnet-dashboard`.
    pub aud: String,
}

/// HS256 signing and verification keys.
pub struct Keys {
    enc: EncodingKey,
    dec: DecodingKey,
    validation: Validation,
}

impl Keys {
    /// Keys from a secret (callers guarantee ≥ 32 bytes).
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud"]);
        validation.leeway = 0;
        Keys {
            enc: EncodingKey::from_secret(secret),
            dec: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Issues a token for a user.
    pub fn issue(&self, user: Uuid) -> Result<(String, Claims), ApiError> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            uuid: user,
            jti: Uuid::new_v4(),
            iat: now,
            exp: now + TOKEN_TTL.as_secs() as i64,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.enc)
            .map_err(ApiError::internal)?;
        Ok((token, claims))
    }

    /// Verifies signature, algorithm, issuer, audience and expiry.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        if token.len() > 4096 {
            return None;
        }
        jsonwebtoken::decode::<Claims>(token, &self.dec, &self.validation)
            .ok()
            .map(|d| d.claims)
    }
}

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

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    /// Their row.
    pub user: User,
    /// The token's claims (absent for ticket-authenticated streams).
    pub claims: Option<Claims>,
}

fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn unauthorized() -> ApiError {
    ApiError::Unauthorized("Could not validate credentials".into())
}

/// Resolves a bearer token to a live user: signature, expiry, revocation,
/// user still present, token not older than the last password change.
/// Served from [`crate::token_cache`] for up to its TTL.
pub async fn resolve_token(state: &AppState, token: &str) -> Result<CurrentUser, ApiError> {
    if let Some(u) = state.token_cache.get(token) {
        return Ok(u);
    }
    let generation = state.token_cache.generation();
    let u = resolve_token_uncached(state, token).await?;
    state.token_cache.insert(token, u.clone(), generation);
    Ok(u)
}

async fn resolve_token_uncached(state: &AppState, token: &str) -> Result<CurrentUser, ApiError> {
    let claims = state.keys.verify(token).ok_or_else(unauthorized)?;
    if state.store.is_token_revoked(claims.jti).await? {
        return Err(unauthorized());
    }
    let user = state
        .store
        .user_by_id(claims.uuid)
        .await?
        .ok_or_else(unauthorized)?;
    if claims.iat < user.password_changed_at.timestamp() {
        return Err(unauthorized());
    }
    Ok(CurrentUser {
        user,
        claims: Some(claims),
    })
}

/// Any valid token, even with a password change pending (change-password
/// and logout only).
pub struct Authenticated(pub CurrentUser);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(unauthorized)?;
        Ok(Authenticated(resolve_token(state, token).await?))
    }
}

fn require_ready(u: CurrentUser) -> Result<CurrentUser, ApiError> {
    if u.user.must_change_password {
        return Err(ApiError::Forbidden(
            "Password change required before using the API".into(),
        ));
    }
    Ok(u)
}

fn require_admin(u: CurrentUser) -> Result<CurrentUser, ApiError> {
    let u = require_ready(u)?;
    if u.user.role != Role::Admin {
        return Err(ApiError::Forbidden("Admin access required".into()));
    }
    Ok(u)
}

/// Viewer or admin, no password change pending.
pub struct Viewer(pub CurrentUser);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Authenticated(u) = Authenticated::from_request_parts(parts, state).await?;
        Ok(Viewer(require_ready(u)?))
    }
}

/// Admin, no password change pending. Use on every mutating route.
pub struct Admin(pub CurrentUser);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Authenticated(u) = Authenticated::from_request_parts(parts, state).await?;
        Ok(Admin(require_admin(u)?))
    }
}

/// Stream viewer: a bearer header, or `?ticket=` (single use, 60 s).
pub struct StreamViewer(pub CurrentUser);

impl FromRequestParts<AppState> for StreamViewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if bearer(parts).is_some() {
            let Viewer(u) = Viewer::from_request_parts(parts, state).await?;
            return Ok(StreamViewer(u));
        }
        let ticket = parts
            .uri
            .query()
            .and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "ticket")
                    .map(|(_, v)| v.into_owned())
            })
            .ok_or_else(unauthorized)?;
        let uuid = state.tickets.redeem(&ticket).ok_or_else(unauthorized)?;
        let user = state
            .store
            .user_by_id(uuid)
            .await?
            .ok_or_else(unauthorized)?;
        Ok(StreamViewer(require_ready(CurrentUser {
            user,
            claims: None,
        })?))
    }
}

/// Expiry of claims as a timestamp.
pub fn claims_expiry(c: &Claims) -> DateTime<Utc> {
    DateTime::from_timestamp(c.exp, 0).unwrap_or_else(Utc::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_roundtrip_and_forgery() {
        let k = Keys::new(&[7u8; 32]);
        let (t, c) = k.issue(Uuid::new_v4()).unwrap();
        assert_eq!(k.verify(&t), Some(c.clone()));
        assert_eq!(c.exp - c.iat, 240 * 60);
        let other = Keys::new(&[8u8; 32]);
        assert!(other.verify(&t).is_none());
        let mut bad = t.clone();
        bad.pop();
        assert!(k.verify(&bad).is_none());
    }

    #[test]
    fn argon2id_hashes_verify() {
        let h = hash_password_blocking("s3cret-pass").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password_blocking("s3cret-pass", &h));
        assert!(!verify_password_blocking("wrong", &h));
        assert!(!verify_password_blocking("x", "not a hash"));
    }

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
