//! Captured files (uploads, mail, print jobs): stored once by sha256 under
//! `DATA_DIR/artifacts/`, announced with a `file_upload` event.
//!
//! Attackers choose names and sizes, so names never reach the filesystem
//! (files are named by hash) and every capture is capped. All captures are
//! also bounded together:
//!
//! * on disk by a quota over the whole artifacts directory
//!   ([`Limits::artifact_quota`](crate::Limits), `DECNET_ARTIFACT_QUOTA_MB`).
//!   Over it a capture is refused, never made room for by deleting older
//!   ones: evicting would let an attacker flush the evidence of what came
//!   before. Each refusal is an `error` event with `artifact_dropped` and
//!   its reason, and the protocol answers like a server with a full disk.
//! * in memory by streaming: a [`Capture`] writes to disk as bytes arrive,
//!   buffering at most [`CAPTURE_BUFFER`] bytes, and all captures of the
//!   process together buffer (or keep copies of) at most
//!   [`MEMORY_BUDGET`] bytes; past it they write through unbuffered.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use decnet_core::EventKind;
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::fields;
use crate::session::Session;

/// Largest single artifact kept (bytes beyond are dropped, `truncated` set).
pub const DEFAULT_MAX_ARTIFACT: usize = 16 * 1024 * 1024;
/// Default disk quota of the artifacts directory.
pub const DEFAULT_QUOTA: u64 = 1024 * 1024 * 1024;
/// Environment variable overriding the quota, in MiB.
pub const QUOTA_ENV: &str = "DECNET_ARTIFACT_QUOTA_MB";
/// Bytes one capture buffers before writing them to disk.
pub const CAPTURE_BUFFER: usize = 64 * 1024;
/// Bytes all captures of the process may hold in memory together.
pub const MEMORY_BUDGET: usize = 32 * 1024 * 1024;

/// Why a capture was not stored.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The artifacts directory is at its quota.
    #[error("artifact quota of {quota} bytes reached")]
    QuotaFull {
        /// The quota in bytes.
        quota: u64,
    },
    /// Writing the file failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// A stored artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// Lowercase hex sha256 of the stored bytes.
    pub sha256: String,
    /// Stored size.
    pub size: u64,
    /// Where it is on disk.
    pub path: PathBuf,
    /// True if the original was larger than the cap.
    pub truncated: bool,
}

/// Disk use of an artifacts directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Bytes stored (and reserved by captures in progress).
    pub used: u64,
    /// The quota.
    pub quota: u64,
    /// Captures refused since the process started.
    pub dropped: u64,
}

/// The quota from [`QUOTA_ENV`], else [`DEFAULT_QUOTA`].
pub fn quota_from_env() -> u64 {
    std::env::var(QUOTA_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|mb| mb.saturating_mul(1024 * 1024))
        .unwrap_or(DEFAULT_QUOTA)
}

/// The artifacts directory of a data dir (`DATA_DIR/artifacts`).
/// `decky_data_dir` is `DATA_DIR/deckies/<name>`.
pub fn artifacts_dir(decky_data_dir: &Path) -> PathBuf {
    decky_data_dir
        .parent()
        .and_then(Path::parent)
        .map(|root| root.join("artifacts"))
        .unwrap_or_else(|| decky_data_dir.join("artifacts"))
}

/// One artifacts directory, shared by every decky of a data dir.
struct Dir {
    path: PathBuf,
    quota: u64,
    used: AtomicU64,
    dropped: AtomicU64,
}

impl Dir {
    /// Takes `n` bytes of the quota; false when they do not fit.
    fn reserve(&self, n: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|t| *t <= self.quota)
            })
            .is_ok()
    }

    fn release(&self, n: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                Some(u.saturating_sub(n))
            });
    }
}

fn dirs() -> &'static Mutex<HashMap<PathBuf, Arc<Dir>>> {
    static DIRS: OnceLock<Mutex<HashMap<PathBuf, Arc<Dir>>>> = OnceLock::new();
    DIRS.get_or_init(Default::default)
}

/// The accounting of `path`, created on first use: what is already on disk
/// counts against the quota, and temporary files a crash left are removed.
fn dir(path: PathBuf, quota: u64) -> Arc<Dir> {
    let mut all = dirs().lock();
    if let Some(d) = all.get(&path) {
        return d.clone();
    }
    let mut used = 0;
    if let Ok(entries) = std::fs::read_dir(&path) {
        for e in entries.flatten() {
            let name = e.file_name();
            if name.to_string_lossy().starts_with('.') {
                let _ = std::fs::remove_file(e.path());
            } else if let Ok(m) = e.metadata() {
                used += m.len();
            }
        }
    }
    let d = Arc::new(Dir {
        path: path.clone(),
        quota,
        used: AtomicU64::new(used),
        dropped: AtomicU64::new(0),
    });
    all.insert(path, d.clone());
    d
}

fn dir_of(session: &Session) -> Arc<Dir> {
    let decky = &session.decky;
    dir(artifacts_dir(&decky.data_dir), decky.limits.artifact_quota)
}

/// Disk use of the artifacts directory of `decky_data_dir`, if anything
/// was captured there by this process.
pub fn usage(decky_data_dir: &Path) -> Option<Usage> {
    let d = dirs().lock().get(&artifacts_dir(decky_data_dir)).cloned()?;
    Some(Usage {
        used: d.used.load(Ordering::Acquire),
        quota: d.quota,
        dropped: d.dropped.load(Ordering::Acquire),
    })
}

/// True when `n` more bytes fit the quota of `session`'s artifacts
/// directory right now (a hint for protocols that must answer before they
/// have the bytes, such as an SFTP write).
pub fn has_room(session: &Session, n: u64) -> bool {
    let d = dir_of(session);
    d.used.load(Ordering::Acquire).saturating_add(n) <= d.quota
}

/// Records a capture the quota refused: counted, logged, and published as
/// an `error` event with `artifact_dropped` and its reason.
fn dropped(session: &Session, dir: &Dir, filename: &str, size: u64) -> ArtifactError {
    dir.dropped.fetch_add(1, Ordering::AcqRel);
    let quota = dir.quota;
    tracing::warn!(
        decky = session.decky.name(),
        service = session.service,
        "artifact dropped: quota of {quota} bytes reached"
    );
    session.emit(
        EventKind::Error,
        fields! {
            "error" => format!("artifact dropped: artifact quota of {quota} bytes reached"),
            "artifact_dropped" => true,
            "reason" => "quota",
            "filename" => decnet_core::event::printable(filename.as_bytes()),
            "size" => size,
            "quota" => quota,
        },
    );
    ArtifactError::QuotaFull { quota }
}

/// Records an upload refused before it became a capture (a protocol that
/// checked [`has_room`] and said no), exactly as a refused capture is.
pub fn report_dropped(session: &Session, filename: &str, size: u64) -> ArtifactError {
    dropped(session, &dir_of(session), filename, size)
}

/// Bytes held in memory by all captures of the process.
static BUFFERED: AtomicUsize = AtomicUsize::new(0);

fn memory_reserve(n: usize) -> bool {
    BUFFERED
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
            b.checked_add(n).filter(|t| *t <= MEMORY_BUDGET)
        })
        .is_ok()
}

fn memory_release(n: usize) {
    let _ = BUFFERED.fetch_update(Ordering::AcqRel, Ordering::Acquire, |b| {
        Some(b.saturating_sub(n))
    });
}

/// Bytes all captures hold in memory right now.
pub fn memory_in_use() -> usize {
    BUFFERED.load(Ordering::Acquire)
}

/// An artifact being received: hashed and written to a temporary file as
/// bytes arrive, then named by its hash on [`Capture::finish`]. Dropped
/// unfinished, it leaves nothing behind.
pub struct Capture {
    dir: Arc<Dir>,
    tmp: PathBuf,
    file: Option<tokio::fs::File>,
    hasher: Sha256,
    buf: Vec<u8>,
    kept: u64,
    seen: u64,
    max: u64,
    /// Quota taken for `kept` bytes, given back unless the file is stored.
    reserved: u64,
    refused: bool,
    /// The caller already cut what it offered.
    cut: bool,
    retained: Option<Vec<u8>>,
    retain_max: usize,
}

impl Capture {
    /// A capture of at most [`DEFAULT_MAX_ARTIFACT`] bytes for `session`.
    pub fn new(session: &Session) -> Capture {
        let dir = dir_of(session);
        let tmp = dir.path.join(format!(".capture.{}", uuid::Uuid::now_v7()));
        Capture {
            dir,
            tmp,
            file: None,
            hasher: Sha256::new(),
            buf: Vec::new(),
            kept: 0,
            seen: 0,
            max: DEFAULT_MAX_ARTIFACT as u64,
            reserved: 0,
            refused: false,
            cut: false,
            retained: None,
            retain_max: 0,
        }
    }

    /// Keeps at most `max` bytes stored instead of [`DEFAULT_MAX_ARTIFACT`].
    pub fn with_max(mut self, max: usize) -> Capture {
        self.max = (max as u64).min(DEFAULT_MAX_ARTIFACT as u64);
        self
    }

    /// Also keeps an in-memory copy of up to `max` bytes (for the decky's
    /// filesystem), while the process-wide memory budget allows; a copy
    /// that would not fit is given up ([`Capture::retained`] is `None`).
    pub fn retaining(mut self, max: usize) -> Capture {
        self.retained = Some(Vec::new());
        self.retain_max = max;
        self
    }

    /// Bytes offered so far (stored or not).
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// True when more was offered than is kept.
    pub fn truncated(&self) -> bool {
        self.cut || self.seen > self.kept
    }

    /// Records that the bytes offered were already cut by the caller.
    pub fn mark_truncated(&mut self) {
        self.cut = true;
    }

    /// True once the quota refused this capture.
    pub fn refused(&self) -> bool {
        self.refused
    }

    /// The in-memory copy, when one was asked for and fitted.
    pub fn retained(&self) -> Option<&[u8]> {
        self.retained.as_deref()
    }

    /// Adds bytes. `Err(QuotaFull)` once the quota refused the capture
    /// (everything offered afterwards is only counted).
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ArtifactError> {
        self.seen += bytes.len() as u64;
        if self.refused {
            return Err(ArtifactError::QuotaFull {
                quota: self.dir.quota,
            });
        }
        let take = (bytes.len() as u64).min(self.max - self.kept) as usize;
        if take == 0 {
            return Ok(());
        }
        let bytes = &bytes[..take];
        if !self.dir.reserve(take as u64) {
            self.refuse();
            return Err(ArtifactError::QuotaFull {
                quota: self.dir.quota,
            });
        }
        self.reserved += take as u64;
        self.kept += take as u64;
        self.hasher.update(bytes);
        self.retain(bytes);
        if self.buf.len() + take <= CAPTURE_BUFFER && memory_reserve(take) {
            self.buf.extend_from_slice(bytes);
            return Ok(());
        }
        self.flush().await?;
        self.write_file(bytes).await
    }

    fn retain(&mut self, bytes: &[u8]) {
        let Some(copy) = self.retained.as_mut() else {
            return;
        };
        if copy.len() + bytes.len() <= self.retain_max && memory_reserve(bytes.len()) {
            copy.extend_from_slice(bytes);
        } else {
            memory_release(copy.len());
            self.retained = None;
        }
    }

    /// Gives up the bytes received: the quota refused them.
    fn refuse(&mut self) {
        self.refused = true;
        self.dir.release(self.reserved);
        self.reserved = 0;
        memory_release(self.buf.len());
        self.buf = Vec::new();
        if let Some(copy) = self.retained.take() {
            memory_release(copy.len());
        }
        self.file = None;
        let _ = std::fs::remove_file(&self.tmp);
    }

    async fn write_file(&mut self, bytes: &[u8]) -> Result<(), ArtifactError> {
        if self.file.is_none() {
            tokio::fs::create_dir_all(&self.dir.path).await?;
            self.file = Some(tokio::fs::File::create(&self.tmp).await?);
        }
        if let Some(f) = self.file.as_mut() {
            f.write_all(bytes).await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), ArtifactError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.buf);
        memory_release(buf.len());
        self.write_file(&buf).await
    }

    /// Stores the artifact under its hash and publishes a `file_upload`
    /// event with `filename` (attacker-supplied, recorded only), `sha256`,
    /// `size`, `truncated` and `extra`. A refused capture publishes the
    /// `artifact_dropped` error event instead and returns `QuotaFull`.
    pub async fn finish(
        mut self,
        session: &Session,
        filename: &str,
        mut extra: decnet_core::Fields,
    ) -> Result<Artifact, ArtifactError> {
        if self.refused {
            return Err(dropped(session, &self.dir, filename, self.seen));
        }
        self.flush().await?;
        if self.file.is_none() {
            // Empty artifact: still a real (empty) file.
            self.write_file(&[]).await?;
        }
        if let Some(mut f) = self.file.take() {
            f.flush().await?;
        }
        let sha = hex::encode(std::mem::take(&mut self.hasher).finalize());
        let path = self.dir.path.join(&sha);
        if tokio::fs::metadata(&path).await.is_ok() {
            // Already stored: the same bytes do not count twice.
            let _ = tokio::fs::remove_file(&self.tmp).await;
        } else {
            // Renamed into place so a crash never leaves a partial file under the hash.
            tokio::fs::rename(&self.tmp, &path).await?;
            self.reserved = 0;
        }
        let truncated = self.truncated();
        let base = fields! {
            "filename" => decnet_core::event::printable(filename.as_bytes()),
            "sha256" => sha.clone(),
            "size" => self.kept,
            "truncated" => truncated,
        };
        for (k, v) in base {
            extra.insert(k, v);
        }
        session.emit(EventKind::FileUpload, extra);
        Ok(Artifact {
            sha256: sha,
            size: self.kept,
            path,
            truncated,
        })
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.dir.release(self.reserved);
        memory_release(self.buf.len());
        if let Some(copy) = &self.retained {
            memory_release(copy.len());
        }
        if self.file.is_some() || self.reserved > 0 {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Stores `bytes` (capped here) in one go, like a [`Capture`] fed once.
pub async fn store(
    session: &Session,
    filename: &str,
    bytes: &[u8],
    truncated: bool,
    extra: decnet_core::Fields,
) -> Result<Artifact, ArtifactError> {
    let mut c = Capture::new(session);
    let _ = c.write(bytes).await;
    if truncated {
        c.mark_truncated();
    }
    c.finish(session, filename, extra).await
}
