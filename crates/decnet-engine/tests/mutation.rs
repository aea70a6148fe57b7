//! Persona mutation never cuts a session in progress: a telnet shell open
//! before the re-roll still answers afterwards (as the old host), while a
//! new connection meets the new persona; the schedule re-rolls on its own.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use decnet_bus::{Bus, Delivery, MemoryBus};
use decnet_engine::{EngineConfig, Fleet};
use decnet_services::{Limits, Registry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const OFFSET: u16 = 43000;
const ADDR: &str = "127.0.76.10";

/// Reads until `needle` shows up; returns everything read up to it.
async fn until(s: &mut TcpStream, needle: &str) -> String {
    let mut acc = Vec::new();
    let mut buf = [0u8; 2048];
    let found = tokio::time::timeout(Duration::from_secs(5), async {
        while !acc.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed waiting for {needle:?}");
            acc.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    let text = String::from_utf8_lossy(&acc).into_owned();
    assert!(found.is_ok(), "no {needle:?} in {text:?}");
    text
}

fn short(host: &str) -> &str {
    host.split('.').next().unwrap()
}

#[tokio::test]
async fn mutation_keeps_open_sessions_and_new_ones_see_the_new_persona() {
    let dir = tempfile::tempdir().unwrap();
    let bus: Arc<dyn Bus> = MemoryBus::new();
    let fleet = Fleet::new(
        EngineConfig {
            data_dir: dir.path().to_owned(),
            port_offset: OFFSET,
            limits: Limits {
                auth_fail_delay: Duration::from_millis(10),
                ..Limits::default()
            },
        },
        Registry::builtin(),
        bus.clone(),
    );
    let text = format!("[m]\nip = {ADDR}\nservices = telnet\ndistro = debian\n");
    let (spec, _) = decnet_core::fleet::parse_str(&text).unwrap();
    let before = fleet.deploy(spec.deckies[0].clone()).await.unwrap();
    let old = short(&before.hostname).to_owned();
    let mut mutated = bus
        .subscribe("decky.m.mutated", Delivery::Lossless)
        .unwrap();

    // An attacker logged in before the re-roll.
    let mut held = TcpStream::connect((ADDR, 23 + OFFSET)).await.unwrap();
    until(&mut held, &format!("{old} login: ")).await;
    held.write_all(b"root\r\n").await.unwrap();
    until(&mut held, "Password: ").await;
    held.write_all(b"admin\r\n").await.unwrap();
    until(&mut held, &format!("root@{old}:~# ")).await;

    let after = fleet.mutate("m").await.unwrap();
    let new = short(&after.hostname).to_owned();
    assert_ne!(new, old);
    assert_eq!(after.generation, before.generation + 1);
    assert!(after.mutated_at.is_some());
    assert_eq!(after.retired_sessions, 1, "the open session is kept");

    let event = tokio::time::timeout(Duration::from_secs(5), mutated.recv())
        .await
        .unwrap()
        .unwrap();
    let decnet_bus::Payload::Json(payload) = &event.payload else {
        panic!("mutated carries JSON");
    };
    assert_eq!(payload["generation"], after.generation);
    assert_eq!(payload["old"]["hostname"], before.hostname.as_str());
    assert_eq!(payload["new"]["hostname"], after.hostname.as_str());
    assert_eq!(payload["sessions_kept"], 1);

    // The old session still answers, as the host it logged into.
    held.write_all(b"hostname\r\n").await.unwrap();
    let out = until(&mut held, &format!("root@{old}:~# ")).await;
    assert!(out.contains(&format!("\r\n{old}\r\n")), "{out:?}");

    // A new connection meets the new persona on the same port.
    let mut fresh = TcpStream::connect((ADDR, 23 + OFFSET)).await.unwrap();
    until(&mut fresh, &format!("{new} login: ")).await;
    drop(fresh);

    // The schedule: one unit (a second here) after the first look, due.
    fleet.set_mutate_interval("m", Some(1)).await.unwrap();
    let mut last = BTreeMap::new();
    fleet.mutate_due(&mut last, Duration::from_secs(1)).await;
    let gen_now = |f: Arc<Fleet>| async move { f.summary().await[0].generation };
    assert_eq!(
        gen_now(fleet.clone()).await,
        after.generation,
        "not due yet"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    fleet.mutate_due(&mut last, Duration::from_secs(1)).await;
    assert_eq!(gen_now(fleet.clone()).await, after.generation + 1);

    // Two re-rolls later the first session still works.
    held.write_all(b"whoami\r\n").await.unwrap();
    let out = until(&mut held, &format!("root@{old}:~# ")).await;
    assert!(out.contains("\r\nroot\r\n"), "{out:?}");
    held.write_all(b"exit\r\n").await.unwrap();
    drop(held);
    fleet.teardown("m").await.unwrap();
    fleet.shutdown().await;
}
