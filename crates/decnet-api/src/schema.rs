//! Wire shapes shared by routes, documented for OpenAPI. Store rows that live
//! in other crates get a mirror here (`#[schema(as = …)]`); the handlers
//! serialise the real types, which have exactly these fields.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::extract::Validate;

/// Largest page size.
pub const MAX_LIMIT: u32 = 1000;
/// Largest offset.
pub const MAX_OFFSET: u64 = 1_000_000_000;

/// `{message}` responses.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Message {
    /// What happened.
    pub message: String,
}

impl Message {
    /// A message.
    pub fn new(m: &str) -> axum::Json<Self> {
        axum::Json(Message { message: m.into() })
    }
}

/// A decky event (DESIGN §4).
#[derive(Serialize, ToSchema)]
#[schema(as = Event)]
pub struct EventDoc {
    /// UUIDv7.
    pub id: Uuid,
    /// UTC, microseconds.
    pub ts: DateTime<Utc>,
    /// Decky.
    pub decky: String,
    /// Service.
    pub service: String,
    /// connect, disconnect, auth_attempt, command, request, file_upload, file_download, scan, error.
    pub kind: String,
    /// Attacker address.
    pub src_ip: String,
    /// Attacker port.
    pub src_port: u16,
    /// Decky address.
    pub dst_ip: String,
    /// Decky port.
    pub dst_port: u16,
    /// Connection id.
    #[schema(nullable = false)]
    pub session_id: Option<Uuid>,
    /// Protocol-specific fields.
    #[schema(value_type = Object)]
    pub fields: serde_json::Value,
}

/// A page of events.
#[derive(Serialize, ToSchema)]
pub struct EventPage {
    /// Matching rows, all pages: exact when `total_exact`, otherwise a
    /// lower bound (see `total_exact`).
    pub total: u64,
    /// False when the count stopped at its cap: with filters other than
    /// none or exactly one of decky/service/kind/src_ip, rows are counted
    /// only up to `offset + limit + 1000`.
    pub total_exact: bool,
    /// Page size.
    pub limit: u32,
    /// Rows skipped.
    pub offset: u64,
    /// This page.
    pub data: Vec<EventDoc>,
}

/// One histogram bucket.
#[derive(Serialize, ToSchema)]
#[schema(as = HistogramBucket)]
pub struct BucketDoc {
    /// Bucket start.
    pub ts: DateTime<Utc>,
    /// Events.
    pub count: u64,
}

/// Dashboard counters.
#[derive(Serialize, ToSchema)]
#[schema(as = Stats)]
pub struct StatsDoc {
    /// Events stored.
    pub total_events: u64,
    /// Distinct attacker addresses.
    pub unique_attackers: u64,
    /// Credential attempts.
    pub auth_attempts: u64,
    /// Deckies that produced events.
    pub active_deckies: u64,
    /// Events in the last hour.
    pub events_last_hour: u64,
}

/// Paging parameters.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Page size (1-1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Rows to skip (default 0).
    #[param(minimum = 0, maximum = 1000000000)]
    pub offset: Option<u64>,
}

impl Paging {
    /// Problems with the values.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(l) = self.limit {
            if l == 0 || l > MAX_LIMIT {
                out.push(("limit".into(), format!("must be between 1 and {MAX_LIMIT}")));
            }
        }
        if self.offset.is_some_and(|o| o > MAX_OFFSET) {
            out.push(("offset".into(), format!("must be at most {MAX_OFFSET}")));
        }
        out
    }
    /// Limit with default.
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(50)
    }
    /// Offset with default.
    pub fn offset(&self) -> u64 {
        self.offset.unwrap_or(0)
    }
}

impl Validate for Paging {
    fn validate(&self) -> Vec<(String, String)> {
        self.problems()
    }
}

/// Health of one component.
#[derive(Clone, Serialize, ToSchema)]
pub struct ComponentHealth {
    /// `ok` or `failing`.
    pub status: String,
    /// True if its failure makes the API unhealthy (503).
    pub critical: bool,
    /// Why, when failing (or a short note).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub detail: Option<String>,
}

/// `GET /health`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `healthy`, `degraded` or `unhealthy`.
    pub status: String,
    /// Per component.
    pub components: BTreeMap<String, ComponentHealth>,
}
