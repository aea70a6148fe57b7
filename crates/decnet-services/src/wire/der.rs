//! Minimal bounded ASN.1 DER reader/writer: enough for SPNEGO (SMB) and
//! CredSSP `TSRequest` (RDP). Never recurses without a depth bound, never
//! allocates a length read from the wire.

use super::{WResult, WireError};

/// One TLV: tag byte, contents and the bytes after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// Identifier octet (single-byte tags only).
    pub tag: u8,
    /// Contents.
    pub value: &'a [u8],
}

/// Reads one TLV from the front of `buf`; returns it and the rest.
pub fn read_tlv(buf: &[u8]) -> WResult<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = buf
        .split_first()
        .ok_or_else(|| WireError::new("der: empty"))?;
    if tag & 0x1f == 0x1f {
        return Err(WireError::new("der: multi-byte tag"));
    }
    let (&l0, rest) = rest
        .split_first()
        .ok_or_else(|| WireError::new("der: no length"))?;
    let (len, rest) = if l0 < 0x80 {
        (l0 as usize, rest)
    } else {
        let n = (l0 & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return Err(WireError::new("der: bad length"));
        }
        let mut len = 0usize;
        for &b in &rest[..n] {
            len = (len << 8) | b as usize;
        }
        (len, &rest[n..])
    };
    if len > rest.len() {
        return Err(WireError::new("der: truncated"));
    }
    Ok((
        Tlv {
            tag,
            value: &rest[..len],
        },
        &rest[len..],
    ))
}

/// Iterates the TLVs of a constructed value's contents (stops at the first
/// malformed one).
pub fn children(mut buf: &[u8]) -> impl Iterator<Item = Tlv<'_>> {
    std::iter::from_fn(move || {
        if buf.is_empty() {
            return None;
        }
        match read_tlv(buf) {
            Ok((t, rest)) => {
                buf = rest;
                Some(t)
            }
            Err(_) => {
                buf = &[];
                None
            }
        }
    })
}

/// The child with context tag `[n]` (constructed, `0xa0 | n`).
pub fn field(buf: &[u8], n: u8) -> Option<&[u8]> {
    children(buf).find(|t| t.tag == 0xa0 | n).map(|t| t.value)
}

/// Decodes a non-negative INTEGER of at most 8 bytes.
pub fn integer(t: &Tlv<'_>) -> Option<u64> {
    if t.tag != 0x02 || t.value.is_empty() || t.value.len() > 9 {
        return None;
    }
    let v = if t.value.len() == 9 {
        if t.value[0] != 0 {
            return None;
        }
        &t.value[1..]
    } else {
        t.value
    };
    Some(v.iter().fold(0u64, |a, &b| (a << 8) | b as u64))
}

/// Appends a DER length.
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else if len < 0x10000 {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    } else {
        out.extend_from_slice(&[0x83, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
    }
}

/// Encodes one TLV.
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    out.push(tag);
    push_len(&mut out, value.len());
    out.extend_from_slice(value);
    out
}

/// Encodes a non-negative INTEGER.
pub fn int(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(7);
    let mut body = Vec::new();
    if bytes[first] & 0x80 != 0 {
        body.push(0);
    }
    body.extend_from_slice(&bytes[first..]);
    tlv(0x02, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roundtrip_long_lengths() {
        for n in [0usize, 5, 127, 128, 255, 256, 70000] {
            let v = vec![7u8; n];
            let enc = tlv(0x04, &v);
            let (t, rest) = read_tlv(&enc).unwrap();
            assert_eq!(t.value.len(), n);
            assert!(rest.is_empty());
        }
        let enc = int(0x80);
        let (t, _) = read_tlv(&enc).unwrap();
        assert_eq!(integer(&t), Some(0x80));
        assert!(read_tlv(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = read_tlv(&b);
            let n = children(&b).count();
            prop_assert!(n <= b.len());
            let _ = field(&b, 1);
        }
    }
}
