//! The classic BPF program the kernel runs on every frame of the captured
//! interface, so only what the sensor reads crosses into the process:
//! IPv4/IPv6 TCP SYNs (without ACK), TCP segments that carry payload, and
//! UDP datagrams — for IPv4 only those addressed to the decoy network when
//! one is configured. Pure ACKs, FINs, RSTs, ARP and everything else stay
//! in the kernel.

use std::net::Ipv4Addr;

use decnet_net::capture::FilterInsn;

/// Bytes of each accepted frame handed over (a whole jumbo-less frame;
/// coalesced receive can exceed 1,514 bytes).
pub const SNAP_LEN: u32 = 65_535;

// Classic BPF opcodes (linux/filter.h).
const LD_H_ABS: u16 = 0x28;
const LD_W_ABS: u16 = 0x20;
const LD_B_ABS: u16 = 0x30;
const LD_B_IND: u16 = 0x50;
const LDX_B_MSH: u16 = 0xb1;
const LD_MEM: u16 = 0x60;
const LDX_MEM: u16 = 0x61;
const ST: u16 = 0x02;
const ALU_AND_K: u16 = 0x54;
const ALU_RSH_K: u16 = 0x74;
const ALU_SUB_X: u16 = 0x1c;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;
const TAX: u16 = 0x07;

const TCP: u32 = 6;
const UDP: u32 = 17;
/// SYN and ACK bits of the TCP flags byte.
const SYN_ACK_MASK: u32 = 0x12;
const SYN: u32 = 0x02;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Label {
    V4,
    V4Ok,
    V4Tcp,
    V6,
    V6Tcp,
    Accept,
    Drop,
}

enum Item {
    Plain(u16, u32),
    Jump(u16, u32, Label, Option<Label>),
    Mark(Label),
}

use Item::{Jump, Mark, Plain};
use Label::*;

/// The program; `decoy_net` limits IPv4 to that destination network.
pub fn program(decoy_net: Option<(Ipv4Addr, u8)>) -> Vec<FilterInsn> {
    let mut p = vec![
        Plain(LD_H_ABS, 12),
        Jump(JEQ_K, 0x0800, V4, None),
        Jump(JEQ_K, 0x86dd, V6, Some(Drop)),
        Mark(V4),
    ];
    if let Some((net, prefix)) = decoy_net {
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix.min(32)))
        };
        p.extend([
            Plain(LD_W_ABS, 30),
            Plain(ALU_AND_K, mask),
            Jump(JEQ_K, u32::from(net) & mask, V4Ok, Some(Drop)),
        ]);
    }
    p.extend([
        Mark(V4Ok),
        // Later fragments carry no transport header.
        Plain(LD_H_ABS, 20),
        Jump(JSET_K, 0x1fff, Drop, None),
        Plain(LD_B_ABS, 23),
        Jump(JEQ_K, UDP, Accept, None),
        Jump(JEQ_K, TCP, V4Tcp, Some(Drop)),
        Mark(V4Tcp),
        Plain(LDX_B_MSH, 14),
        Plain(LD_B_IND, 14 + 13),
        Plain(ALU_AND_K, SYN_ACK_MASK),
        Jump(JEQ_K, SYN, Accept, None),
        // payload = total length - IP header - TCP header
        Plain(LD_H_ABS, 16),
        Plain(ALU_SUB_X, 0),
        Plain(ST, 0),
        Plain(LD_B_IND, 14 + 12),
        Plain(ALU_AND_K, 0xf0),
        Plain(ALU_RSH_K, 2),
        Plain(ST, 1),
        Plain(LDX_MEM, 1),
        Plain(LD_MEM, 0),
        Plain(ALU_SUB_X, 0),
        Jump(JGT_K, 0, Accept, Some(Drop)),
        Mark(V6),
        Plain(LD_B_ABS, 14 + 6),
        Jump(JEQ_K, UDP, Accept, None),
        Jump(JEQ_K, TCP, V6Tcp, Some(Drop)),
        Mark(V6Tcp),
        Plain(LD_B_ABS, 14 + 40 + 13),
        Plain(ALU_AND_K, SYN_ACK_MASK),
        Jump(JEQ_K, SYN, Accept, None),
        Plain(LD_B_ABS, 14 + 40 + 12),
        Plain(ALU_AND_K, 0xf0),
        Plain(ALU_RSH_K, 2),
        Plain(TAX, 0),
        Plain(LD_H_ABS, 14 + 4),
        Plain(ALU_SUB_X, 0),
        Jump(JGT_K, 0, Accept, Some(Drop)),
        Mark(Accept),
        Plain(RET_K, SNAP_LEN),
        Mark(Drop),
        Plain(RET_K, 0),
    ]);
    assemble(&p)
}

/// Resolves labels into relative jump offsets. A `None` false branch
/// falls through to the next instruction.
fn assemble(items: &[Item]) -> Vec<FilterInsn> {
    let mut at = std::collections::HashMap::new();
    let mut n = 0usize;
    for it in items {
        match it {
            Mark(l) => {
                at.insert(*l, n);
            }
            _ => n += 1,
        }
    }
    let offset = |from: usize, to: &Label| -> u8 {
        let target = at[to];
        debug_assert!(target > from, "BPF jumps go forward");
        u8::try_from(target - from - 1).unwrap_or(u8::MAX)
    };
    let mut out = Vec::with_capacity(n);
    for it in items {
        let i = out.len();
        match it {
            Mark(_) => {}
            Plain(code, k) => out.push(FilterInsn {
                code: *code,
                jt: 0,
                jf: 0,
                k: *k,
            }),
            Jump(code, k, t, f) => out.push(FilterInsn {
                code: *code,
                jt: offset(i, t),
                jf: f.as_ref().map_or(0, |f| offset(i, f)),
                k: *k,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_accepts_the_program() {
        for net in [
            None,
            Some((Ipv4Addr::new(10, 77, 0, 0), 24)),
            Some((Ipv4Addr::UNSPECIFIED, 0)),
        ] {
            let prog = program(net);
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
                .expect("socket");
            decnet_net::capture::attach(&s, &prog).expect("kernel verifier accepts it");
            assert_eq!(prog.last().map(|i| (i.code, i.k)), Some((RET_K, 0)));
        }
    }

    #[test]
    fn jumps_land_on_their_labels() {
        let prog = program(Some((Ipv4Addr::new(192, 168, 1, 0), 24)));
        // Instruction 1: jeq 0x0800 → the first instruction of V4 (ld [30]).
        let i = prog[1];
        assert_eq!((i.code, i.k), (JEQ_K, 0x0800));
        let target = 1 + 1 + i.jt as usize;
        assert_eq!((prog[target].code, prog[target].k), (LD_W_ABS, 30));
        let mask = prog[target + 1].k;
        assert_eq!(mask, 0xffff_ff00);
        assert_eq!(prog[target + 2].k, u32::from(Ipv4Addr::new(192, 168, 1, 0)));
        // Every jump stays inside the program.
        for (n, i) in prog
            .iter()
            .enumerate()
            .filter(|(_, i)| i.code & 0x07 == 0x05)
        {
            assert!(n + 1 + (i.jt.max(i.jf) as usize) < prog.len(), "insn {n}");
        }
    }
}
