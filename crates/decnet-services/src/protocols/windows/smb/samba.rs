//! What sets a Linux persona's smbd apart from a Windows SMB server: a
//! Linux host serves SMB with Samba, so a non-Windows persona answers as
//! a Samba install with its distribution's default `smb.conf` would
//! (`server min protocol = SMB2_02`, `map to guest = bad user`, the
//! `[homes]`/`[print$]` shares, no users in passdb).

use decnet_core::persona::OsFamily;

use crate::ctx::DeckyCtx;
use crate::product::OsKind;

use super::Share;

/// STYPE_DISKTREE.
const DISK: u32 = 0;
/// STYPE_IPC | STYPE_SPECIAL.
pub(super) const IPC: u32 = 0x8000_0003;

/// The Samba version string of a non-Windows persona (`None` on Windows):
/// `[decky.smb] version` when set, else what the distribution ships
/// (Debian 12's `4.17.12-Debian`, Ubuntu 22.04's `4.15.13-Ubuntu`).
pub fn version(decky: &DeckyCtx) -> Option<String> {
    let kind = crate::product::os_kind(decky);
    // A Windows distro is Windows even when its `nmap_os` says otherwise.
    if kind == OsKind::Windows || decky.persona.distro.family == OsFamily::Windows {
        return None;
    }
    if let Some(v) = decky.config("smb", "version") {
        return Some(v.to_owned());
    }
    Some(
        match kind {
            OsKind::Ubuntu => "4.15.13-Ubuntu",
            OsKind::Debian => "4.17.12-Debian",
            OsKind::RedHat => "4.18.6",
            _ => "4.19.5",
        }
        .to_owned(),
    )
}

/// The shares Samba lists for a session that is not a user of the host
/// (null or guest): Debian's `[print$]`, the configured share, `IPC$` with
/// the server string, and the guest account's own `[homes]` entry.
pub(super) fn shares(lure: String, version: &str) -> Vec<Share> {
    vec![
        Share {
            name: "print$".into(),
            kind: DISK,
            remark: "Printer Drivers".into(),
        },
        Share {
            name: lure,
            kind: DISK,
            remark: String::new(),
        },
        Share {
            name: "IPC$".into(),
            kind: IPC,
            remark: format!("IPC Service (Samba {version})"),
        },
        Share {
            name: "nobody".into(),
            kind: DISK,
            remark: "Home Directories".into(),
        },
    ]
}

/// smbd's answer to an SMB1 NEGOTIATE that offers no SMB2 dialect when
/// SMB1 is off: a NEGOTIATE response choosing no dialect (index 0xffff),
/// with the request's tid/pid/uid/mid echoed. `None` when `req` is too
/// short to carry an SMB1 header.
pub(super) fn smb1_no_dialect(req: &[u8]) -> Option<Vec<u8>> {
    let echo = req.get(24..32)?;
    let req_flags2 = u16::from_le_bytes([*req.get(10)?, *req.get(11)?]);
    // FLAGS2_LONG_PATH_COMPONENTS | FLAGS2_EXTENDED_ATTRIBUTES |
    // FLAGS2_32_BIT_ERROR_CODES, plus Unicode when the client asked for it.
    let flags2 = 0x4003 | (req_flags2 & 0x8000);
    let mut smb = Vec::with_capacity(41);
    smb.extend_from_slice(b"\xffSMB\x72\0\0\0\0");
    smb.push(0x88); // reply, caseless path names
    smb.extend_from_slice(&flags2.to_le_bytes());
    smb.extend_from_slice(&[0; 12]); // pid high, signature, reserved
    smb.extend_from_slice(echo);
    smb.extend_from_slice(&[1, 0xff, 0xff, 0, 0]); // 1 word: no dialect; no bytes
    Some(smb)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// nmap's SMBProgNeg probe (SMB1 dialects only), without its NetBIOS header.
    const PROG_NEG: &[u8] = b"\xff\x53\x4d\x42\x72\0\0\0\0\x08\x01\x40\0\0\0\0\0\0\0\0\0\0\0\0\0\0\x40\x06\0\0\x01\0\0\x81\0\x02PC NETWORK PROGRAM 1.0\0\x02NT LM 0.12\0";

    #[test]
    fn refusal_is_what_smbd_sends_nmap() {
        // smbd 4.17's bytes as captured from Debian's package.
        let want: &[u8] = b"\xffSMBr\x00\x00\x00\x00\x88\x03@\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00@\x06\x00\x00\x01\x00\x01\xff\xff\x00\x00";
        assert_eq!(smb1_no_dialect(PROG_NEG).unwrap(), want);
    }

    #[test]
    fn refusal_echoes_unicode_and_ids() {
        let mut req = PROG_NEG.to_vec();
        req[11] |= 0x80;
        req[30] = 7;
        let out = smb1_no_dialect(&req).unwrap();
        assert_eq!(&out[10..12], &0xc003u16.to_le_bytes());
        assert_eq!(out[30], 7);
        assert!(smb1_no_dialect(&PROG_NEG[..20]).is_none());
    }

    #[test]
    fn share_list_names_the_samba_version() {
        let s = shares("public".into(), "4.17.12-Debian");
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["print$", "public", "IPC$", "nobody"]);
        assert_eq!(s[2].remark, "IPC Service (Samba 4.17.12-Debian)");
        assert_eq!(s[2].kind, IPC);
    }
}
