//! `decnet validate-rules DIR` and the `[attack]` part of `decnet validate`
//! through the real binary: exit codes and FILE:LINE: messages.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_decnet"))
}

const GOOD: &str = r#"[[rule]]
id = "test.uname"
name = "System information discovery"
techniques = ["T1082"]
confidence = 80
kind = "command"
command = '^uname\b'
[[rule.example]]
command = "uname -a"
"#;

#[test]
fn validate_rules_exit_codes_and_messages() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("a.toml"), GOOD).unwrap();
    let out = bin().arg("validate-rules").arg(&rules).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK — 1 rules"));

    // An unknown technique (line 4) and an example that does not fire (line 9).
    std::fs::write(
        rules.join("b.toml"),
        GOOD.replace("test.uname", "test.b")
            .replace("T1082", "T9999")
            .replace("uname -a", "ls"),
    )
    .unwrap();
    let out = bin().arg("validate-rules").arg(&rules).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let b = rules.join("b.toml").display().to_string();
    assert!(
        err.lines()
            .any(|l| l.starts_with(&format!("{b}:4: ")) && l.contains("T9999")),
        "{err}"
    );
    assert!(
        !err.contains("a.toml"),
        "only the bad file is reported: {err}"
    );

    let out = bin()
        .arg("validate-rules")
        .arg(dir.path().join("missing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    // `validate` checks the rules a fleet uses (`rules_dir` relative to the fleet file).
    let fleet = dir.path().join("fleet.ini");
    std::fs::write(
        &fleet,
        "[general]\nnet = 127.0.66.0/24\n[attack]\nrules_dir = rules\n[a]\nservices = ssh\n",
    )
    .unwrap();
    let out = bin().arg("validate").arg(&fleet).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("{b}:4: ")));
    std::fs::remove_file(rules.join("b.toml")).unwrap();
    let out = bin().arg("validate").arg(&fleet).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 ATT&CK rules"));
}
