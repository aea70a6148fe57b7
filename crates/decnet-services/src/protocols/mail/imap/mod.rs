//! IMAP4rev1 (RFC 3501) as a Dovecot persona: LOGIN, AUTHENTICATE
//! PLAIN/LOGIN (SASL-IR), STARTTLS, literals; after a configured login a
//! plausible folder list and INBOX (LIST/SELECT/STATUS/FETCH/SEARCH).
//!
//! `command` parses a line into a [`Command`] and its [`Verb`]; `session`
//! runs one method per verb.

use std::sync::Arc;

use futures::future::BoxFuture;

use crate::config::{check_bool, ConfigError};
use crate::ctx::DeckyCtx;
use crate::line_conn::LineConn;
use crate::session::Session;
use crate::tls::TlsIdentity;
use crate::{Conn, Handler, Service, ServiceError};

mod command;
mod prefix;
mod session;

pub use command::{
    literal_suffix, parse_command, sequence, valid_tag, Arg, Command, ParseError, Verb,
};
pub use command::{MAX_ARGS, MAX_LITERAL};

/// The `imap` service.
pub struct Imap;

/// Per-decky IMAP state.
pub struct ImapHandler {
    product: String,
    tls: Option<Arc<TlsIdentity>>,
    /// LOGIN/AUTHENTICATE accepted before TLS (see [`super::plaintext_auth`]).
    plaintext_auth: bool,
}

impl Service for Imap {
    fn name(&self) -> &'static str {
        "imap"
    }

    fn validate(
        &self,
        cfg: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        check_bool(cfg, "starttls")?;
        check_bool(cfg, "plaintext_auth")
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let tls = super::starttls_identity(decky, "imap")?;
        let product = super::dovecot_greeting(decky);
        Ok(Arc::new(ImapHandler {
            product: decky.config("imap", "banner").unwrap_or(product).to_owned(),
            tls,
            plaintext_auth: super::plaintext_auth(decky, "imap"),
        }))
    }
}

impl Handler for ImapHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            // imap-login drops a client whose line overflows its input
            // buffer (about 1 KiB) as soon as it is full.
            let mut c = LineConn::accept(
                conn,
                session,
                self.tls.clone(),
                "* BYE Input buffer full, aborting\r\n",
            );
            c.close_on_too_long = true;
            c.overflow_at_once = true;
            c.line_cap = super::LOGIN_INPUT_BUFFER;
            session::ImapSession::new(&self, c).run().await
        })
    }
}

impl ImapHandler {
    /// True when a password may be taken on this connection now.
    fn takes_passwords(&self, secure: bool) -> bool {
        secure || self.plaintext_auth
    }

    fn capability(&self, secure: bool, can_tls: bool, authed: bool) -> String {
        let mut c = String::from("IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+");
        if authed {
            c.push_str(" SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS MOVE SPECIAL-USE");
        } else {
            if can_tls && !secure {
                c.push_str(" STARTTLS");
            }
            if self.takes_passwords(secure) {
                c.push_str(" AUTH=PLAIN AUTH=LOGIN");
            } else {
                c.push_str(" LOGINDISABLED");
            }
        }
        c
    }
}
