//! Versioned JSON documents with optimistic concurrency.
//!
//! Topologies, their LANs/deckies/edges and their mutation queue are small,
//! hierarchical and edited concurrently; they live here as documents with a
//! version number. `doc_put` with the version the writer read is a
//! compare-and-swap: exactly one of two concurrent writers wins, the other
//! gets `StoreError::Conflict`. Claiming a queued mutation is the same CAS,
//! so two workers never apply the same one.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::sql::{from_us, us, SqlStore};
use crate::{db_err, StoreError, StoreResult};

/// A stored document.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Doc {
    /// Collection (`topology`, `topology_mutation`…).
    pub kind: String,
    /// Id within the collection.
    pub id: String,
    /// Owning document id (e.g. the topology of a mutation).
    pub parent: Option<String>,
    /// Incremented by every successful write; starts at 1.
    pub version: i64,
    /// Body.
    pub body: serde_json::Value,
    /// Last write.
    pub updated_at: DateTime<Utc>,
}

/// Versioned document storage (a supertrait of `Store`).
#[async_trait]
pub trait DocStore: Send + Sync {
    /// One document.
    async fn doc_get(&self, kind: &str, id: &str) -> StoreResult<Option<Doc>>;
    /// All documents of a kind (optionally of one parent), oldest first.
    async fn doc_list(&self, kind: &str, parent: Option<&str>) -> StoreResult<Vec<Doc>>;
    /// Creates (`expected_version = None`: must not exist) or replaces a
    /// document whose stored version equals `expected_version`. Returns the
    /// new version; `Conflict` when the document exists / changed meanwhile,
    /// `NotFound` when updating a missing one.
    async fn doc_put(
        &self,
        kind: &str,
        id: &str,
        parent: Option<&str>,
        expected_version: Option<i64>,
        body: &serde_json::Value,
    ) -> StoreResult<i64>;
    /// Deletes a document (and, for convenience, every document whose parent it is).
    async fn doc_delete(&self, kind: &str, id: &str) -> StoreResult<bool>;
}

const CREATE: &str = "CREATE TABLE IF NOT EXISTS docs (kind TEXT NOT NULL, id TEXT NOT NULL, parent TEXT, version BIGINT NOT NULL, body TEXT NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (kind, id))";

impl SqlStore {
    async fn ensure_docs(&self) -> StoreResult<()> {
        // Two first users of a fresh PostgreSQL database racing: the
        // loser's CREATE TABLE IF NOT EXISTS fails on the catalog's unique
        // index (pg_type) instead of seeing the table. Once the winner has
        // committed the same statement is a no-op, so it is tried again.
        for pause_ms in [20, 100] {
            if sqlx::query(CREATE).execute(&self.write).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
        }
        sqlx::query(CREATE)
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

fn row_to_doc(r: &sqlx::any::AnyRow) -> StoreResult<Doc> {
    let body: String = r.try_get("body").map_err(db_err)?;
    Ok(Doc {
        kind: r.try_get("kind").map_err(db_err)?,
        id: r.try_get("id").map_err(db_err)?,
        parent: r.try_get("parent").map_err(db_err)?,
        version: r.try_get("version").map_err(db_err)?,
        body: serde_json::from_str(&body).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        updated_at: from_us(r.try_get("updated_at").map_err(db_err)?)?,
    })
}

#[async_trait]
impl DocStore for SqlStore {
    async fn doc_get(&self, kind: &str, id: &str) -> StoreResult<Option<Doc>> {
        self.ensure_docs().await?;
        let row = sqlx::query("SELECT kind, id, parent, version, body, updated_at FROM docs WHERE kind = $1 AND id = $2")
            .bind(kind)
            .bind(id)
            .fetch_optional(&self.write)
            .await
            .map_err(db_err)?;
        row.as_ref().map(row_to_doc).transpose()
    }

    async fn doc_list(&self, kind: &str, parent: Option<&str>) -> StoreResult<Vec<Doc>> {
        self.ensure_docs().await?;
        let rows = match parent {
            Some(p) => sqlx::query("SELECT kind, id, parent, version, body, updated_at FROM docs WHERE kind = $1 AND parent = $2 ORDER BY id")
                .bind(kind)
                .bind(p)
                .fetch_all(&self.write)
                .await,
            None => sqlx::query("SELECT kind, id, parent, version, body, updated_at FROM docs WHERE kind = $1 ORDER BY id")
                .bind(kind)
                .fetch_all(&self.write)
                .await,
        }
        .map_err(db_err)?;
        rows.iter().map(row_to_doc).collect()
    }

    async fn doc_put(
        &self,
        kind: &str,
        id: &str,
        parent: Option<&str>,
        expected_version: Option<i64>,
        body: &serde_json::Value,
    ) -> StoreResult<i64> {
        self.ensure_docs().await?;
        let text = body.to_string();
        let now = us(Utc::now());
        match expected_version {
            None => {
                let insert = sqlx::query(
                    "INSERT INTO docs (kind, id, parent, version, body, updated_at) VALUES ($1, $2, $3, 1, $4, $5) ON CONFLICT (kind, id) DO NOTHING",
                )
                .bind(kind)
                .bind(id)
                .bind(parent)
                .bind(text)
                .bind(now);
                if self.write_rows(insert).await? == 1 {
                    Ok(1)
                } else {
                    Err(StoreError::Conflict(format!(
                        "{kind} '{id}' already exists"
                    )))
                }
            }
            Some(v) => {
                let update = sqlx::query(
                    "UPDATE docs SET body = $1, version = version + 1, updated_at = $2 WHERE kind = $3 AND id = $4 AND version = $5",
                )
                .bind(text)
                .bind(now)
                .bind(kind)
                .bind(id)
                .bind(v);
                if self.write_rows(update).await? == 1 {
                    return Ok(v + 1);
                }
                match self.doc_get(kind, id).await? {
                    None => Err(StoreError::NotFound(format!("{kind} '{id}'"))),
                    Some(d) => Err(StoreError::Conflict(format!(
                        "{kind} '{id}' is at version {}, not {v}",
                        d.version
                    ))),
                }
            }
        }
    }

    async fn doc_delete(&self, kind: &str, id: &str) -> StoreResult<bool> {
        self.ensure_docs().await?;
        let r = sqlx::query("DELETE FROM docs WHERE kind = $1 AND id = $2")
            .bind(kind)
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM docs WHERE parent = $1")
            .bind(id)
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected() > 0)
    }
}
