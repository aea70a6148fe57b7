//! SMB2 (MS-SMB2) and the DCE/RPC (C706) pieces `smbclient -L` needs:
//! bounded decoders for the NetBIOS frame, SMB1 negotiate, SMB2 header and
//! the request bodies the server answers, and for DCE/RPC PDUs.

use super::{Cursor, WResult, WireError};

/// Largest NetBIOS frame accepted (MaxWriteSize 64 KiB + headers).
pub const MAX_FRAME: usize = 70 * 1024;
/// SMB2 header size.
pub const HEADER: usize = 64;

/// SMB2 commands.
pub mod cmd {
    /// NEGOTIATE.
    pub const NEGOTIATE: u16 = 0;
    /// SESSION_SETUP.
    pub const SESSION_SETUP: u16 = 1;
    /// LOGOFF.
    pub const LOGOFF: u16 = 2;
    /// TREE_CONNECT.
    pub const TREE_CONNECT: u16 = 3;
    /// TREE_DISCONNECT.
    pub const TREE_DISCONNECT: u16 = 4;
    /// CREATE.
    pub const CREATE: u16 = 5;
    /// CLOSE.
    pub const CLOSE: u16 = 6;
    /// FLUSH.
    pub const FLUSH: u16 = 7;
    /// READ.
    pub const READ: u16 = 8;
    /// WRITE.
    pub const WRITE: u16 = 9;
    /// IOCTL.
    pub const IOCTL: u16 = 11;
    /// ECHO.
    pub const ECHO: u16 = 13;
    /// QUERY_DIRECTORY.
    pub const QUERY_DIRECTORY: u16 = 14;
    /// QUERY_INFO.
    pub const QUERY_INFO: u16 = 16;
    /// SET_INFO.
    pub const SET_INFO: u16 = 17;
}

/// The first 4 bytes of a NetBIOS session frame: (type, length).
pub fn frame_header(b: [u8; 4]) -> (u8, usize) {
    (
        b[0],
        ((b[1] as usize & 1) << 16) | ((b[2] as usize) << 8) | b[3] as usize,
    )
}

/// A parsed SMB2 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Credit charge.
    pub credit_charge: u16,
    /// Command.
    pub command: u16,
    /// Credits requested.
    pub credits: u16,
    /// Flags.
    pub flags: u32,
    /// Offset of the next compounded command (0: last).
    pub next: u32,
    /// Message id.
    pub message_id: u64,
    /// Process id (sync).
    pub process_id: u32,
    /// Tree id.
    pub tree_id: u32,
    /// Session id.
    pub session_id: u64,
}

/// Flag: request is related to the previous one in a compound.
pub const FLAG_RELATED: u32 = 0x4;

/// Parses an SMB2 header at the start of `b`.
pub fn header(b: &[u8]) -> WResult<Header> {
    if b.len() < HEADER || &b[..4] != b"\xfeSMB" {
        return Err(WireError::new("smb2: bad header"));
    }
    let mut c = Cursor::new(&b[4..HEADER]);
    let _size = c.u16le()?;
    let credit_charge = c.u16le()?;
    let _status = c.u32le()?;
    let command = c.u16le()?;
    let credits = c.u16le()?;
    let flags = c.u32le()?;
    let next = c.u32le()?;
    let lo = c.u32le()? as u64;
    let message_id = lo | (c.u32le()? as u64) << 32;
    let process_id = c.u32le()?;
    let tree_id = c.u32le()?;
    let lo = c.u32le()? as u64;
    let session_id = lo | (c.u32le()? as u64) << 32;
    Ok(Header {
        credit_charge,
        command,
        credits,
        flags,
        next,
        message_id,
        process_id,
        tree_id,
        session_id,
    })
}

fn u16at(b: &[u8], at: usize) -> WResult<u16> {
    b.get(at..at + 2)
        .map(|x| u16::from_le_bytes([x[0], x[1]]))
        .ok_or_else(|| WireError::new("smb2: short body"))
}

fn u32at(b: &[u8], at: usize) -> WResult<u32> {
    b.get(at..at + 4)
        .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]))
        .ok_or_else(|| WireError::new("smb2: short body"))
}

/// A slice of `msg` (offsets are from the SMB2 header start).
fn slice(msg: &[u8], off: usize, len: usize) -> WResult<&[u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    msg.get(off..off.saturating_add(len))
        .ok_or_else(|| WireError::new("smb2: buffer outside message"))
}

/// UTF-16LE to String, lossy, bounded to 1024 code units.
pub fn utf16(b: &[u8]) -> String {
    let units = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take(1024);
    char::decode_utf16(units)
        .map(|r| r.unwrap_or('\u{fffd}'))
        .collect()
}

/// Dialects of an SMB2 NEGOTIATE request (`msg` starts at the header).
pub fn negotiate_dialects(msg: &[u8]) -> WResult<Vec<u16>> {
    let body = msg.get(HEADER..).unwrap_or(&[]);
    let count = u16at(body, 2)? as usize;
    let list = slice(body, 36, count.min(64) * 2)?;
    Ok(list
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect())
}

/// Negotiate contexts of an SMB 3.1.1 NEGOTIATE request, as (type, data),
/// at most 16; empty when the request carries none.
pub fn negotiate_contexts(msg: &[u8]) -> WResult<Vec<(u16, &[u8])>> {
    let body = msg.get(HEADER..).unwrap_or(&[]);
    let mut at = u32at(body, 28)? as usize;
    let count = (u16at(body, 32)? as usize).min(16);
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let kind = u16at(msg, at)?;
        let len = u16at(msg, at + 2)? as usize;
        out.push((kind, slice(msg, at + 8, len)?));
        at = (at + 8 + len).div_ceil(8) * 8;
    }
    Ok(out)
}

/// Security blob of a SESSION_SETUP request.
pub fn session_setup_blob(msg: &[u8]) -> WResult<&[u8]> {
    let body = msg.get(HEADER..).unwrap_or(&[]);
    let off = u16at(body, 12)? as usize;
    let len = u16at(body, 14)? as usize;
    slice(msg, off, len)
}

/// Path of a TREE_CONNECT request (`\\server\share`).
pub fn tree_connect_path(msg: &[u8]) -> WResult<String> {
    let body = msg.get(HEADER..).unwrap_or(&[]);
    let off = u16at(body, 4)? as usize;
    let len = u16at(body, 6)? as usize;
    Ok(utf16(slice(msg, off, len)?))
}

/// File name of a CREATE request.
pub fn create_name(msg: &[u8]) -> WResult<String> {
    let body = msg.get(HEADER..).unwrap_or(&[]);
    let off = u16at(body, 44)? as usize;
    let len = u16at(body, 46)? as usize;
    Ok(utf16(slice(msg, off, len)?))
}

/// FileId (16 bytes) at `at` in the body.
pub fn file_id(msg: &[u8], at: usize) -> WResult<[u8; 16]> {
    let b = msg
        .get(HEADER + at..HEADER + at + 16)
        .ok_or_else(|| WireError::new("smb2: short file id"))?;
    let mut id = [0u8; 16];
    id.copy_from_slice(b);
    Ok(id)
}

/// READ request: (length, file id).
pub fn read_req(msg: &[u8]) -> WResult<(u32, [u8; 16])> {
    let body = msg.get(HEADER..).unwrap_or(&[]);
    Ok((u32at(body, 4)?, file_id(msg, 16)?))
}

/// WRITE request: (file id, offset, data).
pub fn write_req(msg: &[u8]) -> WResult<([u8; 16], u64, &[u8])> {
    let body = msg.get(HEADER..).unwrap_or(&[]);
    let off = u16at(body, 2)? as usize;
    let len = u32at(body, 4)? as usize;
    let pos = u32at(body, 8)? as u64 | (u32at(body, 12)? as u64) << 32;
    Ok((file_id(msg, 16)?, pos, slice(msg, off, len)?))
}

/// IOCTL request: (ctl code, file id, input, max output).
pub fn ioctl_req(msg: &[u8]) -> WResult<(u32, [u8; 16], &[u8], u32)> {
    let body = msg.get(HEADER..).unwrap_or(&[]);
    let code = u32at(body, 4)?;
    let id = file_id(msg, 8)?;
    let in_off = u32at(body, 24)? as usize;
    let in_len = u32at(body, 28)? as usize;
    let max_out = u32at(body, 44)?;
    Ok((code, id, slice(msg, in_off, in_len)?, max_out))
}

/// Dialect strings of an SMB1 NEGOTIATE (`msg` starts at `\xffSMB`).
pub fn smb1_dialects(msg: &[u8]) -> WResult<Vec<String>> {
    if msg.len() < 35 || &msg[..4] != b"\xffSMB" || msg[4] != 0x72 {
        return Err(WireError::new("smb1: not a negotiate"));
    }
    let wc = msg[32] as usize;
    let at = 33 + wc * 2;
    let bc = u16at(msg, at)? as usize;
    let data = msg.get(at + 2..(at + 2 + bc).min(msg.len())).unwrap_or(&[]);
    Ok(data
        .split(|&b| b == 0)
        .filter(|s| s.first() == Some(&2))
        .take(32)
        .map(|s| String::from_utf8_lossy(&s[1..]).into_owned())
        .collect())
}

/// The NDR transfer syntax (2.0), as its UUID goes on the wire.
pub const NDR_UUID: [u8; 16] = [
    0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11, 0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60,
];
/// The `srvsvc` interface (3.0), as its UUID goes on the wire.
pub const SRVSVC_UUID: [u8; 16] = [
    0xc8, 0x4f, 0x32, 0x4b, 0x70, 0x16, 0xd3, 0x01, 0x12, 0x78, 0x5a, 0x47, 0xbf, 0x6e, 0xe1, 0x88,
];

/// A connection-oriented DCE/RPC PDU around `body`: version 5.0, first and
/// last fragment, little-endian, no authentication.
pub fn rpc_frame(ptype: u8, call_id: u32, body: &[u8]) -> Vec<u8> {
    let mut b = vec![5, 0, ptype, 3, 0x10, 0, 0, 0];
    b.extend_from_slice(&((16 + body.len()) as u16).to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&call_id.to_le_bytes());
    b.extend_from_slice(body);
    b
}

/// DCE/RPC packet types used.
pub mod ptype {
    /// request.
    pub const REQUEST: u8 = 0;
    /// response.
    pub const RESPONSE: u8 = 2;
    /// fault.
    pub const FAULT: u8 = 3;
    /// bind.
    pub const BIND: u8 = 11;
    /// bind_ack.
    pub const BIND_ACK: u8 = 12;
    /// alter_context.
    pub const ALTER: u8 = 14;
    /// alter_context_resp.
    pub const ALTER_RESP: u8 = 15;
}

/// A DCE/RPC connection-oriented PDU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpcPdu<'a> {
    /// Packet type.
    pub ptype: u8,
    /// Call id.
    pub call_id: u32,
    /// Body after the 16-byte header (auth trailer removed).
    pub body: &'a [u8],
}

/// Parses one PDU from the front of `b`; returns it and its length.
pub fn rpc_pdu(b: &[u8]) -> WResult<(RpcPdu<'_>, usize)> {
    if b.len() < 16 || b[0] != 5 {
        return Err(WireError::new("dcerpc: bad header"));
    }
    if b[4] & 0xf0 != 0x10 {
        return Err(WireError::new("dcerpc: big-endian not supported"));
    }
    let frag = u16at(b, 8)? as usize;
    let auth = u16at(b, 10)? as usize;
    if frag < 16 || frag > b.len() {
        return Err(WireError::new("dcerpc: bad fragment length"));
    }
    let end = if auth > 0 {
        frag.saturating_sub(auth + 8).max(16)
    } else {
        frag
    };
    Ok((
        RpcPdu {
            ptype: b[2],
            call_id: u32at(b, 12)?,
            body: &b[16..end],
        },
        frag,
    ))
}

/// One presentation context of a bind: (id, abstract uuid+ver, transfer syntaxes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// Context id.
    pub id: u16,
    /// Interface uuid (wire order) and version.
    pub abstract_syntax: ([u8; 16], u32),
    /// Offered transfer syntaxes.
    pub transfer: Vec<([u8; 16], u32)>,
}

fn syntax(c: &mut Cursor<'_>) -> WResult<([u8; 16], u32)> {
    let mut u = [0u8; 16];
    u.copy_from_slice(c.take(16)?);
    Ok((u, c.u32le()?))
}

/// Contexts of a bind / alter_context body.
pub fn bind_contexts(body: &[u8]) -> WResult<Vec<Context>> {
    let mut c = Cursor::new(body);
    c.take(8)?;
    let n = c.u8()? as usize;
    c.take(3)?;
    let mut out = Vec::new();
    for _ in 0..n.min(16) {
        let id = c.u16le()?;
        let nt = c.u8()? as usize;
        c.u8()?;
        let abstract_syntax = syntax(&mut c)?;
        let mut transfer = Vec::new();
        for _ in 0..nt.min(8) {
            transfer.push(syntax(&mut c)?);
        }
        out.push(Context {
            id,
            abstract_syntax,
            transfer,
        });
    }
    Ok(out)
}

/// A request body: (context id, opnum, stub).
pub fn rpc_request(body: &[u8]) -> WResult<(u16, u16, &[u8])> {
    let mut c = Cursor::new(body);
    c.u32le()?;
    let ctx = c.u16le()?;
    let opnum = c.u16le()?;
    Ok((ctx, opnum, c.rest()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn decoders_never_panic(b in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut m = b"\xfeSMB".to_vec();
            m.extend_from_slice(&b);
            let _ = header(&m);
            let _ = negotiate_dialects(&m);
            let _ = session_setup_blob(&m);
            let _ = tree_connect_path(&m);
            let _ = create_name(&m);
            let _ = read_req(&m);
            let _ = write_req(&m);
            let _ = ioctl_req(&m);
            let mut s1 = b"\xffSMB\x72".to_vec();
            s1.extend_from_slice(&b);
            let _ = smb1_dialects(&s1);
            let _ = rpc_pdu(&b);
            let _ = bind_contexts(&b);
            let _ = rpc_request(&b);
            if b.len() >= 4 {
                let (_, len) = frame_header([b[0], b[1], b[2], b[3]]);
                prop_assert!(len < 1 << 17);
            }
        }
    }

    #[test]
    fn smb1_dialect_list() {
        let mut m = vec![0xff, b'S', b'M', b'B', 0x72];
        m.extend_from_slice(&[0; 27]);
        m.push(0);
        let d = b"\x02NT LM 0.12\0\x02SMB 2.002\0\x02SMB 2.???\0";
        m.extend_from_slice(&(d.len() as u16).to_le_bytes());
        m.extend_from_slice(d);
        assert_eq!(
            smb1_dialects(&m).unwrap(),
            vec!["NT LM 0.12", "SMB 2.002", "SMB 2.???"]
        );
    }
}
