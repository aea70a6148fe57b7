//! The same store suite on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used)]

mod suite;

use std::sync::atomic::{AtomicU32, Ordering};

use decnet_store::testing::PgCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_suite() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicU32::new(0);
    suite::run_all("sqlite", || {
        let i = n.fetch_add(1, Ordering::Relaxed);
        let url = format!("sqlite://{}/t{i}.db", dir.path().display());
        async move { url }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_suite() {
    let Some(pg) = PgCluster::start() else {
        return;
    };
    suite::run_all("postgres", || pg.fresh_database()).await;
}
