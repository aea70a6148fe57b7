//! Per-session upload budget shared by scp and sftp: count and size caps,
//! artifact storage (sha256-named, `file_upload` event) and insertion into
//! the decky's VFS so the file shows up in `ls`.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use decnet_services::artifacts::{self, ArtifactError};
use decnet_services::{fields, Session};
use decnet_shell::Vfs;

/// Files accepted per session.
pub const MAX_FILES: u32 = 20;
/// Bytes accepted per session (all files).
pub const MAX_TOTAL: u64 = 32 * 1024 * 1024;

struct Inner {
    session: Session,
    vfs: Arc<Vfs>,
    owner: (u32, u32),
    count: AtomicU32,
    bytes: AtomicU64,
    capped: std::sync::atomic::AtomicBool,
}

/// Upload budget of one SSH session (cheap to clone).
#[derive(Clone)]
pub struct Uploads(Arc<Inner>);

impl Uploads {
    /// Budget for `session`, files owned by `owner` (uid, gid) in the VFS.
    pub fn new(session: Session, vfs: Arc<Vfs>, owner: (u32, u32)) -> Uploads {
        Uploads(Arc::new(Inner {
            session,
            vfs,
            owner,
            count: AtomicU32::new(0),
            bytes: AtomicU64::new(0),
            capped: std::sync::atomic::AtomicBool::new(false),
        }))
    }

    /// Largest single file kept.
    pub fn max_file(&self) -> usize {
        artifacts::DEFAULT_MAX_ARTIFACT
    }

    /// True when `n` more bytes could be stored now: the session's caps
    /// and the artifact quota leave room (checked at each SFTP write, so
    /// the client hears of a full disk while it writes, as it would).
    pub fn has_room(&self, n: u64) -> bool {
        let i = &self.0;
        i.count.load(Ordering::Relaxed) < MAX_FILES
            && i.bytes.load(Ordering::Relaxed) + n <= MAX_TOTAL
            && artifacts::has_room(&i.session, n)
    }

    /// Records an upload refused while it was written (no room).
    pub fn report_dropped(&self, path: &str, size: u64) {
        artifacts::report_dropped(&self.0.session, path, size);
    }

    /// Stores one uploaded file; false when it was not kept (the session's
    /// caps or the artifact quota): the client must be told the write failed.
    pub async fn save(
        &self,
        path: &str,
        data: &[u8],
        truncated: bool,
        mode: u32,
        via: &str,
    ) -> bool {
        let i = &self.0;
        let n = i.count.fetch_add(1, Ordering::Relaxed);
        let total = i.bytes.fetch_add(data.len() as u64, Ordering::Relaxed) + data.len() as u64;
        if n >= MAX_FILES || total > MAX_TOTAL {
            if !i.capped.swap(true, Ordering::Relaxed) {
                i.session.emit_error(format!(
                    "upload cap reached ({MAX_FILES} files / {MAX_TOTAL} bytes per session); further uploads dropped"
                ));
            }
            return false;
        }
        let extra =
            fields! {"path" => path, "via" => via, "mode" => format!("{:o}", mode & 0o7777)};
        match artifacts::store(&i.session, path, data, truncated, extra).await {
            Ok(_) => {}
            // Already an `artifact_dropped` event; the client hears "no space".
            Err(ArtifactError::QuotaFull { .. }) => return false,
            Err(e) => {
                i.session.emit_error(format!("storing upload: {e}"));
                return false;
            }
        }
        if let Err(e) = i
            .vfs
            .add_file(path, data, mode & 0o7777, chrono::Utc::now(), Some(i.owner))
        {
            tracing::debug!("upload {path} not added to the VFS: {e}");
        }
        true
    }
}
