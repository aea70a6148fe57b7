//! SMB2 commands: one method per command. NEGOTIATE, SESSION_SETUP,
//! LOGOFF and ECHO need no session; everything else needs the anonymous
//! session, and file commands on a disk tree go to the lure share (`fs`).

use decnet_core::EventKind;

use super::rpc::Pipe;
use super::{error_body, fs, le16, le32, ntlm, resolve, share_root, status, Conv, SmbHandler};
use super::{ioctl_body, MAX_OPEN};
use crate::fields;
use crate::protocols::windows::ntlm::Message;
use crate::tls::Tagged;
use crate::wire::smb2::{self as w, cmd};

/// SMB2 dialects offered, best first.
const DIALECTS: &[u16] = &[0x0302, 0x0300, 0x0210, 0x0202];
/// Samba 4.x adds SMB 3.1.1.
const SAMBA_DIALECTS: &[u16] = &[0x0311, 0x0302, 0x0300, 0x0210, 0x0202];

/// What a command answers: (status, body, session id, tree id).
pub(super) type Answer = (u32, Vec<u8>, u64, u32);

/// The 4-byte body of LOGOFF/ECHO/TREE_DISCONNECT responses.
fn empty_body() -> Vec<u8> {
    vec![4, 0, 0, 0]
}

impl SmbHandler {
    /// Handles one SMB2 command.
    pub(super) fn command(
        &self,
        conv: &mut Conv,
        h: &w::Header,
        msg: &[u8],
        tagged: &Tagged,
    ) -> Answer {
        let sid = conv.session_id;
        let tid = h.tree_id;
        let session_ok = conv.anonymous && h.session_id == sid && sid != 0;
        match h.command {
            cmd::NEGOTIATE => self.negotiate(conv, msg, tagged),
            cmd::SESSION_SETUP => self.session_setup(conv, msg, tagged),
            cmd::LOGOFF => {
                conv.anonymous = false;
                (status::SUCCESS, empty_body(), sid, 0)
            }
            cmd::ECHO => (status::SUCCESS, empty_body(), h.session_id, 0),
            _ if !session_ok => (status::SESSION_DELETED, error_body(), h.session_id, tid),
            cmd::TREE_CONNECT => self.tree_connect(conv, msg, tagged),
            cmd::TREE_DISCONNECT => {
                conv.trees.remove(&tid);
                (status::SUCCESS, empty_body(), sid, tid)
            }
            _ if !conv.trees.contains_key(&tid) => (status::NAME_DELETED, error_body(), sid, tid),
            _ if matches!(conv.trees.get(&tid), Some(Some(_))) => {
                let (root, share) = conv.trees.get(&tid).cloned().flatten().unwrap_or_default();
                let tree = fs::Tree {
                    vfs: &self.vfs(),
                    h,
                    msg,
                    tagged,
                    root: &root,
                    share: &share,
                };
                let (st, body) = fs::command(&tree, conv);
                (st, body, sid, tid)
            }
            cmd::CREATE => self.pipe_create(conv, h, msg, tagged),
            cmd::CLOSE => pipe_close(conv, h, msg),
            cmd::WRITE => self.pipe_write(conv, h, msg, tagged),
            cmd::READ => pipe_read(conv, h, msg),
            cmd::IOCTL => self.ioctl(conv, h, msg, tagged),
            _ => (status::NOT_SUPPORTED, error_body(), sid, tid),
        }
    }

    fn negotiate(&self, conv: &mut Conv, msg: &[u8], tagged: &Tagged) -> Answer {
        let offered = w::negotiate_dialects(msg).unwrap_or_default();
        let ours = if self.samba.is_some() {
            SAMBA_DIALECTS
        } else {
            DIALECTS
        };
        let dialect = ours
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
        let mut body = self.negotiate_body(dialect, &ntlm::spnego_init());
        if dialect == 0x0311 {
            let offered = w::negotiate_contexts(msg).unwrap_or_default();
            let (contexts, count) = super::contexts::answer(&offered, rand::random());
            // Contexts start 8-aligned from the SMB2 header (64 bytes).
            while body.len() % 8 != 0 {
                body.push(0);
            }
            let offset = (w::HEADER + body.len()) as u32;
            body[6..8].copy_from_slice(&count.to_le_bytes());
            body[60..64].copy_from_slice(&offset.to_le_bytes());
            body.extend_from_slice(&contexts);
        }
        (status::SUCCESS, body, 0, 0)
    }

    /// IPC$ always; the lure share only when the null session may see it.
    fn tree_connect(&self, conv: &mut Conv, msg: &[u8], tagged: &Tagged) -> Answer {
        let sid = conv.session_id;
        let path = w::tree_connect_path(msg).unwrap_or_default();
        let share = path.rsplit('\\').next().unwrap_or("").to_owned();
        let known = self
            .shares
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(&share));
        let lure = known.filter(|s| s.name == self.lure);
        let st = match known {
            None => status::BAD_NETWORK_NAME,
            Some(s) if s.kind == super::samba::IPC => status::SUCCESS,
            Some(_) if lure.is_some() && self.null_share => status::SUCCESS,
            Some(_) => status::ACCESS_DENIED,
        };
        let disk = lure.map(|s| (share_root(&s.name), s.name.clone()));
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

    /// Opens a named pipe of IPC$ (only `srvsvc` exists).
    fn pipe_create(&self, conv: &mut Conv, h: &w::Header, msg: &[u8], tagged: &Tagged) -> Answer {
        let (sid, tid) = (conv.session_id, h.tree_id);
        let name = w::create_name(msg).unwrap_or_default();
        let base = name.trim_start_matches('\\').to_ascii_lowercase();
        tagged.emit(
            EventKind::Command,
            fields! {"command" => "create", "path" => name.clone()},
        );
        if base.is_empty() && self.samba.is_some() {
            // smbd connects to the pipe's socket by name; an empty name is
            // the socket directory itself, which refuses the connection.
            return (status::CONNECTION_REFUSED, error_body(), sid, tid);
        }
        if !matches!(base.as_str(), "srvsvc") || conv.files.len() >= MAX_OPEN {
            return (status::NOT_FOUND, error_body(), sid, tid);
        }
        conv.next_file += 1;
        let mut fid = [0u8; 16];
        fid[..8].copy_from_slice(&conv.next_file.to_le_bytes());
        fid[8..].copy_from_slice(&(conv.next_file ^ 0x5a5a_0000_1111).to_le_bytes());
        conv.files.insert(fid, Pipe::open(base));
        conv.last_file = fid;
        (status::SUCCESS, self.create_body(&fid), sid, tid)
    }

    /// A write to a pipe is an RPC PDU; its answer waits for a READ.
    fn pipe_write(&self, conv: &mut Conv, h: &w::Header, msg: &[u8], tagged: &Tagged) -> Answer {
        let (sid, tid) = (conv.session_id, h.tree_id);
        let Ok((fid, _, data)) = w::write_req(msg) else {
            return (status::INVALID_PARAMETER, error_body(), sid, tid);
        };
        let fid = resolve(conv, h, fid);
        let n = data.len() as u32;
        let Some(pipe) = conv.files.get_mut(&fid) else {
            return (status::FILE_CLOSED, error_body(), sid, tid);
        };
        pipe.rpc(data, &self.shares, tagged);
        let mut b = Vec::new();
        le16(&mut b, 17);
        le16(&mut b, 0);
        le32(&mut b, n);
        le32(&mut b, 0);
        le32(&mut b, 0);
        b.push(0);
        (status::SUCCESS, b, sid, tid)
    }

    fn ioctl(&self, conv: &mut Conv, h: &w::Header, msg: &[u8], tagged: &Tagged) -> Answer {
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
                pipe.rpc(input, &self.shares, tagged);
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

    fn session_setup(&self, conv: &mut Conv, msg: &[u8], tagged: &Tagged) -> Answer {
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
                // Samba (`map to guest = bad user`, an empty passdb) makes
                // every named user a bad user: the session is the guest's.
                let guest = !anon && self.samba.is_some();
                if anon || guest {
                    conv.anonymous = true;
                    let tok = if conv.spnego {
                        ntlm::spnego_resp(0, None)
                    } else {
                        Vec::new()
                    };
                    // SMB2_SESSION_FLAG_IS_NULL / IS_GUEST.
                    let flags = if anon { 2 } else { 1 };
                    (status::SUCCESS, body(flags, &tok), conv.session_id, 0)
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
}

fn pipe_close(conv: &mut Conv, h: &w::Header, msg: &[u8]) -> Answer {
    let (sid, tid) = (conv.session_id, h.tree_id);
    let fid = resolve(conv, h, w::file_id(msg, 8).unwrap_or([0; 16]));
    if conv.files.remove(&fid).is_none() {
        return (status::FILE_CLOSED, error_body(), sid, tid);
    }
    let mut b = Vec::new();
    le16(&mut b, 60);
    b.resize(60, 0);
    (status::SUCCESS, b, sid, tid)
}

/// Hands out the pipe's pending RPC output.
fn pipe_read(conv: &mut Conv, h: &w::Header, msg: &[u8]) -> Answer {
    let (sid, tid) = (conv.session_id, h.tree_id);
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
