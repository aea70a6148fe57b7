//! The client's identification string and first KEXINIT, captured by a
//! transparent tee on the socket before russh sees the bytes, so every
//! auth attempt can carry `client_version` and `hassh`.
//!
//! HASSH = md5 of `kex;enc_c2s;mac_c2s;cmp_c2s` from the client's KEXINIT
//! (Salesforce's definition). The parser never panics and keeps at most
//! [`MAX_CAPTURE`] bytes; after the KEXINIT (or giving up) it keeps nothing.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use md5::{Digest, Md5};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Most bytes buffered while looking for the id line and KEXINIT.
pub const MAX_CAPTURE: usize = 36 * 1024;
const SSH_MSG_KEXINIT: u8 = 20;

/// What the client said about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// `SSH-2.0-OpenSSH_9.6` (printable, no CR/LF).
    pub version: String,
    /// HASSH hex digest (empty until the KEXINIT was seen).
    pub hassh: String,
    /// The algorithm string hashed (`kex;enc;mac;cmp`).
    pub hassh_algorithms: String,
}

/// Result of feeding captured bytes to the parser.
#[derive(Debug, PartialEq, Eq)]
pub enum Parse {
    /// Need more bytes.
    More,
    /// Found everything (or as much as can be found).
    Done(ClientHello),
}

fn name_list<'a>(p: &mut &'a [u8]) -> Option<&'a [u8]> {
    if p.len() < 4 {
        return None;
    }
    let n = u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize;
    if p.len() < 4 + n {
        return None;
    }
    let v = &p[4..4 + n];
    *p = &p[4 + n..];
    Some(v)
}

/// Parses a KEXINIT payload (starting with the message byte) into the
/// HASSH algorithm string.
pub fn hassh_algorithms(payload: &[u8]) -> Option<String> {
    if payload.first() != Some(&SSH_MSG_KEXINIT) || payload.len() < 17 {
        return None;
    }
    let mut p = &payload[17..];
    let kex = name_list(&mut p)?;
    let _hostkey = name_list(&mut p)?;
    let enc = name_list(&mut p)?;
    let _enc_s2c = name_list(&mut p)?;
    let mac = name_list(&mut p)?;
    let _mac_s2c = name_list(&mut p)?;
    let cmp = name_list(&mut p)?;
    let text = |b: &[u8]| decnet_core::event::printable(b);
    Some(format!(
        "{};{};{};{}",
        text(kex),
        text(enc),
        text(mac),
        text(cmp)
    ))
}

/// HASSH digest of an algorithm string.
pub fn hassh(algorithms: &str) -> String {
    hex::encode(Md5::digest(algorithms.as_bytes()))
}

/// Parses the start of a client stream: optional junk lines, the `SSH-`
/// identification line, then the first binary packet (KEXINIT).
pub fn parse(buf: &[u8]) -> Parse {
    // Identification line.
    let mut start = 0;
    let (version, rest) = loop {
        let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') else {
            return if buf.len() >= MAX_CAPTURE {
                Parse::Done(ClientHello::default())
            } else {
                Parse::More
            };
        };
        let line = &buf[start..start + nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.starts_with(b"SSH-") {
            let v: Vec<u8> = line.iter().copied().take(255).collect();
            break (decnet_core::event::printable(&v), &buf[start + nl + 1..]);
        }
        start += nl + 1;
    };
    let done = |hassh_algorithms: Option<String>| {
        let (h, a) = match hassh_algorithms {
            Some(a) => (hassh(&a), a),
            None => (String::new(), String::new()),
        };
        Parse::Done(ClientHello {
            version: version.clone(),
            hassh: h,
            hassh_algorithms: a,
        })
    };
    if rest.len() < 5 {
        return if buf.len() >= MAX_CAPTURE {
            done(None)
        } else {
            Parse::More
        };
    }
    let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let pad = rest[4] as usize;
    if !(5..=35_000).contains(&len) || pad + 1 > len {
        return done(None);
    }
    if rest.len() < 4 + len {
        return if buf.len() >= MAX_CAPTURE {
            done(None)
        } else {
            Parse::More
        };
    }
    let payload = &rest[5..4 + len - pad];
    done(hassh_algorithms(payload))
}

/// Shared slot the tee fills in.
pub type HelloSlot = Arc<Mutex<Option<ClientHello>>>;

/// A stream wrapper that copies the first bytes the client sends into a
/// bounded buffer until the id line and KEXINIT are parsed.
///
/// When the identification exchange was already done (see
/// [`crate::ident`]), the tee replays the client's line to the SSH library
/// and swallows the library's own copy of our line, already sent.
pub struct Tee<S> {
    inner: S,
    capture: Option<Vec<u8>>,
    slot: HelloSlot,
    replay: Vec<u8>,
    replayed: usize,
    swallow: usize,
}

impl<S> Tee<S> {
    /// Wraps `inner`; the parsed hello lands in `slot`.
    pub fn new(inner: S, slot: HelloSlot) -> Self {
        Tee {
            inner,
            capture: Some(Vec::new()),
            slot,
            replay: Vec::new(),
            replayed: 0,
            swallow: 0,
        }
    }

    /// Reads start with `client_line` (the identification already read
    /// from `inner`); the first `sent` bytes written (our identification,
    /// already sent) are dropped.
    pub fn after_identification(mut self, client_line: Vec<u8>, sent: usize) -> Self {
        self.replay = client_line;
        self.swallow = sent;
        self
    }

    fn observe(&mut self, new: &[u8]) {
        let Some(cap) = self.capture.as_mut() else {
            return;
        };
        let room = MAX_CAPTURE.saturating_sub(cap.len());
        cap.extend_from_slice(&new[..new.len().min(room)]);
        match parse(cap) {
            Parse::Done(h) => {
                *self.slot.lock() = Some(h);
                self.capture = None;
            }
            Parse::More if new.is_empty() => self.capture = None,
            Parse::More => {}
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tee<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.replayed < this.replay.len() {
            let rest = &this.replay[this.replayed..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.replayed += n;
            let replayed = this.replay[this.replayed - n..this.replayed].to_vec();
            this.observe(&replayed);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let new = buf.filled()[before..].to_vec();
            this.observe(&new);
        }
        r
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tee<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.swallow > 0 && !buf.is_empty() {
            let n = this.swallow.min(buf.len());
            this.swallow -= n;
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.swallow > 0 {
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
            return self.poll_write(cx, first);
        }
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        // Vectored writes would bypass the swallowing of our identification.
        self.swallow == 0 && self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kexinit(lists: [&str; 10]) -> Vec<u8> {
        let mut p = vec![SSH_MSG_KEXINIT];
        p.extend_from_slice(&[7u8; 16]);
        for l in lists {
            p.extend_from_slice(&(l.len() as u32).to_be_bytes());
            p.extend_from_slice(l.as_bytes());
        }
        p.push(0);
        p.extend_from_slice(&[0, 0, 0, 0]);
        p
    }

    fn packet(payload: &[u8]) -> Vec<u8> {
        let pad = 8 - ((payload.len() + 5) % 8) + 4;
        let len = payload.len() + pad + 1;
        let mut v = (len as u32).to_be_bytes().to_vec();
        v.push(pad as u8);
        v.extend_from_slice(payload);
        v.extend(std::iter::repeat_n(0u8, pad));
        v
    }

    #[test]
    fn parses_id_and_kexinit() {
        let k = kexinit([
            "curve25519-sha256,ext-info-c",
            "ssh-ed25519",
            "aes128-ctr,aes256-gcm@openssh.com",
            "aes128-ctr",
            "hmac-sha2-256",
            "hmac-sha2-256",
            "none,zlib@openssh.com",
            "none",
            "",
            "",
        ]);
        let mut stream = b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3\r\n".to_vec();
        stream.extend(packet(&k));
        // Byte by byte: More until complete.
        for i in 0..stream.len() - 1 {
            assert_eq!(parse(&stream[..i]), Parse::More, "at {i}");
        }
        let Parse::Done(h) = parse(&stream) else {
            panic!()
        };
        assert_eq!(h.version, "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3");
        assert_eq!(
            h.hassh_algorithms,
            "curve25519-sha256,ext-info-c;aes128-ctr,aes256-gcm@openssh.com;hmac-sha2-256;none,zlib@openssh.com"
        );
        assert_eq!(h.hassh, hassh(&h.hassh_algorithms));
        assert_eq!(hassh("a;b;c;d"), hex::encode(Md5::digest(b"a;b;c;d")));
    }

    #[test]
    fn garbage_gives_up_without_hassh() {
        let Parse::Done(h) = parse(b"SSH-2.0-x\r\n\xff\xff\xff\xff\x00") else {
            panic!()
        };
        assert_eq!(h.version, "SSH-2.0-x");
        assert!(h.hassh.is_empty());
        assert_eq!(
            parse(&vec![b'a'; MAX_CAPTURE]),
            Parse::Done(ClientHello::default())
        );
    }

    proptest! {
        #[test]
        fn parser_never_panics(prefix in proptest::collection::vec(any::<u8>(), 0..64), body in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let mut v = prefix.clone();
            let _ = parse(&v);
            v.extend_from_slice(b"SSH-2.0-fuzz\r\n");
            v.extend_from_slice(&body);
            let _ = parse(&v);
            let _ = hassh_algorithms(&body);
            let mut k = vec![SSH_MSG_KEXINIT];
            k.extend_from_slice(&body);
            let _ = hassh_algorithms(&k);
        }
    }
}
