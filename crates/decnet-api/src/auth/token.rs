//! Bearer tokens: HS256 JWTs with exactly `uuid jti iat exp iss aud`,
//! and the caller they resolve to.

use std::time::Duration;

use chrono::{DateTime, Utc};
use decnet_store::User;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;

/// Token issuer.
pub const ISSUER: &str = "decnet";
/// Token audience.
pub const AUDIENCE: &str = "decnet-dashboard";
/// Token lifetime.
pub const TOKEN_TTL: Duration = Duration::from_secs(240 * 60);

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

impl Claims {
    /// When the token was issued, in unix milliseconds. `iat` has whole
    /// seconds only, so a token issued in the same second as a password
    /// change could not be told apart from one issued after it; the `jti`
    /// is a UUIDv7, whose timestamp has milliseconds. (Tokens with another
    /// kind of `jti` fall back to `iat`.)
    pub fn issued_at_ms(&self) -> i64 {
        match self.jti.get_timestamp() {
            Some(ts) if self.jti.get_version_num() == 7 => {
                let (secs, nanos) = ts.to_unix();
                i64::try_from(secs).unwrap_or(i64::MAX) * 1000 + i64::from(nanos / 1_000_000)
            }
            _ => self.iat.saturating_mul(1000),
        }
    }

    /// True when the token predates `changed` (a password change, reset or
    /// role change of its user): it must no longer be accepted.
    pub fn predates(&self, changed: DateTime<Utc>) -> bool {
        self.issued_at_ms() < changed.timestamp_millis()
    }
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
            jti: Uuid::now_v7(),
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

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    /// Their row.
    pub user: User,
    /// The token's claims (absent for ticket-authenticated streams).
    pub claims: Option<Claims>,
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
    fn a_token_is_ordered_against_a_change_to_the_millisecond() {
        let k = Keys::new(&[7u8; 32]);
        let (_, before) = k.issue(Uuid::new_v4()).unwrap();
        std::thread::sleep(Duration::from_millis(3));
        let changed = Utc::now();
        std::thread::sleep(Duration::from_millis(3));
        let (_, after) = k.issue(Uuid::new_v4()).unwrap();
        // Same second, most likely: `iat` alone could not tell them apart.
        assert!(before.predates(changed));
        assert!(!after.predates(changed));
        // A token whose jti carries no time is judged by `iat`.
        let old = Claims {
            jti: Uuid::new_v4(),
            ..before
        };
        assert_eq!(old.issued_at_ms(), old.iat * 1000);
    }
}
