//! Splunk HTTP Event Collector envelopes: one JSON object per record,
//! concatenated in a POST to `/services/collector/event` with
//! `Authorization: Splunk <token>`. `time` is epoch seconds with
//! microseconds, `event` the formatted record (an object, or the line for
//! RFC 5424), `fields` a few indexed fields (strings only, as HEC requires).

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::Record;

/// HEC metadata of an output.
#[derive(Clone, Debug)]
pub struct HecMeta {
    /// `index`, if set.
    pub index: Option<String>,
    /// `sourcetype`.
    pub sourcetype: String,
    /// `source`.
    pub source: String,
}

/// `1700000000.123456`.
pub fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp() as f64 + f64::from(t.timestamp_subsec_micros()) / 1e6
}

/// The HEC event object of one record.
pub fn envelope(r: &Record, meta: &HecMeta) -> Value {
    let event = match &r.body {
        super::Body::Json(v) => v.clone(),
        super::Body::Line(l) => json!(l),
    };
    let mut v = json!({
        "time": epoch(r.ts),
        "host": r.host,
        "source": meta.source,
        "sourcetype": meta.sourcetype,
        "event": event,
    });
    if let Some(i) = &meta.index {
        v["index"] = json!(i);
    }
    let mut fields = serde_json::Map::new();
    for (k, val) in &r.fields {
        fields.insert((*k).to_owned(), json!(val));
    }
    if !fields.is_empty() {
        v["fields"] = Value::Object(fields);
    }
    v
}

/// The POST body of a batch.
pub fn body(batch: &[Record], meta: &HecMeta) -> Vec<u8> {
    let mut out = Vec::new();
    for r in batch {
        serde_json::to_writer(&mut out, &envelope(r, meta)).expect("values serialise");
        out.push(b'\n');
    }
    out
}
