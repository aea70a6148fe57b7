//! Webhooks: configurations (stored as the `webhooks` JSON setting), and a
//! dispatcher that POSTs matching bus messages signed with HMAC-SHA256,
//! retries with exponential backoff and trips a per-hook circuit breaker.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use decnet_bus::{Bus, Delivery, Envelope};
use decnet_core::subject;
use decnet_store::Store;
use hmac::{Hmac, Mac};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::error::ApiError;
use crate::extract::Validate;

/// Opens the dispatcher's subscription (again after a supervised restart).
#[derive(Clone)]
pub struct WebhookSource(
    pub Arc<dyn Fn() -> Result<decnet_bus::Subscription, decnet_bus::BusError> + Send + Sync>,
);

impl std::fmt::Debug for WebhookSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSource")
    }
}

impl WebhookSource {
    /// Every message of `bus` (one process, or the default).
    pub fn all_of(bus: Arc<dyn Bus>) -> WebhookSource {
        WebhookSource(Arc::new(move || {
            bus.subscribe(">", Delivery::Lossy { capacity: 4096 })
        }))
    }
}

/// Settings key holding the list.
pub const SETTING_KEY: &str = "webhooks";
/// Signature header: `sha256=<hex hmac of the body>`.
pub const SIGNATURE_HEADER: &str = "x-decnet-signature";
/// Consecutive failed deliveries that open the breaker.
pub const BREAKER_THRESHOLD: u32 = 5;
/// Most webhooks.
pub const MAX_WEBHOOKS: usize = 100;

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

/// Delivery state of one hook.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct HookRuntime {
    /// `closed` (delivering), `open` (skipping), `half_open` (trying one).
    pub circuit: String,
    /// Failed deliveries in a row.
    pub consecutive_failures: u32,
    /// Successful deliveries.
    pub delivered: u64,
    /// Deliveries that failed after every retry.
    pub failed: u64,
    /// Deliveries skipped while the breaker was open.
    pub skipped: u64,
    /// Last HTTP status received.
    pub last_status: Option<u16>,
    /// Last error.
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Breaker {
    rt: HookRuntime,
    open_until: Option<Instant>,
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

/// Registry + dispatcher.
pub struct Webhooks {
    store: Arc<dyn Store>,
    hooks: RwLock<Vec<Webhook>>,
    write: tokio::sync::Mutex<()>,
    breakers: Mutex<HashMap<Uuid, Breaker>>,
    client: reqwest::Client,
    /// Retries after the first attempt.
    pub retries: u32,
    /// First retry delay (doubles).
    pub retry_base: Duration,
    /// How long an open breaker skips deliveries.
    pub open_for: Duration,
    inflight: Arc<Semaphore>,
}

impl Webhooks {
    /// Empty registry; call [`Webhooks::load`] before use.
    pub fn new(store: Arc<dyn Store>, retry_base: Duration, open_for: Duration) -> Arc<Self> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Arc::new(Webhooks {
            store,
            hooks: RwLock::new(Vec::new()),
            write: tokio::sync::Mutex::new(()),
            breakers: Mutex::new(HashMap::new()),
            client,
            retries: 3,
            retry_base,
            open_for,
            inflight: Arc::new(Semaphore::new(64)),
        })
    }

    /// Loads the list from the store.
    pub async fn load(&self) -> Result<(), ApiError> {
        let list = self.read_store().await?;
        *self.hooks.write() = list;
        Ok(())
    }

    async fn read_store(&self) -> Result<Vec<Webhook>, ApiError> {
        Ok(match self.store.get_setting(SETTING_KEY).await? {
            Some(v) => serde_json::from_value(v).map_err(ApiError::internal)?,
            None => Vec::new(),
        })
    }

    async fn save(&self, list: Vec<Webhook>) -> Result<(), ApiError> {
        let v = serde_json::to_value(&list).map_err(ApiError::internal)?;
        self.store.put_setting(SETTING_KEY, &v).await?;
        *self.hooks.write() = list;
        Ok(())
    }

    fn view(&self, h: &Webhook, with_secret: bool) -> WebhookView {
        let rt = self
            .breakers
            .lock()
            .get(&h.id)
            .map(|b| {
                let mut rt = b.rt.clone();
                rt.circuit = circuit_name(b).into();
                rt
            })
            .unwrap_or_else(|| HookRuntime {
                circuit: "closed".into(),
                ..Default::default()
            });
        WebhookView {
            id: h.id,
            name: h.name.clone(),
            url: h.url.clone(),
            events: h.events.clone(),
            enabled: h.enabled,
            created_at: h.created_at,
            delivery: rt,
            secret: with_secret.then(|| h.secret.clone()),
        }
    }

    /// All hooks.
    pub fn list(&self) -> Vec<WebhookView> {
        self.hooks
            .read()
            .iter()
            .map(|h| self.view(h, false))
            .collect()
    }

    /// One hook.
    pub fn get(&self, id: Uuid) -> Result<WebhookView, ApiError> {
        self.hooks
            .read()
            .iter()
            .find(|h| h.id == id)
            .map(|h| self.view(h, false))
            .ok_or_else(|| ApiError::NotFound("Webhook not found".into()))
    }

    /// Creates a hook; the response carries the secret once.
    pub async fn create(&self, body: WebhookIn) -> Result<WebhookView, ApiError> {
        let _g = self.write.lock().await;
        let mut list = self.read_store().await?;
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
        Ok(self.view(&h, true))
    }

    /// Replaces a hook's settings (the secret only when given).
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
        self.breakers.lock().remove(&id);
        Ok(self.view(&out, false))
    }

    /// Deletes a hook.
    pub async fn delete(&self, id: Uuid) -> Result<(), ApiError> {
        let _g = self.write.lock().await;
        let mut list = self.read_store().await?;
        let before = list.len();
        list.retain(|h| h.id != id);
        if list.len() == before {
            return Err(ApiError::NotFound("Webhook not found".into()));
        }
        self.save(list).await?;
        self.breakers.lock().remove(&id);
        Ok(())
    }

    /// Sends a `ping` to one hook now (ignores the breaker).
    pub async fn test(&self, id: Uuid) -> Result<TestResult, ApiError> {
        let h = self
            .hooks
            .read()
            .iter()
            .find(|h| h.id == id)
            .cloned()
            .ok_or_else(|| ApiError::NotFound("Webhook not found".into()))?;
        let env = Envelope::json(
            "webhook.test",
            "ping",
            serde_json::json!({"webhook_id": id, "message": "decnet webhook test"}),
        );
        let body = serde_json::to_vec(&env).map_err(ApiError::internal)?;
        Ok(self.deliver(&h, &env, body.into()).await)
    }

    /// Hooks interested in a subject.
    fn matching(&self, topic: &str) -> Vec<Webhook> {
        self.hooks
            .read()
            .iter()
            .filter(|h| h.enabled && h.events.iter().any(|p| subject::matches(p, topic)))
            .cloned()
            .collect()
    }

    /// Delivers with retries; records the outcome in the hook's breaker.
    async fn deliver(&self, h: &Webhook, env: &Envelope, body: bytes::Bytes) -> TestResult {
        let sig = sign(&h.secret, &body);
        let mut attempts = 0;
        let mut status = None;
        let mut error;
        let mut delay = self.retry_base;
        loop {
            attempts += 1;
            let r = self
                .client
                .post(&h.url)
                .header("content-type", "application/json")
                .header(SIGNATURE_HEADER, &sig)
                .header("x-decnet-event", env.kind.as_str())
                .header("x-decnet-delivery", env.id.to_string())
                .body(body.clone())
                .send()
                .await;
            match r {
                Ok(resp) => {
                    status = Some(resp.status().as_u16());
                    if resp.status().is_success() {
                        error = None;
                        break;
                    }
                    error = Some(format!("HTTP {}", resp.status().as_u16()));
                }
                Err(e) => error = Some(short_err(&e)),
            }
            if attempts > self.retries {
                break;
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(30));
        }
        let delivered = error.is_none();
        let mut br = self.breakers.lock();
        let b = br.entry(h.id).or_default();
        b.rt.last_status = status;
        if delivered {
            b.rt.delivered += 1;
            b.rt.consecutive_failures = 0;
            b.open_until = None;
        } else {
            b.rt.failed += 1;
            b.rt.consecutive_failures += 1;
            b.rt.last_error = error.clone();
            if b.rt.consecutive_failures >= BREAKER_THRESHOLD {
                b.open_until = Some(Instant::now() + self.open_for);
            }
        }
        TestResult {
            delivered,
            attempts,
            status_code: status,
            error,
        }
    }

    /// True if the breaker lets a delivery through (counts a skip otherwise).
    fn admit(&self, id: Uuid) -> bool {
        let mut br = self.breakers.lock();
        let b = br.entry(id).or_default();
        match b.open_until {
            Some(t) if Instant::now() < t => {
                b.rt.skipped += 1;
                false
            }
            _ => true,
        }
    }

    /// The dispatcher loop (a supervised worker).
    pub async fn run(
        self: Arc<Self>,
        source: WebhookSource,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        let mut sub = (source.0)()?;
        loop {
            let env = tokio::select! {
                e = sub.recv() => e,
                _ = shutdown.wait_for(|v| *v) => return Ok(()),
            };
            let Some(env) = env else {
                anyhow::bail!("bus closed the webhook subscription");
            };
            let hooks = self.matching(&env.topic);
            if hooks.is_empty() {
                continue;
            }
            let body: bytes::Bytes = serde_json::to_vec(&*env)?.into();
            for h in hooks {
                if !self.admit(h.id) {
                    continue;
                }
                let permit = self.inflight.clone().acquire_owned().await?;
                let me = self.clone();
                let env = env.clone();
                let body = body.clone();
                tokio::spawn(async move {
                    let _permit = permit;
                    me.deliver(&h, &env, body).await;
                });
            }
        }
    }
}

fn circuit_name(b: &Breaker) -> &'static str {
    match b.open_until {
        Some(t) if Instant::now() < t => "open",
        Some(_) => "half_open",
        None => "closed",
    }
}

fn short_err(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "request failed".into()
    }
}

/// `sha256=<hex>` HMAC of a body.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}
