//! `/api/v1/alerts/*`: the alerts engine's rules, channels (with their
//! delivery state and a test that reports the true outcome), the history
//! of alerts with the delivery state of each message (from the store),
//! counters, a reload of the `[alerts]`/`[siem.*]` configuration, and
//! edits of channels and rules (stored, applied live, laid over the fleet
//! file: see `crate::alerts`). Viewers read; admins test, edit and reload.
//! Nothing here returns a secret: the library's views hold none (channel
//! targets are host and port only, errors are scrubbed of URLs, a channel
//! says `secret_set` instead); secrets are accepted on PUT only. Without an
//! engine in this process every route but the history answers 503.

use axum::extract::{Path, State};
use axum::Json;
use decnet_alerts::channels::TestOutcome;
use decnet_alerts::config::overrides::{section_from_json, Edit, EditError};
use decnet_alerts::config::ChannelView;
use decnet_alerts::config::{ConfigError, ConfigErrors};
use decnet_alerts::delivery::ChannelState;
use decnet_alerts::rules::RuleView;
use decnet_alerts::siem::SiemState;
use decnet_alerts::{EngineError, EngineStats};
use decnet_store::alerts_sql::AlertHistoryEntry;
use serde::Serialize;

use crate::alerts::AlertsChangeError;
use crate::auth::{Admin, Viewer};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::{parse_uuid, ApiJson, ApiQuery};
use crate::schema::{Message, Paging};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Alerts kept in the store are bounded by `[alerts] history`; a page is
/// bounded here.
const MAX_PAGE: usize = 500;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rules))
        .routes(routes!(channels))
        .routes(routes!(put_channel))
        .routes(routes!(put_rule, delete_rule))
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

/// `GET /alerts/history`: `{total, limit, offset, data}`, newest first.
#[derive(Serialize)]
pub struct HistoryOut {
    /// Alerts stored.
    pub total: u64,
    /// Page size.
    pub limit: usize,
    /// Skipped.
    pub offset: u64,
    /// The page.
    pub data: Vec<AlertHistoryEntry>,
}

/// 422 with one field path per problem (`body.<key>` when a key of the
/// request is to blame), 404/409 for what is not there or not deletable.
fn change_error(e: AlertsChangeError) -> ApiError {
    let invalid = |ConfigErrors(errors): ConfigErrors| {
        ApiError::Validation(
            errors
                .iter()
                .map(|ConfigError { key, message, .. }| {
                    FieldError::new(
                        "body",
                        key.as_deref().unwrap_or(""),
                        e_text(key.as_deref(), message),
                        "alerts_config",
                    )
                })
                .collect(),
        )
    };
    match e {
        AlertsChangeError::Edit(EditError::Invalid(errors))
        | AlertsChangeError::Invalid(errors) => invalid(errors),
        AlertsChangeError::Edit(e @ EditError::NotFound(_)) => ApiError::NotFound(e.to_string()),
        AlertsChangeError::Edit(e @ EditError::Builtin(_)) => ApiError::Conflict(e.to_string()),
        AlertsChangeError::File(errors) => ApiError::Validation(
            errors
                .iter()
                .map(|e| FieldError::new("body", "", e, "alerts_config"))
                .collect(),
        ),
        e @ AlertsChangeError::NoFile => ApiError::Conflict(e.to_string()),
        AlertsChangeError::Store(e) => ApiError::Internal(e.to_string()),
        AlertsChangeError::Engine(e) => engine_error(e),
    }
}

fn e_text(key: Option<&str>, message: &str) -> String {
    match key {
        Some(k) => format!("{k}: {message}"),
        None => message.to_owned(),
    }
}

/// A PUT body: the section's keys as a JSON object.
#[derive(serde::Deserialize)]
#[serde(transparent)]
pub struct SectionIn(serde_json::Map<String, serde_json::Value>);

impl crate::extract::Validate for SectionIn {}

/// A JSON object body as a section, or 422 on the keys that cannot be one.
fn section_of(
    section: &str,
    body: &serde_json::Map<String, serde_json::Value>,
) -> Result<std::collections::BTreeMap<String, String>, ApiError> {
    section_from_json(section, body)
        .map_err(|e| change_error(AlertsChangeError::Edit(EditError::Invalid(e))))
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
        (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn history(
    State(st): State<AppState>,
    _v: Viewer,
    ApiQuery(p): ApiQuery<Paging>,
) -> ApiResult<Json<HistoryOut>> {
    let limit = (p.limit() as usize).min(MAX_PAGE);
    let offset = p.offset.unwrap_or(0);
    let (total, data) = st
        .store
        .alert_history_page(limit as u32, offset)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Json(HistoryOut {
        total,
        limit,
        offset,
        data,
    }))
}

#[utoipa::path(get, path = "/alerts/history/{alert_id}", tag = "Alerts", operation_id = "alerts_history_one", security(("bearer" = [])),
    params(("alert_id" = uuid::Uuid, Path, description = "Alert id")),
    responses((status = 200, description = "One alert and its deliveries", body = Object),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn history_one(
    State(st): State<AppState>,
    _v: Viewer,
    Path(id): Path<String>,
) -> ApiResult<Json<AlertHistoryEntry>> {
    let id = parse_uuid("alert_id", &id)?;
    st.store
        .alert_history_get(id)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound("no such alert in the history".into()))
}

#[utoipa::path(put, path = "/alerts/channels/{name}", tag = "Alerts", operation_id = "alerts_channel_put", security(("bearer" = [])),
    params(("name" = String, Path, description = "Channel name (the `[alerts.<name>]` section)")),
    request_body(content = Object, description = "The channel's keys as in its `[alerts.<name>]` section (`type` required; lists as arrays or comma-separated). Secrets (`url`, `secret`, `routing_key`, `password`) are write-only: left out, the value in force is kept (same `type`). Replaces the fleet file's section of that name; stored, shared by servers on the same store, applied at once."),
    responses((status = 200, description = "The channel as now configured (no secrets; `secret_set`)", body = Object),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 409, description = "The name is a registered webhook's channel (`webhook-…`)", body = crate::error::ErrorBody),
        (status = 415, body = crate::error::ErrorBody),
        (status = 422, description = "Invalid (field paths `body.<key>`); nothing changed", body = crate::error::ErrorBody),
        (status = 503, description = "No alerts engine", body = crate::error::ErrorBody)))]
pub(crate) async fn put_channel(
    State(st): State<AppState>,
    a: Admin,
    Path(name): Path<String>,
    ApiJson(SectionIn(body)): ApiJson<SectionIn>,
) -> ApiResult<Json<ChannelView>> {
    if name.starts_with(crate::webhooks::CHANNEL_PREFIX) {
        // Those are the registered webhooks' channels: a section of that
        // name would silently replace one of them.
        return Err(ApiError::Conflict(format!(
            "channel names starting with {:?} belong to /webhooks; edit the webhook there",
            crate::webhooks::CHANNEL_PREFIX
        )));
    }
    let map = section_of(&format!("alerts.{name}"), &body)?;
    let h = apply_edit(&st, &a, Edit::PutChannel(name.clone(), map)).await?;
    h.channels()
        .into_iter()
        .find(|c| c.name == name)
        .map(Json)
        .ok_or_else(|| ApiError::Internal(format!("channel {name} missing after its edit")))
}

/// Applies an edit (stored, then live) and logs who made it; the engine
/// to read the result from.
async fn apply_edit(
    st: &AppState,
    a: &Admin,
    edit: Edit,
) -> ApiResult<std::sync::Arc<decnet_alerts::AlertHandle>> {
    let backend = st.alerts()?;
    let what = match &edit {
        Edit::PutChannel(n, _) => format!("channel {n} edited"),
        Edit::PutRule(id, _) => format!("rule {id} edited"),
        Edit::DeleteRule(id) => format!("rule {id} deleted"),
    };
    backend.edit(&*st.store, edit).await.map_err(change_error)?;
    tracing::info!(user = %a.0.user.username, "alerts: {what} through the API");
    Ok(backend.handle.clone())
}

#[utoipa::path(put, path = "/alerts/rules/{id}", tag = "Alerts", operation_id = "alerts_rule_put", security(("bearer" = [])),
    params(("id" = String, Path, description = "Rule id: a built-in's (only `enabled`, `severity`) or a custom rule's (`[alerts.rule.<id>]`)")),
    request_body(content = Object, description = "A custom rule's keys as in its `[alerts.rule.<id>]` section, or a built-in's `enabled`/`severity`. Stored, shared by servers on the same store, applied at once; wins over the fleet file for this rule."),
    responses((status = 200, description = "The rule as now in effect", body = Object),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 409, description = "The name is a registered webhook's channel (`webhook-…`)", body = crate::error::ErrorBody),
        (status = 415, body = crate::error::ErrorBody),
        (status = 422, description = "Invalid (field paths `body.<key>`); nothing changed", body = crate::error::ErrorBody),
        (status = 503, description = "No alerts engine", body = crate::error::ErrorBody)))]
pub(crate) async fn put_rule(
    State(st): State<AppState>,
    a: Admin,
    Path(id): Path<String>,
    ApiJson(SectionIn(body)): ApiJson<SectionIn>,
) -> ApiResult<Json<RuleView>> {
    let map = section_of(&format!("alerts.rule.{id}"), &body)?;
    let h = apply_edit(&st, &a, Edit::PutRule(id.clone(), map)).await?;
    h.rules()
        .into_iter()
        .find(|r| r.id == id)
        .map(Json)
        .ok_or_else(|| ApiError::Internal(format!("rule {id} missing after its edit")))
}

#[utoipa::path(delete, path = "/alerts/rules/{id}", tag = "Alerts", operation_id = "alerts_rule_delete", security(("bearer" = [])),
    params(("id" = String, Path, description = "Custom rule id")),
    responses((status = 200, body = Message, description = "Deleted (also hides a rule the fleet file defines); applied at once"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, description = "No such custom rule", body = crate::error::ErrorBody),
        (status = 409, description = "A built-in rule (disable it instead)", body = crate::error::ErrorBody),
        (status = 503, description = "No alerts engine", body = crate::error::ErrorBody)))]
pub(crate) async fn delete_rule(
    State(st): State<AppState>,
    a: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<Message>> {
    apply_edit(&st, &a, Edit::DeleteRule(id.clone())).await?;
    Ok(Message::new(&format!("Rule {id} deleted")))
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
    let cfg = st
        .alerts()?
        .reload_file(&*st.store)
        .await
        .map_err(change_error)?;
    let (rules, channels, outputs) = (cfg.rules.len(), cfg.channels.len(), cfg.siem.len());
    tracing::info!(user = %a.0.user.username, rules, channels, outputs, "alerts configuration reloaded");
    Ok(Message::new(&format!(
        "Alerts configuration reloaded: {channels} channel(s), {rules} custom rule(s), {outputs} SIEM output(s)"
    )))
}
