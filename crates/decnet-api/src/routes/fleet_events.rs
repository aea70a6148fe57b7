//! `GET /deckies/events`: the fleet's decky messages live (lifecycle,
//! `mutated`, `restarted`, service changes), so the fleet page redraws a
//! decky when the schedule re-rolls it instead of polling.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use futures::StreamExt;

use crate::auth::StreamViewer;
use crate::error::ApiResult;
use crate::routes::topology::{sse_name_for, EventsQuery};
use crate::sse::{self, frame};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

#[utoipa::path(get, path = "/deckies/events", operation_id = "decky_events", tag = "Fleet", security(("bearer" = [])),
    params(EventsQuery),
    responses((status = 200, content_type = "text/event-stream", description = "snapshot {}, then decky.lifecycle / decky.mutated / decky.restarted / decky.service_* events, each {topic, type, ts, payload}"),
        (status = 401, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub(crate) async fn events(State(st): State<AppState>, v: StreamViewer) -> ApiResult<Response> {
    let slot = st.sse.acquire(v.0.user.uuid)?;
    let sub = sse::subscribe(&st, "decky.>")?;
    let map: sse::FrameFn =
        Arc::new(|env| Some(frame(&sse_name_for(&env.topic), &sse::envelope_body(env))));
    let frames = futures::stream::iter([Ok(frame("snapshot", &serde_json::json!({})))])
        .chain(sse::live_frames(&st, sub, map));
    Ok(sse::with_slot(&st, slot, frames))
}
