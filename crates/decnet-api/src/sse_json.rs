//! Live events serialised once for every stream: all `/stream` subscribers
//! get the same event JSON, so with N viewers serialising per viewer costs
//! N times what it needs to (measured: with 100 viewers at 5,000 events/s
//! the API spent its time in malloc/memmove of per-viewer JSON and cut most
//! viewers as too slow). Bounded: the most recent `cap` events are kept; a
//! viewer further behind than that just serialises again.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use decnet_core::Event;
use parking_lot::Mutex;
use uuid::Uuid;

/// Events kept (≈ 0.5 KB each).
pub const DEFAULT_CAP: usize = 16_384;

/// The JSON by event id, and the ids oldest first (for eviction).
type Entries = (HashMap<Uuid, Arc<str>>, VecDeque<Uuid>);

/// Writes an event's live-frame JSON: through `Value`, so keys come out
/// sorted as in every other frame (`{}` if it cannot be serialised).
pub fn write_event(out: &mut impl std::io::Write, e: &Event) {
    let written = serde_json::to_value(e).and_then(|v| serde_json::to_writer(&mut *out, &v));
    if written.is_err() {
        let _ = out.write_all(b"{}");
    }
}

/// Event id → its JSON (the bytes `serde_json::to_value(event)` prints).
pub struct EventJson {
    cap: usize,
    inner: Mutex<Entries>,
}

impl EventJson {
    /// Keeps at most `cap` events.
    pub fn new(cap: usize) -> Arc<Self> {
        Arc::new(EventJson {
            cap: cap.max(1),
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
        })
    }

    fn render(e: &Event) -> Arc<str> {
        let mut out = Vec::with_capacity(512);
        write_event(&mut out, e);
        String::from_utf8(out)
            .unwrap_or_else(|_| "{}".into())
            .into()
    }

    /// The JSON of each event, serialising only those not seen yet (outside the lock).
    pub fn get(&self, events: &[&Event]) -> Vec<Arc<str>> {
        let mut out: Vec<Option<Arc<str>>> = {
            let g = self.inner.lock();
            events.iter().map(|e| g.0.get(&e.id).cloned()).collect()
        };
        let mut fresh = Vec::new();
        for (slot, e) in out.iter_mut().zip(events) {
            if slot.is_none() {
                let j = Self::render(e);
                fresh.push((e.id, j.clone()));
                *slot = Some(j);
            }
        }
        if !fresh.is_empty() {
            let mut g = self.inner.lock();
            let (map, order) = &mut *g;
            for (id, j) in fresh {
                if map.insert(id, j).is_none() {
                    order.push_back(id);
                }
            }
            while order.len() > self.cap {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
        out.into_iter().map(|j| j.expect("filled above")).collect()
    }

    /// `{"data":[…],"type":"logs"}` for a batch, from the cached JSON.
    pub fn logs_message(&self, events: &[&Event]) -> String {
        let parts = self.get(events);
        let len: usize = parts.iter().map(|p| p.len() + 1).sum();
        let mut s = String::with_capacity(len + 32);
        s.push_str(r#"{"data":["#);
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(p);
        }
        s.push_str(r#"],"type":"logs"}"#);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::EventKind;

    #[test]
    fn cached_message_equals_the_serialised_value() {
        let cache = EventJson::new(2);
        let evs: Vec<Event> = (0..3)
            .map(|i| Event::new("web01", "http", EventKind::Request).with("path", format!("/{i}")))
            .collect();
        let refs: Vec<&Event> = evs.iter().collect();
        let want =
            serde_json::to_string(&serde_json::json!({"type": "logs", "data": refs})).unwrap();
        assert_eq!(cache.logs_message(&refs), want);
        // Over capacity the oldest are evicted and re-rendered identically.
        assert_eq!(cache.inner.lock().0.len(), 2);
        assert_eq!(cache.logs_message(&refs), want);
    }
}
