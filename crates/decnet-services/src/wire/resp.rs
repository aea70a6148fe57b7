//! RESP (REdis Serialization Protocol) request framing: multibulk arrays of
//! bulk strings and inline commands, both with every count and length
//! bounded before anything is allocated.

use super::{WResult, WireError};

/// Most arguments in one command.
pub const MAX_ARGS: usize = 1024;
/// Longest inline command without a newline. Redis refuses past 64 KiB
/// but checks only after each 16 KiB read, so a line whose newline comes
/// in the read that crosses 64 KiB still runs.
pub const MAX_INLINE: usize = 80 * 1024;

/// Bounds of the framer.
#[derive(Debug, Clone, Copy)]
pub struct RespLimits {
    /// Longest inline command / header line.
    pub max_line: usize,
    /// Largest bulk string.
    pub max_bulk: usize,
}

fn find_crlf(buf: &[u8], from: usize, max_line: usize) -> WResult<Option<usize>> {
    let window = &buf[from..];
    match window.iter().position(|&b| b == b'\n') {
        Some(i) if i > max_line => Err(WireError::new("line too long")),
        Some(i) => Ok(Some(from + i)),
        None if window.len() > max_line => Err(WireError::new("line too long")),
        None => Ok(None),
    }
}

fn parse_num(line: &[u8]) -> WResult<i64> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let s = std::str::from_utf8(line).map_err(|_| WireError::new("invalid number"))?;
    s.parse::<i64>()
        .map_err(|_| WireError::new(format!("invalid number '{}'", super::excerpt(line, 32))))
}

/// Splits an inline command like Redis' `sdssplitargs`: blanks separate
/// arguments, `"…"` takes C escapes (`\\n`, `\\x41`…), `'…'` only `\\'`; a
/// closing quote must end the argument. `None` for unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let blank = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && blank(line[i]) {
            i += 1;
        }
        if i >= line.len() || args.len() >= MAX_ARGS {
            return Some(args);
        }
        let mut cur = Vec::new();
        let (mut dq, mut sq) = (false, false);
        loop {
            let c = line.get(i).copied();
            if dq {
                match c {
                    None => return None,
                    Some(b'\\') if line.get(i + 1) == Some(&b'x') => {
                        let hex = line.get(i + 2..i + 4).and_then(|h| {
                            std::str::from_utf8(h)
                                .ok()
                                .and_then(|h| u8::from_str_radix(h, 16).ok())
                        });
                        if let Some(byte) = hex {
                            cur.push(byte);
                            i += 3;
                        } else {
                            cur.push(b'\\');
                        }
                    }
                    Some(b'\\') if i + 1 < line.len() => {
                        i += 1;
                        cur.push(match line[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        if line.get(i + 1).is_some_and(|&n| !blank(n)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(b) => cur.push(b),
                }
            } else if sq {
                match c {
                    None => return None,
                    Some(b'\\') if line.get(i + 1) == Some(&b'\'') => {
                        i += 1;
                        cur.push(b'\'');
                    }
                    Some(b'\'') => {
                        if line.get(i + 1).is_some_and(|&n| !blank(n)) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(b) => cur.push(b),
                }
            } else {
                match c {
                    None => break,
                    Some(b) if blank(b) => break,
                    Some(b'"') => dq = true,
                    Some(b'\'') => sq = true,
                    Some(b) => cur.push(b),
                }
            }
            i += 1;
        }
        args.push(cur);
    }
}

/// Tries to take one command from the front of `buf`.
/// `Ok(None)` means more bytes are needed; `Ok(Some((args, used)))` a
/// complete command; `Err` a protocol error (the connection should close,
/// as Redis does).
pub fn parse_command(buf: &[u8], lim: RespLimits) -> WResult<Option<(Vec<Vec<u8>>, usize)>> {
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] != b'*' {
        // Redis finds the end of an inline command with strchr(), which
        // stops at a NUL byte: binary junk waits for more input.
        let searched = buf.split(|&b| b == 0).next().unwrap_or(buf);
        let Some(end) = searched.iter().position(|&b| b == b'\n') else {
            if buf.len() > MAX_INLINE {
                return Err(WireError::new("too big inline request"));
            }
            return Ok(None);
        };
        let line = &buf[..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let args =
            split_args(line).ok_or_else(|| WireError::new("unbalanced quotes in request"))?;
        return Ok(Some((args, end + 1)));
    }
    let Some(end) = find_crlf(buf, 0, 32)? else {
        return Ok(None);
    };
    let n = parse_num(&buf[1..end])?;
    if n > MAX_ARGS as i64 {
        return Err(WireError::new("invalid multibulk length"));
    }
    let mut pos = end + 1;
    if n <= 0 {
        return Ok(Some((Vec::new(), pos)));
    }
    let mut args = Vec::with_capacity(n as usize);
    for _ in 0..n {
        if pos >= buf.len() {
            return Ok(None);
        }
        if buf[pos] != b'$' {
            return Err(WireError::new(format!(
                "expected '$', got '{}'",
                super::excerpt(&buf[pos..pos + 1], 1)
            )));
        }
        let Some(end) = find_crlf(buf, pos, 32)? else {
            return Ok(None);
        };
        let len = parse_num(&buf[pos + 1..end])?;
        if len < 0 || len as u64 > lim.max_bulk as u64 {
            return Err(WireError::new("invalid bulk length"));
        }
        let len = len as usize;
        let start = end + 1;
        if buf.len() < start + len + 2 {
            return Ok(None);
        }
        args.push(buf[start..start + len].to_vec());
        pos = start + len + 2;
    }
    Ok(Some((args, pos)))
}

/// Reply encoder (RESP2, or RESP3 after `HELLO 3`).
#[derive(Debug, Default)]
pub struct Out {
    /// Encoded bytes.
    pub buf: Vec<u8>,
    /// RESP3 framing for nulls and maps.
    pub resp3: bool,
}

impl Out {
    /// `+OK`-style status.
    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }
    /// `-ERR …` error.
    pub fn error(&mut self, s: &str) {
        self.error_bytes(s.as_bytes())
    }
    /// An error whose text carries the client's raw bytes (no CR/LF).
    pub fn error_bytes(&mut self, s: &[u8]) {
        self.buf.push(b'-');
        self.buf.extend_from_slice(s);
        self.buf.extend_from_slice(b"\r\n");
    }
    /// Integer.
    pub fn int(&mut self, n: i64) {
        self.buf.extend_from_slice(format!(":{n}\r\n").as_bytes());
    }
    /// Bulk string.
    pub fn bulk(&mut self, b: &[u8]) {
        self.buf
            .extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
        self.buf.extend_from_slice(b);
        self.buf.extend_from_slice(b"\r\n");
    }
    /// Null bulk.
    pub fn null(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }
    /// Array header.
    pub fn array(&mut self, n: usize) {
        self.buf.extend_from_slice(format!("*{n}\r\n").as_bytes());
    }
    /// Map header (`%n` in RESP3, a flat array of 2n in RESP2).
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.buf.extend_from_slice(format!("%{n}\r\n").as_bytes());
        } else {
            self.array(n * 2);
        }
    }
}

/// Redis glob matching (`*`, `?`, `[abc]`, `\x`), iterative and bounded.
pub fn glob(pattern: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    let (mut star_p, mut star_i) = (usize::MAX, 0usize);
    while i < s.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star_p = p;
                    star_i = i;
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    i += 1;
                    continue;
                }
                b'[' => {
                    if let Some(close) = pattern[p + 1..].iter().position(|&c| c == b']') {
                        let set = &pattern[p + 1..p + 1 + close];
                        if set.contains(&s[i]) {
                            p += close + 2;
                            i += 1;
                            continue;
                        }
                    } else if s[i] == b'[' {
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
                b'\\' if p + 1 < pattern.len() && pattern[p + 1] == s[i] => {
                    p += 2;
                    i += 1;
                    continue;
                }
                c if c == s[i] => {
                    p += 1;
                    i += 1;
                    continue;
                }
                _ => {}
            }
        }
        if star_p != usize::MAX {
            p = star_p + 1;
            star_i += 1;
            i = star_i;
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIM: RespLimits = RespLimits {
        max_line: 1024,
        max_bulk: 4096,
    };

    #[test]
    fn multibulk_inline_partial() {
        let b = b"*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\nPING\r\n";
        let (args, used) = parse_command(b, LIM).unwrap().unwrap();
        assert_eq!(args, vec![b"AUTH".to_vec(), b"secret".to_vec()]);
        let (args2, used2) = parse_command(&b[used..], LIM).unwrap().unwrap();
        assert_eq!(args2, vec![b"PING".to_vec()]);
        assert_eq!(used + used2, b.len());
        for cut in 0..b.len() - 6 {
            if cut < used {
                assert_eq!(parse_command(&b[..cut], LIM).unwrap(), None, "cut {cut}");
            }
        }
        assert!(parse_command(b"*2\r\n$99999999\r\n", LIM).is_err());
        assert!(parse_command(b"*99999999\r\n", LIM).is_err());
    }

    #[test]
    fn globbing() {
        assert!(glob(b"*", b"anything"));
        assert!(glob(b"user:*", b"user:1"));
        assert!(!glob(b"user:?", b"user:12"));
        assert!(glob(b"h[ae]llo", b"hello"));
        assert!(!glob(b"h[ae]llo", b"hillo"));
    }

    proptest! {
        #[test]
        fn framer_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(Some((args, used))) = parse_command(&data, LIM) {
                prop_assert!(used <= data.len());
                prop_assert!(args.len() <= MAX_ARGS);
            }
        }

        #[test]
        fn framer_multibulk_fuzz(n in 0i64..5, lens in proptest::collection::vec(-3i64..50, 0..5), tail in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut b = format!("*{n}\r\n").into_bytes();
            for l in lens { b.extend_from_slice(format!("${l}\r\n").as_bytes()); b.extend_from_slice(&tail); }
            let _ = parse_command(&b, LIM);
        }

        #[test]
        fn glob_never_panics(p in proptest::collection::vec(any::<u8>(), 0..20), s in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = glob(&p, &s);
        }
    }
}
