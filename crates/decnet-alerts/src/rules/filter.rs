//! The event filter of a custom rule: every given condition must hold
//! (an empty list is no condition); within a list any item may match.

use ipnet::IpNet;
use regex::Regex;

use crate::signal::{value_text, Signal};

/// How a field is compared.
#[derive(Clone, Debug)]
pub enum FieldOp {
    /// The field's text equals this.
    Equals(String),
    /// The field's text matches this regex (`~…` in config).
    Regex(Regex),
    /// The field is present and not null (`*` in config).
    Exists,
}

/// One `field.<path> = …` condition.
#[derive(Clone, Debug)]
pub struct FieldMatch {
    /// Field name or dotted path.
    pub path: String,
    /// Comparison.
    pub op: FieldOp,
}

impl FieldMatch {
    /// Parses a config value: `~regex`, `*`, or a literal.
    pub fn parse(path: &str, value: &str) -> Result<FieldMatch, String> {
        let op = if let Some(re) = value.strip_prefix('~') {
            FieldOp::Regex(
                regex::RegexBuilder::new(re)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| format!("bad regex: {e}"))?,
            )
        } else if value == "*" {
            FieldOp::Exists
        } else {
            FieldOp::Equals(value.to_owned())
        };
        Ok(FieldMatch {
            path: path.to_owned(),
            op,
        })
    }

    fn matches(&self, s: &Signal<'_>) -> bool {
        let Some(v) = s.field(&self.path).filter(|v| !v.is_null()) else {
            return false;
        };
        match &self.op {
            FieldOp::Exists => true,
            FieldOp::Equals(want) => value_text(v) == want.as_str(),
            FieldOp::Regex(re) => re.is_match(&value_text(v)),
        }
    }
}

/// A custom rule's conditions.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Event kinds or message types (`command`, `formed`, `ban`).
    pub kinds: Vec<String>,
    /// Services.
    pub services: Vec<String>,
    /// Deckies: exact names, or a prefix ending in `*`.
    pub deckies: Vec<String>,
    /// Bus subject patterns (`events.>`, `identity.*`).
    pub subjects: Vec<String>,
    /// Technique ids; `T1059` also matches sub-techniques `T1059.004`.
    pub techniques: Vec<String>,
    /// Source address within one of these.
    pub sources: Vec<IpNet>,
    /// Field conditions.
    pub fields: Vec<FieldMatch>,
}

fn any_or_empty<T>(list: &[T], f: impl Fn(&T) -> bool) -> bool {
    list.is_empty() || list.iter().any(f)
}

impl Filter {
    /// True when the signal meets every condition.
    pub fn matches(&self, s: &Signal<'_>) -> bool {
        any_or_empty(&self.kinds, |k| k == s.kind())
            && any_or_empty(&self.services, |w| s.service() == Some(w.as_str()))
            && any_or_empty(&self.deckies, |w| {
                let Some(d) = s.decky() else { return false };
                match w.strip_suffix('*') {
                    Some(prefix) => d.starts_with(prefix),
                    None => d == w,
                }
            })
            && any_or_empty(&self.subjects, |p| {
                decnet_core::subject::matches(p, s.topic())
            })
            && any_or_empty(&self.sources, |n| {
                s.src_ip().is_some_and(|ip| n.contains(&ip))
            })
            && (self.techniques.is_empty() || {
                let have = s.techniques();
                self.techniques.iter().any(|want| {
                    have.iter().any(|t| {
                        *t == want
                            || t.strip_prefix(want.as_str())
                                .is_some_and(|rest| rest.starts_with('.'))
                    })
                })
            })
            && self.fields.iter().all(|f| f.matches(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::event;
    use decnet_core::EventKind;
    use serde_json::json;

    #[test]
    fn conditions_combine() {
        let env = event(
            "redis",
            EventKind::Command,
            json!({"command": "CONFIG SET dir /root/.ssh", "techniques": ["T1098.004"], "argc": 4}),
        );
        let s = Signal::new(&env);
        let mut f = Filter {
            kinds: vec!["command".into()],
            services: vec!["redis".into(), "ssh".into()],
            deckies: vec!["web*".into()],
            subjects: vec!["events.>".into()],
            techniques: vec!["T1098".into()],
            sources: vec!["203.0.113.0/24".parse().unwrap()],
            fields: vec![
                FieldMatch::parse("command", "~(?i)^config set dir").unwrap(),
                FieldMatch::parse("argc", "4").unwrap(),
                FieldMatch::parse("techniques", "*").unwrap(),
            ],
        };
        assert!(f.matches(&s));
        f.techniques = vec!["T1098.00".into()];
        assert!(!f.matches(&s), "a prefix must end at a dot");
        f.techniques.clear();
        f.deckies = vec!["web".into()];
        assert!(!f.matches(&s));
        f.deckies.clear();
        f.fields.push(FieldMatch::parse("missing", "*").unwrap());
        assert!(!f.matches(&s));
        assert!(Filter::default().matches(&s));
        assert!(FieldMatch::parse("x", "~(unclosed").is_err());
    }
}
