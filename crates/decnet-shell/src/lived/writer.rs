//! Who writes mail bodies: the templates of [`super::role`] always, a
//! language model when the operator configured one and its answer for
//! that message is already at hand. The story never waits for a model:
//! [`BodyWriter::body`] answers from what is cached and, on a miss, may
//! start fetching for next time; the template body is used meanwhile.

/// A source of mail bodies other than the templates.
pub trait BodyWriter: Send + Sync {
    /// The body written for `key` if it is ready; otherwise `None` (the
    /// writer may now start producing it from `prompt`, off this thread).
    /// `prompt` names only people, hosts and subjects, never a secret.
    fn body(&self, key: &str, prompt: &str) -> Option<String>;
}

/// Longest model answer used as a body: longer ones are cut at a line.
pub const MAX_BODY: usize = 2000;

/// A model's answer as a mail body: CRLF line ends, no control
/// characters, at most [`MAX_BODY`] bytes, ending in a line break.
pub fn as_body(answer: &str) -> Option<String> {
    let mut out = String::new();
    for line in answer.trim().lines() {
        let clean: String = line.chars().filter(|c| !c.is_control()).collect();
        if out.len() + clean.len() + 2 > MAX_BODY {
            break;
        }
        out.push_str(clean.trim_end());
        out.push_str("\r\n");
    }
    (!out.trim().is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_bounded_crlf_bodies() {
        assert_eq!(
            as_body("Hi Bob,\nthe disk\x07 is full.\n\n").as_deref(),
            Some("Hi Bob,\r\nthe disk is full.\r\n")
        );
        assert_eq!(as_body("  \n "), None);
        let long = "word ".repeat(100) + "\n";
        let body = as_body(&long.repeat(20)).unwrap();
        assert!(body.len() <= MAX_BODY && body.ends_with("\r\n"));
    }
}
