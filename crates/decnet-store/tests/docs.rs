//! Versioned documents: compare-and-swap semantics on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use decnet_store::testing::PgCluster;
use decnet_store::{Store, StoreError};
use serde_json::json;

async fn cas_semantics(s: Arc<dyn Store>) {
    assert_eq!(
        s.doc_put("topology", "t1", None, None, &json!({"status": "pending"}))
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        s.doc_put("topology", "t1", None, None, &json!({})).await,
        Err(StoreError::Conflict(_))
    ));
    // Two writers read version 1; only the first update wins.
    assert_eq!(
        s.doc_put(
            "topology",
            "t1",
            None,
            Some(1),
            &json!({"status": "deploying"})
        )
        .await
        .unwrap(),
        2
    );
    assert!(matches!(
        s.doc_put("topology", "t1", None, Some(1), &json!({"status": "x"}))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.doc_put("topology", "nope", None, Some(1), &json!({}))
            .await,
        Err(StoreError::NotFound(_))
    ));
    let d = s.doc_get("topology", "t1").await.unwrap().unwrap();
    assert_eq!(
        (d.version, d.body["status"].as_str()),
        (2, Some("deploying"))
    );
    for i in 0..3 {
        s.doc_put(
            "mutation",
            &format!("m{i}"),
            Some("t1"),
            None,
            &json!({"op": "add_lan", "i": i}),
        )
        .await
        .unwrap();
    }
    s.doc_put("mutation", "other", Some("t2"), None, &json!({}))
        .await
        .unwrap();
    let ms = s.doc_list("mutation", Some("t1")).await.unwrap();
    assert_eq!(
        ms.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["m0", "m1", "m2"]
    );
    // Concurrent claims of one queued item: exactly one succeeds.
    let claims = futures_claims(s.clone()).await;
    assert_eq!(claims.iter().filter(|ok| **ok).count(), 1, "{claims:?}");
    assert!(s.doc_delete("topology", "t1").await.unwrap());
    assert!(
        s.doc_list("mutation", Some("t1")).await.unwrap().is_empty(),
        "children deleted with parent"
    );
    assert_eq!(s.doc_list("mutation", None).await.unwrap().len(), 1);
    assert!(!s.doc_delete("topology", "t1").await.unwrap());
}

async fn futures_claims(s: Arc<dyn Store>) -> Vec<bool> {
    let mut handles = Vec::new();
    for w in 0..8 {
        let s = s.clone();
        handles.push(tokio::spawn(async move {
            s.doc_put(
                "mutation",
                "m0",
                Some("t1"),
                Some(1),
                &json!({"op": "add_lan", "status": "applying", "worker": w}),
            )
            .await
            .is_ok()
        }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let s = decnet_store::open(&format!("sqlite://{}/d.db", dir.path().display()))
        .await
        .unwrap();
    cas_semantics(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docs_on_postgres() {
    let Some(pg) = PgCluster::start() else {
        return;
    };
    let s = decnet_store::open(&pg.fresh_database().await)
        .await
        .unwrap();
    cas_semantics(s).await;
}

/// Servers starting together on a fresh PostgreSQL database each make the
/// documents table on first use; none of them may fail for the race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_use_races_on_a_fresh_postgres_database() {
    let Some(pg) = PgCluster::start() else {
        return;
    };
    for _ in 0..3 {
        let url = pg.fresh_database().await;
        let mut stores = Vec::new();
        for _ in 0..6 {
            stores.push(decnet_store::open(&url).await.unwrap());
        }
        let handles: Vec<_> = stores
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                tokio::spawn(async move {
                    s.doc_put("race", &i.to_string(), None, None, &json!({"i": i}))
                        .await
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap().unwrap();
        }
    }
}
