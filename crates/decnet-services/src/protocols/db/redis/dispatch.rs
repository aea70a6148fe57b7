//! Running one Redis command: AUTH and HELLO first (they carry
//! credentials), then a `command` event, the `requirepass` check, and one
//! method per verb.

use decnet_core::EventKind;

use super::command::{exploit_tag, upper, Verb};
use super::{RedisHandler, State};
use crate::fields;
use crate::session::Session;
use crate::wire;
use crate::wire::resp::{glob, Out};

/// Most keys one KEYS/SCAN reply lists.
const MAX_LISTED: usize = 1000;

fn arg(args: &[Vec<u8>], i: usize) -> &[u8] {
    args.get(i).map(|a| a.as_slice()).unwrap_or(b"")
}

impl RedisHandler {
    /// Runs one command; returns true when the connection should close.
    /// A `probe` (an inline line that is another protocol's probe) is
    /// answered as redis answers it but recorded, once per connection, as
    /// the probe it is instead of a command: a version scan is not a redis
    /// session.
    pub(super) fn dispatch(
        &self,
        args: &[Vec<u8>],
        st: &mut State,
        out: &mut Out,
        session: &Session,
        probe: bool,
    ) -> bool {
        if probe && !args.is_empty() && !std::mem::replace(&mut st.probe_seen, true) {
            let line: Vec<String> = args.iter().map(|a| wire::excerpt(a, 256)).collect();
            session.emit_probe(&line.join(" "), "command");
        }
        let Some(first) = args.first() else {
            return false;
        };
        let cmd = upper(first);
        match Verb::parse(&cmd, args.len()) {
            Verb::HttpGuard => {
                session.emit_error("redis: HTTP request on the Redis port, connection dropped");
                true
            }
            Verb::Auth if !probe => {
                self.auth(args, st, out, session);
                false
            }
            Verb::Hello if !probe => {
                self.hello(args, st, out, session);
                false
            }
            verb => {
                // Everything but AUTH is a command event, even when refused.
                if !probe {
                    record(&cmd, args, st, session);
                }
                if verb == Verb::Quit {
                    out.simple("OK");
                    return true;
                }
                if !st.authed {
                    out.error("NOAUTH Authentication required.");
                } else {
                    self.apply(verb, &cmd, args, st, out, session);
                }
                false
            }
        }
    }

    fn apply(
        &self,
        verb: Verb,
        cmd: &str,
        args: &[Vec<u8>],
        st: &mut State,
        out: &mut Out,
        session: &Session,
    ) {
        match verb {
            Verb::Ping => ping(cmd, args, out),
            Verb::Echo => out.bulk(arg(args, 1)),
            Verb::Select => select(args, st, out),
            Verb::Info => {
                let section = String::from_utf8_lossy(arg(args, 1)).to_ascii_lowercase();
                out.bulk(self.info(&section).as_bytes())
            }
            Verb::Config => self.config_cmd(args, out),
            Verb::DbSize => out.int(self.keyspace_len(st) as i64),
            Verb::Keys => self.keys(st, out, Some(arg(args, 1))),
            Verb::Scan => {
                out.array(2);
                out.bulk(b"0");
                self.keys(st, out, None)
            }
            Verb::Get => self.get(st, out, arg(args, 1)),
            Verb::Set => self.set(st, out, arg(args, 1), arg(args, 2)),
            Verb::Del => self.del(st, out, &args[1..]),
            Verb::Exists => self.exists(st, out, &args[1..]),
            Verb::Type => {
                let exists = self.exists_one(st, arg(args, 1));
                out.simple(if exists { "string" } else { "none" })
            }
            Verb::Ttl => {
                let exists = self.exists_one(st, arg(args, 1));
                out.int(if exists { -1 } else { -2 })
            }
            // Pretend; a decoy keeps its bait.
            Verb::Flush | Verb::Save | Verb::ReplicaOf => out.simple("OK"),
            Verb::BgSave => out.simple("Background saving started"),
            Verb::LastSave => out.int(chrono::Utc::now().timestamp() - 300),
            Verb::Module => module(args, out),
            Verb::Eval => out.null(),
            Verb::Client => client(args, st, out, session),
            Verb::Command => self.command(args, out),
            Verb::Time => {
                let now = chrono::Utc::now();
                out.array(2);
                out.bulk(now.timestamp().to_string().as_bytes());
                out.bulk(now.timestamp_subsec_micros().to_string().as_bytes());
            }
            Verb::Role => {
                out.array(3);
                out.bulk(b"master");
                out.int(0);
                out.array(0);
            }
            Verb::Shutdown => out.error("ERR Errors trying to SHUTDOWN. Check logs."),
            Verb::WrongArity => wrong_arity(cmd, out),
            Verb::Auth | Verb::Hello | Verb::Quit | Verb::Unknown | Verb::HttpGuard => {
                self.unknown(args, out)
            }
        }
    }

    /// COMMAND COUNT from the persona's release; the full COMMAND table
    /// is not imitated (an empty list).
    fn command(&self, args: &[Vec<u8>], out: &mut Out) {
        match (upper(arg(args, 1)).as_str(), self.command_count()) {
            ("COUNT", Some(n)) => out.int(n),
            _ => out.array(0),
        }
    }

    /// Commands the persona's release has (what COMMAND COUNT says).
    fn command_count(&self) -> Option<i64> {
        self.version.starts_with("7.0.").then_some(240)
    }

    /// The unknown-command error. Redis 7 quotes with `'…'`, older releases
    /// with backticks; the name and the arguments (128 bytes in all) are
    /// sent raw, CR and LF turned into spaces.
    fn unknown(&self, args: &[Vec<u8>], out: &mut Out) {
        let (open, close) = if self.version.starts_with('6') || self.version.starts_with('5') {
            (&b"`"[..], &b"`, "[..])
        } else {
            (&b"'"[..], &b"' "[..])
        };
        let name = arg(args, 0);
        let mut msg = b"ERR unknown command ".to_vec();
        msg.extend_from_slice(open);
        msg.extend_from_slice(&name[..name.len().min(128)]);
        msg.extend_from_slice(&close[..1]);
        msg.extend_from_slice(b", with args beginning with: ");
        let mut listed = Vec::new();
        for a in args.iter().skip(1) {
            if listed.len() >= 128 {
                break;
            }
            let room = 128 - listed.len();
            listed.extend_from_slice(open);
            listed.extend_from_slice(&a[..a.len().min(room)]);
            listed.extend_from_slice(close);
        }
        msg.extend_from_slice(&listed);
        for b in &mut msg {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
        out.error_bytes(&msg)
    }

    fn keyspace_len(&self, st: &State) -> usize {
        if st.db == 0 {
            self.keys.lock().map.len()
        } else {
            0
        }
    }

    /// KEYS pattern, or every key for SCAN (`None`): only db 0 has keys.
    fn keys(&self, st: &State, out: &mut Out, pattern: Option<&[u8]>) {
        let ks = self.keys.lock();
        let keys: Vec<&Vec<u8>> = if st.db == 0 {
            ks.map
                .keys()
                .filter(|k| pattern.is_none_or(|p| glob(p, k)))
                .take(MAX_LISTED)
                .collect()
        } else {
            Vec::new()
        };
        out.array(keys.len());
        for k in keys {
            out.bulk(k);
        }
    }

    fn get(&self, st: &State, out: &mut Out, key: &[u8]) {
        match (st.db, self.keys.lock().map.get(key)) {
            (0, Some(v)) => out.bulk(v),
            _ => out.null(),
        }
    }

    fn set(&self, st: &State, out: &mut Out, key: &[u8], value: &[u8]) {
        if st.db == 0 {
            self.keys.lock().insert(key, value);
        }
        out.simple("OK")
    }

    fn del(&self, st: &State, out: &mut Out, keys: &[Vec<u8>]) {
        let removed = if st.db == 0 {
            let mut ks = self.keys.lock();
            keys.iter().filter(|k| ks.remove(k)).count()
        } else {
            0
        };
        out.int(removed as i64)
    }

    fn exists(&self, st: &State, out: &mut Out, keys: &[Vec<u8>]) {
        let n = keys.iter().filter(|k| self.exists_one(st, k)).count();
        out.int(n as i64)
    }

    fn exists_one(&self, st: &State, key: &[u8]) -> bool {
        st.db == 0 && self.keys.lock().map.contains_key(key)
    }
}

/// The `command` event of everything but AUTH/HELLO.
fn record(cmd: &str, args: &[Vec<u8>], st: &State, session: &Session) {
    let line: Vec<String> = args
        .iter()
        .take(16)
        .map(|a| wire::excerpt(a, 512))
        .collect();
    let mut f = fields! {"command" => line.join(" "), "argc" => args.len() as u64, "authenticated" => st.authed};
    if let Some(tag) = exploit_tag(cmd, args) {
        f.insert("exploit".into(), tag.into());
    }
    session.emit(EventKind::Command, f);
}

fn wrong_arity(cmd: &str, out: &mut Out) {
    out.error(&format!(
        "ERR wrong number of arguments for '{}' command",
        cmd.to_ascii_lowercase()
    ))
}

fn ping(cmd: &str, args: &[Vec<u8>], out: &mut Out) {
    match args.len() {
        1 => out.simple("PONG"),
        2 => out.bulk(arg(args, 1)),
        _ => wrong_arity(cmd, out),
    }
}

fn select(args: &[Vec<u8>], st: &mut State, out: &mut Out) {
    match std::str::from_utf8(arg(args, 1))
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
    {
        Some(n) if n < 16 => {
            st.db = n;
            out.simple("OK")
        }
        Some(_) => out.error("ERR DB index is out of range"),
        None => out.error("ERR value is not an integer or out of range"),
    }
}

fn module(args: &[Vec<u8>], out: &mut Out) {
    match upper(arg(args, 1)).as_str() {
        "LIST" => out.array(0),
        "LOAD" => out.error("ERR Error loading the extension. Please check the server logs."),
        _ => out.error(&format!(
            "ERR unknown subcommand '{}'. Try MODULE HELP.",
            wire::excerpt(arg(args, 1), 64)
        )),
    }
}

fn client(args: &[Vec<u8>], st: &mut State, out: &mut Out, session: &Session) {
    match upper(arg(args, 1)).as_str() {
        "SETNAME" => {
            st.name = arg(args, 2)[..arg(args, 2).len().min(256)].to_vec();
            out.simple("OK")
        }
        "SETINFO" => out.simple("OK"),
        "GETNAME" if st.name.is_empty() => out.null(),
        "GETNAME" => out.bulk(&st.name),
        "ID" => out.int(7),
        "LIST" => out.bulk(
            format!(
                "id=7 addr={} laddr={} fd=8 name={} age=0 idle=0 flags=N db={} sub=0 psub=0 cmd=client|list user={}\n",
                session.peer, session.local, wire::excerpt(&st.name, 256), st.db, st.user
            )
            .as_bytes(),
        ),
        _ => out.simple("OK"),
    }
}
