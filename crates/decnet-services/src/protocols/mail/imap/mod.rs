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
mod session;

pub use command::{literal_suffix, parse_command, sequence, Arg, Command, ParseError, Verb};
pub use command::{MAX_ARGS, MAX_LITERAL};

/// The `imap` service.
pub struct Imap;

/// Per-decky IMAP state.
pub struct ImapHandler {
    product: String,
    tls: Option<Arc<TlsIdentity>>,
}

impl Service for Imap {
    fn name(&self) -> &'static str {
        "imap"
    }

    fn validate(
        &self,
        cfg: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        check_bool(cfg, "starttls")
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let tls = super::starttls_identity(decky, "imap")?;
        let product = match decky.persona.distro.os_id {
            "ubuntu" => "Dovecot (Ubuntu) ready.",
            _ => "Dovecot ready.",
        };
        Ok(Arc::new(ImapHandler {
            product: decky.config("imap", "banner").unwrap_or(product).to_owned(),
            tls,
        }))
    }
}

impl Handler for ImapHandler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let c = LineConn::accept(conn, session, self.tls.clone(), "* BAD Line too long\r\n");
            session::ImapSession::new(&self, c).run().await
        })
    }
}

impl ImapHandler {
    fn capability(&self, secure: bool, can_tls: bool, authed: bool) -> String {
        let mut c = String::from("IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+");
        if authed {
            c.push_str(" SORT SORT=DISPLAY THREAD=REFERENCES THREAD=REFS MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS MOVE SPECIAL-USE");
        } else {
            if can_tls && !secure {
                c.push_str(" STARTTLS");
            }
            c.push_str(" AUTH=PLAIN AUTH=LOGIN");
        }
        c
    }
}
