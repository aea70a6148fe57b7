//! Property: a shuffled, duplicated event stream — split across a restart —
//! yields exactly the same tables as the clean stream.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use decnet_store::{AttackerQuery, BountyQuery, CredentialQuery, LogQuery, Store};
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

#[derive(Debug, PartialEq)]
struct Tables {
    events: Vec<decnet_core::Event>,
    attackers: Vec<decnet_store::AttackerRow>,
    credentials: Vec<decnet_store::CredentialRow>,
    bounty: Vec<decnet_store::BountyRow>,
    identities: BTreeSet<Vec<String>>,
}

async fn tables(s: &Arc<dyn Store>) -> Tables {
    let mut events = s
        .query_logs(&LogQuery {
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .data;
    events.sort_by_key(|e| e.id);
    let mut attackers = s
        .list_attackers(&AttackerQuery {
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .data;
    for a in &mut attackers {
        a.identity_id = None; // ids are random; membership is compared below
    }
    attackers.sort_by(|a, b| a.ip.cmp(&b.ip));
    let mut credentials = s
        .list_credentials(&CredentialQuery {
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .data;
    credentials.sort_by(|a, b| {
        (&a.ip, &a.decky, &a.service, &a.principal, &a.secret_hash).cmp(&(
            &b.ip,
            &b.decky,
            &b.service,
            &b.principal,
            &b.secret_hash,
        ))
    });
    let mut bounty = s
        .list_bounty(&BountyQuery {
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap()
        .data;
    bounty.sort_by(|a, b| (&a.kind, &a.value, &a.ip).cmp(&(&b.kind, &b.value, &b.ip)));
    let identities = s
        .list_identities(false, 100_000, 0)
        .await
        .unwrap()
        .data
        .into_iter()
        .map(|i| i.members)
        .collect();
    Tables {
        events,
        attackers,
        credentials,
        bounty,
        identities,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, .. ProptestConfig::default() })]

    #[test]
    fn shuffled_duplicated_stream_gives_the_same_tables(seed in any::<u64>(), dup_pct in 0u32..60, cut in 0.1f64..0.9) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let pop = population(seed, 6, 25);
            // Clean stream, one run.
            let clean = Pipeline::start(&format!("sqlite://{}/clean.db", dir.path().display())).await;
            clean.publish(&pop.events);
            let (cs, _) = clean.finish().await;
            // Dirty: shuffled, duplicated, split across a restart with replays.
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
            let mut dirty = pop.events.clone();
            let dups: Vec<_> = pop.events.iter().filter(|_| rng.gen_range(0..100) < dup_pct).cloned().collect();
            dirty.extend(dups);
            dirty.shuffle(&mut rng);
            let at = ((dirty.len() as f64) * cut) as usize;
            let url = format!("sqlite://{}/dirty.db", dir.path().display());
            let p1 = Pipeline::start(&url).await;
            p1.publish(&dirty[..at]);
            let _ = p1.finish().await;
            let p2 = Pipeline::start(&url).await;
            p2.publish(&dirty[at.saturating_sub(at / 3)..]);
            let (ds, _) = p2.finish().await;
            let (a, b) = (tables(&cs).await, tables(&ds).await);
            assert_eq!(a.events.len(), pop.events.len());
            assert!(!a.attackers.is_empty());
            assert_eq!(a.events, b.events);
            assert_eq!(a.attackers, b.attackers);
            assert_eq!(a.credentials, b.credentials);
            assert_eq!(a.bounty, b.bounty);
            assert_eq!(a.identities, b.identities);
        });
    }
}
