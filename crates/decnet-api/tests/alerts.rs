//! `/api/v1/alerts/*` through the real server with a real decnet-alerts
//! engine on its bus: roles, views without secrets (JSON and log), the
//! channel test's true outcome (a live receiver, a dead channel), an
//! alert raised by a login event on the bus and delivered to a signed
//! webhook received by an HTTP server in this test, its history with the
//! delivery state, and reloads.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use decnet_alerts::config::sections_of_ini;
use decnet_alerts::AlertsConfig;
use decnet_api::alerts::{AlertsSource, Started};
use decnet_bus::Bus;
use decnet_core::{Event, EventKind};
use reqwest::Method;
use serde_json::{json, Value};

const HOOK_TOKEN: &str = "HOOKPATHTOKEN42";
const HMAC_KEY: &str = "HMACSECRETKEY-0123456789";
const DEAD_TOKEN: &str = "DEADSLACKTOKEN77";
const SMTP_PASSWORD: &str = "SMTPPASSWORD-9876";
const SECRETS: [&str; 4] = [HOOK_TOKEN, HMAC_KEY, DEAD_TOKEN, SMTP_PASSWORD];

/// A webhook receiver: records each POST's headers and JSON body.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let got: Arc<Mutex<Vec<(HeaderMap, Value)>>> = Arc::default();
        let g = got.clone();
        let app = axum::Router::new().route(
            "/hook/{token}",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let g = g.clone();
                async move {
                    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    g.lock().unwrap().push((headers, v));
                    "ok"
                }
            }),
        );
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(l, app).await });
        Receiver { port, got }
    }

    fn bodies(&self) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect()
    }
}

/// A closed port: connecting is refused at once.
fn dead_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn ini(rx_port: u16, dead: u16) -> String {
    format!(
        "[alerts]\nretry_base = 10ms\nbreaker_threshold = 100\n\
         [alerts.ops]\ntype = webhook\nurl = http://127.0.0.1:{rx_port}/hook/{HOOK_TOKEN}\nsecret = {HMAC_KEY}\n\
         [alerts.dead]\ntype = slack\nurl = http://127.0.0.1:{dead}/services/{DEAD_TOKEN}\nrules = command_executed\n\
         [alerts.mail]\ntype = smtp\nhost = 127.0.0.1\nport = {dead}\nusername = alerts\npassword = {SMTP_PASSWORD}\nfrom = decnet@example.org\nto = soc@example.org\nrules = command_executed\n"
    )
}

fn login_event(ip: &str) -> Event {
    let mut e = Event::new("web01", "ssh", EventKind::AuthAttempt);
    e.src_ip = ip.parse().unwrap();
    e.src_port = 40000;
    e.dst_ip = "127.0.50.10".parse().unwrap();
    e.dst_port = 22;
    e.fields = json!({"username": "root", "password": "toor", "success": true})
        .as_object()
        .unwrap()
        .clone();
    e
}

fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} leaks a secret ({s}): {text}");
    }
}

async fn until(what: &str, mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The reload source over the text of the moment (a file in production).
fn source_of(current: &Arc<Mutex<String>>) -> AlertsSource {
    let c = current.clone();
    Arc::new(move || {
        let text = c.lock().unwrap().clone();
        AlertsConfig::from_ini(&text)
            .and_then(|_| sections_of_ini(&text))
            .map_err(|e| e.0.iter().map(|e| format!("fleet.ini:1: {e}")).collect())
    })
}

/// A server with an engine started as `serve` starts it (stored edits over
/// the file, history in the store).
async fn server_with_alerts(
    dir: Arc<tempfile::TempDir>,
    current: &Arc<Mutex<String>>,
) -> (common::Server, Arc<Mutex<Option<Started>>>) {
    let text = current.lock().unwrap().clone();
    let (s, st) = common::start_with_alerts(
        dir,
        sections_of_ini(&text).unwrap(),
        Some(source_of(current)),
    )
    .await;
    (s, Arc::new(Mutex::new(Some(st))))
}

async fn stop_with_alerts(s: common::Server, started: Arc<Mutex<Option<Started>>>) {
    let st = started.lock().unwrap().take().unwrap();
    common::stop_with_alerts(s, st).await;
}

async fn json_of(r: reqwest::Response) -> Value {
    assert_eq!(r.status(), 200, "{:?}", r.url().path());
    let text = r.text().await.unwrap();
    assert_no_secret("a response", &text);
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_routes_roles_secrets_test_button_history_and_reload() {
    // No engine in the process: 503.
    let mut bare = common::start().await;
    let t = bare.admin().await;
    assert_eq!(bare.get(&t, "/alerts/rules").await.status(), 503);
    bare.stop().await;

    let rx = Receiver::start().await;
    let dead = dead_port();
    let text = ini(rx.port, dead);
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let current = Arc::new(Mutex::new(text.clone()));
    let (s, started) = server_with_alerts(dir.clone(), &current).await;
    let admin = s.admin().await;
    let viewer = s.viewer(&admin, "watcher").await;

    // Roles: anonymous 401; viewers read; tests and reloads are admin's.
    let r = s
        .client
        .get(s.url("/alerts/channels"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    for path in [
        "/alerts/rules",
        "/alerts/channels",
        "/alerts/history",
        "/alerts/status",
    ] {
        json_of(s.get(&viewer, path).await).await;
    }
    for path in ["/alerts/channels/ops/test", "/alerts/reload"] {
        let r = s.send_json(Method::POST, &viewer, path, json!({})).await;
        assert_eq!(r.status(), 403, "{path}");
    }

    let rules = json_of(s.get(&viewer, "/alerts/rules").await).await;
    let login = rules
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "login_success")
        .expect("built-in rule listed");
    assert_eq!(
        (login["severity"].as_str(), login["enabled"].as_bool()),
        (Some("high"), Some(true))
    );

    let channels = json_of(s.get(&viewer, "/alerts/channels").await).await;
    let names: Vec<&str> = channels
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{channels}");
    let ops = channels
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "ops")
        .unwrap();
    assert_eq!(ops["type"], "webhook");
    assert_eq!(ops["state"]["circuit"], "closed");

    // The test button: the live receiver takes it, signed.
    let ok = json_of(
        s.send_json(Method::POST, &admin, "/alerts/channels/ops/test", json!({}))
            .await,
    )
    .await;
    assert_eq!(ok["delivered"], true, "{ok}");
    assert_eq!(ok["status"], 200);
    {
        let got = rx.got.lock().unwrap();
        let (headers, body) = got.last().expect("the test reached the receiver");
        assert!(headers["x-decnet-signature"]
            .to_str()
            .unwrap()
            .starts_with("sha256="));
        assert_eq!(body["type"], "alert");
    }
    // A dead channel: the true failure, not a pretend success.
    let bad = json_of(
        s.send_json(
            Method::POST,
            &admin,
            "/alerts/channels/dead/test",
            json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(bad["delivered"], false, "{bad}");
    assert!(
        bad["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{bad}"
    );
    let mail = json_of(
        s.send_json(
            Method::POST,
            &admin,
            "/alerts/channels/mail/test",
            json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(mail["delivered"], false, "{mail}");
    let r = s
        .send_json(
            Method::POST,
            &admin,
            "/alerts/channels/nope/test",
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 404);

    // A successful login on a decky → login_success → the webhook, and the
    // history shows the message sent.
    let before = rx.bodies().len();
    s.bus.publish_event(login_event("203.0.113.50"));
    until("the alert at the receiver", async || {
        rx.bodies().len() > before
    })
    .await;
    let alert = rx.bodies().last().unwrap().clone();
    assert_eq!(alert["topic"], "alert.login_success", "{alert}");
    assert_eq!(alert["payload"]["source_ip"], "203.0.113.50", "{alert}");
    let mut page = Value::Null;
    until("history with a sent delivery", async || {
        page = json_of(s.get(&viewer, "/alerts/history?limit=10").await).await;
        page["data"][0]["deliveries"][0]["state"] == "sent"
    })
    .await;
    assert_eq!(page["total"], 1, "{page}");
    let rec = &page["data"][0];
    assert_eq!(rec["alert"]["rule"], "login_success");
    let deliveries = rec["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 1, "only ops takes login_success: {rec}");
    assert_eq!(deliveries[0]["channel"], "ops");
    let id = rec["alert"]["id"].as_str().unwrap();
    let one = json_of(s.get(&viewer, &format!("/alerts/history/{id}")).await).await;
    assert_eq!(one["alert"]["id"], id);
    assert_eq!(
        s.get(&viewer, "/alerts/history/not-a-uuid").await.status(),
        422
    );
    assert_eq!(
        s.get(&viewer, "/alerts/history?limit=0").await.status(),
        422
    );
    let st = json_of(s.get(&viewer, "/alerts/status").await).await;
    assert_eq!(st["running"], true);
    assert!(st["engine"]["alerts"].as_u64().unwrap() >= 1, "{st}");

    // Reload: a broken file changes nothing (422, located); a good one applies.
    *current.lock().unwrap() = format!("{text}[alerts.extra]\ntype = discord\n");
    let r = s
        .send_json(Method::POST, &admin, "/alerts/reload", json!({}))
        .await;
    assert_eq!(r.status(), 422);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("fleet.ini:1:") && body.contains("[alerts.extra] url"),
        "{body}"
    );
    assert_no_secret("a reload error", &body);
    assert_eq!(
        json_of(s.get(&viewer, "/alerts/channels").await)
            .await
            .as_array()
            .unwrap()
            .len(),
        3
    );
    *current.lock().unwrap() = text.replace(
        "[alerts.dead]\ntype = slack\n",
        "[alerts.dead]\ntype = slack\nenabled = false\n",
    );
    json_of(
        s.send_json(Method::POST, &admin, "/alerts/reload", json!({}))
            .await,
    )
    .await;
    let channels = json_of(s.get(&viewer, "/alerts/channels").await).await;
    assert_eq!(
        find(&channels, "name", "dead")["enabled"],
        false,
        "{channels}"
    );

    let doc = json_of(s.client.get(s.url("/openapi.json")).send().await.unwrap()).await;
    for p in [
        "rules",
        "channels",
        "channels/{name}/test",
        "history",
        "history/{alert_id}",
        "status",
        "reload",
    ] {
        assert!(
            doc["paths"].get(format!("/api/v1/alerts/{p}")).is_some(),
            "OpenAPI misses /alerts/{p}"
        );
    }

    edits_through_the_api(&s, &admin, &viewer, &rx).await;

    // Restart on the same store: the history still shows the delivery
    // sent, and the API's edits are still in force.
    let first_id = id.to_owned();
    stop_with_alerts(s, started).await;
    let (s, started) = server_with_alerts(dir.clone(), &current).await;
    let admin = s.admin().await;
    let one = json_of(s.get(&admin, &format!("/alerts/history/{first_id}")).await).await;
    assert_eq!(one["deliveries"][0]["state"], "sent", "{one}");
    assert_eq!(one["deliveries"][0]["attempts"], 1, "{one}");
    let page = json_of(s.get(&admin, "/alerts/history").await).await;
    assert!(page["total"].as_u64().unwrap() >= 2, "{page}");
    let channels = json_of(s.get(&admin, "/alerts/channels").await).await;
    assert_eq!(find(&channels, "name", "ops")["min_severity"], "critical");
    let rules = json_of(s.get(&admin, "/alerts/rules").await).await;
    assert!(
        !rules
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == "ssh_cmd"),
        "{rules}"
    );

    assert_no_secret("the server log", &common::logs_text());
    stop_with_alerts(s, started).await;
}

fn find<'a>(list: &'a Value, key: &str, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c[key] == name)
        .unwrap_or_else(|| panic!("no {name} in {list}"))
}

fn locs(body: &Value) -> Vec<String> {
    body["detail"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    e["loc"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| p.as_str().unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join(".")
                })
                .collect()
        })
        .unwrap_or_default()
}

/// PUT/DELETE of channels and rules: admin only, validated like the file
/// (422 with field paths, nothing changed), secrets write-only, stored,
/// applied at once.
async fn edits_through_the_api(s: &common::Server, admin: &str, viewer: &str, rx: &Receiver) {
    let put =
        async |who: &str, path: &str, body: Value| s.send_json(Method::PUT, who, path, body).await;
    assert_eq!(
        put(viewer, "/alerts/channels/ops", json!({"type": "webhook"}))
            .await
            .status(),
        403
    );
    assert_eq!(
        s.send_json(Method::DELETE, viewer, "/alerts/rules/x", json!({}))
            .await
            .status(),
        403
    );
    // Secrets left out are kept; the answer says secret_set, shows none.
    let ops = json_of(
        put(
            admin,
            "/alerts/channels/ops",
            json!({"type": "webhook", "min_severity": "critical"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (ops["min_severity"].as_str(), ops["secret_set"].as_bool()),
        (Some("critical"), Some(true)),
        "{ops}"
    );
    // Invalid: 422 on the key, nothing changes.
    let r = put(
        admin,
        "/alerts/channels/ops",
        json!({"type": "webhook", "secret": "short", "min_severity": "low"}),
    )
    .await;
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(locs(&body), ["body.secret"], "{body}");
    let r = put(
        admin,
        "/alerts/channels/new",
        json!({"type": "slack", "timeout": [1, {}]}),
    )
    .await;
    assert_eq!(r.status(), 422);
    let channels = json_of(s.get(admin, "/alerts/channels").await).await;
    assert_eq!(find(&channels, "name", "ops")["min_severity"], "critical");
    assert_eq!(channels.as_array().unwrap().len(), 3, "{channels}");

    // Rules: a custom one, a built-in's severity, deletes.
    let rule = json_of(
        put(
            admin,
            "/alerts/rules/ssh_cmd",
            json!({"kinds": ["command"], "services": "ssh", "severity": "critical"}),
        )
        .await,
    )
    .await;
    assert_eq!(rule["severity"], "critical", "{rule}");
    let login = json_of(
        put(
            admin,
            "/alerts/rules/login_success",
            json!({"severity": "low"}),
        )
        .await,
    )
    .await;
    assert_eq!(login["severity"], "low", "{login}");
    let r = put(
        admin,
        "/alerts/rules/login_success",
        json!({"severity": "loud"}),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert_eq!(locs(&r.json().await.unwrap()), ["body.severity"]);
    let r = put(
        admin,
        "/alerts/rules/bad",
        json!({"count": "many", "kinds": "command"}),
    )
    .await;
    assert_eq!(r.status(), 422);
    assert_eq!(locs(&r.json().await.unwrap()), ["body.count"]);
    let rules = json_of(s.get(admin, "/alerts/rules").await).await;
    assert_eq!(find(&rules, "id", "login_success")["severity"], "low");
    assert!(find(&rules, "id", "ssh_cmd")["enabled"].as_bool().unwrap());
    for (path, status) in [
        ("/alerts/rules/login_success", 409),
        ("/alerts/rules/nope", 404),
        ("/alerts/rules/ssh_cmd", 200),
    ] {
        let r = s.send_json(Method::DELETE, admin, path, json!({})).await;
        assert_eq!(r.status(), status, "{path}");
    }
    // Applied at once: a login (now low) no longer reaches ops (critical).
    let before = rx.bodies().len();
    s.bus.publish_event(login_event("203.0.113.51"));
    let mut page = Value::Null;
    until("the second alert in the history", async || {
        page = json_of(s.get(admin, "/alerts/history").await).await;
        page["total"] == 2
    })
    .await;
    assert_eq!(page["data"][0]["alert"]["severity"], "low", "{page}");
    assert_eq!(page["data"][0]["deliveries"], json!([]), "{page}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.bodies().len(), before);
    // Stored for restarts and other servers.
    let stored = s
        .store
        .get_setting(decnet_api::alerts::OVERRIDES_KEY)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored["channels"]["ops"]["min_severity"], "critical");
    // Another server on the same store and bus (its own engine and file)
    // applies an edit on its change notice, long before the safety-net
    // re-read.
    let other_dir = tempfile::tempdir().unwrap();
    let text = ini(rx.port, dead_port());
    let other = decnet_api::alerts::start(
        s.store.clone(),
        s.bus.clone(),
        sections_of_ini(&text).unwrap(),
        None,
        &other_dir.path().join("spool"),
        Default::default(),
    )
    .await
    .unwrap();
    let b = &other.backend;
    let ops_there = || {
        b.handle
            .channels()
            .into_iter()
            .find(|c| c.name == "ops")
            .unwrap()
            .min_severity
            .to_string()
    };
    // Started with the stored edits already laid over its file.
    assert_eq!(ops_there(), "critical");
    assert!(!b.follow_once(&*s.store).await.unwrap(), "nothing new");
    let relaxed = json!({"type": "webhook", "min_severity": "medium"});
    json_of(put(admin, "/alerts/channels/ops", relaxed).await).await;
    until("the edit is applied on the other server", async || {
        ops_there() == "medium"
    })
    .await;
    assert!(
        decnet_api::settings_notice::SAFETY_NET > Duration::from_secs(60),
        "applied by the notice, not by a periodic re-read"
    );
    other.follow.abort();
    b.handle.shutdown().await;
    other.history.finish(Duration::from_secs(2)).await;
    json_of(
        put(
            admin,
            "/alerts/channels/ops",
            json!({"type": "webhook", "min_severity": "critical"}),
        )
        .await,
    )
    .await;
    let doc = json_of(s.client.get(s.url("/openapi.json")).send().await.unwrap()).await;
    assert!(doc["paths"]["/api/v1/alerts/channels/{name}"]["put"].is_object());
    assert!(doc["paths"]["/api/v1/alerts/rules/{id}"]["delete"].is_object());
}
