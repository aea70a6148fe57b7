//! The lived-in story of a decky: what it holds at start, what an hour of
//! simulated time adds, and that it is the same story every time.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use decnet_core::clock::ManualClock;
use decnet_core::{DeckySeed, Persona};
use decnet_shell::lived::writer::BodyWriter;
use decnet_shell::lived::{self, mail, LifeSpec};
use decnet_shell::{generate, Content, Kind, Shell, ShellOptions, Vfs};

/// Monday 2026-11-23 10:00 UTC: an office hour.
fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0).unwrap()
}

fn decky(name: &str, archetype: &str) -> (Arc<ManualClock>, Arc<Vfs>) {
    decky_with(name, archetype, None)
}

fn decky_with(
    name: &str,
    archetype: &str,
    writer: Option<Arc<dyn BodyWriter>>,
) -> (Arc<ManualClock>, Arc<Vfs>) {
    let clock = Arc::new(ManualClock::new(start_time()));
    let seed = DeckySeed::new(name, 0);
    let p = Persona::generate(&seed, Some("debian"), &[], "linux", start_time());
    let vfs = generate(
        &p,
        &seed,
        "10.0.0.5".parse().unwrap(),
        &[
            ("root".into(), "toor".into()),
            ("admin".into(), "admin".into()),
        ],
    )
    .with_clock(clock.clone());
    lived::start(
        &vfs,
        &LifeSpec {
            persona: &p,
            seed: &seed,
            archetype: Some(archetype),
            services: &[],
            writer,
        },
    );
    (clock, Arc::new(vfs))
}

fn text(vfs: &Vfs, path: &str) -> String {
    match vfs.get(path).map(|n| n.kind) {
        Some(Kind::File(Content::Bytes(b))) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("{path}: {other:?}"),
    }
}

fn shell(vfs: &Arc<Vfs>) -> Shell {
    Shell::new(
        vfs.clone(),
        "admin",
        ShellOptions {
            remote: "203.0.113.9".into(),
            interactive: true,
            ..ShellOptions::default()
        },
    )
}

#[test]
fn a_new_decky_already_has_a_week_of_life_dated_between_install_and_now() {
    let (_, vfs) = decky("db01", "database-server");
    let now = start_time().timestamp();
    let install = vfs.host().install_time.timestamp();
    let auth = text(&vfs, "/var/log/auth.log");
    assert!(
        auth.contains("Accepted publickey for admin from 10.0.0.2"),
        "{auth}"
    );
    assert!(auth.contains("CRON["), "{auth}");
    let syslog = text(&vfs, "/var/log/syslog");
    assert!(
        syslog.contains("(root) CMD (/usr/local/bin/db-backup.sh)"),
        "{syslog}"
    );
    // The job the log shows running is the one cron has and the script exists.
    assert!(
        text(&vfs, "/etc/cron.d/db-backup").contains("30 2 * * * root /usr/local/bin/db-backup.sh")
    );
    assert!(text(&vfs, "/usr/local/bin/db-backup.sh").contains("pg_dumpall"));
    let history = text(&vfs, "/home/admin/.bash_history");
    assert!(history.lines().count() >= 5, "{history}");
    let docs = vfs.children("/home/admin/Documents");
    assert!(
        docs.iter().any(|(n, _)| n == "schema-changes.sql"),
        "{docs:?}"
    );
    let inbox = mail::messages(&vfs, "admin");
    assert!(inbox.len() >= 3, "{}", inbox.len());
    assert!(inbox[0].text.contains("@"), "{}", inbox[0].text);
    // Nothing from the future, nothing from before the install.
    for dir in [
        "/var/log",
        "/home/admin",
        "/home/admin/Documents",
        "/home/admin/Maildir/new",
    ] {
        for (name, node) in vfs.children(dir) {
            assert!(node.mtime <= now, "{dir}/{name} is from the future");
            assert!(node.mtime >= install, "{dir}/{name} predates the install");
        }
    }
}

#[test]
fn an_hour_of_office_time_brings_mail_log_lines_and_history() {
    let (clock, vfs) = decky("web01", "web-server");
    let mail_before = mail::messages(&vfs, "admin").len();
    let auth_before = text(&vfs, "/var/log/auth.log").len();
    let syslog_before = text(&vfs, "/var/log/syslog").lines().count();
    // A working day, advanced an hour at a time, read after each hour.
    for _ in 0..8 {
        clock.advance(Duration::from_secs(3600));
        let _ = vfs.get("/");
    }
    let inbox = mail::messages(&vfs, "admin");
    assert!(
        inbox.len() > mail_before,
        "{} -> {}",
        mail_before,
        inbox.len()
    );
    let newest = inbox.last().unwrap();
    assert_eq!(newest.uid as usize, inbox.len());
    assert!(text(&vfs, "/var/log/auth.log").len() > auth_before);
    // The hourly cron ran once per hour.
    assert_eq!(
        text(&vfs, "/var/log/syslog").lines().count(),
        syslog_before + 8
    );
    // A mail's date is in the past and after the story's start.
    let date = newest
        .text
        .lines()
        .find(|l| l.starts_with("Date: "))
        .unwrap();
    let when = DateTime::parse_from_rfc2822(&date[6..]).unwrap();
    assert!(when <= vfs.now() && when >= start_time());
}

#[test]
fn the_same_decky_tells_the_same_story() {
    let (a_clock, a) = decky("files01", "file-server");
    let (b_clock, b) = decky("files01", "file-server");
    a_clock.advance(Duration::from_secs(5 * 3600));
    for _ in 0..5 {
        b_clock.advance(Duration::from_secs(3600));
        let _ = b.get("/");
    }
    // `b` is read every hour on the way, `a` only at the end: same files.
    for path in [
        "/var/log/auth.log",
        "/var/log/syslog",
        "/home/admin/.bash_history",
    ] {
        assert_eq!(text(&a, path), text(&b, path), "{path}");
    }
    assert_eq!(mail::messages(&a, "admin"), mail::messages(&b, "admin"));
    let (_, other) = decky("files02", "file-server");
    assert_ne!(
        text(&a, "/var/log/auth.log"),
        text(&other, "/var/log/auth.log")
    );
}

#[test]
fn uptime_and_the_shell_clock_follow_the_decky_clock() {
    let (clock, vfs) = decky("web01", "web-server");
    let mut sh = shell(&vfs);
    let up = |sh: &mut Shell| sh.execute("cat /proc/uptime").stdout;
    let first: f64 = up(&mut sh)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    clock.advance(Duration::from_secs(3600));
    let second: f64 = up(&mut sh)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((second - first - 3600.0).abs() < 2.0, "{first} {second}");
    let date = sh.execute("date").stdout;
    assert!(date.contains(" 11:00:00 "), "{date}");
}

#[test]
fn a_planted_file_in_a_home_is_what_its_owner_opens_later() {
    let (clock, vfs) = decky("dev01", "devops-host");
    vfs.add_file(
        "/home/admin/.aws/credentials",
        b"[default]\naws_access_key_id = AKIAEXAMPLE\n",
        0o600,
        start_time() - chrono::Duration::days(30),
        Some((1000, 1000)),
    )
    .unwrap();
    // Two busy weeks: some session opens it.
    for _ in 0..(14 * 24) {
        clock.advance(Duration::from_secs(3600));
        let _ = vfs.get("/");
    }
    let history = text(&vfs, "/home/admin/.bash_history");
    assert!(history.contains("~/.aws/credentials"), "{history}");
}

/// A writer whose answers arrive after they are first asked for, as a
/// model's do: a miss records the prompt, [`SlowWriter::deliver`] makes
/// every asked-for body ready.
#[derive(Default)]
struct SlowWriter {
    asked: parking_lot::Mutex<Vec<(String, String)>>,
    ready: parking_lot::Mutex<std::collections::HashMap<String, String>>,
}

impl SlowWriter {
    fn deliver(&self) {
        for (key, _) in self.asked.lock().iter() {
            self.ready.lock().insert(
                key.clone(),
                format!("Model-written note {key}.\nSecond line."),
            );
        }
    }
}

impl BodyWriter for SlowWriter {
    fn body(&self, key: &str, prompt: &str) -> Option<String> {
        let ready = self.ready.lock().get(key).cloned();
        if ready.is_none() {
            self.asked.lock().push((key.to_owned(), prompt.to_owned()));
        }
        ready
    }
}

#[test]
fn model_bodies_replace_templates_once_ready_and_prompts_hold_no_secret() {
    let writer = Arc::new(SlowWriter::default());
    let (clock, vfs) = decky_with("mail01", "mail-server", Some(writer.clone()));
    let first = mail::messages(&vfs, "admin");
    assert!(!first.is_empty());
    assert!(
        first.iter().all(|m| !m.text.contains("Model-written")),
        "nothing was ready yet"
    );
    let asked = writer.asked.lock().clone();
    assert!(!asked.is_empty());
    for (_, prompt) in &asked {
        assert!(prompt.contains("Subject: "), "{prompt}");
        // The decky's passwords (root `toor`, admin `admin` as a password) never go out.
        assert!(!prompt.contains("toor"), "{prompt}");
    }
    writer.deliver();
    for _ in 0..48 {
        clock.advance(Duration::from_secs(3600));
        let _ = vfs.get("/");
    }
    let later = mail::messages(&vfs, "admin");
    let new: Vec<_> = later[first.len()..].iter().collect();
    assert!(new
        .iter()
        .any(|m| m.text.contains("Model-written note ") && m.text.contains("Second line.\r\n")));
    // Messages already delivered keep their text.
    assert_eq!(&later[..first.len()], &first[..]);
}
