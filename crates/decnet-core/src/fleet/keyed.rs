//! Sections the fleet parser does not interpret itself but hands over as
//! key/value maps to the crate that owns their keys (`[alerts]`,
//! `[alerts.*]`, `[siem.*]` → decnet-alerts), keeping where each key was
//! written so that crate's errors can still be reported as `FILE:LINE`.

use std::collections::BTreeMap;

/// True for the sections handed over to the alerts crate. Kept here (and
/// not imported from it) because decnet-core sits below every other crate.
pub fn is_alerts_section(name: &str) -> bool {
    name == "alerts" || name.starts_with("alerts.") || name.starts_with("siem.")
}

/// Whole sections as key/value maps, with their lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyedSections {
    maps: BTreeMap<String, BTreeMap<String, String>>,
    lines: BTreeMap<String, (usize, BTreeMap<String, usize>)>,
}

impl KeyedSections {
    /// Adds section `name` (header on `line`) with its `(key, value, line)` entries.
    pub fn insert(&mut self, name: &str, line: usize, entries: &[(String, String, usize)]) {
        self.maps.insert(
            name.to_owned(),
            entries
                .iter()
                .map(|(k, v, _)| (k.clone(), v.clone()))
                .collect(),
        );
        self.lines.insert(
            name.to_owned(),
            (
                line,
                entries.iter().map(|(k, _, l)| (k.clone(), *l)).collect(),
            ),
        );
    }

    /// Section name → its key/value map.
    pub fn maps(&self) -> &BTreeMap<String, BTreeMap<String, String>> {
        &self.maps
    }

    /// True when no section was handed over.
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    /// The line of `key` in `section`, else of the section's header, else 1
    /// (a problem about a section that is not in the file, e.g. a missing
    /// required section).
    pub fn line_of(&self, section: &str, key: Option<&str>) -> usize {
        match self.lines.get(section) {
            Some((header, keys)) => key.and_then(|k| keys.get(k)).copied().unwrap_or(*header),
            None => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_keys_fall_back_to_the_header_then_to_line_one() {
        let mut s = KeyedSections::default();
        s.insert("alerts.slack", 7, &[("url".into(), "https://x".into(), 8)]);
        assert_eq!(s.line_of("alerts.slack", Some("url")), 8);
        assert_eq!(s.line_of("alerts.slack", Some("type")), 7);
        assert_eq!(s.line_of("alerts.slack", None), 7);
        assert_eq!(s.line_of("alerts", None), 1);
        assert_eq!(s.maps()["alerts.slack"]["url"], "https://x");
    }

    #[test]
    fn only_alerts_and_siem_sections_are_handed_over() {
        assert!(is_alerts_section("alerts"));
        assert!(is_alerts_section("alerts.rule.x"));
        assert!(is_alerts_section("siem.elk"));
        assert!(!is_alerts_section("alertsbox"));
        assert!(!is_alerts_section("web1.http"));
    }

    #[test]
    fn the_fleet_parser_hands_alerts_sections_over_instead_of_taking_them_for_deckies() {
        let ini = "[general]\nnet = 127.0.50.0/24\n\n[web1]\nservices = http\n\n[alerts]\nwindow = 1m\n\n[alerts.ops]\ntype = webhook\nurl = https://hooks.example/t0ken\n\n[siem.elk]\nformat = ecs\n";
        let (fleet, _) = crate::fleet::parse_str(ini).expect("valid fleet");
        assert_eq!(fleet.deckies.len(), 1);
        let names: Vec<&str> = fleet.alerts.maps().keys().map(String::as_str).collect();
        assert_eq!(names, ["alerts", "alerts.ops", "siem.elk"]);
        assert_eq!(fleet.alerts.line_of("alerts.ops", Some("url")), 12);
        let json = serde_json::to_string(&fleet).unwrap();
        assert!(!json.contains("t0ken"), "secrets never serialised: {json}");
    }
}
