//! RFB (RFC 6143) pieces: the ProtocolVersion handshake line and the VNC
//! authentication DES transform.

use des::cipher::{BlockEncrypt, KeyInit};

/// Parses `RFB xxx.yyy\n` into (major, minor).
pub fn version(b: &[u8; 12]) -> Option<(u16, u16)> {
    if &b[..4] != b"RFB " || b[7] != b'.' || b[11] != b'\n' {
        return None;
    }
    let num = |s: &[u8]| -> Option<u16> {
        if s.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(s).ok()?.parse().ok()
        } else {
            None
        }
    };
    Some((num(&b[4..7])?, num(&b[8..11])?))
}

/// The VNC authentication response for `password` to `challenge`: DES-ECB
/// with the first 8 password bytes, each bit-reversed, as key.
pub fn vnc_response(password: &[u8], challenge: &[u8; 16]) -> [u8; 16] {
    let mut key = [0u8; 8];
    for (k, p) in key.iter_mut().zip(password.iter()) {
        *k = p.reverse_bits();
    }
    let cipher = des::Des::new_from_slice(&key).expect("8-byte key");
    let mut out = *challenge;
    for block in out.chunks_exact_mut(8) {
        cipher.encrypt_block(block.into());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn versions() {
        assert_eq!(version(b"RFB 003.008\n"), Some((3, 8)));
        assert_eq!(version(b"RFB 003.889\n"), Some((3, 889)));
        assert_eq!(version(b"RFB 0x3.008\n"), None);
    }

    proptest! {
        #[test]
        fn never_panics(b in proptest::array::uniform12(any::<u8>()), pw in proptest::collection::vec(any::<u8>(), 0..20), ch in proptest::array::uniform16(any::<u8>())) {
            let _ = version(&b);
            let r = vnc_response(&pw, &ch);
            prop_assert_eq!(r, vnc_response(&pw, &ch));
        }
    }
}
