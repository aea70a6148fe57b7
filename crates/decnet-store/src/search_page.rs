//! The SQLite `/logs` page of a search whose word is in many events: found
//! by reading about as many matches as the page shows, not every match.
//!
//! The general indexed search (`logs_sql.rs`) lists the newest
//! [`SEARCH_WINDOW`] matches by rowid and sorts them all by time: a word
//! in a quarter of a million events read 50,000 of them for a 50-row page
//! (125–164 ms). Here the page is found in two short statements:
//!
//! 1. the *edge*: the newest `PROBE × (offset + limit)` matches by rowid
//!    (more beside other filters)
//!    that pass the other filters; the time of the `(offset + limit)`-th
//!    newest of them. At least that many matches are at or after it, so
//!    every event of the page is too (whatever order events arrived in).
//!    With it, how many events are at or after the edge (capped at
//!    [`SPAN`]) and the smallest seq among them.
//! 2. the page: events at or after the edge that match — the index's
//!    matches from that seq up, and a scan of the rows it lacks — ordered
//!    by time; the total counted over the newest `offset + limit +`
//!    [`COUNT_AHEAD`](crate::COUNT_AHEAD) matches, as the general path does.
//!
//! When the word is rare the edge is far back, more than [`SPAN`] events
//! sit after it, and the general path (cheap for few matches) answers.
//! The page is the same one the general path returns; the total is the
//! same capped count (`total_exact: false` once the cap is reached).

use sqlx::Row;

use crate::logs_sql::{log_page_sql, plain_filters, search_pattern, where_of, SEARCH_WINDOW};
use crate::model::{LogPageJson, LogQuery};
use crate::search_sql::{self, MARK};
use crate::sql::{bind_all, Bind, SqlStore};
use crate::{db_err, Backend, StoreResult};

/// Matches read to find the edge, per event the page needs, for a search
/// alone (a margin: the arithmetic needs only one).
const PROBE: u64 = 4;

/// The same beside filters on other columns, which reject some of the
/// newest matches: a decky among five keeps about one in five.
const PROBE_FILTERED: u64 = 32;

/// Most events at or after the edge this path reads; beyond it the word
/// is rare enough for the general path.
const SPAN: i64 = 20_000;

/// Deepest page (`offset + limit`) this path serves.
const MAX_DEPTH: u64 = 5_000;

/// Where a dense search's page starts: the edge time and the smallest seq
/// at or after it.
struct Edge {
    ts: i64,
    first_seq: i64,
}

impl SqlStore {
    /// The page of `q` (a search of `term` the index answers) when the
    /// term is dense enough for [`Edge`]-bounded reading; `None` sends the
    /// caller to the general path.
    pub(crate) async fn dense_search_page(
        &self,
        q: &LogQuery,
        term: &str,
    ) -> StoreResult<Option<LogPageJson>> {
        let depth = q.offset.saturating_add(u64::from(q.limit));
        if self.backend != Backend::Sqlite || q.limit == 0 || depth > MAX_DEPTH {
            return Ok(None);
        }
        let Some(edge) = self.search_edge(q, term, depth).await? else {
            return Ok(None);
        };
        self.page_after_edge(q, term, depth, &edge).await.map(Some)
    }

    /// Statement 1: the edge, or `None` when fewer than `depth` of the
    /// probed matches pass the filters or more than [`SPAN`] events sit
    /// after it.
    async fn search_edge(&self, q: &LogQuery, term: &str, depth: u64) -> StoreResult<Option<Edge>> {
        let (plain, mut binds) = plain_filters(q);
        // `+column`: the other filters are checked on the probed rows, never
        // used as an index — walking a decky's or kind's events newest first
        // until enough of them are in the probe would read all of them
        // when few are.
        let mut clauses: Vec<String> = plain.iter().map(|c| format!("+{c}")).collect();
        binds.push(Bind::Text(search_sql::phrase(term)));
        let m = binds.len();
        clauses.push(format!(
            "seq IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ${m} ORDER BY rowid DESC LIMIT {})",
            depth
                .saturating_mul(if plain.is_empty() { PROBE } else { PROBE_FILTERED })
                .min(SPAN as u64)
        ));
        let sql = format!(
            "WITH edge AS (SELECT ts FROM events{w} ORDER BY ts DESC LIMIT 1 OFFSET {skip}), \
             span AS (SELECT seq FROM events WHERE ts >= (SELECT ts FROM edge) LIMIT {cap}) \
             SELECT (SELECT ts FROM edge), (SELECT COUNT(*) FROM span), (SELECT MIN(seq) FROM span)",
            w = where_of(&clauses),
            skip = depth - 1,
            cap = SPAN + 1,
        );
        let row = bind_all(sqlx::query(&sql), &binds)
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?;
        let ts: Option<i64> = row.try_get(0).map_err(db_err)?;
        let span: i64 = row.try_get(1).map_err(db_err)?;
        let first_seq: Option<i64> = row.try_get(2).map_err(db_err)?;
        Ok(match (ts, first_seq) {
            (Some(ts), Some(first_seq)) if span <= SPAN => Some(Edge { ts, first_seq }),
            _ => None,
        })
    }

    /// Statement 2: the page among the matches at or after the edge, and
    /// the capped total.
    async fn page_after_edge(
        &self,
        q: &LogQuery,
        term: &str,
        depth: u64,
        edge: &Edge,
    ) -> StoreResult<LogPageJson> {
        let (plain, mut binds) = plain_filters(q);
        // `+column` as in `search_edge`: a decky's index would walk every
        // event of the decky to test each against the short lists here.
        let clauses: Vec<String> = plain.iter().map(|c| format!("+{c}")).collect();
        let n = binds.len();
        let (m, p, e, f, limit, offset, cap) = (n + 1, n + 2, n + 3, n + 4, n + 5, n + 6, n + 7);
        binds.push(Bind::Text(search_sql::phrase(term)));
        binds.push(Bind::Text(search_pattern(term)));
        binds.push(Bind::Int(edge.ts));
        binds.push(Bind::Int(edge.first_seq));
        binds.push(Bind::Int(i64::from(q.limit)));
        binds.push(Bind::Int(i64::try_from(q.offset).unwrap_or(i64::MAX)));
        let cap_value = depth.saturating_add(crate::COUNT_AHEAD);
        binds.push(Bind::Int(i64::try_from(cap_value).unwrap_or(i64::MAX)));
        let top = "COALESCE((SELECT MAX(seq) FROM events), 0)";
        // Rows above the index's mark are matched by a scan, as on the
        // general path, over the same window of newest rows.
        let unindexed = format!(
            "SELECT seq FROM events WHERE seq > MAX({MARK}, {top} - {SEARCH_WINDOW}) \
             AND lower(fields) LIKE ${p} ESCAPE '\\'"
        );
        let ctes = format!(
            "WITH near AS (SELECT rowid AS seq FROM events_fts WHERE events_fts MATCH ${m} AND rowid >= ${f} \
             UNION ALL {unindexed} AND seq >= ${f}), \
             counted AS (SELECT rowid FROM events_fts WHERE events_fts MATCH ${m} ORDER BY rowid DESC LIMIT ${cap}), \
             found AS (SELECT rowid AS seq FROM counted UNION ALL {unindexed}) "
        );
        let mut page_clauses = clauses.clone();
        page_clauses.push(format!("ts >= ${e}"));
        page_clauses.push("seq IN near".to_owned());
        let mut count_clauses = clauses;
        count_clauses.push("seq IN found".to_owned());
        let total_col = format!(
            "(SELECT COUNT(*) FROM (SELECT 1 FROM events{} LIMIT ${cap}) AS capped)",
            where_of(&count_clauses)
        );
        let unsearched = format!(
            "CAST(CASE WHEN (SELECT COUNT(*) FROM counted) >= ${cap} \
             OR {MARK} < {top} - {SEARCH_WINDOW} THEN 1 ELSE 0 END AS BIGINT)"
        );
        let source = format!("events{}", where_of(&page_clauses));
        let sql = log_page_sql(
            self.backend,
            &ctes,
            &source,
            &total_col,
            &unsearched,
            (limit, offset),
        );
        let row = bind_all(sqlx::query(&sql), &binds)
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?;
        let data: String = row.try_get(0).map_err(db_err)?;
        let counted = row.try_get::<i64, _>(1).map_err(db_err)?.max(0);
        let unsearched = row.try_get::<i64, _>(2).map_err(db_err)? != 0;
        Ok(LogPageJson {
            total: counted as u64,
            total_exact: (counted as u64) < cap_value && !unsearched,
            limit: q.limit,
            offset: q.offset,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::Store;
    use decnet_core::{Event, EventKind};

    /// `n` events, every third with `needle` in its fields (upper case in
    /// some: the search ignores case). Time mostly follows insertion, but
    /// every 50th event arrives late (an old time) and every 70th early
    /// (a time far ahead), so rowid order is not time order.
    fn events(n: usize, base_ts: i64) -> Vec<Event> {
        (0..n)
            .map(|i| {
                let word = match i % 6 {
                    0 => "needle",
                    3 => "NEEDLE",
                    _ => "hay",
                };
                let mut e = Event::new(
                    if i % 2 == 0 { "even" } else { "odd" },
                    "ssh",
                    EventKind::Command,
                )
                .with("cmd", format!("{word} {i}"));
                let ts = match (i % 50, i % 70) {
                    (0, _) => base_ts - 1_000_000,
                    (_, 0) => base_ts + 1_000_000_000 + i as i64,
                    _ => base_ts + (i as i64) * 1_000,
                };
                e.ts = chrono::DateTime::from_timestamp_micros(ts).unwrap();
                e
            })
            .collect()
    }

    async fn index_all(store: &SqlStore) {
        while store.index_search_impl(100_000).await.unwrap().behind > 0 {}
    }

    fn query(search: &str, limit: u32, offset: u64) -> LogQuery {
        LogQuery {
            search: Some(search.into()),
            limit,
            offset,
            ..Default::default()
        }
    }

    /// The dense path's page (it must answer) against the general path's.
    async fn same_page(store: &SqlStore, q: &LogQuery, totals_too: bool) {
        let dense = store
            .dense_search_page(q, q.search.as_deref().unwrap())
            .await
            .unwrap()
            .expect("a dense word takes the dense path");
        let general = store.general_logs_page(q).await.unwrap();
        assert_eq!(dense.data, general.data, "page of {q:?}");
        assert!(dense.data.len() > 2, "the page has rows");
        if totals_too {
            assert_eq!(
                (dense.total, dense.total_exact),
                (general.total, general.total_exact),
                "total of {q:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_dense_search_returns_the_general_paths_page() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/s.db", dir.path().display());
        let store = SqlStore::connect(&url).await.unwrap();
        store
            .insert_events(&events(3_000, 1_000_000_000))
            .await
            .unwrap();
        index_all(&store).await;
        for (limit, offset) in [(50, 0), (10, 0), (50, 100), (7, 333), (1, 0)] {
            same_page(&store, &query("needle", limit, offset), true).await;
        }
        // Other filters beside the search: the same page.
        let odd = LogQuery {
            decky: Some("odd".into()),
            ..query("needle", 20, 5)
        };
        same_page(&store, &odd, false).await;
        // Rows stored after the index's step are found by the scan, and
        // late rows with the newest times come first.
        store
            .insert_events(&events(300, 5_000_000_000))
            .await
            .unwrap();
        same_page(&store, &query("needle", 50, 0), true).await;
        let page = store
            .query_logs_json_impl(&query("needle", 50, 0))
            .await
            .unwrap();
        assert!(page.data.contains("needle 294"), "{}", page.data);
        index_all(&store).await;
        same_page(&store, &query("needle", 50, 0), true).await;
        // Few matches: the general path answers (it is cheap for them).
        store
            .insert_events(&[Event::new("x", "ssh", EventKind::Command).with("cmd", "rare-word")])
            .await
            .unwrap();
        assert!(store
            .dense_search_page(&query("rare-word", 50, 0), "rare-word")
            .await
            .unwrap()
            .is_none());
        let rare = store
            .query_logs_json_impl(&query("rare-word", 50, 0))
            .await
            .unwrap();
        assert_eq!((rare.total, rare.total_exact), (1, true));
    }
}
