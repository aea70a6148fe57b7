//! LLMNR (RFC 4795) and NBNS (RFC 1002) queries: both use the DNS header
//! and question layout; NBNS names are "first-level encoded" (two letters
//! per byte). Decoders bounded: at most 8 labels of 63 bytes, no pointers.

use super::{Cursor, WResult, WireError};

/// A single-question query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Transaction id.
    pub id: u16,
    /// Header flags.
    pub flags: u16,
    /// Question name, labels joined by dots (raw, not NetBIOS-decoded).
    pub name: String,
    /// Raw label bytes of the question (for echoing it back).
    pub qname_wire: Vec<u8>,
    /// QTYPE.
    pub qtype: u16,
    /// QCLASS.
    pub qclass: u16,
}

impl Query {
    /// True when the QR bit says this is a response.
    pub fn is_response(&self) -> bool {
        self.flags & 0x8000 != 0
    }
    /// Opcode.
    pub fn opcode(&self) -> u16 {
        (self.flags >> 11) & 0xf
    }
}

/// Parses the header and first question of a DNS-format message.
pub fn query(b: &[u8]) -> WResult<Query> {
    let mut c = Cursor::new(b);
    let id = c.u16be()?;
    let flags = c.u16be()?;
    let qd = c.u16be()?;
    c.take(6)?;
    if qd == 0 {
        return Err(WireError::new("dns: no question"));
    }
    let start = c.pos();
    let mut labels: Vec<String> = Vec::new();
    loop {
        let len = c.u8()? as usize;
        if len == 0 {
            break;
        }
        if len > 63 || labels.len() >= 8 {
            return Err(WireError::new("dns: bad label"));
        }
        labels.push(String::from_utf8_lossy(c.take(len)?).into_owned());
    }
    let qname_wire = b[start..c.pos()].to_vec();
    let qtype = c.u16be()?;
    let qclass = c.u16be()?;
    Ok(Query {
        id,
        flags,
        name: labels.join("."),
        qname_wire,
        qtype,
        qclass,
    })
}

/// Decodes a first-level-encoded NetBIOS name (32 letters) into the
/// trimmed name and its suffix byte.
pub fn netbios_decode(label: &str) -> Option<(String, u8)> {
    let b = label.as_bytes();
    if b.len() != 32 {
        return None;
    }
    let mut raw = [0u8; 16];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        let hi = pair[0].checked_sub(b'A')?;
        let lo = pair[1].checked_sub(b'A')?;
        if hi > 15 || lo > 15 {
            return None;
        }
        raw[i] = (hi << 4) | lo;
    }
    let name = String::from_utf8_lossy(&raw[..15])
        .trim_end_matches([' ', '\0'])
        .to_owned();
    Some((name, raw[15]))
}

/// First-level encoding of a 15-char name plus suffix.
pub fn netbios_encode(name: &str, suffix: u8) -> [u8; 32] {
    let mut raw = [b' '; 16];
    for (i, c) in name.bytes().take(15).enumerate() {
        raw[i] = c.to_ascii_uppercase();
    }
    if name == "*" {
        raw = [0; 16];
        raw[0] = b'*';
    }
    raw[15] = suffix;
    let mut out = [0u8; 32];
    for (i, b) in raw.iter().enumerate() {
        out[2 * i] = b'A' + (b >> 4);
        out[2 * i + 1] = b'A' + (b & 0xf);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn netbios_roundtrip() {
        let e = netbios_encode("WS-0042", 0x20);
        let (n, s) = netbios_decode(std::str::from_utf8(&e).unwrap()).unwrap();
        assert_eq!((n.as_str(), s), ("WS-0042", 0x20));
        let star = netbios_encode("*", 0);
        assert!(std::str::from_utf8(&star).unwrap().starts_with("CKAAAA"));
    }

    proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..300), s in ".{0,40}") {
            let _ = query(&b);
            let _ = netbios_decode(&s);
        }
    }
}
