//! The tagger: runs the live rule set over events, one at a time, keeping
//! bounded per-session and per-source state for sequence and aggregate rules.
//!
//! Time is the events' own `ts`, never the wall clock, so a replay (or the
//! labelled corpus) tags exactly as the live stream did.

mod aggregate;
mod keyed;
mod sequence;

use std::sync::Arc;

use decnet_core::Event;

use crate::rules::filter::{clip, EventView, Matched, MAX_EXCERPT};
use crate::rules::prefilter::Scratch;
use crate::rules::{Rule, RuleBody, RuleHandle, RuleSet};
use crate::tag::{Evidence, Tag, Tags};

use aggregate::Aggregates;
use sequence::Sequences;

/// Memory caps of the tagger's state.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Sequence progress entries (one per rule × session or source).
    pub max_sequences: usize,
    /// Aggregate groups (one per rule × group key).
    pub max_groups: usize,
    /// Events remembered per aggregate group window.
    pub max_window_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sequences: 100_000,
            max_groups: 100_000,
            max_window_events: 1_024,
        }
    }
}

/// How often (event time, µs) expired state is swept.
const SWEEP_EVERY_US: i64 = 30_000_000;

/// Runs rules over events. One per consumer; not shared between threads.
pub struct Tagger {
    handle: RuleHandle,
    set: Arc<RuleSet>,
    sequences: Sequences,
    aggregates: Aggregates,
    clock_us: i64,
    last_sweep_us: i64,
    scratch: Scratch,
}

/// Sizes of the tagger's state, for health/metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StateStats {
    /// Sequence progress entries held.
    pub sequences: usize,
    /// Aggregate groups held.
    pub groups: usize,
    /// Entries dropped because a cap was reached.
    pub evicted: u64,
}

impl Tagger {
    /// A tagger on `handle`'s rules with default limits.
    pub fn new(handle: RuleHandle) -> Tagger {
        Tagger::with_limits(handle, Limits::default())
    }

    /// A tagger with explicit memory caps.
    pub fn with_limits(handle: RuleHandle, limits: Limits) -> Tagger {
        let set = handle.current();
        Tagger {
            handle,
            set,
            sequences: Sequences::new(limits),
            aggregates: Aggregates::new(limits),
            clock_us: i64::MIN,
            last_sweep_us: i64::MIN,
            scratch: Scratch::default(),
        }
    }

    /// The rule set in use.
    pub fn rules(&self) -> &RuleSet {
        &self.set
    }

    /// State sizes.
    pub fn stats(&self) -> StateStats {
        StateStats {
            sequences: self.sequences.len(),
            groups: self.aggregates.len(),
            evicted: self.sequences.evicted() + self.aggregates.evicted(),
        }
    }

    /// Tags one event: every technique of every rule it completes.
    pub fn process(&mut self, e: &Event) -> Tags {
        if self.handle.generation() != self.set.generation() {
            self.adopt(self.handle.current());
        }
        let now = e.ts.timestamp_micros();
        if now > self.clock_us {
            self.clock_us = now;
        }
        if self.clock_us.saturating_sub(self.last_sweep_us) >= SWEEP_EVERY_US {
            self.sweep();
        }
        let mut tags = Tags::new();
        let set = self.set.clone();
        let mut view = EventView::new(e);
        let prefilter = set.prefilter(e.kind);
        prefilter.run(&mut view, &mut self.scratch);
        for (pos, &i) in set.candidates(e.kind).iter().enumerate() {
            if !prefilter.may_fire(pos, &self.scratch) {
                continue;
            }
            let rule = &set.rules()[i as usize];
            let fired = match &rule.body {
                RuleBody::Event(f) => f.test_in(&mut view).map(|m| Evidence {
                    event_ids: [e.id].into_iter().collect(),
                    matched: m,
                    detail: None,
                }),
                RuleBody::Sequence(s) => self.sequences.advance(i, s, &mut view),
                RuleBody::Aggregate(a) => self.aggregates.add(i, a, &mut view),
            };
            if let Some(mut evidence) = fired {
                add_evidence_fields(rule, e, &mut evidence.matched);
                emit(rule, e, evidence, &mut tags);
            }
        }
        tags
    }

    /// Drops expired state now (also done every 30 s of event time).
    pub fn sweep(&mut self) {
        self.last_sweep_us = self.clock_us;
        self.sequences.sweep(&self.set, self.clock_us);
        self.aggregates.sweep(&self.set, self.clock_us);
    }

    /// Switches to a reloaded set, keeping the state of rules whose id and
    /// definition did not change.
    fn adopt(&mut self, new: Arc<RuleSet>) {
        let old = std::mem::replace(&mut self.set, new);
        let mapping: Vec<Option<u32>> = old
            .rules()
            .iter()
            .map(|r| {
                self.set
                    .rules()
                    .iter()
                    .position(|n| n.id == r.id && n.fingerprint == r.fingerprint)
                    .map(|p| p as u32)
            })
            .collect();
        self.sequences.remap(&mapping);
        self.aggregates.remap(&mapping);
    }
}

fn add_evidence_fields(rule: &Rule, e: &Event, matched: &mut Matched) {
    for f in &rule.evidence {
        if matched.iter().any(|(name, _)| **name == *f.name()) {
            continue;
        }
        if let Some(v) = f.text(e) {
            matched.push((f.name().into(), clip(&v, MAX_EXCERPT).to_owned()));
        }
    }
}

fn emit(rule: &Rule, e: &Event, evidence: Evidence, tags: &mut Tags) {
    for t in &rule.techniques {
        tags.push(Tag {
            event_id: e.id,
            technique_id: t.clone(),
            rule_id: rule.id.clone(),
            confidence: rule.confidence,
            evidence: evidence.clone(),
            src_ip: e.src_ip,
            session_id: e.session_id,
            decky: e.decky.clone(),
            ts: e.ts,
        });
    }
}

#[cfg(test)]
mod tests;
