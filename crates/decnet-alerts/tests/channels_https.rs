//! Every webhook-style channel against a real local HTTPS receiver: the
//! payload each platform documents (Slack blocks and limits, Teams'
//! envelope with an Adaptive Card validated against the published 1.5
//! schema, PagerDuty v2 validated against PagerDuty's published schema,
//! Mattermost, Discord), the signed webhook's HMAC, and `test()` reporting
//! the true outcome (accepted, 5xx, 4xx, nothing listening), never with a
//! secret in the error.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::Receiver;
use decnet_alerts::alert::{AlertKind, Fact};
use decnet_alerts::channels::{self, Channel, ChannelContext};
use decnet_alerts::{Alert, AlertsConfig, Severity};
use serde_json::Value;

fn channel(rx: &Receiver, section: &str, body: &str) -> Arc<dyn Channel> {
    let ini = format!(
        "[alerts.{section}]\n{body}\nca_file = {}\n",
        rx.identity.ca_file.display()
    );
    let cfg = AlertsConfig::from_ini(&ini).unwrap();
    let ctx = ChannelContext {
        node: "node1".into(),
        link: Some("https://decnet.example/alerts".into()),
    };
    channels::build(&cfg.channels[0], &ctx).unwrap()
}

/// An alert full of attacker-controlled text.
fn hostile_alert() -> Alert {
    let mut a = Alert::test("x");
    a.rule = "command_executed".into();
    a.kind = AlertKind::Escalation {
        from: Some(decnet_alerts::Stage::Login),
    };
    a.severity = Severity::High;
    a.title = "Command run on web01/ssh from 203.0.113.7".into();
    a.summary = "An attacker is running commands on a decoy.".into();
    a.source_ip = Some("203.0.113.7".parse().unwrap());
    a.decky = Some("web01".into());
    a.service = Some("ssh".into());
    a.dedup_key = "command_executed/203.0.113.7".into();
    a.facts = vec![
        Fact::new(
            "command",
            "echo <!channel> @everyone [click](http://evil.example) *bold* & `x`",
        ),
        Fact::new("user", "root"),
    ];
    for i in 0..20 {
        a.facts
            .push(Fact::new(format!("extra{i}"), "v".repeat(3000)));
    }
    a.techniques = vec!["T1059.004".into()];
    a
}

fn chars(v: &Value) -> usize {
    v.as_str().map(|s| s.chars().count()).unwrap_or(0)
}

fn fixture(name: &str) -> Value {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[tokio::test]
async fn slack_blocks_follow_block_kit_limits_and_escape() {
    let rx = Receiver::start().await;
    let ch = channel(
        &rx,
        "slack",
        &format!("url = {}", rx.url("/services/T0/B0/SECRETPATH")),
    );
    ch.send(&hostile_alert()).await.unwrap();
    let req = &rx.wait_for(1, 10).await[0];
    assert_eq!(req.path, "/services/T0/B0/SECRETPATH");
    assert_eq!(
        req.header("content-type").as_deref(),
        Some("application/json")
    );
    let v = req.json();
    assert!(
        chars(&v["text"]) > 0,
        "top-level text is the notification fallback"
    );
    let blocks = v["blocks"].as_array().unwrap();
    assert!(blocks.len() <= 50);
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert!(chars(&blocks[0]["text"]["text"]) <= 150);
    let mut saw_fields = false;
    for b in blocks {
        match b["type"].as_str().unwrap() {
            "section" => {
                if let Some(t) = b.get("text") {
                    assert_eq!(t["type"], "mrkdwn");
                    assert!(chars(&t["text"]) <= 3000);
                }
                if let Some(f) = b.get("fields") {
                    saw_fields = true;
                    let f = f.as_array().unwrap();
                    assert!(!f.is_empty() && f.len() <= 10);
                    for x in f {
                        assert_eq!(x["type"], "mrkdwn");
                        assert!(chars(&x["text"]) <= 2000);
                    }
                }
            }
            "context" => assert!(b["elements"].as_array().unwrap().len() <= 10),
            "header" => {}
            other => panic!("unexpected block {other}"),
        }
    }
    assert!(saw_fields);
    let raw = String::from_utf8_lossy(&req.body);
    assert!(
        !raw.contains("<!channel>"),
        "attacker text cannot mention @channel"
    );
    assert!(raw.contains("&lt;!channel&gt;"));
    assert!(!raw.contains("<http://evil"), "no forged Slack link");
}

#[tokio::test]
async fn teams_card_validates_against_adaptive_card_schema() {
    let rx = Receiver::start().await;
    let ch = channel(
        &rx,
        "teams",
        &format!("url = {}", rx.url("/webhookb2/SECRET")),
    );
    let mut alerts = vec![hostile_alert(), Alert::test("teams")];
    alerts[1].facts.clear();
    alerts[1].summary.clear();
    for a in &alerts {
        ch.send(a).await.unwrap();
    }
    let reqs = rx.wait_for(2, 10).await;
    let schema = fixture("adaptive_card_1.5.json");
    let validator = jsonschema::validator_for(&schema).expect("the published schema compiles");
    for req in reqs {
        let v = req.json();
        assert_eq!(v["type"], "message");
        let att = &v["attachments"][0];
        assert_eq!(
            att["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        let card = &att["content"];
        let errors: Vec<String> = validator
            .iter_errors(card)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "card does not validate: {errors:?}\n{card:#}"
        );
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["version"], "1.5");
    }
    // The validator is not vacuous: a broken card is refused.
    let bad = serde_json::json!({"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": 5, "size": "Huge"}]});
    assert!(!validator.is_valid(&bad));
}

#[tokio::test]
async fn pagerduty_trigger_and_resolve_validate_against_events_v2_schema() {
    let rx = Receiver::start().await;
    rx.respond(
        202,
        r#"{"status":"success","message":"Event processed","dedup_key":"x"}"#,
    );
    let ch = channel(
        &rx,
        "oncall",
        &format!(
            "type = pagerduty\nrouting_key = R0UTINGKEY0123456789abcdef012345\nurl = {}",
            rx.url("/v2/enqueue")
        ),
    );
    let mut trig = hostile_alert();
    trig.severity = Severity::Critical;
    let mut resolve = trig.clone();
    resolve.kind = AlertKind::Resolve;
    let sent = ch.send(&trig).await.unwrap();
    assert_eq!(sent.status, Some(202));
    ch.send(&resolve).await.unwrap();
    let reqs = rx.wait_for(2, 10).await;
    let schema = fixture("pagerduty_events_v2.json");
    let validator = jsonschema::validator_for(&schema).unwrap();
    let declared: Vec<String> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for r in &reqs {
        let v = r.json();
        let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}\n{v:#}");
        for k in v.as_object().unwrap().keys() {
            assert!(declared.contains(k), "{k} is not a documented field");
        }
        assert_eq!(v["routing_key"], "R0UTINGKEY0123456789abcdef012345");
        assert_eq!(v["dedup_key"], "command_executed/203.0.113.7");
    }
    let t = reqs[0].json();
    assert_eq!(t["event_action"], "trigger");
    assert_eq!(t["payload"]["severity"], "critical");
    assert!(chars(&t["payload"]["summary"]) <= 1024);
    let pay_schema = &schema["properties"]["payload"];
    for k in t["payload"].as_object().unwrap().keys() {
        assert!(
            pay_schema["properties"].get(k).is_some(),
            "payload.{k} undocumented"
        );
    }
    assert_eq!(reqs[1].json()["event_action"], "resolve");
    // The schema check has teeth.
    assert!(
        !validator.is_valid(&serde_json::json!({"routing_key": "k", "event_action": "explode"}))
    );

    // A 2xx that is not PagerDuty's success answer is not "delivered".
    rx.respond(200, "<html>proxy login</html>");
    let out = channels::test(&*ch).await;
    assert!(!out.delivered && !out.retryable, "{out:?}");
}

#[tokio::test]
async fn mattermost_and_discord_payloads() {
    let rx = Receiver::start().await;
    let mm = channel(
        &rx,
        "mattermost",
        &format!(
            "url = {}\nusername = decnet\nchannel = soc",
            rx.url("/hooks/SECRET")
        ),
    );
    mm.send(&hostile_alert()).await.unwrap();
    rx.respond(204, "");
    let dc = channel(
        &rx,
        "discord",
        &format!("url = {}", rx.url("/api/webhooks/1/SECRET")),
    );
    dc.send(&hostile_alert()).await.unwrap();
    let reqs = rx.wait_for(2, 10).await;

    let m = reqs[0].json();
    assert_eq!(m["username"], "decnet");
    assert_eq!(m["channel"], "soc");
    let att = &m["attachments"][0];
    assert!(att["color"].as_str().unwrap().starts_with('#'));
    assert!(att["fields"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["title"].is_string() && f["value"].is_string() && f["short"].is_boolean()));
    let raw = String::from_utf8_lossy(&reqs[0].body);
    assert!(
        !raw.contains("[click](http"),
        "no markdown link from attacker text"
    );

    let d = reqs[1].json();
    assert_eq!(d["allowed_mentions"]["parse"], serde_json::json!([]));
    let e = &d["embeds"][0];
    assert!(chars(&e["title"]) <= 256);
    assert!(chars(&e["description"]) <= 4096);
    let fields = e["fields"].as_array().unwrap();
    assert!(fields.len() <= 25);
    let mut total = chars(&e["title"]) + chars(&e["description"]) + chars(&e["footer"]["text"]);
    for f in fields {
        assert!(chars(&f["name"]) <= 256 && chars(&f["value"]) <= 1024);
        total += chars(&f["name"]) + chars(&f["value"]);
    }
    assert!(total <= 6000, "embed total {total}");
    assert!(e["color"].is_u64());
    chrono::DateTime::parse_from_rfc3339(e["timestamp"].as_str().unwrap()).unwrap();
}

#[tokio::test]
async fn signed_webhook_is_verifiable_with_the_shared_secret() {
    use hmac::{Hmac, Mac};
    let rx = Receiver::start().await;
    let secret = "0123456789abcdef-hook-secret";
    let ch = channel(
        &rx,
        "hook",
        &format!(
            "type = webhook\nurl = {}\nsecret = {secret}",
            rx.url("/decnet")
        ),
    );
    let a = hostile_alert();
    ch.send(&a).await.unwrap();
    let req = &rx.wait_for(1, 10).await[0];
    // Independent check: HMAC-SHA256 of the exact body bytes, hex, "sha256=" prefix.
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&req.body);
    let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(req.header("x-decnet-signature"), Some(want));
    assert_eq!(req.header("x-decnet-event").as_deref(), Some("alert"));
    assert_eq!(req.header("x-decnet-delivery"), Some(a.id.to_string()));
    let v = req.json();
    assert_eq!(v["v"], 1);
    assert_eq!(v["topic"], "alert.command_executed");
    assert_eq!(v["type"], "alert");
    assert_eq!(v["id"], a.id.to_string());
    let back: Alert = serde_json::from_value(v["payload"].clone()).unwrap();
    assert_eq!(back, a);
}

#[tokio::test]
async fn test_reports_the_true_outcome_without_secrets() {
    let rx = Receiver::start().await;
    let ch = channel(
        &rx,
        "slack",
        &format!("url = {}", rx.url("/services/T0/B0/TOPSECRETTOKEN")),
    );
    let ok = channels::test(&*ch).await;
    assert!(
        ok.delivered && ok.status == Some(200) && ok.error.is_none(),
        "{ok:?}"
    );
    assert_eq!(rx.count(), 1);

    rx.respond(503, "busy");
    let busy = channels::test(&*ch).await;
    assert!(
        !busy.delivered && busy.retryable && busy.status == Some(503),
        "{busy:?}"
    );
    assert!(busy.error.as_deref().unwrap().starts_with("HTTP 503"));

    rx.respond(404, "no_service");
    let gone = channels::test(&*ch).await;
    assert!(!gone.delivered && !gone.retryable, "{gone:?}");

    rx.stop();
    // The first try may hit the pooled connection the server just reset;
    // either way it is a retryable connection failure with no status.
    let mut e = String::new();
    for _ in 0..2 {
        let down = channels::test(&*ch).await;
        assert!(
            !down.delivered && down.retryable && down.status.is_none(),
            "{down:?}"
        );
        e = down.error.unwrap();
        assert!(e.contains("connection"), "{e}");
    }
    assert!(
        e.contains("connection failed"),
        "nothing listens any more: {e}"
    );
    for out in [&busy.error, &gone.error, &Some(e.clone())] {
        let text = out.clone().unwrap_or_default();
        assert!(
            !text.contains("TOPSECRETTOKEN") && !text.contains("/services/"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn untrusted_certificate_is_refused() {
    let rx = Receiver::start().await;
    // No ca_file: the self-signed receiver must not be trusted.
    let cfg = AlertsConfig::from_ini(&format!("[alerts.slack]\nurl = {}\n", rx.url("/x"))).unwrap();
    let ctx = ChannelContext {
        node: "n".into(),
        link: None,
    };
    let ch = channels::build(&cfg.channels[0], &ctx).unwrap();
    let out = channels::test(&*ch).await;
    assert!(!out.delivered, "{out:?}");
    assert!(out.error.unwrap().to_lowercase().contains("certificate"));
    assert_eq!(rx.count(), 0);
}
