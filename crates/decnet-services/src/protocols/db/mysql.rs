//! MySQL / MariaDB: handshake v10 with a random 20-byte scramble and the
//! persona's server version, `mysql_native_password` and
//! `caching_sha2_password` responses captured with their salt (hashcat mode
//! 11200 line for native), MySQL's exact `Access denied` error, and, when
//! `[decky.mysql] password = …` makes a login succeed, every query logged.
//!
//! Before the login, bytes that are not a handshake response get the
//! server's own answers: a PROXY header is refused, a packet whose sequence
//! id is not 1 is "out of order", an oversized one is read and discarded
//! the way the server waits for it. A MariaDB version gets MariaDB's
//! greeting capabilities and, from loopback, Debian's `unix_socket` root.

use std::sync::Arc;

use decnet_core::EventKind;
use futures::future::BoxFuture;
use rand::Rng;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::config::ConfigError;
use crate::ctx::DeckyCtx;
use crate::io::ReadError;
use crate::product::OsKind;
use crate::protocols::db::mariadb_accounts::{self, AccountAuth};
use crate::session::Session;
use crate::wire;
use crate::wire::mysql::{self as w, MAX_PACKET};
use crate::{fields, Conn, Handler, Service, ServiceError};

const NATIVE: &str = "mysql_native_password";
const SHA2: &str = "caching_sha2_password";

/// The `mysql` service.
pub struct Mysql;

/// Per-decky MySQL state.
pub struct MysqlHandler {
    version: String,
    comment: String,
    plugin: &'static str,
    charset: u8,
    /// A MariaDB build (version string says so): its greeting and errors.
    mariadb: bool,
    login: Option<(String, String)>,
    databases: Vec<String>,
}

/// Server version, version comment and default auth plugin for a persona.
pub fn persona_version(decky: &DeckyCtx) -> (String, String, &'static str) {
    if let Some(v) = decky.config("mysql", "version") {
        let plugin = if v.starts_with("8.") || v.starts_with("9.") {
            SHA2
        } else {
            NATIVE
        };
        return (v.to_owned(), version_comment(v), plugin);
    }
    match crate::product::os_kind(decky) {
        OsKind::Debian => (
            "5.5.5-10.11.6-MariaDB-0+deb12u1".into(),
            "Debian 12".into(),
            NATIVE,
        ),
        OsKind::Ubuntu => ("8.0.36-0ubuntu0.22.04.1".into(), "(Ubuntu)".into(), SHA2),
        OsKind::RedHat => ("8.0.36".into(), "Source distribution".into(), SHA2),
        OsKind::Windows => ("8.0.36".into(), "MySQL Community Server - GPL".into(), SHA2),
        _ => (
            "5.7.44".into(),
            "MySQL Community Server (GPL)".into(),
            NATIVE,
        ),
    }
}

/// `@@version_comment` of the build a pinned version string names: the
/// distribution's packages say which release they belong to, upstream
/// builds name their distribution channel.
fn version_comment(version: &str) -> String {
    let lower = version.to_ascii_lowercase();
    // The digits after a marker such as "deb" in "0+deb12u1".
    let release_after = |marker: &str| {
        let at = lower.find(marker)? + marker.len();
        let digits: String = lower[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        (!digits.is_empty()).then_some(digits)
    };
    if lower.contains("-mariadb") {
        if let Some(n) = release_after("+deb") {
            return format!("Debian {}", n.trim_end_matches('.'));
        }
        if let Some(n) = release_after("ubuntu0.") {
            let release: Vec<&str> = n.split('.').take(2).collect();
            return format!("Ubuntu {}", release.join("."));
        }
        if lower.contains("maria~") {
            return "mariadb.org binary distribution".into();
        }
        return "MariaDB Server".into();
    }
    if lower.contains("ubuntu") {
        return "(Ubuntu)".into();
    }
    if version.starts_with("5.") {
        return "MySQL Community Server (GPL)".into();
    }
    "MySQL Community Server - GPL".into()
}

impl Service for Mysql {
    fn name(&self) -> &'static str {
        "mysql"
    }

    fn validate(
        &self,
        cfg: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        crate::config::check(cfg, "version", "1-64 printable ASCII characters", |v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| (0x20..0x7f).contains(&b))
        })
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let (version, comment, plugin) = persona_version(decky);
        let charset = if plugin == SHA2 { 0xff } else { 0x2d };
        let databases = decky
            .config("mysql", "databases")
            .map(|s| {
                s.split(',')
                    .map(|d| d.trim().to_owned())
                    .filter(|d| !d.is_empty())
                    .collect()
            })
            .unwrap_or_else(|| vec!["app".to_owned(), "customers".to_owned()]);
        Ok(Arc::new(MysqlHandler {
            mariadb: version.contains("MariaDB"),
            version,
            comment,
            plugin,
            charset,
            login: crate::creds::configured_login(&decky.spec, "mysql", "root"),
            databases,
        }))
    }
}

/// A scramble of printable bytes without `$` and NUL, like mysqld's.
fn scramble() -> [u8; 20] {
    let mut rng = rand::thread_rng();
    let mut s = [0u8; 20];
    for b in &mut s {
        loop {
            let c = rng.gen_range(0x21u8..0x7f);
            if c != b'$' {
                *b = c;
                break;
            }
        }
    }
    s
}

struct Io {
    stream: TcpStream,
    idle: std::time::Duration,
}

enum PktError {
    Read(ReadError),
    TooBig(usize),
    /// A sequence id other than the one expected (what most non-MySQL
    /// bytes look like).
    OutOfOrder,
    /// A PROXY protocol header (v1 text or v2 binary signature).
    ProxyHeader,
}

impl Io {
    /// Reads one packet whose sequence id must be `expect`. An oversized
    /// one is read to its end and dropped (the server reads up to
    /// `max_allowed_packet` before answering), so memory stays bounded.
    async fn read_packet(&mut self, expect: u8) -> Result<(u8, Vec<u8>), PktError> {
        let mut h = [0u8; 4];
        crate::io::read_exact_idle(&mut self.stream, &mut h, self.idle)
            .await
            .map_err(PktError::Read)?;
        if expect == 1 && (&h == b"PROX" || &h == b"\r\n\r\n") {
            return Err(PktError::ProxyHeader);
        }
        let (len, seq) = w::header(h);
        if seq != expect {
            return Err(PktError::OutOfOrder);
        }
        if len > MAX_PACKET {
            let mut left = len;
            // Heap, only while discarding: an array here would be part of
            // every connection's future for its whole life (8 KiB each).
            let mut chunk = vec![0u8; 8192];
            while left > 0 {
                let n = crate::io::read_some_idle(&mut self.stream, &mut chunk, self.idle)
                    .await
                    .map_err(PktError::Read)?;
                left = left.saturating_sub(n);
            }
            return Err(PktError::TooBig(len));
        }
        let mut p = vec![0u8; len];
        crate::io::read_exact_idle(&mut self.stream, &mut p, self.idle)
            .await
            .map_err(PktError::Read)?;
        Ok((seq, p))
    }

    async fn send(&mut self, seq: u8, payload: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(&w::packet(seq, payload)).await
    }
}

impl Handler for MysqlHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let idle = session.limits().idle_timeout;
            let mut io = Io {
                stream: conn.stream,
                idle,
            };
            match self.run(&mut io, &session).await {
                Ok(()) | Err(PktError::Read(ReadError::Eof)) => {}
                Err(PktError::Read(e)) => session.emit_error(format!("mysql: {e}")),
                Err(PktError::OutOfOrder) => {
                    session.emit_error("mysql: packet out of order");
                    let _ = io
                        .send(1, &w::err(1156, "08S01", "Got packets out of order"))
                        .await;
                }
                Err(PktError::ProxyHeader) => {
                    session.emit_error("mysql: PROXY protocol header");
                    let msg = format!("Proxy header is not accepted from {}", session.peer.ip());
                    let _ = io.send(1, &w::err(1130, "HY000", &msg)).await;
                }
                Err(PktError::TooBig(n)) => {
                    session.emit_error(format!("mysql: packet of {n} bytes over limit"));
                    let _ = io
                        .send(
                            1,
                            &w::err(
                                1153,
                                "08S01",
                                "Got a packet bigger than 'max_allowed_packet' bytes",
                            ),
                        )
                        .await;
                }
            }
        })
    }
}

impl MysqlHandler {
    async fn run(&self, io: &mut Io, session: &Session) -> Result<(), PktError> {
        let wr = |e: std::io::Error| PktError::Read(ReadError::Io(e.to_string()));
        let salt = scramble();
        let conn_id: u32 = rand::thread_rng().gen_range(8..20_000);
        let greeting = w::Greeting {
            caps: if self.mariadb {
                w::cap::MARIADB_SERVER
            } else {
                w::cap::SERVER
            },
            mariadb_caps: if self.mariadb {
                w::cap::MARIADB_EXTENDED
            } else {
                0
            },
            charset: self.charset,
            plugin: self.plugin,
        };
        io.send(
            0,
            &w::handshake_v10(&self.version, conn_id, &salt, greeting),
        )
        .await
        .map_err(wr)?;
        let (seq, payload) = io.read_packet(1).await?;
        if payload == [0x01] {
            // COM_QUIT instead of a login (hydra's and many scanners' probe).
            return Ok(());
        }
        let bad_handshake = if client_caps(&payload) & w::cap::PROTOCOL_41 != 0 {
            w::err(1043, "08S01", "Bad handshake")
        } else {
            w::err_pre41(1043, "Bad handshake")
        };
        let resp = match w::parse_handshake_response(&payload) {
            Ok(r) => r,
            Err(e) => {
                session.emit_error(format!("mysql: bad handshake response: {e}"));
                io.send(seq.wrapping_add(1), &bad_handshake)
                    .await
                    .map_err(wr)?;
                return Ok(());
            }
        };
        if resp.ssl_request {
            // TLS is not offered, so the server refuses the switch.
            session.emit_error("mysql: client asked for TLS, which is not offered");
            io.send(seq.wrapping_add(1), &bad_handshake)
                .await
                .map_err(wr)?;
            return Ok(());
        }
        let mut seq = seq.wrapping_add(1);
        let user = decnet_core::event::printable(&resp.user);
        let mut plugin = resp
            .plugin
            .as_deref()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_else(|| self.plugin.to_owned());
        if resp.caps & w::cap::PLUGIN_AUTH == 0 && resp.auth.len() == 20 {
            plugin = NATIVE.to_owned();
        }
        let mut auth = resp.auth.clone();
        let mut salt = salt;
        if plugin != NATIVE && plugin != SHA2 {
            // Ask for our plugin, as a real server does for an unknown one.
            salt = scramble();
            io.send(seq, &w::auth_switch(self.plugin, &salt))
                .await
                .map_err(wr)?;
            let (s, p) = io.read_packet(seq.wrapping_add(1)).await?;
            seq = s.wrapping_add(1);
            auth = p;
            plugin = self.plugin.to_owned();
        }
        let database = resp
            .database
            .as_deref()
            .map(decnet_core::event::printable)
            .unwrap_or_default();
        let ok = self.check_login(session, &resp, &plugin, &auth, &salt, &database);
        if !ok {
            io.send(seq, &self.access_denied(&user, &resp.user, &auth, session))
                .await
                .map_err(wr)?;
            return Ok(());
        }
        if plugin == SHA2 {
            io.send(seq, &[0x01, 0x03]).await.map_err(wr)?;
            seq = seq.wrapping_add(1);
        }
        io.send(seq, &w::ok(0)).await.map_err(wr)?;
        let format = w::ResultFormat::negotiate(greeting.caps, greeting.mariadb_caps, &resp);
        self.command_loop(io, session, &user, database, format)
            .await
    }

    /// The failed-login error. The host part is how the server names the
    /// client: `localhost` for loopback (resolved without DNS). Debian's
    /// MariaDB root@localhost authenticates by `unix_socket`, so any
    /// password over TCP gets error 1698 without the "using password" part;
    /// `user` is the printable name, `raw_user` the bytes the client sent.
    fn access_denied(
        &self,
        user: &str,
        raw_user: &[u8],
        auth: &[u8],
        session: &Session,
    ) -> Vec<u8> {
        let peer = session.peer.ip();
        let host = if peer.is_loopback() {
            "localhost".to_owned()
        } else {
            peer.to_string()
        };
        if self.mariadb && peer.is_loopback() {
            // Debian's accounts are all @localhost: from loopback the
            // refusal is the named account's, or its hash-picked stand-in's.
            let extra = self.login.as_ref().map(|(u, _)| u.as_str());
            let account = mariadb_accounts::account_for(raw_user, extra);
            match account.auth {
                AccountAuth::UnixSocket => {
                    let msg = format!("Access denied for user '{user}'@'{host}'");
                    return w::err(1698, "28000", &msg);
                }
                AccountAuth::Locked if account.exists && auth.is_empty() => {
                    return w::err(4151, "HY000", "Access denied, this account is locked");
                }
                AccountAuth::Locked | AccountAuth::Password => {}
            }
        }
        let msg = format!(
            "Access denied for user '{user}'@'{host}' (using password: {})",
            if auth.is_empty() { "NO" } else { "YES" }
        );
        w::err(1045, "28000", &msg)
    }

    /// Checks the scrambled password against the configured login and
    /// records the attempt (with a hashcat 11200 line for native auth).
    fn check_login(
        &self,
        session: &Session,
        resp: &w::HandshakeResponse,
        plugin: &str,
        auth: &[u8],
        salt: &[u8; 20],
        database: &str,
    ) -> bool {
        let user = &decnet_core::event::printable(&resp.user);
        let attrs: serde_json::Map<String, serde_json::Value> = resp
            .attrs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        let ok = match &self.login {
            Some((u, p)) if u == user && !auth.is_empty() => {
                let expect = if plugin == NATIVE {
                    w::native_scramble(p.as_bytes(), salt)
                } else {
                    w::sha2_scramble(p.as_bytes(), salt)
                };
                expect == auth
            }
            Some((u, p)) => u == user && p.is_empty() && auth.is_empty(),
            None => false,
        };
        let mut extra = fields! {
            "salt" => hex::encode(salt),
            "response" => hex::encode(auth),
            "database" => database,
            "client_caps" => format!("0x{:08x}", resp.caps),
            "client_attrs" => serde_json::Value::Object(attrs),
            "using_password" => !auth.is_empty(),
        };
        if plugin == NATIVE && auth.len() == 20 {
            extra.insert("hashcat".into(), w::hashcat_11200(salt, auth).into());
            extra.insert("hashcat_mode".into(), 11200u64.into());
        }
        session.emit_auth(user, plugin, auth, ok, extra);
        ok
    }

    async fn command_loop(
        &self,
        io: &mut Io,
        session: &Session,
        user: &str,
        mut database: String,
        format: w::ResultFormat,
    ) -> Result<(), PktError> {
        let wr = |e: std::io::Error| PktError::Read(ReadError::Io(e.to_string()));
        loop {
            let (_, p) = io.read_packet(0).await?;
            let Some((&cmd, arg)) = p.split_first() else {
                session.emit_error("mysql: empty command packet");
                return Ok(());
            };
            match cmd {
                0x01 => return Ok(()),
                0x02 => {
                    database = wire::excerpt(arg, 256);
                    session.emit(
                        EventKind::Command,
                        fields! {"command" => format!("USE {database}"), "user" => user, "database" => database.clone()},
                    );
                    io.send(1, &w::ok(0)).await.map_err(wr)?;
                }
                0x03 => {
                    let q = wire::excerpt(arg, 8192);
                    session.emit(
                        EventKind::Command,
                        fields! {"command" => q.clone(), "user" => user, "database" => database.clone()},
                    );
                    let out = self.answer(&q, user, session, &mut database, format);
                    io.stream.write_all(&out).await.map_err(wr)?;
                }
                0x0e => io.send(1, &w::ok(0)).await.map_err(wr)?,
                0x04 => io.send(1, &w::eof()).await.map_err(wr)?,
                other => {
                    session.emit(
                        EventKind::Command,
                        fields! {"command" => format!("COM_0x{other:02x}"), "user" => user},
                    );
                    io.send(1, &w::err(1047, "08S01", "Unknown command"))
                        .await
                        .map_err(wr)?
                }
            }
        }
    }

    /// Packets answering one query (sequence ids from 1).
    fn answer(
        &self,
        q: &str,
        user: &str,
        session: &Session,
        database: &mut String,
        format: w::ResultFormat,
    ) -> Vec<u8> {
        let norm = q.trim().trim_end_matches(';').trim().to_ascii_lowercase();
        let table = |cols: &[&str], rows: &[Vec<String>]| w::resultset(1, cols, rows, format);
        let one = |col: &str, v: String| table(&[col], &[vec![v]]);
        if norm.contains("@@version_comment") {
            return one("@@version_comment", self.comment.clone());
        }
        if norm == "select version()" || norm == "select @@version" {
            let col = if norm.contains("@@") {
                "@@version"
            } else {
                "version()"
            };
            let v = self.version.trim_start_matches("5.5.5-").to_owned();
            return one(col, v);
        }
        if norm == "select database()" {
            return one("database()", database.clone());
        }
        if norm == "select user()" || norm == "select current_user()" {
            return one(
                if norm.contains("current") {
                    "current_user()"
                } else {
                    "user()"
                },
                format!("{user}@{}", session.peer.ip()),
            );
        }
        if norm == "show databases" || norm == "show schemas" {
            let mut rows: Vec<Vec<String>> =
                ["information_schema", "mysql", "performance_schema", "sys"]
                    .iter()
                    .map(|s| vec![(*s).to_owned()])
                    .collect();
            rows.extend(self.databases.iter().map(|d| vec![d.clone()]));
            rows.sort();
            return table(&["Database"], &rows);
        }
        if norm == "show tables" {
            let rows: Vec<Vec<String>> = ["users", "orders", "sessions", "config"]
                .iter()
                .map(|s| vec![(*s).to_owned()])
                .collect();
            let col = format!(
                "Tables_in_{}",
                if database.is_empty() {
                    "mysql"
                } else {
                    database
                }
            );
            return table(&[&col], &rows);
        }
        if let Some(db) = norm.strip_prefix("use ") {
            *database = db.trim_matches('`').to_owned();
        }
        if norm.starts_with("select") || norm.starts_with("show") {
            return table(&["result"], &[]);
        }
        w::packet(1, &w::ok(0))
    }
}

/// The capability flags at the start of a handshake response, as far as
/// the packet has them (the server reads them before anything else).
fn client_caps(payload: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    let n = payload.len().min(4);
    b[..n].copy_from_slice(&payload[..n]);
    u32::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::version_comment;

    /// Waiting for the next packet (where an idle connection sits) keeps
    /// no scratch buffer in the connection's future.
    #[tokio::test]
    async fn waiting_for_a_packet_keeps_no_buffer_in_the_future() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_client, accepted) = tokio::join!(tokio::net::TcpStream::connect(addr), async {
            listener.accept().await.unwrap().0
        });
        let mut io = super::Io {
            stream: accepted,
            idle: std::time::Duration::from_secs(1),
        };
        assert!(std::mem::size_of_val(&io.read_packet(0)) < 512);
    }

    #[test]
    fn pinned_versions_get_their_builds_comment() {
        for (version, comment) in [
            ("5.5.5-10.11.6-MariaDB-0+deb12u1", "Debian 12"),
            ("5.5.5-10.5.23-MariaDB-0+deb11u1", "Debian 11"),
            ("5.5.5-10.6.16-MariaDB-0ubuntu0.22.04.1", "Ubuntu 22.04"),
            ("5.5.5-11.4.2-MariaDB-ubu2204", "MariaDB Server"),
            (
                "5.5.5-10.11.8-MariaDB-1:10.11.8+maria~ubu2204",
                "mariadb.org binary distribution",
            ),
            ("8.0.36-0ubuntu0.22.04.1", "(Ubuntu)"),
            ("8.0.36", "MySQL Community Server - GPL"),
            ("5.7.44", "MySQL Community Server (GPL)"),
        ] {
            assert_eq!(version_comment(version), comment, "{version}");
        }
    }
}
