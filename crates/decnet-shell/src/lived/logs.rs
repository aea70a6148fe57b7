//! Text the story appends to files: syslog-style lines and the bounded
//! append that keeps a growing log from growing without end.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::vfs::{Content, Kind, Node, Vfs};

/// A log stops growing past this; its oldest lines go (as logrotate
/// would have moved them away).
pub const MAX_LOG_BYTES: usize = 256 * 1024;

/// One line as rsyslog's traditional file format writes it
/// (`Dec  7 06:17:01 web01 CRON[4242]: …`).
pub fn syslog_line(t: DateTime<Utc>, host: &str, tag: &str, pid: u32, msg: &str) -> String {
    format!(
        "{} {host} {tag}[{pid}]: {msg}\n",
        t.format("%b %e %H:%M:%S")
    )
}

/// Text waiting to be appended to one file, with the file's owner.
struct Pending {
    text: String,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
}

/// Appends gathered over a catch-up, written once per file at the end
/// (a week of replay rewrites each file once, not once per line).
#[derive(Default)]
pub struct Appends(BTreeMap<String, Pending>);

impl Appends {
    /// Queues `text` for `path` (created with this mode and owner if absent).
    pub fn push(&mut self, path: &str, text: &str, mode: u32, owner: (u32, u32), t: DateTime<Utc>) {
        let p = self.0.entry(path.to_owned()).or_insert_with(|| Pending {
            text: String::new(),
            mode,
            uid: owner.0,
            gid: owner.1,
            mtime: t.timestamp(),
        });
        p.text.push_str(text);
        p.mtime = p.mtime.max(t.timestamp());
    }

    /// Writes every queued append.
    pub fn apply(self, vfs: &Vfs) {
        for (path, p) in self.0 {
            let (mut bytes, mode, uid, gid) = match vfs.get(&path) {
                Some(Node {
                    kind: Kind::File(Content::Bytes(b)),
                    mode,
                    uid,
                    gid,
                    ..
                }) => (b.to_vec(), mode, uid, gid),
                // A made-up binary log (or nothing yet) becomes a text one.
                Some(n) if !n.is_dir() => (Vec::new(), n.mode, n.uid, n.gid),
                Some(_) => continue,
                None => (Vec::new(), p.mode, p.uid, p.gid),
            };
            bytes.extend_from_slice(p.text.as_bytes());
            let bytes = keep_tail(bytes, MAX_LOG_BYTES);
            vfs.put_generated(&path, Node::file(bytes, mode, uid, gid, p.mtime));
        }
    }
}

/// The last whole lines of `bytes` that fit in `max`.
fn keep_tail(bytes: Vec<u8>, max: usize) -> Vec<u8> {
    if bytes.len() <= max {
        return bytes;
    }
    let cut = bytes.len() - max;
    let start = bytes[cut..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| cut + i + 1);
    bytes[start..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn lines_look_like_rsyslog_and_tails_keep_whole_lines() {
        let t = Utc.with_ymd_and_hms(2026, 12, 7, 6, 17, 1).unwrap();
        assert_eq!(
            syslog_line(t, "web01", "CRON", 42, "x"),
            "Dec  7 06:17:01 web01 CRON[42]: x\n"
        );
        assert_eq!(keep_tail(b"aaa\nbbb\nccc\n".to_vec(), 6), b"ccc\n");
        assert_eq!(keep_tail(b"ab\n".to_vec(), 10), b"ab\n");
        assert_eq!(keep_tail(b"abcdef".to_vec(), 2), b"");
    }
}
