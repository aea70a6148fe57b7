//! PostgreSQL event ingest by `COPY … FROM STDIN` (text format) instead of
//! multi-row `INSERT`s: no 11 bind parameters per row to encode, send and
//! parse, one statement per batch.
//!
//! `COPY` has no `ON CONFLICT`, so a batch holding an event already stored
//! (a replay after a crash, a redelivery from NATS) fails on the primary
//! key; the transaction is then rolled back and the caller stores the
//! batch with `INSERT … ON CONFLICT (id) DO NOTHING`, which skips those.
//! The per-value counters move as with `INSERT`: the statement triggers of
//! migration 5 fire for `COPY` too, over the same transition table.

use decnet_core::Event;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::sql::RenderedEvent;
use crate::{db_err, StoreResult};

/// PostgreSQL's code for a unique-constraint violation.
const UNIQUE_VIOLATION: &str = "23505";

/// The typed pool `COPY` needs (sqlx's `Any` driver has no `COPY`). Lazy:
/// nothing connects before the first batch, so opening the store costs
/// what it did.
pub(crate) fn copy_pool(url: &str) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(2)
        .min_connections(0)
        .acquire_timeout(std::time::Duration::from_secs(60))
        .connect_lazy(url)
}

/// Stores `events` by `COPY` in one transaction with the event total;
/// the rows stored, or `None` when some were already stored (nothing was
/// written; the caller's `INSERT` path skips them).
///
/// The `COPY` runs on its own task: a caller that stops waiting (the
/// ingester's attempt timeout) must not drop it half-way, which leaves
/// sqlx's connection expecting replies the server does not send in that
/// order. A batch that commits after its caller gave up is harmless: the
/// retry finds its events stored and skips them.
pub(crate) async fn copy_events(
    pool: &PgPool,
    events: &[&Event],
    rendered: &[RenderedEvent],
) -> StoreResult<Option<u64>> {
    let data = copy_text(events, rendered);
    let pool = pool.clone();
    tokio::spawn(async move { copy_batch(&pool, data).await })
        .await
        .map_err(|e| crate::StoreError::Database(format!("COPY task: {e}")))?
}

/// [`copy_events`] once the batch is `COPY` text.
async fn copy_batch(pool: &PgPool, data: String) -> StoreResult<Option<u64>> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let mut copy = tx
        .copy_in_raw(
            "COPY events (id, ts, decky, service, kind, src_ip, src_port, dst_ip, dst_port, session_id, fields) \
             FROM STDIN",
        )
        .await
        .map_err(db_err)?;
    copy.send(data.as_bytes()).await.map_err(db_err)?;
    let new = match copy.finish().await {
        Ok(n) => n,
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some(UNIQUE_VIOLATION) => {
            return Ok(None);
        }
        Err(e) => return Err(db_err(e)),
    };
    sqlx::query("UPDATE event_total SET n = n + $1 WHERE id = 1")
        .bind(i64::try_from(new).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(Some(new))
}

/// The batch in `COPY`'s text format: one line per event, columns split
/// by tabs, `\N` for a missing session.
fn copy_text(events: &[&Event], rendered: &[RenderedEvent]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(rendered.iter().map(|r| r.fields.len() + 160).sum());
    for (e, r) in events.iter().zip(rendered) {
        // Ids, addresses and numbers have nothing to escape.
        let _ = write!(out, "{}\t{}\t", r.id, crate::sql::us(e.ts));
        for text in [e.decky.as_str(), e.service.as_str(), e.kind.as_str()] {
            escape_into(&mut out, text);
            out.push('\t');
        }
        let _ = write!(
            out,
            "{}\t{}\t{}\t{}\t{}\t",
            r.src_ip,
            e.src_port,
            r.dst_ip,
            e.dst_port,
            r.session.as_deref().unwrap_or("\\N")
        );
        escape_into(&mut out, &r.fields);
        out.push('\n');
    }
    out
}

/// Appends `s` with the characters `COPY`'s text format gives a meaning
/// (backslash, tab, newline, carriage return) escaped, so any text —
/// a decky name from a config file, a JSON field — arrives unchanged.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_copy_would_read_as_syntax() {
        let mut out = String::new();
        escape_into(&mut out, "a\\b\tc\nd\re \\N");
        assert_eq!(out, "a\\\\b\\tc\\nd\\re \\\\N");
    }
}
