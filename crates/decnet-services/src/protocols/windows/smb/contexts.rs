//! SMB 3.1.1 negotiate contexts as smbd answers them: SHA-512 preauth
//! integrity with a fresh salt, and, when the client offered them, the
//! cipher and signing algorithm smbd prefers among the client's.

use super::{le16, le32};

/// SMB2_PREAUTH_INTEGRITY_CAPABILITIES.
const PREAUTH: u16 = 1;
/// SMB2_ENCRYPTION_CAPABILITIES.
const ENCRYPTION: u16 = 2;
/// SMB2_SIGNING_CAPABILITIES.
const SIGNING: u16 = 8;
/// SHA-512, the one preauth hash there is.
const SHA512: u16 = 1;
/// smbd's cipher order: AES-128-GCM, AES-128-CCM, AES-256-GCM, AES-256-CCM.
const CIPHERS: &[u16] = &[2, 1, 4, 3];
/// smbd's signing order: AES-128-GMAC, AES-128-CMAC, HMAC-SHA256.
const SIGNING_ALGS: &[u16] = &[2, 1, 0];

/// The u16 list of a capability context (count, then values).
fn ids(data: &[u8]) -> Vec<u16> {
    let n = data
        .get(..2)
        .map_or(0, |c| u16::from_le_bytes([c[0], c[1]])) as usize;
    data.get(2..)
        .unwrap_or(&[])
        .chunks_exact(2)
        .take(n.min(32))
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect()
}

fn context(out: &mut Vec<u8>, kind: u16, data: &[u8]) {
    while out.len() % 8 != 0 {
        out.push(0);
    }
    le16(out, kind);
    le16(out, data.len() as u16);
    le32(out, 0);
    out.extend_from_slice(data);
}

fn pick(ours: &[u16], theirs: &[u16]) -> Option<u16> {
    ours.iter().copied().find(|a| theirs.contains(a))
}

/// The response's contexts (8-byte aligned from their start) and their
/// count, for the client's `offered` contexts.
pub(super) fn answer(offered: &[(u16, &[u8])], salt: [u8; 32]) -> (Vec<u8>, u16) {
    let mut out = Vec::new();
    let mut preauth = Vec::with_capacity(38);
    le16(&mut preauth, 1);
    le16(&mut preauth, 32);
    le16(&mut preauth, SHA512);
    preauth.extend_from_slice(&salt);
    context(&mut out, PREAUTH, &preauth);
    let mut count = 1;
    for (kind, order) in [(ENCRYPTION, CIPHERS), (SIGNING, SIGNING_ALGS)] {
        let Some((_, data)) = offered.iter().find(|(k, _)| *k == kind) else {
            continue;
        };
        let mut d = Vec::new();
        le16(&mut d, 1);
        le16(&mut d, pick(order, &ids(data)).unwrap_or(0));
        context(&mut out, kind, &d);
        count += 1;
    }
    (out, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preauth_alone_without_other_offers() {
        let (out, n) = answer(&[], [7; 32]);
        assert_eq!(n, 1);
        assert_eq!(&out[..8], &[1, 0, 38, 0, 0, 0, 0, 0]);
        assert_eq!(&out[8..14], &[1, 0, 32, 0, 1, 0]);
        assert_eq!(out.len(), 8 + 38);
    }

    #[test]
    fn picks_smbds_preferred_cipher_and_signing() {
        let ciphers = [3u8, 0, 1, 0, 2, 0, 4, 0]; // CCM, GCM, 256-GCM
        let signing = [2u8, 0, 0, 0, 1, 0]; // HMAC, CMAC
        let (out, n) = answer(&[(2, &ciphers), (8, &signing)], [0; 32]);
        assert_eq!(n, 3);
        // Second context starts at the 8-byte boundary after the first.
        assert_eq!(&out[48..56], &[2, 0, 4, 0, 0, 0, 0, 0]);
        assert_eq!(&out[56..60], &[1, 0, 2, 0]);
        assert_eq!(&out[64..72], &[8, 0, 4, 0, 0, 0, 0, 0]);
        assert_eq!(&out[72..76], &[1, 0, 1, 0]);
    }
}
