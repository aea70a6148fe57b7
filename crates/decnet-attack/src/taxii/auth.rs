//! Who may read: the API implements [`TaxiiAuth`] with its API tokens
//! (read-only role); [`StaticTokens`] serves tests and the example server.

use std::future::Future;

use axum::http::{header, HeaderMap};
use base64::Engine;

/// An authenticated reader.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Name for logs (never the token).
    pub name: String,
}

/// Why a request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No credentials (401).
    Missing,
    /// Unknown or revoked token (401).
    Invalid,
    /// Authenticated but not allowed to read TAXII (403).
    Forbidden,
}

/// The auth hook of the TAXII router.
pub trait TaxiiAuth: Send + Sync + 'static {
    /// Decides from the request head alone.
    fn authorize(
        &self,
        headers: &HeaderMap,
    ) -> impl Future<Output = Result<Principal, AuthError>> + Send;
}

/// The token a TAXII client presents: `Authorization: Bearer T`,
/// `Token T` (taxii2-client's `TokenAuth`) or Basic with the token as the
/// password (what clients configured with user/password send).
pub fn presented_token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token") {
        return (!rest.is_empty()).then(|| rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (_, password) = text.split_once(':')?;
        return (!password.is_empty()).then(|| password.to_owned());
    }
    None
}

/// A fixed token list: `(token, principal name)`.
#[derive(Clone, Debug, Default)]
pub struct StaticTokens(pub Vec<(String, String)>);

impl TaxiiAuth for StaticTokens {
    async fn authorize(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        let token = presented_token(headers).ok_or(AuthError::Missing)?;
        // Compare every entry in full so timing does not reveal a prefix.
        let mut found = None;
        for (t, name) in &self.0 {
            let same = t.len() == token.len()
                && t.bytes()
                    .zip(token.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0;
            if same {
                found = Some(name.clone());
            }
        }
        found
            .map(|name| Principal { name })
            .ok_or(AuthError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut m = HeaderMap::new();
        m.insert(header::AUTHORIZATION, v.parse().unwrap());
        m
    }

    #[test]
    fn tokens_from_every_scheme() {
        assert_eq!(presented_token(&h("Bearer abc")).as_deref(), Some("abc"));
        assert_eq!(presented_token(&h("Token abc")).as_deref(), Some("abc"));
        // "taxii:abc"
        assert_eq!(
            presented_token(&h("Basic dGF4aWk6YWJj")).as_deref(),
            Some("abc")
        );
        assert_eq!(presented_token(&h("Basic !!")), None);
        assert_eq!(presented_token(&h("Digest x")), None);
        assert_eq!(presented_token(&HeaderMap::new()), None);
    }
}
