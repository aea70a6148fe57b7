//! VNC (RFB 3.3/3.7/3.8, 5900): ProtocolVersion per persona, a security
//! types list offering VNC authentication, and the DES challenge/response
//! captured in its crackable form (`$vnc$*CHALLENGE*RESPONSE`, John the
//! Ripper's format). With `[decky.vnc] password = …` a matching response
//! logs in and gets a ServerInit naming the persona's desktop.

use std::sync::Arc;
use std::time::Duration;

use decnet_core::EventKind;
use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::config::ConfigError;
use crate::ctx::DeckyCtx;
use crate::io::{read_exact_idle, read_some_idle};
use crate::session::Session;
use crate::wire::rfb;
use crate::{fields, Conn, Handler, Service, ServiceError};

/// The `vnc` service.
pub struct Vnc;

/// Per-decky VNC state.
pub struct VncHandler {
    version: &'static [u8; 12],
    password: Option<String>,
    desktop: String,
}

/// The ProtocolVersion a persona announces (`[decky.vnc] version = 3.3`
/// overrides): 3.8 on Windows/Linux (RealVNC/TightVNC/x11vnc), 3.3 on
/// embedded devices.
pub fn persona_version(decky: &DeckyCtx) -> &'static [u8; 12] {
    match decky.config("vnc", "version") {
        Some("3.3") => return b"RFB 003.003\n",
        Some("3.7") => return b"RFB 003.007\n",
        Some("3.8") => return b"RFB 003.008\n",
        _ => {}
    }
    if decky.persona.family() == decnet_core::persona::OsFamily::Embedded {
        b"RFB 003.003\n"
    } else {
        b"RFB 003.008\n"
    }
}

impl Service for Vnc {
    fn name(&self) -> &'static str {
        "vnc"
    }

    fn validate(
        &self,
        cfg: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        crate::config::check(cfg, "version", "3.3, 3.7 or 3.8", |v| {
            matches!(v, "3.3" | "3.7" | "3.8")
        })
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let host = decky.persona.hostname.to_uppercase();
        let desktop = match decky.persona.family() {
            decnet_core::persona::OsFamily::Windows => host,
            _ => format!("{}:0 ({})", decky.persona.hostname, "root"),
        };
        Ok(Arc::new(VncHandler {
            version: persona_version(decky),
            password: decky.config("vnc", "password").map(str::to_owned),
            desktop,
        }))
    }
}

/// The RFB failure reason message (3.8 only), after a status word.
fn failure(minor: u8, status: u32, why: &[u8]) -> Vec<u8> {
    let mut out = status.to_be_bytes().to_vec();
    if minor == 8 {
        out.extend_from_slice(&(why.len() as u32).to_be_bytes());
        out.extend_from_slice(why);
    }
    out
}

impl VncHandler {
    async fn serve(self: Arc<Self>, conn: Conn, session: Session) {
        let idle = session.limits().idle_timeout;
        let mut s = conn.stream;
        let Some(minor) = self.negotiate(&mut s, &session, idle).await else {
            return;
        };
        if !self.authenticate(&mut s, &session, idle, minor).await {
            return;
        }
        let mut shared = [0u8; 1];
        if read_exact_idle(&mut s, &mut shared, idle).await.is_err() {
            return;
        }
        let mut out = Vec::new();
        out.extend_from_slice(&1280u16.to_be_bytes());
        out.extend_from_slice(&800u16.to_be_bytes());
        // 32 bpp, depth 24, little endian, true colour, 255/255/255, shifts 16/8/0.
        out.extend_from_slice(&[32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
        out.extend_from_slice(&(self.desktop.len() as u32).to_be_bytes());
        out.extend_from_slice(self.desktop.as_bytes());
        if s.write_all(&out).await.is_err() {
            return;
        }
        // Keep the session open (blank screen); record how much input arrives.
        let mut buf = [0u8; 4096];
        let mut total = 0u64;
        while let Ok(n) = read_some_idle(&mut s, &mut buf, idle).await {
            total += n as u64;
        }
        session.emit(
            EventKind::Command,
            fields! {"command" => "rfb_session", "bytes_in" => total},
        );
    }

    /// ProtocolVersion and security type: the agreed minor version once
    /// VNC authentication was chosen, `None` when the session ends.
    async fn negotiate(&self, s: &mut TcpStream, session: &Session, idle: Duration) -> Option<u8> {
        s.write_all(self.version).await.ok()?;
        let mut v = [0u8; 12];
        read_exact_idle(s, &mut v, idle).await.ok()?;
        let Some((major, minor)) = rfb::version(&v) else {
            session.emit_error(format!(
                "vnc: bad ProtocolVersion {}",
                decnet_core::event::printable(&v)
            ));
            return None;
        };
        let ours = rfb::version(self.version).map(|x| x.1).unwrap_or(8);
        let minor = if major != 3 { ours } else { minor.min(ours) };
        let minor = match minor {
            0..=6 => 3,
            7 => 7,
            _ => 8,
        };
        session.emit(
            EventKind::Request,
            fields! {"request" => "rfb_version", "client_version" => format!("{major}.{minor}")},
        );
        if minor == 3 {
            s.write_all(&2u32.to_be_bytes()).await.ok()?;
            return Some(minor);
        }
        s.write_all(&[1, 2]).await.ok()?;
        let mut t = [0u8; 1];
        read_exact_idle(s, &mut t, idle).await.ok()?;
        if t[0] != 2 {
            session.emit(
                EventKind::Request,
                fields! {"request" => "security_type", "security_type" => t[0] as u64},
            );
            let _ = s
                .write_all(&failure(minor, 1, b"Security type not supported"))
                .await;
            return None;
        }
        Some(minor)
    }

    /// VNC authentication: the DES challenge/response is captured in
    /// hashcat's `$vnc$` form; true when the configured password matched.
    async fn authenticate(
        &self,
        s: &mut TcpStream,
        session: &Session,
        idle: Duration,
        minor: u8,
    ) -> bool {
        let challenge: [u8; 16] = rand::random();
        if s.write_all(&challenge).await.is_err() {
            return false;
        }
        let mut resp = [0u8; 16];
        if read_exact_idle(s, &mut resp, idle).await.is_err() {
            return false;
        }
        let ok = self
            .password
            .as_ref()
            .is_some_and(|p| rfb::vnc_response(p.as_bytes(), &challenge) == resp);
        let line = format!(
            "$vnc$*{}*{}",
            hex::encode_upper(challenge),
            hex::encode_upper(resp)
        );
        session.emit_auth(
            "",
            "vnc_des",
            line.as_bytes(),
            ok,
            fields! {
                "hash" => line.clone(),
                "challenge" => hex::encode(challenge),
                "response" => hex::encode(resp),
            },
        );
        if !ok {
            // Nothing is expected from the client meanwhile; it leaving ends the wait.
            let delay = session.limits().auth_fail_delay;
            if !crate::io::sleep_unless_closed(s, delay, |_| true).await {
                return false;
            }
            let _ = s
                .write_all(&failure(minor, 1, b"Authentication failed"))
                .await;
            return false;
        }
        s.write_all(&0u32.to_be_bytes()).await.is_ok()
    }
}

impl Handler for VncHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(self.serve(conn, session))
    }
}
