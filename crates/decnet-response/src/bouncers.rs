//! CrowdSec bouncer API keys: the fleet file's (`bouncer_key`) and those
//! created over the API. Only a key's SHA-256 is kept; the secret is
//! returned once, at creation, and never logged.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::bans::Ban;
use crate::{Responder, ResponseError};

/// A bouncer API key (the secret is stored as its SHA-256 only).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BouncerKey {
    /// Bouncer name.
    pub name: String,
    /// Hex SHA-256 of the secret.
    pub key_sha256: String,
    /// Created at.
    pub created_at: DateTime<Utc>,
    /// Created by (username or `fleet`).
    pub created_by: String,
    /// Last decisions pull.
    #[serde(default)]
    pub last_pull: Option<DateTime<Utc>>,
}

/// Puts the policy's `bouncer_key`s (name, secret) into `bouncers`, each
/// replacing a stored key of the same name.
pub(crate) fn merge_fleet_keys(
    bouncers: &mut Vec<BouncerKey>,
    fleet_keys: &[(String, String)],
    now: DateTime<Utc>,
) {
    for (name, secret) in fleet_keys {
        bouncers.retain(|b| b.name != *name);
        bouncers.push(BouncerKey {
            name: name.clone(),
            key_sha256: sha256_hex(secret),
            created_at: now,
            created_by: "fleet".into(),
            last_pull: None,
        });
    }
}

impl Responder {
    /// Creates a bouncer key; returns it with the secret (shown once).
    pub fn create_bouncer(
        &self,
        actor: &str,
        name: &str,
    ) -> Result<(BouncerKey, String), ResponseError> {
        let name = name.trim();
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(ResponseError::Invalid(
                "bouncer name: 1-64 of [A-Za-z0-9._-]".into(),
            ));
        }
        let secret = {
            use rand::RngCore;
            let mut b = [0u8; 24];
            rand::rngs::OsRng.fill_bytes(&mut b);
            hex::encode(b)
        };
        let mut i = self.inner.lock();
        if i.bouncers.iter().any(|b| b.name == name) {
            return Err(ResponseError::Conflict(format!("bouncer {name} exists")));
        }
        let k = BouncerKey {
            name: name.to_owned(),
            key_sha256: sha256_hex(&secret),
            created_at: self.clock.now(),
            created_by: actor.to_owned(),
            last_pull: None,
        };
        i.bouncers.push(k.clone());
        self.audit(&mut i, actor, "bouncer_key.create", name, "");
        Ok((k, secret))
    }

    /// Deletes a bouncer key.
    pub fn delete_bouncer(&self, actor: &str, name: &str) -> Result<(), ResponseError> {
        let mut i = self.inner.lock();
        let before = i.bouncers.len();
        i.bouncers.retain(|b| b.name != name);
        if i.bouncers.len() == before {
            return Err(ResponseError::NotFound(format!("no bouncer {name}")));
        }
        i.cursors.remove(name);
        self.audit(&mut i, actor, "bouncer_key.delete", name, "");
        Ok(())
    }

    /// Bouncer keys (hashes only).
    pub fn bouncers(&self) -> Vec<BouncerKey> {
        self.inner.lock().bouncers.clone()
    }

    /// The bouncer owning `secret`, recording the pull.
    pub(crate) fn authenticate_bouncer(&self, secret: &str) -> Option<String> {
        let h = sha256_hex(secret);
        let now = self.clock.now();
        let mut i = self.inner.lock();
        let b = i.bouncers.iter_mut().find(|b| ct_eq(&b.key_sha256, &h))?;
        b.last_pull = Some(now);
        Some(b.name.clone())
    }

    /// Decisions for a bouncer stream pull: all on `startup`, else the delta
    /// since its last pull. Dry-run bans are never served.
    pub(crate) fn stream_for(
        &self,
        bouncer: &str,
        startup: bool,
    ) -> (Vec<Arc<Ban>>, Vec<Arc<Ban>>) {
        let mut i = self.inner.lock();
        let cursor = i.table.cursor();
        let prev = i.cursors.insert(bouncer.to_owned(), cursor);
        let (new, deleted) = match (startup, prev) {
            (false, Some(c)) => i.table.delta(c),
            _ => (i.table.active().cloned().collect(), Vec::new()),
        };
        (
            new.into_iter().filter(|b| !b.dry_run).collect(),
            deleted.into_iter().filter(|b| !b.dry_run).collect(),
        )
    }
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

/// Equality in time independent of where the strings differ.
fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_keys_replace_stored_ones_by_name_and_keep_only_a_hash() {
        let t0: DateTime<Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
        let mut keys = vec![BouncerKey {
            name: "fw0".into(),
            key_sha256: sha256_hex("old-secret-0123456789"),
            created_at: t0,
            created_by: "alice".into(),
            last_pull: Some(t0),
        }];
        let secret = "new-secret-0123456789";
        merge_fleet_keys(&mut keys, &[("fw0".into(), secret.into())], t0);
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].created_by, "fleet");
        assert_eq!(keys[0].key_sha256, sha256_hex(secret));
        assert!(!serde_json::to_string(&keys).unwrap().contains(secret));
    }

    #[test]
    fn constant_time_comparison_is_equality() {
        assert!(ct_eq("abc", "abc"));
        assert!(!ct_eq("abc", "abd"));
        assert!(!ct_eq("abc", "abcd"));
    }
}
