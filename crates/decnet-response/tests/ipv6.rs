//! IPv6 attackers: bans keyed by the v6 address (/128), the blocklist
//! line, CrowdSec decisions (`scope: Ip`, v6 value) over real HTTP, and the
//! nftables backend putting them in `banned6` of the real `nft`, inside a
//! network namespace of the test's own.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use decnet_core::EventKind;
use decnet_response::api;
use decnet_response::backend::{Backend, Enforce, Nftables};

#[tokio::test]
async fn v6_attacker_is_banned_listed_and_served_as_a_crowdsec_decision() {
    let g = rig(&[
        ("ban_on", "auth_attempt"),
        ("backends", "nftables, blocklist, crowdsec"),
        ("bouncer_key", "fw0:0123456789abcdef0123"),
    ])
    .await;
    let b =
        g.r.on_event(&ev("fd00:a77::66", "ssh", EventKind::AuthAttempt))
            .expect("a v6 auth attempt bans");
    assert_eq!(b.value.to_string(), "fd00:a77::66/128");
    // Another address of the same /64 is a different attacker.
    assert!(g
        .r
        .on_event(&ev("fd00:a77::66", "ssh", EventKind::AuthAttempt))
        .is_none());
    let other =
        g.r.on_event(&ev("fd00:a77::67", "ssh", EventKind::AuthAttempt))
            .expect("a second v6 attacker");
    assert_eq!(other.value.to_string(), "fd00:a77::67/128");
    g.r.manual_ban(
        "admin",
        "2001:db8:bad::/48",
        Some(Duration::from_secs(90)),
        "v6 range",
    )
    .unwrap();
    assert_eq!(
        g.r.blocklist_txt(),
        "2001:db8:bad::/48\nfd00:a77::66\nfd00:a77::67\n"
    );

    let base = serve(g.r.clone()).await;
    let key = api::create_bouncer(&g.r, "admin", "fw1").unwrap().api_key;
    // As a bouncer asks: its key in X-Api-Key, JSON back.
    let bouncer_get = |path: &str| {
        reqwest::Client::new()
            .get(format!("{base}{path}"))
            .header("X-Api-Key", key.clone())
            .send()
    };
    let v: serde_json::Value = bouncer_get("/v1/decisions/stream?startup=true")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new = v["new"].as_array().unwrap();
    let ip = new.iter().find(|d| d["value"] == "fd00:a77::66").unwrap();
    assert_eq!(ip["scope"], "Ip");
    assert_eq!(ip["type"], "ban");
    let range = new
        .iter()
        .find(|d| d["value"] == "2001:db8:bad::/48")
        .unwrap();
    assert_eq!(range["scope"], "Range");
    // A bouncer's live lookup of one v6 address (inside the banned range).
    let v: serde_json::Value = bouncer_get("/v1/decisions?ip=2001:db8:bad::1")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v[0]["value"], "2001:db8:bad::/48", "{v}");
}

fn nft_in_own_netns(script: impl FnOnce() -> String + Send + 'static) -> Option<String> {
    if !nix::unistd::geteuid().is_root() || Command::new("nft").arg("--version").output().is_err() {
        return None;
    }
    // A thread of its own in a fresh network namespace: nft (a child of this
    // thread) sees only that namespace, which vanishes with the thread.
    let out = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        script()
    })
    .join()
    .unwrap();
    Some(out)
}

#[test]
fn nftables_puts_v6_bans_in_banned6_of_the_real_nft() {
    let listed = nft_in_own_netns(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let nft = Nftables {
                binary: "nft".into(),
                table: "decnet".into(),
                set: "banned".into(),
                chain: true,
                timeout: Duration::from_secs(10),
            };
            nft.activate().await.unwrap();
            assert!(nft.probe().await.0);
            nft.ban(&[
                Enforce {
                    value: "fd00:a77::66/128".parse().unwrap(),
                    ttl_secs: 3600,
                },
                Enforce {
                    value: "2001:db8:bad::/48".parse().unwrap(),
                    ttl_secs: 600,
                },
                Enforce {
                    value: "127.0.71.50/32".parse().unwrap(),
                    ttl_secs: 600,
                },
            ])
            .await
            .unwrap();
            nft.unban(&["2001:db8:bad::/48".parse().unwrap()])
                .await
                .unwrap();
            let set = |name: &str| {
                let o = Command::new("nft")
                    .args(["list", "set", "inet", "decnet", name])
                    .output()
                    .unwrap();
                String::from_utf8_lossy(&o.stdout).into_owned()
            };
            let rules = Command::new("nft")
                .args(["list", "chain", "inet", "decnet", "input"])
                .output()
                .unwrap();
            format!(
                "{}\n---\n{}\n---\n{}",
                set("banned6"),
                set("banned4"),
                String::from_utf8_lossy(&rules.stdout)
            )
        })
    });
    let Some(listed) = listed else {
        eprintln!("SKIPPED nftables_puts_v6_bans_in_banned6_of_the_real_nft (needs root and nft)");
        return;
    };
    let mut parts = listed.split("\n---\n");
    let (six, four, chain) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    assert!(six.contains("type ipv6_addr"), "{six}");
    assert!(six.contains("fd00:a77::66 timeout"), "{six}");
    assert!(
        !six.contains("2001:db8:bad::"),
        "unbanned range stays: {six}"
    );
    assert!(!six.contains("127.0.71.50"), "{six}");
    assert!(four.contains("127.0.71.50 timeout"), "{four}");
    assert!(chain.contains("ip6 saddr @banned6 drop"), "{chain}");
}
