//! Tokens on the store's documents, and the `CanaryService` façade the API
//! calls. Triggers need nothing here: they are events, stored by the
//! normal ingester.

use std::sync::Arc;

use decnet_store::{DocStore, StoreError};
use parking_lot::RwLock;
use uuid::Uuid;

use crate::error::{CanaryError, CanaryResult};
use crate::index::TokenIndex;
use crate::kinds::{Artifact, Ctx, Location};
use crate::notice::Notifier;
use crate::token::{NewToken, Placement, Token, PLACEMENTS_MAX};
use crate::zipfile::{self, Member};

/// Document kind of tokens in the store.
pub const DOC_KIND: &str = "canary_token";
/// Tries at minting secrets no live token already has (a collision of
/// 80-bit random slugs is not expected, ever; the loop is for human-looking
/// logins, whose space is smaller).
const MINT_TRIES: usize = 16;
/// Tries at a compare-and-swap update racing another writer.
const CAS_TRIES: usize = 8;

/// A file to hand out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Download {
    /// Suggested file name.
    pub file_name: String,
    /// MIME type.
    pub content_type: &'static str,
    /// Content.
    pub bytes: Vec<u8>,
}

/// Create/list/get/revoke/download, with the index kept current.
pub struct CanaryService {
    docs: Arc<dyn DocStore>,
    index: Arc<TokenIndex>,
    ctx: RwLock<Arc<Ctx>>,
    // Minting checks the index for collisions and then inserts: one at a
    // time in this process.
    create_lock: tokio::sync::Mutex<()>,
    notifier: Option<Notifier>,
}

fn decode(doc: &decnet_store::Doc) -> CanaryResult<Token> {
    serde_json::from_value(doc.body.clone())
        .map_err(|e| CanaryError::Corrupt(format!("{}: {e}", doc.id)))
}

fn encode(t: &Token) -> serde_json::Value {
    // A Token is plain data: serialising it cannot fail.
    serde_json::to_value(t).unwrap_or_default()
}

impl CanaryService {
    /// Loads every stored token into a fresh index.
    pub async fn open(docs: Arc<dyn DocStore>, ctx: Ctx) -> CanaryResult<Self> {
        let svc = CanaryService {
            docs,
            index: Arc::new(TokenIndex::new()),
            ctx: RwLock::new(Arc::new(ctx)),
            create_lock: tokio::sync::Mutex::new(()),
            notifier: None,
        };
        svc.reload().await?;
        Ok(svc)
    }

    /// Publishes a notice on `bus` after every write, so other servers
    /// sharing the store update their index at once
    /// ([`CanaryService::follow_notices`]).
    pub fn notify_on(mut self, bus: std::sync::Arc<dyn decnet_bus::Bus>) -> Self {
        self.notifier = Some(Notifier {
            bus,
            origin: Uuid::now_v7(),
        });
        self
    }

    /// This process's notice origin, when it publishes notices.
    pub(crate) fn origin(&self) -> Option<Uuid> {
        self.notifier.as_ref().map(|n| n.origin)
    }

    fn changed(&self, id: Uuid) {
        if let Some(n) = &self.notifier {
            n.changed(id);
        }
    }

    /// Re-reads one token into the index (another server wrote it); a
    /// token gone from the store leaves the index.
    pub async fn refresh_token(&self, id: Uuid) -> CanaryResult<()> {
        match self.docs.doc_get(DOC_KIND, &id.to_string()).await? {
            Some(doc) => self.index.insert(decode(&doc)?),
            None => {
                self.index.remove(id);
            }
        }
        Ok(())
    }

    /// Re-reads every token (e.g. after another server changed some);
    /// returns how many are live.
    pub async fn reload(&self) -> CanaryResult<usize> {
        let tokens = self.list().await?;
        let live: std::collections::HashSet<Uuid> =
            tokens.iter().filter(|t| !t.revoked).map(|t| t.id).collect();
        for t in tokens {
            self.index.insert(t);
        }
        // Tokens deleted from the store by hand leave the index too.
        let stale: Vec<Uuid> = self
            .index_ids()
            .into_iter()
            .filter(|id| !live.contains(id))
            .collect();
        for id in stale {
            self.index.remove(id);
        }
        Ok(self.index.len())
    }

    fn index_ids(&self) -> Vec<Uuid> {
        self.index.all().iter().map(|t| t.id).collect()
    }

    /// The index receivers and the watcher share.
    pub fn index(&self) -> Arc<TokenIndex> {
        self.index.clone()
    }

    /// Where receivers and deckies are now.
    pub fn ctx(&self) -> Arc<Ctx> {
        self.ctx.read().clone()
    }

    /// Replaces the context (fleet redeployed, receiver moved).
    pub fn set_ctx(&self, ctx: Ctx) {
        *self.ctx.write() = Arc::new(ctx);
    }

    /// Validates, mints unique secrets, checks the kind renders against
    /// the current context (a kubeconfig needs a k8s decky…), stores and
    /// indexes a new token.
    pub async fn create(&self, req: &NewToken) -> CanaryResult<Token> {
        self.create_in(req, &self.ctx(), false).await
    }

    /// [`CanaryService::create`], checking the kind renders against `ctx`
    /// (a sensor's deckies rather than this server's); with `pin`, the
    /// token keeps `ctx`'s targets ([`Token::targets`]).
    pub async fn create_in(&self, req: &NewToken, ctx: &Ctx, pin: bool) -> CanaryResult<Token> {
        let checked = req.check()?;
        let _one_at_a_time = self.create_lock.lock().await;
        // The thread-local generator is not Send: it must be gone before
        // the first await, or the future cannot run on a work-stealing runtime.
        let token = {
            let mut rng = rand::thread_rng();
            let mut tries = 0;
            loop {
                let creds = checked.kind.mint(&mut rng)?;
                let mut t =
                    Token::from_checked(checked.clone(), crate::secrets::slug(&mut rng), creds);
                if pin {
                    t.targets = Some(ctx.targets.clone());
                }
                tries += 1;
                if !self.index.collides(&t) {
                    break t;
                }
                if tries >= MINT_TRIES {
                    return Err(CanaryError::Render("could not mint unique secrets".into()));
                }
            }
        };
        token.render(ctx)?;
        self.docs
            .doc_put(DOC_KIND, &token.id.to_string(), None, None, &encode(&token))
            .await?;
        self.index.insert(token.clone());
        self.changed(token.id);
        Ok(token)
    }

    /// Every token (live and revoked), oldest first.
    pub async fn list(&self) -> CanaryResult<Vec<Token>> {
        let docs = self.docs.doc_list(DOC_KIND, None).await?;
        let mut out = docs.iter().map(decode).collect::<CanaryResult<Vec<_>>>()?;
        out.sort_by_key(|t| t.id);
        Ok(out)
    }

    /// One token.
    pub async fn get(&self, id: Uuid) -> CanaryResult<Token> {
        Ok(self.get_versioned(id).await?.0)
    }

    async fn get_versioned(&self, id: Uuid) -> CanaryResult<(Token, i64)> {
        let doc = self
            .docs
            .doc_get(DOC_KIND, &id.to_string())
            .await?
            .ok_or(CanaryError::NotFound(id))?;
        Ok((decode(&doc)?, doc.version))
    }

    /// Applies `change` with compare-and-swap, retrying when another
    /// writer got there first.
    async fn update(
        &self,
        id: Uuid,
        change: impl Fn(&mut Token) -> CanaryResult<()>,
    ) -> CanaryResult<Token> {
        for _ in 0..CAS_TRIES {
            let (mut t, version) = self.get_versioned(id).await?;
            change(&mut t)?;
            match self
                .docs
                .doc_put(DOC_KIND, &id.to_string(), None, Some(version), &encode(&t))
                .await
            {
                Ok(_) => {
                    self.index.insert(t.clone());
                    self.changed(id);
                    return Ok(t);
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict(format!("canary token {id} kept changing")).into())
    }

    /// Revokes a token: it stops triggering at once. Revoking twice is fine.
    pub async fn revoke(&self, id: Uuid) -> CanaryResult<Token> {
        self.update(id, |t| {
            if !t.revoked {
                t.revoked = true;
                t.revoked_at = Some(chrono::Utc::now());
            }
            Ok(())
        })
        .await
    }

    /// Records where a token was planted (the engine drops the file).
    pub async fn add_placement(&self, id: Uuid, decky: &str, path: &str) -> CanaryResult<Token> {
        let p = Placement::new(decky, path)?;
        self.update(id, |t| {
            if t.revoked {
                return Err(CanaryError::Revoked(t.id));
            }
            if !t.planted_in.contains(&p) {
                if t.planted_in.len() >= PLACEMENTS_MAX {
                    return Err(CanaryError::InvalidText {
                        field: "planted_in",
                        reason: format!("at most {PLACEMENTS_MAX} placements"),
                    });
                }
                t.planted_in.push(p.clone());
            }
            Ok(())
        })
        .await
    }

    /// The token's files for the current context.
    pub fn render(&self, token: &Token) -> CanaryResult<Vec<Artifact>> {
        token.render(&self.ctx())
    }

    /// What the download button hands out: the file itself when the kind
    /// has one, else a zip of its files laid out as under a home directory.
    pub async fn download(&self, id: Uuid) -> CanaryResult<Download> {
        let token = self.get(id).await?;
        if token.revoked {
            return Err(CanaryError::Revoked(id));
        }
        let mut arts = self.render(&token)?;
        if arts.len() == 1 {
            let a = arts.remove(0);
            return Ok(Download {
                content_type: content_type(&a.file_name),
                file_name: a.file_name,
                bytes: a.bytes,
            });
        }
        let names: Vec<String> = arts.iter().map(|a| archive_path(&a.location)).collect();
        let members: Vec<Member<'_>> = arts
            .iter()
            .zip(&names)
            .map(|(a, name)| Member {
                name,
                bytes: &a.bytes,
                mode: a.mode,
            })
            .collect();
        Ok(Download {
            file_name: format!(
                "{}-{}.zip",
                token.kind,
                &token.slug[..8.min(token.slug.len())]
            ),
            content_type: "application/zip",
            bytes: zipfile::write(&members, token.created_at)?,
        })
    }
}

/// A location as a path inside an archive (home-relative as is; absolute
/// without the leading `/`).
pub(crate) fn archive_path(loc: &Location) -> String {
    match loc {
        Location::Home(rel) => rel.clone(),
        Location::Absolute(p) => p.trim_start_matches('/').to_owned(),
    }
}

/// MIME type by file extension.
pub fn content_type(file_name: &str) -> &'static str {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Some("pdf") => "application/pdf",
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("zip") => "application/zip",
        Some("sql" | "txt" | "ini" | "url" | "env" | "cnf") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::KeyKind;
    use crate::kinds::testing;
    use decnet_store::SqlStore;

    async fn open(path: &std::path::Path) -> (Arc<SqlStore>, CanaryService) {
        let store = Arc::new(
            SqlStore::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap(),
        );
        let svc = CanaryService::open(store.clone(), testing::ctx())
            .await
            .unwrap();
        (store, svc)
    }

    fn req(kind: &str) -> NewToken {
        NewToken {
            kind: kind.into(),
            label: format!("{kind} on fs01"),
            created_by: "admin".into(),
            planted_in: vec![Placement {
                decky: "fs01".into(),
                path: "/home/u/x".into(),
            }],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn tokens_and_revocations_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        let (store, svc) = open(&db).await;
        let aws = svc.create(&req("aws_credentials")).await.unwrap();
        let url = svc.create(&req("http_url")).await.unwrap();
        svc.revoke(url.id).await.unwrap();
        assert!(svc.index().find_slug_in(&url.slug).is_none());
        let again = svc.revoke(url.id).await.unwrap();
        assert!(again.revoked, "revoking twice is fine");
        svc.add_placement(aws.id, "web02", "/root//.aws/credentials")
            .await
            .unwrap();
        store.close().await;
        drop(svc);

        let (_store, svc) = open(&db).await;
        let all = svc.list().await.unwrap();
        assert_eq!(all.len(), 2);
        let back = svc.get(aws.id).await.unwrap();
        assert_eq!(back.credentials, aws.credentials);
        assert_eq!(back.planted_in[1].path, "/root/.aws/credentials");
        let idx = svc.index();
        assert_eq!(idx.len(), 1, "the revoked token stays out of the index");
        assert_eq!(
            idx.lookup(KeyKind::AwsKeyId, aws.aws_key().unwrap().0)
                .unwrap()
                .id,
            aws.id
        );
        assert!(matches!(
            svc.download(url.id).await,
            Err(CanaryError::Revoked(_))
        ));
        assert!(matches!(
            svc.add_placement(url.id, "x", "/y").await,
            Err(CanaryError::Revoked(_))
        ));
    }

    #[tokio::test]
    async fn bad_requests_get_clear_errors_and_store_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (_s, svc) = open(&dir.path().join("c.db")).await;
        let e = svc
            .create(&NewToken {
                kind: "floppy".into(),
                ..req("x")
            })
            .await
            .unwrap_err();
        assert!(matches!(e, CanaryError::UnknownKind(_)));
        let mut r = req("pgpass");
        r.planted_in[0].path = "/var/../../etc/passwd".into();
        assert!(matches!(
            svc.create(&r).await,
            Err(CanaryError::InvalidPath { .. })
        ));
        svc.set_ctx(Ctx::new("http://h"));
        let e = svc.create(&req("kubeconfig")).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "token kind 'kubeconfig' needs a k8s decky to point at, and none is configured"
        );
        assert!(svc.list().await.unwrap().is_empty());
        assert!(matches!(
            svc.get(Uuid::now_v7()).await,
            Err(CanaryError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn downloads_are_the_file_or_a_zip_of_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let (_s, svc) = open(&dir.path().join("c.db")).await;
        let pdf = svc.create(&req("pdf")).await.unwrap();
        let d = svc.download(pdf.id).await.unwrap();
        assert_eq!(d.content_type, "application/pdf");
        assert!(d.bytes.starts_with(b"%PDF"));
        let ssh = svc.create(&req("ssh_key")).await.unwrap();
        let d = svc.download(ssh.id).await.unwrap();
        assert_eq!(d.content_type, "application/zip");
        let members = crate::zipfile::read::members(&d.bytes);
        assert!(members.contains_key(".ssh/id_ed25519_bastion"));
        assert!(members.contains_key(".ssh/config"));
    }
}
