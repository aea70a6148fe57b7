//! S7comm over ISO-on-TCP (RFC 1006 TPKT + ISO 8073 COTP): connection
//! request, data TPDUs and the S7 header, job setup and SZL reads.

use super::{Cursor, WResult, WireError};

/// A COTP TPDU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cotp<'a> {
    /// Connection request: (source reference, parameter bytes).
    ConnectionRequest(u16, &'a [u8]),
    /// Data (payload after the 3-byte DT header).
    Data(&'a [u8]),
    /// Disconnect or anything else (type code).
    Other(u8),
}

/// Decodes the COTP TPDU after the TPKT header.
pub fn cotp(p: &[u8]) -> WResult<Cotp<'_>> {
    let li = *p.first().ok_or_else(|| WireError::new("cotp: empty"))? as usize;
    if li + 1 > p.len() || li < 2 {
        return Err(WireError::new("cotp: bad length indicator"));
    }
    match p[1] & 0xf0 {
        0xe0 => {
            if li < 6 {
                return Err(WireError::new("cotp: short CR"));
            }
            let src = u16::from_be_bytes([p[4], p[5]]);
            Ok(Cotp::ConnectionRequest(src, &p[7..li + 1]))
        }
        0xf0 => Ok(Cotp::Data(&p[li + 1..])),
        t => Ok(Cotp::Other(t)),
    }
}

/// An S7 PDU header plus its parameter and data parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S7<'a> {
    /// ROSCTR (1 job, 2 ack, 3 ack-data, 7 userdata).
    pub rosctr: u8,
    /// PDU reference.
    pub pdu_ref: u16,
    /// Parameters.
    pub param: &'a [u8],
    /// Data.
    pub data: &'a [u8],
}

/// Decodes an S7 PDU.
pub fn s7(b: &[u8]) -> WResult<S7<'_>> {
    let mut c = Cursor::new(b);
    if c.u8()? != 0x32 {
        return Err(WireError::new("s7: bad protocol id"));
    }
    let rosctr = c.u8()?;
    c.take(2)?;
    let pdu_ref = c.u16be()?;
    let pl = c.u16be()? as usize;
    let dl = c.u16be()? as usize;
    if rosctr == 2 || rosctr == 3 {
        c.take(2)?;
    }
    let param = c.take(pl)?;
    let data = c.take(dl)?;
    Ok(S7 {
        rosctr,
        pdu_ref,
        param,
        data,
    })
}

/// An SZL read in a userdata PDU: (SZL id, index).
pub fn szl_read(p: &S7<'_>) -> Option<(u16, u16)> {
    if p.rosctr != 7 || p.param.len() < 8 || p.param[5] & 0x0f != 4 || p.param[6] != 1 {
        return None;
    }
    let d = p.data;
    if d.len() < 8 {
        return None;
    }
    Some((
        u16::from_be_bytes([d[4], d[5]]),
        u16::from_be_bytes([d[6], d[7]]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nmap_frames() {
        let cr = hex::decode("11e00000001400c1020100c2020102c0010a").unwrap();
        assert!(matches!(
            cotp(&cr).unwrap(),
            Cotp::ConnectionRequest(0x14, _)
        ));
        let szl =
            hex::decode("02f080320700000000000800080001120411440100ff09000400110001").unwrap();
        let Cotp::Data(d) = cotp(&szl).unwrap() else {
            panic!()
        };
        let p = s7(d).unwrap();
        assert_eq!(szl_read(&p), Some((0x11, 1)));
    }

    proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = cotp(&b);
            if let Ok(p) = s7(&b) { let _ = szl_read(&p); }
            let mut h = vec![0x32u8, 7];
            h.extend_from_slice(&b);
            if let Ok(p) = s7(&h) { let _ = szl_read(&p); }
        }
    }
}
