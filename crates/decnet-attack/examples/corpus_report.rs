//! Prints the precision/recall table of the built-in rules on the labelled
//! corpus (for BENCH.md), and every miss.
//!
//! `cargo run -p decnet-attack --example corpus_report`
#![allow(clippy::unwrap_used)]

use std::path::Path;

use decnet_attack::{corpus, RuleHandle};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let scenarios = corpus::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    let report = corpus::evaluate(&scenarios, &RuleHandle::builtin());
    let events: usize = scenarios.iter().map(|s| s.events.len()).sum();
    println!("{} scenarios, {events} events\n", scenarios.len());
    print!("{}", corpus::markdown(&report));
    for s in &report.scenarios {
        if !s.false_positives.is_empty() || !s.false_negatives.is_empty() {
            println!(
                "\n{}: extra {:?}, missed {:?}",
                s.name, s.false_positives, s.false_negatives
            );
        }
    }
}
