//! Reading back what the event log wrote, rotated gzip copies included
//! (shared by the engine and binary tests through `#[path]`).

use std::io::Read;
use std::path::Path;

/// Every line of `decnet.log` and of its rotated copies, oldest first.
pub fn all_log_text(path: &Path) -> String {
    let mut text = String::new();
    for (_, f) in decnet_engine::eventlog::rotated_files(path) {
        let raw = std::fs::read(&f).unwrap();
        if f.extension().is_some_and(|e| e == "gz") {
            flate2::read::GzDecoder::new(&raw[..])
                .read_to_string(&mut text)
                .unwrap();
        } else {
            text.push_str(std::str::from_utf8(&raw).unwrap());
        }
    }
    text.push_str(&std::fs::read_to_string(path).unwrap_or_default());
    text
}

/// The `event_id` of each line, in order.
pub fn event_ids(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let at = l.find("event_id=\"").expect("event_id in every line") + 10;
            l[at..at + 36].to_owned()
        })
        .collect()
}
