//! Shared helpers: the real pipeline (bus → ingester + intel → store) and a
//! synthetic attacker population generator.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use decnet_bus::{Bus, Delivery, MemoryBus, Subscription};
use decnet_core::{Event, EventKind};
use decnet_intel::{Intel, IntelConfig, IntelHandle};
use decnet_store::ingest::{IngestConfig, IngestHandle, Ingester};
use decnet_store::Store;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The pipeline as the binary wires it.
pub struct Pipeline {
    pub bus: Arc<MemoryBus>,
    pub store: Arc<dyn Store>,
    pub ingester: IngestHandle,
    pub intel: IntelHandle,
    pub identity_sub: Subscription,
}

impl Pipeline {
    pub async fn start(url: &str) -> Pipeline {
        let store = decnet_store::open(url).await.unwrap();
        let bus = MemoryBus::new();
        let identity_sub = bus.subscribe("identity.>", Delivery::Lossless).unwrap();
        let ingester = Ingester::start(
            store.clone(),
            bus.subscribe("events.>", Delivery::Lossless).unwrap(),
            IngestConfig {
                batch_wait: Duration::from_millis(20),
                ..Default::default()
            },
        );
        let dynbus: Arc<dyn Bus> = bus.clone();
        let intel = Intel::start(
            store.clone(),
            dynbus,
            bus.subscribe("events.>", Delivery::Lossless).unwrap(),
            IntelConfig {
                batch_size: 200,
                batch_wait: Duration::from_millis(20),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        Pipeline {
            bus,
            store,
            ingester,
            intel,
            identity_sub,
        }
    }

    pub fn publish(&self, events: &[Event]) {
        for e in events {
            self.bus.publish_event(e.clone());
        }
    }

    /// Flushes both workers; returns the store and the identity bus events seen.
    pub async fn finish(mut self) -> (Arc<dyn Store>, Vec<(String, serde_json::Value)>) {
        self.ingester.finish().await.unwrap();
        self.intel.finish().await.unwrap();
        let mut evs = Vec::new();
        while let Some(env) = self.identity_sub.try_recv() {
            if let decnet_bus::Payload::Json(v) = &env.payload {
                evs.push((env.topic.clone(), v.clone()));
            }
        }
        (self.store, evs)
    }
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 8, 0, 0).unwrap()
}

/// An event from `ip` at `t0 + ms`.
pub fn ev(ms: i64, ip: &str, decky: &str, service: &str, kind: EventKind, port: u16) -> Event {
    let mut e = Event::new(decky, service, kind);
    e.ts = t0() + chrono::Duration::milliseconds(ms);
    e.src_ip = ip.parse().unwrap();
    e.src_port = 40000;
    e.dst_ip = "127.0.64.10".parse().unwrap();
    e.dst_port = port;
    e
}

/// An auth attempt as the services emit it (credential fields + password).
pub fn auth(ms: i64, ip: &str, decky: &str, service: &str, user: &str, pass: &str) -> Event {
    let mut e = ev(ms, ip, decky, service, EventKind::AuthAttempt, 22)
        .with("username", user)
        .with("password", pass);
    decnet_core::event::credential_fields(&mut e.fields, user, "password", pass.as_bytes());
    e
}

/// One synthetic actor or noise source.
#[derive(Clone, Debug)]
pub struct Source {
    pub ip: String,
    /// Ground-truth actor (noise sources: None).
    pub actor: Option<usize>,
}

/// A generated population and its events.
pub struct Population {
    pub sources: Vec<Source>,
    pub events: Vec<Event>,
}

const WORDLIST: &[&str] = &[
    "123456",
    "password",
    "admin",
    "root",
    "toor",
    "qwerty",
    "letmein",
    "1234",
    "raspberry",
    "ubnt",
];
const USERS: &[&str] = &["root", "admin", "pi", "ubuntu", "oracle", "test"];
const COMMON_BANNERS: &[&str] = &["SSH-2.0-libssh_0.9.6", "SSH-2.0-Go"];
const COMMON_HASSH: &[&str] = &[
    "b5752e36ba6c5979a575e43178908adf",
    "0df0d56bb50c6b2426d8d40234bf1826",
];
const COMMANDS: &[&str] = &[
    "uname -a",
    "id",
    "cat /proc/cpuinfo",
    "nproc",
    "free -m",
    "w",
    "ls -la /tmp",
    "cd /tmp",
    "history -c",
    "crontab -l",
    "cat /etc/passwd",
    "ps aux",
    "whoami",
    "lscpu",
    "df -h",
];
const DECKIES: &[&str] = &["web01", "db01", "mail01", "files01", "iot01", "dev01"];

/// N actors, each with several source addresses, its own tool fingerprints
/// and habits, plus unrelated noise. Deterministic for a seed.
///
/// Actor kinds (cycled):
/// 0. SSH tool with a distinctive HASSH + banner on every address.
/// 1. HTTPS tool with a distinctive JA3/JA4 on every address.
/// 2. Loader: every address uploads the same payload and fetches the same C2 URL
///    (no fingerprint), plus a shared command habit.
/// 3. SSH tool, but one address in three uses a *stock* client (no distinctive
///    signal) — those addresses cannot be linked by the DESIGN §9 weights.
///
/// Noise: single addresses using the stock clients everyone uses (common
/// banners/HASSHes), the same wordlist and similar commands.
pub fn population(seed: u64, actors: usize, noise: usize) -> Population {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sources = Vec::new();
    let mut events = Vec::new();
    let mut next_ip = 0u32;
    let mut ip = |rng: &mut ChaCha8Rng| {
        next_ip += 1 + rng.gen_range(0..3);
        format!("127.10.{}.{}", next_ip / 250, next_ip % 250 + 1)
    };
    for a in 0..actors {
        let kind = a % 4;
        let n_ips = rng.gen_range(2..=5);
        let hassh = format!("{:032x}", rng.gen::<u128>());
        let banner = format!("SSH-2.0-Tool{a}_{}", rng.gen_range(1..9));
        let ja3 = format!("{:032x}", rng.gen::<u128>());
        let ja4 = format!(
            "t13d{:04}h2_{:012x}",
            a,
            rng.gen::<u64>() & 0xffff_ffff_ffff
        );
        let payload = format!("{:064x}", rng.gen::<u128>());
        let c2 = format!("http://198.51.100.{}/bins/x{a}.sh", a % 250);
        let mut habit: Vec<&str> = COMMANDS.to_vec();
        habit.shuffle(&mut rng);
        habit.truncate(5);
        let start = rng.gen_range(0..3_600_000i64);
        for k in 0..n_ips {
            let addr = ip(&mut rng);
            sources.push(Source {
                ip: addr.clone(),
                actor: Some(a),
            });
            let decky = DECKIES[(a + k) % DECKIES.len()];
            let mut t = start + k as i64 * 60_000;
            let stock = kind == 3 && k % 3 == 2;
            let tries = rng.gen_range(3..12);
            for _ in 0..tries {
                t += rng.gen_range(500..5000);
                match kind {
                    1 => {
                        let mut e = ev(t, &addr, decky, "https", EventKind::Request, 443)
                            .with("path", "/login");
                        e = e.with("ja3", ja3.clone()).with("ja4", ja4.clone());
                        events.push(e);
                    }
                    _ => {
                        let (b, h) = if kind == 2 || stock {
                            let i = rng.gen_range(0..COMMON_BANNERS.len());
                            (COMMON_BANNERS[i].to_string(), COMMON_HASSH[i].to_string())
                        } else {
                            (banner.clone(), hassh.clone())
                        };
                        let u = USERS[rng.gen_range(0..USERS.len())];
                        let p = WORDLIST[rng.gen_range(0..WORDLIST.len())];
                        events.push(
                            auth(t, &addr, decky, "ssh", u, p)
                                .with("client_version", b)
                                .with("hassh", h),
                        );
                    }
                }
            }
            for c in &habit {
                t += rng.gen_range(200..2000);
                events.push(ev(t, &addr, decky, "ssh", EventKind::Command, 22).with("command", *c));
            }
            if kind == 2 {
                t += 1000;
                events.push(
                    ev(t, &addr, decky, "ssh", EventKind::FileDownload, 22).with("url", c2.clone()),
                );
                t += 1000;
                events.push(
                    ev(t, &addr, decky, "ssh", EventKind::FileUpload, 22)
                        .with("sha256", payload.clone())
                        .with("size", 1234)
                        .with("filename", "x.sh"),
                );
            }
        }
    }
    for _ in 0..noise {
        let addr = ip(&mut rng);
        sources.push(Source {
            ip: addr.clone(),
            actor: None,
        });
        let i = rng.gen_range(0..COMMON_BANNERS.len());
        let mut t = rng.gen_range(0..3_600_000i64);
        let decky = DECKIES[rng.gen_range(0..DECKIES.len())];
        for _ in 0..rng.gen_range(1..15) {
            t += rng.gen_range(100..3000);
            let u = USERS[rng.gen_range(0..USERS.len())];
            let p = WORDLIST[rng.gen_range(0..WORDLIST.len())];
            events.push(
                auth(t, &addr, decky, "ssh", u, p)
                    .with("client_version", COMMON_BANNERS[i])
                    .with("hassh", COMMON_HASSH[i]),
            );
        }
        if rng.gen_bool(0.3) {
            for c in COMMANDS.choose_multiple(&mut rng, 3) {
                t += 500;
                events.push(ev(t, &addr, decky, "ssh", EventKind::Command, 22).with("command", *c));
            }
        }
    }
    events.sort_by_key(|e| e.ts);
    Population { sources, events }
}

/// Pairwise precision/recall of predicted groups against the truth.
pub fn pair_scores(
    sources: &[Source],
    predicted: &BTreeMap<String, String>,
) -> (f64, f64, usize, usize, usize) {
    let (mut tp, mut fp, mut fn_) = (0usize, 0usize, 0usize);
    for i in 0..sources.len() {
        for j in i + 1..sources.len() {
            let truth = sources[i].actor.is_some() && sources[i].actor == sources[j].actor;
            let pred = match (predicted.get(&sources[i].ip), predicted.get(&sources[j].ip)) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            };
            match (truth, pred) {
                (true, true) => tp += 1,
                (false, true) => fp += 1,
                (true, false) => fn_ += 1,
                _ => {}
            }
        }
    }
    let precision = if tp + fp == 0 {
        1.0
    } else {
        tp as f64 / (tp + fp) as f64
    };
    let recall = if tp + fn_ == 0 {
        1.0
    } else {
        tp as f64 / (tp + fn_) as f64
    };
    (precision, recall, tp, fp, fn_)
}

/// Stock SSH clients as the internet runs them, most common first: each
/// version's banner and the HASSH every install of it sends.
const STOCK_CLIENTS: &[&str] = &[
    "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.10",
    "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
    "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5",
    "SSH-2.0-libssh_0.10.6",
    "SSH-2.0-Go",
    "SSH-2.0-OpenSSH_7.4",
    "SSH-2.0-OpenSSH_8.0",
    "SSH-2.0-paramiko_3.4.0",
    "SSH-2.0-libssh2_1.11.0",
    "SSH-2.0-OpenSSH_for_Windows_8.1",
    "SSH-2.0-PuTTY_Release_0.80",
    "SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.11",
    "SSH-2.0-OpenSSH_9.7",
    "SSH-2.0-OpenSSH_7.9p1 Debian-10+deb10u4",
    "SSH-2.0-libssh_0.9.6",
    "SSH-2.0-AsyncSSH_2.14.2",
    "SSH-2.0-JSCH-0.1.54",
    "SSH-2.0-dropbear_2022.83",
    "SSH-2.0-OpenSSH_6.6.1p1 Ubuntu-2ubuntu2.13",
    "SSH-2.0-OpenSSH_9.3",
    "SSH-2.0-OpenSSH_8.4p1 Debian-5+deb11u3",
    "SSH-2.0-russh_0.43",
    "SSH-2.0-OpenSSH_5.3",
    "SSH-2.0-OpenSSH_8.7",
];

fn stock_hassh(banner: &str) -> String {
    decnet_intel::profile::sha256_hex(format!("kexinit of {banner}").as_bytes())[..32].to_owned()
}

/// An SSH auth attempt as the SSH service emits it (hello fields included).
fn ssh_auth(ms: i64, ip: &str, banner: &str, hassh: &str, user: &str, pass: &str) -> Event {
    auth(
        ms,
        ip,
        DECKIES[ms as usize % DECKIES.len()],
        "ssh",
        user,
        pass,
    )
    .with("client_version", banner)
    .with("hassh", hassh)
}

/// A public-key offer as the SSH service emits it: the key's SHA256
/// fingerprint is the secret.
fn ssh_key_offer(ms: i64, ip: &str, banner: &str, user: &str, fingerprint: &str) -> Event {
    let mut e = ev(ms, ip, "web01", "ssh", EventKind::AuthAttempt, 22)
        .with("username", user)
        .with("method", "publickey")
        .with("fingerprint", fingerprint)
        .with("client_version", banner)
        .with("hassh", stock_hassh(banner));
    decnet_core::event::credential_fields(&mut e.fields, user, "publickey", fingerprint.as_bytes());
    e
}

/// The population DESIGN §9's rarity weighting is measured on: `stock`
/// unrelated sources using stock SSH clients (24 versions, Zipf-like: a
/// few versions are everywhere, most are on a handful of sources) with
/// wordlist credentials and the usual first commands, and `actors` real
/// actors using 3 addresses each, linked by one rare thing:
///
/// * actor % 4 == 0: their own SSH tool (custom banner and HASSH);
/// * actor % 4 == 1: an HTTPS tool with its own JA3/JA4;
/// * actor % 4 == 2: stock OpenSSH, but the same SSH key offered everywhere;
/// * actor % 4 == 3: stock OpenSSH, but one unusual password (a leaked
///   credential) tried from every address.
pub fn stock_population(seed: u64, stock: usize, actors: usize) -> Population {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sources = Vec::new();
    let mut events = Vec::new();
    let mut n = 0u32;
    let mut ip = || {
        n += 1;
        format!("127.20.{}.{}", n / 250, n % 250 + 1)
    };
    let weights: Vec<f64> = (1..=STOCK_CLIENTS.len()).map(|r| 1.0 / r as f64).collect();
    let total: f64 = weights.iter().sum();
    for _ in 0..stock {
        let addr = ip();
        sources.push(Source {
            ip: addr.clone(),
            actor: None,
        });
        let mut pick = rng.gen::<f64>() * total;
        let client = weights
            .iter()
            .position(|w| {
                pick -= w;
                pick <= 0.0
            })
            .unwrap_or(0);
        let banner = STOCK_CLIENTS[client];
        let hassh = stock_hassh(banner);
        let mut t = rng.gen_range(0..3_600_000i64);
        for _ in 0..rng.gen_range(1..10) {
            t += rng.gen_range(300..3000);
            let u = USERS[rng.gen_range(0..USERS.len())];
            let p = WORDLIST[rng.gen_range(0..WORDLIST.len())];
            events.push(ssh_auth(t, &addr, banner, &hassh, u, p));
        }
        if rng.gen_bool(0.3) {
            for c in COMMANDS.choose_multiple(&mut rng, 3) {
                t += 500;
                events
                    .push(ev(t, &addr, "web01", "ssh", EventKind::Command, 22).with("command", *c));
            }
        }
    }
    for a in 0..actors {
        let banner = format!("SSH-2.0-Tool{a}_{}", rng.gen_range(1..9));
        let hassh = format!("{:032x}", rng.gen::<u128>());
        let ja3 = format!("{:032x}", rng.gen::<u128>());
        let ja4 = format!("t13d{a:04}h2_{:012x}", rng.gen::<u64>() & 0xffff_ffff_ffff);
        let key = format!("SHA256:{:043x}", rng.gen::<u128>());
        let secret = format!("Qz{:08x}!", rng.gen::<u32>());
        let stock = STOCK_CLIENTS[1];
        let mut t = rng.gen_range(0..3_600_000i64);
        for _ in 0..3 {
            let addr = ip();
            sources.push(Source {
                ip: addr.clone(),
                actor: Some(a),
            });
            for _ in 0..rng.gen_range(2..6) {
                t += rng.gen_range(300..3000);
                let u = USERS[rng.gen_range(0..USERS.len())];
                let p = WORDLIST[rng.gen_range(0..WORDLIST.len())];
                match a % 4 {
                    0 => events.push(ssh_auth(t, &addr, &banner, &hassh, u, p)),
                    1 => events.push(
                        ev(t, &addr, "web01", "https", EventKind::Request, 443)
                            .with("path", "/login")
                            .with("ja3", ja3.clone())
                            .with("ja4", ja4.clone()),
                    ),
                    _ => events.push(ssh_auth(t, &addr, stock, &stock_hassh(stock), u, p)),
                }
            }
            t += 1000;
            match a % 4 {
                2 => events.push(ssh_key_offer(t, &addr, stock, "deploy", &key)),
                3 => events.push(ssh_auth(
                    t,
                    &addr,
                    stock,
                    &stock_hassh(stock),
                    "backup",
                    &secret,
                )),
                _ => {}
            }
        }
    }
    events.sort_by_key(|e| e.ts);
    Population { sources, events }
}
