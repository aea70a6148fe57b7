//! ATT&CK Navigator layers (layer format 4.5) from observed techniques: one
//! layer per domain, scored by how often each technique was seen.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use crate::catalogue::{technique_url, Catalogue, Domain};

/// Layer format version written.
pub const LAYER_VERSION: &str = "4.5";
/// Navigator version the layers are written for.
pub const NAVIGATOR_VERSION: &str = "5.1.0";

/// What was observed of one technique over the exported range.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TechniqueStat {
    /// `T1110.001`.
    pub technique_id: String,
    /// Tags seen.
    pub count: u64,
    /// First tag.
    pub first_seen: DateTime<Utc>,
    /// Last tag.
    pub last_seen: DateTime<Utc>,
    /// Highest rule confidence among the tags (0–100).
    pub max_confidence: u8,
    /// Free text shown in the Navigator (e.g. the rules that fired).
    pub comment: Option<String>,
}

/// Name and description of a layer.
#[derive(Clone, Debug)]
pub struct LayerInfo {
    /// Layer name (`decnet: attacker 198.51.100.7`).
    pub name: String,
    /// Free text (what and which time range).
    pub description: String,
}

/// The layer of `domain` for `stats` (techniques of other domains and ids
/// not in the catalogue are left out). Sub-techniques get their parent
/// listed with `showSubtechniques` so the Navigator opens them.
pub fn layer(
    info: &LayerInfo,
    domain: Domain,
    stats: &[TechniqueStat],
    catalogue: &Catalogue,
) -> Value {
    let mut entries: BTreeMap<String, Value> = BTreeMap::new();
    let mut max = 0u64;
    for s in stats {
        let Some(t) = catalogue.technique(&s.technique_id) else {
            continue;
        };
        if t.domain != domain {
            continue;
        }
        max = max.max(s.count);
        let mut comment = format!(
            "seen {} time{}, {} – {}, confidence up to {}",
            s.count,
            if s.count == 1 { "" } else { "s" },
            s.first_seen.format("%Y-%m-%d %H:%M:%SZ"),
            s.last_seen.format("%Y-%m-%d %H:%M:%SZ"),
            s.max_confidence
        );
        if let Some(c) = &s.comment {
            comment.push_str("; ");
            comment.push_str(c);
        }
        entries.insert(
            t.id.clone(),
            json!({
                "techniqueID": t.id,
                "score": s.count,
                "comment": comment,
                "enabled": true,
                "metadata": [
                    {"name": "count", "value": s.count.to_string()},
                    {"name": "first_seen", "value": s.first_seen.to_rfc3339()},
                    {"name": "last_seen", "value": s.last_seen.to_rfc3339()},
                    {"name": "max_confidence", "value": s.max_confidence.to_string()},
                ],
                "links": [{"label": "ATT&CK", "url": technique_url(&t.id)}],
                "showSubtechniques": false,
            }),
        );
    }
    let parents: Vec<String> = entries
        .keys()
        .filter_map(|id| id.split_once('.').map(|(p, _)| p.to_owned()))
        .collect();
    for p in parents {
        entries
            .entry(p.clone())
            .or_insert_with(|| json!({"techniqueID": p, "enabled": true}))["showSubtechniques"] =
            Value::Bool(true);
    }
    let major = catalogue
        .version()
        .split('.')
        .next()
        .unwrap_or(catalogue.version());
    json!({
        "name": info.name,
        "versions": {"attack": major, "navigator": NAVIGATOR_VERSION, "layer": LAYER_VERSION},
        "domain": domain.as_str(),
        "description": info.description,
        "sorting": 3,
        "layout": {
            "layout": "side",
            "showID": true,
            "showName": true,
            "showAggregateScores": true,
            "countUnscored": false,
            "aggregateFunction": "max",
            "expandedSubtechniques": "annotated",
        },
        "hideDisabled": false,
        "techniques": entries.into_values().collect::<Vec<_>>(),
        "gradient": {"colors": ["#fff3b0", "#ff6666"], "minValue": 0, "maxValue": max.max(1)},
        "legendItems": [
            {"label": "seen once", "color": "#fff3b0"},
            {"label": format!("seen {} times", max.max(1)), "color": "#ff6666"},
        ],
        "showTacticRowBackground": false,
        "tacticRowBackground": "#dddddd",
        "selectTechniquesAcrossTactics": true,
        "selectSubtechniquesWithParent": false,
        "selectVisibleTechniques": false,
        "metadata": [{"name": "generator", "value": "decnet"}],
    })
}

/// One layer per domain that has observed techniques (Enterprise first).
pub fn layers(
    info: &LayerInfo,
    stats: &[TechniqueStat],
    catalogue: &Catalogue,
) -> Vec<(Domain, Value)> {
    [Domain::Enterprise, Domain::Ics]
        .into_iter()
        .filter(|d| {
            stats.iter().any(|s| {
                catalogue
                    .technique(&s.technique_id)
                    .is_some_and(|t| t.domain == *d)
            })
        })
        .map(|d| (d, layer(info, d, stats, catalogue)))
        .collect()
}
