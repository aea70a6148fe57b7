//! Rows and queries shared by both implementations and the API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A page of results: `{total, limit, offset, data}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Page<T> {
    /// Rows matching the filters, all pages.
    pub total: u64,
    /// Page size used.
    pub limit: u32,
    /// Rows skipped.
    pub offset: u64,
    /// This page.
    pub data: Vec<T>,
}

/// Filters for the raw event log.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LogQuery {
    /// Only this decky.
    pub decky: Option<String>,
    /// Only this service.
    pub service: Option<String>,
    /// Only this kind (`auth_attempt`…).
    pub kind: Option<String>,
    /// Only this attacker address.
    pub src_ip: Option<String>,
    /// Only this session.
    pub session_id: Option<Uuid>,
    /// Events at or after.
    pub since: Option<DateTime<Utc>>,
    /// Events before.
    pub until: Option<DateTime<Utc>>,
    /// Substring match on the fields JSON.
    pub search: Option<String>,
    /// Page size (callers bound it).
    pub limit: u32,
    /// Rows to skip.
    pub offset: u64,
}

/// One histogram bucket.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct HistogramBucket {
    /// Bucket start.
    pub ts: DateTime<Utc>,
    /// Events in it.
    pub count: u64,
}

/// Dashboard counters.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    /// Events stored.
    pub total_events: u64,
    /// Distinct attacker addresses.
    pub unique_attackers: u64,
    /// `auth_attempt` events.
    pub auth_attempts: u64,
    /// Deckies that produced events.
    pub active_deckies: u64,
    /// Events in the last hour.
    pub events_last_hour: u64,
}

/// User role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Read-only.
    Viewer,
}

impl Role {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// A dashboard/API user.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct User {
    /// Stable id (JWT `uuid` claim).
    pub uuid: Uuid,
    /// Login name.
    pub username: String,
    /// argon2id PHC string; never serialised to clients by the API.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Forced password change pending.
    pub must_change_password: bool,
    /// Tokens issued before this instant are invalid.
    pub password_changed_at: DateTime<Utc>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}
