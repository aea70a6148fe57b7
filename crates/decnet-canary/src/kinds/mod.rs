//! Token kinds: one file per kind, each with its test beside it.
//!
//! A kind mints the token's secrets once (at creation, stored with it) and
//! renders its files on demand from the token and a [`Ctx`] (where the
//! receivers and the target deckies are), so a moved receiver or a redeployed
//! decky changes the next download without invalidating the token.

use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::{CanaryError, CanaryResult};
use crate::token::{Credential, Token};

mod aws_credentials;
mod db_login;
mod desktop_ini;
mod dns_name;
mod docx;
mod env_file;
mod git_config;
mod html_beacon;
mod http_url;
mod kubeconfig;
mod my_cnf;
mod mysql_dump;
mod ooxml;
mod pdf;
mod pgpass;
mod ssh_key;
mod svg_beacon;
mod windows_shortcut;
mod xlsx;

/// One kind of token.
pub trait TokenKind: Send + Sync {
    /// Registry name (`aws_credentials`), used in the API and the store.
    fn name(&self) -> &'static str;
    /// One line for people (also the default label).
    fn describe(&self) -> &'static str;
    /// True when it carries credentials that trigger when used on a decky
    /// (rather than calling home by itself).
    fn is_credential(&self) -> bool {
        false
    }
    /// The secrets a new token of this kind carries (unique per token).
    fn mint(&self, _rng: &mut dyn RngCore) -> CanaryResult<Vec<Credential>> {
        Ok(Vec::new())
    }
    /// The token's files, pointing at the receivers and deckies of `ctx`.
    fn render(&self, token: &Token, ctx: &Ctx) -> CanaryResult<Vec<Artifact>>;
}

/// Every kind, in the order lists show them.
pub static KINDS: &[&dyn TokenKind] = &[
    &http_url::HttpUrl,
    &dns_name::DnsName,
    &env_file::EnvFile,
    &aws_credentials::AwsCredentials,
    &ssh_key::SshKey,
    &kubeconfig::Kubeconfig,
    &git_config::GitConfig,
    &mysql_dump::MYSQL_DUMP,
    &pgpass::PGPASS,
    &my_cnf::MY_CNF,
    &docx::Docx,
    &xlsx::Xlsx,
    &pdf::Pdf,
    &html_beacon::HtmlBeacon,
    &svg_beacon::SvgBeacon,
    &desktop_ini::DesktopIni,
    &windows_shortcut::WindowsShortcut,
];

/// The kind registered under `name`.
pub fn find(name: &str) -> Option<&'static dyn TokenKind> {
    KINDS.iter().copied().find(|k| k.name() == name)
}

/// Every registered name.
pub fn names() -> Vec<&'static str> {
    KINDS.iter().map(|k| k.name()).collect()
}

/// A host and port a token points at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Address or name.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Endpoint {
    /// `host:port`, bracketing IPv6 addresses.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The deckies credential tokens point at (filled by the engine from the
/// running fleet: the first decky running each service).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Targets {
    /// An ssh decky.
    pub ssh: Option<Endpoint>,
    /// Its host key line (`ssh-ed25519 AAAA…`) for `known_hosts`, if known.
    pub ssh_host_key: Option<String>,
    /// A Kubernetes API decky (k8s service, HTTPS).
    pub k8s: Option<Endpoint>,
    /// A git-over-HTTP decky; the HTTP receiver when none.
    pub git: Option<Endpoint>,
    /// A MySQL decky.
    pub mysql: Option<Endpoint>,
    /// A PostgreSQL decky.
    pub postgres: Option<Endpoint>,
    /// An SMB decky (UNC paths ignore the port: Windows always uses 445).
    pub smb: Option<Endpoint>,
    /// The share UNC paths name on it.
    pub smb_share: Option<String>,
    /// An S3-compatible endpoint; the HTTP receiver (which answers as one) when none.
    pub s3: Option<Endpoint>,
}

/// Where receivers and deckies are, for rendering.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ctx {
    /// Base URL of the HTTP receiver as the outside sees it, no trailing `/`
    /// (`http://203.0.113.7:8080`, `https://cdn.example.com`).
    pub http_base: String,
    /// The zone the DNS receiver is authoritative for (`t.example.com`).
    pub dns_zone: Option<String>,
    /// Deckies credential tokens point at.
    pub targets: Targets,
}

impl Ctx {
    /// A context with only the HTTP receiver.
    pub fn new(http_base: &str) -> Ctx {
        Ctx {
            http_base: http_base.trim_end_matches('/').to_owned(),
            dns_zone: None,
            targets: Targets::default(),
        }
    }

    /// `BASE/<dir>/<slug>/<file>` (or `BASE/<dir>/<slug>` without a file):
    /// the slug is always a whole path segment, which is how the receiver
    /// and the watcher find it.
    pub fn url(&self, dir: &str, slug: &str, file: &str) -> String {
        let mut u = format!("{}/{dir}/{slug}", self.http_base);
        if !file.is_empty() {
            u.push('/');
            u.push_str(file);
        }
        u
    }

    /// `<slug>.<zone>` when a zone is configured.
    pub fn hostname(&self, slug: &str) -> Option<String> {
        self.dns_zone
            .as_deref()
            .map(|z| format!("{slug}.{}", z.trim_matches('.')))
    }

    /// The host part of the HTTP receiver's base URL.
    pub fn http_host(&self) -> &str {
        let rest = self
            .http_base
            .split_once("://")
            .map_or(self.http_base.as_str(), |(_, r)| r);
        rest.split('/').next().unwrap_or(rest)
    }

    /// The HTTP receiver as an endpoint (`host`, port from the URL or the scheme's default).
    pub fn http_endpoint(&self) -> Endpoint {
        let authority = self.http_host();
        let default = if self.http_base.starts_with("https://") {
            443
        } else {
            80
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, _)) if !h.ends_with(']') && h.contains(':') => (authority, None),
            Some((h, p)) => (h, p.parse().ok()),
            None => (authority, None),
        };
        Endpoint {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: port.unwrap_or(default),
        }
    }

    /// A target or the error naming it.
    pub(crate) fn need<'a>(
        kind: &'static str,
        target: &'static str,
        t: &'a Option<Endpoint>,
    ) -> CanaryResult<&'a Endpoint> {
        t.as_ref()
            .ok_or(CanaryError::MissingTarget { kind, target })
    }
}

/// Where a file goes on a host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Location {
    /// Relative to the user's home (`.aws/credentials`).
    Home(String),
    /// An absolute path (`/var/backups/db.sql`).
    Absolute(String),
}

impl Location {
    /// The path for a home directory.
    pub fn resolve(&self, home: &str) -> String {
        match self {
            Location::Home(rel) => format!("{}/{rel}", home.trim_end_matches('/')),
            Location::Absolute(p) => p.clone(),
        }
    }
}

/// One rendered file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// File name when downloaded.
    pub file_name: String,
    /// Content.
    pub bytes: Vec<u8>,
    /// Where it naturally lives.
    pub location: Location,
    /// Unix mode.
    pub mode: u32,
}

impl Artifact {
    /// A file under the home directory.
    pub fn home(rel: &str, bytes: impl Into<Vec<u8>>, mode: u32) -> Artifact {
        Artifact {
            file_name: rel.rsplit('/').next().unwrap_or(rel).to_owned(),
            bytes: bytes.into(),
            location: Location::Home(rel.to_owned()),
            mode,
        }
    }

    /// A file at an absolute path.
    pub fn absolute(path: &str, bytes: impl Into<Vec<u8>>, mode: u32) -> Artifact {
        Artifact {
            file_name: path.rsplit('/').next().unwrap_or(path).to_owned(),
            bytes: bytes.into(),
            location: Location::Absolute(path.to_owned()),
            mode,
        }
    }
}

/// XML text/attribute escaping for the document kinds.
pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// The first credential of one shape, or a corrupt-token error.
pub(crate) fn cred<'a, T>(
    token: &'a Token,
    f: impl Fn(&'a Credential) -> Option<T>,
) -> CanaryResult<T> {
    token.credentials.iter().find_map(f).ok_or_else(|| {
        CanaryError::Corrupt(format!(
            "token {} of kind {} lacks its credential",
            token.id, token.kind
        ))
    })
}

#[cfg(test)]
pub(crate) mod testing {
    //! A token of any kind minted and rendered against a full context.

    use super::*;
    use rand::SeedableRng;

    pub fn ctx() -> Ctx {
        let ep = |port| {
            Some(Endpoint {
                host: "10.0.0.20".into(),
                port,
            })
        };
        Ctx {
            http_base: "http://198.51.100.7:8080".into(),
            dns_zone: Some("t.example.net".into()),
            targets: Targets {
                ssh: ep(22),
                ssh_host_key: Some("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKxj".into()),
                k8s: ep(6443),
                git: ep(80),
                mysql: ep(3306),
                postgres: ep(5432),
                smb: ep(445),
                smb_share: Some("Finance".into()),
                s3: None,
            },
        }
    }

    pub fn token(kind: &str) -> Token {
        let k = find(kind).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
        let creds = k.mint(&mut rng).unwrap();
        let req = crate::token::NewToken {
            kind: kind.into(),
            created_by: "admin".into(),
            ..Default::default()
        };
        Token::from_checked(req.check().unwrap(), crate::secrets::slug(&mut rng), creds)
    }

    pub fn render(kind: &str) -> (Token, Vec<Artifact>) {
        let t = token(kind);
        let a = find(kind).unwrap().render(&t, &ctx()).unwrap();
        assert!(!a.is_empty());
        (t, a)
    }

    pub fn text(a: &Artifact) -> &str {
        std::str::from_utf8(&a.bytes).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_names_are_unique_and_every_kind_renders() {
        let mut names = names();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
        for k in KINDS {
            let (t, arts) = testing::render(k.name());
            assert_eq!(k.is_credential(), !t.credentials.is_empty(), "{}", k.name());
            for a in arts {
                assert!(
                    !a.file_name.is_empty() && !a.bytes.is_empty(),
                    "{}",
                    k.name()
                );
                let p = a.location.resolve("/home/u");
                assert!(crate::token::normalise_path(&p).is_ok(), "{p}");
            }
        }
    }

    #[test]
    fn http_endpoint_parses_the_base() {
        let e = Ctx::new("http://198.51.100.7:8080/").http_endpoint();
        assert_eq!((e.host.as_str(), e.port), ("198.51.100.7", 8080));
        let e = Ctx::new("https://cdn.example.com").http_endpoint();
        assert_eq!((e.host.as_str(), e.port), ("cdn.example.com", 443));
        let e = Ctx::new("http://[::1]:81").http_endpoint();
        assert_eq!((e.host.as_str(), e.port), ("::1", 81));
    }
}
