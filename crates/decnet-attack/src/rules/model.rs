//! Compiled rules: what the tagger evaluates.

use std::sync::Arc;

use chrono::Duration;
use smallvec::SmallVec;

use super::example::Example;
use super::filter::{FieldRef, Filter, KindMask};

/// One compiled rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Unique id (`discovery.system_info`).
    pub id: Arc<str>,
    /// Short title.
    pub name: String,
    /// Why this maps to the techniques, for the analyst.
    pub description: String,
    /// Technique ids the rule yields.
    pub techniques: SmallVec<[Arc<str>; 2]>,
    /// 0–100.
    pub confidence: u8,
    /// Extra event fields copied into the evidence.
    pub evidence: Vec<FieldRef>,
    /// What it matches.
    pub body: RuleBody,
    /// File it came from and its line, for messages.
    pub file: Arc<str>,
    /// Line of `[[rule]]`.
    pub line: usize,
    /// Hash of the rule's definition: state survives a reload only for a
    /// rule whose id and definition are both unchanged.
    pub fingerprint: u64,
    /// The rule's own tests (`[[rule.example]]`).
    pub examples: Vec<Example>,
}

impl Rule {
    /// Every kind that can advance this rule (index key of the rule set).
    pub fn kinds(&self) -> KindMask {
        match &self.body {
            RuleBody::Event(f) => f.kinds,
            RuleBody::Sequence(s) => KindMask(s.steps.iter().fold(0, |m, f| m | f.kinds.0)),
            RuleBody::Aggregate(a) => a.filter.kinds,
        }
    }
}

/// The three kinds of rule.
#[derive(Clone, Debug)]
pub enum RuleBody {
    /// Matches one event.
    Event(Filter),
    /// Ordered steps within a session or a source.
    Sequence(Sequence),
    /// Counts per group over a sliding window.
    Aggregate(Aggregate),
}

/// What ties the steps of a sequence together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One connection (`session_id`; events without one use the source and decky).
    Session,
    /// One attacker address, across connections and deckies.
    Source,
}

/// A sequence rule.
#[derive(Clone, Debug)]
pub struct Sequence {
    /// Session or source.
    pub scope: Scope,
    /// Steps, in order.
    pub steps: Vec<Filter>,
    /// Longest time between two consecutive steps.
    pub max_gap: Duration,
    /// Longest time from the first step to the last.
    pub within: Duration,
    /// When set, each step must differ from the previous one in this field
    /// (`decky`: the second login is on another host).
    pub across: Option<FieldRef>,
}

/// Lower and upper bounds of a measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bound {
    /// At least.
    pub min: Option<u32>,
    /// At most.
    pub max: Option<u32>,
}

impl Bound {
    /// Whether `v` is within the bounds.
    pub fn holds(&self, v: u32) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }
}

/// What an aggregate measures, and the bound it must meet.
#[derive(Clone, Debug)]
pub enum Measure {
    /// Matching events in the window.
    Count(Bound),
    /// Distinct values of a field in the window.
    Distinct(usize, Bound),
    /// Events per distinct value of a field (rounded down).
    Repeats(usize, Bound),
}

/// An aggregate rule.
#[derive(Clone, Debug)]
pub struct Aggregate {
    /// Which events count.
    pub filter: Filter,
    /// Group key fields (default: `src_ip`).
    pub group_by: Vec<FieldRef>,
    /// Sliding window.
    pub window: Duration,
    /// Fields whose distinct values are tracked (indexed by `Measure`).
    pub tracked: Vec<FieldRef>,
    /// All must hold for the rule to fire.
    pub having: Vec<Measure>,
}
