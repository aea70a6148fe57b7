//! A Word document (docx) whose letterhead logo is a linked picture at the
//! token URL: Word and LibreOffice fetch it to draw the page.

use super::ooxml::{self, PictureIn, IMAGE_REL};
use super::{xml_escape, Artifact, Ctx, TokenKind};
use crate::error::CanaryResult;
use crate::token::Token;

/// `docx`.
pub struct Docx;

const BODY: &[&str] = &[
    "Salary Review 2025 - CONFIDENTIAL",
    "Prepared for the executive committee. Do not forward.",
    "Band adjustments below take effect with the March payroll run.",
    "Engineering: +4.5%   Sales: +3.0%   Operations: +3.5%",
    "Individual exceptions are listed in the attached spreadsheet (HR share).",
];

const CONTENT_TYPES: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
<Default Extension=\"xml\" ContentType=\"application/xml\"/>\
<Override PartName=\"/word/document.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/>\
<Override PartName=\"/docProps/core.xml\" ContentType=\"application/vnd.openxmlformats-package.core-properties+xml\"/>\
</Types>";

impl TokenKind for Docx {
    fn name(&self) -> &'static str {
        "docx"
    }
    fn describe(&self) -> &'static str {
        "Word document that loads its logo from the call-home URL when opened"
    }
    fn render(&self, token: &Token, ctx: &Ctx) -> CanaryResult<Vec<Artifact>> {
        let url = ctx.url("static", &token.slug, "logo.png");
        let mut body = String::new();
        // The logo first, as a letterhead would have it.
        body.push_str(
            "<w:p><w:r><w:drawing><wp:inline distT=\"0\" distB=\"0\" distL=\"0\" distR=\"0\">\
             <wp:extent cx=\"9525\" cy=\"9525\"/><wp:docPr id=\"1\" name=\"Logo\"/>\
             <a:graphic><a:graphicData uri=\"http://schemas.openxmlformats.org/drawingml/2006/picture\">",
        );
        body.push_str(&ooxml::linked_picture(PictureIn::Word, "rId9", "logo.png"));
        body.push_str("</a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>");
        for line in BODY {
            body.push_str(&format!(
                "<w:p><w:r><w:t xml:space=\"preserve\">{}</w:t></w:r></w:p>",
                xml_escape(line)
            ));
        }
        let document = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
             <w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\" \
             xmlns:r=\"http://schemas.openxmlformats.org/officeDocument/2006/relationships\" \
             xmlns:wp=\"http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing\" \
             xmlns:a=\"http://schemas.openxmlformats.org/drawingml/2006/main\">\
             <w:body>{body}<w:sectPr><w:pgSz w:w=\"11906\" w:h=\"16838\"/></w:sectPr></w:body></w:document>"
        );
        let parts = vec![
            ("word/document.xml", document),
            (
                "word/_rels/document.xml.rels",
                ooxml::rels(&[("rId9", IMAGE_REL, &url, true)]),
            ),
        ];
        let doc = ooxml::document(
            "Documents/Salary Review 2025.docx",
            CONTENT_TYPES,
            "word/document.xml",
            BODY[0],
            parts,
            token.created_at,
        )?;
        Ok(vec![doc])
    }
}

#[cfg(test)]
mod tests {
    use crate::kinds::ooxml::check;

    #[test]
    fn opens_as_zip_of_well_formed_xml_linking_the_token() {
        let (t, members) = check::rendered_with_link("docx", "word/_rels/document.xml.rels");
        let body = std::str::from_utf8(&members["word/document.xml"]).unwrap();
        assert!(body.contains("<a:blip r:link=\"rId9\"/>") && body.contains("Salary Review 2025"));
        // Same token, same bytes: a re-download does not change the file.
        let ctx = crate::kinds::testing::ctx();
        let render = || {
            crate::kinds::find("docx")
                .unwrap()
                .render(&t, &ctx)
                .unwrap()
        };
        assert_eq!(render(), render());
    }
}
