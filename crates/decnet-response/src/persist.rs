//! Persistence through the generic `Store` settings: what a [`Responder`]
//! restores at start (policy edits, bans, audit trail, bouncer keys) and
//! writes back when it changed.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;

use decnet_store::Store;

use crate::bans::{AuditEntry, BanSnapshot, BanTable};
use crate::bouncers::BouncerKey;
use crate::policy::Policy;
use crate::{Responder, ResponseError};

/// Store keys.
pub mod keys {
    /// Ban table snapshot.
    pub const BANS: &str = "response.bans";
    /// Audit trail.
    pub const AUDIT: &str = "response.audit";
    /// Bouncer keys (hashed).
    pub const BOUNCERS: &str = "response.bouncers";
    /// Policy `{fleet, effective}`.
    pub const POLICY: &str = "response.policy";
    /// Backend state prefix: `response.backend.<name>`.
    pub const BACKEND_PREFIX: &str = "response.backend.";
}

/// State a responder starts from.
pub(crate) struct Restored {
    /// The fleet's policy, or the API edit stored for this same fleet policy.
    pub(crate) policy: Policy,
    pub(crate) table: BanTable,
    pub(crate) audit: VecDeque<AuditEntry>,
    pub(crate) bouncers: Vec<BouncerKey>,
}

/// Reads what `store` holds (nothing without a store). Unreadable values
/// are skipped with a warning; a failing store is an error.
pub(crate) async fn restore(
    store: Option<&dyn Store>,
    fleet_raw: &BTreeMap<String, String>,
) -> Result<Restored, ResponseError> {
    let mut restored = Restored {
        policy: Policy::parse(fleet_raw)?,
        table: BanTable::new(),
        audit: VecDeque::new(),
        bouncers: Vec::new(),
    };
    let Some(s) = store else {
        return Ok(restored);
    };
    let get = |k: &'static str| async move {
        s.get_setting(k)
            .await
            .map_err(|e| ResponseError::Store(e.to_string()))
    };
    if let Some(v) = get(keys::POLICY).await? {
        let fleet: Option<BTreeMap<String, String>> =
            serde_json::from_value(v["fleet"].clone()).ok();
        let eff: Option<BTreeMap<String, String>> =
            serde_json::from_value(v["effective"].clone()).ok();
        // An API edit survives restarts until the fleet file changes.
        if let (Some(f), Some(e)) = (fleet, eff) {
            if &f == fleet_raw {
                match Policy::parse(&e) {
                    Ok(p) => restored.policy = p,
                    Err(err) => tracing::warn!(%err, "stored response policy ignored"),
                }
            }
        }
    }
    if let Some(v) = get(keys::BANS).await? {
        match serde_json::from_value::<BanSnapshot>(v) {
            Ok(snap) => restored.table = BanTable::restore(snap),
            Err(e) => tracing::warn!(error = %e, "stored bans unreadable; starting empty"),
        }
    }
    if let Some(v) = get(keys::AUDIT).await? {
        restored.audit = serde_json::from_value(v).unwrap_or_default();
    }
    if let Some(v) = get(keys::BOUNCERS).await? {
        restored.bouncers = serde_json::from_value(v).unwrap_or_default();
    }
    Ok(restored)
}

impl Responder {
    /// Marks bans, audit or bouncer keys as changed (written by the next
    /// [`Responder::persist`]).
    pub(crate) fn mark_dirty(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    /// Writes bans, audit and bouncer keys to the store if they changed, and
    /// the blocklist file if configured.
    pub async fn persist(&self) {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return;
        }
        let (bans, audit, bouncers, file) = {
            let i = self.inner.lock();
            (
                serde_json::to_value(i.table.snapshot()).unwrap_or_default(),
                serde_json::to_value(&i.audit).unwrap_or_default(),
                serde_json::to_value(&i.bouncers).unwrap_or_default(),
                i.policy.blocklist_file.clone(),
            )
        };
        if let Some(s) = &self.store {
            for (k, v) in [
                (keys::BANS, bans),
                (keys::AUDIT, audit),
                (keys::BOUNCERS, bouncers),
            ] {
                if let Err(e) = s.put_setting(k, &v).await {
                    tracing::warn!(key = k, error = %e, "cannot persist response state");
                    self.mark_dirty();
                }
            }
        }
        if let Some(path) = file {
            let body = self.blocklist_txt();
            let tmp = format!("{path}.tmp");
            let r = tokio::fs::write(&tmp, body).await;
            if r.is_ok() {
                let _ = tokio::fs::rename(&tmp, &path).await;
            }
        }
    }

    /// Stores the policy in force beside the fleet's, so an API edit
    /// outlives a restart with the same fleet file.
    pub(crate) async fn store_policy(
        &self,
        fleet: &BTreeMap<String, String>,
        effective: &BTreeMap<String, String>,
    ) -> Result<(), ResponseError> {
        if let Some(s) = &self.store {
            s.put_setting(
                keys::POLICY,
                &serde_json::json!({"fleet": fleet, "effective": effective}),
            )
            .await
            .map_err(|e| ResponseError::Store(e.to_string()))?;
        }
        Ok(())
    }
}
