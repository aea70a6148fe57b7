//! Planting: which tokens a decky gets by its archetype, and the files to
//! drop for them (the engine hands each to `Vfs::add_file`).
//!
//! Deterministic: a decky's plan depends only on the decky, its tokens and
//! the context, so a restart drops the same bytes at the same paths with
//! the same backdated times.

use rand::Rng;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{CanaryError, CanaryResult};
use crate::kinds::{Ctx, Location};
use crate::store::CanaryService;
use crate::token::{NewToken, Placement, Token};

/// What planting needs to know about a decky (a sensor sends it to the
/// servers, which hold the tokens).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeckyProfile {
    /// Name.
    pub name: String,
    /// Archetype slug (`file-server`, `devops-host`…), if any.
    pub archetype: Option<String>,
    /// Services it runs.
    pub services: Vec<String>,
    /// Home directory of its login user as the decky's filesystem holds it
    /// (`/home/ubuntu`; a Windows decky's `C:\\Users\\<user>` is
    /// `/srv/smb/C$/Users/<user>`, the tree its `C$` share serves).
    pub home: String,
    /// Owner of planted home files.
    pub user: String,
    /// Directory of its SMB lure share in the VFS (`/srv/smb/Finance`), if it serves one.
    pub share_dir: Option<String>,
    /// Directory FTP serves (`/srv/ftp`), if it runs ftp.
    pub ftp_dir: Option<String>,
    /// A Windows persona: Windows kinds and a Windows profile directory.
    #[serde(default)]
    pub windows: bool,
}

/// One file to drop into a decky.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlantFile {
    /// The token it belongs to.
    pub token_id: Uuid,
    /// Decky.
    pub decky: String,
    /// Absolute path.
    pub path: String,
    /// Content (base64 in JSON: documents are binary).
    #[serde(with = "base64_bytes")]
    pub bytes: Vec<u8>,
    /// Unix mode.
    pub mode: u32,
    /// Owner.
    pub owner: String,
    /// Seconds before now to date the file (it should look lived-in).
    pub age_secs: u64,
}

/// The kinds an archetype gets: documents where people keep documents,
/// devops secrets on devops hosts, dumps on database servers.
pub fn kinds_for(profile: &DeckyProfile) -> Vec<&'static str> {
    let windows = &[
        "docx",
        "xlsx",
        "desktop_ini",
        "windows_shortcut",
        "aws_credentials",
    ][..];
    let mut kinds: Vec<&'static str> = match profile.archetype.as_deref() {
        Some("file-server") => vec!["docx", "xlsx", "pdf", "desktop_ini"],
        Some("windows-workstation" | "windows-server" | "domain-controller") => windows.to_vec(),
        Some("printer" | "iot-device" | "industrial-control" | "voip-server") => vec![],
        _ if profile.windows => windows.to_vec(),
        Some("devops-host") => vec![
            "kubeconfig",
            "env_file",
            "git_config",
            "ssh_key",
            "aws_credentials",
        ],
        Some("database-server") => vec!["mysql_dump", "my_cnf", "pgpass"],
        Some("web-server") => vec!["env_file", "git_config", "html_beacon"],
        _ => vec!["ssh_key", "aws_credentials", "http_url"],
    };
    // A file share or FTP root anywhere is where documents are looked for.
    if (profile.share_dir.is_some() || profile.ftp_dir.is_some()) && !kinds.contains(&"pdf") {
        kinds.push("pdf");
    }
    kinds
}

fn is_document(kind: &str) -> bool {
    matches!(
        kind,
        "docx" | "xlsx" | "pdf" | "desktop_ini" | "html_beacon" | "svg_beacon"
    )
}

/// The files for `tokens` on this decky. A token's placement on this decky
/// decides its main file's path; its other files, and tokens not placed
/// here, go where they naturally live (documents into the share or FTP
/// root when the decky has one).
pub fn plan(profile: &DeckyProfile, tokens: &[Token], ctx: &Ctx) -> CanaryResult<Vec<PlantFile>> {
    let seed = decnet_core::DeckySeed::new(&profile.name, 0);
    let mut out = Vec::new();
    for t in tokens.iter().filter(|t| !t.revoked) {
        let placed = t.planted_in.iter().find(|p| p.decky == profile.name);
        let mut rng = seed.rng(&format!("canary-age-{}", t.id));
        let age_secs = rng.gen_range(7 * 86_400..120 * 86_400);
        for (i, a) in t.render(ctx)?.into_iter().enumerate() {
            let natural = match (&a.location, is_document(&t.kind)) {
                (Location::Home(rel), true) => {
                    let dir = profile.share_dir.as_ref().or(profile.ftp_dir.as_ref());
                    match dir {
                        // Keep the sub-folder of desktop.ini (it decorates a folder).
                        Some(d) => format!("{d}/{}", rel.trim_start_matches("Documents/")),
                        None => a.location.resolve(&profile.home),
                    }
                }
                _ => a.location.resolve(&profile.home),
            };
            let path = match placed {
                Some(p) if i == 0 => p.path.clone(),
                _ => crate::token::normalise_path(&natural)?,
            };
            let owner = if path.starts_with(&format!("{}/", profile.home.trim_end_matches('/'))) {
                profile.user.clone()
            } else {
                "root".to_owned()
            };
            out.push(PlantFile {
                token_id: t.id,
                decky: profile.name.clone(),
                path,
                bytes: a.bytes,
                mode: a.mode,
                owner,
                age_secs,
            });
        }
    }
    Ok(out)
}

mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

impl CanaryService {
    /// The files of a decky's tokens for `ctx`: with `auto`, first makes
    /// the tokens its archetype should have and does not
    /// ([`CanaryService::plant_decky_in`]); without, only tokens placed on
    /// it on demand.
    pub async fn plan_decky(
        &self,
        profile: &DeckyProfile,
        created_by: &str,
        auto: bool,
        ctx: &Ctx,
    ) -> CanaryResult<Vec<PlantFile>> {
        if auto {
            return self.plant_decky_in(profile, created_by, ctx, false).await;
        }
        crate::token::validate_decky(&profile.name)?;
        let mine: Vec<Token> = self
            .list()
            .await?
            .into_iter()
            .filter(|t| !t.revoked && t.planted_in.iter().any(|p| p.decky == profile.name))
            .collect();
        plan(profile, &mine, ctx)
    }

    /// Makes the decky's archetype tokens it does not have yet (kinds whose
    /// target decky the fleet lacks are skipped), records where each is
    /// planted, and returns every file to drop for the decky's tokens.
    pub async fn plant_decky(
        &self,
        profile: &DeckyProfile,
        created_by: &str,
    ) -> CanaryResult<Vec<PlantFile>> {
        self.plant_decky_in(profile, created_by, &self.ctx(), false)
            .await
    }

    /// [`CanaryService::plant_decky`] against `ctx`; with `pin`, the tokens
    /// it makes keep `ctx`'s targets (a sensor's deckies) for good.
    pub async fn plant_decky_in(
        &self,
        profile: &DeckyProfile,
        created_by: &str,
        ctx: &Ctx,
        pin: bool,
    ) -> CanaryResult<Vec<PlantFile>> {
        crate::token::validate_decky(&profile.name)?;
        let mut mine: Vec<Token> = self
            .list()
            .await?
            .into_iter()
            .filter(|t| !t.revoked && t.planted_in.iter().any(|p| p.decky == profile.name))
            .collect();
        for kind in kinds_for(profile) {
            if mine.iter().any(|t| t.kind == kind) {
                continue;
            }
            let req = NewToken {
                kind: kind.into(),
                label: format!("{kind} on {}", profile.name),
                memo: "planted automatically by archetype".into(),
                created_by: created_by.into(),
                planted_in: Vec::new(),
            };
            let token = match self.create_in(&req, ctx, pin).await {
                Ok(t) => t,
                Err(CanaryError::MissingTarget { .. }) => continue,
                Err(e) => return Err(e),
            };
            let files = plan(profile, std::slice::from_ref(&token), ctx)?;
            let main = files.first().map(|f| f.path.clone()).unwrap_or_default();
            let placed = self.add_placement(token.id, &profile.name, &main).await?;
            mine.push(placed);
        }
        plan(profile, &mine, ctx)
    }

    /// Records a placement asked for on demand and returns the files to drop
    /// (the main one at `path`).
    pub async fn plant_at(
        &self,
        id: Uuid,
        profile: &DeckyProfile,
        path: &str,
    ) -> CanaryResult<Vec<PlantFile>> {
        let p = Placement::new(&profile.name, path)?;
        let token = self.add_placement(id, &p.decky, &p.path).await?;
        plan(profile, std::slice::from_ref(&token), &self.ctx())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::testing;

    fn profile(archetype: &str) -> DeckyProfile {
        DeckyProfile {
            name: "fs01".into(),
            archetype: Some(archetype.into()),
            services: vec!["smb".into()],
            home: "/home/ubuntu".into(),
            user: "ubuntu".into(),
            share_dir: Some("/srv/smb/Finance".into()),
            ftp_dir: None,
            windows: false,
        }
    }

    #[test]
    fn archetypes_get_their_kinds() {
        assert_eq!(
            kinds_for(&profile("file-server")),
            ["docx", "xlsx", "pdf", "desktop_ini"]
        );
        assert!(kinds_for(&profile("devops-host")).contains(&"kubeconfig"));
        assert!(kinds_for(&profile("database-server")).contains(&"mysql_dump"));
        let mut printer = profile("printer");
        printer.share_dir = None;
        assert!(kinds_for(&printer).is_empty());
    }

    #[test]
    fn plan_is_deterministic_and_puts_documents_in_the_share() {
        let doc = testing::token("docx");
        let mut key = testing::token("ssh_key");
        key.id = Uuid::now_v7();
        key.planted_in
            .push(Placement::new("fs01", "/root/.ssh/id_ed25519").unwrap());
        let p = profile("file-server");
        let a = plan(&p, &[doc.clone(), key.clone()], &testing::ctx()).unwrap();
        assert_eq!(a, plan(&p, &[doc, key], &testing::ctx()).unwrap());
        assert_eq!(a[0].path, "/srv/smb/Finance/Salary Review 2025.docx");
        assert_eq!(a[0].owner, "root");
        assert_eq!(
            a[1].path, "/root/.ssh/id_ed25519",
            "placement decides the main file"
        );
        assert_eq!(a[3].path, "/home/ubuntu/.ssh/config");
        assert_eq!(a[3].owner, "ubuntu");
        assert!(a
            .iter()
            .all(|f| (7 * 86_400..120 * 86_400).contains(&f.age_secs)));
    }

    #[test]
    fn windows_deckies_get_windows_profile_paths_and_kinds() {
        // What the engine gives a Windows persona: its profile directory in
        // the tree the C$ share serves, documents in the lure share.
        let p = DeckyProfile {
            name: "ws01".into(),
            archetype: None,
            services: vec!["smb".into(), "rdp".into()],
            home: "/srv/smb/C$/Users/jsmith".into(),
            user: "jsmith".into(),
            share_dir: Some("/srv/smb/Finance".into()),
            ftp_dir: None,
            windows: true,
        };
        let kinds = kinds_for(&p);
        assert!(kinds.contains(&"desktop_ini") && kinds.contains(&"windows_shortcut"));
        assert!(!kinds.contains(&"ssh_key"), "no ssh key on a Windows host");
        let mut tokens = Vec::new();
        for kind in ["windows_shortcut", "aws_credentials", "desktop_ini", "docx"] {
            let mut t = testing::token(kind);
            t.id = Uuid::now_v7();
            tokens.push(t);
        }
        let files = plan(&p, &tokens, &testing::ctx()).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert!(paths.iter().all(|p| !p.starts_with("/home/")), "{paths:?}");
        assert!(
            paths.contains(&"/srv/smb/C$/Users/jsmith/Desktop/Payroll Portal.url"),
            "{paths:?}"
        );
        assert!(
            paths.contains(&"/srv/smb/C$/Users/jsmith/.aws/credentials"),
            "{paths:?}"
        );
        assert!(
            paths.contains(&"/srv/smb/Finance/Finance/desktop.ini"),
            "{paths:?}"
        );
        let url = files
            .iter()
            .find(|f| f.path.ends_with(".url"))
            .map(|f| String::from_utf8_lossy(&f.bytes).into_owned())
            .unwrap();
        assert!(url.contains("IconFile=\\\\10.0.0.20\\Finance\\"), "{url}");
        assert!(files
            .iter()
            .filter(|f| f.path.starts_with("/srv/smb/C$/Users/jsmith/"))
            .all(|f| f.owner == "jsmith"));
    }

    #[test]
    fn plant_files_travel_as_json() {
        let f = PlantFile {
            token_id: Uuid::now_v7(),
            decky: "edge".into(),
            path: "/root/x.docx".into(),
            bytes: vec![0, 159, 146, 150, b'P', b'K'],
            mode: 0o644,
            owner: "root".into(),
            age_secs: 9,
        };
        let text = serde_json::to_string(&f).unwrap();
        assert!(text.contains("\"bytes\":\"AJ+SllBL\""), "{text}");
        assert_eq!(serde_json::from_str::<PlantFile>(&text).unwrap(), f);
    }

    #[tokio::test]
    async fn plant_decky_creates_once_and_skips_kinds_without_targets() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(
            decnet_store::SqlStore::connect(&format!(
                "sqlite://{}",
                dir.path().join("c.db").display()
            ))
            .await
            .unwrap(),
        );
        let mut ctx = testing::ctx();
        ctx.targets.smb = None;
        let svc = CanaryService::open(store, ctx).await.unwrap();
        let p = profile("file-server");
        let files = svc.plant_decky(&p, "system").await.unwrap();
        let kinds: Vec<String> = svc
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.kind)
            .collect();
        assert_eq!(
            kinds,
            ["docx", "xlsx", "pdf"],
            "desktop_ini needs an smb decky"
        );
        assert_eq!(files.len(), 3);
        let again = svc.plant_decky(&p, "system").await.unwrap();
        assert_eq!(
            again, files,
            "a second run makes nothing new and drops the same files"
        );
        assert_eq!(svc.list().await.unwrap().len(), 3);
    }
}
