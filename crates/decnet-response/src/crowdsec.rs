//! CrowdSec LAPI-compatible bouncer endpoints, so an unmodified CrowdSec
//! bouncer enforces decnet's bans:
//!
//! * `GET /v1/decisions/stream?startup=true|false` → `{"new":[…]|null,"deleted":[…]|null}`
//! * `GET /v1/decisions?ip=…&range=…&scope=…&value=…&type=…` → `[…]` or `null`
//! * `POST /v1/usage-metrics` → 201 (newer bouncers report metrics; ignored)
//!
//! Authentication: `X-Api-Key` (keys from the fleet file or created over the
//! API); 403 `{"message":"access forbidden"}` otherwise, as LAPI answers.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;

use crate::bans::Ban;
use crate::Responder;

/// The bouncer routes, with their state applied (mount anywhere, no dashboard auth).
pub fn router<S: Clone + Send + Sync + 'static>(r: Arc<Responder>) -> Router<S> {
    Router::new()
        .route("/v1/decisions/stream", get(stream))
        .route("/v1/decisions", get(list))
        .route("/v1/usage-metrics", post(metrics))
        .with_state(r)
}

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"message":"access forbidden"}"#,
    )
        .into_response()
}

fn auth(r: &Responder, h: &HeaderMap) -> Option<String> {
    let key = h.get("x-api-key")?.to_str().ok()?;
    if key.is_empty() || key.len() > 256 {
        return None;
    }
    r.authenticate_bouncer(key)
}

/// Go `time.Duration` text for whole seconds (`3h59m58s`).
pub fn go_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

fn esc(out: &mut String, s: &str) {
    // serde_json string escaping without an intermediate Value.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

/// Appends one decision object in LAPI's shape.
pub fn write_decision(out: &mut String, b: &Ban, now: DateTime<Utc>, deleted: bool) {
    let host = b.value.prefix_len() == b.value.max_prefix_len();
    let value = crate::backend::fmt_net(&b.value);
    let secs = if deleted { 0 } else { b.remaining_secs(now) };
    let _ = write!(
        out,
        r#"{{"id":{},"origin":"decnet","type":"ban","scope":"{}","value":"{}","duration":"{}","until":"{}","scenario":"#,
        b.id,
        if host { "Ip" } else { "Range" },
        value,
        if deleted {
            "-1s".to_owned()
        } else {
            go_duration(secs)
        },
        b.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    );
    esc(out, &format!("decnet/{}", b.origin));
    out.push_str(r#","simulated":false}"#);
}

fn write_list(out: &mut String, bans: &[Arc<Ban>], now: DateTime<Utc>, deleted: bool) {
    if bans.is_empty() {
        out.push_str("null");
        return;
    }
    out.push('[');
    for (n, b) in bans.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        write_decision(out, b, now, deleted);
    }
    out.push(']');
}

fn json(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body,
    )
        .into_response()
}

/// Stream query.
#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    /// Full state instead of a delta.
    #[serde(default)]
    pub startup: Option<String>,
}

/// `GET /v1/decisions/stream` handler.
pub async fn stream(
    State(r): State<Arc<Responder>>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let Some(bouncer) = auth(&r, &headers) else {
        return forbidden();
    };
    let startup = q
        .get("startup")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let (new, deleted) = r.stream_for(&bouncer, startup);
    let now = r.now();
    let mut out = String::with_capacity(64 + (new.len() + deleted.len()) * 200);
    out.push_str(r#"{"new":"#);
    write_list(&mut out, &new, now, false);
    out.push_str(r#","deleted":"#);
    write_list(&mut out, &deleted, now, true);
    out.push('}');
    json(out)
}

/// `GET /v1/decisions` handler.
pub async fn list(
    State(r): State<Arc<Responder>>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if auth(&r, &headers).is_none() {
        return forbidden();
    }
    if q.get("type").is_some_and(|t| t != "ban") {
        return json("null".into());
    }
    let ip: Option<IpAddr> = match q.get("ip") {
        Some(s) => match s.parse() {
            Ok(ip) => Some(ip),
            Err(_) => {
                return (
                    StatusCode::BAD_REQUEST,
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"{"message":"unable to convert ip"}"#,
                )
                    .into_response()
            }
        },
        None => None,
    };
    let range = q.get("range").and_then(|s| crate::policy::parse_net(s));
    let value = q.get("value").and_then(|s| crate::policy::parse_net(s));
    let scope = q.get("scope").map(|s| s.to_ascii_lowercase());
    let now = r.now();
    let bans: Vec<Arc<Ban>> = r.with_table(|t| {
        t.active()
            .filter(|b| !b.dry_run && b.expires_at > now)
            .filter(|b| ip.is_none_or(|ip| b.value.contains(&ip)))
            .filter(|b| range.is_none_or(|n| b.value.contains(&n) || n.contains(&b.value)))
            .filter(|b| value.is_none_or(|v| b.value == v))
            .filter(|b| {
                scope.as_deref().is_none_or(|s| {
                    let host = b.value.prefix_len() == b.value.max_prefix_len();
                    (s == "ip" && host) || (s == "range" && !host)
                })
            })
            .cloned()
            .collect()
    });
    let mut out = String::with_capacity(16 + bans.len() * 200);
    write_list(&mut out, &bans, now, false);
    json(out)
}

/// `POST /v1/usage-metrics` handler.
pub async fn metrics(State(r): State<Arc<Responder>>, headers: HeaderMap) -> Response {
    if auth(&r, &headers).is_none() {
        return forbidden();
    }
    StatusCode::CREATED.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(59), "59s");
        assert_eq!(go_duration(61), "1m1s");
        assert_eq!(go_duration(3600), "1h0m0s");
        assert_eq!(go_duration(7 * 86400 + 1), "168h0m1s");
    }
}
