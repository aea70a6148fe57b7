//! The OpenAPI 3.1 document: the routers register every handler with its
//! `#[utoipa::path]` annotation (utoipa-axum), so the document lists every
//! route the server answers; this module adds the title, the bearer
//! scheme and the shared error schemas, and serves the document.

use std::sync::OnceLock;

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::routes;
use crate::state::AppState;

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

/// What the routers do not say: title, security scheme, error schemas.
#[derive(OpenApi)]
#[openapi(
    info(title = "decnet API", description = "DECNET-compatible REST + SSE API of decnet."),
    modifiers(&Bearer),
    components(schemas(crate::error::ErrorBody, crate::error::Detail, crate::error::FieldError, crate::schema::EnrichmentDoc))
)]
pub struct ApiDoc;

/// Every route of the server with its documentation: `/api/v1` (this
/// document included) and the CrowdSec bouncer endpoints at the root.
pub fn router() -> OpenApiRouter<AppState> {
    let api = routes::api().routes(routes!(openapi_json));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", api)
        .merge(routes::response::bouncer_routes())
}

/// The document as JSON (built once).
pub fn document() -> &'static serde_json::Value {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let (_, doc) = router().split_for_parts();
        serde_json::to_value(doc).unwrap_or_default()
    })
}

#[utoipa::path(get, path = "/openapi.json", tag = "Observability",
    responses((status = 200, description = "This OpenAPI 3.1 document", body = Object)))]
pub(crate) async fn openapi_json() -> Json<&'static serde_json::Value> {
    Json(document())
}
