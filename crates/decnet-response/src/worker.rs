//! The responder's background tasks: the bus worker (decky events,
//! identities, peers' bans, expiry sweep, periodic persistence) and the
//! optional CrowdSec decisions listener (`lapi_listen`).

use std::sync::Arc;
use std::time::Duration;

use decnet_bus::Delivery;

use crate::{crowdsec, Responder, ResponseError};

impl Responder {
    /// Subscribes (losslessly) to `events.>`, `identity.>` and `response.>`
    /// and starts the task consuming them; once a second it sweeps expired
    /// bans, every 5 s it persists.
    pub(crate) fn spawn_worker(self: &Arc<Self>) -> Result<(), ResponseError> {
        let sub = |p: &str| {
            self.bus
                .subscribe(p, Delivery::Lossless)
                .map_err(|e| ResponseError::Invalid(e.to_string()))
        };
        let mut events = sub("events.>")?;
        let mut identity = sub("identity.>")?;
        let mut peers = sub("response.>")?;
        let me = self.clone();
        let mut stop = self.shutdown.subscribe();
        let h = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_persist = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    m = events.recv() => match m {
                        Some(env) => if let Some(e) = env.as_event() { me.on_event(e); },
                        None => break,
                    },
                    m = identity.recv() => match m {
                        Some(env) => { me.on_identity_envelope(&env); }
                        None => break,
                    },
                    m = peers.recv() => match m {
                        Some(env) => me.on_peer(&env),
                        None => break,
                    },
                    _ = tick.tick() => {
                        me.sweep();
                        if last_persist.elapsed() >= Duration::from_secs(5) {
                            me.persist().await;
                            last_persist = tokio::time::Instant::now();
                        }
                    }
                    _ = stop.changed() => break,
                }
            }
        });
        self.tasks.lock().push(h);
        Ok(())
    }

    /// Serves the bouncer endpoints on their own listener until shutdown.
    pub(crate) async fn spawn_lapi(self: &Arc<Self>, addr: &str) -> Result<(), ResponseError> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| ResponseError::Invalid(format!("lapi_listen {addr}: {e}")))?;
        let app = crowdsec::router::<()>(self.clone());
        let mut stop = self.shutdown.subscribe();
        let h = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
        });
        self.tasks.lock().push(h);
        tracing::info!(%addr, "response: CrowdSec decisions API listening");
        Ok(())
    }
}
