//! The `/logs` page query: one statement returning one row — the page as
//! the JSON the API sends (built by the database) and its total.

use sqlx::Row;

use crate::model::{LogPageJson, LogQuery};
use crate::sql::{bind_all, log_filter, SqlStore, EVENT_COLS};
use crate::{db_err, Backend, StoreResult};

/// How far past the end of the requested page a filtered total is counted
/// when no counter row answers it. Such a count walks one index and reads
/// each candidate row to check the other filters (~4 µs per counted row: at 1M events
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

/// One event as the JSON `decnet_core::Event` serialises to (same keys in
/// the same order, `ts` in chrono's RFC 3339 form, `session_id` left out
/// when absent), built by the database with one `format()` (SQLite and
/// PostgreSQL both have it; a chain of `||` copied the growing string at
/// every step) from the page subquery's columns. Stored `fields` is the
/// text `insert_events` wrote with serde_json, so it is pasted in, never
/// parsed; the other text columns go through the backend's JSON quoting.
/// Doing this in SQL rather than rewriting a JSON array in Rust removed a
/// parse and a re-serialise of every row per page (see BENCH.md).
fn event_object(backend: Backend) -> String {
    let (quote, cast, ts_secs, frac) = match backend {
        Backend::Sqlite => (
            "json_quote",
            "",
            "strftime('%Y-%m-%dT%H:%M:%S', (ts - frac) / 1000000, 'unixepoch')",
            "CASE WHEN frac = 0 THEN '' WHEN frac % 1000 = 0 THEN printf('.%03d', frac / 1000) \
             ELSE printf('.%06d', frac) END",
        ),
        Backend::Postgres => (
            "to_json",
            "::text",
            "to_char(to_timestamp((ts - frac) / 1000000) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS')",
            "CASE WHEN frac = 0 THEN '' WHEN frac % 1000 = 0 THEN '.' || lpad(CAST(frac / 1000 AS TEXT), 3, '0') \
             ELSE '.' || lpad(CAST(frac AS TEXT), 6, '0') END",
        ),
    };
    let q = |col: &str| format!("{quote}({col}){cast}");
    format!(
        "format('{{\"id\":%s,\"ts\":\"%s%sZ\",\"decky\":%s,\"service\":%s,\"kind\":%s,\"src_ip\":%s,\
         \"src_port\":%s,\"dst_ip\":%s,\"dst_port\":%s%s,\"fields\":%s}}', \
         {id}, {ts_secs}, {frac}, {decky}, {service}, {kind}, {src_ip}, src_port, {dst_ip}, dst_port, \
         CASE WHEN session_id IS NULL THEN '' ELSE ',\"session_id\":' || {session} END, fields)",
        id = q("id"),
        decky = q("decky"),
        service = q("service"),
        kind = q("kind"),
        src_ip = q("src_ip"),
        dst_ip = q("dst_ip"),
        session = q("session_id"),
    )
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
            Backend::Sqlite => "group_concat",
            Backend::Postgres => "string_agg",
        };
        // `frac`: the sub-second microseconds, never negative (floor), so
        // `ts - frac` is whole seconds even before 1970.
        let sql = format!(
            "SELECT '[' || COALESCE({agg}({obj}, ',' ORDER BY ts DESC, id DESC), '') || ']', {total_col} \
             FROM (SELECT {EVENT_COLS}, ((ts % 1000000) + 1000000) % 1000000 AS frac FROM events{w} \
             ORDER BY ts DESC, id DESC LIMIT ${} OFFSET ${}) AS page",
            n + 1,
            n + 2,
            obj = event_object(self.backend),
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
            data: page,
        })
    }
}
