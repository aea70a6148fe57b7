//! Secrets are write-only: the policy view masks bouncer keys, edits keep
//! the stored ones unless they replace them, and nothing the responder
//! logs contains one (checked by capturing every log line at TRACE).
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use common::*;
use decnet_core::EventKind;
use decnet_response::{api, ResponseError};
use parking_lot::Mutex;

/// Everything a tracing subscriber writes, to check what gets logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test]
async fn bouncer_secrets_are_write_only_and_never_logged() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(logs.clone())
        .finish();
    // The only test of this binary, so the only subscriber: a scoped one
    // misses events whose callsites other tests' threads cached as off.
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let secret = "0123456789abcdef0123";
    let fleet_key = format!("fw0:{secret}");
    let g = rig_with(
        &[
            ("backends", "crowdsec, nftables"),
            ("bouncer_key", &fleet_key),
        ],
        Some(sqlite().await),
    )
    .await;
    let kept = vec![("fw0".to_owned(), secret.to_owned())];

    // The view shows the bouncer's name, never its secret.
    let view = api::policy_get(&g.r);
    assert_eq!(view["bouncer_key"], "fw0:********");
    assert!(!serde_json::to_string(&view).unwrap().contains(secret));

    // An edit that omits the key keeps it, and so does one sending the
    // view back unchanged (the mask).
    let shown = api::policy_put(
        &g.r,
        "alice",
        raw(&[("backends", "crowdsec, nftables"), ("dry_run", "false")]),
    )
    .await
    .unwrap();
    assert_eq!(shown["bouncer_key"], "fw0:********");
    assert_eq!(g.r.policy().bouncer_keys, kept);
    api::policy_put(&g.r, "alice", shown).await.unwrap();
    assert_eq!(g.r.policy().bouncer_keys, kept);
    let e = api::policy_put(&g.r, "alice", raw(&[("bouncer_key", "fw9:********")]))
        .await
        .unwrap_err();
    assert!(
        matches!(e, ResponseError::Policy(ref p) if p.key == "bouncer_key"),
        "{e}"
    );

    // The bouncer still authenticates with it.
    let base = serve(g.r.clone()).await;
    let resp = reqwest::Client::new()
        .get(format!("{base}/v1/decisions/stream?startup=true"))
        .header("X-Api-Key", secret)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Work that logs: a ban, the firewall going away, persistence.
    g.r.on_event(&ev("127.0.71.240", "ssh", EventKind::AuthAttempt))
        .unwrap();
    g.fw.online.store(false, Ordering::SeqCst);
    for r in g.r.runners() {
        g.r.probe(&r).await;
        g.r.flush(&r).await;
    }
    g.r.persist().await;

    // An empty value removes the fleet keys.
    let shown = api::policy_put(&g.r, "alice", raw(&[("bouncer_key", "")]))
        .await
        .unwrap();
    assert!(g.r.policy().bouncer_keys.is_empty());
    assert_eq!(shown.get("bouncer_key").map(String::as_str), Some(""));
    g.r.shutdown().await;

    let text = String::from_utf8_lossy(&logs.0.lock()).into_owned();
    assert!(
        text.contains("127.0.71.240") && text.contains("backend offline"),
        "logging was not captured: {text}"
    );
    assert!(!text.contains(secret), "{text}");
}
