//! A local JSON-lines (or syslog-lines) file, rotated by size: `path` →
//! `path.1` → … → `path.<keep>`, the oldest deleted.

use std::path::{Path, PathBuf};

use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;

use super::{Sink, SinkError};
use crate::siem::Record;

/// See the module doc.
pub struct FileSink {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: Option<tokio::fs::File>,
    size: u64,
}

fn rotated(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

fn err(path: &Path, e: std::io::Error) -> SinkError {
    SinkError::transient(format!("{}: {e}", path.display()))
}

impl FileSink {
    /// A sink writing `path`.
    pub fn new(path: PathBuf, max_bytes: u64, keep: u32) -> Self {
        FileSink {
            path,
            max_bytes,
            keep,
            file: None,
            size: 0,
        }
    }

    async fn open(&mut self) -> Result<(), SinkError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| err(dir, e))?;
        }
        let f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(|e| err(&self.path, e))?;
        self.size = f.metadata().await.map(|m| m.len()).unwrap_or(0);
        self.file = Some(f);
        Ok(())
    }

    async fn rotate(&mut self) -> Result<(), SinkError> {
        if let Some(mut f) = self.file.take() {
            f.flush().await.map_err(|e| err(&self.path, e))?;
        }
        if self.keep == 0 {
            let _ = tokio::fs::remove_file(&self.path).await;
        } else {
            let _ = tokio::fs::remove_file(rotated(&self.path, self.keep)).await;
            for n in (1..self.keep).rev() {
                let _ = tokio::fs::rename(rotated(&self.path, n), rotated(&self.path, n + 1)).await;
            }
            tokio::fs::rename(&self.path, rotated(&self.path, 1))
                .await
                .map_err(|e| err(&self.path, e))?;
        }
        self.open().await
    }
}

impl FileSink {
    async fn append(&mut self, buf: &[u8]) -> Result<(), SinkError> {
        if buf.is_empty() {
            return Ok(());
        }
        if self.file.is_none() {
            self.open().await?;
        }
        let f = self.file.as_mut().expect("opened above");
        if let Err(e) = f.write_all(buf).await {
            self.file = None;
            return Err(err(&self.path, e));
        }
        f.flush().await.map_err(|e| err(&self.path, e))?;
        self.size += buf.len() as u64;
        Ok(())
    }
}

impl Sink for FileSink {
    fn write<'a>(&'a mut self, batch: &'a [Record]) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            if self.file.is_none() {
                self.open().await?;
            }
            // Rotate between lines, so no file grows past max_bytes by more
            // than one record.
            let mut buf = Vec::new();
            let mut line = Vec::new();
            for r in batch {
                line.clear();
                r.write_line(&mut line);
                let pending = self.size + buf.len() as u64;
                if pending > 0 && pending + line.len() as u64 > self.max_bytes {
                    self.append(&buf).await?;
                    buf.clear();
                    self.rotate().await?;
                }
                buf.extend_from_slice(&line);
            }
            self.append(&buf).await
        })
    }
}
