//! A bare URL: left in notes, bookmarks or shell history; fires when fetched.

use super::{Artifact, Ctx, TokenKind};
use crate::error::CanaryResult;
use crate::token::Token;

/// `http_url`.
pub struct HttpUrl;

impl TokenKind for HttpUrl {
    fn name(&self) -> &'static str {
        "http_url"
    }
    fn describe(&self) -> &'static str {
        "Web URL that reports whoever opens it"
    }
    fn render(&self, token: &Token, ctx: &Ctx) -> CanaryResult<Vec<Artifact>> {
        let url = ctx.url("c", &token.slug, "");
        let note = format!(
            "VPN portal moved (IT ticket 4471)\n\
             new self-service page: {url}\n\
             use your AD login, MFA push comes from the new app\n"
        );
        Ok(vec![Artifact::home(
            "Documents/vpn-portal.txt",
            note,
            0o644,
        )])
    }
}

#[cfg(test)]
mod tests {
    use crate::kinds::testing;

    #[test]
    fn note_carries_the_call_home_url() {
        let (t, a) = testing::render("http_url");
        assert!(testing::text(&a[0]).contains(&format!("http://198.51.100.7:8080/c/{}\n", t.slug)));
    }
}
