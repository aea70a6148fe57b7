//! The one HTTP client the webhook-style channels and HTTP sinks share:
//! rustls with the web roots (+ an optional CA file), a per-request
//! timeout, no redirects (a webhook that redirects is misconfigured, and a
//! redirect must not carry the body elsewhere), and failures classified
//! the way the platforms document retries: network errors, 408, 429 and
//! 5xx are worth retrying, other 4xx are not. Error texts never include the
//! URL, which for chat webhooks is the credential.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;

use super::{BuildError, SendError, Sent};
use crate::secret::Secret;

/// Longest response body kept for error messages.
const MAX_ERROR_BODY: usize = 200;

/// See the module doc.
#[derive(Clone, Debug)]
pub struct Poster {
    client: reqwest::Client,
}

/// The text of an error and its causes, without reqwest's URL.
pub fn describe(e: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    if e.is_timeout() {
        parts.push("timeout".into());
    } else if e.is_connect() {
        parts.push("connection failed".into());
    } else {
        parts.push("request failed".into());
    }
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        src = s.source();
    }
    let mut text = parts.join(": ");
    text.truncate(300);
    text
}

/// `message` with the URL (and its path, which for chat webhooks is the
/// token) cut out, whatever layer put it there.
fn scrub(message: String, url: &Secret) -> String {
    let mut m = message.replace(url.expose(), "<url>");
    if let Ok(u) = reqwest::Url::parse(url.expose()) {
        if u.path().len() > 1 {
            m = m.replace(u.path(), "/<path>");
        }
        if let Some(q) = u.query() {
            m = m.replace(q, "<query>");
        }
    }
    m
}

impl Poster {
    /// A client with this timeout, trusting the web roots and `ca_file`.
    pub fn new(timeout: Duration, ca_file: Option<&Path>) -> Result<Poster, BuildError> {
        let tls = crate::tls::client_config(ca_file)?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls((*tls).clone())
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("decnet-alerts/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BuildError::Invalid(describe(&e)))?;
        Ok(Poster { client })
    }

    /// POSTs `body` with `headers`; 2xx is success. Returns the response body.
    pub async fn post(
        &self,
        url: &Secret,
        content_type: &str,
        headers: &[(&str, String)],
        body: Bytes,
    ) -> Result<(Sent, Bytes), SendError> {
        let mut req = self
            .client
            .post(url.expose())
            .header("content-type", content_type)
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| SendError::transient(scrub(describe(&e), url)))?;
        let status = resp.status();
        let code = status.as_u16();
        let body = resp.bytes().await.unwrap_or_default();
        if status.is_success() {
            return Ok((Sent { status: Some(code) }, body));
        }
        let retryable = code == 408 || code == 429 || status.is_server_error();
        let excerpt: String = String::from_utf8_lossy(&body)
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_ERROR_BODY)
            .collect();
        Err(SendError {
            retryable,
            status: Some(code),
            message: if excerpt.is_empty() {
                format!("HTTP {code}")
            } else {
                scrub(format!("HTTP {code}: {excerpt}"), url)
            },
        })
    }

    /// POSTs a JSON value.
    pub async fn post_json(
        &self,
        url: &Secret,
        headers: &[(&str, String)],
        value: &serde_json::Value,
    ) -> Result<(Sent, Bytes), SendError> {
        let body = serde_json::to_vec(value).map_err(|e| SendError::permanent(e.to_string()))?;
        self.post(url, "application/json", headers, body.into())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_removes_url_path_and_query() {
        let url = Secret::new("https://hooks.example.com/services/T0/B0/TOKEN?key=K3Y");
        let m = scrub(
            "error for https://hooks.example.com/services/T0/B0/TOKEN?key=K3Y; path /services/T0/B0/TOKEN; key=K3Y".into(),
            &url,
        );
        assert!(!m.contains("TOKEN") && !m.contains("K3Y"), "{m}");
    }
}
