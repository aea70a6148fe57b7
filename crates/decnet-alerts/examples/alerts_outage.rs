//! The channel-outage scenario in real time, for scripts/interop/alerts.sh:
//! a signed-webhook channel down (connection refused) for `--down-secs`
//! while alerts of three rules keep coming, the engine restarted halfway
//! (`--restart`), then the channel back. Prints the report as JSON; exits 1
//! if anything was lost or delivered out of order within a rule.
//!
//! `alerts_outage [--down-secs 60] [--rounds 30] [--restart] [--unavailable]`
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::scenario::{outage, Down};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let num = |flag: &str, default: u64| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let down = Duration::from_secs(num("--down-secs", 60));
    let rounds = num("--rounds", 30) as usize;
    let how = if args.iter().any(|a| a == "--unavailable") {
        Down::Unavailable
    } else {
        Down::Refused
    };
    let restart = args.iter().any(|a| a == "--restart");
    let report = outage(down, rounds.max(1), how, restart).await;
    println!("{}", serde_json::to_string(&report).unwrap());
    if report.lost > 0 || report.order_violations > 0 || report.created == 0 {
        std::process::exit(1);
    }
}
