//! Event sequences shaped like what real tools and people leave on a
//! decky (the services' own event kinds and fields: connect/disconnect
//! from the framework, `auth_attempt` with `username`/`password`,
//! `command`, `request`), classified end to end through
//! [`crate::profile::apply`] and [`super::classify`].

use chrono::{DateTime, Duration, TimeZone, Utc};
use decnet_core::{Event, EventKind};
use decnet_store::AttackerRow;
use uuid::Uuid;

use crate::profile::{apply, AttackerState};

const IP: &str = "198.51.100.23";

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 8, 0, 0).unwrap()
}

/// Builds one address's events, session by session.
struct Shape {
    events: Vec<Event>,
}

impl Shape {
    fn new() -> Self {
        Shape { events: Vec::new() }
    }

    fn ev(
        &mut self,
        ms: i64,
        decky: &str,
        service: &str,
        port: u16,
        kind: EventKind,
        sid: Uuid,
    ) -> &mut Event {
        let mut e = Event::new(decky, service, kind);
        e.ts = t0() + Duration::milliseconds(ms);
        e.src_ip = IP.parse().unwrap();
        e.src_port = 40000;
        e.dst_port = port;
        e.session_id = Some(sid);
        self.events.push(e);
        self.events.last_mut().unwrap()
    }

    /// A session from `start_ms` to `end_ms`; `body` adds what happened in it.
    fn session(
        &mut self,
        (start_ms, end_ms): (i64, i64),
        (decky, service, port): (&str, &str, u16),
        body: impl FnOnce(&mut Self, Uuid),
    ) -> &mut Self {
        let sid = Uuid::now_v7();
        self.ev(start_ms, decky, service, port, EventKind::Connect, sid);
        body(self, sid);
        self.ev(end_ms, decky, service, port, EventKind::Disconnect, sid)
            .fields
            .insert("duration_ms".into(), (end_ms - start_ms).into());
        self
    }

    fn auth(&mut self, ms: i64, to: (&str, &str, u16), sid: Uuid, user: &str, pass: &str) {
        let e = self.ev(ms, to.0, to.1, to.2, EventKind::AuthAttempt, sid);
        e.fields.insert("username".into(), user.into());
        e.fields.insert("password".into(), pass.into());
        decnet_core::event::credential_fields(&mut e.fields, user, "password", pass.as_bytes());
    }

    fn command(&mut self, ms: i64, to: (&str, &str, u16), sid: Uuid, cmd: &str) {
        let e = self.ev(ms, to.0, to.1, to.2, EventKind::Command, sid);
        e.fields.insert("command".into(), cmd.into());
    }

    /// A probe line as telnet and redis record it now (`scan`/`probe`).
    fn probe(&mut self, ms: i64, to: (&str, &str, u16), sid: Uuid, line: &str) {
        let e = self.ev(ms, to.0, to.1, to.2, EventKind::Scan, sid);
        e.fields.insert("event_type".into(), "probe".into());
        e.fields.insert("probe".into(), line.into());
    }

    fn request(&mut self, ms: i64, to: (&str, &str, u16), sid: Uuid, path: &str) {
        let e = self.ev(ms, to.0, to.1, to.2, EventKind::Request, sid);
        e.fields.insert("method".into(), "GET".into());
        e.fields.insert("path".into(), path.into());
    }

    fn classify(&self) -> AttackerRow {
        let mut row = AttackerRow::new(IP, self.events[0].ts);
        let mut st = AttackerState::default();
        for e in &self.events {
            apply(&mut row, &mut st, e);
        }
        super::classify(&mut row, &st);
        row
    }
}

const SSH: (&str, &str, u16) = ("web01", "ssh", 22);
const HTTP: (&str, &str, u16) = ("web01", "http", 80);
const TELNET: (&str, &str, u16) = ("web01", "telnet", 23);
const REDIS: (&str, &str, u16) = ("db01", "redis", 6379);
/// The head of every public wordlist (skipping the empty password).
fn wordlist() -> &'static [&'static str] {
    &crate::rarity::COMMON_SECRETS[1..]
}

/// hydra -t 4 -l root -P list ssh://decky: 4 tasks, 2 tries per
/// connection, 8 passwords in 17 s.
fn hydra() -> Shape {
    let mut s = Shape::new();
    for task in 0..4i64 {
        let start = task * 300;
        s.session((start, start + 17_000), SSH, |s, sid| {
            for k in 0..2i64 {
                let pw = wordlist()[(task * 2 + k) as usize];
                s.auth(start + 4_000 + k * 8_000, SSH, sid, "root", pw);
            }
        });
    }
    s
}

/// medusa -M ssh -u root -P list: one connection per password, one thread.
fn medusa() -> Shape {
    let mut s = Shape::new();
    for (i, pw) in wordlist().iter().take(6).enumerate() {
        let start = i as i64 * 2_500;
        s.session((start, start + 2_000), SSH, |s, sid| {
            s.auth(start + 900, SSH, sid, "root", pw)
        });
    }
    s
}

/// ncrack ssh://decky with its default user list: few passwords per user.
fn ncrack() -> Shape {
    let mut s = Shape::new();
    let mut t = 0;
    for user in ["root", "admin", "guest"] {
        s.session((t, t + 1_500), SSH, |s, sid| {
            s.auth(t + 300, SSH, sid, user, "123456");
        });
        t += 400;
    }
    s
}

/// nmap -sT against a decky with three open services: each handshake is
/// completed and reset at once.
fn nmap_connect_scan() -> Shape {
    let mut s = Shape::new();
    for (i, to) in [SSH, HTTP, TELNET].into_iter().enumerate() {
        let t = i as i64 * 3;
        s.session((t, t + 1), to, |_, _| {});
    }
    s
}

/// nmap -sS -sV as a decky saw it: -sS reaches no service; -sV reads the
/// ssh banner and leaves, waits on http (NULL probe) then sends `GET /`,
/// and telnet takes the NULL probe timeout and `GET / HTTP/1.0` for logins.
fn nmap_version_scan() -> Shape {
    let mut s = Shape::new();
    s.session((0, 24), SSH, |_, _| {});
    s.session((1, 11_015), HTTP, |_, _| {});
    s.session((2, 11_016), TELNET, |s, sid| {
        s.auth(6_010, TELNET, sid, "", "")
    });
    s.session((11_016, 11_016), HTTP, |s, sid| {
        s.request(11_016, HTTP, sid, "/")
    });
    s.session((11_017, 16_020), TELNET, |s, sid| {
        s.auth(11_025, TELNET, sid, "GET / HTTP/1.0", "")
    });
    s.session((16_021, 21_030), TELNET, |_, _| {});
    s
}

/// nmap -sV against redis: its probes arrive as inline commands.
fn nmap_redis_probe() -> Shape {
    let mut s = Shape::new();
    s.session((0, 6_015), REDIS, |s, sid| {
        s.command(6_000, REDIS, sid, "info")
    });
    s.session((5_001, 5_010), REDIS, |s, sid| {
        s.command(5_002, REDIS, sid, "GET / HTTP/1.0")
    });
    s.session((5_011, 5_020), REDIS, |s, sid| {
        s.command(5_012, REDIS, sid, "\\x16\\x03\\x00\\x00S\\x01")
    });
    s.session((5_021, 5_030), REDIS, |s, sid| {
        for line in [
            "OPTIONS sip:nm SIP/2.0",
            "Via: SIP/2.0/TCP nm;branch=foo",
            "Call-ID: 50000",
        ] {
            s.command(5_022, REDIS, sid, line);
        }
    });
    s
}

/// nmap -sV against telnet and redis, whose services record each
/// connection's probe lines as one `scan` event.
fn nmap_probes_recorded() -> Shape {
    let mut s = Shape::new();
    s.session((0, 11_019), TELNET, |s, sid| {
        s.probe(6_012, TELNET, sid, "")
    });
    s.session((11_020, 16_023), TELNET, |s, sid| {
        s.probe(11_027, TELNET, sid, "GET / HTTP/1.0")
    });
    s.session((1, 6_020), REDIS, |s, sid| {
        s.probe(5_030, REDIS, sid, "OPTIONS sip:nm SIP/2.0")
    });
    s
}

/// masscan -p22 over the fleet: one handshake per decky, no data.
fn masscan_sweep() -> Shape {
    let mut s = Shape::new();
    for (i, decky) in ["web01", "db01", "mail", "cam", "ws", "shop"]
        .iter()
        .enumerate()
    {
        let t = i as i64 * 10;
        s.session((t, t + 2), (decky, "ssh", 22), |_, _| {});
    }
    s
}

/// nmap -sT -T1 (sneaky): 15 s between probes.
fn nmap_sneaky() -> Shape {
    let mut s = Shape::new();
    for (i, port) in [21u16, 22, 23, 25, 80, 110].into_iter().enumerate() {
        let t = i as i64 * 15_000;
        s.session((t, t + 1), ("web01", "any", port), |_, _| {});
    }
    s
}

/// A person at a shell: logs in, looks around.
fn human_shell() -> Shape {
    let mut s = Shape::new();
    s.session((0, 120_000), SSH, |s, sid| {
        s.auth(5_000, SSH, sid, "admin", "admin");
        for (i, c) in ["ls", "cat /etc/os-release", "ps aux", "exit"]
            .iter()
            .enumerate()
        {
            s.command(12_000 + i as i64 * 9_000, SSH, sid, c);
        }
    });
    s
}

/// A person who mistyped twice and gave up.
fn human_typo() -> Shape {
    let mut s = Shape::new();
    s.session((0, 20_000), SSH, |s, sid| {
        s.auth(4_000, SSH, sid, "alice", "hunter2");
        s.auth(11_000, SSH, sid, "alice", "hunter3");
    });
    s
}

/// redis-cli by hand.
fn redis_cli() -> Shape {
    let mut s = Shape::new();
    s.session((0, 60_000), REDIS, |s, sid| {
        for (i, c) in ["INFO", "KEYS *", "CONFIG GET dir"].iter().enumerate() {
            s.command(3_000 + i as i64 * 8_000, REDIS, sid, c);
        }
    });
    s
}

/// A bot: brute force, then its post-login script.
fn bot_brute_then_script() -> Shape {
    let mut s = hydra();
    s.session((20_000, 23_000), SSH, |s, sid| {
        s.auth(20_100, SSH, sid, "root", "admin");
        for (i, c) in ["uname -a", "cat /proc/cpuinfo", "nproc"]
            .iter()
            .enumerate()
        {
            s.command(20_300 + i as i64 * 100, SSH, sid, c);
        }
    });
    s
}

/// An implant checking in every 60 s (±5 %) with one request.
fn beacon() -> Shape {
    let mut s = Shape::new();
    for i in 0..8i64 {
        let t = i * 60_000 + if i % 2 == 0 { 1_500 } else { -1_500 };
        s.session((t, t + 50), HTTP, |s, sid| {
            s.request(t + 10, HTTP, sid, "/api/v1/poll")
        });
    }
    s
}

/// curl http://decky/ once.
fn curl_once() -> Shape {
    let mut s = Shape::new();
    s.session((0, 5), HTTP, |s, sid| s.request(2, HTTP, sid, "/"));
    s
}

/// What ran, the events it leaves, the class it must get.
type Case = (&'static str, fn() -> Shape, &'static str);

#[test]
fn real_tools_get_their_class() {
    let table: &[Case] = &[
        ("hydra -t 4, 8 passwords in 17 s", hydra, "brute_force"),
        ("medusa, one connection per password", medusa, "brute_force"),
        ("ncrack default users", ncrack, "brute_force"),
        ("nmap -sT", nmap_connect_scan, "scanning"),
        ("nmap -sS -sV", nmap_version_scan, "scanning"),
        ("nmap -sV against redis", nmap_redis_probe, "scanning"),
        (
            "nmap -sV, probes recorded by the services",
            nmap_probes_recorded,
            "scanning",
        ),
        ("masscan -p22 over the fleet", masscan_sweep, "scanning"),
        ("nmap -sT -T1", nmap_sneaky, "slow_scan"),
        ("a person at a shell", human_shell, "interactive"),
        ("redis-cli by hand", redis_cli, "interactive"),
        (
            "bot: brute force, then a script",
            bot_brute_then_script,
            "mixed",
        ),
        ("implant beacon", beacon, "beaconing"),
        ("curl once", curl_once, "scanning"),
        ("a person who mistyped twice", human_typo, "unknown"),
    ];
    for (what, shape, want) in table {
        let row = shape().classify();
        assert_eq!(
            row.behavior, *want,
            "{what}: rule {:?}, numbers {}",
            row.behavior_rule, row.behavior_numbers
        );
        assert!(!row.behavior_rule.is_empty(), "{what}");
    }
}

#[test]
fn version_scan_probe_text_is_not_counted_as_credentials() {
    let row = nmap_version_scan().classify();
    assert_eq!(row.behavior_numbers["auth_attempts"], 0);
    assert_eq!(row.behavior_numbers["probe_lines"], 2);
    // What was sent is still on the row.
    assert_eq!(row.credentials_tried, 2);
}

#[test]
fn probes_the_services_recorded_count_as_probe_lines_not_data() {
    let row = nmap_probes_recorded().classify();
    assert_eq!(row.behavior_numbers["probe_lines"], 3);
    assert_eq!(row.behavior_numbers["quiet_sessions"], 3);
    assert_eq!(row.credentials_tried, 0);
    assert_eq!(row.commands_run, 0);
}

#[test]
fn every_rule_in_the_registry_has_a_distinct_name() {
    let names: std::collections::BTreeSet<_> = super::RULES.iter().map(|r| r.name()).collect();
    assert_eq!(names.len(), super::RULES.len());
}
