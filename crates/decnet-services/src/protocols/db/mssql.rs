//! Microsoft SQL Server (TDS): PRELOGIN answered with the persona's SQL
//! Server version and "encryption not supported", LOGIN7 decoded with the
//! password de-obfuscated and captured as `password`, error 18456
//! `Login failed for user 'x'.`, and SQL batches logged after a configured
//! login (`[decky.mssql] password = …`, user `sa` by default).

use std::sync::Arc;

use decnet_core::EventKind;
use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::ctx::DeckyCtx;
use crate::io::ReadError;
use crate::product::OsKind;
use crate::session::Session;
use crate::wire::tds::{self, ty};
use crate::{fields, Conn, Handler, Service, ServiceError};

/// The `mssql` service.
pub struct Mssql;

/// Per-decky SQL Server state.
pub struct MssqlHandler {
    major: u8,
    minor: u8,
    build: u16,
    server: String,
    login: Option<(String, String)>,
}

/// (major, minor, build) of the SQL Server a persona runs.
pub fn persona_version(decky: &DeckyCtx) -> (u8, u8, u16) {
    if let Some(v) = decky.config("mssql", "version") {
        let mut it = v.split('.').map(|x| x.parse::<u16>().unwrap_or(0));
        let (a, b, c) = (
            it.next().unwrap_or(15),
            it.next().unwrap_or(0),
            it.next().unwrap_or(2000),
        );
        return (a.min(255) as u8, b.min(255) as u8, c);
    }
    match (crate::product::os_kind(decky), decky.persona.distro.slug) {
        (OsKind::Windows, "windows2022" | "windows11") => (16, 0, 1000),
        (OsKind::Windows, "windows2019") => (15, 0, 2000),
        (OsKind::Windows, _) => (14, 0, 1000),
        _ => (15, 0, 2000),
    }
}

impl Service for Mssql {
    fn name(&self) -> &'static str {
        "mssql"
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let (major, minor, build) = persona_version(decky);
        let server = decky
            .persona
            .hostname
            .split('.')
            .next()
            .unwrap_or("SQL01")
            .to_ascii_uppercase();
        Ok(Arc::new(MssqlHandler {
            major,
            minor,
            build,
            server,
            login: crate::creds::configured_login(&decky.spec, "mssql", "sa"),
        }))
    }
}

#[derive(Debug)]
enum TdsError {
    Read(ReadError),
    Proto(String),
}

impl From<ReadError> for TdsError {
    fn from(e: ReadError) -> Self {
        TdsError::Read(e)
    }
}
impl From<std::io::Error> for TdsError {
    fn from(e: std::io::Error) -> Self {
        TdsError::Read(ReadError::Io(e.to_string()))
    }
}

/// Reads one message (packets until EOM), bounded.
async fn read_message(
    s: &mut TcpStream,
    idle: std::time::Duration,
) -> Result<(u8, Vec<u8>), TdsError> {
    let mut msg = Vec::new();
    loop {
        let mut h = [0u8; 8];
        crate::io::read_exact_idle(s, &mut h, idle).await?;
        let hd = tds::header(h).map_err(|e| TdsError::Proto(e.0))?;
        if msg.len() + hd.payload_len > tds::MAX_MESSAGE {
            return Err(TdsError::Proto("TDS message over limit".into()));
        }
        let start = msg.len();
        msg.resize(start + hd.payload_len, 0);
        crate::io::read_exact_idle(s, &mut msg[start..], idle).await?;
        if hd.eom {
            return Ok((hd.ty, msg));
        }
    }
}

impl Handler for MssqlHandler {
    fn serve_tcp(self: Arc<Self>, mut conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            match self.run(&mut conn.stream, &session).await {
                Ok(()) | Err(TdsError::Read(ReadError::Eof)) => {}
                Err(TdsError::Read(e)) => session.emit_error(format!("mssql: {e}")),
                Err(TdsError::Proto(e)) => session.emit_error(format!("mssql: {e}")),
            }
        })
    }
}

impl MssqlHandler {
    async fn run(&self, s: &mut TcpStream, session: &Session) -> Result<(), TdsError> {
        let idle = session.limits().idle_timeout;
        loop {
            let (t, payload) = read_message(s, idle).await?;
            match t {
                ty::PRELOGIN => {
                    let opts = tds::parse_prelogin(&payload)
                        .map_err(|e| TdsError::Proto(format!("bad PRELOGIN: {}", e.0)))?;
                    let client_ver = opts
                        .iter()
                        .find(|(t, _)| *t == 0)
                        .map(|(_, d)| hex::encode(d))
                        .unwrap_or_default();
                    let enc = opts
                        .iter()
                        .find(|(t, _)| *t == 1)
                        .and_then(|(_, d)| d.first().copied());
                    session.emit(
                        EventKind::Request,
                        fields! {"request" => "PRELOGIN", "client_version" => client_ver, "encryption" => enc.map(u64::from)},
                    );
                    s.write_all(&tds::prelogin_reply(self.major, self.minor, self.build))
                        .await?;
                    if enc == Some(0x03) {
                        // Client requires TLS; it will give up on "not supported".
                        return Ok(());
                    }
                }
                ty::LOGIN7 => {
                    let l = tds::parse_login7(&payload)
                        .map_err(|e| TdsError::Proto(format!("bad LOGIN7: {}", e.0)))?;
                    return self.login(s, session, l).await;
                }
                other => {
                    return Err(TdsError::Proto(format!(
                        "unexpected TDS packet type 0x{other:02x} before login"
                    )));
                }
            }
        }
    }

    async fn login(
        &self,
        s: &mut TcpStream,
        session: &Session,
        l: tds::Login7,
    ) -> Result<(), TdsError> {
        let tds72 = l.tds_version >= 0x7209_0002 || (l.tds_version & 0xff) == 0x74;
        let ok = !l.sspi
            && matches!(&self.login, Some((u, p)) if u.eq_ignore_ascii_case(&l.username) && *p == l.password);
        session.emit_auth(
            &l.username,
            "password",
            l.password.as_bytes(),
            ok,
            fields! {
                "hostname" => l.hostname.clone(),
                "application" => l.appname.clone(),
                "library" => l.library.clone(),
                "server_name" => l.servername.clone(),
                "database" => l.database.clone(),
                "tds_version" => format!("0x{:08x}", l.tds_version),
                "integrated_auth" => l.sspi,
            },
        );
        if !ok {
            let msg = if l.sspi {
                "Login failed. The login is from an untrusted domain and cannot be used with Integrated authentication.".to_owned()
            } else {
                format!("Login failed for user '{}'.", l.username)
            };
            let mut body = tds::error_token(18456, 1, 14, &msg, &self.server);
            body.extend_from_slice(&tds::done(0x0002, tds72));
            s.write_all(&tds::packet(ty::REPLY, &body)).await?;
            return Ok(());
        }
        let db = if l.database.is_empty() {
            "master".to_owned()
        } else {
            l.database.clone()
        };
        let mut body = tds::envchange(1, &db, "master");
        body.extend_from_slice(&tds::envchange(4, "4096", "4096"));
        body.extend_from_slice(&tds::loginack(
            0x7400_0004,
            self.major,
            self.minor,
            self.build,
        ));
        body.extend_from_slice(&tds::done(0, tds72));
        s.write_all(&tds::packet(ty::REPLY, &body)).await?;
        let idle = session.limits().idle_timeout;
        loop {
            let (t, payload) = read_message(s, idle).await?;
            if t == ty::SQL_BATCH {
                let q = tds::sql_batch_text(&payload, tds72);
                let q: String = q.chars().take(8192).collect();
                session.emit(EventKind::Command, fields! {"command" => q, "user" => l.username.clone(), "database" => db.clone()});
            } else {
                session.emit(
                    EventKind::Command,
                    fields! {"command" => format!("TDS_0x{t:02x}"), "user" => l.username.clone()},
                );
            }
            s.write_all(&tds::packet(ty::REPLY, &tds::done(0, tds72)))
                .await?;
        }
    }
}
