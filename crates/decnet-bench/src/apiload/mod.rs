//! API, live-stream and scale-out modes of `decnet-load` (events through
//! decky sockets counted end to end, SSE fan-out latency, store fill for the
//! REST figures, sensor → other server's SSE).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

mod client;
mod fill;
mod hist;
mod inject;
mod scaleout;
mod streams;

use client::Api;
use inject::Plan;

/// Login shared by the API modes.
#[derive(clap::Args, Clone)]
pub struct Login {
    /// API base URL (loopback), e.g. http://127.0.0.1:8000.
    #[arg(long)]
    api: String,
    #[arg(long, default_value = "admin")]
    user: String,
    #[arg(long, default_value = "bench-admin-password")]
    password: String,
}

/// Injection shared by `events` and `sse`.
#[derive(clap::Args, Clone)]
pub struct Inject {
    /// A decky's http service.
    #[arg(long)]
    target: SocketAddr,
    /// That decky's name (to count its stored events).
    #[arg(long)]
    decky: String,
    /// Events per second.
    #[arg(long, default_value_t = 5000)]
    rate: u64,
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 16)]
    conns: usize,
}

impl Inject {
    fn plan(&self) -> Plan {
        Plan {
            target: self.target,
            rate: self.rate,
            seconds: self.seconds.min(120.0),
            conns: self.conns,
            run: format!("r{}", std::process::id()),
        }
    }
}

/// The API modes.
#[derive(Subcommand)]
pub enum ApiMode {
    /// Inject events at a fixed rate into a running instance's decky; count them in the store.
    Events {
        #[command(flatten)]
        login: Login,
        #[command(flatten)]
        inject: Inject,
    },
    /// N `/stream` subscribers while events are injected: latency and per-subscriber counts.
    Sse {
        #[command(flatten)]
        login: Login,
        #[command(flatten)]
        inject: Inject,
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        /// Seconds the streams get to catch up after the injection.
        #[arg(long, default_value_t = 10)]
        drain: u64,
    },
    /// Fill DATA_DIR/decnet.db (SQLite) with N synthetic events.
    Fill {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value_t = 2000)]
        batch: usize,
    },
    /// Log in and print the bearer token (for wrk -H).
    Token {
        #[command(flatten)]
        login: Login,
    },
    /// Sensor socket → SSE on two NATS/PostgreSQL servers (starts everything itself).
    Scaleout {
        /// decnet binary.
        #[arg(long)]
        bin: PathBuf,
        #[arg(long, default_value_t = 0)]
        port_offset: u16,
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Subscribers on each server.
        #[arg(long, default_value_t = 4)]
        subscribers: usize,
    },
}

fn login_url(l: &Login) -> anyhow::Result<()> {
    let host = l
        .api
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or("");
    let addr: SocketAddr = host
        .parse()
        .map_err(|_| anyhow::anyhow!("--api {}: want http://IP:PORT", l.api))?;
    crate::check_loopback(&addr)
}

async fn session(l: &Login) -> anyhow::Result<Api> {
    login_url(l)?;
    Api::login(&l.api, &l.user, &l.password).await
}

/// Runs one API mode and prints its JSON result.
pub async fn main(mode: ApiMode) -> anyhow::Result<()> {
    let out = match mode {
        ApiMode::Events { login, inject } => {
            let api = session(&login).await?;
            let r = streams::run(&[api], 0, &inject.plan(), &inject.decky, Duration::ZERO).await?;
            serde_json::to_string(&r)?
        }
        ApiMode::Sse {
            login,
            inject,
            subscribers,
            drain,
        } => {
            let api = session(&login).await?;
            let plan = inject.plan();
            let r = streams::run(
                &[api],
                subscribers,
                &plan,
                &inject.decky,
                Duration::from_secs(drain.min(60)),
            )
            .await?;
            serde_json::to_string(&r)?
        }
        ApiMode::Fill {
            data_dir,
            events,
            batch,
        } => serde_json::to_string(&fill::fill(&data_dir, events, batch.max(1)).await?)?,
        ApiMode::Token { login } => session(&login).await?.token().to_owned(),
        ApiMode::Scaleout {
            bin,
            port_offset,
            rate,
            seconds,
            subscribers,
        } => serde_json::to_string(
            &scaleout::run(&bin, port_offset, rate, seconds.min(60.0), subscribers).await?,
        )?,
    };
    println!("{out}");
    Ok(())
}
