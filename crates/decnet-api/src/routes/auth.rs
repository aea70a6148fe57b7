//! `/auth/*`: login (rate limited), logout (revokes the jti), change-password,
//! sse-ticket.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::limiter::source_of;
use crate::auth::{claims_expiry, hash_password, verify_password, Authenticated, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, Validate};
use crate::schema::Message;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Shortest password accepted.
pub const MIN_PASSWORD: usize = 8;
/// Longest password accepted.
pub const MAX_PASSWORD: usize = 128;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(change_password))
        .routes(routes!(sse_ticket))
}

/// Login body.
#[derive(Deserialize, ToSchema)]
pub struct LoginIn {
    /// Username.
    #[schema(min_length = 1, max_length = 64)]
    pub username: String,
    /// Password.
    #[schema(min_length = 1, max_length = 128)]
    pub password: String,
}

impl Validate for LoginIn {
    fn validate(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        if self.username.is_empty() || self.username.len() > 64 {
            v.push(("username".into(), "must be 1-64 characters".into()));
        }
        if self.password.is_empty() || self.password.len() > MAX_PASSWORD {
            v.push(("password".into(), "must be 1-128 characters".into()));
        }
        v
    }
}

/// Login result.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TokenOut {
    /// JWT (HS256).
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// When true, every route but change-password and logout answers 403.
    pub must_change_password: bool,
}

/// Password checks shared by change-password, user creation and resets.
pub fn password_problems(field: &str, pw: &str) -> Vec<(String, String)> {
    if pw.chars().count() < MIN_PASSWORD || pw.len() > MAX_PASSWORD {
        vec![(
            field.into(),
            format!("must be {MIN_PASSWORD}-{MAX_PASSWORD} characters"),
        )]
    } else {
        Vec::new()
    }
}

#[utoipa::path(post, path = "/auth/login", tag = "Authentication",
    request_body = LoginIn,
    responses(
        (status = 200, body = TokenOut),
        (status = 401, description = "Bad credentials", body = crate::error::ErrorBody),
        (status = 415, description = "Not JSON", body = crate::error::ErrorBody),
        (status = 422, description = "Validation error", body = crate::error::ErrorBody),
        (status = 429, description = "Too many failed logins from this source (Retry-After)", body = crate::error::ErrorBody),
    ))]
pub(crate) async fn login(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiJson(body): ApiJson<LoginIn>,
) -> ApiResult<Json<TokenOut>> {
    let source = source_of(peer.ip());
    if let Err(wait) = st.login_limiter.check(&source) {
        tracing::warn!(ip = %peer.ip(), username = %body.username, "login rate limit hit");
        return Err(ApiError::TooManyRequests {
            detail: format!("Too many failed logins from this address; try again in {wait} s"),
            retry_after: wait,
        });
    }
    let username = body.username.to_lowercase();
    let user = st.store.user_by_name(&body.username).await?;
    let ok = verify_password(
        &body.password,
        user.as_ref().map(|u| u.password_hash.as_str()),
    )
    .await;
    let Some(user) = user.filter(|_| ok) else {
        st.login_limiter.failed(&source, &username);
        return Err(ApiError::Unauthorized(
            "Incorrect username or password".into(),
        ));
    };
    st.login_limiter.succeeded(&source, &username);
    let (token, _) = st.keys.issue(user.uuid)?;
    Ok(Json(TokenOut {
        access_token: token,
        token_type: "bearer".into(),
        must_change_password: user.must_change_password,
    }))
}

#[utoipa::path(post, path = "/auth/logout", tag = "Authentication",
    security(("bearer" = [])),
    responses(
        (status = 200, body = Message),
        (status = 401, body = crate::error::ErrorBody),
    ))]
pub(crate) async fn logout(
    State(st): State<AppState>,
    Authenticated(u): Authenticated,
) -> ApiResult<Json<Message>> {
    if let Some(c) = &u.claims {
        st.store.revoke_token(c.jti, claims_expiry(c)).await?;
        st.token_cache.forget_token(c.jti);
    }
    Ok(Message::new("Logged out"))
}

/// Change-password body.
#[derive(Deserialize, ToSchema)]
pub struct ChangePasswordIn {
    /// Current password.
    #[schema(min_length = 1, max_length = 128)]
    pub old_password: String,
    /// New password (8-128 characters).
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

impl Validate for ChangePasswordIn {
    fn validate(&self) -> Vec<(String, String)> {
        let mut v = password_problems("new_password", &self.new_password);
        if self.old_password.len() > MAX_PASSWORD {
            v.push(("old_password".into(), "too long".into()));
        }
        v
    }
}

#[utoipa::path(post, path = "/auth/change-password", tag = "Authentication",
    security(("bearer" = [])),
    request_body = ChangePasswordIn,
    responses(
        (status = 200, body = Message),
        (status = 400, description = "New password equals the old one", body = crate::error::ErrorBody),
        (status = 401, description = "Bad token or wrong current password", body = crate::error::ErrorBody),
        (status = 415, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody),
    ))]
pub(crate) async fn change_password(
    State(st): State<AppState>,
    Authenticated(u): Authenticated,
    ApiJson(body): ApiJson<ChangePasswordIn>,
) -> ApiResult<Json<Message>> {
    if !verify_password(&body.old_password, Some(&u.user.password_hash)).await {
        return Err(ApiError::Unauthorized("Incorrect current password".into()));
    }
    if body.old_password == body.new_password {
        return Err(ApiError::BadRequest(
            "New password must differ from the current one".into(),
        ));
    }
    let mut user = u.user.clone();
    user.password_hash = hash_password(&body.new_password).await?;
    user.must_change_password = false;
    user.password_changed_at = Utc::now();
    st.store.update_user(&user).await?;
    st.token_cache.forget_user(user.uuid);
    if let Some(c) = &u.claims {
        st.store.revoke_token(c.jti, claims_expiry(c)).await?;
    }
    Ok(Message::new("Password changed; log in again"))
}

/// A stream ticket.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TicketOut {
    /// Pass as `?ticket=` to an SSE route; single use.
    pub ticket: String,
    /// Seconds it stays valid.
    pub expires_in: u64,
}

#[utoipa::path(post, path = "/auth/sse-ticket", tag = "Authentication",
    security(("bearer" = [])),
    responses(
        (status = 200, body = TicketOut),
        (status = 401, body = crate::error::ErrorBody),
        (status = 403, body = crate::error::ErrorBody),
    ))]
pub(crate) async fn sse_ticket(
    State(st): State<AppState>,
    Viewer(u): Viewer,
) -> ApiResult<Json<TicketOut>> {
    Ok(Json(TicketOut {
        ticket: st.tickets.mint(u.user.uuid)?,
        expires_in: st.tickets.ttl_secs(),
    }))
}
