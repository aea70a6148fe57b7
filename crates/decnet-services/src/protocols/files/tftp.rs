//! TFTP (RFC 1350, UDP) as Debian's tftpd-hpa (`--secure`, no `--create`):
//! RRQ served from `/srv/tftp` of the decky's virtual filesystem; WRQ
//! accepted only onto an existing world-writable file (the way admins
//! receive router config backups) and captured as an artifact, refused
//! otherwise with tftpd-hpa's errors. Anything on the request port that is
//! not a request is dropped without an answer, as tftpd-hpa's listener
//! does. Each transfer runs on its own ephemeral port (a new TID), bounded
//! in size, time and number of concurrent transfers per decky.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use decnet_core::EventKind;
use decnet_shell::Vfs;
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;

use crate::ctx::DeckyCtx;
use crate::session::Session;
use crate::udp::{DatagramHandler, UdpPort};
use crate::{fields, Handler, Service, ServiceError};

/// Directory served.
pub const TFTP_ROOT: &str = "/srv/tftp";
/// Largest file served or accepted (65535 blocks of 512 bytes).
pub const MAX_TRANSFER: usize = 65535 * 512;
/// Simultaneous transfers per decky.
pub const MAX_TRANSFERS: usize = 32;
const BLOCK: usize = 512;
const RETRIES: u32 = 5;
const RETRY_WAIT: Duration = Duration::from_secs(1);

/// The `tftp` service.
pub struct Tftp;

/// Per-decky TFTP state.
pub struct TftpHandler {
    vfs: crate::LazyVfs,
    slots: Arc<Semaphore>,
}

/// A TFTP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    /// Read request (filename, mode, options).
    Rrq(String, String, Vec<(String, String)>),
    /// Write request.
    Wrq(String, String, Vec<(String, String)>),
    /// Data block.
    Data(u16, Vec<u8>),
    /// Acknowledgement.
    Ack(u16),
    /// Error (code, message).
    Error(u16, String),
}

/// Parses a datagram. `None` for anything malformed.
pub fn parse(buf: &[u8]) -> Option<Packet> {
    if buf.len() < 4 {
        return None;
    }
    let op = u16::from_be_bytes([buf[0], buf[1]]);
    let rest = &buf[2..];
    match op {
        1 | 2 => {
            let mut parts = rest.split(|&b| b == 0);
            let name = parts.next()?;
            let mode = parts.next()?;
            if name.is_empty() || name.len() > 255 || !rest.ends_with(&[0]) {
                return None;
            }
            let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let mut opts = Vec::new();
            let rem: Vec<&[u8]> = parts.collect();
            // The split leaves one empty trailing piece after the final NUL.
            let rem = &rem[..rem.len().saturating_sub(1)];
            for pair in rem.chunks(2).take(8) {
                if let [k, v] = pair {
                    opts.push((s(k), s(v)));
                }
            }
            let (name, mode) = (s(name), s(mode).to_ascii_lowercase());
            Some(if op == 1 {
                Packet::Rrq(name, mode, opts)
            } else {
                Packet::Wrq(name, mode, opts)
            })
        }
        3 => Some(Packet::Data(
            u16::from_be_bytes([rest[0], rest[1]]),
            rest[2..].to_vec(),
        )),
        4 => Some(Packet::Ack(u16::from_be_bytes([rest[0], rest[1]]))),
        5 => {
            let msg = &rest[2..];
            let msg = msg.split(|&b| b == 0).next().unwrap_or(&[]);
            Some(Packet::Error(
                u16::from_be_bytes([rest[0], rest[1]]),
                String::from_utf8_lossy(msg).into_owned(),
            ))
        }
        _ => None,
    }
}

fn data(block: u16, bytes: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + bytes.len());
    v.extend_from_slice(&3u16.to_be_bytes());
    v.extend_from_slice(&block.to_be_bytes());
    v.extend_from_slice(bytes);
    v
}

fn ack(block: u16) -> [u8; 4] {
    let b = block.to_be_bytes();
    [0, 4, b[0], b[1]]
}

/// An ERROR packet.
pub fn error(code: u16, msg: &str) -> Vec<u8> {
    let mut v = vec![0, 5];
    v.extend_from_slice(&code.to_be_bytes());
    v.extend_from_slice(msg.as_bytes());
    v.push(0);
    v
}

/// Maps a requested filename into the served tree; `None` if it escapes.
pub fn map_path(name: &str) -> Option<String> {
    let name = name.trim_start_matches('/');
    let name = name.strip_prefix("srv/tftp/").unwrap_or(name);
    if name.split(['/', '\\']).any(|p| p == "..") {
        return None;
    }
    decnet_shell::vfs::clean_absolute(&format!("{TFTP_ROOT}/{name}"))
}

/// A router config and a PXE menu under [`TFTP_ROOT`], as a network's boot
/// server holds (once per decky).
fn seed_root(vfs: &Vfs, hostname: &str, boot_time: chrono::DateTime<chrono::Utc>) {
    if vfs.get(TFTP_ROOT).is_none() {
        let t = boot_time - chrono::Duration::days(40);
        let cfg = format!(
            "!\nversion 15.2\nservice timestamps log datetime msec\nhostname {}\n!\nenable secret 5 $1$mERr$hx5rVt7rPNoS4wqbXKX7m0\n!\ninterface GigabitEthernet0/0\n ip address 10.0.0.1 255.255.255.0\n!\nsnmp-server community public RO\n!\nline vty 0 4\n password 7 0822455D0A16\n login\n!\nend\n",
            hostname.split('.').next().unwrap_or("router")
        );
        // World-writable: how a tftpd-hpa without `--create` is set up
        // to receive `copy running-config tftp:` backups.
        let _ = vfs.add_file(
            &format!("{TFTP_ROOT}/router-confg"),
            cfg.as_bytes(),
            0o666,
            t,
            None,
        );
        let _ = vfs.add_file(
            &format!("{TFTP_ROOT}/pxelinux.cfg/default"),
            b"DEFAULT install\nLABEL install\n  KERNEL debian-installer/amd64/linux\n  APPEND initrd=debian-installer/amd64/initrd.gz auto=true priority=critical\n",
            0o644,
            t,
            None,
        );
    }
}

impl Service for Tftp {
    fn name(&self) -> &'static str {
        "tftp"
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let hostname = decky.persona.hostname.clone();
        let boot_time = decky.persona.boot_time;
        decky.on_vfs(move |vfs| seed_root(vfs, &hostname, boot_time));
        Ok(Arc::new(TftpHandler {
            vfs: crate::LazyVfs::Decky(decky.clone()),
            slots: Arc::new(Semaphore::new(MAX_TRANSFERS)),
        }))
    }
}

impl TftpHandler {
    /// The decky's filesystem, generated on the first request that reads it.
    fn vfs(&self) -> Arc<Vfs> {
        self.vfs.get()
    }
}

impl Handler for TftpHandler {
    fn datagram(self: Arc<Self>) -> Option<Arc<dyn DatagramHandler>> {
        Some(self)
    }
}

impl DatagramHandler for TftpHandler {
    fn max_datagram(&self) -> usize {
        2048
    }

    /// A request opens a transfer on its own port (a new TID); anything
    /// else on the request port is logged and dropped unanswered, as
    /// tftpd-hpa's listener does (an ERROR reply is what nmap fingerprints
    /// as another product).
    fn handle(self: Arc<Self>, port: &UdpPort, peer: SocketAddr, bytes: &[u8]) -> Vec<Vec<u8>> {
        let session = port.session(peer);
        let (write, name, mode) = match parse(bytes) {
            Some(Packet::Rrq(f, m, _)) => (false, f, m),
            Some(Packet::Wrq(f, m, _)) => (true, f, m),
            other => {
                session.emit_error(format!(
                    "tftp: unexpected {} on the request port",
                    if other.is_some() {
                        "packet"
                    } else {
                        "malformed datagram"
                    }
                ));
                return Vec::new();
            }
        };
        session.emit(
            EventKind::Request,
            fields! {
                "op" => if write { "WRQ" } else { "RRQ" },
                "filename" => decnet_core::event::printable(name.as_bytes()),
                "mode" => mode.clone(),
            },
        );
        let Ok(permit) = self.slots.clone().try_acquire_owned() else {
            return vec![error(0, "Server busy")];
        };
        port.spawn(async move {
            let _permit = permit;
            self.transfer(session, write, name, mode).await;
        });
        Vec::new()
    }
}

impl TftpHandler {
    async fn transfer(&self, session: Session, write: bool, name: String, mode: String) {
        let Ok(sock) = UdpSocket::bind(SocketAddr::new(session.local.ip(), 0)).await else {
            return;
        };
        if sock.connect(session.peer).await.is_err() {
            return;
        }
        if mode != "octet" && mode != "netascii" && mode != "mail" {
            let _ = sock.send(&error(0, "Unknown mode")).await;
            return;
        }
        let Some(path) = map_path(&name) else {
            session.emit_error("tftp: path traversal attempt");
            let _ = sock.send(&error(2, "Access violation")).await;
            return;
        };
        if write {
            match self.vfs().get(&path) {
                None => {
                    let _ = sock.send(&error(1, "File not found")).await;
                }
                Some(node) if matches!(node.kind, decnet_shell::vfs::Kind::Dir) => {
                    let _ = sock.send(&error(0, "Is a directory")).await;
                }
                Some(node) if node.mode & 0o002 == 0 => {
                    // tftpd-hpa opens the file as its unprivileged user
                    // before checking modes, so the kernel's EACCES text
                    // is what comes back.
                    let _ = sock.send(&error(0, "Permission denied")).await;
                }
                Some(node) => self.receive(&sock, &session, &name, &path, node.mode).await,
            }
        } else {
            self.send(&sock, &session, &path).await;
        }
    }

    async fn send(&self, sock: &UdpSocket, session: &Session, path: &str) {
        let boot = session.decky.persona.boot_time;
        let bytes = self
            .vfs()
            .get(path)
            .and_then(|n| super::node_bytes(&self.vfs(), path, &n, boot));
        let Some(bytes) = bytes else {
            let _ = sock.send(&error(1, "File not found")).await;
            return;
        };
        let bytes = &bytes[..bytes.len().min(MAX_TRANSFER - 1)];
        let mut buf = [0u8; 64];
        let mut block: u16 = 1;
        let mut off = 0;
        loop {
            let end = (off + BLOCK).min(bytes.len());
            let pkt = data(block, &bytes[off..end]);
            let mut acked = false;
            for _ in 0..RETRIES {
                if sock.send(&pkt).await.is_err() {
                    return;
                }
                let deadline = tokio::time::Instant::now() + RETRY_WAIT;
                while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                    match parse(&buf[..n]) {
                        Some(Packet::Ack(b)) if b == block => {
                            acked = true;
                            break;
                        }
                        Some(Packet::Error(..)) => return,
                        _ => {}
                    }
                }
                if acked {
                    break;
                }
            }
            if !acked {
                session.emit_error("tftp: transfer timed out");
                return;
            }
            if end - off < BLOCK {
                session.emit(
                    EventKind::FileDownload,
                    fields! {"path" => path, "size" => bytes.len() as u64, "direction" => "served"},
                );
                return;
            }
            off = end;
            block = block.wrapping_add(1);
        }
    }

    async fn receive(
        &self,
        sock: &UdpSocket,
        session: &Session,
        name: &str,
        path: &str,
        mode: u32,
    ) {
        let mut file = Vec::new();
        let mut buf = vec![0u8; 4 + BLOCK + 16];
        let mut expect: u16 = 1;
        let mut last_ack = ack(0);
        let mut truncated = false;
        'outer: loop {
            let mut got = None;
            for _ in 0..RETRIES {
                if sock.send(&last_ack).await.is_err() {
                    return;
                }
                let deadline = tokio::time::Instant::now() + RETRY_WAIT;
                while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                    match parse(&buf[..n]) {
                        Some(Packet::Data(b, d)) if b == expect => {
                            got = Some(d);
                            break;
                        }
                        Some(Packet::Error(..)) => break 'outer,
                        _ => {}
                    }
                }
                if got.is_some() {
                    break;
                }
            }
            let Some(d) = got else {
                session.emit_error("tftp: upload timed out");
                break;
            };
            if file.len() + d.len() > MAX_TRANSFER {
                truncated = true;
                let _ = sock
                    .send(&error(3, "Disk full or allocation exceeded"))
                    .await;
                break;
            }
            file.extend_from_slice(&d);
            last_ack = ack(expect);
            expect = expect.wrapping_add(1);
            if d.len() < BLOCK {
                let _ = sock.send(&last_ack).await;
                break;
            }
        }
        if file.is_empty() && !truncated && expect == 1 {
            return;
        }
        if let Err(e) =
            crate::artifacts::store(session, name, &file, truncated, fields! {"path" => path}).await
        {
            session.emit_error(format!("tftp: storing upload failed: {e}"));
        }
        let _ = self
            .vfs()
            .add_file(path, &file, mode, chrono::Utc::now(), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn packets() {
        assert_eq!(
            parse(b"\x00\x01boot.cfg\x00octet\x00blksize\x001024\x00"),
            Some(Packet::Rrq(
                "boot.cfg".into(),
                "octet".into(),
                vec![("blksize".into(), "1024".into())]
            ))
        );
        assert_eq!(
            parse(b"\x00\x02a\x00NetASCII\x00"),
            Some(Packet::Wrq("a".into(), "netascii".into(), vec![]))
        );
        assert_eq!(parse(b"\x00\x04\x00\x07"), Some(Packet::Ack(7)));
        assert_eq!(
            parse(b"\x00\x03\x00\x01hi"),
            Some(Packet::Data(1, b"hi".to_vec()))
        );
        assert_eq!(parse(b"\x00\x01noterm"), None);
        assert_eq!(parse(b"\x00\x09\x00\x00"), None);
        assert_eq!(map_path("../../etc/passwd"), None);
        assert_eq!(map_path("/srv/tftp/x/y").as_deref(), Some("/srv/tftp/x/y"));
        assert_eq!(map_path("cfg").as_deref(), Some("/srv/tftp/cfg"));
    }

    proptest! {
        #[test]
        fn parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&data);
            let _ = map_path(&String::from_utf8_lossy(&data));
        }
    }
}
