//! The SMB2 dialog of a share browse between deckies, as Windows or
//! smbclient opens one: NEGOTIATE, an anonymous NTLMSSP session setup
//! (NEGOTIATE, then an empty AUTHENTICATE: a null session), a tree
//! connect to the server's `IPC$`, then LOGOFF.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::ChatterError;

const NEGOTIATE: u16 = 0;
const SESSION_SETUP: u16 = 1;
const LOGOFF: u16 = 2;
const TREE_CONNECT: u16 = 3;
const STATUS_SUCCESS: u32 = 0;
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
}

/// One SMB2 exchange on a connection.
struct Client {
    stream: TcpStream,
    message_id: u64,
    session_id: u64,
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
        // The browse's commands need no tree id (LOGOFF ends them all).
        smb.extend_from_slice(&0u32.to_le_bytes());
        smb.extend_from_slice(&self.session_id.to_le_bytes());
        smb.extend_from_slice(&[0; 16]);
        smb.extend_from_slice(body);
        self.message_id += 1;
        let mut frame = (smb.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&smb);
        self.stream.write_all(&frame).await?;
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).await?;
        let n = u32::from_be_bytes([0, len[1], len[2], len[3]]) as usize;
        if !(64..=MAX_ANSWER).contains(&n) {
            return Err(ChatterError::Protocol(format!("SMB2 answer of {n} bytes")));
        }
        let mut answer = vec![0u8; n];
        self.stream.read_exact(&mut answer).await?;
        if &answer[..4] != b"\xfeSMB" {
            return Err(ChatterError::Protocol(format!(
                "not an SMB2 answer: {:02x?}",
                &answer[..8]
            )));
        }
        let u32_at =
            |i: usize| u32::from_le_bytes([answer[i], answer[i + 1], answer[i + 2], answer[i + 3]]);
        let session_id = u64::from(u32_at(40)) | (u64::from(u32_at(44)) << 32);
        Ok(Answer {
            status: u32_at(8),
            session_id,
            tree_id: u32_at(36),
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

/// The whole browse dialog against `dst`.
pub(super) async fn browse(stream: TcpStream, dst: SocketAddr) -> Result<(), ChatterError> {
    let mut c = Client {
        stream,
        message_id: 0,
        session_id: 0,
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
    c.expect(LOGOFF, &4u32.to_le_bytes(), STATUS_SUCCESS)
        .await?;
    Ok(())
}
