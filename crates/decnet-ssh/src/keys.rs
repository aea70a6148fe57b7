//! Host keys: generated once per decky, persisted as OpenSSH private keys
//! under the decky's data dir (`ssh_host_{ed25519,ecdsa,rsa}_key`), loaded
//! on every later start so the fingerprints never change.

use std::path::{Path, PathBuf};

use russh::keys::ssh_key::private::RsaKeypair;
use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, EcdsaCurve, PrivateKey};

/// RSA modulus size of generated keys (OpenSSH's default).
pub const RSA_BITS: usize = 3072;

/// Which host key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKeyKind {
    /// ssh-ed25519
    Ed25519,
    /// ecdsa-sha2-nistp256
    Ecdsa,
    /// rsa-sha2-512/256, ssh-rsa
    Rsa,
}

impl HostKeyKind {
    /// File name, as OpenSSH names them.
    pub fn file_name(self) -> &'static str {
        match self {
            HostKeyKind::Ed25519 => "ssh_host_ed25519_key",
            HostKeyKind::Ecdsa => "ssh_host_ecdsa_key",
            HostKeyKind::Rsa => "ssh_host_rsa_key",
        }
    }
}

/// Path of a host key in a decky data dir.
pub fn key_path(dir: &Path, kind: HostKeyKind) -> PathBuf {
    dir.join(kind.file_name())
}

/// Loads a persisted key, if there is a readable one.
pub fn load(dir: &Path, kind: HostKeyKind) -> Option<PrivateKey> {
    let text = std::fs::read_to_string(key_path(dir, kind)).ok()?;
    PrivateKey::from_openssh(text.as_bytes()).ok()
}

/// Generates a key (CPU-heavy for RSA: call from a blocking thread).
pub fn generate(kind: HostKeyKind) -> Result<PrivateKey, String> {
    let mut rng = rand_010::rng();
    let key = match kind {
        HostKeyKind::Ed25519 => PrivateKey::random(&mut rng, Algorithm::Ed25519),
        HostKeyKind::Ecdsa => PrivateKey::random(
            &mut rng,
            Algorithm::Ecdsa {
                curve: EcdsaCurve::NistP256,
            },
        ),
        HostKeyKind::Rsa => RsaKeypair::random(&mut rng, RSA_BITS).map(PrivateKey::from),
    };
    key.map_err(|e| format!("generating {kind:?} host key: {e}"))
}

/// Writes a key with mode 0600 (temp file + rename).
pub fn save(dir: &Path, kind: HostKeyKind, key: &PrivateKey) -> Result<(), String> {
    let text = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| format!("encoding host key: {e}"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let path = key_path(dir, kind);
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text.as_bytes()).map_err(|e| format!("{}: {e}", tmp.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600));
    }
    std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Loads the key or generates and persists a new one.
pub fn load_or_generate(dir: &Path, kind: HostKeyKind) -> Result<PrivateKey, String> {
    if let Some(k) = load(dir, kind) {
        return Ok(k);
    }
    let k = generate(kind)?;
    save(dir, kind, &k)?;
    Ok(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persisted_keys_are_stable() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_generate(dir.path(), HostKeyKind::Ed25519).unwrap();
        let b = load_or_generate(dir.path(), HostKeyKind::Ed25519).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        let e = load_or_generate(dir.path(), HostKeyKind::Ecdsa).unwrap();
        assert_eq!(e.algorithm().as_str(), "ecdsa-sha2-nistp256");
        assert!(key_path(dir.path(), HostKeyKind::Ed25519).exists());
    }
}
