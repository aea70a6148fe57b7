//! PostgreSQL: startup packet (an SSLRequest gets `S` and a TLS handshake
//! where the persona's distribution ships its cluster with `ssl = on`, `N`
//! elsewhere; a GSSENCRequest gets the `G` of a GSSAPI-enabled build), md5
//! or SCRAM-SHA-256 authentication captured (user, database, salt,
//! response / proof; hashcat mode 11100 line for md5), the real `password
//! authentication failed for user "x"` error, and, when
//! `[decky.postgres] password = …` lets a login in, queries logged.
//!
//! Error fields name PostgreSQL 15's source lines; a protocol 2 client gets
//! the old text error; a connection the server drops is drained first, so
//! it ends with a FIN as the server's (which read the bytes) does.

use std::sync::Arc;

use base64::Engine;
use decnet_core::EventKind;
use futures::future::BoxFuture;
use rand::Rng;
use tokio::io::AsyncWriteExt;

use crate::config::ConfigError;
use crate::ctx::DeckyCtx;
use crate::io::ReadError;
use crate::product::OsKind;
use crate::session::Session;
use crate::tls::{BoxIo, TlsIdentity};
use crate::wire;
use crate::wire::pg::{self, Startup};
use crate::{fields, Conn, Handler, Service, ServiceError};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;
/// Iterations announced for SCRAM (PostgreSQL's default).
const SCRAM_ITERATIONS: u32 = 4096;

/// The `postgres` service.
pub struct Postgres;

/// Which password exchange the decky asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgAuth {
    /// `AuthenticationMD5Password`.
    Md5,
    /// `AuthenticationSASL` with SCRAM-SHA-256.
    Scram,
}

/// Per-decky PostgreSQL state.
pub struct PostgresHandler {
    version: String,
    auth: PgAuth,
    login: Option<(String, String)>,
    /// Per-user SCRAM salt (stable per decky, like a stored verifier).
    scram_salt: [u8; 16],
    /// TLS for SSLRequest; `None` answers `N`.
    tls: Option<Arc<TlsIdentity>>,
}

/// Server version string a persona would run.
pub fn persona_version(decky: &DeckyCtx) -> String {
    if let Some(v) = decky.config("postgres", "version") {
        return v.to_owned();
    }
    match crate::product::os_kind(decky) {
        OsKind::Debian => "15.6 (Debian 15.6-0+deb12u1)",
        OsKind::Ubuntu => "14.11 (Ubuntu 14.11-0ubuntu0.22.04.1)",
        OsKind::RedHat => "13.14",
        _ => "16.2",
    }
    .to_owned()
}

impl Service for Postgres {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn validate(
        &self,
        cfg: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        crate::config::check(cfg, "auth", "md5 or scram-sha-256", |v| {
            matches!(v, "md5" | "scram-sha-256" | "scram")
        })
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let version = persona_version(decky);
        let auth = match decky.config("postgres", "auth") {
            Some("md5") => PgAuth::Md5,
            Some(_) => PgAuth::Scram,
            // md5 was the default before PostgreSQL 14.
            None if version.starts_with("13") || version.starts_with("12") => PgAuth::Md5,
            None => PgAuth::Scram,
        };
        let scram_salt: [u8; 16] = decnet_core::DeckySeed::new(decky.name(), decky.generation)
            .rng("postgres-scram")
            .gen();
        // Debian and Ubuntu create every cluster with `ssl = on` and the
        // snakeoil certificate; other builds start without TLS.
        let tls = match crate::product::os_kind(decky) {
            OsKind::Debian | OsKind::Ubuntu => {
                Some(Arc::new(TlsIdentity::for_decky(decky, "postgres", &[])?))
            }
            _ => None,
        };
        Ok(Arc::new(PostgresHandler {
            version,
            auth,
            login: crate::creds::configured_login(&decky.spec, "postgres", "postgres"),
            scram_salt,
            tls,
        }))
    }
}

struct Io {
    stream: BoxIo,
    idle: std::time::Duration,
}

#[derive(Debug)]
enum PgError {
    Read(ReadError),
    Proto(String),
}

impl From<ReadError> for PgError {
    fn from(e: ReadError) -> Self {
        PgError::Read(e)
    }
}

impl From<std::io::Error> for PgError {
    fn from(e: std::io::Error) -> Self {
        PgError::Read(ReadError::Io(e.to_string()))
    }
}

impl Io {
    async fn startup(&mut self) -> Result<Vec<u8>, PgError> {
        let mut h = [0u8; 4];
        crate::io::read_exact_idle(&mut self.stream, &mut h, self.idle).await?;
        let len = pg::startup_len(h).map_err(|e| PgError::Proto(e.0))?;
        let mut b = vec![0u8; len];
        crate::io::read_exact_idle(&mut self.stream, &mut b, self.idle).await?;
        Ok(b)
    }

    /// A GSSAPI token packet (4-byte length, at most 16 KiB like the
    /// server's receive buffer).
    async fn gss_token(&mut self) -> Result<Vec<u8>, PgError> {
        let mut h = [0u8; 4];
        crate::io::read_exact_idle(&mut self.stream, &mut h, self.idle).await?;
        let len = u32::from_be_bytes(h) as usize;
        if len > 16 * 1024 {
            return Err(PgError::Proto(format!("GSSAPI token of {len} bytes")));
        }
        let mut b = vec![0u8; len];
        crate::io::read_exact_idle(&mut self.stream, &mut b, self.idle).await?;
        Ok(b)
    }

    async fn message(&mut self) -> Result<(u8, Vec<u8>), PgError> {
        let mut h = [0u8; 5];
        crate::io::read_exact_idle(&mut self.stream, &mut h, self.idle).await?;
        let (ty, len) = pg::message_header(h).map_err(|e| PgError::Proto(e.0))?;
        let mut b = vec![0u8; len];
        crate::io::read_exact_idle(&mut self.stream, &mut b, self.idle).await?;
        Ok((ty, b))
    }
}

fn fatal(code: &str, msg: &str, line: u32, routine: &str) -> Vec<u8> {
    pg::error("FATAL", code, msg, "auth.c", line, routine)
}

/// A FATAL error raised while reading the startup packet, located where
/// the server raises it.
fn startup_fatal(code: &str, msg: &str, line: u32) -> Vec<u8> {
    pg::error(
        "FATAL",
        code,
        msg,
        "postmaster.c",
        line,
        "ProcessStartupPacket",
    )
}

impl Handler for PostgresHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut io = Io {
                stream: Box::new(conn.stream),
                idle: session.limits().idle_timeout,
            };
            match self.run(&mut io, &session).await {
                Ok(()) | Err(PgError::Read(ReadError::Eof)) => {}
                Err(PgError::Read(e)) => session.emit_error(format!("postgres: {e}")),
                Err(PgError::Proto(e)) => {
                    session.emit_error(format!("postgres: {e}"));
                }
            }
            crate::io::drain_pending(&mut io.stream).await;
        })
    }
}

impl PostgresHandler {
    async fn run(&self, io: &mut Io, session: &Session) -> Result<(), PgError> {
        let Some(params) = self.negotiate_startup(io, session).await? else {
            return Ok(());
        };
        let get = |k: &str| {
            params
                .iter()
                .find(|(pk, _)| pk == k)
                .map(|(_, v)| v.clone())
        };
        // The StartupMessage is logged on its own: a client that leaves
        // before (or instead of) sending a password still left its user,
        // database and application behind.
        session.emit(
            EventKind::Request,
            fields! {
                decnet_core::compat::EVENT_TYPE => "startup",
                "user" => get("user").unwrap_or_default(),
                // DECNET's field name.
                "username" => get("user").unwrap_or_default(),
                "database" => get("database").unwrap_or_default(),
                "application_name" => get("application_name").unwrap_or_default(),
                "params" => params.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(","),
            },
        );
        let Some(user) = get("user") else {
            io.stream
                .write_all(&startup_fatal(
                    "28000",
                    "no PostgreSQL user name specified in startup packet",
                    2351,
                ))
                .await?;
            return Ok(());
        };
        let database = get("database").unwrap_or_else(|| user.clone());
        let app = get("application_name").unwrap_or_default();
        let ok = match self.auth {
            PgAuth::Md5 => self.md5(io, session, &user, &database, &app).await?,
            PgAuth::Scram => self.scram(io, session, &user, &database, &app).await?,
        };
        if !ok {
            let msg = format!("password authentication failed for user \"{user}\"");
            io.stream
                .write_all(&fatal("28P01", &msg, 326, "auth_failed"))
                .await?;
            return Ok(());
        }
        self.ready(io, &user, &app).await?;
        self.query_loop(io, session, &user, &database).await
    }

    /// Reads the startup packet, answering the SSL/GSSENC requests that may
    /// precede it; `None` when the connection ends before one arrives.
    async fn negotiate_startup(
        &self,
        io: &mut Io,
        session: &Session,
    ) -> Result<Option<Vec<(String, String)>>, PgError> {
        // SSL / GSSENC requests may precede the real startup packet.
        let mut encrypted = false;
        loop {
            let body = io.startup().await?;
            match pg::parse_startup(&body) {
                Ok(Startup::Ssl) if !encrypted => match &self.tls {
                    Some(tls) => {
                        let ready = tls
                            .ready()
                            .await
                            .map_err(|e| PgError::Proto(e.to_string()))?;
                        io.stream.write_all(b"S").await?;
                        let plain = std::mem::replace(&mut io.stream, Box::new(tokio::io::empty()));
                        let (hello, res) =
                            crate::tls::accept(&ready.acceptor, plain, io.idle).await;
                        if let Some(h) = &hello {
                            crate::tls::Tagged::new(session.clone()).record_hello(h, true);
                        }
                        io.stream = Box::new(res.map_err(|e| PgError::Proto(e.to_string()))?);
                        encrypted = true;
                    }
                    None => io.stream.write_all(b"N").await?,
                },
                Ok(Startup::GssEnc) if !encrypted => {
                    // Debian's build has GSSAPI: it agrees, then fails to
                    // accept the client's token (no keytab) and hangs up.
                    io.stream.write_all(b"G").await?;
                    let _ = io.gss_token().await;
                    return Err(PgError::Proto(
                        "GSSAPI encryption requested, no keytab".into(),
                    ));
                }
                Ok(Startup::Ssl) | Ok(Startup::GssEnc) => {
                    io.stream
                        .write_all(&startup_fatal(
                            "0A000",
                            "unsupported frontend protocol 1234.5679: server supports 3.0 to 3.0",
                            2222,
                        ))
                        .await?;
                    return Ok(None);
                }
                Ok(Startup::Cancel) => return Ok(None),
                Ok(Startup::V3(p)) => return Ok(Some(p)),
                Ok(Startup::Other(major, minor)) => {
                    session.emit_error(format!(
                        "postgres: unsupported frontend protocol {major}.{minor}"
                    ));
                    io.stream
                        .write_all(&unsupported_protocol(major, minor))
                        .await?;
                    return Ok(None);
                }
                Err(e) => {
                    io.stream
                        .write_all(&startup_fatal(
                            "08P01",
                            "invalid startup packet layout: expected terminator as last byte",
                            2164,
                        ))
                        .await?;
                    return Err(PgError::Proto(format!("bad startup packet: {e}")));
                }
            }
        }
    }

    async fn md5(
        &self,
        io: &mut Io,
        session: &Session,
        user: &str,
        db: &str,
        app: &str,
    ) -> Result<bool, PgError> {
        let salt: [u8; 4] = rand::thread_rng().gen();
        io.stream.write_all(&pg::auth(5, &salt)).await?;
        let (ty, body) = io.message().await?;
        if ty != b'p' {
            return Err(PgError::Proto(format!(
                "expected password message, got 0x{ty:02x}"
            )));
        }
        let resp = wire::excerpt(body.strip_suffix(b"\0").unwrap_or(&body), 256);
        let ok = match &self.login {
            Some((u, p)) => u == user && pg::md5_response(user, p, &salt) == resp,
            None => false,
        };
        session.emit_auth(
            user,
            "postgres_md5",
            resp.as_bytes(),
            ok,
            fields! {
                "database" => db,
                "application_name" => app,
                "salt" => hex::encode(salt),
                "response" => resp.clone(),
                "hashcat" => pg::hashcat_11100(user, &salt, &resp),
                "hashcat_mode" => 11100u64,
            },
        );
        Ok(ok)
    }

    async fn scram(
        &self,
        io: &mut Io,
        session: &Session,
        user: &str,
        db: &str,
        app: &str,
    ) -> Result<bool, PgError> {
        io.stream
            .write_all(&pg::auth(10, b"SCRAM-SHA-256\0\0"))
            .await?;
        let (ty, body) = io.message().await?;
        if ty != b'p' {
            return Err(PgError::Proto(format!(
                "expected SASLInitialResponse, got 0x{ty:02x}"
            )));
        }
        let (mech, first) = pg::parse_sasl_initial(&body).map_err(|e| PgError::Proto(e.0))?;
        if mech != "SCRAM-SHA-256" {
            io.stream
                .write_all(&fatal(
                    "08P01",
                    "client selected an invalid SASL authentication mechanism",
                    1000,
                    "CheckSASLAuth",
                ))
                .await?;
            return Err(PgError::Proto(format!("unsupported SASL mechanism {mech}")));
        }
        let (_gs2, first_bare, cnonce) =
            pg::scram_client_first(&first).map_err(|e| PgError::Proto(e.0))?;
        let snonce_raw: [u8; 18] = rand::thread_rng().gen();
        let nonce = format!("{cnonce}{}", B64.encode(snonce_raw));
        let server_first = format!(
            "r={nonce},s={},i={SCRAM_ITERATIONS}",
            B64.encode(self.scram_salt)
        );
        io.stream
            .write_all(&pg::auth(11, server_first.as_bytes()))
            .await?;
        let (ty, body) = io.message().await?;
        if ty != b'p' {
            return Err(PgError::Proto(format!(
                "expected SASLResponse, got 0x{ty:02x}"
            )));
        }
        let (without_proof, fnonce, proof_b64) =
            pg::scram_client_final(&body).map_err(|e| PgError::Proto(e.0))?;
        let proof = B64.decode(proof_b64.as_bytes()).unwrap_or_default();
        let auth_message = format!("{first_bare},{server_first},{without_proof}");
        let mut server_final = None;
        let ok = match self.login.clone() {
            Some((u, p)) if u == user && fnonce == nonce && proof.len() == 32 => {
                let salt = self.scram_salt;
                let am = auth_message.clone();
                let (ck, sk, svk) = tokio::task::spawn_blocking(move || {
                    pg::scram_keys(&p, &salt, SCRAM_ITERATIONS)
                })
                .await
                .map_err(|e| PgError::Proto(e.to_string()))?;
                let sig = pg::hmac256(&sk, am.as_bytes());
                let expect: Vec<u8> = ck.iter().zip(sig.iter()).map(|(a, b)| a ^ b).collect();
                server_final = Some(format!(
                    "v={}",
                    B64.encode(pg::hmac256(&svk, am.as_bytes()))
                ));
                expect == proof
            }
            _ => false,
        };
        session.emit_auth(
            user,
            "postgres_scram_sha256",
            proof_b64.as_bytes(),
            ok,
            fields! {
                "database" => db,
                "application_name" => app,
                "salt" => B64.encode(self.scram_salt),
                "iterations" => SCRAM_ITERATIONS as u64,
                "client_nonce" => cnonce.clone(),
                "nonce" => nonce.clone(),
                "client_first" => first_bare.clone(),
                "server_first" => server_first.clone(),
                "client_final" => without_proof.clone(),
                "proof" => proof_b64.clone(),
            },
        );
        if ok {
            if let Some(f) = server_final {
                io.stream.write_all(&pg::auth(12, f.as_bytes())).await?;
            }
        }
        Ok(ok)
    }

    async fn ready(&self, io: &mut Io, user: &str, app: &str) -> Result<(), PgError> {
        let mut out = pg::auth(0, &[]);
        for (k, v) in [
            ("application_name", app),
            ("client_encoding", "UTF8"),
            ("DateStyle", "ISO, MDY"),
            ("default_transaction_read_only", "off"),
            ("in_hot_standby", "off"),
            ("integer_datetimes", "on"),
            ("IntervalStyle", "postgres"),
            (
                "is_superuser",
                if user == "postgres" { "on" } else { "off" },
            ),
            ("server_encoding", "UTF8"),
            ("server_version", &self.version),
            ("session_authorization", user),
            ("standard_conforming_strings", "on"),
            ("TimeZone", "Etc/UTC"),
        ] {
            out.extend_from_slice(&pg::param(k, v));
        }
        let mut key = Vec::new();
        key.extend_from_slice(&rand::thread_rng().gen_range(1000u32..60000).to_be_bytes());
        key.extend_from_slice(&rand::thread_rng().gen::<u32>().to_be_bytes());
        out.extend_from_slice(&pg::msg(b'K', &key));
        out.extend_from_slice(&pg::msg(b'Z', b"I"));
        io.stream.write_all(&out).await?;
        Ok(())
    }

    fn answer(&self, q: &str, user: &str, db: &str) -> Vec<u8> {
        let norm = q.trim().trim_end_matches(';').trim().to_ascii_lowercase();
        let one = |col: &str, v: &str| {
            let mut o = pg::row_description(&[col]);
            o.extend_from_slice(&pg::data_row(&[v]));
            o.extend_from_slice(&pg::msg(b'C', b"SELECT 1\0"));
            o
        };
        if norm.is_empty() {
            return pg::msg(b'I', b"");
        }
        if norm == "select version()" {
            let v = format!(
                "PostgreSQL {} on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14) 12.2.0, 64-bit",
                self.version.split_whitespace().next().unwrap_or("15.6")
            );
            return one("version", &v);
        }
        if norm == "select current_user" || norm == "select user" {
            return one("current_user", user);
        }
        if norm == "select current_database()" {
            return one("current_database", db);
        }
        let word = norm
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        if word == "SELECT" || word == "SHOW" {
            let mut o = pg::row_description(&["?column?"]);
            o.extend_from_slice(&pg::msg(b'C', b"SELECT 0\0"));
            return o;
        }
        let tag = match word.as_str() {
            "INSERT" => "INSERT 0 1".to_owned(),
            "UPDATE" | "DELETE" => format!("{word} 0"),
            w => w.to_owned(),
        };
        let mut t = tag.into_bytes();
        t.push(0);
        pg::msg(b'C', &t)
    }

    async fn query_loop(
        &self,
        io: &mut Io,
        session: &Session,
        user: &str,
        db: &str,
    ) -> Result<(), PgError> {
        loop {
            let (ty, body) = io.message().await?;
            match ty {
                b'X' => return Ok(()),
                b'Q' => {
                    let q = wire::excerpt(body.strip_suffix(b"\0").unwrap_or(&body), 8192);
                    session.emit(
                        EventKind::Command,
                        fields! {"command" => q.clone(), "user" => user, "database" => db},
                    );
                    let mut out = self.answer(&q, user, db);
                    out.extend_from_slice(&pg::msg(b'Z', b"I"));
                    io.stream.write_all(&out).await?;
                }
                b'P' => {
                    // Parse: name\0 query\0 …
                    let mut c = wire::Cursor::new(&body);
                    let _ = c.cstr();
                    let q = wire::excerpt(c.cstr_or_rest(), 8192);
                    session.emit(EventKind::Command, fields! {"command" => q, "user" => user, "database" => db, "extended" => true});
                    io.stream.write_all(&pg::msg(b'1', b"")).await?;
                }
                b'B' => io.stream.write_all(&pg::msg(b'2', b"")).await?,
                b'D' => {
                    let mut o = pg::msg(b't', &0u16.to_be_bytes());
                    o.extend_from_slice(&pg::msg(b'n', b""));
                    io.stream.write_all(&o).await?
                }
                b'E' => io.stream.write_all(&pg::msg(b'C', b"SELECT 0\0")).await?,
                b'C' => io.stream.write_all(&pg::msg(b'3', b"")).await?,
                b'S' => io.stream.write_all(&pg::msg(b'Z', b"I")).await?,
                b'H' => {}
                other => {
                    session.emit_error(format!("postgres: unexpected message type 0x{other:02x}"));
                    io.stream
                        .write_all(&pg::error(
                            "FATAL",
                            "08P01",
                            &format!("invalid frontend message type {other}"),
                            "postgres.c",
                            4718,
                            "PostgresMain",
                        ))
                        .await?;
                    return Ok(());
                }
            }
        }
    }
}
/// The reply to a startup packet of a protocol other than 3.0. Protocol
/// 0 reads as "not negotiated yet": the server answers it in the current
/// format, like any major >= 3.
fn unsupported_protocol(major: u16, minor: u16) -> Vec<u8> {
    let msg = format!("unsupported frontend protocol {major}.{minor}: server supports 3.0 to 3.0");
    if (1..3).contains(&major) {
        pg::error_v2("FATAL", &msg)
    } else {
        startup_fatal("0A000", &msg, 2222)
    }
}
