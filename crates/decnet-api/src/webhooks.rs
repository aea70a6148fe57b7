//! Webhooks registered through the API: configurations stored as the
//! `webhooks` JSON setting, delivered by the alerts engine. Each enabled or
//! disabled hook is a `webhook` channel of the engine named
//! `webhook-<id>` whose `subjects` are the hook's patterns, so it shares the
//! engine's one delivery path: the fsync'd spool (a message survives a
//! restart while the receiver is down), per-channel lanes, retries with
//! backoff until `[alerts] give_up_after`, and the circuit breaker (an open
//! breaker holds messages back until its half-open probe, it does not skip
//! them). The body and headers are unchanged: the bus envelope as JSON,
//! `x-decnet-signature: sha256=<hex HMAC-SHA256>`, `x-decnet-event`,
//! `x-decnet-delivery`.
//!
//! The registry follows the store: a hook created or deleted here changes
//! the engine at once; one created through another server sharing the
//! store is picked up on that server's change notice
//! ([`crate::settings_notice`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use decnet_alerts::channels::http::Poster;
use decnet_alerts::channels::webhook::SignedWebhook;
use decnet_alerts::config::channel::{ChannelConfig, ChannelSpec, SignedHookSpec};
use decnet_alerts::delivery::ChannelState;
use decnet_alerts::{AlertHandle, Secret, Severity};
use decnet_bus::{Bus, Envelope};
use decnet_core::subject;
use decnet_store::{Store, StoreError};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::Validate;
use crate::settings_notice;

pub use decnet_alerts::channels::webhook::{sign, SIGNATURE_HEADER};

/// Settings key holding the list.
pub const SETTING_KEY: &str = "webhooks";
/// Most webhooks.
pub const MAX_WEBHOOKS: usize = 100;
/// Per-attempt timeout of a hook.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A stored webhook (secret included; never sent back after creation).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Webhook {
    /// Id.
    pub id: Uuid,
    /// Label.
    pub name: String,
    /// Target URL (http/https).
    pub url: String,
    /// Bus subject patterns to deliver (`events.>`, `identity.*`).
    pub events: Vec<String>,
    /// HMAC key.
    pub secret: String,
    /// Delivering?
    pub enabled: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// Create/replace body.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct WebhookIn {
    /// Label.
    #[schema(max_length = 100)]
    pub name: String,
    /// Target URL (http or https).
    #[schema(max_length = 2048)]
    pub url: String,
    /// Subject patterns; default `["events.>"]`.
    #[serde(default = "default_events")]
    pub events: Vec<String>,
    /// HMAC secret; generated when omitted.
    #[serde(default)]
    pub secret: Option<String>,
    /// Default true.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

fn default_events() -> Vec<String> {
    vec!["events.>".into()]
}
fn default_true() -> bool {
    true
}

impl Validate for WebhookIn {
    fn validate(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.name.trim().is_empty() || self.name.len() > 100 {
            out.push(("name".into(), "must be 1-100 characters".into()));
        }
        match reqwest::Url::parse(&self.url) {
            Ok(u)
                if matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && self.url.len() <= 2048 => {}
            _ => out.push(("url".into(), "must be an absolute http(s) URL".into())),
        }
        if self.events.is_empty() || self.events.len() > 32 {
            out.push(("events".into(), "1-32 subject patterns".into()));
        }
        for (i, p) in self.events.iter().enumerate() {
            if p.len() > 200 || subject::validate_pattern(p).is_err() {
                out.push((format!("events.{i}"), "invalid subject pattern".into()));
            }
        }
        if let Some(s) = &self.secret {
            if s.len() < 16 || s.len() > 256 {
                out.push(("secret".into(), "must be 16-256 characters".into()));
            }
        }
        out
    }
}

/// Delivery state of one hook: its engine channel's.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct HookRuntime {
    /// `closed` (delivering), `open` (holding messages back until a
    /// half-open probe), `half_open` (trying one).
    pub circuit: String,
    /// Failed attempts in a row.
    pub consecutive_failures: u32,
    /// Messages delivered.
    pub delivered: u64,
    /// Messages refused for good (a 4xx other than 408/429) or given up
    /// after `[alerts] give_up_after`.
    pub failed: u64,
    /// Messages dropped unsent (spool over its cap, hook changed or removed).
    pub dropped: u64,
    /// Failed attempts that were retried.
    pub retries: u64,
    /// Messages waiting (spooled).
    pub queued: usize,
    /// Last HTTP status received.
    pub last_status: Option<u16>,
    /// Last error.
    pub last_error: Option<String>,
}

impl HookRuntime {
    fn of(state: Option<&ChannelState>) -> HookRuntime {
        let Some(st) = state else {
            return HookRuntime {
                circuit: "closed".into(),
                ..Default::default()
            };
        };
        let c = &st.counters;
        HookRuntime {
            circuit: st.circuit.into(),
            consecutive_failures: st.consecutive_failures,
            delivered: c.sent,
            failed: c.failed,
            dropped: c.dropped,
            retries: c.retries,
            queued: c.queued + c.in_flight,
            last_status: c.last_status,
            last_error: c.last_error.clone(),
        }
    }
}

/// A webhook as returned by the API (no secret).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookView {
    /// Id.
    pub id: Uuid,
    /// Label.
    pub name: String,
    /// Target.
    pub url: String,
    /// Patterns.
    pub events: Vec<String>,
    /// Delivering?
    pub enabled: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Delivery state.
    pub delivery: HookRuntime,
    /// Only in the creation response: the HMAC secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Result of `POST /webhooks/{id}/test`.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TestResult {
    /// Got a 2xx.
    pub delivered: bool,
    /// Attempts made.
    pub attempts: u32,
    /// Last HTTP status.
    pub status_code: Option<u16>,
    /// Last error.
    pub error: Option<String>,
}

/// Prefix of the engine channel names of registered hooks.
pub const CHANNEL_PREFIX: &str = "webhook-";

/// The engine channel name of hook `id`.
pub fn channel_name(id: Uuid) -> String {
    format!("{CHANNEL_PREFIX}{id}")
}

/// The engine channel a hook is.
pub fn channel_of(h: &Webhook) -> ChannelConfig {
    ChannelConfig {
        name: channel_name(h.id),
        enabled: h.enabled,
        min_severity: Severity::Info,
        rules: Vec::new(),
        kinds: Vec::new(),
        subjects: h.events.clone(),
        timeout: TIMEOUT,
        ca_file: None,
        spec: ChannelSpec::Webhook(SignedHookSpec {
            url: Secret::new(h.url.clone()),
            secret: Secret::new(h.secret.clone()),
        }),
    }
}

/// The engine channels of the hooks stored in `store` (an unreadable list
/// is reported and gives none, rather than keeping alerts from starting).
pub async fn stored_channels(store: &dyn Store) -> Result<Vec<ChannelConfig>, StoreError> {
    Ok(match store.get_setting(SETTING_KEY).await? {
        None => Vec::new(),
        Some(v) => match serde_json::from_value::<Vec<Webhook>>(v) {
            Ok(list) => list.iter().map(channel_of).collect(),
            Err(e) => {
                tracing::warn!("webhooks: stored list unreadable ({e}); none delivered");
                Vec::new()
            }
        },
    })
}

/// The registry; delivery is the alerts engine's.
pub struct Webhooks {
    store: Arc<dyn Store>,
    /// Where changes are announced to the other servers.
    bus: Arc<dyn Bus>,
    alerts: Option<Arc<AlertHandle>>,
    hooks: RwLock<Vec<Webhook>>,
    write: tokio::sync::Mutex<()>,
}

impl Webhooks {
    /// Empty registry delivering through `alerts` (none: hooks are kept
    /// but not delivered, and creating one is refused), announcing its
    /// changes on `bus`; call [`Webhooks::load`] before use.
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        alerts: Option<Arc<AlertHandle>>,
    ) -> Arc<Self> {
        Arc::new(Webhooks {
            store,
            bus,
            alerts,
            hooks: RwLock::new(Vec::new()),
            write: tokio::sync::Mutex::new(()),
        })
    }

    /// Loads the list from the store and hands it to the engine.
    pub async fn load(&self) -> Result<(), ApiError> {
        let list = self.read_store().await?;
        self.apply(list).await
    }

    async fn read_store(&self) -> Result<Vec<Webhook>, ApiError> {
        Ok(match self.store.get_setting(SETTING_KEY).await? {
            Some(v) => serde_json::from_value(v).map_err(ApiError::internal)?,
            None => Vec::new(),
        })
    }

    /// Makes `list` the engine's registered channels, then the list served.
    async fn apply(&self, list: Vec<Webhook>) -> Result<(), ApiError> {
        if let Some(engine) = &self.alerts {
            engine
                .set_registered(list.iter().map(channel_of).collect())
                .await
                .map_err(ApiError::internal)?;
        }
        *self.hooks.write() = list;
        Ok(())
    }

    async fn save(&self, list: Vec<Webhook>) -> Result<(), ApiError> {
        let v = serde_json::to_value(&list).map_err(ApiError::internal)?;
        self.store.put_setting(SETTING_KEY, &v).await?;
        settings_notice::publish(&*self.bus, SETTING_KEY);
        self.apply(list).await
    }

    fn engine(&self) -> Result<&Arc<AlertHandle>, ApiError> {
        self.alerts.as_ref().ok_or_else(|| {
            ApiError::Unavailable(
                "webhooks are delivered by the alerts engine, which is not running on this server"
                    .into(),
            )
        })
    }

    fn view(&self, h: &Webhook, states: &[ChannelState], with_secret: bool) -> WebhookView {
        let name = channel_name(h.id);
        WebhookView {
            id: h.id,
            name: h.name.clone(),
            url: h.url.clone(),
            events: h.events.clone(),
            enabled: h.enabled,
            created_at: h.created_at,
            delivery: HookRuntime::of(states.iter().find(|s| s.name == name)),
            secret: with_secret.then(|| h.secret.clone()),
        }
    }

    fn states(&self) -> Vec<ChannelState> {
        self.alerts
            .as_ref()
            .map(|a| a.channels_state())
            .unwrap_or_default()
    }

    /// All hooks.
    pub fn list(&self) -> Vec<WebhookView> {
        let states = self.states();
        self.hooks
            .read()
            .iter()
            .map(|h| self.view(h, &states, false))
            .collect()
    }

    /// One hook.
    pub fn get(&self, id: Uuid) -> Result<WebhookView, ApiError> {
        let states = self.states();
        self.hooks
            .read()
            .iter()
            .find(|h| h.id == id)
            .map(|h| self.view(h, &states, false))
            .ok_or_else(|| ApiError::NotFound("Webhook not found".into()))
    }

    /// Creates a hook; the response carries the secret once.
    pub async fn create(&self, body: WebhookIn) -> Result<WebhookView, ApiError> {
        let _g = self.write.lock().await;
        let mut list = self.read_store().await?;
        self.engine()?;
        if list.len() >= MAX_WEBHOOKS {
            return Err(ApiError::Conflict(format!(
                "at most {MAX_WEBHOOKS} webhooks"
            )));
        }
        let h = Webhook {
            id: Uuid::now_v7(),
            name: body.name,
            url: body.url,
            events: body.events,
            secret: body.secret.unwrap_or_else(|| {
                let mut b = [0u8; 24];
                rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
                hex::encode(b)
            }),
            enabled: body.enabled,
            created_at: Utc::now(),
        };
        list.push(h.clone());
        self.save(list).await?;
        Ok(self.view(&h, &self.states(), true))
    }

    /// Replaces a hook's settings (the secret only when given). Its
    /// channel restarts with the messages it still holds.
    pub async fn update(&self, id: Uuid, body: WebhookIn) -> Result<WebhookView, ApiError> {
        let _g = self.write.lock().await;
        let mut list = self.read_store().await?;
        let h = list
            .iter_mut()
            .find(|h| h.id == id)
            .ok_or_else(|| ApiError::NotFound("Webhook not found".into()))?;
        h.name = body.name;
        h.url = body.url;
        h.events = body.events;
        h.enabled = body.enabled;
        if let Some(s) = body.secret {
            h.secret = s;
        }
        let out = h.clone();
        self.save(list).await?;
        Ok(self.view(&out, &self.states(), false))
    }

    /// Deletes a hook (its undelivered messages are dropped).
    pub async fn delete(&self, id: Uuid) -> Result<(), ApiError> {
        let _g = self.write.lock().await;
        let mut list = self.read_store().await?;
        let before = list.len();
        list.retain(|h| h.id != id);
        if list.len() == before {
            return Err(ApiError::NotFound("Webhook not found".into()));
        }
        self.save(list).await
    }

    /// Sends a `ping` to one hook now, once, through the same channel code
    /// as its deliveries (not through the spool; the breaker is not
    /// consulted).
    pub async fn test(&self, id: Uuid) -> Result<TestResult, ApiError> {
        let h = self
            .hooks
            .read()
            .iter()
            .find(|h| h.id == id)
            .cloned()
            .ok_or_else(|| ApiError::NotFound("Webhook not found".into()))?;
        let cfg = channel_of(&h);
        let ChannelSpec::Webhook(spec) = &cfg.spec else {
            return Err(ApiError::Internal(
                "a webhook's channel is a webhook".into(),
            ));
        };
        let poster = Poster::new(TIMEOUT, None).map_err(ApiError::internal)?;
        let channel = SignedWebhook::new(&cfg.name, spec, poster);
        let env = Envelope::json(
            "webhook.test",
            "ping",
            serde_json::json!({"webhook_id": id, "message": "decnet webhook test"}),
        );
        Ok(match channel.deliver(&env).await {
            Ok(sent) => TestResult {
                delivered: true,
                attempts: 1,
                status_code: sent.status,
                error: None,
            },
            Err(e) => TestResult {
                delivered: false,
                attempts: 1,
                status_code: e.status,
                error: Some(e.message),
            },
        })
    }

    /// Applies the stored list when it differs from the one in force
    /// (changed through another server). True when something changed.
    pub async fn follow_once(&self) -> Result<bool, ApiError> {
        let _g = self.write.lock().await;
        let stored = self.read_store().await?;
        let same = {
            let now = self.hooks.read();
            serde_json::to_value(&*now).ok() == serde_json::to_value(&stored).ok()
        };
        if same {
            return Ok(false);
        }
        self.apply(stored).await?;
        Ok(true)
    }

    /// Follows the stored list (a supervised worker): re-read on each
    /// change notice and on the notices' safety-net period.
    pub async fn run(
        self: Arc<Self>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut changes =
            settings_notice::Follower::new(&self.bus, SETTING_KEY, settings_notice::SAFETY_NET);
        loop {
            tokio::select! {
                _ = changes.changed() => {}
                _ = shutdown.wait_for(|v| *v) => return Ok(()),
            }
            match self.follow_once().await {
                Ok(true) => tracing::info!("webhooks: changes made on another server applied"),
                Ok(false) => {}
                Err(e) => tracing::warn!("webhooks: cannot apply the stored list: {e:?}"),
            }
        }
    }
}
