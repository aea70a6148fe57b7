//! DECNET compatibility of what the log says: real clients (tokio-postgres,
//! rumqttc, reqwest, lettre) against deckies, assertions on the RFC 5424
//! lines `decnet.log` gets for their events (the event log writes them with
//! the same `format_event`), matched the way DECNET's live tests match:
//! the event name as a substring, fields as `k="v"`.
#![allow(clippy::unwrap_used)]

mod db_common;

use std::sync::Arc;
use std::time::Duration;

use db_common::deploy;
use decnet_core::syslog::format_event;
use decnet_core::{Event, EventKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn host_port(addr: &str) -> (String, u16) {
    let (h, p) = addr.split_once(':').unwrap();
    (h.to_owned(), p.parse().unwrap())
}

/// The first line that mentions `name` anywhere, as DECNET's
/// `assert_rfc5424(event_type=…)` picks it.
fn first_line_naming(events: &[Arc<Event>], service: &str, name: &str) -> String {
    events
        .iter()
        .map(|e| format_event(e))
        .find(|l| l.contains(&format!(" {service} ")) && l.contains(name))
        .unwrap_or_else(|| {
            let all: Vec<String> = events.iter().map(|e| format_event(e)).collect();
            panic!("no {service} line naming {name}:\n{}", all.join("\n"))
        })
}

#[tokio::test]
async fn postgres_startup_is_logged_with_or_without_a_password() {
    let mut env = deploy("127.0.66.10", "services = postgres\ndistro = debian\n").await;
    let (host, port) = host_port(&env.addr(5432));
    let cfg = format!(
        "host={host} port={port} user=dbattacker password=cracked dbname=secrets application_name=exfil connect_timeout=5"
    );
    assert!(tokio_postgres::connect(&cfg, tokio_postgres::NoTls)
        .await
        .is_err());
    let startup = format_event(&*env.next(EventKind::Request).await);
    assert!(
        startup.contains(" postgres - request [relay@55555 "),
        "{startup}"
    );
    for kv in [
        r#"event_type="startup""#,
        r#"user="dbattacker""#,
        r#"username="dbattacker""#,
        r#"database="secrets""#,
        r#"application_name="exfil""#,
    ] {
        assert!(startup.contains(kv), "{kv} in {startup}");
    }
    let auth = format_event(&*env.next(EventKind::AuthAttempt).await);
    for kv in [
        r#"event_type="auth""#,
        r#"outcome="failure""#,
        r#"success="false""#,
        r#"username="dbattacker""#,
    ] {
        assert!(auth.contains(kv), "{kv} in {auth}");
    }

    // A client that leaves once asked for a password still leaves its
    // StartupMessage behind (and no login attempt).
    let mut body = 196_608u32.to_be_bytes().to_vec(); // protocol 3.0
    for (k, v) in [("user", "scout"), ("database", "hr")] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    let mut c = TcpStream::connect(env.addr(5432)).await.unwrap();
    c.write_all(&msg).await.unwrap();
    let mut reply = [0u8; 1];
    c.read_exact(&mut reply).await.unwrap();
    assert_eq!(reply[0], b'R', "an authentication request");
    drop(c);
    let seen = env.drain(Duration::from_millis(800)).await;
    assert!(
        seen.iter().any(|e| e.kind == EventKind::Disconnect),
        "{seen:?}"
    );
    let line = first_line_naming(&seen, "postgres", "startup");
    assert!(line.contains(r#"user="scout""#), "{line}");
    assert!(line.contains(r#"database="hr""#), "{line}");
    assert!(
        !seen.iter().any(|e| e.kind == EventKind::AuthAttempt),
        "{seen:?}"
    );
    env.stop().await;
}

#[tokio::test]
async fn mqtt_anonymous_connect_is_an_auth_attempt_and_subscribe_is_named() {
    use rumqttc::{AsyncClient, Event as MqttEvent, Incoming, MqttOptions, QoS};
    let mut env = deploy("127.0.66.11", "services = mqtt\n").await;
    let (host, port) = host_port(&env.addr(1883));
    let (client, mut ev) = AsyncClient::new(MqttOptions::new("evil-scanner-9000", host, port), 10);
    client.subscribe("plant/#", QoS::AtMostOnce).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut subacked = false;
    while !subacked && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(2), ev.poll()).await {
            Ok(Ok(MqttEvent::Incoming(Incoming::SubAck(_)))) => subacked = true,
            Ok(Ok(_)) => {}
            other => panic!("mqtt: {other:?}"),
        }
    }
    assert!(subacked);
    let auth = format_event(&*env.next(EventKind::AuthAttempt).await);
    for kv in [
        " mqtt - auth_attempt [",
        r#"event_type="auth""#,
        r#"client_id="evil-scanner-9000""#,
        r#"username="""#,
        r#"anonymous="true""#,
        r#"outcome="success""#,
    ] {
        assert!(auth.contains(kv), "{kv} in {auth}");
    }
    let sub = format_event(&*env.next(EventKind::Command).await);
    assert!(sub.contains(r#"event_type="subscribe""#), "{sub}");
    assert!(sub.contains(r#"topic="plant/#""#), "{sub}");
    env.stop().await;
}

#[tokio::test]
async fn mqtt_anonymous_connect_refused_when_a_login_is_configured() {
    use rumqttc::{AsyncClient, MqttOptions};
    let mut env = deploy(
        "127.0.66.12",
        "services = mqtt\n[t.mqtt]\nuser = iot\npassword = Zx9-not-guessed\n",
    )
    .await;
    let (host, port) = host_port(&env.addr(1883));
    let (_client, mut ev) = AsyncClient::new(MqttOptions::new("hax0r", host, port), 10);
    // The broker refuses: the event loop reports it as an error.
    let refused = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if ev.poll().await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(refused.is_ok(), "CONNACK refusal");
    let auth = format_event(&*env.next(EventKind::AuthAttempt).await);
    assert!(auth.contains(r#"client_id="hax0r""#), "{auth}");
    assert!(auth.contains(r#"outcome="failure""#), "{auth}");
    env.stop().await;
}

#[tokio::test]
async fn https_first_request_line_is_the_http_request_not_the_fingerprint() {
    let mut env = deploy("127.0.66.13", "services = https\n").await;
    let c = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let r = c
        .get(format!("https://{}/secret/file.txt", env.addr(443)))
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("server"));
    let seen = env.drain(Duration::from_millis(800)).await;
    let first = first_line_naming(&seen, "https", "request");
    assert!(first.contains(" https - request ["), "{first}");
    assert!(first.contains(r#"method="GET""#), "{first}");
    assert!(first.contains(r#"path="/secret/file.txt""#), "{first}");
    let hello = first_line_naming(&seen, "https", "tls_client_hello");
    assert!(hello.contains(" https - scan ["), "{hello}");
    assert!(
        hello.contains(r#"event_type="tls_client_hello""#),
        "{hello}"
    );
    assert!(hello.contains(" ja3=\""), "{hello}");
    env.stop().await;
}

#[tokio::test]
async fn smtp_ehlo_is_named() {
    use lettre::{AsyncSmtpTransport, Tokio1Executor};
    let mut env = deploy("127.0.66.14", "services = smtp\n").await;
    let (host, port) = host_port(&env.addr(25));
    let smtp: AsyncSmtpTransport<Tokio1Executor> =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .hello_name(lettre::transport::smtp::extension::ClientId::Domain(
                "attacker.example.com".into(),
            ))
            .build();
    assert!(smtp.test_connection().await.unwrap());
    let seen = env.drain(Duration::from_millis(800)).await;
    let ehlo = first_line_naming(&seen, "smtp", "ehlo");
    assert!(ehlo.contains(" smtp - command ["), "{ehlo}");
    assert!(
        ehlo.contains(r#"command="EHLO attacker.example.com""#),
        "{ehlo}"
    );
    env.stop().await;
}
