//! Intel routes over the real pipeline: events published on the bus, the
//! real ingester and intel workers write the store, the API reads it.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use decnet_bus::Bus;
use decnet_core::EventKind;
use serde_json::{json, Value};

fn auth(ip: &str, user: &str, pw: &str, hassh: &str) -> decnet_core::Event {
    let mut e = event("web01", "ssh", EventKind::AuthAttempt, ip);
    decnet_core::event::credential_fields(&mut e.fields, user, "password", pw.as_bytes());
    e.fields.insert("username".into(), json!(user));
    e.fields.insert("password".into(), json!(pw));
    e.fields.insert("hassh".into(), json!(hassh));
    e.fields
        .insert("client_version".into(), json!("SSH-2.0-Go"));
    e
}

/// The real store ingester and intel worker on the server's bus.
async fn pipeline(
    s: &Server,
    cfg: decnet_intel::IntelConfig,
) -> (
    decnet_store::ingest::IngestHandle,
    decnet_intel::IntelHandle,
) {
    (start_ingester(s), start_intel_with(s, cfg).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attackers_identities_credentials_bounty_exports_and_identity_stream() {
    let s = start().await;
    let admin = s.admin().await;
    let (ingester, intel) = pipeline(&s, Default::default()).await;
    // The identity stream, opened before any evidence exists.
    let t = s
        .client
        .post(s.url("/auth/sse-ticket"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let ticket = t.json::<Value>().await.unwrap()["ticket"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .client
        .get(s.url(&format!("/identities/events?ticket={ticket}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut ids = SseReader::new(r);
    let snap = ids.next_event(Duration::from_secs(5)).await.unwrap();
    assert_eq!(snap.event, "snapshot");
    assert!(snap.json()["identities"].as_array().unwrap().is_empty());

    // Two addresses with the same HASSH (one actor), the same password; one runs commands and fetches a URL.
    let hassh = "ec7378c1a92f5a8dde7e8b7a1ddf33d1";
    for ip in ["10.20.0.1", "10.20.0.2"] {
        for i in 0..3 {
            s.bus
                .publish_event(auth(ip, "root", &format!("pw{i}"), hassh));
        }
    }
    let mut c = event("web01", "ssh", EventKind::Command, "10.20.0.1");
    c.fields.insert("command".into(), json!("uname -a"));
    s.bus.publish_event(c);
    let mut d = event("web01", "ssh", EventKind::FileDownload, "10.20.0.1");
    d.fields
        .insert("url".into(), json!("http://evil.example/x.sh"));
    s.bus.publish_event(d);

    let v = eventually(&s, &admin, "/attackers", |v| v["total"] == 2).await;
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    let a: Value = s
        .get(&admin, "/attackers/10.20.0.1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a["ip"], "10.20.0.1");
    assert_eq!(a["credentials_tried"], 3);
    assert_eq!(s.get(&admin, "/attackers/10.99.99.99").await.status(), 404);
    assert_eq!(s.get(&admin, "/attackers/not-an-ip").await.status(), 422);
    // Every row carries a stable uuid, the same in the list and the
    // detail, by which the attacker can be fetched too (DECNET's key).
    let uuid = a["uuid"].as_str().unwrap().to_owned();
    assert_eq!(uuid, decnet_store::attacker_uuid("10.20.0.1").to_string());
    let listed = v["data"].as_array().unwrap();
    assert!(listed.iter().any(|r| r["uuid"] == uuid.as_str()));
    let by_uuid: Value = s
        .get(&admin, &format!("/attackers/{uuid}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(by_uuid["ip"], "10.20.0.1");
    let cmds_by_uuid: Value = s
        .get(&admin, &format!("/attackers/{uuid}/commands"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cmds_by_uuid["total"], 1);
    let unknown = uuid::Uuid::new_v4();
    assert_eq!(
        s.get(&admin, &format!("/attackers/{unknown}"))
            .await
            .status(),
        404
    );
    let cmds: Value = s
        .get(&admin, "/attackers/10.20.0.1/commands")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cmds["total"], 1);
    assert_eq!(cmds["data"][0]["fields"]["command"], "uname -a");
    let arts: Value = s
        .get(&admin, "/attackers/10.20.0.1/artifacts")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(arts["data"][0]["value"], "http://evil.example/x.sh");

    // Exports.
    let r = s
        .get(&admin, "/attackers/10.20.0.1/export?format=stix")
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["type"], "bundle");
    let objs = b["objects"].as_array().unwrap();
    assert!(objs
        .iter()
        .any(|o| o["type"] == "ipv4-addr" && o["value"] == "10.20.0.1"));
    assert!(objs.iter().any(|o| o["type"] == "indicator"
        && o["pattern"] == "[ipv4-addr:value = '10.20.0.1']"
        && o["spec_version"] == "2.1"));
    assert!(objs
        .iter()
        .any(|o| o["pattern"] == "[url:value = 'http://evil.example/x.sh']"));
    let m: Value = s
        .get(&admin, "/attackers/10.20.0.1/export?format=misp")
        .await
        .json()
        .await
        .unwrap();
    let attrs = m["Event"]["Attribute"].as_array().unwrap();
    assert!(attrs
        .iter()
        .any(|a| a["type"] == "ip-src" && a["value"] == "10.20.0.1"));
    assert!(attrs.iter().any(|a| a["type"] == "url"));
    assert_eq!(
        s.get(&admin, "/attackers/10.20.0.1/export?format=pdf")
            .await
            .status(),
        422
    );

    // Credentials and reuse.
    let cr: Value = s
        .get(&admin, "/credentials?ip=10.20.0.2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cr["total"], 3);
    assert!(cr["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["principal"] == "root"));
    let reuse: Value = s
        .get(&admin, "/credential-reuse")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        reuse["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["secret_printable"] == "pw0" && r["ips"] == 2),
        "{reuse}"
    );
    let bounty: Value = s
        .get(&admin, "/bounty?kind=url")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bounty["total"], 1);

    // Identity linking both addresses, its observations, and the live stream event.
    let ids_page = eventually(&s, &admin, "/identities", |v| v["total"] == 1).await;
    let ident = &ids_page["data"][0];
    let mut members: Vec<String> = ident["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect();
    members.sort();
    assert_eq!(members, ["10.20.0.1", "10.20.0.2"]);
    let id = ident["id"].as_str().unwrap();
    let one: Value = s
        .get(&admin, &format!("/identities/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["id"], id);
    let obs: Value = s
        .get(&admin, &format!("/identities/{id}/observations"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(obs["total"], 2);
    assert_eq!(
        s.get(&admin, "/identities/00000000-0000-0000-0000-000000000000")
            .await
            .status(),
        404
    );
    let f = ids.next_event(Duration::from_secs(10)).await.unwrap();
    assert_eq!(f.event, "formed", "{f:?}");
    assert_eq!(f.json()["topic"], "identity.formed");
    // Campaign routes answer (whether or not one formed from this little evidence).
    let camp: Value = s.get(&admin, "/campaigns").await.json().await.unwrap();
    assert!(camp["total"].is_u64());
    assert_eq!(
        s.get(&admin, "/campaigns/00000000-0000-0000-0000-000000000000")
            .await
            .status(),
        404
    );
    // A new identity appears in the snapshot of a new stream.
    let r = s
        .client
        .get(s.url("/identities/events"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    let mut rd = SseReader::new(r);
    let snap = rd.next_event(Duration::from_secs(5)).await.unwrap();
    assert_eq!(snap.json()["identities"][0]["id"], id);
    drop(rd);
    drop(ids);
    intel.finish().await.unwrap();
    ingester.finish().await.unwrap();
}

#[tokio::test]
async fn attacker_event_stream_filters_by_address() {
    let s = start().await;
    let admin = s.admin().await;
    s.store
        .insert_events(&[event("web01", "ssh", EventKind::Connect, "10.30.0.1")])
        .await
        .unwrap();
    // Not an attacker yet (no intel row): 404 before any 200.
    let r = s
        .client
        .get(s.url("/attackers/10.30.0.1/events"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let intel = start_intel(&s).await;
    s.bus
        .publish_event(event("web01", "ssh", EventKind::Connect, "10.30.0.1"));
    eventually(&s, &admin, "/attackers/10.30.0.1", |_| true).await;
    let r = s
        .client
        .get(s.url("/attackers/10.30.0.1/events"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut rd = SseReader::new(r);
    let snap = rd.next_event(Duration::from_secs(5)).await.unwrap();
    assert_eq!(snap.event, "snapshot");
    assert_eq!(snap.json()["attacker"]["ip"], "10.30.0.1");
    s.bus
        .publish_event(event("web01", "ssh", EventKind::Connect, "10.30.0.9"));
    let mine = event("web01", "http", EventKind::Request, "10.30.0.1");
    let want = mine.id.to_string();
    s.bus.publish_event(mine);
    let f = rd.next_event(Duration::from_secs(5)).await.unwrap();
    assert_eq!(f.event, "event");
    assert_eq!(
        f.json()["id"],
        want.as_str(),
        "other addresses must be filtered out"
    );
    drop(rd);
    intel.finish().await.unwrap();
}

#[tokio::test]
async fn transcripts_and_artifacts_download_safely() {
    let s = start().await;
    let admin = s.admin().await;
    let data = s.dir.path();
    let sid = uuid::Uuid::now_v7();
    let tdir = data.join("deckies").join("web01").join("transcripts");
    std::fs::create_dir_all(&tdir).unwrap();
    let cast = "{\"version\": 2, \"width\": 80, \"height\": 24}\n[0.1, \"o\", \"$ \"]\n";
    std::fs::write(tdir.join(format!("{sid}.cast")), cast).unwrap();
    let list: Value = s.get(&admin, "/transcripts").await.json().await.unwrap();
    assert_eq!(list[0]["session_id"], sid.to_string());
    assert_eq!(list[0]["decky"], "web01");
    let r = s.get(&admin, &format!("/transcripts/web01/{sid}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-asciicast");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(r.text().await.unwrap(), cast);
    // An uploaded artifact, even an HTML one, is served as an opaque attachment.
    let body = b"<html><script>alert(1)</script></html>";
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body));
    std::fs::create_dir_all(data.join("artifacts")).unwrap();
    std::fs::write(data.join("artifacts").join(&sha), body).unwrap();
    let r = s.get(&admin, &format!("/artifacts/{sha}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(
        r.headers()["content-disposition"].to_str().unwrap(),
        format!("attachment; filename=\"{sha}.bin\"")
    );
    assert_eq!(&r.bytes().await.unwrap()[..], body);
    // Traversal and junk never reach the filesystem outside the data dirs.
    std::fs::write(data.join("secret.txt"), "nope").unwrap();
    for path in [
        "/artifacts/..%2Fsecret.txt".to_string(),
        "/artifacts/%2E%2E%2Fsecret.txt".to_string(),
        format!("/artifacts/{}", "A".repeat(64)),
        format!("/transcripts/..%2F..%2F/{sid}"),
        format!("/transcripts/.hidden/{sid}"),
        "/transcripts/web01/not-a-uuid".to_string(),
    ] {
        let r = s.get(&admin, &path).await;
        assert!(
            r.status() == 422 || r.status() == 404,
            "{path}: {}",
            r.status()
        );
        assert_ne!(r.text().await.unwrap(), "nope");
    }
    assert_eq!(
        s.get(&admin, &format!("/artifacts/{}", "0".repeat(64)))
            .await
            .status(),
        404
    );
}

/// Attackers located with the test databases (`scripts/geo/make_test_mmdb.py`):
/// country, city and ASN on the attacker and identity, the country filter,
/// per-country counts, and loopback addresses the files do not cover
/// shown as private.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attackers_are_located_with_the_geoip_databases() {
    let s = start().await;
    let admin = s.admin().await;
    let testdata =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../decnet-intel/testdata");
    let geo = decnet_intel::geo::GeoDb::open(&[
        testdata.join("geo-test-city.mmdb"),
        testdata.join("geo-test-asn.mmdb"),
    ])
    .unwrap();
    let _workers = pipeline(
        &s,
        decnet_intel::IntelConfig {
            geo: Some(std::sync::Arc::new(geo)),
            batch_wait: Duration::from_millis(20),
            ..Default::default()
        },
    )
    .await;
    // Two German addresses sharing a rare fingerprint (one identity), one
    // Brazilian, one loopback address the databases do not cover.
    let hassh = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
    for ip in ["127.0.77.10", "127.0.77.11", "127.0.78.20", "127.0.5.5"] {
        for i in 0..2 {
            s.bus
                .publish_event(auth(ip, "oracle", &format!("Geo-Pass-{i}"), hassh));
        }
    }
    eventually(&s, &admin, "/attackers", |v| v["total"] == 4).await;

    let de: Value = s
        .get(&admin, "/attackers/127.0.77.10")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(de["geo"]["country"], "DE", "{de}");
    assert_eq!(de["geo"]["country_name"], "Germany");
    assert_eq!(de["geo"]["city"], "Berlin");
    assert_eq!(de["geo"]["asn"], 64501);
    assert_eq!(de["geo"]["as_org"], "Example Transit DE");
    assert_eq!(de["geo"]["private"], false);
    let lo: Value = s
        .get(&admin, "/attackers/127.0.5.5")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(lo["geo"]["private"], true, "{lo}");
    assert!(lo["geo"].get("country").is_none(), "{lo}");

    let countries: Value = s
        .get(&admin, "/attackers/countries")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        countries["data"],
        json!([
            {"country": "DE", "attackers": 2},
            {"country": "BR", "attackers": 1},
            {"country": "private", "attackers": 1},
        ])
    );
    let only_br: Value = s
        .get(&admin, "/attackers?country=BR")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(only_br["total"], 1);
    assert_eq!(only_br["data"][0]["ip"], "127.0.78.20");
    let private: Value = s
        .get(&admin, "/attackers?country=private")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(private["data"][0]["ip"], "127.0.5.5");
    assert_eq!(
        s.get(&admin, &format!("/attackers?country={}", "X".repeat(17)))
            .await
            .status(),
        422
    );

    // The identity of all four (same rare fingerprint and user) lists their places.
    let de = eventually(&s, &admin, "/attackers/127.0.77.10", |v| {
        v["identity_id"].is_string()
    })
    .await;
    let id = de["identity_id"].as_str().unwrap();
    let ident: Value = eventually(&s, &admin, &format!("/identities/{id}"), |v| {
        v["members"].as_array().is_some_and(|m| m.len() == 4)
    })
    .await;
    let places: Vec<(Option<&str>, bool)> = ident["geo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["country"].as_str(), g["private"] == true))
        .collect();
    assert_eq!(
        places,
        [(Some("DE"), false), (Some("BR"), false), (None, true)],
        "{ident}"
    );
}
