//! decnet-services: the protocol framework and the protocol modules.
//!
//! Every protocol has the same shape: a [`Service`] (stateless, registered
//! by name) is bound once per decky into a [`Handler`] (keys, certificates,
//! pages prepared up front), and the [`listener`] runs each accepted
//! connection through `Handler::serve_tcp` with a [`Session`] that stamps
//! and publishes events. Connect/disconnect events, connection caps,
//! panics and shutdown are handled by the framework, never by a protocol.
//!
//! # Layout
//!
//! The crate root is the framework; protocols live under [`protocols`].
//!
//! * Framework: [`listener`] (TCP accept loops, panics, shutdown),
//!   [`admission`] (connection slots per decky and per source),
//!   [`udp`] (the one UDP receive loop: a service only answers datagrams),
//!   [`ctx`] (the decky's context and limits), [`session`] (per-connection
//!   event stamping), [`registry`] (services by name), [`config`]
//!   (`[decky.<service>]` parsing), [`creds`] (which logins a decky
//!   accepts), [`io`] and [`line_conn`] (bounded, timed reading),
//!   [`tls`] (the one TLS front, JA3/JA4), [`artifacts`] (captured files),
//!   [`transcript`] (asciicast recordings), [`product`] (persona → product
//!   family).
//! * [`wire`]: pure decoders/encoders of binary protocols, no I/O and no
//!   service state, so each is proptested and fuzzed on its own.
//! * [`protocols`]: one folder per family — `web` (http, https, and the
//!   REST decoys elasticsearch, docker_api, k8s), `mail` (smtp, pop3,
//!   imap), `files` (ftp, tftp, printer), `db` (mysql, postgres, redis,
//!   mssql, mongodb), `infra` (dns, snmp, ldap, sip, mqtt), `windows` (smb,
//!   rdp, llmnr/nbns, and the shared ntlm), `remote` (telnet, vnc), `ics`
//!   (modbus, s7, conpot). Protocols use the framework and their family's
//!   `mod.rs`, never a protocol of another family.

#[doc(hidden)]
pub use decnet_core::Fields as __Fields;

pub mod admission;
pub mod artifacts;
pub mod chatter;
pub mod config;
pub mod creds;
pub mod ctx;
pub mod io;
pub mod line_conn;
pub mod listener;
pub mod llm;
pub mod product;
pub mod protocols;
pub mod registry;
pub mod session;
pub mod tarpit;
pub mod tls;
pub mod transcript;
pub mod udp;
pub mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use decnet_core::catalog::{self, Transport};
use futures::future::BoxFuture;
use tokio::net::TcpStream;

pub use ctx::{ContentCtx, DeckyCtx, LazyVfs, Limits};
pub use listener::{start_service, RunningService};
pub use registry::Registry;
pub use session::Session;

/// Errors a service can raise when it is bound to a decky.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The `[decky.service]` configuration is wrong.
    #[error("invalid configuration for {service}: {source}")]
    Config {
        /// Service name.
        service: &'static str,
        /// What is wrong.
        source: config::ConfigError,
    },
    /// Preparing keys, certificates or files failed.
    #[error("{service}: {message}")]
    Setup {
        /// Service name.
        service: &'static str,
        /// What failed.
        message: String,
    },
    /// A listening socket could not be opened.
    #[error("cannot listen on {addr}/{transport} for {service}: {source}")]
    Bind {
        /// Service name.
        service: &'static str,
        /// Address.
        addr: SocketAddr,
        /// tcp/udp.
        transport: Transport,
        /// OS error.
        source: std::io::Error,
    },
}

/// An accepted TCP connection.
#[derive(Debug)]
pub struct Conn {
    /// The socket.
    pub stream: TcpStream,
    /// Attacker address.
    pub peer: SocketAddr,
    /// Decky address the attacker connected to.
    pub local: SocketAddr,
    /// The service port this listener was declared for (before any shift).
    pub nominal_port: u16,
}

/// One protocol. Stateless; per-decky state lives in its [`Handler`].
pub trait Service: Send + Sync + 'static {
    /// INI name (`ssh`).
    fn name(&self) -> &'static str;

    /// Listening ports; defaults to the catalog entry.
    fn ports(&self) -> &'static [(Transport, u16)] {
        catalog::service(self.name())
            .map(|s| s.ports)
            .unwrap_or(&[])
    }

    /// Checks `[decky.service]` keys; called by `validate` and before binding.
    fn validate(&self, _cfg: &BTreeMap<String, String>) -> Result<(), config::ConfigError> {
        Ok(())
    }

    /// Prepares the per-decky handler (keys, certificates, pages).
    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError>;
}

/// A service bound to one decky.
pub trait Handler: Send + Sync + 'static {
    /// Runs one TCP connection to completion (EOF, timeout or error).
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        let _ = (conn, session);
        Box::pin(async {})
    }

    /// The datagram side of a UDP service; `None` for TCP-only services.
    /// A UDP handler returns itself: `Some(self)`.
    fn datagram(self: Arc<Self>) -> Option<Arc<dyn udp::DatagramHandler>> {
        None
    }
}
