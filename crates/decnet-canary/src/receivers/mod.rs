//! Call-home receivers: the HTTP server (`[canary] http = ADDR`) and the
//! authoritative DNS server for `[canary] dns_zone` (UDP and TCP).
//!
//! Both look tokens up in the shared [`crate::TokenIndex`], publish one
//! `canary_trigger` event per hit, and otherwise answer exactly like an
//! ordinary server would, so probing them tells an intruder nothing.

pub mod dns;
pub mod http;
mod nginx;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use decnet_bus::Bus;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::index::TokenIndex;
use crate::trigger::TriggerCounter;

/// What every receiver shares.
#[derive(Clone)]
pub struct Shared {
    /// Live tokens.
    pub index: Arc<TokenIndex>,
    /// Where triggers go.
    pub bus: Arc<dyn Bus>,
    /// Repeat counter.
    pub counter: Arc<TriggerCounter>,
}

impl Shared {
    /// Receivers over an index and a bus, with their own counter.
    pub fn new(index: Arc<TokenIndex>, bus: Arc<dyn Bus>) -> Self {
        Shared {
            index,
            bus,
            counter: Arc::new(TriggerCounter::default()),
        }
    }
}

/// Accepts on `listener` until the task is dropped, running `serve` for
/// each connection while fewer than `max` run (more are closed at once).
pub(crate) async fn accept_loop<F, Fut>(listener: TcpListener, max: usize, serve: F)
where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(max));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!("canary receiver accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            continue;
        };
        let conn = serve(stream, peer);
        tokio::spawn(async move {
            let _permit = permit;
            conn.await;
        });
    }
}
