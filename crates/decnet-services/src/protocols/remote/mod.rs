//! Remote terminals and desktops: telnet (into the fake shell) and VNC.
//! SSH lives in its own crate (`decnet-ssh`) for its heavy dependencies;
//! RDP is with the Windows family, whose NTLM it shares.

pub mod telnet;
pub mod vnc;
