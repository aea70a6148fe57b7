//! [`TimedMap`]: a bounded map whose entries fall due at a time. The noise
//! gate keeps its throttle windows and escalation ladder in it: `pop_due`
//! hands back what expired (earliest first, O(log n)), `pop_earliest`
//! makes room when the map is full. Deadlines live in a heap with lazy
//! deletion: replacing an entry leaves its old heap slot behind, skipped
//! when popped and swept out when the heap grows past twice the map.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;

use chrono::{DateTime, Utc};

struct Slot<V> {
    value: V,
    due: DateTime<Utc>,
    seq: u64,
}

/// See the module doc.
pub struct TimedMap<K, V> {
    map: HashMap<K, Slot<V>>,
    heap: BinaryHeap<Reverse<(DateTime<Utc>, u64, K)>>,
    seq: u64,
}

impl<K: Clone + Eq + Hash + Ord, V> Default for TimedMap<K, V> {
    fn default() -> Self {
        TimedMap {
            map: HashMap::new(),
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<K: Clone + Eq + Hash + Ord, V> TimedMap<K, V> {
    /// Entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The value of `k`.
    pub fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k).map(|s| &s.value)
    }

    /// The value of `k`, mutably (its deadline stays).
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.map.get_mut(k).map(|s| &mut s.value)
    }

    /// Inserts or replaces `k`, due at `due`.
    pub fn insert(&mut self, k: K, value: V, due: DateTime<Utc>) {
        self.seq += 1;
        let seq = self.seq;
        self.heap.push(Reverse((due, seq, k.clone())));
        self.map.insert(k, Slot { value, due, seq });
        if self.heap.len() > 2 * self.map.len() + 64 {
            self.heap = self
                .map
                .iter()
                .map(|(k, s)| Reverse((s.due, s.seq, k.clone())))
                .collect();
        }
    }

    /// Removes `k`.
    pub fn remove(&mut self, k: &K) -> Option<V> {
        self.map.remove(k).map(|s| s.value)
    }

    fn pop_where(&mut self, now: Option<DateTime<Utc>>) -> Option<(K, V, DateTime<Utc>)> {
        while let Some(Reverse((due, _, _))) = self.heap.peek() {
            if now.is_some_and(|n| *due > n) {
                return None;
            }
            let Reverse((due, seq, k)) = self.heap.pop().expect("peeked");
            if self.map.get(&k).is_some_and(|s| s.seq == seq) {
                let slot = self.map.remove(&k).expect("checked");
                return Some((k, slot.value, due));
            }
        }
        None
    }

    /// The earliest entry due at or before `now`, removed.
    pub fn pop_due(&mut self, now: DateTime<Utc>) -> Option<(K, V, DateTime<Utc>)> {
        self.pop_where(Some(now))
    }

    /// The earliest entry, removed (to make room).
    pub fn pop_earliest(&mut self) -> Option<(K, V, DateTime<Utc>)> {
        self.pop_where(None)
    }

    /// Removes everything, earliest first.
    pub fn drain(&mut self) -> Vec<(K, V, DateTime<Utc>)> {
        let mut out = Vec::with_capacity(self.map.len());
        while let Some(e) = self.pop_earliest() {
            out.push(e);
        }
        self.heap.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    #[test]
    fn pops_in_deadline_order_and_skips_replaced() {
        let mut m = TimedMap::default();
        m.insert("a", 1, t(30));
        m.insert("b", 2, t(10));
        m.insert("c", 3, t(20));
        m.insert("b", 4, t(40)); // replaces b: its t(10) slot is stale
        assert_eq!(m.pop_due(t(5)), None);
        assert_eq!(m.pop_due(t(25)), Some(("c", 3, t(20))));
        assert_eq!(m.pop_due(t(25)), None);
        assert_eq!(m.pop_earliest(), Some(("a", 1, t(30))));
        *m.get_mut(&"b").unwrap() += 1;
        assert_eq!(m.remove(&"b"), Some(5));
        assert!(m.is_empty());
        assert_eq!(m.pop_earliest(), None);
    }

    #[test]
    fn heap_stays_bounded_under_replacement() {
        let mut m = TimedMap::default();
        for i in 0..10_000 {
            m.insert(i % 10, i, t(i as i64));
        }
        assert_eq!(m.len(), 10);
        assert!(m.heap.len() <= 2 * 10 + 64 + 1);
        let drained = m.drain();
        assert_eq!(drained.len(), 10);
        assert!(drained.windows(2).all(|w| w[0].2 <= w[1].2));
    }
}
