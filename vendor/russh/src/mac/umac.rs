//! UMAC (RFC 4418) with AES-128, as OpenSSH uses it for
//! `umac-64@openssh.com`, `umac-128@openssh.com` and their `-etm` forms.
//!
//! Added to the vendored russh by decnet: Debian 12's sshd lists these
//! MACs, so a server without them is told apart by its algorithm lists.
//!
//! SSH use (OpenSSH `mac.c`): the MAC key is 16 bytes, the nonce is the
//! packet sequence number as a 64-bit big-endian integer, and the tag is
//! 8 (umac-64) or 16 (umac-128) bytes over the same bytes an HMAC covers
//! after the sequence number.
//!
//! Messages are hashed with POLY-64 only, which RFC 4418 allows up to
//! 2^24 bytes; SSH packets are bounded far below that (russh refuses
//! packets over its maximum before any MAC is computed).

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, KeyInit};
use subtle::ConstantTimeEq;

use super::{Mac, MacAlgorithm};

/// The AES-128 key length UMAC uses.
const KEY_LEN: usize = 16;
/// NH's key and block: 1024 bytes of message per L1 chunk.
const L1_CHUNK: usize = 1024;
/// NH works on 32-byte groups; a chunk is zero-padded to a multiple of it.
const NH_GROUP: usize = 32;
/// Most streams (4 × 32-bit = a 128-bit tag).
const MAX_STREAMS: usize = 4;
/// 2^36 − 5, the L3 prime.
const P36: u64 = (1 << 36) - 5;
/// 2^64 − 59, the POLY-64 prime.
const P64: u64 = u64::MAX - 58;

/// `umac-64*` (2 streams) or `umac-128*` (4 streams), plain or
/// encrypt-then-MAC.
pub struct UmacAlgorithm {
    pub streams: usize,
    pub etm: bool,
}

impl MacAlgorithm for UmacAlgorithm {
    fn key_len(&self) -> usize {
        KEY_LEN
    }

    fn make_mac(&self, key: &[u8]) -> Box<dyn Mac + Send> {
        let mut k = [0u8; KEY_LEN];
        k.copy_from_slice(key);
        Box::new(UmacMac {
            umac: Umac::new(&k, self.streams),
            etm: self.etm,
        })
    }
}

struct UmacMac {
    umac: Umac,
    etm: bool,
}

impl Mac for UmacMac {
    fn mac_len(&self) -> usize {
        self.umac.tag_len()
    }

    fn is_etm(&self) -> bool {
        self.etm
    }

    fn compute(&self, sequence_number: u32, payload: &[u8], output: &mut [u8]) {
        let nonce = u64::from(sequence_number).to_be_bytes();
        self.umac.tag(payload, &nonce, output);
    }

    fn verify(&self, sequence_number: u32, payload: &[u8], mac: &[u8]) -> bool {
        let mut expected = [0u8; 4 * MAX_STREAMS];
        let len = self.umac.tag_len();
        let Some(expected) = expected.get_mut(..len) else {
            return false;
        };
        self.compute(sequence_number, payload, expected);
        mac.len() == len && bool::from(expected.ct_eq(mac))
    }
}

/// A keyed UMAC with `streams` 32-bit hash streams (tag length 4 × streams
/// bytes); every subkey is derived once, at keying.
pub struct Umac {
    streams: usize,
    /// L1 (NH) key words, shared Toeplitz-style: stream i starts 4 words on.
    nh_key: Vec<u32>,
    /// L2 (POLY-64) key per stream, masked to RFC 4418's domain.
    poly_key: [u64; MAX_STREAMS],
    /// L3 inner-product keys per stream, reduced mod 2^36 − 5.
    ip_key: [[u64; 8]; MAX_STREAMS],
    /// L3 output whitening per stream.
    ip_trans: [u32; MAX_STREAMS],
    /// The pad generator (PDF), keyed with KDF(K, 0).
    pdf: Aes128,
}

/// RFC 4418 KDF: AES-128 in counter mode over `index (8 bytes) || i (8 bytes)`.
fn kdf(cipher: &Aes128, index: u8, out: &mut [u8]) {
    for (i, chunk) in out.chunks_mut(16).enumerate() {
        let mut block = [0u8; 16];
        block[7] = index;
        block[8..].copy_from_slice(&(i as u64 + 1).to_be_bytes());
        let mut block = aes::Block::from(block);
        cipher.encrypt_block(&mut block);
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
}

fn be_u32(b: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(b);
    u32::from_be_bytes(w)
}

fn be_u64(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(b);
    u64::from_be_bytes(w)
}

impl Umac {
    /// Keys a UMAC of `streams` (1 to 4) streams with a 16-byte key.
    pub fn new(key: &[u8; KEY_LEN], streams: usize) -> Self {
        let streams = streams.clamp(1, MAX_STREAMS);
        let cipher = Aes128::new(&(*key).into());

        let mut nh_bytes = vec![0u8; L1_CHUNK + 16 * (streams - 1)];
        kdf(&cipher, 1, &mut nh_bytes);
        let nh_key = nh_bytes.chunks_exact(4).map(be_u32).collect();

        let mut l2 = [0u8; 24 * MAX_STREAMS];
        kdf(&cipher, 2, &mut l2);
        let mut l3_1 = [0u8; 64 * MAX_STREAMS];
        kdf(&cipher, 3, &mut l3_1);
        let mut l3_2 = [0u8; 4 * MAX_STREAMS];
        kdf(&cipher, 4, &mut l3_2);

        let mut poly_key = [0u64; MAX_STREAMS];
        let mut ip_key = [[0u64; 8]; MAX_STREAMS];
        let mut ip_trans = [0u32; MAX_STREAMS];
        for i in 0..streams {
            poly_key[i] = be_u64(&l2[24 * i..24 * i + 8]) & 0x01ff_ffff_01ff_ffff;
            for (j, k) in ip_key[i].iter_mut().enumerate() {
                let at = 64 * i + 8 * j;
                *k = be_u64(&l3_1[at..at + 8]) % P36;
            }
            ip_trans[i] = be_u32(&l3_2[4 * i..4 * i + 4]);
        }

        let mut pdf_key = [0u8; KEY_LEN];
        kdf(&cipher, 0, &mut pdf_key);
        Umac {
            streams,
            nh_key,
            poly_key,
            ip_key,
            ip_trans,
            pdf: Aes128::new(&pdf_key.into()),
        }
    }

    /// The tag length in bytes.
    pub fn tag_len(&self) -> usize {
        4 * self.streams
    }

    /// Writes the tag of `message` under an 8-byte `nonce` into
    /// `out[..tag_len]` (a shorter `out` gets the tag's first bytes).
    pub fn tag(&self, message: &[u8], nonce: &[u8; 8], out: &mut [u8]) {
        let pad = self.pad(nonce);
        for (i, word) in out.chunks_mut(4).take(self.streams).enumerate() {
            let hash = self.uhash_stream(i, message).to_be_bytes();
            for (j, b) in word.iter_mut().enumerate() {
                *b = hash[j] ^ pad[4 * i + j];
            }
        }
    }

    /// PDF: AES under KDF(K, 0) of the nonce (low bits cleared for
    /// 32/64-bit tags, which take their slice of the block by those bits).
    fn pad(&self, nonce: &[u8; 8]) -> [u8; 16] {
        let mut block = [0u8; 16];
        block[..8].copy_from_slice(nonce);
        let index = match self.tag_len() {
            4 => usize::from(nonce[7] & 3),
            8 => usize::from(nonce[7] & 1),
            _ => 0,
        };
        block[7] ^= index as u8;
        let mut block = aes::Block::from(block);
        self.pdf.encrypt_block(&mut block);
        let mut pad = [0u8; 16];
        let len = self.tag_len();
        pad[..len].copy_from_slice(&block[index * len..index * len + len]);
        pad
    }

    /// UHASH for one stream: L1 (NH per 1024-byte chunk), L2 (POLY-64
    /// over the chunk hashes, skipped for a one-chunk message), L3.
    fn uhash_stream(&self, stream: usize, message: &[u8]) -> u32 {
        let key = &self.nh_key[4 * stream..4 * stream + L1_CHUNK / 4];
        let l2_input = if message.len() <= L1_CHUNK {
            nh_chunk(key, message)
        } else {
            let mut y: u64 = 1;
            for chunk in message.chunks(L1_CHUNK) {
                y = poly64_step(self.poly_key[stream], y, nh_chunk(key, chunk));
            }
            y
        };
        self.l3(stream, l2_input)
    }

    /// L3 of `0^8 || uint2str(value, 8)`: the four leading 16-bit words are
    /// zero, so only the last four keys contribute.
    fn l3(&self, stream: usize, value: u64) -> u32 {
        let keys = &self.ip_key[stream];
        let mut y: u64 = 0;
        for j in 0..4 {
            let word = (value >> (48 - 16 * j)) & 0xffff;
            y += word * keys[4 + j];
        }
        ((y % P36) as u32) ^ self.ip_trans[stream]
    }
}

/// NH of one L1 chunk (zero-padded to a positive multiple of 32 bytes)
/// plus the chunk's length in bits, mod 2^64.
fn nh_chunk(key: &[u32], chunk: &[u8]) -> u64 {
    let mut padded = [0u8; L1_CHUNK];
    padded[..chunk.len()].copy_from_slice(chunk);
    let len = chunk.len().div_ceil(NH_GROUP).max(1) * NH_GROUP;
    let mut y: u64 = 0;
    for (group, k) in padded[..len]
        .chunks_exact(NH_GROUP)
        .zip(key.chunks_exact(8))
    {
        let mut m = [0u32; 8];
        for (w, b) in m.iter_mut().zip(group.chunks_exact(4)) {
            *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        for t in 0..4 {
            let a = u64::from(m[t].wrapping_add(k[t]));
            let b = u64::from(m[t + 4].wrapping_add(k[t + 4]));
            y = y.wrapping_add(a * b);
        }
    }
    y.wrapping_add(8 * chunk.len() as u64)
}

/// One POLY-64 step: words at or above 2^64 − 2^32 are sent as a marker
/// and an offset word, so every input is below the prime.
fn poly64_step(key: u64, y: u64, m: u64) -> u64 {
    const MAX_WORD: u64 = u64::MAX - 0xffff_ffff; // 2^64 − 2^32
    let mul_add = |y: u64, m: u64| -> u64 {
        ((u128::from(key) * u128::from(y) + u128::from(m)) % u128::from(P64)) as u64
    };
    if m >= MAX_WORD {
        let y = mul_add(y, P64 - 1);
        mul_add(y, m - 59)
    } else {
        mul_add(y, m)
    }
}
