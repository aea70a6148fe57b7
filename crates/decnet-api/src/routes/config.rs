//! `/config` and `/config/users` (admin-only user management).

use axum::extract::{Path, State};
use axum::Json;
use chrono::Utc;
use decnet_store::{Role, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{hash_password, new_user, Admin, Viewer};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::extract::{parse_uuid, ApiJson, Validate};
use crate::routes::auth::password_problems;
use crate::schema::Message;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Settings key of the deployment limit.
pub const LIMITS_KEY: &str = "config_limits";
/// Default deployment limit.
pub const DEFAULT_DEPLOYMENT_LIMIT: u32 = 10;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_config))
        .routes(routes!(put_deployment_limit))
        .routes(routes!(list_users, create_user))
        .routes(routes!(delete_user))
        .routes(routes!(update_role))
        .routes(routes!(reset_password))
        .routes(routes!(reload))
}

/// A user as shown to admins.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct UserOut {
    /// Id.
    pub uuid: Uuid,
    /// Login name.
    pub username: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// Password change pending.
    pub must_change_password: bool,
}

impl From<&User> for UserOut {
    fn from(u: &User) -> Self {
        UserOut {
            uuid: u.uuid,
            username: u.username.clone(),
            role: u.role.as_str().into(),
            must_change_password: u.must_change_password,
        }
    }
}

/// `GET /config`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ConfigOut {
    /// Caller's role.
    pub role: String,
    /// Most deckies a deployment may create.
    pub deployment_limit: u32,
    /// Admins only: every user.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub users: Option<Vec<UserOut>>,
    /// Present (true) when `DECNET_DEVELOPER=true` and the caller is an admin.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub developer_mode: Option<bool>,
}

async fn deployment_limit(st: &AppState) -> ApiResult<u32> {
    Ok(st
        .store
        .get_setting(LIMITS_KEY)
        .await?
        .and_then(|v| v.get("deployment_limit").and_then(|n| n.as_u64()))
        .map(|n| n.min(u32::MAX as u64) as u32)
        .unwrap_or(DEFAULT_DEPLOYMENT_LIMIT))
}

#[utoipa::path(get, path = "/config", tag = "Configuration",
    security(("bearer" = [])),
    responses((status = 200, body = ConfigOut), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn get_config(
    State(st): State<AppState>,
    Viewer(u): Viewer,
) -> ApiResult<Json<ConfigOut>> {
    let admin = u.user.role == Role::Admin;
    let users = if admin {
        Some(users_out(&st).await?)
    } else {
        None
    };
    Ok(Json(ConfigOut {
        role: u.user.role.as_str().into(),
        deployment_limit: deployment_limit(&st).await?,
        users,
        developer_mode: (admin && st.config.developer).then_some(true),
    }))
}

/// Deployment limit body.
#[derive(Deserialize, ToSchema)]
pub struct LimitIn {
    /// 1-500.
    #[schema(minimum = 1, maximum = 500)]
    pub deployment_limit: u32,
}

impl Validate for LimitIn {
    fn validate(&self) -> Vec<(String, String)> {
        if (1..=500).contains(&self.deployment_limit) {
            Vec::new()
        } else {
            vec![(
                "deployment_limit".into(),
                "must be between 1 and 500".into(),
            )]
        }
    }
}

#[utoipa::path(put, path = "/config/deployment-limit", tag = "Configuration",
    security(("bearer" = [])), request_body = LimitIn,
    responses((status = 200, body = Message), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 415, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn put_deployment_limit(
    State(st): State<AppState>,
    _a: Admin,
    ApiJson(body): ApiJson<LimitIn>,
) -> ApiResult<Json<Message>> {
    st.store
        .put_setting(
            LIMITS_KEY,
            &serde_json::json!({"deployment_limit": body.deployment_limit}),
        )
        .await?;
    Ok(Message::new("Deployment limit updated"))
}

#[utoipa::path(get, path = "/config/users", tag = "Configuration",
    security(("bearer" = [])),
    responses((status = 200, body = Vec<UserOut>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody)))]
pub(crate) async fn list_users(
    State(st): State<AppState>,
    _a: Admin,
) -> ApiResult<Json<Vec<UserOut>>> {
    Ok(Json(users_out(&st).await?))
}

/// Every account as the API shows it (no password hashes).
async fn users_out(st: &AppState) -> ApiResult<Vec<UserOut>> {
    Ok(st
        .store
        .list_users()
        .await?
        .iter()
        .map(UserOut::from)
        .collect())
}

/// New user.
#[derive(Deserialize, ToSchema)]
pub struct UserIn {
    /// 1-64 characters: letters, digits, `._-@`.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._@-]+$")]
    pub username: String,
    /// 8-128 characters.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    /// `admin` or `viewer` (default viewer).
    #[serde(default = "viewer")]
    #[schema(pattern = "^(admin|viewer)$")]
    pub role: String,
}

fn viewer() -> String {
    "viewer".into()
}

/// Username rule shared with the CLI.
pub fn username_ok(u: &str) -> bool {
    !u.is_empty()
        && u.len() <= 64
        && u.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
}

impl Validate for UserIn {
    fn validate(&self) -> Vec<(String, String)> {
        let mut v = password_problems("password", &self.password);
        if !username_ok(&self.username) {
            v.push((
                "username".into(),
                "1-64 characters: letters, digits, ._@-".into(),
            ));
        }
        if Role::parse(&self.role).is_none() {
            v.push(("role".into(), "must be admin or viewer".into()));
        }
        v
    }
}

#[utoipa::path(post, path = "/config/users", tag = "Configuration",
    security(("bearer" = [])), request_body = UserIn,
    responses((status = 200, body = UserOut), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 409, description = "Username exists", body = crate::error::ErrorBody),
        (status = 415, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn create_user(
    State(st): State<AppState>,
    _a: Admin,
    ApiJson(body): ApiJson<UserIn>,
) -> ApiResult<Json<UserOut>> {
    if st.store.user_by_name(&body.username).await?.is_some() {
        return Err(ApiError::Conflict("Username already exists".into()));
    }
    let role = Role::parse(&body.role).unwrap_or(Role::Viewer);
    let user = new_user(body.username, &body.password, role, true).await?;
    st.store.create_user(&user).await?;
    Ok(Json(UserOut::from(&user)))
}

#[utoipa::path(delete, path = "/config/users/{user_uuid}", tag = "Configuration",
    security(("bearer" = [])),
    params(("user_uuid" = Uuid, Path, description = "User id")),
    responses((status = 200, body = Message), (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "Not admin / cannot delete yourself", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn delete_user(
    State(st): State<AppState>,
    Admin(me): Admin,
    Path(id): Path<String>,
) -> ApiResult<Json<Message>> {
    let id = parse_uuid("user_uuid", &id)?;
    if id == me.user.uuid {
        return Err(ApiError::Forbidden("Cannot delete your own account".into()));
    }
    if st.store.user_by_id(id).await?.is_none() {
        return Err(ApiError::NotFound("User not found".into()));
    }
    st.store.delete_user(id).await?;
    st.token_cache.forget_user(id);
    Ok(Message::new("User deleted"))
}

/// Role change.
#[derive(Deserialize, ToSchema)]
pub struct RoleIn {
    /// `admin` or `viewer`.
    #[schema(pattern = "^(admin|viewer)$")]
    pub role: String,
}

impl Validate for RoleIn {
    fn validate(&self) -> Vec<(String, String)> {
        if Role::parse(&self.role).is_none() {
            vec![("role".into(), "must be admin or viewer".into())]
        } else {
            Vec::new()
        }
    }
}

#[utoipa::path(put, path = "/config/users/{user_uuid}/role", tag = "Configuration",
    security(("bearer" = [])), request_body = RoleIn,
    params(("user_uuid" = Uuid, Path, description = "User id")),
    responses((status = 200, body = Message), (status = 401, body = crate::error::ErrorBody),
        (status = 403, description = "Not admin / cannot change own role", body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn update_role(
    State(st): State<AppState>,
    Admin(me): Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RoleIn>,
) -> ApiResult<Json<Message>> {
    let id = parse_uuid("user_uuid", &id)?;
    if id == me.user.uuid {
        return Err(ApiError::Forbidden("Cannot change your own role".into()));
    }
    let mut user = st
        .store
        .user_by_id(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("User not found".into()))?;
    user.role = Role::parse(&body.role).unwrap_or(Role::Viewer);
    // A privilege change ends the user's sessions.
    user.password_changed_at = Utc::now();
    st.store.update_user(&user).await?;
    st.token_cache.forget_user(user.uuid);
    Ok(Message::new("User role updated"))
}

/// Admin password reset.
#[derive(Deserialize, ToSchema)]
pub struct ResetIn {
    /// 8-128 characters; the user must change it at next login.
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

impl Validate for ResetIn {
    fn validate(&self) -> Vec<(String, String)> {
        password_problems("new_password", &self.new_password)
    }
}

#[utoipa::path(put, path = "/config/users/{user_uuid}/reset-password", tag = "Configuration",
    security(("bearer" = [])), request_body = ResetIn,
    params(("user_uuid" = Uuid, Path, description = "User id")),
    responses((status = 200, body = Message), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 415, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn reset_password(
    State(st): State<AppState>,
    _a: Admin,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ResetIn>,
) -> ApiResult<Json<Message>> {
    let id = parse_uuid("user_uuid", &id)?;
    let mut user = st
        .store
        .user_by_id(id)
        .await?
        .ok_or_else(|| ApiError::NotFound("User not found".into()))?;
    user.password_hash = hash_password(&body.new_password).await?;
    user.must_change_password = true;
    user.password_changed_at = Utc::now();
    st.store.update_user(&user).await?;
    st.token_cache.forget_user(user.uuid);
    Ok(Message::new("Password reset successfully"))
}

#[utoipa::path(post, path = "/config/reload", tag = "Configuration", operation_id = "config_reload", security(("bearer" = [])),
    responses((status = 200, body = crate::reload::ReloadReport, description = "The fleet file was re-read and applied (deckies added, removed, redeployed; response policy; alerts)"),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 409, description = "No file to re-read (bundled demo fleet)", body = crate::error::ErrorBody),
        (status = 422, description = "The file is invalid (`FILE:LINE: message` each); the running configuration is kept", body = crate::error::ErrorBody)))]
pub(crate) async fn reload(
    State(st): State<AppState>,
    a: Admin,
) -> ApiResult<Json<crate::reload::ReloadReport>> {
    let reload = st
        .reload
        .as_ref()
        .ok_or_else(|| ApiError::Conflict("this server runs no fleet file to re-read".into()))?;
    let report = (reload.0)().await.map_err(|errors| {
        ApiError::Validation(
            errors
                .iter()
                .map(|e| FieldError::new("body", "", e, "fleet_config"))
                .collect(),
        )
    })?;
    tracing::info!(user = %a.0.user.username, ?report, "fleet file reloaded");
    Ok(Json(report))
}
