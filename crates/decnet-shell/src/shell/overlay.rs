//! The session's view of the filesystem: the decky's shared [`Vfs`] under a
//! per-session [`Overlay`] that takes every write, bounded by a byte quota.
//! Paths resolve (symlinks included, bounded) inside the VFS only.

use std::collections::{BTreeMap, VecDeque};

use super::{Output, Shell, ShellEvent};
use crate::vfs::{self, Content, Kind, Node};

/// Per-session write layer over the shared VFS, with a byte quota.
#[derive(Debug, Default)]
pub struct Overlay {
    /// Written nodes; `None` hides a base node (a removal).
    entries: BTreeMap<String, Option<Node>>,
    used: u64,
    quota: u64,
}

impl Overlay {
    pub(crate) fn with_quota(quota: u64) -> Overlay {
        Overlay {
            quota,
            ..Overlay::default()
        }
    }
}

impl Shell {
    /// `p` made absolute against the working directory (no symlinks followed).
    pub(crate) fn abs(&self, p: &str) -> String {
        crate::vfs::resolve(&self.cwd, p)
    }

    /// The node at an absolute path: the overlay first, then the VFS.
    pub(crate) fn raw_get(&self, path: &str) -> Option<Node> {
        match self.overlay.entries.get(path) {
            Some(Some(n)) => Some(n.clone()),
            Some(None) => None,
            None => self.vfs.get(path),
        }
    }

    /// Where `name` is installed on this decky (`/usr/bin/ls`), as `PATH`
    /// lookup finds it.
    pub(crate) fn installed(&self, name: &str) -> Option<String> {
        if name.is_empty() || name.contains('/') {
            return None;
        }
        ["/usr/local/bin", "/usr/bin", "/usr/sbin"]
            .iter()
            .map(|d| format!("{d}/{name}"))
            .find(|p| self.raw_get(p).is_some_and(|n| !n.is_dir()))
    }

    /// Resolves symlinks in every component (bounded).
    pub(crate) fn resolve(&self, path: &str) -> String {
        let mut cur = String::from("/");
        let mut rest: VecDeque<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let mut hops = 0;
        while let Some(part) = rest.pop_front() {
            let next = if part == ".." {
                vfs::parent(&cur).to_owned()
            } else if part == "." {
                cur.clone()
            } else if cur == "/" {
                format!("/{part}")
            } else {
                format!("{cur}/{part}")
            };
            if let Some(Node {
                kind: Kind::Link(target),
                ..
            }) = self.raw_get(&next)
            {
                hops += 1;
                if hops > 16 {
                    return next;
                }
                let base = if target.starts_with('/') {
                    "/".to_owned()
                } else {
                    cur.clone()
                };
                let mut parts: VecDeque<String> = target
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                parts.extend(rest.drain(..));
                rest = parts;
                cur = base;
                continue;
            }
            cur = next;
        }
        cur
    }

    /// Node at a user path (symlinks followed).
    pub(crate) fn stat(&self, p: &str) -> Option<(String, Node)> {
        let a = self.resolve(&self.abs(p));
        self.raw_get(&a).map(|n| (a, n))
    }

    /// Node at a user path, the last component not followed (`ls -l`, `rm`).
    pub(crate) fn lstat(&self, p: &str) -> Option<(String, Node)> {
        let a = self.abs(p);
        let parent = self.resolve(vfs::parent(&a));
        let full = if a == "/" {
            "/".to_owned()
        } else if parent == "/" {
            format!("/{}", vfs::basename(&a))
        } else {
            format!("{parent}/{}", vfs::basename(&a))
        };
        self.raw_get(&full).map(|n| (full, n))
    }

    /// A directory's entries as this session sees them, sorted by name.
    pub(crate) fn list_dir(&self, dir: &str) -> Vec<(String, Node)> {
        let mut map: BTreeMap<String, Node> = self.vfs.children(dir).into_iter().collect();
        let prefix = if dir == "/" {
            "/".to_owned()
        } else {
            format!("{dir}/")
        };
        for (k, v) in self.overlay.entries.range(prefix.clone()..) {
            if !k.starts_with(&prefix) {
                break;
            }
            let name = &k[prefix.len()..];
            if name.is_empty() || name.contains('/') {
                continue;
            }
            match v {
                Some(n) => {
                    map.insert(name.to_owned(), n.clone());
                }
                None => {
                    map.remove(name);
                }
            }
        }
        map.into_iter().collect()
    }

    /// Unix permission check for the session user; `bit` is 4 (read), 2
    /// (write) or 1 (execute/search). Root may do anything but execute a
    /// file without an x bit.
    pub(crate) fn can(&self, n: &Node, bit: u32) -> bool {
        if self.uid == 0 {
            return bit != 1 || n.mode & 0o111 != 0 || n.is_dir();
        }
        let m = n.mode;
        if n.uid == self.uid {
            m & (bit << 6) != 0
        } else if n.gid == self.gid {
            m & (bit << 3) != 0
        } else {
            m & bit != 0
        }
    }

    /// A file's bytes; `/proc` files are computed now, binaries are an ELF
    /// header padded with zeros.
    pub(crate) fn content(&self, n: &Node) -> Vec<u8> {
        match &n.kind {
            Kind::File(Content::Bytes(b)) => b.to_vec(),
            Kind::File(Content::Uptime) => {
                let up =
                    (self.now() - self.vfs.host().boot_time).num_milliseconds() as f64 / 1000.0;
                format!("{up:.2} {:.2}\n", up * self.vfs.host().cpus as f64 * 0.93).into_bytes()
            }
            Kind::File(Content::LoadAvg) => {
                let (a, b, c) = self.load();
                format!(
                    "{a:.2} {b:.2} {c:.2} 1/{} {}\n",
                    180 + self.vfs.host().salt % 90,
                    self.pid()
                )
                .into_bytes()
            }
            Kind::File(Content::Binary) => {
                let mut v = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0>\0\x01\0\0\0".to_vec();
                v.resize((n.size as usize).min(2048), 0);
                v
            }
            _ => Vec::new(),
        }
    }

    /// A readable file's text, or the error `cat` would print.
    pub(crate) fn read_file(&self, p: &str) -> Result<String, &'static str> {
        match self.stat(p) {
            None => Err("No such file or directory"),
            Some((_, n)) if n.is_dir() => Err("Is a directory"),
            Some((_, n)) if !self.can(&n, 4) => Err("Permission denied"),
            Some((_, n)) => Ok(String::from_utf8_lossy(&self.content(&n)).into_owned()),
        }
    }

    /// Whether a new entry may be created at `abs`: not in procfs or sysfs
    /// (the kernel answers ENOENT, even to root), else as the parent allows.
    pub(crate) fn parent_writable(&self, abs: &str) -> Result<(), &'static str> {
        let parent = self.resolve(vfs::parent(abs));
        let pseudo = |root: &str| parent == root || parent.starts_with(&format!("{root}/"));
        if pseudo("/proc") || pseudo("/sys") {
            return Err("No such file or directory");
        }
        match self.raw_get(&parent) {
            None => Err("No such file or directory"),
            Some(n) if !n.is_dir() => Err("Not a directory"),
            Some(n) if !self.can(&n, 2) => Err("Permission denied"),
            Some(_) => Ok(()),
        }
    }

    /// Writes (`Some`) or hides (`None`) a path in the overlay, within quota.
    pub(crate) fn put(&mut self, path: String, node: Option<Node>) -> Result<(), &'static str> {
        let old = self
            .overlay
            .entries
            .get(&path)
            .and_then(|o| o.as_ref().map(|n| n.size))
            .unwrap_or(0);
        let new = node.as_ref().map(|n| n.size).unwrap_or(0) + path.len() as u64;
        let used = self.overlay.used.saturating_sub(old) + new;
        if used > self.overlay.quota {
            return Err("No space left on device");
        }
        self.overlay.used = used;
        self.overlay.entries.insert(path, node);
        Ok(())
    }

    /// Drops an overlay entry outright (a path the base VFS does not have),
    /// giving its bytes back to the quota.
    pub(crate) fn forget(&mut self, path: &str) {
        if let Some(Some(n)) = self.overlay.entries.remove(path) {
            self.overlay.used = self.overlay.used.saturating_sub(n.size + path.len() as u64);
        }
    }

    /// A redirection's write (`>`, `>>`): permission-checked, recorded as
    /// a [`ShellEvent::FileWrite`]; `/dev/null` swallows it.
    pub(crate) fn write_file(
        &mut self,
        p: &str,
        data: &[u8],
        append: bool,
        out: &mut Output,
    ) -> Result<(), &'static str> {
        if p == "/dev/null" {
            return Ok(());
        }
        if p.is_empty() {
            return Err("No such file or directory");
        }
        let a = self.resolve(&self.abs(p));
        let now = self.now().timestamp();
        let node = match self.raw_get(&a) {
            Some(n) if n.is_dir() => return Err("Is a directory"),
            Some(n) if !self.can(&n, 2) => return Err("Permission denied"),
            Some(n) => {
                let mut body = if append { self.content(&n) } else { Vec::new() };
                body.extend_from_slice(data);
                Node::file(body, n.mode, n.uid, n.gid, now)
            }
            None => {
                self.parent_writable(&a)?;
                Node::file(data.to_vec(), 0o644, self.uid, self.gid, now)
            }
        };
        let size = node.size;
        self.put(a.clone(), Some(node))?;
        out.events.push(ShellEvent::FileWrite { path: a, size });
        Ok(())
    }

    /// The 1/5/15-minute load averages this host shows (`uptime`,
    /// `/proc/loadavg`).
    pub(crate) fn load(&self) -> (f64, f64, f64) {
        self.vfs.host().load_average()
    }
}
