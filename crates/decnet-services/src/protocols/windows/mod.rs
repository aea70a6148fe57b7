//! Windows networking: SMB (with its lure share), RDP, and the LLMNR/NBNS
//! name responder. [`ntlm`] is the one NTLMSSP implementation that SMB and
//! RDP authenticate with (and whose server identity names the host for
//! LLMNR/NBNS).

pub mod llmnr;
pub mod ntlm;
pub mod rdp;
pub mod smb;
