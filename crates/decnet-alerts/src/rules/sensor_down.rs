//! `sensor_down`: a sensor or worker reports itself unhealthy on
//! `system.<component>.health` (`status` other than `healthy`/`ok`), or
//! went silent (the engine publishes nothing; it synthesises a
//! `system.<component>.silent` signal when heartbeats stop). Resolved by
//! the next healthy heartbeat.

use super::{BuiltinRule, Hit};
use crate::alert::Severity;
use crate::signal::{Family, Signal};

/// See the module doc.
pub struct SensorDown;

/// Statuses that mean "fine".
const HEALTHY: [&str; 3] = ["healthy", "ok", "up"];

impl BuiltinRule for SensorDown {
    fn id(&self) -> &'static str {
        "sensor_down"
    }
    fn description(&self) -> &'static str {
        "A sensor or worker reported unhealthy or stopped sending heartbeats (resolved when healthy again)"
    }
    fn default_severity(&self) -> Severity {
        Severity::High
    }
    fn evaluate(&self, s: &Signal<'_>) -> Option<Hit> {
        if s.family() != Family::System {
            return None;
        }
        let component = s.topic().split('.').nth(1)?;
        let (title, resolve) = match s.kind() {
            "silent" => (
                format!("Sensor {component} stopped sending heartbeats"),
                false,
            ),
            "health" => {
                let status = s.field_str("status").unwrap_or("unknown");
                if HEALTHY.contains(&status) {
                    (format!("Sensor {component} healthy again"), true)
                } else {
                    (
                        format!("Sensor {component} is {}", super::clip(status)),
                        false,
                    )
                }
            }
            _ => return None,
        };
        let mut h = Hit::on(self.id(), self.default_severity(), s, title)
            .keyed(format!("system:{component}"))
            .fact("component", component)
            .field_fact(s, "status", "status")
            .field_fact(s, "silent for", "silent_for")
            .field_fact(s, "error", "error")
            .summary("Deckies on this sensor may not be listening or reporting.".into());
        h.resolve = resolve;
        Some(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_bus::Envelope;
    use serde_json::json;

    #[test]
    fn unhealthy_silent_and_healthy() {
        let env = Envelope::json("system.s1.health", "health", json!({"status": "degraded"}));
        let h = SensorDown.evaluate(&Signal::new(&env)).unwrap();
        assert_eq!(h.title, "Sensor s1 is degraded");
        assert!(!h.resolve);
        let env = Envelope::json("system.s1.silent", "silent", json!({"silent_for": "60s"}));
        assert!(!SensorDown.evaluate(&Signal::new(&env)).unwrap().resolve);
        let env = Envelope::json("system.s1.health", "health", json!({"status": "healthy"}));
        let h = SensorDown.evaluate(&Signal::new(&env)).unwrap();
        assert!(h.resolve);
        assert_eq!(h.subject_key.as_deref(), Some("system:s1"));
    }
}
