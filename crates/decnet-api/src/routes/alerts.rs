//! `/api/v1/alerts/*`: the alerts engine's rules, channels (with their
//! delivery state and a test that reports the true outcome), the history
//! of alerts with the delivery state of each message, counters, and a
//! reload of the `[alerts]`/`[siem.*]` configuration. Viewers read; admins
//! test and reload. Nothing here carries a secret: the library's views
//! hold none (channel targets are host and port only, errors are scrubbed
//! of URLs). Without an engine in this process every route answers 503.

use axum::extract::{Path, State};
use axum::Json;
use decnet_alerts::channels::TestOutcome;
use decnet_alerts::config::ChannelView;
use decnet_alerts::delivery::history::{AlertRecord, HistoryPage};
use decnet_alerts::delivery::ChannelState;
use decnet_alerts::rules::RuleView;
use decnet_alerts::siem::SiemState;
use decnet_alerts::{EngineError, EngineStats};
use serde::Serialize;

use crate::auth::{Admin, Viewer};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::{parse_uuid, ApiQuery};
use crate::schema::{Message, Paging};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Alerts kept in memory are bounded by `[alerts] history`; a page is
/// bounded here.
const MAX_PAGE: usize = 500;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rules))
        .routes(routes!(channels))
        .routes(routes!(test_channel))
        .routes(routes!(history))
        .routes(routes!(history_one))
        .routes(routes!(status))
        .routes(routes!(reload))
}

/// A channel's configuration beside its delivery state.
#[derive(Serialize)]
pub struct ChannelOut {
    /// What is configured (no secrets).
    #[serde(flatten)]
    pub config: ChannelView,
    /// Breaker, queue, counters, last error; absent for a channel whose
    /// lane is not running.
    pub state: Option<ChannelState>,
}

/// `GET /alerts/status`.
#[derive(Serialize)]
pub struct AlertsStatus {
    /// The engine task is running.
    pub running: bool,
    /// Engine counters (messages read, hits, alerts, noise, spool).
    pub engine: EngineStats,
    /// SIEM outputs.
    pub siem: Vec<SiemState>,
}

fn engine_error(e: EngineError) -> ApiError {
    match e {
        EngineError::UnknownChannel(_) => ApiError::NotFound(e.to_string()),
        EngineError::Stopped => ApiError::Unavailable(e.to_string()),
        // A channel (CA file) or SIEM output the new configuration names
        // could not be built: the request's configuration is at fault.
        other => ApiError::Validation(vec![FieldError::new(
            "body",
            "",
            other.to_string(),
            "alerts_config",
        )]),
    }
}

#[utoipa::path(get, path = "/alerts/rules", tag = "Alerts", operation_id = "alerts_rules", security(("bearer" = [])),
    responses((status = 200, description = "Built-in and custom rules with severity and enabled state", body = [Object]),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 503, description = "No alerts engine", body = crate::error::ErrorBody)))]
pub(crate) async fn rules(
    State(st): State<AppState>,
    _v: Viewer,
) -> ApiResult<Json<Vec<RuleView>>> {
    Ok(Json(st.alerts()?.handle.rules()))
}

#[utoipa::path(get, path = "/alerts/channels", tag = "Alerts", operation_id = "alerts_channels", security(("bearer" = [])),
    responses((status = 200, description = "Channels (no secrets) with their delivery state", body = [Object]),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 503, description = "No alerts engine", body = crate::error::ErrorBody)))]
pub(crate) async fn channels(
    State(st): State<AppState>,
    _v: Viewer,
) -> ApiResult<Json<Vec<ChannelOut>>> {
    let h = &st.alerts()?.handle;
    let mut states = h.channels_state();
    Ok(Json(
        h.channels()
            .into_iter()
            .map(|config| {
                let state = states
                    .iter()
                    .position(|s| s.name == config.name)
                    .map(|i| states.swap_remove(i));
                ChannelOut { config, state }
            })
            .collect(),
    ))
}

#[utoipa::path(post, path = "/alerts/channels/{name}/test", tag = "Alerts", operation_id = "alerts_channel_test", security(("bearer" = [])),
    params(("name" = String, Path, description = "Channel name")),
    responses((status = 200, description = "What really happened: `delivered`, status, error (200 whether or not the platform took it)", body = Object),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 503, description = "No alerts engine", body = crate::error::ErrorBody)))]
pub(crate) async fn test_channel(
    State(st): State<AppState>,
    a: Admin,
    Path(name): Path<String>,
) -> ApiResult<Json<TestOutcome>> {
    let out = st
        .alerts()?
        .handle
        .test_channel(&name)
        .await
        .map_err(engine_error)?;
    tracing::info!(
        user = %a.0.user.username,
        channel = %name,
        delivered = out.delivered,
        "alert channel test"
    );
    Ok(Json(out))
}

#[utoipa::path(get, path = "/alerts/history", tag = "Alerts", operation_id = "alerts_history", security(("bearer" = [])),
    params(Paging),
    responses((status = 200, description = "`{total, limit, offset, data: [{alert, deliveries: [{channel, state, attempts, last_error, …}]}]}`, newest first", body = Object),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody), (status = 503, description = "No alerts engine", body = crate::error::ErrorBody)))]
pub(crate) async fn history(
    State(st): State<AppState>,
    _v: Viewer,
    ApiQuery(p): ApiQuery<Paging>,
) -> ApiResult<Json<HistoryPage>> {
    let limit = (p.limit() as usize).min(MAX_PAGE);
    let offset = usize::try_from(p.offset.unwrap_or(0)).unwrap_or(usize::MAX);
    Ok(Json(st.alerts()?.handle.history(limit, offset)))
}

#[utoipa::path(get, path = "/alerts/history/{alert_id}", tag = "Alerts", operation_id = "alerts_history_one", security(("bearer" = [])),
    params(("alert_id" = uuid::Uuid, Path, description = "Alert id")),
    responses((status = 200, description = "One alert and its deliveries", body = Object),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 503, description = "No alerts engine", body = crate::error::ErrorBody)))]
pub(crate) async fn history_one(
    State(st): State<AppState>,
    _v: Viewer,
    Path(id): Path<String>,
) -> ApiResult<Json<AlertRecord>> {
    let id = parse_uuid("alert_id", &id)?;
    st.alerts()?
        .handle
        .alert(id)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound("no such alert in the history".into()))
}

#[utoipa::path(get, path = "/alerts/status", tag = "Alerts", operation_id = "alerts_status", security(("bearer" = [])),
    responses((status = 200, description = "Engine counters and SIEM outputs", body = Object),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 503, description = "No alerts engine", body = crate::error::ErrorBody)))]
pub(crate) async fn status(
    State(st): State<AppState>,
    _v: Viewer,
) -> ApiResult<Json<AlertsStatus>> {
    let h = &st.alerts()?.handle;
    Ok(Json(AlertsStatus {
        running: h.is_running(),
        engine: h.stats(),
        siem: h.siem_state().await,
    }))
}

#[utoipa::path(post, path = "/alerts/reload", tag = "Alerts", operation_id = "alerts_reload", security(("bearer" = [])),
    responses((status = 200, body = Message, description = "The configuration was re-read and applied (on this server)"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 409, description = "No file to re-read (bundled demo fleet)", body = crate::error::ErrorBody),
        (status = 422, description = "The configuration is invalid (`FILE:LINE: message` each); nothing changed", body = crate::error::ErrorBody),
        (status = 503, description = "No alerts engine", body = crate::error::ErrorBody)))]
pub(crate) async fn reload(State(st): State<AppState>, a: Admin) -> ApiResult<Json<Message>> {
    let backend = st.alerts()?;
    let source = backend.source.as_ref().ok_or_else(|| {
        ApiError::Conflict("this server's alerts configuration has no file to re-read".into())
    })?;
    let cfg = source().map_err(|errors| {
        ApiError::Validation(
            errors
                .iter()
                .map(|e| FieldError::new("body", "", e, "alerts_config"))
                .collect(),
        )
    })?;
    let (rules, channels, outputs) = (cfg.rules.len(), cfg.channels.len(), cfg.siem.len());
    backend.handle.reload(cfg).await.map_err(engine_error)?;
    tracing::info!(user = %a.0.user.username, rules, channels, outputs, "alerts configuration reloaded");
    Ok(Message::new(&format!(
        "Alerts configuration reloaded: {channels} channel(s), {rules} custom rule(s), {outputs} SIEM output(s)"
    )))
}
