//! SMB (445, and 139 with a NetBIOS session request): an SMB1 negotiate
//! that offers SMB2 is switched to SMB2 as modern Windows does; SMB2
//! NEGOTIATE (2.0.2 – 3.0.2) and SESSION_SETUP with SPNEGO/NTLMSSP whose
//! CHALLENGE carries the persona's names and build. Every AUTHENTICATE is
//! captured as a hashcat line (5600/5500) and refused with
//! STATUS_LOGON_FAILURE, except the anonymous (null) session, which gets
//! IPC$ and a `srvsvc` pipe answering NetrShareEnum — enough for
//! `smbclient -L //host -N` to list IPC$, ADMIN$, C$ and a lure share.
//!
//! A persona that is not Windows serves SMB as Samba does (`samba`): SMB1
//! refused with smbd's no-dialect answer, SMB 3.1.1 (`contexts`), named
//! users mapped to guest, Samba's share list and its framing.
//!
//! `command` has one method per SMB2 command, `rpc` the `srvsvc` pipe,
//! `fs` the lure share; this module frames NetBIOS messages and compounds.

use std::collections::HashMap;
use std::sync::Arc;

use decnet_core::EventKind;
use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::ntlm::{self, Exchange, ServerIdentity};
use crate::ctx::DeckyCtx;
use crate::io::read_exact_idle;
use crate::session::Session;
use crate::tls::Tagged;
use crate::wire::smb2::{self as w, cmd};
use crate::{artifacts, fields, Conn, Handler, Service, ServiceError};

mod command;
mod contexts;
mod fs;
mod rpc;
mod samba;

pub use rpc::share_enum_ndr;
use rpc::Pipe;
pub use samba::version as samba_version;

/// NT status codes used.
pub mod status {
    /// STATUS_SUCCESS.
    pub const SUCCESS: u32 = 0;
    /// STATUS_MORE_PROCESSING_REQUIRED.
    pub const MORE_PROCESSING: u32 = 0xC000_0016;
    /// STATUS_LOGON_FAILURE.
    pub const LOGON_FAILURE: u32 = 0xC000_006D;
    /// STATUS_ACCESS_DENIED.
    pub const ACCESS_DENIED: u32 = 0xC000_0022;
    /// STATUS_BAD_NETWORK_NAME.
    pub const BAD_NETWORK_NAME: u32 = 0xC000_00CC;
    /// STATUS_OBJECT_NAME_NOT_FOUND.
    pub const NOT_FOUND: u32 = 0xC000_0034;
    /// STATUS_NOT_SUPPORTED.
    pub const NOT_SUPPORTED: u32 = 0xC000_00BB;
    /// STATUS_INVALID_PARAMETER.
    pub const INVALID_PARAMETER: u32 = 0xC000_000D;
    /// STATUS_USER_SESSION_DELETED.
    pub const SESSION_DELETED: u32 = 0xC000_0203;
    /// STATUS_NETWORK_NAME_DELETED.
    pub const NAME_DELETED: u32 = 0xC000_00C9;
    /// STATUS_FILE_CLOSED.
    pub const FILE_CLOSED: u32 = 0xC000_0128;
    /// STATUS_BUFFER_OVERFLOW.
    pub const BUFFER_OVERFLOW: u32 = 0x8000_0005;
    /// STATUS_FS_DRIVER_REQUIRED.
    pub const FS_DRIVER_REQUIRED: u32 = 0xC000_019C;
    /// STATUS_CONNECTION_REFUSED.
    pub const CONNECTION_REFUSED: u32 = 0xC000_0236;
    /// STATUS_PIPE_EMPTY.
    pub const PIPE_EMPTY: u32 = 0xC000_00D9;
}

const MAX_OPEN: usize = 64;

/// The `smb` service.
pub struct Smb;

/// A share the decky announces.
#[derive(Clone, Debug)]
pub struct Share {
    /// Name.
    pub name: String,
    /// STYPE_* type.
    pub kind: u32,
    /// Remark.
    pub remark: String,
}

/// Per-decky SMB state.
pub struct SmbHandler {
    id: Arc<ServerIdentity>,
    vfs: crate::LazyVfs,
    /// The null session may open the lure share (`[decky.smb] null_share`).
    null_share: bool,
    guid: [u8; 16],
    shares: Vec<Share>,
    /// The one disk share sessions may open.
    lure: String,
    /// Samba's version string when the persona is not Windows.
    samba: Option<String>,
    boot_filetime: u64,
}

/// The seeded lure share of a decky (`[decky.smb] share = NAME` overrides
/// it): the one disk share a session may open.
pub fn lure_share(decky: &DeckyCtx) -> String {
    use rand::seq::SliceRandom;
    let mut rng = decnet_core::DeckySeed::new(decky.name(), decky.generation).rng("smb-share");
    decky
        .config("smb", "share")
        .map(str::to_owned)
        .unwrap_or_else(|| {
            ["Finance", "Backups", "HR", "Shared", "Scans", "IT"]
                .choose(&mut rng)
                .copied()
                .unwrap_or("Shared")
                .to_owned()
        })
}

/// The shares of a decky: on Windows IPC$, ADMIN$, C$ and the lure share;
/// on a Samba persona what Samba's default configuration lists beside it.
pub fn shares(decky: &DeckyCtx) -> Vec<Share> {
    let lure = lure_share(decky);
    if let Some(version) = samba::version(decky) {
        return samba::shares(lure, &version);
    }
    vec![
        Share {
            name: "ADMIN$".into(),
            kind: 0x8000_0000,
            remark: "Remote Admin".into(),
        },
        Share {
            name: "C$".into(),
            kind: 0x8000_0000,
            remark: "Default share".into(),
        },
        Share {
            name: "IPC$".into(),
            kind: samba::IPC,
            remark: "Remote IPC".into(),
        },
        Share {
            name: lure,
            kind: 0,
            remark: String::new(),
        },
    ]
}

impl Service for Smb {
    fn name(&self) -> &'static str {
        "smb"
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        use rand::Rng;
        let mut rng = decnet_core::DeckySeed::new(decky.name(), decky.generation).rng("smb-guid");
        let boot = decky.persona.boot_time;
        let boot_filetime = (boot.timestamp().max(0) as u64 + 11_644_473_600) * 10_000_000;
        let shares = shares(decky);
        let lure = lure_share(decky);
        let id = ServerIdentity::for_decky(decky);
        let (root, computer, domain) = (
            share_root(&lure),
            id.nb_computer.clone(),
            id.nb_domain.clone(),
        );
        decky.on_vfs(move |vfs| fs::seed(vfs, &root, &computer, &domain));
        Ok(Arc::new(SmbHandler {
            vfs: crate::LazyVfs::Decky(decky.clone()),
            null_share: decky.config("smb", "null_share") != Some("false"),
            id: Arc::new(id),
            guid: rng.gen(),
            shares,
            lure,
            samba: samba::version(decky),
            boot_filetime,
        }))
    }
}

struct Conv {
    exchange: Exchange,
    dialect: u16,
    session_id: u64,
    anonymous: bool,
    /// Tree id → share root in the VFS (None: IPC$).
    trees: HashMap<u32, Option<(String, String)>>,
    next_tree: u32,
    files: HashMap<[u8; 16], Pipe>,
    disk: HashMap<[u8; 16], fs::Open>,
    uploads: Vec<fs::Upload>,
    next_file: u64,
    last_file: [u8; 16],
    spnego: bool,
    /// Close once the reply is written.
    hang_up: bool,
}

fn hdr(out: &mut Vec<u8>, h: &w::Header, status: u32, session: u64, tree: u32) {
    out.extend_from_slice(b"\xfeSMB");
    out.extend_from_slice(&64u16.to_le_bytes());
    out.extend_from_slice(&h.credit_charge.to_le_bytes());
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(&h.command.to_le_bytes());
    out.extend_from_slice(&h.credits.clamp(1, 64).to_le_bytes());
    let flags = 1 | (h.flags & w::FLAG_RELATED);
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&h.message_id.to_le_bytes());
    out.extend_from_slice(&h.process_id.to_le_bytes());
    out.extend_from_slice(&tree.to_le_bytes());
    out.extend_from_slice(&session.to_le_bytes());
    out.extend_from_slice(&[0; 16]);
}

fn error_body() -> Vec<u8> {
    vec![9, 0, 0, 0, 0, 0, 0, 0, 0]
}

fn le16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn le32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
fn le64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

impl SmbHandler {
    /// The decky's filesystem, generated when a tree first reads it.
    fn vfs(&self) -> Arc<decnet_shell::Vfs> {
        self.vfs.get()
    }

    fn negotiate_body(&self, dialect: u16, blob: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(64 + blob.len());
        le16(&mut b, 65);
        le16(&mut b, 1); // signing enabled, not required
        le16(&mut b, dialect);
        le16(&mut b, 0);
        b.extend_from_slice(&self.guid);
        let caps = if dialect >= 0x0210 { 0x1 | 0x4 } else { 0x1 };
        le32(&mut b, caps);
        le32(&mut b, 8 * 1024 * 1024);
        le32(&mut b, 8 * 1024 * 1024);
        le32(&mut b, 65536);
        le64(&mut b, ntlm::filetime_now());
        // smbd does not know the host's boot time (nmap: `start_date: N/A`).
        le64(
            &mut b,
            if self.samba.is_some() {
                0
            } else {
                self.boot_filetime
            },
        );
        le16(&mut b, 128);
        le16(&mut b, blob.len() as u16);
        le32(&mut b, 0);
        b.extend_from_slice(blob);
        b
    }

    fn tree_body(pipe: bool) -> Vec<u8> {
        let mut b = Vec::new();
        le16(&mut b, 16);
        b.push(if pipe { 2 } else { 1 });
        b.push(0);
        le32(&mut b, if pipe { 0x30 } else { 0x800 });
        le32(&mut b, 0);
        le32(&mut b, if pipe { 0x001f_01ff } else { 0x0012_0089 });
        b
    }

    fn create_body(&self, fid: &[u8; 16]) -> Vec<u8> {
        let mut b = Vec::new();
        le16(&mut b, 89);
        b.push(0);
        b.push(0);
        le32(&mut b, 1);
        for _ in 0..4 {
            le64(&mut b, 0);
        }
        le64(&mut b, 4096);
        le64(&mut b, 0);
        le32(&mut b, 0x80);
        le32(&mut b, 0);
        b.extend_from_slice(fid);
        le32(&mut b, 0);
        le32(&mut b, 0);
        b.push(0);
        b
    }

    async fn serve(self: Arc<Self>, conn: Conn, session: Session) {
        let tagged = Tagged::new(session);
        // Windows wants a NetBIOS session request first on port 139; smbd
        // takes SMB on either port.
        let need_session = conn.nominal_port == 139 && self.samba.is_none();
        let (mut rd, wr) = conn.stream.into_split();
        let mut wr = BufWriter::new(wr);
        self.exchange(&mut rd, &mut wr, need_session, &tagged).await;
        if self.samba.is_some() {
            // smbd close()s without a shutdown: bytes it left unread turn
            // the close into a reset, as they do for the real daemon.
            if let Ok(stream) = rd.reunite(wr.into_inner()) {
                drop(stream);
            }
        }
    }

    async fn exchange(
        &self,
        rd: &mut OwnedReadHalf,
        wr: &mut BufWriter<OwnedWriteHalf>,
        mut need_session: bool,
        tagged: &Tagged,
    ) {
        let idle = tagged.session.limits().idle_timeout;
        let mut conv = Conv {
            exchange: Exchange::new(self.id.clone()),
            dialect: 0x0202,
            session_id: 0,
            anonymous: false,
            trees: HashMap::new(),
            next_tree: 0,
            files: HashMap::new(),
            disk: HashMap::new(),
            uploads: Vec::new(),
            next_file: 0,
            last_file: [0xff; 16],
            spnego: true,
            hang_up: false,
        };
        let mut msg = Vec::new();
        loop {
            let mut h4 = [0u8; 4];
            if read_exact_idle(rd, &mut h4, idle).await.is_err() {
                return;
            }
            let (ty, len) = w::frame_header(h4);
            if self.samba.is_some() {
                if len == 0 && ty != 0x85 {
                    // smbd drops an empty message at once.
                    return;
                }
                if len > w::MAX_FRAME {
                    // smbd waits for the whole (17-bit) length before it
                    // judges the message; so does the decky, keeping none of it.
                    tagged.emit_error(format!("smb: frame of {len} bytes refused"));
                    let _ = discard_idle(rd, len, idle).await;
                    return;
                }
            } else if len > w::MAX_FRAME {
                tagged.emit_error(format!("smb: frame of {len} bytes refused"));
                return;
            }
            msg.clear();
            msg.resize(len, 0);
            if read_exact_idle(rd, &mut msg, idle).await.is_err() {
                return;
            }
            if need_session && ty != 0x81 {
                // Negative session response (unspecified error).
                let _ = wr.write_all(&[0x83, 0, 0, 1, 0x8f]).await;
                let _ = wr.flush().await;
                return;
            }
            let reply = match ty {
                0x81 => {
                    need_session = false;
                    Some(vec![0x82, 0, 0, 0])
                }
                0x85 => None,
                0x00 => self.frame(&mut conv, &msg, tagged),
                _ => return,
            };
            let Some(reply) = reply else { continue };
            if reply.is_empty() {
                return;
            }
            if wr.write_all(&reply).await.is_err() || wr.flush().await.is_err() {
                return;
            }
            for (path, data, truncated) in std::mem::take(&mut conv.uploads) {
                let _ = self
                    .vfs()
                    .add_file(&path, &data, 0o644, chrono::Utc::now(), None);
                let _ = artifacts::store(
                    &tagged.session,
                    &path,
                    &data,
                    truncated,
                    fields! {"protocol" => "smb", "path" => path.clone()},
                )
                .await;
            }
            if conv.hang_up {
                return;
            }
        }
    }

    /// Answers one NetBIOS message; `Some(empty)` closes the connection.
    fn frame(&self, conv: &mut Conv, msg: &[u8], tagged: &Tagged) -> Option<Vec<u8>> {
        if msg.starts_with(b"\xffSMB") {
            let dialects = w::smb1_dialects(msg).unwrap_or_default();
            tagged.emit(
                EventKind::Request,
                fields! {"request" => "smb1_negotiate", "dialects" => dialects.join(",")},
            );
            let wildcard = dialects.iter().any(|d| d == "SMB 2.???");
            let smb2 = wildcard || dialects.iter().any(|d| d == "SMB 2.002");
            if !smb2 && self.samba.is_some() {
                // smbd with SMB1 off names no dialect, then hangs up.
                conv.hang_up = true;
                return Some(samba::smb1_no_dialect(msg).map(nbss).unwrap_or_default());
            }
            if !smb2 {
                // SMB1 disabled, as on current Windows: drop the connection.
                return Some(Vec::new());
            }
            let d = if wildcard { 0x02ff } else { 0x0202 };
            let h = w::Header {
                credit_charge: 0,
                command: cmd::NEGOTIATE,
                credits: 1,
                flags: 0,
                next: 0,
                message_id: 0,
                process_id: 0xfeff,
                tree_id: 0,
                session_id: 0,
            };
            let mut out = Vec::new();
            hdr(&mut out, &h, 0, 0, 0);
            out.extend_from_slice(&self.negotiate_body(d, &ntlm::spnego_init()));
            return Some(nbss(out));
        }
        let mut out = Vec::new();
        let mut at = 0usize;
        let mut count = 0;
        loop {
            let part = &msg[at..];
            let h = match w::header(part) {
                Ok(h) => h,
                Err(_) => {
                    if out.is_empty() {
                        tagged.emit_error("smb: malformed SMB2 header");
                        return Some(Vec::new());
                    }
                    break;
                }
            };
            let this_len = if h.next == 0 {
                part.len()
            } else {
                (h.next as usize).min(part.len())
            };
            let (st, body, sid, tid) = self.command(conv, &h, &part[..this_len], tagged);
            let start = out.len();
            hdr(&mut out, &h, st, sid, tid);
            out.extend_from_slice(&body);
            count += 1;
            if h.next == 0 || h.next as usize >= part.len() || count >= 16 {
                break;
            }
            while (out.len() - start) % 8 != 0 {
                out.push(0);
            }
            let next = (out.len() - start) as u32;
            out[start + 20..start + 24].copy_from_slice(&next.to_le_bytes());
            at += h.next as usize;
        }
        Some(nbss(out))
    }
}

/// Where a disk share lives in the decky's VFS.
pub fn share_root(name: &str) -> String {
    let safe: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '$'))
        .collect();
    format!("/srv/smb/{safe}")
}

fn resolve(conv: &Conv, h: &w::Header, fid: [u8; 16]) -> [u8; 16] {
    if h.flags & w::FLAG_RELATED != 0 && fid == [0xff; 16] {
        conv.last_file
    } else {
        fid
    }
}

/// Reads and drops `len` bytes, each read within `idle`.
async fn discard_idle(
    rd: &mut OwnedReadHalf,
    mut len: usize,
    idle: std::time::Duration,
) -> Option<()> {
    let mut buf = [0u8; 4096];
    while len > 0 {
        let want = len.min(buf.len());
        let n = tokio::time::timeout(idle, rd.read(&mut buf[..want]))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        len -= n;
    }
    Some(())
}

fn nbss(mut smb: Vec<u8>) -> Vec<u8> {
    let len = smb.len() as u32;
    let mut out = Vec::with_capacity(smb.len() + 4);
    out.extend_from_slice(&[0, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
    out.append(&mut smb);
    out
}

fn ioctl_body(code: u32, fid: &[u8; 16], output: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    le16(&mut b, 49);
    le16(&mut b, 0);
    le32(&mut b, code);
    b.extend_from_slice(fid);
    le32(&mut b, 112);
    le32(&mut b, 0);
    le32(&mut b, 112);
    le32(&mut b, output.len() as u32);
    le32(&mut b, 0);
    le32(&mut b, 0);
    b.extend_from_slice(output);
    b
}

impl Handler for SmbHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(self.serve(conn, session))
    }
}
