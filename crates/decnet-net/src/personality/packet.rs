//! The rewrite itself: an outgoing IPv4 packet of a decky's namespace, as
//! the kernel built it, edited in place so the fields `nmap -O` reads show
//! the persona's OS instead of Linux. Pure (no I/O) so every case is tested
//! on hand-built packets.
//!
//! Every packet is hostile input (a scanner chooses what the kernel answers),
//! so parsing is bounds-checked and anything not understood is left exactly
//! as it was: the kernel's packet is always a valid fallback.

/// IPv4 protocol numbers the rewriter edits.
const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;

/// TCP flag bits.
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

/// TCP option kinds the reorder understands (anything else: no reorder).
const OPT_EOL: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;
const OPT_WS: u8 = 3;
const OPT_SACK_OK: u8 = 4;
const OPT_TS: u8 = 8;

/// ICMP echo reply.
const ICMP_ECHO_REPLY: u8 = 0;

/// How a family's stack differs from Linux's where nmap looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// The (unscaled) window of SYNs and SYN/ACKs, as the family sends it.
    /// Only ever lowered: advertising less than the kernel's buffer is
    /// always safe, the kernel's next segment advertises its real window.
    pub syn_window: u16,
}

impl Shape {
    /// Windows 10 / Server 2016+: 8192 (nmap's `W=2000`, p0f's
    /// `8192,8:mss,nop,ws,nop,nop,sok`).
    pub const WINDOWS: Shape = Shape { syn_window: 0x2000 };
}

/// Rewrites packets for one decky; keeps the shared IP ID counter.
#[derive(Debug)]
pub struct Rewriter {
    shape: Shape,
    /// Windows numbers every datagram from one global counter, TCP and
    /// ICMP alike (nmap: `TI=I`, `CI=I`, `II=I`, `SS=S`); Linux gives
    /// DF TCP replies ID 0 and counts per destination.
    next_ip_id: u16,
}

impl Rewriter {
    /// A rewriter for `shape` whose IP IDs start at `first_ip_id` (random:
    /// two deckies must not count in step).
    pub fn new(shape: Shape, first_ip_id: u16) -> Rewriter {
        Rewriter {
            shape,
            next_ip_id: first_ip_id,
        }
    }

    /// Edits `packet` (a whole IPv4 datagram); `true` when it changed.
    /// Anything malformed, fragmented or not IPv4 is untouched. Only an
    /// outgoing SYN changes length (Windows offers no timestamps).
    pub fn rewrite(&mut self, packet: &mut Vec<u8>) -> bool {
        drop_syn_timestamps(packet);
        let Some(ip) = Ipv4::parse(packet) else {
            return false;
        };
        let body = &mut packet[ip.header_len..ip.total_len];
        let edited = match ip.protocol {
            PROTO_TCP => self.rewrite_tcp(body, ip.pseudo_header()),
            PROTO_ICMP => rewrite_icmp(body),
            _ => return false,
        };
        if !edited {
            return false;
        }
        let id = self.next_ip_id;
        self.next_ip_id = self.next_ip_id.wrapping_add(1);
        packet[4..6].copy_from_slice(&id.to_be_bytes());
        set_ipv4_checksum(&mut packet[..ip.header_len]);
        true
    }

    /// The TCP segment: SYN/ACK options and window, RST acknowledgement
    /// field; `false` (untouched) when the header does not parse.
    fn rewrite_tcp(&self, segment: &mut [u8], pseudo: [u8; 12]) -> bool {
        if segment.len() < 20 {
            return false;
        }
        let header_len = usize::from(segment[12] >> 4) * 4;
        if header_len < 20 || header_len > segment.len() {
            return false;
        }
        let flags = segment[13];
        if flags & (SYN | ACK) == SYN | ACK {
            if let Some(reordered) = windows_option_order(&segment[20..header_len]) {
                segment[20..header_len].copy_from_slice(&reordered);
            }
        }
        if flags & SYN != 0 {
            let window = u16::from_be_bytes([segment[14], segment[15]]);
            let lowered = window.min(self.shape.syn_window);
            segment[14..16].copy_from_slice(&lowered.to_be_bytes());
        }
        if flags & (RST | ACK) == RST {
            // Windows leaves its sequence number in the acknowledgement
            // field of a bare RST (nmap T4/T6 `A=O`); Linux zeroes it. The
            // field means nothing without ACK, so the peer ignores it.
            let seq = [segment[4], segment[5], segment[6], segment[7]];
            segment[8..12].copy_from_slice(&seq);
        }
        segment[16..18].copy_from_slice(&[0, 0]);
        let sum = checksum(&[&pseudo, segment]);
        segment[16..18].copy_from_slice(&sum.to_be_bytes());
        true
    }
}

/// ICMP: an echo reply's code is always 0 on Windows (Linux copies the
/// request's, nmap IE `CD=S`); every other message only gets a new IP ID.
fn rewrite_icmp(message: &mut [u8]) -> bool {
    if message.len() < 8 {
        return false;
    }
    if message[0] == ICMP_ECHO_REPLY && message[1] != 0 {
        message[1] = 0;
        message[2..4].copy_from_slice(&[0, 0]);
        let sum = checksum(&[message]);
        message[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    true
}

/// An outgoing SYN (a decky opening a connection) laid out as Windows
/// sends it — `MSS,NOP,WS,NOP,NOP,SACK`, no timestamps — shrinking the
/// header. Safe: without timestamps in the SYN the peer answers without
/// them and the kernel runs the connection without. Untouched (`false`)
/// unless a well-formed SYN without payload whose options all parse.
fn drop_syn_timestamps(packet: &mut Vec<u8>) -> bool {
    let Some(ip) = Ipv4::parse(packet) else {
        return false;
    };
    if ip.protocol != PROTO_TCP || ip.total_len != packet.len() {
        return false;
    }
    let segment = &packet[ip.header_len..];
    let Some(&offset) = segment.get(12) else {
        return false;
    };
    let header_len = usize::from(offset >> 4) * 4;
    let is_bare_syn = segment
        .get(13)
        .is_some_and(|f| f & (SYN | ACK | RST) == SYN);
    if !is_bare_syn || header_len < 20 || header_len != segment.len() {
        return false;
    }
    let Some(parsed) = parse_syn_options(&segment[20..]) else {
        return false;
    };
    let mut options = Vec::with_capacity(12);
    if let Some(mss) = parsed.mss {
        options.extend_from_slice(&[OPT_MSS, 4, mss[0], mss[1]]);
    }
    if let Some(shift) = parsed.window_scale {
        options.extend_from_slice(&[OPT_NOP, OPT_WS, 3, shift]);
    }
    if parsed.sack_permitted {
        options.extend_from_slice(&[OPT_NOP, OPT_NOP, OPT_SACK_OK, 2]);
    }
    if options.len() > header_len - 20 {
        return false;
    }
    let start = ip.header_len + 20;
    packet.splice(start..start + (header_len - 20), options.iter().copied());
    let new_header = 20 + options.len();
    packet[ip.header_len + 12] = (u8::try_from(new_header / 4).unwrap_or(5) << 4) | (offset & 0x0f);
    let total = u16::try_from(packet.len()).unwrap_or(u16::MAX);
    packet[2..4].copy_from_slice(&total.to_be_bytes());
    true
}

/// The fields of an IPv4 header the rewriter needs, validated.
struct Ipv4 {
    header_len: usize,
    total_len: usize,
    protocol: u8,
    src: [u8; 4],
    dst: [u8; 4],
}

impl Ipv4 {
    /// `None` unless a complete, unfragmented IPv4 datagram.
    fn parse(packet: &[u8]) -> Option<Ipv4> {
        let first = *packet.first()?;
        if first >> 4 != 4 || packet.len() < 20 {
            return None;
        }
        let header_len = usize::from(first & 0x0f) * 4;
        let total_len = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
        if header_len < 20 || total_len < header_len || total_len > packet.len() {
            return None;
        }
        // More-fragments or an offset: a piece of a datagram, whose
        // transport header may be elsewhere.
        if u16::from_be_bytes([packet[6], packet[7]]) & 0x3fff != 0 {
            return None;
        }
        Some(Ipv4 {
            header_len,
            total_len,
            protocol: packet[9],
            src: packet[12..16].try_into().ok()?,
            dst: packet[16..20].try_into().ok()?,
        })
    }

    /// The TCP checksum's pseudo-header.
    fn pseudo_header(&self) -> [u8; 12] {
        let len = u16::try_from(self.total_len - self.header_len).unwrap_or(u16::MAX);
        let mut out = [0u8; 12];
        out[..4].copy_from_slice(&self.src);
        out[4..8].copy_from_slice(&self.dst);
        out[9] = self.protocol;
        out[10..12].copy_from_slice(&len.to_be_bytes());
        out
    }
}

/// The options a SYN/ACK carries, as values.
#[derive(Debug, Default, PartialEq, Eq)]
struct SynOptions {
    mss: Option<[u8; 2]>,
    window_scale: Option<u8>,
    sack_permitted: bool,
    timestamps: Option<[u8; 8]>,
}

/// `options` laid out as Windows orders them — MSS, NOP, WS, then SACK
/// permitted and timestamps (`M5B4NW8ST11`, `…NW8NNT11`, `…NW8NNS`) —
/// with the kernel's own values, or `None` when something is not
/// understood or the length would change (the kernel's order then stays).
fn windows_option_order(options: &[u8]) -> Option<Vec<u8>> {
    let parsed = parse_syn_options(options)?;
    let mut out = Vec::with_capacity(options.len());
    if let Some(mss) = parsed.mss {
        out.extend_from_slice(&[OPT_MSS, 4, mss[0], mss[1]]);
    }
    if let Some(shift) = parsed.window_scale {
        out.extend_from_slice(&[OPT_NOP, OPT_WS, 3, shift]);
    }
    match (parsed.sack_permitted, parsed.timestamps) {
        (true, Some(ts)) => {
            out.extend_from_slice(&[OPT_SACK_OK, 2, OPT_TS, 10]);
            out.extend_from_slice(&ts);
        }
        (false, Some(ts)) => {
            out.extend_from_slice(&[OPT_NOP, OPT_NOP, OPT_TS, 10]);
            out.extend_from_slice(&ts);
        }
        (true, None) => out.extend_from_slice(&[OPT_NOP, OPT_NOP, OPT_SACK_OK, 2]),
        (false, None) => {}
    }
    // Trailing padding the kernel used (none today) is kept as EOL bytes.
    if out.len() > options.len() {
        return None;
    }
    out.resize(options.len(), OPT_EOL);
    Some(out)
}

/// The SYN/ACK options, or `None` on anything unknown, duplicated or
/// malformed (a reorder must never drop or invent an option).
fn parse_syn_options(options: &[u8]) -> Option<SynOptions> {
    let mut parsed = SynOptions::default();
    let mut at = 0;
    while at < options.len() {
        let kind = options[at];
        match kind {
            OPT_EOL => {
                // Only padding may follow an end-of-list.
                return options[at..]
                    .iter()
                    .all(|&b| b == OPT_EOL)
                    .then_some(parsed);
            }
            OPT_NOP => {
                at += 1;
                continue;
            }
            _ => {}
        }
        let len = usize::from(*options.get(at + 1)?);
        let value = options.get(at + 2..at.checked_add(len)?)?;
        let fresh = match (kind, len) {
            (OPT_MSS, 4) => parsed.mss.replace([value[0], value[1]]).is_none(),
            (OPT_WS, 3) => parsed.window_scale.replace(value[0]).is_none(),
            (OPT_SACK_OK, 2) => !std::mem::replace(&mut parsed.sack_permitted, true),
            (OPT_TS, 10) => parsed.timestamps.replace(value.try_into().ok()?).is_none(),
            _ => return None,
        };
        if !fresh {
            return None;
        }
        at += len;
    }
    Some(parsed)
}

/// Recomputes an IPv4 header's checksum in place.
fn set_ipv4_checksum(header: &mut [u8]) {
    header[10..12].copy_from_slice(&[0, 0]);
    let sum = checksum(&[header]);
    header[10..12].copy_from_slice(&sum.to_be_bytes());
}

/// The Internet checksum (RFC 1071) of the concatenated `parts`; each
/// part but the last has an even length here (headers are).
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    for part in parts {
        let mut words = part.chunks_exact(2);
        for word in &mut words {
            sum += u64::from(u16::from_be_bytes([word[0], word[1]]));
        }
        if let [last] = words.remainder() {
            sum += u64::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests;
