//! `file_transfer`: a file uploaded to a decky, or a download attempted
//! from one (the URL is recorded, never fetched).

use super::{place, BuiltinRule, Hit};
use crate::alert::{Severity, Stage};
use crate::signal::{Family, Signal};

/// See the module doc.
pub struct FileTransfer;

impl BuiltinRule for FileTransfer {
    fn id(&self) -> &'static str {
        "file_transfer"
    }
    fn description(&self) -> &'static str {
        "A file uploaded to, or a download attempted on, any decky"
    }
    fn default_severity(&self) -> Severity {
        Severity::High
    }
    fn evaluate(&self, s: &Signal<'_>) -> Option<Hit> {
        if s.family() != Family::Event {
            return None;
        }
        let (title, summary) = match s.kind() {
            "file_upload" => (
                format!("File uploaded to {}", place(s)),
                "An attacker dropped a file on a decoy; it is kept by its sha256.",
            ),
            "file_download" => (
                format!("File download attempted on {}", place(s)),
                "An attacker tried to fetch a tool onto a decoy (the URL was not fetched).",
            ),
            _ => return None,
        };
        Some(
            Hit::on(self.id(), self.default_severity(), s, title)
                .stage(Stage::FileTransfer)
                .event_facts(s)
                .field_fact(s, "file", "filename")
                .field_fact(s, "sha256", "sha256")
                .field_fact(s, "size", "size")
                .field_fact(s, "url", "url")
                .field_fact(s, "tool", "tool")
                .summary(summary.into()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::event;
    use decnet_core::EventKind;
    use serde_json::json;

    #[test]
    fn uploads_and_downloads() {
        let up = event(
            "ftp",
            EventKind::FileUpload,
            json!({"filename": "x.sh", "sha256": "ab", "size": 3}),
        );
        let h = FileTransfer.evaluate(&Signal::new(&up)).unwrap();
        assert!(h.title.starts_with("File uploaded to web01/ftp"));
        assert!(h.facts.iter().any(|f| f.name == "size" && f.value == "3"));
        let down = event(
            "ssh",
            EventKind::FileDownload,
            json!({"url": "http://evil/x", "tool": "wget"}),
        );
        let h = FileTransfer.evaluate(&Signal::new(&down)).unwrap();
        assert_eq!(h.stage, Some(Stage::FileTransfer));
        assert!(h.facts.iter().any(|f| f.name == "url"));
        let other = event("ssh", EventKind::Command, json!({}));
        assert!(FileTransfer.evaluate(&Signal::new(&other)).is_none());
    }
}
