//! The SQLite search index over events' fields (migration 11): a trigram
//! FTS5 table filled behind the ingest path, read by substring searches
//! (`logs_sql.rs`). Ingest never touches it; the ingester's indexer adds
//! what was stored since the last step, and a search scans only the rows
//! newer than the index's mark.

use crate::sql::SqlStore;
use crate::{db_err, Backend, SearchIndexStep, StoreResult};

/// Shortest search the trigram index answers (shorter ones scan a window).
const MIN_CHARS: usize = 3;

/// True when the index can answer a search for `term`: three characters
/// or more (a trigram index has nothing shorter to look up).
pub(crate) fn indexable(term: &str) -> bool {
    term.chars().count() >= MIN_CHARS
}

/// The FTS5 query for events whose fields contain `term`: one phrase, the
/// term's trigrams in a row. The index keeps positions, so the phrase is
/// an exact (case-folded) substring match answered from the index alone;
/// a `LIKE` would make SQLite read every candidate row back to test it.
/// `%`, `_` and `\` are plain characters in a phrase.
pub(crate) fn phrase(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// The index's mark: every event with `seq` at or below it is indexed.
pub(crate) const MARK: &str = "(SELECT upto FROM events_fts_progress WHERE id = 1)";

impl SqlStore {
    pub(crate) async fn index_search_impl(&self, max_rows: u64) -> StoreResult<SearchIndexStep> {
        if self.backend != Backend::Sqlite || max_rows == 0 {
            return Ok(SearchIndexStep::default());
        }
        let max = i64::try_from(max_rows).unwrap_or(i64::MAX);
        // One writer connection: no event can be stored between reading
        // the newest seq and moving the mark.
        let mut tx = self.write.begin().await.map_err(db_err)?;
        let (mark, top): (i64, i64) = sqlx::query_as(&format!(
            "SELECT {MARK}, COALESCE((SELECT MAX(seq) FROM events), 0)"
        ))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if top <= mark {
            return Ok(SearchIndexStep::default());
        }
        let to = mark.saturating_add(max).min(top);
        // Fewer rows than the range when seqs have gaps (pruned rows).
        let added = sqlx::query(
            "INSERT INTO events_fts (rowid, fields) SELECT seq, fields FROM events WHERE seq > $1 AND seq <= $2",
        )
        .bind(mark)
        .bind(to)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?
        .rows_affected();
        sqlx::query("UPDATE events_fts_progress SET upto = $1 WHERE id = 1")
            .bind(to)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(SearchIndexStep {
            added,
            behind: u64::try_from(top - to).unwrap_or(0),
        })
    }

    /// After events were deleted (inside the deleting transaction): the
    /// mark comes down to the newest remaining event. SQLite gives a new
    /// row the largest rowid + 1, so once the newest rows are gone new ones
    /// reuse their seqs; they must land above the mark, where the index has
    /// nothing for them (the delete trigger already took the old ones out).
    pub(crate) async fn search_mark_after_delete(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> StoreResult<()> {
        if self.backend == Backend::Sqlite {
            sqlx::query(
                "UPDATE events_fts_progress SET upto = MIN(upto, COALESCE((SELECT MAX(seq) FROM events), 0)) WHERE id = 1",
            )
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        }
        Ok(())
    }
}
