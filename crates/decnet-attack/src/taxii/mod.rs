//! A read-only TAXII 2.1 server as an axum [`Router`] under `/taxii2/`:
//! discovery, one API root, collections, objects (with `added_after`,
//! `limit`, `next` and `match[...]`), object by id, versions and manifests.
//! Generic over where objects come from ([`TaxiiSource`]) and who may read
//! ([`TaxiiAuth`]).

mod auth;
mod memory;
mod source;

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

pub use auth::{presented_token, AuthError, Principal, StaticTokens, TaxiiAuth};
pub use memory::MemorySource;
pub use source::{
    decode_cursor, encode_cursor, paginate, BadCursor, CollectionInfo, ObjectQuery, Page,
    SourceError, StixRecord, TaxiiSource, VersionFilter,
};

/// Media type of every TAXII 2.1 response.
pub const TAXII_MEDIA_TYPE: &str = "application/taxii+json;version=2.1";
/// Media type of the STIX objects served (listed in collections and manifests).
pub const STIX_MEDIA_TYPE: &str = "application/stix+json;version=2.1";

/// Server description and paging limits.
#[derive(Clone, Debug)]
pub struct TaxiiConfig {
    /// Discovery title.
    pub title: String,
    /// Discovery description.
    pub description: String,
    /// Name of the one API root (`api` → `/taxii2/api/`).
    pub api_root: String,
    /// Page size when the client gives no `limit`.
    pub default_limit: usize,
    /// Largest page.
    pub max_limit: usize,
}

impl Default for TaxiiConfig {
    fn default() -> Self {
        TaxiiConfig {
            title: "decnet TAXII".into(),
            description: "Threat intelligence observed by a decnet deception fleet".into(),
            api_root: "api".into(),
            default_limit: 100,
            max_limit: 1000,
        }
    }
}

struct Inner<S, A> {
    config: TaxiiConfig,
    source: Arc<S>,
    auth: Arc<A>,
}

/// An error answered as a TAXII error document.
#[derive(Debug)]
pub struct TaxiiError {
    status: StatusCode,
    title: &'static str,
    description: String,
}

impl TaxiiError {
    fn new(status: StatusCode, title: &'static str, description: impl Into<String>) -> Self {
        TaxiiError {
            status,
            title,
            description: description.into(),
        }
    }
}

impl IntoResponse for TaxiiError {
    fn into_response(self) -> Response {
        let body = json!({
            "title": self.title,
            "description": self.description,
            "http_status": self.status.as_u16().to_string(),
        });
        let mut r = taxii_json(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Basic realm=\"decnet TAXII\", Bearer realm=\"decnet TAXII\"",
                ),
            );
        }
        r
    }
}

impl From<SourceError> for TaxiiError {
    fn from(e: SourceError) -> Self {
        match e {
            SourceError::BadRequest(m) => {
                TaxiiError::new(StatusCode::BAD_REQUEST, "Bad request", m)
            }
            SourceError::Unavailable(m) => {
                tracing::error!("TAXII source failed: {m}");
                TaxiiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal error",
                    "the object store failed",
                )
            }
        }
    }
}

fn taxii_json(status: StatusCode, body: &Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(TAXII_MEDIA_TYPE),
    );
    r
}

/// TAXII timestamps carry microseconds so `added_after` resumes exactly.
fn taxii_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Whether an `Accept` header admits TAXII 2.1 JSON.
fn accepts_taxii(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let ty = parts.next().unwrap_or("").to_ascii_lowercase();
        let version = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("version"))
            .map(|(_, v)| v.trim().to_owned());
        match ty.as_str() {
            "*/*" | "application/*" => true,
            "application/taxii+json" => version.is_none_or(|v| v == "2.1"),
            _ => false,
        }
    })
}

impl<S: TaxiiSource, A: TaxiiAuth> Inner<S, A> {
    async fn admit(&self, headers: &HeaderMap) -> Result<Principal, TaxiiError> {
        let who = self.auth.authorize(headers).await.map_err(|e| match e {
            AuthError::Missing => TaxiiError::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "credentials are required",
            ),
            AuthError::Invalid => TaxiiError::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "the credentials were not accepted",
            ),
            AuthError::Forbidden => TaxiiError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "this account may not read TAXII collections",
            ),
        })?;
        if !accepts_taxii(headers) {
            return Err(TaxiiError::new(
                StatusCode::NOT_ACCEPTABLE,
                "Not acceptable",
                format!("this server answers {TAXII_MEDIA_TYPE}"),
            ));
        }
        Ok(who)
    }

    /// Admits the caller, checks the API root and parses the paging/filter
    /// query: the common start of every object-listing endpoint.
    async fn listing_query(
        &self,
        headers: &HeaderMap,
        root: &str,
        raw: Option<&str>,
    ) -> Result<ObjectQuery, TaxiiError> {
        self.admit(headers).await?;
        self.root(root)?;
        parse_query(raw, &self.config, VersionFilter::Last)
    }

    fn root(&self, root: &str) -> Result<(), TaxiiError> {
        if root == self.config.api_root {
            Ok(())
        } else {
            Err(not_found("no such API root"))
        }
    }

    async fn collection(&self, id: &str) -> Result<CollectionInfo, TaxiiError> {
        self.source
            .collections()
            .await?
            .into_iter()
            .find(|c| c.id == id || c.alias.as_deref() == Some(id))
            .ok_or_else(|| not_found("no such collection"))
    }

    async fn page(&self, collection: &str, q: &ObjectQuery) -> Result<Page, TaxiiError> {
        self.source
            .objects(collection, q)
            .await?
            .ok_or_else(|| not_found("no such collection"))
    }
}

fn not_found(what: &str) -> TaxiiError {
    TaxiiError::new(StatusCode::NOT_FOUND, "Not found", what)
}

fn bad_request(what: String) -> TaxiiError {
    TaxiiError::new(StatusCode::BAD_REQUEST, "Bad request", what)
}

fn collection_json(c: &CollectionInfo) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or_else(|_| json!({}));
    v["can_read"] = Value::Bool(true);
    v["can_write"] = Value::Bool(false);
    v["media_types"] = json!([STIX_MEDIA_TYPE]);
    v
}

fn parse_versions(s: &str) -> VersionFilter {
    let parts: Vec<VersionFilter> = s
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match p {
            "last" => VersionFilter::Last,
            "first" => VersionFilter::First,
            "all" => VersionFilter::All,
            v => VersionFilter::Exactly(vec![v.to_owned()]),
        })
        .collect();
    match parts.len() {
        0 => VersionFilter::Last,
        1 => parts.into_iter().next().unwrap_or_default(),
        _ => VersionFilter::Union(parts),
    }
}

/// Reads the query string of an objects/manifest/versions request.
fn parse_query(
    raw: Option<&str>,
    config: &TaxiiConfig,
    default_versions: VersionFilter,
) -> Result<ObjectQuery, TaxiiError> {
    let pairs: Vec<(String, String)> = match raw {
        Some(q) => {
            serde_urlencoded::from_str(q).map_err(|e| bad_request(format!("query string: {e}")))?
        }
        None => Vec::new(),
    };
    let mut q = ObjectQuery {
        limit: config.default_limit,
        versions: default_versions,
        ..ObjectQuery::default()
    };
    let list = |v: &str| -> Vec<String> {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    for (k, v) in &pairs {
        match k.as_str() {
            "added_after" => {
                let t = DateTime::parse_from_rfc3339(v).map_err(|_| {
                    bad_request(format!("added_after {v:?} is not an RFC 3339 timestamp"))
                })?;
                q.added_after = Some(t.with_timezone(&Utc));
            }
            "limit" => {
                let n: usize =
                    v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        bad_request(format!("limit {v:?} is not a positive integer"))
                    })?;
                q.limit = n.min(config.max_limit);
            }
            "next" => q.next = Some(v.clone()),
            "match[id]" => q.ids.extend(list(v)),
            "match[type]" => q.types.extend(list(v)),
            "match[version]" => q.versions = parse_versions(v),
            "match[spec_version]" => q.spec_versions.extend(list(v)),
            _ => {}
        }
    }
    Ok(q)
}

/// Adds `X-TAXII-Date-Added-First/Last` for a page.
fn with_date_headers(mut r: Response, page: &Page) -> Response {
    if let (Some(first), Some(last)) = (page.records.first(), page.records.last()) {
        for (name, t) in [
            ("x-taxii-date-added-first", first.date_added),
            ("x-taxii-date-added-last", last.date_added),
        ] {
            if let Ok(v) = HeaderValue::from_str(&taxii_time(t)) {
                r.headers_mut().insert(name, v);
            }
        }
    }
    r
}

/// A `200` TAXII envelope of one page: `items` under `key`, paging and date
/// headers.
fn page_response(page: &Page, key: &str, items: Vec<Value>) -> Response {
    with_date_headers(taxii_json(StatusCode::OK, &paged(page, key, items)), page)
}

/// The STIX objects of a page's records, in order.
fn page_objects(page: &Page) -> Vec<Value> {
    page.records.iter().map(|r| (*r.object).clone()).collect()
}

fn paged(page: &Page, key: &str, items: Vec<Value>) -> Value {
    let mut v = json!({ "more": page.more });
    if let Some(next) = &page.next {
        v["next"] = Value::String(next.clone());
    }
    if !items.is_empty() {
        v[key] = Value::Array(items);
    }
    v
}

type St<S, A> = State<Arc<Inner<S, A>>>;

async fn discovery<S: TaxiiSource, A: TaxiiAuth>(
    State(st): St<S, A>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    st.admit(&headers).await?;
    let root = format!("/taxii2/{}/", st.config.api_root);
    Ok(taxii_json(
        StatusCode::OK,
        &json!({
            "title": st.config.title,
            "description": st.config.description,
            "default": root,
            "api_roots": [root],
        }),
    ))
}

async fn api_root<S: TaxiiSource, A: TaxiiAuth>(
    State(st): St<S, A>,
    Path(root): Path<String>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    st.admit(&headers).await?;
    st.root(&root)?;
    Ok(taxii_json(
        StatusCode::OK,
        &json!({
            "title": st.config.title,
            "description": st.config.description,
            "versions": [TAXII_MEDIA_TYPE],
            "max_content_length": 0,
        }),
    ))
}

async fn collections<S: TaxiiSource, A: TaxiiAuth>(
    State(st): St<S, A>,
    Path(root): Path<String>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    st.admit(&headers).await?;
    st.root(&root)?;
    let list: Vec<Value> = st
        .source
        .collections()
        .await?
        .iter()
        .map(collection_json)
        .collect();
    let body = if list.is_empty() {
        json!({})
    } else {
        json!({ "collections": list })
    };
    Ok(taxii_json(StatusCode::OK, &body))
}

async fn collection<S: TaxiiSource, A: TaxiiAuth>(
    State(st): St<S, A>,
    Path((root, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    st.admit(&headers).await?;
    st.root(&root)?;
    Ok(taxii_json(
        StatusCode::OK,
        &collection_json(&st.collection(&id).await?),
    ))
}

async fn objects<S: TaxiiSource, A: TaxiiAuth>(
    State(st): St<S, A>,
    Path((root, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    let q = st.listing_query(&headers, &root, raw.as_deref()).await?;
    let page = st.page(&id, &q).await?;
    Ok(page_response(&page, "objects", page_objects(&page)))
}

/// The page of one object's records (`versions` forces every version); 404
/// when the object is not in the collection.
async fn one_object<S: TaxiiSource, A: TaxiiAuth>(
    st: &Inner<S, A>,
    (root, id, object_id): (String, String, String),
    raw: Option<String>,
    headers: &HeaderMap,
    all_versions: bool,
) -> Result<Page, TaxiiError> {
    let mut q = st.listing_query(headers, &root, raw.as_deref()).await?;
    q.ids = vec![object_id];
    if all_versions {
        q.versions = VersionFilter::All;
    }
    let page = st.page(&id, &q).await?;
    if page.records.is_empty() && q.next.is_none() {
        return Err(not_found("no such object"));
    }
    Ok(page)
}

async fn object<S: TaxiiSource, A: TaxiiAuth>(
    State(st): St<S, A>,
    Path(path): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    let page = one_object(&st, path, raw, &headers, false).await?;
    Ok(page_response(&page, "objects", page_objects(&page)))
}

async fn versions<S: TaxiiSource, A: TaxiiAuth>(
    State(st): St<S, A>,
    Path(path): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    let page = one_object(&st, path, raw, &headers, true).await?;
    let items = page
        .records
        .iter()
        .map(|r| Value::String(r.version.clone()))
        .collect();
    Ok(page_response(&page, "versions", items))
}

async fn manifest<S: TaxiiSource, A: TaxiiAuth>(
    State(st): St<S, A>,
    Path((root, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    let q = st.listing_query(&headers, &root, raw.as_deref()).await?;
    let page = st.page(&id, &q).await?;
    let items = page
        .records
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "date_added": taxii_time(r.date_added),
                "version": r.version,
                "media_type": STIX_MEDIA_TYPE,
            })
        })
        .collect();
    Ok(page_response(&page, "objects", items))
}

/// Writes are refused: every collection is read-only.
async fn read_only<S: TaxiiSource, A: TaxiiAuth>(
    State(st): St<S, A>,
    headers: HeaderMap,
) -> Result<Response, TaxiiError> {
    st.admit(&headers).await?;
    Err(TaxiiError::new(
        StatusCode::FORBIDDEN,
        "Forbidden",
        "collections are read-only",
    ))
}

/// The TAXII router: merge it into the API's router (its paths start with
/// `/taxii2/`). It sets no fallback, so merging never clashes with the API's.
pub fn router<S: TaxiiSource, A: TaxiiAuth>(
    config: TaxiiConfig,
    source: Arc<S>,
    auth: Arc<A>,
) -> Router {
    let state = Arc::new(Inner {
        config,
        source,
        auth,
    });
    let routes: Router<Arc<Inner<S, A>>> = Router::new()
        .route("/taxii2/", get(discovery::<S, A>))
        .route("/taxii2/{root}/", get(api_root::<S, A>))
        .route("/taxii2/{root}/collections/", get(collections::<S, A>))
        .route("/taxii2/{root}/collections/{id}/", get(collection::<S, A>))
        .route(
            "/taxii2/{root}/collections/{id}/objects/",
            get(objects::<S, A>).post(read_only::<S, A>),
        )
        .route(
            "/taxii2/{root}/collections/{id}/objects/{object_id}/",
            get(object::<S, A>).delete(read_only::<S, A>),
        )
        .route(
            "/taxii2/{root}/collections/{id}/objects/{object_id}/versions/",
            get(versions::<S, A>),
        )
        .route(
            "/taxii2/{root}/collections/{id}/manifest/",
            get(manifest::<S, A>),
        );
    routes.with_state(state)
}

#[cfg(test)]
mod tests;
