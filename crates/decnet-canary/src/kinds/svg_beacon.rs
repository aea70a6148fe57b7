//! A network diagram (SVG) whose background is an image at the token URL:
//! browsers and SVG-aware viewers fetch it to draw the picture.

use super::{xml_escape, Artifact, Ctx, TokenKind};
use crate::error::CanaryResult;
use crate::token::Token;

/// `svg_beacon`.
pub struct SvgBeacon;

impl TokenKind for SvgBeacon {
    fn name(&self) -> &'static str {
        "svg_beacon"
    }
    fn describe(&self) -> &'static str {
        "Network diagram (SVG) that loads its background from the call-home URL"
    }
    fn render(&self, token: &Token, ctx: &Ctx) -> CanaryResult<Vec<Artifact>> {
        let img = xml_escape(&ctx.url("assets", &token.slug, "grid.png"));
        let svg = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" width=\"640\" height=\"360\" viewBox=\"0 0 640 360\">\n\
             <image href=\"{img}\" xlink:href=\"{img}\" x=\"0\" y=\"0\" width=\"640\" height=\"360\"/>\n\
             <rect x=\"40\" y=\"40\" width=\"160\" height=\"60\" fill=\"#dde\" stroke=\"#335\"/>\n\
             <text x=\"120\" y=\"75\" text-anchor=\"middle\" font-family=\"sans-serif\">core-sw01 10.20.0.1</text>\n\
             <rect x=\"440\" y=\"40\" width=\"160\" height=\"60\" fill=\"#dde\" stroke=\"#335\"/>\n\
             <text x=\"520\" y=\"75\" text-anchor=\"middle\" font-family=\"sans-serif\">fw-edge 10.20.0.254</text>\n\
             <line x1=\"200\" y1=\"70\" x2=\"440\" y2=\"70\" stroke=\"#335\"/>\n\
             <text x=\"320\" y=\"200\" text-anchor=\"middle\" font-family=\"sans-serif\">mgmt VLAN 20 - jump host bastion.corp</text>\n\
             </svg>\n"
        );
        Ok(vec![Artifact::home(
            "Documents/network-diagram.svg",
            svg,
            0o644,
        )])
    }
}

#[cfg(test)]
mod tests {
    use crate::kinds::testing;

    #[test]
    fn well_formed_svg_with_the_token_image() {
        let (t, a) = testing::render("svg_beacon");
        let text = testing::text(&a[0]);
        let doc = roxmltree::Document::parse(text).unwrap();
        let image = doc.descendants().find(|n| n.has_tag_name("image")).unwrap();
        assert_eq!(
            image.attribute("href"),
            Some(format!("http://198.51.100.7:8080/assets/{}/grid.png", t.slug).as_str())
        );
    }
}
