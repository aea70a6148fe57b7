//! Online enrichment end to end: events on the bus, the real ingester and
//! intel (with `[enrich]` settings) write the store, the API shows each
//! attacker's `enrichment`. AbuseIPDB and GreyNoise cannot be reached from
//! the test machine, so a local axum server on 127.0.0.1 stands in for
//! both, answering with the bodies their API documentation shows (the
//! worker is what is under test, not the services).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use common::*;
use decnet_bus::Bus;
use decnet_core::secret::Secret;
use decnet_core::EventKind;
use decnet_intel::enrich::{EnrichSettings, ProviderSetup, PROVIDERS};
use serde_json::json;

const ABUSE_KEY: &str = "abuse-key-0f9e8d7c6b5a";
const GREY_KEY: &str = "greynoise-key-1a2b3c4d5e";

/// One request the stand-in received.
#[derive(Clone, Debug)]
struct Seen {
    provider: &'static str,
    ip: String,
    key: Option<String>,
    query: HashMap<String, String>,
    at: Instant,
}

#[derive(Clone, Default)]
struct StandIn {
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Every answer waits this long first.
    delay: Duration,
}

impl StandIn {
    fn record(
        &self,
        provider: &'static str,
        ip: &str,
        headers: &HeaderMap,
        q: HashMap<String, String>,
    ) {
        let key = headers
            .get(if provider == "abuseipdb" {
                "Key"
            } else {
                "key"
            })
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.seen.lock().unwrap().push(Seen {
            provider,
            ip: ip.to_owned(),
            key,
            query: q,
            at: Instant::now(),
        });
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn count(&self, provider: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.provider == provider)
            .count()
    }
}

/// AbuseIPDB's documented `check` answer; 185.220.101.7 is a bad one.
async fn abuse_check(
    State(st): State<StandIn>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> impl IntoResponse {
    let ip = q.get("ipAddress").cloned().unwrap_or_default();
    st.record("abuseipdb", &ip, &headers, q);
    tokio::time::sleep(st.delay).await;
    if headers.get("Key").and_then(|v| v.to_str().ok()) != Some(ABUSE_KEY) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"errors":[{"detail":"Authentication failed.","status":401}]})),
        );
    }
    if ip == "91.92.93.94" {
        // A provider failing for one address: logged, never fatal.
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({})));
    }
    let bad = ip == "185.220.101.7";
    (
        StatusCode::OK,
        Json(json!({"data": {
            "ipAddress": ip, "isPublic": true, "ipVersion": 4, "isWhitelisted": false,
            "abuseConfidenceScore": if bad { 100 } else { 3 },
            "countryCode": if bad { "DE" } else { "US" },
            "usageType": "Data Center/Web Hosting/Transit",
            "isp": if bad { "Tor exit relays" } else { "Linode" },
            "domain": "example.net", "hostnames": [], "isTor": bad,
            "totalReports": if bad { 2471 } else { 1 },
            "numDistinctUsers": 1,
            "lastReportedAt": "2026-12-06T20:55:14+00:00"
        }})),
    )
}

/// GreyNoise community: 185.220.101.7 is malicious noise, the rest unseen.
async fn community(
    State(st): State<StandIn>,
    headers: HeaderMap,
    Path(ip): Path<String>,
) -> impl IntoResponse {
    st.record("greynoise", &ip, &headers, HashMap::new());
    tokio::time::sleep(st.delay).await;
    if ip == "185.220.101.7" {
        (
            StatusCode::OK,
            Json(
                json!({"ip": ip, "noise": true, "riot": false, "classification": "malicious",
                "name": "unknown", "link": format!("https://viz.greynoise.io/ip/{ip}"),
                "last_seen": "2026-12-06", "message": "Success"}),
            ),
        )
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(json!({"ip": ip, "noise": false, "riot": false,
                "message": "IP not observed scanning the internet or contained in RIOT data set."})),
        )
    }
}

/// Starts the stand-in; its root URL.
async fn stand_in(st: StandIn) -> String {
    let app = Router::new()
        .route("/api/v2/check", get(abuse_check))
        .route("/v3/community/{ip}", get(community))
        .with_state(st);
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await });
    format!("http://{addr}")
}

fn settings(root: &str, ttl: Duration, rate: u32, timeout: Duration) -> Arc<EnrichSettings> {
    let provider = |name: &str| *PROVIDERS.iter().find(|p| p.name() == name).unwrap();
    Arc::new(EnrichSettings {
        providers: vec![
            ProviderSetup {
                provider: provider("abuseipdb"),
                root: root.to_owned(),
                key: Secret::new(ABUSE_KEY),
            },
            ProviderSetup {
                provider: provider("greynoise"),
                root: root.to_owned(),
                key: Secret::new(GREY_KEY),
            },
        ],
        ttl,
        rate,
        timeout,
    })
}

fn intel_cfg(e: Arc<EnrichSettings>) -> decnet_intel::IntelConfig {
    decnet_intel::IntelConfig {
        enrich: Some(e),
        batch_wait: Duration::from_millis(20),
        ..Default::default()
    }
}

/// A server with the ingester and intel enriching through a stand-in.
struct Rig {
    s: Server,
    admin: String,
    ingester: decnet_store::ingest::IngestHandle,
    intel: decnet_intel::IntelHandle,
}

/// Starts a [`Rig`] on `standin` (answers reused for an hour).
async fn rig(standin: &StandIn, rate: u32, timeout: Duration) -> Rig {
    let root = stand_in(standin.clone()).await;
    let s = start().await;
    let admin = s.admin().await;
    let ingester = start_ingester(&s);
    let cfg = intel_cfg(settings(&root, Duration::from_secs(3600), rate, timeout));
    let intel = start_intel_with(&s, cfg).await;
    Rig {
        s,
        admin,
        ingester,
        intel,
    }
}

fn publish_from(s: &Server, ips: &[&str]) {
    for ip in ips {
        s.bus
            .publish_event(event("web01", "ssh", EventKind::Connect, ip));
    }
}

/// Public addresses are looked up once per provider (non-public never),
/// with nothing but the address and the key; the answers are shown on the
/// attacker rows and filtered on; a failing provider answer is logged and
/// harmless; answers are reused within the ttl (also by a restarted
/// worker, from the store) and asked again after it; the keys appear in
/// no API answer and no log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_addresses_are_enriched_cached_and_shown_without_keys() {
    let logs = log_buffer();
    let standin = StandIn::default();
    let root = stand_in(standin.clone()).await;
    let s = start().await;
    let admin = s.admin().await;
    let ingester = start_ingester(&s);
    let cfg = intel_cfg(settings(
        &root,
        Duration::from_secs(3600),
        600,
        Duration::from_secs(2),
    ));
    let intel = start_intel_with(&s, cfg.clone()).await;

    let public = ["185.220.101.7", "45.33.32.156", "91.92.93.94"];
    let private = [
        "10.1.2.3",
        "127.0.0.9",
        "100.64.1.1",
        "192.168.7.7",
        "fd00::7",
    ];
    publish_from(&s, &public);
    publish_from(&s, &private);
    eventually(&s, &admin, "/attackers", |v| v["total"] == 8).await;
    let bad = eventually(&s, &admin, "/attackers/185.220.101.7", |v| {
        v["enrichment"]["abuseipdb"].is_object() && v["enrichment"]["greynoise"].is_object()
    })
    .await;
    let a = &bad["enrichment"]["abuseipdb"];
    assert_eq!(a["abuseConfidenceScore"], 100, "{bad}");
    assert_eq!(a["totalReports"], 2471);
    assert_eq!(a["countryCode"], "DE");
    assert_eq!(a["isp"], "Tor exit relays");
    assert_eq!(a["usageType"], "Data Center/Web Hosting/Transit");
    assert_eq!(a["lastReportedAt"], "2026-12-06T20:55:14+00:00");
    assert!(a["fetched_at"].as_str().unwrap().starts_with("20"), "{a}");
    // Only the kept fields.
    assert!(a.get("domain").is_none() && a.get("isTor").is_none(), "{a}");
    let g = &bad["enrichment"]["greynoise"];
    assert_eq!(
        (
            &g["noise"],
            &g["classification"],
            &g["name"],
            &g["last_seen"],
            &g["seen"]
        ),
        (
            &json!(true),
            &json!("malicious"),
            &json!("unknown"),
            &json!("2026-12-06"),
            &json!(true)
        )
    );
    // GreyNoise's 404 is an answer: "not seen", stored like one.
    let quiet = eventually(&s, &admin, "/attackers/45.33.32.156", |v| {
        v["enrichment"]["greynoise"].is_object() && v["enrichment"]["abuseipdb"].is_object()
    })
    .await;
    assert_eq!(quiet["enrichment"]["greynoise"]["seen"], false, "{quiet}");
    assert_eq!(quiet["enrichment"]["abuseipdb"]["abuseConfidenceScore"], 3);
    // The score filter and the list rows carry the enrichment too.
    let high = eventually(&s, &admin, "/attackers?min_score=50", |v| v["total"] == 1).await;
    assert_eq!(high["data"][0]["ip"], "185.220.101.7");
    assert_eq!(
        high["data"][0]["enrichment"]["abuseipdb"]["abuseConfidenceScore"],
        100
    );
    let bad_param = s.get(&admin, "/attackers?min_score=101").await;
    assert_eq!(bad_param.status(), 422);

    // What left the process: public addresses only, each once per
    // provider, the address and the key and nothing else.
    let deadline = Instant::now() + Duration::from_secs(10);
    while standin.seen().len() < 6 {
        assert!(Instant::now() < deadline, "{:?}", standin.seen());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seen = standin.seen();
    assert_eq!(seen.len(), 6, "{seen:?}");
    for req in &seen {
        assert!(public.contains(&req.ip.as_str()), "{req:?}");
        let key = if req.provider == "abuseipdb" {
            ABUSE_KEY
        } else {
            GREY_KEY
        };
        assert_eq!(req.key.as_deref(), Some(key));
        if req.provider == "abuseipdb" {
            assert_eq!(req.query.keys().collect::<Vec<_>>(), ["ipAddress"]);
        } else {
            assert!(req.query.is_empty(), "{req:?}");
        }
    }
    // The failed AbuseIPDB answer left no row, and the other provider's did
    // (stored just after the stand-in answered).
    let failed = eventually(&s, &admin, "/attackers/91.92.93.94", |v| {
        v["enrichment"]["greynoise"].is_object()
    })
    .await;
    assert!(failed["enrichment"].get("abuseipdb").is_none(), "{failed}");
    assert!(intel.enrich_stats().unwrap().not_public >= 5);

    // The same attackers again: nothing asked (the stored answers are fresh).
    publish_from(&s, &public);
    eventually(&s, &admin, "/attackers/45.33.32.156", |v| {
        v["event_count"] == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(standin.seen().len(), 6);

    // A restarted worker reuses the stored answers within the ttl ...
    intel.finish().await.unwrap();
    let intel = start_intel_with(&s, cfg.clone()).await;
    publish_from(&s, &public[..2]);
    eventually(&s, &admin, "/attackers/45.33.32.156", |v| {
        v["event_count"] == 3
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while intel.enrich_stats().unwrap().reused < 4 {
        assert!(Instant::now() < deadline, "{:?}", intel.enrich_stats());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(standin.seen().len(), 6);
    // ... and asks again once they are older than it.
    intel.finish().await.unwrap();
    let short = intel_cfg(settings(
        &root,
        Duration::from_secs(1),
        600,
        Duration::from_secs(2),
    ));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let intel = start_intel_with(&s, short).await;
    let before = bad["enrichment"]["abuseipdb"]["fetched_at"].clone();
    publish_from(&s, &public[..1]);
    let refetched = eventually(&s, &admin, "/attackers/185.220.101.7", |v| {
        v["enrichment"]["abuseipdb"]["fetched_at"] != before
    })
    .await;
    assert_eq!(
        refetched["enrichment"]["abuseipdb"]["abuseConfidenceScore"],
        100
    );
    assert!(standin.count("abuseipdb") >= 4);

    // The keys: in no API answer, no log line.
    for path in [
        "/attackers",
        "/attackers/185.220.101.7",
        "/attackers/91.92.93.94",
        "/openapi.json",
        "/health",
    ] {
        let body = s.get(&admin, path).await.text().await.unwrap();
        assert!(
            !body.contains(ABUSE_KEY) && !body.contains(GREY_KEY),
            "{path}"
        );
    }
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        logged.contains("AbuseIPDB lookups"),
        "the failing lookup is logged: {logged}"
    );
    assert!(
        !logged.contains(ABUSE_KEY) && !logged.contains(GREY_KEY),
        "{logged}"
    );
    intel.finish().await.unwrap();
    ingester.finish().await.unwrap();
}

/// A provider that takes 10 s per answer delays no event: every event
/// reaches the store and every attacker row is written while the lookups
/// hang; stopping intel does not wait for them either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_provider_delays_no_event() {
    let standin = StandIn {
        delay: Duration::from_secs(10),
        ..Default::default()
    };
    let Rig {
        s,
        admin,
        ingester,
        intel,
    } = rig(&standin, 600, Duration::from_secs(20)).await;
    let ips: Vec<String> = (1..=40).map(|i| format!("81.2.69.{i}")).collect();
    let t = Instant::now();
    for round in 0..5 {
        let refs: Vec<&str> = ips.iter().map(String::as_str).collect();
        publish_from(&s, &refs);
        if round == 0 {
            // The first lookups are now hanging at the stand-in.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    eventually(&s, &admin, "/logs?limit=1", |v| v["total"] == 200).await;
    eventually(&s, &admin, "/attackers", |v| v["total"] == 40).await;
    eventually(&s, &admin, "/attackers/81.2.69.40", |v| {
        v["event_count"] == 5
    })
    .await;
    let took = t.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "events waited on the provider: {took:?}"
    );
    assert!(standin.count("abuseipdb") >= 1, "a lookup is hanging");
    let stop = Instant::now();
    intel.finish().await.unwrap();
    assert!(
        stop.elapsed() < Duration::from_secs(3),
        "{:?}",
        stop.elapsed()
    );
    ingester.finish().await.unwrap();
}

/// `rate` lookups a minute per provider, spaced: 60/min lets at most one
/// lookup a second through however many addresses wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_holds() {
    let standin = StandIn::default();
    let Rig {
        s,
        admin,
        ingester,
        intel,
    } = rig(&standin, 60, Duration::from_secs(2)).await;
    let ips: Vec<String> = (1..=10).map(|i| format!("5.6.7.{i}")).collect();
    let refs: Vec<&str> = ips.iter().map(String::as_str).collect();
    publish_from(&s, &refs);
    eventually(&s, &admin, "/attackers", |v| v["total"] == 10).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for provider in ["abuseipdb", "greynoise"] {
        let times: Vec<Instant> = standin
            .seen()
            .iter()
            .filter(|r| r.provider == provider)
            .map(|r| r.at)
            .collect();
        assert!(
            (2..=4).contains(&times.len()),
            "{provider}: {} lookups in ~2.5 s at 60/min",
            times.len()
        );
        for w in times.windows(2) {
            let gap = w[1] - w[0];
            assert!(
                gap >= Duration::from_millis(900),
                "{provider}: {gap:?} apart"
            );
        }
    }
    intel.finish().await.unwrap();
    ingester.finish().await.unwrap();
}
