//! `decnet.log` on disk: whole-batch appends that leave no partial line
//! behind, size-based rotation into gzip files (the newest `keep` kept),
//! and reopening by path on request (logrotate's `postrotate kill -HUP`).
//!
//! Mode 0640: the log is what a SIEM shipper (filebeat, promtail, rsyslog's
//! imfile) reads, and those usually run as another user in the file's
//! group; nobody else may read it (it holds every credential attackers
//! tried). Blocking I/O: used from the writer's `spawn_blocking` steps.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

/// Mode of `decnet.log` and its rotated copies (see the module comment).
pub const LOG_MODE: u32 = 0o640;

/// Size-based rotation of `decnet.log`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before a write would take the file past this size; 0 never.
    pub max_bytes: u64,
    /// Rotated files kept (gzip-compressed); older ones are deleted.
    pub keep: usize,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_bytes: 100 << 20,
            keep: 10,
        }
    }
}

/// Parses a size: `1048576`, `512K`, `100M`, `1G` (binary units; `0` off).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (digits, unit) = t
        .find(|c: char| !c.is_ascii_digit())
        .map_or((t, ""), |i| t.split_at(i));
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 100M)"))?;
    let mult: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        other => return Err(format!("'{s}': unknown unit '{other}' (use K, M or G)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too large"))
}

fn open_log(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(LOG_MODE);
        let f = opts.open(path)?;
        // A log an older version created world-readable is tightened.
        let mode = f.metadata()?.permissions().mode() & 0o777;
        if mode & !LOG_MODE != 0 {
            f.set_permissions(fs::Permissions::from_mode(mode & LOG_MODE))?;
        }
        Ok(f)
    }
    #[cfg(not(unix))]
    opts.open(path)
}

/// The log file being appended to.
pub(crate) struct LogFile {
    path: PathBuf,
    file: Option<File>,
    rotation: Rotation,
    reopen: Arc<AtomicBool>,
    compressors: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl LogFile {
    /// Opens (creating) `path` for appending; compresses rotated files a
    /// previous run left uncompressed.
    pub(crate) fn open(
        path: &Path,
        rotation: Rotation,
        reopen: Arc<AtomicBool>,
        compressors: Arc<Mutex<Vec<JoinHandle<()>>>>,
    ) -> io::Result<LogFile> {
        let file = open_log(path)?;
        let log = LogFile {
            path: path.to_path_buf(),
            file: Some(file),
            rotation,
            reopen,
            compressors,
        };
        log.finish_rotations_in_background();
        Ok(log)
    }

    /// Appends `text` (whole lines) or nothing: a failed write is cut
    /// back, so a retry never follows half a line.
    pub(crate) fn append(&mut self, text: &str) -> io::Result<()> {
        if self.reopen.swap(false, Ordering::AcqRel) {
            self.file = None;
        }
        if self.file.is_none() {
            self.file = Some(open_log(&self.path)?);
        }
        let mut len = self
            .file
            .as_ref()
            .map_or(Ok(0), |f| f.metadata().map(|m| m.len()))?;
        if self.rotation.max_bytes > 0
            && len > 0
            && len + text.len() as u64 > self.rotation.max_bytes
        {
            self.rotate()?;
            len = 0;
        }
        let Some(f) = self.file.as_mut() else {
            return Err(io::Error::other("log file not open"));
        };
        if let Err(e) = f.write_all(text.as_bytes()) {
            let _ = f.set_len(len);
            return Err(e);
        }
        Ok(())
    }

    /// Reopens by path now if a reopen was requested (so a renamed file is
    /// let go of even when no event comes).
    pub(crate) fn reopen_if_requested(&mut self) -> io::Result<()> {
        if self.reopen.swap(false, Ordering::AcqRel) {
            self.file = None;
            self.file = Some(open_log(&self.path)?);
        }
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
        let rotated = PathBuf::from(format!("{}.{stamp}", self.path.display()));
        fs::rename(&self.path, &rotated)?;
        // From here writes must go to the new file; if it cannot be created
        // (a full disk), the next append tries again.
        self.file = None;
        self.file = Some(open_log(&self.path)?);
        self.finish_rotations_in_background();
        Ok(())
    }

    /// Compresses every rotated file not yet compressed, then deletes all
    /// but the newest `keep`, on a thread of its own (a 100 MB log takes
    /// seconds to compress; the writer must not wait for it).
    fn finish_rotations_in_background(&self) {
        let path = self.path.clone();
        let keep = self.rotation.keep;
        let handle = std::thread::Builder::new()
            .name("decnet-log-gzip".into())
            .spawn(move || finish_rotations(&path, keep));
        match handle {
            Ok(h) => {
                let mut list = self.compressors.lock();
                list.retain(|h| !h.is_finished());
                list.push(h);
            }
            Err(e) => tracing::warn!(error = %e, "cannot start log compression"),
        }
    }
}

/// Rotated copies of `path`: `(stamp, file)`, both `NAME.STAMP` and
/// `NAME.STAMP.gz`, oldest first.
pub fn rotated_files(path: &Path) -> Vec<(String, PathBuf)> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!("{name}.");
    let mut out: Vec<(String, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().into_string().ok()?;
            let stamp = n.strip_prefix(&prefix)?;
            let stamp = stamp.strip_suffix(".gz").unwrap_or(stamp);
            // Only our stamps (digits, T, '.', Z): never another program's file.
            let ours = stamp.len() >= 16
                && stamp.ends_with('Z')
                && stamp
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, 'T' | '.' | 'Z'));
            ours.then(|| (stamp.to_owned(), e.path()))
        })
        .collect();
    out.sort();
    out
}

fn finish_rotations(path: &Path, keep: usize) {
    // One at a time: two threads must not write the same `.gz.tmp`.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    for (_, file) in rotated_files(path) {
        if file.extension().is_some_and(|e| e == "gz") {
            continue;
        }
        if let Err(e) = compress(&file) {
            tracing::warn!(file = %file.display(), error = %e, "rotated log not compressed (kept as is)");
        }
    }
    let files = rotated_files(path);
    let mut stamps: Vec<&String> = files.iter().map(|(s, _)| s).collect();
    stamps.dedup();
    if stamps.len() > keep {
        let cut = stamps[stamps.len() - keep - 1].clone();
        for (stamp, file) in &files {
            if *stamp <= cut {
                if let Err(e) = fs::remove_file(file) {
                    tracing::warn!(file = %file.display(), error = %e, "cannot delete an old rotated log");
                }
            }
        }
    }
}

/// `FILE` → `FILE.gz` (written to `FILE.gz.tmp` first), then removes `FILE`.
fn compress(file: &Path) -> io::Result<()> {
    let gz = PathBuf::from(format!("{}.gz", file.display()));
    let tmp = PathBuf::from(format!("{}.gz.tmp", file.display()));
    let result = (|| {
        let mut input = File::open(file)?;
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, LOG_MODE);
        let out = opts.open(&tmp)?;
        let mut enc =
            flate2::write::GzEncoder::new(io::BufWriter::new(out), flate2::Compression::fast());
        io::copy(&mut input, &mut enc)?;
        enc.finish()?
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
        fs::rename(&tmp, &gz)
    })();
    match result {
        Ok(()) => fs::remove_file(file),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("100M"), Ok(100 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5T").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }

    #[test]
    fn only_our_rotated_names_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("decnet.log");
        for n in [
            "decnet.log",
            "decnet.log.20261206T203455.123456Z.gz",
            "decnet.log.20261206T203456.000001Z",
            "decnet.log.1",
            "decnet.log.bak",
            "decnet.log.20261206T203457.000001Z.gz.tmp",
        ] {
            fs::write(dir.path().join(n), b"x").unwrap();
        }
        let stamps: Vec<String> = rotated_files(&log).into_iter().map(|(s, _)| s).collect();
        assert_eq!(
            stamps,
            vec!["20261206T203455.123456Z", "20261206T203456.000001Z"]
        );
    }
}
