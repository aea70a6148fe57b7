//! decnet-api: the DECNET-compatible `/api/v1` REST + SSE API (DESIGN §8).
//!
//! * [`serve`] runs it: lifespan (open-file check, DB init with retry,
//!   admin bootstrap, JWT secret), supervised workers, graceful shutdown.
//! * [`auth`] — argon2id, JWT, login limiter, SSE tickets, role extractors.
//! * [`sse`] — per-user stream slots, bounded per-client queues, keepalives.
//! * [`sse_json`] — each live event serialised once for every stream.
//! * [`token_cache`] — verified bearer tokens reused for a few seconds.
//! * [`shared_value`] — `/stats` computed once for every caller.
//! * [`state`] — [`AppState`], the one place a route gets its dependencies.
//! * [`routes`] — one module per route family (logs, fleet, topology,
//!   intel, response, alerts, …).

pub mod alerts;
pub mod alerts_history;
pub mod auth;
pub mod canary;
pub mod config;
pub mod engine;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod openapi;
pub mod reload;
pub mod routes;
pub mod schema;
pub mod settings_notice;
pub mod shared_value;
pub mod sse;
pub mod sse_json;
pub mod sse_slots;
pub mod state;
pub mod stream_hub;
pub mod token_cache;
pub mod webhooks;
pub mod worker_probe;
pub mod workers;

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use decnet_store::{Role, Store};
use tokio::sync::watch;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long one `/stats` computation is served to every caller.
pub const STATS_TTL: Duration = Duration::from_secs(2);

pub use config::ApiConfig;
pub use state::{AppState, Backends};
pub use workers::Supervisor;

/// What the admin bootstrap did.
#[derive(Clone, Debug)]
pub enum AdminBootstrap {
    /// The admin user already existed.
    Existing {
        /// Its name.
        username: String,
    },
    /// Created with `DECNET_ADMIN_PASSWORD`.
    FromEnv {
        /// Its name.
        username: String,
    },
    /// Created with a random password (also in `file`); change forced.
    Generated {
        /// Its name.
        username: String,
        /// The password (print it once).
        password: String,
        /// `DATA_DIR/admin-password`.
        file: PathBuf,
    },
}

/// A running API.
pub struct ApiHandle {
    /// Bound address.
    pub local_addr: SocketAddr,
    /// Admin bootstrap outcome.
    pub admin: AdminBootstrap,
    /// Workers (shared with `/health`).
    pub supervisor: Arc<Supervisor>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl ApiHandle {
    /// Waits for the server to finish (after the shutdown future resolved).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("API task failed")?
    }
}

/// Warns when the open-file soft limit is below `min` (each connection and
/// each decky listener is a descriptor). Returns the limit.
#[allow(unsafe_code)] // getrlimit
pub fn check_open_files(min: u64) -> Option<u64> {
    #[cfg(unix)]
    {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) };
        if rc != 0 {
            return None;
        }
        #[allow(clippy::unnecessary_cast)]
        let soft = rl.rlim_cur as u64;
        if soft < min {
            tracing::warn!(
                soft,
                "low open-file limit (ulimit -n = {soft}); a busy fleet may hit 'Too many open files'. \
                 Raise it with `ulimit -n 65536` or LimitNOFILE=65536 (systemd)"
            );
        }
        Some(soft)
    }
    #[cfg(not(unix))]
    {
        let _ = min;
        None
    }
}

/// Pings the store with exponential backoff (0.5 s, 1 s, 2 s…) up to
/// `attempts` times; the error says how many attempts failed and why.
pub async fn init_store_with_retry(store: &dyn Store, attempts: u32) -> anyhow::Result<()> {
    let mut delay = Duration::from_millis(500);
    let attempts = attempts.max(1);
    for attempt in 1..=attempts {
        match store.ping().await {
            Ok(()) => return Ok(()),
            Err(e) if attempt == attempts => {
                anyhow::bail!(
                    "database ({}) not reachable after {attempts} attempts: {e}",
                    store.backend()
                )
            }
            Err(e) => {
                tracing::warn!(attempt, attempts, error = %e, "database init failed; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
    unreachable!()
}

/// Opens a store URL with exponential backoff (0.5 s, 1 s, 2 s…), `attempts`
/// times at most, then fails with a message naming the attempts and cause.
pub async fn open_store_with_retry(url: &str, attempts: u32) -> anyhow::Result<Arc<dyn Store>> {
    let mut delay = Duration::from_millis(500);
    let attempts = attempts.max(1);
    let shown = url.split('@').next_back().unwrap_or(url);
    for attempt in 1..=attempts {
        let opened = tokio::time::timeout(Duration::from_secs(20), decnet_store::open(url))
            .await
            .unwrap_or_else(|_| {
                Err(decnet_store::StoreError::Database(
                    "timed out after 20 s".into(),
                ))
            });
        match opened {
            Ok(s) => return Ok(s),
            Err(e) if attempt == attempts => {
                anyhow::bail!("database {shown} not reachable after {attempts} attempts: {e}")
            }
            Err(e) => {
                tracing::warn!(attempt, attempts, error = %e, "database open failed; retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
    unreachable!()
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(content.as_bytes())
}

/// `DECNET_JWT_SECRET` if given (must be ≥ 32 bytes), else `DATA_DIR/jwt-secret`
/// (created with 48 random bytes on first use).
pub fn jwt_secret(config: &ApiConfig) -> anyhow::Result<Vec<u8>> {
    if let Some(s) = &config.jwt_secret {
        anyhow::ensure!(
            s.len() >= 32,
            "DECNET_JWT_SECRET must be at least 32 bytes (got {})",
            s.len()
        );
        return Ok(s.as_bytes().to_vec());
    }
    let path = config.data_dir.join("jwt-secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim();
        if s.len() >= 32 {
            return Ok(s.as_bytes().to_vec());
        }
    }
    let mut raw = [0u8; 48];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut raw);
    let s = hex::encode(raw);
    std::fs::create_dir_all(&config.data_dir).ok();
    write_private(&path, &s).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(s.into_bytes())
}

/// Creates the admin user when missing (DESIGN §2).
pub async fn bootstrap_admin(
    config: &ApiConfig,
    store: &dyn Store,
) -> anyhow::Result<AdminBootstrap> {
    let username = config.admin_user.clone();
    if store.user_by_name(&username).await?.is_some() {
        return Ok(AdminBootstrap::Existing { username });
    }
    let (password, generated) = match &config.admin_password {
        Some(p) => (p.clone(), false),
        None => (auth::random_password(), true),
    };
    let admin = auth::new_user(username.clone(), &password, Role::Admin, generated)
        .await
        .map_err(|e| anyhow::anyhow!("hashing admin password: {e:?}"))?;
    store.create_user(&admin).await?;
    if generated {
        let file = config.data_dir.join("admin-password");
        std::fs::create_dir_all(&config.data_dir).ok();
        write_private(&file, &format!("{password}\n"))
            .with_context(|| format!("cannot write {}", file.display()))?;
        Ok(AdminBootstrap::Generated {
            username,
            password,
            file,
        })
    } else {
        Ok(AdminBootstrap::FromEnv { username })
    }
}

const DOCS: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>decnet API docs</title>
<link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/api/v1/openapi.json", dom_id: "#ui"});</script>
</body></html>"##;

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(serde_json::json!({"detail": "Method Not Allowed"})),
    )
        .into_response()
}

/// The whole application for a state (used by [`serve`] and by tests).
pub fn app(state: AppState) -> Router {
    let (mut router, _) = openapi::router().split_for_parts();
    if state.config.developer {
        router = router.route("/api/v1/docs", get(|| async { Html(DOCS) }));
    }
    let mut router = router
        .route("/metrics", get(routes::metrics::metrics))
        // The dashboard (embedded web/) at `/`, SPA fallback to index.html;
        // unknown /api and /v1 paths still get the JSON 404.
        .fallback(decnet_web::serve)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.max_body))
        .layer(CatchPanicLayer::custom(
            |p: Box<dyn std::any::Any + Send>| {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                error::internal_response(&format!("handler panicked: {msg}"))
            },
        ));
    if !state.config.cors_origins.is_empty() {
        let origins: Vec<HeaderValue> = state
            .config
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::DELETE,
                    Method::OPTIONS,
                ])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    "last-event-id".parse().expect("static"),
                ]),
        );
    }
    // TAXII 2.1 at /taxii2/ (its own media types, error documents and
    // token check), beside the stateful API routes.
    let taxii = routes::attack::taxii_router(&state);
    router.with_state(state).merge(taxii)
}

/// Loads the registered webhooks (channels of the alerts engine) and
/// starts the worker that follows the stored list (edits made through
/// other servers).
async fn start_webhooks(
    store: &Arc<dyn Store>,
    bus: &Arc<dyn decnet_bus::Bus>,
    alerts: &Option<alerts::AlertsBackend>,
    supervisor: &Supervisor,
) -> anyhow::Result<Arc<webhooks::Webhooks>> {
    let webhooks = webhooks::Webhooks::new(
        store.clone(),
        bus.clone(),
        alerts.as_ref().map(|a| a.handle.clone()),
    );
    webhooks
        .load()
        .await
        .map_err(|e| anyhow::anyhow!("loading webhooks: {e:?}"))?;
    let wh = webhooks.clone();
    supervisor.spawn(
        "webhooks",
        false,
        Arc::new(move |stop| Box::pin(wh.clone().run(stop))),
    );
    Ok(webhooks)
}

/// What `/metrics` reads besides the requests: the bus, live viewers,
/// responses and alerts.
fn register_metric_sources(
    m: &metrics::Metrics,
    bus: &Arc<dyn decnet_bus::Bus>,
    hub: &Arc<stream_hub::StreamHub>,
    sse: &Arc<sse_slots::SseSlots>,
    responder: &Option<Arc<decnet_response::Responder>>,
    alerts: &Option<alerts::AlertsBackend>,
) {
    metrics::sources::bus(m, bus.clone());
    metrics::sources::viewers(m, hub.clone(), sse.clone());
    if let Some(r) = responder {
        metrics::sources::response(m, r.clone());
    }
    if let Some(a) = alerts {
        metrics::sources::alerts(m, a.handle.clone());
    }
}

/// Runs the API: open-file check, DB init (retry/backoff), admin bootstrap,
/// JWT secret, workers (webhooks), then serves `config.bind` until
/// `shutdown` resolves; then streams end, workers stop and the server
/// drains in-flight requests.
pub async fn serve(
    config: ApiConfig,
    backends: Backends,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<ApiHandle> {
    let Backends {
        store,
        bus,
        engine,
        responder,
        probes,
        canary,
        alerts,
        attack,
        metrics,
        reload,
    } = backends;
    check_open_files(config.min_open_files);
    init_store_with_retry(store.as_ref(), config.db_init_attempts).await?;
    let admin = bootstrap_admin(&config, store.as_ref()).await?;
    let secret = jwt_secret(&config)?;
    let supervisor = Supervisor::new(config.worker_backoff);
    let webhooks = start_webhooks(&store, &bus, &alerts, &supervisor).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let sse = sse_slots::SseSlots::new(config.sse_max_per_user);
    let hub = stream_hub::StreamHub::start(&bus, config.stream_coalesce, stop_rx.clone())
        .map_err(|e| anyhow::anyhow!("stream hub: {e}"))?;
    if let Some(m) = &metrics {
        register_metric_sources(m, &bus, &hub, &sse, &responder, &alerts);
    }
    let state = AppState {
        reload,
        metrics: routes::metrics::MetricsEndpoint {
            metrics,
            token: config.metrics_token.clone(),
        },
        hub,
        store,
        bus,
        engine,
        responder,
        canary,
        alerts,
        keys: Arc::new(auth::Keys::new(&secret)),
        login_limiter: Arc::new(auth::RateLimiter::new(
            config.login_max,
            config.login_window,
        )),
        tickets: Arc::new(auth::Tickets::new(config.ticket_ttl)),
        token_cache: Arc::new(token_cache::TokenCache::new(
            token_cache::DEFAULT_TTL,
            token_cache::DEFAULT_MAX,
        )),
        stats_cache: Arc::new(shared_value::SharedValue::new(STATS_TTL)),
        histogram_cache: Arc::new(shared_value::SharedValue::new(STATS_TTL)),
        sse,
        event_json: sse_json::EventJson::new(sse_json::DEFAULT_CAP),
        supervisor: supervisor.clone(),
        probes: probes.into(),
        webhooks,
        config: Arc::new(config.clone()),
        shutdown: stop_rx,
        started: Instant::now(),
        attack,
    };
    let (listener, local_addr) = listen(config.bind).await?;
    let app = app(state);
    let task = tokio::spawn(run_server(
        listener,
        app,
        shutdown,
        stop_tx,
        supervisor.clone(),
    ));
    tracing::info!(%local_addr, "API listening");
    Ok(ApiHandle {
        local_addr,
        admin,
        supervisor,
        task,
    })
}

/// Serves until `shutdown`, then ends the streams (`stop`), stops the
/// workers and drains in-flight requests.
async fn run_server(
    listener: NoDelayListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    stop: watch::Sender<bool>,
    supervisor: Arc<Supervisor>,
) -> anyhow::Result<()> {
    let graceful = async move {
        shutdown.await;
        tracing::info!("API shutting down");
        let _ = stop.send(true);
        supervisor.shutdown(Duration::from_secs(5)).await;
    };
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(graceful)
    .await
    .context("API server failed")
}

/// Binds the API address, every accepted connection with TCP_NODELAY:
/// live frames are small writes, and without it Nagle holds each one until
/// the client's (delayed) ACK of the previous.
async fn listen(bind: SocketAddr) -> anyhow::Result<(NoDelayListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot bind API address {bind}"))?;
    let local_addr = listener.local_addr()?;
    let listener = axum::serve::ListenerExt::tap_io(listener, set_nodelay as fn(&mut _));
    Ok((listener, local_addr))
}

/// The API's listener: TCP, each connection tapped by [`set_nodelay`].
type NoDelayListener = axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)>;

fn set_nodelay(tcp: &mut tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::debug!("TCP_NODELAY not set on an API connection: {e}");
    }
}
