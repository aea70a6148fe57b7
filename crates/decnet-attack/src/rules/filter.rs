//! What one rule (or one step of a sequence) asks of a single event:
//! kinds, services and field conditions, all of which must hold.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use decnet_core::{Event, EventKind};
use regex::bytes::Regex;
use serde_json::Value;
use smallvec::SmallVec;

/// Longest stretch of a field value a condition looks at: a request body
/// can be large, and every byte scanned is paid on the ingest path.
pub const MAX_SCAN: usize = 16 * 1024;

/// Longest matched text kept as evidence.
pub const MAX_EXCERPT: usize = 256;

/// Where a condition reads its value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FieldRef {
    /// The event kind (`command`).
    Kind,
    /// The service name.
    Service,
    /// The decky name.
    Decky,
    /// Attacker address.
    SrcIp,
    /// Attacker port.
    SrcPort,
    /// Decky address.
    DstIp,
    /// Decky port.
    DstPort,
    /// Session id.
    SessionId,
    /// A key of `fields`; a dotted name walks into objects (`headers.user-agent`).
    Field(Arc<str>),
}

impl FieldRef {
    /// Reads a rule file's field name.
    pub fn parse(name: &str) -> FieldRef {
        match name {
            "kind" => FieldRef::Kind,
            "service" => FieldRef::Service,
            "decky" => FieldRef::Decky,
            "src_ip" => FieldRef::SrcIp,
            "src_port" => FieldRef::SrcPort,
            "dst_ip" => FieldRef::DstIp,
            "dst_port" => FieldRef::DstPort,
            "session_id" => FieldRef::SessionId,
            other => FieldRef::Field(other.into()),
        }
    }

    /// The name as written in rule files.
    pub fn name(&self) -> &str {
        match self {
            FieldRef::Kind => "kind",
            FieldRef::Service => "service",
            FieldRef::Decky => "decky",
            FieldRef::SrcIp => "src_ip",
            FieldRef::SrcPort => "src_port",
            FieldRef::DstIp => "dst_ip",
            FieldRef::DstPort => "dst_port",
            FieldRef::SessionId => "session_id",
            FieldRef::Field(f) => f,
        }
    }

    /// The value as text (numbers and booleans in decimal/`true`, objects as
    /// compact JSON), or `None` when the event does not have it.
    pub fn text<'e>(&self, e: &'e Event) -> Option<Cow<'e, str>> {
        Some(match self {
            FieldRef::Kind => Cow::Borrowed(e.kind.as_str()),
            FieldRef::Service => Cow::Borrowed(&e.service),
            FieldRef::Decky => Cow::Borrowed(&e.decky),
            FieldRef::SrcIp => Cow::Owned(e.src_ip.to_string()),
            FieldRef::SrcPort => Cow::Owned(e.src_port.to_string()),
            FieldRef::DstIp => Cow::Owned(e.dst_ip.to_string()),
            FieldRef::DstPort => Cow::Owned(e.dst_port.to_string()),
            FieldRef::SessionId => Cow::Owned(e.session_id?.to_string()),
            FieldRef::Field(name) => return json_text(field_value(e, name)?),
        })
    }

    /// Feeds the value to `h` without rendering addresses and numbers as
    /// text (the aggregate hot path); false, and nothing fed, when absent.
    pub fn hash_into<H: Hasher>(&self, e: &Event, h: &mut H) -> bool {
        match self {
            FieldRef::SrcIp => e.src_ip.hash(h),
            FieldRef::DstIp => e.dst_ip.hash(h),
            FieldRef::SrcPort => e.src_port.hash(h),
            FieldRef::DstPort => e.dst_port.hash(h),
            FieldRef::SessionId => match e.session_id {
                Some(s) => s.hash(h),
                None => return false,
            },
            other => match other.text(e) {
                Some(t) => t.hash(h),
                None => return false,
            },
        }
        true
    }

    /// The value as JSON (for equality with typed rule values).
    pub fn json<'e>(&self, e: &'e Event) -> Option<Cow<'e, Value>> {
        match self {
            FieldRef::Field(name) => field_value(e, name).map(Cow::Borrowed),
            FieldRef::SrcPort => Some(Cow::Owned(Value::from(e.src_port))),
            FieldRef::DstPort => Some(Cow::Owned(Value::from(e.dst_port))),
            other => other
                .text(e)
                .map(|t| Cow::Owned(Value::String(t.into_owned()))),
        }
    }
}

fn field_value<'e>(e: &'e Event, name: &str) -> Option<&'e Value> {
    if let Some(v) = e.fields.get(name) {
        return Some(v);
    }
    let mut parts = name.split('.');
    let mut cur = e.fields.get(parts.next()?)?;
    for part in parts {
        let obj = cur.as_object()?;
        cur = match obj.get(part) {
            Some(v) => v,
            // Header names arrive in whatever case the client sent.
            None => obj
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(part))
                .map(|(_, v)| v)?,
        };
    }
    Some(cur)
}

fn json_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        other => Some(Cow::Owned(other.to_string())),
    }
}

/// The prefix of `s` at most `max` bytes long, cut on a char boundary.
pub fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What a condition tests.
#[derive(Clone, Debug)]
pub enum Op {
    /// Equal to one of these JSON values (`equals`, `in`). Strings compare
    /// exactly; a rule's `22` also equals the event's `"22"`.
    Equals(Vec<Value>),
    /// Contains one of these, ASCII case-insensitively (stored lowercase).
    Contains(Vec<String>),
    /// Regular expression over the value's bytes, ASCII classes and case
    /// folding (Unicode off: it would defeat the literal prefilters and the
    /// DFA on every command line). Linear time: no backtracking.
    Regex(Regex),
    /// The field is present (and not null).
    Exists,
}

/// One condition: `field` (any of several) passes `op`, or fails it when negated.
#[derive(Clone, Debug)]
pub struct Condition {
    /// Fields looked at; the condition holds if any of them passes.
    pub fields: Vec<FieldRef>,
    /// The test.
    pub op: Op,
    /// `not = true`: the condition holds when no field passes.
    pub negate: bool,
}

/// A field that made a rule match, for the evidence.
pub type Matched = SmallVec<[(Arc<str>, String); 2]>;

impl Condition {
    /// Tests the event; on a (non-negated) match, pushes what matched.
    pub fn test(&self, e: &Event, matched: &mut Matched) -> bool {
        self.test_in(&mut EventView::new(e), matched)
    }

    /// [`Condition::test`] reading field texts through `view`'s cache.
    pub fn test_in<'r>(&'r self, view: &mut EventView<'_, 'r>, matched: &mut Matched) -> bool {
        for f in &self.fields {
            if let Some(hit) = self.test_field(f, view) {
                if !self.negate {
                    matched.push((f.name().into(), hit));
                }
                return !self.negate;
            }
        }
        self.negate
    }

    fn test_field<'r>(&self, f: &'r FieldRef, view: &mut EventView<'_, 'r>) -> Option<String> {
        let e = view.event;
        match &self.op {
            Op::Exists => f.json(e).map(|v| excerpt_of(&v)),
            Op::Equals(values) => {
                let v = f.json(e)?;
                values
                    .iter()
                    .any(|want| json_equal(want, &v))
                    .then(|| excerpt_of(&v))
            }
            Op::Contains(needles) => {
                let hay = view.scan_text(f)?;
                needles
                    .iter()
                    .find(|n| contains_ignore_ascii_case(hay, n))
                    .cloned()
            }
            Op::Regex(re) => {
                let m = re.find(view.scan_text(f)?.as_bytes())?;
                let hit = String::from_utf8_lossy(m.as_bytes());
                Some(clip(&hit, MAX_EXCERPT).to_owned())
            }
        }
    }
}

/// One event with the text of each field a rule reads, rendered at most
/// once however many rules read it: a `headers` object is serialised to
/// JSON for its text, and half a dozen web rules look at it.
pub struct EventView<'e, 'r> {
    event: &'e Event,
    texts: SmallVec<[FieldText<'e, 'r>; 8]>,
}

/// A field's name and its text (`None`: the event does not have it).
type FieldText<'e, 'r> = (&'r str, Option<Cow<'e, str>>);

impl<'e, 'r> EventView<'e, 'r> {
    /// A view of `event` with nothing rendered yet.
    pub fn new(event: &'e Event) -> Self {
        EventView {
            event,
            texts: SmallVec::new(),
        }
    }

    /// The event.
    pub fn event(&self) -> &'e Event {
        self.event
    }

    /// The field's text cut to [`MAX_SCAN`] bytes (what conditions scan),
    /// rendered on first use.
    pub fn scan_text(&mut self, f: &'r FieldRef) -> Option<&str> {
        let name = f.name();
        let i = match self.texts.iter().position(|(n, _)| *n == name) {
            Some(i) => i,
            None => {
                self.texts.push((name, f.text(self.event)));
                self.texts.len() - 1
            }
        };
        self.texts[i].1.as_deref().map(|t| clip(t, MAX_SCAN))
    }
}

fn excerpt_of(v: &Value) -> String {
    json_text(v)
        .map(|t| clip(&t, MAX_EXCERPT).to_owned())
        .unwrap_or_default()
}

fn json_equal(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Number(a), Value::String(b)) | (Value::String(b), Value::Number(a)) => {
            b.parse::<f64>().ok() == a.as_f64()
        }
        (a, b) => a == b,
    }
}

/// `hay` contains `needle` (already lowercase), ignoring ASCII case.
fn contains_ignore_ascii_case(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return true;
    }
    h.windows(n.len())
        .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

/// A set of event kinds as a bit mask (bit = position in `EventKind::ALL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindMask(pub u16);

impl KindMask {
    /// Every kind.
    pub const ALL: KindMask = KindMask((1 << EventKind::ALL.len()) - 1);

    /// The bit of one kind.
    pub fn of(kind: EventKind) -> KindMask {
        let i = EventKind::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("every kind is in ALL");
        KindMask(1 << i)
    }

    /// Whether `kind` is in the set.
    pub fn contains(self, kind: EventKind) -> bool {
        self.0 & KindMask::of(kind).0 != 0
    }
}

/// Everything a rule or a step asks of one event.
#[derive(Clone, Debug)]
pub struct Filter {
    /// Allowed kinds.
    pub kinds: KindMask,
    /// Allowed services (empty: any).
    pub services: Vec<String>,
    /// Conditions, all of which must hold.
    pub conditions: Vec<Condition>,
}

impl Filter {
    /// Tests the event; `Some(what matched)` when every part holds.
    pub fn test(&self, e: &Event) -> Option<Matched> {
        self.test_in(&mut EventView::new(e))
    }

    /// [`Filter::test`] reading field texts through `view`'s cache.
    pub fn test_in<'r>(&'r self, view: &mut EventView<'_, 'r>) -> Option<Matched> {
        let e = view.event;
        if !self.kinds.contains(e.kind) {
            return None;
        }
        if !self.services.is_empty() && !self.services.contains(&e.service) {
            return None;
        }
        let mut matched = Matched::new();
        for c in &self.conditions {
            if !c.test_in(view, &mut matched) {
                return None;
            }
        }
        Some(matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev() -> Event {
        let mut e = Event::new("web01", "http", EventKind::Request)
            .with("path", "/index.php")
            .with("headers", serde_json::json!({"User-Agent": "sqlmap/1.7"}))
            .with("success", true);
        e.dst_port = 80;
        e
    }

    fn cond(field: &str, op: Op) -> Condition {
        Condition {
            fields: vec![FieldRef::parse(field)],
            op,
            negate: false,
        }
    }

    #[test]
    fn dotted_paths_walk_objects_ignoring_header_case() {
        let e = ev();
        let f = FieldRef::parse("headers.user-agent");
        assert_eq!(f.text(&e).as_deref(), Some("sqlmap/1.7"));
        assert_eq!(FieldRef::parse("headers.nope").text(&e), None);
        assert_eq!(FieldRef::parse("dst_port").text(&e).as_deref(), Some("80"));
    }

    #[test]
    fn operators() {
        let e = ev();
        let mut m = Matched::new();
        assert!(cond("path", Op::Contains(vec![".php".into()])).test(&e, &mut m));
        assert!(cond("path", Op::Contains(vec!["index.PHP".to_lowercase()])).test(&e, &mut m));
        assert!(!cond("path", Op::Contains(vec!["wp-".into()])).test(&e, &mut m));
        assert!(cond("success", Op::Equals(vec![Value::Bool(true)])).test(&e, &mut m));
        assert!(cond("dst_port", Op::Equals(vec![Value::from(80)])).test(&e, &mut m));
        assert!(!cond("dst_port", Op::Equals(vec![Value::from(81)])).test(&e, &mut m));
        assert!(cond("path", Op::Regex(Regex::new(r"\.php$").unwrap())).test(&e, &mut m));
        assert!(!cond("missing", Op::Exists).test(&e, &mut m));
        let not = Condition {
            negate: true,
            ..cond("missing", Op::Exists)
        };
        assert!(not.test(&e, &mut m));
        assert_eq!(&*m[0].0, "path");
        assert_eq!(m[0].1, ".php");
    }

    #[test]
    fn filter_checks_kind_and_service_first() {
        let e = ev();
        let f = Filter {
            kinds: KindMask::of(EventKind::Command),
            services: vec![],
            conditions: vec![],
        };
        assert!(f.test(&e).is_none());
        let f = Filter {
            kinds: KindMask::ALL,
            services: vec!["ssh".into()],
            conditions: vec![],
        };
        assert!(f.test(&e).is_none());
        let f = Filter {
            kinds: KindMask::of(EventKind::Request),
            services: vec!["http".into()],
            conditions: vec![cond("path", Op::Exists)],
        };
        assert_eq!(f.test(&e).unwrap()[0].1, "/index.php");
    }

    #[test]
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("héllo", 2), "h");
        assert_eq!(clip("abc", 10), "abc");
    }
}
