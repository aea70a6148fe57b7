//! Versioned schema migrations for both backends.
//!
//! Each migration has a version, a name and one script per backend. They are
//! applied in order, each in its own transaction, and recorded in
//! `schema_migrations`; an applied version is never run again. Append new
//! migrations at the end; never edit an applied one.

use sqlx::AnyPool;

use crate::{db_err, Backend, StoreResult};

/// One migration.
pub struct Migration {
    /// Monotonic version.
    pub version: i64,
    /// Short name.
    pub name: &'static str,
    /// SQLite script (statements separated by `;`).
    pub sqlite: &'static str,
    /// PostgreSQL script.
    pub postgres: &'static str,
}

const EVENTS_SQLITE: &str = r#"
CREATE TABLE events (
    id TEXT PRIMARY KEY NOT NULL,
    ts INTEGER NOT NULL,
    decky TEXT NOT NULL,
    service TEXT NOT NULL,
    kind TEXT NOT NULL,
    src_ip TEXT NOT NULL,
    src_port INTEGER NOT NULL,
    dst_ip TEXT NOT NULL,
    dst_port INTEGER NOT NULL,
    session_id TEXT,
    fields TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX events_ts ON events (ts);
CREATE INDEX events_src_ts ON events (src_ip, ts);
CREATE INDEX events_decky_ts ON events (decky, ts);
CREATE INDEX events_kind_ts ON events (kind, ts);
CREATE TABLE users (
    uuid TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    must_change_password INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE TABLE settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
)
"#;

const EVENTS_POSTGRES: &str = r#"
CREATE TABLE events (
    id TEXT PRIMARY KEY NOT NULL,
    ts BIGINT NOT NULL,
    decky TEXT NOT NULL,
    service TEXT NOT NULL,
    kind TEXT NOT NULL,
    src_ip TEXT NOT NULL,
    src_port BIGINT NOT NULL,
    dst_ip TEXT NOT NULL,
    dst_port BIGINT NOT NULL,
    session_id TEXT,
    fields TEXT NOT NULL
);
CREATE INDEX events_ts ON events (ts);
CREATE INDEX events_src_ts ON events (src_ip, ts);
CREATE INDEX events_decky_ts ON events (decky, ts);
CREATE INDEX events_kind_ts ON events (kind, ts);
CREATE TABLE users (
    uuid TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    must_change_password BIGINT NOT NULL,
    password_changed_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE TABLE settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
)
"#;

/// Intelligence tables; portable types, so one script serves both.
const INTEL: &str = r#"
CREATE TABLE intel_seen (
    id TEXT PRIMARY KEY NOT NULL,
    ts BIGINT NOT NULL
);
CREATE TABLE attackers (
    ip TEXT PRIMARY KEY NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    event_count BIGINT NOT NULL,
    behavior TEXT NOT NULL,
    identity_id TEXT,
    data TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE INDEX attackers_last_seen ON attackers (last_seen);
CREATE INDEX attackers_identity ON attackers (identity_id);
CREATE TABLE credentials (
    ip TEXT NOT NULL,
    decky TEXT NOT NULL,
    service TEXT NOT NULL,
    secret_kind TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    principal TEXT NOT NULL,
    secret_printable TEXT NOT NULL,
    secret_b64 TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (ip, decky, service, secret_kind, secret_hash, principal)
);
CREATE INDEX credentials_secret ON credentials (secret_kind, secret_hash);
CREATE INDEX credentials_last_seen ON credentials (last_seen);
CREATE TABLE bounty (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    ip TEXT NOT NULL,
    decky TEXT NOT NULL,
    service TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    count BIGINT NOT NULL,
    details TEXT NOT NULL,
    PRIMARY KEY (kind, value, ip)
);
CREATE INDEX bounty_last_seen ON bounty (last_seen);
CREATE TABLE identities (
    id TEXT PRIMARY KEY NOT NULL,
    status TEXT NOT NULL,
    last_seen BIGINT NOT NULL,
    data TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE identity_events (
    id TEXT PRIMARY KEY NOT NULL,
    ts BIGINT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL
);
CREATE TABLE campaigns (
    id TEXT PRIMARY KEY NOT NULL,
    last_seen BIGINT NOT NULL,
    data TEXT NOT NULL
)
"#;

/// SQLite: events become a rowid table (secondary indexes then carry an
/// 8-byte rowid instead of the 36-character id: faster ingest, smaller
/// indexes); attacker lists get indexes that cover their ORDER BY.
const V3_SQLITE: &str = r#"
CREATE TABLE events_v3 (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    ts INTEGER NOT NULL,
    decky TEXT NOT NULL,
    service TEXT NOT NULL,
    kind TEXT NOT NULL,
    src_ip TEXT NOT NULL,
    src_port INTEGER NOT NULL,
    dst_ip TEXT NOT NULL,
    dst_port INTEGER NOT NULL,
    session_id TEXT,
    fields TEXT NOT NULL
);
INSERT INTO events_v3 (id, ts, decky, service, kind, src_ip, src_port, dst_ip, dst_port, session_id, fields)
    SELECT id, ts, decky, service, kind, src_ip, src_port, dst_ip, dst_port, session_id, fields FROM events ORDER BY ts, id;
DROP TABLE events;
ALTER TABLE events_v3 RENAME TO events;
CREATE INDEX events_ts ON events (ts);
CREATE INDEX events_src_ts ON events (src_ip, ts);
CREATE INDEX events_decky_ts ON events (decky, ts);
CREATE INDEX events_kind_ts ON events (kind, ts);
DROP INDEX attackers_last_seen;
CREATE INDEX attackers_last_seen_ip ON attackers (last_seen, ip);
CREATE INDEX attackers_behavior_last_seen_ip ON attackers (behavior, last_seen, ip)
"#;

const V3_POSTGRES: &str = r#"
DROP INDEX attackers_last_seen;
CREATE INDEX attackers_last_seen_ip ON attackers (last_seen, ip);
CREATE INDEX attackers_behavior_last_seen_ip ON attackers (behavior, last_seen, ip)
"#;

/// The unfiltered event count as a row kept by every insert and delete
/// (`COUNT(*)` walks the whole table: milliseconds at 1M rows, on every
/// dashboard page and stats poll).
const V4: &str = r#"
CREATE TABLE event_total (id INTEGER PRIMARY KEY NOT NULL, n BIGINT NOT NULL);
INSERT INTO event_total (id, n) SELECT 1, COUNT(*) FROM events
"#;

/// Per-value event counts for the single-column log filters (`kind`,
/// `decky`, `service`, `src_ip`), so a filtered page's `total` is one
/// primary-key lookup instead of a `COUNT(*)` over an index range. Kept by
/// triggers (SQLite's insert trigger was replaced in migration 6), so every insert (only rows really inserted: `ON CONFLICT DO
/// NOTHING` skips fire nothing) and every delete moves them in the same
/// transaction, whatever code path writes `events`. SQLite: row triggers
/// (one small UPSERT per row). PostgreSQL: statement triggers over the
/// transition tables (one grouped UPSERT per statement, rows in key order
/// so concurrent writers lock counters in the same order). Rows whose
/// count reaches 0 stay (harmless; readers treat a missing row as 0).
const V5_SQLITE: &str = r#"
CREATE TABLE event_counts (dim TEXT NOT NULL, val TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (dim, val)) WITHOUT ROWID;
INSERT INTO event_counts (dim, val, n)
    SELECT 'kind', kind, COUNT(*) FROM events GROUP BY kind
    UNION ALL SELECT 'decky', decky, COUNT(*) FROM events GROUP BY decky
    UNION ALL SELECT 'service', service, COUNT(*) FROM events GROUP BY service
    UNION ALL SELECT 'src_ip', src_ip, COUNT(*) FROM events GROUP BY src_ip;
CREATE TRIGGER events_count_ins AFTER INSERT ON events BEGIN
    INSERT INTO event_counts (dim, val, n) VALUES ('kind', NEW.kind, 1), ('decky', NEW.decky, 1), ('service', NEW.service, 1), ('src_ip', NEW.src_ip, 1)
        ON CONFLICT (dim, val) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER events_count_del AFTER DELETE ON events BEGIN
    UPDATE event_counts SET n = n - 1 WHERE dim = 'kind' AND val = OLD.kind;
    UPDATE event_counts SET n = n - 1 WHERE dim = 'decky' AND val = OLD.decky;
    UPDATE event_counts SET n = n - 1 WHERE dim = 'service' AND val = OLD.service;
    UPDATE event_counts SET n = n - 1 WHERE dim = 'src_ip' AND val = OLD.src_ip;
END
"#;

const V5_POSTGRES: &str = r#"
CREATE TABLE event_counts (dim TEXT NOT NULL, val TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (dim, val));
INSERT INTO event_counts (dim, val, n)
    SELECT 'kind', kind, COUNT(*) FROM events GROUP BY kind
    UNION ALL SELECT 'decky', decky, COUNT(*) FROM events GROUP BY decky
    UNION ALL SELECT 'service', service, COUNT(*) FROM events GROUP BY service
    UNION ALL SELECT 'src_ip', src_ip, COUNT(*) FROM events GROUP BY src_ip;
CREATE FUNCTION event_counts_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO event_counts (dim, val, n)
            SELECT d, v, COUNT(*) FROM (
                SELECT 'kind' AS d, kind AS v FROM moved_rows
                UNION ALL SELECT 'decky', decky FROM moved_rows
                UNION ALL SELECT 'service', service FROM moved_rows
                UNION ALL SELECT 'src_ip', src_ip FROM moved_rows) AS m
            GROUP BY d, v ORDER BY d, v
            ON CONFLICT (dim, val) DO UPDATE SET n = event_counts.n + excluded.n;
    ELSE
        UPDATE event_counts AS c SET n = c.n - m.k FROM (
            SELECT d, v, COUNT(*) AS k FROM (
                SELECT 'kind' AS d, kind AS v FROM moved_rows
                UNION ALL SELECT 'decky', decky FROM moved_rows
                UNION ALL SELECT 'service', service FROM moved_rows
                UNION ALL SELECT 'src_ip', src_ip FROM moved_rows) AS r
            GROUP BY d, v) AS m
        WHERE c.dim = m.d AND c.val = m.v;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER events_count_ins AFTER INSERT ON events REFERENCING NEW TABLE AS moved_rows
    FOR EACH STATEMENT EXECUTE FUNCTION event_counts_move();
CREATE TRIGGER events_count_del AFTER DELETE ON events REFERENCING OLD TABLE AS moved_rows
    FOR EACH STATEMENT EXECUTE FUNCTION event_counts_move()
"#;

/// SQLite: the per-row insert trigger of migration 5 halved bulk ingest;
/// `insert_events` now moves the counters with one grouped statement per
/// batch instead (`sql.rs`, `COUNT_NEW_SQLITE`). The delete trigger stays
/// (prunes are rare). PostgreSQL keeps its statement triggers.
const V6_SQLITE: &str = "DROP TRIGGER events_count_ins";

/// Attackers get their stable id as a column, indexed, so `/attackers/{uuid}`
/// is one lookup. Rows stored before are filled in when intel next loads
/// its state (`intel_load`): the id is a UUIDv5, which SQL cannot compute.
const V7: &str =
    "ALTER TABLE attackers ADD COLUMN uuid TEXT; CREATE INDEX attackers_uuid ON attackers (uuid)";

/// ATT&CK tags (one row per event × technique × rule, so replays insert
/// nothing new) and the STIX objects the TAXII server serves (one row per
/// object version per collection). Portable types: one script for both.
const V8_ATTACK: &str = r#"
CREATE TABLE attack_tags (
    event_id TEXT NOT NULL,
    technique_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    confidence BIGINT NOT NULL,
    ts BIGINT NOT NULL,
    src_ip TEXT NOT NULL,
    session_id TEXT,
    decky TEXT NOT NULL,
    evidence TEXT NOT NULL,
    PRIMARY KEY (event_id, technique_id, rule_id)
);
CREATE INDEX attack_tags_ts ON attack_tags (ts);
CREATE INDEX attack_tags_src_ts ON attack_tags (src_ip, ts);
CREATE INDEX attack_tags_technique_ts ON attack_tags (technique_id, ts);
CREATE TABLE stix_objects (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    version TEXT NOT NULL,
    date_added BIGINT NOT NULL,
    stix_type TEXT NOT NULL,
    spec_version TEXT NOT NULL,
    object TEXT NOT NULL,
    PRIMARY KEY (collection, id, version)
);
CREATE INDEX stix_objects_added ON stix_objects (collection, date_added, id, version)
"#;

/// Alert history (decnet-alerts): one row per alert, one per (alert,
/// channel) delivery with its state. Portable types: one script for both.
const V9_ALERTS: &str = r#"
CREATE TABLE alert_history (
    alert_id TEXT PRIMARY KEY NOT NULL,
    ts BIGINT NOT NULL,
    rule TEXT NOT NULL,
    source TEXT,
    alert TEXT NOT NULL
);
CREATE INDEX alert_history_ts ON alert_history (ts, alert_id);
CREATE TABLE alert_deliveries (
    alert_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    last_error TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (alert_id, channel)
)
"#;

/// Attackers' country (ISO code or `private`, from the geolocation
/// databases) as a column, so the country filter and the map's per-country
/// counts are index reads instead of a scan of every row's JSON.
const V10_GEO: &str = "ALTER TABLE attackers ADD COLUMN country TEXT; \
     CREATE INDEX attackers_country_last_seen_ip ON attackers (country, last_seen, ip)";

/// SQLite: a trigram full-text index over each event's fields, so a
/// substring search reads the index instead of every row. It is an
/// external-content FTS5 table (the text stays in `events` only; `detail =
/// none` keeps it about a third of the table's size) filled *behind* the
/// ingest path by [`crate::Store::index_search`] up to
/// `events_fts_progress.upto`: ingest pays nothing for it, searches read the
/// index below that mark and scan only the newer rows. Rows deleted below
/// the mark leave the index with them (the trigger); rows above it were
/// never in it. PostgreSQL: nothing (its searches keep the row window).
const V11_SEARCH_SQLITE: &str = r#"
CREATE VIRTUAL TABLE events_fts USING fts5(fields, content='events', content_rowid='seq', tokenize='trigram');
CREATE TABLE events_fts_progress (id INTEGER PRIMARY KEY NOT NULL, upto BIGINT NOT NULL);
INSERT INTO events_fts_progress (id, upto) VALUES (1, 0);
CREATE TRIGGER events_fts_del AFTER DELETE ON events
    WHEN OLD.seq <= (SELECT upto FROM events_fts_progress WHERE id = 1) BEGIN
    INSERT INTO events_fts (events_fts, rowid, fields) VALUES ('delete', OLD.seq, OLD.fields);
END
"#;

/// What online reputation services (AbuseIPDB, GreyNoise) said about an
/// attacker address, one row per (address, provider), written behind intel
/// by the enrichment worker. `fetched_at` decides when it is asked again;
/// `score` (AbuseIPDB's confidence) is a column so the attackers list can
/// filter on it without reading JSON.
const V12_ENRICHMENT: &str = "CREATE TABLE enrichment ( \
     ip TEXT NOT NULL, provider TEXT NOT NULL, fetched_at BIGINT NOT NULL, \
     score BIGINT, data TEXT NOT NULL, PRIMARY KEY (ip, provider)); \
     CREATE INDEX enrichment_provider_score ON enrichment (provider, score, ip)";

/// SQLite: intel's consumed-event ledger keyed by the event id alone. As a
/// rowid table with a text primary key every id was written twice (the
/// table's B-tree and the key's index); `WITHOUT ROWID` keeps one B-tree,
/// one write per event intel consumes. PostgreSQL: nothing (a heap and its
/// key's index either way).
const V13_INTEL_SEEN_SQLITE: &str = r#"
CREATE TABLE intel_seen_v13 (id TEXT PRIMARY KEY NOT NULL, ts BIGINT NOT NULL) WITHOUT ROWID;
INSERT INTO intel_seen_v13 (id, ts) SELECT id, ts FROM intel_seen;
DROP TABLE intel_seen;
ALTER TABLE intel_seen_v13 RENAME TO intel_seen
"#;

/// All migrations, in order.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "events_users_tokens_settings",
        sqlite: EVENTS_SQLITE,
        postgres: EVENTS_POSTGRES,
    },
    Migration {
        version: 2,
        name: "intel_attackers_credentials_bounty_identities_campaigns",
        sqlite: INTEL,
        postgres: INTEL,
    },
    Migration {
        version: 3,
        name: "events_rowid_attacker_list_indexes",
        sqlite: V3_SQLITE,
        postgres: V3_POSTGRES,
    },
    Migration {
        version: 4,
        name: "event_total_counter",
        sqlite: V4,
        postgres: V4,
    },
    Migration {
        version: 5,
        name: "event_counts_per_filter_value",
        sqlite: V5_SQLITE,
        postgres: V5_POSTGRES,
    },
    Migration {
        version: 6,
        name: "sqlite_event_counts_per_batch",
        sqlite: V6_SQLITE,
        postgres: "",
    },
    Migration {
        version: 7,
        name: "attacker_uuid",
        sqlite: V7,
        postgres: V7,
    },
    Migration {
        version: 8,
        name: "attack_tags_stix_objects",
        sqlite: V8_ATTACK,
        postgres: V8_ATTACK,
    },
    Migration {
        version: 9,
        name: "alert_history_deliveries",
        sqlite: V9_ALERTS,
        postgres: V9_ALERTS,
    },
    Migration {
        version: 10,
        name: "attacker_country",
        sqlite: V10_GEO,
        postgres: V10_GEO,
    },
    Migration {
        version: 11,
        name: "sqlite_events_search_index",
        sqlite: V11_SEARCH_SQLITE,
        postgres: "",
    },
    Migration {
        version: 12,
        name: "attacker_enrichment",
        sqlite: V12_ENRICHMENT,
        postgres: V12_ENRICHMENT,
    },
    Migration {
        version: 13,
        name: "sqlite_intel_seen_without_rowid",
        sqlite: V13_INTEL_SEEN_SQLITE,
        postgres: "",
    },
];

/// Splits a script into statements at `;`, except inside `$$ … $$`
/// (PostgreSQL function bodies) and inside a SQLite trigger's
/// `BEGIN … END` (its body's statements end with `;` too).
fn statements(script: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut dollar, mut in_trigger) = (0, false, false);
    let b = script.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"$$") {
            dollar = !dollar;
            i += 2;
            continue;
        }
        if b[i] == b';' && !dollar {
            let stmt = script[start..i].trim();
            let upper = stmt.to_ascii_uppercase();
            if upper.starts_with("CREATE TRIGGER") && !upper.contains("EXECUTE FUNCTION") {
                in_trigger = true;
            }
            let ends_body = upper == "END" || upper.ends_with(" END") || upper.ends_with("\nEND");
            if !in_trigger || ends_body {
                if !stmt.is_empty() {
                    out.push(stmt);
                }
                start = i + 1;
                in_trigger = false;
            }
        }
        i += 1;
    }
    let tail = script[start..].trim();
    if !tail.is_empty() {
        out.push(tail);
    }
    out
}

/// Applies every migration not yet recorded. Returns how many ran.
pub async fn run(pool: &AnyPool, backend: Backend) -> StoreResult<usize> {
    run_until(pool, backend, i64::MAX).await
}

/// Applies the migrations up to and including version `last` not yet
/// recorded (tests build an older schema with it). Returns how many ran.
pub async fn run_until(pool: &AnyPool, backend: Backend, last: i64) -> StoreResult<usize> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY NOT NULL, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(pool)
    .await
    .map_err(db_err)?;
    let mut ran = 0;
    for m in MIGRATIONS.iter().filter(|m| m.version <= last) {
        let mut tx = pool.begin().await.map_err(db_err)?;
        let done: Option<(i64,)> =
            sqlx::query_as("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        if done.is_some() {
            continue;
        }
        let script = match backend {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        for stmt in statements(script) {
            sqlx::query(stmt).execute(&mut *tx).await.map_err(|e| {
                crate::StoreError::Database(format!("migration {} ({}): {e}", m.version, m.name))
            })?;
        }
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(chrono::Utc::now().timestamp_micros())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        ran += 1;
    }
    Ok(ran)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_keep_trigger_and_function_bodies_whole() {
        let sqlite = statements(V5_SQLITE);
        assert_eq!(sqlite.len(), 4, "{sqlite:#?}");
        assert!(
            sqlite[2].starts_with("CREATE TRIGGER events_count_ins") && sqlite[2].ends_with("END")
        );
        assert!(
            sqlite[3].starts_with("CREATE TRIGGER events_count_del") && sqlite[3].ends_with("END")
        );
        let pg = statements(V5_POSTGRES);
        assert_eq!(pg.len(), 5, "{pg:#?}");
        assert!(pg[2].starts_with("CREATE FUNCTION") && pg[2].ends_with("$$"));
        assert_eq!(statements("A; B ;\n C"), vec!["A", "B", "C"]);
    }
}
