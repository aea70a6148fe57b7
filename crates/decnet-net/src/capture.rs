//! A filtered AF_PACKET receive socket: the passive sensor's capture,
//! without libpcap.
//!
//! The socket is created listening to no protocol, the classic BPF program
//! is attached, and only then is it bound to the interface for every
//! protocol: no unfiltered frame can be queued in between. Frames the
//! process reads too slowly are dropped by the kernel (bounded receive
//! buffer) and counted ([`PacketSocket::take_stats`]), so a flood costs
//! the sensor at most the CPU it can spend, never an unbounded backlog.
#![allow(unsafe_code)] // raw syscalls; each block has its SAFETY comment

use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::time::Duration;

use socket2::{Domain, Protocol, SockFilter, Socket, Type};

use crate::NetError;

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterInsn {
    /// Opcode (`BPF_LD | BPF_H | BPF_ABS`…).
    pub code: u16,
    /// Jump offset when true.
    pub jt: u8,
    /// Jump offset when false.
    pub jf: u8,
    /// Constant operand.
    pub k: u32,
}

/// Kernel counters since the previous [`PacketSocket::take_stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Frames that passed the filter (including dropped ones).
    pub packets: u64,
    /// Frames dropped because the receive buffer was full.
    pub drops: u64,
}

/// A bound, filtered AF_PACKET socket receiving one interface's frames.
#[derive(Debug)]
pub struct PacketSocket {
    socket: Socket,
}

/// Receive buffer asked for: bursts are absorbed here, beyond it the
/// kernel drops and counts.
const RCVBUF: usize = 4 << 20;

impl PacketSocket {
    /// Opens a socket on `interface` that hands over only the frames
    /// `filter` accepts (snap length = the filter's return value), never
    /// the host's own outgoing frames; `recv` waits at most `timeout`.
    pub fn open(
        interface: &str,
        filter: &[FilterInsn],
        timeout: Duration,
    ) -> Result<PacketSocket, NetError> {
        let io = |what: &str| {
            let what = format!("{what} ({interface})");
            move |e| NetError::io(what, e)
        };
        let index = interface_index(interface).map_err(io("interface"))?;
        // Protocol 0: nothing is queued until the bind below.
        let socket = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(0)))
            .map_err(io("AF_PACKET socket (needs CAP_NET_RAW)"))?;
        attach(&socket, filter).map_err(io("attach the BPF filter"))?;
        set_int(&socket, libc::SOL_PACKET, libc::PACKET_IGNORE_OUTGOING, 1)
            .map_err(io("PACKET_IGNORE_OUTGOING"))?;
        let _ = socket.set_recv_buffer_size(RCVBUF);
        socket
            .set_read_timeout(Some(timeout))
            .map_err(io("receive timeout"))?;
        bind_all(&socket, index).map_err(io("bind to the interface"))?;
        let s = PacketSocket { socket };
        // Counters start at the bind.
        let _ = s.take_stats();
        Ok(s)
    }

    /// Reads one frame into `buf`; `Ok(None)` when the timeout passed
    /// with nothing to read.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match (&self.socket).read(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if read_timed_out(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The kernel's counters since the last call (reading resets them).
    pub fn take_stats(&self) -> io::Result<CaptureStats> {
        let mut st = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = std::mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: `st` and `len` are valid for writes of the sizes given.
        let r = unsafe {
            libc::getsockopt(
                self.socket.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(CaptureStats {
            packets: u64::from(st.tp_packets),
            drops: u64::from(st.tp_drops),
        })
    }
}

/// Attaches `filter` to any socket (SO_ATTACH_FILTER); the kernel checks
/// the program and refuses an invalid one.
pub fn attach(socket: &Socket, filter: &[FilterInsn]) -> io::Result<()> {
    let prog: Vec<SockFilter> = filter
        .iter()
        .map(|i| SockFilter::new(i.code, i.jt, i.jf, i.k))
        .collect();
    socket.attach_filter(&prog)
}

/// The kernel's index of `interface` in the calling thread's namespace.
pub(crate) fn interface_index(interface: &str) -> io::Result<u32> {
    let name = std::ffi::CString::new(interface)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name has a NUL"))?;
    // SAFETY: `name` is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(index)
}

fn set_int(socket: &Socket, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: the option value is a live i32 of the size given.
    let r = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn bind_all(socket: &Socket, index: u32) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    addr.sll_ifindex = index as i32;
    // SAFETY: `addr` is a valid sockaddr_ll of the length given.
    let r = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// True for what a read with a timeout returns when nothing came in time
/// (or a signal cut the wait short): try again, nothing is wrong.
pub(crate) fn read_timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_interface_is_a_clear_error() {
        let e = PacketSocket::open("no-such-if0", &[], Duration::from_millis(10))
            .expect_err("no such interface");
        assert!(e.to_string().contains("no-such-if0"), "{e}");
    }

    #[test]
    fn the_kernel_refuses_a_program_that_jumps_out_of_it() {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, None).expect("udp socket");
        // ld #0; jeq #0 → +5 (past the end).
        let bad = [
            FilterInsn {
                code: 0x00,
                jt: 0,
                jf: 0,
                k: 0,
            },
            FilterInsn {
                code: 0x15,
                jt: 5,
                jf: 0,
                k: 0,
            },
            FilterInsn {
                code: 0x06,
                jt: 0,
                jf: 0,
                k: 0,
            },
        ];
        assert!(attach(&s, &bad).is_err());
        let accept_all = [FilterInsn {
            code: 0x06,
            jt: 0,
            jf: 0,
            k: 0xffff,
        }];
        attach(&s, &accept_all).expect("a valid program attaches");
    }
}
