//! `interactive`: someone used a shell or a service's command interface.

use super::{Measures, Rule};

/// Real commands (probe text excluded) that make a session interactive.
/// One command is what `ssh host cmd` or a bot's single `uname -a` check
/// leaves; a person at a shell, redis-cli or an SMTP dialogue issues
/// several, and so does a post-login bot script — both worked the decky.
pub const MIN_COMMANDS: u64 = 2;

/// The rule.
pub struct Interactive;

impl Rule for Interactive {
    fn name(&self) -> &'static str {
        "interactive"
    }

    fn check(&self, m: &Measures) -> Option<(&'static str, String)> {
        (m.commands >= MIN_COMMANDS).then(|| {
            (
                "interactive",
                format!("commands={} >= {MIN_COMMANDS}", m.commands),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_real_commands_are_interactive_one_is_not() {
        let mut m = Measures {
            commands: 1,
            ..Default::default()
        };
        assert!(Interactive.check(&m).is_none());
        m.commands = 2;
        assert_eq!(Interactive.check(&m).unwrap().0, "interactive");
    }
}
