//! The command parsers of the line protocols on attacker bytes.
#![no_main]

use decnet_services::protocols::files::ftp;
use decnet_services::protocols::mail::{imap, pop3, smtp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = imap::parse_command(data) {
        let _ = c.verb();
    }
    let _ = imap::literal_suffix(data);
    let _ = pop3::parse_command(data).kind();
    let text = String::from_utf8_lossy(data);
    let c = smtp::parse_command(&text);
    let _ = (c.kind(), smtp::parse_path(c.arg, "FROM:"));
    let c = ftp::Command::parse(data);
    let _ = (c.kind(), ftp::parse_port(&c.arg), ftp::parse_eprt(&c.arg));
});
