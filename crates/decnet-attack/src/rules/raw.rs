//! The rule file format as written (TOML), with the position of every value
//! so the compiler can report `FILE:LINE` for each semantic error.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A string or a list of strings (`kind = "command"`, `kind = ["command", "request"]`).
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl OneOrMany {
    /// As a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// A whole rule file: `[[rule]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// The rules.
    #[serde(default)]
    pub rule: Vec<Spanned<RawRule>>,
}

/// One `[[rule]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawRule {
    pub id: Spanned<String>,
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub techniques: Spanned<Vec<Spanned<String>>>,
    pub confidence: Spanned<i64>,
    #[serde(rename = "type", default)]
    pub rule_type: Option<Spanned<String>>,
    // The single-event filter (event rules; the counted events of aggregates).
    // Spelled out rather than flattened: serde's flatten buffers values and
    // loses the positions `Spanned` records.
    #[serde(default)]
    pub kind: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub service: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub command: Option<Spanned<String>>,
    #[serde(default)]
    pub when: Vec<Spanned<RawCondition>>,
    #[serde(default)]
    pub evidence: Vec<Spanned<String>>,
    // Sequence rules.
    #[serde(default)]
    pub scope: Option<Spanned<String>>,
    #[serde(default)]
    pub max_gap: Option<Spanned<String>>,
    #[serde(default)]
    pub within: Option<Spanned<String>>,
    #[serde(default)]
    pub across: Option<Spanned<String>>,
    #[serde(default)]
    pub step: Vec<Spanned<RawFilter>>,
    // Aggregate rules.
    #[serde(default)]
    pub group_by: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub window: Option<Spanned<String>>,
    #[serde(default)]
    pub having: Option<Spanned<RawHaving>>,
    // Tests beside the rule.
    #[serde(default)]
    pub example: Vec<Spanned<RawExample>>,
}

impl RawRule {
    /// The rule's own single-event filter.
    pub fn filter(&self) -> FilterParts<'_> {
        FilterParts::of(&self.kind, &self.service, &self.command, &self.when)
    }
}

/// A filter as written, borrowed from a rule or a step.
#[derive(Clone, Copy)]
pub struct FilterParts<'a> {
    pub kind: Option<&'a Spanned<OneOrMany>>,
    pub service: Option<&'a Spanned<OneOrMany>>,
    pub command: Option<&'a Spanned<String>>,
    pub when: &'a [Spanned<RawCondition>],
}

impl<'a> FilterParts<'a> {
    fn of(
        kind: &'a Option<Spanned<OneOrMany>>,
        service: &'a Option<Spanned<OneOrMany>>,
        command: &'a Option<Spanned<String>>,
        when: &'a [Spanned<RawCondition>],
    ) -> Self {
        FilterParts {
            kind: kind.as_ref(),
            service: service.as_ref(),
            command: command.as_ref(),
            when,
        }
    }

    /// Whether nothing is asked (such a filter would match every event).
    pub fn is_empty(&self) -> bool {
        self.kind.is_none()
            && self.service.is_none()
            && self.command.is_none()
            && self.when.is_empty()
    }
}

/// One `[[rule.step]]` of a sequence: kind, service, command regex and conditions.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawFilter {
    #[serde(default)]
    pub kind: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub service: Option<Spanned<OneOrMany>>,
    /// Shorthand for a `regex` condition on the `command` field.
    #[serde(default)]
    pub command: Option<Spanned<String>>,
    #[serde(default)]
    pub when: Vec<Spanned<RawCondition>>,
}

impl RawFilter {
    /// Borrowed view.
    pub fn parts(&self) -> FilterParts<'_> {
        FilterParts::of(&self.kind, &self.service, &self.command, &self.when)
    }
}

/// One `[[rule.when]]` condition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    pub field: Spanned<OneOrMany>,
    #[serde(default)]
    pub equals: Option<Spanned<serde_json::Value>>,
    #[serde(default, rename = "in")]
    pub in_list: Option<Spanned<Vec<serde_json::Value>>>,
    #[serde(default)]
    pub contains: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub regex: Option<Spanned<String>>,
    #[serde(default)]
    pub exists: Option<Spanned<bool>>,
    #[serde(default)]
    pub not: bool,
}

/// `min`/`max` of one measure.
#[derive(Debug, Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct RawBound {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

/// `[rule.having]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHaving {
    #[serde(default)]
    pub count: Option<Spanned<RawBound>>,
    #[serde(default)]
    pub distinct: BTreeMap<String, Spanned<RawBound>>,
    #[serde(default)]
    pub repeats: BTreeMap<String, Spanned<RawBound>>,
}

/// One `[[rule.example]]`: an event (or `events`) and whether the rule fires.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawExample {
    #[serde(default)]
    pub matches: Option<bool>,
    #[serde(default)]
    pub events: Vec<Spanned<RawExample>>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub decky: Option<String>,
    #[serde(default)]
    pub src_ip: Option<String>,
    #[serde(default)]
    pub dst_port: Option<u16>,
    /// Events with the same label share a session id.
    #[serde(default)]
    pub session: Option<String>,
    /// Time since the previous event (default 1s).
    #[serde(default)]
    pub gap: Option<String>,
    /// The event repeated this many times; `{n}` in field strings counts up.
    #[serde(default)]
    pub repeat: Option<u32>,
    #[serde(default)]
    pub fields: serde_json::Map<String, serde_json::Value>,
}
