//! Declarative ATT&CK rules: the TOML format (`raw`), its compiler and
//! validator (`compile`, `example`), the compiled model, and the reloadable
//! handle the tagger reads.
//!
//! The format is documented for analysts in `rules/README.md`.

mod compile;
mod embedded;
mod example;
pub mod filter;
mod handle;
pub mod model;
pub mod prefilter;
mod raw;

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use decnet_core::EventKind;

pub use compile::MAX_WINDOW;
pub use example::Example;
pub use handle::{ReloadOutcome, RuleHandle};
pub use model::{Aggregate, Bound, Measure, Rule, RuleBody, Scope, Sequence};
pub use prefilter::KindPrefilter;

use crate::catalogue::Catalogue;

/// Largest rule file read from a directory.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// One problem in a rule file, printed as `FILE:LINE: message`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RuleError {
    /// File name as given (relative to the directory for `validate_dir`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

/// A compiled, validated set of rules, indexed by event kind.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    by_kind: [Vec<u32>; EventKind::ALL.len()],
    /// Per kind, the first pass over an event's fields (`by_kind` order).
    prefilters: [KindPrefilter; EventKind::ALL.len()],
    generation: u64,
}

impl RuleSet {
    /// The rules shipped in the binary (`crates/decnet-attack/rules/*.toml`).
    pub fn builtin() -> RuleSet {
        RuleSet::compile(embedded::FILES.iter().map(|(n, t)| (*n, *t))).unwrap_or_else(|errors| {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            panic!("embedded rules are invalid:\n{}", list.join("\n"))
        })
    }

    /// Every `*.toml` file of `dir` (not recursive), in name order.
    pub fn from_dir(dir: &Path) -> Result<RuleSet, Vec<RuleError>> {
        let files = read_dir(dir)?;
        RuleSet::compile(files.iter().map(|(n, t)| (n.as_str(), t.as_str())))
    }

    /// Compiles `(file name, text)` pairs with the built-in catalogue; every
    /// error of every file is returned, or the set.
    pub fn compile<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<RuleSet, Vec<RuleError>> {
        let catalogue = Catalogue::builtin();
        let mut errors = Vec::new();
        let mut rules: Vec<Rule> = Vec::new();
        let mut seen: HashMap<String, (String, usize)> = HashMap::new();
        for (name, text) in files {
            let mut c = compile::FileCompiler::new(name, text, catalogue);
            for rule in c.compile() {
                if let Some((file, line)) = seen.get(&*rule.id) {
                    errors.push(RuleError {
                        file: name.to_owned(),
                        line: rule.line,
                        message: format!("rule id {} is already defined at {file}:{line}", rule.id),
                    });
                    continue;
                }
                seen.insert(rule.id.to_string(), (name.to_owned(), rule.line));
                rules.push(rule);
            }
            errors.extend(c.errors);
        }
        for rule in &rules {
            for x in &rule.examples {
                let fired = x.fires(rule);
                if fired != x.matches {
                    errors.push(RuleError {
                        file: rule.file.to_string(),
                        line: x.line,
                        message: if x.matches {
                            format!("example does not fire rule {}", rule.id)
                        } else {
                            format!("example fires rule {} but says matches = false", rule.id)
                        },
                    });
                }
            }
        }
        if errors.is_empty() {
            Ok(RuleSet::from_rules(rules))
        } else {
            errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            Err(errors)
        }
    }

    /// A set of already compiled rules (no validation).
    pub fn from_rules(rules: Vec<Rule>) -> RuleSet {
        RuleSet::indexed(rules, true)
    }

    /// A set that tests every candidate rule of an event's kind, without
    /// the prefilter: what a rule's own examples run on (building the
    /// prefilter's automata for each of them would cost more than the
    /// examples), and the reference the prefilter is tested against.
    pub fn without_prefilter(rules: Vec<Rule>) -> RuleSet {
        RuleSet::indexed(rules, false)
    }

    fn indexed(rules: Vec<Rule>, prefilter: bool) -> RuleSet {
        let mut by_kind: [Vec<u32>; EventKind::ALL.len()] = Default::default();
        for (i, rule) in rules.iter().enumerate() {
            let mask = rule.kinds();
            for (k, kind) in EventKind::ALL.iter().enumerate() {
                if mask.contains(*kind) {
                    by_kind[k].push(i as u32);
                }
            }
        }
        let prefilters = std::array::from_fn(|k| match prefilter {
            true => KindPrefilter::build(&rules, &by_kind[k]),
            false => KindPrefilter::default(),
        });
        RuleSet {
            rules,
            by_kind,
            prefilters,
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Indexes of the rules an event of `kind` can advance.
    pub fn candidates(&self, kind: EventKind) -> &[u32] {
        &self.by_kind[kind_index(kind)]
    }

    /// The first pass over an event of `kind`, for [`RuleSet::candidates`].
    pub fn prefilter(&self, kind: EventKind) -> &KindPrefilter {
        &self.prefilters[kind_index(kind)]
    }

    /// Unique per compiled set: the tagger notices a reload by it.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Every technique id some rule can yield, sorted.
    pub fn techniques(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .rules
            .iter()
            .flat_map(|r| r.techniques.iter().map(|t| &**t))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

fn kind_index(kind: EventKind) -> usize {
    EventKind::ALL
        .iter()
        .position(|x| *x == kind)
        .expect("every kind is in ALL")
}

/// Validates the rule files of `dir` (`decnet validate-rules DIR`): every
/// error as `FILE:LINE: message`; empty when the directory is valid.
pub fn validate_dir(dir: &Path) -> Vec<RuleError> {
    RuleSet::from_dir(dir).err().unwrap_or_default()
}

fn read_dir(dir: &Path) -> Result<Vec<(String, String)>, Vec<RuleError>> {
    let whole = |message: String| {
        vec![RuleError {
            file: dir.display().to_string(),
            line: 1,
            message,
        }]
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| whole(format!("cannot read directory: {e}")))?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(whole("no *.toml rule files".into()));
    }
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        let name = p.display().to_string();
        let fail = |message: String| RuleError {
            file: name.clone(),
            line: 1,
            message,
        };
        match std::fs::metadata(&p) {
            Ok(m) if m.len() > MAX_FILE_BYTES => {
                errors.push(fail(format!("file is larger than {MAX_FILE_BYTES} bytes")));
                continue;
            }
            Err(e) => {
                errors.push(fail(e.to_string()));
                continue;
            }
            _ => {}
        }
        match std::fs::read_to_string(&p) {
            Ok(text) => files.push((name, text)),
            Err(e) => errors.push(fail(e.to_string())),
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests;
