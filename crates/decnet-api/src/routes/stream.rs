//! `GET /stream`: the dashboard's live feed. Frames are `event: message`
//! with `{type: "stats"|"histogram"|"logs", data}` (DECNET-compatible):
//! stats and histogram first (the snapshot), then batches of new events as
//! they cross the bus, and fresh stats/histogram periodically.

use axum::extract::State;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use decnet_bus::Subscription;
use decnet_core::{subject, Event};
use futures::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::StreamViewer;
use crate::error::ApiResult;
use crate::extract::{ApiQuery, Validate};
use crate::sse::{self, CLIENT_QUEUE};
use crate::state::AppState;
use crate::stream_hub::{frame_bytes, raw_frame, HubReceiver, ViewerEnd, LOGS_BATCH};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream_route))
}

/// Stream filters.
#[derive(Deserialize, IntoParams, Default, Clone)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// Single-use ticket from `POST /auth/sse-ticket` (instead of a header).
    #[param(max_length = 128)]
    pub ticket: Option<String>,
    /// Only this decky.
    #[param(max_length = 128)]
    pub decky: Option<String>,
    /// Only this service.
    #[param(max_length = 64)]
    pub service: Option<String>,
    /// Only this kind.
    #[param(max_length = 64)]
    pub kind: Option<String>,
    /// Only this attacker address.
    #[param(max_length = 64)]
    pub src_ip: Option<String>,
    /// Substring of the event fields.
    #[param(max_length = 256)]
    pub search: Option<String>,
}

impl Validate for StreamParams {
    fn validate(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        super::logs::too_long(&mut out, "ticket", &self.ticket, 128);
        super::logs::event_filters!(self).validate(&mut out);
        out
    }
}

impl StreamParams {
    /// No filter at all: the dashboard's default feed, served by the hub.
    fn is_unfiltered(&self) -> bool {
        [
            &self.decky,
            &self.service,
            &self.kind,
            &self.src_ip,
            &self.search,
        ]
        .iter()
        .all(|v| v.as_deref().is_none_or(str::is_empty))
    }
}

fn token(v: &Option<String>) -> String {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .map(subject::sanitize_token)
        .unwrap_or_else(|| "*".into())
}

/// The stats and histogram messages as finished SSE bytes.
async fn snapshot_bytes(st: &AppState) -> ApiResult<Bytes> {
    let stats = st.stats().await?;
    let hist = st.day_histogram().await?;
    let mut out = BytesMut::new();
    out.extend_from_slice(&frame_bytes(
        "message",
        &serde_json::json!({"type": "stats", "data": stats}),
    ));
    out.extend_from_slice(&frame_bytes(
        "message",
        &serde_json::json!({"type": "histogram", "data": hist}),
    ));
    Ok(out.freeze())
}

/// An unfiltered viewer: the hub's shared batches, its own periodic stats,
/// an error frame and the end when it falls too far behind.
fn hub_viewer(st: AppState, rx: HubReceiver) -> impl Stream<Item = Bytes> + Send {
    let period = st.config.stream_stats_interval;
    let tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let shutdown = st.shutdown.clone();
    stream::unfold(
        (st, rx, tick, shutdown, false),
        |(st, mut rx, mut tick, mut shutdown, done)| async move {
            if done {
                return None;
            }
            loop {
                tokio::select! {
                    next = st.hub.next(&mut rx) => match next {
                        Ok(b) => return Some((b, (st, rx, tick, shutdown, false))),
                        Err(ViewerEnd::TooSlow) => {
                            let f = frame_bytes(
                                "error",
                                &serde_json::json!({"message": "client too slow; reconnect"}),
                            );
                            return Some((f, (st, rx, tick, shutdown, true)));
                        }
                        Err(ViewerEnd::Closed) => return None,
                    },
                    _ = tick.tick() => {
                        if let Ok(b) = snapshot_bytes(&st).await {
                            return Some((b, (st, rx, tick, shutdown, false)));
                        }
                    }
                    _ = sse::stopped(&mut shutdown) => return None,
                }
            }
        },
    )
}

#[utoipa::path(get, path = "/stream", tag = "Observability",
    security(("bearer" = [])), params(StreamParams),
    responses(
        (status = 200, description = "SSE: `event: message` frames `{type: stats|histogram|logs, data}`", content_type = "text/event-stream", body = String),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 422, body = crate::error::ErrorBody),
        (status = 429, description = "Per-user stream cap reached", body = crate::error::ErrorBody)))]
pub(crate) async fn stream_route(
    State(st): State<AppState>,
    StreamViewer(u): StreamViewer,
    ApiQuery(p): ApiQuery<StreamParams>,
) -> ApiResult<Response> {
    let slot = st.sse.acquire(u.user.uuid)?;
    if p.is_unfiltered() {
        // Subscribed before the snapshot is read: nothing falls in between.
        let rx = st.hub.subscribe();
        let snapshot = snapshot_bytes(&st).await?;
        let frames = stream::once(async { snapshot }).chain(hub_viewer(st.clone(), rx));
        return Ok(sse::bytes_response(&st, slot, frames));
    }
    let pattern = format!(
        "events.{}.{}.{}",
        token(&p.decky),
        token(&p.service),
        token(&p.kind)
    );
    let sub = sse::subscribe(&st, &pattern)?;
    let snapshot = snapshot_bytes(&st).await?;
    let frames = stream::once(async { snapshot }).chain(live(st.clone(), sub, p));
    Ok(sse::bytes_response(&st, slot, frames))
}

fn keep(p: &StreamParams, e: &Event) -> bool {
    if let Some(ip) = p.src_ip.as_deref().filter(|s| !s.is_empty()) {
        if e.src_ip.to_string() != ip {
            return false;
        }
    }
    if let Some(s) = p.search.as_deref().filter(|s| !s.is_empty()) {
        let fields = serde_json::to_string(&e.fields).unwrap_or_default();
        if !fields.contains(s) {
            return false;
        }
    }
    true
}

fn live(st: AppState, sub: Subscription, p: StreamParams) -> impl Stream<Item = Bytes> + Send {
    let period = st.config.stream_stats_interval;
    let tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let shutdown = st.shutdown.clone();
    stream::unfold(
        (st, sub, p, tick, shutdown, false),
        |(st, mut sub, p, mut tick, mut shutdown, done)| async move {
            if done {
                return None;
            }
            loop {
                if sub.dropped() > CLIENT_QUEUE as u64 {
                    let f = frame_bytes(
                        "error",
                        &serde_json::json!({"message": "client too slow; reconnect"}),
                    );
                    return Some((f, (st, sub, p, tick, shutdown, true)));
                }
                tokio::select! {
                    env = sub.recv() => {
                        let env = env?;
                        let mut batch: Vec<&Event> = Vec::new();
                        let mut held = vec![env];
                        while held.len() < LOGS_BATCH {
                            match sub.try_recv() {
                                Some(e) => held.push(e),
                                None => break,
                            }
                        }
                        for e in &held {
                            if let Some(ev) = e.as_event() {
                                if keep(&p, ev) {
                                    batch.push(ev);
                                }
                            }
                        }
                        if batch.is_empty() {
                            continue;
                        }
                        let body = st.event_json.logs_message(&batch);
                        drop(batch);
                        let f = raw_frame("message", body.as_bytes());
                        return Some((f, (st, sub, p, tick, shutdown, false)));
                    }
                    _ = tick.tick() => {
                        if let Ok(b) = snapshot_bytes(&st).await {
                            return Some((b, (st, sub, p, tick, shutdown, false)));
                        }
                    }
                    _ = sse::stopped(&mut shutdown) => return None,
                }
            }
        },
    )
}
