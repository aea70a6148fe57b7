//! One connection's view of its decky: stamps decky/service/peer/session
//! on every event it publishes.

use std::net::SocketAddr;
use std::sync::Arc;

use decnet_core::event::credential_fields;
use decnet_core::{Event, EventKind, Fields, Persona};
use uuid::Uuid;

use crate::ctx::{DeckyCtx, Limits};

/// One connection: stamps decky/service/peer/session on every event.
#[derive(Clone)]
pub struct Session {
    /// The decky.
    pub decky: Arc<DeckyCtx>,
    /// Service name.
    pub service: &'static str,
    /// Session id shared by all events of this connection.
    pub id: Uuid,
    /// Attacker address.
    pub peer: SocketAddr,
    /// Decky address and port.
    pub local: SocketAddr,
    /// The fleet's own traffic ([`crate::chatter`]): publishes nothing.
    pub internal: bool,
}

impl Session {
    /// New session for a connection.
    pub fn new(
        decky: Arc<DeckyCtx>,
        service: &'static str,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Self {
        Session {
            decky,
            service,
            id: Uuid::now_v7(),
            peer,
            local,
            internal: crate::chatter::is_chatter(peer),
        }
    }

    /// Builds an event of this session without publishing it.
    pub fn event(&self, kind: EventKind) -> Event {
        let mut e = Event::new(self.decky.spec.name.clone(), self.service, kind);
        e.src_ip = self.peer.ip().to_canonical();
        e.src_port = self.peer.port();
        e.dst_ip = self.local.ip().to_canonical();
        e.dst_port = self.local.port();
        e.session_id = Some(self.id);
        e
    }

    /// Publishes an event with these fields.
    pub fn emit(&self, kind: EventKind, fields: Fields) {
        if self.internal {
            return;
        }
        let mut e = self.event(kind);
        e.fields = fields;
        self.decky.bus.publish_event(e);
    }

    /// Publishes an `auth_attempt` with the standard credential fields plus
    /// `username`/`password` (DECNET names) and any extra fields.
    pub fn emit_auth(
        &self,
        username: &str,
        secret_kind: &str,
        secret: &[u8],
        success: bool,
        mut extra: Fields,
    ) {
        credential_fields(&mut extra, username, secret_kind, secret);
        extra.insert("username".into(), username.into());
        if secret_kind == "password" {
            extra.insert(
                "password".into(),
                decnet_core::event::printable(secret).into(),
            );
        }
        extra.insert("success".into(), success.into());
        self.emit(EventKind::AuthAttempt, extra);
    }

    /// Publishes a `scan` event (`event_type` `probe`) for a line that is
    /// another protocol's probe ([`decnet_core::probe_text::is_probe_text`]):
    /// what a version scanner sent, kept as evidence of the scan instead of
    /// a bogus login or command. `taken_as` says where the line arrived
    /// (`login`, `command`).
    pub fn emit_probe(&self, line: &str, taken_as: &str) {
        let mut f = Fields::new();
        f.insert(decnet_core::compat::EVENT_TYPE.into(), "probe".into());
        f.insert(
            "probe".into(),
            crate::wire::excerpt(line.as_bytes(), 256).into(),
        );
        f.insert("taken_as".into(), taken_as.into());
        self.emit(EventKind::Scan, f);
    }

    /// Publishes an `error` event with a message.
    pub fn emit_error(&self, message: impl Into<String>) {
        let mut f = Fields::new();
        f.insert("error".into(), message.into().into());
        self.emit(EventKind::Error, f);
    }

    /// Publishes what a fake-shell line produced: one `command` event per
    /// line, `file_download` per URL, `auth_attempt` per sudo/su password.
    pub fn emit_shell_events(&self, user: &str, events: &[decnet_shell::ShellEvent]) {
        use decnet_shell::ShellEvent;
        for e in events {
            match e {
                ShellEvent::Command { command } => self.emit(
                    EventKind::Command,
                    crate::fields! {"command" => command.as_str(), "user" => user},
                ),
                ShellEvent::Download { url, tool } => self.emit(
                    EventKind::FileDownload,
                    crate::fields! {"url" => url.as_str(), "tool" => tool.as_str(), "user" => user},
                ),
                ShellEvent::Password {
                    prompt,
                    user: target,
                    password,
                    success,
                } => {
                    let mut extra = Fields::new();
                    extra.insert("prompt".into(), prompt.as_str().into());
                    extra.insert("login_user".into(), user.into());
                    self.emit_auth(target, "password", password.as_bytes(), *success, extra);
                }
                ShellEvent::FileWrite { .. } => {}
            }
        }
    }

    /// Limits of the decky.
    pub fn limits(&self) -> &Limits {
        &self.decky.limits
    }

    /// The decky's persona.
    pub fn persona(&self) -> &Persona {
        &self.decky.persona
    }
}

/// Shorthand to build [`Fields`] from pairs.
#[macro_export]
macro_rules! fields {
    ($($k:expr => $v:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut f = $crate::__Fields::new();
        $( f.insert(($k).to_string(), ::serde_json::Value::from($v)); )*
        f
    }};
}
