//! [`Secret`]: a string (SMTP password, webhook URL, routing key, HEC token,
//! NATS password)
//! that never leaves the process by accident: its `Debug`, `Display` and
//! `Serialize` all print a fixed marker, so a config, an error or an API view
//! that contains one cannot leak it. Only [`Secret::expose`] returns it.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a secret prints as.
pub const REDACTED: &str = "<redacted>";

/// A secret string.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself: for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A secret as the fleet file gives it: `env:NAME` (read from the
/// environment), `file:/path` (read from a file, trailing newline dropped)
/// or the value itself. The error never includes the value.
pub fn resolve(written: &str) -> Result<Secret, String> {
    let v = written.trim();
    if let Some(name) = v.strip_prefix("env:") {
        return match std::env::var(name.trim()) {
            Ok(s) if !s.is_empty() => Ok(Secret::new(s)),
            _ => Err(format!("environment variable {} is not set", name.trim())),
        };
    }
    if let Some(path) = v.strip_prefix("file:") {
        return match std::fs::read_to_string(path.trim()) {
            Ok(s) if !s.trim_end_matches(['\r', '\n']).is_empty() => {
                Ok(Secret::new(s.trim_end_matches(['\r', '\n'])))
            }
            _ => Err(format!("cannot read a secret from {}", path.trim())),
        };
    }
    Ok(Secret::new(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolved_from_the_environment_a_file_or_inline() {
        let dir = std::env::temp_dir().join(format!("decnet-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("key");
        std::fs::write(&f, "from-file\n").unwrap();
        assert_eq!(
            resolve(&format!("file:{}", f.display())).unwrap().expose(),
            "from-file"
        );
        assert_eq!(resolve(" inline-key ").unwrap().expose(), "inline-key");
        let e = resolve("env:DECNET_CORE_UNSET_SECRET_VARIABLE").unwrap_err();
        assert!(e.contains("DECNET_CORE_UNSET_SECRET_VARIABLE"), "{e}");
        let e = resolve(&format!("file:{}", dir.join("missing").display())).unwrap_err();
        assert!(e.contains("cannot read"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn never_printed() {
        let s = Secret::new("hunter2-hunter2");
        assert_eq!(format!("{s}"), REDACTED);
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!format!("{:#?}", Some(&s)).contains("hunter2"));
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            format!("\"{REDACTED}\"")
        );
        assert_eq!(s.expose(), "hunter2-hunter2");
        let back: Secret = serde_json::from_str("\"k\"").unwrap();
        assert_eq!(back.expose(), "k");
    }
}
