//! Named pipes over IPC$: the DCE/RPC bind and request PDUs of `srvsvc`,
//! enough to answer NetrShareEnum (what `smbclient -L` and share
//! enumeration scripts call). Other operations get an RPC fault.

use decnet_core::EventKind;

use super::{le16, le32, Share};
use crate::fields;
use crate::tls::Tagged;
use crate::wire::smb2::{self as w, ptype, rpc_frame, NDR_UUID, SRVSVC_UUID};
use crate::wire::WResult;

/// Most bytes of RPC output a pipe holds for the client to read.
const MAX_PIPE_OUT: usize = 64 * 1024;

/// An open named pipe of the IPC$ tree.
#[derive(Default)]
pub(super) struct Pipe {
    pub(super) name: String,
    bound: bool,
    pub(super) out: Vec<u8>,
}

impl Pipe {
    /// A freshly opened pipe.
    pub(super) fn open(name: String) -> Pipe {
        Pipe {
            name,
            ..Pipe::default()
        }
    }

    /// Answers one DCE/RPC PDU written to the pipe.
    pub(super) fn rpc(&mut self, input: &[u8], shares: &[Share], tagged: &Tagged) {
        let Ok((pdu, _)) = w::rpc_pdu(input) else {
            return;
        };
        let out = match pdu.ptype {
            ptype::BIND | ptype::ALTER => {
                let ctxs = w::bind_contexts(pdu.body).unwrap_or_default();
                self.bound = true;
                let mut b = Vec::new();
                le16(&mut b, 4280);
                le16(&mut b, 4280);
                le32(&mut b, 0x0001_2345);
                let addr = format!("\\PIPE\\{}\0", self.name);
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
                        "command" => format!("{}:opnum{}", self.name, opnum),
                        "pipe" => self.name.clone(),
                        "opnum" => opnum as u64,
                    },
                );
                if self.name.eq_ignore_ascii_case("srvsvc") && opnum == 15 {
                    let level = stub_level(stub);
                    let mut b = Vec::new();
                    let ndr = share_enum_ndr(shares, level);
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
        if self.out.len() + out.len() <= MAX_PIPE_OUT {
            self.out.extend_from_slice(&out);
        }
    }
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
