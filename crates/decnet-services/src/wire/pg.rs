//! PostgreSQL frontend/backend protocol v3: startup packets, typed
//! messages, authentication requests, error responses, and the pieces of
//! SCRAM-SHA-256 (RFC 5802/7677) a server needs.

use super::{Cursor, WResult, WireError};

/// Largest startup packet (PostgreSQL's MAX_STARTUP_PACKET_LENGTH).
pub const MAX_STARTUP: usize = 10_000;
/// Largest typed message accepted from a client.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// SSLRequest code.
pub const SSL_REQUEST: u32 = 80_877_103;
/// GSSENCRequest code.
pub const GSSENC_REQUEST: u32 = 80_877_104;
/// CancelRequest code.
pub const CANCEL_REQUEST: u32 = 80_877_102;

/// A decoded untyped (startup-phase) packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Startup {
    /// SSLRequest.
    Ssl,
    /// GSSENCRequest.
    GssEnc,
    /// CancelRequest.
    Cancel,
    /// StartupMessage v3 with its parameters (user, database, application_name…).
    V3(Vec<(String, String)>),
    /// Any other protocol version (major, minor).
    Other(u16, u16),
}

/// Checks the 4-byte length of a startup packet; returns the body length.
pub fn startup_len(h: [u8; 4]) -> WResult<usize> {
    let len = u32::from_be_bytes(h) as usize;
    if !(8..=MAX_STARTUP).contains(&len) {
        return Err(WireError::new("invalid length of startup packet"));
    }
    Ok(len - 4)
}

/// Decodes a startup packet body (after the length).
pub fn parse_startup(body: &[u8]) -> WResult<Startup> {
    let mut c = Cursor::new(body);
    let code = c.u32be()?;
    match code {
        SSL_REQUEST => return Ok(Startup::Ssl),
        GSSENC_REQUEST => return Ok(Startup::GssEnc),
        CANCEL_REQUEST => return Ok(Startup::Cancel),
        _ => {}
    }
    let (major, minor) = ((code >> 16) as u16, code as u16);
    if major != 3 {
        return Ok(Startup::Other(major, minor));
    }
    let mut params = Vec::new();
    loop {
        let k = c.cstr()?;
        if k.is_empty() {
            break;
        }
        let v = c.cstr()?;
        if params.len() < 64 {
            params.push((super::excerpt(k, 64), super::excerpt(v, 256)));
        }
    }
    Ok(Startup::V3(params))
}

/// Checks a typed message header; returns (type, body length).
pub fn message_header(h: [u8; 5]) -> WResult<(u8, usize)> {
    let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
    if len < 4 {
        return Err(WireError::new("invalid message length"));
    }
    if len - 4 > MAX_MESSAGE {
        return Err(WireError::new(format!("message of {len} bytes over limit")));
    }
    Ok((h[0], len - 4))
}

/// Frames a typed backend message.
pub fn msg(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(ty);
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Authentication request `R` with a code and payload.
pub fn auth(code: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = code.to_be_bytes().to_vec();
    b.extend_from_slice(payload);
    msg(b'R', &b)
}

/// The protocol 2 ErrorResponse: one text line, what the server sends a
/// client that asked for protocol 2 or older.
pub fn error_v2(severity: &str, message: &str) -> Vec<u8> {
    format!("E{severity}:  {message}\n\0").into_bytes()
}

/// ErrorResponse with PostgreSQL's fields.
pub fn error(
    severity: &str,
    code: &str,
    message: &str,
    file: &str,
    line: u32,
    routine: &str,
) -> Vec<u8> {
    let mut b = Vec::new();
    for (t, v) in [
        (b'S', severity),
        (b'V', severity),
        (b'C', code),
        (b'M', message),
        (b'F', file),
    ] {
        b.push(t);
        b.extend_from_slice(v.as_bytes());
        b.push(0);
    }
    b.push(b'L');
    b.extend_from_slice(line.to_string().as_bytes());
    b.push(0);
    b.push(b'R');
    b.extend_from_slice(routine.as_bytes());
    b.push(0);
    b.push(0);
    msg(b'E', &b)
}

/// ParameterStatus.
pub fn param(k: &str, v: &str) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(k.as_bytes());
    b.push(0);
    b.extend_from_slice(v.as_bytes());
    b.push(0);
    msg(b'S', &b)
}

/// RowDescription of text columns.
pub fn row_description(cols: &[&str]) -> Vec<u8> {
    let mut b = (cols.len() as u16).to_be_bytes().to_vec();
    for c in cols {
        b.extend_from_slice(c.as_bytes());
        b.push(0);
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        b.extend_from_slice(&25u32.to_be_bytes()); // text
        b.extend_from_slice(&(-1i16).to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
    }
    msg(b'T', &b)
}

/// DataRow of text values.
pub fn data_row(vals: &[&str]) -> Vec<u8> {
    let mut b = (vals.len() as u16).to_be_bytes().to_vec();
    for v in vals {
        b.extend_from_slice(&(v.len() as u32).to_be_bytes());
        b.extend_from_slice(v.as_bytes());
    }
    msg(b'D', &b)
}

/// SASLInitialResponse: (mechanism, client-first-message).
pub fn parse_sasl_initial(body: &[u8]) -> WResult<(String, Vec<u8>)> {
    let mut c = Cursor::new(body);
    let mech = super::excerpt(c.cstr()?, 64);
    let n = c.u32be()? as i32;
    let data = if n < 0 { &[][..] } else { c.take(n as usize)? };
    Ok((mech, data.to_vec()))
}

/// client-first-message parts: (gs2 header, bare message, nonce).
pub fn scram_client_first(msg: &[u8]) -> WResult<(String, String, String)> {
    let s = std::str::from_utf8(msg).map_err(|_| WireError::new("SCRAM message is not UTF-8"))?;
    // gs2-header = cbind-flag "," [authzid] ","
    let mut parts = s.splitn(3, ',');
    let flag = parts.next().unwrap_or("");
    let authz = parts
        .next()
        .ok_or_else(|| WireError::new("malformed SCRAM client-first"))?;
    let bare = parts
        .next()
        .ok_or_else(|| WireError::new("malformed SCRAM client-first"))?;
    let nonce =
        scram_attr(bare, 'r').ok_or_else(|| WireError::new("SCRAM client-first without nonce"))?;
    Ok((
        format!("{flag},{authz},"),
        bare.to_owned(),
        nonce.to_owned(),
    ))
}

/// client-final-message parts: (message without proof, nonce, proof base64).
pub fn scram_client_final(msg: &[u8]) -> WResult<(String, String, String)> {
    let s = std::str::from_utf8(msg).map_err(|_| WireError::new("SCRAM message is not UTF-8"))?;
    let idx = s
        .rfind(",p=")
        .ok_or_else(|| WireError::new("SCRAM client-final without proof"))?;
    let without = &s[..idx];
    let proof = &s[idx + 3..];
    let nonce = scram_attr(without, 'r')
        .ok_or_else(|| WireError::new("SCRAM client-final without nonce"))?;
    Ok((without.to_owned(), nonce.to_owned(), proof.to_owned()))
}

/// Value of attribute `k=` in a SCRAM message.
pub fn scram_attr(msg: &str, k: char) -> Option<&str> {
    msg.split(',').find_map(|a| {
        let mut ch = a.chars();
        (ch.next() == Some(k) && ch.next() == Some('=')).then(|| &a[2..])
    })
}

/// hashcat mode 11100 line (`$postgres$user*salt*hash`).
pub fn hashcat_11100(user: &str, salt: &[u8; 4], response: &str) -> String {
    format!(
        "$postgres${user}*{}*{}",
        hex::encode(salt),
        response.trim_start_matches("md5")
    )
}

/// What an md5 PasswordMessage must be for `password`.
pub fn md5_response(user: &str, password: &str, salt: &[u8; 4]) -> String {
    use md5::{Digest, Md5};
    let inner = hex::encode(Md5::digest(format!("{password}{user}").as_bytes()));
    let mut h = Md5::new();
    h.update(inner.as_bytes());
    h.update(salt);
    format!("md5{}", hex::encode(h.finalize()))
}

/// SCRAM-SHA-256 keys of a password: (ClientKey, StoredKey, ServerKey).
pub fn scram_keys(password: &str, salt: &[u8], iterations: u32) -> ([u8; 32], [u8; 32], [u8; 32]) {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
    let hm = |key: &[u8], data: &[u8]| -> [u8; 32] {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("hmac takes any key");
        m.update(data);
        m.finalize().into_bytes().into()
    };
    let client_key = hm(&salted, b"Client Key");
    let stored: [u8; 32] = Sha256::digest(client_key).into();
    let server_key = hm(&salted, b"Server Key");
    (client_key, stored, server_key)
}

/// HMAC-SHA-256.
pub fn hmac256(key: &[u8], data: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("hmac takes any key");
    m.update(data);
    m.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn startup_and_scram_parts() {
        let mut b = 196_608u32.to_be_bytes().to_vec();
        b.extend_from_slice(b"user\0alice\0database\0shop\0\0");
        assert_eq!(
            parse_startup(&b).unwrap(),
            Startup::V3(vec![
                ("user".into(), "alice".into()),
                ("database".into(), "shop".into())
            ])
        );
        assert_eq!(
            parse_startup(&SSL_REQUEST.to_be_bytes()).unwrap(),
            Startup::Ssl
        );
        let (gs2, bare, nonce) = scram_client_first(b"n,,n=,r=abc").unwrap();
        assert_eq!(
            (gs2.as_str(), bare.as_str(), nonce.as_str()),
            ("n,,", "n=,r=abc", "abc")
        );
        let (w, n, p) = scram_client_final(b"c=biws,r=abcdef,p=cHJvb2Y=").unwrap();
        assert_eq!(
            (w.as_str(), n.as_str(), p.as_str()),
            ("c=biws,r=abcdef", "abcdef", "cHJvb2Y=")
        );
        assert!(startup_len(9_999_999u32.to_be_bytes()).is_err());
        assert!(message_header([b'p', 0xff, 0xff, 0xff, 0xff]).is_err());
    }

    #[test]
    fn md5_matches_postgres_definition() {
        // From the PostgreSQL docs: concat('md5', md5(concat(md5(concat(password, username)), random-salt))).
        let r = md5_response("postgres", "postgres", &[1, 2, 3, 4]);
        assert!(r.starts_with("md5") && r.len() == 35);
        assert_eq!(
            hashcat_11100("postgres", &[1, 2, 3, 4], &r),
            format!("$postgres$postgres*01020304*{}", &r[3..])
        );
    }

    proptest! {
        #[test]
        fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_startup(&data);
            let _ = parse_sasl_initial(&data);
            let _ = scram_client_first(&data);
            let _ = scram_client_final(&data);
            if data.len() >= 5 {
                let _ = message_header([data[0], data[1], data[2], data[3], data[4]]);
            }
        }
    }
}
