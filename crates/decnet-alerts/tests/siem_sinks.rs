//! SIEM outputs end to end on a bus: a rotating file, newline-delimited
//! TCP and TLS to real listeners, NDJSON over HTTPS, and Splunk HEC
//! (`Authorization: Splunk <token>`, one envelope per record) to a real
//! HTTPS receiver; a sink that is down is retried and its drops counted.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{event, identity, until, Receiver};
use decnet_alerts::config::SiemConfig;
use decnet_alerts::siem::Outputs;
use decnet_alerts::AlertsConfig;
use decnet_bus::{Bus, MemoryBus};
use decnet_core::EventKind;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;

fn siem(ini: &str) -> Vec<SiemConfig> {
    AlertsConfig::from_ini(ini).unwrap().siem
}

fn publish(bus: &MemoryBus, n: usize) {
    for i in 0..n {
        bus.publish_event(event(
            EventKind::Command,
            "203.0.113.7",
            json!({"command": format!("echo {i}")}),
        ));
    }
}

#[tokio::test]
async fn file_sink_rotates_and_keeps_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out/ecs.jsonl");
    let cfg = siem(&format!(
        "[siem.f]\nformat = ecs\nsink = file\npath = {}\nmax_bytes = 4096\nkeep = 100\nflush_interval = 5ms\n",
        path.display()
    ));
    let bus = MemoryBus::new();
    let dynbus: Arc<dyn Bus> = bus.clone();
    let out = Outputs::start(&dynbus, &cfg, "n1").unwrap();
    publish(&bus, 200);
    until("written", 20, || out.states()[0].written == 200).await;
    out.stop().await;
    let mut files: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() > 3, "rotated into several files: {files:?}");
    let mut lines = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(
            text.len() as u64 <= 4096 + 2048,
            "{} is {} bytes",
            f.display(),
            text.len()
        );
        for l in text.lines() {
            let v: Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["event"]["category"], json!(["process"]));
            lines += 1;
        }
    }
    assert_eq!(lines, 200);
}

async fn tcp_listener_lines(
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            let tx = tx.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let reader: Box<dyn tokio::io::AsyncRead + Unpin + Send> = match tls {
                    Some(cfg) => Box::new(
                        tokio_rustls::TlsAcceptor::from(cfg)
                            .accept(s)
                            .await
                            .unwrap(),
                    ),
                    None => Box::new(s),
                };
                let mut lines = tokio::io::BufReader::new(reader).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    let _ = tx.send(l);
                }
            });
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn tcp_and_tls_sinks_deliver_lines() {
    let id = identity();
    let (plain, mut plain_rx) = tcp_listener_lines(None).await;
    let (tls, mut tls_rx) = tcp_listener_lines(Some(id.server.clone())).await;
    let cfg = siem(&format!(
        "[siem.t]\nformat = ocsf\nsink = tcp\naddress = {plain}\nflush_interval = 5ms\n\
         [siem.s]\nformat = rfc5424\nsink = tls\naddress = {tls}\nca_file = {}\nflush_interval = 5ms\n",
        id.ca_file.display()
    ));
    let bus = MemoryBus::new();
    let dynbus: Arc<dyn Bus> = bus.clone();
    let out = Outputs::start(&dynbus, &cfg, "n1").unwrap();
    publish(&bus, 50);
    for _ in 0..50 {
        let l = tokio::time::timeout(Duration::from_secs(10), plain_rx.recv())
            .await
            .unwrap()
            .unwrap();
        let v: Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["class_uid"], 1007);
        let l = tokio::time::timeout(Duration::from_secs(10), tls_rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(l.starts_with("<134>1 ") && l.contains(" command "), "{l}");
    }
    out.stop().await;
}

#[tokio::test]
async fn splunk_hec_and_ndjson_over_https() {
    let rx = Receiver::start().await;
    rx.respond(200, r#"{"text":"Success","code":0}"#);
    let cfg = siem(&format!(
        "[siem.splunk]\nformat = ecs\nsink = splunk_hec\nurl = {}\ntoken = 11111111-2222-3333-4444-555555555555\nindex = honeypot\nca_file = {ca}\nbatch_size = 20\nflush_interval = 5ms\n\
         [siem.push]\nformat = json\nsink = http\nurl = {}\nca_file = {ca}\nflush_interval = 5ms\n",
        rx.url("/services/collector/event"),
        rx.url("/ingest"),
        ca = rx.identity.ca_file.display()
    ));
    let bus = MemoryBus::new();
    let dynbus: Arc<dyn Bus> = bus.clone();
    let out = Outputs::start(&dynbus, &cfg, "n1").unwrap();
    publish(&bus, 100);
    until("written", 20, || {
        out.states().iter().all(|s| s.written == 100)
    })
    .await;
    let reqs = rx.requests();
    let mut hec = 0;
    let mut nd = 0;
    for r in &reqs {
        let text = String::from_utf8(r.body.to_vec()).unwrap();
        if r.path == "/services/collector/event" {
            assert_eq!(
                r.header("authorization").as_deref(),
                Some("Splunk 11111111-2222-3333-4444-555555555555")
            );
            // HEC accepts concatenated JSON objects; we send one per line.
            for l in text.lines() {
                let v: Value = serde_json::from_str(l).unwrap();
                assert!(v["time"].as_f64().unwrap() > 1.7e9);
                assert_eq!(v["host"], "web01");
                assert_eq!(v["source"], "decnet");
                assert_eq!(v["sourcetype"], "decnet:ecs");
                assert_eq!(v["index"], "honeypot");
                assert!(
                    v["fields"]
                        .as_object()
                        .unwrap()
                        .values()
                        .all(Value::is_string),
                    "indexed fields are strings"
                );
                assert_eq!(v["event"]["event"]["action"], "command");
                hec += 1;
            }
            assert!(text.lines().count() <= 20, "batch_size respected");
        } else {
            assert_eq!(
                r.header("content-type").as_deref(),
                Some("application/x-ndjson")
            );
            nd += text.lines().count();
        }
    }
    assert_eq!((hec, nd), (100, 100));
    out.stop().await;
}

#[tokio::test]
async fn a_down_sink_retries_then_catches_up_and_refusals_are_counted() {
    let rx = Receiver::start().await;
    rx.respond(503, r#"{"text":"Server is busy","code":9}"#);
    let cfg = siem(&format!(
        "[siem.splunk]\nformat = ocsf\nsink = splunk_hec\nurl = {}\ntoken = tok\nca_file = {}\nflush_interval = 5ms\nretry_max = 50ms\n",
        rx.url("/services/collector/event"),
        rx.identity.ca_file.display()
    ));
    let bus = MemoryBus::new();
    let dynbus: Arc<dyn Bus> = bus.clone();
    let out = Outputs::start(&dynbus, &cfg, "n1").unwrap();
    publish(&bus, 10);
    until("retries", 20, || out.states()[0].errors >= 3).await;
    assert!(!out.states()[0].healthy);
    rx.respond(200, r#"{"text":"Success","code":0}"#);
    until("caught up", 20, || out.states()[0].written == 10).await;
    // A token HEC refuses is not retried forever: the batch is dropped, counted.
    rx.respond(403, r#"{"text":"Invalid token","code":4}"#);
    publish(&bus, 5);
    until("refused", 20, || out.states()[0].dropped_refused == 5).await;
    let st = &out.states()[0];
    assert!(st.last_error.as_deref().unwrap().contains("403"));
    assert!(!st.last_error.as_deref().unwrap().contains("tok\""));
    out.stop().await;
}
