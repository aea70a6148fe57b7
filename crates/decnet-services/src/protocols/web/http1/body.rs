//! Request bodies: `Content-Length` or chunked, bounded by the session's
//! `max_body` and one deadline, with the `100 Continue` a client that
//! asks for it waits for.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::head::Head;

/// Why a body could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Over the limit (413).
    TooLarge,
    /// Not all of it arrived in time (408).
    Timeout,
    /// A bad length or chunk framing (400).
    Malformed,
    /// The client left.
    Closed,
}

/// Reads the body `head` announces; `buf` holds bytes already received
/// after the head (what is left over stays there for the next request).
pub async fn read<R, W>(
    head: &Head,
    buf: &mut Vec<u8>,
    rd: &mut R,
    wr: &mut W,
    max: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let chunked = head
        .field("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    let length = match head.field("content-length") {
        Some(v) => Some(v.parse::<usize>().map_err(|_| BodyError::Malformed)?),
        None => None,
    };
    if !chunked && length.unwrap_or(0) == 0 {
        return Ok(Bytes::new());
    }
    if length.is_some_and(|n| n > max) {
        return Err(BodyError::TooLarge);
    }
    if head.version.at_least_11()
        && head
            .field("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        && buf.is_empty()
    {
        wr.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .await
            .map_err(|_| BodyError::Closed)?;
    }
    let deadline = tokio::time::Instant::now() + timeout;
    if chunked {
        return read_chunked(buf, rd, max, deadline).await;
    }
    let n = length.unwrap_or(0);
    while buf.len() < n {
        fill(buf, rd, deadline).await?;
    }
    Ok(Bytes::from(buf.drain(..n).collect::<Vec<u8>>()))
}

async fn fill<R: AsyncRead + Unpin>(
    buf: &mut Vec<u8>,
    rd: &mut R,
    deadline: tokio::time::Instant,
) -> Result<(), BodyError> {
    let mut chunk = [0u8; 8192];
    match tokio::time::timeout_at(deadline, rd.read(&mut chunk)).await {
        Ok(Ok(0)) | Ok(Err(_)) => Err(BodyError::Closed),
        Ok(Ok(n)) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(())
        }
        Err(_) => Err(BodyError::Timeout),
    }
}

/// Reads one CRLF-terminated line (bounded) off the front of `buf`.
async fn line<R: AsyncRead + Unpin>(
    buf: &mut Vec<u8>,
    rd: &mut R,
    deadline: tokio::time::Instant,
) -> Result<Vec<u8>, BodyError> {
    loop {
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            let mut l: Vec<u8> = buf.drain(..=i).collect();
            l.pop();
            if l.last() == Some(&b'\r') {
                l.pop();
            }
            return Ok(l);
        }
        if buf.len() > 4096 {
            return Err(BodyError::Malformed);
        }
        fill(buf, rd, deadline).await?;
    }
}

async fn read_chunked<R: AsyncRead + Unpin>(
    buf: &mut Vec<u8>,
    rd: &mut R,
    max: usize,
    deadline: tokio::time::Instant,
) -> Result<Bytes, BodyError> {
    let mut out = Vec::new();
    loop {
        let size_line = line(buf, rd, deadline).await?;
        let size = chunk_size(&size_line).ok_or(BodyError::Malformed)?;
        if size == 0 {
            // Trailer fields, up to the empty line.
            while !line(buf, rd, deadline).await?.is_empty() {}
            return Ok(Bytes::from(out));
        }
        if out.len() + size > max {
            return Err(BodyError::TooLarge);
        }
        while buf.len() < size + 2 {
            fill(buf, rd, deadline).await?;
        }
        out.extend(buf.drain(..size));
        if buf.drain(..2).as_slice() != b"\r\n" {
            return Err(BodyError::Malformed);
        }
    }
}

/// The size of a chunk-size line (extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> Option<usize> {
    let hex = line.split(|&b| b == b';').next()?.trim_ascii();
    if hex.is_empty() || hex.len() > 8 {
        return None;
    }
    usize::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(fields: &str) -> Head {
        super::super::head::parse(format!("POST / HTTP/1.1\r\nHost: a\r\n{fields}\r\n").as_bytes())
            .unwrap()
    }

    #[tokio::test]
    async fn lengths_and_chunks_are_read_and_bounded() {
        let (mut client, server) = tokio::io::duplex(4096);
        let (mut rd, mut wr) = tokio::io::split(server);
        client
            .write_all(b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\nNEXT")
            .await
            .unwrap();
        let mut buf = b"".to_vec();
        let h = head("Transfer-Encoding: chunked\r\n");
        let b = read(&h, &mut buf, &mut rd, &mut wr, 100, Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(&b[..], b"Wikipedia");
        let mut buf = b"hello world".to_vec();
        let h = head("Content-Length: 5\r\n");
        let b = read(&h, &mut buf, &mut rd, &mut wr, 100, Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!((&b[..], &buf[..]), (&b"hello"[..], &b" world"[..]));
        let h = head("Content-Length: 500\r\n");
        assert_eq!(
            read(&h, &mut buf, &mut rd, &mut wr, 100, Duration::from_secs(2)).await,
            Err(BodyError::TooLarge)
        );
        let h = head("Content-Length: x\r\n");
        assert_eq!(
            read(&h, &mut buf, &mut rd, &mut wr, 100, Duration::from_secs(2)).await,
            Err(BodyError::Malformed)
        );
        assert_eq!(chunk_size(b"ffffffffff"), None);
        assert_eq!(chunk_size(b"1A"), Some(26));
    }
}
