//! The key exchange and MACs decnet added to its vendored russh (so the
//! decky offers what Debian 12's sshd offers), checked against published
//! test vectors. The same algorithms are driven end to end by russh's
//! client in `ssh.rs` and by the real OpenSSH client in
//! `scripts/interop/ssh.sh`.
#![allow(clippy::unwrap_used)]

use russh::mac::umac::Umac;

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn umac_tag(streams: usize, message: &[u8]) -> Vec<u8> {
    let umac = Umac::new(b"abcdefghijklmnop", streams);
    let mut out = vec![0u8; umac.tag_len()];
    umac.tag(message, b"bcdefghi", &mut out);
    out
}

/// RFC 4418 appendix: key "abcdefghijklmnop", nonce "bcdefghi"; 32-, 64-
/// and 96-bit tags. (Its 2^25-byte message needs POLY-128, which SSH
/// packets never reach.)
#[test]
fn umac_matches_the_rfc4418_test_vectors() {
    let a = |n: usize| vec![b'a'; n];
    let cases: Vec<(Vec<u8>, &str, &str, &str)> = vec![
        (
            vec![],
            "113145FB",
            "6E155FAD26900BE1",
            "32FEDB100C79AD58F07FF764",
        ),
        (
            a(3),
            "3B91D102",
            "44B5CB542F220104",
            "185E4FE905CBA7BD85E4C2DC",
        ),
        (
            a(1 << 10),
            "599B350B",
            "26BF2F5D60118BD9",
            "7A54ABE04AF82D60FB298C3C",
        ),
        (
            a(1 << 15),
            "58DCF532",
            "27F8EF643B0D118D",
            "7B136BD911E4B734286EF2BE",
        ),
        (
            a(1 << 20),
            "DB6364D1",
            "A4477E87E9F55853",
            "F8ACFA3AC31CFEEA047F7B11",
        ),
        (
            b"abc".to_vec(),
            "ABF3A3A0",
            "D4D7B9F6BD4FBFCF",
            "883C3D4B97A61976FFCF2323",
        ),
        (
            b"abc".repeat(500),
            "ABEB3C8B",
            "D4CF26DDEFD5C01A",
            "8824A260C53C66A36C9260A6",
        ),
    ];
    for (message, t32, t64, t96) in cases {
        let n = message.len();
        assert_eq!(umac_tag(1, &message), hex(t32), "umac-32, {n} bytes");
        assert_eq!(umac_tag(2, &message), hex(t64), "umac-64, {n} bytes");
        assert_eq!(umac_tag(3, &message), hex(t96), "umac-96, {n} bytes");
        // UMAC-128's first three streams and pad bytes are UMAC-96's.
        let t128 = umac_tag(4, &message);
        assert_eq!(t128.len(), 16);
        assert_eq!(t128[..12], hex(t96)[..], "umac-128, {n} bytes");
    }
}

#[test]
fn umac_tags_change_with_the_nonce_and_the_message() {
    let umac = Umac::new(&[3u8; 16], 4);
    let tag = |msg: &[u8], nonce: u64| {
        let mut out = [0u8; 16];
        umac.tag(msg, &nonce.to_be_bytes(), &mut out);
        out
    };
    assert_ne!(tag(b"same", 1), tag(b"same", 2));
    assert_ne!(tag(b"same", 1), tag(b"samf", 1));
    assert_eq!(tag(b"same", 1), tag(b"same", 1));
}

/// Test vector 0 of draft-josefsson-ntruprime-streamlined, the KEM
/// OpenSSH embeds: decapsulating its ciphertext with its secret key gives
/// its session key, so the KEM behind `sntrup761x25519-sha512` (PQClean's,
/// through `pqcrypto-ntruprime`) is the one OpenSSH speaks.
#[test]
fn sntrup761_decapsulates_the_draft_test_vector() {
    use pqcrypto_ntruprime::sntrup761;
    use pqcrypto_traits::kem::{Ciphertext as _, SecretKey as _, SharedSecret as _};
    let sk =
        sntrup761::SecretKey::from_bytes(&hex(include_str!("data/sntrup761_kat0_sk.hex"))).unwrap();
    let ct = sntrup761::Ciphertext::from_bytes(&hex(include_str!("data/sntrup761_kat0_ct.hex")))
        .unwrap();
    let ss = hex(include_str!("data/sntrup761_kat0_ss.hex"));
    assert_eq!(sntrup761::decapsulate(&ct, &sk).as_bytes(), ss.as_slice());
}
