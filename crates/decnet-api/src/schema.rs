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

/// `enrichment` of an attacker row (list and detail): what online
/// reputation services said about the address, per provider, once looked
/// up (`[enrich]` in the fleet file, with the user's keys). Absent when
/// enrichment is off or the address was not looked up yet; private
/// addresses are never looked up.
#[derive(Serialize, ToSchema)]
#[schema(as = AttackerEnrichment)]
pub struct EnrichmentDoc {
    /// AbuseIPDB `check` answer.
    pub abuseipdb: Option<AbuseIpDbDoc>,
    /// GreyNoise community answer.
    pub greynoise: Option<GreyNoiseDoc>,
}

/// The fields kept of an AbuseIPDB `check` answer.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AbuseIpDbDoc {
    /// 0-100; the attackers list filters on it (`min_score`).
    pub abuse_confidence_score: u8,
    /// Reports in AbuseIPDB's window.
    pub total_reports: u64,
    /// ISO 3166-1 alpha-2, as AbuseIPDB places the address.
    pub country_code: Option<String>,
    /// Network owner.
    pub isp: Option<String>,
    /// `Data Center/Web Hosting/Transit`, `Fixed Line ISP`…
    pub usage_type: Option<String>,
    /// Newest report (RFC 3339).
    pub last_reported_at: Option<String>,
    /// When decnet fetched this answer (RFC 3339); asked again after `ttl`.
    #[serde(rename = "fetched_at")]
    pub fetched_at: DateTime<Utc>,
}

/// The fields kept of a GreyNoise community answer.
#[derive(Serialize, ToSchema)]
pub struct GreyNoiseDoc {
    /// False when GreyNoise has not observed the address (its 404).
    pub seen: bool,
    /// Scanning the internet (background noise).
    pub noise: bool,
    /// A known benign business service (RIOT).
    pub riot: bool,
    /// `benign`, `malicious`, `unknown`.
    pub classification: Option<String>,
    /// Actor or service name.
    pub name: Option<String>,
    /// Last observed (date).
    pub last_seen: Option<String>,
    /// When decnet fetched this answer (RFC 3339).
    pub fetched_at: DateTime<Utc>,
}
