//! `command_executed`: a command line run on a decky (shell, SQL, redis…).

use super::{place, BuiltinRule, Hit};
use crate::alert::{Severity, Stage};
use crate::signal::{Family, Signal};

/// See the module doc.
pub struct CommandExecuted;

impl BuiltinRule for CommandExecuted {
    fn id(&self) -> &'static str {
        "command_executed"
    }
    fn description(&self) -> &'static str {
        "A command executed on any decky"
    }
    fn default_severity(&self) -> Severity {
        Severity::High
    }
    fn evaluate(&self, s: &Signal<'_>) -> Option<Hit> {
        if s.family() != Family::Event || s.kind() != "command" {
            return None;
        }
        Some(
            Hit::on(
                self.id(),
                self.default_severity(),
                s,
                format!("Command run on {}", place(s)),
            )
            .stage(Stage::Command)
            .event_facts(s)
            .field_fact(s, "user", "user")
            .field_fact(s, "command", "command")
            .summary("An attacker is running commands on a decoy.".into()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::event;
    use decnet_core::EventKind;
    use serde_json::json;

    #[test]
    fn commands_match() {
        let env = event(
            "ssh",
            EventKind::Command,
            json!({"command": "uname -a", "user": "root"}),
        );
        let h = CommandExecuted.evaluate(&Signal::new(&env)).unwrap();
        assert_eq!(h.stage, Some(Stage::Command));
        assert!(h
            .facts
            .iter()
            .any(|f| f.name == "command" && f.value == "uname -a"));
        let env = event("ssh", EventKind::Request, json!({}));
        assert!(CommandExecuted.evaluate(&Signal::new(&env)).is_none());
    }
}
