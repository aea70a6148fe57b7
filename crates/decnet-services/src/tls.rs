//! TLS for every service that speaks it (https, STARTTLS in smtp/pop3/imap,
//! later postgres/ldap): a per-decky self-signed certificate that fits the
//! persona, and the client's ClientHello fingerprint (JA3 and JA4).
//!
//! The ClientHello is read from the socket by us (bounded, timed), parsed
//! for the fingerprint, then replayed to rustls through [`Prefixed`], so the
//! handshake itself is rustls' and the fingerprint is exactly what the
//! client sent.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use decnet_core::{EventKind, Fields};
use md5::Md5;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio_rustls::TlsAcceptor;

use crate::session::Session;

mod identity;
pub use identity::{CertPlan, Ready, TlsIdentity};

/// Largest ClientHello accepted (handshake message, all records together).
pub const MAX_CLIENT_HELLO: usize = 64 * 1024;
/// How long a client may take to send its ClientHello.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(15);

/// Anything a session can run over: a TCP socket or a TLS stream on it.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A boxed [`Io`], what protocols that can upgrade to TLS hold.
pub type BoxIo = Box<dyn Io>;

/// The fields of a parsed ClientHello that fingerprints are made of.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientHello {
    /// `legacy_version` of the hello.
    pub version: u16,
    /// Cipher suites, in order, GREASE included.
    pub ciphers: Vec<u16>,
    /// Extension types, in order, GREASE included.
    pub extensions: Vec<u16>,
    /// supported_groups (10).
    pub groups: Vec<u16>,
    /// ec_point_formats (11).
    pub point_formats: Vec<u8>,
    /// signature_algorithms (13), in order.
    pub sig_algs: Vec<u16>,
    /// supported_versions (43).
    pub versions: Vec<u16>,
    /// server_name (0), host_name entry.
    pub sni: Option<String>,
    /// ALPN protocols (16).
    pub alpn: Vec<Vec<u8>>,
}

/// Why a ClientHello could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HelloError {
    /// Not a TLS handshake record at all (plain HTTP on the TLS port…).
    #[error("not a TLS handshake")]
    NotTls,
    /// A TLS handshake that is not a well-formed ClientHello.
    #[error("malformed ClientHello: {0}")]
    Malformed(&'static str),
    /// Over [`MAX_CLIENT_HELLO`].
    #[error("ClientHello too large")]
    TooLarge,
    /// More bytes are needed.
    #[error("incomplete ClientHello")]
    Incomplete,
}

/// True for the RFC 8701 GREASE values (0x0a0a, 0x1a1a … 0xfafa).
pub fn is_grease(v: u16) -> bool {
    v & 0x0f0f == 0x0a0a && (v >> 8) == (v & 0xff)
}

struct Cur<'a> {
    b: &'a [u8],
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], HelloError> {
        if self.b.len() < n {
            return Err(HelloError::Malformed("truncated field"));
        }
        let (a, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, HelloError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, HelloError> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn vec8(&mut self) -> Result<&'a [u8], HelloError> {
        let n = self.u8()? as usize;
        self.take(n)
    }
    fn vec16(&mut self) -> Result<&'a [u8], HelloError> {
        let n = self.u16()? as usize;
        self.take(n)
    }
}

fn u16s(b: &[u8]) -> Vec<u16> {
    b.chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect()
}

/// How many bytes of TLS records hold the complete first handshake message
/// at the start of `buf`, and that message's bytes (record headers removed).
/// `Incomplete` asks for more input.
pub fn handshake_from_records(buf: &[u8]) -> Result<(usize, Vec<u8>), HelloError> {
    let mut pos = 0;
    let mut hs = Vec::new();
    loop {
        if buf.len() < pos + 5 {
            if pos == 0 && !buf.is_empty() && buf[0] != 0x16 {
                return Err(HelloError::NotTls);
            }
            return Err(HelloError::Incomplete);
        }
        let h = &buf[pos..pos + 5];
        if h[0] != 0x16 || h[1] != 0x03 {
            return Err(if pos == 0 {
                HelloError::NotTls
            } else {
                HelloError::Malformed("unexpected record")
            });
        }
        let len = u16::from_be_bytes([h[3], h[4]]) as usize;
        if len == 0 || len > 16384 + 2048 {
            return Err(HelloError::Malformed("bad record length"));
        }
        if buf.len() < pos + 5 + len {
            return Err(HelloError::Incomplete);
        }
        hs.extend_from_slice(&buf[pos + 5..pos + 5 + len]);
        pos += 5 + len;
        if hs.len() >= 4 {
            if hs[0] != 1 {
                return Err(HelloError::Malformed("first handshake is not ClientHello"));
            }
            let need = 4 + ((hs[1] as usize) << 16 | (hs[2] as usize) << 8 | hs[3] as usize);
            if need > MAX_CLIENT_HELLO {
                return Err(HelloError::TooLarge);
            }
            if hs.len() >= need {
                hs.truncate(need);
                return Ok((pos, hs));
            }
        }
        if pos > MAX_CLIENT_HELLO {
            return Err(HelloError::TooLarge);
        }
    }
}

/// Parses a ClientHello handshake message (type byte and 3-byte length first).
pub fn parse_client_hello(hs: &[u8]) -> Result<ClientHello, HelloError> {
    let mut c = Cur { b: hs };
    if c.u8()? != 1 {
        return Err(HelloError::Malformed("not a ClientHello"));
    }
    let l = c.take(3)?;
    let len = (l[0] as usize) << 16 | (l[1] as usize) << 8 | l[2] as usize;
    let mut c = Cur { b: c.take(len)? };
    let mut out = ClientHello {
        version: c.u16()?,
        ..Default::default()
    };
    c.take(32)?; // random
    let sid = c.vec8()?;
    if sid.len() > 32 {
        return Err(HelloError::Malformed("session id too long"));
    }
    let suites = c.vec16()?;
    if suites.len() % 2 != 0 {
        return Err(HelloError::Malformed("odd cipher suite list"));
    }
    out.ciphers = u16s(suites);
    c.vec8()?; // compression methods
    if c.b.is_empty() {
        return Ok(out); // no extensions (SSL 3 / early TLS clients)
    }
    let mut ext = Cur { b: c.vec16()? };
    while !ext.b.is_empty() {
        let ty = ext.u16()?;
        let data = ext.vec16()?;
        out.extensions.push(ty);
        let mut d = Cur { b: data };
        match ty {
            0 => {
                let mut list = Cur { b: d.vec16()? };
                while !list.b.is_empty() {
                    let kind = list.u8()?;
                    let name = list.vec16()?;
                    if kind == 0 && out.sni.is_none() {
                        out.sni = Some(String::from_utf8_lossy(name).into_owned());
                    }
                }
            }
            10 => out.groups = u16s(d.vec16()?),
            11 => out.point_formats = d.vec8()?.to_vec(),
            13 => out.sig_algs = u16s(d.vec16()?),
            16 => {
                let mut list = Cur { b: d.vec16()? };
                while !list.b.is_empty() {
                    out.alpn.push(list.vec8()?.to_vec());
                }
            }
            43 => out.versions = u16s(d.vec8()?),
            _ => {}
        }
    }
    Ok(out)
}

fn join_dec<T: ToString>(v: impl Iterator<Item = T>) -> String {
    v.map(|x| x.to_string()).collect::<Vec<_>>().join("-")
}

impl ClientHello {
    /// The JA3 string (`version,ciphers,extensions,groups,point_formats`).
    pub fn ja3_string(&self) -> String {
        let ng = |v: &&u16| !is_grease(**v);
        format!(
            "{},{},{},{},{}",
            self.version,
            join_dec(self.ciphers.iter().filter(ng)),
            join_dec(self.extensions.iter().filter(ng)),
            join_dec(self.groups.iter().filter(ng)),
            join_dec(self.point_formats.iter()),
        )
    }

    /// JA3: md5 of [`ClientHello::ja3_string`], lowercase hex.
    pub fn ja3(&self) -> String {
        hex::encode(Md5::digest(self.ja3_string().as_bytes()))
    }

    /// JA4 (TCP): `t<ver><d|i><ciphers><exts><alpn>_<hash>_<hash>`.
    pub fn ja4(&self) -> String {
        let ver = self
            .versions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .max()
            .unwrap_or(self.version);
        let ver = match ver {
            0x0304 => "13",
            0x0303 => "12",
            0x0302 => "11",
            0x0301 => "10",
            0x0300 => "s3",
            0x0002 => "s2",
            0xfeff => "d1",
            0xfefd => "d2",
            0xfefc => "d3",
            _ => "00",
        };
        let ciphers: Vec<u16> = self
            .ciphers
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .collect();
        let exts: Vec<u16> = self
            .extensions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .collect();
        let alpn = match self.alpn.first() {
            Some(a) if !a.is_empty() => {
                let (f, l) = (a[0], a[a.len() - 1]);
                if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() {
                    format!("{}{}", f as char, l as char)
                } else {
                    let h = hex::encode([f, l]);
                    format!("{}{}", &h[..1], &h[3..])
                }
            }
            _ => "00".to_owned(),
        };
        let a = format!(
            "t{ver}{}{:02}{:02}{alpn}",
            if self.sni.is_some() { 'd' } else { 'i' },
            ciphers.len().min(99),
            exts.len().min(99),
        );
        let hex4 = |v: &[u16]| {
            v.iter()
                .map(|x| format!("{x:04x}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let hash12 = |s: &str| {
            if s.is_empty() {
                "000000000000".to_owned()
            } else {
                hex::encode(Sha256::digest(s.as_bytes()))[..12].to_owned()
            }
        };
        let mut sc = ciphers;
        sc.sort_unstable();
        let mut se: Vec<u16> = exts.into_iter().filter(|e| *e != 0 && *e != 16).collect();
        se.sort_unstable();
        let mut c_src = hex4(&se);
        if !self.sig_algs.is_empty() {
            c_src.push('_');
            c_src.push_str(&hex4(&self.sig_algs));
        }
        format!("{a}_{}_{}", hash12(&hex4(&sc)), hash12(&c_src))
    }

    /// Event fields describing this hello (ja3, ja4, sni, alpn…).
    pub fn fields(&self) -> Fields {
        let mut f = Fields::new();
        f.insert("ja3".into(), self.ja3().into());
        f.insert("ja4".into(), self.ja4().into());
        if let Some(sni) = &self.sni {
            f.insert(
                "tls_sni".into(),
                decnet_core::event::printable(sni.as_bytes()).into(),
            );
        }
        if !self.alpn.is_empty() {
            let alpn: Vec<serde_json::Value> = self
                .alpn
                .iter()
                .take(8)
                .map(|a| decnet_core::event::printable(a).into())
                .collect();
            f.insert("tls_alpn".into(), alpn.into());
        }
        f
    }
}

/// A stream that first yields `prefix`, then reads from `inner`; writes go
/// straight to `inner`.
pub struct Prefixed<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S> Prefixed<S> {
    /// Replays `prefix` before `inner`.
    pub fn new(prefix: Vec<u8>, inner: S) -> Self {
        Prefixed {
            prefix,
            pos: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.pos < self.prefix.len() {
            let n = buf.remaining().min(self.prefix.len() - self.pos);
            let start = self.pos;
            buf.put_slice(&self.prefix[start..start + n]);
            self.pos += n;
            if self.pos == self.prefix.len() {
                self.prefix = Vec::new();
                self.pos = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Reads a ClientHello from `stream` (bounded, timed). Returns every byte
/// read (to replay) and the parsed hello.
pub async fn read_client_hello<S: AsyncRead + Unpin>(
    stream: &mut S,
    timeout: Duration,
) -> (Vec<u8>, Result<ClientHello, HelloError>) {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match handshake_from_records(&buf) {
            Ok((_, hs)) => {
                let parsed = parse_client_hello(&hs);
                return (buf, parsed);
            }
            Err(HelloError::Incomplete) => {}
            Err(e) => return (buf, Err(e)),
        }
        if buf.len() > MAX_CLIENT_HELLO + 5 * 8 {
            return (buf, Err(HelloError::TooLarge));
        }
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => n,
            _ => return (buf, Err(HelloError::Incomplete)),
        };
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A TLS stream over a replayed socket.
pub type TlsStream<S> = tokio_rustls::server::TlsStream<Prefixed<S>>;

/// Why a TLS accept failed.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// No usable ClientHello.
    #[error("{0}")]
    Hello(HelloError),
    /// rustls rejected the handshake.
    #[error("tls handshake failed: {0}")]
    Handshake(std::io::Error),
}

/// Reads and fingerprints the ClientHello, then completes the handshake.
/// The fingerprint is returned even when the handshake fails (scanners
/// often hang up after the ServerHello).
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    acceptor: &TlsAcceptor,
    mut stream: S,
    timeout: Duration,
) -> (Option<ClientHello>, Result<TlsStream<S>, AcceptError>) {
    let (bytes, hello) = read_client_hello(&mut stream, timeout.min(HELLO_TIMEOUT)).await;
    let hello = match hello {
        Ok(h) => h,
        Err(e) => return (None, Err(AcceptError::Hello(e))),
    };
    (
        Some(hello),
        handshake(acceptor, bytes, stream, timeout).await,
    )
}

/// Completes a handshake whose ClientHello bytes were already read.
pub async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    acceptor: &TlsAcceptor,
    hello_bytes: Vec<u8>,
    stream: S,
    timeout: Duration,
) -> Result<TlsStream<S>, AcceptError> {
    let replay = Prefixed::new(hello_bytes, stream);
    match tokio::time::timeout(timeout.min(HELLO_TIMEOUT), acceptor.accept(replay)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(AcceptError::Handshake(e)),
        Err(_) => Err(AcceptError::Handshake(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "handshake timed out",
        ))),
    }
}

/// A session plus fields stamped on every event it emits (the TLS
/// fingerprint once a handshake happened).
#[derive(Clone)]
pub struct Tagged {
    /// The session.
    pub session: Session,
    /// Extra fields merged into every event.
    pub tags: Fields,
}

impl Tagged {
    /// No tags yet.
    pub fn new(session: Session) -> Self {
        Tagged {
            session,
            tags: Fields::new(),
        }
    }

    fn merge(&self, mut f: Fields) -> Fields {
        for (k, v) in &self.tags {
            f.entry(k.clone()).or_insert_with(|| v.clone());
        }
        f
    }

    /// [`Session::emit`] with the tags.
    pub fn emit(&self, kind: EventKind, fields: Fields) {
        self.session.emit(kind, self.merge(fields));
    }

    /// [`Session::emit_auth`] with the tags.
    pub fn emit_auth(&self, user: &str, kind: &str, secret: &[u8], ok: bool, extra: Fields) {
        self.session
            .emit_auth(user, kind, secret, ok, self.merge(extra));
    }

    /// [`Session::emit_error`] with the tags.
    pub fn emit_error(&self, message: impl Into<String>) {
        let mut f = Fields::new();
        f.insert("error".into(), message.into().into());
        self.emit(EventKind::Error, f);
    }

    /// Records a ClientHello: tags later events with it and publishes a
    /// `scan` event named `tls_client_hello` so even a bare handshake is
    /// seen. Not a `request`: consumers that take a session's first
    /// `request` line must get the method and path, not the fingerprint.
    pub fn record_hello(&mut self, hello: &ClientHello, starttls: bool) {
        for (k, v) in hello.fields() {
            self.tags.insert(k, v);
        }
        let mut f = Fields::new();
        f.insert(
            decnet_core::compat::EVENT_TYPE.into(),
            "tls_client_hello".into(),
        );
        f.insert("ja3_string".into(), hello.ja3_string().into());
        f.insert("starttls".into(), starttls.into());
        self.emit(EventKind::Scan, f);
    }
}

/// Upgrades a plain stream in place after a STARTTLS/STLS reply was sent:
/// fingerprints the hello, handshakes, tags the session. On failure the
/// connection is unusable and an `error` event has been published.
pub async fn starttls(
    identity: &TlsIdentity,
    io: BoxIo,
    tagged: &mut Tagged,
    timeout: Duration,
) -> Option<BoxIo> {
    let ready = match identity.ready().await {
        Ok(r) => r,
        Err(e) => {
            tagged.emit_error(format!("starttls: {e}"));
            return None;
        }
    };
    let (hello, res) = accept(&ready.acceptor, io, timeout).await;
    if let Some(h) = &hello {
        tagged.record_hello(h, true);
    }
    match res {
        Ok(s) => Some(Box::new(s)),
        Err(e) => {
            tagged.emit_error(format!("starttls: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::DeckyCtx;
    use proptest::prelude::*;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    fn decky(distro: &str) -> DeckyCtx {
        let text = format!("[d1]\nip = 127.0.65.9\nservices = imap\ndistro = {distro}\n");
        let (fleet, _): (decnet_core::FleetSpec, _) = decnet_core::fleet::parse_str(&text).unwrap();
        DeckyCtx::new(
            fleet.deckies[0].clone(),
            0,
            tempfile::tempdir().unwrap().keep(),
            decnet_bus::MemoryBus::new(),
            crate::Limits::default(),
            0,
        )
    }

    /// The DER of the certificate a decky of `distro` presents, and the
    /// decky's FQDN.
    fn cert_der(distro: &str) -> (Vec<u8>, String) {
        let decky = decky(distro);
        let (pem, _) = CertPlan::for_decky(&decky).generate().unwrap();
        let der = CertificateDer::from_pem_slice(pem.as_bytes())
            .unwrap()
            .to_vec();
        (der, decky.persona.fqdn())
    }

    fn holds(der: &[u8], s: &[u8]) -> bool {
        der.windows(s.len()).any(|w| w == s)
    }

    #[test]
    fn debian_personas_get_a_snakeoil_shaped_certificate() {
        // The encoded OID of organizationName (2.5.4.10).
        const ORG_OID: &[u8] = &[0x06, 0x03, 0x55, 0x04, 0x0a];
        let (der, fqdn) = cert_der("debian");
        assert!(holds(&der, fqdn.as_bytes()));
        assert!(
            !holds(&der, ORG_OID),
            "no organisation in a snakeoil certificate"
        );
        // make-ssl-cert's extensions in openssl's order: CA:FALSE not
        // critical, SAN the FQDN alone, then the key identifier.
        let mut exts = vec![
            0x30, 0x09, 0x06, 0x03, 0x55, 0x1d, 0x13, 0x04, 0x02, 0x30, 0x00,
        ];
        exts.extend_from_slice(&[0x30, 5 + 2 + 2 + 2 + fqdn.len() as u8]);
        exts.extend_from_slice(&[0x06, 0x03, 0x55, 0x1d, 0x11]);
        exts.extend_from_slice(&[0x04, 4 + fqdn.len() as u8, 0x30, 2 + fqdn.len() as u8]);
        exts.extend_from_slice(&[0x82, fqdn.len() as u8]);
        exts.extend_from_slice(fqdn.as_bytes());
        exts.extend_from_slice(&[
            0x30, 0x1d, 0x06, 0x03, 0x55, 0x1d, 0x0e, 0x04, 0x16, 0x04, 0x14,
        ]);
        assert!(holds(&der, &exts), "snakeoil extensions");
        assert!(holds(&der, b"\x02\x82\x01\x01\x00"), "2048-bit modulus");
        let (der, fqdn) = cert_der("windows2019");
        assert!(holds(&der, fqdn.as_bytes()) && holds(&der, ORG_OID));
        assert!(!holds(&der, b"\x02\x82\x01\x01\x00"), "ECDSA elsewhere");
    }

    #[tokio::test]
    async fn an_rsa_snakeoil_is_made_at_first_use_and_kept() {
        let d = decky("debian");
        let id = TlsIdentity::for_decky(&d, "imap", &[]).unwrap();
        assert!(!id.is_ready(), "no RSA key made at bind");
        let path = d.data_dir.join("tls/snakeoil.pem");
        assert!(!path.exists());
        let first = id.ready().await.unwrap().cert_der.clone();
        assert!(path.exists());
        // Another service of the decky, later: the same certificate, at once.
        let other = TlsIdentity::for_decky(&d, "postgres", &[]).unwrap();
        assert!(other.is_ready());
        assert_eq!(other.ready().await.unwrap().cert_der, first);
        // A non-Debian persona's ECDSA certificate is made at bind.
        assert!(TlsIdentity::for_decky(&decky("rocky9"), "imap", &[])
            .unwrap()
            .is_ready());
    }

    /// A ClientHello as sent by a real client, built by hand from RFC 8446 fields.
    fn sample() -> Vec<u8> {
        let mut exts = Vec::new();
        let mut push = |ty: u16, data: &[u8]| {
            exts.extend_from_slice(&ty.to_be_bytes());
            exts.extend_from_slice(&(data.len() as u16).to_be_bytes());
            exts.extend_from_slice(data);
        };
        push(0x0a0a, &[]);
        push(
            0,
            &[
                0, 14, 0, 0, 11, b'e', b'x', b'a', b'm', b'p', b'l', b'e', b'.', b'c', b'o', b'm',
            ],
        );
        push(10, &[0, 6, 0x0a, 0x0a, 0, 29, 0, 23]);
        push(11, &[1, 0]);
        push(13, &[0, 4, 4, 3, 8, 4]);
        push(16, &[0, 3, 2, b'h', b'2']);
        push(43, &[4, 3, 4, 3, 3]);
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]);
        body.push(0);
        body.extend_from_slice(&[0, 6, 0x1a, 0x1a, 0x13, 0x01, 0xc0, 0x2f]);
        body.extend_from_slice(&[1, 0]);
        body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        body.extend_from_slice(&exts);
        let mut hs = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
        hs.extend_from_slice(&body);
        let mut rec = vec![0x16, 3, 1, (hs.len() >> 8) as u8, hs.len() as u8];
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn parses_and_fingerprints() {
        let rec = sample();
        let (used, hs) = handshake_from_records(&rec).unwrap();
        assert_eq!(used, rec.len());
        let h = parse_client_hello(&hs).unwrap();
        assert_eq!(h.sni.as_deref(), Some("example.com"));
        assert_eq!(h.ciphers, vec![0x1a1a, 0x1301, 0xc02f]);
        assert_eq!(h.ja3_string(), "771,4865-49199,0-10-11-13-16-43,29-23,0");
        assert_eq!(h.ja3().len(), 32);
        let ja4 = h.ja4();
        assert!(ja4.starts_with("t13d0206h2_"), "{ja4}");
        // cipher hash is sha256("1301,c02f")[..12]
        let want = hex::encode(Sha256::digest(b"1301,c02f"))[..12].to_owned();
        assert_eq!(ja4.split('_').nth(1).unwrap(), want);
        let want_c = hex::encode(Sha256::digest(b"000a,000b,000d,002b_0403,0804"))[..12].to_owned();
        assert_eq!(ja4.split('_').nth(2).unwrap(), want_c);
    }

    #[test]
    fn split_across_records_and_plain_http() {
        let rec = sample();
        let hs = &rec[5..];
        let (a, b) = hs.split_at(20);
        let mut two = vec![0x16, 3, 1, 0, a.len() as u8];
        two.extend_from_slice(a);
        two.extend_from_slice(&[0x16, 3, 1, (b.len() >> 8) as u8, b.len() as u8]);
        two.extend_from_slice(b);
        let (_, joined) = handshake_from_records(&two).unwrap();
        assert_eq!(joined, hs);
        assert_eq!(
            handshake_from_records(&two[..30]),
            Err(HelloError::Incomplete)
        );
        assert_eq!(
            handshake_from_records(b"GET / HTTP/1.1\r\n"),
            Err(HelloError::NotTls)
        );
    }

    #[test]
    fn grease_values() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa));
        assert!(!is_grease(0x0a1a) && !is_grease(0x1301));
    }

    proptest! {
        #[test]
        fn parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = handshake_from_records(&data);
            if let Ok(h) = parse_client_hello(&data) { let _ = (h.ja3(), h.ja4()); }
        }

        #[test]
        fn mutated_hello_never_panics(idx in 0usize..200, byte in any::<u8>(), cut in 0usize..200) {
            let mut rec = sample();
            let i = idx % rec.len();
            rec[i] = byte;
            rec.truncate(rec.len() - cut.min(rec.len()));
            if let Ok((_, hs)) = handshake_from_records(&rec) {
                if let Ok(h) = parse_client_hello(&hs) { let _ = (h.ja3(), h.ja4(), h.fields()); }
            }
        }
    }
}
