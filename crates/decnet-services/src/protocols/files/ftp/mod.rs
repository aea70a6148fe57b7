//! FTP (RFC 959/2428/3659) as the persona's daemon (vsftpd, Microsoft FTP,
//! or a configured banner): USER/PASS captured, optional anonymous login
//! chrooted to `/srv/ftp` of the decky's virtual filesystem, logged-in users
//! see the whole filesystem from their home. PASV/EPSV/PORT/EPRT data
//! connections; LIST/NLST/RETR/STOR/SIZE/MDTM/CWD/PWD/SYST/FEAT. STOR
//! uploads become artifacts (`file_upload`) and appear in the filesystem.
//!
//! `command` parses a line into a [`Command`] and its [`Verb`]; `session`
//! runs one method per verb.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use decnet_core::OsFamily;
use decnet_shell::{Kind, Node, Vfs};
use futures::future::BoxFuture;
use rand::Rng;

use super::resolve;
use crate::config::{check_bool, parse_bool, ConfigError};
use crate::creds::Credentials;
use crate::ctx::{DeckyCtx, LazyVfs};
use crate::line_conn::LineConn;
use crate::session::Session;
use crate::{Conn, Handler, Service, ServiceError};

mod command;
mod session;

pub use command::{parse_eprt, parse_port, Command, Verb};

/// Where anonymous users are chrooted in the virtual filesystem.
pub const ANON_ROOT: &str = "/srv/ftp";

/// The `ftp` service.
pub struct Ftp;

/// Per-decky FTP state.
pub struct FtpHandler {
    banner: String,
    windows: bool,
    anonymous: bool,
    creds: Credentials,
    vfs: LazyVfs,
}

impl Service for Ftp {
    fn name(&self) -> &'static str {
        "ftp"
    }

    fn validate(
        &self,
        cfg: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        check_bool(cfg, "anonymous")
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let p = &decky.persona;
        let banner = decky
            .config("ftp", "banner")
            .map(str::to_owned)
            .unwrap_or_else(|| p.distro.ftp_banner.to_owned());
        let anon_tree = AnonTree::of(decky);
        decky.on_vfs(move |vfs| anon_tree.seed(vfs));
        Ok(Arc::new(FtpHandler {
            banner,
            windows: (p.distro.family == OsFamily::Windows || p.family() == OsFamily::Windows),
            anonymous: decky
                .config("ftp", "anonymous")
                .and_then(parse_bool)
                .unwrap_or(true),
            creds: Credentials::for_service(&decky.spec, "ftp", &["ssh"]),
            vfs: LazyVfs::Decky(decky.clone()),
        }))
    }
}

/// The decky's facts the public tree under [`ANON_ROOT`] is drawn from,
/// taken at bind so the tree can be written when the filesystem is built.
struct AnonTree {
    name: String,
    generation: u32,
    boot_time: DateTime<Utc>,
    domain: String,
}

impl AnonTree {
    fn of(decky: &DeckyCtx) -> AnonTree {
        AnonTree {
            name: decky.name().to_owned(),
            generation: decky.generation,
            boot_time: decky.persona.boot_time,
            domain: decky.persona.domain.clone(),
        }
    }

    /// Puts a small, plausible public tree under [`ANON_ROOT`] (once per decky).
    fn seed(&self, vfs: &Vfs) {
        if vfs.get(&format!("{ANON_ROOT}/pub")).is_some() {
            return;
        }
        let domain = &self.domain;
        let mut rng = decnet_core::DeckySeed::new(&self.name, self.generation).rng("ftp-tree");
        let t = |rng: &mut rand_chacha::ChaCha20Rng| {
            self.boot_time - chrono::Duration::days(rng.gen_range(3..300))
        };
        let readme = format!(
            "{} public FTP\r\n\r\nDrivers, firmware and shared documents are in /pub.\r\nUploads go to /pub/incoming and are reviewed daily.\r\nContact: it-support@{}\r\n",
            domain.split('.').next().unwrap_or("corp").to_uppercase(),
            domain
        );
        let files: Vec<(String, Vec<u8>)> = vec![
            (format!("{ANON_ROOT}/welcome.msg"), b"Welcome to the FTP service.\r\n".to_vec()),
            (format!("{ANON_ROOT}/pub/README.txt"), readme.into_bytes()),
            (
                format!("{ANON_ROOT}/pub/docs/network-diagram-v3.txt"),
                format!("core-sw01 10.0.0.2\r\nfw01 10.0.0.1\r\nfiles01 10.0.10.15\r\nbackup01 10.0.10.20\r\nmail.{domain} 10.0.20.5\r\n").into_bytes(),
            ),
            (
                format!("{ANON_ROOT}/pub/firmware/SHA256SUMS"),
                format!("{:064x}  fw-{}.bin\n", rng.gen::<u128>(), rng.gen_range(100..400)).into_bytes(),
            ),
            (format!("{ANON_ROOT}/pub/incoming/.keep"), Vec::new()),
        ];
        for (path, bytes) in files {
            let when = t(&mut rng);
            let _ = vfs.add_file(&path, &bytes, 0o644, when, None);
        }
    }
}

fn ls_time(mtime: i64, now: DateTime<Utc>) -> String {
    let t = Utc.timestamp_opt(mtime, 0).single().unwrap_or(now);
    if (now - t).num_days().abs() > 180 {
        t.format("%b %d  %Y").to_string()
    } else {
        t.format("%b %d %H:%M").to_string()
    }
}

impl Handler for FtpHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let local_ip = conn.local.ip();
            let mut c = LineConn::accept(conn, session, None, "500 Input line too long.\r\n");
            if !self.windows {
                // vsftpd's VSFTP_MAX_COMMAND_LINE, and it hangs up past it.
                c.line_cap = 4096;
                c.close_on_too_long = true;
            }
            session::FtpSession::new(&self, c, local_ip).run().await
        })
    }
}

impl FtpHandler {
    /// The decky's filesystem, generated on the first command that reads it.
    fn vfs(&self) -> Arc<Vfs> {
        self.vfs.get()
    }

    fn owner(&self, uid: u32, anonymous: bool) -> String {
        if anonymous {
            return uid.to_string();
        }
        self.vfs()
            .host()
            .accounts
            .iter()
            .find(|a| a.uid == uid)
            .map(|a| a.name.clone())
            .unwrap_or_else(|| uid.to_string())
    }

    fn listing(&self, st: &session::State, arg: &str, names_only: bool) -> Option<String> {
        let now = Utc::now();
        let target = arg
            .split_whitespace()
            .find(|a| !a.starts_with('-'))
            .map(|a| resolve(&st.cwd, a))
            .unwrap_or_else(|| st.cwd.clone());
        let vp = st.vpath(&target);
        let node = self.vfs().get(&vp)?;
        let entries: Vec<(String, Node)> = if node.is_dir() {
            self.vfs().children(&vp)
        } else {
            vec![(decnet_shell::vfs::basename(&target).to_owned(), node)]
        };
        let mut out = String::new();
        for (name, n) in entries.iter().take(5000) {
            if names_only {
                out.push_str(name);
            } else {
                let owner = self.owner(n.uid, st.anonymous);
                let group = if st.anonymous {
                    n.gid.to_string()
                } else {
                    self.owner(n.gid, false)
                };
                let links = if n.is_dir() { 2 } else { 1 };
                out.push_str(&format!(
                    "{} {:>4} {:<8} {:<8} {:>12} {} {}",
                    n.mode_string(),
                    links,
                    owner,
                    group,
                    n.size,
                    ls_time(n.mtime, now),
                    name
                ));
                if let Kind::Link(t) = &n.kind {
                    out.push_str(" -> ");
                    out.push_str(t);
                }
            }
            out.push_str("\r\n");
        }
        Some(out)
    }
}
