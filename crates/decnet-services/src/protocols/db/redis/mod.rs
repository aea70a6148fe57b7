//! Redis: RESP2/RESP3 framing, AUTH in both forms (`[decky.redis] password`
//! makes the decky behave like `requirepass`: `NOAUTH` until AUTH), the
//! usual introspection commands over a per-decky fake keyspace, and the
//! classic exploitation commands (CONFIG SET dir/dbfilename, SLAVEOF /
//! REPLICAOF, MODULE LOAD, EVAL) recorded as `command` events.
//!
//! `command` names the [`Verb`] of an argument vector; `dispatch` runs one
//! function per verb; `auth` and `server` hold the larger ones.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;

use decnet_core::probe_text::is_probe_text;

use crate::ctx::DeckyCtx;
use crate::io::ReadError;
use crate::product::OsKind;
use crate::session::Session;
use crate::wire::resp::{parse_command, Out, RespLimits};
use crate::{Conn, Handler, Service, ServiceError};

mod auth;
mod command;
mod dispatch;
mod server;

pub use command::{exploit_tag, Verb};

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

impl Keyspace {
    /// Stores a key while the keyspace is under its caps (else drops it).
    fn insert(&mut self, key: &[u8], value: &[u8]) {
        let add = key.len() + value.len();
        if self.map.len() < MAX_KEYS && self.bytes + add <= MAX_KEYSPACE_BYTES {
            self.bytes += add;
            if let Some(old) = self.map.insert(key.to_vec(), value.to_vec()) {
                self.bytes = self.bytes.saturating_sub(key.len() + old.len());
            }
        }
    }

    /// Removes a key; true when it existed.
    fn remove(&mut self, key: &[u8]) -> bool {
        match self.map.remove(key) {
            Some(v) => {
                self.bytes = self.bytes.saturating_sub(key.len() + v.len());
                true
            }
            None => false,
        }
    }
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
            ks.insert(k.as_bytes(), v.as_bytes());
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
    /// A probe line was already recorded for this connection.
    probe_seen: bool,
    resp3: bool,
    db: u32,
    user: String,
    /// CLIENT SETNAME.
    name: Vec<u8>,
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
                probe_seen: false,
                resp3: false,
                db: 0,
                user: "default".into(),
                name: Vec::new(),
            };
            // Empty until the client sends something, and emptied again
            // (capacity freed) whenever every buffered command is served:
            // an idle connection holds no buffer (see `io::read_into_idle`).
            let mut buf: Vec<u8> = Vec::new();
            loop {
                // Serve every complete command already buffered.
                loop {
                    // Inline (telnet-style) commands are where other
                    // protocols' probes land; RESP arrays never are one.
                    let inline = buf.first().is_some_and(|b| *b != b'*');
                    match parse_command(&buf, lim) {
                        Ok(None) => break,
                        Ok(Some((args, used))) => {
                            let probe = inline && {
                                let line = String::from_utf8_lossy(&buf[..used]);
                                is_probe_text(&line)
                            };
                            buf.drain(..used);
                            let mut out = Out {
                                buf: Vec::new(),
                                resp3: st.resp3,
                            };
                            let quit = self.dispatch(&args, &mut st, &mut out, &session, probe);
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
                if buf.is_empty() {
                    buf = Vec::new();
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
                match crate::io::read_into_idle(&conn.stream, &mut buf, idle).await {
                    Ok(_) => {}
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
