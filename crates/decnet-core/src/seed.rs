//! Deterministic randomness per decky: the same name and generation always
//! give the same persona, so a restart reproduces the same host.

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

/// 32-byte seed derived from `sha256(decky name || 0x00 || generation)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeckySeed(pub [u8; 32]);

impl DeckySeed {
    /// Seed for `name` at mutation generation `generation` (0 = as first deployed).
    pub fn new(name: &str, generation: u32) -> Self {
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update([0u8]);
        h.update(generation.to_be_bytes());
        DeckySeed(h.finalize().into())
    }

    /// A fresh RNG for one purpose; `purpose` separates streams so adding a
    /// new random choice somewhere never shifts the others.
    pub fn rng(&self, purpose: &str) -> ChaCha20Rng {
        let mut h = Sha256::new();
        h.update(self.0);
        h.update(purpose.as_bytes());
        ChaCha20Rng::from_seed(h.finalize().into())
    }

    /// Hex form, handy for file names.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn same_name_same_stream_different_generation_differs() {
        let a = DeckySeed::new("web01", 0);
        let b = DeckySeed::new("web01", 0);
        let c = DeckySeed::new("web01", 1);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let x: u64 = a.rng("hostname").gen();
        let y: u64 = b.rng("hostname").gen();
        let z: u64 = a.rng("mac").gen();
        assert_eq!(x, y);
        assert_ne!(x, z);
    }
}
