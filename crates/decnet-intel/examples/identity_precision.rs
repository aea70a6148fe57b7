//! Identity linking precision/recall on a population where many unrelated
//! sources use the same stock SSH clients (DESIGN §9, rarity weighting).
//!
//! `cargo run -p decnet-intel --example identity_precision -- [STOCK] [ACTORS] [SEED]`
//!
//! Every event goes through `profile::apply` (the signals intel keeps per
//! address) and every address through the `Linker` and its union-find, as
//! the worker does; pairs of addresses are then scored against the truth.
#![allow(clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;

use decnet_intel::identity::Linker;
use decnet_intel::profile::{apply, AttackerState};
use decnet_intel::IntelConfig;
use decnet_store::AttackerRow;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (stock, actors, seed) = (arg(1, 200), arg(2, 10), arg(3, 11) as u64);
    let pop = common::stock_population(seed, stock, actors);
    let mut rows: BTreeMap<String, (AttackerRow, AttackerState)> = BTreeMap::new();
    for e in &pop.events {
        let ip = e.src_ip.to_string();
        let (row, st) = rows
            .entry(ip.clone())
            .or_insert_with(|| (AttackerRow::new(&ip, e.ts), AttackerState::default()));
        apply(row, st, e);
    }
    let mut linker = Linker::new(IntelConfig::default().max_fanout);
    for (ip, (_, st)) in &rows {
        let touched = linker.update(ip, st.signals.clone());
        linker
            .graph
            .reconcile(touched, chrono::Utc::now(), &mut uuid::Uuid::now_v7);
    }
    let predicted: BTreeMap<String, String> = rows
        .keys()
        .filter_map(|ip| Some((ip.clone(), linker.graph.identity_of(ip)?.to_string())))
        .collect();
    let identities: std::collections::BTreeSet<&String> = predicted.values().collect();
    let (precision, recall, tp, fp, fn_) = common::pair_scores(&pop.sources, &predicted);
    println!(
        "identity linking: {} sources ({stock} stock-client sources + {actors} actors x 3 addresses), {} events, {} identities; pairs tp={tp} fp={fp} fn={fn_}; precision={precision:.3} recall={recall:.3}",
        pop.sources.len(),
        pop.events.len(),
        identities.len()
    );
}
