//! An Excel workbook (xlsx) whose sheet carries a linked picture at the
//! token URL, anchored in a drawing as Excel writes it.

use super::ooxml::{self, PictureIn, IMAGE_REL};
use super::{xml_escape, Artifact, Ctx, TokenKind};
use crate::error::CanaryResult;
use crate::token::Token;

/// `xlsx`.
pub struct Xlsx;

const ROWS: &[[&str; 3]] = &[
    ["Employee", "Band", "Adjustment"],
    ["A. Novak", "E4", "6.5%"],
    ["J. Morgan", "S3", "2.0%"],
    ["K. Tanaka", "O2", "5.0%"],
    ["R. Silva", "E5", "7.25%"],
];

const CONTENT_TYPES: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\
<Default Extension=\"rels\" ContentType=\"application/vnd.openxmlformats-package.relationships+xml\"/>\
<Default Extension=\"xml\" ContentType=\"application/xml\"/>\
<Override PartName=\"/xl/workbook.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml\"/>\
<Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml\"/>\
<Override PartName=\"/xl/drawings/drawing1.xml\" ContentType=\"application/vnd.openxmlformats-officedocument.drawing+xml\"/>\
<Override PartName=\"/docProps/core.xml\" ContentType=\"application/vnd.openxmlformats-package.core-properties+xml\"/>\
</Types>";

const NS_MAIN: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const NS_R: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

fn sheet() -> String {
    let mut rows = String::new();
    for (i, row) in ROWS.iter().enumerate() {
        rows.push_str(&format!("<row r=\"{}\">", i + 1));
        for (j, cell) in row.iter().enumerate() {
            let col = (b'A' + j as u8) as char;
            rows.push_str(&format!(
                "<c r=\"{col}{}\" t=\"inlineStr\"><is><t>{}</t></is></c>",
                i + 1,
                xml_escape(cell)
            ));
        }
        rows.push_str("</row>");
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
         <worksheet xmlns=\"{NS_MAIN}\" xmlns:r=\"{NS_R}\"><sheetData>{rows}</sheetData><drawing r:id=\"rId1\"/></worksheet>"
    )
}

fn drawing() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
         <xdr:wsDr xmlns:xdr=\"http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing\" \
         xmlns:a=\"http://schemas.openxmlformats.org/drawingml/2006/main\" xmlns:r=\"{NS_R}\">\
         <xdr:oneCellAnchor><xdr:from><xdr:col>4</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>0</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:from>\
         <xdr:ext cx=\"9525\" cy=\"9525\"/>{}<xdr:clientData/></xdr:oneCellAnchor></xdr:wsDr>",
        ooxml::linked_picture(PictureIn::Sheet, "rId1", "logo.png")
    )
}

impl TokenKind for Xlsx {
    fn name(&self) -> &'static str {
        "xlsx"
    }
    fn describe(&self) -> &'static str {
        "Excel workbook that loads a picture from the call-home URL when opened"
    }
    fn render(&self, token: &Token, ctx: &Ctx) -> CanaryResult<Vec<Artifact>> {
        let url = ctx.url("static", &token.slug, "logo.png");
        let workbook = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
             <workbook xmlns=\"{NS_MAIN}\" xmlns:r=\"{NS_R}\"><sheets><sheet name=\"Adjustments\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>"
        );
        let rel = |ty: &str| {
            format!("http://schemas.openxmlformats.org/officeDocument/2006/relationships/{ty}")
        };
        let parts = vec![
            ("xl/workbook.xml", workbook),
            (
                "xl/_rels/workbook.xml.rels",
                ooxml::rels(&[("rId1", &rel("worksheet"), "worksheets/sheet1.xml", false)]),
            ),
            ("xl/worksheets/sheet1.xml", sheet()),
            (
                "xl/worksheets/_rels/sheet1.xml.rels",
                ooxml::rels(&[("rId1", &rel("drawing"), "../drawings/drawing1.xml", false)]),
            ),
            ("xl/drawings/drawing1.xml", drawing()),
            (
                "xl/drawings/_rels/drawing1.xml.rels",
                ooxml::rels(&[("rId1", IMAGE_REL, &url, true)]),
            ),
        ];
        let doc = ooxml::document(
            "Documents/Salary adjustments 2025.xlsx",
            CONTENT_TYPES,
            "xl/workbook.xml",
            "Salary adjustments",
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
        let (_, members) = check::rendered_with_link("xlsx", "xl/drawings/_rels/drawing1.xml.rels");
        let sheet = std::str::from_utf8(&members["xl/worksheets/sheet1.xml"]).unwrap();
        assert!(sheet.contains("<t>R. Silva</t>") && sheet.contains("<drawing r:id=\"rId1\"/>"));
    }
}
