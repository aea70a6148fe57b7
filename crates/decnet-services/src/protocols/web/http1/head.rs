//! Request heads, read the way the server a persona names reads them.
//!
//! nginx checks the request line byte by byte as it arrives and answers
//! 400 at the first byte no request line may hold (so binary probes get an
//! answer at once); Apache reads a whole line before judging it (so a probe
//! without a newline gets silence). Both cap a request line near 8 KiB
//! (414) and a header line likewise (400). Pure functions: proptested on
//! arbitrary bytes.

/// Longest request line or header line (nginx `large_client_header_buffers
/// 8k`, Apache `LimitRequestLine`/`LimitRequestFieldSize` 8190).
pub const MAX_LINE: usize = 8190;
/// Longest whole head.
pub const MAX_HEAD: usize = 32 * 1024;
/// Most header fields kept (Apache's `LimitRequestFields`).
pub const MAX_FIELDS: usize = 100;

/// The HTTP version of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// A bare `GET /` line: the answer is the body alone.
    Http09,
    /// `HTTP/major.minor`.
    Http(u16, u16),
}

impl Version {
    /// True for HTTP/1.1 and later.
    pub fn at_least_11(self) -> bool {
        matches!(self, Version::Http(ma, mi) if ma > 1 || (ma == 1 && mi >= 1))
    }
}

/// A parsed request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Method as sent.
    pub method: String,
    /// Request target as sent (origin form, absolute form or `*`).
    pub target: String,
    /// Version.
    pub version: Version,
    /// Header fields in order (names as sent).
    pub fields: Vec<(String, Vec<u8>)>,
}

impl Head {
    /// The first field named `name` (case-insensitive), as text.
    pub fn field(&self, name: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v).trim().to_owned())
    }

    /// True when a `Connection` field lists `token`.
    pub fn connection_has(&self, token: &str) -> bool {
        self.field("connection")
            .is_some_and(|c| c.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }
}

/// Why a head was refused; each maps to the status the server sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// 400.
    Bad,
    /// 400 with the server's "header too large" wording.
    FieldTooLarge,
    /// 414.
    UriTooLong,
    /// 505 (nginx, HTTP/2 and later on a 1.x port).
    VersionNotSupported,
}

/// How far the bytes received so far go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scan {
    /// More bytes are needed.
    Incomplete,
    /// A whole head ends at this offset.
    Complete(usize),
    /// The head can already be refused.
    Refused(HeadError),
}

/// The two ways of reading a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    /// nginx: request line checked byte by byte.
    Eager,
    /// Apache and the others: judged once a line is whole.
    Lined,
}

/// Scans `buf` (the bytes so far) for a complete head.
pub fn scan(buf: &[u8], reader: Reader) -> Scan {
    let start = skip_blank_lines(buf);
    let rest = &buf[start..];
    let line_end = rest.iter().position(|&b| b == b'\n');
    if reader == Reader::Eager {
        let line = &rest[..line_end.unwrap_or(rest.len())];
        if let Err(e) = eager_line_check(line, line_end.is_some()) {
            return Scan::Refused(e);
        }
    }
    let Some(line_end) = line_end else {
        return if rest.len() > MAX_LINE {
            Scan::Refused(HeadError::UriTooLong)
        } else {
            Scan::Incomplete
        };
    };
    if line_end > MAX_LINE {
        return Scan::Refused(HeadError::UriTooLong);
    }
    // A whole request line is judged before any header is waited for.
    if request_line(trim_cr(&rest[..line_end])).is_err() {
        return Scan::Refused(HeadError::Bad);
    }
    // A request line without a version is HTTP/0.9: no header fields follow.
    if is_http09(trim_cr(&rest[..line_end])) {
        return Scan::Complete(start + line_end + 1);
    }
    let mut i = line_end + 1;
    loop {
        let Some(n) = rest[i..].iter().position(|&b| b == b'\n') else {
            return if rest.len() - i > MAX_LINE || buf.len() > MAX_HEAD {
                Scan::Refused(HeadError::FieldTooLarge)
            } else {
                Scan::Incomplete
            };
        };
        if n > MAX_LINE {
            return Scan::Refused(HeadError::FieldTooLarge);
        }
        let line = trim_cr(&rest[i..i + n]);
        i += n + 1;
        if line.is_empty() {
            return Scan::Complete(start + i);
        }
        if start + i > MAX_HEAD {
            return Scan::Refused(HeadError::FieldTooLarge);
        }
    }
}

fn skip_blank_lines(buf: &[u8]) -> usize {
    buf.iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(buf.len())
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn is_http09(line: &[u8]) -> bool {
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(_), Some(_), None)
    )
}

fn is_method_byte(b: u8) -> bool {
    b.is_ascii_uppercase() || b == b'_' || b == b'-'
}

/// nginx's request-line automaton, run over what arrived so far: an
/// error as soon as a byte cannot belong to a request line.
fn eager_line_check(line: &[u8], whole: bool) -> Result<(), HeadError> {
    let line = if whole { trim_cr(line) } else { line };
    let mut it = line.iter().copied().peekable();
    // Method.
    let mut method_len = 0;
    while let Some(&b) = it.peek() {
        if is_method_byte(b) {
            method_len += 1;
            it.next();
        } else {
            break;
        }
    }
    match it.next() {
        None if !whole && method_len <= 32 => return Ok(()),
        Some(b' ') if method_len > 0 => {}
        _ => return Err(HeadError::Bad),
    }
    while it.peek() == Some(&b' ') {
        it.next();
    }
    // Target: a path, or an absolute URI `scheme://…`.
    match it.peek().copied() {
        None if !whole => return Ok(()),
        Some(b'/') => {}
        Some(b) if b.is_ascii_alphabetic() => {
            while let Some(&c) = it.peek() {
                if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.') {
                    it.next();
                } else {
                    break;
                }
            }
            for want in [b':', b'/', b'/'] {
                match it.next() {
                    None if !whole => return Ok(()),
                    Some(c) if c == want => {}
                    _ => return Err(HeadError::Bad),
                }
            }
        }
        _ => return Err(HeadError::Bad),
    }
    loop {
        match it.next() {
            None => return Ok(()),
            Some(b' ') => break,
            Some(0) => return Err(HeadError::Bad),
            Some(_) => {}
        }
    }
    while it.peek() == Some(&b' ') {
        it.next();
    }
    // Version: `HTTP/` 1-9 digits `.` digits, or nothing (HTTP/0.9).
    for want in *b"HTTP/" {
        match it.next() {
            None => return Ok(()),
            Some(c) if c == want => {}
            _ => return Err(HeadError::Bad),
        }
    }
    match it.next() {
        None => return Ok(()),
        Some(b'1'..=b'9') => {}
        _ => return Err(HeadError::Bad),
    }
    let mut dot = false;
    let mut digits = 0;
    for c in it.by_ref() {
        match c {
            b'0'..=b'9' => {
                digits += 1;
                if digits > 3 {
                    return Err(HeadError::Bad);
                }
            }
            b'.' if !dot => {
                dot = true;
                digits = 0;
            }
            b' ' if dot && digits > 0 => break,
            _ => return Err(HeadError::Bad),
        }
    }
    if it.any(|c| c != b' ') {
        return Err(HeadError::Bad);
    }
    Ok(())
}

/// Splits a request line into method, target and version.
fn request_line(line: &[u8]) -> Result<(&str, &str, Version), HeadError> {
    let text = std::str::from_utf8(line).map_err(|_| HeadError::Bad)?;
    if text.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(HeadError::Bad);
    }
    let parts: Vec<&str> = text.split(' ').filter(|p| !p.is_empty()).collect();
    let (method, target, version) = match parts.as_slice() {
        [m, t] => (*m, *t, Version::Http09),
        [m, t, v] => (*m, *t, parse_version(v)?),
        _ => return Err(HeadError::Bad),
    };
    if !method.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HeadError::Bad);
    }
    Ok((method, target, version))
}

/// Parses a complete head (`buf[..end]` from [`scan`]).
pub fn parse(buf: &[u8]) -> Result<Head, HeadError> {
    let buf = &buf[skip_blank_lines(buf)..];
    let mut lines = buf.split(|&b| b == b'\n').map(trim_cr);
    let (method, target, version) = request_line(lines.next().ok_or(HeadError::Bad)?)?;
    let mut fields = Vec::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if fields.len() >= MAX_FIELDS {
            return Err(HeadError::FieldTooLarge);
        }
        match line.iter().position(|&b| b == b':') {
            Some(c) if c > 0 => {
                let name = String::from_utf8_lossy(&line[..c]).into_owned();
                fields.push((name, line[c + 1..].trim_ascii().to_vec()));
            }
            // Kept as a nameless field: each flavour decides what it means.
            _ => fields.push((String::new(), line.to_vec())),
        }
    }
    Ok(Head {
        method: method.to_owned(),
        target: target.to_owned(),
        version,
        fields,
    })
}

fn parse_version(v: &str) -> Result<Version, HeadError> {
    let rest = v.strip_prefix("HTTP/").ok_or(HeadError::Bad)?;
    let (ma, mi) = rest.split_once('.').ok_or(HeadError::Bad)?;
    let num = |s: &str| {
        (!s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
            .ok_or(HeadError::Bad)
    };
    Ok(Version::Http(num(ma)?, num(mi)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn eager_reader_refuses_binary_at_once_and_waits_for_text() {
        for junk in [
            &b"\x16\x03\x00"[..],
            b"\0\0\0",
            b"HELP\r\n",
            b"OPTIONS * HTTP/1.1\r\n",
            b"OPTIONS sip:nm SIP/2.0\r\n",
            b"OPTIONS / RTSP/1.0\r\n",
        ] {
            assert_eq!(
                scan(junk, Reader::Eager),
                Scan::Refused(HeadError::Bad),
                "{junk:?}"
            );
        }
        assert_eq!(scan(b"\r\n\r\n", Reader::Eager), Scan::Incomplete);
        assert_eq!(scan(b"GET / HT", Reader::Eager), Scan::Incomplete);
        assert_eq!(scan(b"GET /x", Reader::Eager), Scan::Incomplete);
        assert_eq!(scan(b"\x16\x03\x00", Reader::Lined), Scan::Incomplete);
        assert_eq!(
            scan(b"HELP\r\n", Reader::Lined),
            Scan::Refused(HeadError::Bad)
        );
        assert_eq!(scan(b"GET / HTTP/1.1\r\n", Reader::Lined), Scan::Incomplete);
        let req = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest";
        assert_eq!(scan(req, Reader::Eager), Scan::Complete(req.len() - 4));
        assert_eq!(scan(b"GET /\r\n", Reader::Eager), Scan::Complete(7));
    }

    #[test]
    fn long_lines_are_refused_with_their_status() {
        let mut uri = b"GET /".to_vec();
        uri.extend(std::iter::repeat_n(b'a', 9000));
        assert_eq!(
            scan(&uri, Reader::Lined),
            Scan::Refused(HeadError::UriTooLong)
        );
        let mut field = b"GET / HTTP/1.1\r\nX: ".to_vec();
        field.extend(std::iter::repeat_n(b'a', 9000));
        assert_eq!(
            scan(&field, Reader::Eager),
            Scan::Refused(HeadError::FieldTooLarge)
        );
    }

    #[test]
    fn heads_parse_with_fields_in_order() {
        let h = parse(b"GET /x?y HTTP/1.0\r\nHost: a\r\nBad\r\nX-A:  b \r\n\r\n").unwrap();
        assert_eq!(h.method, "GET");
        assert_eq!(h.target, "/x?y");
        assert_eq!(h.version, Version::Http(1, 0));
        assert_eq!(h.field("host").as_deref(), Some("a"));
        assert_eq!(h.field("x-a").as_deref(), Some("b"));
        assert_eq!(h.fields[1].0, "");
        assert_eq!(parse(b"GET /\r\n").unwrap().version, Version::Http09);
        assert_eq!(parse(b"GARBAGE\r\n\r\n"), Err(HeadError::Bad));
        assert_eq!(
            parse(b"GET / HTTP/9.9\r\n\r\n").unwrap().version,
            Version::Http(9, 9)
        );
    }

    proptest! {
        #[test]
        fn any_bytes_scan_and_parse_without_panic(b in proptest::collection::vec(any::<u8>(), 0..400)) {
            for r in [Reader::Eager, Reader::Lined] {
                if let Scan::Complete(end) = scan(&b, r) {
                    prop_assert!(end <= b.len());
                    let _ = parse(&b[..end]);
                }
            }
        }
    }
}
