//! `/logs`, `/logs/histogram`, `/stats`.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use decnet_store::{HistogramBucket, LogPageJson, LogQuery, Stats};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::Viewer;
use crate::error::ApiResult;
use crate::extract::{ApiQuery, Validate};
use crate::schema::{Paging, MAX_LIMIT};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(logs))
        .routes(routes!(histogram))
        .routes(routes!(stats))
}

/// Event filters (all optional) and paging.
#[derive(Deserialize, IntoParams, Default, Clone)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// Only this decky.
    #[param(max_length = 128)]
    pub decky: Option<String>,
    /// Only this service.
    #[param(max_length = 64)]
    pub service: Option<String>,
    /// Only this kind (`auth_attempt`…).
    #[param(max_length = 64)]
    pub kind: Option<String>,
    /// Only this attacker address.
    #[param(max_length = 64)]
    pub src_ip: Option<String>,
    /// Only this session.
    pub session_id: Option<Uuid>,
    /// Events at or after (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Events before (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Alias of `since` (DECNET).
    pub start_time: Option<DateTime<Utc>>,
    /// Alias of `until` (DECNET).
    pub end_time: Option<DateTime<Utc>>,
    /// Substring of the event fields.
    #[param(max_length = 256)]
    pub search: Option<String>,
    /// Page size (1-1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Rows to skip.
    #[param(minimum = 0, maximum = 1000000000)]
    pub offset: Option<u64>,
}

pub(crate) fn too_long(
    out: &mut Vec<(String, String)>,
    name: &str,
    v: &Option<String>,
    max: usize,
) {
    if v.as_ref().is_some_and(|s| s.len() > max) {
        out.push((name.into(), format!("at most {max} characters")));
    }
}

/// The event filters `/logs` and `/stream` share, as borrowed for validation.
pub(crate) struct EventFilters<'a> {
    pub decky: &'a Option<String>,
    pub service: &'a Option<String>,
    pub kind: &'a Option<String>,
    pub src_ip: &'a Option<String>,
    pub search: &'a Option<String>,
}

/// Borrows the shared filter fields of a params struct that has all of them.
macro_rules! event_filters {
    ($p:expr) => {
        $crate::routes::logs::EventFilters {
            decky: &$p.decky,
            service: &$p.service,
            kind: &$p.kind,
            src_ip: &$p.src_ip,
            search: &$p.search,
        }
    };
}
pub(crate) use event_filters;

impl EventFilters<'_> {
    /// Length checks (the `max_length`s of both routes' OpenAPI parameters).
    pub(crate) fn validate(&self, out: &mut Vec<(String, String)>) {
        too_long(out, "decky", self.decky, 128);
        too_long(out, "service", self.service, 64);
        too_long(out, "kind", self.kind, 64);
        too_long(out, "src_ip", self.src_ip, 64);
        too_long(out, "search", self.search, 256);
    }
}

impl Validate for LogParams {
    fn validate(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        event_filters!(self).validate(&mut out);
        let paging = Paging {
            limit: self.limit,
            offset: self.offset,
        };
        out.extend(paging.problems());
        out
    }
}

impl LogParams {
    /// The store query.
    pub fn to_query(&self) -> LogQuery {
        LogQuery {
            decky: self.decky.clone(),
            service: self.service.clone(),
            kind: self.kind.clone(),
            // Events store addresses in canonical form (`fd00::66`, not
            // `FD00:0::0066`), so an address filter is compared in that form.
            src_ip: self.src_ip.as_ref().map(|ip| {
                ip.parse::<std::net::IpAddr>()
                    .map(|a| a.to_canonical().to_string())
                    .unwrap_or_else(|_| ip.clone())
            }),
            session_id: self.session_id,
            since: self.since.or(self.start_time),
            until: self.until.or(self.end_time),
            search: self.search.clone().filter(|s| !s.is_empty()),
            limit: self.limit.unwrap_or(50),
            offset: self.offset.unwrap_or(0),
        }
    }
}

#[utoipa::path(get, path = "/logs", tag = "Logs",
    security(("bearer" = [])), params(LogParams),
    responses((status = 200, body = crate::schema::EventPage), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn logs(
    State(st): State<AppState>,
    _v: Viewer,
    ApiQuery(p): ApiQuery<LogParams>,
) -> ApiResult<Response> {
    Ok(event_page(st.store.query_logs_json(&p.to_query()).await?))
}

/// An event page as `{total, total_exact, limit, offset, data}`: the store
/// already rendered `data` as JSON, so it is copied in, not re-serialised
/// (building `Event`s and `serde_json::Value` fields per row was the
/// page's largest cost after the query).
pub(crate) fn event_page(p: LogPageJson) -> Response {
    use std::fmt::Write;
    let mut body = String::with_capacity(p.data.len() + 96);
    // Writing to a String cannot fail.
    let _ = write!(
        body,
        r#"{{"total":{},"total_exact":{},"limit":{},"offset":{},"data":"#,
        p.total, p.total_exact, p.limit, p.offset
    );
    body.push_str(&p.data);
    body.push('}');
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        body,
    )
        .into_response()
}

/// Histogram parameters: the log filters plus a bucket width.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct HistogramParams {
    /// Bucket width in minutes (1-1440, default 15).
    #[param(minimum = 1, maximum = 1440)]
    pub interval_minutes: Option<u32>,
    /// Only this decky.
    #[param(max_length = 128)]
    pub decky: Option<String>,
    /// Only this service.
    #[param(max_length = 64)]
    pub service: Option<String>,
    /// Only this kind.
    #[param(max_length = 64)]
    pub kind: Option<String>,
    /// Only this attacker address.
    #[param(max_length = 64)]
    pub src_ip: Option<String>,
    /// Events at or after (RFC 3339).
    pub start_time: Option<DateTime<Utc>>,
    /// Events before (RFC 3339).
    pub end_time: Option<DateTime<Utc>>,
    /// Substring of the event fields.
    #[param(max_length = 256)]
    pub search: Option<String>,
}

impl Validate for HistogramParams {
    fn validate(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self
            .interval_minutes
            .is_some_and(|m| !(1..=1440).contains(&m))
        {
            out.push((
                "interval_minutes".into(),
                "must be between 1 and 1440".into(),
            ));
        }
        event_filters!(self).validate(&mut out);
        out
    }
}

#[utoipa::path(get, path = "/logs/histogram", tag = "Logs",
    security(("bearer" = [])), params(HistogramParams),
    responses((status = 200, body = Vec<crate::schema::BucketDoc>), (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn histogram(
    State(st): State<AppState>,
    _v: Viewer,
    ApiQuery(p): ApiQuery<HistogramParams>,
) -> ApiResult<Json<Vec<HistogramBucket>>> {
    let q = LogQuery {
        decky: p.decky,
        service: p.service,
        kind: p.kind,
        src_ip: p.src_ip,
        since: p.start_time,
        until: p.end_time,
        search: p.search.filter(|s| !s.is_empty()),
        limit: MAX_LIMIT,
        ..Default::default()
    };
    let secs = p.interval_minutes.unwrap_or(15) * 60;
    Ok(Json(st.store.histogram(&q, secs).await?))
}

#[utoipa::path(get, path = "/stats", tag = "Logs",
    security(("bearer" = [])),
    responses((status = 200, body = crate::schema::StatsDoc), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn stats(State(st): State<AppState>, _v: Viewer) -> ApiResult<Json<Stats>> {
    Ok(Json(st.stats().await?))
}
