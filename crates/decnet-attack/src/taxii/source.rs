//! Where the TAXII server reads from: collections of STIX objects with the
//! time each was added, and the query a request makes of them.

use std::future::Future;
use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use serde_json::Value;

/// One collection as TAXII describes it (`can_write` is always false: the
/// server is read-only).
#[derive(Clone, Debug, Serialize)]
pub struct CollectionInfo {
    /// Collection id (a UUID string in TAXII).
    pub id: String,
    /// Human title.
    pub title: String,
    /// What it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Short alias usable in place of the id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

/// One version of one STIX object in a collection.
#[derive(Clone, Debug)]
pub struct StixRecord {
    /// STIX id (`indicator--…`).
    pub id: String,
    /// The version: the object's `modified` (or `created`), as written in it.
    pub version: String,
    /// When the server added this version to the collection (microseconds).
    pub date_added: DateTime<Utc>,
    /// `2.1`.
    pub spec_version: String,
    /// The object.
    pub object: Arc<Value>,
}

impl StixRecord {
    /// A record for `object` added at `date_added`; `None` if it has no id or type.
    pub fn new(object: Value, date_added: DateTime<Utc>) -> Option<StixRecord> {
        let id = object.get("id")?.as_str()?.to_owned();
        object.get("type")?.as_str()?;
        let version = object
            .get("modified")
            .or_else(|| object.get("created"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| crate::stix::timestamp(date_added));
        let spec_version = object
            .get("spec_version")
            .and_then(Value::as_str)
            .unwrap_or("2.1")
            .to_owned();
        Some(StixRecord {
            id,
            version,
            // TAXII timestamps are written with microseconds; a finer stored
            // instant would sort after the `added_after` a client copies
            // from X-TAXII-Date-Added-Last and be served twice.
            date_added: date_added.trunc_subsecs(6),
            spec_version,
            object: Arc::new(object),
        })
    }

    /// The STIX type (prefix of the id).
    pub fn stix_type(&self) -> &str {
        self.id.split_once("--").map_or(&self.id, |(t, _)| t)
    }
}

/// Which versions of each object a request wants (`match[version]`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum VersionFilter {
    /// The newest (the default).
    #[default]
    Last,
    /// The oldest.
    First,
    /// Every version.
    All,
    /// These exact versions (timestamps as written).
    Exactly(Vec<String>),
    /// A union of the above (`match[version]=first,last`).
    Union(Vec<VersionFilter>),
}

/// A request's filters and paging.
#[derive(Clone, Debug, Default)]
pub struct ObjectQuery {
    /// Only records added strictly after this instant.
    pub added_after: Option<DateTime<Utc>>,
    /// Page size (already clamped by the server).
    pub limit: usize,
    /// Opaque cursor from the previous page.
    pub next: Option<String>,
    /// `match[id]`.
    pub ids: Vec<String>,
    /// `match[type]`.
    pub types: Vec<String>,
    /// `match[version]`.
    pub versions: VersionFilter,
    /// `match[spec_version]`.
    pub spec_versions: Vec<String>,
}

/// One page of records, oldest `date_added` first.
#[derive(Clone, Debug, Default)]
pub struct Page {
    /// The records.
    pub records: Vec<StixRecord>,
    /// Whether more follow.
    pub more: bool,
    /// Cursor for the next page (set when `more`).
    pub next: Option<String>,
}

/// Why a source could not answer.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The request itself is wrong (a cursor that is not ours): 400.
    #[error("{0}")]
    BadRequest(String),
    /// Storage failed: 500 (the detail is logged, not returned).
    #[error("{0}")]
    Unavailable(String),
}

impl From<BadCursor> for SourceError {
    fn from(e: BadCursor) -> Self {
        SourceError::BadRequest(e.to_string())
    }
}

/// What the TAXII server serves. Implemented over the store by the API and
/// by [`super::MemorySource`] for tests and examples.
pub trait TaxiiSource: Send + Sync + 'static {
    /// Every collection the caller may read.
    fn collections(&self) -> impl Future<Output = Result<Vec<CollectionInfo>, SourceError>> + Send;

    /// One page of a collection's records matching `query`, ordered by
    /// `date_added` (ties by id, version); `Ok(None)` for an unknown
    /// collection. `next` cursors are the source's own. [`paginate`] does
    /// the filtering and paging over an in-memory slice.
    fn objects(
        &self,
        collection: &str,
        query: &ObjectQuery,
    ) -> impl Future<Output = Result<Option<Page>, SourceError>> + Send;
}

/// Error of a malformed `next` cursor.
#[derive(Debug, thiserror::Error)]
#[error("invalid next cursor")]
pub struct BadCursor;

/// The `next` cursor naming `r` as the last record returned (a source
/// over other storage pages with the same cursors).
pub fn encode_cursor(r: &StixRecord) -> String {
    let raw = format!("{}|{}|{}", r.date_added.timestamp_micros(), r.id, r.version);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// The (date_added µs, id, version) a cursor names.
pub fn decode_cursor(s: &str) -> Result<(i64, String, String), BadCursor> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| BadCursor)?;
    let raw = String::from_utf8(raw).map_err(|_| BadCursor)?;
    let mut parts = raw.splitn(3, '|');
    let us = parts.next().and_then(|p| p.parse().ok()).ok_or(BadCursor)?;
    let id = parts.next().ok_or(BadCursor)?.to_owned();
    let version = parts.next().ok_or(BadCursor)?.to_owned();
    Ok((us, id, version))
}

fn order_key(r: &StixRecord) -> (i64, &str, &str) {
    (
        r.date_added.timestamp_micros(),
        r.id.as_str(),
        r.version.as_str(),
    )
}

fn version_selected(filter: &VersionFilter, r: &StixRecord, first: &str, last: &str) -> bool {
    match filter {
        VersionFilter::Last => r.version == last,
        VersionFilter::First => r.version == first,
        VersionFilter::All => true,
        VersionFilter::Exactly(v) => v.contains(&r.version),
        VersionFilter::Union(fs) => fs.iter().any(|f| version_selected(f, r, first, last)),
    }
}

/// Filters and pages `records` (any order) for `query`: the stateless
/// cursor names the last record returned, so a page is stable under
/// concurrent additions (new records sort after it by `date_added`).
pub fn paginate(records: &[StixRecord], query: &ObjectQuery) -> Result<Page, BadCursor> {
    use std::collections::HashMap;
    // First/last version per object, over the whole collection.
    let mut span: HashMap<&str, (&str, &str)> = HashMap::new();
    for r in records {
        let e = span
            .entry(r.id.as_str())
            .or_insert((r.version.as_str(), r.version.as_str()));
        if r.version.as_str() < e.0 {
            e.0 = r.version.as_str();
        }
        if r.version.as_str() > e.1 {
            e.1 = r.version.as_str();
        }
    }
    let after = match &query.next {
        Some(c) => Some(decode_cursor(c)?),
        None => None,
    };
    let mut hits: Vec<&StixRecord> = records
        .iter()
        .filter(|r| {
            query
                .added_after
                .is_none_or(|a| r.date_added.timestamp_micros() > a.timestamp_micros())
        })
        .filter(|r| query.ids.is_empty() || query.ids.contains(&r.id))
        .filter(|r| query.types.is_empty() || query.types.iter().any(|t| t == r.stix_type()))
        .filter(|r| query.spec_versions.is_empty() || query.spec_versions.contains(&r.spec_version))
        .filter(|r| {
            let (first, last) = span[r.id.as_str()];
            version_selected(&query.versions, r, first, last)
        })
        .filter(|r| match &after {
            Some((us, id, v)) => order_key(r) > (*us, id.as_str(), v.as_str()),
            None => true,
        })
        .collect();
    hits.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
    let limit = query.limit.max(1);
    let more = hits.len() > limit;
    hits.truncate(limit);
    let next = if more {
        hits.last().map(|r| encode_cursor(r))
    } else {
        None
    };
    Ok(Page {
        records: hits.into_iter().cloned().collect(),
        more,
        next,
    })
}
