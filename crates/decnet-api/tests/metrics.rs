//! `/metrics` as a scraper sees it: the whole page parsed as Prometheus
//! text exposition (prometheus-parse), events published on the bus
//! counted per decky/service/kind, and the optional bearer token.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use decnet_api::metrics::{EventCounter, Metrics};
use decnet_bus::Bus;
use decnet_core::EventKind;
use parking_lot::Mutex;
use prometheus_parse::{Scrape, Value};

async fn scrape(s: &Server, token: Option<&str>) -> reqwest::Response {
    let mut req = s.client.get(format!("http://{}/metrics", s.addr));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

fn parse(text: &str) -> Scrape {
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).expect("valid exposition")
}

fn value_of(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

/// A server with metrics on, counting its bus's events.
async fn server_with_metrics(token: Option<&str>) -> (Server, Arc<Mutex<Option<EventCounter>>>) {
    let counter = Arc::new(Mutex::new(None));
    let keep = counter.clone();
    let token = token.map(decnet_core::secret::Secret::new);
    let s = start_attached(
        Arc::new(tempfile::tempdir().unwrap()),
        move |c| c.metrics_token = token,
        async move |b: &mut decnet_api::Backends| {
            let m = Metrics::new();
            *keep.lock() = Some(EventCounter::start(m.clone(), &b.bus).unwrap());
            b.metrics = Some(m);
        },
    )
    .await;
    (s, counter)
}

#[tokio::test]
async fn the_page_parses_and_counts_what_the_bus_carried() {
    let (s, _counter) = server_with_metrics(None).await;
    for _ in 0..4 {
        s.bus
            .publish_event(event("web01", "ssh", EventKind::Connect, "10.0.0.5"));
    }
    s.bus
        .publish_event(event("web01", "ssh", EventKind::AuthAttempt, "10.0.0.5"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let scrape = loop {
        let r = scrape(&s, None).await;
        assert_eq!(r.status(), 200);
        let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
        let page = parse(&r.text().await.unwrap());
        if value_of(&page, "decnet_connections_total", &[("decky", "web01")]) == Some(4.0) {
            break page;
        }
        assert!(Instant::now() < deadline, "events never counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ssh = [("decky", "web01"), ("service", "ssh")];
    assert_eq!(
        value_of(
            &scrape,
            "decnet_events_total",
            &[ssh[0], ssh[1], ("kind", "connect")]
        ),
        Some(4.0)
    );
    assert_eq!(
        value_of(
            &scrape,
            "decnet_events_total",
            &[ssh[0], ssh[1], ("kind", "auth_attempt")]
        ),
        Some(1.0)
    );
    assert!(value_of(&scrape, "decnet_bus_published_total", &[]).unwrap() >= 5.0);
    assert_eq!(
        value_of(&scrape, "decnet_sse_viewers", &[("stream", "shared")]),
        Some(0.0)
    );
    assert!(value_of(&scrape, "process_resident_memory_bytes", &[]).unwrap() > 1e6);
    assert!(value_of(&scrape, "process_open_fds", &[]).unwrap() > 3.0);
    // Every family has its TYPE line: a counter is typed as one.
    assert!(matches!(
        scrape
            .samples
            .iter()
            .find(|x| x.metric == "decnet_bus_published_total")
            .unwrap()
            .value,
        Value::Counter(_)
    ));
}

#[tokio::test]
async fn a_configured_token_is_required_and_the_jwt_is_not_enough() {
    let (s, _counter) = server_with_metrics(Some("scrape-token-123")).await;
    assert_eq!(scrape(&s, None).await.status(), 401);
    let admin = s.admin().await;
    assert_eq!(scrape(&s, Some(&admin)).await.status(), 401);
    let r = scrape(&s, Some("scrape-token-123")).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        !text.contains("scrape-token-123"),
        "the token is never echoed"
    );
    parse(&text);
}

#[tokio::test]
async fn metrics_off_answers_404() {
    let s = start().await;
    assert_eq!(scrape(&s, None).await.status(), 404);
}
