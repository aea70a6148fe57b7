//! Logins that really happen on a decky and belong in its story: the
//! fleet's own admins reaching it from another decky (inter-decky
//! chatter). A [`Visit`] writes what sshd and PAM would (auth.log), is
//! listed by `w` while it lasts, and by `last` once it ended — beside the
//! simulated logins, so every view of the host tells one story.

use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use rand::Rng;

use super::logs::{syslog_line, Appends};
use super::Login;
use crate::vfs::Vfs;

/// A login in progress.
#[derive(Debug)]
pub struct Visit {
    login: Login,
    port: u16,
    pid: u32,
    uid: u32,
}

impl Visit {
    /// `user` logged in with a password from `peer`, now: auth.log says so
    /// and `w` lists the session until [`Visit::end`].
    pub fn begin(vfs: &Vfs, user: &str, peer: SocketAddr) -> Visit {
        let start = vfs.now();
        let uid = vfs.host().account(user).map_or(0, |a| a.uid);
        let visit = Visit {
            login: Login {
                user: user.to_owned(),
                tty: format!("pts/{}", vfs.visitors().len() + 1),
                from: peer.ip().to_canonical().to_string(),
                start,
                end: start,
            },
            port: peer.port(),
            pid: rand::thread_rng().gen_range(2000..60_000),
            uid,
        };
        visit.log(
            vfs,
            start,
            &[
                format!(
                    "Accepted password for {} from {} port {} ssh2",
                    visit.login.user, visit.login.from, visit.port
                ),
                format!(
                    "pam_unix(sshd:session): session opened for user {}(uid={}) by (uid=0)",
                    visit.login.user, visit.uid
                ),
            ],
        );
        vfs.visit_began(visit.login.clone());
        visit
    }

    /// The session ended: auth.log says so and `last` lists it.
    pub fn end(mut self, vfs: &Vfs) {
        let end = vfs.now().max(self.login.start);
        self.log(
            vfs,
            end,
            &[
                format!(
                    "Received disconnect from {} port {}:11: disconnected by user",
                    self.login.from, self.port
                ),
                format!(
                    "pam_unix(sshd:session): session closed for user {}",
                    self.login.user
                ),
            ],
        );
        self.login.end = end;
        vfs.visit_ended(self.login);
    }

    fn log(&self, vfs: &Vfs, t: DateTime<Utc>, messages: &[String]) {
        // The story's hours up to now first, so these lines follow them.
        vfs.catch_up();
        let host = &vfs.host().hostname;
        let text: String = messages
            .iter()
            .map(|m| syslog_line(t, host, "sshd", self.pid, m))
            .collect();
        let mut out = Appends::default();
        out.push("/var/log/auth.log", &text, 0o640, (0, 4), t);
        out.apply(vfs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::{lived, lived_shell, run};

    #[test]
    fn a_visit_is_in_auth_log_w_uptime_and_then_last() {
        let (clock, vfs) = lived();
        let mut sh = lived_shell(&vfs, "root");
        assert!(run(&mut sh, "uptime").contains(" 1 user,"));
        let visit = Visit::begin(&vfs, "ubuntu", "10.0.0.7:50122".parse().unwrap());
        let w = run(&mut sh, "w");
        assert!(w.lines().next().unwrap().contains(" 2 users,"), "{w}");
        assert!(
            w.lines()
                .any(|l| l.starts_with("ubuntu   pts/1    10.0.0.7 ")),
            "{w}"
        );
        assert!(run(&mut sh, "uptime").contains(" 2 users,"));
        clock.advance(std::time::Duration::from_secs(90));
        visit.end(&vfs);
        let w = run(&mut sh, "w");
        assert!(!w.contains("10.0.0.7"), "{w}");
        assert!(w.lines().next().unwrap().contains(" 1 user,"), "{w}");
        let last = run(&mut sh, "last ubuntu");
        let row = last
            .lines()
            .find(|l| l.contains("10.0.0.7"))
            .unwrap_or_else(|| panic!("{last}"));
        assert!(row.starts_with("ubuntu   pts/1"), "{row}");
        assert!(row.ends_with("(00:01)"), "{row}");
        let auth = run(&mut sh, "cat /var/log/auth.log");
        let mine: Vec<&str> = auth.lines().filter(|l| l.contains("10.0.0.7")).collect();
        assert_eq!(mine.len(), 2, "{auth}");
        assert!(
            mine[0].contains("sshd[")
                && mine[0].contains("Accepted password for ubuntu from 10.0.0.7 port 50122 ssh2")
        );
        assert!(mine[1].contains("Received disconnect from 10.0.0.7 port 50122"));
        assert!(auth.contains("session closed for user ubuntu\n"));
    }
}
