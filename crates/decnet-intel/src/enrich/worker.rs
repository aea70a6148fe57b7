//! The enrichment tasks: one per provider, each with its bounded queue,
//! its pace and its failure log; [`EnrichQueue`] is intel's side.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use decnet_store::outage::Outage;
use decnet_store::{EnrichmentRow, Store};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::provider::{Answer, LookupError};
use super::{EnrichSettings, ProviderSetup, MAX_BODY, QUEUE, RATE_LIMITED_PAUSE, RETRY_AFTER};
use crate::geo::{is_routable, CACHE_ENTRIES};

/// Counters of the enrichment tasks (all providers together).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct EnrichStats {
    /// Offers of addresses that are not public (never looked up).
    pub not_public: u64,
    /// Offers dropped because a provider's queue was full.
    pub dropped: u64,
    /// Lookups answered from a stored answer younger than the ttl.
    pub reused: u64,
    /// Lookups sent to a provider.
    pub asked: u64,
    /// Answers stored.
    pub stored: u64,
    /// Lookups that failed (transport, status, malformed answer, store).
    pub failed: u64,
}

#[derive(Default)]
struct Counters {
    not_public: AtomicU64,
    dropped: AtomicU64,
    reused: AtomicU64,
    asked: AtomicU64,
    stored: AtomicU64,
    failed: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// When each (address, provider) may be offered again: after its answer's
/// ttl, or after [`RETRY_AFTER`] while queued or failed.
type Due = Mutex<HashMap<(IpAddr, usize), Instant>>;

struct Shared {
    lanes: Vec<mpsc::Sender<IpAddr>>,
    due: Due,
    counters: Counters,
}

impl Shared {
    fn set_due(&self, ip: IpAddr, lane: usize, at: Instant) {
        if let Ok(mut due) = self.due.lock() {
            if due.len() >= CACHE_ENTRIES {
                // Forgetting only costs a store read per address.
                due.clear();
            }
            due.insert((ip, lane), at);
        }
    }
}

/// Intel's handle: offers addresses without ever waiting.
#[derive(Clone)]
pub struct EnrichQueue(Arc<Shared>);

impl std::fmt::Debug for EnrichQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnrichQueue")
    }
}

impl EnrichQueue {
    /// Queues `ip` for every provider whose answer about it is not known
    /// fresh; non-public addresses and unparsable text are ignored.
    pub fn offer(&self, ip: &str) {
        let Ok(ip) = ip.parse::<IpAddr>() else {
            return;
        };
        if !is_routable(ip) {
            bump(&self.0.counters.not_public);
            return;
        }
        let now = Instant::now();
        for (lane, tx) in self.0.lanes.iter().enumerate() {
            let Ok(mut due) = self.0.due.lock() else {
                return;
            };
            if due.get(&(ip, lane)).is_some_and(|at| *at > now) {
                continue;
            }
            if due.len() >= CACHE_ENTRIES {
                due.clear();
            }
            due.insert((ip, lane), now + RETRY_AFTER);
            drop(due);
            if tx.try_send(ip).is_err() {
                // Offered again with the attacker's next batch.
                if let Ok(mut due) = self.0.due.lock() {
                    due.remove(&(ip, lane));
                }
                bump(&self.0.counters.dropped);
            }
        }
    }
}

/// The running enrichment tasks.
pub struct Enricher {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Enricher {
    /// Starts one task per provider of `settings`.
    pub fn start(store: Arc<dyn Store>, settings: &EnrichSettings) -> Self {
        let mut lanes = Vec::new();
        let mut receivers = Vec::new();
        for _ in &settings.providers {
            let (tx, rx) = mpsc::channel(QUEUE);
            lanes.push(tx);
            receivers.push(rx);
        }
        let shared = Arc::new(Shared {
            lanes,
            due: Mutex::new(HashMap::new()),
            counters: Counters::default(),
        });
        let tasks = settings
            .providers
            .iter()
            .zip(receivers)
            .enumerate()
            .map(|(lane, (setup, rx))| {
                let task = Lane {
                    lane,
                    setup: ProviderSetup {
                        provider: setup.provider,
                        root: setup.root.clone(),
                        key: setup.key.clone(),
                    },
                    client: client(settings.timeout),
                    store: store.clone(),
                    shared: shared.clone(),
                    ttl: settings.ttl,
                    pace: Pace::new(settings.rate),
                    outage: Outage::new(outage_name(setup.provider.name())),
                };
                tokio::spawn(task.run(rx))
            })
            .collect();
        Enricher { shared, tasks }
    }

    /// Intel's side.
    pub fn queue(&self) -> EnrichQueue {
        EnrichQueue(self.shared.clone())
    }

    /// Current counters.
    pub fn stats(&self) -> EnrichStats {
        let c = &self.shared.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        EnrichStats {
            not_public: get(&c.not_public),
            dropped: get(&c.dropped),
            reused: get(&c.reused),
            asked: get(&c.asked),
            stored: get(&c.stored),
            failed: get(&c.failed),
        }
    }

    /// Stops every task; lookups in flight are abandoned (their addresses
    /// are asked again after a restart, when next seen).
    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

/// The failure log's name: a `&'static str` per known provider.
fn outage_name(provider: &str) -> &'static str {
    match provider {
        "abuseipdb" => "AbuseIPDB lookups",
        "greynoise" => "GreyNoise lookups",
        _ => "enrichment lookups",
    }
}

/// The HTTP client: the timeout covers the whole exchange; no redirects,
/// because a redirect would carry the key header to wherever it points.
fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("decnet/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// At most `rate` lookups a minute, evenly spaced (no bursts: a quota
/// counted per minute or per day is spent no faster than configured).
struct Pace {
    every: Duration,
    next: Instant,
}

impl Pace {
    fn new(rate: u32) -> Self {
        Pace {
            every: Duration::from_secs(60) / rate.max(1),
            next: Instant::now(),
        }
    }

    async fn wait(&mut self) {
        tokio::time::sleep_until(self.next).await;
        self.next = Instant::now().max(self.next) + self.every;
    }

    fn hold(&mut self, pause: Duration) {
        self.next = self.next.max(Instant::now() + pause);
    }
}

/// One provider's task.
struct Lane {
    lane: usize,
    setup: ProviderSetup,
    client: reqwest::Client,
    store: Arc<dyn Store>,
    shared: Arc<Shared>,
    ttl: Duration,
    pace: Pace,
    outage: Outage,
}

impl Lane {
    async fn run(mut self, mut rx: mpsc::Receiver<IpAddr>) {
        while let Some(ip) = rx.recv().await {
            self.one(ip).await;
        }
    }

    fn name(&self) -> &'static str {
        self.setup.provider.name()
    }

    async fn one(&mut self, ip: IpAddr) {
        let counters = &self.shared.counters;
        match self.stored_age(ip).await {
            Ok(Some(age)) if age < self.ttl => {
                bump(&counters.reused);
                self.shared
                    .set_due(ip, self.lane, Instant::now() + (self.ttl - age));
                return;
            }
            Ok(_) => {}
            Err(e) => {
                bump(&counters.failed);
                self.outage.failed(&e, "addresses are asked again later");
                return;
            }
        }
        self.pace.wait().await;
        bump(&counters.asked);
        let answer = match self.lookup(ip).await {
            Ok(a) => a,
            Err(e) => {
                bump(&counters.failed);
                if let LookupError::RateLimited(pause) = &e {
                    self.pace.hold(pause.unwrap_or(RATE_LIMITED_PAUSE));
                }
                self.outage
                    .failed(&e.to_string(), "addresses are asked again later");
                return;
            }
        };
        let row = EnrichmentRow {
            ip: ip.to_string(),
            provider: self.name().to_owned(),
            fetched_at: Utc::now(),
            score: answer.score,
            data: answer.data,
        };
        match self.store.enrichment_put(&row).await {
            Ok(()) => {
                bump(&counters.stored);
                self.shared
                    .set_due(ip, self.lane, Instant::now() + self.ttl);
                self.outage.recovered(|| self.name().to_owned());
            }
            Err(e) => {
                bump(&counters.failed);
                self.outage
                    .failed(&e.to_string(), "answer not stored; asked again later");
            }
        }
    }

    /// Age of the stored answer about `ip`, if there is one.
    async fn stored_age(&self, ip: IpAddr) -> Result<Option<Duration>, String> {
        let rows = self
            .store
            .enrichment_of(&[ip.to_string()])
            .await
            .map_err(|e| e.to_string())?;
        Ok(rows.iter().find(|r| r.provider == self.name()).map(|r| {
            (Utc::now() - r.fetched_at)
                .to_std()
                .unwrap_or(Duration::ZERO)
        }))
    }

    async fn lookup(&self, ip: IpAddr) -> Result<Answer, LookupError> {
        let s = &self.setup;
        let resp = s
            .provider
            .request(&self.client, &s.root, &s.key, ip)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.min(86_400)));
        let body = read_capped(resp).await?;
        match s.provider.answer(status, &body) {
            Err(LookupError::RateLimited(None)) => Err(LookupError::RateLimited(retry_after)),
            other => other,
        }
    }
}

/// At most [`MAX_BODY`] bytes of the body.
async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, LookupError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(LookupError::Malformed(format!(
                "answer larger than {MAX_BODY} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What went wrong on the wire, in words that carry neither the URL's
/// credentials (if the user put any there) nor a header.
fn transport(e: reqwest::Error) -> LookupError {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_body() || e.is_decode() {
        "answer cut short"
    } else {
        "request failed"
    };
    LookupError::Transport(what.to_owned())
}
