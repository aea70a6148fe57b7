//! The enrichment tasks: one per provider, each with its bounded queue,
//! its pace and its failure log; [`EnrichQueue`] is intel's side.

use std::collections::{HashMap, HashSet};
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

/// Until when each (address, provider) is held back: while it is queued or
/// being looked up, and for [`RETRY_AFTER`] after a failure. Whether an
/// answer is fresh is not kept here: the store's `enrichment` table says,
/// read once per offered batch.
type Held = Mutex<HashMap<(IpAddr, usize), Instant>>;

struct Shared {
    lanes: Vec<mpsc::Sender<IpAddr>>,
    /// The provider of each lane, as the store names it.
    providers: Vec<&'static str>,
    held: Held,
    store: Arc<dyn Store>,
    /// Answers younger than this are reused.
    ttl: Duration,
    /// Reading the stored answers when offering.
    reads: Outage,
    counters: Counters,
}

impl Shared {
    /// Takes (address, lane) for a lookup unless it is already held.
    fn hold(&self, ip: IpAddr, lane: usize, now: Instant) -> bool {
        let Ok(mut held) = self.held.lock() else {
            return false;
        };
        if held.get(&(ip, lane)).is_some_and(|until| *until > now) {
            return false;
        }
        if held.len() >= CACHE_ENTRIES {
            // Forgetting only costs a lookup asked sooner.
            held.clear();
        }
        held.insert((ip, lane), now + RETRY_AFTER);
        true
    }

    /// Lets (address, lane) be offered again at once.
    fn release(&self, ip: IpAddr, lane: usize) {
        if let Ok(mut held) = self.held.lock() {
            held.remove(&(ip, lane));
        }
    }

    /// (address, provider) pairs with a stored answer younger than the
    /// ttl; `None` when the store could not say.
    async fn fresh(&self, ips: &[IpAddr]) -> Option<HashSet<(String, String)>> {
        let keys: Vec<String> = ips.iter().map(IpAddr::to_string).collect();
        match self.store.enrichment_of(&keys).await {
            Ok(rows) => {
                self.reads.recovered(|| "enrichment".to_owned());
                let now = Utc::now();
                Some(
                    rows.into_iter()
                        .filter(|r| {
                            (now - r.fetched_at).to_std().unwrap_or(Duration::ZERO) < self.ttl
                        })
                        .map(|r| (r.ip, r.provider))
                        .collect(),
                )
            }
            Err(e) => {
                bump(&self.counters.failed);
                self.reads.failed(
                    &e.to_string(),
                    "addresses are offered again with their next events",
                );
                None
            }
        }
    }
}

/// Intel's handle: offers a batch's addresses with one store read and
/// never waits for a provider.
#[derive(Clone)]
pub struct EnrichQueue(Arc<Shared>);

impl std::fmt::Debug for EnrichQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EnrichQueue")
    }
}

impl EnrichQueue {
    /// Queues each address for every provider whose stored answer about it
    /// is missing or older than the ttl; non-public addresses and
    /// unparsable text are ignored.
    pub async fn offer<'a>(&self, ips: impl IntoIterator<Item = &'a str>) {
        let sh = &self.0;
        let mut public = Vec::new();
        for ip in ips {
            let Ok(ip) = ip.parse::<IpAddr>() else {
                continue;
            };
            if !is_routable(ip) {
                bump(&sh.counters.not_public);
            } else if !public.contains(&ip) {
                public.push(ip);
            }
        }
        if public.is_empty() {
            return;
        }
        let Some(fresh) = sh.fresh(&public).await else {
            return;
        };
        let now = Instant::now();
        for ip in public {
            let key = ip.to_string();
            for (lane, tx) in sh.lanes.iter().enumerate() {
                if fresh.contains(&(key.clone(), sh.providers[lane].to_owned())) {
                    bump(&sh.counters.reused);
                    continue;
                }
                if !sh.hold(ip, lane, now) {
                    continue;
                }
                if tx.try_send(ip).is_err() {
                    // Offered again with the attacker's next batch.
                    sh.release(ip, lane);
                    bump(&sh.counters.dropped);
                }
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
            providers: settings
                .providers
                .iter()
                .map(|p| p.provider.name())
                .collect(),
            held: Mutex::new(HashMap::new()),
            store,
            ttl: settings.ttl,
            reads: Outage::new("enrichment reads"),
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
                    shared: shared.clone(),
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
    shared: Arc<Shared>,
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

    /// Looks `ip` up and stores the answer; on a failure it stays held
    /// for [`RETRY_AFTER`].
    async fn one(&mut self, ip: IpAddr) {
        let counters = &self.shared.counters;
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
        match self.shared.store.enrichment_put(&row).await {
            Ok(()) => {
                bump(&counters.stored);
                // From now on the stored answer says it is fresh.
                self.shared.release(ip, self.lane);
                self.outage.recovered(|| self.name().to_owned());
            }
            Err(e) => {
                bump(&counters.failed);
                self.outage
                    .failed(&e.to_string(), "answer not stored; asked again later");
            }
        }
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
