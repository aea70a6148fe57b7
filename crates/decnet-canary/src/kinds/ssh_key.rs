//! An SSH private key with the `~/.ssh/config` entry and `known_hosts` line
//! that lead to an ssh decky. The decky logs the offered key's fingerprint,
//! which names the token even though the login is refused.

use rand::{Rng, RngCore};

use super::{cred, Artifact, Ctx, TokenKind};
use crate::error::CanaryResult;
use crate::secrets;
use crate::token::{Credential, Token};

/// `ssh_key`.
pub struct SshKey;

/// The `Host` alias in `~/.ssh/config` and the key file's suffix.
const ALIAS: &str = "bastion";

impl TokenKind for SshKey {
    fn name(&self) -> &'static str {
        "ssh_key"
    }
    fn describe(&self) -> &'static str {
        "SSH private key with ~/.ssh/config and known_hosts pointing at an ssh decky"
    }
    fn is_credential(&self) -> bool {
        true
    }
    fn mint(&self, rng: &mut dyn RngCore) -> CanaryResult<Vec<Credential>> {
        let user = secrets::ssh_user(rng);
        let host = format!("ws-{:04}", rng.gen_range(100..10_000));
        Ok(vec![secrets::ssh_key(rng, &user, &host)?])
    }
    fn render(&self, token: &Token, ctx: &Ctx) -> CanaryResult<Vec<Artifact>> {
        let (user, private_key, public_key) = cred(token, |c| match c {
            Credential::SshKey {
                user,
                private_key,
                public_key,
                ..
            } => Some((user, private_key, public_key)),
            _ => None,
        })?;
        let target = Ctx::need("ssh_key", "ssh", &ctx.targets.ssh)?;
        let key_file = format!(".ssh/id_ed25519_{ALIAS}");
        let mut config = format!(
            "Host {ALIAS}\n    HostName {}\n    User {user}\n    IdentityFile ~/{key_file}\n    IdentitiesOnly yes\n",
            target.host
        );
        if target.port != 22 {
            config.push_str(&format!("    Port {}\n", target.port));
        }
        config.push_str("    ServerAliveInterval 60\n");
        let mut out = vec![
            Artifact::home(&key_file, private_key.as_bytes(), 0o600),
            Artifact::home(&format!("{key_file}.pub"), format!("{public_key}\n"), 0o644),
            Artifact::home(".ssh/config", config, 0o600),
        ];
        if let Some(host_key) = &ctx.targets.ssh_host_key {
            let name = if target.port == 22 {
                target.host.clone()
            } else {
                format!("[{}]:{}", target.host, target.port)
            };
            out.push(Artifact::home(
                ".ssh/known_hosts",
                format!("{name} {}\n", host_key.trim()),
                0o644,
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use crate::kinds::testing;
    use crate::token::Credential;

    #[test]
    fn key_parses_and_config_points_at_the_decky() {
        let (t, a) = testing::render("ssh_key");
        let Credential::SshKey {
            user, fingerprint, ..
        } = &t.credentials[0]
        else {
            unreachable!()
        };
        let key = ssh_key::PrivateKey::from_openssh(testing::text(&a[0])).unwrap();
        assert_eq!(
            &key.fingerprint(ssh_key::HashAlg::Sha256).to_string(),
            fingerprint
        );
        assert!(ssh_key::PublicKey::from_openssh(testing::text(&a[1]).trim()).is_ok());
        let config = testing::text(&a[2]);
        assert!(
            config.contains("HostName 10.0.0.20\n") && config.contains(&format!("User {user}\n"))
        );
        assert!(config.contains("IdentityFile ~/.ssh/id_ed25519_bastion\n"));
        assert!(testing::text(&a[3]).starts_with("10.0.0.20 ssh-ed25519 "));
        assert_eq!(a[0].mode, 0o600);
    }
}
