//! NTLMSSP (MS-NLMP) as a server that never knows the password: parses
//! NEGOTIATE and AUTHENTICATE, builds a CHALLENGE carrying the persona's
//! names and OS build, and turns a captured AUTHENTICATE into a
//! hashcat-ready line (mode 5600 NetNTLMv2, 5500 NetNTLMv1). Shared by
//! smb and rdp; SPNEGO wrapping (SMB) lives here too.

use std::sync::Arc;

use crate::ctx::DeckyCtx;
use crate::wire::der;
use crate::wire::{WResult, WireError};

/// `NTLMSSP\0`.
pub const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";
/// OID 1.3.6.1.4.1.311.2.2.10 (DER contents).
pub const NTLMSSP_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];
/// OID 1.3.6.1.5.5.2 (SPNEGO).
pub const SPNEGO_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// Largest NTLM message accepted.
pub const MAX_MESSAGE: usize = 16 * 1024;
/// Longest name kept from an AUTHENTICATE (characters).
const MAX_NAME: usize = 256;

/// NTLMSSP_NEGOTIATE_UNICODE.
pub const F_UNICODE: u32 = 0x0000_0001;
const F_OEM: u32 = 0x0000_0002;
const F_REQUEST_TARGET: u32 = 0x0000_0004;
const F_SIGN: u32 = 0x0000_0010;
const F_SEAL: u32 = 0x0000_0020;
const F_NTLM: u32 = 0x0000_0200;
const F_ALWAYS_SIGN: u32 = 0x0000_8000;
const F_TARGET_TYPE_DOMAIN: u32 = 0x0001_0000;
const F_ESS: u32 = 0x0008_0000;
const F_TARGET_INFO: u32 = 0x0080_0000;
const F_VERSION: u32 = 0x0200_0000;
const F_128: u32 = 0x2000_0000;
const F_KEY_EXCH: u32 = 0x4000_0000;
const F_56: u32 = 0x8000_0000;

/// The names and build a CHALLENGE announces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerIdentity {
    /// NetBIOS domain (`CORP`).
    pub nb_domain: String,
    /// NetBIOS computer name (`WS-0042`).
    pub nb_computer: String,
    /// DNS domain (`corp.local`).
    pub dns_domain: String,
    /// DNS computer name (`ws-0042.corp.local`).
    pub dns_computer: String,
    /// OS major, minor, build (`10.0.17763`).
    pub version: (u8, u8, u16),
}

impl ServerIdentity {
    /// Identity of a decky's persona (Windows build from `distro.version_id`,
    /// `10.0.17763` when the persona is not Windows).
    pub fn for_decky(decky: &DeckyCtx) -> Self {
        let p = &decky.persona;
        let short = p.hostname.split('.').next().unwrap_or(&p.hostname);
        let nb_computer: String = short.to_uppercase().chars().take(15).collect();
        let nb_domain: String = p
            .domain
            .split('.')
            .next()
            .unwrap_or("WORKGROUP")
            .to_uppercase()
            .chars()
            .take(15)
            .collect();
        ServerIdentity {
            nb_domain,
            nb_computer,
            dns_domain: p.domain.clone(),
            dns_computer: format!("{}.{}", short.to_lowercase(), p.domain),
            version: windows_version(decky),
        }
    }
}

/// The Windows version of a persona (`version_id` `10.0.17763` → (10,0,17763)).
pub fn windows_version(decky: &DeckyCtx) -> (u8, u8, u16) {
    parse_version(decky.persona.distro.version_id).unwrap_or((10, 0, 17763))
}

fn parse_version(s: &str) -> Option<(u8, u8, u16)> {
    let mut it = s.split('.');
    let a = it.next()?.parse().ok()?;
    let b = it.next()?.parse().ok()?;
    let c = it.next()?.parse().ok()?;
    Some((a, b, c))
}

/// A parsed NTLM message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// Type 1.
    Negotiate {
        /// Client flags.
        flags: u32,
    },
    /// Type 2 (only seen if a client reflects one).
    Challenge,
    /// Type 3.
    Authenticate(Authenticate),
}

/// A captured AUTHENTICATE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticate {
    /// Flags.
    pub flags: u32,
    /// LmChallengeResponse.
    pub lm: Vec<u8>,
    /// NtChallengeResponse.
    pub nt: Vec<u8>,
    /// Domain as sent.
    pub domain: String,
    /// User as sent.
    pub user: String,
    /// Client workstation.
    pub workstation: String,
}

impl Authenticate {
    /// Anonymous (null session): empty user and no NT response.
    pub fn is_anonymous(&self) -> bool {
        self.user.is_empty() && self.nt.is_empty()
    }

    /// NTLM version of the response: 2 (NTLMv2, nt > 24 bytes), 1, or 0
    /// when there is nothing crackable.
    pub fn version(&self) -> u8 {
        match self.nt.len() {
            n if n > 24 => 2,
            24 => 1,
            _ => 0,
        }
    }

    /// The hashcat line and mode for this response to `challenge`:
    /// `user::domain:challenge:ntproofstr:blob` (5600) or
    /// `user::domain:lm:nt:challenge` (5500).
    pub fn hashcat(&self, challenge: &[u8; 8]) -> Option<(u32, String)> {
        let ch = hex::encode(challenge);
        match self.version() {
            2 => Some((
                5600,
                format!(
                    "{}::{}:{}:{}:{}",
                    self.user,
                    self.domain,
                    ch,
                    hex::encode(&self.nt[..16]),
                    hex::encode(&self.nt[16..])
                ),
            )),
            1 => Some((
                5500,
                format!(
                    "{}::{}:{}:{}:{}",
                    self.user,
                    self.domain,
                    hex::encode(&self.lm),
                    hex::encode(&self.nt),
                    ch
                ),
            )),
            _ => None,
        }
    }
}

fn field(msg: &[u8], at: usize) -> WResult<&[u8]> {
    let f = msg
        .get(at..at + 8)
        .ok_or_else(|| WireError::new("ntlm: short header"))?;
    let len = u16::from_le_bytes([f[0], f[1]]) as usize;
    let off = u32::from_le_bytes([f[4], f[5], f[6], f[7]]) as usize;
    if len == 0 {
        return Ok(&[]);
    }
    msg.get(off..off.saturating_add(len))
        .ok_or_else(|| WireError::new("ntlm: field outside message"))
}

fn decode_str(b: &[u8], unicode: bool) -> String {
    if unicode {
        let units = b
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take(MAX_NAME);
        char::decode_utf16(units)
            .map(|r| r.unwrap_or('\u{fffd}'))
            .filter(|c| !c.is_control())
            .collect()
    } else {
        b.iter()
            .take(MAX_NAME)
            .map(|&c| c as char)
            .filter(|c| !c.is_control())
            .collect()
    }
}

/// Parses an NTLM message starting at `buf[0]` (trailing bytes ignored).
pub fn parse(buf: &[u8]) -> WResult<Message> {
    let buf = &buf[..buf.len().min(MAX_MESSAGE)];
    if buf.len() < 12 || &buf[..8] != SIGNATURE {
        return Err(WireError::new("ntlm: no signature"));
    }
    let ty = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]);
    match ty {
        1 => {
            let flags = buf
                .get(12..16)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| WireError::new("ntlm: short negotiate"))?;
            Ok(Message::Negotiate { flags })
        }
        2 => Ok(Message::Challenge),
        3 => {
            let flags = buf
                .get(60..64)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| WireError::new("ntlm: short authenticate"))?;
            let unicode = flags & F_UNICODE != 0;
            Ok(Message::Authenticate(Authenticate {
                flags,
                lm: field(buf, 12)?.to_vec(),
                nt: field(buf, 20)?.to_vec(),
                domain: decode_str(field(buf, 28)?, unicode),
                user: decode_str(field(buf, 36)?, unicode),
                workstation: decode_str(field(buf, 44)?, unicode),
            }))
        }
        _ => Err(WireError::new("ntlm: unknown message type")),
    }
}

/// Finds and parses the NTLM message inside a security blob (raw NTLMSSP,
/// SPNEGO or CredSSP): the first `NTLMSSP\0` in it.
pub fn find(blob: &[u8]) -> WResult<Message> {
    let at = blob
        .windows(8)
        .position(|w| w == SIGNATURE)
        .ok_or_else(|| WireError::new("ntlm: no NTLMSSP token"))?;
    parse(&blob[at..])
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

/// Windows FILETIME (100 ns since 1601) of now.
pub fn filetime_now() -> u64 {
    let unix = chrono::Utc::now();
    let secs = unix.timestamp() as u64 + 11_644_473_600;
    secs * 10_000_000 + (unix.timestamp_subsec_nanos() / 100) as u64
}

/// Builds a CHALLENGE answering a NEGOTIATE with `client_flags`.
pub fn challenge(
    id: &ServerIdentity,
    server_challenge: &[u8; 8],
    client_flags: u32,
    filetime: u64,
) -> Vec<u8> {
    let mut flags = F_REQUEST_TARGET
        | F_NTLM
        | F_ALWAYS_SIGN
        | F_TARGET_TYPE_DOMAIN
        | F_TARGET_INFO
        | F_VERSION;
    flags |= client_flags & (F_SIGN | F_SEAL | F_ESS | F_128 | F_KEY_EXCH | F_56);
    flags |= if client_flags & F_UNICODE != 0 || client_flags & F_OEM == 0 {
        F_UNICODE
    } else {
        F_OEM
    };
    let target = utf16(&id.nb_domain);
    let mut info = Vec::new();
    let mut av = |ty: u16, v: &[u8]| {
        info.extend_from_slice(&ty.to_le_bytes());
        info.extend_from_slice(&(v.len() as u16).to_le_bytes());
        info.extend_from_slice(v);
    };
    av(2, &utf16(&id.nb_domain));
    av(1, &utf16(&id.nb_computer));
    av(4, &utf16(&id.dns_domain));
    av(3, &utf16(&id.dns_computer));
    av(5, &utf16(&id.dns_domain));
    av(7, &filetime.to_le_bytes());
    av(0, &[]);
    let mut m = Vec::with_capacity(56 + target.len() + info.len());
    m.extend_from_slice(SIGNATURE);
    m.extend_from_slice(&2u32.to_le_bytes());
    let t_off = 56u32;
    m.extend_from_slice(&(target.len() as u16).to_le_bytes());
    m.extend_from_slice(&(target.len() as u16).to_le_bytes());
    m.extend_from_slice(&t_off.to_le_bytes());
    m.extend_from_slice(&flags.to_le_bytes());
    m.extend_from_slice(server_challenge);
    m.extend_from_slice(&[0; 8]);
    let i_off = t_off + target.len() as u32;
    m.extend_from_slice(&(info.len() as u16).to_le_bytes());
    m.extend_from_slice(&(info.len() as u16).to_le_bytes());
    m.extend_from_slice(&i_off.to_le_bytes());
    let (maj, min, build) = id.version;
    m.extend_from_slice(&[maj, min]);
    m.extend_from_slice(&build.to_le_bytes());
    m.extend_from_slice(&[0, 0, 0, 0x0f]);
    m.extend_from_slice(&target);
    m.extend_from_slice(&info);
    m
}

/// SPNEGO NegTokenInit offered in an SMB2 NEGOTIATE response (NTLMSSP only).
pub fn spnego_init() -> Vec<u8> {
    let mech = der::tlv(0x06, NTLMSSP_OID);
    let mech_types = der::tlv(0xa0, &der::tlv(0x30, &mech));
    let hints = der::tlv(
        0xa3,
        &der::tlv(
            0x30,
            &der::tlv(
                0xa0,
                &der::tlv(0x1b, b"not_defined_in_RFC4178@please_ignore"),
            ),
        ),
    );
    let mut seq = mech_types;
    seq.extend_from_slice(&hints);
    let init = der::tlv(0xa0, &der::tlv(0x30, &seq));
    let mut app = der::tlv(0x06, SPNEGO_OID);
    app.extend_from_slice(&init);
    der::tlv(0x60, &app)
}

/// SPNEGO NegTokenResp: `state` 0 accept-completed, 1 accept-incomplete,
/// 2 reject; with the NTLMSSP mech and an optional response token.
pub fn spnego_resp(state: u8, token: Option<&[u8]>) -> Vec<u8> {
    let mut seq = der::tlv(0xa0, &der::tlv(0x0a, &[state]));
    if token.is_some() {
        seq.extend_from_slice(&der::tlv(0xa1, &der::tlv(0x06, NTLMSSP_OID)));
    }
    if let Some(t) = token {
        seq.extend_from_slice(&der::tlv(0xa2, &der::tlv(0x04, t)));
    }
    der::tlv(0xa1, &der::tlv(0x30, &seq))
}

/// Per-connection NTLM exchange state on the server side.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// Identity announced.
    pub id: Arc<ServerIdentity>,
    /// The challenge sent (set by [`Exchange::challenge_for`]).
    pub server_challenge: [u8; 8],
}

impl Exchange {
    /// New exchange with a fresh random challenge.
    pub fn new(id: Arc<ServerIdentity>) -> Self {
        Exchange {
            id,
            server_challenge: rand::random(),
        }
    }

    /// The CHALLENGE for a NEGOTIATE.
    pub fn challenge_for(&self, client_flags: u32) -> Vec<u8> {
        challenge(
            &self.id,
            &self.server_challenge,
            client_flags,
            filetime_now(),
        )
    }
}

/// Event fields describing a captured AUTHENTICATE (hash line included).
pub fn auth_fields(a: &Authenticate, challenge: &[u8; 8]) -> decnet_core::Fields {
    let mut f = crate::fields! {
        "domain" => a.domain.clone(),
        "workstation" => a.workstation.clone(),
        "ntlm_version" => a.version() as u64,
        "server_challenge" => hex::encode(challenge),
    };
    if let Some((mode, line)) = a.hashcat(challenge) {
        f.insert("hashcat_mode".into(), (mode as u64).into());
        f.insert("hash".into(), line.into());
    }
    f
}

/// Emits the `auth_attempt` of an AUTHENTICATE: the hashcat line is the
/// secret (`secret_kind` `netntlmv2`/`netntlmv1`/`anonymous`).
pub fn emit_auth(tagged: &crate::tls::Tagged, a: &Authenticate, challenge: &[u8; 8], ok: bool) {
    let f = auth_fields(a, challenge);
    let (kind, secret) = match a.hashcat(challenge) {
        Some((5600, line)) => ("netntlmv2", line),
        Some((_, line)) => ("netntlmv1", line),
        None => ("anonymous", String::new()),
    };
    let principal = if a.domain.is_empty() {
        a.user.clone()
    } else {
        format!("{}\\{}", a.domain, a.user)
    };
    tagged.emit_auth(&principal, kind, secret.as_bytes(), ok, f);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ident() -> ServerIdentity {
        ServerIdentity {
            nb_domain: "CORP".into(),
            nb_computer: "WS01".into(),
            dns_domain: "corp.local".into(),
            dns_computer: "ws01.corp.local".into(),
            version: (10, 0, 17763),
        }
    }

    #[test]
    fn challenge_layout() {
        let c = challenge(&ident(), &[1, 2, 3, 4, 5, 6, 7, 8], F_UNICODE | F_ESS, 0);
        assert_eq!(&c[..8], SIGNATURE);
        assert_eq!(&c[24..32], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&c[48..52], &[10, 0, 0x63, 0x45]);
        assert_eq!(parse(&c).unwrap(), Message::Challenge);
        let info = field(&c, 40).unwrap();
        assert_eq!(&info[info.len() - 4..], &[0, 0, 0, 0]);
    }

    #[test]
    fn spnego_wraps_token() {
        let r = spnego_resp(1, Some(b"NTLMSSP\0\x02\0\0\0"));
        assert_eq!(find(&r).unwrap(), Message::Challenge);
        let init = spnego_init();
        let (t, rest) = der::read_tlv(&init).unwrap();
        assert_eq!(t.tag, 0x60);
        assert!(rest.is_empty());
    }

    #[test]
    fn ntlmv1_line_is_hashcat_5500() {
        let a = Authenticate {
            flags: F_UNICODE,
            lm: vec![0xaa; 24],
            nt: vec![0xbb; 24],
            domain: "CORP".into(),
            user: "bob".into(),
            workstation: "WS".into(),
        };
        let (mode, line) = a.hashcat(&[1; 8]).unwrap();
        assert_eq!(mode, 5500);
        assert_eq!(
            line,
            format!(
                "bob::CORP:{}:{}:0101010101010101",
                "aa".repeat(24),
                "bb".repeat(24)
            )
        );
        let anon = Authenticate {
            nt: vec![],
            user: String::new(),
            ..a
        };
        assert!(anon.is_anonymous() && anon.hashcat(&[0; 8]).is_none());
    }

    proptest! {
        #[test]
        fn parse_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut m = SIGNATURE.to_vec();
            m.extend_from_slice(&[3, 0, 0, 0]);
            m.extend_from_slice(&b);
            let _ = parse(&m);
            let _ = parse(&b);
            let _ = find(&b);
            if let Ok(Message::Authenticate(a)) = parse(&m) {
                let _ = a.hashcat(&[0; 8]);
            }
        }
    }
}
