//! The engine handles the fleet and topology routes drive, and the sensor
//! heartbeats `/health` reports. Optional: an API process without deckies
//! answers the fleet/topology routes with 503.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_bus::{Bus, Delivery};
use decnet_engine::topology::Topologies;
use decnet_engine::Fleet;
use parking_lot::Mutex;

/// Handles to the running fleet and topology manager.
#[derive(Clone)]
pub struct Engine {
    /// The deckies of this process.
    pub fleet: Arc<Fleet>,
    /// Topologies and their mutation queue.
    pub topologies: Arc<Topologies>,
    /// Remote sensors' heartbeats (scale-out).
    pub sensors: Arc<Sensors>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Engine")
    }
}

/// Last heartbeat of one sensor.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SensorBeat {
    /// The heartbeat payload (`{sensor, status, deckies, nats}`).
    pub payload: serde_json::Value,
    /// Seconds since it arrived.
    pub age_secs: u64,
}

/// Sensors seen on `system.*.health`; one missing for 30 s is stale.
#[derive(Default)]
pub struct Sensors {
    seen: Mutex<BTreeMap<String, (Instant, serde_json::Value)>>,
}

/// A heartbeat older than this marks its sensor as failing.
pub const SENSOR_STALE: Duration = Duration::from_secs(30);

impl Sensors {
    /// Starts collecting heartbeats from the bus.
    pub fn watch(bus: &Arc<dyn Bus>) -> Arc<Sensors> {
        let sensors = Arc::new(Sensors::default());
        if let Ok(mut sub) = bus.subscribe("system.*.health", Delivery::Lossy { capacity: 64 }) {
            let s = Arc::downgrade(&sensors);
            tokio::spawn(async move {
                while let Some(env) = sub.recv().await {
                    let Some(me) = s.upgrade() else { break };
                    let name = env.topic.split('.').nth(1).unwrap_or("?").to_owned();
                    let payload = serde_json::to_value(&env.payload).unwrap_or_default();
                    me.seen.lock().insert(name, (Instant::now(), payload));
                }
            });
        }
        sensors
    }

    /// Every sensor seen, with the age of its last heartbeat.
    pub fn snapshot(&self) -> BTreeMap<String, SensorBeat> {
        self.seen
            .lock()
            .iter()
            .map(|(k, (t, p))| {
                (
                    k.clone(),
                    SensorBeat {
                        payload: p.clone(),
                        age_secs: t.elapsed().as_secs(),
                    },
                )
            })
            .collect()
    }
}
