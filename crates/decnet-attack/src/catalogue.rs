//! The ATT&CK technique catalogue (Enterprise + ICS) shipped in the binary.
//!
//! `data/catalogue.json` is generated from MITRE's STIX data by
//! `tools/gen_catalogue.py`; it is parsed once, on first use.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

const EMBEDDED: &str = include_str!("../data/catalogue.json");

/// An ATT&CK matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Domain {
    /// ATT&CK for Enterprise.
    #[serde(rename = "enterprise-attack")]
    Enterprise,
    /// ATT&CK for ICS.
    #[serde(rename = "ics-attack")]
    Ics,
}

impl Domain {
    /// STIX/Navigator name (`enterprise-attack`, `ics-attack`).
    pub fn as_str(self) -> &'static str {
        match self {
            Domain::Enterprise => "enterprise-attack",
            Domain::Ics => "ics-attack",
        }
    }

    /// `kill_chain_name` of this domain's tactics in STIX.
    pub fn kill_chain_name(self) -> &'static str {
        match self {
            Domain::Enterprise => "mitre-attack",
            Domain::Ics => "mitre-ics-attack",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "enterprise-attack" => Some(Domain::Enterprise),
            "ics-attack" => Some(Domain::Ics),
            _ => None,
        }
    }
}

/// Whether a technique is still current.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "replaced_by")]
pub enum Status {
    /// In the current release.
    Current,
    /// Deprecated without replacement.
    Deprecated,
    /// Revoked; the replacing technique when ATT&CK names one.
    Revoked(Option<String>),
}

/// One ATT&CK tactic.
#[derive(Clone, Debug, Serialize)]
pub struct Tactic {
    /// `TA0006`.
    pub id: String,
    /// `credential-access` (the kill-chain phase name).
    pub shortname: String,
    /// `Credential Access`.
    pub name: String,
    /// Matrix it belongs to.
    pub domain: Domain,
}

/// One technique or sub-technique.
#[derive(Clone, Debug, Serialize)]
pub struct Technique {
    /// `T1110.001`.
    pub id: String,
    /// `Password Guessing`.
    pub name: String,
    /// Matrix it belongs to.
    pub domain: Domain,
    /// Tactic shortnames (`credential-access`).
    pub tactics: Vec<String>,
    /// Platforms as ATT&CK lists them (empty for ICS).
    pub platforms: Vec<String>,
    /// Current, deprecated or revoked.
    #[serde(flatten)]
    pub status: Status,
}

impl Technique {
    /// The parent technique id of a sub-technique (`T1110` for `T1110.001`).
    pub fn parent_id(&self) -> Option<&str> {
        self.id.split_once('.').map(|(p, _)| p)
    }

    /// Whether this is a sub-technique.
    pub fn is_subtechnique(&self) -> bool {
        self.id.contains('.')
    }

    /// The technique's page on attack.mitre.org.
    pub fn url(&self) -> String {
        technique_url(&self.id)
    }

    /// `Name` for techniques, `Parent: Name` for sub-techniques (how ATT&CK titles them).
    pub fn full_name(&self, catalogue: &Catalogue) -> String {
        match self.parent_id().and_then(|p| catalogue.technique(p)) {
            Some(parent) => format!("{}: {}", parent.name, self.name),
            None => self.name.clone(),
        }
    }
}

/// The page of technique `id` on attack.mitre.org.
pub fn technique_url(id: &str) -> String {
    format!(
        "https://attack.mitre.org/techniques/{}/",
        id.replace('.', "/")
    )
}

/// Errors reading a catalogue document.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// Not the expected JSON shape.
    #[error("catalogue JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A row names a domain we do not know.
    #[error("catalogue row {0}: unknown domain {1:?}")]
    Domain(String, String),
}

/// Every technique and tactic of one ATT&CK release.
#[derive(Debug)]
pub struct Catalogue {
    version: String,
    tactics: Vec<Tactic>,
    techniques: Vec<Technique>,
    by_id: HashMap<String, usize>,
}

#[derive(Deserialize)]
struct Raw {
    attack_version: String,
    tactics: Vec<(String, String, String, String)>,
    techniques: Vec<(String, String, String, String, String, String)>,
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Catalogue {
    /// The catalogue compiled into the binary.
    pub fn builtin() -> &'static Catalogue {
        static BUILTIN: LazyLock<Catalogue> = LazyLock::new(|| {
            Catalogue::parse(EMBEDDED).expect("embedded ATT&CK catalogue is valid")
        });
        &BUILTIN
    }

    /// Reads a document in the `gen_catalogue.py` format.
    pub fn parse(json: &str) -> Result<Catalogue, CatalogueError> {
        let raw: Raw = serde_json::from_str(json)?;
        let domain = |id: &str, d: &str| {
            Domain::parse(d).ok_or_else(|| CatalogueError::Domain(id.to_owned(), d.to_owned()))
        };
        let tactics = raw
            .tactics
            .into_iter()
            .map(|(d, id, shortname, name)| {
                Ok(Tactic {
                    domain: domain(&id, &d)?,
                    id,
                    shortname,
                    name,
                })
            })
            .collect::<Result<Vec<_>, CatalogueError>>()?;
        let techniques = raw
            .techniques
            .into_iter()
            .map(|(id, name, d, tactics, platforms, status)| {
                let status = match status.as_str() {
                    "" => Status::Current,
                    "deprecated" => Status::Deprecated,
                    s => Status::Revoked(s.strip_prefix("revoked:").map(str::to_owned)),
                };
                Ok(Technique {
                    domain: domain(&id, &d)?,
                    id,
                    name,
                    tactics: split_list(&tactics),
                    platforms: split_list(&platforms),
                    status,
                })
            })
            .collect::<Result<Vec<_>, CatalogueError>>()?;
        let by_id = techniques
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.clone(), i))
            .collect();
        Ok(Catalogue {
            version: raw.attack_version,
            tactics,
            techniques,
            by_id,
        })
    }

    /// The ATT&CK release (`18.1`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// A technique by id, whatever its status.
    pub fn technique(&self, id: &str) -> Option<&Technique> {
        self.by_id.get(id).map(|&i| &self.techniques[i])
    }

    /// Every technique, ordered by id.
    pub fn techniques(&self) -> &[Technique] {
        &self.techniques
    }

    /// A domain's tactics in matrix order (left to right).
    pub fn tactics(&self, domain: Domain) -> impl Iterator<Item = &Tactic> {
        self.tactics.iter().filter(move |t| t.domain == domain)
    }

    /// A tactic by shortname within a domain.
    pub fn tactic(&self, domain: Domain, shortname: &str) -> Option<&Tactic> {
        self.tactics(domain).find(|t| t.shortname == shortname)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_enterprise_and_ics_with_tactics() {
        let c = Catalogue::builtin();
        assert!(c.version().starts_with("18"), "{}", c.version());
        let t = c.technique("T1110.001").unwrap();
        assert_eq!(t.name, "Password Guessing");
        assert_eq!(t.domain, Domain::Enterprise);
        assert_eq!(t.tactics, vec!["credential-access"]);
        assert!(t.platforms.iter().any(|p| p == "Linux"));
        assert_eq!(t.parent_id(), Some("T1110"));
        assert_eq!(t.full_name(c), "Brute Force: Password Guessing");
        assert_eq!(t.url(), "https://attack.mitre.org/techniques/T1110/001/");
        let ics = c.technique("T0855").unwrap();
        assert_eq!(ics.domain, Domain::Ics);
        assert_eq!(ics.name, "Unauthorized Command Message");
        assert!(c.technique("T9999").is_none());
        assert_eq!(c.tactics(Domain::Enterprise).count(), 14);
        assert_eq!(
            c.tactics(Domain::Enterprise).next().unwrap().shortname,
            "reconnaissance"
        );
        assert_eq!(
            c.tactic(Domain::Ics, "impair-process-control").unwrap().id,
            "TA0106"
        );
    }

    #[test]
    fn revoked_and_deprecated_are_flagged() {
        let c = Catalogue::builtin();
        assert_eq!(c.technique("T1064").unwrap().status, Status::Deprecated);
        let revoked = c
            .techniques()
            .iter()
            .filter(|t| matches!(t.status, Status::Revoked(Some(_))))
            .count();
        assert!(revoked > 50, "{revoked}");
        let live = c
            .techniques()
            .iter()
            .filter(|t| t.status == Status::Current)
            .count();
        assert!(live > 700, "{live}");
    }

    #[test]
    fn rejects_unknown_domain() {
        let doc = r#"{"attack_version":"1","tactics":[],"techniques":[["T1","x","mobile-attack","","",""]]}"#;
        assert!(matches!(
            Catalogue::parse(doc),
            Err(CatalogueError::Domain(..))
        ));
    }
}
