//! What a batch of events leaves behind besides attacker rows: the
//! credentials tried and the bounty (uploaded payload hashes, download
//! URLs), each folded by its dedupe key so one batch writes one row per key.

use std::collections::BTreeMap;

use base64::Engine;
use decnet_core::{Event, EventKind};
use decnet_store::{BountyRow, CredentialRow};

use crate::profile;

/// What makes two credential rows one (the table's primary key).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct CredentialKey {
    /// Attacker address.
    pub ip: String,
    /// Decky tried.
    pub decky: String,
    /// Service tried.
    pub service: String,
    /// `password`, `ntlm`, `key`…
    pub secret_kind: String,
    /// sha256 of the secret bytes.
    pub secret_hash: String,
    /// User name or principal.
    pub principal: String,
}

impl CredentialKey {
    /// The key of a row.
    pub fn of(c: &CredentialRow) -> Self {
        CredentialKey {
            ip: c.ip.clone(),
            decky: c.decky.clone(),
            service: c.service.clone(),
            secret_kind: c.secret_kind.clone(),
            secret_hash: c.secret_hash.clone(),
            principal: c.principal.clone(),
        }
    }
}

/// What makes two bounty rows one: kind (`file`, `url`), value, address.
type BountyKey = (String, String, String);

/// Credential and bounty rows of one batch.
#[derive(Default)]
pub struct Harvest {
    credentials: BTreeMap<CredentialKey, CredentialRow>,
    bounty: BTreeMap<BountyKey, BountyRow>,
}

impl Harvest {
    /// Takes what `e` (from attacker `ip`) carries, if anything.
    pub fn add(&mut self, e: &Event, ip: &str) {
        match e.kind {
            // nmap's probe lines a telnet decky took for logins are not
            // credentials anyone tried (the event log keeps them).
            EventKind::AuthAttempt if profile::is_probe(e) => {}
            EventKind::AuthAttempt => self.add_credential(e, ip),
            EventKind::FileUpload | EventKind::FileDownload => self.add_bounty(e, ip),
            _ => {}
        }
    }

    fn add_credential(&mut self, e: &Event, ip: &str) {
        let secret = profile::secret_bytes(e).unwrap_or_default();
        let c = CredentialRow {
            ip: ip.to_owned(),
            decky: e.decky.clone(),
            service: e.service.clone(),
            secret_kind: e.field_str("secret_kind").unwrap_or("password").to_owned(),
            secret_hash: profile::sha256_hex(&secret),
            principal: profile::principal(e),
            secret_printable: e
                .field_str("secret_printable")
                .map(str::to_owned)
                .unwrap_or_else(|| decnet_core::event::printable(&secret)),
            secret_b64: e
                .field_str("secret_b64")
                .map(str::to_owned)
                .unwrap_or_else(|| base64::engine::general_purpose::STANDARD.encode(&secret)),
            first_seen: e.ts,
            last_seen: e.ts,
            count: 1,
        };
        self.credentials
            .entry(CredentialKey::of(&c))
            .and_modify(|x| {
                x.count += 1;
                x.first_seen = x.first_seen.min(e.ts);
                x.last_seen = x.last_seen.max(e.ts);
            })
            .or_insert(c);
    }

    /// An upload's sha256 or a download's URL, with what the first
    /// sighting said about it.
    fn bounty_of(e: &Event) -> Option<(&'static str, String, serde_json::Value)> {
        if e.kind == EventKind::FileUpload {
            let h = e.field_str("sha256")?;
            Some((
                "file",
                h.to_owned(),
                serde_json::json!({
                    "filename": e.fields.get("filename").cloned().unwrap_or_default(),
                    "size": e.fields.get("size").cloned().unwrap_or_default(),
                }),
            ))
        } else {
            let u = e.field_str("url")?;
            Some(("url", u.to_owned(), serde_json::json!({})))
        }
    }

    fn add_bounty(&mut self, e: &Event, ip: &str) {
        let Some((kind, value, details)) = Self::bounty_of(e) else {
            return;
        };
        self.bounty
            .entry((kind.to_owned(), value.clone(), ip.to_owned()))
            .and_modify(|x| {
                x.count += 1;
                if e.ts < x.first_seen {
                    x.first_seen = e.ts;
                    x.decky = e.decky.clone();
                    x.service = e.service.clone();
                    x.details = details.clone();
                }
                x.last_seen = x.last_seen.max(e.ts);
            })
            .or_insert(BountyRow {
                kind: kind.to_owned(),
                value,
                ip: ip.to_owned(),
                decky: e.decky.clone(),
                service: e.service.clone(),
                first_seen: e.ts,
                last_seen: e.ts,
                count: 1,
                details,
            });
    }

    /// The rows, in key order.
    pub fn into_rows(self) -> (Vec<CredentialRow>, Vec<BountyRow>) {
        (
            self.credentials.into_values().collect(),
            self.bounty.into_values().collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(user: &str, pass: &str) -> Event {
        let mut e = Event::new("web01", "telnet", EventKind::AuthAttempt);
        decnet_core::event::credential_fields(&mut e.fields, user, "password", pass.as_bytes());
        e
    }

    #[test]
    fn probe_lines_taken_for_logins_are_not_credentials() {
        let mut h = Harvest::default();
        h.add(&login("GET / HTTP/1.0", ""), "198.51.100.7");
        h.add(&login("", ""), "198.51.100.7");
        h.add(&login("root", "admin"), "198.51.100.7");
        let (credentials, _) = h.into_rows();
        assert_eq!(credentials.len(), 1, "{credentials:?}");
        assert_eq!(credentials[0].principal, "root");
    }
}
