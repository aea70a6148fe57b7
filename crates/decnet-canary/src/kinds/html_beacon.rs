//! A saved web page (an intranet asset list) that loads a stylesheet and a
//! 1×1 image from the token URL as soon as a browser renders it.

use super::{xml_escape, Artifact, Ctx, TokenKind};
use crate::error::CanaryResult;
use crate::token::Token;

/// `html_beacon`.
pub struct HtmlBeacon;

impl TokenKind for HtmlBeacon {
    fn name(&self) -> &'static str {
        "html_beacon"
    }
    fn describe(&self) -> &'static str {
        "Saved intranet page that loads resources from the call-home URL when viewed"
    }
    fn render(&self, token: &Token, ctx: &Ctx) -> CanaryResult<Vec<Artifact>> {
        let css = xml_escape(&ctx.url("assets", &token.slug, "site.css"));
        let img = xml_escape(&ctx.url("assets", &token.slug, "pixel.gif"));
        let page = format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <title>Server inventory - IT Operations</title>\n\
             <link rel=\"stylesheet\" href=\"{css}\">\n</head>\n<body>\n\
             <h1>Server inventory</h1>\n\
             <table>\n<tr><th>Host</th><th>Role</th><th>Admin</th></tr>\n\
             <tr><td>dc01</td><td>Domain controller</td><td>it-admins</td></tr>\n\
             <tr><td>fs02</td><td>File server</td><td>it-admins</td></tr>\n\
             <tr><td>db-prod-1</td><td>PostgreSQL primary</td><td>dba</td></tr>\n\
             </table>\n<img src=\"{img}\" width=\"1\" height=\"1\" alt=\"\">\n</body>\n</html>\n"
        );
        Ok(vec![Artifact::home(
            "Documents/server-inventory.html",
            page,
            0o644,
        )])
    }
}

#[cfg(test)]
mod tests {
    use crate::kinds::testing;

    #[test]
    fn page_loads_image_and_stylesheet_from_the_token() {
        let (t, a) = testing::render("html_beacon");
        let html = testing::text(&a[0]);
        let base = format!("http://198.51.100.7:8080/assets/{}/", t.slug);
        assert!(html.contains(&format!(
            "<link rel=\"stylesheet\" href=\"{base}site.css\">"
        )));
        assert!(html.contains(&format!("<img src=\"{base}pixel.gif\"")));
    }
}
