//! The `canary_trigger` event every receiver and the watcher publish, and
//! the per-(token, source) counter that numbers repeated triggers.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use decnet_core::{Event, EventKind};
use parking_lot::Mutex;
use serde_json::Value;
use uuid::Uuid;

use crate::index::KeyKind;
use crate::token::Token;

/// Decky name of receiver triggers (they happen outside any decky).
pub const RECEIVER_DECKY: &str = "canary";
/// Service name of HTTP receiver triggers.
pub const HTTP_SERVICE: &str = "canary-http";
/// Service name of DNS receiver triggers.
pub const DNS_SERVICE: &str = "canary-dns";
/// Longest attacker-supplied string copied into a trigger.
pub const FIELD_MAX: usize = 512;

/// How the token was touched.
#[derive(Clone, Debug)]
pub enum Via<'a> {
    /// A request to the HTTP receiver.
    Http {
        /// Method.
        method: &'a str,
        /// Path.
        path: &'a str,
        /// Query string.
        query: &'a str,
        /// `Host` header.
        host: &'a str,
        /// `User-Agent`.
        user_agent: &'a str,
        /// What matched (slug, AWS key id, login, repository).
        matched: KeyKind,
    },
    /// A query to the DNS receiver; the event's source is the resolver.
    Dns {
        /// Query name as asked.
        qname: &'a str,
        /// Query type (`A`, `TXT`…).
        qtype: &'a str,
        /// Labels left of the token's label (DNS-exfil style data), if any.
        data: Option<&'a str>,
        /// Transport (`udp`, `tcp`).
        transport: &'a str,
    },
    /// A credential used against a decky, seen in one of its events.
    Credential {
        /// The decky's event.
        source: &'a Event,
        /// What matched.
        matched: KeyKind,
        /// True when the secret itself checked out (not just the user name).
        verified: bool,
    },
}

/// Numbers triggers per (token, source address), so repeats are counted,
/// not lost. Bounded: at `cap` pairs the table starts over (counts then
/// restart at 1; every trigger is still its own event).
pub struct TriggerCounter {
    counts: Mutex<HashMap<(Uuid, IpAddr), u64>>,
    cap: usize,
}

impl Default for TriggerCounter {
    fn default() -> Self {
        Self::with_capacity(100_000)
    }
}

impl TriggerCounter {
    /// A counter holding at most `cap` pairs.
    pub fn with_capacity(cap: usize) -> Self {
        TriggerCounter {
            counts: Mutex::new(HashMap::new()),
            cap: cap.max(1),
        }
    }

    /// Counts one trigger; returns how many this pair has made.
    pub fn bump(&self, token: Uuid, src: IpAddr) -> u64 {
        let mut m = self.counts.lock();
        if m.len() >= self.cap && !m.contains_key(&(token, src)) {
            m.clear();
        }
        let n = m.entry((token, src)).or_insert(0);
        *n += 1;
        *n
    }
}

fn clip(s: &str) -> String {
    let p = decnet_core::event::printable(s.as_bytes());
    match p.char_indices().nth(FIELD_MAX) {
        Some((i, _)) => p[..i].to_owned(),
        None => p,
    }
}

fn key_name(k: KeyKind) -> &'static str {
    match k {
        KeyKind::Slug => "slug",
        KeyKind::AwsKeyId => "aws_key_id",
        KeyKind::SshFingerprint => "ssh_key",
        KeyKind::Bearer => "bearer_token",
        KeyKind::Username => "username",
        KeyKind::Password => "password",
        KeyKind::RepoPath => "repo_path",
    }
}

/// The trigger event: `src`/`dst` are the peer and the local address the
/// request came in on (ignored for credential triggers, which take the
/// decky event's addresses).
pub fn event(token: &Token, src: SocketAddr, dst: SocketAddr, via: &Via<'_>, count: u64) -> Event {
    let (decky, service) = match via {
        Via::Http { .. } => (RECEIVER_DECKY, HTTP_SERVICE),
        Via::Dns { .. } => (RECEIVER_DECKY, DNS_SERVICE),
        Via::Credential { source, .. } => (source.decky.as_str(), source.service.as_str()),
    };
    let mut e = Event::new(decky, service, EventKind::CanaryTrigger)
        .with("token_id", token.id.to_string())
        .with("token_kind", token.kind.as_str())
        .with("label", token.label.as_str())
        .with("count", count)
        .with(
            "planted_in",
            Value::Array(
                token
                    .planted_in
                    .iter()
                    .map(|p| Value::from(format!("{}:{}", p.decky, p.path)))
                    .collect(),
            ),
        );
    e.src_ip = src.ip();
    e.src_port = src.port();
    e.dst_ip = dst.ip();
    e.dst_port = dst.port();
    match via {
        Via::Http {
            method,
            path,
            query,
            host,
            user_agent,
            matched,
        } => {
            e = e
                .with("trigger", "http")
                .with("matched", key_name(*matched))
                .with("method", clip(method))
                .with("path", clip(path))
                .with("query", clip(query))
                .with("host", clip(host))
                .with("user_agent", clip(user_agent));
        }
        Via::Dns {
            qname,
            qtype,
            data,
            transport,
        } => {
            // The source is the resolver that asked, usually not the
            // intruder's machine (a public resolver, a corporate DNS
            // server): response policies should not ban it blindly.
            e = e
                .with("trigger", "dns")
                .with("source_role", "resolver")
                .with("matched", "slug")
                .with("resolver", src.ip().to_string())
                .with("qname", clip(qname))
                .with("qtype", *qtype)
                .with("transport", *transport);
            if let Some(d) = data {
                e = e.with("dns_data", clip(d));
            }
        }
        Via::Credential {
            source,
            matched,
            verified,
        } => {
            e.src_ip = source.src_ip;
            e.src_port = source.src_port;
            e.dst_ip = source.dst_ip;
            e.dst_port = source.dst_port;
            e.session_id = source.session_id;
            e = e
                .with("trigger", "credential")
                .with("matched", key_name(*matched))
                .with("secret_verified", *verified)
                .with("source_event_id", source.id.to_string())
                .with("source_kind", source.kind.as_str());
            for k in ["principal", "username", "path", "share", "method"] {
                if let Some(v) = source.field_str(k) {
                    e = e.with(k, clip(v));
                }
            }
        }
    }
    let how = match via {
        Via::Http { .. } => "http",
        Via::Dns { .. } => "dns",
        Via::Credential { .. } => "credential",
    };
    let msg = format!("canary token '{}' triggered ({how})", clip(&token.label));
    e.with("msg", msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::testing;

    #[test]
    fn counts_per_pair_and_stays_bounded() {
        let c = TriggerCounter::with_capacity(2);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(c.bump(a, ip), 1);
        assert_eq!(c.bump(a, ip), 2);
        assert_eq!(c.bump(b, ip), 1);
        assert_eq!(c.bump(a, ip), 3);
        assert_eq!(
            c.bump(a, "10.0.0.2".parse().unwrap()),
            1,
            "third pair resets the table"
        );
        assert_eq!(c.counts.lock().len(), 1);
    }

    #[test]
    fn http_event_names_token_and_clips_hostile_input() {
        let t = testing::token("http_url");
        let long = "A".repeat(10_000);
        let via = Via::Http {
            method: "GET",
            path: "/c/x",
            query: "",
            host: "h",
            user_agent: &long,
            matched: KeyKind::Slug,
        };
        let e = event(
            &t,
            "10.1.1.1:5000".parse().unwrap(),
            "127.0.0.1:80".parse().unwrap(),
            &via,
            4,
        );
        assert_eq!(e.kind, EventKind::CanaryTrigger);
        assert_eq!(e.subject(), "events.canary.canary-http.canary_trigger");
        assert_eq!(e.field_str("token_id"), Some(t.id.to_string().as_str()));
        assert_eq!(e.fields["count"], 4);
        assert_eq!(e.field_str("user_agent").unwrap().len(), FIELD_MAX);
        assert_eq!(e.attacker_ip(), Some("10.1.1.1".parse().unwrap()));
    }
}
