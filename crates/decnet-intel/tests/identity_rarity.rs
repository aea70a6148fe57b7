//! Identity linking weighs evidence by rarity (DESIGN §9): stock clients
//! everyone runs never link on their own; a rare tool, key or password does
//! (a rare HASSH's link and its weighted reason: `pipeline.rs`,
//! `fingerprint_fields_as_services_emit_them_form_an_identity`).
//! Through the real pipeline (bus → intel → store).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::*;

fn sqlite_url(dir: &tempfile::TempDir, name: &str) -> String {
    format!("sqlite://{}/{name}.db", dir.path().display())
}

async fn identities_of(events: &[decnet_core::Event]) -> Vec<decnet_store::IdentityRow> {
    let dir = tempfile::tempdir().unwrap();
    let p = Pipeline::start(&sqlite_url(&dir, "rarity")).await;
    p.publish(events);
    let (store, _) = p.finish().await;
    store.list_identities(false, 1000, 0).await.unwrap().data
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_stock_openssh_clients_are_not_one_actor() {
    // What an analyst saw merged at score 1.00 on "hassh + ssh_banner".
    let mut evs = Vec::new();
    for (i, ip) in ["127.21.0.1", "127.21.0.2", "127.21.0.3"]
        .iter()
        .enumerate()
    {
        for (k, pw) in ["123456", "admin", "root"].iter().enumerate() {
            evs.push(
                auth((i * 10 + k) as i64 * 1000, ip, "web01", "ssh", "root", pw)
                    .with("client_version", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3")
                    .with("hassh", "aae6b9604f6f3356543709a376d7f657"),
            );
        }
    }
    let ids = identities_of(&evs).await;
    assert!(ids.is_empty(), "{ids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_population_precision_and_recall() {
    let pop = stock_population(11, 200, 10);
    let ids = identities_of(&pop.events).await;
    let mut predicted = BTreeMap::new();
    for i in &ids {
        for m in &i.members {
            predicted.insert(m.clone(), i.id.to_string());
        }
    }
    let (precision, recall, tp, fp, fn_) = pair_scores(&pop.sources, &predicted);
    println!(
        "identity linking, 200 stock-client sources + 10 actors x 3: {} identities; tp={tp} fp={fp} fn={fn_}; precision={precision:.3} recall={recall:.3}",
        ids.len()
    );
    // Stock clients (24 versions, most on fewer sources than the common
    // floor) must not link; each actor's rare tool, JA3, SSH key or
    // password must.
    assert!(precision >= 0.95, "precision {precision:.3}");
    assert!(recall >= 0.95, "recall {recall:.3}");
}
