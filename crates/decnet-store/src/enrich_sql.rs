//! Online enrichment of attacker addresses (migration 12): what a
//! reputation service (AbuseIPDB, GreyNoise) answered about an address,
//! kept per (address, provider) with the time it was fetched.
//!
//! The store knows no provider: an answer is its kept fields as JSON, plus
//! an optional numeric `score` the attackers list filters on. Written by
//! the enrichment worker behind intel; read by the API, which sees each
//! answer inside the attacker row (`enrichment.<provider>`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::model::AttackerRow;
use crate::sql::{from_us, us, SqlStore};
use crate::{db_err, Backend, StoreError, StoreResult};

/// The provider whose `score` the attackers list's `min_score` filters on.
pub const SCORED_PROVIDER: &str = "abuseipdb";

/// One provider's answer about one address.
#[derive(Clone, Debug, PartialEq)]
pub struct EnrichmentRow {
    /// The address, as the attacker row spells it.
    pub ip: String,
    /// `abuseipdb`, `greynoise`.
    pub provider: String,
    /// When the answer was fetched.
    pub fetched_at: DateTime<Utc>,
    /// A 0-100 score to filter on (AbuseIPDB's confidence), if any.
    pub score: Option<i64>,
    /// The fields kept from the answer (a JSON object).
    pub data: serde_json::Value,
}

impl EnrichmentRow {
    /// The answer as the API shows it: the kept fields and `fetched_at`.
    pub fn shown(&self) -> serde_json::Value {
        let mut v = match &self.data {
            serde_json::Value::Object(_) => self.data.clone(),
            other => serde_json::json!({ "value": other }),
        };
        v["fetched_at"] = serde_json::Value::String(self.fetched_at.to_rfc3339());
        v
    }
}

/// Enrichment persistence (a supertrait of `Store`).
#[async_trait]
pub trait EnrichStore: Send + Sync {
    /// Stores (or replaces) one provider's answer about one address.
    async fn enrichment_put(&self, row: &EnrichmentRow) -> StoreResult<()>;
    /// Every stored answer about these addresses.
    async fn enrichment_of(&self, ips: &[String]) -> StoreResult<Vec<EnrichmentRow>>;
}

#[async_trait]
impl EnrichStore for SqlStore {
    async fn enrichment_put(&self, row: &EnrichmentRow) -> StoreResult<()> {
        let data = serde_json::to_string(&row.data)
            .map_err(|e| StoreError::Corrupt(format!("enrichment: {e}")))?;
        sqlx::query(
            "INSERT INTO enrichment (ip, provider, fetched_at, score, data) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (ip, provider) DO UPDATE SET fetched_at = excluded.fetched_at, \
             score = excluded.score, data = excluded.data",
        )
        .bind(row.ip.as_str())
        .bind(row.provider.as_str())
        .bind(us(row.fetched_at))
        .bind(row.score)
        .bind(data)
        .execute(&self.write)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn enrichment_of(&self, ips: &[String]) -> StoreResult<Vec<EnrichmentRow>> {
        let mut out = Vec::new();
        for chunk in ips.chunks(500) {
            let ph: Vec<String> = (1..=chunk.len())
                .map(|i| match self.backend {
                    Backend::Sqlite => "?".to_owned(),
                    Backend::Postgres => format!("${i}"),
                })
                .collect();
            let sql = format!(
                "SELECT ip, provider, fetched_at, score, data FROM enrichment WHERE ip IN ({})",
                ph.join(",")
            );
            let mut q = sqlx::query(&sql);
            for ip in chunk {
                q = q.bind(ip.as_str());
            }
            for r in q.fetch_all(&self.read).await.map_err(db_err)? {
                let data: String = r.try_get(4).map_err(db_err)?;
                out.push(EnrichmentRow {
                    ip: r.try_get(0).map_err(db_err)?,
                    provider: r.try_get(1).map_err(db_err)?,
                    fetched_at: from_us(r.try_get(2).map_err(db_err)?)?,
                    score: r.try_get(3).map_err(db_err)?,
                    data: serde_json::from_str(&data)
                        .map_err(|e| StoreError::Corrupt(format!("enrichment: {e}")))?,
                });
            }
        }
        Ok(out)
    }
}

impl SqlStore {
    /// Attaches the stored answers to each row (`enrichment.<provider>`).
    pub(crate) async fn with_enrichment(
        &self,
        mut rows: Vec<AttackerRow>,
    ) -> StoreResult<Vec<AttackerRow>> {
        if rows.is_empty() {
            return Ok(rows);
        }
        let ips: Vec<String> = rows.iter().map(|r| r.ip.clone()).collect();
        let mut by_ip: BTreeMap<String, BTreeMap<String, serde_json::Value>> = BTreeMap::new();
        for e in self.enrichment_of(&ips).await? {
            by_ip
                .entry(e.ip.clone())
                .or_default()
                .insert(e.provider.clone(), e.shown());
        }
        for r in &mut rows {
            if let Some(found) = by_ip.remove(&r.ip) {
                r.enrichment = found;
            }
        }
        Ok(rows)
    }

    /// One row (with its uuid) and its stored answers.
    pub(crate) async fn one_with_enrichment(
        &self,
        row: Option<AttackerRow>,
    ) -> StoreResult<Option<AttackerRow>> {
        let Some(row) = row else { return Ok(None) };
        Ok(self
            .with_enrichment(vec![row.with_uuid()])
            .await?
            .into_iter()
            .next())
    }
}
