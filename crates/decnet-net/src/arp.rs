//! Gratuitous ARP: announces that an address moved to a MAC, so switches
//! and neighbours learn a new decky at once instead of at their next ARP.
#![allow(unsafe_code)] // raw syscalls; each block has its SAFETY comment

use std::io;
use std::net::Ipv4Addr;

/// Sends one gratuitous ARP request and one reply for `ip` from `mac` on
/// `interface` of the calling thread's namespace (needs CAP_NET_RAW).
pub fn send_gratuitous_arp(interface: &str, mac: [u8; 6], ip: Ipv4Addr) -> io::Result<()> {
    let index = crate::capture::interface_index(interface)?;
    // SAFETY: plain socket(2); closed by the OwnedFd below.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            (libc::ETH_P_ARP as u16).to_be() as i32,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just created and is owned only here.
    let _owned = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: all-zero is a valid sockaddr_ll.
    let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    to.sll_family = libc::AF_PACKET as u16;
    to.sll_protocol = (libc::ETH_P_ARP as u16).to_be();
    to.sll_ifindex = index as i32;
    to.sll_halen = 6;
    to.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    for op in [1u16, 2] {
        let frame = frame(mac, ip, op);
        // SAFETY: frame and `to` outlive the call; lengths are theirs.
        let sent = unsafe {
            libc::sendto(
                fd,
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&to as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Ethernet + ARP frame announcing `ip` at `mac` (sender = target address).
fn frame(mac: [u8; 6], ip: Ipv4Addr, op: u16) -> [u8; 42] {
    let mut f = [0u8; 42];
    f[..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&op.to_be_bytes());
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&ip.octets());
    // Target hardware address: zero in a request, broadcast in a reply.
    if op == 2 {
        f[32..38].copy_from_slice(&[0xff; 6]);
    }
    f[38..42].copy_from_slice(&ip.octets());
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_announces_the_address_at_the_mac() {
        let mac = [0x00, 0x50, 0x56, 0x01, 0x02, 0x03];
        let f = frame(mac, Ipv4Addr::new(10, 0, 0, 7), 1);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[22..28], &mac);
        assert_eq!(&f[28..32], &[10, 0, 0, 7]);
        assert_eq!(&f[38..42], &[10, 0, 0, 7]);
        assert_eq!(&f[32..38], &[0; 6]);
    }
}
