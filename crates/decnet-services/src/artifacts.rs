//! Captured files (uploads, mail, print jobs): stored once by sha256 under
//! `DATA_DIR/artifacts/`, announced with a `file_upload` event.
//!
//! Attackers choose names and sizes, so names never reach the filesystem
//! (files are named by hash) and every capture is capped.

use std::path::{Path, PathBuf};

use decnet_core::EventKind;
use sha2::{Digest, Sha256};

use crate::fields;
use crate::session::Session;

/// Largest single artifact kept (bytes beyond are dropped, `truncated` set).
pub const DEFAULT_MAX_ARTIFACT: usize = 16 * 1024 * 1024;

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

/// The artifacts directory of a data dir (`DATA_DIR/artifacts`).
/// `decky_data_dir` is `DATA_DIR/deckies/<name>`.
pub fn artifacts_dir(decky_data_dir: &Path) -> PathBuf {
    decky_data_dir
        .parent()
        .and_then(Path::parent)
        .map(|root| root.join("artifacts"))
        .unwrap_or_else(|| decky_data_dir.join("artifacts"))
}

/// Stores `bytes` (already capped by the caller or here) and publishes a
/// `file_upload` event with `filename` (attacker-supplied, recorded only),
/// `sha256`, `size` and any extra fields.
pub async fn store(
    session: &Session,
    filename: &str,
    bytes: &[u8],
    truncated: bool,
    mut extra: decnet_core::Fields,
) -> std::io::Result<Artifact> {
    let max = DEFAULT_MAX_ARTIFACT;
    let (bytes, truncated) = if bytes.len() > max {
        (&bytes[..max], true)
    } else {
        (bytes, truncated)
    };
    let sha = hex::encode(Sha256::digest(bytes));
    let dir = artifacts_dir(&session.decky.data_dir);
    tokio::fs::create_dir_all(&dir).await?;
    let path = dir.join(&sha);
    if tokio::fs::metadata(&path).await.is_err() {
        // Write to a temp name then rename so a crash never leaves a partial file under the hash.
        let tmp = dir.join(format!(".{sha}.{}", uuid::Uuid::now_v7()));
        tokio::fs::write(&tmp, bytes).await?;
        tokio::fs::rename(&tmp, &path).await?;
    }
    let base = fields! {
        "filename" => decnet_core::event::printable(filename.as_bytes()),
        "sha256" => sha.clone(),
        "size" => bytes.len() as u64,
        "truncated" => truncated,
    };
    for (k, v) in base {
        extra.insert(k, v);
    }
    session.emit(EventKind::FileUpload, extra);
    Ok(Artifact {
        sha256: sha,
        size: bytes.len() as u64,
        path,
        truncated,
    })
}
