//! The lure share of the SMB decky: a directory of the decky's virtual
//! filesystem (`/srv/smb/<share>`) served over SMB2 CREATE / QUERY_DIRECTORY /
//! QUERY_INFO / READ / WRITE / CLOSE. Reads come from the VFS (and are
//! recorded as `file_download`), writes are buffered (capped) and on CLOSE
//! land in the VFS and in `artifacts::store`. Paths are normalised by
//! `clean_absolute` (no `..`) and must stay under the share root.

use std::sync::Arc;

use decnet_core::EventKind;
use decnet_shell::{Content, Kind, Node, Vfs};

use super::{error_body, le16, le32, le64, status, Conv};
use crate::fields;
use crate::tls::Tagged;
use crate::wire::smb2::{self as w, cmd};

/// Largest file accepted by WRITE (bytes beyond are counted, not kept).
pub const MAX_UPLOAD: usize = 8 * 1024 * 1024;
/// Bytes of uploads one connection may hold in memory at once.
pub const MAX_CONN_UPLOADS: usize = 16 * 1024 * 1024;

const NO_MORE_FILES: u32 = 0x8000_0006;
const NO_SUCH_FILE: u32 = 0xC000_000F;
const END_OF_FILE: u32 = 0xC000_0011;
const INVALID_INFO_CLASS: u32 = 0xC000_0003;
const FILE_IS_A_DIRECTORY: u32 = 0xC000_00BA;
const NOT_A_DIRECTORY: u32 = 0xC000_0103;

/// An open file or directory of the share.
pub struct Open {
    path: String,
    dir: bool,
    data: Arc<[u8]>,
    mtime: i64,
    listing: Option<Vec<(String, Node)>>,
    cursor: usize,
    written: Option<Vec<u8>>,
    write_total: usize,
    downloaded: bool,
}

/// A finished upload waiting to be stored (path, bytes, truncated).
pub type Upload = (String, Vec<u8>, bool);

fn filetime(unix: i64) -> u64 {
    (unix.max(0) as u64 + 11_644_473_600) * 10_000_000
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

fn u16at(b: &[u8], at: usize) -> usize {
    b.get(at..at + 2)
        .map(|x| u16::from_le_bytes([x[0], x[1]]) as usize)
        .unwrap_or(0)
}

fn u32at(b: &[u8], at: usize) -> usize {
    b.get(at..at + 4)
        .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]) as usize)
        .unwrap_or(0)
}

fn bytes_of(node: &Node) -> Arc<[u8]> {
    match &node.kind {
        Kind::File(Content::Bytes(b)) => b.clone(),
        Kind::File(_) => vec![0u8; node.size.min(64 * 1024) as usize].into(),
        _ => Arc::from(&[][..]),
    }
}

fn attrs(dir: bool) -> u32 {
    if dir {
        0x10
    } else {
        0x20
    }
}

/// Maps an SMB path (`dir\file.txt`) under `root`; None if it escapes.
pub fn map_path(root: &str, name: &str) -> Option<String> {
    let rel = name.replace('\\', "/");
    let full = decnet_shell::vfs::clean_absolute(&format!("{root}/{rel}"))?;
    (full == root || full.starts_with(&format!("{root}/"))).then_some(full)
}

fn wildcard(pattern: &str, name: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    let n = name.to_ascii_lowercase();
    match p.as_str() {
        "" | "*" | "*.*" => true,
        _ => match p.strip_prefix('*') {
            Some(suffix) if !suffix.contains('*') => n.ends_with(suffix),
            _ => p == n,
        },
    }
}

fn times(b: &mut Vec<u8>, mtime: i64) {
    let t = filetime(mtime);
    for _ in 0..4 {
        le64(b, t);
    }
}

fn create_body(fid: &[u8; 16], action: u32, o: &Open) -> Vec<u8> {
    let mut b = Vec::with_capacity(96);
    le16(&mut b, 89);
    b.push(0);
    b.push(0);
    le32(&mut b, action);
    times(&mut b, o.mtime);
    let size = if o.dir { 0 } else { o.data.len() as u64 };
    le64(&mut b, size.div_ceil(4096) * 4096);
    le64(&mut b, size);
    le32(&mut b, attrs(o.dir));
    le32(&mut b, 0);
    b.extend_from_slice(fid);
    le32(&mut b, 0);
    le32(&mut b, 0);
    b.push(0);
    b
}

fn dir_entry(class: u8, name: &str, node: &Node, index: u64) -> Option<Vec<u8>> {
    let n = utf16(name);
    let dir = node.is_dir();
    let size = if dir { 0 } else { node.size };
    let mut e = Vec::with_capacity(104 + n.len());
    le32(&mut e, 0);
    le32(&mut e, 0);
    if class == 12 {
        le32(&mut e, n.len() as u32);
        e.extend_from_slice(&n);
        return Some(e);
    }
    times(&mut e, node.mtime);
    le64(&mut e, size);
    le64(&mut e, size.div_ceil(4096) * 4096);
    le32(&mut e, attrs(dir));
    le32(&mut e, n.len() as u32);
    match class {
        1 => {}
        2 => le32(&mut e, 0),
        3 | 37 => {
            le32(&mut e, 0);
            e.push(0);
            e.push(0);
            e.extend_from_slice(&[0; 24]);
            if class == 37 {
                le16(&mut e, 0);
                le64(&mut e, index);
            }
        }
        38 => {
            le32(&mut e, 0);
            le32(&mut e, 0);
            le64(&mut e, index);
        }
        _ => return None,
    }
    e.extend_from_slice(&n);
    Some(e)
}

fn open_node(vfs: &Vfs, path: &str) -> Option<Open> {
    let node = vfs.get(path)?;
    Some(Open {
        path: path.to_owned(),
        dir: node.is_dir(),
        data: bytes_of(&node),
        mtime: node.mtime,
        listing: None,
        cursor: 0,
        written: None,
        write_total: 0,
        downloaded: false,
    })
}

fn query_info(o: &Open, info_type: u8, class: u8, label: &str) -> Option<Vec<u8>> {
    match info_type {
        1 => file_info(o, class),
        2 => fs_info(o, class, label),
        3 => Some(security_descriptor()),
        _ => None,
    }
}

/// SMB2_0_INFO_FILE classes.
fn file_info(o: &Open, class: u8) -> Option<Vec<u8>> {
    let size = if o.dir { 0 } else { o.data.len() as u64 };
    let alloc = size.div_ceil(4096) * 4096;
    let mut b = Vec::new();
    match class {
        4 => {
            times(&mut b, o.mtime);
            le32(&mut b, attrs(o.dir));
            le32(&mut b, 0);
        }
        5 => {
            le64(&mut b, alloc);
            le64(&mut b, size);
            le32(&mut b, 1);
            b.push(0);
            b.push(o.dir as u8);
            le16(&mut b, 0);
        }
        18 => {
            times(&mut b, o.mtime);
            le32(&mut b, attrs(o.dir));
            le32(&mut b, 0);
            le64(&mut b, alloc);
            le64(&mut b, size);
            le32(&mut b, 1);
            b.push(0);
            b.push(o.dir as u8);
            le16(&mut b, 0);
            le64(&mut b, o.path.len() as u64 * 7919);
            le32(&mut b, 0);
            le32(&mut b, 0x0012_0089);
            le64(&mut b, 0);
            le32(&mut b, 0);
            le32(&mut b, 0);
            let n = utf16(o.path.rsplit('/').next().unwrap_or(""));
            le32(&mut b, n.len() as u32);
            b.extend_from_slice(&n);
        }
        22 if !o.dir => {
            let n = utf16("::$DATA");
            le32(&mut b, 0);
            le32(&mut b, n.len() as u32);
            le64(&mut b, size);
            le64(&mut b, alloc);
            b.extend_from_slice(&n);
        }
        34 => {
            times(&mut b, o.mtime);
            le64(&mut b, alloc);
            le64(&mut b, size);
            le32(&mut b, attrs(o.dir));
            le32(&mut b, 0);
        }
        35 => {
            le32(&mut b, attrs(o.dir));
            le32(&mut b, 0);
        }
        _ => return None,
    }
    Some(b)
}

/// SMB2_0_INFO_FILESYSTEM classes.
fn fs_info(o: &Open, class: u8, label: &str) -> Option<Vec<u8>> {
    let mut b = Vec::new();
    match class {
        1 => {
            let l = utf16(label);
            le64(&mut b, filetime(o.mtime));
            le32(&mut b, 0x5a1e_c0de);
            le32(&mut b, l.len() as u32);
            b.push(0);
            b.push(0);
            b.extend_from_slice(&l);
        }
        3 => {
            le64(&mut b, 26_214_400);
            le64(&mut b, 9_437_184);
            le32(&mut b, 8);
            le32(&mut b, 512);
        }
        4 => {
            le32(&mut b, 7);
            le32(&mut b, 0x20);
        }
        5 => {
            let n = utf16("NTFS");
            le32(&mut b, 0x0007_00ff);
            le32(&mut b, 255);
            le32(&mut b, n.len() as u32);
            b.extend_from_slice(&n);
        }
        7 => {
            le64(&mut b, 26_214_400);
            le64(&mut b, 9_437_184);
            le64(&mut b, 9_437_184);
            le32(&mut b, 8);
            le32(&mut b, 512);
        }
        8 => b.resize(64, 0),
        _ => return None,
    }
    Some(b)
}

/// Self-relative SD: DACL granting Everyone full control.
fn security_descriptor() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&[1, 0, 0x04, 0x80]);
    le32(&mut b, 0);
    le32(&mut b, 0);
    le32(&mut b, 0);
    le32(&mut b, 20);
    b.extend_from_slice(&[2, 0]);
    le16(&mut b, 28);
    le16(&mut b, 1);
    le16(&mut b, 0);
    b.extend_from_slice(&[0, 0]);
    le16(&mut b, 20);
    le32(&mut b, 0x001f_01ff);
    b.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    b
}

fn next_fid(conv: &mut Conv) -> [u8; 16] {
    conv.next_file += 1;
    let mut fid = [0u8; 16];
    fid[..8].copy_from_slice(&conv.next_file.to_le_bytes());
    fid[8..].copy_from_slice(&(conv.next_file ^ 0x00d1_5c00_7777).to_le_bytes());
    fid
}

/// A disk tree a command runs against.
pub struct Tree<'a> {
    /// The decky's filesystem.
    pub vfs: &'a Vfs,
    /// The command's header.
    pub h: &'a w::Header,
    /// The whole SMB2 message.
    pub msg: &'a [u8],
    /// The session, for events.
    pub tagged: &'a Tagged,
    /// The share's directory in the VFS.
    pub root: &'a str,
    /// The share's name.
    pub share: &'a str,
}

impl Tree<'_> {
    /// The file id at `at` of the body (related compounds use the last one).
    fn fid(&self, conv: &Conv, at: usize) -> [u8; 16] {
        super::resolve(conv, self.h, w::file_id(self.msg, at).unwrap_or([0; 16]))
    }
}

/// A command's (status, body); errors carry the status and error body.
type Reply = Result<(u32, Vec<u8>), (u32, Vec<u8>)>;

/// Handles one command on a disk tree.
pub fn command(t: &Tree<'_>, conv: &mut Conv) -> (u32, Vec<u8>) {
    let body = t.msg.get(w::HEADER..).unwrap_or(&[]);
    let reply = match t.h.command {
        cmd::CREATE => create(t, conv, body),
        cmd::CLOSE => close(t, conv),
        cmd::READ => read(t, conv, body),
        cmd::WRITE => write(t, conv),
        cmd::QUERY_DIRECTORY => query_directory(t, conv, body),
        cmd::QUERY_INFO => query_info_cmd(t, conv, body),
        cmd::SET_INFO => Ok((status::SUCCESS, vec![2, 0])),
        cmd::FLUSH => Ok((status::SUCCESS, vec![4, 0, 0, 0])),
        _ => Ok((status::NOT_SUPPORTED, error_body())),
    };
    reply.unwrap_or_else(|e| e)
}

/// Opens (or creates, for an upload) a file or directory of the share.
fn create(t: &Tree<'_>, conv: &mut Conv, body: &[u8]) -> Reply {
    let name = w::create_name(t.msg).unwrap_or_default();
    let disposition = u32at(body, 36);
    let options = u32at(body, 40);
    let Some(path) = map_path(t.root, &name) else {
        t.tagged.emit(
            EventKind::Command,
            fields! {"command" => "create", "path" => name, "status" => "traversal refused"},
        );
        return fail(status::ACCESS_DENIED);
    };
    if conv.disk.len() >= super::MAX_OPEN {
        return fail(status::ACCESS_DENIED);
    }
    let existing = open_node(t.vfs, &path);
    let (open, action) = match (existing, disposition) {
        (Some(o), 2) => {
            let _ = o;
            return fail(0xC000_0035); // OBJECT_NAME_COLLISION
        }
        (Some(o), 0 | 4 | 5) if !o.dir => (
            Open {
                written: Some(Vec::new()),
                data: Arc::from(&[][..]),
                ..o
            },
            3,
        ),
        (Some(o), _) => (o, 1),
        (None, 1 | 4) => {
            t.tagged.emit(
                EventKind::Command,
                fields! {"command" => "create", "path" => path, "share" => t.share, "status" => "not found"},
            );
            return fail(status::NOT_FOUND);
        }
        (None, _) if options & 1 != 0 => return fail(status::ACCESS_DENIED),
        (None, _) => (
            Open {
                path: path.clone(),
                dir: false,
                data: Arc::from(&[][..]),
                mtime: chrono::Utc::now().timestamp(),
                listing: None,
                cursor: 0,
                written: Some(Vec::new()),
                write_total: 0,
                downloaded: false,
            },
            2,
        ),
    };
    if options & 1 != 0 && !open.dir {
        return fail(NOT_A_DIRECTORY);
    }
    if options & 0x40 != 0 && open.dir {
        return fail(FILE_IS_A_DIRECTORY);
    }
    t.tagged.emit(
        EventKind::Command,
        fields! {"command" => "create", "path" => path, "share" => t.share, "create_action" => action as u64, "write" => open.written.is_some()},
    );
    let fid = next_fid(conv);
    let out = create_body(&fid, action, &open);
    conv.disk.insert(fid, open);
    conv.last_file = fid;
    Ok((status::SUCCESS, out))
}

/// Closes a handle; a written file becomes an upload.
fn close(t: &Tree<'_>, conv: &mut Conv) -> Reply {
    let fid = t.fid(conv, 8);
    let Some(o) = conv.disk.remove(&fid) else {
        return fail(status::FILE_CLOSED);
    };
    if let Some(data) = o.written {
        let truncated = o.write_total > data.len();
        conv.uploads.push((o.path.clone(), data, truncated));
    }
    let mut b = Vec::new();
    le16(&mut b, 60);
    b.resize(60, 0);
    Ok((status::SUCCESS, b))
}

/// Reads a file (recorded once as a download).
fn read(t: &Tree<'_>, conv: &mut Conv, body: &[u8]) -> Reply {
    let fid = t.fid(conv, 16);
    let len = u32at(body, 4).min(65536);
    let off = body
        .get(8..16)
        .map(|x| u64::from_le_bytes(x.try_into().unwrap_or([0; 8])))
        .unwrap_or(0) as usize;
    let Some(o) = conv.disk.get_mut(&fid) else {
        return fail(status::FILE_CLOSED);
    };
    if o.dir {
        return fail(0xC000_0010); // INVALID_DEVICE_REQUEST
    }
    if !o.downloaded {
        o.downloaded = true;
        t.tagged.emit(
            EventKind::FileDownload,
            fields! {"path" => o.path.clone(), "share" => t.share, "size" => o.data.len() as u64},
        );
    }
    if off >= o.data.len() {
        return fail(END_OF_FILE);
    }
    let end = off.saturating_add(len).min(o.data.len());
    let mut b = Vec::with_capacity(16 + end - off);
    le16(&mut b, 17);
    b.push(80);
    b.push(0);
    le32(&mut b, (end - off) as u32);
    le32(&mut b, 0);
    le32(&mut b, 0);
    b.extend_from_slice(&o.data[off..end]);
    Ok((status::SUCCESS, b))
}

/// Buffers a write, within the per-file and per-connection caps.
fn write(t: &Tree<'_>, conv: &mut Conv) -> Reply {
    let Ok((fid, off, data)) = w::write_req(t.msg) else {
        return fail(status::INVALID_PARAMETER);
    };
    let fid = super::resolve(conv, t.h, fid);
    // All open uploads of one connection together stay under MAX_CONN_UPLOADS.
    let buffered: usize = conv
        .disk
        .values()
        .map(|o| o.written.as_ref().map_or(0, Vec::len))
        .sum();
    let Some(o) = conv.disk.get_mut(&fid) else {
        return fail(status::FILE_CLOSED);
    };
    let buf = o.written.get_or_insert_with(|| o.data.to_vec());
    let off = off as usize;
    let end = off.saturating_add(data.len());
    o.write_total = o.write_total.max(end);
    let growth = end.saturating_sub(buf.len());
    if buffered + growth > MAX_CONN_UPLOADS {
        return fail(0xC000_007F); // STATUS_DISK_FULL
    }
    if end <= MAX_UPLOAD {
        if buf.len() < end {
            buf.resize(end, 0);
        }
        buf[off..end].copy_from_slice(data);
    }
    let mut b = Vec::new();
    le16(&mut b, 17);
    le16(&mut b, 0);
    le32(&mut b, data.len() as u32);
    le32(&mut b, 0);
    le32(&mut b, 0);
    b.push(0);
    Ok((status::SUCCESS, b))
}

/// Lists a directory, as many entries as fit per call.
fn query_directory(t: &Tree<'_>, conv: &mut Conv, body: &[u8]) -> Reply {
    let class = body.get(2).copied().unwrap_or(0);
    let flags = body.get(3).copied().unwrap_or(0);
    let fid = t.fid(conv, 8);
    let pat = {
        let off = u16at(body, 24);
        let len = u16at(body, 26);
        t.msg.get(off..off + len).map(w::utf16).unwrap_or_default()
    };
    let max = u32at(body, 28).min(65536);
    let Some(o) = conv.disk.get_mut(&fid) else {
        return fail(status::FILE_CLOSED);
    };
    if !o.dir {
        return fail(status::INVALID_PARAMETER);
    }
    let first = o.listing.is_none() || flags & 0x11 != 0;
    if first {
        let mut list: Vec<(String, Node)> = Vec::new();
        let me = t.vfs.get(&o.path);
        if let Some(me) = me.clone() {
            list.push((".".into(), me.clone()));
            list.push(("..".into(), me));
        }
        list.extend(t.vfs.children(&o.path).into_iter().take(512));
        list.retain(|(n, _)| wildcard(&pat, n));
        if list.is_empty() {
            o.listing = Some(Vec::new());
            return fail(NO_SUCH_FILE);
        }
        t.tagged.emit(
            EventKind::Command,
            fields! {"command" => "list", "path" => o.path.clone(), "share" => t.share, "pattern" => pat},
        );
        o.listing = Some(list);
        o.cursor = 0;
    }
    let list = o.listing.as_deref().unwrap_or(&[]);
    let mut out = Vec::new();
    let mut last_start = None;
    while o.cursor < list.len() {
        let (name, node) = &list[o.cursor];
        let Some(mut e) = dir_entry(class, name, node, o.cursor as u64 + 1) else {
            return fail(INVALID_INFO_CLASS);
        };
        while e.len() % 8 != 0 {
            e.push(0);
        }
        if out.len() + e.len() > max {
            break;
        }
        if let Some(ls) = last_start {
            let next = (out.len() - ls) as u32;
            out[ls..ls + 4].copy_from_slice(&next.to_le_bytes());
        }
        last_start = Some(out.len());
        out.extend_from_slice(&e);
        o.cursor += 1;
        if flags & 0x2 != 0 {
            break;
        }
    }
    if out.is_empty() {
        return fail(NO_MORE_FILES);
    }
    let mut b = Vec::new();
    le16(&mut b, 9);
    le16(&mut b, 72);
    le32(&mut b, out.len() as u32);
    b.extend_from_slice(&out);
    Ok((status::SUCCESS, b))
}

/// File, filesystem and security information of a handle.
fn query_info_cmd(t: &Tree<'_>, conv: &mut Conv, body: &[u8]) -> Reply {
    let info_type = body.get(2).copied().unwrap_or(0);
    let class = body.get(3).copied().unwrap_or(0);
    let max = u32at(body, 4).min(65536);
    let fid = t.fid(conv, 24);
    let Some(o) = conv.disk.get(&fid) else {
        return fail(status::FILE_CLOSED);
    };
    let Some(mut data) = query_info(o, info_type, class, t.share) else {
        return fail(INVALID_INFO_CLASS);
    };
    let st = if data.len() > max {
        data.truncate(max);
        status::BUFFER_OVERFLOW
    } else {
        status::SUCCESS
    };
    let mut b = Vec::new();
    le16(&mut b, 9);
    le16(&mut b, 72);
    le32(&mut b, data.len() as u32);
    b.extend_from_slice(&data);
    if data.is_empty() {
        b.push(0);
    }
    Ok((st, b))
}

/// An error status with the standard error body.
fn fail<T>(status: u32) -> Result<T, (u32, Vec<u8>)> {
    Err((status, error_body()))
}

/// Files the lure share starts with (added to the VFS once).
pub fn seed(vfs: &Vfs, root: &str, host: &str, domain: &str) {
    if !vfs.children(root).is_empty() {
        return;
    }
    let now = vfs.now() - chrono::Duration::days(23);
    let files: [(&str, String); 3] = [
        (
            "Q3_salaries.csv",
            "employee,department,salary\nj.smith,Finance,84000\na.jones,IT,91000\nm.brown,HR,67000\n"
                .to_owned(),
        ),
        (
            "backup_job.ps1",
            format!(
                "$cred = New-Object PSCredential('{domain}\\svc_backup', (ConvertTo-SecureString 'Backup#2023' -AsPlainText -Force))\nCopy-Item -Recurse C:\\Data \\\\{host}\\Backups -Credential $cred\n"
            ),
        ),
        (
            "README.txt",
            "Shared drive. Do not store personal files here.\r\n".to_owned(),
        ),
    ];
    for (name, body) in files {
        let _ = vfs.add_file(&format!("{root}/{name}"), body.as_bytes(), 0o644, now, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_in_the_share() {
        assert_eq!(
            map_path("/srv/smb/HR", "a\\b.txt").as_deref(),
            Some("/srv/smb/HR/a/b.txt")
        );
        assert_eq!(map_path("/srv/smb/HR", "").as_deref(), Some("/srv/smb/HR"));
        assert_eq!(map_path("/srv/smb/HR", "..\\..\\etc\\passwd"), None);
        assert_eq!(map_path("/srv/smb/HR", "a\\..\\..\\x"), None);
        assert!(wildcard("*", "x"));
        assert!(wildcard("*.txt", "A.TXT"));
        assert!(!wildcard("b.txt", "a.txt"));
    }
}
