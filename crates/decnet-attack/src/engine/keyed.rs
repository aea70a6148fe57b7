//! What sequence and aggregate state share: maps keyed by rule index (plus
//! a scope or group), entries stamped with their last event time, expiry by
//! the rule's own window, eviction when full, and re-keying after a reload.

use std::collections::HashMap;
use std::hash::Hash;

use chrono::Duration;

use crate::rules::{RuleBody, RuleSet};

/// A state key: the rule's index and what the state is per (a session or
/// source for sequences, a group hash for aggregates).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct RuleKey<T> {
    pub rule: u32,
    pub part: T,
}

/// A state entry that knows when it was last advanced (µs).
pub(super) trait Stamped {
    fn last(&self) -> i64;
}

/// Drops entries older than their rule's `keep_for` (entries of rules that
/// are not of the expected type go too).
pub(super) fn sweep<T, V: Stamped>(
    map: &mut HashMap<RuleKey<T>, V>,
    set: &RuleSet,
    now: i64,
    keep_for: impl Fn(&RuleBody) -> Option<Duration>,
) {
    map.retain(|k, v| {
        let Some(d) = keep_for(&set.rules()[k.rule as usize].body) else {
            return false;
        };
        now.saturating_sub(v.last()) <= d.num_microseconds().unwrap_or(i64::MAX)
    });
}

/// Re-keys entries to the rule indexes of a reloaded set (`mapping[old] =
/// Some(new)`); entries of rules that went or changed are dropped.
pub(super) fn remap<T: Eq + Hash, V>(map: &mut HashMap<RuleKey<T>, V>, mapping: &[Option<u32>]) {
    let old = std::mem::take(map);
    *map = old
        .into_iter()
        .filter_map(|(k, v)| {
            let rule = (*mapping.get(k.rule as usize)?)?;
            Some((RuleKey { rule, part: k.part }, v))
        })
        .collect();
}

/// Keeps fewer than `cap` entries, dropping the least recently advanced;
/// returns how many went.
pub(super) fn evict_oldest<K: Eq + Hash, V: Stamped>(map: &mut HashMap<K, V>, cap: usize) -> u64 {
    if map.len() < cap {
        return 0;
    }
    // Drop an eighth at once so a full map is not rescanned on every event.
    let keep = cap - cap / 8 - 1;
    let mut stamps: Vec<i64> = map.values().map(Stamped::last).collect();
    let cut_at = stamps.len() - keep;
    let (_, cut, _) = stamps.select_nth_unstable(cut_at);
    let cut = *cut;
    let before = map.len();
    // Entries tied with the cut go too: never more than the cap survive.
    map.retain(|_, v| v.last() > cut);
    (before - map.len()) as u64
}
