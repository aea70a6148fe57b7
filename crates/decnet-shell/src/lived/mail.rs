//! Mailboxes as Maildirs in the decky's filesystem (`~/Maildir/new`), so
//! IMAP, POP3, FTP, SMB and the shell all see the same messages: the
//! story delivers into them, the mail services read them.

use chrono::{DateTime, Utc};

use crate::vfs::{Account, Content, Kind, Node, Vfs};

/// Most messages a mailbox keeps: past it the oldest go, as a mail client
/// set to empty old mail would, so a fast clock cannot grow it for ever.
pub const MAX_MESSAGES: usize = 300;

/// A message as the mail services serve it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    /// Position in the mailbox, from 1; delivery only appends, so a
    /// message keeps its uid.
    pub uid: u32,
    /// The RFC 5322 text, CRLF line ends.
    pub text: String,
}

/// One message to deliver.
pub struct Letter<'a> {
    /// `From:` (`Name <addr>`).
    pub from: &'a str,
    /// Recipient address.
    pub to: &'a str,
    /// Subject.
    pub subject: &'a str,
    /// Body, CRLF line ends.
    pub body: &'a str,
    /// Delivery time.
    pub date: DateTime<Utc>,
    /// `Message-ID` without brackets.
    pub id: &'a str,
    /// The thread's first message, for replies.
    pub thread: Option<&'a str>,
    /// Fully qualified name of the host that delivered it.
    pub relay: &'a str,
}

impl Letter<'_> {
    /// The message text as the local delivery agent stores it.
    pub fn render(&self) -> String {
        let date = self.date.format("%a, %d %b %Y %H:%M:%S +0000");
        let mut s = format!(
            "Return-Path: <{ret}>\r\nReceived: by {relay} (Postfix, from userid 0)\r\n\tfor <{to}>; {date}\r\nFrom: {from}\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{id}>\r\n",
            ret = address_of(self.from),
            relay = self.relay,
            to = self.to,
            from = self.from,
            subject = self.subject,
            id = self.id,
        );
        if let Some(root) = self.thread {
            s.push_str(&format!(
                "In-Reply-To: <{root}>\r\nReferences: <{root}>\r\n"
            ));
        }
        s.push_str("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
        s.push_str(self.body);
        s
    }
}

fn address_of(from: &str) -> &str {
    match (from.find('<'), from.rfind('>')) {
        (Some(a), Some(b)) if a < b => &from[a + 1..b],
        _ => from,
    }
}

/// The Maildir of a mail login: a user account's own, else the first user
/// account's — root's mail goes there as Debian's installer aliases it
/// (`/etc/aliases`), and a mail-only login reads the host's main mailbox —
/// else root's.
pub fn maildir_of(vfs: &Vfs, login: &str) -> String {
    let home = owner_of(vfs, login).map_or("/root", |a| a.home.as_str());
    format!("{}/Maildir", home.trim_end_matches('/'))
}

/// The account whose Maildir `login`'s mail goes to (see [`maildir_of`]);
/// `None` on a host with no account at all.
fn owner_of<'a>(vfs: &'a Vfs, login: &str) -> Option<&'a Account> {
    let local = login.split('@').next().unwrap_or(login);
    let accounts = &vfs.host().accounts;
    accounts
        .iter()
        .find(|a| a.name == local && a.uid >= 1000)
        .or_else(|| accounts.iter().find(|a| a.uid >= 1000))
        .or_else(|| accounts.iter().find(|a| a.uid == 0))
}

/// Delivers a message received over SMTP (the fleet's own mail between
/// deckies) to `rcpt`'s mailbox as Postfix's local agent would: a
/// `Received:` line on top, a Maildir file in `new`, a `mail.log` line.
/// `sender` is the envelope sender, `queue_id` the id the SMTP reply
/// gave. False when the host has no account to deliver to.
pub fn deliver_to(vfs: &Vfs, sender: &str, rcpt: &str, queue_id: &str, message: &[u8]) -> bool {
    // The story's hours up to now first, so the log reads in order.
    vfs.catch_up();
    let Some(to) = owner_of(vfs, rcpt).cloned() else {
        return false;
    };
    let t = vfs.now();
    let host = &vfs.host().hostname;
    let mut text = format!(
        "Return-Path: <{sender}>\r\nDelivered-To: {rcpt}\r\nReceived: by {host} (Postfix) id {queue_id}\r\n\tfor <{rcpt}>; {}\r\n",
        t.format("%a, %d %b %Y %H:%M:%S +0000")
    )
    .into_bytes();
    text.extend_from_slice(message);
    let name = format!(
        "{}.M{}P{}.{host}",
        t.timestamp(),
        t.timestamp_subsec_micros(),
        std::process::id()
    );
    deliver(vfs, &to, &name, &text, t);
    let mut log = super::logs::Appends::default();
    let line = super::logs::syslog_line(
        t,
        host,
        "postfix/local",
        std::process::id(),
        &format!("{queue_id}: to=<{rcpt}>, relay=local, delay=0.01, dsn=2.0.0, status=sent (delivered to maildir)"),
    );
    log.push("/var/log/mail.log", &line, 0o640, (0, 4), t);
    log.apply(vfs);
    true
}

/// The messages of `login`'s mailbox, oldest first.
pub fn messages(vfs: &Vfs, login: &str) -> Vec<Mail> {
    let dir = maildir_of(vfs, login);
    maildir_files(vfs, &dir)
        .into_iter()
        .filter_map(|(_, node)| match node.kind {
            Kind::File(Content::Bytes(b)) => Some(String::from_utf8_lossy(&b).into_owned()),
            _ => None,
        })
        .enumerate()
        .map(|(i, text)| Mail {
            uid: vfs.expunged(&dir) + i as u32 + 1,
            text,
        })
        .collect()
}

/// The files of the Maildir `dir` (`cur` and `new`) as (path, node), in
/// delivery order: Maildir file names start with the delivery time, so
/// name order is delivery order across both.
fn maildir_files(vfs: &Vfs, dir: &str) -> Vec<(String, Node)> {
    let mut files: Vec<(String, String, Node)> = Vec::new();
    for sub in ["cur", "new"] {
        let sub = format!("{dir}/{sub}");
        for (name, node) in vfs.children(&sub) {
            if !node.is_dir() {
                files.push((name, sub.clone(), node));
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
        .into_iter()
        .map(|(name, sub, node)| (format!("{sub}/{name}"), node))
        .collect()
}

/// Delivers `text` into `to`'s `Maildir/new` under the Maildir file name
/// `name` (which starts with the delivery time), then drops the oldest
/// messages past [`MAX_MESSAGES`].
pub fn deliver(vfs: &Vfs, to: &Account, name: &str, text: &[u8], t: DateTime<Utc>) {
    let dir = format!("{}/Maildir", to.home.trim_end_matches('/'));
    vfs.put_generated(
        &format!("{dir}/new/{name}"),
        Node::file(text.to_vec(), 0o600, to.uid, to.gid, t.timestamp()),
    );
    let files = maildir_files(vfs, &dir);
    if files.len() <= MAX_MESSAGES {
        return;
    }
    let excess = files.len() - MAX_MESSAGES;
    let oldest: Vec<String> = files
        .into_iter()
        .take(excess)
        .map(|(path, _)| path)
        .collect();
    vfs.expunge(&dir, &oldest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// The Message-ID header of a message.
    fn id_of(m: &Mail) -> &str {
        m.text
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: "))
            .unwrap_or("")
    }

    #[test]
    fn a_mailbox_stays_bounded_under_a_fast_clock_and_keeps_its_uids() {
        let (clock, vfs) = crate::commands::testing::lived();
        let mut before = messages(&vfs, "ubuntu");
        assert!(!before.is_empty());
        let mut dropped = false;
        for _ in 0..60 {
            clock.advance(std::time::Duration::from_secs(7 * 86_400));
            let now = messages(&vfs, "ubuntu");
            assert!(now.len() <= MAX_MESSAGES, "{}", now.len());
            assert!(now.windows(2).all(|w| w[0].uid < w[1].uid));
            // A message still there has the uid it had.
            for m in &now {
                if let Some(old) = before.iter().find(|o| id_of(o) == id_of(m)) {
                    assert_eq!(old.uid, m.uid, "{}", id_of(m));
                }
            }
            dropped = now.first().is_some_and(|m| m.uid > 1);
            before = now;
            if dropped {
                break;
            }
        }
        assert!(dropped, "the oldest messages were never dropped");
        assert_eq!(before.len(), MAX_MESSAGES);
        let files = vfs.children("/home/ubuntu/Maildir/new").len()
            + vfs.children("/home/ubuntu/Maildir/cur").len();
        assert_eq!(files, MAX_MESSAGES);
    }

    #[test]
    fn a_reply_names_its_thread_and_the_return_path_is_the_sender() {
        let l = Letter {
            from: "Maria Lewis <m.lewis@corp.local>",
            to: "admin@corp.local",
            subject: "Re: x",
            body: "ok\r\n",
            date: Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap(),
            id: "1.2@corp.local",
            thread: Some("t0@corp.local"),
            relay: "mail01.corp.local",
        };
        let s = l.render();
        assert!(
            s.starts_with("Return-Path: <m.lewis@corp.local>\r\n"),
            "{s}"
        );
        assert!(s.contains("In-Reply-To: <t0@corp.local>\r\n"));
        assert!(s.contains("Date: Mon, 07 Dec 2026 09:00:00 +0000\r\n"));
        assert!(s.ends_with("\r\n\r\nok\r\n"));
    }
}
