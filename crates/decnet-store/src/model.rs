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

/// A `/logs` page with its events already rendered as the JSON array
/// `Vec<Event>` serialises to, so the API can write it out without
/// building `Event`s (see `Store::query_logs_json`).
#[derive(Clone, Debug, PartialEq)]
pub struct LogPageJson {
    /// Rows matching the filters, all pages — exact when `total_exact`,
    /// otherwise a lower bound (the count stopped at its cap).
    pub total: u64,
    /// Whether `total` is the exact count.
    pub total_exact: bool,
    /// Page size used.
    pub limit: u32,
    /// Rows skipped.
    pub offset: u64,
    /// This page: a JSON array of events, newest first.
    pub data: String,
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

/// What one [`crate::Store::index_search`] step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchIndexStep {
    /// Events added to the index.
    pub added: u64,
    /// Sequence numbers still above the index's mark (an upper bound on
    /// the events not yet indexed; 0 when caught up).
    pub behind: u64,
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

// ==== intelligence rows =======================================

/// Namespace of [`attacker_uuid`] (a fixed random UUID: changing it would
/// change every attacker's id).
const ATTACKER_NAMESPACE: Uuid = Uuid::from_u128(0x6f1c_54c9_7d3e_4c0a_9b1e_2d5a_8e47_c3f2);

/// The stable id of the attacker at `ip`: a UUIDv5 of the address, so
/// every process and every restart computes the same id without storing
/// a counter (DECNET scripts key attackers by it).
pub fn attacker_uuid(ip: &str) -> Uuid {
    Uuid::new_v5(&ATTACKER_NAMESPACE, ip.as_bytes())
}

/// One attacker: one row per source IP, updated incrementally.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct AttackerRow {
    /// Stable id ([`attacker_uuid`] of `ip`).
    #[serde(default)]
    pub uuid: Uuid,
    /// Source address.
    pub ip: String,
    /// First event.
    pub first_seen: DateTime<Utc>,
    /// Latest event.
    pub last_seen: DateTime<Utc>,
    /// Events seen (each event id counted once).
    pub event_count: u64,
    /// Sessions (connect events).
    pub sessions: u64,
    /// Events per service.
    pub services: std::collections::BTreeMap<String, u64>,
    /// Events per decky.
    pub deckies: std::collections::BTreeMap<String, u64>,
    /// Events per kind.
    pub kinds: std::collections::BTreeMap<String, u64>,
    /// `auth_attempt` events.
    pub credentials_tried: u64,
    /// `command` events.
    pub commands_run: u64,
    /// Uploads + download attempts.
    pub artifacts: u64,
    /// Distinct destination ports probed (capped).
    pub distinct_ports: u64,
    /// scanning, slow_scan, brute_force, beaconing, interactive, mixed, unknown.
    pub behavior: String,
    /// The rule that decided `behavior`, human readable.
    pub behavior_rule: String,
    /// The numbers the rule looked at.
    pub behavior_numbers: serde_json::Value,
    /// Tool fingerprints seen (`hassh:…`, `ssh_banner:…`, `ja3:…`, `ja4:…`).
    pub fingerprints: Vec<String>,
    /// Identity this address belongs to, if linked.
    pub identity_id: Option<Uuid>,
    /// Where the address is registered, from the user's MaxMind-format
    /// databases; `None` until looked up (no database configured, or the
    /// row predates it and intel has not reached it yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<Geo>,
    /// Seconds this address spent held in tarpits (the `held_secs` of its
    /// tarpit exits): the attacker's time wasted.
    #[serde(default)]
    pub tarpit_secs: u64,
    /// What online reputation services said about the address, by
    /// provider (`abuseipdb`, `greynoise`): the fields kept from each
    /// answer and its `fetched_at`. Read from the `enrichment` table when
    /// the row is served, never stored in the row itself; empty when
    /// enrichment is off or the address was not looked up (yet).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub enrichment: std::collections::BTreeMap<String, serde_json::Value>,
}

/// An address's country and network owner as the geolocation databases
/// tell them. Every part is optional: a Country database has no ASN, an
/// ASN database no country, and neither knows reserved ranges.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Geo {
    /// ISO 3166-1 alpha-2 country code (`DE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Country name in English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_name: Option<String>,
    /// City name in English (City databases only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Autonomous system number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    /// Autonomous system organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_org: Option<String>,
    /// A private, loopback, link-local or otherwise non-routable address
    /// the databases do not cover: it has no country.
    #[serde(default)]
    pub private: bool,
}

impl Geo {
    /// The value stored in the attackers' `country` column (what the
    /// country filter and the map group by): the ISO code, `private`, or
    /// nothing when unknown.
    pub fn country_key(&self) -> Option<String> {
        match (&self.country, self.private) {
            (Some(c), _) => Some(c.clone()),
            (None, true) => Some(PRIVATE_COUNTRY.to_owned()),
            (None, false) => None,
        }
    }
}

/// The country key of private addresses (see [`Geo::country_key`]).
pub const PRIVATE_COUNTRY: &str = "private";

/// Attackers per country key ([`Geo::country_key`]), for the map.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CountryCount {
    /// ISO code or `private`.
    pub country: String,
    /// Attacker addresses.
    pub attackers: u64,
}

impl AttackerRow {
    /// A new row for `ip`, first and last seen at `at`.
    pub fn new(ip: &str, at: DateTime<Utc>) -> Self {
        AttackerRow {
            uuid: attacker_uuid(ip),
            ip: ip.to_owned(),
            first_seen: at,
            last_seen: at,
            ..Default::default()
        }
    }

    /// Fills `uuid` in a row stored before attackers had one.
    pub fn with_uuid(mut self) -> Self {
        if self.uuid.is_nil() {
            self.uuid = attacker_uuid(&self.ip);
        }
        self
    }
}

/// Filters for the attackers list.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct AttackerQuery {
    /// Only this behaviour class.
    pub behavior: Option<String>,
    /// IP substring.
    pub search: Option<String>,
    /// Only members of this identity.
    pub identity_id: Option<Uuid>,
    /// Only addresses of this country key ([`Geo::country_key`]).
    pub country: Option<String>,
    /// Only addresses whose AbuseIPDB confidence score is at least this.
    #[serde(default)]
    pub min_score: Option<u32>,
    /// Page size.
    pub limit: u32,
    /// Rows to skip.
    pub offset: u64,
}

/// A credential tried; unique by (ip, decky, service, secret_kind, secret_hash, principal).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CredentialRow {
    /// Attacker address.
    pub ip: String,
    /// Decky.
    pub decky: String,
    /// Service.
    pub service: String,
    /// `password`, `publickey`, `hash`…
    pub secret_kind: String,
    /// sha256 (hex) of the secret bytes.
    pub secret_hash: String,
    /// Username / principal.
    pub principal: String,
    /// Readable rendering of the secret.
    pub secret_printable: String,
    /// The secret bytes, base64.
    pub secret_b64: String,
    /// First attempt.
    pub first_seen: DateTime<Utc>,
    /// Latest attempt.
    pub last_seen: DateTime<Utc>,
    /// Attempts.
    pub count: u64,
}

/// Filters for the credentials list.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CredentialQuery {
    /// Only this attacker.
    pub ip: Option<String>,
    /// Only this decky.
    pub decky: Option<String>,
    /// Only this service.
    pub service: Option<String>,
    /// Only this principal.
    pub principal: Option<String>,
    /// Page size.
    pub limit: u32,
    /// Rows to skip.
    pub offset: u64,
}

/// The same secret seen across addresses, deckies or services.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CredentialReuseRow {
    /// Secret kind.
    pub secret_kind: String,
    /// sha256 of the secret.
    pub secret_hash: String,
    /// Readable secret.
    pub secret_printable: String,
    /// Distinct attacker addresses.
    pub ips: u64,
    /// Distinct deckies.
    pub deckies: u64,
    /// Distinct services.
    pub services: u64,
    /// Attempts in total.
    pub attempts: u64,
    /// First attempt.
    pub first_seen: DateTime<Utc>,
    /// Latest attempt.
    pub last_seen: DateTime<Utc>,
}

/// A captured artifact, URL or hash; unique by (kind, value, ip).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BountyRow {
    /// `url` (download attempt) or `file` (upload, value = sha256).
    pub kind: String,
    /// The URL or sha256.
    pub value: String,
    /// Attacker address.
    pub ip: String,
    /// Decky (first seen on).
    pub decky: String,
    /// Service (first seen on).
    pub service: String,
    /// First capture.
    pub first_seen: DateTime<Utc>,
    /// Latest capture.
    pub last_seen: DateTime<Utc>,
    /// Captures.
    pub count: u64,
    /// Extra (`filename`, `size`).
    pub details: serde_json::Value,
}

/// Filters for the bounty list.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BountyQuery {
    /// Only this kind.
    pub kind: Option<String>,
    /// Only this attacker.
    pub ip: Option<String>,
    /// Page size.
    pub limit: u32,
    /// Rows to skip.
    pub offset: u64,
}

/// Why two addresses were linked.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct IdentityLink {
    /// One address.
    pub a: String,
    /// The other.
    pub b: String,
    /// Score (≥ 1.0 links).
    pub score: f64,
    /// Signals that matched (`hassh:…`, `cmd_jaccard=0.50`…).
    pub reasons: Vec<String>,
}

/// An actor: source addresses linked by shared evidence (DESIGN §9).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct IdentityRow {
    /// Stable id.
    pub id: Uuid,
    /// `active`, `merged` (see `merged_into`) or `dissolved`.
    pub status: String,
    /// Soft merge target.
    pub merged_into: Option<Uuid>,
    /// Member addresses (for a merged identity: its members when merged).
    pub members: Vec<String>,
    /// Evidence edges between members.
    pub links: Vec<IdentityLink>,
    /// Earliest member activity.
    pub first_seen: DateTime<Utc>,
    /// Latest member activity.
    pub last_seen: DateTime<Utc>,
    /// Sum of member event counts.
    pub event_count: u64,
    /// Campaign this identity belongs to.
    pub campaign_id: Option<Uuid>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Where its members are registered: one entry per distinct country
    /// and network owner among located members (see [`AttackerRow::geo`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub geo: Vec<Geo>,
}

/// A stored identity stream event (`formed`, `observation.linked`, `merged`, `unmerged`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct IdentityEventRow {
    /// Event id (UUIDv7, time ordered).
    pub id: Uuid,
    /// When.
    pub ts: DateTime<Utc>,
    /// Type without the `identity.` prefix.
    #[serde(rename = "type")]
    pub kind: String,
    /// Body (also published on the bus as `identity.<type>`).
    pub payload: serde_json::Value,
}

/// Identities grouped by shared infrastructure or targets in a time window.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CampaignRow {
    /// Stable id.
    pub id: Uuid,
    /// Member identities.
    pub identities: Vec<Uuid>,
    /// Deckies targeted.
    pub deckies: Vec<String>,
    /// Shared infrastructure (payload hashes, C2 URLs).
    pub infrastructure: Vec<String>,
    /// Why they were grouped.
    pub reasons: Vec<String>,
    /// Earliest activity.
    pub first_seen: DateTime<Utc>,
    /// Latest activity.
    pub last_seen: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// Everything one intel batch changes, applied in one transaction together
/// with the ids of the events it consumed (so a crash or replay can never
/// count an event twice).
#[derive(Clone, Debug, Default)]
pub struct IntelBatch {
    /// Consumed event ids with their timestamps.
    pub seen: Vec<(Uuid, DateTime<Utc>)>,
    /// Attacker rows to write (whole row) with the intel private state.
    pub attackers: Vec<(AttackerRow, serde_json::Value)>,
    /// Credential attempts to add (`count` is added, seen times widened).
    pub credentials: Vec<CredentialRow>,
    /// Bounty captures to add (same merge rule).
    pub bounty: Vec<BountyRow>,
    /// Identity rows to write (whole row) with private state.
    pub identities: Vec<(IdentityRow, serde_json::Value)>,
    /// Campaign rows to write.
    pub campaigns: Vec<CampaignRow>,
    /// Campaign ids that no longer exist.
    pub campaigns_deleted: Vec<Uuid>,
    /// Identity stream events to record.
    pub identity_events: Vec<IdentityEventRow>,
    /// Commit only while this lease tenure holds (`Conflict` otherwise).
    pub fence: Option<crate::lease::Fence>,
}

/// What intel reloads at start.
#[derive(Clone, Debug, Default)]
pub struct IntelSnapshot {
    /// Every attacker row with its private state.
    pub attackers: Vec<(AttackerRow, serde_json::Value)>,
    /// Every identity row with its private state.
    pub identities: Vec<(IdentityRow, serde_json::Value)>,
    /// Every campaign.
    pub campaigns: Vec<CampaignRow>,
}
