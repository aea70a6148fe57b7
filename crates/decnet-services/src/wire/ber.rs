//! BER (X.690) subset shared by LDAP and SNMP: definite lengths only,
//! single-byte tags, lengths checked against the bytes present, nesting
//! depth bounded by the callers.

use super::{WResult, WireError};

/// One TLV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// Identifier octet.
    pub tag: u8,
    /// Contents.
    pub value: &'a [u8],
}

/// Reads one TLV from the front of `buf`; returns it and the rest.
pub fn read(buf: &[u8]) -> WResult<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = buf
        .split_first()
        .ok_or_else(|| WireError::new("empty BER element"))?;
    if tag & 0x1f == 0x1f {
        return Err(WireError::new("multi-byte BER tags are not supported"));
    }
    let (len, rest) = read_len(rest)?;
    if len > rest.len() {
        return Err(WireError::new(format!(
            "BER length {len} past the {} bytes left",
            rest.len()
        )));
    }
    Ok((
        Tlv {
            tag,
            value: &rest[..len],
        },
        &rest[len..],
    ))
}

/// Decodes a definite length.
pub fn read_len(buf: &[u8]) -> WResult<(usize, &[u8])> {
    let (&first, rest) = buf
        .split_first()
        .ok_or_else(|| WireError::new("missing BER length"))?;
    if first < 0x80 {
        return Ok((first as usize, rest));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 {
        return Err(WireError::new("indefinite BER lengths are not supported"));
    }
    if n > 4 || n > rest.len() {
        return Err(WireError::new("BER length too large"));
    }
    let mut len = 0usize;
    for &b in &rest[..n] {
        len = (len << 8) | b as usize;
    }
    Ok((len, &rest[n..]))
}

/// How many bytes the first complete TLV in `buf` spans, if it is all there.
/// Errors on malformed headers or when it would exceed `max`.
pub fn frame_len(buf: &[u8], max: usize) -> WResult<Option<usize>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let first = buf[1];
    let hdr = if first < 0x80 {
        2
    } else {
        2 + (first & 0x7f) as usize
    };
    if first == 0x80 || hdr > 6 {
        return Err(WireError::new("bad BER length"));
    }
    if buf.len() < hdr {
        return Ok(None);
    }
    let (len, _) = read_len(&buf[1..])?;
    let total = hdr + len;
    if total > max {
        return Err(WireError::new(format!(
            "BER message of {total} bytes over limit"
        )));
    }
    Ok((buf.len() >= total).then_some(total))
}

/// Iterates the TLVs of a constructed value.
pub fn children(mut v: &[u8]) -> WResult<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !v.is_empty() {
        let (t, rest) = read(v)?;
        out.push(t);
        v = rest;
        if out.len() > 4096 {
            return Err(WireError::new("too many BER elements"));
        }
    }
    Ok(out)
}

/// INTEGER contents as i64 (at most 8 bytes).
pub fn int(v: &[u8]) -> WResult<i64> {
    if v.is_empty() || v.len() > 8 {
        return Err(WireError::new("bad BER integer"));
    }
    let mut n: i64 = if v[0] & 0x80 != 0 { -1 } else { 0 };
    for &b in v {
        n = (n << 8) | b as i64;
    }
    Ok(n)
}

/// Appends a length.
pub fn put_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else if len < 0x1_0000 {
        out.push(0x82);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x84);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// Encodes a TLV.
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    out.push(tag);
    put_len(&mut out, value.len());
    out.extend_from_slice(value);
    out
}

/// Minimal two's-complement INTEGER contents.
pub fn int_bytes(n: i64) -> Vec<u8> {
    let b = n.to_be_bytes();
    let mut i = 0;
    while i < 7 && ((b[i] == 0 && b[i + 1] & 0x80 == 0) || (b[i] == 0xff && b[i + 1] & 0x80 != 0)) {
        i += 1;
    }
    b[i..].to_vec()
}

/// INTEGER TLV with `tag` (0x02, 0x0a for ENUMERATED, or an application tag).
pub fn int_tlv(tag: u8, n: i64) -> Vec<u8> {
    tlv(tag, &int_bytes(n))
}

/// Unsigned application INTEGER (Counter/Gauge/TimeTicks) contents.
pub fn uint_bytes(n: u64) -> Vec<u8> {
    let b = n.to_be_bytes();
    let first = b.iter().position(|&x| x != 0).unwrap_or(7);
    let mut v = b[first..].to_vec();
    if v[0] & 0x80 != 0 {
        v.insert(0, 0);
    }
    v
}

/// Decodes an OBJECT IDENTIFIER into arcs (at most 128 arcs).
pub fn oid_decode(v: &[u8]) -> WResult<Vec<u32>> {
    if v.is_empty() {
        return Err(WireError::new("empty OID"));
    }
    let mut arcs = Vec::new();
    let mut cur: u64 = 0;
    for (i, &b) in v.iter().enumerate() {
        cur = (cur << 7) | (b & 0x7f) as u64;
        if cur > u32::MAX as u64 {
            return Err(WireError::new("OID arc too large"));
        }
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (cur / 40).min(2);
                arcs.push(first as u32);
                arcs.push((cur - first * 40) as u32);
            } else {
                arcs.push(cur as u32);
            }
            cur = 0;
            if arcs.len() > 128 {
                return Err(WireError::new("OID too long"));
            }
        } else if i == v.len() - 1 {
            return Err(WireError::new("truncated OID"));
        }
    }
    Ok(arcs)
}

/// Encodes OID arcs (at least two).
pub fn oid_encode(arcs: &[u32]) -> Vec<u8> {
    let mut out = Vec::new();
    if arcs.len() < 2 {
        return vec![0];
    }
    let mut push = |mut n: u64| {
        let mut tmp = vec![(n & 0x7f) as u8];
        n >>= 7;
        while n > 0 {
            tmp.push(((n & 0x7f) as u8) | 0x80);
            n >>= 7;
        }
        tmp.reverse();
        out.extend_from_slice(&tmp);
    };
    push(arcs[0] as u64 * 40 + arcs[1] as u64);
    for &a in &arcs[2..] {
        push(a as u64);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lengths_ints_oids() {
        assert_eq!(tlv(0x04, &[1; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(int(&int_bytes(-129)).unwrap(), -129);
        assert_eq!(int(&int_bytes(128)).unwrap(), 128);
        let sys_descr = [1, 3, 6, 1, 2, 1, 1, 1, 0];
        assert_eq!(oid_encode(&sys_descr), vec![0x2b, 6, 1, 2, 1, 1, 1, 0]);
        assert_eq!(oid_decode(&oid_encode(&sys_descr)).unwrap(), sys_descr);
        assert!(read(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff]).is_err());
        assert_eq!(frame_len(&[0x30, 0x03, 1, 2], 100).unwrap(), None);
        assert_eq!(frame_len(&[0x30, 0x03, 1, 2, 3, 9], 100).unwrap(), Some(5));
        assert!(frame_len(&[0x30, 0x84, 0x7f, 0, 0, 0], 100).is_err());
    }

    proptest! {
        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok((t, rest)) = read(&data) { prop_assert!(t.value.len() + rest.len() < data.len()); }
            let _ = children(&data);
            let _ = frame_len(&data, 1000);
            let _ = oid_decode(&data);
            let _ = int(&data);
        }

        #[test]
        fn int_roundtrip(n in any::<i64>()) {
            prop_assert_eq!(int(&int_bytes(n)).unwrap(), n);
        }

        #[test]
        fn oid_roundtrip(a in 0u32..3, b in 0u32..40, rest in proptest::collection::vec(any::<u32>(), 0..10)) {
            let mut arcs = vec![a, b];
            arcs.extend(rest);
            prop_assert_eq!(oid_decode(&oid_encode(&arcs)).unwrap(), arcs);
        }
    }
}
