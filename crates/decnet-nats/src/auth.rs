//! How a process proves who it is to NATS, and over what.
//!
//! Credentials come from one file (`--nats-creds` / `DECNET_NATS_CREDS`):
//! an NKEY user seed (`SU…`, what `decnet sensor enroll` writes) or a
//! `.creds` file (user JWT + seed, from an operator/JWT setup), or from a
//! user and password (`DECNET_NATS_USER` / `DECNET_NATS_PASSWORD`). The
//! file is read and checked at start so a wrong path or a damaged seed
//! stops the process at once instead of looking like NATS being down.
//! Secrets are never printed: [`Secret`]'s `Debug` is a mask.

use std::path::{Path, PathBuf};

pub use decnet_core::secret::Secret;

/// Credentials presented to NATS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Credentials {
    /// None (a server with no authorization, as in development).
    #[default]
    None,
    /// User and password.
    UserPassword(String, Secret),
    /// An NKEY user seed: the server knows only its public key.
    Nkey(Secret),
    /// A decorated `.creds` file (user JWT and seed).
    Creds(Secret),
}

/// Why credentials could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The file could not be read.
    #[error("cannot read NATS credentials {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds neither a user seed nor a `.creds` JWT.
    #[error("{0}: not an NKEY user seed (SU…) nor a .creds file")]
    Unrecognised(PathBuf),
}

impl Credentials {
    /// Loads a seed or `.creds` file.
    pub fn from_file(path: &Path) -> Result<Self, CredentialsError> {
        let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
            path: path.to_owned(),
            source,
        })?;
        warn_if_shared(path);
        if text.contains("-----BEGIN NATS USER JWT-----") {
            return Ok(Credentials::Creds(Secret::new(text)));
        }
        let seed = text
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("SU"))
            .ok_or_else(|| CredentialsError::Unrecognised(path.to_owned()))?;
        nkeys::KeyPair::from_seed(seed)
            .map_err(|_| CredentialsError::Unrecognised(path.to_owned()))?;
        Ok(Credentials::Nkey(Secret::new(seed)))
    }

    /// The public key of an NKEY seed (what the server's config lists).
    pub fn nkey_public(&self) -> Option<String> {
        match self {
            Credentials::Nkey(seed) => nkeys::KeyPair::from_seed(seed.expose())
                .ok()
                .map(|k| k.public_key()),
            _ => None,
        }
    }

    /// Adds these credentials to connect options.
    pub fn apply(
        &self,
        opts: async_nats::ConnectOptions,
    ) -> Result<async_nats::ConnectOptions, std::io::Error> {
        Ok(match self {
            Credentials::None => opts,
            Credentials::UserPassword(u, p) => {
                opts.user_and_password(u.clone(), p.expose().to_owned())
            }
            Credentials::Nkey(seed) => opts.nkey(seed.expose().to_owned()),
            Credentials::Creds(text) => opts.credentials(text.expose())?,
        })
    }
}

/// A seed readable by other users is worth a loud line (as ssh does for keys).
fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(path) {
            if m.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    "NATS credentials {} are readable by other users; chmod 600 it",
                    path.display()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_file_loads_and_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        let kp = nkeys::KeyPair::new_user();
        let seed = kp.seed().unwrap();
        let path = dir.path().join("s.nk");
        std::fs::write(&path, format!("# sensor edge1\n{seed}\n")).unwrap();
        let c = Credentials::from_file(&path).unwrap();
        assert_eq!(c.nkey_public().unwrap(), kp.public_key());
        let shown = format!("{c:?}");
        assert!(!shown.contains(&seed[..10]), "{shown}");
    }

    #[test]
    fn garbage_and_missing_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, "SUnot-a-seed\n").unwrap();
        assert!(matches!(
            Credentials::from_file(&path),
            Err(CredentialsError::Unrecognised(_))
        ));
        assert!(matches!(
            Credentials::from_file(&dir.path().join("missing")),
            Err(CredentialsError::Read { .. })
        ));
    }
}
