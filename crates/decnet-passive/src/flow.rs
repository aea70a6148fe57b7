//! The first bytes a client sends on each TCP flow, reassembled in order
//! until a ClientHello or KEXINIT can be read (or clearly will not be).
//!
//! Bounded: at most `max_flows` flows (least recently touched evicted),
//! at most [`MAX_FLOW_BYTES`] per flow; a flow that has been decided keeps
//! no bytes. Out-of-order segments are not buffered: the flow is given up
//! (on a LAN they are rare, and buffering them is what a flood would abuse).

use std::net::IpAddr;
use std::num::NonZeroUsize;

use lru::LruCache;

/// Most client bytes kept per flow: a ClientHello with post-quantum key
/// shares is ~2 KB, an SSH identification plus KEXINIT ~1.5 KB.
pub const MAX_FLOW_BYTES: usize = 16 * 1024;

/// A TCP flow, client side first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// Client address.
    pub src: IpAddr,
    /// Client port.
    pub sport: u16,
    /// Decky address.
    pub dst: IpAddr,
    /// Decky port.
    pub dport: u16,
}

#[derive(Debug)]
enum State {
    /// Collecting; `next` is the sequence number expected next.
    Collecting { next: Option<u32>, bytes: Vec<u8> },
    /// Fingerprinted or given up.
    Done,
}

/// What reading a flow's bytes gave.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict<T> {
    /// Not enough bytes yet.
    More,
    /// Found (the flow is done).
    Found(T),
    /// Nothing to find here (the flow is done).
    Nothing,
}

/// Bounded table of flows being read.
#[derive(Debug)]
pub struct FlowTable {
    flows: LruCache<FlowKey, State>,
    /// Flows pushed out by newer ones while still collecting.
    pub evicted: u64,
}

impl FlowTable {
    /// A table of at most `max_flows` flows.
    pub fn new(max_flows: usize) -> FlowTable {
        FlowTable {
            flows: LruCache::new(NonZeroUsize::new(max_flows.max(1)).unwrap_or(NonZeroUsize::MIN)),
            evicted: 0,
        }
    }

    /// Flows held.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// True when no flow is held.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    fn put(&mut self, key: FlowKey, state: State) {
        if let Some((old, State::Collecting { .. })) = self.flows.push(key, state) {
            if old != key {
                self.evicted += 1;
            }
        }
    }

    /// A client SYN opens (or reopens) the flow; data is expected at `isn + 1`.
    pub fn syn(&mut self, key: FlowKey, isn: u32) {
        self.put(
            key,
            State::Collecting {
                next: Some(isn.wrapping_add(1)),
                bytes: Vec::new(),
            },
        );
    }

    /// Adds a client segment and lets `read` judge the bytes so far.
    /// A flow first seen mid-way (no SYN) starts at this segment.
    pub fn segment<T>(
        &mut self,
        key: FlowKey,
        seq: u32,
        payload: &[u8],
        read: impl FnOnce(&[u8]) -> Verdict<T>,
    ) -> Option<T> {
        if payload.is_empty() {
            return None;
        }
        if !self.flows.contains(&key) {
            self.put(
                key,
                State::Collecting {
                    next: None,
                    bytes: Vec::new(),
                },
            );
        }
        let state = self.flows.get_mut(&key)?;
        let State::Collecting { next, bytes } = state else {
            return None;
        };
        let expected = next.unwrap_or(seq);
        if seq != expected {
            // A retransmission of bytes already held changes nothing;
            // anything else is a gap we do not buffer.
            let behind = expected.wrapping_sub(seq) as usize;
            if behind <= bytes.len() && payload.len() <= behind {
                return None;
            }
            *state = State::Done;
            return None;
        }
        let room = MAX_FLOW_BYTES - bytes.len();
        bytes.extend_from_slice(&payload[..payload.len().min(room)]);
        *next = Some(seq.wrapping_add(payload.len() as u32));
        let full = bytes.len() >= MAX_FLOW_BYTES;
        match read(bytes) {
            Verdict::Found(t) => {
                *state = State::Done;
                Some(t)
            }
            Verdict::Nothing => {
                *state = State::Done;
                None
            }
            Verdict::More if full => {
                *state = State::Done;
                None
            }
            Verdict::More => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(port: u16) -> FlowKey {
        FlowKey {
            src: "10.0.0.1".parse().expect("ip"),
            sport: port,
            dst: "10.0.0.2".parse().expect("ip"),
            dport: 443,
        }
    }

    fn want(n: usize) -> impl FnOnce(&[u8]) -> Verdict<Vec<u8>> {
        move |b: &[u8]| {
            if b.len() >= n {
                Verdict::Found(b.to_vec())
            } else {
                Verdict::More
            }
        }
    }

    #[test]
    fn in_order_segments_are_joined_and_a_found_flow_is_done() {
        let mut t = FlowTable::new(4);
        t.syn(key(1), 99);
        assert_eq!(t.segment(key(1), 100, b"abc", want(5)), None);
        // Retransmission: ignored.
        assert_eq!(t.segment(key(1), 100, b"abc", want(5)), None);
        assert_eq!(
            t.segment(key(1), 103, b"de", want(5)),
            Some(b"abcde".to_vec())
        );
        assert_eq!(t.segment(key(1), 105, b"fg", want(1)), None);
    }

    #[test]
    fn a_gap_gives_the_flow_up() {
        let mut t = FlowTable::new(4);
        t.syn(key(1), 0);
        assert_eq!(t.segment(key(1), 10, b"late", want(1)), None);
        assert_eq!(t.segment(key(1), 1, b"x", want(1)), None);
    }

    #[test]
    fn the_table_and_each_flow_stay_bounded() {
        let mut t = FlowTable::new(2);
        for p in 0..10 {
            t.syn(key(p), 0);
            let _ = t.segment(key(p), 1, b"x", want(100));
        }
        assert_eq!(t.len(), 2);
        assert_eq!(t.evicted, 8);
        let mut seq = 1u32;
        t.syn(key(50), 0);
        let chunk = vec![0u8; 1400];
        let mut calls = 0;
        for _ in 0..40 {
            let r = t.segment(key(50), seq, &chunk, |b: &[u8]| {
                calls += 1;
                assert!(b.len() <= MAX_FLOW_BYTES);
                Verdict::<()>::More
            });
            assert_eq!(r, None);
            seq = seq.wrapping_add(1400);
        }
        assert_eq!(calls, MAX_FLOW_BYTES.div_ceil(1400));
    }
}
