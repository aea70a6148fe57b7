//! The `/logs` page query: one statement returning the page as one JSON
//! row plus its total, and the transcoding of that row into the JSON the
//! API sends (no `Event`s, no `serde_json::Value`s in between).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sqlx::Row;

use crate::model::{LogPageJson, LogQuery};
use crate::sql::{bind_all, from_us, log_filter, SqlStore, EVENT_COLS};
use crate::{db_err, Backend, StoreError, StoreResult};

/// How far past the end of the requested page a filtered total is counted
/// when no counter row answers it. Such a count walks one index and reads
/// each candidate row to check the other filters (~4 µs a row: at 1M events
/// `decky=web01&kind=auth_attempt` counted to 10,050 took 39 ms, to 1,050
/// 4.6 ms), so it costs what reaching the page costs plus ~20 pages of 50;
/// a dashboard pager still knows that more pages follow. Beyond it
/// `total_exact` is false.
pub const COUNT_AHEAD: u64 = 1_000;

/// Which expression answers the page's `total`.
enum Total {
    /// No filters: the `event_total` counter row.
    All,
    /// Exactly one counted column (`event_counts`); its value is bind `$1`.
    Counter(&'static str),
    /// Anything else: `COUNT(*)` over at most this many matching rows.
    Capped(i64),
}

fn total_for(q: &LogQuery) -> Total {
    let single = [
        ("decky", q.decky.is_some()),
        ("service", q.service.is_some()),
        ("kind", q.kind.is_some()),
        ("src_ip", q.src_ip.is_some()),
    ];
    let set: Vec<&'static str> = single
        .iter()
        .filter(|(_, on)| *on)
        .map(|(d, _)| *d)
        .collect();
    let other =
        q.session_id.is_some() || q.since.is_some() || q.until.is_some() || q.search.is_some();
    match (set.as_slice(), other) {
        ([], false) => Total::All,
        ([dim], false) => Total::Counter(dim),
        _ => Total::Capped(
            i64::try_from(
                q.offset
                    .saturating_add(u64::from(q.limit))
                    .saturating_add(COUNT_AHEAD),
            )
            .unwrap_or(i64::MAX),
        ),
    }
}

/// One `events` row as the page statement's JSON array carries it (the
/// columns of [`EVENT_COLS`], in order; `fields` embedded as JSON).
#[derive(Deserialize)]
struct RawEvent<'a>(
    #[serde(borrow)] Cow<'a, str>,
    i64,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    #[serde(borrow)] Cow<'a, str>,
    i64,
    #[serde(borrow)] Cow<'a, str>,
    i64,
    #[serde(borrow)] Option<Cow<'a, str>>,
    #[serde(borrow)] &'a RawValue,
);

/// The same row in `decnet_core::Event`'s serialised form (field names,
/// order, RFC 3339 `ts`, `session_id` omitted when absent).
#[derive(Serialize)]
struct EventOut<'a> {
    id: &'a str,
    ts: chrono::DateTime<chrono::Utc>,
    decky: &'a str,
    service: &'a str,
    kind: &'a str,
    src_ip: &'a str,
    src_port: i64,
    dst_ip: &'a str,
    dst_port: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<&'a str>,
    fields: &'a RawValue,
}

/// Rewrites the statement's array of column arrays as an array of event
/// objects. Stored text was written by `insert_events` from real `Event`s
/// (ids, addresses and kinds in their serialised form), so it is copied,
/// not re-parsed.
fn transcode(page: &str) -> StoreResult<String> {
    let rows: Vec<RawEvent<'_>> =
        serde_json::from_str(page).map_err(|e| StoreError::Corrupt(format!("page: {e}")))?;
    let mut out = Vec::with_capacity(page.len() + rows.len() * 96 + 2);
    out.push(b'[');
    for (i, r) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let ev = EventOut {
            id: &r.0,
            ts: from_us(r.1)?,
            decky: &r.2,
            service: &r.3,
            kind: &r.4,
            src_ip: &r.5,
            src_port: r.6,
            dst_ip: &r.7,
            dst_port: r.8,
            session_id: r.9.as_deref(),
            fields: r.10,
        };
        serde_json::to_writer(&mut out, &ev)
            .map_err(|e| StoreError::Corrupt(format!("page: {e}")))?;
    }
    out.push(b']');
    // serde_json writes UTF-8 only.
    String::from_utf8(out).map_err(|e| StoreError::Corrupt(format!("page: {e}")))
}

impl SqlStore {
    pub(crate) async fn query_logs_json_impl(&self, q: &LogQuery) -> StoreResult<LogPageJson> {
        let (w, binds) = log_filter(q);
        let n = binds.len();
        // The whole page comes back as one row (a JSON array) with its
        // total beside it: the SQLite driver hands every result row from
        // its worker thread to the async side separately, and those
        // hand-offs, not SQLite, were most of a 50-row page's cost.
        let total = total_for(q);
        let total_col = match &total {
            Total::All => "(SELECT n FROM event_total WHERE id = 1)".to_owned(),
            Total::Counter(dim) => format!(
                "COALESCE((SELECT n FROM event_counts WHERE dim = '{dim}' AND val = $1), 0)"
            ),
            Total::Capped(_) => format!(
                "(SELECT COUNT(*) FROM (SELECT 1 FROM events{w} LIMIT ${}) AS capped)",
                n + 3
            ),
        };
        let agg = match self.backend {
            Backend::Sqlite => format!(
                "json_group_array(json_array({}, json(fields)) ORDER BY ts DESC, id DESC)",
                EVENT_COLS.trim_end_matches(", fields")
            ),
            Backend::Postgres => format!(
                "CAST(COALESCE(json_agg(json_build_array({}, CAST(fields AS json)) ORDER BY ts DESC, id DESC), '[]') AS TEXT)",
                EVENT_COLS.trim_end_matches(", fields")
            ),
        };
        let sql = format!(
            "SELECT {agg}, {total_col} FROM (SELECT {EVENT_COLS} FROM events{w} \
             ORDER BY ts DESC, id DESC LIMIT ${} OFFSET ${}) AS page",
            n + 1,
            n + 2
        );
        let mut query = bind_all(sqlx::query(&sql), &binds)
            .bind(i64::from(q.limit))
            .bind(i64::try_from(q.offset).unwrap_or(i64::MAX));
        if let Total::Capped(cap) = total {
            query = query.bind(cap);
        }
        let row = query.fetch_one(&self.read).await.map_err(db_err)?;
        let page: String = row.try_get(0).map_err(db_err)?;
        let counted = row.try_get::<i64, _>(1).map_err(db_err)?.max(0);
        let total_exact = match total {
            Total::Capped(cap) => counted < cap,
            _ => true,
        };
        Ok(LogPageJson {
            total: counted as u64,
            total_exact,
            limit: q.limit,
            offset: q.offset,
            data: transcode(&page)?,
        })
    }
}
