//! TDS (MS-TDS) pieces a SQL Server decoy needs: packet headers, PRELOGIN
//! options, LOGIN7 with the password de-obfuscated, and the ERROR /
//! LOGINACK / DONE tokens of the reply.

use super::{Cursor, WResult, WireError};

/// Largest TDS packet accepted (the negotiated maximum is 32767).
pub const MAX_PACKET: usize = 32_768;
/// Largest message (several packets) accepted.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Packet types.
pub mod ty {
    /// SQL batch.
    pub const SQL_BATCH: u8 = 0x01;
    /// Tabular result (server reply).
    pub const REPLY: u8 = 0x04;
    /// LOGIN7.
    pub const LOGIN7: u8 = 0x10;
    /// PRELOGIN.
    pub const PRELOGIN: u8 = 0x12;
}

/// A decoded 8-byte packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Packet type.
    pub ty: u8,
    /// Last packet of the message.
    pub eom: bool,
    /// Payload length (after the header).
    pub payload_len: usize,
}

/// Validates a packet header.
pub fn header(h: [u8; 8]) -> WResult<Header> {
    let len = u16::from_be_bytes([h[2], h[3]]) as usize;
    if !(8..=MAX_PACKET).contains(&len) {
        return Err(WireError::new(format!("invalid TDS packet length {len}")));
    }
    Ok(Header {
        ty: h[0],
        eom: h[1] & 0x01 != 0,
        payload_len: len - 8,
    })
}

/// Frames a reply as one packet (callers keep replies small).
pub fn packet(ty: u8, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() + 8).min(u16::MAX as usize) as u16;
    let mut out = vec![ty, 0x01];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0, 0, 1, 0]);
    out.extend_from_slice(&payload[..len as usize - 8]);
    out
}

/// PRELOGIN options the client sent: (token, data), at most 16.
pub fn parse_prelogin(p: &[u8]) -> WResult<Vec<(u8, Vec<u8>)>> {
    let mut c = Cursor::new(p);
    let mut out = Vec::new();
    loop {
        let tok = c.u8()?;
        if tok == 0xff {
            break;
        }
        let off = c.u16be()? as usize;
        let len = c.u16be()? as usize;
        let data = p
            .get(
                off..off
                    .checked_add(len)
                    .ok_or_else(|| WireError::new("overflow"))?,
            )
            .ok_or_else(|| WireError::new("PRELOGIN option outside the packet"))?;
        if out.len() < 16 {
            out.push((tok, data.to_vec()));
        }
    }
    Ok(out)
}

/// PRELOGIN reply in the layout SQL Server uses (VERSION, ENCRYPTION
/// = not supported, INSTOPT, THREADID).
pub fn prelogin_reply(major: u8, minor: u8, build: u16) -> Vec<u8> {
    let mut p = Vec::with_capacity(29);
    for (tok, off, len) in [
        (0u8, 0x15u16, 6u16),
        (1, 0x1b, 1),
        (2, 0x1c, 1),
        (3, 0x1d, 0),
    ] {
        p.push(tok);
        p.extend_from_slice(&off.to_be_bytes());
        p.extend_from_slice(&len.to_be_bytes());
    }
    p.push(0xff);
    p.extend_from_slice(&[major, minor]);
    p.extend_from_slice(&build.to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.push(0x02); // ENCRYPT_NOT_SUP
    p.push(0x00);
    packet(ty::REPLY, &p)
}

/// What a LOGIN7 carried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Login7 {
    /// TDS version the client speaks.
    pub tds_version: u32,
    /// Client host name.
    pub hostname: String,
    /// Login name.
    pub username: String,
    /// Password, de-obfuscated (UTF-16LE bytes decoded).
    pub password: String,
    /// Application name.
    pub appname: String,
    /// Server name the client asked for.
    pub servername: String,
    /// Client library name.
    pub library: String,
    /// Initial database.
    pub database: String,
    /// Integrated (SSPI/NTLM) authentication requested.
    pub sspi: bool,
}

/// Undoes the LOGIN7 password obfuscation (XOR 0xA5, then swap nibbles).
pub fn deobfuscate(b: u8) -> u8 {
    let x = b ^ 0xa5;
    x.rotate_left(4)
}

fn ucs2(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// Decodes a LOGIN7 payload.
pub fn parse_login7(p: &[u8]) -> WResult<Login7> {
    let mut c = Cursor::new(p);
    let total = c.u32le()? as usize;
    if total > p.len() + 4096 {
        return Err(WireError::new("LOGIN7 length larger than the message"));
    }
    let tds_version = c.u32le()?;
    c.take(28)?; // packet size … client LCID
    let mut fields = [(0usize, 0usize); 9];
    for f in &mut fields {
        *f = (c.u16le()? as usize, c.u16le()? as usize);
    }
    c.take(6)?; // client id (MAC)
    let sspi_len = c.u16le().map(|_| 0).and_then(|_| c.u16le()).unwrap_or(0);
    let get = |(off, chars): (usize, usize)| -> WResult<Vec<u8>> {
        if chars == 0 {
            return Ok(Vec::new());
        }
        let end = off
            .checked_add(
                chars
                    .checked_mul(2)
                    .ok_or_else(|| WireError::new("overflow"))?,
            )
            .ok_or_else(|| WireError::new("overflow"))?;
        p.get(off..end)
            .map(|s| s.to_vec())
            .ok_or_else(|| WireError::new("LOGIN7 field outside the message"))
    };
    let pw: Vec<u8> = get(fields[2])?.into_iter().map(deobfuscate).collect();
    Ok(Login7 {
        tds_version,
        hostname: ucs2(&get(fields[0])?),
        username: ucs2(&get(fields[1])?),
        password: ucs2(&pw),
        appname: ucs2(&get(fields[3])?),
        servername: ucs2(&get(fields[4])?),
        library: ucs2(&get(fields[6])?),
        database: ucs2(&get(fields[8])?),
        sspi: sspi_len > 0,
    })
}

fn put_bvarchar(out: &mut Vec<u8>, s: &str) {
    let u: Vec<u16> = s.encode_utf16().take(255).collect();
    out.push(u.len() as u8);
    for x in u {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

fn put_usvarchar(out: &mut Vec<u8>, s: &str) {
    let u: Vec<u16> = s.encode_utf16().take(4000).collect();
    out.extend_from_slice(&(u.len() as u16).to_le_bytes());
    for x in u {
        out.extend_from_slice(&x.to_le_bytes());
    }
}

/// ERROR token.
pub fn error_token(number: i32, state: u8, class: u8, msg: &str, server: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&number.to_le_bytes());
    b.push(state);
    b.push(class);
    put_usvarchar(&mut b, msg);
    put_bvarchar(&mut b, server);
    put_bvarchar(&mut b, "");
    b.extend_from_slice(&1i32.to_le_bytes());
    let mut t = vec![0xaa];
    t.extend_from_slice(&(b.len() as u16).to_le_bytes());
    t.extend_from_slice(&b);
    t
}

/// DONE token (row count width by TDS version).
pub fn done(status: u16, tds72: bool) -> Vec<u8> {
    let mut t = vec![0xfd];
    t.extend_from_slice(&status.to_le_bytes());
    t.extend_from_slice(&0u16.to_le_bytes());
    if tds72 {
        t.extend_from_slice(&0u64.to_le_bytes());
    } else {
        t.extend_from_slice(&0u32.to_le_bytes());
    }
    t
}

/// ENVCHANGE token (type, new value, old value as B_VARCHAR).
pub fn envchange(kind: u8, new: &str, old: &str) -> Vec<u8> {
    let mut b = vec![kind];
    put_bvarchar(&mut b, new);
    put_bvarchar(&mut b, old);
    let mut t = vec![0xe3];
    t.extend_from_slice(&(b.len() as u16).to_le_bytes());
    t.extend_from_slice(&b);
    t
}

/// LOGINACK token.
pub fn loginack(tds_version: u32, major: u8, minor: u8, build: u16) -> Vec<u8> {
    let mut b = vec![1];
    b.extend_from_slice(&tds_version.to_be_bytes());
    put_bvarchar(&mut b, "Microsoft SQL Server");
    b.extend_from_slice(&[major, minor]);
    b.extend_from_slice(&build.to_be_bytes());
    let mut t = vec![0xad];
    t.extend_from_slice(&(b.len() as u16).to_le_bytes());
    t.extend_from_slice(&b);
    t
}

/// Text of a SQL batch (ALL_HEADERS skipped for TDS 7.2+).
pub fn sql_batch_text(p: &[u8], tds72: bool) -> String {
    let mut body = p;
    if tds72 && p.len() >= 4 {
        let hl = u32::from_le_bytes([p[0], p[1], p[2], p[3]]) as usize;
        if hl >= 4 && hl <= p.len() {
            body = &p[hl..];
        }
    }
    ucs2(body)
}

/// Builds a LOGIN7 payload (tests and the interop harness use it).
pub fn build_login7(user: &str, password: &str, app: &str, database: &str) -> Vec<u8> {
    let enc = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect() };
    let pw: Vec<u8> = enc(password)
        .into_iter()
        .map(|b| b.rotate_left(4) ^ 0xa5)
        .collect();
    let vals: [Vec<u8>; 9] = [
        enc("WS01"),
        enc(user),
        pw,
        enc(app),
        enc("db"),
        Vec::new(),
        enc("ODBC"),
        Vec::new(),
        enc(database),
    ];
    let fixed = 36 + 9 * 4 + 6 + 4 * 3 + 4;
    let mut data = Vec::new();
    let mut offs = Vec::new();
    for v in &vals {
        offs.push(((fixed + data.len()) as u16, (v.len() / 2) as u16));
        data.extend_from_slice(v);
    }
    let mut p = Vec::new();
    p.extend_from_slice(&((fixed + data.len()) as u32).to_le_bytes());
    p.extend_from_slice(&0x7400_0004u32.to_le_bytes());
    p.extend_from_slice(&4096u32.to_le_bytes());
    p.extend_from_slice(&[0; 24]);
    for (o, l) in offs {
        p.extend_from_slice(&o.to_le_bytes());
        p.extend_from_slice(&l.to_le_bytes());
    }
    p.extend_from_slice(&[0; 6]);
    let end = (fixed + data.len()) as u16;
    for _ in 0..3 {
        p.extend_from_slice(&end.to_le_bytes());
        p.extend_from_slice(&0u16.to_le_bytes());
    }
    p.extend_from_slice(&0u32.to_le_bytes());
    p.extend_from_slice(&data);
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn login7_roundtrip_and_known_obfuscation() {
        // MS-TDS: 'a' (0x61 0x00) obfuscates to 0xB3 0xA5.
        assert_eq!(deobfuscate(0xb3), 0x61);
        assert_eq!(deobfuscate(0xa5), 0x00);
        let p = build_login7("sa", "P@ssw0rd!", "sqlcmd", "master");
        let l = parse_login7(&p).unwrap();
        assert_eq!(
            (l.username.as_str(), l.password.as_str()),
            ("sa", "P@ssw0rd!")
        );
        assert_eq!(
            (l.appname.as_str(), l.database.as_str()),
            ("sqlcmd", "master")
        );
    }

    #[test]
    fn prelogin_reply_has_nmap_layout() {
        let r = prelogin_reply(15, 0, 2000);
        assert_eq!(&r[..4], &[0x04, 0x01, 0x00, 0x25]);
        assert_eq!(
            parse_prelogin(&r[8..]).unwrap()[0],
            (0, vec![15, 0, 0x07, 0xd0, 0, 0])
        );
    }

    proptest! {
        #[test]
        fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_prelogin(&data);
            let _ = parse_login7(&data);
            let _ = sql_batch_text(&data, true);
            if data.len() >= 8 {
                let _ = header([data[0], data[1], data[2], data[3], data[4], data[5], data[6], data[7]]);
            }
        }

        #[test]
        fn login7_with_corrupted_offsets_never_panics(user in "[a-z]{0,8}", pw in ".{0,12}", idx in 0usize..80, v in any::<u8>()) {
            let mut p = build_login7(&user, &pw, "x", "y");
            if idx < p.len() { p[idx] = v; }
            let _ = parse_login7(&p);
        }
    }
}
