use super::*;

fn errors_of(files: &[(&str, &str)]) -> Vec<String> {
    match RuleSet::compile(files.iter().copied()) {
        Ok(_) => Vec::new(),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

const GOOD: &str = r#"
[[rule]]
id = "t.uname"
name = "uname"
techniques = ["T1082"]
confidence = 70
kind = "command"
command = '\buname\b'

  [[rule.example]]
  command = "uname -a"
"#;

#[test]
fn builtin_rules_compile_and_cover_the_required_techniques() {
    let set = RuleSet::builtin();
    assert!(set.rules().len() >= 60, "{} rules", set.rules().len());
    let ids = set.techniques();
    for t in [
        "T1595.001",
        "T1046",
        "T1110.001",
        "T1110.003",
        "T1110.004",
        "T1078",
        "T1021.004",
        "T1021.001",
        "T1021.002",
        "T1021.005",
        "T1190",
        "T1059.004",
        "T1059.003",
        "T1082",
        "T1033",
        "T1087.001",
        "T1016",
        "T1049",
        "T1057",
        "T1083",
        "T1518",
        "T1105",
        "T1222.002",
        "T1053.003",
        "T1098.004",
        "T1543.002",
        "T1552.001",
        "T1496.001",
        "T1070.003",
        "T1027",
        "T0855",
        "T0836",
    ] {
        assert!(ids.contains(&t), "no rule yields {t}");
    }
    let kinds = |want: fn(&RuleBody) -> bool| set.rules().iter().filter(|r| want(&r.body)).count();
    assert!(kinds(|b| matches!(b, RuleBody::Sequence(_))) >= 3);
    assert!(kinds(|b| matches!(b, RuleBody::Aggregate(_))) >= 5);
}

#[test]
fn every_rule_file_in_the_directory_is_embedded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    on_disk.sort();
    let embedded: Vec<String> = embedded::FILES.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(on_disk, embedded);
    // And the directory validates the same way `decnet validate-rules` would.
    assert_eq!(validate_dir(&dir), Vec::new());
}

#[test]
fn a_good_rule_compiles() {
    let set = RuleSet::compile([("a.toml", GOOD)]).unwrap();
    assert_eq!(set.rules().len(), 1);
    assert_eq!(set.rules()[0].line, 2);
    assert_eq!(set.candidates(decnet_core::EventKind::Command), &[0]);
    assert!(set.candidates(decnet_core::EventKind::Connect).is_empty());
}

#[test]
fn semantic_errors_name_file_and_line() {
    let bad = r#"
[[rule]]
id = "t.bad"
name = "bad"
techniques = ["T1082", "T9999", "T1064"]
confidence = 170
kind = "comand"
command = '(unclosed'

  [[rule.example]]
  command = "x"
"#;
    let errs = errors_of(&[("bad.toml", bad)]);
    let want = [
        "bad.toml:5: unknown technique T9999",
        "bad.toml:5: technique T1064 is deprecated",
        "bad.toml:6: confidence 170 is outside 0–100",
        "bad.toml:7: unknown event kind \"comand\"",
        "bad.toml:8: invalid regex",
    ];
    for w in want {
        assert!(
            errs.iter().any(|e| e.starts_with(w)),
            "missing {w:?} in {errs:#?}"
        );
    }
}

#[test]
fn revoked_technique_names_its_replacement() {
    let text = GOOD.replace("T1082", "T1086");
    let errs = errors_of(&[("r.toml", &text)]);
    assert!(
        errs.iter()
            .any(|e| e.contains("T1086 is revoked") && e.contains("use T1059.001")),
        "{errs:?}"
    );
}

#[test]
fn toml_and_unknown_keys_are_reported_at_their_line() {
    let typo = GOOD.replace("confidence = 70", "confidence = 70\nconfidense = 3");
    let errs = errors_of(&[("t.toml", &typo)]);
    assert!(
        errs[0].starts_with("t.toml:7: unknown field `confidense`"),
        "{errs:?}"
    );
    let broken = "[[rule]]\nid = \"x\"\nname = \n";
    let errs = errors_of(&[("b.toml", broken)]);
    assert!(errs[0].starts_with("b.toml:3:"), "{errs:?}");
}

#[test]
fn failing_examples_are_errors_at_the_example_line() {
    let text = format!("{GOOD}\n  [[rule.example]]\n  command = \"ls\"\n");
    let errs = errors_of(&[("e.toml", &text)]);
    assert_eq!(errs, vec!["e.toml:13: example does not fire rule t.uname"]);
    let text = format!("{GOOD}\n  [[rule.example]]\n  matches = false\n  command = \"uname\"\n");
    let errs = errors_of(&[("e.toml", &text)]);
    assert_eq!(
        errs,
        vec!["e.toml:13: example fires rule t.uname but says matches = false"]
    );
    let none = GOOD.replace("  [[rule.example]]\n  command = \"uname -a\"\n", "");
    assert!(errors_of(&[("n.toml", &none)])[0].contains("add at least one [[rule.example]]"));
}

#[test]
fn duplicate_ids_across_files() {
    let errs = errors_of(&[("a.toml", GOOD), ("b.toml", GOOD)]);
    assert_eq!(
        errs,
        vec!["b.toml:2: rule id t.uname is already defined at a.toml:2"]
    );
}

#[test]
fn type_specific_keys_are_checked() {
    let seq = r#"
[[rule]]
id = "s"
name = "s"
techniques = ["T1105"]
confidence = 50
type = "sequence"
kind = "command"
window = "5m"

  [[rule.step]]
  command = 'a'

  [[rule.example]]
  command = "a"
"#;
    let errs = errors_of(&[("s.toml", seq)]);
    for w in [
        "s.toml:8: `kind` of a sequence rule goes in each [[rule.step]]",
        "s.toml:9: `window` does not apply to sequence rules",
        "s.toml:2: a sequence rule needs max_gap",
    ] {
        assert!(
            errs.iter().any(|e| e.starts_with(w)),
            "missing {w:?} in {errs:#?}"
        );
    }
    let agg = r#"
[[rule]]
id = "a"
name = "a"
techniques = ["T1110"]
confidence = 50
type = "aggregate"
kind = "auth_attempt"
window = "48h"
having.repeats.username = { max = 2 }

  [[rule.example]]
  kind = "auth_attempt"
"#;
    let errs = errors_of(&[("a.toml", agg)]);
    assert!(
        errs.iter()
            .any(|e| e.starts_with("a.toml:9: durations are limited to 24h")),
        "{errs:#?}"
    );
}

#[test]
fn validate_dir_reads_toml_files_only_and_reports_paths() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ok.toml"), GOOD).unwrap();
    std::fs::write(dir.path().join("notes.md"), "not a rule").unwrap();
    assert!(validate_dir(dir.path()).is_empty());
    std::fs::write(dir.path().join("bad.toml"), GOOD.replace("T1082", "T0000")).unwrap();
    let errs = validate_dir(dir.path());
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].to_string().starts_with(&format!(
        "{}:5: unknown technique T0000",
        dir.path().join("bad.toml").display()
    )));
    let empty = tempfile::tempdir().unwrap();
    assert!(validate_dir(empty.path())[0].message.contains("no *.toml"));
}

#[test]
fn reload_swaps_atomically_and_keeps_the_old_set_on_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.toml"), GOOD).unwrap();
    let handle = RuleHandle::from(RuleSet::compile([("x.toml", GOOD)]).unwrap());
    let reader = handle.clone();
    let before = reader.current().generation();
    let outcome = handle.reload_dir(dir.path()).unwrap();
    assert_eq!(outcome.rules, 1);
    assert_ne!(reader.current().generation(), before);
    assert_eq!(reader.current().generation(), outcome.generation);
    std::fs::write(dir.path().join("a.toml"), "[[rule]]\nid = 3\n").unwrap();
    let errs = handle.reload_dir(dir.path()).unwrap_err();
    assert!(errs[0].to_string().contains("a.toml:2:"), "{errs:?}");
    assert_eq!(reader.current().generation(), outcome.generation);
}
