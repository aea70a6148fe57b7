//! API configuration, normally read from the environment (DESIGN §2, §8).
//! Plain values only: the live handles the API serves from (store, bus,
//! engine, responder) are [`crate::state::Backends`], so this module
//! depends on nothing else in the crate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default shortest coalescing window of the shared `/stream` feed (few
/// viewers: barely any delay; see `stream_hub`).
pub const DEFAULT_STREAM_COALESCE: Duration = Duration::from_millis(2);

/// Everything `serve` needs besides its [`crate::state::Backends`].
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// Listen address (`--api`). Port 0 picks a free one.
    pub bind: SocketAddr,
    /// Data dir: `admin-password`, `jwt-secret`.
    pub data_dir: PathBuf,
    /// `DECNET_ADMIN_USER` (default `admin`).
    pub admin_user: String,
    /// `DECNET_ADMIN_PASSWORD`; unset → random, printed once, written to
    /// `DATA_DIR/admin-password`, change forced.
    pub admin_password: Option<String>,
    /// `DECNET_JWT_SECRET` (≥ 32 bytes); unset → generated and persisted.
    pub jwt_secret: Option<String>,
    /// `DECNET_DEVELOPER=true`: interactive docs at `/docs`.
    pub developer: bool,
    /// `DECNET_CORS_ORIGINS` (comma-separated); empty → no CORS headers.
    pub cors_origins: Vec<String>,
    /// Failed logins allowed per source address in `login_window`.
    pub login_max: u32,
    /// Login rate-limit window.
    pub login_window: Duration,
    /// Concurrent SSE connections per user (`DECNET_SSE_MAX_PER_USER`).
    pub sse_max_per_user: usize,
    /// Idle time before an SSE `: keepalive` comment.
    pub sse_keepalive: Duration,
    /// Period of the stats/histogram messages on `/stream`.
    pub stream_stats_interval: Duration,
    /// Coalescing window of the shared `/stream` feed
    /// (`DECNET_STREAM_COALESCE_MS`): at most one write per viewer per window.
    pub stream_coalesce: Duration,
    /// SSE ticket lifetime.
    pub ticket_ttl: Duration,
    /// First restart delay of a failed worker (doubles up to 60 s).
    pub worker_backoff: Duration,
    /// Database initialisation attempts before giving up.
    pub db_init_attempts: u32,
    /// Open-file soft limit below which a warning is logged.
    pub min_open_files: u64,
    /// Maximum request body.
    pub max_body: usize,
    /// `DECNET_METRICS_TOKEN`: bearer token `/metrics` requires; unset →
    /// none required.
    pub metrics_token: Option<decnet_core::secret::Secret>,
}

impl ApiConfig {
    /// Defaults for an address and data dir, without reading the environment.
    pub fn new(bind: SocketAddr, data_dir: impl Into<PathBuf>) -> Self {
        ApiConfig {
            bind,
            data_dir: data_dir.into(),
            admin_user: "admin".into(),
            admin_password: None,
            jwt_secret: None,
            developer: false,
            cors_origins: Vec::new(),
            login_max: 10,
            login_window: Duration::from_secs(300),
            sse_max_per_user: 5,
            sse_keepalive: Duration::from_secs(15),
            stream_stats_interval: Duration::from_secs(10),
            stream_coalesce: DEFAULT_STREAM_COALESCE,
            ticket_ttl: Duration::from_secs(60),
            worker_backoff: Duration::from_secs(1),
            db_init_attempts: 5,
            min_open_files: 4096,
            max_body: 1024 * 1024,
            metrics_token: None,
        }
    }

    /// Defaults overridden by `DECNET_*` environment variables.
    pub fn from_env(bind: SocketAddr, data_dir: impl Into<PathBuf>) -> Self {
        let mut c = ApiConfig::new(bind, data_dir);
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(u) = var("DECNET_ADMIN_USER") {
            c.admin_user = u;
        }
        c.admin_password = var("DECNET_ADMIN_PASSWORD");
        c.jwt_secret = var("DECNET_JWT_SECRET");
        c.metrics_token = var("DECNET_METRICS_TOKEN").map(decnet_core::secret::Secret::new);
        c.developer = var("DECNET_DEVELOPER")
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"));
        if let Some(o) = var("DECNET_CORS_ORIGINS") {
            c.cors_origins = o
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
        }
        if let Some(n) = var("DECNET_SSE_MAX_PER_USER").and_then(|v| v.parse().ok()) {
            c.sse_max_per_user = n;
        }
        if let Some(ms) = var("DECNET_STREAM_COALESCE_MS").and_then(|v| v.parse::<u64>().ok()) {
            c.stream_coalesce = Duration::from_millis(ms.min(1000));
        }
        c
    }
}
