//! One captured Ethernet frame, reduced to what the sensor looks at.
//!
//! Layer slicing is etherparse's (strict: a frame whose lengths disagree
//! with its bytes is refused, never guessed at); the IP and TCP header
//! fields a SYN signature needs are copied out here.

use std::net::IpAddr;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};

/// IP-layer facts of a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpMeta {
    /// 4 or 6.
    pub version: u8,
    /// TTL / hop limit as received.
    pub ttl: u8,
    /// Length of IPv4 options (0 for IPv6).
    pub options_len: u8,
    /// Don't-fragment bit (IPv4).
    pub df: bool,
    /// IPv4 identification.
    pub id: u16,
    /// ECN bits set.
    pub ecn: bool,
    /// IPv4 reserved ("must be zero") flag bit set.
    pub must_be_zero: bool,
    /// IPv6 flow label non-zero.
    pub flow_label: bool,
}

/// TCP-layer facts of a segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpMeta<'a> {
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack_no: u32,
    /// SYN flag.
    pub syn: bool,
    /// ACK flag.
    pub ack: bool,
    /// RST flag.
    pub rst: bool,
    /// FIN flag.
    pub fin: bool,
    /// PSH flag.
    pub psh: bool,
    /// URG flag.
    pub urg: bool,
    /// ECE, CWR or NS flag (explicit congestion notification).
    pub ecn_flags: bool,
    /// Urgent pointer.
    pub urgent_ptr: u16,
    /// Window.
    pub window: u16,
    /// Raw option bytes.
    pub options: &'a [u8],
}

/// Transport of a packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport<'a> {
    /// A TCP segment.
    Tcp(TcpMeta<'a>),
    /// A UDP datagram.
    Udp,
}

/// A parsed IPv4/IPv6 TCP or UDP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// IP facts.
    pub ip: IpMeta,
    /// TCP or UDP.
    pub transport: Transport<'a>,
    /// Transport payload.
    pub payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Parses an Ethernet frame; `None` for anything but a whole,
    /// unfragmented (or first-fragment-free) IPv4/IPv6 TCP or UDP packet.
    pub fn parse(frame: &'a [u8]) -> Option<Packet<'a>> {
        let sliced = SlicedPacket::from_ethernet(frame).ok()?;
        let (src, dst, ip) = match sliced.net? {
            NetSlice::Ipv4(v4) => {
                let h = v4.header();
                if h.is_fragmenting_payload() {
                    return None;
                }
                let raw = h.slice();
                (
                    IpAddr::V4(h.source_addr()),
                    IpAddr::V4(h.destination_addr()),
                    IpMeta {
                        version: 4,
                        ttl: h.ttl(),
                        options_len: h.options().len() as u8,
                        df: h.dont_fragment(),
                        id: h.identification(),
                        ecn: h.ecn().value() != 0,
                        must_be_zero: raw[6] & 0x80 != 0,
                        flow_label: false,
                    },
                )
            }
            NetSlice::Ipv6(v6) => {
                let h = v6.header();
                (
                    IpAddr::V6(h.source_addr()),
                    IpAddr::V6(h.destination_addr()),
                    IpMeta {
                        version: 6,
                        ttl: h.hop_limit(),
                        options_len: 0,
                        df: false,
                        id: 0,
                        ecn: h.ecn().value() != 0,
                        must_be_zero: false,
                        flow_label: h.flow_label().value() != 0,
                    },
                )
            }
            NetSlice::Arp(_) => return None,
        };
        match sliced.transport? {
            TransportSlice::Tcp(t) => Some(Packet {
                src,
                dst,
                sport: t.source_port(),
                dport: t.destination_port(),
                ip,
                payload: t.payload(),
                transport: Transport::Tcp(TcpMeta {
                    seq: t.sequence_number(),
                    ack_no: t.acknowledgment_number(),
                    syn: t.syn(),
                    ack: t.ack(),
                    rst: t.rst(),
                    fin: t.fin(),
                    psh: t.psh(),
                    urg: t.urg(),
                    ecn_flags: t.ece() || t.cwr() || t.ns(),
                    urgent_ptr: t.urgent_pointer(),
                    window: t.window_size(),
                    // The header slice lives as long as the frame; options follow
                    // the 20 fixed bytes.
                    options: t.header_slice().get(20..).unwrap_or_default(),
                }),
            }),
            TransportSlice::Udp(u) => Some(Packet {
                src,
                dst,
                sport: u.source_port(),
                dport: u.destination_port(),
                ip,
                payload: u.payload(),
                transport: Transport::Udp,
            }),
            _ => None,
        }
    }

    /// The TCP facts, when this is a TCP segment.
    pub fn tcp(&self) -> Option<&TcpMeta<'a>> {
        match &self.transport {
            Transport::Tcp(t) => Some(t),
            Transport::Udp => None,
        }
    }
}
