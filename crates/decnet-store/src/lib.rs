//! decnet-store: everything decnet persists, behind one [`Store`] trait with
//! one implementation, [`SqlStore`]: SQL over sqlx's `Any` driver serving
//! SQLite (embedded default) and PostgreSQL with the same statements on a
//! portable schema.
//!
//! The trait is the contract between the ingester/intel (writers) and the
//! API (reader); the test suite runs against both backends. Test support
//! (a throw-away PostgreSQL cluster, synthetic events) is the `testing`
//! module behind the `testing` feature, for other crates' tests only.

pub mod alerts_sql;
pub use alerts_sql::AlertHistoryStore;
pub mod attack_sql;
pub use attack_sql::AttackStore;
pub mod docs;
pub use docs::{Doc, DocStore};
pub mod enrich_sql;
pub use enrich_sql::{EnrichStore, EnrichmentRow};
pub mod ingest;
mod intel_sql;
pub mod journal;
pub mod lease;
mod logs_sql;
mod search_page;
mod search_sql;
pub use logs_sql::{COUNT_AHEAD, SEARCH_WINDOW};
pub mod migrations;
pub mod model;
mod open;
pub mod outage;
mod pg_copy;
pub use open::{open_with_retry, redact, OpenError};
mod sql;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use async_trait::async_trait;
use decnet_core::Event;
use uuid::Uuid;

pub use model::*;
pub use sql::SqlStore;

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint was violated (e.g. username taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database is unreachable or failed.
    #[error("database error: {0}")]
    Database(String),
    /// Stored data could not be decoded.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// Result alias.
pub type StoreResult<T> = Result<T, StoreError>;

/// Persistence contract. Implementations: SQLite (`sqlite://PATH`) and
/// PostgreSQL (`postgres://…`).
#[async_trait]
pub trait Store:
    docs::DocStore
    + attack_sql::AttackStore
    + alerts_sql::AlertHistoryStore
    + enrich_sql::EnrichStore
    + Send
    + Sync
    + 'static
{
    /// Implementation name (`sqlite`, `postgres`) for health output.
    fn backend(&self) -> &'static str;

    /// Liveness probe (a trivial query).
    async fn ping(&self) -> StoreResult<()>;

    // ---- events -------------------------------------------------------

    /// Inserts events in one transaction; idempotent by event id. Returns
    /// how many were new.
    async fn insert_events(&self, events: &[Event]) -> StoreResult<u64> {
        let refs: Vec<&Event> = events.iter().collect();
        self.insert_event_refs(&refs).await
    }

    /// [`Store::insert_events`] over borrowed events, so the ingester can
    /// insert the bus's shared events without a deep copy of each.
    async fn insert_event_refs(&self, events: &[&Event]) -> StoreResult<u64>;

    /// Raw events, newest first, filtered and paginated, with the page
    /// already rendered as JSON. `total` comes from a counter row when the
    /// filters are none or exactly one of decky/service/kind/src_ip;
    /// otherwise it is counted up to `offset + limit + COUNT_AHEAD` rows
    /// and `total_exact` says whether the count stopped at that cap.
    async fn query_logs_json(&self, q: &LogQuery) -> StoreResult<LogPageJson>;

    /// [`Store::query_logs_json`] with the page decoded into `Event`s.
    async fn query_logs(&self, q: &LogQuery) -> StoreResult<Page<Event>> {
        let p = self.query_logs_json(q).await?;
        let data =
            serde_json::from_str(&p.data).map_err(|e| StoreError::Corrupt(format!("page: {e}")))?;
        Ok(Page {
            total: p.total,
            limit: p.limit,
            offset: p.offset,
            data,
        })
    }

    /// Event counts per time bucket for the same filters.
    async fn histogram(
        &self,
        q: &LogQuery,
        bucket_seconds: u32,
    ) -> StoreResult<Vec<HistogramBucket>>;

    /// Dashboard counters.
    async fn stats(&self) -> StoreResult<Stats>;

    // ---- users and tokens --------------------------------------------

    /// Creates a user; `Conflict` if the username exists.
    async fn create_user(&self, user: &User) -> StoreResult<()>;
    /// Looks a user up by username.
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>>;
    /// Looks a user up by id.
    async fn user_by_id(&self, uuid: Uuid) -> StoreResult<Option<User>>;
    /// All users, by username.
    async fn list_users(&self) -> StoreResult<Vec<User>>;
    /// Replaces a user's row (password hash, role, flags, password_changed_at).
    async fn update_user(&self, user: &User) -> StoreResult<()>;
    /// Deletes a user.
    async fn delete_user(&self, uuid: Uuid) -> StoreResult<()>;
    /// Records a revoked token id until its expiry.
    async fn revoke_token(
        &self,
        jti: Uuid,
        expires_at: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<()>;
    /// True if the token id was revoked.
    async fn is_token_revoked(&self, jti: Uuid) -> StoreResult<bool>;

    // ---- small settings ----------------------------------------------

    /// Reads a JSON setting.
    async fn get_setting(&self, key: &str) -> StoreResult<Option<serde_json::Value>>;
    /// Writes a JSON setting.
    async fn put_setting(&self, key: &str, value: &serde_json::Value) -> StoreResult<()>;

    // ==== ingest, retention ==========================================

    /// Retention: deletes raw events older than `older_than`, then the
    /// oldest beyond `max_rows`. Returns how many were removed.
    async fn prune_events(
        &self,
        older_than: Option<chrono::DateTime<chrono::Utc>>,
        max_rows: Option<u64>,
    ) -> StoreResult<u64>;

    /// Number of raw events stored.
    async fn count_events(&self) -> StoreResult<u64>;

    /// Adds at most `max_rows` stored events, oldest first, to the search
    /// index (SQLite); says how many it added and how far it is still
    /// behind (nothing on a backend without one). Called behind the ingest path by
    /// the ingester's indexer, never by a writer of events.
    async fn index_search(&self, max_rows: u64) -> StoreResult<SearchIndexStep>;

    // ==== intelligence ==============================================
    // Written only by decnet-intel; read by the API.

    /// Of these event ids, the ones intel has not consumed yet.
    async fn intel_unseen(&self, ids: &[Uuid]) -> StoreResult<Vec<Uuid>>;
    /// Applies one intel batch atomically (rows + consumed event ids).
    async fn intel_apply(&self, batch: &IntelBatch) -> StoreResult<()>;
    /// Everything intel needs to continue after a restart.
    async fn intel_load(&self) -> StoreResult<IntelSnapshot>;

    /// Attackers, most recently active first.
    async fn list_attackers(&self, q: &AttackerQuery) -> StoreResult<Page<AttackerRow>>;
    /// Attacker addresses per country key ([`Geo::country_key`]), most
    /// first; addresses not located are not counted.
    async fn attacker_countries(&self) -> StoreResult<Vec<CountryCount>>;
    /// One attacker by address.
    async fn get_attacker(&self, ip: &str) -> StoreResult<Option<AttackerRow>>;
    /// One attacker by its stable id ([`attacker_uuid`]).
    async fn get_attacker_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<AttackerRow>>;
    /// Credentials, most recently tried first.
    async fn list_credentials(&self, q: &CredentialQuery) -> StoreResult<Page<CredentialRow>>;
    /// Secrets seen from more than one address, decky or service; most addresses first.
    async fn credential_reuse(
        &self,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Page<CredentialReuseRow>>;
    /// Captured artifacts/URLs, most recent first.
    async fn list_bounty(&self, q: &BountyQuery) -> StoreResult<Page<BountyRow>>;
    /// Identities, most recently active first; `include_inactive` adds merged/dissolved ones.
    async fn list_identities(
        &self,
        include_inactive: bool,
        limit: u32,
        offset: u64,
    ) -> StoreResult<Page<IdentityRow>>;
    /// One identity (any status).
    async fn get_identity(&self, id: Uuid) -> StoreResult<Option<IdentityRow>>;
    /// The latest identity stream events, newest first.
    async fn identity_events(&self, limit: u32) -> StoreResult<Vec<IdentityEventRow>>;
    /// Campaigns, most recently active first.
    async fn list_campaigns(&self, limit: u32, offset: u64) -> StoreResult<Page<CampaignRow>>;
    /// One campaign.
    async fn get_campaign(&self, id: Uuid) -> StoreResult<Option<CampaignRow>>;
}

/// Which SQL backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (WAL, one writer).
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl Backend {
    /// Name for health output.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

/// Opens a store from a URL: `sqlite://PATH` (created if missing) or
/// `postgres://USER@HOST:PORT/DB`. Runs pending migrations.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(SqlStore::connect(url).await?))
}
