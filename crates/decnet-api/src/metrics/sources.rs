//! The API process's scrape-time figures: bus, live viewers, active
//! response, alert deliveries.

use std::sync::Arc;

use decnet_alerts::AlertHandle;
use decnet_bus::Bus;
use decnet_response::Responder;

use super::{Metrics, Reader, Sample};
use crate::sse_slots::SseSlots;
use crate::stream_hub::StreamHub;

/// Bus depth and drops (the API's bus: NATS when scaled out).
pub fn bus(metrics: &Metrics, bus: Arc<dyn Bus>) {
    let b = bus.clone();
    metrics.add_reader(Reader::counter(
        "decnet_bus_published",
        "Messages published on the bus",
        move || vec![Sample::plain(b.stats().published as f64)],
    ));
    let b = bus.clone();
    metrics.add_reader(Reader::counter(
        "decnet_bus_dropped",
        "Messages dropped from lossy subscriber queues (slow live consumers)",
        move || vec![Sample::plain(b.stats().dropped as f64)],
    ));
    let b = bus.clone();
    metrics.add_reader(Reader::gauge(
        "decnet_bus_lossless_backlog",
        "Messages waiting in the deepest lossless queue (store, intel)",
        move || vec![Sample::plain(b.stats().lossless_backlog as f64)],
    ));
    metrics.add_reader(Reader::gauge(
        "decnet_bus_subscribers",
        "Live bus subscriptions",
        move || vec![Sample::plain(bus.stats().subscribers as f64)],
    ));
}

/// Live stream viewers: the shared `/stream` feed and every open SSE slot.
pub fn viewers(metrics: &Metrics, hub: Arc<StreamHub>, slots: Arc<SseSlots>) {
    metrics.add_reader(Reader::gauge(
        "decnet_sse_viewers",
        "Open live streams: the shared feed's viewers, and every stream (slots)",
        move || {
            vec![
                Sample::labelled("stream", "shared", hub.viewers() as f64),
                Sample::labelled("stream", "all", slots.open_total() as f64),
            ]
        },
    ));
}

/// Bans in force and backend health, per backend.
pub fn response(metrics: &Metrics, responder: Arc<Responder>) {
    let r = responder.clone();
    metrics.add_reader(Reader::gauge(
        "decnet_bans",
        "Bans in force per enforcement backend (dry_run: recorded, not enforced)",
        move || {
            let st = decnet_response::api::status(&r);
            let mut out: Vec<Sample> = st
                .backends
                .iter()
                .map(|b| Sample::labelled("backend", b.backend.clone(), st.active_bans as f64))
                .collect();
            out.push(Sample::labelled(
                "backend",
                "dry_run",
                st.dry_run_bans as f64,
            ));
            out
        },
    ));
    metrics.add_reader(Reader::gauge(
        "decnet_response_backend_up",
        "1 when the backend's last probe succeeded",
        move || {
            decnet_response::api::backends(&responder)
                .into_iter()
                .map(|b| Sample::labelled("backend", b.backend, f64::from(u8::from(b.online))))
                .collect()
        },
    ));
}

/// Alert deliveries per channel and outcome, and what waits.
pub fn alerts(metrics: &Metrics, handle: Arc<AlertHandle>) {
    let h = handle.clone();
    metrics.add_reader(Reader::counter(
        "decnet_alert_deliveries",
        "Alert deliveries per channel and state (sent, failed, dropped, retried)",
        move || {
            let mut out = Vec::new();
            for ch in h.channels_state() {
                let c = &ch.counters;
                for (state, n) in [
                    ("sent", c.sent),
                    ("failed", c.failed),
                    ("dropped", c.dropped),
                    ("retried", c.retries),
                ] {
                    out.push(Sample {
                        labels: vec![("channel", ch.name.clone()), ("state", state.into())],
                        value: n as f64,
                    });
                }
            }
            out
        },
    ));
    metrics.add_reader(Reader::gauge(
        "decnet_alert_queue",
        "Alerts waiting or in flight per channel",
        move || {
            handle
                .channels_state()
                .into_iter()
                .map(|ch| {
                    let n = ch.counters.queued + ch.counters.in_flight;
                    Sample::labelled("channel", ch.name, n as f64)
                })
                .collect()
        },
    ));
}
