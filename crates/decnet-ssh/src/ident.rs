//! The identification exchange, done the way OpenSSH's sshd does it before
//! any packet is parsed (`kex_exchange_identification` in OpenSSH's
//! `kex.c`): send our line, then read the client's one byte at a time.
//!
//! Honeypot detectors (metasploit's `ssh_honeypot`, nuclei's Cowrie
//! template, nmap's probes) send junk here and read the answer: sshd says
//! `Invalid SSH identification string.` (or `Protocol major versions
//! differ.`) and exits. Reading byte by byte matters too: whatever the
//! client sent after the bad line stays unread, so closing the socket
//! resets the connection exactly as sshd's exit does.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest identification line sshd reads (`SSH_MAX_BANNER_LEN`).
pub const MAX_LINE: usize = 8192;

/// Why sshd refuses a client's identification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not `SSH-<major>.<minor>-<software>`, a NUL or stray CR, too long,
    /// or a line before the identification (sshd accepts none from a client).
    Invalid,
    /// A protocol other than 2.0 / 1.99.
    MajorVersion,
}

impl Refusal {
    /// The line sshd sends before closing (`send_error`).
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Invalid => "Invalid SSH identification string.\r\n",
            Refusal::MajorVersion => "Protocol major versions differ.\r\n",
        }
    }
}

/// Judges one identification line (without its line ending).
pub fn judge(line: &[u8]) -> Result<(), Refusal> {
    if line.len() <= 4 || !line.starts_with(b"SSH-") {
        return Err(Refusal::Invalid);
    }
    // sscanf("SSH-%d.%d-%[^\n]"): two integers and a non-empty rest.
    let mut rest = &line[4..];
    let major = scan_int(&mut rest).ok_or(Refusal::Invalid)?;
    rest = rest.strip_prefix(b".").ok_or(Refusal::Invalid)?;
    let minor = scan_int(&mut rest).ok_or(Refusal::Invalid)?;
    rest = rest.strip_prefix(b"-").ok_or(Refusal::Invalid)?;
    if rest.is_empty() {
        return Err(Refusal::Invalid);
    }
    match (major, minor) {
        (2, _) | (1, 99) => Ok(()),
        _ => Err(Refusal::MajorVersion),
    }
}

/// `%d`: optional white space, an optional sign, at least one digit.
fn scan_int(s: &mut &[u8]) -> Option<i64> {
    let mut i = s.iter().take_while(|b| b.is_ascii_whitespace()).count();
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = s[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let value = s[i..i + digits]
        .iter()
        .fold(0i64, |v, d| v.saturating_mul(10).saturating_add(i64::from(d - b'0')));
    *s = &s[i + digits..];
    Some(if negative { -value } else { value })
}

/// Sends `banner` (`SSH-2.0-…`, without line ending) and reads the client's
/// identification. `Ok(Ok(bytes))` is the line as received, ending
/// included, to replay to the SSH library; `Ok(Err(_))` means the refusal
/// was sent and the connection must be closed without reading more.
pub async fn exchange<S>(stream: &mut S, banner: &str) -> io::Result<Result<Vec<u8>, Refusal>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(format!("{banner}\r\n").as_bytes()).await?;
    stream.flush().await?;
    let verdict = match read_line(stream).await? {
        Ok(raw) => {
            let line = raw.strip_suffix(b"\n").unwrap_or(&raw);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            judge(line).map(|()| raw)
        }
        Err(r) => Err(r),
    };
    if let Err(r) = verdict {
        stream.write_all(r.message().as_bytes()).await?;
        stream.flush().await?;
    }
    Ok(verdict)
}

/// One line, byte by byte as sshd reads it: a NUL, or anything after a CR
/// other than LF, or more than [`MAX_LINE`] bytes is refused at once.
async fn read_line<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<Result<Vec<u8>, Refusal>> {
    let mut raw = Vec::with_capacity(64);
    let mut after_cr = false;
    loop {
        let b = stream.read_u8().await?;
        raw.push(b);
        match b {
            b'\n' => return Ok(Ok(raw)),
            b'\r' => after_cr = true,
            _ if b == 0 || after_cr || raw.len() > MAX_LINE => return Ok(Err(Refusal::Invalid)),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn judges_like_sshd() {
        assert_eq!(judge(b"SSH-2.0-OpenSSH_9.6"), Ok(()));
        assert_eq!(judge(b"SSH-1.99-PuTTY"), Ok(()));
        assert_eq!(judge(b"SSH-2.0-x y z"), Ok(()));
        assert_eq!(judge(b"SSH- 2.0-x"), Ok(()));
        // What Kippo/Cowrie detectors and nmap send.
        assert_eq!(judge(b"SSH-1337"), Err(Refusal::Invalid));
        assert_eq!(judge(b"SSH-2.0-"), Err(Refusal::Invalid));
        assert_eq!(judge(b"SSH-"), Err(Refusal::Invalid));
        assert_eq!(judge(b"GET / HTTP/1.0"), Err(Refusal::Invalid));
        assert_eq!(judge(b"SSH-1.5-OpenSSH_9.2"), Err(Refusal::MajorVersion));
        assert_eq!(judge(b"SSH-3.0-x"), Err(Refusal::MajorVersion));
    }

    async fn exchanged(client: &[u8]) -> (Result<Vec<u8>, Refusal>, Vec<u8>) {
        let (mut ours, mut theirs) = tokio::io::duplex(64 * 1024);
        theirs.write_all(client).await.unwrap();
        let verdict = exchange(&mut ours, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10")
            .await
            .unwrap();
        drop(ours);
        let mut sent = Vec::new();
        theirs.read_to_end(&mut sent).await.unwrap();
        (verdict, sent)
    }

    #[tokio::test]
    async fn a_good_line_is_kept_for_replay_and_the_rest_left_unread() {
        let (v, sent) = exchanged(b"SSH-2.0-OpenSSH_9.6\r\n\x00\x00\x01\x00").await;
        assert_eq!(v, Ok(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec()));
        assert_eq!(sent, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n");
    }

    #[tokio::test]
    async fn bad_lines_get_sshds_refusal() {
        let banner = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n".to_vec();
        for (client, refusal) in [
            (&b"SSH-1337\r\n"[..], Refusal::Invalid),
            (b"GET / HTTP/1.0\r\n\r\n", Refusal::Invalid),
            (b"\x00\x00\x00\xa4\xff\x53\x4d\x42", Refusal::Invalid),
            (b"abc\rdef\n", Refusal::Invalid),
            (b"SSH-1.5-OpenSSH_9.2\r\n", Refusal::MajorVersion),
        ] {
            let (v, sent) = exchanged(client).await;
            assert_eq!(v, Err(refusal), "{client:?}");
            let mut want = banner.clone();
            want.extend_from_slice(refusal.message().as_bytes());
            assert_eq!(sent, want, "{client:?}");
        }
        let long = vec![b'a'; MAX_LINE + 10];
        assert_eq!(exchanged(&long).await.0, Err(Refusal::Invalid));
    }

    proptest! {
        #[test]
        fn judge_never_panics(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = judge(&line);
            let mut with_prefix = b"SSH-".to_vec();
            with_prefix.extend_from_slice(&line);
            let _ = judge(&with_prefix);
        }
    }
}
