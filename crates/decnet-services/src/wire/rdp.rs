//! RDP connection start (MS-RDPBCGR 2.2.1.1/2.2.1.2: TPKT + X.224
//! Connection Request/Confirm with RDP_NEG_REQ/RSP) and CredSSP
//! `TSRequest` (MS-CSSP 2.2.1) decoding, all bounded.

use super::der;
use super::{WResult, WireError};

/// Largest TPKT accepted before TLS.
pub const MAX_TPKT: usize = 4096;
/// Largest TSRequest accepted.
pub const MAX_TSREQUEST: usize = 32 * 1024;

/// PROTOCOL_SSL.
pub const PROTOCOL_SSL: u32 = 1;
/// PROTOCOL_HYBRID (CredSSP / NLA).
pub const PROTOCOL_HYBRID: u32 = 2;

/// Length of a TPKT from its 4-byte header.
pub fn tpkt_len(h: [u8; 4]) -> WResult<usize> {
    if h[0] != 3 {
        return Err(WireError::new("tpkt: bad version"));
    }
    let len = u16::from_be_bytes([h[2], h[3]]) as usize;
    if len < 7 {
        return Err(WireError::new("tpkt: too short"));
    }
    Ok(len)
}

/// An X.224 Connection Request.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ConnectionRequest {
    /// `Cookie: mstshash=USER` value, if any.
    pub cookie: Option<String>,
    /// Routing token / other first line, if any.
    pub token: Option<String>,
    /// requestedProtocols of RDP_NEG_REQ, if present.
    pub requested: Option<u32>,
}

/// Parses the X.224 CR TPDU (the bytes after the 4-byte TPKT header).
pub fn connection_request(p: &[u8]) -> WResult<ConnectionRequest> {
    if p.len() < 7 || p[1] & 0xf0 != 0xe0 {
        return Err(WireError::new("x224: not a connection request"));
    }
    let li = p[0] as usize;
    let end = (li + 1).min(p.len());
    let mut rest = p.get(7..end).unwrap_or(&[]);
    let mut cr = ConnectionRequest::default();
    if let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
        let line = String::from_utf8_lossy(&rest[..i.min(256)]).into_owned();
        match line.strip_prefix("Cookie: mstshash=") {
            Some(u) => cr.cookie = Some(u.to_owned()),
            None => cr.token = Some(line),
        }
        rest = &rest[i + 2..];
    }
    if rest.len() >= 8 && rest[0] == 1 {
        cr.requested = Some(u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]));
    }
    Ok(cr)
}

/// A decoded TSRequest: version and the first negoToken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TsRequest<'a> {
    /// version.
    pub version: u64,
    /// negoTokens[0].negoToken.
    pub nego_token: Option<&'a [u8]>,
    /// pubKeyAuth present.
    pub pub_key_auth: bool,
    /// authInfo present (the encrypted credentials).
    pub auth_info: bool,
}

/// Decodes a TSRequest DER.
pub fn ts_request(b: &[u8]) -> WResult<TsRequest<'_>> {
    let (seq, _) = der::read_tlv(b)?;
    if seq.tag != 0x30 {
        return Err(WireError::new("credssp: not a SEQUENCE"));
    }
    let version = der::field(seq.value, 0)
        .and_then(|v| der::read_tlv(v).ok())
        .and_then(|(t, _)| der::integer(&t))
        .ok_or_else(|| WireError::new("credssp: no version"))?;
    let nego_token = der::field(seq.value, 1)
        .and_then(|v| der::read_tlv(v).ok())
        .and_then(|(outer, _)| der::children(outer.value).next())
        .and_then(|item| der::field(item.value, 0))
        .and_then(|v| der::read_tlv(v).ok())
        .filter(|(t, _)| t.tag == 0x04)
        .map(|(t, _)| t.value);
    Ok(TsRequest {
        version,
        nego_token,
        pub_key_auth: der::field(seq.value, 3).is_some(),
        auth_info: der::field(seq.value, 2).is_some(),
    })
}

/// Encodes a TSRequest with an optional negoToken and errorCode.
pub fn encode_ts_request(version: u64, token: Option<&[u8]>, error: Option<u32>) -> Vec<u8> {
    let mut body = der::tlv(0xa0, &der::int(version));
    if let Some(t) = token {
        let item = der::tlv(0x30, &der::tlv(0xa0, &der::tlv(0x04, t)));
        body.extend_from_slice(&der::tlv(0xa1, &der::tlv(0x30, &item)));
    }
    if let Some(e) = error {
        // NTSTATUS is a signed 32-bit INTEGER: 0xC000006D is encoded in 4 bytes.
        body.extend_from_slice(&der::tlv(0xa4, &der::tlv(0x02, &e.to_be_bytes())));
    }
    der::tlv(0x30, &body)
}

/// Total length of the DER element whose first bytes are `h` (None: need more).
pub fn der_total_len(h: &[u8]) -> WResult<Option<usize>> {
    if h.len() < 2 {
        return Ok(None);
    }
    if h[1] < 0x80 {
        return Ok(Some(2 + h[1] as usize));
    }
    let n = (h[1] & 0x7f) as usize;
    if n == 0 || n > 3 {
        return Err(WireError::new("credssp: bad length"));
    }
    if h.len() < 2 + n {
        return Ok(None);
    }
    let len = h[2..2 + n]
        .iter()
        .fold(0usize, |a, &b| (a << 8) | b as usize);
    Ok(Some(2 + n + len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nmap_cookie_probe() {
        let p = b"\x25\xe0\0\0\0\0\0Cookie: mstshash=nmap\r\n\x01\0\x08\0\x03\0\0\0";
        let cr = connection_request(p).unwrap();
        assert_eq!(cr.cookie.as_deref(), Some("nmap"));
        assert_eq!(cr.requested, Some(3));
        assert_eq!(
            connection_request(b"\x06\xe0\0\0\0\0\0").unwrap().requested,
            None
        );
    }

    #[test]
    fn ts_request_roundtrip() {
        let enc = encode_ts_request(6, Some(b"NTLMSSP\0tok"), None);
        let d = ts_request(&enc).unwrap();
        assert_eq!(d.version, 6);
        assert_eq!(d.nego_token, Some(&b"NTLMSSP\0tok"[..]));
        assert_eq!(der_total_len(&enc).unwrap(), Some(enc.len()));
    }

    proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = connection_request(&b);
            let _ = ts_request(&b);
            let _ = der_total_len(&b);
            if b.len() >= 4 { let _ = tpkt_len([b[0], b[1], b[2], b[3]]); }
            let mut s = vec![0x30u8, b.len().min(127) as u8];
            s.extend_from_slice(&b);
            let _ = ts_request(&s);
        }
    }
}
