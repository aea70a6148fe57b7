//! The role extractors. Each reads only the request head, so a handler
//! written `fn h(_: Admin, ApiJson(body): ApiJson<T>)` rejects a viewer
//! (403) before the body is read or validated.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use decnet_store::Role;

use super::token::CurrentUser;
use crate::error::ApiError;
use crate::state::AppState;

fn bearer(parts: &Parts) -> Option<&str> {
    let v = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn unauthorized() -> ApiError {
    ApiError::Unauthorized("Could not validate credentials".into())
}

/// Resolves a bearer token to a live user: signature, expiry, revocation,
/// user still present, token not older than the last password change.
/// Served from [`crate::token_cache`] for up to its TTL.
pub async fn resolve_token(state: &AppState, token: &str) -> Result<CurrentUser, ApiError> {
    if let Some(u) = state.token_cache.get(token) {
        return Ok(u);
    }
    let generation = state.token_cache.generation();
    let u = resolve_token_uncached(state, token).await?;
    state.token_cache.insert(token, u.clone(), generation);
    Ok(u)
}

async fn resolve_token_uncached(state: &AppState, token: &str) -> Result<CurrentUser, ApiError> {
    let claims = state.keys.verify(token).ok_or_else(unauthorized)?;
    if state.store.is_token_revoked(claims.jti).await? {
        return Err(unauthorized());
    }
    let user = state
        .store
        .user_by_id(claims.uuid)
        .await?
        .ok_or_else(unauthorized)?;
    if claims.predates(user.password_changed_at) {
        return Err(unauthorized());
    }
    Ok(CurrentUser {
        user,
        claims: Some(claims),
    })
}

/// Any valid token, even with a password change pending (change-password
/// and logout only).
pub struct Authenticated(pub CurrentUser);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(unauthorized)?;
        Ok(Authenticated(resolve_token(state, token).await?))
    }
}

fn require_ready(u: CurrentUser) -> Result<CurrentUser, ApiError> {
    if u.user.must_change_password {
        return Err(ApiError::Forbidden(
            "Password change required before using the API".into(),
        ));
    }
    Ok(u)
}

fn require_admin(u: CurrentUser) -> Result<CurrentUser, ApiError> {
    let u = require_ready(u)?;
    if u.user.role != Role::Admin {
        return Err(ApiError::Forbidden("Admin access required".into()));
    }
    Ok(u)
}

/// Viewer or admin, no password change pending.
pub struct Viewer(pub CurrentUser);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Authenticated(u) = Authenticated::from_request_parts(parts, state).await?;
        Ok(Viewer(require_ready(u)?))
    }
}

/// Admin, no password change pending. Use on every mutating route.
pub struct Admin(pub CurrentUser);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Authenticated(u) = Authenticated::from_request_parts(parts, state).await?;
        Ok(Admin(require_admin(u)?))
    }
}

/// Stream viewer: a bearer header, or `?ticket=` (single use, 60 s).
pub struct StreamViewer(pub CurrentUser);

impl FromRequestParts<AppState> for StreamViewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if bearer(parts).is_some() {
            let Viewer(u) = Viewer::from_request_parts(parts, state).await?;
            return Ok(StreamViewer(u));
        }
        let ticket = parts
            .uri
            .query()
            .and_then(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .find(|(k, _)| k == "ticket")
                    .map(|(_, v)| v.into_owned())
            })
            .ok_or_else(unauthorized)?;
        let uuid = state.tickets.redeem(&ticket).ok_or_else(unauthorized)?;
        let user = state
            .store
            .user_by_id(uuid)
            .await?
            .ok_or_else(unauthorized)?;
        Ok(StreamViewer(require_ready(CurrentUser {
            user,
            claims: None,
        })?))
    }
}
