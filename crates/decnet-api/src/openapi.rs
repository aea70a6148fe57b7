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
        routes::fleet::list,
        routes::fleet::lifecycle,
        routes::fleet::deploy,
        routes::fleet::teardown,
        routes::fleet::mutate,
        routes::fleet::mutate_interval,
        routes::fleet::add_service,
        routes::fleet::remove_service,
        routes::fleet::drop_file,
        routes::fleet::delete_file,
        routes::topology::list,
        routes::topology::create,
        routes::topology::get_one,
        routes::topology::delete_one,
        routes::topology::add_lan,
        routes::topology::update_lan,
        routes::topology::remove_lan,
        routes::topology::add_edge,
        routes::topology::remove_edge,
        routes::topology::add_decky,
        routes::topology::update_decky,
        routes::topology::remove_decky,
        routes::topology::enqueue,
        routes::topology::mutations,
        routes::topology::deploy,
        routes::topology::teardown,
        routes::topology::add_service,
        routes::topology::remove_service,
        routes::topology::service_config,
        routes::topology::events,
        routes::intel::list_attackers,
        routes::intel::get_attacker,
        routes::intel::attacker_events,
        routes::intel::attacker_commands,
        routes::intel::attacker_artifacts,
        routes::intel::attacker_transcripts,
        routes::intel::export_attacker,
        routes::intel::list_identities,
        routes::intel::identity_events,
        routes::intel::get_identity,
        routes::intel::identity_observations,
        routes::intel::list_campaigns,
        routes::intel::campaign_events,
        routes::intel::get_campaign,
        routes::intel::campaign_identities,
        routes::intel::list_credentials,
        routes::intel::credential_reuse,
        routes::intel::list_bounty,
        routes::files::list_transcripts,
        routes::files::get_transcript,
        routes::files::get_artifact,
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
    components(schemas(crate::error::ErrorBody, crate::error::Detail, crate::error::FieldError))
)]
pub struct ApiDoc;

/// The document as JSON.
pub fn document() -> serde_json::Value {
    serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()
}
