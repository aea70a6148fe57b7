//! What the SSH tests share: a decky context from a fleet snippet, a
//! russh client that accepts any host key, event and channel helpers.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_bus::{Bus, Subscription};
use decnet_core::{Event, FleetSpec};
use decnet_services::{DeckyCtx, Limits};
use russh::client;
use russh::keys::PublicKeyOrCertificate;
use russh::ChannelMsg;

/// A decky `t<last octet>` at `ip` from `sections` (its `services = …`
/// line and any `[t<n>.<svc>]` sections, with `{n}` for the name).
pub fn decky_ctx_with(
    ip: &str,
    bus: Arc<dyn Bus>,
    dir: std::path::PathBuf,
    sections: &str,
    limits: Limits,
    offset: u16,
) -> Arc<DeckyCtx> {
    let n = ip.rsplit('.').next().unwrap();
    let text = format!("[t{n}]\nip = {ip}\n{}", sections.replace("{n}", n));
    let (fleet, _): (FleetSpec, _) = decnet_core::fleet::parse_str(&text).unwrap();
    let data = dir.join("deckies").join(&fleet.deckies[0].name);
    std::fs::create_dir_all(&data).unwrap();
    Arc::new(DeckyCtx::new(
        fleet.deckies[0].clone(),
        0,
        data,
        bus,
        limits,
        offset,
    ))
}

#[derive(Default)]
pub struct Client {
    pub key: Option<String>,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, k: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        if let PublicKeyOrCertificate::PublicKey { key, .. } = k {
            self.key = Some(key.fingerprint(russh::keys::HashAlg::Sha256).to_string());
        }
        Ok(true)
    }
}

pub async fn connect(addr: std::net::SocketAddr) -> client::Handle<Client> {
    let cfg = Arc::new(client::Config::default());
    client::connect(cfg, addr, Client::default()).await.unwrap()
}

pub async fn events_until(
    sub: &mut Subscription,
    mut done: impl FnMut(&[Event]) -> bool,
) -> Vec<Event> {
    let mut all = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(&all) {
        let left = deadline.saturating_duration_since(Instant::now());
        let env = tokio::time::timeout(left, sub.recv())
            .await
            .unwrap_or_else(|_| panic!("events in time; got {all:#?}"))
            .unwrap();
        all.push(Event::clone(env.as_event().unwrap()));
    }
    all
}

pub async fn wait_ack(ch: &mut russh::Channel<client::Msg>) -> Vec<u8> {
    let fut = async {
        loop {
            match ch.wait().await {
                Some(ChannelMsg::Data { data }) => return data.to_vec(),
                Some(_) => {}
                None => return vec![],
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), fut)
        .await
        .expect("ack in time")
}
