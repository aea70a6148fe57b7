//! Session transcripts (asciicast v2) and captured artifacts (by sha256),
//! served as downloads: fixed safe content types, `nosniff`,
//! `Content-Disposition: attachment`. Names are validated so no request can
//! reach outside `DATA_DIR/deckies/*/transcripts` and `DATA_DIR/artifacts`.

use std::path::PathBuf;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::Viewer;
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse_uuid, ApiQuery, Validate};
use crate::schema::Paging;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest file served.
pub const MAX_DOWNLOAD: u64 = 64 * 1024 * 1024;
/// Most transcripts scanned for a listing.
pub const MAX_SCAN: usize = 10_000;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_transcripts))
        .routes(routes!(get_transcript))
        .routes(routes!(get_artifact))
}

/// A stored session transcript.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TranscriptRef {
    /// Decky.
    pub decky: String,
    /// Session id.
    pub session_id: Uuid,
    /// Bytes.
    pub size: u64,
    /// Download path.
    pub url: String,
}

/// A decky name that is safe as one path component.
pub fn safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// `DATA_DIR/deckies/<decky>/transcripts/<session>.cast`, or None for a bad name.
pub fn transcript_path(st: &AppState, decky: &str, session: Uuid) -> Option<PathBuf> {
    safe_name(decky).then(|| {
        st.config
            .data_dir
            .join("deckies")
            .join(decky)
            .join("transcripts")
            .join(format!("{session}.cast"))
    })
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

async fn download(
    path: PathBuf,
    content_type: &'static str,
    filename: String,
) -> ApiResult<Response> {
    let meta = match tokio::fs::metadata(&path).await {
        Ok(m) if m.is_file() => m,
        _ => return Err(ApiError::NotFound("Not found".into())),
    };
    if meta.len() > MAX_DOWNLOAD {
        return Err(ApiError::Conflict("file too large to serve".into()));
    }
    let bytes = tokio::fs::read(&path).await.map_err(ApiError::internal)?;
    Ok(attachment(bytes, content_type, &filename))
}

/// Bytes as a download: a fixed content type, `nosniff`, a sandboxing CSP
/// and `Content-Disposition: attachment`, so a browser never renders it.
pub(crate) fn attachment(bytes: Vec<u8>, content_type: &'static str, filename: &str) -> Response {
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// Transcript listing filters.
#[derive(Deserialize, IntoParams, Default)]
#[into_params(parameter_in = Query)]
pub struct TranscriptParams {
    /// Only this decky.
    #[param(max_length = 64)]
    pub decky: Option<String>,
    /// Page size (1-1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// Skip.
    #[param(minimum = 0, maximum = 1000000000)]
    pub offset: Option<u64>,
}

impl Validate for TranscriptParams {
    fn validate(&self) -> Vec<(String, String)> {
        let mut v = Paging {
            limit: self.limit,
            offset: self.offset,
        }
        .problems();
        if self
            .decky
            .as_deref()
            .is_some_and(|d| !d.is_empty() && !safe_name(d))
        {
            v.push(("decky".into(), "not a decky name".into()));
        }
        v
    }
}

#[utoipa::path(get, path = "/transcripts", tag = "Transcripts", security(("bearer" = [])), params(TranscriptParams),
    responses((status = 200, body = Vec<TranscriptRef>), (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn list_transcripts(
    State(st): State<AppState>,
    _v: Viewer,
    ApiQuery(p): ApiQuery<TranscriptParams>,
) -> ApiResult<Json<Vec<TranscriptRef>>> {
    let root = st.config.data_dir.join("deckies");
    let mut deckies = Vec::new();
    match p.decky.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => deckies.push(d.to_owned()),
        None => {
            if let Ok(mut rd) = tokio::fs::read_dir(&root).await {
                while let Ok(Some(e)) = rd.next_entry().await {
                    if let Some(n) = e.file_name().to_str().filter(|n| safe_name(n)) {
                        deckies.push(n.to_owned());
                    }
                }
            }
        }
    }
    deckies.sort();
    let mut all = Vec::new();
    'outer: for d in deckies {
        let Ok(mut rd) = tokio::fs::read_dir(root.join(&d).join("transcripts")).await else {
            continue;
        };
        while let Ok(Some(e)) = rd.next_entry().await {
            let name = e.file_name();
            let Some(sid) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".cast"))
                .and_then(|n| Uuid::parse_str(n).ok())
            else {
                continue;
            };
            let size = e.metadata().await.map(|m| m.len()).unwrap_or(0);
            all.push(TranscriptRef {
                url: format!("/api/v1/transcripts/{d}/{sid}"),
                decky: d.clone(),
                session_id: sid,
                size,
            });
            if all.len() >= MAX_SCAN {
                break 'outer;
            }
        }
    }
    // Session ids are UUIDv7: newest first.
    all.sort_by_key(|t| std::cmp::Reverse(t.session_id));
    let offset = p.offset.unwrap_or(0).min(all.len() as u64) as usize;
    let limit = p.limit.unwrap_or(50) as usize;
    Ok(Json(all.into_iter().skip(offset).take(limit).collect()))
}

#[utoipa::path(get, path = "/transcripts/{decky}/{session_id}", tag = "Transcripts", security(("bearer" = [])),
    params(("decky" = String, Path, description = "Decky"), ("session_id" = Uuid, Path, description = "Session id")),
    responses((status = 200, description = "asciicast v2", content_type = "application/x-asciicast", body = String),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn get_transcript(
    State(st): State<AppState>,
    _v: Viewer,
    Path((decky, sid)): Path<(String, String)>,
) -> ApiResult<Response> {
    let sid = parse_uuid("session_id", &sid)?;
    let path = transcript_path(&st, &decky, sid)
        .ok_or_else(|| ApiError::field("path", "decky", "not a decky name"))?;
    download(
        path,
        "application/x-asciicast",
        format!("{decky}-{sid}.cast"),
    )
    .await
}

#[utoipa::path(get, path = "/artifacts/{sha256}", tag = "Transcripts", security(("bearer" = [])),
    params(("sha256" = String, Path, description = "sha256 (64 lowercase hex)")),
    responses((status = 200, description = "The captured bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, body = crate::error::ErrorBody), (status = 403, body = crate::error::ErrorBody),
        (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub(crate) async fn get_artifact(
    State(st): State<AppState>,
    _v: Viewer,
    Path(sha): Path<String>,
) -> ApiResult<Response> {
    if !is_sha256(&sha) {
        return Err(ApiError::field(
            "path",
            "sha256",
            "must be 64 lowercase hex digits",
        ));
    }
    let path = st.config.data_dir.join("artifacts").join(&sha);
    download(path, "application/octet-stream", format!("{sha}.bin")).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_escape() {
        for bad in ["", "..", ".", "../x", "a/b", "a\\b", ".hidden", "x\0y"] {
            assert!(!safe_name(bad), "{bad:?}");
        }
        assert!(safe_name("web01"));
        assert!(safe_name("db-01.lan"));
        assert!(is_sha256(&"a".repeat(64)));
        assert!(!is_sha256(&"A".repeat(64)));
        assert!(!is_sha256("../../etc/passwd"));
    }
}
