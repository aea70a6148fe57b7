//! The built-in rules on the labelled corpus (real clients against a real
//! decnet fleet, recorded by scripts/attack-corpus.sh): precision ≥ 0.9 and
//! recall ≥ 0.8 over every (scenario, technique) pair.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use decnet_attack::{corpus, RuleHandle};

#[test]
fn rules_meet_precision_and_recall_on_the_labelled_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let scenarios = corpus::load(&dir).unwrap();
    assert!(scenarios.len() >= 15, "{} scenarios", scenarios.len());
    for s in &scenarios {
        assert!(!s.events.is_empty(), "{} has no events", s.name);
    }
    let report = corpus::evaluate(&scenarios, &RuleHandle::builtin());
    let table = corpus::markdown(&report);
    let misses: Vec<String> = report
        .scenarios
        .iter()
        .filter(|s| !s.false_positives.is_empty() || !s.false_negatives.is_empty())
        .map(|s| {
            format!(
                "{}: extra {:?} missed {:?}",
                s.name, s.false_positives, s.false_negatives
            )
        })
        .collect();
    let o = report.overall;
    assert!(
        o.precision() >= 0.9 && o.recall() >= 0.8,
        "precision {:.3} recall {:.3}\n{table}\n{}",
        o.precision(),
        o.recall(),
        misses.join("\n")
    );
    // Every labelled family is found at least once.
    for (family, c) in &report.families {
        assert!(
            c.tp + c.fp > 0 || c.fn_ == 0,
            "family {family} never predicted\n{table}"
        );
    }
}
