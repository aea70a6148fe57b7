//! Request extractors with the API's error shapes: JSON bodies (415 for
//! anything that is not JSON, 422 with field paths), query strings (422 with
//! field paths) and path ids.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// Semantic checks that run after a body or query string decoded.
pub trait Validate {
    /// Every problem found, with its field name (dotted for nested fields).
    fn validate(&self) -> Vec<(String, String)> {
        Vec::new()
    }
}

/// Turns a serde error at `path` into a field error under `place`.
fn serde_field_error(place: &str, path: &str, msg: &str) -> FieldError {
    // `missing field `x`` is reported at the parent: move it onto the field.
    let (field, kind, msg) = if let Some(rest) = msg.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or("");
        let full = if path == "." || path.is_empty() {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        };
        (full, "missing", "Field required".to_owned())
    } else {
        let p = if path == "." {
            String::new()
        } else {
            path.to_owned()
        };
        // serde messages are short and contain no server internals.
        let short: String = msg.chars().take(200).collect();
        (p, "type_error", short)
    };
    FieldError::new(place, &field, msg, kind)
}

fn run_validation<T: Validate>(place: &str, value: &T) -> Result<(), ApiError> {
    let problems = value.validate();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Validation(
            problems
                .into_iter()
                .map(|(f, m)| FieldError::new(place, &f, m, "value_error"))
                .collect(),
        ))
    }
}

fn is_json(ct: &str) -> bool {
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// A JSON body. Put it LAST in a handler's arguments so the auth/role
/// extractors run (and reject) before the body is even read.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ok = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json);
        if !ok {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::BadRequest("request body too large".into())
                } else {
                    ApiError::BadRequest("could not read request body".into())
                }
            })?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        let value: T = match serde_path_to_error::deserialize(de) {
            Ok(v) => v,
            Err(err) => {
                let path = err.path().to_string();
                let inner = err.into_inner();
                let fe = if inner.is_syntax() || inner.is_eof() {
                    FieldError::new("body", "", "Invalid JSON", "json_invalid")
                } else {
                    serde_field_error("body", &path, &inner.to_string())
                };
                return Err(ApiError::Validation(vec![fe]));
            }
        };
        run_validation("body", &value)?;
        Ok(ApiJson(value))
    }
}

/// A query string.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

/// Decodes and validates a query string (422 with `query.<field>` paths).
pub fn parse_query<T: DeserializeOwned + Validate>(q: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(q));
    let value: T = serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        ApiError::Validation(vec![serde_field_error(
            "query",
            &path,
            &err.into_inner().to_string(),
        )])
    })?;
    run_validation("query", &value)?;
    Ok(value)
}

fn form_urlencoded_parse(q: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(q.as_bytes())
}

/// Parses a path segment as a UUID or fails with 422 at `path.<name>`.
pub fn parse_uuid(name: &str, raw: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| {
        ApiError::Validation(vec![FieldError::new(
            "path",
            name,
            "Input should be a valid UUID",
            "uuid_parsing",
        )])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_mime_detection() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
        assert!(!is_json(""));
    }

    proptest::proptest! {
        #[test]
        fn query_parsing_never_panics(q in ".{0,200}") {
            let _ = parse_query::<crate::routes::logs::LogParams>(&q);
            let _ = parse_query::<crate::routes::logs::HistogramParams>(&q);
            let _ = parse_query::<crate::routes::intel::AttackerParams>(&q);
            let _ = parse_query::<crate::schema::Paging>(&q);
        }

        #[test]
        fn limit_is_bounded(n in proptest::prelude::any::<u64>()) {
            let r = parse_query::<crate::routes::logs::LogParams>(&format!("limit={n}"));
            match r {
                Ok(p) => proptest::prop_assert!((1..=crate::schema::MAX_LIMIT).contains(&p.to_query().limit)),
                Err(ApiError::Validation(v)) => proptest::prop_assert_eq!(&v[0].loc, &vec!["query".to_string(), "limit".to_string()]),
                Err(e) => proptest::prop_assert!(false, "{e:?}"),
            }
        }
    }

    #[test]
    fn missing_field_moves_onto_the_field() {
        let e = serde_field_error("body", ".", "missing field `password` at line 1");
        assert_eq!(e.loc, vec!["body", "password"]);
        assert_eq!(e.kind, "missing");
        let e = serde_field_error("query", "limit", "invalid digit found in string");
        assert_eq!(e.loc, vec!["query", "limit"]);
    }
}
