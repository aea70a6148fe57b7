//! IPv6 attackers through the real pipeline (bus → ingester and intel →
//! store → API): attacker rows keyed by the canonical v6 address, fetched
//! with the address percent-encoded or raw, and the `/logs` address filter.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use decnet_bus::Bus;
use decnet_core::EventKind;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v6_attackers_are_rows_keyed_by_their_address() {
    let s = start().await;
    let admin = s.admin().await;
    let _ingester = start_ingester(&s);
    let _intel = start_intel(&s).await;
    for (ip, user) in [("fd00:a77::66", "root"), ("10.20.0.9", "admin")] {
        let mut e = event("six", "ssh", EventKind::AuthAttempt, ip);
        e.dst_ip = "fd00:dec::1".parse().unwrap();
        decnet_core::event::credential_fields(&mut e.fields, user, "password", b"hunter2");
        e.fields.insert("username".into(), json!(user));
        e.fields.insert("password".into(), json!("hunter2"));
        s.bus.publish_event(e);
    }
    let mut c = event("six", "ssh", EventKind::Command, "fd00:a77::66");
    c.fields.insert("command".into(), json!("id"));
    c.dst_ip = "fd00:dec::1".parse().unwrap();
    s.bus.publish_event(c);

    let list = eventually(&s, &admin, "/attackers", |v| v["total"] == 2).await;
    let ips: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["ip"].as_str().unwrap())
        .collect();
    assert!(ips.contains(&"fd00:a77::66"), "{ips:?}");
    // The dashboard encodes ':' in links; a hand-typed URL may not.
    for path in [
        "/attackers/fd00%3Aa77%3A%3A66",
        "/attackers/fd00:a77::66",
        "/attackers/FD00:A77:0:0::66",
    ] {
        let a: Value = s.get(&admin, path).await.json().await.unwrap();
        assert_eq!(a["ip"], "fd00:a77::66", "{path}: {a}");
        assert_eq!(a["credentials_tried"], 1);
    }
    let uuid = decnet_store::attacker_uuid("fd00:a77::66").to_string();
    let cmds = eventually(&s, &admin, &format!("/attackers/{uuid}/commands"), |v| {
        v["total"] == 1
    })
    .await;
    assert_eq!(cmds["data"][0]["fields"]["command"], "id", "{cmds}");

    // /logs filtered by a v6 source, written non-canonically.
    let logs = eventually(&s, &admin, "/logs?src_ip=FD00:a77:0::66", |v| {
        v["total"] == 2
    })
    .await;
    for e in logs["data"].as_array().unwrap() {
        assert_eq!(e["src_ip"], "fd00:a77::66");
        assert_eq!(e["dst_ip"], "fd00:dec::1");
    }
}
