//! `TokenIndex`: what receivers and the watcher look tokens up by.
//!
//! One hash map per key type, so a lookup is one hash of a borrowed `&str`
//! (no allocation) under a read lock. Only live tokens are indexed: revoking
//! removes every key, which is what makes a revoked token stop triggering.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;
use uuid::Uuid;

use crate::token::{Credential, Token};

/// What a value is looked up as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// The call-home slug (URL path segment, DNS label); lowercase.
    Slug,
    /// An AWS access key id.
    AwsKeyId,
    /// An SSH key fingerprint (`SHA256:…`).
    SshFingerprint,
    /// A bearer token.
    Bearer,
    /// A login's user name (also an ssh key's user).
    Username,
    /// A login's password.
    Password,
    /// A git repository path.
    RepoPath,
}

const KINDS: usize = 7;

impl KeyKind {
    fn slot(self) -> usize {
        self as usize
    }
}

/// The keys a token is found by.
pub fn keys_of(token: &Token) -> Vec<(KeyKind, String)> {
    let mut out = vec![(KeyKind::Slug, token.slug.to_ascii_lowercase())];
    for c in &token.credentials {
        match c {
            Credential::AwsKey { access_key_id, .. } => {
                out.push((KeyKind::AwsKeyId, access_key_id.clone()))
            }
            Credential::SshKey {
                user, fingerprint, ..
            } => {
                out.push((KeyKind::SshFingerprint, fingerprint.clone()));
                out.push((KeyKind::Username, user.clone()));
            }
            Credential::Login { username, password } => {
                out.push((KeyKind::Username, username.clone()));
                out.push((KeyKind::Password, password.clone()));
            }
            Credential::Bearer { token } => out.push((KeyKind::Bearer, token.clone())),
            Credential::RepoPath { path } => out.push((KeyKind::RepoPath, path.clone())),
        }
    }
    out
}

#[derive(Default)]
struct Maps {
    tokens: HashMap<Uuid, Arc<Token>>,
    keys: [HashMap<String, Uuid>; KINDS],
}

/// Live tokens by id and by every key.
#[derive(Default)]
pub struct TokenIndex {
    maps: RwLock<Maps>,
}

impl TokenIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// An index of the live tokens among `tokens`.
    pub fn build(tokens: impl IntoIterator<Item = Token>) -> Self {
        let idx = Self::new();
        for t in tokens {
            idx.insert(t);
        }
        idx
    }

    /// Adds (or replaces) a token; a revoked one is removed instead.
    pub fn insert(&self, token: Token) {
        let id = token.id;
        if token.revoked {
            self.remove(id);
            return;
        }
        let keys = keys_of(&token);
        let mut m = self.maps.write();
        if let Some(old) = m.tokens.insert(id, Arc::new(token)) {
            for (k, v) in keys_of(&old) {
                m.keys[k.slot()].remove(&v);
            }
        }
        for (k, v) in keys {
            m.keys[k.slot()].insert(v, id);
        }
    }

    /// Drops a token and its keys; true when it was there.
    pub fn remove(&self, id: Uuid) -> bool {
        let mut m = self.maps.write();
        let Some(old) = m.tokens.remove(&id) else {
            return false;
        };
        for (k, v) in keys_of(&old) {
            if m.keys[k.slot()].get(&v) == Some(&id) {
                m.keys[k.slot()].remove(&v);
            }
        }
        true
    }

    /// The live token a key belongs to.
    pub fn lookup(&self, kind: KeyKind, value: &str) -> Option<Arc<Token>> {
        let m = self.maps.read();
        let id = m.keys[kind.slot()].get(value)?;
        m.tokens.get(id).cloned()
    }

    /// A live token by id.
    pub fn get(&self, id: Uuid) -> Option<Arc<Token>> {
        self.maps.read().tokens.get(&id).cloned()
    }

    /// True when any key of `token` already belongs to another live token.
    pub fn collides(&self, token: &Token) -> bool {
        let m = self.maps.read();
        keys_of(token).iter().any(|(k, v)| {
            m.keys[k.slot()]
                .get(v)
                .is_some_and(|owner| *owner != token.id)
        })
    }

    /// Every live token (unordered).
    pub fn all(&self) -> Vec<Arc<Token>> {
        self.maps.read().tokens.values().cloned().collect()
    }

    /// How many live tokens.
    pub fn len(&self) -> usize {
        self.maps.read().tokens.len()
    }

    /// True when no token is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Finds a slug among the 16-character lowercase-alphanumeric runs of
    /// `text` (a URL path, a UNC path, a query name…).
    pub fn find_slug_in(&self, text: &str) -> Option<Arc<Token>> {
        let m = self.maps.read();
        let slugs = &m.keys[KeyKind::Slug.slot()];
        if slugs.is_empty() {
            return None;
        }
        let mut buf = [0u8; SLUG_LEN];
        text.as_bytes()
            .split(|b| !b.is_ascii_alphanumeric())
            .filter(|run| run.len() == SLUG_LEN)
            .find_map(|run| {
                for (d, s) in buf.iter_mut().zip(run) {
                    *d = s.to_ascii_lowercase();
                }
                let key = std::str::from_utf8(&buf).ok()?;
                slugs.get(key).and_then(|id| m.tokens.get(id).cloned())
            })
    }
}

/// Length of every slug ([`crate::secrets::slug`]).
pub const SLUG_LEN: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::testing;

    #[test]
    fn every_key_finds_the_token_until_revoked() {
        let t = testing::token("git_config");
        let idx = TokenIndex::build([t.clone()]);
        let (u, p) = t.login().unwrap();
        assert_eq!(idx.lookup(KeyKind::Username, u).unwrap().id, t.id);
        assert_eq!(idx.lookup(KeyKind::Password, p).unwrap().id, t.id);
        let Credential::RepoPath { path } = &t.credentials[0] else {
            unreachable!()
        };
        assert_eq!(idx.lookup(KeyKind::RepoPath, path).unwrap().id, t.id);
        let upper = format!("/x/{}/y", t.slug.to_ascii_uppercase());
        assert_eq!(
            idx.find_slug_in(&upper).unwrap().id,
            t.id,
            "slugs match case-insensitively"
        );
        assert!(idx.find_slug_in("/c/aaaaaaaaaaaaaaaa").is_none());
        let mut revoked = t.clone();
        revoked.revoked = true;
        idx.insert(revoked);
        assert!(idx.lookup(KeyKind::Username, u).is_none());
        assert!(idx.find_slug_in(&t.slug).is_none());
        assert!(idx.is_empty());
    }

    #[test]
    fn replacing_a_token_drops_its_old_keys() {
        let mut t = testing::token("http_url");
        let idx = TokenIndex::build([t.clone()]);
        let old = t.slug.clone();
        t.slug = "zzzzzzzzzzzzzzzz".into();
        idx.insert(t.clone());
        assert!(idx.lookup(KeyKind::Slug, &old).is_none());
        assert!(idx.lookup(KeyKind::Slug, "zzzzzzzzzzzzzzzz").is_some());
        let mut other = testing::token("http_url");
        other.id = uuid::Uuid::now_v7();
        other.slug = t.slug.clone();
        assert!(idx.collides(&other));
    }
}
