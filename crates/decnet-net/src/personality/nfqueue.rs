//! A netfilter queue (NFQUEUE) socket, over raw netlink: bind a queue,
//! receive queued packets, return verdicts (with a rewritten packet).
//!
//! Why not the `nfq` crate: it offers no way to wait with a timeout (its
//! socket is not exposed), and a decky's reader must notice it is being
//! stopped — its socket keeps the namespace, and so the persona MAC, alive.
//! The protocol is small: `linux/netfilter/nfnetlink_queue.h`.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{
    recv, sendto, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType,
};
use std::time::Duration;

/// `NFNL_SUBSYS_QUEUE << 8`, or'ed with a message type.
const SUBSYS_QUEUE: u16 = 3 << 8;
const MSG_PACKET: u16 = 0;
const MSG_VERDICT: u16 = 1;
const MSG_CONFIG: u16 = 2;

const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLMSG_HDRLEN: usize = 16;
/// `struct nfgenmsg`: family, version, queue number (big-endian).
const NFGEN_LEN: usize = 4;

const CFG_CMD: u16 = 1;
const CFG_PARAMS: u16 = 2;
const CFG_QUEUE_MAXLEN: u16 = 3;
const CFG_MASK: u16 = 4;
const CFG_FLAGS: u16 = 5;
const CMD_BIND: u8 = 1;
const COPY_PACKET: u8 = 2;
/// Accept packets when the queue is full instead of dropping them.
const F_FAIL_OPEN: u32 = 1;

const ATTR_PACKET_HDR: u16 = 1;
const ATTR_VERDICT_HDR: u16 = 2;
const ATTR_PAYLOAD: u16 = 10;
const ATTR_CAP_LEN: u16 = 13;
/// Attribute type bits that are flags, not the type.
const NLA_TYPE_MASK: u16 = 0x3fff;

const NF_ACCEPT: u32 = 1;

/// Largest packet copied to us (and so the largest we can rewrite).
const COPY_RANGE: u32 = 0xffff;
/// Packets the kernel holds for us before failing open.
const QUEUE_MAXLEN: u32 = 1024;
/// One receive: a full-size packet plus netlink headers and attributes.
const RECV_BUFFER: usize = 0x10000 + 4096;

/// A queued packet: its id (for the verdict) and its bytes.
#[derive(Debug, PartialEq, Eq)]
pub struct Queued {
    /// Kernel packet id.
    pub id: u32,
    /// The network-layer packet.
    pub payload: Vec<u8>,
    /// The kernel cut it at the copy range: never rewrite a part.
    pub truncated: bool,
}

/// A bound queue in the namespace the socket was opened in.
pub struct QueueSocket {
    fd: OwnedFd,
    queue: u16,
    buffer: Vec<u8>,
}

impl QueueSocket {
    /// Opens a netlink socket in the calling thread's namespace and binds
    /// `queue` (copy whole packets, fail open when full).
    pub fn bind(queue: u16) -> io::Result<QueueSocket> {
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkNetFilter,
        )?;
        let mut socket = QueueSocket {
            fd,
            queue,
            buffer: vec![0; RECV_BUFFER],
        };
        socket.configure(&[(CFG_CMD, vec![CMD_BIND, 0, 0, 0])])?;
        let mut params = COPY_RANGE.to_be_bytes().to_vec();
        params.push(COPY_PACKET);
        socket.configure(&[(CFG_PARAMS, params)])?;
        socket.configure(&[(CFG_QUEUE_MAXLEN, QUEUE_MAXLEN.to_be_bytes().to_vec())])?;
        socket.configure(&[
            (CFG_FLAGS, F_FAIL_OPEN.to_be_bytes().to_vec()),
            (CFG_MASK, F_FAIL_OPEN.to_be_bytes().to_vec()),
        ])?;
        Ok(socket)
    }

    /// Sends one config message and waits for its acknowledgement.
    fn configure(&mut self, attrs: &[(u16, Vec<u8>)]) -> io::Result<()> {
        let message = encode(SUBSYS_QUEUE | MSG_CONFIG, NLM_F_ACK, self.queue, attrs);
        self.send(&message)?;
        loop {
            if !self.wait(Duration::from_secs(2))? {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "nfqueue config not acknowledged",
                ));
            }
            let len = self.recv()?;
            if let Some(result) = ack_of(&self.buffer[..len]) {
                return result;
            }
        }
    }

    /// Waits up to `timeout` for packets; returns those received (empty on
    /// timeout). Unparseable messages are skipped.
    pub fn next_batch(&mut self, timeout: Duration) -> io::Result<Vec<Queued>> {
        if !self.wait(timeout)? {
            return Ok(Vec::new());
        }
        let len = match self.recv() {
            Ok(len) => len,
            // The kernel dropped messages for us (socket buffer full): the
            // packets were failed open or dropped already; carry on.
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        Ok(parse_packets(&self.buffer[..len]))
    }

    /// Lets packet `id` go, as `replacement` when given.
    pub fn accept(&self, id: u32, replacement: Option<&[u8]>) -> io::Result<()> {
        let mut verdict = NF_ACCEPT.to_be_bytes().to_vec();
        verdict.extend_from_slice(&id.to_be_bytes());
        let mut attrs = vec![(ATTR_VERDICT_HDR, verdict)];
        if let Some(bytes) = replacement {
            attrs.push((ATTR_PAYLOAD, bytes.to_vec()));
        }
        self.send(&encode(SUBSYS_QUEUE | MSG_VERDICT, 0, self.queue, &attrs))
    }

    fn send(&self, message: &[u8]) -> io::Result<()> {
        // The kernel is the peer: netlink port id 0, no multicast groups.
        sendto(
            self.fd.as_raw_fd(),
            message,
            &NetlinkAddr::new(0, 0),
            MsgFlags::empty(),
        )?;
        Ok(())
    }

    /// `true` when a message is waiting (poll with a timeout).
    fn wait(&self, timeout: Duration) -> io::Result<bool> {
        let timeout = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(ready) => Ok(ready > 0),
            Err(Errno::EINTR) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    fn recv(&mut self) -> io::Result<usize> {
        let got = recv(
            self.fd.as_raw_fd(),
            &mut self.buffer,
            MsgFlags::MSG_DONTWAIT,
        )?;
        Ok(got.min(self.buffer.len()))
    }
}

/// One netlink message: header, nfgenmsg for `queue`, attributes.
fn encode(kind: u16, flags: u16, queue: u16, attrs: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0u8; NLMSG_HDRLEN];
    out.extend_from_slice(&[libc::AF_UNSPEC as u8, 0]);
    out.extend_from_slice(&queue.to_be_bytes());
    for (kind, value) in attrs {
        let len = u16::try_from(4 + value.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(value);
        out.resize(align4(out.len()), 0);
    }
    let total = u32::try_from(out.len()).unwrap_or(u32::MAX);
    out[0..4].copy_from_slice(&total.to_ne_bytes());
    out[4..6].copy_from_slice(&kind.to_ne_bytes());
    out[6..8].copy_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
    out
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// The netlink messages in a received buffer: `(type, body)` pairs, body
/// after the 16-byte header. Stops at the first inconsistent length.
fn messages(mut buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            break;
        }
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        out.push((kind, &buf[NLMSG_HDRLEN..len]));
        buf = &buf[align4(len).min(buf.len())..];
    }
    out
}

/// The outcome of an acknowledgement (`NLMSG_ERROR`) in `buf`, if any.
fn ack_of(buf: &[u8]) -> Option<io::Result<()>> {
    messages(buf).into_iter().find_map(|(kind, body)| {
        if kind != NLMSG_ERROR || body.len() < 4 {
            return None;
        }
        let errno = i32::from_ne_bytes([body[0], body[1], body[2], body[3]]);
        Some(if errno == 0 {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(errno.saturating_abs()))
        })
    })
}

/// The packets in a received buffer.
fn parse_packets(buf: &[u8]) -> Vec<Queued> {
    messages(buf)
        .into_iter()
        .filter(|(kind, _)| *kind == SUBSYS_QUEUE | MSG_PACKET)
        .filter_map(|(_, body)| parse_packet(body.get(NFGEN_LEN..)?))
        .collect()
}

/// One packet message's attributes → the packet, `None` without an id.
fn parse_packet(mut attrs: &[u8]) -> Option<Queued> {
    let mut id = None;
    let mut payload = Vec::new();
    let mut truncated = false;
    while attrs.len() >= 4 {
        let len = usize::from(u16::from_ne_bytes([attrs[0], attrs[1]]));
        if len < 4 || len > attrs.len() {
            break;
        }
        let value = &attrs[4..len];
        match u16::from_ne_bytes([attrs[2], attrs[3]]) & NLA_TYPE_MASK {
            ATTR_PACKET_HDR if value.len() >= 4 => {
                id = Some(u32::from_be_bytes([value[0], value[1], value[2], value[3]]));
            }
            ATTR_PAYLOAD => payload = value.to_vec(),
            ATTR_CAP_LEN => truncated = true,
            _ => {}
        }
        attrs = &attrs[align4(len).min(attrs.len())..];
    }
    Some(Queued {
        id: id?,
        payload,
        truncated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packet message as the kernel sends it.
    fn packet_message(id: u32, payload: &[u8], cap_len: bool) -> Vec<u8> {
        let mut hdr = id.to_be_bytes().to_vec();
        hdr.extend_from_slice(&[0x08, 0x00, 3]);
        let mut attrs = vec![(ATTR_PACKET_HDR, hdr), (ATTR_PAYLOAD, payload.to_vec())];
        if cap_len {
            attrs.push((ATTR_CAP_LEN, 9000u32.to_be_bytes().to_vec()));
        }
        encode(SUBSYS_QUEUE | MSG_PACKET, 0, 0, &attrs)
    }

    #[test]
    fn packets_parse_out_of_a_batch() {
        let mut buf = packet_message(7, &[0x45, 1, 2], false);
        buf.extend(packet_message(8, &[0x45; 5], true));
        let got = parse_packets(&buf);
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].id, &got[0].payload[..], got[0].truncated),
            (7, &[0x45, 1, 2][..], false)
        );
        assert_eq!(
            (got[1].id, got[1].payload.len(), got[1].truncated),
            (8, 5, true)
        );
    }

    #[test]
    fn hostile_lengths_stop_parsing_without_panics() {
        let good = packet_message(7, &[0x45; 40], false);
        for cut in 0..good.len() {
            let _ = parse_packets(&good[..cut]);
        }
        let mut lying = good.clone();
        lying[0..4].copy_from_slice(&u32::MAX.to_ne_bytes());
        assert!(parse_packets(&lying).is_empty());
        // An attribute claiming more than the message holds: no packet id
        // after it, so nothing is returned.
        let mut bad_attr = encode(SUBSYS_QUEUE | MSG_PACKET, 0, 0, &[]);
        bad_attr.extend_from_slice(&[0xff, 0x00, 1, 0]);
        let len = u32::try_from(bad_attr.len()).unwrap();
        bad_attr[0..4].copy_from_slice(&len.to_ne_bytes());
        assert!(parse_packets(&bad_attr).is_empty());
    }

    #[test]
    fn acks_report_errno() {
        let mut ok = vec![0u8; NLMSG_HDRLEN + 4];
        ok[0..4].copy_from_slice(&(NLMSG_HDRLEN as u32 + 4).to_ne_bytes());
        ok[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        assert!(matches!(ack_of(&ok), Some(Ok(()))));
        let mut refused = ok.clone();
        refused[16..20].copy_from_slice(&(-libc::EPERM).to_ne_bytes());
        let err = ack_of(&refused).unwrap().unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
        assert!(ack_of(&packet_message(1, &[], false)).is_none());
    }

    #[test]
    fn verdicts_encode_id_and_replacement() {
        let mut verdict = NF_ACCEPT.to_be_bytes().to_vec();
        verdict.extend_from_slice(&42u32.to_be_bytes());
        let msg = encode(
            SUBSYS_QUEUE | MSG_VERDICT,
            0,
            3,
            &[(ATTR_VERDICT_HDR, verdict), (ATTR_PAYLOAD, vec![1, 2, 3])],
        );
        let parsed = messages(&msg);
        assert_eq!(parsed.len(), 1);
        let (kind, body) = parsed[0];
        assert_eq!(kind, SUBSYS_QUEUE | MSG_VERDICT);
        assert_eq!(&body[2..4], &3u16.to_be_bytes(), "queue number");
        // verdict attr: len 12, type 2, accept, id 42; payload attr padded.
        assert_eq!(&body[4..8], &[12, 0, 2, 0]);
        assert_eq!(&body[8..16], &[0, 0, 0, 1, 0, 0, 0, 42]);
        assert_eq!(&body[16..23], &[7, 0, 10, 0, 1, 2, 3]);
        assert_eq!(msg.len() % 4, 0);
    }
}
