//! What operators and load balancers see: the OpenAPI document (every
//! route, unique operation ids), `/health` reporting the workers that run
//! beside the API (a real store ingester and a real intel worker), and the
//! unauthenticated `/livez` and `/readyz`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use decnet_api::worker_probe::WorkerProbe;
use decnet_api::Backends;
use decnet_bus::{Bus, Delivery};
use reqwest::Method;
use serde_json::Value;

#[tokio::test]
async fn openapi_lists_every_route_once() {
    let s = start().await;
    let doc: Value = s
        .client
        .get(s.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut ids = BTreeSet::new();
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            assert!(ids.insert(id.to_owned()), "operationId {id} twice");
            routes.push((method.to_uppercase(), path.clone()));
        }
    }
    // Routes once missing from the document.
    for (m, p) in [
        ("GET", "/api/v1/response/status"),
        ("POST", "/api/v1/response/bans"),
        ("DELETE", "/api/v1/response/bans/{value}"),
        ("PUT", "/api/v1/response/policy"),
        ("GET", "/v1/decisions/stream"),
        ("POST", "/v1/usage-metrics"),
        ("POST", "/api/v1/topologies/blank"),
        ("GET", "/api/v1/livez"),
        ("GET", "/api/v1/readyz"),
        ("GET", "/api/v1/openapi.json"),
    ] {
        assert!(
            routes.iter().any(|(rm, rp)| rm == m && rp == p),
            "{m} {p} not documented"
        );
    }
    // Every documented route is one the server answers (no 404/405);
    // the reverse holds by construction (a route is registered through
    // its documentation).
    assert!(routes.len() > 80, "{} routes", routes.len());
    for (m, p) in &routes {
        let path = p
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        let url = format!("http://{}{path}", s.addr);
        let method: Method = m.parse().unwrap();
        let r = s.client.request(method, &url).send().await.unwrap();
        assert!(
            r.status() != 404 && r.status() != 405,
            "{m} {p} answered {}",
            r.status()
        );
    }
}

#[tokio::test]
async fn liveness_and_readiness_need_no_login_and_say_nothing_else() {
    let s = start().await;
    for (path, body) in [("/livez", "alive"), ("/readyz", "ready")] {
        let r = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v, serde_json::json!({ "status": body }), "{path}");
    }
    // A critical worker down: not ready, and still no detail.
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let down = start_attached(
        dir,
        |_| {},
        async |b: &mut Backends| {
            b.probes.push(WorkerProbe::new("ingest_worker", true, || {
                Err("stopped: secret path /srv/x".into())
            }));
            b.probes
                .push(WorkerProbe::new("intel_worker", false, || Ok(None)));
        },
    )
    .await;
    let r = down.client.get(down.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v, serde_json::json!({"status": "not_ready"}));
    let r = down.client.get(down.url("/livez")).send().await.unwrap();
    assert_eq!(r.status(), 200, "alive even when not ready");
    // /health still wants a login.
    let r = down.client.get(down.url("/health")).send().await.unwrap();
    assert_eq!(r.status(), 401);
}

async fn health(s: &Server, token: &str) -> (u16, Value) {
    let r = s.get(token, "/health").await;
    let code = r.status().as_u16();
    (code, r.json().await.unwrap())
}

#[tokio::test]
async fn health_reports_the_store_ingester_and_intel_workers() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut ingester = None;
    let mut intel = None;
    let s = start_attached(
        dir,
        |_| {},
        async |b: &mut Backends| {
            let ing = decnet_store::ingest::Ingester::start(
                b.store.clone(),
                b.bus.subscribe("events.>", Delivery::Lossless).unwrap(),
                Default::default(),
            );
            let int = decnet_intel::Intel::start(
                b.store.clone(),
                b.bus.clone(),
                b.bus.subscribe("events.>", Delivery::Lossless).unwrap(),
                Default::default(),
            )
            .await
            .unwrap();
            b.probes.push(WorkerProbe::watching(
                "ingest_worker",
                true,
                ing.committed(),
                |n| format!("{n} events committed"),
            ));
            b.probes.push(WorkerProbe::watching(
                "intel_worker",
                false,
                int.committed(),
                |n| format!("{n} events handled"),
            ));
            ingester = Some(ing);
            intel = Some(int);
        },
    )
    .await;
    let admin = s.admin().await;
    s.bus.publish_event(event(
        "web01",
        "ssh",
        decnet_core::EventKind::Connect,
        "10.9.0.1",
    ));
    // Both running, with their progress.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (code, v) = health(&s, &admin).await;
        assert_eq!(code, 200, "{v}");
        let c = &v["components"];
        assert_eq!(c["ingest_worker"]["status"], "ok", "{v}");
        assert_eq!(c["ingest_worker"]["critical"], true);
        assert_eq!(c["intel_worker"]["status"], "ok", "{v}");
        assert_eq!(c["intel_worker"]["critical"], false);
        if c["ingest_worker"]["detail"] == "1 events committed"
            && c["intel_worker"]["detail"] == "1 events handled"
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Intel stops: reported failing, the API degraded but up.
    intel.take().unwrap().finish().await.unwrap();
    let (code, v) = health(&s, &admin).await;
    assert_eq!(code, 200);
    assert_eq!(v["status"], "degraded", "{v}");
    assert_eq!(v["components"]["intel_worker"]["status"], "failing");
    assert_eq!(v["components"]["intel_worker"]["detail"], "stopped");
    // The store ingester stops: unhealthy (503) and not ready.
    ingester.take().unwrap().finish().await.unwrap();
    let (code, v) = health(&s, &admin).await;
    assert_eq!(code, 503, "{v}");
    assert_eq!(v["status"], "unhealthy");
    assert_eq!(v["components"]["ingest_worker"]["status"], "failing");
    let r = s.client.get(s.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
}

#[tokio::test]
async fn service_catalogue_is_served_without_an_engine() {
    let s = start().await;
    assert_eq!(
        s.client
            .get(s.url("/services"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let token = s.admin().await;
    let r = s.get(&token, "/services").await;
    assert_eq!(r.status(), 200);
    let list: Vec<Value> = r.json().await.unwrap();
    let ssh = list
        .iter()
        .find(|e| e["name"] == "ssh")
        .expect("ssh in the catalogue");
    assert_eq!(ssh["ports"], serde_json::json!(["tcp/22"]));
    assert_eq!(list.len(), decnet_core::SERVICE_CATALOG.len());
}
