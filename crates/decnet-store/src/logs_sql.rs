//! The `/logs` page query: one statement returning one row — the page as
//! the JSON the API sends (built by the database) and its total.

use sqlx::Row;

use crate::model::{LogPageJson, LogQuery};
use crate::search_sql::{self, MARK};
use crate::sql::{bind_all, us, Bind, SqlStore, EVENT_COLS};
use crate::{db_err, Backend, StoreResult};

/// How far past the end of the requested page a filtered total is counted
/// when no counter row answers it. Such a count walks one index and reads
/// each candidate row to check the other filters (~4 µs per counted row: at 1M events
/// `decky=web01&kind=auth_attempt` counted to 10,050 took 39 ms, to 1,050
/// 4.6 ms), so it costs what reaching the page costs plus ~20 pages of 50;
/// a dashboard pager still knows that more pages follow. Beyond it
/// `total_exact` is false.
pub const COUNT_AHEAD: u64 = 1_000;

/// Most events a `search` reads: the newest this many that match the
/// other filters. Matching a substring lowercases and scans each row's
/// fields, so a word found nowhere read the whole table (4.9 s at 973k
/// events) and any viewer could ask for it. A window of rows rather than a
/// time limit: sqlx's `Any` driver has no per-statement timeout that works
/// alike on SQLite and PostgreSQL, and a row window gives the same answer
/// every time. When the window is full the page says `total_exact: false`
/// (older events were not searched). On SQLite the trigram index
/// (`search_sql.rs`) answers terms of three characters or more over every
/// indexed event (its newest this many matches) and the window covers
/// only rows not indexed yet; PostgreSQL has no such index (pg_trgm would
/// be maintained on every insert of the ingest path).
pub const SEARCH_WINDOW: u64 = 50_000;

/// The `WHERE` clauses of every filter but `search`, with their binds
/// (`$1…` in order).
pub(crate) fn plain_filters(q: &LogQuery) -> (Vec<String>, Vec<Bind>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut binds = Vec::new();
    let mut push = |clause: &str, b: Bind, binds: &mut Vec<Bind>| {
        binds.push(b);
        clauses.push(clause.replace('?', &format!("${}", binds.len())));
    };
    if let Some(v) = &q.decky {
        push("decky = ?", Bind::Text(v.clone()), &mut binds);
    }
    if let Some(v) = &q.service {
        push("service = ?", Bind::Text(v.clone()), &mut binds);
    }
    if let Some(v) = &q.kind {
        push("kind = ?", Bind::Text(v.clone()), &mut binds);
    }
    if let Some(v) = &q.src_ip {
        push("src_ip = ?", Bind::Text(v.clone()), &mut binds);
    }
    if let Some(v) = &q.session_id {
        push("session_id = ?", Bind::Text(v.to_string()), &mut binds);
    }
    if let Some(v) = &q.since {
        push("ts >= ?", Bind::Int(us(*v)), &mut binds);
    }
    if let Some(v) = &q.until {
        push("ts < ?", Bind::Int(us(*v)), &mut binds);
    }
    (clauses, binds)
}

pub(crate) fn where_of(clauses: &[String]) -> String {
    if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    }
}

/// `LIKE` pattern of a case-insensitive substring search.
pub(crate) fn search_pattern(v: &str) -> String {
    let mut pat = String::with_capacity(v.len() + 2);
    pat.push('%');
    for c in v.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pat.push('\\');
        }
        pat.push(c);
    }
    pat.push('%');
    pat
}

/// The oldest event a search reads: the [`SEARCH_WINDOW`]-th newest one
/// matching the other filters (`w_plain`), if there are that many. It
/// walks an index on `ts` (alone or after decky/kind/src_ip), never the
/// rows' fields.
fn window_edge(w_plain: &str) -> String {
    format!(
        "(SELECT ts FROM events{w_plain} ORDER BY ts DESC LIMIT 1 OFFSET {})",
        SEARCH_WINDOW - 1
    )
}

/// A log query's filter as SQL.
pub(crate) struct Filter {
    /// CTEs the clause refers to (`name AS (…)`, comma-terminated), to go
    /// first in the statement's `WITH`; empty when none.
    pub(crate) ctes: String,
    /// ` WHERE …` (empty without filters).
    pub(crate) clause: String,
    /// Its binds, `$1…` in order.
    pub(crate) binds: Vec<Bind>,
    /// `1` when a search left events unread (see [`SEARCH_WINDOW`]).
    pub(crate) unsearched: String,
}

impl Filter {
    /// `WITH <ctes> ` when there are CTEs, for a statement that has no
    /// `WITH` of its own.
    pub(crate) fn with(&self) -> String {
        with_ctes(&self.ctes)
    }
}

/// `WITH <ctes> ` for a filter's comma-terminated CTEs; empty for none.
fn with_ctes(ctes: &str) -> String {
    match ctes.strip_suffix(", ") {
        Some(ctes) => format!("WITH {ctes} "),
        None => String::new(),
    }
}

/// The search term of `q` when the SQLite index answers it.
fn indexed_term(backend: Backend, q: &LogQuery) -> Option<&str> {
    q.search
        .as_deref()
        .filter(|t| backend == Backend::Sqlite && search_sql::indexable(t))
}

/// The filter of a log query on `backend`: a search the SQLite index can
/// answer reads the index, any other reads its window.
pub(crate) fn filter_for(backend: Backend, q: &LogQuery) -> Filter {
    match indexed_term(backend, q) {
        Some(term) => indexed_search_filter(q, term),
        None => {
            let (clause, binds) = log_filter(q);
            Filter {
                ctes: String::new(),
                clause,
                binds,
                unsearched: window_full(q),
            }
        }
    }
}

/// The `WHERE` clause of a log query and its binds; a `search` reads only
/// the events inside its window.
fn log_filter(q: &LogQuery) -> (String, Vec<Bind>) {
    let (mut clauses, mut binds) = plain_filters(q);
    if let Some(v) = &q.search {
        let edge = window_edge(&where_of(&clauses));
        clauses.push(format!("ts >= COALESCE({edge}, {})", i64::MIN));
        binds.push(Bind::Text(search_pattern(v)));
        clauses.push(format!("lower(fields) LIKE ${} ESCAPE '\\'", binds.len()));
    }
    (where_of(&clauses), binds)
}

/// A search the SQLite index answers: the plain filters, and the events
/// among the newest [`SEARCH_WINDOW`] the index finds (`fts` and `found`,
/// CTEs the query must define with the returned text) or among the newest
/// [`SEARCH_WINDOW`] rows above the index's mark, not indexed yet, that
/// match by a scan. Not everything was searched when the index found more
/// than the window or more rows than it are not indexed yet.
fn indexed_search_filter(q: &LogQuery, term: &str) -> Filter {
    let (mut clauses, mut binds) = plain_filters(q);
    binds.push(Bind::Text(search_sql::phrase(term)));
    let m = binds.len();
    binds.push(Bind::Text(search_pattern(term)));
    let p = binds.len();
    let top = "COALESCE((SELECT MAX(seq) FROM events), 0)";
    // `found`: one list of matching seqs (the index's, then the scan of
    // what it lacks), a CTE so a statement that filters twice (page and
    // count) builds it once. One `seq IN found`, not `IN … OR …`: an OR
    // makes SQLite walk every event by time and test each against the list
    // (the whole table for a word that matches nothing), where a list alone
    // is read by rowid, one lookup per match.
    let ctes = format!(
        "fts AS (SELECT rowid FROM events_fts WHERE events_fts MATCH ${m} ORDER BY rowid DESC LIMIT {SEARCH_WINDOW}), \
         found AS (SELECT rowid AS seq FROM fts UNION ALL SELECT seq FROM events \
         WHERE seq > MAX({MARK}, {top} - {SEARCH_WINDOW}) AND lower(fields) LIKE ${p} ESCAPE '\\'), "
    );
    clauses.push("seq IN found".to_owned());
    let unsearched = format!(
        "CAST(CASE WHEN (SELECT COUNT(*) FROM fts) >= {SEARCH_WINDOW} \
         OR {MARK} < {top} - {SEARCH_WINDOW} THEN 1 ELSE 0 END AS BIGINT)"
    );
    Filter {
        ctes,
        clause: where_of(&clauses),
        binds,
        unsearched,
    }
}

/// `1` when the query searches and its window is full (older events went
/// unread), else `0`; uses the same binds as `log_filter`.
fn window_full(q: &LogQuery) -> String {
    match &q.search {
        None => "CAST(0 AS BIGINT)".to_owned(),
        Some(_) => {
            let (clauses, _) = plain_filters(q);
            format!(
                "CAST(CASE WHEN {} IS NULL THEN 0 ELSE 1 END AS BIGINT)",
                window_edge(&where_of(&clauses))
            )
        }
    }
}

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
/// parse and a re-serialise of every row per page (see bench/history.md).
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

/// The `/logs` statement: one row — the page as a JSON array built by the
/// database, its total and the unsearched flag — from `with` (`WITH …`
/// or empty), the rows' `source` (`table WHERE …`), the total's and the
/// flag's expressions, and the bind numbers of `LIMIT` and `OFFSET`.
pub(crate) fn log_page_sql(
    backend: Backend,
    with: &str,
    source: &str,
    total_col: &str,
    unsearched: &str,
    (limit, offset): (usize, usize),
) -> String {
    let agg = match backend {
        Backend::Sqlite => "group_concat",
        Backend::Postgres => "string_agg",
    };
    // `frac`: the sub-second microseconds, never negative (floor), so
    // `ts - frac` is whole seconds even before 1970.
    format!(
        "{with}SELECT '[' || COALESCE({agg}({obj}, ',' ORDER BY ts DESC, id DESC), '') || ']', {total_col}, \
         {unsearched} FROM (SELECT {EVENT_COLS}, ((ts % 1000000) + 1000000) % 1000000 AS frac FROM {source} \
         ORDER BY ts DESC, id DESC LIMIT ${limit} OFFSET ${offset}) AS page",
        obj = event_object(backend),
    )
}

impl SqlStore {
    pub(crate) async fn query_logs_json_impl(&self, q: &LogQuery) -> StoreResult<LogPageJson> {
        if let Some(term) = indexed_term(self.backend, q) {
            if let Some(page) = self.dense_search_page(q, term).await? {
                return Ok(page);
            }
        }
        self.general_logs_page(q).await
    }

    /// The page of any log query, searches by the index's newest
    /// [`SEARCH_WINDOW`] matches (see `search_page.rs` for the dense ones).
    pub(crate) async fn general_logs_page(&self, q: &LogQuery) -> StoreResult<LogPageJson> {
        let Filter {
            ctes,
            clause: w,
            binds,
            unsearched,
        } = filter_for(self.backend, q);
        let n = binds.len();
        // The whole page comes back as one row (a JSON array) with its
        // total beside it: the SQLite driver hands every result row from
        // its worker thread to the async side separately, and those
        // hand-offs, not SQLite, were most of a 50-row page's cost.
        let total = total_for(q);
        // A search's page and capped total come from the same capped run
        // of matching rows (a CTE used twice is computed once on both
        // backends): a search that matches little reads its window once
        // instead of once for the page and again for the count. Other
        // capped totals keep a count free to use whichever index matches
        // fewest rows.
        let (with, source, total_col) = match &total {
            Total::All => (
                String::new(),
                format!("events{w}"),
                "(SELECT n FROM event_total WHERE id = 1)".to_owned(),
            ),
            Total::Counter(dim) => (
                String::new(),
                format!("events{w}"),
                format!("COALESCE((SELECT n FROM event_counts WHERE dim = '{dim}' AND val = $1), 0)"),
            ),
            // An indexed search: the page takes its newest rows by rowid
            // lookups from the index's list and the capped count reads the
            // same list (the `fts` CTE, used twice, is computed once), so
            // neither copies matching rows into a temporary table.
            Total::Capped(_) if !ctes.is_empty() => (
                with_ctes(&ctes),
                format!("events{w}"),
                format!(
                    "(SELECT COUNT(*) FROM (SELECT 1 FROM events{w} LIMIT ${}) AS capped)",
                    n + 3
                ),
            ),
            Total::Capped(_) if q.search.is_some() => (
                format!(
                    "WITH {ctes}hits AS (SELECT {EVENT_COLS} FROM events{w} ORDER BY ts DESC, id DESC LIMIT ${}) ",
                    n + 3
                ),
                "hits".to_owned(),
                "(SELECT COUNT(*) FROM hits)".to_owned(),
            ),
            Total::Capped(_) => (
                String::new(),
                format!("events{w}"),
                format!(
                    "(SELECT COUNT(*) FROM (SELECT 1 FROM events{w} LIMIT ${}) AS capped)",
                    n + 3
                ),
            ),
        };
        let sql = log_page_sql(
            self.backend,
            &with,
            &source,
            &total_col,
            &unsearched,
            (n + 1, n + 2),
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
        let unsearched = row.try_get::<i64, _>(2).map_err(db_err)? != 0;
        let total_exact = match total {
            Total::Capped(cap) => counted < cap && !unsearched,
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
