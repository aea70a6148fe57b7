//! What the authenticated `/api/v1/response/*` routes call. The API crate
//! owns authentication and roles; these take the acting username.
//!
//! | route | role | function |
//! |---|---|---|
//! | `GET /response/status` | viewer | [`status`] |
//! | `GET /response/backends` | viewer | [`backends`] |
//! | `POST /response/backends/{name}/activate` | admin | [`activate`] |
//! | `GET /response/bans?limit&offset&ip&include_dry_run` | viewer | [`list_bans`] |
//! | `POST /response/bans` `{value, duration?, reason}` | admin | [`ban`] |
//! | `DELETE /response/bans/{value}` `{reason}` | admin | [`unban`] |
//! | `GET /response/blocklist.txt` | viewer | [`blocklist_txt`] (text/plain) |
//! | `GET /response/policy` / `PUT` | viewer / admin | [`policy_get`] / [`policy_put`] (bouncer secrets write-only) |
//! | `GET /response/audit` | viewer | [`audit`] |
//! | `GET/POST /response/bouncers`, `DELETE /response/bouncers/{name}` | admin | [`bouncers`], [`create_bouncer`], [`delete_bouncer`] |

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::bans::{AuditEntry, Ban};
use crate::policy;
use crate::state::BackendState;
use crate::{BouncerKey, Responder, ResponseError};

/// HTTP status an error maps to.
pub fn status_code(e: &ResponseError) -> u16 {
    match e {
        ResponseError::Policy(_) | ResponseError::Invalid(_) => 422,
        ResponseError::Allowlisted(_) | ResponseError::Conflict(_) => 409,
        ResponseError::NotFound(_) => 404,
        ResponseError::Store(_) => 500,
    }
}

/// `GET /response/status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Status {
    /// Enforcement disabled.
    pub dry_run: bool,
    /// Enforced bans.
    pub active_bans: usize,
    /// Recorded-only bans.
    pub dry_run_bans: usize,
    /// Every backend's runtime state.
    pub backends: Vec<BackendState>,
    /// Bouncer keys.
    pub bouncers: usize,
    /// Overall: `ok`, `degraded` (a backend offline) or `pending_recovery`.
    pub health: String,
}

/// Status.
pub fn status(r: &Responder) -> Status {
    let bans = r.bans();
    let dry = bans.iter().filter(|b| b.dry_run).count();
    let backends = backends(r);
    let health = if backends.iter().any(|b| b.pending_recovery.is_some()) {
        "pending_recovery"
    } else if backends.iter().any(|b| b.probed && !b.online) {
        "degraded"
    } else {
        "ok"
    };
    Status {
        dry_run: r.policy().dry_run,
        active_bans: bans.len() - dry,
        dry_run_bans: dry,
        backends,
        bouncers: r.bouncers().len(),
        health: health.into(),
    }
}

/// Backend states.
pub fn backends(r: &Responder) -> Vec<BackendState> {
    r.runners().iter().map(|x| x.state()).collect()
}

/// Re-activates a backend.
pub async fn activate(r: &Arc<Responder>, actor: &str, name: &str) -> Result<(), ResponseError> {
    r.activate(actor, name).await
}

/// Ban list query.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct BanQuery {
    /// Page size (1..1000, default 100).
    pub limit: Option<u32>,
    /// Skip.
    pub offset: Option<u64>,
    /// Only bans covering this address.
    pub ip: Option<String>,
    /// Include dry-run decisions (default true).
    pub include_dry_run: Option<bool>,
}

/// `{total, limit, offset, data}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BanPage {
    /// Matching.
    pub total: u64,
    /// Page size.
    pub limit: u32,
    /// Skipped.
    pub offset: u64,
    /// Newest first.
    pub data: Vec<Ban>,
}

/// Lists bans.
pub fn list_bans(r: &Responder, q: &BanQuery) -> Result<BanPage, ResponseError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let offset = q.offset.unwrap_or(0);
    let ip = match &q.ip {
        Some(s) => Some(
            s.trim()
                .parse::<std::net::IpAddr>()
                .map_err(|_| ResponseError::Invalid(format!("ip: {s:?} is not an address")))?,
        ),
        None => None,
    };
    let dry = q.include_dry_run.unwrap_or(true);
    let all: Vec<Arc<Ban>> = r
        .bans()
        .into_iter()
        .filter(|b| dry || !b.dry_run)
        .filter(|b| ip.is_none_or(|ip| b.value.contains(&ip)))
        .collect();
    Ok(BanPage {
        total: all.len() as u64,
        limit,
        offset,
        data: all
            .iter()
            .skip(offset.min(usize::MAX as u64) as usize)
            .take(limit as usize)
            .map(|b| (**b).clone())
            .collect(),
    })
}

/// `POST /response/bans` body.
#[derive(Clone, Debug, Deserialize)]
pub struct ManualBan {
    /// Address or CIDR.
    pub value: String,
    /// `1h`, `7d`… (default: the policy's, with escalation).
    #[serde(default)]
    pub duration: Option<String>,
    /// Why (required for the audit trail).
    pub reason: String,
}

/// Manual ban.
pub fn ban(r: &Responder, actor: &str, body: &ManualBan) -> Result<Ban, ResponseError> {
    if body.reason.trim().is_empty() {
        return Err(ResponseError::Invalid("reason is required".into()));
    }
    let d = match &body.duration {
        Some(s) => Some(
            policy::parse_duration(s)
                .ok_or_else(|| ResponseError::Invalid(format!("duration {s:?}")))?,
        ),
        None => None,
    };
    r.manual_ban(actor, &body.value, d, &body.reason)
        .map(|b| (*b).clone())
}

/// `DELETE /response/bans/{value}` body.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ManualUnban {
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// Manual unban.
pub fn unban(
    r: &Responder,
    actor: &str,
    value: &str,
    body: &ManualUnban,
) -> Result<Ban, ResponseError> {
    r.manual_unban(actor, value, &body.reason)
        .map(|b| (*b).clone())
}

/// `text/plain` blocklist.
pub fn blocklist_txt(r: &Responder) -> String {
    r.blocklist_txt()
}

/// Current policy as key/values, secrets masked ([`policy::SECRET_MASK`]).
pub fn policy_get(r: &Responder) -> BTreeMap<String, String> {
    r.policy().redacted_raw()
}

/// Replaces the policy; returns it as [`policy_get`] shows it. Secrets are
/// write-only: see [`policy::keep_secrets`] for how an edit that omits or
/// masks them keeps the stored ones.
pub async fn policy_put(
    r: &Arc<Responder>,
    actor: &str,
    raw: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ResponseError> {
    let raw = policy::keep_secrets(raw, &r.policy())?;
    r.set_policy(actor, raw).await.map(|p| p.redacted_raw())
}

/// Audit trail, newest first (limit 1..1000).
pub fn audit(r: &Responder, limit: usize) -> Vec<AuditEntry> {
    r.audit_trail(limit.clamp(1, 1000))
}

/// Bouncer key as listed (no secret, no hash).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BouncerView {
    /// Name.
    pub name: String,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// By.
    pub created_by: String,
    /// Last pull.
    pub last_pull: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<BouncerKey> for BouncerView {
    fn from(k: BouncerKey) -> Self {
        BouncerView {
            name: k.name,
            created_at: k.created_at,
            created_by: k.created_by,
            last_pull: k.last_pull,
        }
    }
}

/// Lists bouncer keys.
pub fn bouncers(r: &Responder) -> Vec<BouncerView> {
    r.bouncers().into_iter().map(Into::into).collect()
}

/// Created key: the secret is returned once.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreatedBouncer {
    /// The key.
    #[serde(flatten)]
    pub bouncer: BouncerView,
    /// `X-Api-Key` value.
    pub api_key: String,
}

/// Creates a bouncer key.
pub fn create_bouncer(
    r: &Responder,
    actor: &str,
    name: &str,
) -> Result<CreatedBouncer, ResponseError> {
    let (k, secret) = r.create_bouncer(actor, name)?;
    Ok(CreatedBouncer {
        bouncer: k.into(),
        api_key: secret,
    })
}

/// Deletes a bouncer key.
pub fn delete_bouncer(r: &Responder, actor: &str, name: &str) -> Result<(), ResponseError> {
    r.delete_bouncer(actor, name)
}
