//! Navigator layers validate against the layer 4.5 format (the schema in
//! tests/data is transcribed from MITRE's layerformat.md).
#![allow(clippy::unwrap_used)]

use chrono::{TimeZone, Utc};
use decnet_attack::navigator::{layer, layers, LayerInfo, TechniqueStat};
use decnet_attack::{Catalogue, Domain};
use serde_json::Value;

fn schema() -> jsonschema::Validator {
    let schema: Value =
        serde_json::from_str(include_str!("data/navigator_layer_v4_5.schema.json")).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn stat(id: &str, count: u64) -> TechniqueStat {
    let t = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    TechniqueStat {
        technique_id: id.into(),
        count,
        first_seen: t,
        last_seen: t,
        max_confidence: 80,
        comment: Some("rule x".into()),
    }
}

fn info() -> LayerInfo {
    LayerInfo {
        name: "decnet: fleet".into(),
        description: "2026-03-01".into(),
    }
}

#[test]
fn enterprise_and_ics_layers_validate() {
    let v = schema();
    let stats = [
        stat("T1110.001", 40),
        stat("T1046", 3),
        stat("T1059.004", 9),
        stat("T0855", 2),
        stat("T9999", 1),
    ];
    let all = layers(&info(), &stats, Catalogue::builtin());
    assert_eq!(
        all.iter().map(|(d, _)| *d).collect::<Vec<_>>(),
        vec![Domain::Enterprise, Domain::Ics]
    );
    for (_, l) in &all {
        let errors: Vec<String> = v
            .iter_errors(l)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}\n{l:#}");
    }
    let ent = &all[0].1;
    let ids: Vec<&str> = ent["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["techniqueID"].as_str().unwrap())
        .collect();
    // The parents of sub-techniques are listed so the Navigator expands them.
    assert_eq!(
        ids,
        vec!["T1046", "T1059", "T1059.004", "T1110", "T1110.001"]
    );
    let t1110 = &ent["techniques"][3];
    assert_eq!(t1110["showSubtechniques"], true);
    assert_eq!(ent["gradient"]["maxValue"], 40);
    assert_eq!(ent["versions"]["attack"], "18");
    assert_eq!(all[1].1["domain"], "ics-attack");
    assert_eq!(all[1].1["techniques"][0]["score"], 2);
}

#[test]
fn the_schema_rejects_what_the_navigator_would() {
    let v = schema();
    let good = layer(
        &info(),
        Domain::Enterprise,
        &[stat("T1046", 1)],
        Catalogue::builtin(),
    );
    assert!(v.is_valid(&good));
    let mut bad = good.clone();
    bad["domain"] = "mitre-enterprise".into();
    assert!(!v.is_valid(&bad));
    let mut bad = good.clone();
    bad["techniques"][0]["techniqueID"] = "1046".into();
    assert!(!v.is_valid(&bad));
    let mut bad = good.clone();
    bad["versions"]["layer"] = "4.4".into();
    assert!(!v.is_valid(&bad));
    let mut bad = good;
    bad["gradient"]["colors"] = serde_json::json!(["#ff0000"]);
    assert!(!v.is_valid(&bad));
}
