//! A channel down while alerts keep coming, then back: nothing lost,
//! duplicates only as at-least-once allows, order kept per rule — with the
//! receiver refusing connections (and the engine restarted mid-outage, so
//! the spool carries the backlog across the restart) and with it answering
//! 503. A compressed outage (seconds); `scripts/interop/alerts.sh` runs
//! the same scenario for a real minute.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::scenario::{outage, Down};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_then_back_across_an_engine_restart() {
    let r = outage(Duration::from_secs(3), 10, Down::Refused, true).await;
    eprintln!("{r:?}");
    assert_eq!(r.created, 30, "three rules, ten sources each");
    assert_eq!(r.lost, 0);
    assert_eq!(r.order_violations, 0);
    assert!(r.duplicates <= r.created, "at most one resend per message");
    assert!(
        r.breaker_opened >= 1,
        "the breaker opened during the outage"
    );
    assert!(r.max_attempts >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_then_back() {
    let r = outage(Duration::from_secs(2), 8, Down::Unavailable, false).await;
    eprintln!("{r:?}");
    assert_eq!(r.created, 24);
    assert_eq!(r.lost, 0);
    assert_eq!(r.order_violations, 0);
    assert_eq!(
        r.duplicates, 0,
        "a 503 is a clean refusal: nothing to resend twice"
    );
    assert!(r.breaker_opened >= 1);
    assert!(r.max_attempts >= 2, "messages were retried");
}
