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
