//! The few API calls the harness makes, as the dashboard makes them: log in
//! (JWT), mint single-use SSE tickets, count stored events.

use anyhow::{bail, Context};

/// A logged-in API session.
#[derive(Clone)]
pub struct Api {
    /// `http://HOST:PORT`.
    pub base: String,
    http: reqwest::Client,
    token: String,
}

impl Api {
    /// `POST /api/v1/auth/login`.
    pub async fn login(base: &str, user: &str, password: &str) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .context("HTTP client")?;
        let base = base.trim_end_matches('/').to_owned();
        let r = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&serde_json::json!({"username": user, "password": password}))
            .send()
            .await
            .with_context(|| format!("login at {base}"))?;
        if !r.status().is_success() {
            bail!("login at {base}: {}", r.status());
        }
        let v: serde_json::Value = r.json().await?;
        let token = v["access_token"]
            .as_str()
            .context("no access_token")?
            .to_owned();
        Ok(Api { base, http, token })
    }

    /// The bearer token (for wrk's `-H`).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// The shared HTTP client (streams open their own connections from it).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `POST /api/v1/auth/sse-ticket` → the stream URL with its ticket.
    pub async fn stream_url(&self) -> anyhow::Result<String> {
        let r = self
            .http
            .post(format!("{}/api/v1/auth/sse-ticket", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("sse-ticket: {}", r.status());
        }
        let v: serde_json::Value = r.json().await?;
        let t = v["ticket"].as_str().context("no ticket")?;
        Ok(format!("{}/api/v1/stream?ticket={t}", self.base))
    }

    /// `total` of `GET /api/v1/logs?decky=…&kind=…&search=…&limit=1&offset=…`.
    /// A filter combination without a counter row is counted only up to
    /// offset + limit + 1,000 rows (`total_exact: false` past that), so
    /// `expect` (the count hoped for) is passed as the offset: the total is
    /// then exact up to `expect` + 1,000, which covers missing and
    /// duplicated events alike.
    pub async fn count_events(
        &self,
        decky: &str,
        kind: &str,
        search: &str,
        expect: u64,
    ) -> anyhow::Result<u64> {
        let offset = expect.to_string();
        let r = self
            .http
            .get(format!("{}/api/v1/logs", self.base))
            .query(&[
                ("decky", decky),
                ("kind", kind),
                ("search", search),
                ("limit", "1"),
                ("offset", &offset),
            ])
            .bearer_auth(&self.token)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("logs: {}", r.status());
        }
        let v: serde_json::Value = r.json().await?;
        v["total"].as_u64().context("no total")
    }

    /// Polls the stored count until it reaches `want` or `secs` pass.
    pub async fn wait_count(
        &self,
        decky: &str,
        kind: &str,
        search: &str,
        want: u64,
        secs: u64,
    ) -> anyhow::Result<u64> {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let n = self.count_events(decky, kind, search, want).await?;
            if n >= want || std::time::Instant::now() > until {
                return Ok(n);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}
