//! Property: intel never panics on hostile events (arbitrary fields,
//! kinds, addresses, timestamps) and stays consistent.
#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use decnet_core::{Event, EventKind};
use decnet_intel::{IntelConfig, IntelState};
use proptest::prelude::*;

fn arb_event() -> impl Strategy<Value = Event> {
    (
        0usize..EventKind::ALL.len(),
        0u8..6,
        any::<u16>(),
        -10_000_000_000i64..10_000_000_000,
        proptest::collection::vec(
            (
                prop_oneof![
                    Just("hassh"),
                    Just("client_version"),
                    Just("ja3"),
                    Just("ja4"),
                    Just("command"),
                    Just("url"),
                    Just("sha256"),
                    Just("secret_b64"),
                    Just("password"),
                    Just("principal"),
                    Just("asn"),
                    Just("remote_addr"),
                    Just("size"),
                ],
                prop_oneof![
                    ".{0,40}".prop_map(serde_json::Value::from),
                    any::<i64>().prop_map(serde_json::Value::from),
                    Just(serde_json::Value::Null),
                    Just(serde_json::json!({"a": [1, 2]})),
                ],
            ),
            0..8,
        ),
    )
        .prop_map(|(k, ip, port, ms, fields)| {
            let mut e = Event::new("d", "s", EventKind::ALL[k]);
            e.src_ip = format!("127.15.0.{ip}").parse().unwrap();
            e.dst_port = port;
            e.ts = Utc.timestamp_millis_opt(1_700_000_000_000 + ms).unwrap();
            for (k, v) in fields {
                e.fields.insert(k.to_owned(), v);
            }
            e
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn hostile_events_never_panic(events in proptest::collection::vec(arb_event(), 1..60)) {
        let mut st = IntelState::new(IntelConfig { max_fanout: 3, ..Default::default() });
        let refs: Vec<&Event> = events.iter().collect();
        let (a, b) = refs.split_at(refs.len() / 2);
        let b1 = st.process(a, Utc::now());
        let b2 = st.process(b, Utc::now());
        prop_assert_eq!(b1.seen.len() + b2.seen.len(), events.len());
        let total: u64 = b2.attackers.iter().chain(b1.attackers.iter()).map(|(r, _)| r.ip.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .iter()
            .map(|ip| st.attacker(ip).unwrap().event_count)
            .sum();
        prop_assert_eq!(total, events.len() as u64);
        if let Err(e) = st.linker().graph.check() {
            return Err(TestCaseError::fail(e));
        }
    }
}
