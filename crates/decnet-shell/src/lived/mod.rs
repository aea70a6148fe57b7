//! Lived-in deckies: the content a host accumulates because people use it.
//!
//! [`start`] writes what a decky has from the day it was set up (the
//! admins' documents, the nightly cron job and its script, empty
//! Maildirs) and hands a [`Life`] to the [`Vfs`]. From then on each read
//! of the filesystem first writes the simulated hours that have fully
//! passed on the decky's clock ([`Vfs::catch_up`]): cron runs, admins log
//! in from their workstations and type commands (auth.log, syslog,
//! `.bash_history`, `last`), colleagues' mail arrives in threads, documents
//! are edited. How much happens follows the office day ([`rhythm`]).
//!
//! Everything an hour holds is drawn from the decky's seed and the hour's
//! number alone, so the story is the same whichever session reads it
//! first and after a restart. Nothing is dated after now (only whole past
//! hours are written) or before the install date. The files are the one
//! store every protocol reads: IMAP and POP3 serve the Maildirs, FTP, SMB
//! and the shell list the same tree.

pub mod logs;
pub mod mail;
pub mod note;
pub mod people;
pub mod rhythm;
pub mod role;
pub mod visit;
pub mod writer;

use std::net::{IpAddr, Ipv4Addr};

use chrono::{DateTime, Timelike, Utc};
use decnet_core::{DeckySeed, Persona};
use rand::seq::SliceRandom;
use rand::Rng;

use crate::vfs::{Account, HostAddrs, Node, Vfs};
use logs::{syslog_line, Appends};
use people::Person;
use role::{fill, Role};

/// Logins kept for `last` (the oldest go first).
pub const MAX_LOGINS: usize = 200;
/// A decky that comes up writes this much history at once (and no more
/// after a clock jump), so a catch-up stays a few milliseconds.
pub const CATCH_UP_HOURS: i64 = 24 * 7;

/// One login of the story, as `last` and `w` show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Login {
    /// Account.
    pub user: String,
    /// Terminal (`pts/0`).
    pub tty: String,
    /// Where it came from (an admin workstation's address).
    pub from: String,
    /// Login time.
    pub start: DateTime<Utc>,
    /// Logout time (always past: only finished hours are written).
    pub end: DateTime<Utc>,
}

/// What the story needs to know about the decky.
pub struct LifeSpec<'a> {
    /// Its persona (host name, domain).
    pub persona: &'a Persona,
    /// Its seed.
    pub seed: &'a DeckySeed,
    /// Archetype slug, if any.
    pub archetype: Option<&'a str>,
    /// Services it runs.
    pub services: &'a [String],
    /// Writes mail bodies besides the templates (an LLM), if configured.
    pub writer: Option<std::sync::Arc<dyn writer::BodyWriter>>,
}

/// The running story of one decky (owned by its [`Vfs`]).
pub struct Life {
    seed: DeckySeed,
    role: Role,
    host: String,
    domain: String,
    people: Vec<Person>,
    /// The decky's addresses: admins' workstations are on its LAN.
    lan: HostAddrs,
    install_hour: i64,
    writer: Option<std::sync::Arc<dyn writer::BodyWriter>>,
}

/// Writes a decky's set-up content and starts its story; the last
/// [`CATCH_UP_HOURS`] are written before this returns.
pub fn start(vfs: &Vfs, spec: &LifeSpec<'_>) {
    let host = vfs.host();
    let lan = host.addrs;
    let life = Life {
        seed: *spec.seed,
        role: Role::of(spec.archetype, spec.services),
        host: spec.persona.hostname.clone(),
        domain: spec.persona.domain.clone(),
        people: people::colleagues(&spec.persona.domain),
        lan,
        install_hour: host.install_time.timestamp().div_euclid(3600),
        writer: spec.writer.clone(),
    };
    life.set_up(vfs);
    let now_hour = vfs.now().timestamp().div_euclid(3600);
    vfs.start_life(life, now_hour - CATCH_UP_HOURS);
}

impl Life {
    /// The people who log in: user accounts, else root.
    fn admins<'a>(&self, vfs: &'a Vfs) -> Vec<&'a Account> {
        let accounts = &vfs.host().accounts;
        let users: Vec<&Account> = accounts.iter().filter(|a| a.uid >= 1000).collect();
        if users.is_empty() {
            accounts.iter().take(1).collect()
        } else {
            users
        }
    }

    fn fqdn(&self) -> String {
        format!("{}.{}", self.host, self.domain)
    }

    /// An admin workstation's address on the decky's LAN (one per person;
    /// IPv6 when the decky has no IPv4 address).
    fn workstation(&self, i: usize) -> IpAddr {
        let n = 200 + (i % 50) as u8;
        self.lan
            .on_lan(n)
            .unwrap_or(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)))
    }

    /// What the host has from the day it was set up.
    fn set_up(&self, vfs: &Vfs) {
        let mut rng = self.seed.rng("lived-setup");
        let install = vfs.host().install_time;
        let now = vfs.now();
        let span = (now - install).num_seconds().max(86_400);
        let job = self.role.cron_job();
        let set_up_at = |rng: &mut rand_chacha::ChaCha20Rng| {
            install + chrono::Duration::seconds(rng.gen_range(3600..span / 2 + 7200))
        };
        let t = set_up_at(&mut rng).min(now);
        vfs.put_generated(
            &format!("/usr/local/bin/{}.sh", job.name),
            Node::file(job.script.as_bytes().to_vec(), 0o755, 0, 0, t.timestamp()),
        );
        vfs.put_generated(
            &format!("/etc/cron.d/{}", job.name),
            Node::file(
                format!(
                    "# {} nightly job\nSHELL=/bin/sh\nPATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin\n\n{} {} * * * root /usr/local/bin/{}.sh\n",
                    job.name, job.minute, job.hour, job.name
                )
                .into_bytes(),
                0o644,
                0,
                0,
                t.timestamp(),
            ),
        );
        // Logs are written by the story from here on: start them as text.
        for log in ["/var/log/auth.log", "/var/log/syslog"] {
            vfs.put_generated(
                log,
                Node::file(Vec::new(), 0o640, 0, 4, install.timestamp()),
            );
        }
        let accounts = vfs.host().accounts.clone();
        if let Some(first) = accounts.iter().find(|a| a.uid >= 1000) {
            vfs.put_generated(
                "/etc/aliases",
                Node::file(
                    format!(
                        "# See man 5 aliases for format\npostmaster:    root\nroot: {}\n",
                        first.name
                    )
                    .into_bytes(),
                    0o644,
                    0,
                    0,
                    t.timestamp(),
                ),
            );
        }
        for a in &accounts {
            for sub in ["cur", "new", "tmp"] {
                vfs.put_generated(
                    &format!("{}/Maildir/{sub}", a.home),
                    Node::dir(0o700, a.uid, a.gid, install.timestamp()),
                );
            }
        }
        for (i, a) in self.admins(vfs).into_iter().enumerate() {
            let docs = format!("{}/Documents", a.home);
            let peer = &self.people[(i + 1) % self.people.len()];
            let peer = format!("{} {}", peer.first, peer.last);
            for (name, template) in self.role.documents() {
                let t = set_up_at(&mut rng).min(now);
                let body = fill(
                    template,
                    &self.host,
                    &self.domain,
                    &a.name,
                    &peer,
                    &t.format("%Y-%m-%d").to_string(),
                );
                vfs.put_generated(
                    &format!("{docs}/{name}"),
                    Node::file(body.into_bytes(), 0o644, a.uid, a.gid, t.timestamp()),
                );
            }
        }
    }

    /// Writes hours `done..hour` (each whole and past); returns their logins.
    pub(crate) fn advance(&mut self, vfs: &Vfs, done: i64, hour: i64) -> Vec<Login> {
        let from = done.max(hour - CATCH_UP_HOURS).max(self.install_hour + 1);
        let mut out = Appends::default();
        let mut logins = Vec::new();
        for h in from..hour {
            self.hour(vfs, h, &mut out, &mut logins);
        }
        out.apply(vfs);
        logins
    }

    /// One simulated hour. Every draw comes from the hour's own generator
    /// in a fixed order, whatever happens, so an hour reads the same
    /// whenever it is written.
    fn hour(&self, vfs: &Vfs, h: i64, out: &mut Appends, logins: &mut Vec<Login>) {
        let mut rng = self.seed.rng(&format!("lived-hour-{h}"));
        let t0 = h * 3600;
        let at =
            |secs: i64| DateTime::from_timestamp(t0 + secs.clamp(0, 3599), 0).unwrap_or_default();
        let busy = rhythm::activity(at(1800));
        let pid: u32 = rng.gen_range(2000..60_000);
        let login_roll: f64 = rng.gen();
        let mail_roll: f64 = rng.gen();
        let edit_roll: f64 = rng.gen();
        self.cron(
            out,
            at(17 * 60 + 1),
            pid,
            "cd / && run-parts --report /etc/cron.hourly",
        );
        let job = self.role.cron_job();
        if at(0).hour() == job.hour {
            let t = at(i64::from(job.minute) * 60 + 1);
            self.cron(out, t, pid + 7, &format!("/usr/local/bin/{}.sh", job.name));
        }
        if login_roll < busy * 0.7 {
            self.session(vfs, &mut rng, at(0), out, logins);
        }
        let mail_at = at(rng.gen_range(0..3600));
        let edit_at = at(rng.gen_range(0..3600));
        if mail_roll < busy {
            self.mail(vfs, &mut rng, h, mail_at, out);
        }
        if edit_roll < busy * 0.3 {
            self.edit(vfs, &mut rng, edit_at);
        }
    }

    fn cron(&self, out: &mut Appends, t: DateTime<Utc>, pid: u32, cmd: &str) {
        let line = |tag: &str, msg: &str| syslog_line(t, &self.host, tag, pid, msg);
        out.push(
            "/var/log/syslog",
            &line("CRON", &format!("(root) CMD ({cmd})")),
            0o640,
            (0, 4),
            t,
        );
        let auth = format!(
            "{}{}",
            line(
                "CRON",
                "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)"
            ),
            line(
                "CRON",
                "pam_unix(cron:session): session closed for user root"
            ),
        );
        out.push("/var/log/auth.log", &auth, 0o640, (0, 4), t);
    }

    /// What an admin types in a session: the role's work, the usual
    /// checks, and a look at their own files (planted ones included, so
    /// the history and the files agree).
    fn typed_commands(&self, vfs: &Vfs, who: &Account, rng: &mut impl Rng) -> Vec<String> {
        let mut typed: Vec<String> = Vec::new();
        let n = rng.gen_range(2..6);
        for _ in 0..n {
            let pool = if rng.gen_bool(0.6) {
                self.role.commands()
            } else {
                Role::common_commands()
            };
            if let Some(c) = pool.choose(rng) {
                typed.push((*c).to_owned());
            }
        }
        let own = own_files(vfs, &who.home);
        if let Some(f) = own.choose(rng) {
            let verb = ["cat", "less", "vim"].choose(rng).copied().unwrap_or("cat");
            typed.push(format!("{verb} {f}"));
        }
        typed
    }

    /// An admin logs in over ssh, types a few commands, logs out.
    fn session(
        &self,
        vfs: &Vfs,
        rng: &mut impl Rng,
        hour_start: DateTime<Utc>,
        out: &mut Appends,
        logins: &mut Vec<Login>,
    ) {
        let admins = self.admins(vfs);
        let Some(&who) = admins.choose(rng) else {
            return;
        };
        let idx = admins.iter().position(|a| a.name == who.name).unwrap_or(0);
        let from = self.workstation(idx);
        let start = hour_start + chrono::Duration::seconds(rng.gen_range(0..25 * 60));
        let end = start + chrono::Duration::seconds(rng.gen_range(3 * 60..30 * 60));
        let pid: u32 = rng.gen_range(2000..60_000);
        let port: u16 = rng.gen_range(40_000..61_000);
        let tty = format!("pts/{}", rng.gen_range(0..3));
        let mut auth = String::new();
        let mut log = |t: DateTime<Utc>, tag: &str, pid: u32, msg: String| {
            auth.push_str(&syslog_line(t, &self.host, tag, pid, &msg));
        };
        log(
            start,
            "sshd",
            pid,
            format!(
                "Accepted publickey for {} from {from} port {port} ssh2",
                who.name
            ),
        );
        log(
            start,
            "sshd",
            pid,
            format!(
                "pam_unix(sshd:session): session opened for user {}(uid={}) by (uid=0)",
                who.name, who.uid
            ),
        );
        let typed = self.typed_commands(vfs, who, rng);
        let step = (end - start).num_seconds().max(1) / (typed.len() as i64 + 1);
        for (i, cmd) in typed.iter().enumerate() {
            if let Some(line) = sudo_entry(cmd, who, &tty) {
                let t = start + chrono::Duration::seconds(step * (i as i64 + 1));
                log(t, "sudo", pid + 3, line);
            }
        }
        log(
            end,
            "sshd",
            pid,
            format!("Received disconnect from {from} port {port}:11: disconnected by user"),
        );
        log(
            end,
            "sshd",
            pid,
            format!(
                "pam_unix(sshd:session): session closed for user {}",
                who.name
            ),
        );
        out.push("/var/log/auth.log", &auth, 0o640, (0, 4), end);
        let mut hist = typed.join("\n");
        hist.push_str("\nexit\n");
        out.push(
            &format!("{}/.bash_history", who.home),
            &hist,
            0o600,
            (who.uid, who.gid),
            end,
        );
        logins.push(Login {
            user: who.name.clone(),
            tty,
            from: from.to_string(),
            start,
            end,
        });
    }

    /// A colleague's message arrives (a new thread or a reply).
    fn mail(&self, vfs: &Vfs, rng: &mut impl Rng, h: i64, t: DateTime<Utc>, out: &mut Appends) {
        let admins = self.admins(vfs);
        let Some(&to) = admins.choose(rng) else {
            return;
        };
        let threads: Vec<&role::Thread> = self
            .role
            .threads()
            .iter()
            .chain(if self.role == Role::Server {
                &[][..]
            } else {
                Role::common_threads()
            })
            .collect();
        let ti = rng.gen_range(0..threads.len().max(1));
        let (Some(thread), Some(sender)) = (threads.get(ti), self.people.choose(rng)) else {
            return;
        };
        let body_i = rng.gen_range(0..thread.bodies.len().max(1));
        let reply = body_i > 0;
        let peer = format!("{} {}", sender.first, sender.last);
        let template = fill(
            thread.bodies.get(body_i).copied().unwrap_or(""),
            &self.host,
            &self.domain,
            &to.name,
            &peer,
            &t.format("%Y-%m-%d").to_string(),
        );
        // One model answer per message of a thread: few enough to cache
        // them all soon, the same key on every replay, and nothing personal
        // in the prompt (the signature names the sender).
        let written = self.writer.as_ref().and_then(|w| {
            let key = format!("{ti}-{body_i}");
            let prompt = format!(
                "Write the body of a short plain-text e-mail between two IT colleagues at {domain} about the server {host}. Subject: \"{subject}\". {kind} The gist: {gist} Three to six sentences, no subject line, no greeting by name, no signature, no placeholders.",
                host = self.host,
                domain = self.domain,
                subject = thread.subject,
                kind = if reply { "It replies to the previous message of the thread." } else { "It starts the thread." },
                gist = template.replace("\r\n", " ").trim(),
            );
            w.body(&key, &prompt).and_then(|a| writer::as_body(&a))
        });
        let body = written.unwrap_or(template);
        let body = format!("{body}\r\n-- \r\n{peer}\r\n{}\r\n", sender.title);
        let subject = if reply {
            format!("Re: {}", thread.subject)
        } else {
            thread.subject.to_owned()
        };
        let id = format!("{:x}.{:08x}@{}", h, rng.gen::<u32>(), self.domain);
        let root = format!("thread-{ti}-{}@{}", thread.subject.len(), self.domain);
        let from = sender.address(&self.domain);
        let rcpt = format!("{}@{}", to.name, self.domain);
        let fqdn = self.fqdn();
        let letter = mail::Letter {
            from: &from,
            to: &rcpt,
            subject: &subject,
            body: &body,
            date: t,
            id: &id,
            thread: reply.then_some(root.as_str()),
            relay: &fqdn,
        };
        let name = format!(
            "{}.M{}P{}.{}",
            t.timestamp(),
            rng.gen_range(100_000..999_999),
            rng.gen_range(1000..60_000),
            self.host
        );
        mail::deliver(vfs, to, &name, letter.render().as_bytes(), t);
        let qid = format!("{:010X}", rng.gen::<u64>() & 0xff_ffff_ffff);
        let pid: u32 = rng.gen_range(2000..60_000);
        let line = syslog_line(
            t,
            &self.host,
            "postfix/local",
            pid,
            &format!("{qid}: to=<{rcpt}>, relay=local, delay=0.02, dsn=2.0.0, status=sent (delivered to maildir)"),
        );
        out.push("/var/log/mail.log", &line, 0o640, (0, 4), t);
    }

    /// Someone saves one of the shared documents.
    fn edit(&self, vfs: &Vfs, rng: &mut impl Rng, t: DateTime<Utc>) {
        let mut docs: Vec<String> = Vec::new();
        for a in self.admins(vfs) {
            docs.extend(files_in(vfs, &format!("{}/Documents", a.home)));
        }
        for (share, node) in vfs.children("/srv/smb") {
            if node.is_dir() && !share.ends_with('$') {
                docs.extend(files_in(vfs, &format!("/srv/smb/{share}")));
            }
        }
        if let Some(path) = docs.choose(rng) {
            if let Some(mut node) = vfs.get(path) {
                node.mtime = node.mtime.max(t.timestamp());
                vfs.put_generated(path, node);
            }
        }
    }
}

/// Regular files directly in `dir`, as absolute paths.
fn files_in(vfs: &Vfs, dir: &str) -> Vec<String> {
    vfs.children(dir)
        .into_iter()
        .filter(|(_, n)| !n.is_dir())
        .map(|(name, _)| format!("{dir}/{name}"))
        .collect()
}

/// The auth.log message sudo writes for a typed `sudo …` command (`None`
/// for any other command).
fn sudo_entry(cmd: &str, who: &Account, tty: &str) -> Option<String> {
    let rest = cmd.strip_prefix("sudo ")?;
    let bin = rest.split_whitespace().next().unwrap_or("true");
    let args = rest[bin.len()..].trim_start();
    let sep = if args.is_empty() { "" } else { " " };
    Some(format!(
        "  {} : TTY={tty} ; PWD={} ; USER=root ; COMMAND=/usr/bin/{bin}{sep}{args}",
        who.name, who.home
    ))
}

/// Files an admin would open in their home: documents and anything not a
/// shell dotfile (canary tokens planted there included).
fn own_files(vfs: &Vfs, home: &str) -> Vec<String> {
    const SHELL_FILES: &[&str] = &[".bashrc", ".profile", ".bash_logout", ".bash_history"];
    let mut out: Vec<String> = files_in(vfs, home)
        .into_iter()
        .filter(|p| !SHELL_FILES.iter().any(|s| p.ends_with(&format!("/{s}"))))
        .collect();
    for (name, node) in vfs.children(home) {
        if node.is_dir() && name != "Maildir" && name != ".ssh" {
            out.extend(files_in(vfs, &format!("{home}/{name}")));
        }
    }
    let tilde = |p: String| match p.strip_prefix(home) {
        Some(rest) => format!("~{rest}"),
        None => p,
    };
    out.into_iter().map(tilde).collect()
}
