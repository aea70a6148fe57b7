//! Bounded on-disk spool of events NATS did not acknowledge.
//!
//! Records are `u32 length (big endian) + bytes`, appended to one file.
//! Replay publishes them in order, [`REPLAY_WINDOW`] awaiting their
//! acknowledgement at once, and rewrites the file with whatever follows the
//! first failure, so a failure or crash mid-replay at worst re-sends some
//! events (the store deduplicates by id). Writes are small and only happen
//! while NATS is unreachable.

use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use futures::StreamExt;
use parking_lot::Mutex;

/// Spooled records in flight at once during a replay: one acknowledgement
/// round trip per record made a 1,000-event spool take seconds to drain.
pub const REPLAY_WINDOW: usize = 64;

/// Largest single record accepted.
const MAX_RECORD: usize = 1 << 20;

/// The spool of one process.
pub struct Spool {
    path: PathBuf,
    max_bytes: u64,
    lock: Mutex<()>,
}

impl Spool {
    /// Opens (creating) `dir/events.spool`.
    pub fn open(dir: &Path, max_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("events.spool");
        OpenOptions::new().create(true).append(true).open(&path)?;
        Ok(Spool {
            path,
            max_bytes,
            lock: Mutex::new(()),
        })
    }

    /// Bytes on disk.
    pub fn len_bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }

    /// True when nothing is spooled.
    pub fn is_empty(&self) -> bool {
        self.len_bytes() == 0
    }

    /// Appends one record; fails when the spool is full.
    pub fn append(&self, body: &[u8]) -> std::io::Result<()> {
        if body.len() > MAX_RECORD {
            return Err(std::io::Error::other("record too large"));
        }
        let _g = self.lock.lock();
        if self.len_bytes() + body.len() as u64 + 4 > self.max_bytes {
            return Err(std::io::Error::other(format!(
                "spool full ({} bytes)",
                self.max_bytes
            )));
        }
        let mut f = OpenOptions::new().append(true).open(&self.path)?;
        let mut rec = Vec::with_capacity(body.len() + 4);
        rec.extend_from_slice(&(body.len() as u32).to_be_bytes());
        rec.extend_from_slice(body);
        f.write_all(&rec)?;
        f.flush()
    }

    /// Forces what was appended onto the disk (at shutdown: the spool is
    /// what survives the process).
    pub fn sync(&self) -> std::io::Result<()> {
        let _g = self.lock.lock();
        File::open(&self.path)?.sync_all()
    }

    /// Records currently spooled (a torn tail is not counted).
    pub fn records(&self) -> std::io::Result<usize> {
        let _g = self.lock.lock();
        Ok(self.read_all()?.len())
    }

    fn read_all(&self) -> std::io::Result<Vec<Vec<u8>>> {
        let mut data = Vec::new();
        File::open(&self.path)?.read_to_end(&mut data)?;
        let mut out = Vec::new();
        let mut i = 0;
        while i + 4 <= data.len() {
            let n = u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]) as usize;
            if n > MAX_RECORD || i + 4 + n > data.len() {
                break; // torn tail from a crash: ignore it
            }
            out.push(data[i + 4..i + 4 + n].to_vec());
            i += 4 + n;
        }
        Ok(out)
    }

    /// Sends every record through `send` in order, up to [`REPLAY_WINDOW`]
    /// at once; stops at the first failure and keeps it and everything after
    /// it (some of which may have been sent: at least once). Returns how
    /// many were sent before the first failure.
    pub async fn replay<F, Fut>(&self, send: F) -> Result<u64, String>
    where
        F: Fn(Vec<u8>) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let records = self.read_all().map_err(|e| e.to_string())?;
        let total = records.len();
        let mut sent = 0usize;
        let mut err = None;
        let mut results = futures::stream::iter(records.iter().cloned())
            .map(&send)
            .buffered(REPLAY_WINDOW);
        while let Some(result) = results.next().await {
            match result {
                Ok(()) => sent += 1,
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        drop(results);
        // Rewrite with what is left plus anything appended meanwhile.
        let _g = self.lock.lock();
        let now = self.read_all().map_err(|e| e.to_string())?;
        let mut rest = Vec::new();
        for r in records[sent..]
            .iter()
            .chain(now[total.min(now.len())..].iter())
        {
            rest.extend_from_slice(&(r.len() as u32).to_be_bytes());
            rest.extend_from_slice(r);
        }
        let tmp = self.path.with_extension("spool.tmp");
        std::fs::write(&tmp, &rest).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, &self.path).map_err(|e| e.to_string())?;
        match err {
            Some(e) if sent == 0 => Err(e),
            _ => Ok(sent as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn append_replay_partial_and_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(dir.path(), 1000).unwrap();
        for i in 0..5u8 {
            s.append(&[i; 10]).unwrap();
        }
        // First replay fails at the third record: two sent, three kept.
        let n = s
            .replay(|r| async move {
                if r[0] == 2 {
                    Err("down".into())
                } else {
                    Ok(())
                }
            })
            .await
            .unwrap();
        assert_eq!(n, 2);
        let seen = std::sync::Mutex::new(Vec::new());
        let n = s
            .replay(|r| {
                seen.lock().unwrap().push(r[0]);
                async { Ok(()) }
            })
            .await
            .unwrap();
        assert_eq!(n, 3);
        assert_eq!(*seen.lock().unwrap(), vec![2, 3, 4]);
        assert!(s.is_empty());
        // Bounded: 1000 bytes hold at most 71 records of 10 (+4) bytes.
        let mut ok = 0;
        while s.append(&[9; 10]).is_ok() {
            ok += 1;
        }
        assert_eq!(ok, 71);
    }
}
