//! Redis: RESP2/RESP3 framing, AUTH in both forms (`[decky.redis] password`
//! makes the decky behave like `requirepass`: `NOAUTH` until AUTH), the
//! usual introspection commands over a per-decky fake keyspace, and the
//! classic exploitation commands (CONFIG SET dir/dbfilename, SLAVEOF /
//! REPLICAOF, MODULE LOAD, EVAL) recorded as `command` events.

use std::collections::BTreeMap;
use std::sync::Arc;

use decnet_core::EventKind;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;

use crate::ctx::DeckyCtx;
use crate::io::ReadError;
use crate::product::OsKind;
use crate::session::Session;
use crate::wire;
use crate::wire::resp::{glob, parse_command, Out, RespLimits};
use crate::{fields, Conn, Handler, Service, ServiceError};

/// Most keys the fake keyspace keeps; further SETs are answered but dropped.
const MAX_KEYS: usize = 4096;
/// Most bytes of values kept per decky.
const MAX_KEYSPACE_BYTES: usize = 4 * 1024 * 1024;

/// The `redis` service.
pub struct Redis;

/// Per-decky Redis state, shared by its sessions.
pub struct RedisHandler {
    version: String,
    password: Option<String>,
    os: String,
    run_id: String,
    boot: chrono::DateTime<chrono::Utc>,
    keys: Mutex<Keyspace>,
    config: Mutex<BTreeMap<String, String>>,
}

#[derive(Default)]
struct Keyspace {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    bytes: usize,
}

/// Redis version a persona would run (distro package).
pub fn persona_version(decky: &DeckyCtx) -> String {
    if let Some(v) = decky.config("redis", "version") {
        return v.to_owned();
    }
    match crate::product::os_kind(decky) {
        OsKind::Debian => "7.0.15",
        OsKind::Ubuntu => "6.0.16",
        OsKind::RedHat => "6.2.7",
        _ => "7.2.4",
    }
    .to_owned()
}

impl Service for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        use rand::Rng;
        let mut rng = decnet_core::DeckySeed::new(decky.name(), decky.generation).rng("redis");
        let run_id: [u8; 20] = rng.gen();
        let mut ks = Keyspace::default();
        let host = decky.persona.hostname.clone();
        for (k, v) in [
            (
                "session:4f1c2a".to_owned(),
                "{\"uid\":17,\"role\":\"admin\"}".to_owned(),
            ),
            (
                "session:9b07de".to_owned(),
                "{\"uid\":42,\"role\":\"user\"}".to_owned(),
            ),
            ("cache:homepage".to_owned(), "<html>…</html>".to_owned()),
            ("queue:mail".to_owned(), "3".to_owned()),
            (
                format!("config:{host}"),
                "{\"db\":\"10.0.0.12\",\"port\":5432}".to_owned(),
            ),
        ] {
            ks.bytes += k.len() + v.len();
            ks.map.insert(k.into_bytes(), v.into_bytes());
        }
        let mut config = BTreeMap::new();
        for (k, v) in [
            ("dir", "/var/lib/redis"),
            ("dbfilename", "dump.rdb"),
            ("bind", "0.0.0.0"),
            ("port", "6379"),
            ("protected-mode", "no"),
            ("maxmemory", "0"),
            ("appendonly", "no"),
            ("save", "3600 1 300 100 60 10000"),
        ] {
            config.insert(k.to_owned(), v.to_owned());
        }
        config.insert(
            "requirepass".into(),
            decky.config("redis", "password").unwrap_or("").to_owned(),
        );
        Ok(Arc::new(RedisHandler {
            version: persona_version(decky),
            password: decky.config("redis", "password").map(str::to_owned),
            os: format!("Linux {} x86_64", decky.persona.kernel),
            run_id: hex::encode(run_id),
            boot: decky.persona.boot_time,
            keys: Mutex::new(ks),
            config: Mutex::new(config),
        }))
    }
}

struct State {
    authed: bool,
    resp3: bool,
    db: u32,
    user: String,
}

impl Handler for RedisHandler {
    fn serve_tcp(self: Arc<Self>, mut conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let lim = RespLimits {
                max_line: session.limits().max_line.max(1024),
                max_bulk: session.limits().max_body.max(1024),
            };
            let idle = session.limits().idle_timeout;
            let mut st = State {
                authed: self.password.is_none(),
                resp3: false,
                db: 0,
                user: "default".into(),
            };
            let mut buf: Vec<u8> = Vec::with_capacity(1024);
            let mut chunk = [0u8; 4096];
            loop {
                // Serve every complete command already buffered.
                loop {
                    match parse_command(&buf, lim) {
                        Ok(None) => break,
                        Ok(Some((args, used))) => {
                            buf.drain(..used);
                            let mut out = Out {
                                buf: Vec::new(),
                                resp3: st.resp3,
                            };
                            let quit = self.dispatch(&args, &mut st, &mut out, &session);
                            if conn.stream.write_all(&out.buf).await.is_err() || quit {
                                return;
                            }
                        }
                        Err(e) => {
                            session.emit_error(format!("redis: protocol error: {e}"));
                            let msg = format!("-ERR Protocol error: {e}\r\n");
                            let _ = conn.stream.write_all(msg.as_bytes()).await;
                            return;
                        }
                    }
                }
                // A command still incomplete past this size is refused
                // (1024 arguments of max_bulk would otherwise be accepted).
                if buf.len() > 4 * lim.max_bulk + lim.max_line {
                    session.emit_error(format!("redis: command over {} bytes", buf.len()));
                    let _ = conn
                        .stream
                        .write_all(b"-ERR Protocol error: too big mbulk count string\r\n")
                        .await;
                    return;
                }
                match crate::io::read_some_idle(&mut conn.stream, &mut chunk, idle).await {
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(ReadError::Eof) => return,
                    Err(e) => {
                        session.emit_error(format!("redis: {e}"));
                        return;
                    }
                }
            }
        })
    }
}

fn upper(a: &[u8]) -> String {
    String::from_utf8_lossy(a).to_ascii_uppercase()
}

/// Classic abuse a command stands for, if any.
fn exploit_tag(cmd: &str, args: &[Vec<u8>]) -> Option<&'static str> {
    let sub = args.get(1).map(|a| upper(a)).unwrap_or_default();
    let key = args.get(2).map(|a| upper(a)).unwrap_or_default();
    match (cmd, sub.as_str()) {
        ("CONFIG", "SET") if key == "DIR" => Some("config_set_dir"),
        ("CONFIG", "SET") if key == "DBFILENAME" => Some("config_set_dbfilename"),
        ("CONFIG", "SET") => Some("config_set"),
        ("SLAVEOF" | "REPLICAOF", _) => Some("rogue_replication"),
        ("MODULE", "LOAD") => Some("module_load"),
        ("EVAL" | "EVALSHA" | "SCRIPT" | "FUNCTION", _) => Some("lua_eval"),
        ("FLUSHALL" | "FLUSHDB", _) => Some("data_wipe"),
        ("SAVE" | "BGSAVE", _) => Some("save_to_disk"),
        _ => None,
    }
}

impl RedisHandler {
    /// Runs one command; returns true when the connection should close.
    fn dispatch(&self, args: &[Vec<u8>], st: &mut State, out: &mut Out, session: &Session) -> bool {
        let Some(first) = args.first() else {
            return false;
        };
        let cmd = upper(first);
        let argc = args.len();
        if cmd == "AUTH" {
            self.auth(args, st, out, session);
            return false;
        }
        if cmd == "HELLO" {
            return self.hello(args, st, out, session);
        }
        // Everything but AUTH is a command event, even when refused.
        let line: Vec<String> = args
            .iter()
            .take(16)
            .map(|a| wire::excerpt(a, 512))
            .collect();
        let mut f = fields! {"command" => line.join(" "), "argc" => argc as u64, "authenticated" => st.authed};
        if let Some(tag) = exploit_tag(&cmd, args) {
            f.insert("exploit".into(), tag.into());
        }
        session.emit(EventKind::Command, f);
        if cmd == "QUIT" {
            out.simple("OK");
            return true;
        }
        if !st.authed {
            out.error("NOAUTH Authentication required.");
            return false;
        }
        let arg = |i: usize| args.get(i).map(|a| a.as_slice()).unwrap_or(b"");
        let wrong = |out: &mut Out| {
            out.error(&format!(
                "ERR wrong number of arguments for '{}' command",
                cmd.to_ascii_lowercase()
            ))
        };
        match cmd.as_str() {
            "PING" => match argc {
                1 => out.simple("PONG"),
                2 => out.bulk(arg(1)),
                _ => wrong(out),
            },
            "ECHO" if argc == 2 => out.bulk(arg(1)),
            "SELECT" => match std::str::from_utf8(arg(1)).ok().and_then(|s| s.parse::<u32>().ok()) {
                Some(n) if n < 16 => {
                    st.db = n;
                    out.simple("OK")
                }
                Some(_) => out.error("ERR DB index is out of range"),
                None => out.error("ERR value is not an integer or out of range"),
            },
            "INFO" => {
                let section = String::from_utf8_lossy(arg(1)).to_ascii_lowercase();
                out.bulk(self.info(&section).as_bytes())
            }
            "CONFIG" => self.config_cmd(args, out),
            "DBSIZE" => out.int(self.keyspace_len(st) as i64),
            "KEYS" if argc == 2 => {
                let ks = self.keys.lock();
                let keys: Vec<&Vec<u8>> = if st.db == 0 {
                    ks.map.keys().filter(|k| glob(arg(1), k)).take(1000).collect()
                } else {
                    Vec::new()
                };
                out.array(keys.len());
                for k in keys {
                    out.bulk(k);
                }
            }
            "SCAN" => {
                let ks = self.keys.lock();
                out.array(2);
                out.bulk(b"0");
                let keys: Vec<&Vec<u8>> = if st.db == 0 { ks.map.keys().take(1000).collect() } else { Vec::new() };
                out.array(keys.len());
                for k in keys {
                    out.bulk(k);
                }
            }
            "GET" if argc == 2 => match (st.db, self.keys.lock().map.get(arg(1))) {
                (0, Some(v)) => out.bulk(v),
                _ => out.null(),
            },
            "SET" if argc >= 3 => {
                if st.db == 0 {
                    let mut ks = self.keys.lock();
                    let add = arg(1).len() + arg(2).len();
                    if ks.map.len() < MAX_KEYS && ks.bytes + add <= MAX_KEYSPACE_BYTES {
                        ks.bytes += add;
                        if let Some(old) = ks.map.insert(arg(1).to_vec(), arg(2).to_vec()) {
                            ks.bytes = ks.bytes.saturating_sub(arg(1).len() + old.len());
                        }
                    }
                }
                out.simple("OK")
            }
            "DEL" | "UNLINK" | "EXISTS" if argc >= 2 => {
                let mut ks = self.keys.lock();
                let mut n = 0;
                for k in &args[1..] {
                    if st.db != 0 {
                        continue;
                    }
                    if cmd == "EXISTS" {
                        n += ks.map.contains_key(k) as i64;
                    } else if let Some(v) = ks.map.remove(k) {
                        ks.bytes = ks.bytes.saturating_sub(k.len() + v.len());
                        n += 1;
                    }
                }
                out.int(n)
            }
            "TYPE" if argc == 2 => {
                let exists = st.db == 0 && self.keys.lock().map.contains_key(arg(1));
                out.simple(if exists { "string" } else { "none" })
            }
            "TTL" | "PTTL" if argc == 2 => {
                let exists = st.db == 0 && self.keys.lock().map.contains_key(arg(1));
                out.int(if exists { -1 } else { -2 })
            }
            "FLUSHALL" | "FLUSHDB" => {
                // Pretend; a decoy keeps its bait.
                out.simple("OK")
            }
            "SAVE" => out.simple("OK"),
            "BGSAVE" => out.simple("Background saving started"),
            "LASTSAVE" => out.int(chrono::Utc::now().timestamp() - 300),
            "SLAVEOF" | "REPLICAOF" if argc == 3 => out.simple("OK"),
            "MODULE" => {
                let sub = upper(arg(1));
                match sub.as_str() {
                    "LIST" => out.array(0),
                    "LOAD" => out.error("ERR Error loading the extension. Please check the server logs."),
                    _ => out.error(&format!("ERR unknown subcommand '{}'. Try MODULE HELP.", wire::excerpt(arg(1), 64))),
                }
            }
            "EVAL" | "EVALSHA" => out.null(),
            "CLIENT" => match upper(arg(1)).as_str() {
                "SETNAME" | "SETINFO" => out.simple("OK"),
                "GETNAME" => out.null(),
                "ID" => out.int(7),
                "LIST" => out.bulk(
                    format!(
                        "id=7 addr={} laddr={} fd=8 name= age=0 idle=0 flags=N db={} sub=0 psub=0 cmd=client|list user={}\n",
                        session.peer, session.local, st.db, st.user
                    )
                    .as_bytes(),
                ),
                _ => out.simple("OK"),
            },
            "COMMAND" => out.array(0),
            "TIME" => {
                let now = chrono::Utc::now();
                out.array(2);
                out.bulk(now.timestamp().to_string().as_bytes());
                out.bulk(now.timestamp_subsec_micros().to_string().as_bytes());
            }
            "ROLE" => {
                out.array(3);
                out.bulk(b"master");
                out.int(0);
                out.array(0);
            }
            "SHUTDOWN" => {
                out.error("ERR Errors trying to SHUTDOWN. Check logs.");
            }
            _ => {
                let rest: Vec<String> = args[1..]
                    .iter()
                    .take(8)
                    .map(|a| format!("'{}'", wire::excerpt(a, 64)))
                    .collect();
                out.error(&format!(
                    "ERR unknown command '{}', with args beginning with: {}",
                    wire::excerpt(first, 64),
                    rest.join(" ")
                ))
            }
        }
        false
    }

    fn keyspace_len(&self, st: &State) -> usize {
        if st.db == 0 {
            self.keys.lock().map.len()
        } else {
            0
        }
    }

    fn check_password(&self, user: &str, pass: &[u8]) -> bool {
        match &self.password {
            Some(p) => user == "default" && p.as_bytes() == pass,
            None => false,
        }
    }

    fn auth(&self, args: &[Vec<u8>], st: &mut State, out: &mut Out, session: &Session) {
        let (user, pass) = match args.len() {
            2 => ("default".to_owned(), args[1].as_slice()),
            3 => (decnet_core::event::printable(&args[1]), args[2].as_slice()),
            _ => {
                out.error("ERR wrong number of arguments for 'auth' command");
                return;
            }
        };
        let ok = self.check_password(&user, pass);
        session.emit_auth(
            &user,
            "password",
            pass,
            ok,
            fields! {"form" => if args.len() == 2 { "AUTH password" } else { "AUTH username password" }},
        );
        if ok {
            st.authed = true;
            st.user = user;
            out.simple("OK");
        } else if self.password.is_none() && args.len() == 2 {
            out.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
        } else if self.version.starts_with('5') || self.version.starts_with('4') {
            out.error("ERR invalid password");
        } else {
            out.error("WRONGPASS invalid username-password pair or user is disabled.");
        }
    }

    fn hello(&self, args: &[Vec<u8>], st: &mut State, out: &mut Out, session: &Session) -> bool {
        let mut i = 1;
        let mut proto = if st.resp3 { 3 } else { 2 };
        if let Some(v) = args.get(1) {
            match std::str::from_utf8(v)
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
            {
                Some(p @ 2..=3) => proto = p,
                _ => {
                    out.error("NOPROTO unsupported protocol version");
                    return false;
                }
            }
            i = 2;
        }
        while i < args.len() {
            match upper(&args[i]).as_str() {
                "AUTH" if i + 2 < args.len() => {
                    let mut o = Out::default();
                    self.auth(
                        &[b"AUTH".to_vec(), args[i + 1].clone(), args[i + 2].clone()],
                        st,
                        &mut o,
                        session,
                    );
                    if !st.authed {
                        out.buf.extend_from_slice(&o.buf);
                        return false;
                    }
                    i += 3;
                }
                "SETNAME" if i + 1 < args.len() => i += 2,
                _ => {
                    out.error("ERR Syntax error in HELLO option");
                    return false;
                }
            }
        }
        session.emit(EventKind::Command, fields! {"command" => format!("HELLO {proto}"), "argc" => args.len() as u64, "authenticated" => st.authed});
        if !st.authed {
            out.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
            return false;
        }
        st.resp3 = proto == 3;
        out.resp3 = st.resp3;
        out.map(7);
        out.bulk(b"server");
        out.bulk(b"redis");
        out.bulk(b"version");
        out.bulk(self.version.as_bytes());
        out.bulk(b"proto");
        out.int(proto as i64);
        out.bulk(b"id");
        out.int(7);
        out.bulk(b"mode");
        out.bulk(b"standalone");
        out.bulk(b"role");
        out.bulk(b"master");
        out.bulk(b"modules");
        out.array(0);
        false
    }

    fn config_cmd(&self, args: &[Vec<u8>], out: &mut Out) {
        let sub = args.get(1).map(|a| upper(a)).unwrap_or_default();
        match sub.as_str() {
            "GET" if args.len() >= 3 => {
                let cfg = self.config.lock();
                let hits: Vec<(&String, &String)> = cfg
                    .iter()
                    .filter(|(k, _)| {
                        args[2..]
                            .iter()
                            .any(|p| glob(&p.to_ascii_lowercase(), k.as_bytes()))
                    })
                    .collect();
                out.map(hits.len());
                for (k, v) in hits {
                    out.bulk(k.as_bytes());
                    out.bulk(v.as_bytes());
                }
            }
            "SET" if args.len() >= 4 && args.len() % 2 == 0 => {
                let mut cfg = self.config.lock();
                for pair in args[2..].chunks(2) {
                    let k = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
                    if k == "requirepass" {
                        continue; // never let an attacker lock the decoy
                    }
                    if cfg.len() < 256 || cfg.contains_key(&k) {
                        cfg.insert(k, wire::excerpt(&pair[1], 1024));
                    }
                }
                out.simple("OK")
            }
            "RESETSTAT" | "REWRITE" => out.simple("OK"),
            _ => out.error(&format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try CONFIG HELP.",
                wire::excerpt(args.get(1).map(|a| a.as_slice()).unwrap_or(b""), 64)
            )),
        }
    }

    fn info(&self, section: &str) -> String {
        let now = chrono::Utc::now();
        let up = (now - self.boot).num_seconds().max(0);
        let keys = self.keys.lock().map.len();
        let all = section.is_empty()
            || section == "all"
            || section == "everything"
            || section == "default";
        let mut s = String::new();
        let want = |name: &str| all || section == name;
        if want("server") {
            s.push_str(&format!(
                "# Server\r\nredis_version:{v}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:{bid}\r\nredis_mode:standalone\r\nos:{os}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:12.2.0\r\nprocess_id:{pid}\r\nprocess_supervised:systemd\r\nrun_id:{rid}\r\ntcp_port:6379\r\nserver_time_usec:{usec}\r\nuptime_in_seconds:{up}\r\nuptime_in_days:{days}\r\nhz:10\r\nconfigured_hz:10\r\nexecutable:/usr/bin/redis-server\r\nconfig_file:/etc/redis/redis.conf\r\n\r\n",
                v = self.version,
                bid = &self.run_id[..16],
                os = self.os,
                pid = 700 + (self.run_id.as_bytes()[0] as u32) * 3,
                rid = self.run_id,
                usec = now.timestamp_micros(),
                days = up / 86_400,
            ));
        }
        if want("clients") {
            s.push_str("# Clients\r\nconnected_clients:1\r\ncluster_connections:0\r\nmaxclients:10000\r\nblocked_clients:0\r\n\r\n");
        }
        if want("memory") {
            s.push_str("# Memory\r\nused_memory:1183424\r\nused_memory_human:1.13M\r\nused_memory_rss:9142272\r\nused_memory_peak:1205936\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\nmem_allocator:jemalloc-5.3.0\r\n\r\n");
        }
        if want("persistence") {
            s.push_str("# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\naof_enabled:0\r\n\r\n");
        }
        if want("replication") {
            s.push_str("# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n\r\n");
        }
        if want("keyspace") {
            s.push_str(&format!(
                "# Keyspace\r\ndb0:keys={keys},expires=0,avg_ttl=0\r\n"
            ));
        }
        s
    }
}
