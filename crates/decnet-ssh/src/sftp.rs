//! The `sftp` subsystem (also what OpenSSH ≥ 9 `scp` uses): browsing the
//! decky's VFS and capturing uploads. Written files are kept in memory up to
//! the per-file cap, stored as artifacts on close and added to the VFS.

use std::collections::HashMap;
use std::sync::Arc;

use decnet_shell::{Kind, Node, Vfs};
use russh_sftp::protocol::{
    Attrs, Data, File, FileAttributes, Handle, Name, OpenFlags, Status, StatusCode, Version,
};

use crate::uploads::Uploads;

/// Most open handles per sftp session.
const MAX_HANDLES: usize = 64;

enum Open {
    Write {
        path: String,
        buf: Vec<u8>,
        truncated: bool,
        mode: u32,
        /// A write was refused (no space); the file is not kept.
        refused: bool,
    },
    Read(String),
    Dir {
        path: String,
        done: bool,
    },
}

/// One sftp session.
pub struct Sftp {
    vfs: Arc<Vfs>,
    home: String,
    uploads: Uploads,
    handles: HashMap<String, Open>,
    next: u64,
}

fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Success".into(),
        language_tag: "en-US".into(),
    }
}

pub(crate) fn attrs_of(n: &Node) -> FileAttributes {
    let kind = match n.kind {
        Kind::Dir => 0o040000,
        Kind::Link(_) => 0o120000,
        Kind::File(_) => 0o100000,
    };
    FileAttributes {
        size: Some(n.size),
        uid: Some(n.uid),
        user: None,
        gid: Some(n.gid),
        group: None,
        permissions: Some(kind | n.mode),
        atime: Some(n.mtime.max(0) as u32),
        mtime: Some(n.mtime.max(0) as u32),
    }
}

impl Sftp {
    /// A session rooted at `home` for relative paths.
    pub fn new(vfs: Arc<Vfs>, home: String, uploads: Uploads) -> Sftp {
        Sftp {
            vfs,
            home,
            uploads,
            handles: HashMap::new(),
            next: 0,
        }
    }

    fn abs(&self, p: &str) -> String {
        decnet_shell::vfs::resolve(&self.home, p)
    }

    fn handle(&mut self, o: Open) -> Result<String, StatusCode> {
        if self.handles.len() >= MAX_HANDLES {
            return Err(StatusCode::Failure);
        }
        self.next += 1;
        let h = self.next.to_string();
        self.handles.insert(h.clone(), o);
        Ok(h)
    }

    fn longname(&self, name: &str, n: &Node) -> String {
        let owner = |id: u32| {
            self.vfs
                .host()
                .accounts
                .iter()
                .find(|a| a.uid == id)
                .map(|a| a.name.clone())
                .unwrap_or_else(|| id.to_string())
        };
        let t = chrono::DateTime::<chrono::Utc>::from_timestamp(n.mtime, 0).unwrap_or_default();
        format!(
            "{} {:>3} {:<8} {:<8} {:>8} {} {}",
            n.mode_string(),
            if n.is_dir() { 2 } else { 1 },
            owner(n.uid),
            owner(n.gid),
            n.size,
            t.format("%b %e %H:%M"),
            name
        )
    }
}

impl russh_sftp::server::Handler for Sftp {
    type Error = StatusCode;

    fn unimplemented(&self) -> Self::Error {
        StatusCode::OpUnsupported
    }

    async fn init(
        &mut self,
        _version: u32,
        _extensions: HashMap<String, String>,
    ) -> Result<Version, Self::Error> {
        Ok(Version::new())
    }

    async fn realpath(&mut self, id: u32, path: String) -> Result<Name, Self::Error> {
        let p = self.abs(&path);
        Ok(Name {
            id,
            files: vec![File::dummy(p)],
        })
    }

    async fn stat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        let p = self.abs(&path);
        match self.vfs.get(&p) {
            Some(n) => Ok(Attrs {
                id,
                attrs: attrs_of(&n),
            }),
            None => Err(StatusCode::NoSuchFile),
        }
    }

    async fn lstat(&mut self, id: u32, path: String) -> Result<Attrs, Self::Error> {
        self.stat(id, path).await
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Result<Attrs, Self::Error> {
        let path = match self.handles.get(&handle) {
            Some(Open::Write { buf, mode, .. }) => {
                return Ok(Attrs {
                    id,
                    attrs: FileAttributes {
                        size: Some(buf.len() as u64),
                        permissions: Some(0o100000 | *mode),
                        ..FileAttributes::default()
                    },
                })
            }
            Some(Open::Read(p)) => p.clone(),
            Some(Open::Dir { path, .. }) => path.clone(),
            None => return Err(StatusCode::Failure),
        };
        self.stat(id, path).await
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        attrs: FileAttributes,
    ) -> Result<Handle, Self::Error> {
        let path = self.abs(&filename);
        if pflags.intersects(OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::APPEND) {
            if self.vfs.get(&path).map(|n| n.is_dir()).unwrap_or(false) {
                return Err(StatusCode::Failure);
            }
            let h = self.handle(Open::Write {
                path,
                buf: Vec::new(),
                truncated: false,
                mode: attrs.permissions.unwrap_or(0o644) & 0o7777,
                refused: false,
            })?;
            return Ok(Handle { id, handle: h });
        }
        match self.vfs.get(&path) {
            Some(n) if !n.is_dir() => {
                let h = self.handle(Open::Read(path))?;
                Ok(Handle { id, handle: h })
            }
            Some(_) => Err(StatusCode::Failure),
            None => Err(StatusCode::NoSuchFile),
        }
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<Status, Self::Error> {
        if !self.uploads.has_room(data.len() as u64) {
            if let Some(Open::Write {
                path, buf, refused, ..
            }) = self.handles.get_mut(&handle)
            {
                if !*refused {
                    *refused = true;
                    self.uploads
                        .report_dropped(path, (buf.len() + data.len()) as u64);
                }
                *buf = Vec::new();
            }
            // What sftp-server says when write(2) fails with ENOSPC.
            return Err(StatusCode::Failure);
        }
        let cap = self.uploads.max_file();
        // Bytes held by all open write handles stay under the session's upload budget.
        let inflight: usize = self
            .handles
            .values()
            .map(|h| match h {
                Open::Write { buf, .. } => buf.len(),
                _ => 0,
            })
            .sum();
        let room = (crate::uploads::MAX_TOTAL as usize).saturating_sub(inflight);
        match self.handles.get_mut(&handle) {
            Some(Open::Write { buf, truncated, .. }) => {
                let end = offset.saturating_add(data.len() as u64);
                if offset as usize > cap {
                    *truncated = true;
                    return Ok(ok(id));
                }
                let cap = cap.min(buf.len() + room);
                if offset as usize > cap {
                    *truncated = true;
                    return Ok(ok(id));
                }
                let keep_end = (end as usize).min(cap);
                if end as usize > cap {
                    *truncated = true;
                }
                if buf.len() < keep_end {
                    buf.resize(keep_end, 0);
                }
                let n = keep_end - offset as usize;
                buf[offset as usize..keep_end].copy_from_slice(&data[..n]);
                Ok(ok(id))
            }
            _ => Err(StatusCode::Failure),
        }
    }

    async fn read(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        len: u32,
    ) -> Result<Data, Self::Error> {
        let Some(Open::Read(path)) = self.handles.get(&handle) else {
            return Err(StatusCode::Failure);
        };
        let Some(Node {
            kind: Kind::File(decnet_shell::Content::Bytes(b)),
            ..
        }) = self.vfs.get(path)
        else {
            return Err(StatusCode::PermissionDenied);
        };
        let start = offset.min(b.len() as u64) as usize;
        if start >= b.len() {
            return Err(StatusCode::Eof);
        }
        let end = (start + len.min(32 * 1024) as usize).min(b.len());
        Ok(Data {
            id,
            data: b[start..end].to_vec(),
        })
    }

    async fn close(&mut self, id: u32, handle: String) -> Result<Status, Self::Error> {
        if let Some(Open::Write {
            path,
            buf,
            truncated,
            mode,
            refused,
        }) = self.handles.remove(&handle)
        {
            if refused
                || !self
                    .uploads
                    .save(&path, &buf, truncated, mode, "sftp")
                    .await
            {
                return Err(StatusCode::Failure);
            }
        }
        Ok(ok(id))
    }

    async fn opendir(&mut self, id: u32, path: String) -> Result<Handle, Self::Error> {
        let p = self.abs(&path);
        match self.vfs.get(&p) {
            Some(n) if n.is_dir() => {
                let h = self.handle(Open::Dir {
                    path: p,
                    done: false,
                })?;
                Ok(Handle { id, handle: h })
            }
            Some(_) => Err(StatusCode::Failure),
            None => Err(StatusCode::NoSuchFile),
        }
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Result<Name, Self::Error> {
        let Some(Open::Dir { path, done }) = self.handles.get_mut(&handle) else {
            return Err(StatusCode::Failure);
        };
        if *done {
            return Err(StatusCode::Eof);
        }
        *done = true;
        let path = path.clone();
        let mut files = Vec::new();
        for (name, n) in [
            (".", self.vfs.get(&path)),
            ("..", self.vfs.get(decnet_shell::vfs::parent(&path))),
        ] {
            if let Some(n) = n {
                files.push(File {
                    filename: name.into(),
                    longname: self.longname(name, &n),
                    attrs: attrs_of(&n),
                });
            }
        }
        for (name, n) in self.vfs.children(&path) {
            files.push(File {
                longname: self.longname(&name, &n),
                attrs: attrs_of(&n),
                filename: name,
            });
        }
        Ok(Name { id, files })
    }

    async fn mkdir(
        &mut self,
        id: u32,
        _path: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        Ok(ok(id))
    }

    async fn rmdir(&mut self, id: u32, _path: String) -> Result<Status, Self::Error> {
        Ok(ok(id))
    }

    async fn remove(&mut self, id: u32, _filename: String) -> Result<Status, Self::Error> {
        Ok(ok(id))
    }

    async fn rename(
        &mut self,
        id: u32,
        _oldpath: String,
        _newpath: String,
    ) -> Result<Status, Self::Error> {
        Ok(ok(id))
    }

    async fn setstat(
        &mut self,
        id: u32,
        _path: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        Ok(ok(id))
    }

    async fn fsetstat(
        &mut self,
        id: u32,
        _handle: String,
        _attrs: FileAttributes,
    ) -> Result<Status, Self::Error> {
        Ok(ok(id))
    }
}
