//! The one SQL implementation of [`Store`], over sqlx's `Any` driver, for
//! both SQLite and PostgreSQL.
//!
//! Both schemas use portable types only (BIGINT microseconds for instants,
//! TEXT for ids, addresses and JSON) so every query is the same text on both
//! backends (`$N` placeholders work in SQLite too). SQLite gets a dedicated
//! single-connection writer pool (one writer, WAL) and a separate reader
//! pool, so API reads never queue behind an ingest transaction.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use decnet_core::Event;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use uuid::Uuid;

use crate::logs_sql::filter_for;
use crate::model::*;
use crate::open::Target;
use crate::{db_err, Backend, OpenError, Store, StoreError, StoreResult};

/// Rows per multi-row INSERT statement (11 parameters each).
const INSERT_CHUNK: usize = 500;

/// SQL store (SQLite or PostgreSQL).
pub struct SqlStore {
    pub(crate) backend: Backend,
    /// Writer pool (one connection on SQLite).
    pub(crate) write: AnyPool,
    /// Reader pool (the same pool on PostgreSQL).
    pub(crate) read: AnyPool,
    /// PostgreSQL: the typed pool events are stored through by `COPY`
    /// (`pg_copy.rs`); `None` on SQLite.
    pub(crate) pg_copy: Option<sqlx::PgPool>,
}

/// An event's text columns, rendered once for the statement that stores it.
pub(crate) struct RenderedEvent {
    pub(crate) id: String,
    pub(crate) src_ip: String,
    pub(crate) dst_ip: String,
    pub(crate) session: Option<String>,
    pub(crate) fields: String,
}

impl RenderedEvent {
    fn of(e: &Event) -> Self {
        RenderedEvent {
            id: e.id.hyphenated().to_string(),
            src_ip: e.src_ip.to_string(),
            dst_ip: e.dst_ip.to_string(),
            session: e.session_id.map(|s| s.hyphenated().to_string()),
            fields: serde_json::to_string(&e.fields).unwrap_or_else(|_| "{}".into()),
        }
    }
}

pub(crate) fn us(ts: DateTime<Utc>) -> i64 {
    ts.timestamp_micros()
}

pub(crate) fn from_us(v: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_micros(v).ok_or_else(|| StoreError::Corrupt(format!("timestamp {v}")))
}

/// A row's columns read in select order, each error the store's.
pub(crate) struct Cols<'r> {
    row: &'r AnyRow,
    next: usize,
}

impl<'r> Cols<'r> {
    pub(crate) fn new(row: &'r AnyRow) -> Self {
        Cols { row, next: 0 }
    }

    /// The next column.
    pub(crate) fn get<T>(&mut self) -> StoreResult<T>
    where
        T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        let v = self.row.try_get(self.next).map_err(db_err);
        self.next += 1;
        v
    }

    /// The next column, an instant in µs.
    pub(crate) fn time(&mut self) -> StoreResult<DateTime<Utc>> {
        from_us(self.get()?)
    }

    /// The next column, a count (never negative).
    pub(crate) fn count(&mut self) -> StoreResult<u64> {
        Ok(self.get::<i64>()?.max(0) as u64)
    }

    /// The next column, JSON text; `what` names it in the error.
    pub(crate) fn json<T: serde::de::DeserializeOwned>(&mut self, what: &str) -> StoreResult<T> {
        let text: String = self.get()?;
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
    }
}

pub(crate) fn parse_uuid(s: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(s).map_err(|e| StoreError::Corrupt(format!("uuid {s:?}: {e}")))
}

impl SqlStore {
    /// Opens (creating if needed) and migrates.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::open(url)
            .await
            .map_err(|e| StoreError::Database(e.to_string()))
    }

    /// [`SqlStore::connect`] with the failure classified: what went wrong,
    /// where, and whether retrying can help ([`crate::open_with_retry`]).
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        sqlx::any::install_default_drivers();
        let target = Target::parse(url)?;
        match &target {
            Target::Sqlite { full, .. } => {
                target.prepare_sqlite_file()?;
                target.probe().await?;
                let write = AnyPoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .test_before_acquire(false)
                    .acquire_timeout(Duration::from_secs(120))
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .after_connect(sqlite_setup)
                    .after_release(writer_still_usable)
                    .connect(full)
                    .await
                    .map_err(|e| target.error(e))?;
                crate::migrations::run(&write, Backend::Sqlite)
                    .await
                    .map_err(|e| target.failed(e.to_string(), false))?;
                // No ping before handing out a reader: a SQLite connection is
                // a local file, and sqlx's ping is a round trip to the
                // connection's worker thread — one more pair of thread
                // switches on every API read.
                let read = AnyPoolOptions::new()
                    .max_connections(sqlite_readers())
                    .test_before_acquire(false)
                    .acquire_timeout(Duration::from_secs(60))
                    .after_connect(sqlite_setup)
                    .connect(full)
                    .await
                    .map_err(|e| target.error(e))?;
                Ok(SqlStore {
                    backend: Backend::Sqlite,
                    write,
                    read,
                    pg_copy: None,
                })
            }
            Target::Postgres { url, .. } => {
                target.probe().await?;
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(60))
                    .connect(url)
                    .await
                    .map_err(|e| target.error(e))?;
                crate::migrations::run(&pool, Backend::Postgres)
                    .await
                    .map_err(|e| target.failed(e.to_string(), false))?;
                let pg_copy = crate::pg_copy::copy_pool(url).map_err(|e| target.error(e))?;
                Ok(SqlStore {
                    backend: Backend::Postgres,
                    write: pool.clone(),
                    read: pool,
                    pg_copy: Some(pg_copy),
                })
            }
        }
    }

    /// Closes the pools (waits for in-flight work).
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close().await;
        if let Some(pool) = &self.pg_copy {
            pool.close().await;
        }
    }
}

/// SQLite reader connections: two per core (4 to 8). Each sqlx SQLite
/// connection is a worker thread; measured on 2 cores with 32 concurrent
/// `/logs` pages, 4 readers gave 4,984–5,365 req/s and 2 gave 4,079–4,726
/// (a reader waiting on its hand-off to the async side leaves the core to
/// the other). `DECNET_SQLITE_READERS` overrides, for measuring.
fn sqlite_readers() -> u32 {
    if let Some(n) = std::env::var("DECNET_SQLITE_READERS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
    {
        return n.clamp(1, 64);
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
    (2 * cores).clamp(4, 8)
}

/// Released writer connections are checked before reuse. After a failed
/// statement SQLite may roll a transaction back by itself (`SQLITE_FULL`
/// does); sqlx 0.8 does not notice, keeps counting the transaction as open
/// and turns the next `BEGIN` into a `SAVEPOINT` — measured on a full disk:
/// every later batch went into one transaction that never committed, so
/// nothing reached the store even after space returned. A raw
/// `BEGIN; ROLLBACK` fails if a real transaction is still open, and sqlx's
/// own depth must be back to zero; otherwise the connection is closed and
/// the pool opens a fresh one (one round trip per write, invisible next to
/// the write itself).
fn writer_still_usable(
    conn: &mut sqlx::AnyConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, sqlx::Error>> + Send + '_>> {
    Box::pin(async move {
        use sqlx::{Connection, Executor};
        let clean = conn.execute("BEGIN; ROLLBACK").await.is_ok();
        Ok(clean && !conn.is_in_transaction())
    })
}

type SetupFuture<'c> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send + 'c>>;

/// Per-connection SQLite settings: WAL (readers never block the writer),
/// `synchronous = NORMAL` (a committed transaction survives a process
/// crash; only an OS crash/power loss can lose the last commits).
pub(crate) fn sqlite_setup(
    conn: &mut sqlx::AnyConnection,
    _meta: sqlx::pool::PoolConnectionMetadata,
) -> SetupFuture<'_> {
    Box::pin(sqlite_setup_conn(conn))
}

/// The settings of [`sqlite_setup`] on one connection.
pub(crate) async fn sqlite_setup_conn(conn: &mut sqlx::AnyConnection) -> Result<(), sqlx::Error> {
    use sqlx::Executor;
    conn.execute(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 30000; \
         PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536",
    )
    .await?;
    Ok(())
}

/// WHERE clause + binds for a log query. Binds are text or integers.
pub(crate) enum Bind {
    Text(String),
    Int(i64),
    OptText(Option<String>),
}

/// A query on the `Any` driver, before its binds are complete.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

pub(crate) fn bind_all<'q>(mut q: AnyQuery<'q>, binds: &'q [Bind]) -> AnyQuery<'q> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s.as_str()),
            Bind::Int(i) => q.bind(*i),
            Bind::OptText(o) => q.bind(o.as_deref()),
        };
    }
    q
}

pub(crate) const EVENT_COLS: &str =
    "id, ts, decky, service, kind, src_ip, src_port, dst_ip, dst_port, session_id, fields";

fn role_of(s: &str) -> StoreResult<Role> {
    Role::parse(s).ok_or_else(|| StoreError::Corrupt(format!("role {s}")))
}

/// Binds `user` as $1..$7 in the order of `USER_COLS`, so INSERT and UPDATE
/// cannot drift apart.
fn bind_user<'q>(q: AnyQuery<'q>, user: &'q User) -> AnyQuery<'q> {
    q.bind(user.uuid.to_string())
        .bind(user.username.as_str())
        .bind(user.password_hash.as_str())
        .bind(user.role.as_str())
        .bind(i64::from(user.must_change_password))
        .bind(us(user.password_changed_at))
        .bind(us(user.created_at))
}

fn user_from_row(r: &AnyRow) -> StoreResult<User> {
    Ok(User {
        uuid: parse_uuid(&r.try_get::<String, _>(0).map_err(db_err)?)?,
        username: r.try_get(1).map_err(db_err)?,
        password_hash: r.try_get(2).map_err(db_err)?,
        role: role_of(&r.try_get::<String, _>(3).map_err(db_err)?)?,
        must_change_password: r.try_get::<i64, _>(4).map_err(db_err)? != 0,
        password_changed_at: from_us(r.try_get(5).map_err(db_err)?)?,
        created_at: from_us(r.try_get(6).map_err(db_err)?)?,
    })
}

const USER_COLS: &str =
    "uuid, username, password_hash, role, must_change_password, password_changed_at, created_at";

/// `(…),(…)` placeholders for a multi-row VALUES. SQLite gets anonymous
/// `?`: binding numbered `$N` names makes SQLite look each name up in a
/// linear list, which is quadratic in the parameter count (measured: 2.5×
/// slower at 500 rows per statement). PostgreSQL needs `$N`.
pub(crate) fn placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    let mut s = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            s.push(',');
        }
        s.push('(');
        for c in 0..cols {
            if c > 0 {
                s.push(',');
            }
            match backend {
                Backend::Sqlite => s.push('?'),
                Backend::Postgres => {
                    s.push('$');
                    s.push_str(&(r * cols + c + 1).to_string());
                }
            }
        }
        s.push(')');
    }
    s
}

/// SQLite: adds the rows with `seq > $1` (the ones just inserted) to the
/// per-value counters, one grouped UPSERT for the whole batch — when some
/// of a batch were already stored (a replay); a batch stored whole is
/// counted from its events (`batch_counts`). A row
/// trigger doing the same per row halved bulk ingest (83–103k → 51–54k
/// events/s in `decnet-load fill`). Relies on SQLite giving a new row the
/// largest rowid + 1, which holds until rowids reach 2^63.
const COUNT_NEW_SQLITE: &str = "INSERT INTO event_counts (dim, val, n) \
     SELECT d, v, COUNT(*) FROM ( \
       SELECT 'kind' AS d, kind AS v FROM events WHERE seq > $1 \
       UNION ALL SELECT 'decky', decky FROM events WHERE seq > $1 \
       UNION ALL SELECT 'service', service FROM events WHERE seq > $1 \
       UNION ALL SELECT 'src_ip', src_ip FROM events WHERE seq > $1) \
     WHERE true GROUP BY d, v \
     ON CONFLICT (dim, val) DO UPDATE SET n = n + excluded.n";

/// Distinct values per counter UPSERT (3 parameters each).
const COUNT_CHUNK: usize = 500;

/// How many of `events` hold each counted value (`src_ips[i]` is the
/// stored text of `events[i].src_ip`): `(dim, val, n)`, in key order.
fn batch_counts<'a>(
    events: &[&'a Event],
    src_ips: &[&'a str],
) -> Vec<(&'static str, &'a str, i64)> {
    let mut counts: std::collections::BTreeMap<(&'static str, &'a str), i64> =
        std::collections::BTreeMap::new();
    for (e, src) in events.iter().zip(src_ips) {
        for key in [
            ("kind", e.kind.as_str()),
            ("decky", e.decky.as_str()),
            ("service", e.service.as_str()),
            ("src_ip", *src),
        ] {
            *counts.entry(key).or_insert(0) += 1;
        }
    }
    counts.into_iter().map(|((d, v), n)| (d, v, n)).collect()
}

/// SQLite: adds `counts` to the per-value counters (one UPSERT per
/// [`COUNT_CHUNK`] values).
async fn add_counts_sqlite(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    counts: &[(&'static str, &str, i64)],
) -> StoreResult<()> {
    for chunk in counts.chunks(COUNT_CHUNK) {
        let sql = format!(
            "INSERT INTO event_counts (dim, val, n) VALUES {} \
             ON CONFLICT (dim, val) DO UPDATE SET n = n + excluded.n",
            placeholders(Backend::Sqlite, chunk.len(), 3)
        );
        let mut q = sqlx::query(&sql);
        for (d, v, n) in chunk {
            q = q.bind(*d).bind(*v).bind(*n);
        }
        q.execute(&mut **tx).await.map_err(db_err)?;
    }
    Ok(())
}

/// Moves the stored-events counter by `delta` inside the writing transaction.
impl SqlStore {
    /// Runs one statement on the writer pool; the rows it changed.
    pub(crate) async fn write_rows(&self, statement: AnyQuery<'_>) -> StoreResult<u64> {
        Ok(statement
            .execute(&self.write)
            .await
            .map_err(db_err)?
            .rows_affected())
    }

    /// Runs one `DELETE FROM events …`, moving the event total and the
    /// search mark in the same transaction; the rows removed.
    async fn delete_events(&self, delete: AnyQuery<'_>) -> StoreResult<u64> {
        let mut tx = self.write.begin().await.map_err(db_err)?;
        let n = delete
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        add_total(&mut tx, -(n as i64)).await?;
        self.search_mark_after_delete(&mut tx).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(n)
    }
}

async fn add_total(tx: &mut sqlx::Transaction<'_, sqlx::Any>, delta: i64) -> StoreResult<()> {
    if delta != 0 {
        sqlx::query("UPDATE event_total SET n = n + $1 WHERE id = 1")
            .bind(delta)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        self.backend.as_str()
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.read)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn insert_event_refs(&self, events: &[&Event]) -> StoreResult<u64> {
        if events.is_empty() {
            return Ok(0);
        }
        // Pre-render the text columns once; the query borrows them.
        let rendered: Vec<RenderedEvent> = events.iter().map(|e| RenderedEvent::of(e)).collect();
        if let Some(pool) = &self.pg_copy {
            if let Some(new) = crate::pg_copy::copy_events(pool, events, &rendered).await? {
                return Ok(new);
            }
        }
        let mut tx = self.write.begin().await.map_err(db_err)?;
        // SQLite: rows this transaction inserts get rowids above the
        // current maximum, so the per-value counters are moved by one
        // grouped statement over that range after the inserts (see
        // migration 6). PostgreSQL moves them with statement triggers.
        let first_new_seq = match self.backend {
            Backend::Sqlite => Some(
                sqlx::query_as::<_, (i64,)>("SELECT COALESCE(MAX(seq), 0) FROM events")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?
                    .0,
            ),
            Backend::Postgres => None,
        };
        let mut new = 0u64;
        for (chunk_e, chunk_r) in events
            .chunks(INSERT_CHUNK)
            .zip(rendered.chunks(INSERT_CHUNK))
        {
            let sql = format!(
                "INSERT INTO events ({EVENT_COLS}) VALUES {} ON CONFLICT (id) DO NOTHING",
                placeholders(self.backend, chunk_e.len(), 11)
            );
            let mut q = sqlx::query(&sql);
            for (e, r) in chunk_e.iter().zip(chunk_r) {
                q = q
                    .bind(r.id.as_str())
                    .bind(us(e.ts))
                    .bind(e.decky.as_str())
                    .bind(e.service.as_str())
                    .bind(e.kind.as_str())
                    .bind(r.src_ip.as_str())
                    .bind(i64::from(e.src_port))
                    .bind(r.dst_ip.as_str())
                    .bind(i64::from(e.dst_port))
                    .bind(r.session.as_deref())
                    .bind(r.fields.as_str());
            }
            new += q.execute(&mut *tx).await.map_err(db_err)?.rows_affected();
        }
        if let (Some(after), true) = (first_new_seq, new > 0) {
            if new == events.len() as u64 {
                // Every row went in: the counters move by what the batch
                // holds, counted here, instead of reading the new rows
                // back four times and grouping them in a temporary B-tree.
                let srcs: Vec<&str> = rendered.iter().map(|r| r.src_ip.as_str()).collect();
                add_counts_sqlite(&mut tx, &batch_counts(events, &srcs)).await?;
            } else {
                sqlx::query(COUNT_NEW_SQLITE)
                    .bind(after)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
        }
        add_total(&mut tx, new as i64).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(new)
    }

    async fn query_logs_json(&self, q: &LogQuery) -> StoreResult<LogPageJson> {
        self.query_logs_json_impl(q).await
    }

    async fn histogram(
        &self,
        q: &LogQuery,
        bucket_seconds: u32,
    ) -> StoreResult<Vec<HistogramBucket>> {
        let width = i64::from(bucket_seconds.max(1)) * 1_000_000;
        let f = filter_for(self.backend, q);
        let n = f.binds.len();
        let sql = format!(
            "{}SELECT (ts / ${p}) * ${p} AS b, COUNT(*) FROM events{} GROUP BY b ORDER BY b",
            f.with(),
            f.clause,
            p = n + 1
        );
        let rows = bind_all(sqlx::query(&sql), &f.binds)
            .bind(width)
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(HistogramBucket {
                    ts: from_us(r.try_get(0).map_err(db_err)?)?,
                    count: r.try_get::<i64, _>(1).map_err(db_err)?.max(0) as u64,
                })
            })
            .collect()
    }

    async fn stats(&self) -> StoreResult<Stats> {
        let hour_ago = us(Utc::now()) - 3_600_000_000;
        let r = sqlx::query(
            // Distinct values and the auth count come from the per-value
            // counter rows (a value is present while its count is > 0).
            "SELECT (SELECT n FROM event_total WHERE id = 1), \
             (SELECT COUNT(*) FROM event_counts WHERE dim = 'src_ip' AND n > 0), \
             COALESCE((SELECT n FROM event_counts WHERE dim = 'kind' AND val = 'auth_attempt'), 0), \
             (SELECT COUNT(*) FROM event_counts WHERE dim = 'decky' AND n > 0), \
             (SELECT COUNT(*) FROM events WHERE ts >= $1)",
        )
        .bind(hour_ago)
        .fetch_one(&self.read)
        .await
        .map_err(db_err)?;
        let g = |i: usize| -> StoreResult<u64> {
            Ok(r.try_get::<i64, _>(i).map_err(db_err)?.max(0) as u64)
        };
        Ok(Stats {
            total_events: g(0)?,
            unique_attackers: g(1)?,
            auth_attempts: g(2)?,
            active_deckies: g(3)?,
            events_last_hour: g(4)?,
        })
    }

    async fn create_user(&self, user: &User) -> StoreResult<()> {
        let res = bind_user(
            sqlx::query(&format!(
                "INSERT INTO users ({USER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            )),
            user,
        )
        .execute(&self.write)
        .await;
        match res {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
                format!("user {} exists", user.username),
            )),
            Err(e) => Err(db_err(e)),
        }
    }

    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>> {
        sqlx::query(&format!(
            "SELECT {USER_COLS} FROM users WHERE username = $1"
        ))
        .bind(username)
        .fetch_optional(&self.read)
        .await
        .map_err(db_err)?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    async fn user_by_id(&self, uuid: Uuid) -> StoreResult<Option<User>> {
        sqlx::query(&format!("SELECT {USER_COLS} FROM users WHERE uuid = $1"))
            .bind(uuid.to_string())
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn list_users(&self) -> StoreResult<Vec<User>> {
        sqlx::query(&format!("SELECT {USER_COLS} FROM users ORDER BY username"))
            .fetch_all(&self.read)
            .await
            .map_err(db_err)?
            .iter()
            .map(user_from_row)
            .collect()
    }

    async fn update_user(&self, user: &User) -> StoreResult<()> {
        let res = bind_user(
            sqlx::query(
                "UPDATE users SET username = $2, password_hash = $3, role = $4, must_change_password = $5, \
                 password_changed_at = $6, created_at = $7 WHERE uuid = $1",
            ),
            user,
        )
        .execute(&self.write)
        .await;
        match res {
            Ok(r) if r.rows_affected() == 0 => {
                Err(StoreError::NotFound(format!("user {}", user.uuid)))
            }
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict(
                format!("user {} exists", user.username),
            )),
            Err(e) => Err(db_err(e)),
        }
    }

    async fn delete_user(&self, uuid: Uuid) -> StoreResult<()> {
        let r = sqlx::query("DELETE FROM users WHERE uuid = $1")
            .bind(uuid.to_string())
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        if r.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("user {uuid}")));
        }
        Ok(())
    }

    async fn revoke_token(&self, jti: Uuid, expires_at: DateTime<Utc>) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT (jti) DO UPDATE SET expires_at = excluded.expires_at",
        )
        .bind(jti.to_string())
        .bind(us(expires_at))
        .execute(&self.write)
        .await
        .map_err(db_err)?;
        // Expired revocations are useless: the token is invalid anyway.
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(us(Utc::now()))
            .execute(&self.write)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn is_token_revoked(&self, jti: Uuid) -> StoreResult<bool> {
        Ok(sqlx::query("SELECT 1 FROM revoked_tokens WHERE jti = $1")
            .bind(jti.to_string())
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?
            .is_some())
    }

    async fn get_setting(&self, key: &str) -> StoreResult<Option<serde_json::Value>> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
        match row {
            None => Ok(None),
            Some(r) => {
                let s: String = r.try_get(0).map_err(db_err)?;
                serde_json::from_str(&s)
                    .map(Some)
                    .map_err(|e| StoreError::Corrupt(format!("setting {key}: {e}")))
            }
        }
    }

    async fn put_setting(&self, key: &str, value: &serde_json::Value) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value.to_string())
        .execute(&self.write)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn prune_events(
        &self,
        older_than: Option<DateTime<Utc>>,
        max_rows: Option<u64>,
    ) -> StoreResult<u64> {
        let mut removed = 0;
        if let Some(t) = older_than {
            removed += self
                .delete_events(sqlx::query("DELETE FROM events WHERE ts < $1").bind(us(t)))
                .await?;
            // Intel's consumed-id ledger ages out with the raw events (a
            // replay older than the retention window is not expected).
            sqlx::query("DELETE FROM intel_seen WHERE ts < $1")
                .bind(us(t))
                .execute(&self.write)
                .await
                .map_err(db_err)?;
            // Alert history follows the same retention window.
            crate::AlertHistoryStore::alert_history_prune(self, Some(t), None).await?;
        }
        if let Some(max) = max_rows {
            let max = i64::try_from(max).unwrap_or(i64::MAX);
            // The ts of the newest row beyond the cap; delete it and older.
            let cutoff: Option<(i64, String)> = sqlx::query_as(
                "SELECT ts, id FROM events ORDER BY ts DESC, id DESC LIMIT 1 OFFSET $1",
            )
            .bind(max)
            .fetch_optional(&self.read)
            .await
            .map_err(db_err)?;
            if let Some((ts, id)) = cutoff {
                let delete =
                    sqlx::query("DELETE FROM events WHERE ts < $1 OR (ts = $1 AND id <= $2)")
                        .bind(ts)
                        .bind(id);
                removed += self.delete_events(delete).await?;
            }
        }
        Ok(removed)
    }

    async fn index_search(&self, max_rows: u64) -> StoreResult<crate::SearchIndexStep> {
        self.index_search_impl(max_rows).await
    }

    async fn count_events(&self) -> StoreResult<u64> {
        let n: (i64,) = sqlx::query_as("SELECT n FROM event_total WHERE id = 1")
            .fetch_one(&self.read)
            .await
            .map_err(db_err)?;
        Ok(n.0.max(0) as u64)
    }

    async fn intel_unseen(&self, ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
        self.intel_unseen_impl(ids).await
    }

    async fn intel_apply(&self, batch: &IntelBatch) -> StoreResult<()> {
        self.intel_apply_impl(batch).await
    }

    async fn intel_load(&self) -> StoreResult<IntelSnapshot> {
        self.intel_load_impl().await
    }

    async fn list_attackers(&self, q: &AttackerQuery) -> StoreResult<Page<AttackerRow>> {
        self.list_attackers_impl(q).await
    }

    async fn attacker_countries(&self) -> StoreResult<Vec<CountryCount>> {
        self.attacker_countries_impl().await
    }

    async fn get_attacker(&self, ip: &str) -> StoreResult<Option<AttackerRow>> {
        self.get_attacker_impl(ip).await
    }

    async fn get_attacker_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<AttackerRow>> {
        self.get_attacker_by_uuid_impl(uuid).await
    }

    async fn list_credentials(&self, q: &CredentialQuery) -> StoreResult<Page<CredentialRow>> {
        self.list_credentials_impl(q).await
    }

    async fn credential_reuse(
        &self,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Page<CredentialReuseRow>> {
        self.credential_reuse_impl(limit, offset).await
    }

    async fn list_bounty(&self, q: &BountyQuery) -> StoreResult<Page<BountyRow>> {
        self.list_bounty_impl(q).await
    }

    async fn list_identities(
        &self,
        include_inactive: bool,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Page<IdentityRow>> {
        self.list_identities_impl(include_inactive, limit, offset)
            .await
    }

    async fn get_identity(&self, id: Uuid) -> StoreResult<Option<IdentityRow>> {
        self.get_identity_impl(id).await
    }

    async fn identity_events(&self, limit: u32) -> StoreResult<Vec<IdentityEventRow>> {
        self.identity_events_impl(limit).await
    }

    async fn list_campaigns(&self, limit: u32, offset: u64) -> StoreResult<Page<CampaignRow>> {
        self.list_campaigns_impl(limit, offset).await
    }

    async fn get_campaign(&self, id: Uuid) -> StoreResult<Option<CampaignRow>> {
        self.get_campaign_impl(id).await
    }
}
