//! Custom rules from `[alerts.rule.<id>]`: a [`Filter`], a severity, and
//! optionally an aggregate (fire once per `count` matches from one source
//! within `within` of the first of them).

use std::collections::BTreeMap;
use std::time::Duration;

use super::filter::Filter;
use super::Hit;
use crate::alert::{Severity, Stage};
use crate::signal::{value_text, Signal};

/// N matches per source within T.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Aggregate {
    /// Matches needed.
    pub count: u32,
    /// Counted from the first of them.
    pub within: Duration,
}

/// A custom rule.
#[derive(Clone, Debug)]
pub struct CustomRule {
    /// Id (the section suffix).
    pub id: String,
    /// Alert title.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// Running?
    pub enabled: bool,
    /// Conditions.
    pub filter: Filter,
    /// Aggregate, if any.
    pub aggregate: Option<Aggregate>,
    /// Ladder stage its hits stand for.
    pub stage: Option<Stage>,
    /// Throttle window override.
    pub window: Option<Duration>,
    /// The key/values it was parsed from (shown by the API).
    pub raw: BTreeMap<String, String>,
}

impl CustomRule {
    /// The hit for a matching signal.
    pub fn hit(&self, s: &Signal<'_>) -> Hit {
        let mut h = Hit::on(&self.id, self.severity, s, self.title.clone()).event_facts(s);
        h.stage = self.stage;
        h.window = self.window;
        h.summary = match self.aggregate {
            Some(a) => format!(
                "Custom rule {}: {} matching events from one source within {}s.",
                self.id,
                a.count,
                a.within.as_secs()
            ),
            None => format!("Custom rule {} matched.", self.id),
        };
        for f in &self.filter.fields {
            if let Some(v) = s.field(&f.path) {
                h = h.fact(&f.path, &value_text(v));
            }
        }
        if s.src_ip().is_none() {
            h.subject_key = Some(format!("{}:{}", self.id, s.topic()));
        }
        h
    }
}
