//! Reading `[decky.<service>]` keys: shared value parsers and the typed
//! error a service's `validate` returns.

use std::collections::BTreeMap;

/// A `[decky.<service>]` key with a value the service cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A flag that is not an INI boolean.
    #[error("{key} '{value}' is not true/false")]
    NotBool {
        /// Key.
        key: &'static str,
        /// Value given.
        value: String,
    },
    /// A size that is not a whole number of bytes.
    #[error("{key} '{value}' is not a byte count")]
    NotByteCount {
        /// Key.
        key: &'static str,
        /// Value given.
        value: String,
    },
    /// A value outside what the service supports.
    #[error("{key} '{value}' must be {expected}")]
    Unsupported {
        /// Key.
        key: &'static str,
        /// Value given.
        value: String,
        /// What is accepted, for the operator.
        expected: &'static str,
    },
}

/// Parses an INI boolean.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Checks that `key`, when present, is an INI boolean.
pub fn check_bool(cfg: &BTreeMap<String, String>, key: &'static str) -> Result<(), ConfigError> {
    match cfg.get(key) {
        Some(v) if parse_bool(v).is_none() => Err(ConfigError::NotBool {
            key,
            value: v.clone(),
        }),
        _ => Ok(()),
    }
}

/// Checks that `key`, when present, passes `ok`; else `expected` says what
/// would have.
pub fn check(
    cfg: &BTreeMap<String, String>,
    key: &'static str,
    expected: &'static str,
    ok: impl Fn(&str) -> bool,
) -> Result<(), ConfigError> {
    match cfg.get(key) {
        Some(v) if !ok(v) => Err(ConfigError::Unsupported {
            key,
            value: v.clone(),
            expected,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(k: &str, v: &str) -> BTreeMap<String, String> {
        [(k.to_owned(), v.to_owned())].into()
    }

    #[test]
    fn booleans_and_allowed_values() {
        assert_eq!(parse_bool("Yes"), Some(true));
        assert_eq!(parse_bool("off"), Some(false));
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(check_bool(&cfg("starttls", "on"), "starttls"), Ok(()));
        assert_eq!(check_bool(&BTreeMap::new(), "starttls"), Ok(()));
        let e = check_bool(&cfg("starttls", "maybe"), "starttls").unwrap_err();
        assert_eq!(e.to_string(), "starttls 'maybe' is not true/false");
        let e = check(&cfg("auth", "plain"), "auth", "md5 or scram-sha-256", |v| {
            v == "md5"
        })
        .unwrap_err();
        assert_eq!(e.to_string(), "auth 'plain' must be md5 or scram-sha-256");
    }
}
