//! Sequence rules: ordered steps within a session or a source, each step no
//! later than `max_gap` after the previous one and all within `within`.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use decnet_core::Event;
use smallvec::SmallVec;
use uuid::Uuid;

use super::keyed::{self, RuleKey, Stamped};
use super::Limits;
use crate::rules::filter::{EventView, Matched};
use crate::rules::{RuleBody, RuleSet, Scope, Sequence};
use crate::tag::Evidence;

/// Most events and matched fields kept per sequence (its steps, in practice).
const MAX_STEP_EVIDENCE: usize = 8;

type Key = RuleKey<u128>;

impl Stamped for Progress {
    fn last(&self) -> i64 {
        self.last
    }
}

struct Progress {
    next: usize,
    started: i64,
    last: i64,
    done: bool,
    across: u64,
    events: SmallVec<[Uuid; 4]>,
    matched: Matched,
}

pub(super) struct Sequences {
    map: HashMap<Key, Progress>,
    limits: Limits,
    evicted: u64,
}

fn hash_of(parts: impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

fn scope_key(scope: Scope, e: &Event) -> u128 {
    match (scope, e.session_id) {
        (Scope::Session, Some(s)) => s.as_u128(),
        // The top bit keeps these apart from session ids (UUIDv7 has version bits there).
        (Scope::Session, None) => (1 << 127) | u128::from(hash_of((e.src_ip, &e.decky))),
        (Scope::Source, _) => (1 << 127) | (1 << 126) | u128::from(hash_of(e.src_ip)),
    }
}

impl Sequences {
    pub fn new(limits: Limits) -> Self {
        Sequences {
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

    /// Feeds one event to sequence rule `rule`; the evidence when it completes.
    pub fn advance<'r>(
        &mut self,
        rule: u32,
        seq: &'r Sequence,
        view: &mut EventView<'_, 'r>,
    ) -> Option<Evidence> {
        let e = view.event();
        let now = e.ts.timestamp_micros();
        let key = Key {
            rule,
            part: scope_key(seq.scope, e),
        };
        let gap = seq.max_gap.num_microseconds().unwrap_or(i64::MAX);
        let within = seq.within.num_microseconds().unwrap_or(i64::MAX);
        if let Some(p) = self.map.get(&key) {
            if now - p.last > gap || now - p.started > within {
                self.map.remove(&key);
            }
        }
        let next = match self.map.get(&key) {
            Some(p) if p.done => return None,
            Some(p) => p.next,
            None => 0,
        };
        let matched = seq.steps[next].test_in(view)?;
        let across = seq
            .across
            .as_ref()
            .map(|f| {
                let mut h = DefaultHasher::new();
                let present = f.hash_into(e, &mut h);
                h.write_u8(u8::from(present));
                h.finish()
            })
            .unwrap_or(0);
        if next == 0 {
            if self.map.len() >= self.limits.max_sequences {
                self.evicted += keyed::evict_oldest(&mut self.map, self.limits.max_sequences);
            }
            self.map.insert(
                key,
                Progress {
                    next: 0,
                    started: now,
                    last: now,
                    done: false,
                    across,
                    events: SmallVec::new(),
                    matched: Matched::new(),
                },
            );
        }
        let p = self.map.get_mut(&key).expect("inserted above or present");
        if next > 0 && seq.across.is_some() && p.across == across {
            return None;
        }
        p.last = now;
        p.across = across;
        if p.events.len() < MAX_STEP_EVIDENCE {
            p.events.push(e.id);
        }
        let mut matched = Some(matched);
        // One line can do several steps (`wget …; chmod +x x; ./x`): the same
        // event may go on to satisfy the following steps, except where
        // steps must differ in a field.
        while let Some(m) = matched.take() {
            p.next += 1;
            for m in m {
                if p.matched.len() < MAX_STEP_EVIDENCE {
                    p.matched.push(m);
                }
            }
            if p.next < seq.steps.len() && seq.across.is_none() {
                matched = seq.steps[p.next].test_in(view);
            }
        }
        if p.next < seq.steps.len() {
            return None;
        }
        // Fires once per session/source until the progress expires.
        p.done = true;
        Some(Evidence {
            event_ids: p.events.clone(),
            matched: p.matched.clone(),
            detail: None,
        })
    }

    pub fn sweep(&mut self, set: &RuleSet, now: i64) {
        keyed::sweep(&mut self.map, set, now, |body| match body {
            RuleBody::Sequence(s) => Some(s.max_gap),
            _ => None,
        });
    }

    pub fn remap(&mut self, mapping: &[Option<u32>]) {
        keyed::remap(&mut self.map, mapping);
    }
}
