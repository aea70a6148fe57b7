//! Sensor heartbeats (`system.<component>.health`): a component that has
//! reported before and then stays silent longer than `sensor_timeout` is
//! reported once as silent (a `system.<component>.silent` signal for the
//! `sensor_down` rule), and again only after it has been heard from.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::clock::after;
use crate::signal::{Family, Signal};

/// Components tracked at most.
pub const MAX_COMPONENTS: usize = 10_000;

struct Beat {
    last_seen: DateTime<Utc>,
    silent: bool,
}

/// See the module doc.
#[derive(Default)]
pub struct Heartbeats {
    beats: HashMap<String, Beat>,
}

impl Heartbeats {
    /// Notes a heartbeat.
    pub fn observe(&mut self, s: &Signal<'_>, now: DateTime<Utc>) {
        if s.family() != Family::System || s.kind() != "health" {
            return;
        }
        let Some(component) = s.topic().split('.').nth(1) else {
            return;
        };
        if let Some(b) = self.beats.get_mut(component) {
            b.last_seen = now;
            b.silent = false;
        } else if self.beats.len() < MAX_COMPONENTS {
            self.beats.insert(
                component.to_owned(),
                Beat {
                    last_seen: now,
                    silent: false,
                },
            );
        }
    }

    /// Components that just went silent: `(component, last seen)`.
    pub fn newly_silent(
        &mut self,
        now: DateTime<Utc>,
        timeout: Duration,
    ) -> Vec<(String, DateTime<Utc>)> {
        let mut out = Vec::new();
        for (c, b) in self.beats.iter_mut() {
            if !b.silent && after(b.last_seen, timeout) <= now {
                b.silent = true;
                out.push((c.clone(), b.last_seen));
            }
        }
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_bus::Envelope;
    use serde_json::json;

    #[test]
    fn silent_once_until_heard_again() {
        let t0 = Utc::now();
        let mut h = Heartbeats::default();
        let beat = Envelope::json("system.s1.health", "health", json!({"status": "healthy"}));
        h.observe(&Signal::new(&beat), t0);
        let s = Duration::from_secs(1);
        assert!(h.newly_silent(after(t0, 59 * s), 60 * s).is_empty());
        assert_eq!(
            h.newly_silent(after(t0, 60 * s), 60 * s),
            vec![("s1".to_string(), t0)]
        );
        assert!(h.newly_silent(after(t0, 120 * s), 60 * s).is_empty());
        h.observe(&Signal::new(&beat), after(t0, 130 * s));
        assert_eq!(h.newly_silent(after(t0, 190 * s), 60 * s).len(), 1);
    }
}
