//! Rule file text → compiled [`Rule`]s, with every semantic error reported
//! at its line.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::Arc;

use chrono::Duration;
use decnet_core::EventKind;
use regex::bytes::RegexBuilder;
use smallvec::SmallVec;
use toml::Spanned;

use super::example::{self, Example};
use super::filter::{Condition, FieldRef, Filter, KindMask, Op};
use super::model::{Aggregate, Bound, Measure, Rule, RuleBody, Scope, Sequence};
use super::raw::{FilterParts, OneOrMany, RawBound, RawCondition, RawFile, RawHaving, RawRule};
use super::RuleError;
use crate::catalogue::{Catalogue, Status};

/// Longest window or gap a rule may ask for: state is kept that long.
pub const MAX_WINDOW: Duration = Duration::hours(24);

/// Largest compiled regex (bytes of program), so a rule cannot eat memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Byte offset → 1-based line number.
pub struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    /// Indexes the line starts of `text`.
    pub fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { starts }
    }

    /// Line of a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset)
    }
}

/// Compiles one file's rules. Errors do not stop the file: every rule is
/// checked so the analyst sees all mistakes at once.
pub(crate) struct FileCompiler<'a> {
    file: Arc<str>,
    text: &'a str,
    lines: Lines,
    catalogue: &'a Catalogue,
    pub errors: Vec<RuleError>,
}

impl<'a> FileCompiler<'a> {
    pub fn new(file: &str, text: &'a str, catalogue: &'a Catalogue) -> Self {
        FileCompiler {
            file: file.into(),
            text,
            lines: Lines::new(text),
            catalogue,
            errors: Vec::new(),
        }
    }

    fn err(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.errors.push(RuleError {
            file: self.file.to_string(),
            line: self.lines.line(span.start),
            message: message.into(),
        });
    }

    /// Parses and compiles the file.
    pub fn compile(&mut self) -> Vec<Rule> {
        let raw: RawFile = match toml::from_str(self.text) {
            Ok(r) => r,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let msg = e.message().to_owned();
                self.err(span, msg);
                return Vec::new();
            }
        };
        // A rule's text runs from its `[[rule]]` to the next one: the
        // fingerprint covers all of it (toml's span of an array-of-tables
        // entry is only its header).
        let starts: Vec<usize> = raw.rule.iter().map(|r| r.span().start).collect();
        raw.rule
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let end = starts
                    .iter()
                    .copied()
                    .filter(|&s| s > starts[i])
                    .min()
                    .unwrap_or(self.text.len());
                let mut h = DefaultHasher::new();
                self.text[starts[i]..end].hash(&mut h);
                self.rule(r.span(), r.get_ref(), h.finish())
            })
            .collect()
    }

    fn rule(&mut self, span: Range<usize>, r: &RawRule, fingerprint: u64) -> Option<Rule> {
        let before = self.errors.len();
        let id = r.id.get_ref().clone();
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        {
            self.err(
                r.id.span(),
                format!("rule id {id:?}: use lowercase letters, digits, '.', '_' and '-'"),
            );
        }
        if r.name.get_ref().trim().is_empty() {
            self.err(r.name.span(), "rule name is empty");
        }
        let techniques = self.techniques(&r.techniques);
        let confidence = *r.confidence.get_ref();
        if !(0..=100).contains(&confidence) {
            self.err(
                r.confidence.span(),
                format!("confidence {confidence} is outside 0–100"),
            );
        }
        let evidence = r
            .evidence
            .iter()
            .map(|f| FieldRef::parse(f.get_ref()))
            .collect();
        let kind = r
            .rule_type
            .as_ref()
            .map(|t| (t.get_ref().as_str(), t.span()))
            .unwrap_or(("event", span.clone()));
        let body = match kind.0 {
            "event" => self.event_rule(span.clone(), r),
            "sequence" => self.sequence_rule(span.clone(), r),
            "aggregate" => self.aggregate_rule(span.clone(), r),
            other => {
                self.err(
                    kind.1,
                    format!("unknown rule type {other:?} (event, sequence or aggregate)"),
                );
                None
            }
        };
        let examples: Vec<Example> = r
            .example
            .iter()
            .filter_map(|x| match example::build(x, r) {
                Ok(mut e) => {
                    e.line = self.lines.line(x.span().start);
                    Some(e)
                }
                Err(msg) => {
                    self.err(x.span(), msg);
                    None
                }
            })
            .collect();
        if r.example.is_empty() {
            self.err(
                span.clone(),
                format!("rule {id}: add at least one [[rule.example]] that matches"),
            );
        } else if !r.example.iter().any(|x| x.get_ref().matches != Some(false)) {
            self.err(
                span.clone(),
                format!("rule {id}: no example is expected to match"),
            );
        }
        let body = body?;
        if self.errors.len() > before {
            return None;
        }
        Some(Rule {
            id: id.into(),
            name: r.name.get_ref().clone(),
            description: r.description.clone().unwrap_or_default(),
            techniques,
            confidence: confidence as u8,
            evidence,
            body,
            file: self.file.clone(),
            line: self.lines.line(span.start),
            fingerprint,
            examples,
        })
    }

    fn techniques(&mut self, list: &Spanned<Vec<Spanned<String>>>) -> SmallVec<[Arc<str>; 2]> {
        if list.get_ref().is_empty() {
            self.err(list.span(), "techniques is empty");
        }
        let mut out: SmallVec<[Arc<str>; 2]> = SmallVec::new();
        for t in list.get_ref() {
            let id = t.get_ref();
            let version = self.catalogue.version().to_owned();
            match self.catalogue.technique(id).map(|t| &t.status) {
                None => self.err(
                    t.span(),
                    format!("unknown technique {id} (not in ATT&CK {version})"),
                ),
                Some(Status::Deprecated) => self.err(
                    t.span(),
                    format!("technique {id} is deprecated in ATT&CK {version}"),
                ),
                Some(Status::Revoked(by)) => {
                    let hint = by
                        .as_ref()
                        .map(|b| format!("; use {b}"))
                        .unwrap_or_default();
                    self.err(
                        t.span(),
                        format!("technique {id} is revoked in ATT&CK {version}{hint}"),
                    )
                }
                Some(Status::Current) => {
                    if out.iter().any(|o| **o == **id) {
                        self.err(t.span(), format!("technique {id} is listed twice"));
                    }
                    out.push(id.as_str().into());
                }
            }
        }
        out
    }

    /// Reports keys that belong to another rule type.
    fn refuse(&mut self, what: &str, present: Option<Range<usize>>, rule_type: &str) {
        if let Some(span) = present {
            self.err(
                span,
                format!("`{what}` does not apply to {rule_type} rules"),
            );
        }
    }

    fn refuse_sequence_keys(&mut self, r: &RawRule, rule_type: &str) {
        self.refuse("scope", r.scope.as_ref().map(|s| s.span()), rule_type);
        self.refuse("max_gap", r.max_gap.as_ref().map(|s| s.span()), rule_type);
        self.refuse("within", r.within.as_ref().map(|s| s.span()), rule_type);
        self.refuse("across", r.across.as_ref().map(|s| s.span()), rule_type);
        self.refuse("step", r.step.first().map(|s| s.span()), rule_type);
    }

    fn refuse_aggregate_keys(&mut self, r: &RawRule, rule_type: &str) {
        self.refuse("group_by", r.group_by.as_ref().map(|s| s.span()), rule_type);
        self.refuse("window", r.window.as_ref().map(|s| s.span()), rule_type);
        self.refuse("having", r.having.as_ref().map(|s| s.span()), rule_type);
    }

    fn event_rule(&mut self, span: Range<usize>, r: &RawRule) -> Option<RuleBody> {
        self.refuse_sequence_keys(r, "event");
        self.refuse_aggregate_keys(r, "event");
        let parts = r.filter();
        if parts.is_empty() {
            self.err(
                span,
                "an event rule needs kind, service, command or a [[rule.when]] condition",
            );
            return None;
        }
        self.filter(parts).map(RuleBody::Event)
    }

    fn sequence_rule(&mut self, span: Range<usize>, r: &RawRule) -> Option<RuleBody> {
        self.refuse_aggregate_keys(r, "sequence");
        let own = r.filter();
        for (what, s) in [
            ("kind", own.kind.map(|k| k.span())),
            ("service", own.service.map(|k| k.span())),
            ("command", own.command.map(|k| k.span())),
            ("when", own.when.first().map(|k| k.span())),
        ] {
            if let Some(s) = s {
                self.err(
                    s,
                    format!("`{what}` of a sequence rule goes in each [[rule.step]]"),
                );
            }
        }
        let scope = match r.scope.as_ref().map(|s| (s.get_ref().as_str(), s.span())) {
            None | Some(("session", _)) => Scope::Session,
            Some(("source", _)) => Scope::Source,
            Some((other, s)) => {
                self.err(s, format!("scope {other:?}: use \"session\" or \"source\""));
                Scope::Session
            }
        };
        let Some(gap) = &r.max_gap else {
            self.err(span, "a sequence rule needs max_gap (e.g. \"10m\")");
            return None;
        };
        let max_gap = self.duration(gap)?;
        let within = match &r.within {
            Some(w) => self.duration(w)?,
            None => MAX_WINDOW,
        };
        if max_gap > within {
            self.err(gap.span(), "max_gap is longer than within");
        }
        if r.step.len() < 2 {
            self.err(span, "a sequence rule needs at least two [[rule.step]]");
            return None;
        }
        let mut steps = Vec::new();
        for s in &r.step {
            let parts = s.get_ref().parts();
            if parts.is_empty() {
                self.err(s.span(), "this step asks nothing of the event");
                continue;
            }
            steps.push(self.filter(parts)?);
        }
        Some(RuleBody::Sequence(Sequence {
            scope,
            steps,
            max_gap,
            within,
            across: r.across.as_ref().map(|a| FieldRef::parse(a.get_ref())),
        }))
    }

    fn aggregate_rule(&mut self, span: Range<usize>, r: &RawRule) -> Option<RuleBody> {
        self.refuse_sequence_keys(r, "aggregate");
        let parts = r.filter();
        if parts.is_empty() {
            self.err(
                span.clone(),
                "an aggregate rule needs kind, service, command or a condition to say what it counts",
            );
        }
        let filter = self.filter(parts)?;
        let group_by = match &r.group_by {
            Some(g) if g.get_ref().is_empty() => {
                self.err(g.span(), "group_by is empty");
                return None;
            }
            Some(g) => g
                .get_ref()
                .iter()
                .map(|f| FieldRef::parse(f.get_ref()))
                .collect(),
            None => vec![FieldRef::SrcIp],
        };
        let Some(window) = &r.window else {
            self.err(span, "an aggregate rule needs window (e.g. \"5m\")");
            return None;
        };
        let window = self.duration(window)?;
        let Some(having) = &r.having else {
            self.err(
                span,
                "an aggregate rule needs [rule.having] (count, distinct.FIELD or repeats.FIELD)",
            );
            return None;
        };
        let (tracked, measures) = self.having(having)?;
        Some(RuleBody::Aggregate(Aggregate {
            filter,
            group_by,
            window,
            tracked,
            having: measures,
        }))
    }

    fn having(&mut self, h: &Spanned<RawHaving>) -> Option<(Vec<FieldRef>, Vec<Measure>)> {
        let raw = h.get_ref();
        let mut tracked: Vec<FieldRef> = Vec::new();
        let mut measures = Vec::new();
        let mut slot = |name: &str| {
            let f = FieldRef::parse(name);
            match tracked.iter().position(|t| *t == f) {
                Some(i) => i,
                None => {
                    tracked.push(f);
                    tracked.len() - 1
                }
            }
        };
        if let Some(c) = &raw.count {
            measures.push(Measure::Count(self.bound(c)?));
        }
        for (field, b) in &raw.distinct {
            let bound = self.bound(b)?;
            measures.push(Measure::Distinct(slot(field), bound));
        }
        for (field, b) in &raw.repeats {
            let bound = self.bound(b)?;
            measures.push(Measure::Repeats(slot(field), bound));
        }
        if !measures
            .iter()
            .any(|m| matches!(m, Measure::Count(b) | Measure::Distinct(_, b) if b.min.is_some()))
        {
            self.err(
                h.span(),
                "having needs a lower bound (count or distinct with min), or it fires on the first event",
            );
            return None;
        }
        Some((tracked, measures))
    }

    fn bound(&mut self, b: &Spanned<RawBound>) -> Option<Bound> {
        let RawBound { min, max } = *b.get_ref();
        let ok = |v: Option<i64>| v.is_none_or(|v| (1..=100_000).contains(&v));
        if min.is_none() && max.is_none() {
            self.err(b.span(), "give min, max or both");
            return None;
        }
        if !ok(min) || !ok(max) {
            self.err(b.span(), "bounds must be between 1 and 100000");
            return None;
        }
        if let (Some(lo), Some(hi)) = (min, max) {
            if lo > hi {
                self.err(b.span(), format!("min {lo} is above max {hi}"));
                return None;
            }
        }
        Some(Bound {
            min: min.map(|v| v as u32),
            max: max.map(|v| v as u32),
        })
    }

    fn duration(&mut self, s: &Spanned<String>) -> Option<Duration> {
        match humantime::parse_duration(s.get_ref()) {
            Ok(d) if d.is_zero() => {
                self.err(s.span(), "duration must be above zero");
                None
            }
            Ok(d) => {
                let d = Duration::from_std(d).unwrap_or(MAX_WINDOW);
                if d > MAX_WINDOW {
                    self.err(
                        s.span(),
                        "durations are limited to 24h (state is kept that long)",
                    );
                    return None;
                }
                Some(d)
            }
            Err(e) => {
                self.err(
                    s.span(),
                    format!(
                        "duration {:?}: {e} (e.g. \"30s\", \"5m\", \"1h\")",
                        s.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn filter(&mut self, parts: FilterParts<'_>) -> Option<Filter> {
        let before = self.errors.len();
        let kinds = match parts.kind {
            None => KindMask::ALL,
            Some(k) => {
                let mut mask = 0;
                for name in k.get_ref().to_vec() {
                    match EventKind::parse(&name) {
                        Some(kind) => mask |= KindMask::of(kind).0,
                        None => self.err(
                            k.span(),
                            format!(
                                "unknown event kind {name:?} ({})",
                                EventKind::ALL.map(|k| k.as_str()).join(", ")
                            ),
                        ),
                    }
                }
                KindMask(mask)
            }
        };
        let services = match parts.service {
            None => Vec::new(),
            Some(s) => {
                let names = s.get_ref().to_vec();
                for name in &names {
                    if decnet_core::catalog::service(name).is_none() {
                        self.err(
                            s.span(),
                            format!(
                                "unknown service {name:?} (known: {})",
                                decnet_core::catalog::service_names()
                            ),
                        );
                    }
                }
                names
            }
        };
        let mut conditions = Vec::new();
        if let Some(c) = parts.command {
            if let Some(re) = self.regex(c) {
                conditions.push(Condition {
                    fields: vec![FieldRef::parse("command")],
                    op: Op::Regex(re),
                    negate: false,
                });
            }
        }
        for c in parts.when {
            if let Some(c) = self.condition(c) {
                conditions.push(c);
            }
        }
        (self.errors.len() == before).then_some(Filter {
            kinds,
            services,
            conditions,
        })
    }

    fn regex(&mut self, s: &Spanned<String>) -> Option<regex::bytes::Regex> {
        match RegexBuilder::new(s.get_ref())
            .unicode(false)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
        {
            Ok(re) => Some(re),
            Err(e) => {
                // The regex error spans several lines; the first names the problem.
                let msg = e.to_string();
                let summary = msg.lines().last().unwrap_or(&msg).trim().to_owned();
                self.err(s.span(), format!("invalid regex: {summary}"));
                None
            }
        }
    }

    fn condition(&mut self, c: &Spanned<RawCondition>) -> Option<Condition> {
        let raw = c.get_ref();
        let fields: Vec<FieldRef> = raw
            .field
            .get_ref()
            .to_vec()
            .iter()
            .map(|f| FieldRef::parse(f))
            .collect();
        if fields.is_empty() {
            self.err(raw.field.span(), "field list is empty");
            return None;
        }
        let given = [
            raw.equals.is_some(),
            raw.in_list.is_some(),
            raw.contains.is_some(),
            raw.regex.is_some(),
            raw.exists.is_some(),
        ]
        .iter()
        .filter(|g| **g)
        .count();
        if given != 1 {
            self.err(
                c.span(),
                "a condition takes exactly one of equals, in, contains, regex, exists",
            );
            return None;
        }
        let op = if let Some(v) = &raw.equals {
            Op::Equals(vec![v.get_ref().clone()])
        } else if let Some(v) = &raw.in_list {
            if v.get_ref().is_empty() {
                self.err(v.span(), "`in` list is empty");
                return None;
            }
            Op::Equals(v.get_ref().clone())
        } else if let Some(v) = &raw.contains {
            let needles: Vec<String> = v
                .get_ref()
                .to_vec()
                .iter()
                .map(|n| n.to_ascii_lowercase())
                .collect();
            if needles.iter().any(|n| n.is_empty()) {
                self.err(v.span(), "`contains` needs non-empty text");
                return None;
            }
            Op::Contains(needles)
        } else if let Some(v) = &raw.regex {
            Op::Regex(self.regex(v)?)
        } else {
            let exists = raw.exists.as_ref().expect("one operator is present");
            if !*exists.get_ref() {
                self.err(
                    exists.span(),
                    "write `exists = true, not = true` for an absent field",
                );
                return None;
            }
            Op::Exists
        };
        Some(Condition {
            fields,
            op,
            negate: raw.not,
        })
    }
}

/// Kinds named by a filter, for example defaults.
pub(crate) fn kind_names(k: Option<&Spanned<OneOrMany>>) -> Vec<String> {
    k.map(|k| k.get_ref().to_vec()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based() {
        let l = Lines::new("a\nbb\n\nc");
        assert_eq!(l.line(0), 1);
        assert_eq!(l.line(2), 2);
        assert_eq!(l.line(5), 3);
        assert_eq!(l.line(6), 4);
    }
}
