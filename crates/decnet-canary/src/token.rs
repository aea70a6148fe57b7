//! The token record, its credentials and placements, and input validation.

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{CanaryError, CanaryResult};

/// Longest label, in characters (it is shown in lists and alerts).
pub const LABEL_MAX: usize = 120;
/// Longest memo, in characters.
pub const MEMO_MAX: usize = 2000;
/// Longest `created_by`.
pub const CREATED_BY_MAX: usize = 64;
/// Longest placement path, in bytes (Linux `PATH_MAX`).
pub const PATH_MAX: usize = 4096;
/// Most placements one token may list.
pub const PLACEMENTS_MAX: usize = 64;

/// One canary token as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Token {
    /// Stable id (UUIDv7).
    pub id: Uuid,
    /// Registry name of its kind (`aws_credentials`, `docx`…).
    pub kind: String,
    /// Operator's short name for it.
    pub label: String,
    /// Operator's note: where it was left and why.
    #[serde(default)]
    pub memo: String,
    /// Username of whoever made it.
    pub created_by: String,
    /// Creation time (µs).
    pub created_at: DateTime<Utc>,
    /// Where it was planted (decky + absolute path).
    #[serde(default)]
    pub planted_in: Vec<Placement>,
    /// Revoked tokens no longer trigger.
    #[serde(default)]
    pub revoked: bool,
    /// When it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<DateTime<Utc>>,
    /// Random call-home identifier: the URL path segment and the DNS label
    /// (`http://BASE/c/<slug>`, `<slug>.<zone>`). Lowercase letters and digits.
    pub slug: String,
    /// Credentials minted for it (unique per token), if its kind carries any.
    #[serde(default)]
    pub credentials: Vec<Credential>,
    /// The deckies its files point at when they are not the rendering
    /// server's own: a token planted on a sensor's decky points at that
    /// sensor's deckies, and its download must show the planted file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<crate::kinds::Targets>,
}

/// Where a token was planted.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Placement {
    /// Decky name.
    pub decky: String,
    /// Absolute, normalised path inside the decky's filesystem.
    pub path: String,
}

impl Placement {
    /// A validated placement; the path is normalised (`//` and `/./` folded).
    pub fn new(decky: &str, path: &str) -> CanaryResult<Self> {
        Ok(Placement {
            decky: validate_decky(decky)?.to_owned(),
            path: normalise_path(path)?,
        })
    }
}

/// A secret that only this token carries, so whichever decky sees it used
/// names the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Credential {
    /// An AWS-style access key pair.
    AwsKey {
        /// `AKIA…` (20 characters).
        access_key_id: String,
        /// 40 characters.
        secret_access_key: String,
    },
    /// An ed25519 key pair and the login it is for.
    SshKey {
        /// Login name on the ssh decky.
        user: String,
        /// OpenSSH private key (PEM-like armour).
        private_key: String,
        /// `ssh-ed25519 AAAA… comment`.
        public_key: String,
        /// `SHA256:…`, as OpenSSH and the ssh decky print it.
        fingerprint: String,
    },
    /// A username and password (databases, HTTP Basic, git remotes).
    Login {
        /// Unique, human-looking user name.
        username: String,
        /// Unique, human-looking password.
        password: String,
    },
    /// A bearer token (Kubernetes service account).
    Bearer {
        /// The token.
        token: String,
    },
    /// A repository path on a git decky (`/team/project.git`).
    RepoPath {
        /// The path.
        path: String,
    },
}

impl Credential {
    /// What may be shown about it without giving the secret away: the key
    /// id, fingerprint, user name or path.
    pub fn public_id(&self) -> String {
        match self {
            Credential::AwsKey { access_key_id, .. } => access_key_id.clone(),
            Credential::SshKey {
                user, fingerprint, ..
            } => format!("{user} {fingerprint}"),
            Credential::Login { username, .. } => username.clone(),
            Credential::Bearer { token } => {
                format!("{}…", token.get(..12).unwrap_or(token))
            }
            Credential::RepoPath { path } => path.clone(),
        }
    }

    /// The variant's wire name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Credential::AwsKey { .. } => "aws_key",
            Credential::SshKey { .. } => "ssh_key",
            Credential::Login { .. } => "login",
            Credential::Bearer { .. } => "bearer",
            Credential::RepoPath { .. } => "repo_path",
        }
    }
}

// Hand-written so a token in a log line or panic message never carries a
// usable secret.
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({})", self.type_name(), self.public_id())
    }
}

/// What a caller asks for when creating a token (the API's request body:
/// unknown fields are refused so a typo is not silently ignored).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// Registry name of the kind.
    pub kind: String,
    /// Short name; defaults to the kind's description when empty.
    #[serde(default)]
    pub label: String,
    /// Free note.
    #[serde(default)]
    pub memo: String,
    /// Username of the creator (the API sets it to the caller).
    #[serde(default)]
    pub created_by: String,
    /// Where it will be planted.
    #[serde(default)]
    pub planted_in: Vec<Placement>,
}

/// The validated fields of a [`NewToken`].
#[derive(Clone)]
pub(crate) struct CheckedNewToken {
    pub kind: &'static dyn crate::kinds::TokenKind,
    pub label: String,
    pub memo: String,
    pub created_by: String,
    pub planted_in: Vec<Placement>,
}

impl std::fmt::Debug for CheckedNewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedNewToken")
            .field("kind", &self.kind.name())
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl NewToken {
    /// Checks every field; the first problem is the error.
    pub(crate) fn check(&self) -> CanaryResult<CheckedNewToken> {
        let kind = crate::kinds::find(&self.kind)
            .ok_or_else(|| CanaryError::UnknownKind(self.kind.clone()))?;
        let label = if self.label.trim().is_empty() {
            kind.describe().to_owned()
        } else {
            check_text("label", self.label.trim(), LABEL_MAX, false)?.to_owned()
        };
        let memo = check_text("memo", &self.memo, MEMO_MAX, true)?.to_owned();
        let created_by = check_text("created_by", self.created_by.trim(), CREATED_BY_MAX, false)?;
        if created_by.is_empty() {
            return Err(CanaryError::InvalidText {
                field: "created_by",
                reason: "must not be empty".into(),
            });
        }
        if self.planted_in.len() > PLACEMENTS_MAX {
            return Err(CanaryError::InvalidText {
                field: "planted_in",
                reason: format!("at most {PLACEMENTS_MAX} placements"),
            });
        }
        let planted_in = self
            .planted_in
            .iter()
            .map(|p| Placement::new(&p.decky, &p.path))
            .collect::<CanaryResult<Vec<_>>>()?;
        Ok(CheckedNewToken {
            kind,
            label,
            memo,
            created_by: created_by.to_owned(),
            planted_in,
        })
    }
}

impl Token {
    /// A fresh token of a validated request with its slug and credentials.
    pub(crate) fn from_checked(
        req: CheckedNewToken,
        slug: String,
        credentials: Vec<Credential>,
    ) -> Token {
        Token {
            id: Uuid::now_v7(),
            kind: req.kind.name().to_owned(),
            label: req.label,
            memo: req.memo,
            created_by: req.created_by,
            created_at: Utc::now().trunc_subsecs(6),
            planted_in: req.planted_in,
            revoked: false,
            revoked_at: None,
            slug,
            credentials,
            targets: None,
        }
    }

    /// Its files for `ctx`, or for its own [`Token::targets`] when pinned.
    pub fn render(&self, ctx: &crate::kinds::Ctx) -> CanaryResult<Vec<crate::kinds::Artifact>> {
        let kind = self
            .kind()
            .ok_or_else(|| CanaryError::UnknownKind(self.kind.clone()))?;
        match &self.targets {
            Some(targets) => {
                let mut pinned = ctx.clone();
                pinned.targets = targets.clone();
                kind.render(self, &pinned)
            }
            None => kind.render(self, ctx),
        }
    }

    /// The registry entry of its kind (`None` only for a token stored by a
    /// newer version with a kind this one lacks).
    pub fn kind(&self) -> Option<&'static dyn crate::kinds::TokenKind> {
        crate::kinds::find(&self.kind)
    }

    /// The first credential of a type, if any.
    pub fn aws_key(&self) -> Option<(&str, &str)> {
        self.credentials.iter().find_map(|c| match c {
            Credential::AwsKey {
                access_key_id,
                secret_access_key,
            } => Some((access_key_id.as_str(), secret_access_key.as_str())),
            _ => None,
        })
    }

    /// The first login, if any.
    pub fn login(&self) -> Option<(&str, &str)> {
        self.credentials.iter().find_map(|c| match c {
            Credential::Login { username, password } => {
                Some((username.as_str(), password.as_str()))
            }
            _ => None,
        })
    }

    /// What the API may show to viewers: everything but the secrets.
    pub fn summary(&self) -> TokenSummary {
        TokenSummary {
            id: self.id,
            kind: self.kind.clone(),
            label: self.label.clone(),
            memo: self.memo.clone(),
            created_by: self.created_by.clone(),
            created_at: self.created_at,
            planted_in: self.planted_in.clone(),
            revoked: self.revoked,
            revoked_at: self.revoked_at,
            slug: self.slug.clone(),
            credentials: self
                .credentials
                .iter()
                .map(|c| CredentialSummary {
                    kind: c.type_name(),
                    id: c.public_id(),
                })
                .collect(),
        }
    }
}

/// A token without its secrets.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenSummary {
    /// Id.
    pub id: Uuid,
    /// Kind name.
    pub kind: String,
    /// Label.
    pub label: String,
    /// Memo.
    pub memo: String,
    /// Creator.
    pub created_by: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Placements.
    pub planted_in: Vec<Placement>,
    /// Revoked?
    pub revoked: bool,
    /// When revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Call-home slug.
    pub slug: String,
    /// Public identifiers of its credentials.
    pub credentials: Vec<CredentialSummary>,
}

/// A credential's type and public identifier.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CredentialSummary {
    /// `aws_key`, `ssh_key`, `login`, `bearer`, `repo_path`.
    pub kind: &'static str,
    /// Key id, fingerprint, user name or path.
    pub id: String,
}

fn check_text<'a>(
    field: &'static str,
    s: &'a str,
    max: usize,
    multiline: bool,
) -> CanaryResult<&'a str> {
    let n = s.chars().count();
    if n > max {
        return Err(CanaryError::InvalidText {
            field,
            reason: format!("{n} characters, at most {max}"),
        });
    }
    if s.chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\t')))
    {
        return Err(CanaryError::InvalidText {
            field,
            reason: "control characters are not allowed".into(),
        });
    }
    Ok(s)
}

/// Decky names as the fleet file allows them.
pub fn validate_decky(name: &str) -> CanaryResult<&str> {
    let ok = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(name)
    } else {
        Err(CanaryError::InvalidDecky(decnet_core::event::printable(
            name.as_bytes(),
        )))
    }
}

/// An absolute path with `//` and `.` segments folded; `..`, NUL, control
/// characters, a trailing `/` and over-long paths are refused.
pub fn normalise_path(path: &str) -> CanaryResult<String> {
    let refuse = |reason| {
        Err(CanaryError::InvalidPath {
            path: decnet_core::event::printable(path.as_bytes()),
            reason,
        })
    };
    if path.len() > PATH_MAX {
        return refuse("longer than 4096 bytes");
    }
    if path.contains('\0') {
        return refuse("contains NUL");
    }
    if path.chars().any(char::is_control) {
        return refuse("contains control characters");
    }
    if !path.starts_with('/') {
        return refuse("must be absolute");
    }
    if path.ends_with('/') {
        return refuse("names a directory, not a file");
    }
    let mut out = String::with_capacity(path.len());
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => return refuse("'..' is not allowed"),
            s => {
                out.push('/');
                out.push_str(s);
            }
        }
    }
    if out.is_empty() {
        return refuse("names no file");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn paths_are_normalised_or_refused() {
        assert_eq!(normalise_path("/home//u/./.env").unwrap(), "/home/u/.env");
        for bad in [
            "relative/x",
            "/a/../etc/passwd",
            "/a/..",
            "/a\0b",
            "/dir/",
            "/",
            "/a\nb",
        ] {
            assert!(
                matches!(normalise_path(bad), Err(CanaryError::InvalidPath { .. })),
                "{bad:?} accepted"
            );
        }
        assert!(normalise_path(&format!("/{}", "a".repeat(PATH_MAX))).is_err());
    }

    #[test]
    fn new_token_checks_every_field() {
        let ok = NewToken {
            kind: "http_url".into(),
            created_by: "admin".into(),
            ..Default::default()
        };
        let c = ok.check().unwrap();
        assert_eq!(
            c.label,
            c.kind.describe(),
            "empty label takes the kind's description"
        );
        let err = |t: NewToken| t.check().unwrap_err().to_string();
        assert!(err(NewToken {
            kind: "nope".into(),
            ..ok.clone()
        })
        .contains("unknown token kind 'nope'"));
        assert!(err(NewToken {
            memo: "x".repeat(MEMO_MAX + 1),
            ..ok.clone()
        })
        .starts_with("memo:"));
        assert!(err(NewToken {
            label: "a\u{7}".into(),
            ..ok.clone()
        })
        .starts_with("label:"));
        assert!(err(NewToken {
            created_by: " ".into(),
            ..ok.clone()
        })
        .starts_with("created_by:"));
        let traversal = NewToken {
            planted_in: vec![Placement {
                decky: "web01".into(),
                path: "/srv/../../etc/shadow".into(),
            }],
            ..ok.clone()
        };
        assert!(err(traversal).contains("'..' is not allowed"));
        let bad_decky = NewToken {
            planted_in: vec![Placement {
                decky: "web 01".into(),
                path: "/x".into(),
            }],
            ..ok
        };
        assert!(err(bad_decky).contains("invalid decky name"));
    }

    #[test]
    fn credential_debug_hides_secrets() {
        let c = Credential::Login {
            username: "jdoe".into(),
            password: "Hunter-Fjord-2291".into(),
        };
        let s = format!("{c:?}");
        assert!(s.contains("jdoe") && !s.contains("Hunter"), "{s}");
        let a = Credential::AwsKey {
            access_key_id: "AKIAABCDEFGHIJKLMNOP".into(),
            secret_access_key: "s".repeat(40),
        };
        assert!(!format!("{a:?}").contains("ssss"));
    }

    proptest! {
        #[test]
        fn normalised_paths_never_escape(p in "[/a-z.\\\\]{0,40}") {
            if let Ok(n) = normalise_path(&p) {
                prop_assert!(n.starts_with('/'));
                prop_assert!(!n.split('/').any(|s| s == ".." || s == "."));
                prop_assert!(!n.contains("//"));
                prop_assert_eq!(normalise_path(&n).unwrap(), n.clone());
            }
        }
    }
}
