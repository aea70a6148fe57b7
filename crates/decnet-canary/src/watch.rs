//! The credential watcher: reads every decky event and publishes a
//! `canary_trigger` when one carries something only a token has — a
//! login, an ssh key, a bearer token, an AWS key id, a repository path or a
//! slug (in a URL, an SMB path, a command line).
//!
//! Databases never see the password itself (MySQL scrambles it with a
//! salt, PostgreSQL md5 hashes it): there the unique user name finds the
//! token and the response is checked against the token's password, so the
//! trigger says whether the secret was really used (`secret_verified`).

use std::net::SocketAddr;
use std::sync::Arc;

use base64::Engine;
use decnet_bus::{BusError, Delivery, Subscription};
use decnet_core::{Event, EventKind};
use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::index::{KeyKind, TokenIndex};
use crate::receivers::Shared;
use crate::token::{Credential, Token};
use crate::trigger::{self, Via};

/// Events queued for the watcher before the oldest are dropped (counted
/// by the subscription): it must never slow a decky down.
pub const QUEUE: usize = 65_536;

/// Fields whose text may hold a slug, a repository path or a key id.
const TEXT_FIELDS: &[&str] = &["path", "url", "query", "command", "share", "uri", "target"];

/// The watcher.
pub struct CredentialWatcher {
    shared: Shared,
}

/// A match: the token, what matched, whether the secret checked out.
type Hit = (Arc<Token>, KeyKind, bool);

impl CredentialWatcher {
    /// A watcher publishing through `shared.bus`.
    pub fn new(shared: Shared) -> Self {
        CredentialWatcher { shared }
    }

    /// Subscribes to every decky event and watches until the bus closes.
    pub fn spawn(shared: Shared) -> Result<tokio::task::JoinHandle<()>, BusError> {
        let sub = shared
            .bus
            .subscribe("events.>", Delivery::Lossy { capacity: QUEUE })?;
        Ok(tokio::spawn(Self::new(shared).run(sub)))
    }

    /// Watches a subscription until it closes.
    pub async fn run(self, mut sub: Subscription) {
        while let Some(env) = sub.recv().await {
            if let Some(e) = env.as_event() {
                if let Some(t) = self.check(e) {
                    self.shared.bus.publish_event(t);
                }
            }
        }
    }

    /// The trigger one event causes, if any.
    pub fn check(&self, e: &Event) -> Option<Event> {
        if e.kind == EventKind::CanaryTrigger {
            return None;
        }
        let idx = &self.shared.index;
        let hit = match e.kind {
            EventKind::AuthAttempt => auth_hit(idx, e),
            _ => None,
        }
        .or_else(|| text_hit(idx, e))?;
        let (token, matched, verified) = hit;
        let count = self.shared.counter.bump(token.id, e.src_ip);
        let any = SocketAddr::from(([0, 0, 0, 0], 0));
        Some(trigger::event(
            &token,
            any,
            any,
            &Via::Credential {
                source: e,
                matched,
                verified,
            },
            count,
        ))
    }
}

fn secret(e: &Event) -> Vec<u8> {
    e.field_str("secret_b64")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .or_else(|| e.field_str("password").map(|p| p.as_bytes().to_vec()))
        .unwrap_or_default()
}

fn principal(e: &Event) -> &str {
    let p = e
        .field_str("principal")
        .or_else(|| e.field_str("username"))
        .unwrap_or("");
    // NTLM principals are DOMAIN\user.
    p.rsplit('\\').next().unwrap_or(p)
}

fn login_of(t: &Token, user: &str) -> Option<String> {
    t.credentials.iter().find_map(|c| match c {
        Credential::Login { username, password } if username == user => Some(password.clone()),
        _ => None,
    })
}

fn hex_field(e: &Event, k: &str) -> Option<Vec<u8>> {
    hex::decode(e.field_str(k)?).ok()
}

fn auth_hit(idx: &TokenIndex, e: &Event) -> Option<Hit> {
    let kind = e.field_str("secret_kind").unwrap_or("password");
    let user = principal(e);
    let secret = secret(e);
    let secret_str = String::from_utf8_lossy(&secret);
    match kind {
        "publickey" => {
            let fp = e.field_str("fingerprint").unwrap_or(&secret_str);
            return idx
                .lookup(KeyKind::SshFingerprint, fp)
                .map(|t| (t, KeyKind::SshFingerprint, true));
        }
        "bearer_token" => {
            return idx
                .lookup(KeyKind::Bearer, secret_str.trim())
                .map(|t| (t, KeyKind::Bearer, true));
        }
        // The password is the token's (they are unique): a trigger even
        // under another user name. A token user name with a wrong password
        // is not one: brute-force lists may hold look-alike names.
        "password" => {
            let t = idx.lookup(KeyKind::Password, &secret_str)?;
            let verified = login_of(&t, user).is_some();
            let matched = if verified {
                KeyKind::Password
            } else {
                KeyKind::Username
            };
            return Some((t, matched, verified));
        }
        _ => {}
    }
    let t = idx.lookup(KeyKind::Username, user)?;
    let pw = login_of(&t, user);
    // Some(true/false) where the response can be checked; None where it
    // cannot (SCRAM proofs, NetNTLM, LDAP SASL): then the user name names
    // the token, unverified.
    let check = match (kind, pw) {
        ("mysql_native_password", Some(pw)) => Some(matches_scramble::<Sha1>(e, &pw, false)),
        ("caching_sha2_password", Some(pw)) => Some(matches_scramble::<Sha256>(e, &pw, true)),
        ("postgres_md5", Some(pw)) => Some(pg_md5_matches(e, user, &pw)),
        _ => None,
    };
    match check {
        Some(false) => None,
        Some(true) => Some((t, KeyKind::Password, true)),
        None => Some((t, KeyKind::Username, false)),
    }
}

/// MySQL's scrambles: native is SHA1(pw) ⊕ SHA1(salt ‖ SHA1(SHA1(pw)));
/// caching_sha2 is SHA256(pw) ⊕ SHA256(SHA256(SHA256(pw)) ‖ salt).
fn matches_scramble<D: Digest>(e: &Event, password: &str, salt_last: bool) -> bool {
    let (Some(salt), Some(response)) = (hex_field(e, "salt"), hex_field(e, "response")) else {
        return false;
    };
    let h1 = D::digest(password.as_bytes());
    let h2 = D::digest(&h1);
    let mut h = D::new();
    if salt_last {
        h.update(&h2);
        h.update(&salt);
    } else {
        h.update(&salt);
        h.update(&h2);
    }
    let h3 = h.finalize();
    let expect: Vec<u8> = h1.iter().zip(h3.iter()).map(|(a, b)| a ^ b).collect();
    !response.is_empty() && expect == response
}

/// PostgreSQL md5: `md5` ‖ hex(MD5(hex(MD5(pw ‖ user)) ‖ salt)).
fn pg_md5_matches(e: &Event, user: &str, password: &str) -> bool {
    let (Some(salt), Some(response)) = (hex_field(e, "salt"), e.field_str("response")) else {
        return false;
    };
    let inner = hex::encode(Md5::digest(format!("{password}{user}").as_bytes()));
    let mut h = Md5::new();
    h.update(inner.as_bytes());
    h.update(&salt);
    format!("md5{}", hex::encode(h.finalize())) == response
}

fn text_hit(idx: &TokenIndex, e: &Event) -> Option<Hit> {
    let header_values = e
        .fields
        .get("headers")
        .and_then(|h| h.as_object())
        .into_iter()
        .flat_map(|h| h.values().filter_map(|v| v.as_str()));
    let texts = TEXT_FIELDS
        .iter()
        .filter_map(|k| e.field_str(k))
        .chain(header_values);
    for text in texts {
        if let Some(hit) = key_id_in(idx, text) {
            return Some(hit);
        }
        if let Some(end) = text.find(".git") {
            let start = text[..end].find('/').unwrap_or(0);
            if let Some(t) = idx.lookup(KeyKind::RepoPath, &text[start..end + 4]) {
                return Some((t, KeyKind::RepoPath, true));
            }
        }
        if let Some(t) = idx.find_slug_in(text) {
            return Some((t, KeyKind::Slug, true));
        }
    }
    None
}

/// An AWS access key id (`AKIA`/`ASIA` + 16) anywhere in the text, as in
/// a SigV4 `Authorization` header a decky recorded.
fn key_id_in(idx: &TokenIndex, text: &str) -> Option<Hit> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() == 20 && (w.starts_with("AKIA") || w.starts_with("ASIA")))
        .find_map(|w| idx.lookup(KeyKind::AwsKeyId, w))
        .map(|t| (t, KeyKind::AwsKeyId, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::testing;
    use decnet_core::event::credential_fields;

    fn watcher(tokens: &[Token]) -> CredentialWatcher {
        let idx = Arc::new(TokenIndex::build(tokens.iter().cloned()));
        CredentialWatcher::new(Shared::new(idx, decnet_bus::MemoryBus::new()))
    }

    fn auth(service: &str, user: &str, kind: &str, secret: &[u8]) -> Event {
        let mut e = Event::new("db01", service, EventKind::AuthAttempt);
        e.src_ip = "203.0.113.9".parse().unwrap();
        credential_fields(&mut e.fields, user, kind, secret);
        e.with("username", user)
    }

    proptest::proptest! {
        #[test]
        fn any_fields_are_checked_without_panic(
            kind in 0usize..EventKind::ALL.len(),
            secret_kind in "(password|publickey|bearer_token|mysql_native_password|caching_sha2_password|postgres_md5|[a-z]{0,8})",
            user in ".{0,40}",
            text in ".{0,300}",
            hexish in "[0-9a-f]{0,50}",
        ) {
            let w = watcher(&[testing::token("git_config")]);
            let mut e = Event::new("d", "s", EventKind::ALL[kind])
                .with("secret_kind", secret_kind)
                .with("principal", user)
                .with("secret_b64", text.clone())
                .with("salt", hexish.clone())
                .with("response", hexish)
                .with("path", text.clone())
                .with("headers", serde_json::json!({"authorization": text}));
            e.src_ip = "10.0.0.1".parse().unwrap();
            let _ = w.check(&e);
        }
    }

    #[tokio::test]
    async fn spawned_watcher_publishes_triggers_on_the_bus() {
        let t = testing::token("kubeconfig");
        let bus = decnet_bus::MemoryBus::new();
        let mut sub = bus
            .subscribe("events.*.*.canary_trigger", Delivery::Lossless)
            .unwrap();
        let shared = Shared::new(Arc::new(TokenIndex::build([t.clone()])), bus.clone());
        let task = CredentialWatcher::spawn(shared).unwrap();
        let Credential::Bearer { token } = &t.credentials[0] else {
            unreachable!()
        };
        use decnet_bus::Bus;
        bus.publish_event(auth("k8s", "", "bearer_token", token.as_bytes()));
        let env = tokio::time::timeout(std::time::Duration::from_secs(5), sub.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(env.topic, "events.db01.k8s.canary_trigger");
        task.abort();
    }

    #[test]
    fn plaintext_login_names_token_and_decky() {
        let t = testing::token("my_cnf");
        let (u, p) = t.login().unwrap();
        let w = watcher(std::slice::from_ref(&t));
        let src = auth("redis", u, "password", p.as_bytes());
        let trig = w.check(&src).unwrap();
        assert_eq!(trig.kind, EventKind::CanaryTrigger);
        assert_eq!(trig.decky, "db01");
        assert_eq!(trig.subject(), "events.db01.redis.canary_trigger");
        assert_eq!(trig.field_str("token_id"), Some(t.id.to_string().as_str()));
        assert_eq!(
            trig.field_str("source_event_id"),
            Some(src.id.to_string().as_str())
        );
        assert_eq!(trig.fields["secret_verified"], true);
        assert_eq!(trig.src_ip, src.src_ip);
        // Right password, wrong user: still the token, not verified.
        let other = w
            .check(&auth("ssh", "root", "password", p.as_bytes()))
            .unwrap();
        assert_eq!(other.fields["secret_verified"], false);
        assert_eq!(w.check(&auth("ssh", "root", "password", b"admin")), None);
        assert_eq!(w.check(&trig), None, "its own triggers are ignored");
        assert_eq!(w.check(&src).unwrap().fields["count"], 3);
    }

    #[test]
    fn mysql_and_postgres_responses_are_verified_against_the_password() {
        let t = testing::token("mysql_dump");
        let (u, p) = t.login().unwrap();
        let w = watcher(std::slice::from_ref(&t));
        let salt = b"0123456789abcdefghij";
        let h1 = Sha1::digest(p.as_bytes());
        let h3 = Sha1::digest([&salt[..], &Sha1::digest(h1)[..]].concat());
        let scramble: Vec<u8> = h1.iter().zip(h3).map(|(a, b)| a ^ b).collect();
        let ok = auth("mysql", u, "mysql_native_password", &scramble)
            .with("salt", hex::encode(salt))
            .with("response", hex::encode(&scramble));
        assert_eq!(w.check(&ok).unwrap().fields["secret_verified"], true);
        let wrong = ok.clone().with("response", hex::encode([0u8; 20]));
        assert_eq!(
            w.check(&wrong),
            None,
            "a wrong password is a guess, not the token"
        );
        let scram = auth("postgres", u, "postgres_scram_sha256", b"proof");
        let trig = w.check(&scram).unwrap();
        assert_eq!(
            trig.fields["secret_verified"], false,
            "unverifiable: the name alone"
        );
        assert_eq!(trig.field_str("matched"), Some("username"));

        let pg = testing::token("pgpass");
        let (u, p) = pg.login().unwrap();
        let w = watcher(std::slice::from_ref(&pg));
        let salt = [1u8, 2, 3, 4];
        let inner = hex::encode(Md5::digest(format!("{p}{u}")));
        let resp = format!(
            "md5{}",
            hex::encode(Md5::digest([inner.as_bytes(), &salt].concat()))
        );
        let e = auth("postgres", u, "postgres_md5", resp.as_bytes())
            .with("salt", hex::encode(salt))
            .with("response", resp.clone());
        assert_eq!(w.check(&e).unwrap().fields["secret_verified"], true);
    }

    #[test]
    fn keys_tokens_paths_and_unc_names_are_found() {
        let ssh = testing::token("ssh_key");
        let k8s = testing::token("kubeconfig");
        let mut git = testing::token("git_config");
        git.id = uuid::Uuid::now_v7();
        let mut aws = testing::token("aws_credentials");
        aws.id = uuid::Uuid::now_v7();
        aws.slug = "zzzzzzzzzzzzzzz1".into();
        let mut smb = testing::token("desktop_ini");
        smb.id = uuid::Uuid::now_v7();
        smb.slug = "yyyyyyyyyyyyyyy2".into();
        git.slug = "xxxxxxxxxxxxxxx3".into();
        let mut k = k8s.clone();
        k.id = uuid::Uuid::now_v7();
        k.slug = "wwwwwwwwwwwwwww4".into();
        let w = watcher(&[
            ssh.clone(),
            k.clone(),
            git.clone(),
            aws.clone(),
            smb.clone(),
        ]);
        let named = |e: &Event| {
            w.check(e)
                .and_then(|t| t.field_str("token_id").map(str::to_owned))
        };

        let Credential::SshKey {
            fingerprint, user, ..
        } = &ssh.credentials[0]
        else {
            unreachable!()
        };
        let e = auth("ssh", user, "publickey", fingerprint.as_bytes())
            .with("fingerprint", fingerprint.as_str());
        assert_eq!(named(&e), Some(ssh.id.to_string()));

        let Credential::Bearer { token } = &k.credentials[0] else {
            unreachable!()
        };
        assert_eq!(
            named(&auth("k8s", "", "bearer_token", token.as_bytes())),
            Some(k.id.to_string())
        );

        let Credential::RepoPath { path } = &git.credentials[0] else {
            unreachable!()
        };
        let req = Event::new("git01", "http", EventKind::Request)
            .with("path", format!("{path}/info/refs"));
        assert_eq!(named(&req), Some(git.id.to_string()));

        let (key_id, _) = aws.aws_key().unwrap();
        let sig = format!("AWS4-HMAC-SHA256 Credential={key_id}/20250101/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=00");
        let req = Event::new("web01", "http", EventKind::Request)
            .with("path", "/")
            .with("headers", serde_json::json!({"Authorization": sig}));
        assert_eq!(named(&req), Some(aws.id.to_string()));

        let create = Event::new("fs01", "smb", EventKind::Command)
            .with("command", "create")
            .with("path", format!("{}\\folder.ico", smb.slug.to_uppercase()));
        assert_eq!(named(&create), Some(smb.id.to_string()));

        let noise = Event::new("web01", "http", EventKind::Request).with("path", "/wp-login.php");
        assert_eq!(w.check(&noise), None);
    }
}
