//! Mailboxes as Maildirs in the decky's filesystem (`~/Maildir/new`), so
//! IMAP, POP3, FTP, SMB and the shell all see the same messages: the
//! story delivers into them, the mail services read them.

use chrono::{DateTime, Utc};

use crate::vfs::{Content, Kind, Vfs};

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
    let local = login.split('@').next().unwrap_or(login);
    let accounts = &vfs.host().accounts;
    let home = accounts
        .iter()
        .find(|a| a.name == local && a.uid >= 1000)
        .or_else(|| accounts.iter().find(|a| a.uid >= 1000))
        .map_or("/root", |a| a.home.as_str());
    format!("{}/Maildir", home.trim_end_matches('/'))
}

/// The messages of `login`'s mailbox, oldest first.
pub fn messages(vfs: &Vfs, login: &str) -> Vec<Mail> {
    let dir = maildir_of(vfs, login);
    // Maildir file names start with the delivery time, so name order is
    // delivery order across `cur` and `new` alike.
    let mut files: Vec<(String, String)> = ["cur", "new"]
        .iter()
        .flat_map(|sub| {
            vfs.children(&format!("{dir}/{sub}"))
                .into_iter()
                .filter_map(|(name, node)| match node.kind {
                    Kind::File(Content::Bytes(b)) => {
                        Some((name, String::from_utf8_lossy(&b).into_owned()))
                    }
                    _ => None,
                })
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .enumerate()
        .map(|(i, (_, text))| Mail {
            uid: i as u32 + 1,
            text,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

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
