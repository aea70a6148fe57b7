//! MySQL client/server protocol pieces: handshake v10, HandshakeResponse41
//! (and the pre-4.1 form), OK/ERR/EOF packets, text result sets, and the
//! scramble checks of `mysql_native_password` / `caching_sha2_password`.

use sha1::{Digest as _, Sha1};
use sha2::Sha256;

use super::{Cursor, WResult, WireError};

/// Largest client packet accepted (a handshake response or a query).
pub const MAX_PACKET: usize = 64 * 1024;

/// CLIENT_* capability bits we use.
pub mod cap {
    /// CLIENT_LONG_PASSWORD.
    pub const LONG_PASSWORD: u32 = 0x1;
    /// CLIENT_CONNECT_WITH_DB.
    pub const CONNECT_WITH_DB: u32 = 0x8;
    /// CLIENT_PROTOCOL_41.
    pub const PROTOCOL_41: u32 = 0x200;
    /// CLIENT_SSL.
    pub const SSL: u32 = 0x800;
    /// CLIENT_SECURE_CONNECTION.
    pub const SECURE_CONNECTION: u32 = 0x8000;
    /// CLIENT_PLUGIN_AUTH.
    pub const PLUGIN_AUTH: u32 = 0x8_0000;
    /// CLIENT_CONNECT_ATTRS.
    pub const CONNECT_ATTRS: u32 = 0x10_0000;
    /// CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA.
    pub const PLUGIN_AUTH_LENENC: u32 = 0x20_0000;
    /// CLIENT_DEPRECATE_EOF: result sets end with an OK packet, no EOFs.
    pub const DEPRECATE_EOF: u32 = 0x100_0000;
    /// What Debian 12's MariaDB 10.11 advertises (no TLS configured):
    /// `0xf7fe` / `0x81ff`; bit 0 clear tells clients to read the MariaDB
    /// capabilities at the end of the filler.
    pub const MARIADB_SERVER: u32 = 0x81ff_f7fe;
    /// MariaDB's own capabilities in the greeting filler: progress
    /// reports, COM_MULTI, bulk statements, extended metadata.
    pub const MARIADB_EXTENDED: u32 = 0x1d;
    /// What the decoy advertises: a stock server without TLS, compression,
    /// session tracking or DEPRECATE_EOF.
    pub const SERVER: u32 = 0x1
        | 0x2
        | 0x4
        | 0x8
        | 0x10
        | 0x40
        | 0x80
        | 0x100
        | 0x200
        | 0x400
        | 0x1000
        | 0x2000
        | 0x8000
        | 0x1_0000
        | 0x2_0000
        | 0x4_0000
        | 0x8_0000
        | 0x10_0000
        | 0x20_0000
        | 0x40_0000;
}

/// Frames `payload` as one packet with sequence id `seq`.
pub fn packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len().min(0xff_ffff) as u32;
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.extend_from_slice(&len.to_le_bytes()[..3]);
    out.push(seq);
    out.extend_from_slice(&payload[..len as usize]);
    out
}

/// Decodes a 4-byte packet header into (payload length, sequence id).
pub fn header(h: [u8; 4]) -> (usize, u8) {
    (u32::from_le_bytes([h[0], h[1], h[2], 0]) as usize, h[3])
}

/// What a server's greeting advertises besides version and scramble.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Greeting<'a> {
    /// CLIENT_* capability flags.
    pub caps: u32,
    /// MariaDB capabilities (the last 4 filler bytes); 0 for MySQL.
    pub mariadb_caps: u32,
    /// Default collation id.
    pub charset: u8,
    /// Default auth plugin.
    pub plugin: &'a str,
}

/// Initial handshake (protocol v10) with a 20-byte scramble.
pub fn handshake_v10(version: &str, conn_id: u32, salt: &[u8; 20], g: Greeting<'_>) -> Vec<u8> {
    let mut p = Vec::with_capacity(96);
    p.push(10);
    p.extend_from_slice(version.as_bytes());
    p.push(0);
    p.extend_from_slice(&conn_id.to_le_bytes());
    p.extend_from_slice(&salt[..8]);
    p.push(0);
    p.extend_from_slice(&(g.caps as u16).to_le_bytes());
    p.push(g.charset);
    p.extend_from_slice(&2u16.to_le_bytes()); // SERVER_STATUS_AUTOCOMMIT
    p.extend_from_slice(&((g.caps >> 16) as u16).to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0; 6]);
    p.extend_from_slice(&g.mariadb_caps.to_le_bytes());
    p.extend_from_slice(&salt[8..]);
    p.push(0);
    p.extend_from_slice(g.plugin.as_bytes());
    p.push(0);
    p
}

/// What a client sent in its handshake response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HandshakeResponse {
    /// Client capability flags.
    pub caps: u32,
    /// An SSLRequest (client wants TLS before the real response).
    pub ssl_request: bool,
    /// Login name.
    pub user: Vec<u8>,
    /// Scramble (or cleartext for `mysql_clear_password`).
    pub auth: Vec<u8>,
    /// Initial database.
    pub database: Option<Vec<u8>>,
    /// Auth plugin the client used.
    pub plugin: Option<Vec<u8>>,
    /// Connection attributes (`_client_name`, `_os`…), at most 32.
    pub attrs: Vec<(String, String)>,
}

/// Reads a length-encoded integer.
pub fn lenenc(c: &mut Cursor<'_>) -> WResult<u64> {
    match c.u8()? {
        n @ 0..=0xfa => Ok(n as u64),
        0xfc => Ok(c.u16le()? as u64),
        0xfd => {
            let b = c.take(3)?;
            Ok(u32::from_le_bytes([b[0], b[1], b[2], 0]) as u64)
        }
        0xfe => {
            let lo = c.u32le()? as u64;
            let hi = c.u32le()? as u64;
            Ok(lo | (hi << 32))
        }
        b => Err(WireError::new(format!(
            "bad length-encoded integer 0x{b:02x}"
        ))),
    }
}

fn lenenc_bytes<'a>(c: &mut Cursor<'a>) -> WResult<&'a [u8]> {
    let n = lenenc(c)?;
    if n > c.remaining() as u64 {
        return Err(WireError::new("length-encoded string past end of packet"));
    }
    c.take(n as usize)
}

/// Decodes a HandshakeResponse41, an SSLRequest or a pre-4.1 response.
pub fn parse_handshake_response(payload: &[u8]) -> WResult<HandshakeResponse> {
    let mut c = Cursor::new(payload);
    let mut r = HandshakeResponse::default();
    let lo = c.u16le()? as u32;
    if lo & cap::PROTOCOL_41 == 0 {
        // HandshakeResponse320: caps(2) max_packet(3) user\0 auth…
        r.caps = lo;
        c.take(3)?;
        r.user = c.cstr()?.to_vec();
        let auth = c.cstr_or_rest();
        r.auth = auth.to_vec();
        if lo & cap::CONNECT_WITH_DB != 0 && c.remaining() > 0 {
            r.database = Some(c.cstr_or_rest().to_vec());
        }
        return Ok(r);
    }
    let hi = c.u16le()? as u32;
    r.caps = lo | (hi << 16);
    c.u32le()?; // max packet
    c.u8()?; // charset
    c.take(23)?;
    if c.remaining() == 0 {
        r.ssl_request = r.caps & cap::SSL != 0;
        if r.ssl_request {
            return Ok(r);
        }
        return Err(WireError::new("handshake response without user"));
    }
    r.user = c.cstr()?.to_vec();
    r.auth = if r.caps & cap::PLUGIN_AUTH_LENENC != 0 {
        lenenc_bytes(&mut c)?.to_vec()
    } else if r.caps & cap::SECURE_CONNECTION != 0 {
        let n = c.u8()? as usize;
        c.take(n)?.to_vec()
    } else {
        c.cstr_or_rest().to_vec()
    };
    if r.caps & cap::CONNECT_WITH_DB != 0 && c.remaining() > 0 {
        r.database = Some(c.cstr_or_rest().to_vec());
    }
    if r.caps & cap::PLUGIN_AUTH != 0 && c.remaining() > 0 {
        r.plugin = Some(c.cstr_or_rest().to_vec());
    }
    if r.caps & cap::CONNECT_ATTRS != 0 && c.remaining() > 0 {
        if let Ok(block) = lenenc_bytes(&mut c) {
            let mut a = Cursor::new(block);
            while a.remaining() > 0 && r.attrs.len() < 32 {
                let (Ok(k), Ok(v)) = (lenenc_bytes(&mut a), lenenc_bytes(&mut a)) else {
                    break;
                };
                r.attrs
                    .push((super::excerpt(k, 64), super::excerpt(v, 256)));
            }
        }
    }
    Ok(r)
}

/// OK packet.
pub fn ok(affected: u64) -> Vec<u8> {
    let mut p = vec![0x00];
    put_lenenc(&mut p, affected);
    p.push(0);
    p.extend_from_slice(&2u16.to_le_bytes());
    p.extend_from_slice(&0u16.to_le_bytes());
    p
}

/// ERR packet with SQL state.
pub fn err(code: u16, state: &str, msg: &str) -> Vec<u8> {
    let mut p = err_pre41(code, msg);
    p.splice(3..3, std::iter::once(b'#').chain(state.bytes()));
    p
}

/// ERR packet for a client that did not announce CLIENT_PROTOCOL_41: the
/// server leaves the SQL state out.
pub fn err_pre41(code: u16, msg: &str) -> Vec<u8> {
    let mut p = vec![0xff];
    p.extend_from_slice(&code.to_le_bytes());
    p.extend_from_slice(msg.as_bytes());
    p
}

/// EOF packet.
pub fn eof() -> Vec<u8> {
    vec![0xfe, 0, 0, 2, 0]
}

/// AuthSwitchRequest to `plugin` with a fresh scramble.
pub fn auth_switch(plugin: &str, salt: &[u8; 20]) -> Vec<u8> {
    let mut p = vec![0xfe];
    p.extend_from_slice(plugin.as_bytes());
    p.push(0);
    p.extend_from_slice(salt);
    p.push(0);
    p
}

/// Appends a length-encoded integer.
pub fn put_lenenc(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xfa => out.push(n as u8),
        0xfb..=0xffff => {
            out.push(0xfc);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xff_ffff => {
            out.push(0xfd);
            out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        }
        _ => {
            out.push(0xfe);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

fn put_lenenc_str(out: &mut Vec<u8>, s: &[u8]) {
    put_lenenc(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// The OK packet (header 0xfe) that ends a result set under
/// CLIENT_DEPRECATE_EOF.
pub fn eof_ok() -> Vec<u8> {
    let mut p = ok(0);
    p[0] = 0xfe;
    p
}

/// A text result set (all columns VAR_STRING) as packets starting at `seq`;
/// with `deprecate_eof` (negotiated CLIENT_DEPRECATE_EOF) there is no EOF
/// after the columns and an OK packet ends the rows.
pub fn resultset(seq: u8, columns: &[&str], rows: &[Vec<String>], deprecate_eof: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut seq = seq;
    let mut push = |out: &mut Vec<u8>, p: &[u8]| {
        out.extend_from_slice(&packet(seq, p));
        seq = seq.wrapping_add(1);
    };
    let mut n = Vec::new();
    put_lenenc(&mut n, columns.len() as u64);
    push(&mut out, &n);
    for col in columns {
        let mut d = Vec::new();
        put_lenenc_str(&mut d, b"def");
        put_lenenc_str(&mut d, b"");
        put_lenenc_str(&mut d, b"");
        put_lenenc_str(&mut d, b"");
        put_lenenc_str(&mut d, col.as_bytes());
        put_lenenc_str(&mut d, col.as_bytes());
        d.push(0x0c);
        d.extend_from_slice(&0x21u16.to_le_bytes());
        d.extend_from_slice(&256u32.to_le_bytes());
        d.push(0xfd);
        d.extend_from_slice(&0u16.to_le_bytes());
        d.push(0x1f);
        d.extend_from_slice(&[0, 0]);
        push(&mut out, &d);
    }
    if !deprecate_eof {
        push(&mut out, &eof());
    }
    for row in rows {
        let mut r = Vec::new();
        for v in row {
            put_lenenc_str(&mut r, v.as_bytes());
        }
        push(&mut out, &r);
    }
    push(&mut out, &if deprecate_eof { eof_ok() } else { eof() });
    out
}

/// `mysql_native_password` scramble: SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw))).
pub fn native_scramble(password: &[u8], salt: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let h1 = Sha1::digest(password);
    let h2 = Sha1::digest(h1);
    let mut h = Sha1::new();
    h.update(salt);
    h.update(h2);
    let h3 = h.finalize();
    h1.iter().zip(h3.iter()).map(|(a, b)| a ^ b).collect()
}

/// `caching_sha2_password` scramble:
/// SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + salt).
pub fn sha2_scramble(password: &[u8], salt: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let h1 = Sha256::digest(password);
    let h2 = Sha256::digest(h1);
    let mut h = Sha256::new();
    h.update(h2);
    h.update(salt);
    let h3 = h.finalize();
    h1.iter().zip(h3.iter()).map(|(a, b)| a ^ b).collect()
}

/// hashcat mode 11200 line for a native-password response.
pub fn hashcat_11200(salt: &[u8], response: &[u8]) -> String {
    format!("$mysqlna${}*{}", hex::encode(salt), hex::encode(response))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn handshake_response_roundtrip_fields() {
        let mut p = Vec::new();
        let caps = cap::PROTOCOL_41
            | cap::SECURE_CONNECTION
            | cap::PLUGIN_AUTH
            | cap::CONNECT_WITH_DB
            | cap::PLUGIN_AUTH_LENENC
            | cap::CONNECT_ATTRS;
        p.extend_from_slice(&caps.to_le_bytes());
        p.extend_from_slice(&(1u32 << 24).to_le_bytes());
        p.push(33);
        p.extend_from_slice(&[0; 23]);
        p.extend_from_slice(b"root\0");
        p.push(20);
        p.extend_from_slice(&[7; 20]);
        p.extend_from_slice(b"shop\0mysql_native_password\0");
        let mut attrs = Vec::new();
        put_lenenc_str(&mut attrs, b"_client_name");
        put_lenenc_str(&mut attrs, b"libmariadb");
        put_lenenc_str(&mut p, &attrs);
        let r = parse_handshake_response(&p).unwrap();
        assert_eq!(r.user, b"root");
        assert_eq!(r.auth, vec![7; 20]);
        assert_eq!(r.database.as_deref(), Some(&b"shop"[..]));
        assert_eq!(r.plugin.as_deref(), Some(&b"mysql_native_password"[..]));
        assert_eq!(r.attrs, vec![("_client_name".into(), "libmariadb".into())]);
    }

    #[test]
    fn native_scramble_known_vector() {
        // Verified against the algorithm in the MySQL manual: empty password
        // sends nothing; a scramble is 20 bytes and depends on the salt.
        assert!(native_scramble(b"", b"x").is_empty());
        let a = native_scramble(b"secret", &[1; 20]);
        let b = native_scramble(b"secret", &[2; 20]);
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        assert_eq!(
            hashcat_11200(&[0xab; 2], &[0x01, 0x02]),
            "$mysqlna$abab*0102"
        );
    }

    proptest! {
        #[test]
        fn handshake_response_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_handshake_response(&data);
        }

        #[test]
        fn lenenc_never_panics(data in proptest::collection::vec(any::<u8>(), 0..16)) {
            let _ = lenenc(&mut Cursor::new(&data));
        }
    }
}
