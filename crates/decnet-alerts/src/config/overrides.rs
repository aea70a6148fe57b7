//! Channel and rule changes made through the API, kept apart from the
//! fleet file and laid over its sections.
//!
//! Precedence: an edited channel or custom rule replaces the file's section
//! of the same name as a whole; a deleted custom rule is gone even if the
//! file still has it; a built-in rule's edit (enabled, severity) wins over
//! the file's `[alerts] enable/disable/severity` for that rule. Everything
//! else comes from the file, so a reload of the file still changes what
//! the API did not touch. An edit is validated by parsing the whole merged
//! configuration exactly as the fleet file is parsed: an edit the file
//! could not hold is refused with the same messages.
//!
//! Secrets are write-only: an edit of a channel that leaves out a secret
//! key keeps the value in force (file or earlier edit).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::channel::SECRET_KEYS;
use super::keys::split_list;
use super::{AlertsConfig, ConfigError, ConfigErrors};

/// Section name → key/value map, as the fleet parser hands them over.
pub type Sections = BTreeMap<String, BTreeMap<String, String>>;

/// Built-in rule keys an edit may set.
const BUILTIN_KEYS: &[&str] = &["enabled", "severity"];

/// The API's changes (stored as one document; it holds secrets, so it is
/// never shown or logged: `Debug` prints names only).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overrides {
    /// Channel name → its whole section.
    #[serde(default)]
    pub channels: BTreeMap<String, BTreeMap<String, String>>,
    /// Rule id → its whole section (built-ins: `enabled`, `severity`), or
    /// `None` for a deleted custom rule.
    #[serde(default)]
    pub rules: BTreeMap<String, Option<BTreeMap<String, String>>>,
}

impl fmt::Debug for Overrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Overrides")
            .field("channels", &self.channels.keys().collect::<Vec<_>>())
            .field("rules", &self.rules.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// One change.
#[derive(Clone, Debug)]
pub enum Edit {
    /// Creates or replaces channel `name`.
    PutChannel(String, BTreeMap<String, String>),
    /// Creates or replaces custom rule `id`, or sets a built-in's keys.
    PutRule(String, BTreeMap<String, String>),
    /// Deletes custom rule `id`.
    DeleteRule(String),
}

/// Why an edit was refused (nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The merged configuration does not validate; `key` names the field
    /// of the edit at fault when it is one.
    #[error("{0}")]
    Invalid(ConfigErrors),
    /// No such rule.
    #[error("no custom rule {0:?}")]
    NotFound(String),
    /// Built-in rules are disabled, not deleted.
    #[error("{0:?} is a built-in rule: disable it instead of deleting it")]
    Builtin(String),
}

/// A JSON object of an edit as a section: strings as they are, numbers and
/// booleans as written, arrays of those joined with `, ` (the INI list form).
pub fn section_from_json(
    section: &str,
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<BTreeMap<String, String>, ConfigErrors> {
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    let scalar = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    for (k, v) in body {
        let value = match v {
            serde_json::Value::Array(items) => items
                .iter()
                .map(scalar)
                .collect::<Option<Vec<_>>>()
                .map(|l| l.join(", ")),
            other => scalar(other),
        };
        let bad_text = value
            .as_deref()
            .is_some_and(|s| s.contains(['\n', '\r', '\0']));
        match value {
            Some(s) if !bad_text => {
                out.insert(k.clone(), s);
            }
            _ => errors.push(ConfigError {
                section: section.to_owned(),
                key: Some(k.clone()),
                message: "expected a string, number, boolean or a list of them on one line".into(),
            }),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(ConfigErrors(errors))
    }
}

fn channel_section(name: &str) -> String {
    format!("alerts.{name}")
}

fn rule_section(id: &str) -> String {
    format!("alerts.rule.{id}")
}

/// `[alerts]` with one built-in rule's enable/disable/severity entries
/// replaced by `edit`'s.
fn apply_builtin(
    general: &mut BTreeMap<String, String>,
    id: &str,
    edit: &BTreeMap<String, String>,
) {
    let mut set = |key: &str, keep: &dyn Fn(&str) -> bool, add: Option<String>| {
        let mut items: Vec<String> = general
            .get(key)
            .map(|v| split_list(v))
            .unwrap_or_default()
            .into_iter()
            .filter(|i| keep(i))
            .collect();
        items.extend(add);
        if items.is_empty() {
            general.remove(key);
        } else {
            general.insert(key.to_owned(), items.join(", "));
        }
    };
    if let Some(enabled) = edit.get("enabled") {
        let (on, off) = match enabled.as_str() {
            "true" => (Some(id.to_owned()), None),
            "false" => (None, Some(id.to_owned())),
            // Refused by `Overrides::edit` before it gets here.
            _ => return,
        };
        set("enable", &|i| i != id, on);
        set("disable", &|i| i != id, off);
    }
    if let Some(sev) = edit.get("severity") {
        let prefix = format!("{id}:");
        set(
            "severity",
            &|i| !i.starts_with(&prefix),
            Some(format!("{id}:{sev}")),
        );
    }
}

impl Overrides {
    /// `base` (the fleet file's sections) with these changes laid over it.
    pub fn apply(&self, base: &Sections) -> Sections {
        let mut merged = base.clone();
        for (name, map) in &self.channels {
            merged.insert(channel_section(name), map.clone());
        }
        for (id, edit) in &self.rules {
            match edit {
                Some(map) if crate::rules::builtin(id).is_some() => {
                    apply_builtin(merged.entry("alerts".into()).or_default(), id, map)
                }
                Some(map) => {
                    merged.insert(rule_section(id), map.clone());
                }
                None => {
                    merged.remove(&rule_section(id));
                }
            }
        }
        merged
    }

    /// The configuration `base` with these changes gives.
    pub fn config(&self, base: &Sections) -> Result<AlertsConfig, ConfigErrors> {
        AlertsConfig::from_sections(&self.apply(base))
    }

    /// These changes plus `edit`, and the configuration they give over
    /// `base`; refused (with errors about the edit's own keys where they
    /// are to blame) when the result would not validate.
    pub fn edit(
        &self,
        base: &Sections,
        edit: Edit,
    ) -> Result<(Overrides, AlertsConfig), EditError> {
        let current = self.apply(base);
        let mut next = self.clone();
        let section = match edit {
            Edit::PutChannel(name, map) => next.put_channel(&current, name, map)?,
            Edit::PutRule(id, map) if crate::rules::builtin(&id).is_some() => {
                return self.edit_builtin_rule(base, &id, map);
            }
            Edit::PutRule(id, map) => {
                let section = rule_section(&id);
                next.rules.insert(id, Some(map));
                section
            }
            Edit::DeleteRule(id) => next.delete_rule(base, &current, id)?,
        };
        match next.config(base) {
            Ok(cfg) => Ok((next, cfg)),
            Err(ConfigErrors(errors)) => Err(EditError::Invalid(ConfigErrors(
                errors
                    .into_iter()
                    .map(|mut e| {
                        if e.section != section {
                            e.key = None;
                        }
                        e
                    })
                    .collect(),
            ))),
        }
    }

    /// Sets a channel; a secret left out keeps the one the channel has
    /// (same type). Returns the channel's section.
    fn put_channel(
        &mut self,
        current: &Sections,
        name: String,
        mut map: BTreeMap<String, String>,
    ) -> Result<String, EditError> {
        let section = channel_section(&name);
        // `env:`/`file:` would let an API caller make the server read
        // its environment or any file and send it to a host of their
        // choosing: through the API, secrets are given inline.
        let indirect: Vec<ConfigError> = SECRET_KEYS
            .iter()
            .filter(|k| {
                map.get(**k)
                    .is_some_and(|v| v.starts_with("env:") || v.starts_with("file:"))
            })
            .map(|k| ConfigError {
                section: section.clone(),
                key: Some((*k).to_owned()),
                message: "through the API a secret is given inline (env: and file: are for the fleet file)".into(),
            })
            .collect();
        if !indirect.is_empty() {
            return Err(EditError::Invalid(ConfigErrors(indirect)));
        }
        if let Some(now) = current.get(&section) {
            if now.get("type") == map.get("type") {
                for k in SECRET_KEYS {
                    if let (None, Some(v)) = (map.get(*k), now.get(*k)) {
                        map.insert((*k).to_owned(), v.clone());
                    }
                }
            }
        }
        self.channels.insert(name, map);
        Ok(section)
    }

    /// Edits a built-in rule: only `enabled` and `severity`, merged with
    /// its earlier edit; they land in `[alerts]`, whose errors are
    /// reported on the rule's keys.
    fn edit_builtin_rule(
        &self,
        base: &Sections,
        id: &str,
        map: BTreeMap<String, String>,
    ) -> Result<(Overrides, AlertsConfig), EditError> {
        let section = rule_section(id);
        let mut unknown: Vec<ConfigError> = map
            .keys()
            .filter(|k| !BUILTIN_KEYS.contains(&k.as_str()))
            .map(|k| ConfigError {
                section: section.clone(),
                key: Some(k.clone()),
                message: "a built-in rule takes only enabled and severity".into(),
            })
            .collect();
        if map
            .get("enabled")
            .is_some_and(|v| v != "true" && v != "false")
        {
            unknown.push(ConfigError {
                section: section.clone(),
                key: Some("enabled".into()),
                message: "expected true or false".into(),
            });
        }
        if !unknown.is_empty() {
            return Err(EditError::Invalid(ConfigErrors(unknown)));
        }
        let next = self.with_rule(id, map);
        let cfg = next.config(base).map_err(|e| {
            EditError::Invalid(ConfigErrors(
                e.0.into_iter()
                    .map(|mut e| {
                        if e.section == "alerts" {
                            e.section = section.clone();
                            e.key = e.key.map(|k| match k.as_str() {
                                "enable" | "disable" => "enabled".to_owned(),
                                _ => k,
                            });
                        }
                        e
                    })
                    .collect(),
            ))
        })?;
        Ok((next, cfg))
    }

    /// Deletes a rule of the API (or hides one of the fleet file).
    /// Returns the rule's section.
    fn delete_rule(
        &mut self,
        base: &Sections,
        current: &Sections,
        id: String,
    ) -> Result<String, EditError> {
        if crate::rules::builtin(&id).is_some() {
            return Err(EditError::Builtin(id));
        }
        let section = rule_section(&id);
        if !current.contains_key(&section) {
            return Err(EditError::NotFound(id));
        }
        if base.contains_key(&section) {
            self.rules.insert(id, None);
        } else {
            self.rules.remove(&id);
        }
        Ok(section)
    }

    fn with_rule(&self, id: &str, map: BTreeMap<String, String>) -> Overrides {
        let mut o = self.clone();
        let entry = o
            .rules
            .entry(id.to_owned())
            .or_insert_with(|| Some(BTreeMap::new()));
        let mut merged = entry.clone().unwrap_or_default();
        merged.extend(map);
        *entry = Some(merged);
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Sections {
        let ini = "[alerts]\ndisable = auth_attempt\n[alerts.hook]\ntype = webhook\nurl = https://hooks.example/T0KEN\nsecret = 0123456789abcdefFILE\n[alerts.rule.redis]\nkinds = command\nservices = redis\n";
        super::super::sections_of_ini(ini).unwrap()
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    #[test]
    fn a_channel_edit_keeps_secrets_it_leaves_out_and_replaces_the_file_section() {
        let o = Overrides::default();
        let (o, cfg) = o
            .edit(
                &base(),
                Edit::PutChannel(
                    "hook".into(),
                    map(&[("type", "webhook"), ("min_severity", "high")]),
                ),
            )
            .unwrap();
        let hook = cfg.channel("hook").unwrap();
        assert_eq!(hook.min_severity, crate::alert::Severity::High);
        assert!(hook.view().secret_set);
        assert_eq!(o.channels["hook"]["secret"], "0123456789abcdefFILE");
        assert!(
            !format!("{o:?}").contains("T0KEN"),
            "Debug shows names only"
        );
        // A new channel without its required secret is refused on that key.
        let err = o
            .edit(
                &base(),
                Edit::PutChannel("ops".into(), map(&[("type", "slack")])),
            )
            .unwrap_err();
        let EditError::Invalid(ConfigErrors(errs)) = err else {
            panic!()
        };
        assert!(
            errs.iter()
                .any(|e| e.section == "alerts.ops" && e.key.as_deref() == Some("url")),
            "{errs:?}"
        );
    }

    #[test]
    fn rules_are_created_replaced_deleted_and_builtins_only_toggled() {
        let o = Overrides::default();
        let (o, cfg) = o
            .edit(
                &base(),
                Edit::PutRule(
                    "ssh_root".into(),
                    map(&[("services", "ssh"), ("severity", "critical")]),
                ),
            )
            .unwrap();
        assert!(cfg.rules.iter().any(|r| r.id == "ssh_root"));
        let (o, cfg) = o.edit(&base(), Edit::DeleteRule("redis".into())).unwrap();
        assert!(
            !cfg.rules.iter().any(|r| r.id == "redis"),
            "a file rule deleted stays deleted"
        );
        assert_eq!(o.rules["redis"], None);
        let (o, cfg) = o
            .edit(&base(), Edit::DeleteRule("ssh_root".into()))
            .unwrap();
        assert!(!o.rules.contains_key("ssh_root") && cfg.rules.is_empty());
        assert!(matches!(
            o.edit(&base(), Edit::DeleteRule("nope".into())),
            Err(EditError::NotFound(_))
        ));
        assert!(matches!(
            o.edit(&base(), Edit::DeleteRule("login_success".into())),
            Err(EditError::Builtin(_))
        ));

        // Built-in: the file disables auth_attempt; the edit enables it and sets its severity.
        let (o2, cfg) = o
            .edit(
                &base(),
                Edit::PutRule(
                    "auth_attempt".into(),
                    map(&[("enabled", "true"), ("severity", "medium")]),
                ),
            )
            .unwrap();
        assert!(cfg.builtin.enabled.contains(&"auth_attempt".to_owned()));
        assert!(!cfg.builtin.disabled.contains(&"auth_attempt".to_owned()));
        assert_eq!(
            cfg.builtin.severity["auth_attempt"],
            crate::alert::Severity::Medium
        );
        for (k, v) in [
            ("severity", "loud"),
            ("enabled", "maybe"),
            ("services", "ssh"),
        ] {
            let Err(EditError::Invalid(ConfigErrors(errs))) = o2.edit(
                &base(),
                Edit::PutRule("auth_attempt".into(), map(&[(k, v)])),
            ) else {
                panic!("{k} = {v} accepted")
            };
            assert!(errs.iter().all(|e| e.section == "alerts.rule.auth_attempt" && e.key.as_deref() == Some(k)), "{errs:?}");
        }
        // An invalid custom rule names its key.
        let Err(EditError::Invalid(ConfigErrors(errs))) = o2.edit(
            &base(),
            Edit::PutRule("x".into(), map(&[("severity", "loud")])),
        ) else {
            panic!()
        };
        assert!(
            errs.iter().any(|e| e.key.as_deref() == Some("severity")),
            "{errs:?}"
        );
    }

    #[test]
    fn json_bodies_become_sections() {
        let body = serde_json::json!({"kinds": ["command", "file_upload"], "count": 3, "enabled": true, "title": "t"});
        let m = section_from_json("alerts.rule.x", body.as_object().unwrap()).unwrap();
        assert_eq!(m["kinds"], "command, file_upload");
        assert_eq!((m["count"].as_str(), m["enabled"].as_str()), ("3", "true"));
        let bad = serde_json::json!({"title": {"a": 1}, "x": "two\nlines"});
        let e = section_from_json("alerts.rule.x", bad.as_object().unwrap()).unwrap_err();
        assert_eq!(e.0.len(), 2);
    }
}
