//! Text every channel shares: the plain and HTML bodies of an alert, a
//! context line, and escaping for each markup. Fact values and most titles
//! carry attacker-controlled text (commands, usernames, paths), so every
//! renderer escapes: no mention, link or markup can be smuggled into a
//! channel by an attacker typing it into a decoy shell.

use std::fmt::Write;

use crate::alert::{Alert, AlertKind, Severity};

/// Longest summary/description we render (channels clip further).
pub const MAX_TEXT: usize = 3000;

/// Clips to `max` characters, marking the cut.
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max.saturating_sub(1)) {
        Some((i, _)) if s[i..].chars().nth(1).is_some() => format!("{}…", &s[..i]),
        _ => s.to_owned(),
    }
}

/// `rule login_success · high · escalation · 2026-11-23 10:00:00 UTC · node decnet`.
pub fn context_line(a: &Alert, node: &str) -> String {
    format!(
        "rule {} · {} · {} · {} · {node}",
        a.rule,
        a.severity,
        a.kind.name(),
        a.ts.format("%Y-%m-%d %H:%M:%S UTC")
    )
}

/// A colour per severity, `#rrggbb`.
pub fn color(s: Severity) -> &'static str {
    match s {
        Severity::Info => "#6c757d",
        Severity::Low => "#2f80ed",
        Severity::Medium => "#f2c94c",
        Severity::High => "#f2994a",
        Severity::Critical => "#eb5757",
    }
}

/// Plain-text body (e-mail, syslog `msg`).
pub fn text_body(a: &Alert, node: &str, link: Option<&str>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", one_line(&a.headline()));
    let _ = writeln!(s);
    let _ = writeln!(s, "{}", clip(&a.summary, MAX_TEXT));
    let _ = writeln!(s);
    for f in &a.facts {
        let _ = writeln!(s, "{:>12}: {}", f.name, one_line(&f.value));
    }
    if let AlertKind::Digest { suppressed, .. } = a.kind {
        let _ = writeln!(s, "{:>12}: {suppressed}", "digest of");
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "{}", context_line(a, node));
    let _ = writeln!(s, "alert id {}", a.id);
    if let Some(l) = link {
        let _ = writeln!(s, "{l}");
    }
    s
}

/// HTML body (e-mail).
pub fn html_body(a: &Alert, node: &str, link: Option<&str>) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html><html><body style=\"font-family:sans-serif\">\
         <h2 style=\"border-left:6px solid {};padding-left:8px\">{}</h2><p>{}</p><table>",
        color(a.severity),
        html(&a.headline()),
        html(&clip(&a.summary, MAX_TEXT))
    );
    for f in &a.facts {
        let _ = write!(
            s,
            "<tr><th align=\"right\" valign=\"top\">{}</th><td><code>{}</code></td></tr>",
            html(&f.name),
            html(&f.value)
        );
    }
    let _ = write!(
        s,
        "</table><p style=\"color:#666;font-size:small\">{}<br>alert id {}</p>",
        html(&context_line(a, node)),
        a.id
    );
    if let Some(l) = link {
        let _ = write!(s, "<p><a href=\"{}\">Open decnet</a></p>", html(l));
    }
    s.push_str("</body></html>");
    s
}

/// Newlines and other controls shown as spaces (one fact per line).
pub fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Replaces the characters `sub` names (returning their escape) and
/// keeps the rest: the one loop behind every escaping function here and in
/// the CEF encoder.
pub fn escape_with(s: &str, sub: impl Fn(char) -> Option<&'static str>) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match sub(c) {
            Some(e) => out.push_str(e),
            None => out.push(c),
        }
    }
    out
}

/// HTML text/attribute escaping.
pub fn html(s: &str) -> String {
    escape_with(s, |c| match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '"' => Some("&quot;"),
        '\'' => Some("&#39;"),
        _ => None,
    })
}

/// Slack mrkdwn/plain text: `&`, `<`, `>` escaped (so `<!channel>` and
/// `<http://…|…>` links cannot be formed).
pub fn slack(s: &str) -> String {
    escape_with(s, |c| match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        _ => None,
    })
}

/// Markdown (Mattermost, Discord, Teams): markup characters
/// backslash-escaped so `[text](url)`, emphasis and headings stay literal.
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '*'
                | '_'
                | '~'
                | '`'
                | '['
                | ']'
                | '('
                | ')'
                | '#'
                | '>'
                | '<'
                | '|'
                | '!'
                | '@'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            slack("<!channel> & <http://x|y>"),
            "&lt;!channel&gt; &amp; &lt;http://x|y&gt;"
        );
        assert_eq!(
            markdown("[a](http://x) @everyone"),
            "\\[a\\]\\(http://x\\) \\@everyone"
        );
        assert_eq!(html("<script>\"'&"), "&lt;script&gt;&quot;&#39;&amp;");
        assert_eq!(one_line("a\nb\tc"), "a b c");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abcd", 4), "abcd");
    }

    #[test]
    fn bodies_escape_attacker_text() {
        let mut a = Alert::test("mail");
        a.facts.push(crate::alert::Fact::new(
            "command",
            "<img src=x onerror=alert(1)>",
        ));
        let h = html_body(&a, "node1", Some("https://decnet.example/"));
        assert!(!h.contains("<img"));
        assert!(h.contains("&lt;img src=x onerror=alert(1)&gt;"));
        let t = text_body(&a, "node1", None);
        assert!(t.contains("command: <img src=x onerror=alert(1)>"));
        assert!(t.contains(&a.id.to_string()));
    }
}
