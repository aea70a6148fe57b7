//! IPP (RFC 8010) request decoding and attribute encoding, plus the PJL
//! line classifier of raw JetDirect jobs.

use super::{Cursor, WResult, WireError};

/// A decoded IPP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IppRequest {
    /// (major, minor).
    pub version: (u8, u8),
    /// operation-id.
    pub op: u16,
    /// request-id.
    pub request_id: u32,
    /// Attributes: (value tag, name, value), at most 64 kept.
    pub attrs: Vec<(u8, String, Vec<u8>)>,
    /// Offset of the document data (after end-of-attributes).
    pub data_offset: usize,
}

impl IppRequest {
    /// First value of attribute `name`, as text.
    pub fn attr(&self, name: &str) -> Option<String> {
        self.attrs
            .iter()
            .find(|(_, n, _)| n == name)
            .map(|(_, _, v)| String::from_utf8_lossy(v).into_owned())
    }
}

/// Decodes an IPP request message.
pub fn request(b: &[u8]) -> WResult<IppRequest> {
    let mut c = Cursor::new(b);
    let version = (c.u8()?, c.u8()?);
    let op = c.u16be()?;
    let request_id = c.u32be()?;
    let mut attrs = Vec::new();
    let mut last_name = String::new();
    loop {
        let tag = c.u8()?;
        match tag {
            0x03 => break,
            0x00..=0x0f => continue,
            _ => {
                let nl = c.u16be()? as usize;
                let name = c.take(nl)?;
                let vl = c.u16be()? as usize;
                let value = c.take(vl)?;
                if nl > 0 {
                    last_name = String::from_utf8_lossy(&name[..nl.min(128)]).into_owned();
                }
                if attrs.len() < 64 {
                    attrs.push((tag, last_name.clone(), value[..vl.min(1024)].to_vec()));
                }
            }
        }
    }
    if version.0 == 0 || version.0 > 2 {
        return Err(WireError::new("ipp: bad version"));
    }
    Ok(IppRequest {
        version,
        op,
        request_id,
        attrs,
        data_offset: c.pos(),
    })
}

/// Appends one attribute (a `name` of "" adds another value to the previous).
pub fn attr(out: &mut Vec<u8>, tag: u8, name: &str, value: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&(name.len() as u16).to_be_bytes());
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
}

/// A PJL line (`@PJL ...`, after any UEL), uppercased command part.
pub fn pjl_command(line: &[u8]) -> Option<String> {
    let mut l = line;
    while let Some(rest) = l.strip_prefix(b"\x1b%-12345X") {
        l = rest;
    }
    let l = l.strip_suffix(b"\n").unwrap_or(l);
    let l = l.strip_suffix(b"\r").unwrap_or(l);
    if l.len() >= 4 && l[..4].eq_ignore_ascii_case(b"@PJL") {
        Some(
            String::from_utf8_lossy(&l[..l.len().min(1024)])
                .trim()
                .to_owned(),
        )
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_get_printer_attributes() {
        let mut b = vec![2, 0, 0, 0x0b, 0, 0, 0, 7, 1];
        attr(&mut b, 0x47, "attributes-charset", b"utf-8");
        attr(&mut b, 0x45, "printer-uri", b"ipp://x/ipp");
        b.push(3);
        b.extend_from_slice(b"DOC");
        let r = request(&b).unwrap();
        assert_eq!((r.op, r.request_id), (0x0b, 7));
        assert_eq!(r.attr("printer-uri").as_deref(), Some("ipp://x/ipp"));
        assert_eq!(&b[r.data_offset..], b"DOC");
        assert_eq!(
            pjl_command(b"\x1b%-12345X@PJL INFO ID\r\n").as_deref(),
            Some("@PJL INFO ID")
        );
    }

    proptest! {
        #[test]
        fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..400)) {
            if let Ok(r) = request(&b) { prop_assert!(r.data_offset <= b.len()); }
            let _ = pjl_command(&b);
        }
    }
}
