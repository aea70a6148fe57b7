//! The SMB2 dialog of a share browse between deckies, as `net view` or
//! `smbclient -L` runs one: NEGOTIATE, an anonymous NTLMSSP session setup
//! (NEGOTIATE, then an empty AUTHENTICATE: a null session), a tree
//! connect to the server's `IPC$`, the `srvsvc` pipe opened, a DCE/RPC
//! bind and a NetrShareEnum call through it (the share list a sniffer
//! sees), the pipe closed, the tree disconnected, then LOGOFF.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::ChatterError;
use crate::wire::smb2::cmd::{
    CLOSE, CREATE, IOCTL, LOGOFF, NEGOTIATE, SESSION_SETUP, TREE_CONNECT, TREE_DISCONNECT,
};
use crate::wire::smb2::{frame_header, header, ptype, rpc_frame, NDR_UUID, SRVSVC_UUID};

const STATUS_SUCCESS: u32 = 0;
/// The pipe's answer did not fit `MAX_PIPE_READ` (the rest stays queued).
const STATUS_BUFFER_OVERFLOW: u32 = 0x8000_0005;
/// FSCTL_PIPE_TRANSCEIVE: write one RPC PDU to a pipe, read its answer.
const PIPE_TRANSCEIVE: u32 = 0x0011_C017;
/// Output asked of a transceive, as Windows asks.
const MAX_PIPE_READ: u32 = 4280;
/// NetrShareEnum's operation number in `srvsvc`.
const NETR_SHARE_ENUM: u16 = 15;
const STATUS_MORE_PROCESSING_REQUIRED: u32 = 0xC000_0016;
/// Largest answer read (a negotiate answer with its SPNEGO hint is ~300 B).
const MAX_ANSWER: usize = 64 * 1024;
/// NTLMSSP flags of a null session: Unicode, OEM, request target, NTLM,
/// always sign, extended session security, 128-bit, 56-bit.
const NTLM_FLAGS: u32 = 0xE208_8207;

/// What an SMB2 answer says: its status and the ids it sets.
struct Answer {
    status: u32,
    session_id: u64,
    tree_id: u32,
    /// Everything after the 64-byte header (offsets in an answer's body
    /// count from the header's start, so `at` subtracts it).
    body: Vec<u8>,
}

impl Answer {
    /// `len` bytes at `offset` counted from the SMB2 header's start.
    fn at(&self, offset: usize, len: usize) -> Result<&[u8], ChatterError> {
        offset
            .checked_sub(64)
            .and_then(|o| self.body.get(o..o.checked_add(len)?))
            .ok_or_else(|| ChatterError::Protocol("SMB2 answer shorter than it says".into()))
    }

    fn u32_at(&self, body_offset: usize) -> Result<u32, ChatterError> {
        let b = self.at(64 + body_offset, 4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// One SMB2 exchange on a connection.
struct Client {
    stream: TcpStream,
    message_id: u64,
    session_id: u64,
    tree_id: u32,
}

impl Client {
    /// Sends `command` with `body` and reads its answer.
    async fn call(&mut self, command: u16, body: &[u8]) -> Result<Answer, ChatterError> {
        let mut smb = Vec::with_capacity(64 + body.len());
        smb.extend_from_slice(b"\xfeSMB");
        smb.extend_from_slice(&64u16.to_le_bytes());
        // Credit charge, status.
        smb.extend_from_slice(&[0; 6]);
        smb.extend_from_slice(&command.to_le_bytes());
        // Credits asked, flags, next command.
        smb.extend_from_slice(&31u16.to_le_bytes());
        smb.extend_from_slice(&[0; 8]);
        smb.extend_from_slice(&self.message_id.to_le_bytes());
        // Process id, tree id, session id, signature.
        smb.extend_from_slice(&0xfeffu32.to_le_bytes());
        smb.extend_from_slice(&self.tree_id.to_le_bytes());
        smb.extend_from_slice(&self.session_id.to_le_bytes());
        smb.extend_from_slice(&[0; 16]);
        smb.extend_from_slice(body);
        self.message_id += 1;
        let mut frame = (smb.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&smb);
        self.stream.write_all(&frame).await?;
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).await?;
        let (_, n) = frame_header(len);
        if !(64..=MAX_ANSWER).contains(&n) {
            return Err(ChatterError::Protocol(format!("SMB2 answer of {n} bytes")));
        }
        let mut answer = vec![0u8; n];
        self.stream.read_exact(&mut answer).await?;
        let header = header(&answer).map_err(|_| {
            ChatterError::Protocol(format!("not an SMB2 answer: {:02x?}", &answer[..8]))
        })?;
        Ok(Answer {
            // The status is the one header field the server's parser skips.
            status: u32::from_le_bytes([answer[8], answer[9], answer[10], answer[11]]),
            session_id: header.session_id,
            tree_id: header.tree_id,
            body: answer.split_off(64),
        })
    }

    /// `call`, which must answer `want`.
    async fn expect(
        &mut self,
        command: u16,
        body: &[u8],
        want: u32,
    ) -> Result<Answer, ChatterError> {
        let a = self.call(command, body).await?;
        if a.status == want {
            Ok(a)
        } else {
            Err(ChatterError::Protocol(format!(
                "SMB2 command {command}: status {:#010x}, expected {want:#010x}",
                a.status
            )))
        }
    }
}

/// NEGOTIATE offering 2.0.2 to 3.0.2 (signing enabled).
fn negotiate_body() -> Vec<u8> {
    let dialects: [u16; 4] = [0x0202, 0x0210, 0x0300, 0x0302];
    let mut b = Vec::with_capacity(36 + 8);
    b.extend_from_slice(&36u16.to_le_bytes());
    b.extend_from_slice(&(dialects.len() as u16).to_le_bytes());
    // Security mode, reserved, capabilities, client GUID, start time.
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&[0; 2 + 4]);
    b.extend_from_slice(&rand::random::<[u8; 16]>());
    b.extend_from_slice(&[0; 8]);
    for d in dialects {
        b.extend_from_slice(&d.to_le_bytes());
    }
    b
}

/// SESSION_SETUP carrying a raw NTLMSSP `token`.
fn session_setup_body(token: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(24 + token.len());
    b.extend_from_slice(&25u16.to_le_bytes());
    // Flags, security mode (signing enabled), capabilities, channel.
    b.push(0);
    b.push(1);
    b.extend_from_slice(&[0; 8]);
    // Security buffer offset (after the header and this fixed part), length.
    b.extend_from_slice(&(64u16 + 24).to_le_bytes());
    b.extend_from_slice(&(token.len() as u16).to_le_bytes());
    // Previous session id.
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(token);
    b
}

/// NTLMSSP NEGOTIATE without domain or workstation.
fn ntlm_negotiate() -> Vec<u8> {
    let mut t = Vec::with_capacity(32);
    t.extend_from_slice(b"NTLMSSP\0");
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(&NTLM_FLAGS.to_le_bytes());
    t.extend_from_slice(&[0; 16]);
    t
}

/// NTLMSSP AUTHENTICATE of a null session: every field empty.
fn ntlm_anonymous() -> Vec<u8> {
    let mut t = Vec::with_capacity(64);
    t.extend_from_slice(b"NTLMSSP\0");
    t.extend_from_slice(&3u32.to_le_bytes());
    // LM, NT, domain, user, workstation, session key: length, room, offset.
    for _ in 0..6 {
        t.extend_from_slice(&0u16.to_le_bytes());
        t.extend_from_slice(&0u16.to_le_bytes());
        t.extend_from_slice(&64u32.to_le_bytes());
    }
    t.extend_from_slice(&(NTLM_FLAGS | 0x800).to_le_bytes());
    t
}

/// TREE_CONNECT to `path` (`\\server\share`).
fn tree_connect_body(path: &str) -> Vec<u8> {
    let name: Vec<u8> = path.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut b = Vec::with_capacity(8 + name.len());
    b.extend_from_slice(&9u16.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&(64u16 + 8).to_le_bytes());
    b.extend_from_slice(&(name.len() as u16).to_le_bytes());
    b.extend_from_slice(&name);
    b
}

/// CREATE of the named pipe `name` on the IPC$ tree.
fn create_pipe_body(name: &str) -> Vec<u8> {
    let name: Vec<u8> = name.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let mut b = Vec::with_capacity(56 + name.len());
    b.extend_from_slice(&57u16.to_le_bytes());
    // Security flags, oplock level, impersonation level (impersonation).
    b.extend_from_slice(&[0, 0]);
    b.extend_from_slice(&2u32.to_le_bytes());
    // Create flags, reserved.
    b.extend_from_slice(&[0; 16]);
    // Desired access (read/write data and attributes, as smbclient asks),
    // file attributes, share access (all), disposition (open), options.
    b.extend_from_slice(&0x0012_019fu32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&7u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&0x0040_0040u32.to_le_bytes());
    b.extend_from_slice(&(64u16 + 56).to_le_bytes());
    b.extend_from_slice(&(name.len() as u16).to_le_bytes());
    // No create contexts.
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&name);
    b
}

/// IOCTL FSCTL_PIPE_TRANSCEIVE of `pdu` on the pipe `fid`.
fn transceive_body(fid: &[u8], pdu: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(56 + pdu.len());
    b.extend_from_slice(&57u16.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&PIPE_TRANSCEIVE.to_le_bytes());
    b.extend_from_slice(fid);
    let input_at = 64u32 + 56;
    b.extend_from_slice(&input_at.to_le_bytes());
    b.extend_from_slice(&(pdu.len() as u32).to_le_bytes());
    // Max input answer, output offset and count (none sent).
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&input_at.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&MAX_PIPE_READ.to_le_bytes());
    // Flags: an FSCTL; reserved.
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(pdu);
    b
}

/// BIND to `srvsvc` with the NDR transfer syntax in context 0.
fn srvsvc_bind() -> Vec<u8> {
    let mut b = Vec::with_capacity(56);
    // Max transmit and receive fragment, no association group.
    b.extend_from_slice(&4280u16.to_le_bytes());
    b.extend_from_slice(&4280u16.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    // One context: id 0, one transfer syntax.
    b.extend_from_slice(&[1, 0, 0, 0]);
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&[1, 0]);
    for (uuid, version) in [(SRVSVC_UUID, 3u32), (NDR_UUID, 2)] {
        b.extend_from_slice(&uuid);
        b.extend_from_slice(&version.to_le_bytes());
    }
    rpc_frame(ptype::BIND, 1, &b)
}

/// NetrShareEnum (level 1, as `net view` asks) for the server `\\ip`.
fn share_enum_request(server: &str) -> Vec<u8> {
    let name: Vec<u16> = format!("\\\\{server}")
        .encode_utf16()
        .chain(std::iter::once(0))
        .collect();
    let mut stub = Vec::with_capacity(64 + name.len() * 2);
    // [unique] ServerName: referent, max count, offset, actual count, text.
    stub.extend_from_slice(&0x0002_0000u32.to_le_bytes());
    stub.extend_from_slice(&(name.len() as u32).to_le_bytes());
    stub.extend_from_slice(&0u32.to_le_bytes());
    stub.extend_from_slice(&(name.len() as u32).to_le_bytes());
    for unit in name {
        stub.extend_from_slice(&unit.to_le_bytes());
    }
    while stub.len() % 4 != 0 {
        stub.push(0);
    }
    // Level 1, its union switch, a container with no entries yet.
    stub.extend_from_slice(&1u32.to_le_bytes());
    stub.extend_from_slice(&1u32.to_le_bytes());
    stub.extend_from_slice(&0x0002_0004u32.to_le_bytes());
    stub.extend_from_slice(&[0; 8]);
    // Preferred maximum length (all), [unique] resume handle 0.
    stub.extend_from_slice(&u32::MAX.to_le_bytes());
    stub.extend_from_slice(&0x0002_0008u32.to_le_bytes());
    stub.extend_from_slice(&0u32.to_le_bytes());
    let mut b = Vec::with_capacity(8 + stub.len());
    b.extend_from_slice(&(stub.len() as u32).to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&NETR_SHARE_ENUM.to_le_bytes());
    b.extend_from_slice(&stub);
    rpc_frame(ptype::REQUEST, 2, &b)
}

/// Sends `pdu` through the pipe `fid`, returns the answering PDU, which
/// must be of type `want`.
async fn transceive(
    c: &mut Client,
    fid: &[u8],
    pdu: &[u8],
    want: u8,
) -> Result<Vec<u8>, ChatterError> {
    let a = c.call(IOCTL, &transceive_body(fid, pdu)).await?;
    if a.status != STATUS_SUCCESS && a.status != STATUS_BUFFER_OVERFLOW {
        return Err(ChatterError::Protocol(format!(
            "pipe transceive: status {:#010x}",
            a.status
        )));
    }
    let out = a
        .at(a.u32_at(32)? as usize, a.u32_at(36)? as usize)?
        .to_vec();
    match out.get(2) {
        Some(&t) if t == want => Ok(out),
        _ => Err(ChatterError::Protocol(format!(
            "DCE/RPC answer {:02x?}, expected packet type {want}",
            out.get(..4)
        ))),
    }
}

/// The number of shares a NetrShareEnum level-1 answer lists.
fn shares_listed(response: &[u8]) -> Option<u32> {
    // 16-byte common header, 8 bytes of response header, then the stub:
    // level, union switch, container referent, entries read.
    let b = response.get(36..40)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Opens `srvsvc` on the connected IPC$ tree and lists the shares.
async fn list_shares(c: &mut Client, server: &str) -> Result<u32, ChatterError> {
    let open = c
        .expect(CREATE, &create_pipe_body("srvsvc"), STATUS_SUCCESS)
        .await?;
    let fid = open.at(64 + 64, 16)?.to_vec();
    transceive(c, &fid, &srvsvc_bind(), ptype::BIND_ACK).await?;
    let answer = transceive(c, &fid, &share_enum_request(server), ptype::RESPONSE).await?;
    let mut close = Vec::with_capacity(24);
    close.extend_from_slice(&24u16.to_le_bytes());
    close.extend_from_slice(&[0; 6]);
    close.extend_from_slice(&fid);
    c.expect(CLOSE, &close, STATUS_SUCCESS).await?;
    shares_listed(&answer)
        .filter(|n| *n > 0)
        .ok_or_else(|| ChatterError::Protocol("NetrShareEnum listed no share".into()))
}

/// The whole browse dialog against `dst`.
pub(super) async fn browse(stream: TcpStream, dst: SocketAddr) -> Result<(), ChatterError> {
    let mut c = Client {
        stream,
        message_id: 0,
        session_id: 0,
        tree_id: 0,
    };
    c.expect(NEGOTIATE, &negotiate_body(), STATUS_SUCCESS)
        .await?;
    let challenge = c
        .expect(
            SESSION_SETUP,
            &session_setup_body(&ntlm_negotiate()),
            STATUS_MORE_PROCESSING_REQUIRED,
        )
        .await?;
    c.session_id = challenge.session_id;
    c.expect(
        SESSION_SETUP,
        &session_setup_body(&ntlm_anonymous()),
        STATUS_SUCCESS,
    )
    .await?;
    let tree = c
        .expect(
            TREE_CONNECT,
            &tree_connect_body(&format!("\\\\{}\\IPC$", dst.ip())),
            STATUS_SUCCESS,
        )
        .await?;
    if tree.tree_id == 0 {
        return Err(ChatterError::Protocol(
            "IPC$ connected without a tree id".into(),
        ));
    }
    c.tree_id = tree.tree_id;
    list_shares(&mut c, &dst.ip().to_string()).await?;
    c.expect(TREE_DISCONNECT, &4u32.to_le_bytes(), STATUS_SUCCESS)
        .await?;
    c.tree_id = 0;
    c.expect(LOGOFF, &4u32.to_le_bytes(), STATUS_SUCCESS)
        .await?;
    Ok(())
}
