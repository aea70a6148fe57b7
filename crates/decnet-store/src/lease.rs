//! Cluster-wide leases over the versioned documents ([`crate::docs`]).
//!
//! A lease is the document `lease/<name>`: `{holder, token, ttl_ms}`. It is
//! live until its `updated_at` plus `ttl_ms`; the holder renews it with a
//! compare-and-swap on the version it last wrote, so a holder that lost it
//! (expired and taken over) learns so on its next renewal instead of
//! silently overwriting the new holder. Taking over an expired lease is the
//! same CAS, so of two contenders exactly one wins. Expiry compares the
//! writer's clock with the reader's: servers sharing a store are assumed to
//! keep their clocks within a small fraction of the TTL of each other.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use uuid::Uuid;

use crate::{Doc, Store, StoreError, StoreResult};

/// Document kind of leases.
pub const KIND: &str = "lease";
/// The lease of the cluster's one intel engine (scale-out).
pub const INTEL: &str = "intel";

/// One tenure of a lease, checked inside a writer's transaction so a
/// replaced holder cannot commit (see [`Fence::check`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    /// Lease name.
    pub lease: String,
    /// Token of the tenure.
    pub token: Uuid,
}

/// Who holds a lease, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseInfo {
    /// Holder id (see [`Lease::new`]).
    pub holder: String,
    /// False once expired or released.
    pub live: bool,
}

/// One process' side of a named lease.
pub struct Lease {
    store: Arc<dyn Store>,
    name: String,
    holder: String,
    ttl: Duration,
    /// Version we last wrote and the token of our current tenure.
    held: Option<(i64, Uuid)>,
}

impl Lease {
    /// A lease `name` contended for as `holder` (unique per process), live
    /// for `ttl` after each successful acquire/renew.
    pub fn new(store: Arc<dyn Store>, name: &str, holder: &str, ttl: Duration) -> Self {
        Lease {
            store,
            name: name.to_owned(),
            holder: holder.to_owned(),
            ttl,
            held: None,
        }
    }

    /// This process' holder id.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The current tenure, while held.
    pub fn fence(&self) -> Option<Fence> {
        self.held.map(|(_, token)| Fence {
            lease: self.name.clone(),
            token,
        })
    }

    /// True after a successful [`Lease::acquire_or_renew`] not yet lost or released.
    pub fn is_held(&self) -> bool {
        self.held.is_some()
    }

    fn body(&self, token: Uuid, ttl: Duration) -> serde_json::Value {
        serde_json::json!({
            "holder": self.holder,
            "token": token,
            "ttl_ms": u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
        })
    }

    /// Renews the lease if held, else takes it if free or expired. `Ok(true)`
    /// means this process holds it for the next TTL; `Ok(false)` that another
    /// live holder has it (or took it over from us).
    pub async fn acquire_or_renew(&mut self) -> StoreResult<bool> {
        if let Some((v, token)) = self.held {
            return match self
                .store
                .doc_put(KIND, &self.name, None, Some(v), &self.body(token, self.ttl))
                .await
            {
                Ok(nv) => {
                    self.held = Some((nv, token));
                    Ok(true)
                }
                Err(StoreError::Conflict(_) | StoreError::NotFound(_)) => {
                    self.held = None;
                    Ok(false)
                }
                Err(e) => Err(e),
            };
        }
        let token = Uuid::new_v4();
        let body = self.body(token, self.ttl);
        let put = match self.store.doc_get(KIND, &self.name).await? {
            None => {
                self.store
                    .doc_put(KIND, &self.name, None, None, &body)
                    .await
            }
            Some(d) if !is_live(&d) => {
                self.store
                    .doc_put(KIND, &self.name, None, Some(d.version), &body)
                    .await
            }
            Some(_) => return Ok(false),
        };
        match put {
            Ok(v) => {
                self.held = Some((v, token));
                Ok(true)
            }
            Err(StoreError::Conflict(_) | StoreError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Gives the lease up at once (TTL 0) so another process need not wait
    /// for it to expire. A lease already lost is left alone.
    pub async fn release(&mut self) -> StoreResult<()> {
        if let Some((v, token)) = self.held.take() {
            match self
                .store
                .doc_put(
                    KIND,
                    &self.name,
                    None,
                    Some(v),
                    &self.body(token, Duration::ZERO),
                )
                .await
            {
                Ok(_) | Err(StoreError::Conflict(_) | StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Fence {
    /// Inside `tx`: `Conflict` unless this tenure still holds the lease.
    /// The no-op UPDATE locks the lease row until `tx` ends, so a takeover
    /// (a CAS UPDATE of that row) is ordered after this commit, never
    /// between the check and it. Expiry is not checked: a holder is
    /// replaced only by a takeover, which changes the token.
    pub(crate) async fn check(&self, tx: &mut sqlx::AnyConnection) -> StoreResult<()> {
        let r = sqlx::query(
            "UPDATE docs SET updated_at = updated_at WHERE kind = $1 AND id = $2 AND body LIKE $3",
        )
        .bind(KIND)
        .bind(self.lease.as_str())
        .bind(format!("%\"token\":\"{}\"%", self.token.hyphenated()))
        .execute(tx)
        .await
        .map_err(crate::db_err)?;
        if r.rows_affected() == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict(format!(
                "lease '{}' no longer held by this tenure",
                self.lease
            )))
        }
    }
}

fn is_live(d: &Doc) -> bool {
    let ttl_ms = d.body.get("ttl_ms").and_then(|t| t.as_i64()).unwrap_or(0);
    d.updated_at + chrono::Duration::milliseconds(ttl_ms) > Utc::now()
}

/// The stored state of lease `name`, if it was ever taken.
pub async fn info(store: &dyn Store, name: &str) -> StoreResult<Option<LeaseInfo>> {
    Ok(store.doc_get(KIND, name).await?.map(|d| LeaseInfo {
        holder: d
            .body
            .get("holder")
            .and_then(|h| h.as_str())
            .unwrap_or_default()
            .to_owned(),
        live: is_live(&d),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Arc<dyn Store>) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let s: Arc<dyn Store> = Arc::new(crate::SqlStore::connect(&url).await.unwrap());
        (dir, s)
    }

    #[tokio::test]
    async fn one_holder_at_a_time_takeover_after_expiry_and_release() {
        let (_d, s) = store().await;
        let ttl = Duration::from_millis(300);
        let mut a = Lease::new(s.clone(), "x", "a", ttl);
        let mut b = Lease::new(s.clone(), "x", "b", ttl);
        assert!(a.acquire_or_renew().await.unwrap());
        assert!(!b.acquire_or_renew().await.unwrap(), "a's lease is live");
        assert!(a.acquire_or_renew().await.unwrap(), "a renews");
        assert_eq!(info(&*s, "x").await.unwrap().unwrap().holder, "a");
        // a stops renewing: b takes over after the TTL, a learns it lost.
        tokio::time::sleep(ttl + Duration::from_millis(50)).await;
        assert!(!info(&*s, "x").await.unwrap().unwrap().live);
        assert!(b.acquire_or_renew().await.unwrap());
        assert!(!a.acquire_or_renew().await.unwrap(), "a lost it to b");
        assert!(!a.is_held());
        assert_eq!(
            info(&*s, "x").await.unwrap().unwrap(),
            LeaseInfo {
                holder: "b".into(),
                live: true
            }
        );
        // Release hands over at once.
        b.release().await.unwrap();
        assert!(a.acquire_or_renew().await.unwrap());
        // A holder that lost the lease without noticing releases nothing.
        tokio::time::sleep(ttl + Duration::from_millis(50)).await;
        assert!(b.acquire_or_renew().await.unwrap());
        a.release().await.unwrap();
        assert!(info(&*s, "x").await.unwrap().unwrap().live);
        assert!(b.acquire_or_renew().await.unwrap(), "b still holds it");
    }

    #[tokio::test]
    async fn a_replaced_holder_cannot_commit_an_intel_batch() {
        let (_d, s) = store().await;
        let ttl = Duration::from_millis(200);
        let mut a = Lease::new(s.clone(), "intel", "a", ttl);
        let mut b = Lease::new(s.clone(), "intel", "b", ttl);
        assert!(a.acquire_or_renew().await.unwrap());
        let batch = |fence: Option<Fence>, ip: &str| crate::IntelBatch {
            attackers: vec![(
                crate::AttackerRow {
                    ip: ip.into(),
                    first_seen: Utc::now(),
                    last_seen: Utc::now(),
                    event_count: 1,
                    ..Default::default()
                },
                serde_json::json!({}),
            )],
            fence,
            ..Default::default()
        };
        let fence_a = a.fence().unwrap();
        s.intel_apply(&batch(Some(fence_a.clone()), "10.0.0.1"))
            .await
            .unwrap();
        tokio::time::sleep(ttl + Duration::from_millis(50)).await;
        // Expired but not taken over: a's tenure still fences nothing out.
        s.intel_apply(&batch(Some(fence_a.clone()), "10.0.0.2"))
            .await
            .unwrap();
        assert!(b.acquire_or_renew().await.unwrap());
        assert!(matches!(
            s.intel_apply(&batch(Some(fence_a), "10.0.0.3")).await,
            Err(StoreError::Conflict(_))
        ));
        s.intel_apply(&batch(b.fence(), "10.0.0.4")).await.unwrap();
        let ips: Vec<String> = s
            .intel_load()
            .await
            .unwrap()
            .attackers
            .into_iter()
            .map(|(r, _)| r.ip)
            .collect();
        assert!(ips.contains(&"10.0.0.2".to_owned()) && ips.contains(&"10.0.0.4".to_owned()));
        assert!(
            !ips.contains(&"10.0.0.3".to_owned()),
            "fenced batch rolled back"
        );
    }

    #[tokio::test]
    async fn concurrent_contenders_exactly_one_wins() {
        let (_d, s) = store().await;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut l = Lease::new(s, "y", &format!("h{i}"), Duration::from_secs(5));
                l.acquire_or_renew().await.unwrap()
            }));
        }
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1);
    }
}
