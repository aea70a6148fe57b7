//! Aggregate rules: per group (default: source address), a sliding window
//! of matching events with counts of distinct field values kept up to date
//! as events enter and leave, so each event costs O(tracked fields).

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::fmt::Write;
use std::hash::Hasher;

use decnet_core::Event;
use smallvec::SmallVec;
use uuid::Uuid;

use super::keyed::{self, RuleKey, Stamped};
use super::Limits;
use crate::rules::filter::{EventView, FieldRef};
use crate::rules::{Aggregate, Measure, RuleBody, RuleSet};
use crate::tag::Evidence;

/// Events of the window named in the evidence (the latest ones).
const EVIDENCE_EVENTS: usize = 8;

/// Hash standing for "the event has no such field" (not counted as a value).
const MISSING: u64 = 0;

type Key = RuleKey<u64>;

impl Stamped for Group {
    fn last(&self) -> i64 {
        self.last
    }
}

struct Entry {
    ts: i64,
    id: Uuid,
    values: SmallVec<[u64; 2]>,
}

struct Group {
    entries: VecDeque<Entry>,
    /// Per tracked field: value hash → events in the window carrying it.
    counts: Vec<HashMap<u64, u32>>,
    /// Per tracked field: events in the window that have the field.
    present: Vec<u32>,
    fired_at: Option<i64>,
    last: i64,
}

impl Group {
    fn new(fields: usize) -> Group {
        Group {
            entries: VecDeque::new(),
            counts: vec![HashMap::new(); fields],
            present: vec![0; fields],
            fired_at: None,
            last: i64::MIN,
        }
    }

    fn push(&mut self, entry: Entry) {
        for (i, v) in entry.values.iter().enumerate() {
            if *v != MISSING {
                *self.counts[i].entry(*v).or_insert(0) += 1;
                self.present[i] += 1;
            }
        }
        self.last = self.last.max(entry.ts);
        self.entries.push_back(entry);
    }

    fn pop_front(&mut self) {
        let Some(entry) = self.entries.pop_front() else {
            return;
        };
        for (i, v) in entry.values.iter().enumerate() {
            if *v == MISSING {
                continue;
            }
            self.present[i] -= 1;
            if let Some(c) = self.counts[i].get_mut(v) {
                *c -= 1;
                if *c == 0 {
                    self.counts[i].remove(v);
                }
            }
        }
    }

    fn value(&self, m: &Measure) -> u32 {
        match m {
            Measure::Count(_) => self.entries.len() as u32,
            Measure::Distinct(i, _) => self.counts[*i].len() as u32,
            Measure::Repeats(i, _) => match self.counts[*i].len() as u32 {
                0 => 0,
                d => self.present[*i] / d,
            },
        }
    }
}

fn bound_of(m: &Measure) -> &crate::rules::Bound {
    match m {
        Measure::Count(b) | Measure::Distinct(_, b) | Measure::Repeats(_, b) => b,
    }
}

fn value_hash(f: &FieldRef, e: &Event) -> u64 {
    let mut h = DefaultHasher::new();
    if !f.hash_into(e, &mut h) {
        return MISSING;
    }
    match h.finish() {
        MISSING => 1,
        v => v,
    }
}

pub(super) struct Aggregates {
    map: HashMap<Key, Group>,
    limits: Limits,
    evicted: u64,
}

impl Aggregates {
    pub fn new(limits: Limits) -> Self {
        Aggregates {
            map: HashMap::new(),
            limits,
            evicted: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Adds one event to aggregate rule `rule`; the evidence when the
    /// window now meets every bound (at most once per window length).
    pub fn add<'r>(
        &mut self,
        rule: u32,
        agg: &'r Aggregate,
        view: &mut EventView<'_, 'r>,
    ) -> Option<Evidence> {
        agg.filter.test_in(view)?;
        let e = view.event();
        let now = e.ts.timestamp_micros();
        let mut h = DefaultHasher::new();
        for f in &agg.group_by {
            // The flag keeps "absent" apart from every present value.
            let present = f.hash_into(e, &mut h);
            h.write_u8(u8::from(present));
        }
        let key = Key {
            rule,
            part: h.finish(),
        };
        if !self.map.contains_key(&key) && self.map.len() >= self.limits.max_groups {
            self.evicted += keyed::evict_oldest(&mut self.map, self.limits.max_groups);
        }
        let group = self
            .map
            .entry(key)
            .or_insert_with(|| Group::new(agg.tracked.len()));
        let window = agg.window.num_microseconds().unwrap_or(i64::MAX);
        while group
            .entries
            .front()
            .is_some_and(|f| now.saturating_sub(f.ts) > window)
        {
            group.pop_front();
        }
        if group.entries.len() >= self.limits.max_window_events {
            group.pop_front();
            self.evicted += 1;
        }
        group.push(Entry {
            ts: now,
            id: e.id,
            values: agg.tracked.iter().map(|f| value_hash(f, e)).collect(),
        });
        if group
            .fired_at
            .is_some_and(|t| now.saturating_sub(t) < window)
        {
            return None;
        }
        if !agg.having.iter().all(|m| bound_of(m).holds(group.value(m))) {
            return None;
        }
        group.fired_at = Some(now);
        let mut detail = String::new();
        for m in &agg.having {
            let label = match m {
                Measure::Count(_) => "count".to_owned(),
                Measure::Distinct(i, _) => format!("distinct({})", agg.tracked[*i].name()),
                Measure::Repeats(i, _) => format!("repeats({})", agg.tracked[*i].name()),
            };
            if !detail.is_empty() {
                detail.push(' ');
            }
            let _ = write!(detail, "{label}={}", group.value(m));
        }
        let mut event_ids: SmallVec<[Uuid; 4]> = group
            .entries
            .iter()
            .rev()
            .take(EVIDENCE_EVENTS)
            .map(|x| x.id)
            .collect();
        event_ids.reverse();
        Some(Evidence {
            event_ids,
            matched: SmallVec::new(),
            detail: Some(detail),
        })
    }

    pub fn sweep(&mut self, set: &RuleSet, now: i64) {
        keyed::sweep(&mut self.map, set, now, |body| match body {
            RuleBody::Aggregate(a) => Some(a.window),
            _ => None,
        });
    }

    pub fn remap(&mut self, mapping: &[Option<u32>]) {
        keyed::remap(&mut self.map, mapping);
    }
}
