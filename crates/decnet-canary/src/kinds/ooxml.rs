//! Office Open XML packages (docx, xlsx) with a linked (not embedded)
//! picture: the renderer fetches the token URL to draw it.

use chrono::{DateTime, Utc};

use super::{xml_escape, Artifact};
use crate::error::CanaryResult;
use crate::zipfile::{self, Member};

/// Relationship type of a picture.
pub const IMAGE_REL: &str =
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/image";

/// A `.rels` part.
pub fn rels(entries: &[(&str, &str, &str, bool)]) -> String {
    let mut s = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
         <Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">",
    );
    for (id, ty, target, external) in entries {
        s.push_str(&format!(
            "<Relationship Id=\"{id}\" Type=\"{ty}\" Target=\"{}\"{}/>",
            xml_escape(target),
            if *external {
                " TargetMode=\"External\""
            } else {
                ""
            }
        ));
    }
    s.push_str("</Relationships>");
    s
}

/// `docProps/core.xml` with an author and dates, as Office writes it.
pub fn core_props(title: &str, author: &str, when: DateTime<Utc>) -> String {
    let t = when.format("%Y-%m-%dT%H:%M:%SZ");
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
         <cp:coreProperties xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\" xmlns:dcterms=\"http://purl.org/dc/terms/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\
         <dc:title>{}</dc:title><dc:creator>{}</dc:creator><cp:lastModifiedBy>{}</cp:lastModifiedBy>\
         <dcterms:created xsi:type=\"dcterms:W3CDTF\">{t}</dcterms:created>\
         <dcterms:modified xsi:type=\"dcterms:W3CDTF\">{t}</dcterms:modified></cp:coreProperties>",
        xml_escape(title),
        xml_escape(author),
        xml_escape(author)
    )
}

/// Which vocabulary a linked picture is written in.
pub enum PictureIn {
    /// WordprocessingML (`<pic:pic>` inside `<a:graphicData>`).
    Word,
    /// SpreadsheetML drawings (`<xdr:pic>` inside an anchor).
    Sheet,
}

/// A 1×1 picture whose bits are linked through relationship `rid`.
pub fn linked_picture(within: PictureIn, rid: &str, name: &str) -> String {
    let (p, ns) = match within {
        PictureIn::Word => (
            "pic",
            " xmlns:pic=\"http://schemas.openxmlformats.org/drawingml/2006/picture\"",
        ),
        PictureIn::Sheet => ("xdr", ""),
    };
    format!(
        "<{p}:pic{ns}>\
         <{p}:nvPicPr><{p}:cNvPr id=\"1\" name=\"{name}\"/><{p}:cNvPicPr/></{p}:nvPicPr>\
         <{p}:blipFill><a:blip r:link=\"{rid}\"/><a:stretch><a:fillRect/></a:stretch></{p}:blipFill>\
         <{p}:spPr><a:xfrm><a:off x=\"0\" y=\"0\"/><a:ext cx=\"9525\" cy=\"9525\"/></a:xfrm>\
         <a:prstGeom prst=\"rect\"><a:avLst/></a:prstGeom></{p}:spPr></{p}:pic>"
    )
}

/// An Office document: the content types, the package relationships (the
/// main part and the core properties), `docProps/core.xml` with `title`,
/// and the document's own `parts`, as a file under the home directory.
pub fn document(
    home_path: &str,
    content_types: &str,
    main_part: &str,
    title: &str,
    parts: Vec<(&str, String)>,
    when: DateTime<Utc>,
) -> CanaryResult<Artifact> {
    let mut all = vec![
        ("[Content_Types].xml", content_types.to_owned()),
        (
            "_rels/.rels",
            rels(&[
                ("rId1", OFFICE_DOCUMENT_REL, main_part, false),
                ("rId2", CORE_PROPS_REL, "docProps/core.xml", false),
            ]),
        ),
        ("docProps/core.xml", core_props(title, "m.keller", when)),
    ];
    all.extend(parts);
    Ok(Artifact::home(home_path, package(&all, when)?, 0o644))
}

/// Relationship type of a package's main part.
const OFFICE_DOCUMENT_REL: &str =
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument";
/// Relationship type of the core properties part.
const CORE_PROPS_REL: &str =
    "http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties";

/// Zips the parts (all XML, mode 0644).
fn package(parts: &[(&str, String)], when: DateTime<Utc>) -> CanaryResult<Vec<u8>> {
    let members: Vec<Member<'_>> = parts
        .iter()
        .map(|(name, body)| Member {
            name,
            bytes: body.as_bytes(),
            mode: 0o644,
        })
        .collect();
    zipfile::write(&members, when)
}

#[cfg(test)]
pub mod check {
    //! Test helper: a kind's document is a zip of well-formed XML parts
    //! whose linked picture targets the token URL externally.

    use std::collections::BTreeMap;

    use crate::kinds::testing;
    use crate::token::Token;

    /// Renders `kind`, checks it, returns the token and the parts.
    pub fn rendered_with_link(kind: &str, rels_part: &str) -> (Token, BTreeMap<String, Vec<u8>>) {
        let (t, a) = testing::render(kind);
        let url = format!("http://198.51.100.7:8080/static/{}/logo.png", t.slug);
        assert!(a[0].file_name.ends_with(&format!(".{kind}")));
        let members = crate::zipfile::read::members(&a[0].bytes);
        assert!(members.contains_key("[Content_Types].xml"));
        for (name, body) in &members {
            let text = std::str::from_utf8(body).unwrap();
            assert!(text.starts_with("<?xml"), "{name}");
            if let Err(e) = roxmltree::Document::parse(text) {
                panic!("{name} is not well-formed XML: {e}\n{text}");
            }
        }
        let rels = std::str::from_utf8(&members[rels_part]).unwrap();
        assert!(
            rels.contains(&format!("Target=\"{url}\" TargetMode=\"External\"")),
            "{rels}"
        );
        (t, members)
    }
}
