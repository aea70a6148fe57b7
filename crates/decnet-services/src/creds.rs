//! Which logins a decky accepts (DECNET keys, shared by ssh, telnet, ftp…).
//!
//! `password` is root's password (default `admin`); `user` (default
//! `ubuntu`) logs in with `user_password` (default `admin`). A service
//! section may override them; telnet falls back to the decky's ssh section.

use decnet_core::DeckySpec;

/// Accepted username/password pairs of one decky service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// (user, password) pairs that log in.
    pub accepted: Vec<(String, String)>,
}

impl Credentials {
    /// Reads `[decky.<service>]`, then each of `fallbacks`, then defaults.
    pub fn for_service(spec: &DeckySpec, service: &str, fallbacks: &[&str]) -> Self {
        let lookup = |key: &str| {
            std::iter::once(service)
                .chain(fallbacks.iter().copied())
                .find_map(|svc| spec.config(svc).get(key))
                .cloned()
        };
        let root_pw = lookup("password").unwrap_or_else(|| "admin".into());
        let user = lookup("user").unwrap_or_else(|| "ubuntu".into());
        let user_pw = lookup("user_password").unwrap_or_else(|| "admin".into());
        let mut accepted = vec![("root".to_owned(), root_pw)];
        if user != "root" {
            accepted.push((user, user_pw));
        }
        Credentials { accepted }
    }

    /// True when the pair logs in.
    pub fn check(&self, user: &str, password: &[u8]) -> bool {
        self.accepted
            .iter()
            .any(|(u, p)| u == user && p.as_bytes() == password)
    }

    /// The non-root login user (home directory owner).
    pub fn login_user(&self) -> &str {
        self.accepted
            .get(1)
            .map(|(u, _)| u.as_str())
            .unwrap_or("root")
    }
}

/// The one login a database-like service accepts, when configured:
/// `[decky.<service>] password = …` (user from `user`, default
/// `default_user`). Without a configured password every login fails,
/// which is what a scanner should see by default.
pub fn configured_login(
    spec: &DeckySpec,
    service: &str,
    default_user: &str,
) -> Option<(String, String)> {
    let pw = spec.config(service).get("password")?;
    let user = spec
        .config(service)
        .get("user")
        .map(String::as_str)
        .unwrap_or(default_user);
    Some((user.to_owned(), pw.to_owned()))
}
