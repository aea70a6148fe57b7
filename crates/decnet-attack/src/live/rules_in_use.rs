//! The rule set a running server tags with: the embedded rules or a
//! directory (`[attack] rules_dir`), reloadable without a restart (SIGHUP,
//! `POST /api/v1/attack/rules/reload`). A reload that does not validate
//! keeps the set in use and returns every error.

use std::path::{Path, PathBuf};

use crate::rules::{ReloadOutcome, RuleError, RuleHandle, RuleSet};

/// Where the rules come from, and the live handle every tagger reads.
#[derive(Clone, Debug)]
pub struct RulesInUse {
    handle: RuleHandle,
    dir: Option<PathBuf>,
}

impl RulesInUse {
    /// The embedded rules.
    pub fn builtin() -> RulesInUse {
        RulesInUse {
            handle: RuleHandle::builtin(),
            dir: None,
        }
    }

    /// The rules of `dir`, or every error found in them.
    pub fn from_dir(dir: &Path) -> Result<RulesInUse, Vec<RuleError>> {
        Ok(RulesInUse {
            handle: RuleSet::from_dir(dir)?.into(),
            dir: Some(dir.to_path_buf()),
        })
    }

    /// `dir` when given, else the embedded rules.
    pub fn load(dir: Option<&Path>) -> Result<RulesInUse, Vec<RuleError>> {
        match dir {
            Some(d) => RulesInUse::from_dir(d),
            None => Ok(RulesInUse::builtin()),
        }
    }

    /// The handle taggers read (clones share the slot).
    pub fn handle(&self) -> &RuleHandle {
        &self.handle
    }

    /// The rule directory, `None` for the embedded rules.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Re-reads the rule directory (the embedded rules when there is none);
    /// installs the new set only when every file validates.
    pub fn reload(&self) -> Result<ReloadOutcome, Vec<RuleError>> {
        match &self.dir {
            Some(d) => self.handle.reload_dir(d),
            None => Ok(self.handle.replace(RuleSet::builtin())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[rule]]
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
    fn bad_reload_keeps_the_rules_in_use() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), GOOD).unwrap();
        let rules = RulesInUse::from_dir(dir.path()).unwrap();
        assert_eq!(rules.handle().current().rules().len(), 1);
        let before = rules.handle().current().generation();
        std::fs::write(
            dir.path().join("b.toml"),
            GOOD.replace("test.uname", "test.other")
                .replace("T1082", "T9999"),
        )
        .unwrap();
        let errors = rules.reload().unwrap_err();
        assert!(
            errors
                .iter()
                .any(|e| e.file.ends_with("b.toml") && e.message.contains("T9999")),
            "{errors:?}"
        );
        assert_eq!(
            rules.handle().current().generation(),
            before,
            "old set kept"
        );
        std::fs::write(
            dir.path().join("b.toml"),
            GOOD.replace("test.uname", "test.other"),
        )
        .unwrap();
        let ok = rules.reload().unwrap();
        assert_eq!(ok.rules, 2);
        assert_ne!(rules.handle().current().generation(), before);
    }
}
