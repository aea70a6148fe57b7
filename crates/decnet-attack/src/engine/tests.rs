use chrono::{DateTime, Duration, TimeZone, Utc};
use decnet_core::{Event, EventKind};
use uuid::Uuid;

use super::*;
use crate::rules::RuleSet;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

fn ev(kind: EventKind, secs: i64, session: u128) -> Event {
    let mut e = Event::new("web01", "ssh", kind);
    e.ts = t0() + Duration::seconds(secs);
    e.src_ip = "198.51.100.7".parse().unwrap();
    e.session_id = Some(Uuid::from_u128(session));
    e
}

fn cmd(line: &str, secs: i64, session: u128) -> Event {
    ev(EventKind::Command, secs, session).with("command", line)
}

fn auth(user: &str, pw: &str, secs: i64) -> Event {
    ev(EventKind::AuthAttempt, secs, 9)
        .with("username", user)
        .with("secret_b64", pw)
        .with("success", false)
}

fn tagger(rules: &str) -> Tagger {
    Tagger::new(RuleSet::compile([("t.toml", rules)]).unwrap().into())
}

const EVENT_RULE: &str = r#"
[[rule]]
id = "t.cron"
name = "cron"
techniques = ["T1053.003"]
confidence = 85
kind = "command"
command = 'crontab'
evidence = ["user"]
  [[rule.example]]
  command = "crontab -l"
"#;

const SEQUENCE_RULE: &str = r#"
[[rule]]
id = "t.drop"
name = "drop"
techniques = ["T1059.004", "T1105"]
confidence = 90
type = "sequence"
max_gap = "1m"
  [[rule.step]]
  command = 'wget'
  [[rule.step]]
  command = 'chmod'
  [[rule.step]]
  command = '^\./'
  [[rule.example]]
  events = [{ command = "wget x" }, { command = "chmod +x x" }, { command = "./x" }]
"#;

const AGGREGATE_RULE: &str = r#"
[[rule]]
id = "t.guess"
name = "guess"
techniques = ["T1110.001"]
confidence = 85
type = "aggregate"
kind = "auth_attempt"
group_by = ["src_ip", "username"]
window = "10m"
having.distinct.secret_b64 = { min = 3 }
  [[rule.example]]
  events = [{ fields = { username = "root", secret_b64 = "p{n}" }, repeat = 3 }]
"#;

#[test]
fn event_rule_tags_with_evidence() {
    let mut t = tagger(EVENT_RULE);
    let e = cmd("(crontab -l; echo '* * * * * x') | crontab -", 0, 1).with("user", "root");
    let tags = t.process(&e);
    assert_eq!(tags.len(), 1);
    let tag = &tags[0];
    assert_eq!(&*tag.technique_id, "T1053.003");
    assert_eq!(&*tag.rule_id, "t.cron");
    assert_eq!(tag.confidence, 85);
    assert_eq!(tag.event_id, e.id);
    assert_eq!(tag.src_ip, e.src_ip);
    assert_eq!(tag.session_id, e.session_id);
    assert_eq!(tag.decky, "web01");
    assert_eq!(tag.ts, e.ts);
    assert_eq!(tag.evidence.event_ids.as_slice(), &[e.id]);
    let matched: Vec<(&str, &str)> = tag
        .evidence
        .matched
        .iter()
        .map(|(k, v)| (&**k, v.as_str()))
        .collect();
    assert_eq!(matched, vec![("command", "crontab"), ("user", "root")]);
    assert!(t.process(&cmd("ls", 1, 1)).is_empty());
    assert!(t.process(&ev(EventKind::Connect, 2, 1)).is_empty());
}

#[test]
fn sequence_needs_order_session_and_gap() {
    let mut t = tagger(SEQUENCE_RULE);
    // Out of order: chmod before wget does not count.
    assert!(t.process(&cmd("chmod +x x", 0, 1)).is_empty());
    assert!(t.process(&cmd("wget http://x/x", 1, 1)).is_empty());
    // Another session's steps do not advance this one.
    assert!(t.process(&cmd("chmod +x x", 2, 2)).is_empty());
    assert!(t.process(&cmd("chmod +x x", 3, 1)).is_empty());
    let last = cmd("./x", 4, 1);
    let tags = t.process(&last);
    assert_eq!(tags.len(), 2, "one tag per technique");
    assert_eq!(tags[0].evidence.event_ids.len(), 3);
    assert_eq!(*tags[0].evidence.event_ids.last().unwrap(), last.id);
    // Fires once per session.
    assert!(t.process(&cmd("./x", 5, 1)).is_empty());

    // A gap longer than max_gap resets the progress.
    assert!(t.process(&cmd("wget http://x/x", 10, 3)).is_empty());
    assert!(t.process(&cmd("chmod +x x", 100, 3)).is_empty());
    assert!(t.process(&cmd("./x", 101, 3)).is_empty());
}

#[test]
fn one_line_can_complete_several_steps() {
    let mut t = tagger(SEQUENCE_RULE);
    assert!(t.process(&cmd("wget http://x/x", 0, 1)).is_empty());
    // `chmod +x x; ./x` would not match `^\./`; this line matches both.
    let tags = t.process(&cmd("./chmod", 1, 1));
    assert_eq!(tags.len(), 2);
}

#[test]
fn aggregate_fires_once_per_window_and_rearms() {
    let mut t = tagger(AGGREGATE_RULE);
    assert!(t.process(&auth("root", "a", 0)).is_empty());
    assert!(
        t.process(&auth("root", "a", 1)).is_empty(),
        "repeats are not distinct"
    );
    assert!(t.process(&auth("admin", "b", 2)).is_empty(), "other group");
    assert!(t.process(&auth("root", "b", 3)).is_empty());
    let tags = t.process(&auth("root", "c", 4));
    assert_eq!(tags.len(), 1);
    assert_eq!(
        tags[0].evidence.detail.as_deref(),
        Some("distinct(secret_b64)=3")
    );
    assert_eq!(tags[0].evidence.event_ids.len(), 4);
    assert!(
        t.process(&auth("root", "d", 5)).is_empty(),
        "once per window"
    );
    // Eleven minutes later the old attempts left the window: three new ones fire again.
    for (i, pw) in ["e", "f"].iter().enumerate() {
        assert!(t.process(&auth("root", pw, 700 + i as i64)).is_empty());
    }
    assert_eq!(t.process(&auth("root", "g", 702)).len(), 1);
}

#[test]
fn state_is_bounded_and_expires() {
    let limits = Limits {
        max_sequences: 64,
        max_groups: 64,
        max_window_events: 8,
    };
    let set = RuleSet::compile([("a.toml", SEQUENCE_RULE), ("b.toml", AGGREGATE_RULE)]).unwrap();
    let mut t = Tagger::with_limits(set.into(), limits);
    for i in 0..1_000u32 {
        t.process(&cmd("wget http://x", 0, u128::from(i) + 100));
        t.process(&auth(&format!("user{i}"), "pw", 0));
    }
    let s = t.stats();
    assert!(s.sequences <= 64 && s.groups <= 64, "{s:?}");
    assert!(s.evicted > 0);
    // Many events in one group keep at most max_window_events.
    for i in 0..100 {
        t.process(&auth("root", &format!("p{i}"), 1));
    }
    // Event time moves on: a sweep drops everything older than its window.
    t.process(&cmd("ls", 3 * 3600, 1));
    let s = t.stats();
    assert_eq!((s.sequences, s.groups), (0, 0), "{s:?}");
}

#[test]
fn reload_keeps_state_of_unchanged_rules_only() {
    let handle = crate::rules::RuleHandle::from(
        RuleSet::compile([("a.toml", SEQUENCE_RULE), ("b.toml", AGGREGATE_RULE)]).unwrap(),
    );
    let mut t = Tagger::new(handle.clone());
    t.process(&cmd("wget http://x", 0, 1));
    t.process(&cmd("chmod +x x", 1, 1));
    t.process(&auth("root", "a", 0));
    t.process(&auth("root", "b", 1));
    // Reload: the sequence rule is unchanged, the aggregate rule changed.
    let changed = AGGREGATE_RULE.replace("confidence = 85", "confidence = 80");
    handle.replace(
        RuleSet::compile([("b.toml", changed.as_str()), ("a.toml", SEQUENCE_RULE)]).unwrap(),
    );
    assert_eq!(
        t.process(&cmd("./x", 2, 1)).len(),
        2,
        "sequence progress kept"
    );
    assert!(
        t.process(&auth("root", "c", 2)).is_empty(),
        "aggregate window restarted"
    );
    assert_eq!(t.rules().generation(), handle.current().generation());
}

#[test]
fn hostile_field_values_do_not_panic() {
    let mut t = Tagger::new(crate::rules::RuleHandle::builtin());
    let huge = "A".repeat(1 << 20);
    let weird = "\u{0}\u{fffd}../%2e%2e/${jndi:".repeat(1000);
    for (i, s) in [huge.as_str(), weird.as_str(), "", "é"].iter().enumerate() {
        for kind in EventKind::ALL {
            let mut e = ev(kind, i as i64, 5)
                .with("command", *s)
                .with("path", *s)
                .with(
                    "headers",
                    serde_json::json!({"User-Agent": s, "x": [1, {"y": s}]}),
                )
                .with("username", serde_json::Value::Null)
                .with("success", "maybe");
            e.session_id = None;
            let _ = t.process(&e);
        }
    }
}

/// Every event of every built-in rule's examples (they sit on both sides
/// of each rule's regexes), plus fields longer than the scan bound with the
/// payload past it, through the built-in set with and without the
/// prefilter: the same tags, evidence and order.
#[test]
fn prefilter_never_changes_what_the_builtin_rules_yield() {
    let builtin = RuleSet::builtin();
    let rules: Vec<_> = builtin.rules().to_vec();
    let mut events: Vec<Event> = rules
        .iter()
        .flat_map(|r| r.examples.iter().flat_map(|x| x.events.iter().cloned()))
        .collect();
    let padding = "a".repeat(crate::rules::filter::MAX_SCAN);
    let long: Vec<Event> = events
        .iter()
        .filter(|e| e.kind == EventKind::Command || e.kind == EventKind::Request)
        .take(200)
        .map(|e| {
            let mut e = e.clone();
            for key in ["command", "path", "body", "user_agent"] {
                if let Some(v) = e.field_str(key).map(|v| format!("{padding}{v}")) {
                    e.fields.insert(key.into(), v.into());
                }
            }
            e
        })
        .collect();
    events.extend(long);
    assert!(events.len() > 300, "{} example events", events.len());
    let mut with = Tagger::new(RuleSet::from_rules(rules.clone()).into());
    let mut without = Tagger::new(RuleSet::without_prefilter(rules).into());
    let mut fired = 0;
    for e in &events {
        let (a, b) = (with.process(e), without.process(e));
        assert_eq!(a, b, "event {e:?}");
        fired += a.len();
    }
    assert!(fired > 200, "{fired} tags");
}

#[test]
fn prefilter_skips_rules_whose_regex_matches_no_field() {
    let set = RuleSet::builtin();
    let e = ev(EventKind::Command, 0, 1).with("command", "ls");
    let candidates = set.candidates(e.kind);
    let pre = set.prefilter(e.kind);
    let mut scratch = crate::rules::prefilter::Scratch::default();
    pre.run(&mut EventView::new(&e), &mut scratch);
    let tested = (0..candidates.len())
        .filter(|&p| pre.may_fire(p, &scratch))
        .count();
    // A plain `ls` can only advance rules without a regex to meet.
    assert!(
        tested * 4 < candidates.len(),
        "{tested} of {} command rules still tested",
        candidates.len()
    );
    let e = e.with("command", "crontab -l");
    pre.run(&mut EventView::new(&e), &mut scratch);
    let cron = candidates
        .iter()
        .position(|&i| &*set.rules()[i as usize].id == "persistence.cron")
        .expect("persistence.cron is a command rule");
    assert!(pre.may_fire(cron, &scratch));
}
