//! Figures for BENCH.md: `/v1/decisions/stream?startup=true` with 100,000
//! active bans (size, time), then a delta pull. Run with
//! `cargo run --release -p decnet-response --example stream_bench`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use decnet_bus::MemoryBus;
use decnet_response::{api, Options, Responder};

#[tokio::main]
async fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let raw: BTreeMap<String, String> = [("backends", "crowdsec")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let r = Responder::start(
        &raw,
        MemoryBus::new(),
        Options {
            spawn: false,
            ..Default::default()
        },
    )
    .await
    .expect("responder");
    let t = Instant::now();
    for i in 0..n {
        let ip = Ipv4Addr::from(0x0b00_0000u32 + i);
        r.manual_ban(
            "bench",
            &ip.to_string(),
            Some(Duration::from_secs(3600)),
            "bench",
        )
        .expect("ban");
    }
    let ban_time = t.elapsed();
    let key = api::create_bouncer(&r, "bench", "bench").unwrap().api_key;
    let l = tokio::net::TcpListener::bind("127.0.71.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let app = decnet_response::crowdsec::router::<()>(r.clone());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    let c = reqwest::Client::new();
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let body = c
            .get(format!("http://{addr}/v1/decisions/stream?startup=true"))
            .header("X-Api-Key", &key)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        times.push(t.elapsed());
        size = body.len();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["new"].as_array().unwrap().len(), n as usize);
    }
    times.sort();
    let t = Instant::now();
    let delta = c
        .get(format!("http://{addr}/v1/decisions/stream?startup=false"))
        .header("X-Api-Key", &key)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let delta_time = t.elapsed();
    println!(
        "{n} bans decided in {:.1} ms ({:.1} µs each)",
        ban_time.as_secs_f64() * 1e3,
        ban_time.as_secs_f64() * 1e6 / n as f64
    );
    println!(
        "stream?startup=true: {size} bytes ({:.1} MB), median {:.1} ms, min {:.1} ms, max {:.1} ms (5 pulls, incl. client read)",
        size as f64 / 1e6,
        times[2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[4].as_secs_f64() * 1e3
    );
    println!(
        "stream?startup=false (no change): {} bytes in {:.2} ms",
        delta.len(),
        delta_time.as_secs_f64() * 1e3
    );
}
