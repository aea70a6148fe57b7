//! `[content]`: how lived-in the deckies are. Their filesystems gather
//! mail, logins and logs as time passes (on by default), on a clock that
//! may run faster than the wall (`clock_speed`, for demos and tests), and
//! mail bodies may be written by a language model the operator runs
//! (`llm`), never by default.
//!
//! ```ini
//! [content]
//! lived = true
//! clock_speed = 1
//! llm = http://127.0.0.1:11434/api/generate
//! llm_model = llama3.2
//! llm_timeout = 20s
//! chatter = 0
//! ```

use std::time::Duration;

use serde::Serialize;

use crate::fleet::ValidationError;
use crate::parse::parse_duration;

/// Fastest simulated clock accepted: an hour in a millisecond.
pub const MAX_CLOCK_SPEED: f64 = 3_600_000.0;

/// Most flows per hour between deckies (`chatter`): a modest LAN's worth.
pub const MAX_CHATTER: u32 = 3600;

/// The `[content]` settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ContentConfig {
    /// Whether deckies' filesystems live (`lived`).
    pub lived: bool,
    /// Simulated seconds per real second (`clock_speed`, 1 = wall clock).
    pub clock_speed: f64,
    /// OpenAI-compatible `/v1/chat/completions` or Ollama `/api/generate`
    /// URL (`llm`), if any.
    pub llm: Option<String>,
    /// Model name sent to it (`llm_model`).
    pub llm_model: String,
    /// Bearer token for it (`llm_key`). Never serialised.
    #[serde(skip)]
    pub llm_key: Option<String>,
    /// Longest wait for one answer (`llm_timeout`).
    pub llm_timeout: Duration,
    /// Flows per hour between the fleet's own deckies (`chatter`; 0, the
    /// default, sends none).
    pub chatter: u32,
}

impl Default for ContentConfig {
    fn default() -> Self {
        ContentConfig {
            lived: true,
            clock_speed: 1.0,
            llm: None,
            llm_model: "llama3.2".into(),
            llm_key: None,
            llm_timeout: Duration::from_secs(20),
            chatter: 0,
        }
    }
}

fn err(line: usize, message: String) -> ValidationError {
    ValidationError { line, message }
}

/// Parses the section's entries; every bad value is an error.
pub fn parse(entries: &[(String, String, usize)]) -> Result<ContentConfig, Vec<ValidationError>> {
    let mut c = ContentConfig::default();
    let mut errors = Vec::new();
    for (k, v, line) in entries {
        let line = *line;
        match k.as_str() {
            "lived" => match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => c.lived = true,
                "false" | "no" | "off" | "0" => c.lived = false,
                _ => errors.push(err(line, format!("[content] lived: expected true or false, got {v:?}"))),
            },
            "clock_speed" => match v.parse::<f64>() {
                Ok(s) if (1.0..=MAX_CLOCK_SPEED).contains(&s) => c.clock_speed = s,
                _ => errors.push(err(
                    line,
                    format!("[content] clock_speed: expected a number from 1 to {MAX_CLOCK_SPEED}, got {v:?}"),
                )),
            },
            "llm" => {
                let ok = (v.starts_with("http://") || v.starts_with("https://"))
                    && !v.contains(char::is_whitespace);
                if ok {
                    c.llm = Some(v.clone());
                } else {
                    errors.push(err(line, format!("[content] llm: expected an http(s) URL, got {v:?}")));
                }
            }
            "llm_model" if !v.is_empty() && v.len() <= 200 => c.llm_model = v.clone(),
            "llm_key" if !v.is_empty() => c.llm_key = Some(v.clone()),
            "llm_timeout" => match parse_duration(v) {
                Some(d) if d >= Duration::from_secs(1) && d <= Duration::from_secs(600) => c.llm_timeout = d,
                _ => errors.push(err(line, format!("[content] llm_timeout: expected 1s to 10m, got {v:?}"))),
            },
            "chatter" => match v.parse::<u32>() {
                Ok(n) if n <= MAX_CHATTER => c.chatter = n,
                _ => errors.push(err(line, format!("[content] chatter: expected 0 to {MAX_CHATTER} flows per hour, got {v:?}"))),
            },
            _ => errors.push(err(
                line,
                format!("[content]: unknown key or empty value {k:?} (known: lived, clock_speed, llm, llm_model, llm_key, llm_timeout, chatter)"),
            )),
        }
    }
    errors.is_empty().then_some(c).ok_or(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::parse::section_entries as entries;

    #[test]
    fn values_parse_and_bad_ones_name_their_line() {
        let c = parse(&entries(&[
            ("lived", "no"),
            ("clock_speed", "3600"),
            ("llm", "http://127.0.0.1:8000/v1/chat/completions"),
            ("llm_timeout", "5s"),
            ("chatter", "120"),
        ]))
        .unwrap();
        assert_eq!(c.chatter, 120);
        assert!(!c.lived);
        assert_eq!(c.clock_speed, 3600.0);
        assert_eq!(c.llm_timeout, Duration::from_secs(5));
        let e = parse(&entries(&[
            ("clock_speed", "0.5"),
            ("llm", "ftp://x"),
            ("colour", "red"),
            ("chatter", "100000"),
        ]))
        .unwrap_err();
        assert_eq!(
            e.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![2, 3, 4, 5]
        );
        assert_eq!(parse(&[]).unwrap(), ContentConfig::default());
    }

    #[test]
    fn the_key_is_never_serialised() {
        let c = parse(&entries(&[("llm_key", "sk-secret")])).unwrap();
        assert_eq!(c.llm_key.as_deref(), Some("sk-secret"));
        assert!(!serde_json::to_string(&c).unwrap().contains("sk-secret"));
    }
}
