//! The per-decky virtual filesystem.
//!
//! One [`Vfs`] per decky, shared (`Arc`) by every session of every protocol
//! of that decky. The tree is a flat map from absolute, normalised path to
//! [`Node`], so listing a directory is a range scan and lookups allocate
//! nothing. Attacker shells never write here: their writes go to a
//! per-session [`Overlay`](crate::Overlay). Only the decky itself writes
//! (uploads captured over scp/sftp, file drops from the API), through
//! [`Vfs::add_file`], bounded by a per-decky quota.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use decnet_core::clock::{Clock, SystemClock};
use parking_lot::{Mutex, RwLock};

use crate::lived::{Life, Login};

/// What a node is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File(Content),
    /// A symbolic link to this target.
    Link(String),
}

/// File contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Content {
    /// Fixed bytes (shared, never copied per session).
    Bytes(Arc<[u8]>),
    /// `/proc/uptime`, computed when read.
    Uptime,
    /// `/proc/loadavg`, computed when read.
    LoadAvg,
    /// A binary: reading it gives ELF-looking noise of this size.
    Binary,
}

/// One file, directory or link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Kind and contents.
    pub kind: Kind,
    /// Permission bits (`0o755`), without the file type.
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Modification time (Unix seconds).
    pub mtime: i64,
    /// Size shown by `ls -l` (for `Binary`, the pretend size).
    pub size: u64,
}

impl Node {
    /// A directory node.
    pub fn dir(mode: u32, uid: u32, gid: u32, mtime: i64) -> Node {
        Node {
            kind: Kind::Dir,
            mode,
            uid,
            gid,
            mtime,
            size: 4096,
        }
    }

    /// A file node holding `bytes`.
    pub fn file(bytes: impl Into<Arc<[u8]>>, mode: u32, uid: u32, gid: u32, mtime: i64) -> Node {
        let bytes: Arc<[u8]> = bytes.into();
        Node {
            size: bytes.len() as u64,
            kind: Kind::File(Content::Bytes(bytes)),
            mode,
            uid,
            gid,
            mtime,
        }
    }

    /// True for directories.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir)
    }

    /// `ls -l` mode string (`drwxr-xr-x`).
    pub fn mode_string(&self) -> String {
        let t = match self.kind {
            Kind::Dir => 'd',
            Kind::Link(_) => 'l',
            Kind::File(_) => '-',
        };
        let mut s = String::with_capacity(10);
        s.push(t);
        let m = self.mode;
        for shift in [6u32, 3, 0] {
            let bits = (m >> shift) & 7;
            s.push(if bits & 4 != 0 { 'r' } else { '-' });
            s.push(if bits & 2 != 0 { 'w' } else { '-' });
            let special = match shift {
                6 => m & 0o4000 != 0,
                3 => m & 0o2000 != 0,
                _ => m & 0o1000 != 0,
            };
            s.push(match (bits & 1 != 0, special, shift) {
                (true, true, 0) => 't',
                (false, true, 0) => 'T',
                (true, true, _) => 's',
                (false, true, _) => 'S',
                (true, false, _) => 'x',
                (false, false, _) => '-',
            });
        }
        s
    }
}

/// A login account of the decky.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// Password that logs in (used by `sudo`).
    pub password: String,
    /// uid.
    pub uid: u32,
    /// gid.
    pub gid: u32,
    /// Home directory.
    pub home: String,
}

/// Facts about the host that commands print (`uname`, `ifconfig`, `free`…).
#[derive(Clone, Debug)]
pub struct HostInfo {
    /// Short hostname.
    pub hostname: String,
    /// Fully qualified name.
    pub fqdn: String,
    /// Kernel release.
    pub kernel: String,
    /// `PRETTY_NAME`.
    pub pretty_name: String,
    /// `ID`.
    pub os_id: String,
    /// `VERSION_ID`.
    pub version_id: String,
    /// Boot time.
    pub boot_time: DateTime<Utc>,
    /// When the system was installed: nothing generated is older.
    pub install_time: DateTime<Utc>,
    /// MAC address string.
    pub mac: String,
    /// The decky's own addresses (what `ip a`, `ifconfig`, `hostname -I`
    /// show): exactly those its services listen on.
    pub addrs: HostAddrs,
    /// CPU model.
    pub cpu_model: String,
    /// Cores.
    pub cpus: u32,
    /// RAM in KiB.
    pub mem_kib: u64,
    /// Kernel build string (`uname -v`, the end of `/proc/version`).
    pub kernel_version: String,
    /// OpenSSH version (`OpenSSH_9.2p1 Debian-2+deb12u10`) for `ssh -V`.
    pub ssh_version: String,
    /// OpenSSL version line `ssh -V` ends with.
    pub openssl: String,
    /// `$BASH_VERSION`.
    pub bash_version: String,
    /// Whether sudo is installed.
    pub sudo: bool,
    /// Whether net-tools (`ifconfig`, `netstat`) is installed.
    pub net_tools: bool,
    /// Login accounts (root first).
    pub accounts: Vec<Account>,
    /// Seed-derived numbers commands use (pids, memory split…).
    pub salt: u64,
}

/// A decky's addresses on its LAN interface: an IPv4 one, an IPv6 one or
/// both (dual-stack). The shell invents no address the decky does not have.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostAddrs {
    /// The IPv4 address (`None`: a v6-only decky).
    pub v4: Option<Ipv4Addr>,
    /// The IPv6 address (`None`: an IPv4-only decky).
    pub v6: Option<Ipv6Addr>,
}

impl HostAddrs {
    /// The addresses of a decky listening on `addrs` (the first of each
    /// family).
    pub fn of(addrs: &[IpAddr]) -> HostAddrs {
        HostAddrs {
            v4: addrs.iter().find_map(|a| match a {
                IpAddr::V4(v4) => Some(*v4),
                IpAddr::V6(_) => None,
            }),
            v6: addrs.iter().find_map(|a| match a {
                IpAddr::V6(v6) => Some(*v6),
                IpAddr::V4(_) => None,
            }),
        }
    }

    /// The address the host is known by: its IPv4 one, else its IPv6 one.
    pub fn primary(&self) -> Option<IpAddr> {
        self.v4.map(IpAddr::V4).or_else(|| self.v6.map(IpAddr::V6))
    }

    /// Host `n` of the decky's IPv4 /24 (the shell puts the router at .1).
    pub fn on_lan4(&self, n: u8) -> Option<Ipv4Addr> {
        let [a, b, c, _] = self.v4?.octets();
        Some(Ipv4Addr::new(a, b, c, n))
    }

    /// Host `n` of the decky's IPv6 /64 (`prefix::n`).
    pub fn on_lan6(&self, n: u16) -> Option<Ipv6Addr> {
        let s = self.v6?.segments();
        Some(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, n))
    }

    /// Host `n` of the decky's LAN: on its IPv4 /24 when it has one, else
    /// on its IPv6 /64.
    pub fn on_lan(&self, n: u8) -> Option<IpAddr> {
        self.on_lan4(n)
            .map(IpAddr::V4)
            .or_else(|| self.on_lan6(u16::from(n)).map(IpAddr::V6))
    }
}

impl From<Ipv4Addr> for HostAddrs {
    fn from(v4: Ipv4Addr) -> HostAddrs {
        HostAddrs {
            v4: Some(v4),
            v6: None,
        }
    }
}

impl HostInfo {
    /// PIDs of the services a fresh Debian host runs after boot (journald,
    /// udevd, dbus, rsyslogd, cron, sshd, agetty): what `ps` lists and
    /// `/proc` has directories for.
    pub fn daemon_pids(&self) -> [u32; 7] {
        let s = self.salt;
        let b = |k: u64| (300 + (s.wrapping_mul(k + 7) % 500)) as u32;
        [
            b(1),
            b(2) + 20,
            b(3) + 300,
            b(4) + 310,
            b(5) + 320,
            b(6) + 330,
            b(7) + 340,
        ]
    }

    /// The 1/5/15-minute load averages this host shows (`uptime`,
    /// `/proc/loadavg`, Apache's status page).
    pub fn load_average(&self) -> (f64, f64, f64) {
        let s = self.salt;
        (
            (s % 40) as f64 / 100.0,
            (s % 30) as f64 / 100.0 + 0.02,
            (s % 20) as f64 / 100.0 + 0.05,
        )
    }

    /// The address `/etc/hosts` names the host at (what `hostname -i`
    /// prints): the installer writes 127.0.1.1 when the network came from
    /// DHCP, and the static address when given one (how IPv6 deckies are
    /// configured).
    pub fn named_at(&self) -> String {
        match self.addrs.v6 {
            Some(v6) => v6.to_string(),
            None => "127.0.1.1".to_owned(),
        }
    }

    /// The account of `name`.
    pub fn account(&self, name: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.name == name)
    }
}

/// Why a file could not be added.
#[derive(Debug, PartialEq, Eq)]
pub enum VfsError {
    /// Path not absolute, has `..`, NUL, or empty components.
    BadPath,
    /// The decky's quota for added files is exhausted.
    Quota,
    /// A parent is a file, or the path is a directory.
    NotAFile,
}

impl std::fmt::Display for VfsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VfsError::BadPath => "path must be absolute, without '..' or empty components",
            VfsError::Quota => "filesystem quota exceeded",
            VfsError::NotAFile => "path names a directory or lies under a file",
        })
    }
}

impl std::error::Error for VfsError {}

/// Default cap on bytes added to a decky's filesystem (uploads + drops).
pub const DEFAULT_DECKY_QUOTA: u64 = 64 * 1024 * 1024;

/// A decky's filesystem (shared by all its sessions).
pub struct Vfs {
    host: HostInfo,
    nodes: RwLock<BTreeMap<String, Node>>,
    added: RwLock<u64>,
    quota: u64,
    /// The decky's clock: what "now" is for the shell, the mail server and
    /// the lived-in story (faster than the wall in tests and demos).
    clock: Arc<dyn Clock>,
    /// What happens on the host while time passes (logins, mail, logs);
    /// `None` for a frozen filesystem. Taken with `try_lock` only, so a
    /// session never waits for another one's catch-up.
    life: Mutex<Option<Life>>,
    /// Last simulated hour (Unix seconds / 3600) the story has been written
    /// up to: checking it is all a read costs while nothing is due.
    lived_until: AtomicI64,
    /// Logins of the story, oldest first (`last`, `w`).
    logins: RwLock<Vec<Login>>,
    /// Messages dropped from each Maildir (by path) to keep it bounded,
    /// so the ones left keep their IMAP uids.
    expunged: RwLock<BTreeMap<String, u32>>,
    /// Real logins in progress ([`crate::lived::visit::Visit`]), for `w`.
    visitors: RwLock<Vec<Login>>,
}

impl std::fmt::Debug for Vfs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vfs")
            .field("host", &self.host.hostname)
            .field("nodes", &self.nodes.read().len())
            .finish()
    }
}

/// Normalises an absolute path: collapses `//` and `.`; rejects `..` and NUL.
/// Used for paths coming from outside (uploads, file drops).
pub fn clean_absolute(path: &str) -> Option<String> {
    if !path.starts_with('/') || path.contains('\0') || path.len() > 4096 {
        return None;
    }
    let mut out = String::with_capacity(path.len());
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            p => {
                out.push('/');
                out.push_str(p);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Some(out)
}

/// Parent of a normalised absolute path (`/` for top-level entries).
pub fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// `p` resolved against the directory `base` (when relative) with `.`
/// and `..` folded; never climbs above `/` (hostile `../../..` included).
pub fn resolve(base: &str, p: &str) -> String {
    let joined = if p.starts_with('/') {
        p.to_owned()
    } else {
        format!("{base}/{p}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            x => parts.push(x),
        }
    }
    if parts.is_empty() {
        return "/".into();
    }
    let mut s = String::with_capacity(joined.len());
    for x in parts {
        s.push('/');
        s.push_str(x);
    }
    s
}

/// Last component of a normalised path.
pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

impl Vfs {
    /// A filesystem with exactly these nodes (tests, other generators).
    pub fn from_nodes(host: HostInfo, nodes: BTreeMap<String, Node>) -> Vfs {
        Vfs {
            host,
            nodes: RwLock::new(nodes),
            added: RwLock::new(0),
            quota: DEFAULT_DECKY_QUOTA,
            clock: Arc::new(SystemClock),
            life: Mutex::new(None),
            lived_until: AtomicI64::new(i64::MAX),
            logins: RwLock::new(Vec::new()),
            expunged: RwLock::new(BTreeMap::new()),
            visitors: RwLock::new(Vec::new()),
        }
    }

    /// The same filesystem read against `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Vfs {
        self.clock = clock;
        self
    }

    /// Now, by the decky's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Starts the lived-in story: from now on, reads first write what
    /// happened on the host up to the last whole simulated hour.
    pub(crate) fn start_life(&self, life: Life, written_until_hour: i64) {
        *self.life.lock() = Some(life);
        self.lived_until
            .store(written_until_hour, Ordering::Release);
        self.catch_up();
    }

    /// Writes the story's hours that have fully passed. Cheap when none
    /// has (one atomic load); skipped, not waited for, while another
    /// session is writing them.
    pub fn catch_up(&self) {
        let hour = self.now().timestamp().div_euclid(3600);
        if hour <= self.lived_until.load(Ordering::Acquire) {
            return;
        }
        let Some(mut guard) = self.life.try_lock() else {
            return;
        };
        let Some(life) = guard.as_mut() else {
            return;
        };
        // Re-read under the lock: another session may just have finished.
        let done = self.lived_until.load(Ordering::Acquire);
        if hour <= done {
            return;
        }
        let logins = life.advance(self, done, hour);
        if !logins.is_empty() {
            let mut all = self.logins.write();
            all.extend(logins);
            let excess = all.len().saturating_sub(crate::lived::MAX_LOGINS);
            all.drain(..excess);
        }
        self.lived_until.store(hour, Ordering::Release);
    }

    /// Logins the story recorded (oldest first), as `last` lists them.
    pub fn logins(&self) -> Vec<Login> {
        self.catch_up();
        self.logins.read().clone()
    }

    /// Real logins in progress, oldest first (`w`, the user count).
    pub fn visitors(&self) -> Vec<Login> {
        self.visitors.read().clone()
    }

    pub(crate) fn visit_began(&self, login: Login) {
        self.visitors.write().push(login);
    }

    /// The visit ends: off `w`, onto `last`.
    pub(crate) fn visit_ended(&self, login: Login) {
        self.visitors
            .write()
            .retain(|v| !(v.tty == login.tty && v.start == login.start && v.from == login.from));
        let mut all = self.logins.write();
        all.push(login);
        let excess = all.len().saturating_sub(crate::lived::MAX_LOGINS);
        all.drain(..excess);
    }

    /// Removes generated files (a bounded Maildir's oldest messages) and
    /// counts them against `maildir`, so later messages keep their uids.
    pub(crate) fn expunge(&self, maildir: &str, paths: &[String]) {
        let mut nodes = self.nodes.write();
        let gone = paths.iter().filter(|p| nodes.remove(*p).is_some()).count();
        *self.expunged.write().entry(maildir.to_owned()).or_default() += gone as u32;
    }

    /// How many messages were dropped from `maildir` so far.
    pub(crate) fn expunged(&self, maildir: &str) -> u32 {
        self.expunged.read().get(maildir).copied().unwrap_or(0)
    }

    /// Writes a generated node (the story's logs, mail, edits): no quota,
    /// since the decky, not a client, decides its size.
    pub(crate) fn put_generated(&self, path: &str, node: Node) {
        let mut nodes = self.nodes.write();
        let mut dir = parent(path).to_owned();
        let mut missing = Vec::new();
        while !nodes.contains_key(&dir) {
            missing.push(dir.clone());
            if dir == "/" {
                break;
            }
            dir = parent(&dir).to_owned();
        }
        for d in missing {
            nodes.insert(d, Node::dir(0o755, node.uid, node.gid, node.mtime));
        }
        nodes.insert(path.to_owned(), node);
    }

    /// Host facts.
    pub fn host(&self) -> &HostInfo {
        &self.host
    }

    /// The node at a normalised absolute path (no symlink resolution).
    pub fn get(&self, path: &str) -> Option<Node> {
        self.catch_up();
        self.nodes.read().get(path).cloned()
    }

    /// Children (name, node) of a directory, sorted by name.
    pub fn children(&self, dir: &str) -> Vec<(String, Node)> {
        self.catch_up();
        let prefix = if dir == "/" {
            "/".to_owned()
        } else {
            format!("{dir}/")
        };
        let nodes = self.nodes.read();
        nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| k.len() > prefix.len() && !k[prefix.len()..].contains('/'))
            .map(|(k, v)| (k[prefix.len()..].to_owned(), v.clone()))
            .collect()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.read().len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.read().is_empty()
    }

    /// Adds (or replaces) a file at an absolute path with this mode and
    /// mtime; missing parent directories are created (root-owned, 0755).
    /// This is how uploads and API file drops enter the decky: every
    /// session sees the file in `ls -l` and `cat` from then on.
    pub fn add_file(
        &self,
        path: &str,
        bytes: &[u8],
        mode: u32,
        mtime: DateTime<Utc>,
        owner: Option<(u32, u32)>,
    ) -> Result<String, VfsError> {
        let path = clean_absolute(path).ok_or(VfsError::BadPath)?;
        if path == "/" {
            return Err(VfsError::NotAFile);
        }
        let mut nodes = self.nodes.write();
        let mut added = self.added.write();
        let old = match nodes.get(&path) {
            Some(n) if n.is_dir() => return Err(VfsError::NotAFile),
            Some(n) => n.size,
            None => 0,
        };
        let new_total = added.saturating_sub(old) + bytes.len() as u64;
        if new_total > self.quota {
            return Err(VfsError::Quota);
        }
        // Every ancestor must be a directory (or absent, then created).
        let mut p = parent(&path).to_owned();
        let mut missing = Vec::new();
        loop {
            match nodes.get(&p) {
                Some(n) if n.is_dir() => break,
                Some(_) => return Err(VfsError::NotAFile),
                None => missing.push(p.clone()),
            }
            if p == "/" {
                break;
            }
            p = parent(&p).to_owned();
        }
        let t = mtime.timestamp();
        for d in missing {
            nodes.insert(d, Node::dir(0o755, 0, 0, t));
        }
        let (uid, gid) = owner.unwrap_or((0, 0));
        nodes.insert(
            path.clone(),
            Node::file(bytes.to_vec(), mode & 0o7777, uid, gid, t),
        );
        *added = new_total;
        Ok(path)
    }

    /// Removes a file added earlier (API "delete file drop").
    pub fn remove_file(&self, path: &str) -> bool {
        let Some(path) = clean_absolute(path) else {
            return false;
        };
        let mut nodes = self.nodes.write();
        match nodes.get(&path) {
            Some(n) if !n.is_dir() => {
                let size = n.size;
                nodes.remove(&path);
                let mut added = self.added.write();
                *added = added.saturating_sub(size);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_folds_dots_and_never_climbs_above_root() {
        assert_eq!(resolve("/root", "x"), "/root/x");
        assert_eq!(resolve("/root", "../../../etc/passwd"), "/etc/passwd");
        assert_eq!(resolve("/home/u", "a/./b/../c"), "/home/u/a/c");
        assert_eq!(resolve("/root", "/"), "/");
        assert_eq!(resolve("/", ".."), "/");
        assert_eq!(resolve("/tmp", "//x///y/"), "/x/y");
    }

    proptest::proptest! {
        #[test]
        fn resolve_always_gives_a_clean_absolute_path(base in "[a-z/.]{0,20}", p in "[a-z/.~]{0,40}") {
            let r = resolve(&format!("/{base}"), &p);
            proptest::prop_assert!(r.starts_with('/'));
            proptest::prop_assert!(r == "/" || !r.ends_with('/'));
            for part in r.split('/').skip(1) {
                proptest::prop_assert!(part != "." && part != ".." && (r == "/" || !part.is_empty()), "{r}");
            }
        }
    }

    #[test]
    fn clean_paths() {
        assert_eq!(clean_absolute("/a//b/./c").as_deref(), Some("/a/b/c"));
        assert_eq!(clean_absolute("/").as_deref(), Some("/"));
        assert_eq!(clean_absolute("/a/../b"), None);
        assert_eq!(clean_absolute("a/b"), None);
        assert_eq!(clean_absolute("/a\0"), None);
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
        assert_eq!(basename("/a/b"), "b");
    }

    #[test]
    fn mode_strings() {
        let n = Node::dir(0o1777, 0, 0, 0);
        assert_eq!(n.mode_string(), "drwxrwxrwt");
        let f = Node::file(&b"x"[..], 0o4755, 0, 0, 0);
        assert_eq!(f.mode_string(), "-rwsr-xr-x");
        let f = Node::file(&b"x"[..], 0o640, 0, 0, 0);
        assert_eq!(f.mode_string(), "-rw-r-----");
    }
}
