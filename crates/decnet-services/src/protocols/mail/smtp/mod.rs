//! SMTP (RFC 5321) as a Postfix (or Exchange) persona: EHLO with the usual
//! extensions, STARTTLS, AUTH PLAIN/LOGIN captured, and mail accepted and
//! stored whole (capped) as an artifact with its envelope. `smtp` refuses to
//! relay for foreign domains unless the client authenticated with a decky
//! login; `smtp_relay` is the open-relay bait that accepts everything.
//!
//! `command` parses a line into a [`Command`] and its [`Verb`]; `session`
//! runs one method per verb.

use std::sync::Arc;

use decnet_core::OsFamily;
use futures::future::BoxFuture;

use crate::config::{check_bool, ConfigError};
use crate::ctx::DeckyCtx;
use crate::line_conn::LineConn;
use crate::session::Session;
use crate::tls::TlsIdentity;
use crate::{Conn, Handler, Service, ServiceError};

mod command;
mod session;

pub use command::{parse_command, parse_path, Command, Verb};

/// Largest message accepted by default (the SIZE advertised).
pub const DEFAULT_MAX_MESSAGE: usize = 10_240_000;
/// Most recipients of one message.
pub const MAX_RCPT: usize = 100;

/// The `smtp` service ([`Smtp::MTA`], relay denied) and the `smtp_relay`
/// service ([`Smtp::RELAY`], open relay bait): one protocol, two names.
pub struct Smtp {
    open_relay: bool,
}

impl Smtp {
    /// `smtp`: relay denied.
    pub const MTA: Smtp = Smtp { open_relay: false };
    /// `smtp_relay`: relays anything (open relay bait).
    pub const RELAY: Smtp = Smtp { open_relay: true };
}

/// Per-decky SMTP state.
pub struct SmtpHandler {
    service: &'static str,
    open_relay: bool,
    banner: String,
    fqdn: String,
    domain: String,
    max_message: usize,
    exchange: bool,
    /// SASL offered (`[decky.<service>] auth`): Debian's Postfix ships
    /// without it; the relay decoy and Exchange offer it.
    auth: bool,
    tls: Option<Arc<TlsIdentity>>,
}

fn validate(cfg: &std::collections::BTreeMap<String, String>) -> Result<(), ConfigError> {
    if let Some(v) = cfg.get("max_message") {
        v.parse::<usize>().map_err(|_| ConfigError::NotByteCount {
            key: "max_message",
            value: v.clone(),
        })?;
    }
    check_bool(cfg, "starttls")?;
    check_bool(cfg, "auth")
}

fn bind(
    decky: &Arc<DeckyCtx>,
    service: &'static str,
    open_relay: bool,
) -> Result<Arc<dyn Handler>, ServiceError> {
    let p = &decky.persona;
    let fqdn = p.fqdn();
    let exchange = p.distro.family == OsFamily::Windows || p.family() == OsFamily::Windows;
    let banner = match decky.config(service, "banner") {
        Some(b) => b.to_owned(),
        None if exchange => format!(
            "{fqdn} Microsoft ESMTP MAIL Service ready at {}",
            chrono::Utc::now().format("%a, %-d %b %Y %H:%M:%S +0000")
        ),
        None => {
            let tag = match p.distro.os_id {
                "debian" | "kali" => " (Debian/GNU)",
                "ubuntu" => " (Ubuntu)",
                _ => "",
            };
            format!("{fqdn} ESMTP Postfix{tag}")
        }
    };
    let max_message = decky
        .config(service, "max_message")
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_MAX_MESSAGE)
        .min(crate::artifacts::DEFAULT_MAX_ARTIFACT);
    let tls = super::starttls_identity(decky, service)?;
    let auth = decky
        .config(service, "auth")
        .and_then(crate::config::parse_bool)
        .unwrap_or(open_relay || exchange);
    Ok(Arc::new(SmtpHandler {
        service,
        open_relay,
        banner,
        fqdn,
        domain: p.domain.clone(),
        max_message,
        exchange,
        auth,
        tls,
    }))
}

impl Service for Smtp {
    fn name(&self) -> &'static str {
        if self.open_relay {
            "smtp_relay"
        } else {
            "smtp"
        }
    }
    fn validate(
        &self,
        cfg: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        validate(cfg)
    }
    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        bind(decky, self.name(), self.open_relay)
    }
}

impl Handler for SmtpHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let reply = "500 5.5.2 Error: line too long\r\n";
            let c = LineConn::accept(conn, session, self.tls.clone(), reply);
            session::SmtpSession::new(&self, c).run().await
        })
    }
}

impl SmtpHandler {
    fn ehlo_reply(&self, secure: bool, can_tls: bool) -> String {
        let mut exts = vec![
            self.fqdn.clone(),
            "PIPELINING".into(),
            format!("SIZE {}", self.max_message),
            "VRFY".into(),
            "ETRN".into(),
        ];
        if can_tls && !secure {
            exts.push("STARTTLS".into());
        }
        if self.auth {
            exts.push("AUTH PLAIN LOGIN".into());
        }
        if self.exchange {
            exts.push("AUTH=LOGIN".into());
        }
        exts.extend([
            "ENHANCEDSTATUSCODES".into(),
            "8BITMIME".into(),
            "DSN".into(),
        ]);
        if !self.exchange {
            // Postfix 3.x: smtputf8_enable and BDAT on by default.
            exts.extend(["SMTPUTF8".into(), "CHUNKING".into()]);
        }
        let n = exts.len();
        exts.iter()
            .enumerate()
            .map(|(i, e)| format!("250{}{e}\r\n", if i + 1 == n { ' ' } else { '-' }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_validated() {
        assert!(validate(&[("starttls".to_owned(), "maybe".to_owned())].into()).is_err());
        assert!(validate(&[("max_message".to_owned(), "10k".to_owned())].into()).is_err());
        assert!(validate(&[("auth".to_owned(), "sometimes".to_owned())].into()).is_err());
    }
}
