//! A DHCPv4 client for netns deckies: a decky joins the LAN like a real
//! machine would, with its persona's host name, vendor class and parameter
//! request list (what DHCP fingerprinting — Fingerbank, Satori, Zeek — reads).
//!
//! It runs inside the decky's namespace ([`run_in`]) on a plain UDP socket
//! bound to `0.0.0.0:68` with `SO_BINDTODEVICE` + `SO_BROADCAST`: with no
//! address on the interface the kernel sends from `0.0.0.0` and delivers
//! limited broadcasts, so no raw socket is needed (the tests check this
//! against dnsmasq in namespaces). The broadcast flag is set because a
//! unicast reply to an address the interface does not have yet is dropped.
//!
//! Requests are encoded here (options in the order the imitated client
//! sends them — `dhcproto` keeps options in code order, which is itself a
//! fingerprint); replies are decoded with `dhcproto` and validated
//! ([`parse_reply`]) before anything in them is used.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use decnet_core::OsFamily;
use dhcproto::v4::{DhcpOption, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder};
use rand::Rng;
use socket2::{Domain, Protocol, Socket, Type};

use crate::netns::run_in;
use crate::NetError;

const SERVER_PORT: u16 = 67;
const CLIENT_PORT: u16 = 68;
const MAGIC: [u8; 4] = [99, 130, 83, 99];
/// Fixed BOOTP header before the magic cookie.
const HEADER_LEN: usize = 236;
/// Requests are padded to the BOOTP minimum, as every real client does.
const MIN_REQUEST_LEN: usize = 300;
/// Largest reply accepted (an Ethernet MTU); anything larger is dropped.
pub const MAX_REPLY_LEN: usize = 1500;
/// First retransmission delay (RFC 2131 §4.1), doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(4);
const MAX_BACKOFF: Duration = Duration::from_secs(64);
/// Pause after a DHCPNAK before starting over.
const NAK_PAUSE: Duration = Duration::from_secs(1);

/// Which real DHCP client a decky imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    /// Windows' DHCP client service (`MSFT 5.0`).
    Windows,
    /// dhcpcd, the Linux client that announces itself in option 60.
    Dhcpcd,
    /// BusyBox `udhcpc` on embedded devices.
    Udhcpc,
    /// FreeBSD's `dhclient` (sends no vendor class).
    Dhclient,
}

impl ClientKind {
    /// The client an `nmap_os` family runs; unknown families get dhcpcd.
    pub fn for_os(nmap_os: &str) -> ClientKind {
        if nmap_os == "bsd" {
            return ClientKind::Dhclient;
        }
        match OsFamily::from_nmap_os(nmap_os) {
            Some(OsFamily::Windows) => ClientKind::Windows,
            Some(OsFamily::Embedded) => ClientKind::Udhcpc,
            Some(OsFamily::Linux) | None => ClientKind::Dhcpcd,
        }
    }

    /// Option 55 as this client sends it (order matters to fingerprinting).
    fn parameter_requests(self) -> &'static [u8] {
        match self {
            ClientKind::Windows => &[1, 3, 6, 15, 31, 33, 43, 44, 46, 47, 119, 121, 249, 252],
            ClientKind::Dhcpcd => &[1, 121, 33, 3, 6, 12, 15, 26, 28, 42, 51, 54, 58, 59, 119],
            ClientKind::Udhcpc => &[1, 3, 6, 12, 15, 28, 42],
            ClientKind::Dhclient => &[1, 28, 2, 121, 3, 15, 6, 12, 119],
        }
    }

    /// The order this client writes its options in.
    fn option_order(self) -> &'static [u8] {
        match self {
            ClientKind::Windows => &[53, 61, 50, 54, 12, 81, 60, 55],
            ClientKind::Dhcpcd => &[53, 61, 57, 50, 54, 60, 12, 55],
            ClientKind::Udhcpc => &[53, 61, 50, 54, 57, 60, 12, 55],
            ClientKind::Dhclient => &[53, 61, 50, 54, 12, 55],
        }
    }

    /// Option 57, when this client sends it.
    fn max_message_size(self) -> Option<u16> {
        match self {
            ClientKind::Dhcpcd => Some(1472),
            ClientKind::Udhcpc => Some(576),
            ClientKind::Windows | ClientKind::Dhclient => None,
        }
    }
}

/// Who a decky claims to be when it asks for an address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhcpClient {
    /// The imitated client software.
    pub kind: ClientKind,
    /// Option 12: the persona's host name.
    pub hostname: String,
    /// Option 60, when the imitated client sends one.
    pub vendor_class: Option<Vec<u8>>,
    /// Option 61.
    pub client_id: Vec<u8>,
}

impl DhcpClient {
    /// The client of an `nmap_os` family, for a persona with this host
    /// name (clients send its first label, `web01` of `web01.corp`), MAC and
    /// kernel release (dhcpcd puts the kernel in option 60).
    pub fn for_os(nmap_os: &str, hostname: &str, mac: [u8; 6], kernel: &str) -> DhcpClient {
        let kind = ClientKind::for_os(nmap_os);
        let ether_id = || [&[1u8][..], &mac].concat();
        let (vendor_class, client_id) = match kind {
            ClientKind::Windows => (Some(b"MSFT 5.0".to_vec()), ether_id()),
            ClientKind::Dhcpcd => {
                let vendor = format!("dhcpcd-9.4.1:Linux-{kernel}:x86_64:GenuineIntel");
                // RFC 4361 (dhcpcd's default): 0xff, IAID, DUID-LL.
                let mut id = vec![0xff];
                id.extend_from_slice(&mac[2..]);
                id.extend_from_slice(&[0, 3, 0, 1]);
                id.extend_from_slice(&mac);
                (Some(vendor.into_bytes()), id)
            }
            ClientKind::Udhcpc => (Some(b"udhcp 1.36.1".to_vec()), ether_id()),
            ClientKind::Dhclient => (None, ether_id()),
        };
        DhcpClient {
            kind,
            hostname: hostname.split('.').next().unwrap_or(hostname).to_owned(),
            vendor_class,
            client_id,
        }
    }
}

/// An address obtained from a DHCP server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The leased address.
    pub ip: Ipv4Addr,
    /// Prefix length from option 1 (classful default when absent).
    pub prefix_len: u8,
    /// First router of option 3.
    pub router: Option<Ipv4Addr>,
    /// DNS servers of option 6.
    pub dns: Vec<Ipv4Addr>,
    /// The server that granted the lease (option 54).
    pub server: Ipv4Addr,
    /// Lease time in seconds (`u32::MAX`: infinite).
    pub lease_secs: u32,
    /// T1: when to renew, in seconds after `obtained_at`.
    pub renew_secs: u32,
    /// T2: when to rebind, in seconds after `obtained_at`.
    pub rebind_secs: u32,
    /// When the request that earned the lease was sent.
    pub obtained_at: SystemTime,
}

impl Lease {
    fn after(&self, secs: u32) -> SystemTime {
        if secs == u32::MAX {
            return SystemTime::UNIX_EPOCH + Duration::from_secs(u64::from(u32::MAX) * 4);
        }
        self.obtained_at + Duration::from_secs(secs.into())
    }

    /// When [`renew`] should be called (T1).
    pub fn renew_at(&self) -> SystemTime {
        self.after(self.renew_secs)
    }

    /// When renewing should fall back to broadcast rebinding (T2).
    pub fn rebind_at(&self) -> SystemTime {
        self.after(self.rebind_secs)
    }

    /// When the address must stop being used.
    pub fn expires_at(&self) -> SystemTime {
        self.after(self.lease_secs)
    }
}

/// A lease a decky holds, with what is needed to renew and release it.
#[derive(Clone, Debug)]
pub struct HeldLease {
    /// The decky's namespace handle.
    pub ns: PathBuf,
    /// Interface inside it.
    pub interface: String,
    /// The persona MAC.
    pub mac: [u8; 6],
    /// Who the decky claims to be.
    pub client: DhcpClient,
    /// The current lease.
    pub lease: Lease,
}

impl HeldLease {
    /// [`acquire`], remembering the parameters for later renewals.
    pub fn acquire(
        ns: &Path,
        interface: &str,
        mac: [u8; 6],
        client: DhcpClient,
        timeout: Duration,
    ) -> Result<HeldLease, NetError> {
        let lease = acquire(ns, interface, mac, &client, timeout)?;
        Ok(HeldLease {
            ns: ns.to_owned(),
            interface: interface.to_owned(),
            mac,
            client,
            lease,
        })
    }

    /// Renews the lease when T1 has passed at `now` (returns whether it
    /// did). An expired lease or a NAK is an error: the address is lost.
    pub fn renew_if_due(&mut self, now: SystemTime, timeout: Duration) -> Result<bool, NetError> {
        if now < self.lease.renew_at() {
            return Ok(false);
        }
        let left = self
            .lease
            .expires_at()
            .duration_since(now)
            .map_err(|_| NetError::Dhcp(format!("the lease of {} expired", self.lease.ip)))?;
        let lease = renew(
            &self.ns,
            &self.interface,
            self.mac,
            &self.client,
            &self.lease,
            timeout.min(left),
        )?;
        self.lease = lease;
        Ok(true)
    }

    /// [`release`]s the lease.
    pub fn release(&self) -> Result<(), NetError> {
        release(
            &self.ns,
            &self.interface,
            self.mac,
            &self.client,
            &self.lease,
        )
    }
}

/// Obtains a lease on `interface` (up, without an address) inside the
/// namespace `ns`: DISCOVER → OFFER → REQUEST → ACK, starting over on a
/// NAK, retransmitting with exponential backoff, giving up after `timeout`.
pub fn acquire(
    ns: &Path,
    interface: &str,
    mac: [u8; 6],
    client: &DhcpClient,
    timeout: Duration,
) -> Result<Lease, NetError> {
    in_namespace(ns, || {
        let sock = open_socket(interface)?;
        let deadline = Instant::now() + timeout;
        let broadcast = SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT);
        acquire_on(&sock, broadcast, mac, client, deadline)
    })
}

/// Extends `lease` at T1: a unicast REQUEST to the granting server for the
/// first half of `timeout`, then a broadcast REQUEST (rebinding) to any
/// server. The address must still be on `interface`. A NAK is
/// [`NetError::DhcpRefused`]: the address is gone and the caller must stop
/// using it and [`acquire`] again.
pub fn renew(
    ns: &Path,
    interface: &str,
    mac: [u8; 6],
    client: &DhcpClient,
    lease: &Lease,
    timeout: Duration,
) -> Result<Lease, NetError> {
    in_namespace(ns, || {
        let sock = open_socket(interface)?;
        let start = Instant::now();
        let half = start + timeout / 2;
        let deadline = start + timeout;
        let xid = rand::random();
        let obtained_at = SystemTime::now();
        let accept = |r: &Reply| {
            matches!(r.kind, MessageType::Ack | MessageType::Nak)
                && (r.kind == MessageType::Nak || r.yiaddr == lease.ip)
        };
        let unicast = SocketAddrV4::new(lease.server, SERVER_PORT);
        let renewing = |secs| encode(client, mac, xid, secs, &Request::Renew { ciaddr: lease.ip });
        let reply = match exchange(&sock, unicast, start, half, mac, xid, renewing, accept) {
            Ok(reply) => reply,
            Err(ExchangeError::TimedOut) => {
                let broadcast = SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT);
                let rebinding = |secs| {
                    encode(
                        client,
                        mac,
                        xid,
                        secs,
                        &Request::Rebind { ciaddr: lease.ip },
                    )
                };
                exchange(
                    &sock, broadcast, start, deadline, mac, xid, rebinding, accept,
                )
                .map_err(|e| e.into_net("renewing", timeout))?
            }
            Err(e) => return Err(e.into_net("renewing", timeout)),
        };
        if reply.kind == MessageType::Nak {
            return Err(NetError::DhcpRefused {
                server: reply.server.unwrap_or(lease.server),
                ip: lease.ip,
            });
        }
        let mut renewed = reply.into_lease(obtained_at)?;
        // A renewal ACK need not repeat options the client already has.
        if renewed.router.is_none() {
            renewed.router = lease.router;
        }
        if renewed.dns.is_empty() {
            renewed.dns.clone_from(&lease.dns);
        }
        Ok(renewed)
    })
}

/// Gives `lease` back (DHCPRELEASE, unicast to its server; no reply is
/// expected): a real machine leaving the network politely.
pub fn release(
    ns: &Path,
    interface: &str,
    mac: [u8; 6],
    client: &DhcpClient,
    lease: &Lease,
) -> Result<(), NetError> {
    in_namespace(ns, || {
        let sock = open_socket(interface)?;
        let message = encode(
            client,
            mac,
            rand::random(),
            0,
            &Request::Release {
                ciaddr: lease.ip,
                server: lease.server,
            },
        );
        sock.send_to(&message, SocketAddrV4::new(lease.server, SERVER_PORT))
            .map_err(|e| NetError::io(format!("sending DHCPRELEASE to {}", lease.server), e))?;
        Ok(())
    })
}

fn in_namespace<T: Send>(
    ns: &Path,
    f: impl FnOnce() -> Result<T, NetError> + Send,
) -> Result<T, NetError> {
    run_in(ns, || Ok(f()))
        .map_err(|e| NetError::io(format!("entering namespace {}", ns.display()), e))?
}

fn open_socket(interface: &str) -> Result<UdpSocket, NetError> {
    let setup = || -> io::Result<UdpSocket> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        socket.set_broadcast(true)?;
        socket.bind_device(Some(interface.as_bytes()))?;
        socket.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT).into())?;
        Ok(socket.into())
    };
    setup().map_err(|e| NetError::io(format!("DHCP socket on {interface}"), e))
}

/// The acquisition state machine, sending to `broadcast` (the limited
/// broadcast address, or a test server).
fn acquire_on(
    sock: &UdpSocket,
    broadcast: SocketAddrV4,
    mac: [u8; 6],
    client: &DhcpClient,
    deadline: Instant,
) -> Result<Lease, NetError> {
    let start = Instant::now();
    let total = deadline.saturating_duration_since(start);
    loop {
        let xid: u32 = rand::random();
        let discover = |secs| encode(client, mac, xid, secs, &Request::Discover);
        let is_offer = |r: &Reply| r.kind == MessageType::Offer && r.server.is_some();
        let offer = exchange(
            sock, broadcast, start, deadline, mac, xid, discover, is_offer,
        )
        .map_err(|e| e.into_net("waiting for a DHCPOFFER", total))?;
        let server = offer.server.unwrap_or(Ipv4Addr::UNSPECIFIED);
        let selecting = Request::Select {
            requested: offer.yiaddr,
            server,
        };
        let request = |secs| encode(client, mac, xid, secs, &selecting);
        let from_server = |r: &Reply| {
            matches!(r.kind, MessageType::Ack | MessageType::Nak)
                && r.server.is_none_or(|s| s == server)
        };
        let obtained_at = SystemTime::now();
        let reply = exchange(
            sock,
            broadcast,
            start,
            deadline,
            mac,
            xid,
            request,
            from_server,
        )
        .map_err(|e| e.into_net("waiting for a DHCPACK", total))?;
        if reply.kind == MessageType::Ack {
            return reply.into_lease(obtained_at);
        }
        tracing::info!(%server, offered = %offer.yiaddr, "DHCPNAK; starting over");
        if Instant::now() + NAK_PAUSE >= deadline {
            return Err(NetError::DhcpRefused {
                server,
                ip: offer.yiaddr,
            });
        }
        std::thread::sleep(NAK_PAUSE);
    }
}

/// Why an exchange ended without a reply.
enum ExchangeError {
    TimedOut,
    Io(NetError),
}

impl ExchangeError {
    fn into_net(self, what: &str, timeout: Duration) -> NetError {
        match self {
            ExchangeError::TimedOut => {
                NetError::Dhcp(format!("no answer {what} within {timeout:?}"))
            }
            ExchangeError::Io(e) => e,
        }
    }
}

/// Sends `make(secs)` to `to` and retransmits it with backoff (±1 s jitter,
/// RFC 2131 §4.1) until a valid reply that `accept` takes arrives or
/// `deadline` passes.
#[allow(clippy::too_many_arguments)]
fn exchange(
    sock: &UdpSocket,
    to: SocketAddrV4,
    start: Instant,
    deadline: Instant,
    mac: [u8; 6],
    xid: u32,
    make: impl Fn(u16) -> Vec<u8>,
    accept: impl Fn(&Reply) -> bool,
) -> Result<Reply, ExchangeError> {
    let mut backoff = FIRST_BACKOFF;
    let mut buf = vec![0u8; MAX_REPLY_LEN + 1];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(ExchangeError::TimedOut);
        }
        let secs = u16::try_from(now.duration_since(start).as_secs()).unwrap_or(u16::MAX);
        sock.send_to(&make(secs), to)
            .map_err(|e| ExchangeError::Io(NetError::io(format!("sending DHCP to {to}"), e)))?;
        let jitter = rand::thread_rng().gen_range(0..=2000u64);
        let resend_at = (now + backoff + Duration::from_millis(jitter))
            .checked_sub(Duration::from_secs(1))
            .unwrap_or(now)
            .min(deadline);
        backoff = (backoff * 2).min(MAX_BACKOFF);
        loop {
            let wait = resend_at.saturating_duration_since(Instant::now());
            if wait.is_zero() {
                break;
            }
            sock.set_read_timeout(Some(wait))
                .map_err(|e| ExchangeError::Io(NetError::io("DHCP socket timeout", e)))?;
            let n = match sock.recv(&mut buf) {
                Ok(n) => n,
                Err(e) if crate::capture::read_timed_out(&e) => continue,
                Err(e) => return Err(ExchangeError::Io(NetError::io("receiving DHCP", e))),
            };
            match parse_reply(&buf[..n], xid, mac) {
                Ok(reply) if accept(&reply) => return Ok(reply),
                Ok(reply) => tracing::debug!(kind = ?reply.kind, "DHCP reply not wanted now"),
                Err(why) => tracing::debug!("DHCP datagram ignored: {why}"),
            }
        }
    }
}

/// A client message.
enum Request {
    Discover,
    /// REQUEST answering an OFFER (SELECTING state).
    Select {
        requested: Ipv4Addr,
        server: Ipv4Addr,
    },
    /// Unicast REQUEST at T1 (RENEWING).
    Renew {
        ciaddr: Ipv4Addr,
    },
    /// Broadcast REQUEST at T2 (REBINDING).
    Rebind {
        ciaddr: Ipv4Addr,
    },
    Release {
        ciaddr: Ipv4Addr,
        server: Ipv4Addr,
    },
}

/// Appends option `code` with `data`, truncated to the 255-byte limit.
fn put_option(out: &mut Vec<u8>, code: u8, data: &[u8]) {
    let data = &data[..data.len().min(255)];
    out.push(code);
    out.push(data.len() as u8);
    out.extend_from_slice(data);
}

/// Encodes a client message with `client`'s options in its order.
fn encode(client: &DhcpClient, mac: [u8; 6], xid: u32, secs: u16, request: &Request) -> Vec<u8> {
    let (msg_type, ciaddr, requested, server) = match *request {
        Request::Discover => (MessageType::Discover, None, None, None),
        Request::Select { requested, server } => {
            (MessageType::Request, None, Some(requested), Some(server))
        }
        Request::Renew { ciaddr } | Request::Rebind { ciaddr } => {
            (MessageType::Request, Some(ciaddr), None, None)
        }
        Request::Release { ciaddr, server } => {
            (MessageType::Release, Some(ciaddr), None, Some(server))
        }
    };
    // Without an address, only a broadcast reply can reach us.
    let broadcast_flag = ciaddr.is_none();
    let mut out = Vec::with_capacity(MIN_REQUEST_LEN);
    out.extend_from_slice(&[1, 1, 6, 0]);
    out.extend_from_slice(&xid.to_be_bytes());
    out.extend_from_slice(&secs.to_be_bytes());
    out.extend_from_slice(&(if broadcast_flag { 0x8000u16 } else { 0 }).to_be_bytes());
    out.extend_from_slice(&ciaddr.unwrap_or(Ipv4Addr::UNSPECIFIED).octets());
    out.resize(out.len() + 12, 0); // yiaddr, siaddr, giaddr
    out.extend_from_slice(&mac);
    out.resize(HEADER_LEN, 0); // chaddr padding, sname, file
    out.extend_from_slice(&MAGIC);
    let releasing = msg_type == MessageType::Release;
    for &code in client.kind.option_order() {
        match code {
            53 => put_option(&mut out, 53, &[u8::from(msg_type)]),
            61 => put_option(&mut out, 61, &client.client_id),
            50 => {
                if let Some(ip) = requested {
                    put_option(&mut out, 50, &ip.octets());
                }
            }
            54 => {
                if let Some(ip) = server {
                    put_option(&mut out, 54, &ip.octets());
                }
            }
            // A release carries only its type, client id and server id.
            _ if releasing => {}
            12 => put_option(&mut out, 12, client.hostname.as_bytes()),
            81 if msg_type == MessageType::Request => {
                // Client FQDN (RFC 4702) as Windows sends it: flags 0, no rcodes.
                let mut data = vec![0, 0, 0];
                data.extend_from_slice(client.hostname.as_bytes());
                put_option(&mut out, 81, &data);
            }
            60 => {
                if let Some(vendor) = &client.vendor_class {
                    put_option(&mut out, 60, vendor);
                }
            }
            57 => {
                if let Some(size) = client.kind.max_message_size() {
                    put_option(&mut out, 57, &size.to_be_bytes());
                }
            }
            55 => put_option(&mut out, 55, client.kind.parameter_requests()),
            _ => {}
        }
    }
    out.push(255);
    if out.len() < MIN_REQUEST_LEN {
        out.resize(MIN_REQUEST_LEN, 0);
    }
    out
}

/// A server reply that passed validation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Reply {
    pub(crate) kind: MessageType,
    pub(crate) yiaddr: Ipv4Addr,
    pub(crate) server: Option<Ipv4Addr>,
    pub(crate) mask: Option<Ipv4Addr>,
    pub(crate) router: Option<Ipv4Addr>,
    pub(crate) dns: Vec<Ipv4Addr>,
    pub(crate) lease_secs: Option<u32>,
    pub(crate) renew_secs: Option<u32>,
    pub(crate) rebind_secs: Option<u32>,
}

/// Decodes and validates a datagram received on port 68: a BOOTREPLY of
/// at most [`MAX_REPLY_LEN`] bytes for transaction `xid` and hardware
/// address `mac`, of type OFFER/ACK/NAK, whose OFFER/ACK assigns a usable
/// unicast address. Never panics, whatever the bytes.
pub(crate) fn parse_reply(bytes: &[u8], xid: u32, mac: [u8; 6]) -> Result<Reply, &'static str> {
    if bytes.len() > MAX_REPLY_LEN {
        return Err("oversized datagram");
    }
    if bytes.len() < HEADER_LEN + MAGIC.len() {
        return Err("shorter than a BOOTP header");
    }
    // Checked on the raw header: dhcproto's `chaddr()` slices by `hlen`.
    if bytes[1] != 1 || bytes[2] != 6 {
        return Err("not an Ethernet hardware address");
    }
    if bytes[HEADER_LEN..HEADER_LEN + 4] != MAGIC {
        return Err("no DHCP magic cookie");
    }
    let wanted = wanted_options(bytes)?;
    let msg = Message::decode(&mut Decoder::new(&wanted)).map_err(|_| "undecodable")?;
    if msg.opcode() != Opcode::BootReply {
        return Err("not a BOOTREPLY");
    }
    if msg.xid() != xid {
        return Err("another transaction");
    }
    if msg.chaddr() != mac {
        return Err("another client's hardware address");
    }
    let opts = msg.opts();
    let kind = opts.msg_type().ok_or("no message type")?;
    if !matches!(
        kind,
        MessageType::Offer | MessageType::Ack | MessageType::Nak
    ) {
        return Err("not an OFFER, ACK or NAK");
    }
    let yiaddr = msg.yiaddr();
    if kind != MessageType::Nak && !usable_unicast(yiaddr) {
        return Err("no usable address offered");
    }
    let server = match opts.get(OptionCode::ServerIdentifier) {
        Some(DhcpOption::ServerIdentifier(ip)) if usable_unicast(*ip) => Some(*ip),
        Some(_) => return Err("bad server identifier"),
        None => None,
    };
    let mask = match opts.get(OptionCode::SubnetMask) {
        Some(DhcpOption::SubnetMask(mask)) => {
            prefix_of(*mask).ok_or("non-contiguous subnet mask")?;
            Some(*mask)
        }
        _ => None,
    };
    let router = match opts.get(OptionCode::Router) {
        Some(DhcpOption::Router(list)) => list.iter().copied().find(|ip| usable_unicast(*ip)),
        _ => None,
    };
    let dns = match opts.get(OptionCode::DomainNameServer) {
        Some(DhcpOption::DomainNameServer(list)) => list
            .iter()
            .copied()
            .filter(|ip| usable_unicast(*ip))
            .take(8)
            .collect(),
        _ => Vec::new(),
    };
    let u32_opt = |code| match opts.get(code) {
        Some(
            DhcpOption::AddressLeaseTime(v) | DhcpOption::Renewal(v) | DhcpOption::Rebinding(v),
        ) => Some(*v),
        _ => None,
    };
    Ok(Reply {
        kind,
        yiaddr,
        server,
        mask,
        router,
        dns,
        lease_secs: u32_opt(OptionCode::AddressLeaseTime),
        renew_secs: u32_opt(OptionCode::Renewal),
        rebind_secs: u32_opt(OptionCode::Rebinding),
    })
}

/// The header of `bytes` followed by only the options a client uses, each
/// with a length valid for it (first instance wins). dhcproto's decoder
/// trusts some option lengths (`debug_assert!`s, unchecked `len - 3` on
/// option 81), so hostile options must never reach it.
fn wanted_options(bytes: &[u8]) -> Result<Vec<u8>, &'static str> {
    let start = HEADER_LEN + MAGIC.len();
    let mut out = bytes[..start].to_vec();
    let mut seen = [false; 256];
    let mut i = start;
    while i < bytes.len() {
        let code = bytes[i];
        match code {
            0 => {
                i += 1;
                continue;
            }
            255 => break,
            _ => {}
        }
        let len = *bytes.get(i + 1).ok_or("truncated option")? as usize;
        let data = bytes.get(i + 2..i + 2 + len).ok_or("truncated option")?;
        let valid = match code {
            53 => len == 1,
            1 | 51 | 54 | 58 | 59 => len == 4,
            3 | 6 => len > 0 && len % 4 == 0,
            _ => false,
        };
        if valid && !seen[usize::from(code)] {
            seen[usize::from(code)] = true;
            out.extend_from_slice(&[code, len as u8]);
            out.extend_from_slice(data);
        }
        i += 2 + len;
    }
    out.push(255);
    Ok(out)
}

impl Reply {
    /// The lease an ACK grants.
    fn into_lease(self, obtained_at: SystemTime) -> Result<Lease, NetError> {
        let server = self
            .server
            .ok_or_else(|| NetError::Dhcp("DHCPACK without a server identifier".into()))?;
        let lease_secs = self
            .lease_secs
            .ok_or_else(|| NetError::Dhcp("DHCPACK without a lease time".into()))?;
        let prefix_len = match self.mask {
            Some(mask) => prefix_of(mask).unwrap_or(24),
            None => classful_prefix(self.yiaddr),
        };
        let scaled = |num: u64, den: u64| {
            if lease_secs == u32::MAX {
                u32::MAX
            } else {
                (u64::from(lease_secs) * num / den) as u32
            }
        };
        // RFC 2131 §4.4.5: T1 ≤ T2 ≤ lease; defaults 0.5 and 0.875.
        let rebind_secs = self
            .rebind_secs
            .filter(|&t2| t2 <= lease_secs)
            .unwrap_or_else(|| scaled(7, 8));
        let renew_secs = self
            .renew_secs
            .filter(|&t1| t1 <= rebind_secs)
            .unwrap_or_else(|| scaled(1, 2).min(rebind_secs));
        Ok(Lease {
            ip: self.yiaddr,
            prefix_len,
            router: self.router,
            dns: self.dns,
            server,
            lease_secs,
            renew_secs,
            rebind_secs,
            obtained_at,
        })
    }
}

fn usable_unicast(ip: Ipv4Addr) -> bool {
    !(ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_loopback()
        || ip.octets()[0] == 0
        || ip.octets()[0] >= 240)
}

/// Prefix length of a contiguous netmask.
fn prefix_of(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let len = bits.leading_ones();
    (bits.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

fn classful_prefix(ip: Ipv4Addr) -> u8 {
    match ip.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhcproto::v4::DhcpOptions;
    use dhcproto::{Encodable, Encoder};
    use proptest::prelude::*;

    const MAC: [u8; 6] = [0x00, 0x15, 0x5d, 0x01, 0x02, 0x03];

    fn client(os: &str) -> DhcpClient {
        DhcpClient::for_os(os, "DESKTOP-4JQ2R7M", MAC, "6.1.0-13-amd64")
    }

    /// A reply as a server would build it, through dhcproto's encoder.
    fn server_reply(kind: MessageType, xid: u32, chaddr: &[u8]) -> Vec<u8> {
        let mut msg = Message::new_with_id(
            xid,
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::new(10, 9, 0, 50),
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::UNSPECIFIED,
            chaddr,
        );
        msg.set_opcode(Opcode::BootReply);
        let mut opts = DhcpOptions::new();
        opts.insert(DhcpOption::MessageType(kind));
        opts.insert(DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 9, 0, 1)));
        opts.insert(DhcpOption::SubnetMask(Ipv4Addr::new(255, 255, 255, 0)));
        opts.insert(DhcpOption::Router(vec![Ipv4Addr::new(10, 9, 0, 254)]));
        opts.insert(DhcpOption::AddressLeaseTime(3600));
        msg.set_opts(opts);
        let mut buf = Vec::new();
        msg.encode(&mut Encoder::new(&mut buf)).unwrap();
        buf
    }

    /// The state machine against a scripted server on loopback that first
    /// sends junk and a reply for another transaction, then NAKs the first
    /// REQUEST: the client ignores the noise, starts over with a new
    /// transaction after the NAK, and ends with the second ACK.
    #[test]
    fn a_nak_restarts_with_a_new_transaction() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = match server.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            _ => unreachable!(),
        };
        let script = std::thread::spawn(move || {
            server
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut buf = [0u8; 1500];
            let mut seen = Vec::new();
            for step in 0..4 {
                let (n, peer) = server.recv_from(&mut buf).unwrap();
                let msg = Message::decode(&mut Decoder::new(&buf[..n])).unwrap();
                let kind = msg.opts().msg_type().unwrap();
                seen.push((kind, msg.xid()));
                let reply = |k| server_reply(k, msg.xid(), &MAC);
                if step == 0 {
                    server.send_to(&[0xde, 0xad], peer).unwrap();
                    let other = server_reply(MessageType::Offer, msg.xid() ^ 1, &MAC);
                    server.send_to(&other, peer).unwrap();
                }
                let answer = match (step, kind) {
                    (0 | 2, MessageType::Discover) => reply(MessageType::Offer),
                    (1, MessageType::Request) => reply(MessageType::Nak),
                    (3, MessageType::Request) => reply(MessageType::Ack),
                    other => panic!("unexpected client message {other:?}"),
                };
                server.send_to(&answer, peer).unwrap();
            }
            seen
        });
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let started = Instant::now();
        let lease = acquire_on(
            &sock,
            to,
            MAC,
            &client("linux"),
            started + Duration::from_secs(10),
        )
        .expect("lease after the NAK");
        let took = started.elapsed();
        let seen = script.join().unwrap();
        assert_eq!(lease.ip, Ipv4Addr::new(10, 9, 0, 50));
        assert_eq!(lease.server, Ipv4Addr::new(10, 9, 0, 1));
        // DISCOVER/REQUEST share a transaction; the restart takes a new one.
        assert_eq!(seen[0].1, seen[1].1);
        assert_eq!(seen[2].1, seen[3].1);
        assert_ne!(seen[0].1, seen[2].1);
        // One NAK pause, no retransmission timeout (the noise was skipped).
        assert!(took >= NAK_PAUSE && took < FIRST_BACKOFF, "{took:?}");
    }

    #[test]
    fn requests_decode_with_the_persona_options_in_client_order() {
        let c = client("windows");
        let bytes = encode(
            &c,
            MAC,
            0xdead_beef,
            3,
            &Request::Select {
                requested: Ipv4Addr::new(10, 9, 0, 50),
                server: Ipv4Addr::new(10, 9, 0, 1),
            },
        );
        assert!(bytes.len() >= MIN_REQUEST_LEN);
        // Windows' option 81 carries a plain ASCII name, which dhcproto
        // cannot read; decode the rest.
        let mut codes = Vec::new();
        let mut stripped = bytes[..HEADER_LEN + 4].to_vec();
        let mut i = HEADER_LEN + 4;
        while bytes[i] != 255 {
            let len = bytes[i + 1] as usize;
            codes.push(bytes[i]);
            if bytes[i] == 81 {
                assert_eq!(&bytes[i + 2..i + 5], &[0, 0, 0]);
                assert_eq!(&bytes[i + 5..i + 2 + len], b"DESKTOP-4JQ2R7M");
            } else {
                stripped.extend_from_slice(&bytes[i..i + 2 + len]);
            }
            i += 2 + len;
        }
        stripped.push(255);
        // Option order on the wire, as Windows writes it.
        assert_eq!(codes, [53, 61, 50, 54, 12, 81, 60, 55]);
        let msg = Message::decode(&mut Decoder::new(&stripped)).unwrap();
        assert_eq!(msg.opcode(), Opcode::BootRequest);
        assert_eq!(msg.xid(), 0xdead_beef);
        assert_eq!(msg.secs(), 3);
        assert_eq!(msg.chaddr(), MAC);
        assert!(msg.flags().broadcast());
        let opts = msg.opts();
        assert_eq!(opts.msg_type(), Some(MessageType::Request));
        assert_eq!(
            opts.get(OptionCode::Hostname),
            Some(&DhcpOption::Hostname("DESKTOP-4JQ2R7M".into()))
        );
        assert_eq!(
            opts.get(OptionCode::ClassIdentifier),
            Some(&DhcpOption::ClassIdentifier(b"MSFT 5.0".to_vec()))
        );
        assert_eq!(
            opts.get(OptionCode::RequestedIpAddress),
            Some(&DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 9, 0, 50)))
        );
        assert_eq!(
            opts.get(OptionCode::ParameterRequestList),
            Some(&DhcpOption::ParameterRequestList(
                ClientKind::Windows
                    .parameter_requests()
                    .iter()
                    .map(|&c| OptionCode::from(c))
                    .collect()
            ))
        );
    }

    #[test]
    fn families_look_like_their_clients() {
        let linux = client("linux");
        let vendor = String::from_utf8(linux.vendor_class.clone().unwrap()).unwrap();
        assert!(vendor.starts_with("dhcpcd-") && vendor.contains("Linux-6.1.0-13-amd64"));
        assert_eq!(linux.client_id[0], 0xff);
        assert_eq!(
            client("embedded").vendor_class.as_deref(),
            Some(&b"udhcp 1.36.1"[..])
        );
        assert_eq!(client("windows_server").kind, ClientKind::Windows);
        assert_eq!(client("bsd").vendor_class, None);
        assert_eq!(client("windows").client_id, [&[1u8][..], &MAC].concat());
        let fqdn = DhcpClient::for_os("linux", "ci20.localdomain", MAC, "6.1.0-13-amd64");
        assert_eq!(fqdn.hostname, "ci20");
        assert_ne!(
            ClientKind::Windows.parameter_requests(),
            ClientKind::Dhcpcd.parameter_requests()
        );
    }

    #[test]
    fn renew_and_release_carry_the_address_and_no_broadcast_flag() {
        let c = client("embedded");
        let ip = Ipv4Addr::new(10, 9, 0, 50);
        let renew = encode(&c, MAC, 7, 0, &Request::Renew { ciaddr: ip });
        let msg = Message::decode(&mut Decoder::new(&renew)).unwrap();
        assert_eq!(msg.ciaddr(), ip);
        assert!(!msg.flags().broadcast());
        assert!(!msg.opts().contains(OptionCode::ServerIdentifier));
        assert!(!msg.opts().contains(OptionCode::RequestedIpAddress));
        let server = Ipv4Addr::new(10, 9, 0, 1);
        let release = encode(&c, MAC, 8, 0, &Request::Release { ciaddr: ip, server });
        let msg = Message::decode(&mut Decoder::new(&release)).unwrap();
        assert_eq!(msg.opts().msg_type(), Some(MessageType::Release));
        assert_eq!(
            msg.opts().get(OptionCode::ServerIdentifier),
            Some(&DhcpOption::ServerIdentifier(server))
        );
        assert!(!msg.opts().contains(OptionCode::ParameterRequestList));
        assert!(!msg.opts().contains(OptionCode::Hostname));
    }

    #[test]
    fn replies_are_checked_against_the_transaction() {
        let ok = server_reply(MessageType::Ack, 42, &MAC);
        let reply = parse_reply(&ok, 42, MAC).unwrap();
        let lease = reply.into_lease(SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(lease.ip, Ipv4Addr::new(10, 9, 0, 50));
        assert_eq!(lease.prefix_len, 24);
        assert_eq!(lease.router, Some(Ipv4Addr::new(10, 9, 0, 254)));
        assert_eq!((lease.renew_secs, lease.rebind_secs), (1800, 3150));
        assert_eq!(parse_reply(&ok, 43, MAC), Err("another transaction"));
        let other = [0x00, 0x15, 0x5d, 0x01, 0x02, 0x04];
        assert_eq!(
            parse_reply(&ok, 42, other),
            Err("another client's hardware address")
        );
        let long_hw = server_reply(MessageType::Ack, 42, &[1; 16]);
        assert!(parse_reply(&long_hw, 42, MAC).is_err());
        let mut big = ok.clone();
        big.resize(MAX_REPLY_LEN + 1, 0);
        assert_eq!(parse_reply(&big, 42, MAC), Err("oversized datagram"));
        let mut request = ok.clone();
        request[0] = 1;
        assert_eq!(parse_reply(&request, 42, MAC), Err("not a BOOTREPLY"));
        let discover = server_reply(MessageType::Discover, 42, &MAC);
        assert!(parse_reply(&discover, 42, MAC).is_err());
    }

    #[test]
    fn options_that_trip_dhcproto_are_dropped() {
        let mut bytes = server_reply(MessageType::Ack, 42, &MAC);
        bytes.truncate(HEADER_LEN + 4);
        // Rapid commit with data, a 1-byte client FQDN, a bulk status with
        // no code: each makes dhcproto's debug build panic.
        bytes.extend_from_slice(&[80, 1, 0, 81, 1, 0, 151, 0]);
        bytes.extend_from_slice(&[53, 1, 5, 54, 4, 10, 9, 0, 1, 51, 4, 0, 0, 1, 0]);
        // A second message type is ignored, not a last-one-wins override.
        bytes.extend_from_slice(&[53, 1, 6, 51, 2, 0, 1, 255]);
        let reply = parse_reply(&bytes, 42, MAC).unwrap();
        assert_eq!(reply.kind, MessageType::Ack);
        assert_eq!(reply.server, Some(Ipv4Addr::new(10, 9, 0, 1)));
        assert_eq!(reply.lease_secs, Some(256));
        bytes.truncate(bytes.len() - 3);
        assert_eq!(parse_reply(&bytes, 42, MAC), Err("truncated option"));
    }

    #[test]
    fn masks_and_lease_times() {
        assert_eq!(prefix_of(Ipv4Addr::new(255, 255, 255, 0)), Some(24));
        assert_eq!(prefix_of(Ipv4Addr::new(255, 255, 255, 255)), Some(32));
        assert_eq!(prefix_of(Ipv4Addr::new(0, 0, 0, 0)), Some(0));
        assert_eq!(prefix_of(Ipv4Addr::new(255, 0, 255, 0)), None);
        let mut reply = parse_reply(&server_reply(MessageType::Ack, 1, &MAC), 1, MAC).unwrap();
        reply.lease_secs = Some(u32::MAX);
        reply.renew_secs = Some(u32::MAX);
        let lease = reply.into_lease(SystemTime::now()).unwrap();
        assert!(lease.renew_at() <= lease.rebind_at() && lease.rebind_at() <= lease.expires_at());
        assert!(lease.expires_at() > SystemTime::now() + Duration::from_secs(86400 * 365 * 50));
    }

    proptest! {
        /// A valid header followed by arbitrary option bytes (the part
        /// dhcproto's option decoder would see).
        #[test]
        fn arbitrary_options_never_panic(options in proptest::collection::vec(any::<u8>(), 0..1200)) {
            let mut bytes = server_reply(MessageType::Ack, 42, &MAC);
            bytes.truncate(HEADER_LEN + 4);
            bytes.extend_from_slice(&options);
            let _ = parse_reply(&bytes, 42, MAC);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1600)) {
            let _ = parse_reply(&bytes, 42, MAC);
        }

        /// Corrupting a valid reply (header fields, option lengths) is
        /// rejected or yields a reply that still satisfies the checks.
        #[test]
        fn mutated_replies_never_panic(
            edits in proptest::collection::vec((0usize..400, any::<u8>()), 0..12),
            cut in 0usize..400,
        ) {
            let mut bytes = server_reply(MessageType::Offer, 42, &MAC);
            for (at, value) in edits {
                if at < bytes.len() {
                    bytes[at] = value;
                }
            }
            bytes.truncate(cut.max(HEADER_LEN));
            if let Ok(reply) = parse_reply(&bytes, 42, MAC) {
                prop_assert!(matches!(reply.kind, MessageType::Offer | MessageType::Ack | MessageType::Nak));
                prop_assert_eq!(&bytes[28..34], &MAC[..]);
                if reply.kind != MessageType::Nak {
                    prop_assert!(usable_unicast(reply.yiaddr));
                }
            }
        }
    }
}
