//! X25519 for the key exchanges (decnet addition).
//!
//! With the `ring` feature the scalar multiplications are ring's: on
//! x86_64 it picks BoringSSL's ADX/BMI2 field assembly at run time, about
//! twice as fast as curve25519-dalek's portable Montgomery ladder, and a
//! server pays one ladder per handshake. Without `ring`, curve25519-dalek.
//! Either way an all-zero shared secret (the peer sent a low-order point)
//! is refused, as OpenSSH does.

use crate::Error;

/// One key exchange's private half; consumed by [`agree`].
pub(crate) struct EphemeralSecret(Inner);

#[cfg(feature = "ring")]
type Inner = ring::agreement::EphemeralPrivateKey;
#[cfg(not(feature = "ring"))]
type Inner = [u8; 32];

/// A fresh private key and its public point.
#[cfg(feature = "ring")]
pub(crate) fn generate() -> Result<(EphemeralSecret, [u8; 32]), Error> {
    use ring::agreement::{EphemeralPrivateKey, X25519};
    let rng = ring::rand::SystemRandom::new();
    let secret = EphemeralPrivateKey::generate(&X25519, &rng).map_err(|_| Error::KexInit)?;
    let public = secret.compute_public_key().map_err(|_| Error::KexInit)?;
    let public: [u8; 32] = public.as_ref().try_into().map_err(|_| Error::KexInit)?;
    Ok((EphemeralSecret(secret), public))
}

/// A fresh private key and its public point.
#[cfg(not(feature = "ring"))]
pub(crate) fn generate() -> Result<(EphemeralSecret, [u8; 32]), Error> {
    use curve25519_dalek::montgomery::MontgomeryPoint;
    let secret = rand::random::<[u8; 32]>();
    let public = MontgomeryPoint::mul_base_clamped(secret).0;
    Ok((EphemeralSecret(secret), public))
}

/// The shared secret with `peer`'s public point; `Error::Kex` when it is
/// all zeros (non-contributory).
#[cfg(feature = "ring")]
pub(crate) fn agree(secret: EphemeralSecret, peer: &[u8; 32]) -> Result<[u8; 32], Error> {
    use ring::agreement::{UnparsedPublicKey, X25519, agree_ephemeral};
    // ring itself refuses an all-zero result; the check below keeps the
    // guarantee independent of that.
    let shared = agree_ephemeral(secret.0, &UnparsedPublicKey::new(&X25519, peer), |k| {
        <[u8; 32]>::try_from(k)
    })
    .map_err(|_| Error::Kex)?
    .map_err(|_| Error::Kex)?;
    contributory(shared)
}

/// The shared secret with `peer`'s public point; `Error::Kex` when it is
/// all zeros (non-contributory).
#[cfg(not(feature = "ring"))]
pub(crate) fn agree(secret: EphemeralSecret, peer: &[u8; 32]) -> Result<[u8; 32], Error> {
    use curve25519_dalek::montgomery::MontgomeryPoint;
    contributory(MontgomeryPoint(*peer).mul_clamped(secret.0).0)
}

fn contributory(shared: [u8; 32]) -> Result<[u8; 32], Error> {
    if shared == [0u8; 32] {
        log::debug!("peer sent a low-order curve25519 public key");
        return Err(Error::Kex);
    }
    Ok(shared)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both sides derive the same secret, and it is not the all-zero one.
    #[test]
    fn two_parties_agree() {
        let (a, a_pub) = generate().unwrap();
        let (b, b_pub) = generate().unwrap();
        let ab = agree(a, &b_pub).unwrap();
        let ba = agree(b, &a_pub).unwrap();
        assert_eq!(ab, ba);
        assert_ne!(ab, [0u8; 32]);
        assert_ne!(a_pub, b_pub);
    }

    /// The secret equals what curve25519-dalek computes from the other
    /// side, so a backend on a different curve or clamping would disagree.
    #[test]
    fn public_point_matches_dalek_for_the_same_peer() {
        use curve25519_dalek::montgomery::MontgomeryPoint;
        let (a, a_pub) = generate().unwrap();
        let peer_scalar = [7u8; 32];
        let peer_pub = MontgomeryPoint::mul_base_clamped(peer_scalar).0;
        let ours = agree(a, &peer_pub).unwrap();
        let theirs = MontgomeryPoint(a_pub).mul_clamped(peer_scalar).0;
        assert_eq!(ours, theirs);
    }

    /// The identity (all-zero u) and other low-order points are refused.
    #[test]
    fn low_order_points_are_refused() {
        let mut one = [0u8; 32];
        one[0] = 1;
        for point in [[0u8; 32], one] {
            let (a, _) = generate().unwrap();
            assert!(matches!(agree(a, &point), Err(Error::Kex)));
        }
    }
}
