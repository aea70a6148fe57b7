//! The live rule set: read by the tagger on every event, swapped atomically
//! by a reload. A reload that does not validate keeps the old set.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::{RuleError, RuleSet};

/// Shared, atomically replaceable rule set. Clones share the same slot.
#[derive(Clone, Debug)]
pub struct RuleHandle {
    slot: Arc<ArcSwap<RuleSet>>,
}

/// What a successful reload installed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ReloadOutcome {
    /// Rules now active.
    pub rules: usize,
    /// Generation of the new set.
    pub generation: u64,
}

impl From<RuleSet> for RuleHandle {
    fn from(set: RuleSet) -> Self {
        RuleHandle {
            slot: Arc::new(ArcSwap::from_pointee(set)),
        }
    }
}

impl RuleHandle {
    /// A handle on the built-in rules.
    pub fn builtin() -> RuleHandle {
        RuleSet::builtin().into()
    }

    /// The current set (cheap: no lock, no copy).
    pub fn current(&self) -> Arc<RuleSet> {
        self.slot.load_full()
    }

    /// Installs `set` for every holder of this handle.
    pub fn replace(&self, set: RuleSet) -> ReloadOutcome {
        let outcome = ReloadOutcome {
            rules: set.rules().len(),
            generation: set.generation(),
        };
        self.slot.store(Arc::new(set));
        outcome
    }

    /// Loads `dir`; installs it if valid, else keeps the current set and
    /// returns every error.
    pub fn reload_dir(&self, dir: &Path) -> Result<ReloadOutcome, Vec<RuleError>> {
        let set = RuleSet::from_dir(dir)?;
        Ok(self.replace(set))
    }

    pub(crate) fn generation(&self) -> u64 {
        self.slot.load().generation()
    }
}
