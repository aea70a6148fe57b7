//! Reading one section's key/values: typed getters that record an error
//! naming the key (never echoing a secret's value) and, at the end, every
//! key nobody asked for (a typo must not silently disable an alert).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use decnet_core::parse::{parse_duration, parse_net};
use ipnet::IpNet;

use super::ConfigError;
use crate::alert::Severity;
use crate::secret::Secret;

/// `n` seconds (keeps the bounds of `Keys::duration` calls on one line).
pub const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// `n` milliseconds.
pub const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Comma-separated items, trimmed, empties dropped.
pub fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A section being read.
pub struct Keys<'a> {
    section: String,
    map: &'a BTreeMap<String, String>,
    used: BTreeSet<&'a str>,
    prefixes: Vec<&'static str>,
    errors: &'a mut Vec<ConfigError>,
}

impl<'a> Keys<'a> {
    /// Starts reading `map`, the body of `[section]`.
    pub fn new(
        section: &str,
        map: &'a BTreeMap<String, String>,
        errors: &'a mut Vec<ConfigError>,
    ) -> Self {
        Keys {
            section: section.to_owned(),
            map,
            used: BTreeSet::new(),
            prefixes: Vec::new(),
            errors,
        }
    }

    /// The section name.
    pub fn section(&self) -> &str {
        &self.section
    }

    /// Records an error for `key`.
    pub fn err(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            section: self.section.clone(),
            key: Some(key.to_owned()),
            message: message.into(),
        });
    }

    /// The raw value, marking the key as known.
    pub fn raw(&mut self, key: &str) -> Option<&'a str> {
        let (k, v) = self.map.get_key_value(key)?;
        self.used.insert(k.as_str());
        Some(v.trim())
    }

    /// Marks a key as known without reading it.
    pub fn known(&mut self, key: &str) {
        let _ = self.raw(key);
    }

    /// A value, or `None` when absent or blank.
    pub fn opt_string(&mut self, key: &str) -> Option<String> {
        self.raw(key).filter(|v| !v.is_empty()).map(str::to_owned)
    }

    /// A value, or the default.
    pub fn string(&mut self, key: &str, default: &str) -> String {
        self.opt_string(key).unwrap_or_else(|| default.to_owned())
    }

    /// A value that must be present.
    pub fn required(&mut self, key: &str) -> Option<String> {
        let v = self.opt_string(key);
        if v.is_none() {
            self.err(key, "is required");
        }
        v
    }

    /// `true`/`false` (also yes/no, on/off, 1/0).
    pub fn bool(&mut self, key: &str, default: bool) -> bool {
        let Some(v) = self.raw(key) else {
            return default;
        };
        match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => true,
            "false" | "no" | "off" | "0" => false,
            _ => {
                self.err(key, format!("expected true or false, got {v:?}"));
                default
            }
        }
    }

    /// A duration within `[min, max]`.
    pub fn duration(
        &mut self,
        key: &str,
        default: Duration,
        min: Duration,
        max: Duration,
    ) -> Duration {
        let Some(v) = self.raw(key) else {
            return default;
        };
        match parse_duration(v) {
            Some(d) if d >= min && d <= max => d,
            Some(_) => {
                self.err(key, format!("must be between {min:?} and {max:?}"));
                default
            }
            None => {
                self.err(
                    key,
                    format!("{v:?} is not a duration (e.g. 500ms, 30s, 5m, 1h)"),
                );
                default
            }
        }
    }

    /// An integer within `[min, max]`.
    pub fn u64_in(&mut self, key: &str, default: u64, min: u64, max: u64) -> u64 {
        let Some(v) = self.raw(key) else {
            return default;
        };
        match v.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                self.err(
                    key,
                    format!("must be an integer in {min}..={max}, got {v:?}"),
                );
                default
            }
        }
    }

    /// A comma-separated list (empty when absent).
    pub fn list(&mut self, key: &str) -> Vec<String> {
        self.raw(key).map(split_list).unwrap_or_default()
    }

    /// A severity name.
    pub fn severity(&mut self, key: &str, default: Severity) -> Severity {
        let Some(v) = self.raw(key) else {
            return default;
        };
        Severity::parse(v).unwrap_or_else(|| {
            self.err(
                key,
                format!("unknown severity {v:?} (info, low, medium, high, critical)"),
            );
            default
        })
    }

    /// One of `choices`.
    pub fn choice(
        &mut self,
        key: &str,
        default: &'static str,
        choices: &[&'static str],
    ) -> &'static str {
        let Some(v) = self.raw(key) else {
            return default;
        };
        let v = v.to_ascii_lowercase();
        match choices.iter().find(|c| **c == v) {
            Some(c) => c,
            None => {
                self.err(
                    key,
                    format!("must be one of {}, got {v:?}", choices.join(", ")),
                );
                default
            }
        }
    }

    /// A list of CIDRs.
    pub fn nets(&mut self, key: &str) -> Vec<IpNet> {
        let mut out = Vec::new();
        for item in self.list(key) {
            match parse_net(&item) {
                Some(n) => out.push(n),
                None => self.err(key, format!("{item:?} is not an address or CIDR")),
            }
        }
        out
    }

    /// A required `host:port`.
    pub fn address(&mut self, key: &str) -> Option<String> {
        let a = self.required(key)?;
        if a.rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .is_none()
        {
            self.err(key, format!("{a:?} is not host:port"));
        }
        Some(a)
    }

    /// A list of bus subject patterns, each validated.
    pub fn subjects(&mut self, key: &str) -> Vec<String> {
        let list = self.list(key);
        for p in &list {
            if let Err(e) = decnet_core::subject::validate_pattern(p) {
                self.err(key, e);
            }
        }
        list
    }

    /// A file path that must exist.
    pub fn file(&mut self, key: &str) -> Option<PathBuf> {
        let p = PathBuf::from(self.opt_string(key)?);
        if !p.is_file() {
            self.err(key, format!("{} is not a readable file", p.display()));
            return None;
        }
        Some(p)
    }

    /// A secret: the value itself, or `env:NAME` (read from the
    /// environment) or `file:/path` (read from a file, trailing newline
    /// dropped). Errors never include the value.
    pub fn secret(&mut self, key: &str) -> Option<Secret> {
        let v = self.raw(key).filter(|v| !v.is_empty())?;
        match decnet_core::secret::resolve(v) {
            Ok(s) => Some(s),
            Err(e) => {
                self.err(key, e);
                None
            }
        }
    }

    /// A secret that must be present.
    pub fn required_secret(&mut self, key: &str) -> Option<Secret> {
        let present = self.raw(key).is_some_and(|v| !v.is_empty());
        if !present {
            self.err(key, "is required");
            return None;
        }
        self.secret(key)
    }

    /// An http(s) URL held as a secret (webhook URLs carry their token).
    pub fn url_secret(&mut self, key: &str, required: bool) -> Option<Secret> {
        let s = if required {
            self.required_secret(key)?
        } else {
            self.secret(key)?
        };
        match reqwest::Url::parse(s.expose()) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(s),
            _ => {
                self.err(key, "must be an absolute http(s) URL");
                None
            }
        }
    }

    /// Keys starting with `prefix` (e.g. `field.`) are read by the caller.
    pub fn allow_prefix(&mut self, prefix: &'static str) -> Vec<(&'a str, &'a str)> {
        self.prefixes.push(prefix);
        self.map
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|rest| (rest, v.trim())))
            .collect()
    }

    /// Reports every key that was never read.
    pub fn finish(self) {
        let unknown: Vec<String> = self
            .map
            .keys()
            .filter(|k| !self.used.contains(k.as_str()))
            .filter(|k| !self.prefixes.iter().any(|p| k.starts_with(p)))
            .cloned()
            .collect();
        for k in unknown {
            self.errors.push(ConfigError {
                section: self.section.clone(),
                key: Some(k),
                message: "unknown key".into(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_secret_errors_never_echo() {
        let mut map = BTreeMap::new();
        map.insert("url".to_string(), "not a url with TOKEN123".to_string());
        map.insert("typo".to_string(), "1".to_string());
        map.insert("field.user".to_string(), "root".to_string());
        let mut errors = Vec::new();
        let mut k = Keys::new("alerts.slack", &map, &mut errors);
        assert!(k.url_secret("url", true).is_none());
        assert_eq!(k.allow_prefix("field."), vec![("user", "root")]);
        k.finish();
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(text[0].starts_with("[alerts.slack] url: must be"));
        assert!(!text[0].contains("TOKEN123"));
        assert_eq!(text[1], "[alerts.slack] typo: unknown key");
    }

    #[test]
    fn secrets_from_env_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\n").unwrap();
        std::env::set_var("DECNET_ALERTS_TEST_SECRET", "from-env");
        let mut map = BTreeMap::new();
        map.insert("a".to_string(), format!("file:{}", f.display()));
        map.insert("b".to_string(), "env:DECNET_ALERTS_TEST_SECRET".to_string());
        map.insert(
            "c".to_string(),
            "env:DECNET_ALERTS_UNSET_VARIABLE".to_string(),
        );
        let mut errors = Vec::new();
        let mut k = Keys::new("alerts.mail", &map, &mut errors);
        assert_eq!(k.secret("a").unwrap().expose(), "s3cret");
        assert_eq!(k.secret("b").unwrap().expose(), "from-env");
        assert!(k.secret("c").is_none());
        k.finish();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("DECNET_ALERTS_UNSET_VARIABLE"));
    }
}
