//! The event journal: a write-ahead log of every event between the bus and
//! the store (`DATA_DIR/journal/`).
//!
//! The event log writer appends each batch here — one JSON line per event,
//! `fdatasync`'d — *before* it writes the batch's `decnet.log` lines, and
//! only then hands the batch to the store ingester. The ingester records
//! how far it has committed (the cursor file `committed`), and at start
//! re-ingests everything after the cursor; inserts are idempotent by event
//! id, so a cursor that lags behind the store costs only re-reading. Hence:
//! every event in `decnet.log` is in the journal, and every journaled event
//! reaches the store (ARCHITECTURE.md, "Durability").
//!
//! Segments are files named by a sequence number; a writer only appends to
//! the newest, opens a new one at every start and when the current one
//! passes [`SEGMENT_BYTES`], and segments wholly before the cursor are
//! deleted. Positions ([`JournalPos`]) are (segment, byte offset) and
//! order the journal. Blocking I/O: call from `spawn_blocking`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use decnet_core::Event;

/// A segment is closed once it holds this many bytes (~8k events): the
/// journal of a healthy node is one or two segments, and disk space comes
/// back one segment at a time.
pub const SEGMENT_BYTES: u64 = 4 << 20;

const SEGMENT_EXT: &str = "jsonl";
const CURSOR_FILE: &str = "committed";

/// A place in the journal: the byte `offset` in segment `segment`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JournalPos {
    /// Segment sequence number.
    pub segment: u64,
    /// Byte offset inside it.
    pub offset: u64,
}

impl std::fmt::Display for JournalPos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.segment, self.offset)
    }
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:020}.{SEGMENT_EXT}"))
}

/// Segment numbers present in `dir`, ascending.
pub fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = name
            .strip_suffix(SEGMENT_EXT)
            .and_then(|s| s.strip_suffix('.'))
            .and_then(|s| s.parse::<u64>().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Creates `dir` (and parents) private to this user: the journal holds
/// every captured credential in clear.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

fn open_private(path: &Path, opts: &mut OpenOptions) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// Makes a new directory entry durable (a new segment, a renamed cursor).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Length of `file` up to and including its last newline: what a reader
/// may trust after a crash in the middle of an append.
fn complete_prefix(file: &mut File) -> io::Result<u64> {
    let len = file.metadata()?.len();
    let mut end = len;
    let mut block = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(block.len() as u64);
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block[..n])?;
        if let Some(i) = block[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// The appending side (one per data dir: the event log writer).
pub struct JournalWriter {
    dir: PathBuf,
    segment: u64,
    file: File,
    len: u64,
    segment_bytes: u64,
    buf: Vec<u8>,
}

impl JournalWriter {
    /// Opens the journal in `dir` (created 0700 if missing): cuts a torn
    /// last line left by a crash off the newest segment, then starts a new
    /// segment, so older segments are never written again.
    pub fn open(dir: &Path) -> io::Result<JournalWriter> {
        Self::open_with_segment_bytes(dir, SEGMENT_BYTES)
    }

    /// [`JournalWriter::open`] with another segment size (tests).
    pub fn open_with_segment_bytes(dir: &Path, segment_bytes: u64) -> io::Result<JournalWriter> {
        create_private_dir(dir)?;
        let existing = segments(dir)?;
        if let Some(&last) = existing.last() {
            let path = segment_path(dir, last);
            let mut f = OpenOptions::new().read(true).write(true).open(&path)?;
            let keep = complete_prefix(&mut f)?;
            if keep < f.metadata()?.len() {
                tracing::warn!(
                    segment = %path.display(),
                    "event journal: cutting an incomplete last line (the process stopped mid-write)"
                );
                f.set_len(keep)?;
                f.sync_all()?;
            }
        }
        let segment = existing.last().map_or(1, |s| s + 1);
        let file = Self::create_segment(dir, segment)?;
        Ok(JournalWriter {
            dir: dir.to_path_buf(),
            segment,
            file,
            len: 0,
            segment_bytes: segment_bytes.max(1),
            buf: Vec::with_capacity(256 * 1024),
        })
    }

    fn create_segment(dir: &Path, segment: u64) -> io::Result<File> {
        let f = open_private(
            &segment_path(dir, segment),
            OpenOptions::new().create(true).append(true),
        )?;
        sync_dir(dir);
        Ok(f)
    }

    /// Where the next append starts.
    pub fn position(&self) -> JournalPos {
        JournalPos {
            segment: self.segment,
            offset: self.len,
        }
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends `events` (one JSON line each) and syncs them to disk: all or
    /// nothing — on any error the segment is cut back to where it was.
    /// Returns `previous end..new end`: the ranges of successive appends
    /// are contiguous.
    pub fn append<'a>(
        &mut self,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> io::Result<std::ops::Range<JournalPos>> {
        self.buf.clear();
        for e in events {
            serde_json::to_writer(&mut self.buf, e).map_err(io::Error::other)?;
            self.buf.push(b'\n');
        }
        // The range starts where the previous append ended, also when this
        // one opens a new segment: consecutive ranges then meet exactly, so
        // a reader tells a gap from a segment change.
        let start = self.position();
        if self.buf.is_empty() {
            return Ok(start..start);
        }
        if self.len > 0 && self.len + self.buf.len() as u64 > self.segment_bytes {
            self.file = Self::create_segment(&self.dir, self.segment + 1)?;
            self.segment += 1;
            self.len = 0;
        }
        let written = self
            .file
            .write_all(&self.buf)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // A partial line must not stay: a reader would take the next
            // append's first line as its continuation.
            let _ = self.file.set_len(self.len);
            return Err(e);
        }
        self.len += self.buf.len() as u64;
        Ok(start..self.position())
    }
}

/// What [`read`] returns.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Events, in journal order.
    pub events: Vec<Event>,
    /// Position after the last line consumed (== `until` when reached).
    pub end: JournalPos,
    /// Lines that were not an event (skipped; counted, never fatal).
    pub corrupt: u64,
}

/// Reads at most `max` events from `from` up to `until` (exclusive). Lines
/// that do not decode are skipped and counted; a segment whose last line is
/// incomplete is left at that line (only a crash leaves one, and only the
/// segment it was writing).
pub fn read(dir: &Path, from: JournalPos, until: JournalPos, max: usize) -> io::Result<Chunk> {
    let mut chunk = Chunk {
        end: from,
        ..Default::default()
    };
    if from >= until {
        return Ok(chunk);
    }
    let mut line = Vec::with_capacity(1024);
    for segment in segments(dir)?
        .into_iter()
        .filter(|s| (from.segment..=until.segment).contains(s))
    {
        let start = if segment == from.segment {
            from.offset
        } else {
            0
        };
        chunk.end = JournalPos {
            segment,
            offset: start,
        };
        let limit = if segment == until.segment {
            until.offset
        } else {
            u64::MAX
        };
        let mut f = File::open(segment_path(dir, segment))?;
        f.seek(SeekFrom::Start(start))?;
        let mut r = BufReader::with_capacity(256 * 1024, f);
        while chunk.end.offset < limit {
            if chunk.events.len() >= max.max(1) {
                return Ok(chunk);
            }
            line.clear();
            let n = r.read_until(b'\n', &mut line)?;
            if n == 0 || line.last() != Some(&b'\n') {
                break;
            }
            chunk.end.offset += n as u64;
            match serde_json::from_slice::<Event>(&line) {
                Ok(e) => chunk.events.push(e),
                Err(_) => chunk.corrupt += 1,
            }
        }
    }
    if chunk.end < until && chunk.events.len() < max.max(1) {
        // Everything up to `until` that exists has been read (missing
        // segments were removed as committed).
        chunk.end = until;
    }
    Ok(chunk)
}

/// The committed cursor, if one was saved and is readable.
pub fn load_cursor(dir: &Path) -> Option<JournalPos> {
    let s = fs::read_to_string(dir.join(CURSOR_FILE)).ok()?;
    let (seg, off) = s.trim().split_once(' ')?;
    Some(JournalPos {
        segment: seg.parse().ok()?,
        offset: off.parse().ok()?,
    })
}

/// Saves the committed cursor (write + rename, so a crash leaves the old
/// or the new value, never a torn one).
pub fn save_cursor(dir: &Path, pos: JournalPos) -> io::Result<()> {
    let tmp = dir.join(format!("{CURSOR_FILE}.tmp"));
    let mut f = open_private(
        &tmp,
        OpenOptions::new().create(true).write(true).truncate(true),
    )?;
    f.write_all(format!("{} {}\n", pos.segment, pos.offset).as_bytes())?;
    drop(f);
    fs::rename(&tmp, dir.join(CURSOR_FILE))
}

/// Where a reader with no cursor starts: the oldest segment.
pub fn oldest(dir: &Path) -> io::Result<Option<JournalPos>> {
    Ok(segments(dir)?
        .first()
        .map(|&segment| JournalPos { segment, offset: 0 }))
}

/// Deletes the segments numbered below `segment` (wholly committed).
/// Returns how many were removed.
pub fn remove_before(dir: &Path, segment: u64) -> io::Result<usize> {
    let mut n = 0;
    for s in segments(dir)?.into_iter().filter(|&s| s < segment) {
        fs::remove_file(segment_path(dir, s))?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::EventKind;

    fn ev(i: u64) -> Event {
        let mut e = Event::new("web01", "ssh", EventKind::Command).with("n", i);
        e.id = uuid::Uuid::from_u128(u128::from(i) + 1);
        e
    }

    fn n_of(e: &Event) -> u64 {
        e.fields["n"].as_u64().unwrap()
    }

    #[test]
    fn appends_read_back_in_order_across_segments() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = JournalWriter::open_with_segment_bytes(dir.path(), 600).unwrap();
        let start = w.position();
        let mut ends = Vec::new();
        for batch in 0..10u64 {
            let evs: Vec<Event> = (batch * 3..batch * 3 + 3).map(ev).collect();
            let r = w.append(&evs).unwrap();
            ends.push(r.end);
        }
        assert!(segments(dir.path()).unwrap().len() > 2, "segments rotate");
        let all = read(dir.path(), start, w.position(), usize::MAX).unwrap();
        assert_eq!(
            all.events.iter().map(n_of).collect::<Vec<_>>(),
            (0..30).collect::<Vec<_>>()
        );
        assert_eq!(all.end, w.position());
        // A read bounded by a batch end stops exactly there, and the next
        // read continues from it.
        let first = read(dir.path(), start, ends[4], usize::MAX).unwrap();
        assert_eq!(first.events.len(), 15);
        assert_eq!(first.end, ends[4]);
        let rest = read(dir.path(), first.end, w.position(), 7).unwrap();
        assert_eq!(
            rest.events.iter().map(n_of).collect::<Vec<_>>(),
            (15..22).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_torn_last_line_is_cut_and_a_new_segment_started() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = JournalWriter::open(dir.path()).unwrap();
        let start = w.position();
        w.append(&[ev(0), ev(1)]).unwrap();
        let seg = segment_path(dir.path(), start.segment);
        // A crash in the middle of the next append.
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(b"{\"id\":\"0000").unwrap();
        drop(w);
        let w2 = JournalWriter::open(dir.path()).unwrap();
        assert_eq!(w2.position().segment, start.segment + 1);
        let text = fs::read_to_string(&seg).unwrap();
        assert!(text.ends_with('\n') && text.lines().count() == 2, "{text}");
        let all = read(dir.path(), start, w2.position(), usize::MAX).unwrap();
        assert_eq!(all.events.len(), 2);
        assert_eq!(all.corrupt, 0);
    }

    #[test]
    fn garbage_lines_are_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = JournalWriter::open(dir.path()).unwrap();
        let start = w.position();
        w.append(&[ev(0)]).unwrap();
        let seg = segment_path(dir.path(), start.segment);
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(b"not json\n").unwrap();
        drop(f);
        let len = fs::metadata(&seg).unwrap().len();
        let end = JournalPos {
            segment: start.segment,
            offset: len,
        };
        let c = read(dir.path(), start, end, usize::MAX).unwrap();
        assert_eq!((c.events.len(), c.corrupt, c.end), (1, 1, end));
    }

    #[test]
    fn cursor_round_trips_and_committed_segments_go() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_cursor(dir.path()), None);
        let mut w = JournalWriter::open_with_segment_bytes(dir.path(), 10).unwrap();
        for i in 0..4 {
            w.append(&[ev(i)]).unwrap();
        }
        let segs = segments(dir.path()).unwrap();
        assert_eq!(segs.len(), 4);
        let pos = JournalPos {
            segment: segs[2],
            offset: 5,
        };
        save_cursor(dir.path(), pos).unwrap();
        assert_eq!(load_cursor(dir.path()), Some(pos));
        assert_eq!(remove_before(dir.path(), pos.segment).unwrap(), 2);
        assert_eq!(segments(dir.path()).unwrap(), segs[2..].to_vec());
        assert_eq!(
            oldest(dir.path()).unwrap(),
            Some(JournalPos {
                segment: segs[2],
                offset: 0
            })
        );
        // A reader from a removed segment skips to what remains.
        let c = read(
            dir.path(),
            JournalPos {
                segment: segs[0],
                offset: 0,
            },
            w.position(),
            usize::MAX,
        )
        .unwrap();
        assert_eq!(c.events.iter().map(n_of).collect::<Vec<_>>(), vec![2, 3]);
    }

    #[cfg(unix)]
    #[test]
    fn journal_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("journal");
        let mut w = JournalWriter::open(&dir).unwrap();
        w.append(&[ev(0)]).unwrap();
        save_cursor(&dir, w.position()).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&segment_path(&dir, w.position().segment)), 0o600);
        assert_eq!(mode(&dir.join(CURSOR_FILE)), 0o600);
    }
}
