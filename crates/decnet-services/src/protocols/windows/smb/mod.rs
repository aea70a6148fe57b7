//! SMB (445, and 139 with a NetBIOS session request): an SMB1 negotiate
//! that offers SMB2 is switched to SMB2 as modern Windows does; SMB2
//! NEGOTIATE (2.0.2 – 3.0.2) and SESSION_SETUP with SPNEGO/NTLMSSP whose
//! CHALLENGE carries the persona's names and build. Every AUTHENTICATE is
//! captured as a hashcat line (5600/5500) and refused with
//! STATUS_LOGON_FAILURE, except the anonymous (null) session, which gets
//! IPC$ and a `srvsvc` pipe answering NetrShareEnum — enough for
//! `smbclient -L //host -N` to list IPC$, ADMIN$, C$ and a lure share.

use std::collections::HashMap;
use std::sync::Arc;

use decnet_core::EventKind;
use futures::future::BoxFuture;
use tokio::io::{AsyncWriteExt, BufWriter};

use super::ntlm::{self, Exchange, Message, ServerIdentity};
use crate::ctx::DeckyCtx;
use crate::io::read_exact_idle;
use crate::session::Session;
use crate::tls::Tagged;
use crate::wire::smb2::{self as w, cmd, ptype};
use crate::wire::WResult;
use crate::{artifacts, fields, Conn, Handler, Service, ServiceError};

mod fs;

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
    /// STATUS_PIPE_EMPTY.
    pub const PIPE_EMPTY: u32 = 0xC000_00D9;
}

const DIALECTS: &[u16] = &[0x0302, 0x0300, 0x0210, 0x0202];
const NDR_UUID: [u8; 16] = [
    0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60,
];
const SRVSVC_UUID: [u8; 16] = [
    0xc8, 0x4f, 0x32, 0x4b, 0x70, 0x16, 0xd3, 0x01, 0x12, 0x78, 0x5a, 0x47, 0xbf, 0x6e, 0xe1, 0x88,
];
const MAX_PIPE_OUT: usize = 64 * 1024;
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
    vfs: Arc<decnet_shell::Vfs>,
    /// The null session may open the lure share (`[decky.smb] null_share`).
    null_share: bool,
    guid: [u8; 16],
    shares: Vec<Share>,
    boot_filetime: u64,
}

/// The shares of a decky: IPC$, ADMIN$, C$ and a seeded lure share
/// (`[decky.smb] share = NAME` overrides the lure).
pub fn shares(decky: &DeckyCtx) -> Vec<Share> {
    use rand::seq::SliceRandom;
    let mut rng = decnet_core::DeckySeed::new(decky.name(), decky.generation).rng("smb-share");
    let lure = decky
        .config("smb", "share")
        .map(str::to_owned)
        .unwrap_or_else(|| {
            ["Finance", "Backups", "HR", "Shared", "Scans", "IT"]
                .choose(&mut rng)
                .copied()
                .unwrap_or("Shared")
                .to_owned()
        });
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
            kind: 0x8000_0003,
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
        let vfs = decky.vfs();
        let id = ServerIdentity::for_decky(decky);
        for s in shares.iter().filter(|s| s.kind == 0) {
            fs::seed(&vfs, &share_root(&s.name), &id.nb_computer, &id.nb_domain);
        }
        Ok(Arc::new(SmbHandler {
            vfs,
            null_share: decky.config("smb", "null_share") != Some("false"),
            id: Arc::new(id),
            guid: rng.gen(),
            shares,
            boot_filetime,
        }))
    }
}

#[derive(Default)]
struct Pipe {
    name: String,
    bound: bool,
    out: Vec<u8>,
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
        le64(&mut b, self.boot_filetime);
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

    /// Answers one DCE/RPC PDU written to a pipe.
    fn rpc(&self, pipe: &mut Pipe, input: &[u8], tagged: &Tagged) {
        let Ok((pdu, _)) = w::rpc_pdu(input) else {
            return;
        };
        let out = match pdu.ptype {
            ptype::BIND | ptype::ALTER => {
                let ctxs = w::bind_contexts(pdu.body).unwrap_or_default();
                pipe.bound = true;
                let mut b = Vec::new();
                le16(&mut b, 4280);
                le16(&mut b, 4280);
                le32(&mut b, 0x0001_2345);
                let addr = format!("\\PIPE\\{}\0", pipe.name);
                if pdu.ptype == ptype::BIND {
                    le16(&mut b, addr.len() as u16);
                    b.extend_from_slice(addr.as_bytes());
                } else {
                    le16(&mut b, 0);
                }
                while (b.len() + 16) % 4 != 0 {
                    b.push(0);
                }
                b.push(ctxs.len() as u8);
                b.extend_from_slice(&[0; 3]);
                for c in &ctxs {
                    if c.transfer.iter().any(|t| t.0 == NDR_UUID)
                        && c.abstract_syntax.0 == SRVSVC_UUID
                    {
                        le16(&mut b, 0);
                        le16(&mut b, 0);
                        b.extend_from_slice(&NDR_UUID);
                        le32(&mut b, 2);
                    } else {
                        le16(&mut b, 2);
                        le16(&mut b, 2);
                        b.extend_from_slice(&[0; 20]);
                    }
                }
                let t = if pdu.ptype == ptype::BIND {
                    ptype::BIND_ACK
                } else {
                    ptype::ALTER_RESP
                };
                rpc_frame(t, pdu.call_id, &b)
            }
            ptype::REQUEST => {
                let (ctx, opnum, stub) = w::rpc_request(pdu.body).unwrap_or((0, 0xffff, &[]));
                tagged.emit(
                    EventKind::Command,
                    fields! {
                        "command" => format!("{}:opnum{}", pipe.name, opnum),
                        "pipe" => pipe.name.clone(),
                        "opnum" => opnum as u64,
                    },
                );
                if pipe.name.eq_ignore_ascii_case("srvsvc") && opnum == 15 {
                    let level = stub_level(stub);
                    let mut b = Vec::new();
                    let ndr = share_enum_ndr(&self.shares, level);
                    le32(&mut b, ndr.len() as u32);
                    le16(&mut b, ctx);
                    b.push(0);
                    b.push(0);
                    b.extend_from_slice(&ndr);
                    rpc_frame(ptype::RESPONSE, pdu.call_id, &b)
                } else {
                    let mut b = Vec::new();
                    le32(&mut b, 32);
                    le16(&mut b, ctx);
                    b.push(0);
                    b.push(0);
                    le32(&mut b, 0x1c01_0002); // nca_s_op_rng_error
                    le32(&mut b, 0);
                    rpc_frame(ptype::FAULT, pdu.call_id, &b)
                }
            }
            _ => return,
        };
        if pipe.out.len() + out.len() <= MAX_PIPE_OUT {
            pipe.out.extend_from_slice(&out);
        }
    }

    /// Handles one SMB2 command; returns (status, body, session, tree).
    fn command(
        &self,
        conv: &mut Conv,
        h: &w::Header,
        msg: &[u8],
        tagged: &Tagged,
    ) -> (u32, Vec<u8>, u64, u32) {
        let sid = conv.session_id;
        let tid = h.tree_id;
        let session_ok = conv.anonymous && h.session_id == sid && sid != 0;
        match h.command {
            cmd::NEGOTIATE => {
                let offered = w::negotiate_dialects(msg).unwrap_or_default();
                let dialect = DIALECTS
                    .iter()
                    .copied()
                    .find(|d| offered.contains(d))
                    .unwrap_or(0);
                tagged.emit(
                    EventKind::Request,
                    fields! {
                        "request" => "negotiate",
                        "dialects" => offered.iter().map(|d| format!("{d:#06x}")).collect::<Vec<_>>().join(","),
                        "dialect" => format!("{dialect:#06x}"),
                    },
                );
                if dialect == 0 {
                    return (status::NOT_SUPPORTED, error_body(), 0, 0);
                }
                conv.dialect = dialect;
                (
                    status::SUCCESS,
                    self.negotiate_body(dialect, &ntlm::spnego_init()),
                    0,
                    0,
                )
            }
            cmd::SESSION_SETUP => self.session_setup(conv, h, msg, tagged),
            cmd::LOGOFF => {
                conv.anonymous = false;
                (status::SUCCESS, vec![4, 0, 0, 0], sid, 0)
            }
            cmd::ECHO => (status::SUCCESS, vec![4, 0, 0, 0], h.session_id, 0),
            _ if !session_ok => (status::SESSION_DELETED, error_body(), h.session_id, tid),
            cmd::TREE_CONNECT => {
                let path = w::tree_connect_path(msg).unwrap_or_default();
                let share = path.rsplit('\\').next().unwrap_or("").to_owned();
                let known = self
                    .shares
                    .iter()
                    .find(|s| s.name.eq_ignore_ascii_case(&share));
                let st = match known {
                    None => status::BAD_NETWORK_NAME,
                    Some(s) if s.kind == 0x8000_0003 => status::SUCCESS,
                    Some(s) if s.kind == 0 && self.null_share => status::SUCCESS,
                    Some(_) => status::ACCESS_DENIED,
                };
                let disk = known
                    .filter(|s| s.kind == 0)
                    .map(|s| (share_root(&s.name), s.name.clone()));
                tagged.emit(
                    EventKind::Command,
                    fields! {"command" => "tree_connect", "path" => path, "share" => share, "status" => format!("{st:#010x}")},
                );
                if st != status::SUCCESS || conv.trees.len() >= 16 {
                    return (st, error_body(), sid, 0);
                }
                conv.next_tree += 1;
                let t = conv.next_tree;
                let pipe = disk.is_none();
                conv.trees.insert(t, disk);
                (status::SUCCESS, Self::tree_body(pipe), sid, t)
            }
            cmd::TREE_DISCONNECT => {
                conv.trees.remove(&tid);
                (status::SUCCESS, vec![4, 0, 0, 0], sid, tid)
            }
            _ if !conv.trees.contains_key(&tid) => (status::NAME_DELETED, error_body(), sid, tid),
            _ if matches!(conv.trees.get(&tid), Some(Some(_))) => {
                let (root, share) = conv.trees.get(&tid).cloned().flatten().unwrap_or_default();
                let (st, body) = fs::command(&self.vfs, conv, h, msg, tagged, &root, &share);
                (st, body, sid, tid)
            }
            cmd::CREATE => {
                let name = w::create_name(msg).unwrap_or_default();
                let base = name.trim_start_matches('\\').to_ascii_lowercase();
                tagged.emit(
                    EventKind::Command,
                    fields! {"command" => "create", "path" => name.clone()},
                );
                if !matches!(base.as_str(), "srvsvc") || conv.files.len() >= MAX_OPEN {
                    return (status::NOT_FOUND, error_body(), sid, tid);
                }
                conv.next_file += 1;
                let mut fid = [0u8; 16];
                fid[..8].copy_from_slice(&conv.next_file.to_le_bytes());
                fid[8..].copy_from_slice(&(conv.next_file ^ 0x5a5a_0000_1111).to_le_bytes());
                conv.files.insert(
                    fid,
                    Pipe {
                        name: base,
                        ..Pipe::default()
                    },
                );
                conv.last_file = fid;
                (status::SUCCESS, self.create_body(&fid), sid, tid)
            }
            cmd::CLOSE => {
                let fid = resolve(conv, h, w::file_id(msg, 8).unwrap_or([0; 16]));
                if conv.files.remove(&fid).is_none() {
                    return (status::FILE_CLOSED, error_body(), sid, tid);
                }
                let mut b = Vec::new();
                le16(&mut b, 60);
                b.resize(60, 0);
                (status::SUCCESS, b, sid, tid)
            }
            cmd::WRITE => {
                let Ok((fid, _, data)) = w::write_req(msg) else {
                    return (status::INVALID_PARAMETER, error_body(), sid, tid);
                };
                let fid = resolve(conv, h, fid);
                let n = data.len() as u32;
                let Some(mut pipe) = conv.files.remove(&fid) else {
                    return (status::FILE_CLOSED, error_body(), sid, tid);
                };
                self.rpc(&mut pipe, data, tagged);
                conv.files.insert(fid, pipe);
                let mut b = Vec::new();
                le16(&mut b, 17);
                le16(&mut b, 0);
                le32(&mut b, n);
                le32(&mut b, 0);
                le32(&mut b, 0);
                b.push(0);
                (status::SUCCESS, b, sid, tid)
            }
            cmd::READ => {
                let Ok((len, fid)) = w::read_req(msg) else {
                    return (status::INVALID_PARAMETER, error_body(), sid, tid);
                };
                let fid = resolve(conv, h, fid);
                let Some(pipe) = conv.files.get_mut(&fid) else {
                    return (status::FILE_CLOSED, error_body(), sid, tid);
                };
                if pipe.out.is_empty() {
                    return (status::PIPE_EMPTY, error_body(), sid, tid);
                }
                let n = (len as usize).min(pipe.out.len()).min(65536);
                let data: Vec<u8> = pipe.out.drain(..n).collect();
                let st = if pipe.out.is_empty() {
                    status::SUCCESS
                } else {
                    status::BUFFER_OVERFLOW
                };
                let mut b = Vec::new();
                le16(&mut b, 17);
                b.push(80);
                b.push(0);
                le32(&mut b, data.len() as u32);
                le32(&mut b, pipe.out.len() as u32);
                le32(&mut b, 0);
                b.extend_from_slice(&data);
                (st, b, sid, tid)
            }
            cmd::IOCTL => self.ioctl(conv, h, msg, tagged),
            _ => (status::NOT_SUPPORTED, error_body(), sid, tid),
        }
    }

    fn ioctl(
        &self,
        conv: &mut Conv,
        h: &w::Header,
        msg: &[u8],
        tagged: &Tagged,
    ) -> (u32, Vec<u8>, u64, u32) {
        let (sid, tid) = (conv.session_id, h.tree_id);
        let Ok((code, fid, input, max_out)) = w::ioctl_req(msg) else {
            return (status::INVALID_PARAMETER, error_body(), sid, tid);
        };
        let fid = resolve(conv, h, fid);
        let output: Vec<u8> = match code {
            0x0011_C017 => {
                let Some(mut pipe) = conv.files.remove(&fid) else {
                    return (status::FILE_CLOSED, error_body(), sid, tid);
                };
                self.rpc(&mut pipe, input, tagged);
                let n = pipe.out.len().min(max_out as usize);
                let out: Vec<u8> = pipe.out.drain(..n).collect();
                let more = !pipe.out.is_empty();
                conv.files.insert(fid, pipe);
                if more {
                    return (
                        status::BUFFER_OVERFLOW,
                        ioctl_body(code, &fid, &out),
                        sid,
                        tid,
                    );
                }
                out
            }
            0x0014_0204 => {
                let mut b = Vec::new();
                le32(&mut b, if conv.dialect >= 0x0210 { 0x5 } else { 0x1 });
                b.extend_from_slice(&self.guid);
                le16(&mut b, 1);
                le16(&mut b, conv.dialect);
                b
            }
            0x0006_0194 => return (status::FS_DRIVER_REQUIRED, error_body(), sid, tid),
            _ => return (status::NOT_SUPPORTED, error_body(), sid, tid),
        };
        (status::SUCCESS, ioctl_body(code, &fid, &output), sid, tid)
    }

    fn session_setup(
        &self,
        conv: &mut Conv,
        _h: &w::Header,
        msg: &[u8],
        tagged: &Tagged,
    ) -> (u32, Vec<u8>, u64, u32) {
        let blob = w::session_setup_blob(msg).unwrap_or(&[]);
        if !blob.is_empty() {
            conv.spnego = blob[0] == 0x60 || blob[0] == 0xa1;
        }
        let body = |flags: u16, token: &[u8]| {
            let mut b = Vec::new();
            le16(&mut b, 9);
            le16(&mut b, flags);
            le16(&mut b, if token.is_empty() { 0 } else { 72 });
            le16(&mut b, token.len() as u16);
            if token.is_empty() {
                b.push(0);
            }
            b.extend_from_slice(token);
            b
        };
        match ntlm::find(blob) {
            Ok(Message::Negotiate { flags }) => {
                if conv.session_id == 0 {
                    conv.session_id = rand::random::<u64>() | 1;
                }
                let ch = conv.exchange.challenge_for(flags);
                let tok = if conv.spnego {
                    ntlm::spnego_resp(1, Some(&ch))
                } else {
                    ch
                };
                (status::MORE_PROCESSING, body(0, &tok), conv.session_id, 0)
            }
            Ok(Message::Authenticate(a)) => {
                let anon = a.is_anonymous();
                ntlm::emit_auth(tagged, &a, &conv.exchange.server_challenge, anon);
                if anon {
                    conv.anonymous = true;
                    let tok = if conv.spnego {
                        ntlm::spnego_resp(0, None)
                    } else {
                        Vec::new()
                    };
                    (status::SUCCESS, body(2, &tok), conv.session_id, 0)
                } else {
                    (status::LOGON_FAILURE, error_body(), conv.session_id, 0)
                }
            }
            _ => {
                tagged.emit_error("smb: session setup without NTLMSSP");
                (status::LOGON_FAILURE, error_body(), conv.session_id, 0)
            }
        }
    }

    async fn serve(self: Arc<Self>, conn: Conn, session: Session) {
        let idle = session.limits().idle_timeout;
        let tagged = Tagged::new(session);
        // Port 139 wants a NetBIOS session request first, like Windows.
        let mut need_session = conn.nominal_port == 139;
        let (mut rd, wr) = conn.stream.into_split();
        let mut wr = BufWriter::new(wr);
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
        };
        let mut msg = Vec::new();
        loop {
            let mut h4 = [0u8; 4];
            if read_exact_idle(&mut rd, &mut h4, idle).await.is_err() {
                return;
            }
            let (ty, len) = w::frame_header(h4);
            if len > w::MAX_FRAME {
                tagged.emit_error(format!("smb: frame of {len} bytes refused"));
                return;
            }
            msg.clear();
            msg.resize(len, 0);
            if read_exact_idle(&mut rd, &mut msg, idle).await.is_err() {
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
                0x00 => self.frame(&mut conv, &msg, &tagged),
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
                    .vfs
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
            if !wildcard && !dialects.iter().any(|d| d == "SMB 2.002") {
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
fn share_root(name: &str) -> String {
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

fn rpc_frame(ptype: u8, call_id: u32, body: &[u8]) -> Vec<u8> {
    let mut b = vec![5, 0, ptype, 3, 0x10, 0, 0, 0];
    le16(&mut b, (16 + body.len()) as u16);
    le16(&mut b, 0);
    le32(&mut b, call_id);
    b.extend_from_slice(body);
    b
}

/// Info level requested by a NetrShareEnum stub (1 when unreadable).
fn stub_level(stub: &[u8]) -> u32 {
    let read = |at: usize| -> WResult<u32> {
        stub.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| crate::wire::WireError::new("short"))
    };
    // [unique] ServerName: referent, then conformant varying string.
    let mut at = 0;
    if read(0).unwrap_or(0) != 0 {
        let actual = read(12).unwrap_or(0) as usize;
        at = 16 + (actual.min(1024) * 2);
        at = (at + 3) & !3;
    } else {
        at += 4;
    }
    read(at).ok().filter(|l| *l <= 1).unwrap_or(1)
}

fn ndr_string(b: &mut Vec<u8>, s: &str) {
    let units: Vec<u16> = s.encode_utf16().chain(std::iter::once(0)).collect();
    le32(b, units.len() as u32);
    le32(b, 0);
    le32(b, units.len() as u32);
    for u in units {
        le16(b, u);
    }
    while b.len() % 4 != 0 {
        b.push(0);
    }
}

/// NDR of a NetrShareEnum response (SHARE_ENUM_STRUCT, level 0 or 1).
pub fn share_enum_ndr(shares: &[Share], level: u32) -> Vec<u8> {
    let mut b = Vec::new();
    let n = shares.len() as u32;
    le32(&mut b, level);
    le32(&mut b, level);
    le32(&mut b, 0x0002_0000);
    le32(&mut b, n);
    le32(&mut b, 0x0002_0004);
    le32(&mut b, n);
    let mut refid = 0x0002_0008u32;
    for s in shares {
        le32(&mut b, refid);
        refid += 4;
        if level == 1 {
            le32(&mut b, s.kind);
            le32(&mut b, refid);
            refid += 4;
        }
    }
    for s in shares {
        ndr_string(&mut b, &s.name);
        if level == 1 {
            ndr_string(&mut b, &s.remark);
        }
    }
    le32(&mut b, n);
    le32(&mut b, refid);
    le32(&mut b, 0);
    le32(&mut b, 0);
    b
}

impl Handler for SmbHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(self.serve(conn, session))
    }
}
