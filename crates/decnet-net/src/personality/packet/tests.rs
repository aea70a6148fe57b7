use proptest::prelude::*;

use super::*;

const SCANNER: [u8; 4] = [10, 0, 0, 250];
const DECKY: [u8; 4] = [10, 0, 0, 10];

/// An IPv4 datagram from the decky with `body`, valid checksum, DF set.
fn ipv4(protocol: u8, body: &[u8]) -> Vec<u8> {
    let total = u16::try_from(20 + body.len()).unwrap();
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0x40, 0, 128, protocol, 0, 0]);
    p.extend_from_slice(&DECKY);
    p.extend_from_slice(&SCANNER);
    p.extend_from_slice(body);
    set_ipv4_checksum(&mut p[..20]);
    p
}

/// A TCP segment (checksum filled for the pseudo-header of [`ipv4`]).
fn tcp(flags: u8, seq: u32, ack: u32, window: u16, options: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let mut s = vec![0x00, 0x50, 0xd4, 0x31];
    s.extend_from_slice(&seq.to_be_bytes());
    s.extend_from_slice(&ack.to_be_bytes());
    s.push(u8::try_from((20 + options.len()) / 4).unwrap() << 4);
    s.push(flags);
    s.extend_from_slice(&window.to_be_bytes());
    s.extend_from_slice(&[0, 0, 0, 0]);
    s.extend_from_slice(options);
    let ip = Ipv4::parse(&ipv4(PROTO_TCP, &s)).unwrap();
    let sum = checksum(&[&ip.pseudo_header(), &s]);
    s[16..18].copy_from_slice(&sum.to_be_bytes());
    s
}

/// True when the datagram's IPv4 and TCP/ICMP checksums verify.
fn checksums_valid(p: &[u8]) -> bool {
    let ip = Ipv4::parse(p).unwrap();
    let body = &p[ip.header_len..ip.total_len];
    let transport = match ip.protocol {
        PROTO_TCP => checksum(&[&ip.pseudo_header(), body]),
        _ => checksum(&[body]),
    };
    checksum(&[&p[..ip.header_len]]) == 0 && transport == 0
}

fn ip_id(p: &[u8]) -> u16 {
    u16::from_be_bytes([p[4], p[5]])
}

fn tcp_options(p: &[u8]) -> &[u8] {
    let len = usize::from(p[32] >> 4) * 4;
    &p[40..20 + len]
}

const TS: [u8; 10] = [OPT_TS, 10, 0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04];

/// Linux's `M5B4ST11NW8`.
fn linux_o1() -> Vec<u8> {
    let mut o = vec![OPT_MSS, 4, 0x05, 0xb4, OPT_SACK_OK, 2];
    o.extend_from_slice(&TS);
    o.extend_from_slice(&[OPT_NOP, OPT_WS, 3, 8]);
    o
}

#[test]
fn syn_ack_options_take_windows_order_with_the_kernels_values() {
    let mut p = ipv4(PROTO_TCP, &tcp(SYN | ACK, 7, 9, 0xfe88, &linux_o1()));
    let mut rw = Rewriter::new(Shape::WINDOWS, 0x1234);
    assert!(rw.rewrite(&mut p));
    let mut want = vec![
        OPT_MSS,
        4,
        0x05,
        0xb4,
        OPT_NOP,
        OPT_WS,
        3,
        8,
        OPT_SACK_OK,
        2,
    ];
    want.extend_from_slice(&TS);
    assert_eq!(tcp_options(&p), &want[..]);
    assert_eq!(u16::from_be_bytes([p[34], p[35]]), 0x2000, "window");
    assert_eq!(ip_id(&p), 0x1234);
    assert!(checksums_valid(&p));
}

#[test]
fn syn_ack_without_sack_or_timestamps_pads_as_windows_does() {
    // Linux `M5B4NNT11NW8` (no SACK asked) → Windows `M5B4NW8NNT11`.
    let mut o = vec![OPT_MSS, 4, 0x05, 0xb4, OPT_NOP, OPT_NOP];
    o.extend_from_slice(&TS);
    o.extend_from_slice(&[OPT_NOP, OPT_WS, 3, 8]);
    let mut p = ipv4(PROTO_TCP, &tcp(SYN | ACK, 1, 2, 0xfe88, &o));
    assert!(Rewriter::new(Shape::WINDOWS, 1).rewrite(&mut p));
    let mut want = vec![
        OPT_MSS, 4, 0x05, 0xb4, OPT_NOP, OPT_WS, 3, 8, OPT_NOP, OPT_NOP,
    ];
    want.extend_from_slice(&TS);
    assert_eq!(tcp_options(&p), &want[..]);
    // Linux `M5B4NNSNW8` (no timestamps, ECN probe) → `M5B4NW8NNS`.
    let o = [
        OPT_MSS,
        4,
        5,
        0xb4,
        OPT_NOP,
        OPT_NOP,
        OPT_SACK_OK,
        2,
        OPT_NOP,
        OPT_WS,
        3,
        8,
    ];
    let mut p = ipv4(PROTO_TCP, &tcp(SYN | ACK, 1, 2, 0xfaf0, &o));
    assert!(Rewriter::new(Shape::WINDOWS, 1).rewrite(&mut p));
    let want = [
        OPT_MSS,
        4,
        5,
        0xb4,
        OPT_NOP,
        OPT_WS,
        3,
        8,
        OPT_NOP,
        OPT_NOP,
        OPT_SACK_OK,
        2,
    ];
    assert_eq!(tcp_options(&p), &want[..]);
    assert!(checksums_valid(&p));
}

#[test]
fn unknown_options_keep_the_kernels_order_but_the_rest_is_shaped() {
    // TCP-MD5 (kind 19) is not something to move around.
    let mut o = vec![OPT_MSS, 4, 5, 0xb4, OPT_NOP, OPT_NOP, 19, 18];
    o.extend_from_slice(&[0xaa; 16]);
    let mut p = ipv4(PROTO_TCP, &tcp(SYN | ACK, 1, 2, 0xfe88, &o));
    assert!(Rewriter::new(Shape::WINDOWS, 1).rewrite(&mut p));
    assert_eq!(tcp_options(&p), &o[..]);
    assert_eq!(u16::from_be_bytes([p[34], p[35]]), 0x2000);
    assert!(checksums_valid(&p));
    // A duplicated MSS is not reordered either (it would lose one).
    let o = [OPT_MSS, 4, 5, 0xb4, OPT_MSS, 4, 5, 0xb4];
    assert_eq!(parse_syn_options(&o), None);
}

#[test]
fn outgoing_syns_drop_timestamps_and_take_windows_layout() {
    let mut p = ipv4(PROTO_TCP, &tcp(SYN, 7, 0, 64240, &linux_o1()));
    assert!(Rewriter::new(Shape::WINDOWS, 3).rewrite(&mut p));
    assert_eq!(
        p.len(),
        20 + 32,
        "the header shrank by the timestamp option"
    );
    assert_eq!(
        usize::from(u16::from_be_bytes([p[2], p[3]])),
        p.len(),
        "IP total length"
    );
    let want = [
        OPT_MSS,
        4,
        0x05,
        0xb4,
        OPT_NOP,
        OPT_WS,
        3,
        8,
        OPT_NOP,
        OPT_NOP,
        OPT_SACK_OK,
        2,
    ];
    assert_eq!(tcp_options(&p), &want[..]);
    assert_eq!(u16::from_be_bytes([p[34], p[35]]), 0x2000, "window");
    assert_eq!(&p[24..28], &7u32.to_be_bytes(), "sequence number kept");
    assert!(checksums_valid(&p));
    // A SYN carrying data (TCP Fast Open) keeps its options: moving the
    // payload is not worth the risk.
    let mut with_data = tcp(SYN, 7, 0, 64240, &linux_o1());
    with_data.extend_from_slice(b"GET /");
    let mut p = ipv4(PROTO_TCP, &with_data);
    assert!(Rewriter::new(Shape::WINDOWS, 3).rewrite(&mut p));
    assert_eq!(tcp_options(&p), &linux_o1()[..]);
}

#[test]
fn the_window_is_only_ever_lowered() {
    let mut p = ipv4(PROTO_TCP, &tcp(SYN | ACK, 1, 2, 4000, &linux_o1()));
    assert!(Rewriter::new(Shape::WINDOWS, 1).rewrite(&mut p));
    assert_eq!(u16::from_be_bytes([p[34], p[35]]), 4000);
}

#[test]
fn a_bare_rst_carries_its_sequence_in_the_ack_field() {
    let mut p = ipv4(PROTO_TCP, &tcp(RST, 0x0102_0304, 0, 0, &[]));
    assert!(Rewriter::new(Shape::WINDOWS, 1).rewrite(&mut p));
    assert_eq!(&p[28..32], &[1, 2, 3, 4]);
    assert!(checksums_valid(&p));
    // An RST/ACK's acknowledgement means something: untouched.
    let mut p = ipv4(PROTO_TCP, &tcp(RST | ACK, 0, 0x0a0b_0c0d, 0, &[]));
    assert!(Rewriter::new(Shape::WINDOWS, 1).rewrite(&mut p));
    assert_eq!(&p[28..32], &[0x0a, 0x0b, 0x0c, 0x0d]);
    assert!(checksums_valid(&p));
}

#[test]
fn ip_ids_count_up_across_tcp_and_icmp() {
    let mut rw = Rewriter::new(Shape::WINDOWS, 0xfffe);
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut p = if i == 1 {
            ipv4(PROTO_ICMP, &[ICMP_ECHO_REPLY, 0, 0, 0, 0, 1, 0, 1])
        } else {
            ipv4(PROTO_TCP, &tcp(RST | ACK, 0, 1, 0, &[]))
        };
        assert!(rw.rewrite(&mut p));
        ids.push(ip_id(&p));
    }
    assert_eq!(ids, [0xfffe, 0xffff, 0x0000]);
}

#[test]
fn echo_replies_answer_with_code_zero() {
    let mut msg = vec![ICMP_ECHO_REPLY, 9, 0, 0, 0x12, 0x34, 0, 1, b'x', b'y', b'z'];
    let sum = checksum(&[&msg]);
    msg[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut p = ipv4(PROTO_ICMP, &msg);
    assert!(Rewriter::new(Shape::WINDOWS, 5).rewrite(&mut p));
    assert_eq!(p[21], 0, "code");
    assert_eq!(&p[24..], &msg[4..], "identifier, sequence and data kept");
    assert!(checksums_valid(&p));
    // Port unreachable (type 3 code 3): only the IP header changes.
    let mut unreach = vec![3, 3, 0, 0, 0, 0, 0, 0];
    unreach.extend_from_slice(&ipv4(17, &[0; 8]));
    let sum = checksum(&[&unreach]);
    unreach[2..4].copy_from_slice(&sum.to_be_bytes());
    let mut p = ipv4(PROTO_ICMP, &unreach);
    assert!(Rewriter::new(Shape::WINDOWS, 5).rewrite(&mut p));
    assert_eq!(&p[20..], &unreach[..]);
    assert_eq!(ip_id(&p), 5);
    assert!(checksums_valid(&p));
}

#[test]
fn malformed_or_foreign_packets_pass_unchanged() {
    let good = ipv4(PROTO_TCP, &tcp(SYN | ACK, 1, 2, 0xfe88, &linux_o1()));
    let mut cases: Vec<Vec<u8>> =
        vec![vec![], vec![0x45], good[..19].to_vec(), good[..30].to_vec()];
    // IHL below 5, total length beyond the buffer, below the header.
    let mut c = good.clone();
    c[0] = 0x44;
    cases.push(c);
    let mut c = good.clone();
    c[2..4].copy_from_slice(&1000u16.to_be_bytes());
    cases.push(c);
    let mut c = good.clone();
    c[2..4].copy_from_slice(&10u16.to_be_bytes());
    cases.push(c);
    // A fragment (offset 8), an IPv6 version nibble, UDP.
    let mut c = good.clone();
    c[7] = 1;
    cases.push(c);
    let mut c = good.clone();
    c[0] = 0x65;
    cases.push(c);
    cases.push(ipv4(17, &[0; 8]));
    // TCP data offset below 5 and beyond the segment; short ICMP.
    let mut c = good.clone();
    c[32] = 0x40;
    cases.push(c);
    let mut c = good.clone();
    c[32] = 0xf0;
    cases.push(c);
    cases.push(ipv4(PROTO_ICMP, &[0, 9, 0, 0]));
    for case in cases {
        let mut p = case.clone();
        assert!(
            !Rewriter::new(Shape::WINDOWS, 1).rewrite(&mut p),
            "{case:02x?}"
        );
        assert_eq!(p, case);
    }
}

proptest! {
    #[test]
    fn any_bytes_are_safe(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        let mut p = bytes.clone();
        if Rewriter::new(Shape::WINDOWS, 1).rewrite(&mut p) {
            prop_assert!(p.len() <= bytes.len());
            prop_assert_eq!(checksum(&[&p[..usize::from(p[0] & 0x0f) * 4]]), 0);
        } else {
            prop_assert_eq!(p, bytes);
        }
    }

    #[test]
    fn shaped_syn_acks_keep_every_option_value(
        mss in any::<[u8; 2]>(), shift in 0u8..15, ts in any::<[u8; 8]>(), sack in any::<bool>()
    ) {
        // The kernel's layout for the combination, then ours.
        let mut o = vec![OPT_MSS, 4, mss[0], mss[1]];
        if sack { o.extend_from_slice(&[OPT_SACK_OK, 2]) } else { o.extend_from_slice(&[OPT_NOP, OPT_NOP]) }
        o.extend_from_slice(&[OPT_TS, 10]);
        o.extend_from_slice(&ts);
        o.extend_from_slice(&[OPT_NOP, OPT_WS, 3, shift]);
        let mut p = ipv4(PROTO_TCP, &tcp(SYN | ACK, 1, 2, 0xffff, &o));
        prop_assert!(Rewriter::new(Shape::WINDOWS, 1).rewrite(&mut p));
        let before = parse_syn_options(&o).unwrap();
        let after = parse_syn_options(tcp_options(&p)).unwrap();
        prop_assert_eq!(before, after);
        prop_assert!(checksums_valid(&p));
    }
}
