//! A reputation service as the enrichment worker sees it: how to ask about
//! one address, and what to keep of the answer. One provider per file,
//! listed in [`PROVIDERS`].

use std::net::IpAddr;
use std::time::Duration;

use decnet_core::secret::Secret;

/// What a provider answered about an address, reduced to what is kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// A 0-100 score the attackers list can filter on, if the provider
    /// gives one.
    pub score: Option<i64>,
    /// The kept fields (a JSON object).
    pub data: serde_json::Value,
}

/// Why a lookup gave no answer. Messages never carry the key.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LookupError {
    /// The provider refused the key (401/403).
    #[error("the {0} key was refused (HTTP {1})")]
    KeyRefused(&'static str, u16),
    /// The provider says to slow down (429), for this long if it said.
    #[error("rate limited by the provider")]
    RateLimited(Option<Duration>),
    /// Any other unexpected status.
    #[error("HTTP {0}")]
    Status(u16),
    /// The body is not the documented shape.
    #[error("unexpected answer: {0}")]
    Malformed(String),
    /// Connection, TLS or timeout.
    #[error("{0}")]
    Transport(String),
}

/// One reputation service.
pub trait Provider: Send + Sync + 'static {
    /// Its name: the key of `enrichment` in attacker rows.
    fn name(&self) -> &'static str;
    /// The header the key goes in.
    fn key_header(&self) -> &'static str;
    /// The URL asking about `ip` under the API root `root`: nothing but
    /// the address.
    fn url(&self, root: &str, ip: IpAddr) -> String;
    /// The answer in a response's status and body.
    fn answer(&self, status: u16, body: &[u8]) -> Result<Answer, LookupError>;

    /// The request: the URL, the key in its header, JSON asked for.
    fn request(
        &self,
        client: &reqwest::Client,
        root: &str,
        key: &Secret,
        ip: IpAddr,
    ) -> reqwest::RequestBuilder {
        client
            .get(self.url(root, ip))
            .header(self.key_header(), key.expose())
            .header("Accept", "application/json")
    }
}

/// Every provider decnet knows.
pub const PROVIDERS: &[&dyn Provider] =
    &[&super::abuseipdb::AbuseIpDb, &super::greynoise::GreyNoise];

/// The error for a status no provider documents as an answer.
pub(crate) fn status_error(name: &'static str, status: u16) -> LookupError {
    match status {
        401 | 403 => LookupError::KeyRefused(name, status),
        429 => LookupError::RateLimited(None),
        s => LookupError::Status(s),
    }
}

/// `body` parsed as `T`, or why not (the body itself is not echoed: a
/// hostile proxy could put anything there).
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, LookupError> {
    serde_json::from_slice(body).map_err(|e| LookupError::Malformed(e.to_string()))
}
