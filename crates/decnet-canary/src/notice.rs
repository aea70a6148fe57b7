//! Token change notices: every server sharing a store learns of a created,
//! placed or revoked token the moment it is written, not at the next
//! periodic re-read.
//!
//! A notice carries only the token id and the writing process (never a
//! secret: the bus also feeds the dashboard's live stream); a receiving
//! server re-reads that one document and updates its index. On the
//! in-process bus the writer is the only reader and skips its own notices;
//! with NATS every server hears every notice.

use std::sync::Arc;

use decnet_bus::{Bus, Envelope, Subscription};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::store::CanaryService;

/// Notices go on `canary.token.<id>`.
pub const TOPIC_PREFIX: &str = "canary.token";
/// What a server subscribes to.
pub const PATTERN: &str = "canary.token.*";
/// Message type of a notice.
pub const KIND: &str = "canary.token.changed";
/// Notices queued before the oldest are dropped: a dropped notice is
/// repaired by the periodic re-read, so a small queue is enough.
pub const QUEUE: usize = 4_096;

/// A token changed in the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The token.
    pub id: Uuid,
    /// The process that wrote it (its own notices need no re-read).
    pub origin: Uuid,
}

impl Notice {
    /// The envelope to publish.
    pub fn envelope(&self) -> Envelope {
        Envelope::json(
            format!("{TOPIC_PREFIX}.{}", self.id),
            KIND,
            serde_json::to_value(self).unwrap_or_default(),
        )
    }

    /// The notice inside an envelope, if it is one.
    pub fn from_envelope(env: &Envelope) -> Option<Notice> {
        if env.kind != KIND {
            return None;
        }
        match &env.payload {
            decnet_bus::Payload::Json(v) => serde_json::from_value(v.clone()).ok(),
            decnet_bus::Payload::Event(_) => None,
        }
    }
}

/// Where a service publishes its notices.
pub(crate) struct Notifier {
    pub(crate) bus: Arc<dyn Bus>,
    pub(crate) origin: Uuid,
}

impl Notifier {
    pub(crate) fn changed(&self, id: Uuid) {
        self.bus.publish(
            Notice {
                id,
                origin: self.origin,
            }
            .envelope(),
        );
    }
}

impl CanaryService {
    /// Applies other processes' notices from `sub` (a subscription to
    /// [`PATTERN`]) until it closes: each names a token to re-read.
    pub async fn follow_notices(self: Arc<Self>, mut sub: Subscription) {
        while let Some(env) = sub.recv().await {
            let Some(n) = Notice::from_envelope(&env) else {
                continue;
            };
            if Some(n.origin) == self.origin() {
                continue;
            }
            if let Err(e) = self.refresh_token(n.id).await {
                tracing::warn!(token = %n.id, "canary token notice not applied: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::KeyKind;
    use crate::token::NewToken;
    use decnet_bus::{Delivery, MemoryBus};
    use decnet_store::SqlStore;
    use std::time::Duration;

    async fn server(
        store: &Arc<SqlStore>,
        bus: &Arc<dyn Bus>,
    ) -> (Arc<CanaryService>, tokio::task::JoinHandle<()>) {
        let svc = Arc::new(
            CanaryService::open(store.clone(), crate::kinds::testing::ctx())
                .await
                .unwrap()
                .notify_on(bus.clone()),
        );
        let sub = bus
            .subscribe(PATTERN, Delivery::Lossy { capacity: QUEUE })
            .unwrap();
        let task = tokio::spawn(svc.clone().follow_notices(sub));
        (svc, task)
    }

    async fn until(what: &str, f: impl Fn() -> bool) {
        let t = tokio::time::Instant::now();
        while !f() {
            assert!(t.elapsed() < Duration::from_secs(1), "{what} within 1 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_token_made_or_revoked_on_one_server_reaches_the_other_by_notice() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqlStore::connect(&format!("sqlite://{}", dir.path().join("c.db").display()))
                .await
                .unwrap(),
        );
        let bus: Arc<dyn Bus> = MemoryBus::new();
        let (a, _ta) = server(&store, &bus).await;
        let (b, _tb) = server(&store, &bus).await;
        let t = a
            .create(&NewToken {
                kind: "aws_credentials".into(),
                created_by: "admin".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        let key = t.aws_key().unwrap().0.to_owned();
        until("B indexes A's new token", || {
            b.index().lookup(KeyKind::AwsKeyId, &key).is_some()
        })
        .await;
        a.revoke(t.id).await.unwrap();
        until("B drops the revoked token", || {
            b.index().lookup(KeyKind::AwsKeyId, &key).is_none()
        })
        .await;
        assert!(b.index().is_empty());
    }

    #[test]
    fn notices_carry_no_secret_and_other_messages_are_not_notices() {
        let n = Notice {
            id: Uuid::now_v7(),
            origin: Uuid::now_v7(),
        };
        let env = n.envelope();
        assert_eq!(env.topic, format!("canary.token.{}", n.id));
        assert_eq!(Notice::from_envelope(&env), Some(n));
        let text = serde_json::to_string(&env.payload).unwrap();
        assert!(!text.contains("secret") && !text.contains("password"));
        let other = Envelope::json("canary.token.x", "something.else", serde_json::json!({}));
        assert_eq!(Notice::from_envelope(&other), None);
    }
}
