//! p0f-style TCP/IP signature of a client's SYN.
//!
//! The signature is written in p0f's raw-signature notation
//! (`ver:ttl+distance:olen:mss:wsize,scale:olayout:quirks:pclass`), so it
//! can be compared with `p0f -r` on the same capture and matched against
//! p0f's database when one is installed ([`crate::os`]).

use crate::packet::{Packet, TcpMeta};

/// Longest option layout kept (a SYN carries at most 40 option bytes).
const MAX_OPTIONS: usize = 40;

/// What a SYN says about the stack that sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynSignature {
    /// IP version (4 or 6).
    pub version: u8,
    /// TTL as received.
    pub ttl: u8,
    /// Initial TTL guessed (32, 64, 128 or 255).
    pub initial_ttl: u8,
    /// IPv4 options length.
    pub ip_options_len: u8,
    /// MSS option, if any.
    pub mss: Option<u16>,
    /// TCP window.
    pub window: u16,
    /// Window scale option, if any.
    pub wscale: Option<u8>,
    /// Option layout (`mss,sok,ts,nop,ws`).
    pub layout: Vec<String>,
    /// Quirks, in p0f's order (`df`, `id+`…).
    pub quirks: Vec<&'static str>,
    /// The SYN carried data.
    pub payload: bool,
}

/// The initial TTL a received TTL most likely started from.
pub fn initial_ttl(ttl: u8) -> u8 {
    match ttl {
        0..=32 => 32,
        33..=64 => 64,
        65..=128 => 128,
        _ => 255,
    }
}

struct Options {
    layout: Vec<String>,
    mss: Option<u16>,
    wscale: Option<u8>,
    ts1_zero: bool,
    ts2_nonzero: bool,
    trailing_data: bool,
    excessive_scale: bool,
    bad: bool,
}

fn read_options(raw: &[u8]) -> Options {
    let mut o = Options {
        layout: Vec::new(),
        mss: None,
        wscale: None,
        ts1_zero: false,
        ts2_nonzero: false,
        trailing_data: false,
        excessive_scale: false,
        bad: false,
    };
    let raw = &raw[..raw.len().min(MAX_OPTIONS)];
    let mut i = 0;
    while i < raw.len() {
        let kind = raw[i];
        match kind {
            0 => {
                let rest = &raw[i + 1..];
                o.layout.push(format!("eol+{}", rest.len()));
                o.trailing_data = rest.iter().any(|&b| b != 0);
                return o;
            }
            1 => {
                o.layout.push("nop".into());
                i += 1;
                continue;
            }
            _ => {}
        }
        let Some(&len) = raw.get(i + 1) else {
            o.bad = true;
            return o;
        };
        let len = len as usize;
        if len < 2 || i + len > raw.len() {
            o.bad = true;
            return o;
        }
        let body = &raw[i + 2..i + len];
        let name = match kind {
            2 => {
                if body.len() == 2 {
                    o.mss = Some(u16::from_be_bytes([body[0], body[1]]));
                } else {
                    o.bad = true;
                }
                "mss".to_owned()
            }
            3 => {
                if let [s] = body {
                    o.wscale = Some(*s);
                    o.excessive_scale = *s > 14;
                } else {
                    o.bad = true;
                }
                "ws".to_owned()
            }
            4 => "sok".to_owned(),
            5 => "sack".to_owned(),
            8 => {
                if body.len() == 8 {
                    o.ts1_zero = body[..4] == [0; 4];
                    o.ts2_nonzero = body[4..] != [0; 4];
                } else {
                    o.bad = true;
                }
                "ts".to_owned()
            }
            other => format!("?{other}"),
        };
        o.layout.push(name);
        i += len;
    }
    o
}

impl SynSignature {
    /// The signature of a SYN (no ACK); `None` for anything else.
    pub fn of(p: &Packet<'_>) -> Option<SynSignature> {
        let t = p.tcp()?;
        if !t.syn || t.ack {
            return None;
        }
        let o = read_options(t.options);
        let quirks = quirks(p, t, &o);
        Some(SynSignature {
            version: p.ip.version,
            ttl: p.ip.ttl,
            initial_ttl: initial_ttl(p.ip.ttl),
            ip_options_len: p.ip.options_len,
            mss: o.mss,
            window: t.window,
            wscale: o.wscale,
            layout: o.layout,
            quirks,
            payload: !p.payload.is_empty(),
        })
    }

    /// Hops between the client and the sensor, from the TTL guess.
    pub fn distance(&self) -> u8 {
        self.initial_ttl.saturating_sub(self.ttl)
    }

    /// The window as p0f writes it: `mss*N`, `mtu*N` or the number.
    pub fn window_text(&self) -> String {
        let w = u32::from(self.window);
        if let Some(mss) = self.mss.map(u32::from).filter(|&m| m > 0) {
            if w % mss == 0 {
                return format!("mss*{}", w / mss);
            }
            let mtu = mss + if self.version == 4 { 40 } else { 60 };
            if w % mtu == 0 {
                return format!("mtu*{}", w / mtu);
            }
        }
        w.to_string()
    }

    /// The option layout, comma-separated.
    pub fn layout_text(&self) -> String {
        self.layout.join(",")
    }

    /// p0f's raw signature
    /// (`4:64+0:0:1460:mss*44,10:mss,sok,ts,nop,ws:df,id+:0`).
    pub fn raw(&self) -> String {
        format!(
            "{}:{}+{}:{}:{}:{},{}:{}:{}:{}",
            self.version,
            self.ttl,
            self.distance(),
            self.ip_options_len,
            self.mss.map_or("*".to_owned(), |m| m.to_string()),
            self.window_text(),
            self.wscale.unwrap_or(0),
            self.layout_text(),
            self.quirks.join(","),
            if self.payload { "+" } else { "0" }
        )
    }
}

fn quirks(p: &Packet<'_>, t: &TcpMeta<'_>, o: &Options) -> Vec<&'static str> {
    let ip = &p.ip;
    let v4 = ip.version == 4;
    [
        (v4 && ip.df, "df"),
        (v4 && ip.df && ip.id != 0, "id+"),
        (v4 && !ip.df && ip.id == 0, "id-"),
        (ip.ecn || t.ecn_flags, "ecn"),
        (ip.must_be_zero, "0+"),
        (ip.flow_label, "flow"),
        (t.seq == 0, "seq-"),
        (!t.ack && t.ack_no != 0, "ack+"),
        (t.ack && t.ack_no == 0, "ack-"),
        (!t.urg && t.urgent_ptr != 0, "uptr+"),
        (t.urg, "urgf+"),
        (t.psh, "pushf+"),
        (o.ts1_zero, "ts1-"),
        (o.ts2_nonzero, "ts2+"),
        (o.trailing_data, "opt+"),
        (o.excessive_scale, "exws"),
        (o.bad, "bad"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_ttl_rounds_up_to_the_usual_defaults() {
        assert_eq!(initial_ttl(64), 64);
        assert_eq!(initial_ttl(38), 64);
        assert_eq!(initial_ttl(117), 128);
        assert_eq!(initial_ttl(20), 32);
        assert_eq!(initial_ttl(250), 255);
    }

    #[test]
    fn options_layout_and_quirks() {
        // mss 1460, sackOK, ts(0, 5), nop, ws 15, eol + one non-zero byte.
        let raw = [
            2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 5, 1, 3, 3, 15, 0, 7,
        ];
        let o = read_options(&raw);
        assert_eq!(o.layout, ["mss", "sok", "ts", "nop", "ws", "eol+1"]);
        assert_eq!((o.mss, o.wscale), (Some(1460), Some(15)));
        assert!(o.ts1_zero && o.ts2_nonzero && o.trailing_data && o.excessive_scale);
        assert!(!o.bad);
    }

    #[test]
    fn truncated_options_are_bad_not_a_panic() {
        for raw in [&[2u8][..], &[2, 9, 1], &[8, 1], &[3, 2]] {
            let o = read_options(raw);
            assert!(o.bad || o.layout.iter().all(|l| l != "ws"), "{raw:?}");
        }
        assert!(read_options(&[2, 9, 1]).bad);
    }
}
