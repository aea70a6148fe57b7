//! Which attacker identity an address belongs to, learned from intel's
//! `identity.*` messages, so throttling is per actor rather than per
//! address (a brute force spread over ten addresses of one identity is one
//! window). Bounded: when full, the identities learned first are forgotten
//! (their addresses fall back to per-address throttling).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use serde_json::Value;
use uuid::Uuid;

use crate::signal::{Family, Signal};

/// Address → identity.
#[derive(Default)]
pub struct Identities {
    by_ip: HashMap<IpAddr, Uuid>,
    members: HashMap<Uuid, Vec<IpAddr>>,
    order: VecDeque<Uuid>,
    cap: usize,
}

fn ips(v: Option<&Value>) -> Vec<IpAddr> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter_map(|s| s.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

impl Identities {
    /// At most `cap` addresses.
    pub fn new(cap: usize) -> Self {
        Identities {
            cap: cap.max(1),
            ..Default::default()
        }
    }

    /// The identity of `ip`.
    pub fn of(&self, ip: IpAddr) -> Option<Uuid> {
        self.by_ip.get(&ip).copied()
    }

    /// Addresses known.
    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    /// True when nothing is known.
    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    fn forget(&mut self, id: Uuid) {
        if let Some(old) = self.members.remove(&id) {
            for ip in old {
                if self.by_ip.get(&ip) == Some(&id) {
                    self.by_ip.remove(&ip);
                }
            }
        }
    }

    fn set(&mut self, id: Uuid, members: Vec<IpAddr>) {
        let known = self.members.contains_key(&id);
        self.forget(id);
        if members.is_empty() {
            return;
        }
        if !known {
            self.order.push_back(id);
            if self.order.len() > 2 * self.members.len() + 64 {
                let live = &self.members;
                self.order.retain(|i| live.contains_key(i) || *i == id);
            }
        }
        for ip in &members {
            self.by_ip.insert(*ip, id);
        }
        self.members.insert(id, members);
        while self.by_ip.len() > self.cap {
            match self.order.pop_front() {
                Some(old) if old != id => self.forget(old),
                Some(old) => {
                    self.order.push_back(old);
                    break;
                }
                None => break,
            }
        }
    }

    /// Learns from an `identity.*` message; ignores anything else.
    pub fn observe(&mut self, s: &Signal<'_>) {
        if s.family() != Family::Identity {
            return;
        }
        let Some(id) = s
            .field_str("identity_id")
            .and_then(|v| v.parse::<Uuid>().ok())
        else {
            return;
        };
        match s.kind() {
            "formed" => self.set(id, ips(s.field("members"))),
            "observation.linked" => {
                if let Some(ip) = s.field_str("ip").and_then(|v| v.parse().ok()) {
                    let mut m = self.members.get(&id).cloned().unwrap_or_default();
                    if !m.contains(&ip) {
                        m.push(ip);
                    }
                    self.set(id, m);
                }
            }
            "merged" => {
                if let Some(from) = s
                    .field_str("merged_id")
                    .and_then(|v| v.parse::<Uuid>().ok())
                {
                    let moved = self.members.get(&from).cloned().unwrap_or_default();
                    self.set(from, Vec::new());
                    let mut m = self.members.get(&id).cloned().unwrap_or_default();
                    m.extend(
                        moved
                            .into_iter()
                            .filter(|ip| !m.contains(ip))
                            .collect::<Vec<_>>(),
                    );
                    self.set(id, m);
                }
            }
            "unmerged" => {
                let dissolved = s.field("dissolved").and_then(Value::as_bool) == Some(true);
                self.set(
                    id,
                    if dissolved {
                        Vec::new()
                    } else {
                        ips(s.field("members"))
                    },
                );
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_bus::Envelope;
    use serde_json::json;

    fn feed(ids: &mut Identities, topic: &str, payload: Value) {
        let kind = topic.strip_prefix("identity.").unwrap();
        let env = Envelope::json(topic, kind, payload);
        ids.observe(&Signal::new(&env));
    }

    #[test]
    fn follows_intel() {
        let a = Uuid::now_v7();
        let b = Uuid::now_v7();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let mut ids = Identities::new(100);
        feed(
            &mut ids,
            "identity.formed",
            json!({"identity_id": a, "members": ["192.0.2.1", "192.0.2.2"]}),
        );
        feed(
            &mut ids,
            "identity.formed",
            json!({"identity_id": b, "members": ["192.0.2.3"]}),
        );
        feed(
            &mut ids,
            "identity.observation.linked",
            json!({"identity_id": a, "ip": "192.0.2.4"}),
        );
        assert_eq!(ids.of(ip("192.0.2.4")), Some(a));
        feed(
            &mut ids,
            "identity.merged",
            json!({"identity_id": a, "merged_id": b}),
        );
        assert_eq!(ids.of(ip("192.0.2.3")), Some(a));
        feed(
            &mut ids,
            "identity.unmerged",
            json!({"identity_id": a, "members": ["192.0.2.1"], "dissolved": false}),
        );
        assert_eq!(ids.of(ip("192.0.2.2")), None);
        assert_eq!(ids.of(ip("192.0.2.1")), Some(a));
        feed(
            &mut ids,
            "identity.unmerged",
            json!({"identity_id": a, "dissolved": true}),
        );
        assert!(ids.is_empty());
    }

    #[test]
    fn bounded() {
        let mut ids = Identities::new(10);
        for i in 0..50u32 {
            let members: Vec<String> = (0..3)
                .map(|j| std::net::Ipv4Addr::from(i * 8 + j).to_string())
                .collect();
            feed(
                &mut ids,
                "identity.formed",
                json!({"identity_id": Uuid::now_v7(), "members": members}),
            );
        }
        assert!(ids.len() <= 10);
        assert!(ids.of(std::net::Ipv4Addr::from(49 * 8).into()).is_some());
    }
}
