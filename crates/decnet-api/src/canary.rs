//! Canary tokens meet the running fleet: which deckies credential tokens
//! point at, and dropping planted tokens' files into deckies' filesystems
//! (the same `Vfs` ssh, telnet, ftp and smb serve), so an intruder roaming
//! a decky finds them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::Utc;
use decnet_canary::plant::{self, DeckyProfile, PlantFile};
use decnet_canary::{CanaryError, CanaryService, Endpoint, Targets, Token};
use decnet_engine::Fleet;
use decnet_services::DeckyCtx;

/// Who auto-planted tokens are created by.
pub const PLANTER: &str = "decnet";

/// The endpoint of `service` on the first running decky that has it.
fn first_with(deckies: &[Arc<DeckyCtx>], service: &str) -> Option<(Arc<DeckyCtx>, Endpoint)> {
    first_where(deckies, service, |_| true)
}

/// [`first_with`] among the deckies `fit` accepts.
fn first_where(
    deckies: &[Arc<DeckyCtx>],
    service: &str,
    fit: impl Fn(&DeckyCtx) -> bool,
) -> Option<(Arc<DeckyCtx>, Endpoint)> {
    let info = decnet_core::catalog::service(service)?;
    let port = info.ports.first()?.1;
    deckies
        .iter()
        .find(|d| d.spec.services.iter().any(|s| s == service) && fit(d))
        .map(|d| {
            (
                d.clone(),
                Endpoint {
                    host: d.ip().to_string(),
                    port: port.saturating_add(d.port_offset),
                },
            )
        })
}

async fn running(fleet: &Fleet) -> Vec<Arc<DeckyCtx>> {
    let mut out = Vec::new();
    for s in fleet.summary().await {
        if let Some(ctx) = fleet.decky(&s.name).await {
            out.push(ctx);
        }
    }
    out
}

/// The deckies credential tokens point at: the first running decky of
/// each service. Git remotes go to an http decky whose site answers git's
/// smart HTTP discovery with a login challenge (a stock nginx or Apache
/// answers 404, so git would never send the login; the HTTP receiver then); S3 keys go to the HTTP receiver,
/// which answers as S3, because no decky service speaks S3.
pub async fn targets(fleet: &Fleet) -> Targets {
    targets_of(&running(fleet).await)
}

/// [`targets`] of a list of running deckies.
pub fn targets_of(deckies: &[Arc<DeckyCtx>]) -> Targets {
    let smb = first_with(deckies, "smb");
    let ssh = first_with(deckies, "ssh");
    Targets {
        ssh_host_key: ssh.as_ref().and_then(|(d, _)| ssh_host_key(d)),
        ssh: ssh.map(|(_, e)| e),
        k8s: first_with(deckies, "k8s").map(|(_, e)| e),
        git: first_where(
            deckies,
            "http",
            decnet_services::protocols::web::http::answers_git,
        )
        .map(|(_, e)| e),
        mysql: first_with(deckies, "mysql").map(|(_, e)| e),
        postgres: first_with(deckies, "postgres").map(|(_, e)| e),
        smb_share: smb.as_ref().map(|(d, _)| lure_share(d)),
        smb: smb.map(|(_, e)| e),
        s3: None,
    }
}

/// Where the ssh service keeps a decky's ed25519 host key (`decnet-ssh`'s
/// `keys::HostKeyKind::Ed25519`, OpenSSH's own name).
const SSH_HOST_KEY_FILE: &str = "ssh_host_ed25519_key";

/// The ssh decky's ed25519 host key as a `known_hosts` key (`ssh-ed25519
/// AAAA…`), read from the key store the ssh service keeps in the decky's
/// data dir; `None` until the service has made it. OpenSSH prefers a host
/// key type it already knows, so the planted line is the one it checks.
fn ssh_host_key(d: &DeckyCtx) -> Option<String> {
    let text = std::fs::read_to_string(d.data_dir.join(SSH_HOST_KEY_FILE)).ok()?;
    decnet_canary::secrets::public_key_line(&text)
}

fn lure_share(d: &DeckyCtx) -> String {
    decnet_services::protocols::windows::smb::lure_share(d)
}

/// What planting needs to know about a running decky: its login user's
/// home, its SMB lure share and FTP root when it serves them.
pub fn profile(d: &DeckyCtx) -> DeckyProfile {
    // The accounts, not the filesystem: planting at start must not
    // generate every decky's tree (see `drop_files_lazily`).
    let accounts = d.accounts();
    let user = accounts
        .iter()
        .find(|a| a.uid != 0)
        .or_else(|| accounts.first());
    let runs = |s: &str| d.spec.services.iter().any(|x| x == s);
    let windows = d.persona.family() == decnet_core::OsFamily::Windows
        || d.spec
            .archetype
            .as_deref()
            .is_some_and(|a| a.starts_with("windows") || a == "domain-controller");
    let mut user_name = user.map_or_else(|| "root".to_owned(), |a| a.name.clone());
    // A Windows decky's profile is C:\Users\<user>, i.e. the C: tree its
    // C$ share serves: never a /home, nor the Linux default login (`ubuntu`)
    // a Windows host does not have; a configured login user, else the
    // administrator.
    if windows {
        user_name = ["smb", "rdp", "ssh", "telnet", "ftp"]
            .iter()
            .find_map(|svc| d.config(svc, "user"))
            .unwrap_or("Administrator")
            .to_owned();
    }
    let home = if windows {
        format!(
            "{}/Users/{user_name}",
            decnet_services::protocols::windows::smb::share_root("C$")
        )
    } else {
        user.map_or_else(|| "/root".into(), |a| a.home.clone())
    };
    DeckyProfile {
        name: d.name().to_owned(),
        archetype: d.spec.archetype.clone(),
        services: d.spec.services.clone(),
        home,
        user: user_name,
        share_dir: runs("smb")
            .then(|| decnet_services::protocols::windows::smb::share_root(&lure_share(d))),
        ftp_dir: runs("ftp").then(|| decnet_services::protocols::files::ftp::ANON_ROOT.to_owned()),
        windows,
    }
}

/// Writes planted files into the decky's filesystem, owned by the named
/// account and backdated; returns how many were written (a refused file,
/// e.g. over the decky's quota, is logged and skipped).
pub fn drop_files(d: &DeckyCtx, files: &[PlantFile]) -> usize {
    write_files(&d.vfs(), files)
}

/// [`drop_files`] for a filesystem nobody has read yet: the files join it
/// when it is generated (before any session sees it), so planting a fleet
/// at start does not generate every decky's tree. Returns the files
/// written, or to be written.
pub fn drop_files_lazily(d: &DeckyCtx, files: Vec<PlantFile>) -> usize {
    if d.vfs_built() {
        return drop_files(d, &files);
    }
    let n = files.len();
    d.on_vfs(move |vfs| {
        write_files(vfs, &files);
    });
    n
}

fn write_files(vfs: &decnet_shell::Vfs, files: &[PlantFile]) -> usize {
    let mut written = 0;
    for f in files {
        let owner = vfs.host().account(&f.owner).map(|a| (a.uid, a.gid));
        let mtime = Utc::now() - chrono::Duration::seconds(f.age_secs.min(i64::MAX as u64) as i64);
        match vfs.add_file(&f.path, &f.bytes, f.mode, mtime, owner) {
            Ok(_) => written += 1,
            Err(e) => {
                tracing::warn!(decky = %f.decky, path = %f.path, "canary file not planted: {e}")
            }
        }
    }
    written
}

/// Drops the files of `decky`'s tokens: with `auto`, first creates the
/// tokens its archetype should have and does not; without, only tokens
/// placed there on demand. Returns the files written.
pub async fn plant_decky(
    svc: &CanaryService,
    d: &DeckyCtx,
    auto: bool,
) -> Result<usize, CanaryError> {
    let files = svc
        .plan_decky(&profile(d), PLANTER, auto, &svc.ctx())
        .await?;
    Ok(drop_files_lazily(d, files))
}

/// Drops one token's files into every running decky it is placed on
/// (a token created or placed through the API); returns the files written.
pub async fn plant_token(
    svc: &CanaryService,
    fleet: &Fleet,
    token: &Token,
) -> Result<usize, CanaryError> {
    let mut written = 0;
    let deckies: HashSet<&str> = token.planted_in.iter().map(|p| p.decky.as_str()).collect();
    for name in deckies {
        if let Some(d) = fleet.decky(name).await {
            let files = plant::plan(&profile(&d), std::slice::from_ref(token), &svc.ctx())?;
            written += drop_files(&d, &files);
        }
    }
    Ok(written)
}

/// Filesystems already planted: decky name to [`DeckyCtx::vfs_id`] (a
/// mutation's new filesystem has a new id, so it is planted again; ids are
/// never reused, so a redeployed decky never passes for its predecessor).
pub type Planted = HashMap<String, u64>;

/// Running deckies whose filesystem has not had its tokens yet (deckies
/// deployed since, or re-generated by a mutation).
pub async fn unplanted(fleet: &Fleet, planted: &mut Planted) -> Vec<Arc<DeckyCtx>> {
    let deckies = running(fleet).await;
    planted.retain(|name, _| deckies.iter().any(|d| d.name() == name));
    deckies
        .into_iter()
        .filter(|d| planted.get(d.name()) != Some(&d.vfs_id))
        .collect()
}

/// Records that `d`'s current filesystem has its tokens.
pub fn mark_planted(planted: &mut Planted, d: &DeckyCtx) {
    planted.insert(d.name().to_owned(), d.vfs_id);
}

/// Plants into every [`unplanted`] decky.
pub async fn plant_new_deckies(
    svc: &CanaryService,
    fleet: &Fleet,
    auto: bool,
    planted: &mut Planted,
) -> usize {
    let mut written = 0;
    for d in unplanted(fleet, planted).await {
        match plant_decky(svc, &d, auto).await {
            Ok(n) => {
                written += n;
                mark_planted(planted, &d);
            }
            Err(e) => tracing::warn!(decky = %d.name(), "canary planting failed: {e}"),
        }
    }
    written
}
