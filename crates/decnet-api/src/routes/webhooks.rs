//! `/webhooks` CRUD and `/webhooks/{id}/test` (admin only).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;

use crate::auth::Admin;
use crate::error::ApiResult;
use crate::extract::{parse_uuid, ApiJson};
use crate::schema::Message;
use crate::state::AppState;
use crate::webhooks::{TestResult, WebhookIn, WebhookView};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(test))
}

#[utoipa::path(get, path = "/webhooks", operation_id = "list_webhooks", tag = "Webhooks", security(("bearer" = [])),
    responses((status = 200, body = Vec<WebhookView>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn list(State(st): State<AppState>, _a: Admin) -> Json<Vec<WebhookView>> {
    Json(st.webhooks.list())
}

#[utoipa::path(post, path = "/webhooks", operation_id = "create_webhook", tag = "Webhooks", security(("bearer" = [])), request_body = WebhookIn,
    responses((status = 201, body = WebhookView, description = "Created; the only response that shows the secret"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 409, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn create(
    State(st): State<AppState>,
    _a: Admin,
    ApiJson(body): ApiJson<WebhookIn>,
) -> ApiResult<(StatusCode, Json<WebhookView>)> {
    Ok((StatusCode::CREATED, Json(st.webhooks.create(body).await?)))
}

#[utoipa::path(get, path = "/webhooks/{webhook_id}", operation_id = "get_webhook", tag = "Webhooks", security(("bearer" = [])),
    params(("webhook_id" = uuid::Uuid, Path, description = "Webhook id")),
    responses((status = 200, body = WebhookView), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn get_one(
    State(st): State<AppState>,
    _a: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookView>> {
    Ok(Json(st.webhooks.get(parse_uuid("webhook_id", &id)?)?))
}

#[utoipa::path(put, path = "/webhooks/{webhook_id}", operation_id = "update_webhook", tag = "Webhooks", security(("bearer" = [])), request_body = WebhookIn,
    params(("webhook_id" = uuid::Uuid, Path, description = "Webhook id")),
    responses((status = 200, body = WebhookView), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn update(
    State(st): State<AppState>,
    _a: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<WebhookIn>,
) -> ApiResult<Json<WebhookView>> {
    let id = parse_uuid("webhook_id", &id)?;
    Ok(Json(st.webhooks.update(id, body).await?))
}

#[utoipa::path(delete, path = "/webhooks/{webhook_id}", operation_id = "delete_webhook", tag = "Webhooks", security(("bearer" = [])),
    params(("webhook_id" = uuid::Uuid, Path, description = "Webhook id")),
    responses((status = 200, body = Message), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn delete(
    State(st): State<AppState>,
    _a: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<Message>> {
    st.webhooks.delete(parse_uuid("webhook_id", &id)?).await?;
    Ok(Message::new("Webhook deleted"))
}

#[utoipa::path(post, path = "/webhooks/{webhook_id}/test", operation_id = "test_webhook", tag = "Webhooks", security(("bearer" = [])),
    params(("webhook_id" = uuid::Uuid, Path, description = "Webhook id")),
    responses((status = 200, body = TestResult), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn test(
    State(st): State<AppState>,
    _a: Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<TestResult>> {
    Ok(Json(
        st.webhooks.test(parse_uuid("webhook_id", &id)?).await?,
    ))
}
