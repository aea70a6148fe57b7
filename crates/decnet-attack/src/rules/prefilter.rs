//! A cheap first pass over an event before its rules are tested one by one.
//!
//! Most rules an event's kind selects hold a regular expression over a few
//! fields (a command line, a request's path, query, body, headers), and
//! almost none match ordinary traffic. Testing them one by one scans the
//! same field once per rule; here every regex that reads a field is in one
//! multi-pattern automaton, so each field is scanned once per event and
//! says which of those regexes match anywhere in it. A rule one of whose
//! regex conditions matches in none of its fields cannot fire and is
//! skipped; the rest are tested as before, so what the tagger yields
//! (tags, evidence, order) does not change.
//!
//! Only event and aggregate rules are skipped so: both test their filter
//! before anything else. A sequence rule also expires its progress when
//! an event of its kinds arrives, so it always runs.

use regex_automata::meta;
use regex_automata::util::syntax;
use regex_automata::{Input, MatchKind, PatternSet};

use super::filter::{EventView, FieldRef, Filter, Op};
use super::model::{Rule, RuleBody};

/// Compiled size bound of one field's automaton (all its patterns).
const SET_SIZE_LIMIT: usize = 64 << 20;
/// Lazy DFA cache of one field's automaton.
const SET_CACHE: usize = 4 << 20;

/// One field and every prefiltered regex that reads it.
struct FieldScan {
    field: FieldRef,
    set: meta::Regex,
    /// Pattern → condition slot.
    slot_of: Vec<u32>,
}

/// The prefilter of one event kind's candidate rules.
#[derive(Default)]
pub struct KindPrefilter {
    fields: Vec<FieldScan>,
    /// Condition slots.
    slots: usize,
    /// Per candidate (in candidate order): slots that must all have
    /// matched; empty for rules that are always tested.
    needs: Vec<Vec<u32>>,
}

impl std::fmt::Debug for KindPrefilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KindPrefilter")
            .field("fields", &self.fields.len())
            .field("slots", &self.slots)
            .finish()
    }
}

/// Reusable buffers of [`KindPrefilter::run`] (one per tagger).
#[derive(Default)]
pub struct Scratch {
    hits: Vec<bool>,
    sets: Vec<PatternSet>,
}

/// The filter a rule's event test starts with, if it has one to skip on.
fn skippable(rule: &Rule) -> Option<&Filter> {
    match &rule.body {
        RuleBody::Event(f) => Some(f),
        RuleBody::Aggregate(a) => Some(&a.filter),
        RuleBody::Sequence(_) => None,
    }
}

impl KindPrefilter {
    /// Builds the prefilter of `candidates` (indexes into `rules`).
    pub fn build(rules: &[Rule], candidates: &[u32]) -> KindPrefilter {
        // Per field name: (the field, patterns, their slots).
        let mut by_field: Vec<(FieldRef, Vec<&str>, Vec<u32>)> = Vec::new();
        let mut needs = Vec::with_capacity(candidates.len());
        let mut slots = 0u32;
        for &i in candidates {
            let mut need = Vec::new();
            let filter = skippable(&rules[i as usize]);
            for c in filter.map(|f| &f.conditions[..]).unwrap_or_default() {
                let Op::Regex(re) = &c.op else { continue };
                if c.negate {
                    continue;
                }
                for f in &c.fields {
                    match by_field.iter_mut().find(|(n, _, _)| n.name() == f.name()) {
                        Some((_, pats, ids)) => {
                            pats.push(re.as_str());
                            ids.push(slots);
                        }
                        None => by_field.push((f.clone(), vec![re.as_str()], vec![slots])),
                    }
                }
                need.push(slots);
                slots += 1;
            }
            needs.push(need);
        }
        let mut out = KindPrefilter {
            fields: Vec::new(),
            slots: slots as usize,
            needs,
        };
        for (field, pats, slot_of) in by_field {
            match build_set(&pats) {
                Some(set) => out.fields.push(FieldScan {
                    field,
                    set,
                    slot_of,
                }),
                // Too big to combine: these conditions are not prefiltered.
                None => out.forget(&slot_of),
            }
        }
        out
    }

    /// Stops prefiltering on `slots` (every rule needing one is tested).
    fn forget(&mut self, slots: &[u32]) {
        for need in &mut self.needs {
            if need.iter().any(|s| slots.contains(s)) {
                need.clear();
            }
        }
    }

    /// Scans the event's fields; afterwards [`KindPrefilter::may_fire`]
    /// tells which candidates can fire.
    pub fn run<'r>(&'r self, view: &mut EventView<'_, 'r>, scratch: &mut Scratch) {
        // Kinds without regex rules (connect, disconnect) have no slots.
        if self.slots == 0 {
            return;
        }
        scratch.hits.clear();
        scratch.hits.resize(self.slots, false);
        scratch
            .sets
            .resize_with(self.fields.len(), || PatternSet::new(0));
        for (scan, found) in self.fields.iter().zip(scratch.sets.iter_mut()) {
            let Some(text) = view.scan_text(&scan.field) else {
                continue;
            };
            if found.capacity() != scan.set.pattern_len() {
                *found = PatternSet::new(scan.set.pattern_len());
            }
            found.clear();
            scan.set
                .which_overlapping_matches(&Input::new(text.as_bytes()), found);
            for p in found.iter() {
                scratch.hits[scan.slot_of[p.as_usize()] as usize] = true;
            }
        }
    }

    /// Whether the `pos`th candidate can fire, after [`KindPrefilter::run`].
    pub fn may_fire(&self, pos: usize, scratch: &Scratch) -> bool {
        self.slots == 0
            || self
                .needs
                .get(pos)
                .is_none_or(|need| need.iter().all(|&s| scratch.hits[s as usize]))
    }
}

/// One automaton over `patterns`, with the syntax the rules' own regexes
/// are compiled with (`regex::bytes` with Unicode off), so a pattern is
/// reported exactly when its rule's regex would find a match.
fn build_set(patterns: &[&str]) -> Option<meta::Regex> {
    let metac = meta::Config::new()
        .match_kind(MatchKind::All)
        .utf8_empty(false)
        .nfa_size_limit(Some(SET_SIZE_LIMIT))
        .hybrid_cache_capacity(SET_CACHE)
        .which_captures(regex_automata::nfa::thompson::WhichCaptures::None);
    let syntaxc = syntax::Config::new().unicode(false).utf8(false);
    meta::Builder::new()
        .configure(metac)
        .syntax(syntaxc)
        .build_many(patterns)
        .ok()
}
