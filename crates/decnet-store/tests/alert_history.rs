//! Alert history on SQLite and PostgreSQL: an alert and its deliveries,
//! state updates, replays that change nothing, paging newest first,
//! retention by age and by count.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use decnet_store::alerts_sql::{AlertHistoryWrite, AlertRow, DeliveryRow};
use decnet_store::testing::PgCluster;
use decnet_store::Store;
use uuid::Uuid;

fn alert(i: u128, minute: i64) -> AlertRow {
    AlertRow {
        alert_id: Uuid::from_u128(i),
        ts: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(minute),
        rule: "login_success".into(),
        source: Some(format!("198.51.100.{i}")),
        alert: serde_json::json!({"id": Uuid::from_u128(i), "rule": "login_success"}),
    }
}

fn delivery(channel: &str, state: &str, attempts: u32, error: Option<&str>) -> DeliveryRow {
    DeliveryRow {
        channel: channel.into(),
        state: state.into(),
        attempts,
        last_error: error.map(str::to_owned),
        updated_at: Utc.with_ymd_and_hms(2026, 1, 1, 1, 0, 0).unwrap(),
    }
}

async fn history_roundtrip(s: &Arc<dyn Store>) {
    let writes: Vec<AlertHistoryWrite> = (1..=5)
        .map(|i| {
            AlertHistoryWrite::Raised(
                alert(i, i as i64),
                vec![
                    delivery("hook", "queued", 0, None),
                    delivery("mail", "queued", 0, None),
                ],
            )
        })
        .collect();
    s.alert_history_write(&writes).await.unwrap();
    let id = Uuid::from_u128(5);
    s.alert_history_write(&[
        AlertHistoryWrite::Delivery(id, delivery("hook", "retrying", 1, Some("HTTP 503"))),
        AlertHistoryWrite::Delivery(id, delivery("hook", "sent", 2, None)),
    ])
    .await
    .unwrap();
    // A replay of the raised alert (spool replay after a restart) keeps the
    // stored state.
    s.alert_history_write(&[AlertHistoryWrite::Raised(
        alert(5, 5),
        vec![delivery("hook", "queued", 0, None)],
    )])
    .await
    .unwrap();
    let got = s.alert_history_get(id).await.unwrap().unwrap();
    assert_eq!(got.alert["rule"], "login_success");
    let hook = got.deliveries.iter().find(|d| d.channel == "hook").unwrap();
    assert_eq!((hook.state.as_str(), hook.attempts), ("sent", 2));
    assert_eq!(hook.last_error.as_deref(), Some("HTTP 503"));
    assert_eq!(got.deliveries.len(), 2);
    assert!(s
        .alert_history_get(Uuid::from_u128(99))
        .await
        .unwrap()
        .is_none());

    let (total, page) = s.alert_history_page(2, 1).await.unwrap();
    assert_eq!(total, 5);
    let ids: Vec<&str> = page
        .iter()
        .map(|e| e.alert["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            Uuid::from_u128(4).to_string(),
            Uuid::from_u128(3).to_string()
        ]
    );

    // Retention: by age, then by count.
    let cut = Utc.with_ymd_and_hms(2026, 1, 1, 0, 2, 0).unwrap();
    assert_eq!(s.alert_history_prune(Some(cut), None).await.unwrap(), 1);
    assert_eq!(s.alert_history_prune(None, Some(2)).await.unwrap(), 2);
    let (total, page) = s.alert_history_page(10, 0).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(page[1].alert["id"], Uuid::from_u128(4).to_string());
    assert_eq!(page[1].deliveries.len(), 2);
    // Event retention ages alert history out with the events.
    s.prune_events(
        Some(Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()),
        None,
    )
    .await
    .unwrap();
    assert_eq!(s.alert_history_page(10, 0).await.unwrap().0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_history_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let s = decnet_store::open(&format!("sqlite://{}/a.db", dir.path().display()))
        .await
        .unwrap();
    history_roundtrip(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_history_on_postgres() {
    let Some(pg) = PgCluster::start() else {
        return;
    };
    let s = decnet_store::open(&pg.fresh_database().await)
        .await
        .unwrap();
    history_roundtrip(&s).await;
}
