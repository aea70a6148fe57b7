//! A standalone canary lab for the interop suite (`scripts/interop/canary.sh`):
//! real clients (curl, wget, dig, boto3, git, LibreOffice…) are pointed at
//! it from the shell. Configured by environment:
//!
//! * `CANARY_DB` SQLite file (tokens persist across runs),
//! * `CANARY_HTTP` listen address, `CANARY_PUBLIC` base URL (default `http://CANARY_HTTP`),
//! * `CANARY_DNS` listen address (UDP and TCP), `CANARY_ZONE`, `CANARY_DNS_ANSWER`,
//! * `CANARY_OUT` directory: `tokens.json` and each token's files under `<kind>/`,
//! * `CANARY_KINDS` comma list (default: every kind the targets allow),
//! * `CANARY_SSH`, `CANARY_K8S`, `CANARY_GIT`, `CANARY_MYSQL`, `CANARY_POSTGRES`,
//!   `CANARY_SMB`, `CANARY_S3` (`host:port`), `CANARY_SMB_SHARE`.
//!
//! `canary_lab` serves and prints every trigger as one JSON line on stdout.
//! `canary_lab replay` reads decky events (JSON lines, e.g. recorded from a
//! real `decnet serve`) on stdin and prints the watcher's triggers.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, Write};
use std::sync::Arc;

use decnet_bus::{Bus, Delivery, MemoryBus};
use decnet_canary::receivers::dns::{DnsConfig, DnsReceiver};
use decnet_canary::receivers::http::HttpReceiver;
use decnet_canary::receivers::Shared;
use decnet_canary::watch::CredentialWatcher;
use decnet_canary::{kinds, CanaryError, CanaryService, Ctx, Endpoint, Location, NewToken};

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

fn endpoint(k: &str) -> Option<Endpoint> {
    let v = env(k)?;
    let (h, p) = v.rsplit_once(':')?;
    Some(Endpoint {
        host: h.to_owned(),
        port: p.parse().ok()?,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let db = env("CANARY_DB").unwrap_or_else(|| "canary-lab.db".into());
    let store = Arc::new(decnet_store::SqlStore::connect(&format!("sqlite://{db}")).await?);
    let http = env("CANARY_HTTP").unwrap_or_else(|| "127.0.0.1:18080".into());
    let mut ctx = Ctx::new(&env("CANARY_PUBLIC").unwrap_or_else(|| format!("http://{http}")));
    ctx.dns_zone = env("CANARY_ZONE");
    ctx.targets.ssh = endpoint("CANARY_SSH");
    ctx.targets.k8s = endpoint("CANARY_K8S");
    ctx.targets.git = endpoint("CANARY_GIT");
    ctx.targets.mysql = endpoint("CANARY_MYSQL");
    ctx.targets.postgres = endpoint("CANARY_POSTGRES");
    ctx.targets.smb = endpoint("CANARY_SMB");
    ctx.targets.s3 = endpoint("CANARY_S3");
    ctx.targets.smb_share = env("CANARY_SMB_SHARE");
    let svc = CanaryService::open(store, ctx).await?;
    let bus = MemoryBus::new();
    let shared = Shared::new(svc.index(), bus.clone());

    if std::env::args().nth(1).as_deref() == Some("replay") {
        let watcher = CredentialWatcher::new(shared);
        let mut out = std::io::stdout().lock();
        for line in std::io::stdin().lock().lines() {
            let Ok(e) = serde_json::from_str::<decnet_core::Event>(&line?) else {
                continue;
            };
            if let Some(t) = watcher.check(&e) {
                writeln!(out, "{}", serde_json::to_string(&t)?)?;
            }
        }
        return Ok(());
    }

    if let Some(out) = env("CANARY_OUT") {
        let wanted: Vec<String> = match env("CANARY_KINDS") {
            Some(k) => k.split(',').map(str::to_owned).collect(),
            None => kinds::names().into_iter().map(str::to_owned).collect(),
        };
        let mut made = Vec::new();
        for kind in wanted {
            let req = NewToken {
                kind: kind.clone(),
                label: format!("lab {kind}"),
                created_by: "lab".into(),
                ..Default::default()
            };
            match svc.create(&req).await {
                Ok(t) => made.push(t),
                Err(CanaryError::MissingTarget { .. } | CanaryError::UnknownKind(_))
                    if env("CANARY_KINDS").is_none() => {}
                Err(e) => return Err(format!("{kind}: {e}").into()),
            }
        }
        for t in &made {
            for a in svc.render(t)? {
                let rel = match &a.location {
                    Location::Home(r) => r.clone(),
                    Location::Absolute(p) => p.trim_start_matches('/').to_owned(),
                };
                let path = std::path::Path::new(&out).join(&t.kind).join(rel);
                std::fs::create_dir_all(path.parent().unwrap_or(std::path::Path::new(&out)))?;
                std::fs::write(&path, &a.bytes)?;
                // As a user would keep them: ssh and psql refuse keys and
                // password files others can read.
                std::fs::set_permissions(
                    &path,
                    std::os::unix::fs::PermissionsExt::from_mode(a.mode),
                )?;
            }
        }
        std::fs::write(
            std::path::Path::new(&out).join("tokens.json"),
            serde_json::to_vec_pretty(&made)?,
        )?;
        let bundle = decnet_canary::bundle::bundle(&made, &svc.ctx())?;
        std::fs::write(std::path::Path::new(&out).join("bundle.zip"), bundle)?;
    }

    let mut sub = bus.subscribe("events.>", Delivery::Lossless)?;
    tokio::spawn(
        HttpReceiver::new(shared.clone()).serve(tokio::net::TcpListener::bind(&http).await?),
    );
    if let (Some(addr), Some(zone)) = (env("CANARY_DNS"), env("CANARY_ZONE")) {
        let answer = env("CANARY_DNS_ANSWER")
            .unwrap_or_else(|| "127.0.0.1".into())
            .parse()?;
        let rx = DnsReceiver::new(
            shared.clone(),
            DnsConfig {
                zone,
                address: answer,
                ttl: 0,
            },
        )?;
        tokio::spawn(
            rx.clone()
                .serve_udp(tokio::net::UdpSocket::bind(&addr).await?),
        );
        tokio::spawn(rx.serve_tcp(tokio::net::TcpListener::bind(&addr).await?));
    }
    eprintln!("canary lab ready: {} live tokens", svc.index().len());
    while let Some(env) = sub.recv().await {
        if let Some(e) = env.as_event() {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", serde_json::to_string(e.as_ref())?)?;
            out.flush()?;
        }
    }
    Ok(())
}
