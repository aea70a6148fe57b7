//! The sink side of the legacy scp protocol (`scp -t PATH`, used by
//! `scp -O` and older clients): `C<mode> <size> <name>`, `D…`/`E`, `T…`
//! records, each acknowledged with a NUL byte. Files are kept in memory up
//! to a cap (the rest is counted and dropped) and handed back as
//! [`Action::File`]; nothing is written to the host filesystem here.

/// Longest header line accepted.
pub const MAX_HEADER: usize = 1024;
/// Deepest `D` nesting followed.
const MAX_DEPTH: usize = 16;

/// What the caller must do after feeding bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Send these bytes to the client.
    Send(Vec<u8>),
    /// A complete file arrived.
    File {
        /// Absolute destination path in the decky's filesystem.
        path: String,
        /// Name the client gave it.
        name: String,
        /// Permission bits from the header.
        mode: u32,
        /// The bytes kept.
        data: Vec<u8>,
        /// True when the file was larger than the cap.
        truncated: bool,
    },
    /// Protocol error: send this message (`\x01scp: …\n`) and stop.
    Fail(String),
}

#[derive(Debug)]
enum State {
    Header,
    Data {
        name: String,
        mode: u32,
        remaining: u64,
        buf: Vec<u8>,
        truncated: bool,
    },
    Ack {
        name: String,
        mode: u32,
        buf: Vec<u8>,
        truncated: bool,
    },
    Failed,
}

/// scp sink state machine.
#[derive(Debug)]
pub struct ScpSink {
    /// A file was refused (no space): the sink exits with status 1.
    pub failed: bool,
    target: String,
    target_is_dir: bool,
    dirs: Vec<String>,
    line: Vec<u8>,
    state: State,
    max_file: usize,
}

/// A name from a `C`/`D` record that is safe to join to a path.
fn safe_name(name: &str) -> Option<String> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return None;
    }
    Some(name.chars().take(255).collect())
}

fn parse_record(line: &str) -> Option<(u32, u64, String)> {
    let mut it = line.splitn(3, ' ');
    let mode = u32::from_str_radix(it.next()?, 8).ok()?;
    let size: u64 = it.next()?.parse().ok()?;
    let name = safe_name(it.next()?)?;
    Some((mode & 0o7777, size, name))
}

impl ScpSink {
    /// A sink writing under `target` (absolute); `target_is_dir` when it
    /// names an existing directory (or `-d`/`-r` was given).
    pub fn new(target: &str, target_is_dir: bool, max_file: usize) -> ScpSink {
        ScpSink {
            failed: false,
            target: target.to_owned(),
            target_is_dir,
            dirs: Vec::new(),
            line: Vec::new(),
            state: State::Header,
            max_file,
        }
    }

    /// The greeting the sink sends first.
    pub fn start() -> Action {
        Action::Send(vec![0])
    }

    fn dest(&self, name: &str) -> String {
        if !self.target_is_dir && self.dirs.is_empty() {
            return self.target.clone();
        }
        let mut p = self.target.trim_end_matches('/').to_owned();
        for d in &self.dirs {
            p.push('/');
            p.push_str(d);
        }
        p.push('/');
        p.push_str(name);
        p
    }

    /// Feeds client bytes; returns the actions in order.
    pub fn feed(&mut self, mut input: &[u8]) -> Vec<Action> {
        let mut out = Vec::new();
        while !input.is_empty() {
            let used = match self.state {
                State::Failed => return out,
                State::Header => self.header_bytes(input, &mut out),
                State::Data { .. } => self.data_bytes(input),
                State::Ack { .. } => {
                    self.ack(input[0], &mut out);
                    1
                }
            };
            input = &input[used..];
        }
        out
    }

    /// Ends the transfer with `why` (nothing more is read).
    fn fail(&mut self, out: &mut Vec<Action>, why: String) {
        self.state = State::Failed;
        out.push(Action::Fail(why));
    }

    /// Header bytes up to the end of a record line; returns how many were used.
    fn header_bytes(&mut self, input: &[u8], out: &mut Vec<Action>) -> usize {
        let nl = input.iter().position(|&b| b == b'\n');
        let take = nl.map(|i| i + 1).unwrap_or(input.len());
        if self.line.len() + take > MAX_HEADER {
            self.fail(out, "scp: protocol error: header too long".into());
            return take;
        }
        self.line.extend_from_slice(&input[..take]);
        if nl.is_some() {
            let line = std::mem::take(&mut self.line);
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            self.record(&text, out);
        }
        take
    }

    /// One record line (`C`, `D`, `E`, `T`, or a remote error).
    fn record(&mut self, text: &str, out: &mut Vec<Action>) {
        let (kind, rest) = match text.chars().next() {
            Some(c) => (c, &text[c.len_utf8()..]),
            None => ('?', ""),
        };
        match kind {
            'C' => match parse_record(rest) {
                Some((mode, size, name)) => {
                    self.state = State::Data {
                        name,
                        mode,
                        remaining: size,
                        buf: Vec::new(),
                        truncated: false,
                    };
                    out.push(Action::Send(vec![0]));
                    if size == 0 {
                        self.finish_data();
                    }
                }
                None => self.fail(
                    out,
                    format!(
                        "scp: protocol error: bad mode/size/name in {:?}",
                        text.chars().take(64).collect::<String>()
                    ),
                ),
            },
            'D' => match parse_record(rest) {
                Some((_, _, name)) if self.dirs.len() < MAX_DEPTH => {
                    self.enter_dir(name);
                    out.push(Action::Send(vec![0]));
                }
                _ => self.fail(out, "scp: protocol error: bad directory".into()),
            },
            'E' => {
                self.dirs.pop();
                out.push(Action::Send(vec![0]));
            }
            'T' => out.push(Action::Send(vec![0])),
            '\x01' | '\x02' => {}
            _ => self.fail(out, "scp: protocol error: unexpected record".into()),
        }
    }

    /// A `D` record: one directory deeper.
    fn enter_dir(&mut self, name: String) {
        if self.dirs.is_empty() && !self.target_is_dir {
            // `scp -r dir host:newname`: the target becomes the directory.
            self.target_is_dir = true;
            let t = std::mem::take(&mut self.target);
            self.target = crate::parent_of(&t).to_owned();
            self.dirs.push(crate::base_of(&t).to_owned());
        } else {
            self.dirs.push(name);
        }
    }

    /// A file's bytes (kept up to `max_file`); returns how many were used.
    fn data_bytes(&mut self, input: &[u8]) -> usize {
        let max_file = self.max_file;
        let State::Data {
            remaining,
            buf,
            truncated,
            ..
        } = &mut self.state
        else {
            return input.len();
        };
        let n = (*remaining).min(input.len() as u64) as usize;
        let room = max_file.saturating_sub(buf.len());
        if n > room {
            *truncated = true;
        }
        buf.extend_from_slice(&input[..n.min(room)]);
        *remaining -= n as u64;
        if *remaining == 0 {
            self.finish_data();
        }
        n
    }

    /// The sender's status byte after a file's data: the file is complete.
    fn ack(&mut self, status: u8, out: &mut Vec<Action>) {
        let State::Ack {
            name,
            mode,
            buf,
            truncated,
        } = std::mem::replace(&mut self.state, State::Header)
        else {
            return;
        };
        if status != 0 {
            self.fail(out, "scp: protocol error: missing end of file".into());
            return;
        }
        out.push(Action::File {
            path: self.dest(&name),
            name,
            mode,
            data: buf,
            truncated,
        });
        out.push(Action::Send(vec![0]));
    }

    fn finish_data(&mut self) {
        if let State::Data {
            name,
            mode,
            buf,
            truncated,
            ..
        } = std::mem::replace(&mut self.state, State::Header)
        {
            self.state = State::Ack {
                name,
                mode,
                buf,
                truncated,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn single_file_into_directory() {
        let mut s = ScpSink::new("/tmp", true, 1024);
        let mut acts = s.feed(b"C0755 5 evil.sh\n");
        assert_eq!(acts, vec![Action::Send(vec![0])]);
        acts = s.feed(b"hel");
        assert!(acts.is_empty());
        acts = s.feed(b"lo\0");
        assert_eq!(
            acts,
            vec![
                Action::File {
                    path: "/tmp/evil.sh".into(),
                    name: "evil.sh".into(),
                    mode: 0o755,
                    data: b"hello".to_vec(),
                    truncated: false
                },
                Action::Send(vec![0])
            ]
        );
    }

    #[test]
    fn caps_and_rejects_traversal() {
        let mut s = ScpSink::new("/root/x.bin", false, 3);
        let acts = s.feed(b"T1 0 1 0\nC0644 6 a\nabcdef\0");
        assert!(acts.contains(&Action::File {
            path: "/root/x.bin".into(),
            name: "a".into(),
            mode: 0o644,
            data: b"abc".to_vec(),
            truncated: true
        }));
        let mut s = ScpSink::new("/tmp", true, 10);
        let acts = s.feed(b"C0644 1 ../../etc/passwd\n");
        assert!(matches!(acts.last(), Some(Action::Fail(_))));
        assert!(s.feed(b"x").is_empty());
    }

    #[test]
    fn recursive_directories() {
        let mut s = ScpSink::new("/tmp", true, 10);
        let acts = s.feed(b"D0755 0 d\nC0644 1 f\nz\0E\n");
        assert!(acts
            .iter()
            .any(|a| matches!(a, Action::File { path, .. } if path == "/tmp/d/f")));
    }

    proptest! {
        #[test]
        fn never_panics(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..10)) {
            let mut s = ScpSink::new("/tmp", true, 64);
            for c in &chunks {
                for a in s.feed(c) {
                    if let Action::File { data, path, .. } = a {
                        prop_assert!(data.len() <= 64);
                        prop_assert!(!path.contains("/../"));
                    }
                }
            }
        }

        #[test]
        fn never_panics_on_records(lines in proptest::collection::vec("[CDET\\x01][0-9 ]{0,12}[a-z./]{0,8}\n", 0..8)) {
            let mut s = ScpSink::new("/x", false, 16);
            for l in &lines {
                let _ = s.feed(l.as_bytes());
            }
        }
    }
}
