//! SSE black-box tests: tickets, per-user cap before the 200, snapshot then
//! live frames, keepalives, slow clients, shutdown.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use decnet_bus::Bus;
use decnet_core::EventKind;
use serde_json::Value;

async fn ticket(s: &Server, token: &str) -> String {
    let r = s
        .client
        .post(s.url("/auth/sse-ticket"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["expires_in"], 60);
    v["ticket"].as_str().unwrap().to_owned()
}

async fn open(s: &Server, token: &str, query: &str) -> reqwest::Response {
    s.client
        .get(s.url(&format!("/stream{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn ticket_is_single_use_and_stream_sends_snapshot_then_logs() {
    let s = start().await;
    let admin = s.admin().await;
    // No credentials at all.
    let r = s.client.get(s.url("/stream")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let t = ticket(&s, &admin).await;
    let r = s
        .client
        .get(s.url(&format!("/stream?ticket={t}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut rd = SseReader::new(r);
    let f = rd.next_event(Duration::from_secs(5)).await.unwrap();
    assert_eq!(f.event, "message");
    assert_eq!(f.json()["type"], "stats");
    assert!(f.json()["data"]["total_events"].is_u64());
    let f = rd.next_event(Duration::from_secs(5)).await.unwrap();
    assert_eq!(f.json()["type"], "histogram");
    // A live event crosses the bus and arrives as a logs frame.
    let e = event("web01", "ssh", EventKind::AuthAttempt, "10.9.8.7");
    let id = e.id.to_string();
    s.bus.publish_event(e);
    let f = rd.next_event(Duration::from_secs(5)).await.unwrap();
    let v = f.json();
    assert_eq!(v["type"], "logs");
    assert_eq!(v["data"][0]["id"], id.as_str());
    assert_eq!(v["data"][0]["src_ip"], "10.9.8.7");
    // Second use of the same ticket fails.
    let r = s
        .client
        .get(s.url(&format!("/stream?ticket={t}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = s
        .client
        .get(s.url("/stream?ticket=deadbeef"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn expired_ticket_is_refused() {
    let s = start_with(|c| c.ticket_ttl = Duration::from_millis(200)).await;
    let admin = s.admin().await;
    let r = s
        .client
        .post(s.url("/auth/sse-ticket"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let t = r.json::<Value>().await.unwrap()["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = s
        .client
        .get(s.url(&format!("/stream?ticket={t}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn per_user_cap_is_enforced_before_200() {
    let s = start_with(|c| c.sse_max_per_user = 2).await;
    let admin = s.admin().await;
    let a = open(&s, &admin, "").await;
    let b = open(&s, &admin, "").await;
    assert_eq!(a.status(), 200);
    assert_eq!(b.status(), 200);
    let c = open(&s, &admin, "").await;
    assert_eq!(c.status(), 429);
    assert!(c.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert!(c.headers().get("retry-after").is_some());
    assert!(c.json::<Value>().await.unwrap()["detail"].is_string());
    // Another user has their own slots.
    let viewer = s.viewer(&admin, "other").await;
    assert_eq!(open(&s, &viewer, "").await.status(), 200);
    // Closing one frees a slot.
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = open(&s, &admin, "").await;
        if r.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "slot not released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn keepalive_comment_when_idle() {
    let s = start_with(|c| c.sse_keepalive = Duration::from_millis(300)).await;
    let admin = s.admin().await;
    let mut rd = SseReader::new(open(&s, &admin, "").await);
    rd.next_event(Duration::from_secs(5)).await.unwrap();
    rd.next_event(Duration::from_secs(5)).await.unwrap();
    let f = rd.next(Duration::from_secs(3)).await.unwrap();
    assert!(f.comment, "{f:?}");
    assert_eq!(f.data, " keepalive");
}

#[tokio::test]
async fn periodic_stats_and_decky_filter() {
    let s = start_with(|c| c.stream_stats_interval = Duration::from_millis(300)).await;
    let admin = s.admin().await;
    let mut rd = SseReader::new(open(&s, &admin, "?decky=web02").await);
    rd.next_event(Duration::from_secs(5)).await.unwrap();
    rd.next_event(Duration::from_secs(5)).await.unwrap();
    s.bus
        .publish_event(event("web01", "ssh", EventKind::Connect, "10.0.0.1"));
    let want = event("web02", "http", EventKind::Request, "10.0.0.2");
    let id = want.id.to_string();
    s.bus.publish_event(want);
    let mut saw_stats = false;
    let mut saw_log = false;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !(saw_stats && saw_log) {
        let Some(f) = rd.next_event(Duration::from_secs(2)).await else {
            break;
        };
        let v = f.json();
        match v["type"].as_str().unwrap() {
            "stats" => saw_stats = true,
            "logs" => {
                for e in v["data"].as_array().unwrap() {
                    assert_eq!(e["decky"], "web02", "filter leaked {e}");
                    if e["id"] == id.as_str() {
                        saw_log = true;
                    }
                }
            }
            _ => {}
        }
    }
    assert!(saw_stats && saw_log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_client_is_dropped_without_slowing_bus_or_others() {
    let s = start().await;
    let admin = s.admin().await;
    let slow = open(&s, &admin, "").await;
    assert_eq!(slow.status(), 200);
    let mut fast = SseReader::new(open(&s, &admin, "").await);
    fast.next_event(Duration::from_secs(5)).await.unwrap();
    fast.next_event(Duration::from_secs(5)).await.unwrap();
    // 100 bursts of 200 events of ~1 KiB (20 MB): far more than the slow
    // client's socket buffers and the events a viewer may fall behind. Each burst fits
    // the fast client's queue; it reads a burst while the next is built.
    let pad = "x".repeat(1024);
    let (bursts, per) = (100, 200);
    let mut received = 0usize;
    let t = Instant::now();
    let mut publish_time = Duration::ZERO;
    for _ in 0..bursts {
        let mut last = String::new();
        for _ in 0..per {
            let mut e = event("web01", "ssh", EventKind::Command, "10.1.1.1");
            e.fields.insert("command".into(), serde_json::json!(pad));
            last = e.id.to_string();
            let p = Instant::now();
            s.bus.publish_event(e);
            publish_time += p.elapsed();
        }
        let mut got_last = false;
        while !got_last {
            let f = fast
                .next_event(Duration::from_secs(10))
                .await
                .expect("fast client starved");
            assert_ne!(f.event, "error", "fast client was dropped");
            if let Some(a) = f.json()["data"].as_array() {
                received += a.len();
                got_last = a.iter().any(|e| e["id"] == last.as_str());
            }
        }
    }
    let n = bursts * per;
    assert_eq!(received, n, "fast client lost events");
    eprintln!("published {n} in {:?} (publish calls {publish_time:?}); fast client got {received}; total {:?}", t.elapsed(), t.elapsed());
    assert!(
        publish_time < Duration::from_secs(2),
        "publishing was slowed: {publish_time:?}"
    );
    // The slow client, when it finally reads, is told it was dropped and the stream ends.
    let mut rd = SseReader::new(slow);
    let mut saw_error = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match rd.next(Duration::from_secs(5)).await {
            Some(f) if f.event == "error" => saw_error = true,
            Some(_) => {}
            None => break,
        }
    }
    assert!(saw_error, "slow client was not dropped");
}

#[tokio::test]
async fn shutdown_ends_streams_and_stops_quickly() {
    let mut s = start().await;
    let admin = s.admin().await;
    let mut rd = SseReader::new(open(&s, &admin, "").await);
    rd.next_event(Duration::from_secs(5)).await.unwrap();
    let took = s.stop().await;
    assert!(took < Duration::from_secs(5), "{took:?}");
    // The stream ends (no hang).
    let mut ended = false;
    for _ in 0..10 {
        if rd.next(Duration::from_secs(2)).await.is_none() {
            ended = true;
            break;
        }
    }
    assert!(ended);
    assert!(s.client.get(s.url("/openapi.json")).send().await.is_err());
}

#[tokio::test]
async fn unfiltered_feed_gets_periodic_stats_and_every_event_in_order() {
    let s = start_with(|c| c.stream_stats_interval = Duration::from_millis(300)).await;
    let admin = s.admin().await;
    let mut rd = SseReader::new(open(&s, &admin, "").await);
    rd.next_event(Duration::from_secs(5)).await.unwrap();
    rd.next_event(Duration::from_secs(5)).await.unwrap();
    let sent: Vec<String> = (0..300)
        .map(|i| {
            let e = event(
                "web01",
                "ssh",
                EventKind::Connect,
                &format!("10.0.1.{}", i % 250),
            );
            let id = e.id.to_string();
            s.bus.publish_event(e);
            id
        })
        .collect();
    let mut got = Vec::new();
    let mut stats = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && (got.len() < sent.len() || stats == 0) {
        let Some(f) = rd.next_event(Duration::from_secs(2)).await else {
            break;
        };
        let v = f.json();
        match v["type"].as_str().unwrap() {
            "stats" => stats += 1,
            "logs" => {
                let batch = v["data"].as_array().unwrap();
                assert!(batch.len() <= 50, "logs frames hold at most 50 events");
                got.extend(batch.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
            }
            _ => {}
        }
    }
    assert_eq!(got, sent, "every event once, in publication order");
    assert!(stats > 0, "no periodic stats on the unfiltered feed");
}
