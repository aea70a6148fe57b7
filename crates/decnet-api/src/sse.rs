//! SSE machinery shared by every stream route (`/stream`, `/identities/events`,
//! `/campaigns/events`, `/attackers/{uuid}/events`, `/topologies/{id}/events`,
//! `/deckies/events`): per-user connection slots taken before the 200, a snapshot
//! event, then bus messages from a bounded drop-oldest subscription,
//! `: keepalive` comments when idle, and a clean end on shutdown.

use std::convert::Infallible;
use std::sync::Arc;

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use decnet_bus::{Delivery, Envelope, Subscription};
use futures::stream::{self, Stream, StreamExt};

use crate::error::ApiError;
use crate::sse_slots::SlotGuard;
use crate::state::AppState;

/// Queue length of one SSE client's bus subscription.
pub const CLIENT_QUEUE: usize = 256;

/// One SSE frame with a JSON body.
pub fn frame(name: &str, data: &impl serde::Serialize) -> SseEvent {
    SseEvent::default()
        .event(name)
        .json_data(data)
        .unwrap_or_else(|_| SseEvent::default().event("error").data("{}"))
}

/// `{topic, type, ts, payload}` of an envelope, the body of a live frame.
pub fn envelope_body(env: &Envelope) -> serde_json::Value {
    serde_json::json!({
        "topic": env.topic,
        "type": env.kind,
        "ts": env.ts,
        "payload": env.payload,
    })
}

/// Subscribes one client with its own bounded queue.
pub fn subscribe(state: &AppState, pattern: &str) -> Result<Subscription, ApiError> {
    state
        .bus
        .subscribe(
            pattern,
            Delivery::Lossy {
                capacity: CLIENT_QUEUE,
            },
        )
        .map_err(ApiError::internal)
}

/// Maps a bus message to a frame, or skips it.
pub type FrameFn = Arc<dyn Fn(&Envelope) -> Option<SseEvent> + Send + Sync>;

/// Builds the response: `snapshot` frames first, then one frame per bus
/// message (via `map`). A client that lost more than a whole queue to
/// overflow is disconnected (it is too slow; the bus never waits for it).
pub fn respond(
    state: &AppState,
    slot: SlotGuard,
    snapshot: Vec<SseEvent>,
    sub: Subscription,
    map: FrameFn,
) -> Response {
    let live = live_frames(state, sub, map);
    let s = stream::iter(snapshot.into_iter().map(Ok)).chain(live);
    with_slot(state, slot, s)
}

/// Wraps any frame stream with the slot, keepalives and the no-buffering headers.
pub fn with_slot(
    state: &AppState,
    slot: SlotGuard,
    frames: impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static,
) -> Response {
    let s = frames.map(move |f| {
        let _hold = &slot;
        f
    });
    let mut resp = Sse::new(s)
        .keep_alive(
            KeepAlive::new()
                .interval(state.config.sse_keepalive)
                .text("keepalive"),
        )
        .into_response();
    let h = resp.headers_mut();
    h.insert("cache-control", "no-cache".parse().expect("static"));
    h.insert("x-accel-buffering", "no".parse().expect("static"));
    resp
}

/// The keepalive comment as it goes on the wire.
pub const KEEPALIVE: &[u8] = b": keepalive\n\n";

/// A stream of finished SSE bytes as the response: slot held for its life,
/// a keepalive comment after `sse_keepalive` without output, the same
/// headers as [`with_slot`]. Used where frames are rendered once and shared
/// between viewers, so no per-viewer framing happens at all.
pub fn bytes_response(
    state: &AppState,
    slot: SlotGuard,
    frames: impl Stream<Item = Bytes> + Send + 'static,
) -> Response {
    let every = state.config.sse_keepalive;
    let body = stream::unfold(
        (Box::pin(frames), slot),
        move |(mut frames, slot)| async move {
            let next = match tokio::time::timeout(every, frames.next()).await {
                Ok(Some(b)) => b,
                Ok(None) => return None,
                Err(_) => Bytes::from_static(KEEPALIVE),
            };
            Some((Ok::<_, Infallible>(next), (frames, slot)))
        },
    );
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .header("x-accel-buffering", "no")
        .body(axum::body::Body::from_stream(body))
        .unwrap_or_else(|e| ApiError::internal(e).into_response())
}

/// Live frames from a subscription until shutdown, bus close or overflow.
pub fn live_frames(
    state: &AppState,
    sub: Subscription,
    map: FrameFn,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static {
    let shutdown = state.shutdown.clone();
    stream::unfold(
        (sub, shutdown, map, false),
        |(mut sub, mut shutdown, map, done)| async move {
            if done {
                return None;
            }
            loop {
                if sub.dropped() > CLIENT_QUEUE as u64 {
                    tracing::debug!(pattern = sub.pattern(), "slow SSE client dropped");
                    let f = frame(
                        "error",
                        &serde_json::json!({"message": "client too slow; reconnect"}),
                    );
                    return Some((Ok(f), (sub, shutdown, map, true)));
                }
                let env = tokio::select! {
                    env = sub.recv() => env,
                    _ = shutdown.wait_for(|v| *v) => None,
                };
                let env = env?;
                if let Some(f) = map(&env) {
                    return Some((Ok(f), (sub, shutdown, map, false)));
                }
            }
        },
    )
}

/// Resolves once the shutdown flag is set (or its sender is gone).
pub async fn stopped(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await;
}
