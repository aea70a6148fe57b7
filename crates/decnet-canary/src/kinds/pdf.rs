//! A one-page PDF whose `/OpenAction` opens the token URL, and whose whole
//! page is a link to it. Acrobat asks before following an OpenAction URI
//! and poppler/pdf.js do not follow it at all, so this one fires when a
//! person clicks through; the report says which viewers do what.

use super::{Artifact, Ctx, TokenKind};
use crate::error::CanaryResult;
use crate::token::Token;

/// `pdf`.
pub struct Pdf;

const LINES: &[&str] = &[
    "Network Access Policy - Remote Administration",
    "",
    "Jump host credentials rotate monthly. The current set is published on",
    "the secured portal (click anywhere on this page to open it).",
    "",
    "Owner: IT Security    Classification: Internal",
];

/// A PDF literal string: backslash and parentheses escaped.
fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('(');
    for c in s.chars() {
        if matches!(c, '\\' | '(' | ')') {
            out.push('\\');
        }
        if c.is_ascii() {
            out.push(c);
        }
    }
    out.push(')');
    out
}

/// Serialises numbered objects with a correct cross-reference table.
fn assemble(objects: &[String]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R /Info 8 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

impl TokenKind for Pdf {
    fn name(&self) -> &'static str {
        "pdf"
    }
    fn describe(&self) -> &'static str {
        "PDF that opens the call-home URL on open (viewer permitting) or on click"
    }
    fn render(&self, token: &Token, ctx: &Ctx) -> CanaryResult<Vec<Artifact>> {
        let url = literal(&ctx.url("docs", &token.slug, "policy"));
        let mut text = String::from("BT /F1 12 Tf 72 760 Td 16 TL\n");
        for line in LINES {
            text.push_str(&format!("{} Tj T*\n", literal(line)));
        }
        text.push_str("ET");
        let date = token.created_at.format("D:%Y%m%d%H%M%SZ").to_string();
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R /OpenAction 5 0 R >>".to_owned(),
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 6 0 R /Annots [7 0 R] >>".to_owned(),
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
            format!("<< /Type /Action /S /URI /URI {url} >>"),
            format!("<< /Length {} >>\nstream\n{text}\nendstream", text.len()),
            "<< /Type /Annot /Subtype /Link /Rect [0 0 612 792] /Border [0 0 0] /A 5 0 R >>".to_owned(),
            format!(
                "<< /Title {} /Author (IT Security) /Producer (Microsoft: Print To PDF) /CreationDate ({date}) >>",
                literal(LINES[0])
            ),
        ];
        Ok(vec![Artifact::home(
            "Documents/Remote Access Policy.pdf",
            assemble(&objects),
            0o644,
        )])
    }
}

#[cfg(test)]
mod tests {
    use crate::kinds::testing;

    #[test]
    fn xref_offsets_point_at_their_objects_and_open_action_is_the_url() {
        let (t, a) = testing::render("pdf");
        let b = &a[0].bytes;
        assert!(b.starts_with(b"%PDF-1.4") && b.ends_with(b"%%EOF\n"));
        // Offsets are in bytes and the header's binary comment is not UTF-8:
        // compare bytes.
        let at = |off: usize, what: &str| b[off..].starts_with(what.as_bytes());
        let tail = &b[b.len() - 32..];
        let tail = std::str::from_utf8(tail).unwrap();
        let startxref: usize = tail
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(at(startxref, "xref\n0 9\n"));
        let table = std::str::from_utf8(&b[startxref..]).unwrap();
        for (i, line) in table.lines().skip(3).take(8).enumerate() {
            let off: usize = line[..10].parse().unwrap();
            assert!(at(off, &format!("{} 0 obj\n", i + 1)), "object {}", i + 1);
        }
        let s = String::from_utf8_lossy(b);
        assert!(s.contains(&format!(
            "/S /URI /URI (http://198.51.100.7:8080/docs/{}/policy)",
            t.slug
        )));
        assert!(s.contains("/OpenAction 5 0 R"));
    }
}
