//! Store figures for BENCH.md: end-to-end ingest rate (bus → ingester →
//! committed rows, counted) per batch size, and query latency with N events
//! stored.
//!
//! `cargo run --release -p decnet-store --example ingest_bench -- [EVENTS] [postgres]`
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_bus::{Bus, Delivery, MemoryBus};
use decnet_core::Event;
use decnet_store::ingest::{IngestConfig, Ingester};
use decnet_store::{AttackerQuery, LogQuery, Store};

fn events(n: usize) -> Vec<Event> {
    (0..n).map(decnet_store::testing::synthetic_event).collect()
}

async fn ingest(store: Arc<dyn Store>, evs: &[Event], batch: usize) -> f64 {
    let bus = MemoryBus::new();
    let sub = bus.subscribe("events.>", Delivery::Lossless).unwrap();
    let before = store.count_events().await.unwrap();
    let h = Ingester::start(
        store.clone(),
        sub,
        IngestConfig {
            batch_size: batch,
            batch_wait: Duration::from_millis(250),
            retention: None,
            ..Default::default()
        },
    );
    let t = Instant::now();
    for e in evs {
        bus.publish_event(e.clone());
    }
    // Stored before the stop: `finish` bounds a shutdown's drain, and the
    // figure is the ingest rate, not how much a stop can still commit.
    while store.count_events().await.unwrap() - before < evs.len() as u64 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let st = h.finish().await.unwrap();
    let secs = t.elapsed().as_secs_f64();
    let after = store.count_events().await.unwrap();
    assert_eq!(
        after - before,
        evs.len() as u64,
        "lossless: every event counted in the store"
    );
    assert_eq!(st.committed, evs.len() as u64);
    evs.len() as f64 / secs
}

async fn latency<F, Fut, T>(name: &str, runs: usize, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let _ = f().await;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "| {name} | {:.2} | {:.2} |",
        ms[runs / 2],
        ms[runs * 95 / 100]
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let pg = args.iter().any(|a| a == "postgres");
    let dir = tempfile::tempdir().unwrap();
    // DECNET_BENCH_DIR keeps the SQLite files for a look with sqlite3.
    let db_dir = std::env::var_os("DECNET_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| dir.path().to_owned());
    let _cluster;
    let mk_url = |i: usize| format!("sqlite://{}/bench{i}.db", db_dir.display());
    let url_main;
    let mut urls = Vec::new();
    if pg {
        let c = decnet_store::testing::PgCluster::start().expect("PostgreSQL binaries");
        for _ in 0..5 {
            urls.push(c.fresh_database().await);
        }
        _cluster = Some(c);
        url_main = urls.pop().unwrap();
    } else {
        _cluster = None;
        for i in 0..4 {
            urls.push(mk_url(i));
        }
        url_main = mk_url(99);
    }
    let backend = if pg { "postgres" } else { "sqlite" };
    println!("generating {n} events…");
    let evs = events(n);
    let sweep = (n / 5).clamp(10_000, 200_000);
    println!(
        "\n### {backend}: ingest rate by batch size ({sweep} events each, end to end, counted)\n"
    );
    println!("| batch size | events/s |\n|---|---|");
    for (i, b) in [100usize, 500, 2000, 5000].iter().enumerate() {
        let s = decnet_store::open(&urls[i]).await.unwrap();
        let r = ingest(s, &evs[..sweep], *b).await;
        println!("| {b} | {r:.0} |");
    }
    let store = decnet_store::open(&url_main).await.unwrap();
    let b = decnet_store::ingest::DEFAULT_BATCH_SIZE;
    let r = ingest(store.clone(), &evs, b).await;
    println!("\n{backend}: {n} events ingested at {r:.0} events/s (batch {b}, end to end, count verified)\n");
    // Attackers table: one row per distinct source, written like intel does.
    let mut ips: Vec<String> = evs.iter().map(|e| e.src_ip.to_string()).collect();
    ips.sort();
    ips.dedup();
    let mut batch = decnet_store::IntelBatch::default();
    for ip in &ips {
        let row = decnet_store::AttackerRow {
            ip: ip.clone(),
            first_seen: evs[0].ts,
            last_seen: evs[evs.len() - 1].ts,
            event_count: 100,
            behavior: "brute_force".into(),
            behavior_rule: "auth_attempts=100 >= 10".into(),
            ..Default::default()
        };
        batch.attackers.push((row, serde_json::json!({})));
    }
    let t = Instant::now();
    for chunk in batch.attackers.chunks(1000) {
        let b = decnet_store::IntelBatch {
            attackers: chunk.to_vec(),
            ..Default::default()
        };
        store.intel_apply(&b).await.unwrap();
    }
    println!(
        "{} attacker rows written in {:.2}s\n",
        ips.len(),
        t.elapsed().as_secs_f64()
    );
    println!(
        "### {backend}: query latency with {n} events, {} attackers (ms)\n",
        ips.len()
    );
    println!("| query | p50 | p95 |\n|---|---|---|");
    let q = |f: fn(&mut LogQuery)| {
        let mut l = LogQuery {
            limit: 50,
            ..Default::default()
        };
        f(&mut l);
        l
    };
    let q_search = |word: &str| LogQuery {
        limit: 50,
        search: Some(word.to_owned()),
        ..Default::default()
    };
    let s = store.clone();
    latency("logs page 1 (limit 50, total count)", 20, || {
        let s = s.clone();
        async move { s.query_logs(&q(|_| {})).await.unwrap() }
    })
    .await;
    latency("logs page 200 (offset 10000)", 20, || {
        let s = s.clone();
        async move { s.query_logs(&q(|l| l.offset = 10_000)).await.unwrap() }
    })
    .await;
    latency("logs filtered by src_ip", 20, || {
        let s = s.clone();
        async move {
            s.query_logs(&q(|l| l.src_ip = Some("10.0.1.9".into())))
                .await
                .unwrap()
        }
    })
    .await;
    latency("logs filtered by kind", 20, || {
        let s = s.clone();
        async move {
            s.query_logs(&q(|l| l.kind = Some("command".into())))
                .await
                .unwrap()
        }
    })
    .await;
    // What ingest's background indexer did not reach yet, indexed now
    // (SQLite; nothing to do on PostgreSQL).
    let t = Instant::now();
    let mut indexed = 0;
    loop {
        let step = store.index_search(20_000).await.unwrap();
        indexed += step.added;
        if step.behind == 0 {
            break;
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "search index: {indexed} events indexed after ingest in {secs:.1}s ({:.0}/s)\n",
        indexed as f64 / secs.max(1e-9)
    );
    for (name, word) in [
        ("logs substring search, rare word", "pw999"),
        ("logs substring search, common word", "root"),
        ("logs substring search, 2 characters (window)", "pw"),
    ] {
        latency(name, 5, || {
            let s = s.clone();
            async move { s.query_logs(&q_search(word)).await.unwrap() }
        })
        .await;
    }
    // A search beside a filter on another column (the dashboard's search
    // box with a decky chosen).
    latency("logs substring search, common word, one decky", 5, || {
        let s = s.clone();
        async move {
            let mut l = q_search("root");
            l.decky = Some("db01".into());
            s.query_logs(&l).await.unwrap()
        }
    })
    .await;
    latency("logs substring search, common word, page 20", 5, || {
        let s = s.clone();
        async move {
            let mut l = q_search("root");
            l.offset = 950;
            s.query_logs(&l).await.unwrap()
        }
    })
    .await;
    // The reference: what a search without the index reads, every row's
    // fields (the unbounded scan the window and the index replaced).
    if !pg {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url_main).await.unwrap();
        latency(
            "reference: full scan for the rare word (no index)",
            3,
            || {
                let pool = pool.clone();
                async move {
                    sqlx::query("SELECT COUNT(*) FROM events WHERE lower(fields) LIKE '%pw999%'")
                        .fetch_one(&pool)
                        .await
                        .unwrap()
                }
            },
        )
        .await;
        pool.close().await;
    }
    latency("histogram (1 h buckets)", 5, || {
        let s = s.clone();
        async move { s.histogram(&LogQuery::default(), 3600).await.unwrap() }
    })
    .await;
    latency("stats", 5, || {
        let s = s.clone();
        async move { s.stats().await.unwrap() }
    })
    .await;
    latency("attackers page 1 (limit 50)", 20, || {
        let s = s.clone();
        async move {
            s.list_attackers(&AttackerQuery {
                limit: 50,
                ..Default::default()
            })
            .await
            .unwrap()
        }
    })
    .await;
    latency("attackers by behaviour", 20, || {
        let s = s.clone();
        async move {
            s.list_attackers(&AttackerQuery {
                limit: 50,
                behavior: Some("brute_force".into()),
                ..Default::default()
            })
            .await
            .unwrap()
        }
    })
    .await;
    latency("attacker detail", 20, || {
        let s = s.clone();
        async move { s.get_attacker("10.0.1.9").await.unwrap() }
    })
    .await;
}
