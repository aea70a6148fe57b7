//! Bus subjects: dot-separated tokens, NATS style.

/// Makes a string safe to use as one subject token: dots, wildcards and
/// whitespace become `_`; an empty string becomes `_`.
pub fn sanitize_token(s: &str) -> String {
    if s.is_empty() {
        return "_".to_owned();
    }
    s.chars()
        .map(|c| match c {
            '.' | '*' | '>' => '_',
            c if c.is_whitespace() || c.is_control() => '_',
            c => c,
        })
        .collect()
}

/// Subject for a decky event: `events.<decky>.<service>.<kind>`.
pub fn event_subject(decky: &str, service: &str, kind: &str) -> String {
    format!(
        "events.{}.{}.{}",
        sanitize_token(decky),
        sanitize_token(service),
        sanitize_token(kind)
    )
}

/// True when `subject` matches `pattern` (`*` = one token, `>` = one or more trailing tokens).
pub fn matches(pattern: &str, subject: &str) -> bool {
    let mut p = pattern.split('.');
    let mut s = subject.split('.');
    loop {
        match (p.next(), s.next()) {
            (Some(">"), Some(_)) => return true,
            (Some("*"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Checks a subscription pattern: non-empty tokens, `>` only last, wildcards alone in a token.
pub fn validate_pattern(pattern: &str) -> Result<(), String> {
    let tokens: Vec<&str> = pattern.split('.').collect();
    for (i, t) in tokens.iter().enumerate() {
        if t.is_empty() {
            return Err(format!("empty token in pattern '{pattern}'"));
        }
        if *t == ">" && i != tokens.len() - 1 {
            return Err(format!("'>' must be the last token in '{pattern}'"));
        }
        if t.len() > 1 && (t.contains('*') || t.contains('>')) {
            return Err(format!("wildcard must stand alone in token '{t}'"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("events.>", "events.web01.ssh.connect"));
        assert!(!matches("events.>", "events"));
        assert!(matches("events.*.ssh.*", "events.web01.ssh.connect"));
        assert!(!matches("events.*.ssh.*", "events.web01.http.connect"));
        assert!(!matches("events.*", "events.a.b"));
        assert!(matches("topology.42.>", "topology.42.mutation.applied"));
        assert!(!matches("topology.42.>", "topology.43.status"));
        assert!(matches("a.b", "a.b"));
        assert!(!matches("a.b", "a.b.c"));
    }

    #[test]
    fn sanitizes() {
        assert_eq!(sanitize_token("web.01 x*>"), "web_01_x__");
        assert_eq!(
            event_subject("a.b", "ssh", "connect"),
            "events.a_b.ssh.connect"
        );
        assert!(validate_pattern("a.>.b").is_err());
        assert!(validate_pattern("a..b").is_err());
        assert!(validate_pattern("a.b*").is_err());
        assert!(validate_pattern("a.*.>").is_ok());
    }
}
