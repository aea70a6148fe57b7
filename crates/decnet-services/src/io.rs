//! Bounded, timed reading helpers for line protocols.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};

/// Why a read ended without a line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReadError {
    /// Peer closed the connection.
    #[error("connection closed")]
    Eof,
    /// No byte arrived within the idle timeout.
    #[error("idle timeout")]
    Timeout,
    /// The line exceeded the limit.
    #[error("line longer than {0} bytes")]
    TooLong(usize),
    /// Socket error.
    #[error("i/o error: {0}")]
    Io(String),
    /// The start of the line was refused before its end arrived (see
    /// [`Early`]); those bytes are consumed, the rest of the line is not.
    #[error("line refused before its end")]
    Refused(Vec<u8>),
}

/// Judges the part of a line read so far; true refuses it there.
pub type RefuseEarly<'a> = &'a (dyn Fn(&[u8]) -> bool + Sync);

/// What a daemon decides about a line before its end has arrived.
#[derive(Clone, Copy, Default)]
pub struct Early<'a> {
    /// Report [`ReadError::TooLong`] as soon as the buffered part passes
    /// the limit, instead of discarding up to the newline first (a daemon
    /// whose input buffer is full and that hangs up then).
    pub overflow: bool,
    /// Judges the part of a line read so far (no newline yet): true refuses it.
    pub refuse: Option<RefuseEarly<'a>>,
}

/// Buffered line reader that never holds more than `max` bytes of a line.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// Wraps a reader.
    pub fn new(inner: R) -> Self {
        LineReader {
            inner,
            buf: vec![0; 4096],
            start: 0,
            end: 0,
        }
    }

    /// Gives back the reader (buffered bytes not yet consumed are returned too).
    pub fn into_parts(self) -> (R, Vec<u8>) {
        let rest = self.buf[self.start..self.end].to_vec();
        (self.inner, rest)
    }

    /// Mutable access to the underlying reader.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// [`sleep_unless_closed`] on this reader: what arrives during the
    /// delay is buffered for the next read.
    pub async fn sleep_unless_closed(&mut self, delay: Duration) -> bool {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let LineReader {
            inner, buf, end, ..
        } = self;
        sleep_unless_closed(inner, delay, |data| {
            let room = buf.len() - *end;
            let n = data.len().min(room);
            buf[*end..*end + n].copy_from_slice(&data[..n]);
            *end += n;
            n == data.len()
        })
        .await
    }

    /// Reads raw bytes (whatever is buffered first).
    pub async fn read_some(&mut self, out: &mut [u8], idle: Duration) -> Result<usize, ReadError> {
        if self.start < self.end {
            let n = out.len().min(self.end - self.start);
            out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
            self.start += n;
            return Ok(n);
        }
        match tokio::time::timeout(idle, self.inner.read(out)).await {
            Err(_) => Err(ReadError::Timeout),
            Ok(Ok(0)) => Err(ReadError::Eof),
            Ok(Ok(n)) => Ok(n),
            Ok(Err(e)) => Err(ReadError::Io(e.to_string())),
        }
    }

    /// Reads one line (without CR/LF). Lines over `max` bytes are an error
    /// after which the rest of that line is discarded.
    pub async fn read_line(&mut self, max: usize, idle: Duration) -> Result<Vec<u8>, ReadError> {
        self.read_line_early(max, idle, Early::default()).await
    }

    /// [`Self::read_line`], with decisions taken before the newline arrives.
    pub async fn read_line_early(
        &mut self,
        max: usize,
        idle: Duration,
        early: Early<'_>,
    ) -> Result<Vec<u8>, ReadError> {
        let mut line = Vec::new();
        let mut overflow = false;
        loop {
            if let Some(pos) = self.buf[self.start..self.end]
                .iter()
                .position(|&b| b == b'\n')
            {
                let chunk = &self.buf[self.start..self.start + pos];
                if !overflow && line.len() + chunk.len() <= max + 1 {
                    line.extend_from_slice(chunk);
                } else {
                    overflow = true;
                }
                self.start += pos + 1;
                if overflow || line.len() > max + 1 {
                    return Err(ReadError::TooLong(max));
                }
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() > max {
                    return Err(ReadError::TooLong(max));
                }
                return Ok(line);
            }
            let chunk = &self.buf[self.start..self.end];
            if !overflow && line.len() + chunk.len() <= max + 1 {
                line.extend_from_slice(chunk);
            } else {
                overflow = true;
                line.clear();
            }
            self.start = 0;
            self.end = 0;
            if overflow && early.overflow {
                return Err(ReadError::TooLong(max));
            }
            if !overflow && !line.is_empty() && early.refuse.is_some_and(|refuse| refuse(&line)) {
                return Err(ReadError::Refused(line));
            }
            let n = match tokio::time::timeout(idle, self.inner.read(&mut self.buf)).await {
                Err(_) => return Err(ReadError::Timeout),
                Ok(Ok(0)) => return Err(ReadError::Eof),
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(ReadError::Io(e.to_string())),
            };
            self.end = n;
        }
    }
}

/// Waits `delay` (a failed-login delay) unless the peer closes first:
/// bytes that arrive meanwhile go to `keep` (which returns false when it
/// has no room, and then the rest of the delay is simply slept). False
/// when the peer has gone, so the session can end and free its slot at
/// once instead of sleeping for nobody.
pub async fn sleep_unless_closed<R: AsyncRead + Unpin>(
    r: &mut R,
    delay: Duration,
    mut keep: impl FnMut(&[u8]) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + delay;
    // On the heap, and only while the delay runs: an array here would sit
    // in the state of every session future that can reach this call, for
    // the whole session (see [`read_into_idle`]).
    let mut chunk = vec![0u8; 1024];
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return true,
            r = r.read(&mut chunk) => match r {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    if !keep(&chunk[..n]) {
                        tokio::time::sleep_until(deadline).await;
                        return true;
                    }
                }
            },
        }
    }
}

/// Appends what the peer has sent (at least one byte) to `buf`, waiting at
/// most `idle` for it. The wait holds no buffer: an async fn's locals that
/// live across an `.await` are part of its future, which stays allocated in
/// the session's task for as long as the connection lasts, so a read
/// buffer there costs every idle connection its size. Here the bytes pass
/// through a stack buffer only during the non-blocking read.
pub async fn read_into_idle(
    stream: &tokio::net::TcpStream,
    buf: &mut Vec<u8>,
    idle: Duration,
) -> Result<usize, ReadError> {
    let deadline = tokio::time::Instant::now() + idle;
    loop {
        match tokio::time::timeout_at(deadline, stream.readable()).await {
            Err(_) => return Err(ReadError::Timeout),
            Ok(Err(e)) => return Err(ReadError::Io(e.to_string())),
            Ok(Ok(())) => {}
        }
        match try_read_append(stream, buf) {
            Ok(0) => return Err(ReadError::Eof),
            Ok(n) => return Ok(n),
            // Readiness can be spurious: wait again.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(ReadError::Io(e.to_string())),
        }
    }
}

/// One non-blocking read appended to `buf`.
fn try_read_append(stream: &tokio::net::TcpStream, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut chunk = [0u8; 4096];
    let n = stream.try_read(&mut chunk)?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// Reads exactly `buf.len()` bytes, each read bounded by `idle`.
pub async fn read_exact_idle<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
    idle: Duration,
) -> Result<(), ReadError> {
    let mut got = 0;
    while got < buf.len() {
        match tokio::time::timeout(idle, r.read(&mut buf[got..])).await {
            Err(_) => return Err(ReadError::Timeout),
            Ok(Ok(0)) => return Err(ReadError::Eof),
            Ok(Ok(n)) => got += n,
            Ok(Err(e)) => return Err(ReadError::Io(e.to_string())),
        }
    }
    Ok(())
}

/// How long [`drain_pending`] waits for more bytes.
const DRAIN_WAIT: Duration = Duration::from_millis(50);
/// Most bytes [`drain_pending`] reads.
const DRAIN_MAX: usize = 64 * 1024;

/// Reads and drops what the peer already sent (at most 64 KiB, stopping
/// once nothing arrives for 50 ms). A server that read a whole segment
/// before hanging up closes with a FIN; closing with unread bytes makes the
/// kernel send a RST instead, which tells the decoy apart.
pub async fn drain_pending<R: AsyncRead + Unpin>(r: &mut R) {
    // Heap, not stack: see `sleep_unless_closed`.
    let mut buf = vec![0u8; 4096];
    let mut total = 0;
    while total < DRAIN_MAX {
        match tokio::time::timeout(DRAIN_WAIT, r.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => total += n,
            _ => return,
        }
    }
}

/// Reads some bytes (at least one), bounded by `idle`.
pub async fn read_some_idle<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut [u8],
    idle: Duration,
) -> Result<usize, ReadError> {
    match tokio::time::timeout(idle, r.read(buf)).await {
        Err(_) => Err(ReadError::Timeout),
        Ok(Ok(0)) => Err(ReadError::Eof),
        Ok(Ok(n)) => Ok(n),
        Ok(Err(e)) => Err(ReadError::Io(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a session future keeps while it waits in these helpers: a few
    /// hundred bytes of timer and socket state, no scratch buffer.
    #[tokio::test]
    async fn waiting_helpers_keep_no_buffer_in_the_future() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        let idle = Duration::from_secs(5);
        assert!(std::mem::size_of_val(&read_into_idle(&server, &mut buf, idle)) < 512);
        assert!(std::mem::size_of_val(&drain_pending(&mut server)) < 512);
        let sleep = sleep_unless_closed(&mut server, idle, |_| true);
        assert!(std::mem::size_of_val(&sleep) < 512);
        drop(sleep);

        // And it reads: what was sent is appended, then the close is seen.
        use tokio::io::AsyncWriteExt;
        client.write_all(b"PING\r\n").await.unwrap();
        buf.extend_from_slice(b">");
        let n = read_into_idle(&server, &mut buf, idle).await.unwrap();
        assert_eq!((n, &buf[..]), (6, &b">PING\r\n"[..]));
        drop(client);
        assert_eq!(
            read_into_idle(&server, &mut buf, idle).await,
            Err(ReadError::Eof)
        );
        let short = Duration::from_millis(20);
        let (_c2, (s2, _)) = tokio::join!(
            tokio::net::TcpStream::connect(listener.local_addr().unwrap()),
            async { listener.accept().await.unwrap() }
        );
        assert_eq!(
            read_into_idle(&s2, &mut buf, short).await,
            Err(ReadError::Timeout)
        );
    }

    #[tokio::test]
    async fn lines_crlf_and_limits() {
        let data: &[u8] = b"hello\r\nworld\n0123456789ABCDEF\nok\n";
        let mut r = LineReader::new(data);
        let t = Duration::from_secs(1);
        assert_eq!(r.read_line(10, t).await.unwrap(), b"hello");
        assert_eq!(r.read_line(10, t).await.unwrap(), b"world");
        assert_eq!(r.read_line(10, t).await, Err(ReadError::TooLong(10)));
        assert_eq!(r.read_line(10, t).await.unwrap(), b"ok");
        assert_eq!(r.read_line(10, t).await, Err(ReadError::Eof));
    }

    #[tokio::test]
    async fn failed_login_delay_ends_when_the_peer_leaves() {
        let (client, server) = tokio::io::duplex(64);
        let mut r = LineReader::new(server);
        let mut client = client;
        tokio::io::AsyncWriteExt::write_all(&mut client, b"next line\n")
            .await
            .unwrap();
        drop(client);
        let t0 = std::time::Instant::now();
        assert!(!r.sleep_unless_closed(Duration::from_secs(5)).await);
        assert!(t0.elapsed() < Duration::from_secs(1));
        // What arrived before the close is still there to read.
        assert_eq!(
            r.read_line(100, Duration::from_secs(1)).await.unwrap(),
            b"next line"
        );
    }

    #[tokio::test]
    async fn failed_login_delay_is_slept_while_the_peer_stays() {
        let (_client, server) = tokio::io::duplex(64);
        let mut r = LineReader::new(server);
        let t0 = std::time::Instant::now();
        assert!(r.sleep_unless_closed(Duration::from_millis(200)).await);
        assert!(t0.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn huge_line_stays_bounded() {
        let mut data = vec![b'x'; 1_000_000];
        data.extend_from_slice(b"\nnext\n");
        let mut r = LineReader::new(&data[..]);
        let t = Duration::from_secs(1);
        assert_eq!(r.read_line(100, t).await, Err(ReadError::TooLong(100)));
        assert_eq!(r.read_line(100, t).await.unwrap(), b"next");
    }
}
