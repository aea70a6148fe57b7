//! The persistent spool that makes delivery at-least-once across restarts.
//!
//! Layout of the directory: append-only JSON-lines segments
//! `seg-<first seq>.jsonl`, one [`SpoolRecord`] (an alert bound for one
//! channel) per line, each batch fsync'd before it is handed to a channel;
//! beside each, `seg-<first seq>.acks` with one [`AckRecord`] per finished
//! message (sent, failed or dropped). Acks are not fsync'd: losing one in a
//! crash only means that message is sent again, which at-least-once allows.
//! A segment whose records are all acked is deleted (the one being written
//! is kept until a new one starts). Opening the spool replays every record
//! without an ack, in sequence order; a torn last line (a crash mid-write)
//! is ignored. Undelivered messages are capped: past `max_pending` the
//! oldest are acked as dropped, and counted.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use decnet_bus::Envelope;

/// A spool failure.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// Filesystem error.
    #[error("spool {path}: {source}")]
    Io {
        /// File or directory.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What a spooled message carries: an alert (routed by rule, severity and
/// kind), or a bus message for a channel that asked for subjects. On disk
/// it is the record's `alert` or `envelope` key, so spools written before
/// envelopes existed still replay.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Item {
    /// An alert.
    Alert(Arc<Alert>),
    /// Any bus message.
    Envelope(Arc<Envelope>),
}

impl Item {
    /// The key whose messages a lane keeps in order: the alert's rule, or
    /// the message's subject.
    pub fn order_key(&self) -> &str {
        match self {
            Item::Alert(a) => &a.rule,
            Item::Envelope(e) => &e.topic,
        }
    }

    /// The alert, when it is one (only alerts have a history).
    pub fn alert(&self) -> Option<&Arc<Alert>> {
        match self {
            Item::Alert(a) => Some(a),
            Item::Envelope(_) => None,
        }
    }
}

/// One message bound for one channel.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SpoolRecord {
    /// Sequence number (spool-wide, increasing).
    pub seq: u64,
    /// Channel name.
    pub channel: String,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// What it carries.
    #[serde(flatten)]
    pub item: Item,
}

/// How a message ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Final {
    /// The channel took it.
    Sent,
    /// Permanently refused, or given up.
    Failed,
    /// Dropped unsent (spool over its cap, channel removed).
    Dropped,
}

/// A finished message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AckRecord {
    /// Its sequence number.
    pub seq: u64,
    /// Outcome.
    pub state: Final,
    /// Attempts made.
    pub attempts: u32,
    /// When.
    pub at: DateTime<Utc>,
    /// Last error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Default)]
struct Segment {
    records: u64,
    acked: u64,
}

/// Counters.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SpoolStats {
    /// Undelivered messages.
    pub pending: usize,
    /// Segment files on disk.
    pub segments: usize,
    /// Messages written.
    pub appended: u64,
    /// Messages dropped because the spool was full.
    pub dropped_full: u64,
    /// Messages replayed at open.
    pub replayed: u64,
}

/// See the module doc.
pub struct Spool {
    dir: PathBuf,
    segment_bytes: u64,
    max_pending: usize,
    segments: BTreeMap<u64, Segment>,
    active: Option<(u64, File, u64)>,
    acks: BTreeMap<u64, File>,
    pending: BTreeSet<u64>,
    next_seq: u64,
    stats: SpoolStats,
}

fn seg_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("seg-{first:020}.jsonl"))
}

fn ack_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("seg-{first:020}.acks"))
}

/// Reads the parseable lines of a JSON-lines file (a torn or corrupt line
/// is skipped: it was never acknowledged to anyone).
fn read_lines<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, SpoolError> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(path)(e)),
    };
    let mut out = Vec::new();
    for line in BufReader::new(f).split(b'\n') {
        let line = line.map_err(io(path))?;
        if let Ok(v) = serde_json::from_slice(&line) {
            out.push(v);
        }
    }
    Ok(out)
}

/// What opening a spool found.
pub struct Opened {
    /// The spool.
    pub spool: Spool,
    /// Undelivered records, in sequence order.
    pub pending: Vec<SpoolRecord>,
}

impl Spool {
    /// Opens (creating) the spool in `dir`.
    pub fn open(dir: &Path, segment_bytes: u64, max_pending: usize) -> Result<Opened, SpoolError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut firsts: Vec<u64> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_prefix("seg-")?
                    .strip_suffix(".jsonl")?
                    .parse()
                    .ok()
            })
            .collect();
        firsts.sort_unstable();
        let mut spool = Spool {
            dir: dir.to_owned(),
            segment_bytes: segment_bytes.max(1),
            max_pending: max_pending.max(1),
            segments: BTreeMap::new(),
            active: None,
            acks: BTreeMap::new(),
            pending: BTreeSet::new(),
            next_seq: 1,
            stats: SpoolStats::default(),
        };
        let mut pending = Vec::new();
        for first in firsts {
            let records: Vec<SpoolRecord> = read_lines(&seg_path(dir, first))?;
            let acked: BTreeSet<u64> = read_lines::<AckRecord>(&ack_path(dir, first))?
                .into_iter()
                .map(|a| a.seq)
                .collect();
            let mut seg = Segment::default();
            for r in records {
                spool.next_seq = spool.next_seq.max(r.seq + 1);
                seg.records += 1;
                if acked.contains(&r.seq) {
                    seg.acked += 1;
                } else {
                    spool.pending.insert(r.seq);
                    pending.push(r);
                }
            }
            spool.segments.insert(first, seg);
            spool.collect(first)?;
        }
        pending.sort_by_key(|r| r.seq);
        spool.stats.replayed = pending.len() as u64;
        Ok(Opened { spool, pending })
    }

    /// Counters.
    pub fn stats(&self) -> SpoolStats {
        SpoolStats {
            pending: self.pending.len(),
            segments: self.segments.len(),
            ..self.stats.clone()
        }
    }

    fn segment_of(&self, seq: u64) -> Option<u64> {
        self.segments.range(..=seq).next_back().map(|(f, _)| *f)
    }

    /// Deletes segment `first` if it is done with and not being written.
    fn collect(&mut self, first: u64) -> Result<(), SpoolError> {
        let done = self
            .segments
            .get(&first)
            .is_some_and(|s| s.acked >= s.records);
        let writing = self.active.as_ref().is_some_and(|(f, _, _)| *f == first);
        if done && !writing {
            self.segments.remove(&first);
            self.acks.remove(&first);
            for p in [seg_path(&self.dir, first), ack_path(&self.dir, first)] {
                match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io(&p)(e)),
                }
            }
        }
        Ok(())
    }

    fn active_file(&mut self, first_if_new: u64) -> Result<&mut (u64, File, u64), SpoolError> {
        let roll = self
            .active
            .as_ref()
            .is_none_or(|(_, _, bytes)| *bytes >= self.segment_bytes);
        if roll {
            if let Some((old, _, _)) = self.active.take() {
                self.collect(old)?;
            }
            let p = seg_path(&self.dir, first_if_new);
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&p)
                .map_err(io(&p))?;
            // The new file's directory entry must survive a crash too.
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(io(&self.dir))?;
            self.segments.insert(first_if_new, Segment::default());
            self.active = Some((first_if_new, f, 0));
        }
        Ok(self.active.as_mut().expect("set above"))
    }

    /// Writes messages (one per `(channel, alert)`), fsync'd, and returns
    /// them with their sequence numbers, plus the records dropped to stay
    /// under the cap (already acked as dropped).
    pub fn append(
        &mut self,
        items: &[(String, Item)],
        now: DateTime<Utc>,
    ) -> Result<(Vec<SpoolRecord>, Vec<u64>), SpoolError> {
        if items.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let first = self.next_seq;
        let mut buf = Vec::new();
        let mut out = Vec::with_capacity(items.len());
        for (channel, item) in items {
            let r = SpoolRecord {
                seq: self.next_seq,
                channel: channel.clone(),
                queued_at: now,
                item: item.clone(),
            };
            self.next_seq += 1;
            serde_json::to_writer(&mut buf, &r).expect("records serialise");
            buf.push(b'\n');
            out.push(r);
        }
        let dir = self.dir.clone();
        let (seg_first, file, bytes) = self.active_file(first)?;
        let seg_first = *seg_first;
        file.write_all(&buf)
            .map_err(io(&seg_path(&dir, seg_first)))?;
        file.sync_data().map_err(io(&seg_path(&dir, seg_first)))?;
        *bytes += buf.len() as u64;
        let seg = self.segments.entry(seg_first).or_default();
        seg.records += out.len() as u64;
        for r in &out {
            self.pending.insert(r.seq);
        }
        self.stats.appended += out.len() as u64;
        let mut dropped = Vec::new();
        while self.pending.len() > self.max_pending {
            let Some(oldest) = self.pending.first().copied() else {
                break;
            };
            self.ack(&AckRecord {
                seq: oldest,
                state: Final::Dropped,
                attempts: 0,
                at: now,
                error: Some("spool full: oldest undelivered message dropped".into()),
            })?;
            self.stats.dropped_full += 1;
            dropped.push(oldest);
        }
        Ok((out, dropped))
    }

    /// Numbers messages without writing them, for delivery in memory only
    /// when the spool cannot be written (a full or failing disk must not
    /// silence alerts; they are then not replayed after a restart).
    pub fn unspooled(&mut self, items: &[(String, Item)], now: DateTime<Utc>) -> Vec<SpoolRecord> {
        items
            .iter()
            .map(|(channel, item)| {
                let seq = self.next_seq;
                self.next_seq += 1;
                SpoolRecord {
                    seq,
                    channel: channel.clone(),
                    queued_at: now,
                    item: item.clone(),
                }
            })
            .collect()
    }

    /// Records a finished message; false if it was not pending (already
    /// acked, e.g. dropped while in flight).
    pub fn ack(&mut self, a: &AckRecord) -> Result<bool, SpoolError> {
        if !self.pending.remove(&a.seq) {
            return Ok(false);
        }
        let Some(first) = self.segment_of(a.seq) else {
            return Ok(true);
        };
        let p = ack_path(&self.dir, first);
        let f = match self.acks.entry(first) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => v.insert(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&p)
                    .map_err(io(&p))?,
            ),
        };
        let mut line = serde_json::to_vec(a).expect("acks serialise");
        line.push(b'\n');
        f.write_all(&line).map_err(io(&p))?;
        if let Some(s) = self.segments.get_mut(&first) {
            s.acked += 1;
        }
        self.collect(first)?;
        Ok(true)
    }

    /// Flushes the ack files to disk (shutdown).
    pub fn sync(&mut self) -> Result<(), SpoolError> {
        for (first, f) in &self.acks {
            f.sync_data().map_err(io(&ack_path(&self.dir, *first)))?;
        }
        Ok(())
    }

    /// Undelivered messages.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(n: u32) -> Item {
        let mut a = Alert::test("c");
        a.title = format!("alert {n}");
        Item::Alert(Arc::new(a))
    }

    fn ack(seq: u64) -> AckRecord {
        AckRecord {
            seq,
            state: Final::Sent,
            attempts: 1,
            at: Utc::now(),
            error: None,
        }
    }

    #[test]
    fn replays_unacked_in_order_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let Opened { mut spool, pending } = Spool::open(dir.path(), 300, 1000).unwrap();
        assert!(pending.is_empty());
        let items: Vec<(String, Item)> = (0..10).map(|i| ("slack".to_string(), alert(i))).collect();
        let (recs, dropped) = spool.append(&items, Utc::now()).unwrap();
        assert!(dropped.is_empty());
        assert_eq!(
            recs.iter().map(|r| r.seq).collect::<Vec<_>>(),
            (1..=10).collect::<Vec<_>>()
        );
        for s in [1, 2, 5] {
            assert!(spool.ack(&ack(s)).unwrap());
        }
        assert!(!spool.ack(&ack(5)).unwrap(), "a second ack is ignored");
        let more: Vec<(String, Item)> = (10..12).map(|i| ("mail".to_string(), alert(i))).collect();
        spool.append(&more, Utc::now()).unwrap();
        drop(spool);
        // A crash mid-write leaves half a line at the end of a segment.
        let last = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .max()
            .unwrap();
        let mut f = OpenOptions::new().append(true).open(&last).unwrap();
        f.write_all(b"{\"seq\":99,\"chan").unwrap();
        let Opened { spool, pending } = Spool::open(dir.path(), 300, 1000).unwrap();
        let seqs: Vec<u64> = pending.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, vec![3, 4, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(pending[0].item.alert().unwrap().title, "alert 2");
        assert_eq!(pending.last().unwrap().channel, "mail");
        assert_eq!(spool.stats().replayed, 9);
    }

    #[test]
    fn finished_segments_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let Opened { mut spool, .. } = Spool::open(dir.path(), 200, 1000).unwrap();
        for i in 0..20 {
            let (recs, _) = spool
                .append(&[("c".to_string(), alert(i))], Utc::now())
                .unwrap();
            spool.ack(&ack(recs[0].seq)).unwrap();
        }
        let files = std::fs::read_dir(dir.path()).unwrap().count();
        assert!(
            files <= 2,
            "only the segment being written remains, found {files}"
        );
        drop(spool);
        let Opened { pending, .. } = Spool::open(dir.path(), 200, 1000).unwrap();
        assert!(pending.is_empty());
    }

    #[test]
    fn cap_drops_oldest_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let Opened { mut spool, .. } = Spool::open(dir.path(), 1 << 20, 10).unwrap();
        let items: Vec<(String, Item)> = (0..25).map(|i| ("c".to_string(), alert(i))).collect();
        let (_, dropped) = spool.append(&items, Utc::now()).unwrap();
        assert_eq!(dropped, (1..=15).collect::<Vec<_>>());
        assert_eq!(spool.pending(), 10);
        assert_eq!(spool.stats().dropped_full, 15);
        drop(spool);
        let Opened { pending, .. } = Spool::open(dir.path(), 1 << 20, 10).unwrap();
        assert_eq!(pending.first().unwrap().seq, 16);
    }

    #[test]
    fn envelopes_replay_beside_alerts() {
        let dir = tempfile::tempdir().unwrap();
        let Opened { mut spool, .. } = Spool::open(dir.path(), 1 << 20, 100).unwrap();
        let env = Envelope::json(
            "events.d.ssh.connect",
            "connect",
            serde_json::json!({"n": 1}),
        );
        let id = env.id;
        let items = vec![
            ("hook".to_string(), Item::Envelope(Arc::new(env))),
            ("mail".to_string(), alert(1)),
        ];
        spool.append(&items, Utc::now()).unwrap();
        drop(spool);
        let Opened { pending, .. } = Spool::open(dir.path(), 1 << 20, 100).unwrap();
        assert_eq!(pending.len(), 2);
        match &pending[0].item {
            Item::Envelope(e) => {
                assert_eq!(e.id, id);
                assert_eq!(e.topic, "events.d.ssh.connect");
                assert_eq!(pending[0].item.order_key(), "events.d.ssh.connect");
            }
            other => panic!("expected an envelope, got {other:?}"),
        }
        assert_eq!(pending[1].item.order_key(), "channel_test");
    }
}
