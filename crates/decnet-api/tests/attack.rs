//! ATT&CK end to end: events on the bus → the real tag worker → tags and
//! STIX objects in the store → `/api/v1/attack/*` and `/taxii2/` answers;
//! rule reload (good and bad) without a restart.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use decnet_attack::live::{RulesInUse, TagWorker, TagWorkerConfig, TAG_TOPIC};
use decnet_bus::{Bus, Delivery};
use decnet_core::EventKind;
use serde_json::{json, Value};

const UNAME: &str = r#"
[[rule]]
id = "test.uname"
name = "System information discovery"
techniques = ["T1082"]
confidence = 80
kind = "command"
command = '^uname\b'
[[rule.example]]
command = "uname -a"
"#;

const WHOAMI: &str = r#"
[[rule]]
id = "test.whoami"
name = "System owner discovery"
techniques = ["T1033"]
confidence = 70
kind = "command"
command = '^whoami\b'
[[rule.example]]
command = "whoami"
"#;

fn command(ip: &str, line: &str) -> decnet_core::Event {
    let mut e = event("web01", "ssh", EventKind::Command, ip);
    e.session_id = Some(uuid::Uuid::now_v7());
    e.fields.insert("command".into(), json!(line));
    e
}

fn technique<'a>(v: &'a Value, id: &str) -> Option<&'a Value> {
    v["techniques"]
        .as_array()?
        .iter()
        .find(|t| t["technique_id"] == id)
}

async fn taxii(s: &Server, token: Option<&str>, path: &str) -> reqwest::Response {
    let mut r = s
        .client
        .get(format!("http://{}/taxii2/{path}", s.addr))
        .header("accept", "application/taxii+json;version=2.1");
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_api_exports_taxii_and_reload() {
    let rules_dir = tempfile::tempdir().unwrap();
    std::fs::write(rules_dir.path().join("a.toml"), UNAME).unwrap();
    let rules = Arc::new(RulesInUse::from_dir(rules_dir.path()).unwrap());
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let r2 = rules.clone();
    let s = start_attached(
        dir,
        |_| {},
        async move |b: &mut decnet_api::Backends| {
            b.attack = r2;
        },
    )
    .await;
    let admin = s.admin().await;
    let viewer = s.viewer(&admin, "analyst").await;
    let bus: Arc<dyn Bus> = s.bus.clone();
    let intel = decnet_intel::Intel::start(
        s.store.clone(),
        bus.clone(),
        bus.subscribe("events.>", Delivery::Lossless).unwrap(),
        Default::default(),
    )
    .await
    .unwrap();
    let tagger = TagWorker::start(
        s.store.clone(),
        bus.clone(),
        bus.subscribe("events.>", Delivery::Lossless).unwrap(),
        rules.handle().clone(),
        TagWorkerConfig {
            stix_every: Duration::from_millis(100),
            ..TagWorkerConfig::default()
        },
    );
    let mut tags_seen = bus
        .subscribe(TAG_TOPIC, Delivery::Lossy { capacity: 64 })
        .unwrap();

    // Nothing without a token, on the API and on TAXII.
    assert_eq!(
        s.client
            .get(s.url("/attack/techniques"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let r = taxii(&s, None, "").await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    let r = taxii(&s, Some("not-a-token"), "api/collections/").await;
    assert_eq!(r.status(), 401);

    let ip = "198.51.100.7";
    let first = command(ip, "uname -a");
    let first_id = first.id;
    bus.publish_event(first);
    bus.publish_event(command(ip, "whoami"));
    bus.publish_event(command("198.51.100.8", "ls -la"));

    // The tag is announced on the bus with the technique's name.
    let msg = tokio::time::timeout(Duration::from_secs(10), tags_seen.recv())
        .await
        .expect("attack.tag in time")
        .unwrap();
    let body = serde_json::to_value(&msg.payload).unwrap();
    assert_eq!(body["technique_id"], "T1082");
    assert_eq!(body["event_id"], first_id.to_string());
    assert_eq!(body["technique_name"], "System Information Discovery");
    assert_eq!(body["src_ip"], ip);

    let fleet = eventually(&s, &viewer, "/attack/techniques", |v| {
        technique(v, "T1082").is_some()
    })
    .await;
    let t = technique(&fleet, "T1082").unwrap();
    assert_eq!(
        (t["count"].as_u64(), t["attackers"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(t["tactics"]
        .as_array()
        .unwrap()
        .contains(&json!("discovery")));
    assert_eq!(
        fleet["techniques"].as_array().unwrap().len(),
        1,
        "whoami has no rule yet"
    );
    assert!(fleet["tactics"].as_array().unwrap().len() > 10);

    // The events behind it, and who.
    let tags = eventually(&s, &viewer, "/attack/tags?technique_id=T1082", |v| {
        v["total"] == 1
    })
    .await;
    assert_eq!(tags["data"][0]["event_id"], first_id.to_string());
    assert_eq!(tags["data"][0]["rule_id"], "test.uname");
    let who = eventually(&s, &viewer, "/attack/techniques/T1082/attackers", |_| true).await;
    assert_eq!(who["attackers"][0]["src_ip"], ip);
    assert_eq!(
        s.get(&viewer, "/attack/techniques/DROP/attackers")
            .await
            .status(),
        422
    );
    assert_eq!(s.get(&viewer, "/attack/tags?ip=nope").await.status(), 422);

    // Per attacker: its own route and the attacker detail (once intel has the row).
    let mine = eventually(&s, &viewer, &format!("/attackers/{ip}/techniques"), |v| {
        technique(v, "T1082").is_some()
    })
    .await;
    assert_eq!(technique(&mine, "T1082").unwrap()["count"], 1);
    let detail = eventually(&s, &viewer, &format!("/attackers/{ip}"), |_| true).await;
    assert_eq!(detail["techniques"][0]["technique_id"], "T1082");
    let other = eventually(&s, &viewer, "/attackers/198.51.100.8", |_| true).await;
    assert_eq!(other["techniques"], json!([]));

    // Downloads: the Navigator layer, STIX 2.1 and MISP of the fleet.
    let r = s.get(&viewer, "/attack/navigator").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains("layer.json"));
    let layer: Value = r.json().await.unwrap();
    assert_eq!(layer["domain"], "enterprise-attack");
    assert!(layer["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["techniqueID"] == "T1082" && t["score"].as_f64() > Some(0.0)));
    let bundle: Value = s.get(&viewer, "/attack/stix").await.json().await.unwrap();
    assert_eq!(bundle["type"], "bundle");
    let objects = bundle["objects"].as_array().unwrap();
    assert!(objects
        .iter()
        .any(|o| o["type"] == "attack-pattern"
            && o["external_references"][0]["external_id"] == "T1082"));
    assert!(objects
        .iter()
        .any(|o| o["type"] == "indicator" && o["pattern"].as_str().unwrap().contains(ip)));
    let misp: Value = s
        .get(&viewer, &format!("/attack/misp?ip={ip}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(misp["Event"]["info"].as_str().unwrap().contains(ip));
    assert_eq!(
        s.get(&viewer, "/attack/stix?ip=203.0.113.99")
            .await
            .status(),
        404,
        "nothing tagged there"
    );
    assert_eq!(
        s.get(
            &viewer,
            &format!("/attack/stix?ip={ip}&campaign_id=00000000-0000-4000-8000-000000000000")
        )
        .await
        .status(),
        422
    );

    // TAXII 2.1 over the stored STIX objects, with the API's tokens.
    let r = taxii(&s, Some(&viewer), "").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/taxii+json"));
    let cols: Value = taxii(&s, Some(&viewer), "api/collections/")
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = cols["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["alias"].as_str().unwrap_or(""))
        .collect();
    assert!(
        ids.contains(&"fleet") && ids.contains(&"indicators"),
        "{cols}"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let all = loop {
        let v: Value = taxii(&s, Some(&viewer), "api/collections/fleet/objects/")
            .await
            .json()
            .await
            .unwrap();
        if v["objects"]
            .as_array()
            .is_some_and(|o| o.iter().any(|o| o["type"] == "attack-pattern"))
        {
            break v;
        }
        assert!(Instant::now() < deadline, "no STIX objects served: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let total = all["objects"].as_array().unwrap().len();
    assert!(total >= 4, "{all}");
    // Paging with limit/next returns every object exactly once.
    let mut seen = Vec::new();
    let mut path = "api/collections/fleet/objects/?limit=2".to_owned();
    loop {
        let page: Value = taxii(&s, Some(&viewer), &path).await.json().await.unwrap();
        for o in page["objects"].as_array().unwrap() {
            seen.push(o["id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(n) if page["more"] == true => {
                path = format!("api/collections/fleet/objects/?limit=2&next={n}")
            }
            _ => break,
        }
    }
    assert_eq!(seen.len(), total);
    let indicators: Value = taxii(&s, Some(&viewer), "api/collections/indicators/objects/")
        .await
        .json()
        .await
        .unwrap();
    assert!(indicators["objects"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["type"] == "indicator"));
    assert_eq!(
        taxii(&s, Some(&viewer), "api/collections/nope/objects/")
            .await
            .status(),
        404
    );

    // Rules: listed; reload is admin-only; a bad set is refused and the old one stays.
    let listed = s
        .get(&viewer, "/attack/rules")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(listed["rules"].as_array().unwrap().len(), 1);
    assert_eq!(listed["rules"][0]["techniques"], json!(["T1082"]));
    let r = s
        .send_json(
            reqwest::Method::POST,
            &viewer,
            "/attack/rules/reload",
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 403);
    std::fs::write(
        rules_dir.path().join("b.toml"),
        WHOAMI.replace("T1033", "T1033.999"),
    )
    .unwrap();
    let r = s
        .send_json(
            reqwest::Method::POST,
            &admin,
            "/attack/rules/reload",
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 422);
    let bad: Value = r.json().await.unwrap();
    let errors = bad["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().unwrap().contains("b.toml:")
                && e.as_str().unwrap().contains("T1033.999")),
        "{bad}"
    );
    let listed = s
        .get(&viewer, "/attack/rules")
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(listed["rules"].as_array().unwrap().len(), 1, "old set kept");
    std::fs::write(rules_dir.path().join("b.toml"), WHOAMI).unwrap();
    let r = s
        .send_json(
            reqwest::Method::POST,
            &admin,
            "/attack/rules/reload",
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["rules"], 2);
    // The running worker tags with the new set at once.
    bus.publish_event(command(ip, "whoami"));
    eventually(&s, &viewer, &format!("/attackers/{ip}/techniques"), |v| {
        technique(v, "T1033").is_some()
    })
    .await;

    let stats = tagger.finish().await.unwrap();
    assert_eq!(stats.new_tags, 2);
    assert!(stats.stix_objects > 0);
    intel.finish().await.unwrap();
}
