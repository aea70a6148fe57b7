//! `sntrup761x25519-sha512` (and its `@openssh.com` alias): Streamlined
//! NTRU Prime 761 combined with X25519, as OpenSSH 9.x defines it
//! (`kexsntrup761x25519.c`, draft-josefsson-ntruprime-ssh).
//!
//! Added to the vendored russh by decnet: OpenSSH 8.9+ lists this exchange
//! first, so a server that cannot speak it is told apart by every client
//! that connects (`ssh -v`'s kex line, HASSHServer, nmap's ssh2-enum-algos).
//!
//! Wire format (`SSH2_MSG_KEX_ECDH_INIT` / `_REPLY`, numbers 30/31):
//! client → `string C = sntrup761 public key (1158) || X25519 public (32)`;
//! server → `string S = sntrup761 ciphertext (1039) || X25519 public (32)`.
//! The shared secret is `K = SHA-512(kem_key (32) || X25519 secret (32))`,
//! used as an SSH *string* (not an mpint) in the exchange hash and in the key
//! derivation, which are SHA-512.
//!
//! The KEM is PQClean's (`pqcrypto-ntruprime`: the reference code OpenSSH
//! embeds, with its AVX2 build chosen at run time): the pure-Rust
//! `sntrup761` crate took 30 times as long per encapsulation, a cost every
//! OpenSSH client's handshake would put on the server.

use byteorder::{BigEndian, ByteOrder};
use log::debug;
use pqcrypto_ntruprime::sntrup761;
use pqcrypto_traits::kem::{Ciphertext as _, PublicKey as _, SharedSecret as _};
use sha2::{Digest, Sha512};
use ssh_encoding::{Encode, Writer};

use super::{KexAlgorithm, KexAlgorithmImplementor, KexType, SharedSecret, compute_keys, x25519};
use crate::mac;
use crate::session::Exchange;
use crate::{CryptoVec, Error, cipher, msg};

const SNTRUP761_PUBLIC_KEY_SIZE: usize = 1158;
const SNTRUP761_CIPHERTEXT_SIZE: usize = 1039;
const X25519_PUBLIC_KEY_SIZE: usize = 32;

pub struct Sntrup761X25519KexType {}

impl KexType for Sntrup761X25519KexType {
    fn make(&self) -> KexAlgorithm {
        Sntrup761X25519Kex::default().into()
    }
}

#[doc(hidden)]
#[derive(Default)]
pub struct Sntrup761X25519Kex {
    /// The client's KEM secret key, between its init and the reply.
    kem_secret: Option<Box<sntrup761::SecretKey>>,
    /// The client's X25519 secret, between its init and the reply.
    x25519_secret: Option<x25519::EphemeralSecret>,
    /// `SHA-512(kem_key || x25519_secret)`, once both halves are known.
    shared_secret: Option<[u8; 64]>,
}

impl std::fmt::Debug for Sntrup761X25519Kex {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "Sntrup761X25519Kex {{ [secrets hidden] }}")
    }
}

/// `SHA-512(kem_key || x25519_secret)`, the hybrid secret OpenSSH derives
/// (an all-zero X25519 result was already refused by `x25519::agree`).
fn combine(kem_key: &[u8], x25519_secret: &[u8; 32]) -> [u8; 64] {
    let mut hasher = Sha512::new();
    hasher.update(kem_key);
    hasher.update(x25519_secret);
    let mut out = [0u8; 64];
    out.copy_from_slice(&hasher.finalize());
    out
}

impl KexAlgorithmImplementor for Sntrup761X25519Kex {
    fn skip_exchange(&self) -> bool {
        false
    }

    fn server_dh(&mut self, exchange: &mut Exchange, payload: &[u8]) -> Result<(), Error> {
        debug!("server_dh (sntrup761x25519)");
        if payload.first() != Some(&msg::KEX_ECDH_INIT) || payload.len() < 5 {
            return Err(Error::Inconsistent);
        }
        #[allow(clippy::indexing_slicing)] // length checked above
        let c_init_len = BigEndian::read_u32(&payload[1..5]) as usize;
        if c_init_len != SNTRUP761_PUBLIC_KEY_SIZE + X25519_PUBLIC_KEY_SIZE {
            return Err(Error::Kex);
        }
        let c_init = payload.get(5..5 + c_init_len).ok_or(Error::Inconsistent)?;
        let (kem_public, x25519_public) = c_init.split_at(SNTRUP761_PUBLIC_KEY_SIZE);

        let kem_public = sntrup761::PublicKey::from_bytes(kem_public).map_err(|_| Error::Kex)?;
        let (kem_key, ciphertext) = sntrup761::encapsulate(&kem_public);

        let mut client_point = [0u8; 32];
        client_point.copy_from_slice(x25519_public);
        let (server_secret, server_point) = x25519::generate()?;
        let x25519_shared = x25519::agree(server_secret, &client_point)?;

        self.shared_secret = Some(combine(kem_key.as_bytes(), &x25519_shared));

        exchange.server_ephemeral.clear();
        exchange
            .server_ephemeral
            .extend_from_slice(ciphertext.as_bytes());
        exchange.server_ephemeral.extend_from_slice(&server_point);
        Ok(())
    }

    fn client_dh(
        &mut self,
        client_ephemeral: &mut Vec<u8>,
        writer: &mut impl Writer,
    ) -> Result<(), Error> {
        let (kem_public, kem_secret) = sntrup761::keypair();
        let (x25519_secret, x25519_public) = x25519::generate()?;

        client_ephemeral.clear();
        client_ephemeral.extend_from_slice(kem_public.as_bytes());
        client_ephemeral.extend_from_slice(&x25519_public);

        msg::KEX_ECDH_INIT.encode(writer)?;
        client_ephemeral.as_slice().encode(writer)?;

        self.kem_secret = Some(Box::new(kem_secret));
        self.x25519_secret = Some(x25519_secret);
        Ok(())
    }

    fn compute_shared_secret(&mut self, remote_pubkey_: &[u8]) -> Result<(), Error> {
        if remote_pubkey_.len() != SNTRUP761_CIPHERTEXT_SIZE + X25519_PUBLIC_KEY_SIZE {
            return Err(Error::Kex);
        }
        let (ciphertext, server_public) = remote_pubkey_.split_at(SNTRUP761_CIPHERTEXT_SIZE);
        let ciphertext = sntrup761::Ciphertext::from_bytes(ciphertext).map_err(|_| Error::Kex)?;

        let kem_secret = self.kem_secret.take().ok_or(Error::KexInit)?;
        let kem_key = sntrup761::decapsulate(&ciphertext, &kem_secret);

        let x25519_secret = self.x25519_secret.take().ok_or(Error::KexInit)?;
        let mut server_point = [0u8; 32];
        server_point.copy_from_slice(server_public);
        let x25519_shared = x25519::agree(x25519_secret, &server_point)?;

        self.shared_secret = Some(combine(kem_key.as_bytes(), &x25519_shared));
        Ok(())
    }

    fn shared_secret_bytes(&self) -> Option<&[u8]> {
        self.shared_secret.as_ref().map(|k| k.as_slice())
    }

    fn compute_exchange_hash(
        &self,
        key: &[u8],
        exchange: &Exchange,
        buffer: &mut CryptoVec,
    ) -> Result<Vec<u8>, Error> {
        let shared_secret = self.shared_secret.as_ref().ok_or(Error::KexInit)?;
        buffer.clear();
        exchange.client_id.encode(buffer)?;
        exchange.server_id.encode(buffer)?;
        exchange.client_kex_init.encode(buffer)?;
        exchange.server_kex_init.encode(buffer)?;
        buffer.extend(key);
        exchange.client_ephemeral.encode(buffer)?;
        exchange.server_ephemeral.encode(buffer)?;
        shared_secret.as_slice().encode(buffer)?;

        let mut hasher = Sha512::new();
        hasher.update(&buffer[..]);
        Ok(hasher.finalize().to_vec())
    }

    fn compute_keys(
        &self,
        session_id: &[u8],
        exchange_hash: &[u8],
        cipher: cipher::Name,
        remote_to_local_mac: mac::Name,
        local_to_remote_mac: mac::Name,
        is_server: bool,
    ) -> Result<super::cipher::CipherPair, Error> {
        let shared_secret = self.shared_secret.as_ref().ok_or(Error::KexInit)?;
        let shared_secret = SharedSecret::from_string(shared_secret)?;
        compute_keys::<Sha512>(
            Some(&shared_secret),
            session_id,
            exchange_hash,
            cipher,
            remote_to_local_mac,
            local_to_remote_mac,
            is_server,
        )
    }
}
