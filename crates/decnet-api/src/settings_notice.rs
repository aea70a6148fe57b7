//! Change notices for the settings servers share through the store (the
//! API's alerts edits, the webhook list): the server that writes one says
//! so on the API bus (NATS when scaled out), and every server following
//! that setting re-reads it at once instead of polling the store.
//!
//! A notice names only the setting's key — never its value (webhook
//! secrets live there, and the bus also feeds the dashboard's stream).
//! Followers still re-read on a long period, so a notice lost to a full
//! queue or a NATS reconnect is repaired within [`SAFETY_NET`].

use std::sync::Arc;
use std::time::Duration;

use decnet_bus::{Bus, Delivery, Envelope, Subscription};
use tokio::time::{Interval, MissedTickBehavior};

/// Notices go on `settings.changed.<key>`.
pub const TOPIC_PREFIX: &str = "settings.changed";
/// Message type of a notice.
pub const KIND: &str = "settings.changed";
/// How often a follower re-reads without a notice.
pub const SAFETY_NET: Duration = Duration::from_secs(300);
/// Notices queued per follower: several pending ones mean one re-read.
const QUEUE: usize = 64;

fn topic(key: &str) -> String {
    format!("{TOPIC_PREFIX}.{key}")
}

/// Says that the setting `key` was written.
pub fn publish(bus: &dyn Bus, key: &str) {
    bus.publish(Envelope::json(
        topic(key),
        KIND,
        serde_json::json!({ "key": key }),
    ));
}

/// Waits for the next reason to re-read one setting.
pub struct Follower {
    key: String,
    notices: Option<Subscription>,
    period: Interval,
}

impl Follower {
    /// Follows `key` on `bus`, re-reading at least every `safety_net`. A bus
    /// that refuses the subscription leaves the period alone (reported).
    pub fn new(bus: &Arc<dyn Bus>, key: &str, safety_net: Duration) -> Follower {
        let notices = bus
            .subscribe(&topic(key), Delivery::Lossy { capacity: QUEUE })
            .map_err(|e| {
                tracing::warn!(
                    "{key}: no change notices ({e}); changes made on other servers apply within {}s",
                    safety_net.as_secs()
                )
            })
            .ok();
        let mut period =
            tokio::time::interval_at(tokio::time::Instant::now() + safety_net, safety_net);
        period.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Follower {
            key: key.to_owned(),
            notices,
            period,
        }
    }

    /// Returns when the setting may have changed: a notice arrived (the
    /// ones queued behind it count as the same change) or the safety-net
    /// period passed.
    pub async fn changed(&mut self) {
        let Some(sub) = &mut self.notices else {
            self.period.tick().await;
            return;
        };
        tokio::select! {
            got = sub.recv() => match got {
                Some(_) => while sub.try_recv().is_some() {},
                None => {
                    tracing::warn!("{}: change notices closed; following by period", self.key);
                    self.notices = None;
                }
            },
            _ = self.period.tick() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_bus::MemoryBus;

    #[tokio::test]
    async fn a_notice_wakes_the_follower_of_its_key_only() {
        let bus: Arc<dyn Bus> = MemoryBus::new();
        let mut webhooks = Follower::new(&bus, "webhooks", SAFETY_NET);
        let mut alerts = Follower::new(&bus, "alerts.overrides", SAFETY_NET);
        publish(&*bus, "webhooks");
        publish(&*bus, "webhooks");
        tokio::time::timeout(Duration::from_secs(1), webhooks.changed())
            .await
            .expect("the webhooks follower wakes on its notice");
        // Both queued notices were one change.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), webhooks.changed())
                .await
                .is_err()
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(50), alerts.changed())
                .await
                .is_err(),
            "another key's notice does not wake it"
        );
        publish(&*bus, "alerts.overrides");
        tokio::time::timeout(Duration::from_secs(1), alerts.changed())
            .await
            .expect("the alerts follower wakes on its notice");
    }

    #[tokio::test]
    async fn without_notices_the_follower_wakes_on_its_period() {
        let bus: Arc<dyn Bus> = MemoryBus::new();
        let mut f = Follower::new(&bus, "webhooks", Duration::from_millis(200));
        let t0 = tokio::time::Instant::now();
        f.changed().await;
        let waited = t0.elapsed();
        assert!(
            waited >= Duration::from_millis(200) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
    }

    #[test]
    fn a_notice_names_the_key_and_nothing_else() {
        let bus = MemoryBus::new();
        let mut sub = bus
            .subscribe("settings.>", Delivery::Lossy { capacity: 4 })
            .unwrap();
        publish(&*bus, "webhooks");
        let env = sub.try_recv().unwrap();
        assert_eq!(env.topic, "settings.changed.webhooks");
        assert_eq!(env.kind, KIND);
        match &env.payload {
            decnet_bus::Payload::Json(v) => assert_eq!(v, &serde_json::json!({"key": "webhooks"})),
            other => panic!("a JSON notice, got {other:?}"),
        }
    }
}
