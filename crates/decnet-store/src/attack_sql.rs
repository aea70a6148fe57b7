//! ATT&CK tags and the STIX objects served over TAXII (migration 8).
//!
//! Written by the tag worker only; read by the API. Tags are keyed by
//! (event, technique, rule), so a replayed event inserts nothing new and
//! the worker publishes only what was really new. Identity and campaign
//! roll-ups are reads over a set of member addresses (`TagFilter::src_ips`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use crate::model::Page;
use crate::sql::{bind_all, from_us, parse_uuid, us, Bind, Cols, SqlStore};
use crate::{db_err, StoreError, StoreResult};

/// Largest address list a roll-up query takes (an identity or campaign
/// with more members is cut to its first ones).
pub const MAX_FILTER_ADDRESSES: usize = 500;

/// One stored technique tag.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TagRow {
    /// The tagged event.
    pub event_id: Uuid,
    /// `T1110.001`.
    pub technique_id: String,
    /// Rule that fired.
    pub rule_id: String,
    /// 0–100.
    pub confidence: u8,
    /// Time of the event.
    pub ts: DateTime<Utc>,
    /// Attacker address.
    pub src_ip: String,
    /// Session of the event.
    pub session_id: Option<Uuid>,
    /// Decky of the event.
    pub decky: String,
    /// Why the rule fired (event ids, matched text, aggregate detail).
    pub evidence: serde_json::Value,
}

/// Which tags a read covers.
#[derive(Clone, Debug, Default)]
pub struct TagFilter {
    /// Only these addresses (empty: all).
    pub src_ips: Vec<String>,
    /// Only this technique; a parent also matches its sub-techniques.
    pub technique_id: Option<String>,
    /// Only tags of this event.
    pub event_id: Option<Uuid>,
    /// Event time at or after.
    pub since: Option<DateTime<Utc>>,
    /// Event time before.
    pub until: Option<DateTime<Utc>>,
}

/// One technique's tags over a filter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TechniqueCount {
    /// `T1110.001`.
    pub technique_id: String,
    /// Tags.
    pub count: u64,
    /// Distinct attacker addresses.
    pub attackers: u64,
    /// First tag.
    pub first_seen: DateTime<Utc>,
    /// Last tag.
    pub last_seen: DateTime<Utc>,
    /// Highest rule confidence.
    pub max_confidence: u8,
}

/// One attacker's tags over a filter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaggedAttacker {
    /// Address.
    pub src_ip: String,
    /// Tags.
    pub count: u64,
    /// Distinct techniques.
    pub techniques: u64,
    /// First tag.
    pub first_seen: DateTime<Utc>,
    /// Last tag.
    pub last_seen: DateTime<Utc>,
}

/// One stored version of one STIX object in one collection.
#[derive(Clone, Debug, PartialEq)]
pub struct StixRow {
    /// Collection name (`fleet`).
    pub collection: String,
    /// STIX id.
    pub id: String,
    /// `modified` (or `created`) as written in the object.
    pub version: String,
    /// When this version was added.
    pub date_added: DateTime<Utc>,
    /// STIX type (`indicator`).
    pub stix_type: String,
    /// `2.1`.
    pub spec_version: String,
    /// The object as JSON text.
    pub object: String,
}

/// Which versions of each object a STIX read selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StixVersion {
    /// The newest of the object in the collection.
    Last,
    /// The oldest.
    First,
    /// Every version.
    All,
    /// This exact version.
    Exactly(String),
}

/// A page of STIX rows, ordered by (date_added, id, version).
#[derive(Clone, Debug)]
pub struct StixQuery {
    /// Collection name.
    pub collection: String,
    /// Only rows added strictly after.
    pub added_after: Option<DateTime<Utc>>,
    /// Only rows after this (date_added µs, id, version) position (paging).
    pub after: Option<(i64, String, String)>,
    /// `match[id]` (empty: any).
    pub ids: Vec<String>,
    /// `match[type]` (empty: any).
    pub types: Vec<String>,
    /// `match[spec_version]` (empty: any).
    pub spec_versions: Vec<String>,
    /// `match[version]`: a row is selected when any entry selects it (empty: `Last`).
    pub versions: Vec<StixVersion>,
    /// Rows to return.
    pub limit: u32,
}

/// ATT&CK persistence (a supertrait of `Store`).
#[async_trait]
pub trait AttackStore: Send + Sync {
    /// Inserts tags in one transaction; returns the indexes (into `tags`)
    /// of those not stored before.
    async fn attack_insert_tags(&self, tags: &[TagRow]) -> StoreResult<Vec<usize>>;
    /// Tag counts per technique, most tagged first.
    async fn attack_technique_counts(&self, f: &TagFilter) -> StoreResult<Vec<TechniqueCount>>;
    /// Tags, newest first.
    async fn attack_list_tags(
        &self,
        f: &TagFilter,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Page<TagRow>>;
    /// Tag counts per attacker address, most recently tagged first.
    async fn attack_attackers(&self, f: &TagFilter, limit: u32)
        -> StoreResult<Vec<TaggedAttacker>>;
    /// Adds STIX object versions (an already stored version is kept as it
    /// was); keeps at most `keep_versions` versions of each object given.
    /// Returns how many were new.
    async fn stix_put(&self, rows: &[StixRow], keep_versions: u32) -> StoreResult<u64>;
    /// One page of a collection's STIX rows.
    async fn stix_page(&self, q: &StixQuery) -> StoreResult<Vec<StixRow>>;
}

const TAG_COLS: &str =
    "event_id, technique_id, rule_id, confidence, ts, src_ip, session_id, decky, evidence";
const STIX_COLS: &str = "collection, id, version, date_added, stix_type, spec_version, object";

/// WHERE clause and binds of a tag filter; placeholders `$1…`.
fn tag_where(f: &TagFilter) -> (String, Vec<Bind>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut binds: Vec<Bind> = Vec::new();
    fn push(clauses: &mut Vec<String>, binds: &mut Vec<Bind>, clause: &str, b: Bind) {
        binds.push(b);
        clauses.push(clause.replace('?', &format!("${}", binds.len())));
    }
    if let Some(t) = &f.technique_id {
        push(
            &mut clauses,
            &mut binds,
            "(technique_id = ?",
            Bind::Text(t.clone()),
        );
        let exact = clauses.pop().unwrap_or_default();
        push(
            &mut clauses,
            &mut binds,
            " OR technique_id LIKE ?)",
            Bind::Text(format!("{t}.%")),
        );
        let sub = clauses.pop().unwrap_or_default();
        clauses.push(format!("{exact}{sub}"));
    }
    if let Some(id) = f.event_id {
        push(
            &mut clauses,
            &mut binds,
            "event_id = ?",
            Bind::Text(id.to_string()),
        );
    }
    if let Some(t) = f.since {
        push(&mut clauses, &mut binds, "ts >= ?", Bind::Int(us(t)));
    }
    if let Some(t) = f.until {
        push(&mut clauses, &mut binds, "ts < ?", Bind::Int(us(t)));
    }
    if !f.src_ips.is_empty() {
        let mut list = Vec::new();
        for ip in f.src_ips.iter().take(MAX_FILTER_ADDRESSES) {
            binds.push(Bind::Text(ip.clone()));
            list.push(format!("${}", binds.len()));
        }
        clauses.push(format!("src_ip IN ({})", list.join(",")));
    }
    let w = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (w, binds)
}

fn n(v: i64) -> u64 {
    v.max(0) as u64
}

fn tag_from_row(r: &AnyRow) -> StoreResult<TagRow> {
    let evidence: String = r.try_get(8).map_err(db_err)?;
    let session: Option<String> = r.try_get(6).map_err(db_err)?;
    Ok(TagRow {
        event_id: parse_uuid(&r.try_get::<String, _>(0).map_err(db_err)?)?,
        technique_id: r.try_get(1).map_err(db_err)?,
        rule_id: r.try_get(2).map_err(db_err)?,
        confidence: r.try_get::<i64, _>(3).map_err(db_err)?.clamp(0, 100) as u8,
        ts: from_us(r.try_get(4).map_err(db_err)?)?,
        src_ip: r.try_get(5).map_err(db_err)?,
        session_id: session.as_deref().map(parse_uuid).transpose()?,
        decky: r.try_get(7).map_err(db_err)?,
        evidence: serde_json::from_str(&evidence)
            .map_err(|e| StoreError::Corrupt(format!("tag evidence: {e}")))?,
    })
}

fn stix_from_row(r: &AnyRow) -> StoreResult<StixRow> {
    let mut c = Cols::new(r);
    Ok(StixRow {
        collection: c.get()?,
        id: c.get()?,
        version: c.get()?,
        date_added: c.time()?,
        stix_type: c.get()?,
        spec_version: c.get()?,
        object: c.get()?,
    })
}

/// SQL condition selecting `o`'s rows by `match[version]`.
fn version_clause(v: &StixVersion, binds: &mut Vec<Bind>) -> String {
    let newer = "NOT EXISTS (SELECT 1 FROM stix_objects x WHERE x.collection = o.collection AND x.id = o.id AND x.version";
    match v {
        StixVersion::Last => format!("{newer} > o.version)"),
        StixVersion::First => format!("{newer} < o.version)"),
        StixVersion::All => "1 = 1".into(),
        StixVersion::Exactly(s) => {
            binds.push(Bind::Text(s.clone()));
            format!("o.version = ${}", binds.len())
        }
    }
}

fn in_list(col: &str, values: &[String], binds: &mut Vec<Bind>) -> String {
    let mut list = Vec::new();
    for v in values {
        binds.push(Bind::Text(v.clone()));
        list.push(format!("${}", binds.len()));
    }
    format!("{col} IN ({})", list.join(","))
}

#[async_trait]
impl AttackStore for SqlStore {
    async fn attack_insert_tags(&self, tags: &[TagRow]) -> StoreResult<Vec<usize>> {
        if tags.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "INSERT INTO attack_tags ({TAG_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) \
             ON CONFLICT (event_id, technique_id, rule_id) DO NOTHING"
        );
        let mut tx = self.write.begin().await.map_err(db_err)?;
        let mut fresh = Vec::new();
        for (i, t) in tags.iter().enumerate() {
            let done = sqlx::query(&sql)
                .bind(t.event_id.to_string())
                .bind(&t.technique_id)
                .bind(&t.rule_id)
                .bind(i64::from(t.confidence))
                .bind(us(t.ts))
                .bind(&t.src_ip)
                .bind(t.session_id.map(|s| s.to_string()))
                .bind(&t.decky)
                .bind(t.evidence.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            if done.rows_affected() > 0 {
                fresh.push(i);
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(fresh)
    }

    async fn attack_technique_counts(&self, f: &TagFilter) -> StoreResult<Vec<TechniqueCount>> {
        let (w, binds) = tag_where(f);
        let sql = format!(
            "SELECT technique_id, COUNT(*), COUNT(DISTINCT src_ip), MIN(ts), MAX(ts), MAX(confidence) \
             FROM attack_tags{w} GROUP BY technique_id ORDER BY COUNT(*) DESC, technique_id"
        );
        let rows = bind_all(sqlx::query(&sql), &binds)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(TechniqueCount {
                    technique_id: r.try_get(0).map_err(db_err)?,
                    count: n(r.try_get(1).map_err(db_err)?),
                    attackers: n(r.try_get(2).map_err(db_err)?),
                    first_seen: from_us(r.try_get(3).map_err(db_err)?)?,
                    last_seen: from_us(r.try_get(4).map_err(db_err)?)?,
                    max_confidence: r.try_get::<i64, _>(5).map_err(db_err)?.clamp(0, 100) as u8,
                })
            })
            .collect()
    }

    async fn attack_list_tags(
        &self,
        f: &TagFilter,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Page<TagRow>> {
        let (w, binds) = tag_where(f);
        let total: i64 = bind_all(
            sqlx::query(&format!("SELECT COUNT(*) FROM attack_tags{w}")),
            &binds,
        )
        .fetch_one(&self.read)
        .await
        .map_err(db_err)?
        .try_get(0)
        .map_err(db_err)?;
        let k = binds.len();
        let sql = format!(
            "SELECT {TAG_COLS} FROM attack_tags{w} ORDER BY ts DESC, event_id, technique_id, rule_id \
             LIMIT ${} OFFSET ${}",
            k + 1,
            k + 2
        );
        let rows = bind_all(sqlx::query(&sql), &binds)
            .bind(i64::from(limit))
            .bind(i64::try_from(offset).unwrap_or(i64::MAX))
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        Ok(Page {
            total: n(total),
            limit,
            offset,
            data: rows.iter().map(tag_from_row).collect::<StoreResult<_>>()?,
        })
    }

    async fn attack_attackers(
        &self,
        f: &TagFilter,
        limit: u32,
    ) -> StoreResult<Vec<TaggedAttacker>> {
        let (w, binds) = tag_where(f);
        let sql = format!(
            "SELECT src_ip, COUNT(*), COUNT(DISTINCT technique_id), MIN(ts), MAX(ts) \
             FROM attack_tags{w} GROUP BY src_ip ORDER BY MAX(ts) DESC, src_ip LIMIT ${}",
            binds.len() + 1
        );
        let rows = bind_all(sqlx::query(&sql), &binds)
            .bind(i64::from(limit))
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(TaggedAttacker {
                    src_ip: r.try_get(0).map_err(db_err)?,
                    count: n(r.try_get(1).map_err(db_err)?),
                    techniques: n(r.try_get(2).map_err(db_err)?),
                    first_seen: from_us(r.try_get(3).map_err(db_err)?)?,
                    last_seen: from_us(r.try_get(4).map_err(db_err)?)?,
                })
            })
            .collect()
    }

    async fn stix_put(&self, rows: &[StixRow], keep_versions: u32) -> StoreResult<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        let insert = format!(
            "INSERT INTO stix_objects ({STIX_COLS}) VALUES ($1,$2,$3,$4,$5,$6,$7) \
             ON CONFLICT (collection, id, version) DO NOTHING"
        );
        // The oldest versions beyond the newest `keep_versions` of one object.
        let prune =
            "DELETE FROM stix_objects WHERE collection = $1 AND id = $2 AND version NOT IN \
             (SELECT version FROM stix_objects WHERE collection = $1 AND id = $2 \
              ORDER BY version DESC LIMIT $3)";
        let mut tx = self.write.begin().await.map_err(db_err)?;
        let mut added = 0;
        for r in rows {
            let done = sqlx::query(&insert)
                .bind(&r.collection)
                .bind(&r.id)
                .bind(&r.version)
                .bind(us(r.date_added))
                .bind(&r.stix_type)
                .bind(&r.spec_version)
                .bind(&r.object)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            if done.rows_affected() > 0 {
                added += 1;
                sqlx::query(prune)
                    .bind(&r.collection)
                    .bind(&r.id)
                    .bind(i64::from(keep_versions.max(1)))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(added)
    }

    async fn stix_page(&self, q: &StixQuery) -> StoreResult<Vec<StixRow>> {
        let mut binds = vec![Bind::Text(q.collection.clone())];
        let mut clauses = vec!["o.collection = $1".to_owned()];
        if let Some(a) = q.added_after {
            binds.push(Bind::Int(us(a)));
            clauses.push(format!("o.date_added > ${}", binds.len()));
        }
        if let Some((at, id, version)) = &q.after {
            binds.push(Bind::Int(*at));
            let a = binds.len();
            binds.push(Bind::Text(id.clone()));
            binds.push(Bind::Text(version.clone()));
            clauses.push(format!(
                "(o.date_added > ${a} OR (o.date_added = ${a} AND (o.id > ${} OR (o.id = ${} AND o.version > ${}))))",
                a + 1,
                a + 1,
                a + 2
            ));
        }
        if !q.ids.is_empty() {
            clauses.push(in_list("o.id", &q.ids, &mut binds));
        }
        if !q.types.is_empty() {
            clauses.push(in_list("o.stix_type", &q.types, &mut binds));
        }
        if !q.spec_versions.is_empty() {
            clauses.push(in_list("o.spec_version", &q.spec_versions, &mut binds));
        }
        let versions = if q.versions.is_empty() {
            &[StixVersion::Last][..]
        } else {
            &q.versions[..]
        };
        let any: Vec<String> = versions
            .iter()
            .map(|v| version_clause(v, &mut binds))
            .collect();
        clauses.push(format!("({})", any.join(" OR ")));
        let cols = STIX_COLS
            .split(", ")
            .map(|c| format!("o.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {cols} FROM stix_objects o WHERE {} ORDER BY o.date_added, o.id, o.version LIMIT ${}",
            clauses.join(" AND "),
            binds.len() + 1
        );
        let rows = bind_all(sqlx::query(&sql), &binds)
            .bind(i64::from(q.limit))
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        rows.iter().map(stix_from_row).collect()
    }
}
