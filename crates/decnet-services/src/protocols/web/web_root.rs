//! The web server's document root is the decky's `/var/www/html`: the
//! same tree the shell, FTP and SMB show, so a page an attacker edits in
//! the shell or uploads over FTP is what the web server answers with, and
//! `cat /var/www/html/index.html` shows the page `/` serves.

use decnet_shell::{Kind, Vfs};

use crate::protocols::files::node_bytes;
use crate::LazyVfs;

/// The document root inside the decky's filesystem.
pub const DOC_ROOT: &str = "/var/www/html";

/// The placeholder page the filesystem generator writes before a web
/// server claims the root.
pub const PLACEHOLDER: &[u8] = decnet_shell::gen::DEFAULT_WEB_INDEX.as_bytes();

/// A directory's index pages: Apache's `DirectoryIndex` default and the
/// head and tail of Debian nginx's `index` list.
const INDEX_NAMES: [&str; 2] = ["index.html", "index.nginx-debian.html"];

/// What a request path finds in the document root.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// A file (or a directory's `index.html`): its bytes and content type.
    File(Vec<u8>, &'static str),
    /// A directory without an index (listing is off, as by default).
    Directory,
    /// Nothing there (or a path that tries to leave the root).
    Nothing,
}

/// One decky's document root.
pub struct WebRoot {
    vfs: LazyVfs,
}

/// `home` becomes the root's packaged index page (`packaged`:
/// `index.html`, or `index.nginx-debian.html` as Debian's nginx ships
/// it) while the generator's placeholder `index.html` is still there; a
/// page edited since is kept.
pub fn claim(vfs: &Vfs, home: &[u8], packaged: &str) {
    let index = format!("{DOC_ROOT}/index.html");
    let Some(node) = vfs.get(&index) else {
        return;
    };
    if !matches!(&node.kind, Kind::File(decnet_shell::Content::Bytes(b)) if &b[..] == PLACEHOLDER) {
        return;
    }
    let mtime = chrono::DateTime::from_timestamp(node.mtime, 0).unwrap_or_else(|| vfs.now());
    let target = format!("{DOC_ROOT}/{packaged}");
    if target != index {
        vfs.remove_file(&index);
    }
    if let Err(e) = vfs.add_file(&target, home, 0o644, mtime, Some((node.uid, node.gid))) {
        tracing::debug!(error = %e, "web root: the home page stays the placeholder");
    }
}

impl WebRoot {
    /// The document root of `vfs`.
    pub fn new(vfs: impl Into<LazyVfs>) -> WebRoot {
        WebRoot { vfs: vfs.into() }
    }

    /// [`claim`] on this root's filesystem.
    pub fn claim(&self, home: &[u8], packaged: &str) {
        claim(&self.vfs.get(), home, packaged);
    }

    /// The filesystem behind the web root (generated now if unread).
    pub fn vfs(&self) -> std::sync::Arc<Vfs> {
        self.vfs.get()
    }

    /// The `index.html` of the root, unless it is still the placeholder.
    pub fn home(&self) -> Option<Vec<u8>> {
        match self.find("/") {
            Found::File(b, _) if b != PLACEHOLDER => Some(b),
            _ => None,
        }
    }

    /// What `path` (a request path, percent-decoded or not) names.
    pub fn find(&self, path: &str) -> Found {
        let decoded = percent_decode(path);
        let Some(rel) = decnet_shell::vfs::clean_absolute(&decoded) else {
            return Found::Nothing;
        };
        let full = if rel == "/" {
            DOC_ROOT.to_owned()
        } else {
            format!("{DOC_ROOT}{rel}")
        };
        let vfs = self.vfs.get();
        let boot = vfs.host().boot_time;
        match vfs.get(&full) {
            Some(n) if n.is_dir() => {
                // The index names both packaged servers look for, in order.
                let page = INDEX_NAMES.iter().find_map(|name| {
                    let index = format!("{full}/{name}");
                    vfs.get(&index)
                        .and_then(|n| node_bytes(&vfs, &index, &n, boot))
                });
                match page {
                    Some(b) => Found::File(b, "text/html; charset=utf-8"),
                    None => Found::Directory,
                }
            }
            Some(n) => match node_bytes(&vfs, &full, &n, boot) {
                Some(b) => Found::File(b, content_type(&full)),
                None => Found::Nothing,
            },
            None => Found::Nothing,
        }
    }
}

/// `%XX` escapes decoded; a malformed escape stays as written, and bytes
/// that are not UTF-8 make the path find nothing.
fn percent_decode(path: &str) -> String {
    let b = path.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| "\0".into())
}

/// The `Content-Type` a stock nginx/Apache sends for a file name.
fn content_type(path: &str) -> &'static str {
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("txt" | "md" | "log" | "csv" | "conf" | "ini" | "sh" | "php") => "text/plain",
        Some("css") => "text/css",
        Some("js") => "application/javascript",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("svg") => "image/svg+xml",
        Some("pdf") => "application/pdf",
        Some("zip") => "application/zip",
        Some("gz" | "tgz") => "application/gzip",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use std::sync::Arc;

    fn root() -> (Arc<Vfs>, WebRoot) {
        let seed = decnet_core::DeckySeed::new("web01", 0);
        let p = decnet_core::Persona::generate(&seed, Some("debian"), &[], "linux", Utc::now());
        let vfs = Arc::new(decnet_shell::generate(
            &p,
            &seed,
            std::net::Ipv4Addr::new(10, 0, 0, 5),
            &[],
        ));
        let root = WebRoot::new(vfs.clone());
        root.claim(b"<h1>Intranet</h1>\n", "index.html");
        (vfs, root)
    }

    #[test]
    fn the_home_page_is_the_index_the_shell_sees_and_edits_show() {
        let (vfs, root) = root();
        assert_eq!(root.home().as_deref(), Some(&b"<h1>Intranet</h1>\n"[..]));
        vfs.add_file(
            "/var/www/html/index.html",
            b"defaced\n",
            0o644,
            Utc::now(),
            None,
        )
        .unwrap();
        assert_eq!(root.home().as_deref(), Some(&b"defaced\n"[..]));
        // A second claim (a reload) keeps the edited page.
        root.claim(b"<h1>Intranet</h1>\n", "index.html");
        assert_eq!(root.home().as_deref(), Some(&b"defaced\n"[..]));
    }

    #[test]
    fn uploads_are_served_and_paths_never_leave_the_root() {
        let (vfs, root) = root();
        vfs.add_file(
            "/var/www/html/files/report 2024.csv",
            b"a,b\n",
            0o644,
            Utc::now(),
            None,
        )
        .unwrap();
        assert_eq!(
            root.find("/files/report%202024.csv"),
            Found::File(b"a,b\n".to_vec(), "text/plain")
        );
        assert_eq!(root.find("/files"), Found::Directory);
        assert_eq!(root.find("/files/"), Found::Directory);
        for hostile in [
            "/../../etc/passwd",
            "/%2e%2e/%2e%2e/etc/passwd",
            "/..%2f..%2fetc/passwd",
            "/%00",
            "/%ff%fe",
            "/%",
            "/%4",
        ] {
            assert_eq!(root.find(hostile), Found::Nothing, "{hostile}");
        }
        assert_eq!(root.find("/missing.html"), Found::Nothing);
    }
}
