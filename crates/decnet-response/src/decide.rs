//! Ban decisions: what the policy makes of decky events, formed
//! identities, peers' bans and an administrator's manual bans, and the
//! views of the resulting ban table. Decisions are taken under the
//! responder's lock; publishing and handing bans to the backend runners
//! happen after it is released.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use decnet_bus::{Envelope, Payload};
use decnet_core::{Event, EventKind};
use ipnet::IpNet;
use serde_json::json;

use crate::backend::{self, Enforce};
use crate::bans::{AuditEntry, Ban, MAX_AUDIT};
use crate::policy::{self, Policy, Trigger};
use crate::{Inner, Responder, ResponseError};

/// Maximum tracked sources in rate windows before stale ones are dropped.
const MAX_WINDOWS: usize = 200_000;

/// The event's source, unless it has none.
fn event_ip(e: &Event) -> Option<IpAddr> {
    let ip = e.src_ip;
    if ip.is_unspecified() {
        None
    } else {
        Some(ip)
    }
}

impl Responder {
    /// Remembers an API client address (allowlisted by default).
    pub fn note_api_client(&self, ip: IpAddr) {
        let mut i = self.inner.lock();
        if i.api_clients.len() < 10_000 {
            i.api_clients.insert(ip);
        }
    }

    fn allowlisted(&self, i: &Inner, ip: IpAddr) -> bool {
        i.policy.allowlist.iter().any(|n| n.contains(&ip))
            || (i.policy.allowlist_defaults
                && (self.host.contains(&ip) || i.api_clients.contains(&ip)))
    }

    fn net_allowlisted(&self, i: &Inner, net: &IpNet) -> bool {
        i.policy
            .allowlist
            .iter()
            .any(|a| a.contains(net) || net.contains(a))
            || (i.policy.allowlist_defaults
                && self
                    .host
                    .iter()
                    .chain(i.api_clients.iter())
                    .any(|h| net.contains(h)))
    }

    /// Evaluates one decky event; returns the ban it caused, if any.
    pub fn on_event(&self, e: &Event) -> Option<Arc<Ban>> {
        let ip = event_ip(e)?;
        let now = self.clock.now();
        let ban = {
            let mut i = self.inner.lock();
            if i.policy.triggers.is_empty() || i.table.covering(ip).is_some() {
                return None;
            }
            if self.allowlisted(&i, ip) {
                return None;
            }
            let policy = i.policy.clone();
            let fired =
                rate_trigger(&mut i, &policy, ip, now).or_else(|| event_trigger(&policy, e));
            let why = fired?;
            i.windows.remove(&ip);
            let reason = format!("{why} on {}/{} ({})", e.decky, e.service, e.kind);
            self.decide(&mut i, IpNet::from(ip), reason, "policy", None, None, now)
                .0
        };
        self.after_ban(&ban, None);
        Some(ban)
    }

    /// Bans every member of an identity (`{identity_id, ips:[…]}`).
    pub fn on_identity(&self, identity_id: &str, ips: &[IpAddr]) -> Vec<Arc<Ban>> {
        let now = self.clock.now();
        let mut out = Vec::new();
        {
            let mut i = self.inner.lock();
            if !i.policy.bans_identities() {
                return out;
            }
            for ip in ips.iter().take(10_000) {
                if ip.is_unspecified()
                    || i.table.covering(*ip).is_some()
                    || self.allowlisted(&i, *ip)
                {
                    continue;
                }
                let reason = format!("identity {identity_id}");
                let (b, _) = self.decide(
                    &mut i,
                    IpNet::from(*ip),
                    reason,
                    "identity",
                    None,
                    None,
                    now,
                );
                out.push(b);
            }
        }
        for b in &out {
            self.after_ban(b, None);
        }
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn decide(
        &self,
        i: &mut Inner,
        value: IpNet,
        reason: String,
        origin: &str,
        actor: Option<String>,
        duration: Option<Duration>,
        now: DateTime<Utc>,
    ) -> (Arc<Ban>, Option<Arc<Ban>>) {
        let policy = i.policy.clone();
        let (ban, replaced) = i.table.add(value, |id, offence| {
            let d = duration.unwrap_or_else(|| policy.ban_duration(offence));
            Ban {
                id,
                value,
                reason,
                origin: origin.to_owned(),
                actor,
                created_at: now,
                expires_at: now
                    + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::hours(1)),
                offence,
                dry_run: policy.dry_run,
            }
        });
        self.mark_dirty();
        (ban, replaced)
    }

    fn after_ban(&self, ban: &Arc<Ban>, replaced: Option<&Arc<Ban>>) {
        tracing::info!(
            topic = "response.ban",
            ip = %ban.value,
            reason = %ban.reason,
            until = %ban.expires_at,
            dry_run = ban.dry_run,
            "ban"
        );
        self.bus.publish(Envelope::json(
            "response.ban",
            "ban",
            json!({"node": self.node, "ban": &**ban, "replaced": replaced.map(|b| b.id)}),
        ));
        if ban.dry_run {
            return;
        }
        let e = Enforce {
            value: ban.value,
            ttl_secs: ban.remaining_secs(self.clock.now()),
        };
        for r in self.runners() {
            if r.enforces() {
                r.push(|o| {
                    o.unbans.retain(|v| *v != e.value);
                    o.bans.push(e);
                });
            }
        }
    }

    fn after_unban(&self, ban: &Arc<Ban>, why: &str, actor: Option<&str>) {
        tracing::info!(topic = "response.unban", ip = %ban.value, why, "unban");
        self.bus.publish(Envelope::json(
            "response.unban",
            "unban",
            json!({"node": self.node, "ban": &**ban, "why": why, "actor": actor}),
        ));
        if ban.dry_run {
            return;
        }
        for r in self.runners() {
            if r.enforces() {
                r.push(|o| {
                    o.bans.retain(|b| b.value != ban.value);
                    o.unbans.push(ban.value);
                });
            }
        }
    }

    pub(crate) fn audit(
        &self,
        i: &mut Inner,
        actor: &str,
        action: &str,
        target: &str,
        reason: &str,
    ) {
        if i.audit.len() >= MAX_AUDIT {
            i.audit.pop_front();
        }
        i.audit.push_back(AuditEntry {
            ts: self.clock.now(),
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            reason: reason.to_owned(),
        });
        self.mark_dirty();
    }

    /// Manual ban (audited). `duration` defaults to the policy's escalation.
    pub fn manual_ban(
        &self,
        actor: &str,
        value: &str,
        duration: Option<Duration>,
        reason: &str,
    ) -> Result<Arc<Ban>, ResponseError> {
        let net = policy::parse_net(value).ok_or_else(|| {
            ResponseError::Invalid(format!("{value:?} is not an address or CIDR"))
        })?;
        if net.prefix_len() < 8 && net.max_prefix_len() == 32
            || net.prefix_len() < 16 && net.max_prefix_len() == 128
        {
            return Err(ResponseError::Invalid(format!("{net} is too wide to ban")));
        }
        if let Some(d) = duration {
            if d.is_zero() || d.as_secs() > 100 * 365 * 86_400 {
                return Err(ResponseError::Invalid("duration out of range".into()));
            }
        }
        let reason: String = reason.chars().take(500).collect();
        let now = self.clock.now();
        let (ban, replaced) = {
            let mut i = self.inner.lock();
            if self.net_allowlisted(&i, &net) {
                return Err(ResponseError::Allowlisted(net.to_string()));
            }
            let r = self.decide(
                &mut i,
                net,
                reason.clone(),
                "manual",
                Some(actor.to_owned()),
                duration,
                now,
            );
            self.audit(&mut i, actor, "ban", &net.to_string(), &reason);
            r
        };
        self.after_ban(&ban, replaced.as_ref());
        Ok(ban)
    }

    /// Manual unban (audited).
    pub fn manual_unban(
        &self,
        actor: &str,
        value: &str,
        reason: &str,
    ) -> Result<Arc<Ban>, ResponseError> {
        let net = policy::parse_net(value).ok_or_else(|| {
            ResponseError::Invalid(format!("{value:?} is not an address or CIDR"))
        })?;
        let reason: String = reason.chars().take(500).collect();
        let ban = {
            let mut i = self.inner.lock();
            let b = i
                .table
                .remove(&net)
                .ok_or_else(|| ResponseError::NotFound(format!("{net} is not banned")))?;
            self.audit(&mut i, actor, "unban", &net.to_string(), &reason);
            self.mark_dirty();
            b
        };
        self.after_unban(&ban, "manual", Some(actor));
        Ok(ban)
    }

    /// Drops expired bans (and tells the backends).
    pub fn sweep(&self) -> usize {
        let now = self.clock.now();
        let gone = {
            let mut i = self.inner.lock();
            let g = i.table.sweep(now);
            if !g.is_empty() {
                self.mark_dirty();
            }
            g
        };
        for b in &gone {
            self.after_unban(b, "expired", None);
        }
        gone.len()
    }

    /// The active ban covering `ip`.
    pub fn ban_for(&self, ip: IpAddr) -> Option<Arc<Ban>> {
        self.inner.lock().table.covering(ip).cloned()
    }

    /// All active bans (dry-run included), newest first.
    pub fn bans(&self) -> Vec<Arc<Ban>> {
        let mut v: Vec<_> = self.inner.lock().table.active().cloned().collect();
        v.sort_by_key(|b| std::cmp::Reverse(b.id));
        v
    }

    /// Audit trail, newest first.
    pub fn audit_trail(&self, limit: usize) -> Vec<AuditEntry> {
        self.inner
            .lock()
            .audit
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect()
    }

    /// Plain-text blocklist: one enforced address or CIDR per line.
    pub fn blocklist_txt(&self) -> String {
        let i = self.inner.lock();
        let mut lines: Vec<String> = i
            .table
            .active()
            .filter(|b| !b.dry_run)
            .map(|b| backend::fmt_net(&b.value))
            .collect();
        drop(i);
        lines.sort();
        let mut s = String::with_capacity(lines.len() * 16);
        for l in lines {
            s.push_str(&l);
            s.push('\n');
        }
        s
    }

    /// Handles an `identity.*` envelope; only `formed` bans. Accepts
    /// `{identity_id|id, ips|members:[…]}`.
    pub fn on_identity_envelope(&self, env: &Envelope) -> Vec<Arc<Ban>> {
        if env.kind != "formed" && !env.topic.ends_with(".formed") {
            return Vec::new();
        }
        let Payload::Json(v) = &env.payload else {
            return Vec::new();
        };
        let id = v
            .get("identity_id")
            .or_else(|| v.get("id"))
            .map(|x| match x {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_else(|| "?".into());
        let ips: Vec<IpAddr> = v
            .get("ips")
            .or_else(|| v.get("members"))
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().and_then(|s| s.parse().ok()))
                    .collect()
            })
            .unwrap_or_default();
        self.on_identity(&id, &ips)
    }

    /// Applies a ban/unban published by another process sharing the bus.
    pub fn on_peer(&self, env: &Envelope) {
        let Payload::Json(v) = &env.payload else {
            return;
        };
        if v.get("node").and_then(|n| n.as_str()) == Some(&self.node.to_string()) {
            return;
        }
        let Some(ban) = v
            .get("ban")
            .and_then(|b| serde_json::from_value::<Ban>(b.clone()).ok())
        else {
            return;
        };
        let mut i = self.inner.lock();
        match env.kind.as_str() {
            "ban" => {
                let b = ban.clone();
                i.table
                    .add(ban.value, move |id, offence| Ban { id, offence, ..b });
            }
            "unban" => {
                i.table.remove(&ban.value);
            }
            _ => return,
        }
        self.mark_dirty();
    }
}

/// Counts the event in its source's rate window and returns the first
/// `events:N/T` trigger that fires. The window map is bounded: when full,
/// sources idle for the longest window are dropped (all, if that is not
/// enough).
fn rate_trigger(i: &mut Inner, policy: &Policy, ip: IpAddr, now: DateTime<Utc>) -> Option<String> {
    let (max_count, horizon) = policy.longest_window()?;
    if i.windows.len() >= MAX_WINDOWS && !i.windows.contains_key(&ip) {
        let cutoff = now - chrono::Duration::from_std(horizon).unwrap_or_default();
        i.windows
            .retain(|_, q| q.back().is_some_and(|t| *t > cutoff));
        if i.windows.len() >= MAX_WINDOWS {
            i.windows.clear();
        }
    }
    let q: &mut VecDeque<DateTime<Utc>> = i.windows.entry(ip).or_default();
    q.push_back(now);
    while q.len() > max_count as usize {
        q.pop_front();
    }
    policy.triggers.iter().find_map(|t| match t {
        Trigger::Rate { count, window } => {
            let cutoff = now - chrono::Duration::from_std(*window).unwrap_or_default();
            let n = q.iter().rev().take_while(|t| **t > cutoff).count();
            (n >= *count as usize).then(|| t.to_string())
        }
        _ => None,
    })
}

/// The first trigger a single event fires by itself (its kind or service).
fn event_trigger(policy: &Policy, e: &Event) -> Option<String> {
    policy
        .triggers
        .iter()
        .find(|t| match t {
            Trigger::AuthAttempt => e.kind == EventKind::AuthAttempt,
            Trigger::Services(s) => s.contains(&e.service),
            Trigger::Kinds(k) => k.contains(&e.kind),
            Trigger::Any => true,
            Trigger::Rate { .. } | Trigger::Identity => false,
        })
        .map(|t| t.to_string())
}
