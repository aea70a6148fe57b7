//! What each tarpit kind writes, a few bytes per interval, computed from
//! the connection's byte count so a held connection stores no buffer.

use rand::Rng;

/// Longest endless-banner line, CRLF included (endlessh's default is 32).
const SSH_LINE_MAX: usize = 34;
/// Bytes of the never-ending HTTP response written per interval.
pub(crate) const HTTP_CHUNK: usize = 8;
/// First line of the HTTP response.
const HTTP_STATUS: &[u8] = b"HTTP/1.1 200 OK\r\n";
/// Length of every header line after the status line (fixed, so byte `n`
/// of the response can be computed without keeping what came before).
const HTTP_HEADER_LEN: usize = 47;

/// One endless-banner line in `buf`: printable ASCII, never starting with
/// `SSH-` (the client would take it for the version line), CRLF-ended.
/// Returns its length.
pub(crate) fn ssh_line(buf: &mut [u8; SSH_LINE_MAX], rng: &mut impl Rng) -> usize {
    let body = rng.gen_range(3..=SSH_LINE_MAX - 2);
    for (i, b) in buf.iter_mut().take(body).enumerate() {
        // Lower case first, so a line can never begin with "SSH-".
        *b = if i == 0 {
            rng.gen_range(b'a'..=b'z')
        } else {
            rng.gen_range(b' '..=b'~')
        };
    }
    buf[body] = b'\r';
    buf[body + 1] = b'\n';
    body + 2
}

/// A buffer for [`ssh_line`].
pub(crate) fn ssh_buf() -> [u8; SSH_LINE_MAX] {
    [0; SSH_LINE_MAX]
}

/// Header line `k` (from 1) of the endless HTTP response: a cookie whose
/// name and value come from `k`, so the same connection always gets the
/// same bytes at the same offset.
fn http_header(k: u64, line: &mut [u8; HTTP_HEADER_LEN]) {
    let value = k.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (k << 17);
    let text = format!(
        "Set-Cookie: s{:07x}={value:016x}; Path=/\r\n",
        k & 0x0FFF_FFFF
    );
    line.copy_from_slice(&text.as_bytes()[..HTTP_HEADER_LEN]);
}

/// The next `out.len()` bytes of the endless HTTP response from offset
/// `sent`: the status line, then header lines that never end.
pub(crate) fn http_bytes(sent: u64, out: &mut [u8; HTTP_CHUNK]) {
    let mut line = [0u8; HTTP_HEADER_LEN];
    let mut current = u64::MAX;
    for (i, b) in out.iter_mut().enumerate() {
        let at = sent + i as u64;
        let status = HTTP_STATUS.len() as u64;
        if at < status {
            *b = HTTP_STATUS[at as usize];
            continue;
        }
        let k = (at - status) / HTTP_HEADER_LEN as u64 + 1;
        if k != current {
            http_header(k, &mut line);
            current = k;
        }
        *b = line[((at - status) % HTTP_HEADER_LEN as u64) as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_lines_never_look_like_a_version_line() {
        let mut rng = rand::thread_rng();
        let mut buf = ssh_buf();
        for _ in 0..2_000 {
            let n = ssh_line(&mut buf, &mut rng);
            let line = &buf[..n];
            assert!((5..=SSH_LINE_MAX).contains(&n));
            assert!(!line.starts_with(b"SSH-"));
            assert!(line.ends_with(b"\r\n"));
            assert!(line[..n - 2].iter().all(|b| (b' '..=b'~').contains(b)));
        }
    }

    #[test]
    fn http_stream_is_a_status_line_then_well_formed_headers() {
        let mut all = Vec::new();
        let mut chunk = [0u8; HTTP_CHUNK];
        while all.len() < 2_000 {
            http_bytes(all.len() as u64, &mut chunk);
            all.extend_from_slice(&chunk);
        }
        let text = String::from_utf8(all).unwrap();
        let mut lines = text.split("\r\n");
        assert_eq!(lines.next(), Some("HTTP/1.1 200 OK"));
        let headers: Vec<&str> = lines.collect();
        // Every complete line is a header; none is empty (that would end the head).
        for h in &headers[..headers.len() - 1] {
            assert_eq!(h.len() + 2, HTTP_HEADER_LEN, "{h}");
            assert!(h.starts_with("Set-Cookie: s"), "{h}");
        }
        assert_ne!(headers[0], headers[1]);
    }

    #[test]
    fn http_bytes_depend_only_on_the_offset() {
        let (mut a, mut b) = ([0u8; HTTP_CHUNK], [0u8; HTTP_CHUNK]);
        http_bytes(1_000_003, &mut a);
        http_bytes(1_000_003, &mut b);
        assert_eq!(a, b);
    }
}
