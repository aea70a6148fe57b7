//! The labelled corpus (`crates/decnet-attack/corpus/`): recorded attacker
//! sessions (`NAME.jsonl`, events as `/api/v1/logs` returns them) with the
//! techniques an analyst assigns (`NAME.labels`: `TECHNIQUE reason` per
//! line), and the precision/recall of the rules on it.
//!
//! Scoring is per scenario and technique: a technique predicted and labelled
//! is a true positive, predicted only a false positive, labelled only a
//! false negative. ATT&CK's hierarchy is respected: predicting a parent
//! (T1110) when a sub-technique (T1110.004) is labelled is neither right nor
//! wrong (it adds nothing), and a labelled parent is met by any of its
//! sub-techniques.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use decnet_core::Event;

use crate::engine::Tagger;
use crate::rules::RuleHandle;

/// One recorded scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// File stem.
    pub name: String,
    /// Events in time order.
    pub events: Vec<Event>,
    /// Labelled techniques with the analyst's reason.
    pub labels: BTreeMap<String, String>,
}

/// Problems reading the corpus.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// Reading a file.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// A line that is not an event.
    #[error("{0}:{1}: {2}")]
    Event(PathBuf, usize, serde_json::Error),
    /// A label line without a reason, or a scenario without labels.
    #[error("{0}:{1}: {2}")]
    Label(PathBuf, usize, String),
}

fn read(path: &Path) -> Result<String, CorpusError> {
    std::fs::read_to_string(path).map_err(|e| CorpusError::Io(path.to_owned(), e))
}

/// Reads every `*.jsonl` of `dir` with its `.labels`, in name order.
pub fn load(dir: &Path) -> Result<Vec<Scenario>, CorpusError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CorpusError::Io(dir.to_owned(), e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut events = Vec::new();
        for (i, line) in read(&path)?.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            events.push(
                serde_json::from_str(line)
                    .map_err(|e| CorpusError::Event(path.clone(), i + 1, e))?,
            );
        }
        let label_path = path.with_extension("labels");
        let mut labels = BTreeMap::new();
        for (i, line) in read(&label_path)?.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (id, reason) = line.split_once(char::is_whitespace).ok_or_else(|| {
                CorpusError::Label(label_path.clone(), i + 1, "write `TECHNIQUE reason`".into())
            })?;
            labels.insert(id.to_owned(), reason.trim().to_owned());
        }
        if labels.is_empty() {
            return Err(CorpusError::Label(label_path, 1, "no labels".into()));
        }
        out.push(Scenario {
            name,
            events,
            labels,
        });
    }
    Ok(out)
}

fn parent(id: &str) -> &str {
    id.split_once('.').map_or(id, |(p, _)| p)
}

/// Outcome on one scenario.
#[derive(Clone, Debug, Default)]
pub struct ScenarioScore {
    /// Scenario name.
    pub name: String,
    /// Labelled and predicted.
    pub true_positives: BTreeSet<String>,
    /// Predicted, not labelled.
    pub false_positives: BTreeSet<String>,
    /// Labelled, not predicted.
    pub false_negatives: BTreeSet<String>,
}

/// Counts of one group (a technique family, or everything).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// True positives.
    pub tp: u32,
    /// False positives.
    pub fp: u32,
    /// False negatives.
    pub fn_: u32,
}

impl Counts {
    /// TP / (TP + FP); 1 when nothing was predicted.
    pub fn precision(&self) -> f64 {
        match self.tp + self.fp {
            0 => 1.0,
            n => f64::from(self.tp) / f64::from(n),
        }
    }

    /// TP / (TP + FN); 1 when nothing was labelled.
    pub fn recall(&self) -> f64 {
        match self.tp + self.fn_ {
            0 => 1.0,
            n => f64::from(self.tp) / f64::from(n),
        }
    }
}

/// The corpus result.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Per scenario.
    pub scenarios: Vec<ScenarioScore>,
    /// Per technique family (parent technique id).
    pub families: BTreeMap<String, Counts>,
    /// All together.
    pub overall: Counts,
}

/// Scores one scenario's predicted techniques against its labels.
pub fn score(
    name: &str,
    predicted: &BTreeSet<String>,
    labels: &BTreeMap<String, String>,
) -> ScenarioScore {
    let mut s = ScenarioScore {
        name: name.to_owned(),
        ..ScenarioScore::default()
    };
    for p in predicted {
        if labels.contains_key(p) || labels.contains_key(parent(p)) {
            s.true_positives.insert(if labels.contains_key(p) {
                p.clone()
            } else {
                parent(p).to_owned()
            });
        } else if p.contains('.') || !labels.keys().any(|l| parent(l) == p) {
            s.false_positives.insert(p.clone());
        }
    }
    for l in labels.keys() {
        if !s.true_positives.contains(l) {
            s.false_negatives.insert(l.clone());
        }
    }
    s
}

/// Runs a fresh tagger on each scenario and scores it.
pub fn evaluate(scenarios: &[Scenario], rules: &RuleHandle) -> Report {
    let mut report = Report::default();
    for sc in scenarios {
        let mut tagger = Tagger::new(rules.clone());
        let predicted: BTreeSet<String> = sc
            .events
            .iter()
            .flat_map(|e| tagger.process(e))
            .map(|t| t.technique_id.to_string())
            .collect();
        let s = score(&sc.name, &predicted, &sc.labels);
        let mut bump = |id: &str, f: fn(&mut Counts)| {
            f(report.families.entry(parent(id).to_owned()).or_default());
            f(&mut report.overall);
        };
        s.true_positives.iter().for_each(|t| bump(t, |c| c.tp += 1));
        s.false_positives
            .iter()
            .for_each(|t| bump(t, |c| c.fp += 1));
        s.false_negatives
            .iter()
            .for_each(|t| bump(t, |c| c.fn_ += 1));
        report.scenarios.push(s);
    }
    report
}

/// The report as a Markdown table (family, name, TP, FP, FN, precision, recall).
pub fn markdown(report: &Report) -> String {
    let catalogue = crate::Catalogue::builtin();
    let mut out = String::from("| family | technique | TP | FP | FN | precision | recall |\n|---|---|---:|---:|---:|---:|---:|\n");
    for (family, c) in &report.families {
        let name = catalogue.technique(family).map_or("?", |t| t.name.as_str());
        out.push_str(&format!(
            "| {family} | {name} | {} | {} | {} | {:.2} | {:.2} |\n",
            c.tp,
            c.fp,
            c.fn_,
            c.precision(),
            c.recall()
        ));
    }
    let c = report.overall;
    out.push_str(&format!(
        "| **all** | | **{}** | **{}** | **{}** | **{:.3}** | **{:.3}** |\n",
        c.tp,
        c.fp,
        c.fn_,
        c.precision(),
        c.recall()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[&str]) -> BTreeSet<String> {
        ids.iter().map(|s| s.to_string()).collect()
    }

    fn labels(ids: &[&str]) -> BTreeMap<String, String> {
        ids.iter().map(|s| (s.to_string(), "r".into())).collect()
    }

    #[test]
    fn hierarchy_aware_scoring() {
        let s = score(
            "x",
            &set(&["T1110", "T1110.004", "T1046", "T1083"]),
            &labels(&["T1110.004", "T1046", "T1082"]),
        );
        assert_eq!(s.true_positives, set(&["T1110.004", "T1046"]));
        assert_eq!(
            s.false_positives,
            set(&["T1083"]),
            "a parent of a labelled sub-technique is neutral"
        );
        assert_eq!(s.false_negatives, set(&["T1082"]));
        let s = score("y", &set(&["T1059.004"]), &labels(&["T1059"]));
        assert_eq!(
            s.true_positives,
            set(&["T1059"]),
            "a sub-technique meets a labelled parent"
        );
        let s = score("z", &set(&["T1110"]), &labels(&["T1046"]));
        assert_eq!(s.false_positives, set(&["T1110"]));
    }
}
