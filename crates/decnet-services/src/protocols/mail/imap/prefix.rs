//! How Dovecot's imap-login judges the start of a command before the line
//! is complete: the tag and the command name are checked byte by byte as
//! they arrive, so a scanner's binary probe is answered at once (and the
//! rest of its line skipped), without waiting for a newline that may never
//! come. Pure, so it is tested on its own.

/// The verdict on the part of a line read so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Prefix {
    /// Nothing wrong yet; more bytes are needed to judge.
    Undecided,
    /// Tag and command name are well formed: the whole line decides.
    WellFormed,
    /// The tag is empty or holds a byte no tag may hold: `* BAD`.
    BadTag,
    /// The command name is empty or holds a byte no name may hold: the
    /// tag echoed with `BAD`.
    BadName(String),
}

/// Bytes that end a tag or a command name.
fn ends_word(b: u8) -> bool {
    matches!(b, b' ' | b'\r' | b'\n')
}

/// Bytes imap-login accepts in a command name (as observed on Dovecot
/// 2.3.19: controls, 8-bit bytes and the IMAP specials are refused; DEL is
/// let through).
fn name_byte(b: u8) -> bool {
    (0x21..0x80).contains(&b)
        && !matches!(b, b'"' | b'%' | b'(' | b')' | b'*' | b'\\' | b']' | b'{')
}

/// Tag bytes: a name's, less `+`.
fn tag_byte(b: u8) -> bool {
    name_byte(b) && b != b'+'
}

/// Judges `part`, the start of a line (it may include its newline).
pub fn judge(part: &[u8]) -> Prefix {
    let Some(tag_end) = part.iter().position(|&b| ends_word(b) || !tag_byte(b)) else {
        return Prefix::Undecided;
    };
    if tag_end == 0 || !ends_word(part[tag_end]) {
        return Prefix::BadTag;
    }
    let tag = String::from_utf8_lossy(&part[..tag_end]).into_owned();
    if part[tag_end] != b' ' {
        // `a\r` or `a\n`: a tag with no command after it.
        return Prefix::BadName(tag);
    }
    let rest = &part[tag_end + 1..];
    match rest.iter().position(|&b| ends_word(b) || !name_byte(b)) {
        None => Prefix::Undecided,
        Some(0) => Prefix::BadName(tag),
        Some(i) if ends_word(rest[i]) => Prefix::WellFormed,
        Some(_) => Prefix::BadName(tag),
    }
}

/// True when imap-login answers `part` before its line is complete.
pub fn refused(part: &[u8]) -> bool {
    matches!(judge(part), Prefix::BadTag | Prefix::BadName(_))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn binary_probes_are_refused_at_once() {
        // nmap's JavaRMI, DNS and TLS probes: no newline, refused by the tag.
        let bad_tags: [&[u8]; 7] = [
            b"JRMI\x00\x02K",
            b"\x00\x1e\x00\x06",
            b"\x16\x03\x01\x00",
            b" x",
            b"\r",
            b"a+b NOOP",
            b"a] NOOP",
        ];
        for part in bad_tags {
            assert_eq!(judge(part), Prefix::BadTag, "{part:?}");
        }
        let bad_names: [&[u8]; 4] = [b"a b\x00", b"a  x", b"a\r", b"a FOO\x80"];
        for part in bad_names {
            assert_eq!(judge(part), Prefix::BadName("a".into()), "{part:?}");
        }
    }

    #[test]
    fn well_formed_starts_wait_for_the_line() {
        for part in [&b"abc"[..], b"a\x7f", b"a NO"] {
            assert_eq!(judge(part), Prefix::Undecided, "{part:?}");
        }
        for part in [&b"a N\r"[..], b"a1 LOGIN \"unterminated", b"a1 x+y z"] {
            assert_eq!(judge(part), Prefix::WellFormed, "{part:?}");
        }
        assert!(!refused(b"GET / HTTP/1.0"));
        assert!(refused(b"\x01"));
    }

    proptest! {
        #[test]
        fn judge_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = judge(&data);
        }
    }
}
