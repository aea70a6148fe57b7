//! `[[rule.example]]`: a rule's tests, written beside it in the rule file
//! and run by the validator, so a rule that stops matching what it was
//! written for is a validation error, not a silent gap.

use std::net::IpAddr;

use chrono::{DateTime, Duration, TimeZone, Utc};
use decnet_core::{Event, EventKind};
use serde_json::Value;
use toml::Spanned;
use uuid::Uuid;

use super::compile::kind_names;
use super::model::Rule;
use super::raw::{RawExample, RawRule};
use super::RuleSet;
use crate::engine::Tagger;

/// Most events one example may expand to (`repeat` included).
const MAX_EXAMPLE_EVENTS: usize = 10_000;

/// One example: events fed to the rule alone, and whether it must fire.
#[derive(Clone, Debug)]
pub struct Example {
    /// Line of the example in its file.
    pub line: usize,
    /// Whether the rule must fire (`matches`, default true).
    pub matches: bool,
    /// The events, in order.
    pub events: Vec<Event>,
}

impl Example {
    /// Runs the events through a tagger holding only `rule`; true if it tagged anything.
    pub fn fires(&self, rule: &Rule) -> bool {
        let mut tagger = Tagger::new(RuleSet::without_prefilter(vec![rule.clone()]).into());
        self.events.iter().any(|e| !tagger.process(e).is_empty())
    }
}

fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid date")
}

/// Expands a raw example into events.
pub(crate) fn build(x: &Spanned<RawExample>, rule: &RawRule) -> Result<Example, String> {
    let raw = x.get_ref();
    let mut events = Vec::new();
    let mut clock = epoch();
    if raw.events.is_empty() {
        expand(raw, rule, &mut clock, &mut events)?;
    } else {
        if raw.kind.is_some() || raw.command.is_some() || !raw.fields.is_empty() {
            return Err("an example has either `events` or one event's keys, not both".into());
        }
        for e in &raw.events {
            let inner = e.get_ref();
            if inner.matches.is_some() || !inner.events.is_empty() {
                return Err("`matches` and `events` belong to the example, not its events".into());
            }
            expand(inner, rule, &mut clock, &mut events)?;
        }
    }
    Ok(Example {
        line: 0,
        matches: raw.matches.unwrap_or(true),
        events,
    })
}

fn expand(
    x: &RawExample,
    rule: &RawRule,
    clock: &mut DateTime<Utc>,
    out: &mut Vec<Event>,
) -> Result<(), String> {
    let kind = match (&x.kind, &x.command) {
        (Some(k), _) => EventKind::parse(k).ok_or_else(|| format!("unknown event kind {k:?}"))?,
        (None, Some(_)) => EventKind::Command,
        (None, None) => match kind_names(rule.kind.as_ref()).as_slice() {
            [one] => EventKind::parse(one).ok_or_else(|| format!("unknown event kind {one:?}"))?,
            _ => return Err("this example needs `kind` (the rule names several or none)".into()),
        },
    };
    let service = match &x.service {
        Some(s) => s.clone(),
        None => match rule.service.as_ref().map(|s| s.get_ref().to_vec()) {
            Some(list) if !list.is_empty() => list[0].clone(),
            _ => "ssh".to_owned(),
        },
    };
    let gap = match &x.gap {
        Some(g) => humantime::parse_duration(g)
            .map_err(|e| format!("gap {g:?}: {e}"))
            .and_then(|d| Duration::from_std(d).map_err(|e| e.to_string()))?,
        None => Duration::seconds(1),
    };
    let src_ip: IpAddr = match &x.src_ip {
        Some(ip) => ip
            .parse()
            .map_err(|_| format!("src_ip {ip:?} is not an address"))?,
        None => "192.0.2.10".parse().expect("literal"),
    };
    let session = x.session.as_deref().unwrap_or("s1");
    let repeat = x.repeat.unwrap_or(1).max(1) as usize;
    if out.len() + repeat > MAX_EXAMPLE_EVENTS {
        return Err(format!(
            "examples are limited to {MAX_EXAMPLE_EVENTS} events"
        ));
    }
    for n in 0..repeat {
        *clock += gap;
        let mut e = Event::new(
            x.decky.clone().unwrap_or_else(|| "decky-1".into()),
            service.clone(),
            kind,
        );
        e.id = Uuid::new_v5(
            &Uuid::NAMESPACE_OID,
            format!("example-{}", out.len()).as_bytes(),
        );
        e.ts = *clock;
        e.src_ip = src_ip;
        e.src_port = 40000 + (out.len() % 20000) as u16;
        e.dst_ip = "192.0.2.1".parse().expect("literal");
        e.dst_port = x.dst_port.unwrap_or(22);
        e.session_id = Some(Uuid::new_v5(&Uuid::NAMESPACE_OID, session.as_bytes()));
        for (k, v) in &x.fields {
            e.fields.insert(k.clone(), numbered(v, n));
        }
        if let Some(c) = &x.command {
            e.fields.insert(
                "command".into(),
                Value::String(c.replace("{n}", &n.to_string())),
            );
        }
        out.push(e);
    }
    Ok(())
}

fn numbered(v: &Value, n: usize) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("{n}", &n.to_string())),
        other => other.clone(),
    }
}
