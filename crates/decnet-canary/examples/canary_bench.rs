//! Figures for the canary library (run in release:
//! `cargo run --release -p decnet-canary --example canary_bench`):
//! token creation rate into SQLite, index rebuild time, lookup cost per
//! request, and trigger → bus latency of both receivers (p50/p99).
#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_bus::{Bus, Delivery, MemoryBus};
use decnet_canary::receivers::dns::{DnsConfig, DnsReceiver};
use decnet_canary::receivers::http::HttpReceiver;
use decnet_canary::receivers::Shared;
use decnet_canary::watch::CredentialWatcher;
use decnet_canary::{kinds, CanaryService, Ctx, Endpoint, KeyKind, NewToken, Targets};
use decnet_core::{Event, EventKind};
use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};

const TOKENS: usize = 10_000;
const TRIGGERS: usize = 200;

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort_unstable();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ctx(http: &str) -> Ctx {
    let ep = |port| {
        Some(Endpoint {
            host: "10.0.0.20".into(),
            port,
        })
    };
    Ctx {
        http_base: format!("http://{http}"),
        dns_zone: Some("canary.test".into()),
        targets: Targets {
            ssh: ep(22),
            k8s: ep(6443),
            git: ep(80),
            mysql: ep(3306),
            postgres: ep(5432),
            smb: ep(445),
            ..Default::default()
        },
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = Arc::new(decnet_store::SqlStore::connect(&url).await?);
    let http_l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let http = http_l.local_addr()?;
    let svc = CanaryService::open(store.clone(), ctx(&http.to_string())).await?;

    // 1. Creation rate: every kind in turn (ssh keys, documents and all).
    let names = kinds::names();
    let t0 = Instant::now();
    for i in 0..TOKENS {
        let req = NewToken {
            kind: names[i % names.len()].into(),
            created_by: "bench".into(),
            ..Default::default()
        };
        svc.create(&req).await?;
    }
    let took = t0.elapsed();
    println!(
        "create: {TOKENS} tokens in {:.2} s = {:.0} tokens/s ({:.0} µs each)",
        took.as_secs_f64(),
        TOKENS as f64 / took.as_secs_f64(),
        took.as_micros() as f64 / TOKENS as f64
    );
    let t0 = Instant::now();
    let reopened = CanaryService::open(store.clone(), ctx(&http.to_string())).await?;
    println!(
        "restart: index of {} tokens rebuilt from the store in {:.0} ms",
        reopened.index().len(),
        t0.elapsed().as_secs_f64() * 1e3
    );

    // 2. Lookup cost with 10,000 live tokens.
    let idx = svc.index();
    let some = idx.all();
    let hit_path = format!("/static/{}/logo.png", some[17].slug);
    let miss_path = "/static/aaaaaaaaaaaaaaaa/logo.png";
    let key_id = some
        .iter()
        .find_map(|t| t.aws_key().map(|(k, _)| k.to_owned()))
        .unwrap_or_default();
    const N: u32 = 1_000_000;
    let bench = |f: &dyn Fn() -> bool| {
        let t = Instant::now();
        let mut found = 0u32;
        for _ in 0..N {
            found += f() as u32;
        }
        (t.elapsed().as_nanos() as f64 / N as f64, found)
    };
    let (ns, _) = bench(&|| idx.find_slug_in(std::hint::black_box(&hit_path)).is_some());
    println!("lookup: slug in a request path (hit)  {ns:.0} ns");
    let (ns, _) = bench(&|| idx.find_slug_in(std::hint::black_box(miss_path)).is_some());
    println!("lookup: slug in a request path (miss) {ns:.0} ns");
    let (ns, _) = bench(&|| {
        idx.lookup(KeyKind::AwsKeyId, std::hint::black_box(&key_id))
            .is_some()
    });
    println!("lookup: AWS key id                    {ns:.0} ns");
    let bus = MemoryBus::new();
    let shared = Shared::new(idx.clone(), bus.clone());
    let watcher = CredentialWatcher::new(shared.clone());
    let mut ev = Event::new("web01", "http", EventKind::Request)
        .with("path", "/wp-login.php")
        .with("query", "");
    ev.src_ip = "203.0.113.5".parse()?;
    let mut auth = Event::new("ssh01", "ssh", EventKind::AuthAttempt);
    decnet_core::event::credential_fields(&mut auth.fields, "root", "password", b"123456");
    let t = Instant::now();
    for _ in 0..N / 4 {
        std::hint::black_box(watcher.check(std::hint::black_box(&ev)));
        std::hint::black_box(watcher.check(std::hint::black_box(&auth)));
    }
    println!(
        "watcher: {:.0} ns per decky event without a token",
        t.elapsed().as_nanos() as f64 / (N / 2) as f64
    );

    // 3. Trigger → event on the bus, HTTP receiver.
    let mut sub = bus.subscribe("events.>", Delivery::Lossless)?;
    tokio::spawn(HttpReceiver::new(shared.clone()).serve(http_l));
    let client = reqwest::Client::new();
    let mut lat = Vec::with_capacity(TRIGGERS);
    for t in some.iter().take(TRIGGERS) {
        let url = format!("http://{http}/c/{}", t.slug);
        let t0 = Instant::now();
        let resp = client.get(&url).send().await?;
        let env = sub.recv().await.ok_or("bus closed")?;
        lat.push(t0.elapsed());
        assert_eq!(env.kind, "canary_trigger");
        drop(resp);
    }
    println!(
        "http trigger -> bus: p50 {:?} p99 {:?} over {TRIGGERS}",
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99)
    );

    // 4. Same for DNS over UDP.
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let dns = udp.local_addr()?;
    let rx = DnsReceiver::new(
        shared,
        DnsConfig {
            zone: "canary.test".into(),
            address: Ipv4Addr::LOCALHOST,
            ttl: 0,
        },
    )?;
    tokio::spawn(rx.serve_udp(udp));
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let mut buf = [0u8; 1500];
    let mut lat = Vec::with_capacity(TRIGGERS);
    for t in some.iter().take(TRIGGERS) {
        let mut m = Message::query();
        m.add_query(Query::query(
            Name::from_ascii(format!("{}.canary.test.", t.slug))?,
            RecordType::A,
        ));
        let q = m.to_vec()?;
        let t0 = Instant::now();
        client.send_to(&q, dns).await?;
        let env = sub.recv().await.ok_or("bus closed")?;
        lat.push(t0.elapsed());
        assert_eq!(env.kind, "canary_trigger");
        client.recv(&mut buf).await?;
    }
    println!(
        "dns trigger -> bus:  p50 {:?} p99 {:?} over {TRIGGERS}",
        pct(&mut lat, 0.5),
        pct(&mut lat, 0.99)
    );
    Ok(())
}
