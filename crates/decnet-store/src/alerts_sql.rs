//! Alert history (migration 9): every alert the alerts engine raised and
//! the delivery state of each (alert, channel) message, so the history
//! survives a restart and every API server sharing the store shows the same.
//!
//! The store knows nothing of the alerts crate: an alert is kept as its JSON
//! text beside the columns a page is ordered and filtered by. Written by one
//! task per engine, in batches; read by the API.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use uuid::Uuid;

use crate::sql::{from_us, parse_uuid, us, SqlStore};
use crate::{db_err, StoreError, StoreResult};

/// One alert as raised.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRow {
    /// Alert id.
    pub alert_id: Uuid,
    /// When it was raised.
    pub ts: DateTime<Utc>,
    /// Rule id.
    pub rule: String,
    /// Source identity (identity, address or subject key), when it has one.
    pub source: Option<String>,
    /// The alert, as JSON.
    pub alert: serde_json::Value,
}

/// One channel's delivery of one alert.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeliveryRow {
    /// Channel name.
    pub channel: String,
    /// `queued`, `sending`, `retrying`, `sent`, `failed`, `dropped`.
    pub state: String,
    /// Attempts so far.
    pub attempts: u32,
    /// Last error (already scrubbed of secrets by the alerts crate).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A change to the history.
#[derive(Clone, Debug, PartialEq)]
pub enum AlertHistoryWrite {
    /// A new alert and its first deliveries (a replay of a known alert or
    /// delivery changes nothing already stored).
    Raised(AlertRow, Vec<DeliveryRow>),
    /// A delivery's new state (inserted if it was not stored yet).
    Delivery(Uuid, DeliveryRow),
}

/// An alert with its deliveries.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertHistoryEntry {
    /// The alert, as JSON.
    pub alert: serde_json::Value,
    /// One per channel it was routed to, by channel name.
    pub deliveries: Vec<DeliveryRow>,
}

/// Alert history persistence (a supertrait of `Store`).
#[async_trait]
pub trait AlertHistoryStore: Send + Sync {
    /// Applies changes in order, in one transaction.
    async fn alert_history_write(&self, writes: &[AlertHistoryWrite]) -> StoreResult<()>;
    /// Alerts newest first with their deliveries, and how many are stored.
    async fn alert_history_page(
        &self,
        limit: u32,
        offset: u64,
    ) -> StoreResult<(u64, Vec<AlertHistoryEntry>)>;
    /// One alert.
    async fn alert_history_get(&self, id: Uuid) -> StoreResult<Option<AlertHistoryEntry>>;
    /// Retention: removes alerts raised before `older_than` and all but the
    /// newest `keep` alerts; returns how many went.
    async fn alert_history_prune(
        &self,
        older_than: Option<DateTime<Utc>>,
        keep: Option<u64>,
    ) -> StoreResult<u64>;
}

const DELIVERY_COLS: &str = "alert_id, channel, state, attempts, last_error, updated_at";

fn attempts(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

impl SqlStore {
    async fn deliveries_of(&self, ids: &[String]) -> StoreResult<Vec<(String, DeliveryRow)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT {DELIVERY_COLS} FROM alert_deliveries WHERE alert_id IN ({}) ORDER BY alert_id, channel",
            marks.join(",")
        );
        let mut q = sqlx::query(&sql);
        for id in ids {
            q = q.bind(id);
        }
        q.fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>(0).map_err(db_err)?,
                    DeliveryRow {
                        channel: r.try_get(1).map_err(db_err)?,
                        state: r.try_get(2).map_err(db_err)?,
                        attempts: attempts(r.try_get(3).map_err(db_err)?),
                        last_error: r.try_get(4).map_err(db_err)?,
                        updated_at: from_us(r.try_get(5).map_err(db_err)?)?,
                    },
                ))
            })
            .collect()
    }

    async fn entries(&self, rows: Vec<(String, String)>) -> StoreResult<Vec<AlertHistoryEntry>> {
        let ids: Vec<String> = rows.iter().map(|(id, _)| id.clone()).collect();
        let mut deliveries = self.deliveries_of(&ids).await?;
        rows.into_iter()
            .map(|(id, text)| {
                parse_uuid(&id)?;
                let alert = serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("alert {id}: {e}")))?;
                let mine = deliveries
                    .iter()
                    .filter(|(a, _)| *a == id)
                    .map(|(_, d)| d.clone())
                    .collect();
                deliveries.retain(|(a, _)| *a != id);
                Ok(AlertHistoryEntry {
                    alert,
                    deliveries: mine,
                })
            })
            .collect()
    }
}

#[async_trait]
impl AlertHistoryStore for SqlStore {
    async fn alert_history_write(&self, writes: &[AlertHistoryWrite]) -> StoreResult<()> {
        if writes.is_empty() {
            return Ok(());
        }
        let insert_delivery = format!(
            "INSERT INTO alert_deliveries ({DELIVERY_COLS}) VALUES ($1,$2,$3,$4,$5,$6) \
             ON CONFLICT (alert_id, channel) DO NOTHING"
        );
        let upsert_delivery = format!(
            "INSERT INTO alert_deliveries ({DELIVERY_COLS}) VALUES ($1,$2,$3,$4,$5,$6) \
             ON CONFLICT (alert_id, channel) DO UPDATE SET state = excluded.state, \
             attempts = excluded.attempts, last_error = COALESCE(excluded.last_error, alert_deliveries.last_error), \
             updated_at = excluded.updated_at"
        );
        let mut tx = self.write.begin().await.map_err(db_err)?;
        for w in writes {
            let (id, rows, sql) = match w {
                AlertHistoryWrite::Raised(a, ds) => {
                    sqlx::query(
                        "INSERT INTO alert_history (alert_id, ts, rule, source, alert) \
                         VALUES ($1,$2,$3,$4,$5) ON CONFLICT (alert_id) DO NOTHING",
                    )
                    .bind(a.alert_id.to_string())
                    .bind(us(a.ts))
                    .bind(&a.rule)
                    .bind(a.source.clone())
                    .bind(a.alert.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    (a.alert_id, ds.as_slice(), &insert_delivery)
                }
                AlertHistoryWrite::Delivery(id, d) => {
                    (*id, std::slice::from_ref(d), &upsert_delivery)
                }
            };
            for d in rows {
                sqlx::query(sql)
                    .bind(id.to_string())
                    .bind(&d.channel)
                    .bind(&d.state)
                    .bind(i64::from(d.attempts))
                    .bind(d.last_error.clone())
                    .bind(us(d.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
        }
        tx.commit().await.map_err(db_err)
    }

    async fn alert_history_page(
        &self,
        limit: u32,
        offset: u64,
    ) -> StoreResult<(u64, Vec<AlertHistoryEntry>)> {
        let total: i64 = sqlx::query("SELECT COUNT(*) FROM alert_history")
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?
            .try_get(0)
            .map_err(db_err)?;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT alert_id, alert FROM alert_history ORDER BY ts DESC, alert_id DESC LIMIT $1 OFFSET $2",
        )
        .bind(i64::from(limit))
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .fetch_all(&self.read)
        .await
        .map_err(db_err)?;
        Ok((u64::try_from(total).unwrap_or(0), self.entries(rows).await?))
    }

    async fn alert_history_get(&self, id: Uuid) -> StoreResult<Option<AlertHistoryEntry>> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT alert_id, alert FROM alert_history WHERE alert_id = $1")
                .bind(id.to_string())
                .fetch_all(&self.read)
                .await
                .map_err(db_err)?;
        Ok(self.entries(rows).await?.pop())
    }

    async fn alert_history_prune(
        &self,
        older_than: Option<DateTime<Utc>>,
        keep: Option<u64>,
    ) -> StoreResult<u64> {
        let mut cutoff = older_than.map(us);
        if let Some(keep) = keep {
            // The ts of the newest row beyond the cap: it and older go.
            let beyond: Option<(i64,)> =
                sqlx::query_as("SELECT ts FROM alert_history ORDER BY ts DESC LIMIT 1 OFFSET $1")
                    .bind(i64::try_from(keep).unwrap_or(i64::MAX))
                    .fetch_optional(&self.read)
                    .await
                    .map_err(db_err)?;
            if let Some((ts,)) = beyond {
                cutoff = Some(cutoff.map_or(ts + 1, |c| c.max(ts + 1)));
            }
        }
        let Some(cutoff) = cutoff else { return Ok(0) };
        let mut tx = self.write.begin().await.map_err(db_err)?;
        sqlx::query(
            "DELETE FROM alert_deliveries WHERE alert_id IN \
             (SELECT alert_id FROM alert_history WHERE ts < $1)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        let n = sqlx::query("DELETE FROM alert_history WHERE ts < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        tx.commit().await.map_err(db_err)?;
        Ok(n)
    }
}
