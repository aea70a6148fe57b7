//! PagerDuty Events API v2: `trigger` for alerts (digests and escalations
//! reuse the alert's `dedup_key`, so PagerDuty folds them into the open
//! incident), `resolve` when a condition clears. The request body is
//! validated against PagerDuty's published schema in the tests.

use serde_json::{json, Map, Value};

use super::hook::{HookFormat, JsonHook};
use super::http::Poster;
use super::{ChannelContext, SendError};
use crate::alert::{Alert, AlertKind, Severity};
use crate::config::channel::PagerDutySpec;
use crate::render::clip;
use crate::secret::Secret;

/// `payload.summary` limit.
pub const SUMMARY_MAX: usize = 1024;
/// `dedup_key` limit.
pub const DEDUP_MAX: usize = 255;

/// PagerDuty's severity for ours.
pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "info",
    }
}

/// PagerDuty's payload.
pub struct PagerDutyFormat {
    routing_key: Secret,
    source: Option<String>,
    resolve: bool,
}

/// The PagerDuty channel.
pub type PagerDuty = JsonHook<PagerDutyFormat>;

impl PagerDuty {
    /// A PagerDuty channel.
    pub fn new(name: &str, spec: &PagerDutySpec, ctx: &ChannelContext, poster: Poster) -> Self {
        let format = PagerDutyFormat {
            routing_key: spec.routing_key.clone(),
            source: spec.source.clone(),
            resolve: spec.resolve,
        };
        JsonHook::with_format(name, spec.url.clone(), ctx, poster, format)
    }
}

impl HookFormat for PagerDutyFormat {
    const KIND: &'static str = "pagerduty";

    fn payload(&self, a: &Alert, ctx: &ChannelContext) -> Value {
        let dedup_key = clip(&a.dedup_key, DEDUP_MAX);
        if matches!(a.kind, AlertKind::Resolve) && self.resolve {
            return json!({
                "routing_key": self.routing_key.expose(),
                "event_action": "resolve",
                "dedup_key": dedup_key,
            });
        }
        let mut details = Map::new();
        for f in &a.facts {
            details.insert(f.name.clone(), json!(f.value));
        }
        details.insert("alert_id".into(), json!(a.id));
        details.insert("kind".into(), json!(a.kind.name()));
        if let AlertKind::Digest { suppressed, .. } = a.kind {
            details.insert("suppressed".into(), json!(suppressed));
        }
        if let Some(ip) = a.source_ip {
            details.insert("source_ip".into(), json!(ip));
        }
        if !a.techniques.is_empty() {
            details.insert("techniques".into(), json!(a.techniques));
        }
        let source = self
            .source
            .clone()
            .or_else(|| a.decky.clone())
            .unwrap_or_else(|| ctx.node.clone());
        let mut payload = json!({
            "summary": clip(&a.headline(), SUMMARY_MAX),
            "source": source,
            "severity": severity(a.severity),
            "timestamp": a.ts.to_rfc3339(),
            "class": a.rule,
            "custom_details": details,
        });
        if let Some(s) = &a.service {
            payload["component"] = json!(s);
        }
        if let Some(d) = &a.decky {
            payload["group"] = json!(d);
        }
        let mut v = json!({
            "routing_key": self.routing_key.expose(),
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "client": "decnet",
            "payload": payload,
        });
        if let Some(l) = &ctx.link {
            v["client_url"] = json!(l);
            v["links"] = json!([{"href": l, "text": "Open decnet"}]);
        }
        v
    }

    fn accepted(&self, body: &[u8]) -> Result<(), SendError> {
        // A 2xx whose body is not PagerDuty's success answer means the URL
        // points somewhere else (a proxy login page…): do not call it sent.
        let v: Value = serde_json::from_slice(body)
            .map_err(|_| SendError::permanent("PagerDuty answered 2xx without a JSON body"))?;
        if v["status"] == "success" {
            Ok(())
        } else {
            Err(SendError::permanent(format!(
                "PagerDuty did not accept the event: {}",
                clip(&v["message"].to_string(), 200)
            )))
        }
    }
}
