//! Property tests: any sequence of link/unlink operations keeps the
//! soft-merge union-find consistent with the graph, and unmerge restores
//! the identities that were merged.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use chrono::Utc;
use decnet_intel::identity::{IdentityEvent, IdentityGraph, Linker, Signals, Status};
use proptest::prelude::*;
use uuid::Uuid;

fn node(i: u8) -> String {
    format!("127.9.0.{i}")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn merge_unmerge_sequences_stay_consistent(ops in proptest::collection::vec((0u8..10, 0u8..10, any::<bool>()), 1..80)) {
        let mut g = IdentityGraph::new();
        let mut formed: BTreeSet<Uuid> = BTreeSet::new();
        for (a, b, on) in ops {
            let (a, b) = (node(a), node(b));
            g.set_edge(&a, &b, on);
            let evs = g.reconcile([a.clone(), b.clone()], Utc::now(), &mut Uuid::now_v7);
            for e in &evs {
                if let IdentityEvent::Formed { id, .. } = e {
                    prop_assert!(formed.insert(*id), "id formed twice");
                }
                for id in e.identities() {
                    prop_assert!(g.get(id).is_some(), "event names unknown identity");
                }
            }
            if let Err(e) = g.check() {
                return Err(TestCaseError::fail(e));
            }
        }
        // Every identity is reachable by find() and find() ends at a non-merged one.
        for i in g.identities() {
            let root = g.find(i.id);
            prop_assert_ne!(g.get(root).unwrap().status, Status::Merged);
        }
    }

    #[test]
    fn reconcile_is_idempotent(ops in proptest::collection::vec((0u8..8, 0u8..8, any::<bool>()), 1..40)) {
        let mut g = IdentityGraph::new();
        for (a, b, on) in ops {
            g.set_edge(&node(a), &node(b), on);
            g.reconcile([node(a), node(b)], Utc::now(), &mut Uuid::now_v7);
        }
        let all: Vec<String> = (0..8).map(node).collect();
        let again = g.reconcile(all, Utc::now(), &mut Uuid::now_v7);
        prop_assert!(again.is_empty(), "second reconcile changed something: {again:?}");
    }
}

#[test]
fn bridge_merges_then_unmerge_restores_both_ids() {
    let mut g = IdentityGraph::new();
    let step = |g: &mut IdentityGraph, a: u8, b: u8, on: bool| {
        g.set_edge(&node(a), &node(b), on);
        let ev = g.reconcile([node(a), node(b)], Utc::now(), &mut Uuid::now_v7);
        g.check().unwrap();
        ev
    };
    let ev = step(&mut g, 1, 2, true);
    let IdentityEvent::Formed { id: a, .. } = ev[0].clone() else {
        panic!("{ev:?}")
    };
    step(&mut g, 2, 3, true);
    let ev = step(&mut g, 5, 6, true);
    let IdentityEvent::Formed { id: b, .. } = ev[0].clone() else {
        panic!("{ev:?}")
    };
    // A bridge: the larger, older identity survives; the other is soft-merged.
    let ev = step(&mut g, 3, 5, true);
    assert!(
        ev.contains(&IdentityEvent::Merged { into: a, from: b }),
        "{ev:?}"
    );
    assert_eq!(g.get(b).unwrap().merged_into, Some(a));
    assert_eq!(g.find(b), a);
    assert_eq!(g.identity_of(&node(6)), Some(a));
    // Evidence retracted: b comes back under its own id with its own members.
    let ev = step(&mut g, 3, 5, false);
    assert!(
        ev.iter().any(|e| matches!(e, IdentityEvent::Unmerged { id, from: Some(f), .. } if *id == b && *f == a)),
        "{ev:?}"
    );
    assert_eq!(g.identity_of(&node(1)), Some(a));
    assert_eq!(g.identity_of(&node(6)), Some(b));
    assert_eq!(g.get(b).unwrap().status, Status::Active);
    // Dissolution: a loses all its links.
    step(&mut g, 1, 2, false);
    let ev = step(&mut g, 2, 3, false);
    assert!(
        ev.iter()
            .any(|e| matches!(e, IdentityEvent::Unmerged { id, dissolved: true, .. } if *id == a)),
        "{ev:?}"
    );
    assert_eq!(g.identity_of(&node(1)), None);
}

fn sig(tool: &[&str], infra: &[&str]) -> Signals {
    Signals {
        tool: tool.iter().map(|s| s.to_string()).collect(),
        infra: infra.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

#[test]
fn linker_weights_veto_and_common_fingerprint_retraction() {
    let mut l = Linker::new(4);
    // Exact HASSH links.
    l.update("a", sig(&["hassh:h1"], &[]));
    let t = l.update("b", sig(&["hassh:h1"], &[]));
    assert!(t.contains("a") && t.contains("b"));
    assert!(l.graph.has_edge("a", "b"));
    // Command + credential similarity alone (max 0.85) never links when
    // the shared credential is a wordlist's.
    let common = format!("root\0{}", decnet_intel::profile::sha256_hex(b"123456"));
    let s1 = Signals {
        commands: ["uname -a", "id", "cat /proc/cpuinfo"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        credentials: [common].into(),
        asn: Some("AS1".into()),
        ..Default::default()
    };
    l.update("c", s1.clone());
    l.update("d", s1);
    assert!(!l.graph.has_edge("c", "d"));
    assert!(l.score("c", "d").0 < 1.0);
    // A rare shared credential (an unusual password, an SSH key) links,
    // and the reason names the user, never the secret.
    let rare = |extra: &str| Signals {
        credentials: [format!(
            "deploy\0{}",
            decnet_intel::profile::sha256_hex(b"Xk9!mallory")
        )]
        .into_iter()
        .chain([extra.to_string()])
        .collect(),
        ..Default::default()
    };
    l.update("c2", rare("a\0b"));
    l.update("d2", rare("c\0d"));
    assert!(l.graph.has_edge("c2", "d2"));
    let (_, reasons) = l.link("c2", "d2").unwrap();
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with("credential:deploy (weight 1.00")),
        "{reasons:?}"
    );
    assert!(reasons.iter().all(|r| !r.contains("Xk9")), "{reasons:?}");
    // Shared C2, tool fingerprints fully disagree: vetoed (campaign, not identity).
    l.update("e", sig(&["hassh:h7"], &["c2:http://x/a"]));
    l.update("f", sig(&["hassh:h8"], &["c2:http://x/a"]));
    assert!(!l.graph.has_edge("e", "f"));
    // Shared payload without comparable fingerprints links.
    l.update("g", sig(&[], &["payload:ab"]));
    l.update("h", sig(&["ja3:j"], &["payload:ab"]));
    assert!(l.graph.has_edge("g", "h"));
    // h1 becomes common (held by > 4 addresses): the a–b link is retracted.
    for x in ["p", "q"] {
        l.update(x, sig(&["hassh:h1"], &[]));
    }
    assert!(l.graph.has_edge("a", "b"));
    let t = l.update("s", sig(&["hassh:h1"], &[]));
    assert!(
        !l.graph.has_edge("a", "b"),
        "common fingerprint must stop linking"
    );
    assert!(t.contains("a"));
}

/// Found by `reconcile_is_idempotent`: the merged identity {0,7} was out of
/// reach of the reconcile around a new edge 0–3 (its parent no longer held
/// 0), and a later reconcile over every node then moved it by a tie-break
/// on component order.
#[test]
fn merged_identity_is_found_through_its_own_members() {
    let ops = [
        (1, 1, false),
        (2, 1, true),
        (0, 7, true),
        (0, 1, true),
        (0, 7, false),
        (1, 7, true),
        (1, 0, false),
        (3, 0, true),
    ];
    let mut g = IdentityGraph::new();
    let mut last = Vec::new();
    for (a, b, on) in ops {
        g.set_edge(&node(a), &node(b), on);
        last = g.reconcile([node(a), node(b)], Utc::now(), &mut Uuid::now_v7);
        g.check().unwrap();
    }
    // The edge 0–3 brings back the identity first formed around 0, not a new one.
    assert!(
        matches!(
            last.as_slice(),
            [IdentityEvent::Unmerged { from: Some(_), .. }]
        ),
        "{last:?}"
    );
    let all: Vec<String> = (0..8).map(node).collect();
    let again = g.reconcile(all, Utc::now(), &mut Uuid::now_v7);
    assert!(again.is_empty(), "{again:?}");
}
