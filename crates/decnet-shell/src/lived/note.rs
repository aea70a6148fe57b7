//! Mail the fleet's people send each other across deckies (inter-decky
//! chatter): a colleague of the organisation writes to the target host's
//! user about the office's usual threads, signed like the mail the story
//! delivers, so what arrives over SMTP reads like what was already there.

use chrono::{DateTime, Utc};
use rand::seq::SliceRandom;
use rand::Rng;

use super::people;
use super::role::{fill, Role};

/// A message ready for SMTP: envelope sender and the RFC 5322 text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// Envelope sender (`MAIL FROM`).
    pub sender: String,
    /// The message, headers and body, CRLF line ends, no dot-stuffing.
    pub text: String,
}

/// A message from one of `domain`'s people to `to` (`user@domain`) about
/// the host `host`, written on `from_host` at `now`.
pub fn note(
    domain: &str,
    from_host: &str,
    host: &str,
    to: &str,
    now: DateTime<Utc>,
    rng: &mut impl Rng,
) -> Note {
    let staff = people::colleagues(domain);
    let sender = staff
        .choose(rng)
        .cloned()
        .unwrap_or_else(|| staff[0].clone());
    let threads = Role::common_threads();
    let thread = &threads[rng.gen_range(0..threads.len())];
    let i = rng.gen_range(0..thread.bodies.len());
    let user = to.split('@').next().unwrap_or(to);
    let peer = format!("{} {}", sender.first, sender.last);
    let body = fill(
        thread.bodies[i],
        host,
        domain,
        user,
        &peer,
        &now.format("%Y-%m-%d").to_string(),
    );
    let subject = if i > 0 {
        format!("Re: {}", thread.subject)
    } else {
        thread.subject.to_owned()
    };
    let text = format!(
        "From: {from}\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{id:x}.{stamp}@{from_host}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nUser-Agent: Mozilla Thunderbird\r\n\r\n{body}\r\n-- \r\n{peer}\r\n{title}\r\n",
        from = sender.address(domain),
        date = now.format("%a, %d %b %Y %H:%M:%S +0000"),
        id = rng.gen::<u64>(),
        stamp = now.timestamp(),
        title = sender.title,
    );
    Note {
        sender: format!("{}@{domain}", sender.local()),
        text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rand::SeedableRng;

    #[test]
    fn a_note_is_from_a_colleague_to_the_user_with_a_filled_thread() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 9, 30, 0).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let n = note(
            "corp.local",
            "ws01.corp.local",
            "mail01",
            "ops@corp.local",
            now,
            &mut rng,
        );
        let staff = people::colleagues("corp.local");
        assert!(staff
            .iter()
            .any(|p| n.sender == format!("{}@corp.local", p.local())));
        assert!(
            n.text.contains("\r\nTo: <ops@corp.local>\r\n"),
            "{}",
            n.text
        );
        assert!(n.text.contains("Date: Mon, 07 Dec 2026 09:30:00 +0000\r\n"));
        assert!(n.text.contains("@ws01.corp.local>\r\n"));
        let subject = n
            .text
            .lines()
            .find_map(|l| l.strip_prefix("Subject: "))
            .unwrap();
        assert!(Role::common_threads()
            .iter()
            .any(|t| subject.trim_start_matches("Re: ") == t.subject));
        assert!(!n.text.contains('{'), "a placeholder left: {}", n.text);
        let (head, body) = n.text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("From: "));
        assert!(body.contains("\r\n-- \r\n"));
    }
}
