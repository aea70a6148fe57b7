//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "decnet API", description = "DECNET-compatible REST + SSE API of decnet."),
    modifiers(&Bearer),
    paths(
        routes::auth::login,
        routes::auth::logout,
        routes::auth::change_password,
        routes::auth::sse_ticket,
        routes::config::get_config,
        routes::config::put_deployment_limit,
        routes::config::list_users,
        routes::config::create_user,
        routes::config::delete_user,
        routes::config::update_role,
        routes::config::reset_password,
        routes::health::health,
        routes::health::workers,
        routes::logs::logs,
        routes::logs::histogram,
        routes::logs::stats,
        routes::stream::stream_route,
        routes::webhooks::list,
        routes::webhooks::create,
        routes::webhooks::get_one,
        routes::webhooks::update,
        routes::webhooks::delete,
        routes::webhooks::test,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::FieldError))
)]
pub struct ApiDoc;

/// The document as JSON.
pub fn document() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
}
