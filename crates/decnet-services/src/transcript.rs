//! Session transcripts in asciicast v2 (`DATA_DIR/deckies/<decky>/transcripts/<session_id>.cast`).
//!
//! Timed output (`"o"`) and input (`"i"`) events, one JSON array per line,
//! after a header whose `title` is the session id. Bounded: recording stops
//! at [`MAX_TRANSCRIPT`] bytes. Buffered in memory between flushes; the
//! file is created on the first flush, so sessions that never reach a shell
//! leave nothing behind.

use std::path::PathBuf;
use std::time::Instant;

use tokio::io::AsyncWriteExt;

use crate::session::Session;

/// Largest transcript kept per session.
pub const MAX_TRANSCRIPT: u64 = 4 * 1024 * 1024;
/// Buffered bytes that trigger a flush.
const FLUSH_AT: usize = 16 * 1024;

/// An asciicast v2 recorder for one session.
pub struct Transcript {
    path: PathBuf,
    started: Instant,
    buf: Vec<u8>,
    written: u64,
    created: bool,
    full: bool,
    failed: bool,
}

impl Transcript {
    /// Starts a transcript for `session` with the terminal size and type.
    pub fn new(session: &Session, width: u32, height: u32, term: &str) -> Transcript {
        let path = session
            .decky
            .data_dir
            .join("transcripts")
            .join(format!("{}.cast", session.id));
        let header = serde_json::json!({
            "version": 2,
            "width": width.clamp(1, 1000),
            "height": height.clamp(1, 1000),
            "timestamp": chrono::Utc::now().timestamp(),
            "title": session.id.to_string(),
            "env": {"TERM": term.chars().take(64).collect::<String>(), "SHELL": "/bin/bash"},
        });
        let mut buf = header.to_string().into_bytes();
        buf.push(b'\n');
        Transcript {
            path,
            started: Instant::now(),
            buf,
            written: 0,
            created: false,
            full: false,
            failed: false,
        }
    }

    /// Where the transcript is written.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn push(&mut self, kind: &str, data: &[u8]) {
        if self.full || data.is_empty() {
            return;
        }
        let t = self.started.elapsed().as_secs_f64();
        let text = String::from_utf8_lossy(data);
        let line = serde_json::json!([(t * 1e6).round() / 1e6, kind, text]).to_string();
        if self.written + (self.buf.len() + line.len()) as u64 > MAX_TRANSCRIPT {
            self.full = true;
            return;
        }
        self.buf.extend_from_slice(line.as_bytes());
        self.buf.push(b'\n');
    }

    /// Records terminal output.
    pub fn output(&mut self, data: &[u8]) {
        self.push("o", data);
    }

    /// Records attacker input.
    pub fn input(&mut self, data: &[u8]) {
        self.push("i", data);
    }

    /// True when enough is buffered to be worth a write.
    pub fn should_flush(&self) -> bool {
        self.buf.len() >= FLUSH_AT
    }

    /// Appends buffered events to the file (created on first use). The
    /// file is not kept open and the buffer is released, so an idle
    /// session holds neither a descriptor nor buffer memory.
    pub async fn flush(&mut self) {
        if self.buf.is_empty() || self.failed {
            return;
        }
        if !self.created {
            if let Some(dir) = self.path.parent() {
                let _ = tokio::fs::create_dir_all(dir).await;
            }
        }
        let opened = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await;
        match opened {
            Ok(mut f) => {
                self.created = true;
                if f.write_all(&self.buf).await.is_err() {
                    self.failed = true;
                }
            }
            Err(e) => {
                tracing::warn!("transcript {}: {e}", self.path.display());
                self.failed = true;
            }
        }
        self.written += self.buf.len() as u64;
        self.buf = Vec::new();
    }
}
