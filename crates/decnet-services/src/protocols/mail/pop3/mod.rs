//! POP3 (RFC 1939/2449/5034) as a Dovecot persona: USER/PASS, APOP,
//! AUTH PLAIN/LOGIN and STLS; a configured login opens a small plausible
//! mailbox (STAT/LIST/UIDL/RETR/TOP/DELE).
//!
//! `command` parses a line into a [`Command`] and its [`Verb`]; `session`
//! runs one method per verb.

use std::sync::Arc;

use futures::future::BoxFuture;
use md5::{Digest, Md5};

use crate::config::{check_bool, parse_bool, ConfigError};
use crate::ctx::DeckyCtx;
use crate::line_conn::LineConn;
use crate::session::Session;
use crate::tls::TlsIdentity;
use crate::{Conn, Handler, Service, ServiceError};

mod command;
mod session;

pub use command::{parse_command, Command, Verb};

/// The `pop3` service.
pub struct Pop3;

/// Per-decky POP3 state.
pub struct Pop3Handler {
    greeting: String,
    apop: bool,
    fqdn: String,
    tls: Option<Arc<TlsIdentity>>,
    /// USER/PASS and AUTH accepted before TLS (see [`super::plaintext_auth`]).
    plaintext_auth: bool,
}

impl Service for Pop3 {
    fn name(&self) -> &'static str {
        "pop3"
    }

    fn validate(
        &self,
        cfg: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), ConfigError> {
        check_bool(cfg, "apop")?;
        check_bool(cfg, "starttls")?;
        check_bool(cfg, "plaintext_auth")
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let flag = |k: &str, d: bool| decky.config("pop3", k).and_then(parse_bool).unwrap_or(d);
        let tls = super::starttls_identity(decky, "pop3")?;
        Ok(Arc::new(Pop3Handler {
            greeting: decky
                .config("pop3", "banner")
                .unwrap_or(super::dovecot_greeting(decky))
                .to_owned(),
            apop: flag("apop", false),
            fqdn: decky.persona.fqdn(),
            tls,
            plaintext_auth: super::plaintext_auth(decky, "pop3"),
        }))
    }
}

/// Expected APOP digest: md5(timestamp + password), lowercase hex.
pub fn apop_digest(timestamp: &str, password: &[u8]) -> String {
    let mut h = Md5::new();
    h.update(timestamp.as_bytes());
    h.update(password);
    hex::encode(h.finalize())
}

impl Handler for Pop3Handler {
    fn serve_tcp(self: Arc<Self>, conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            // pop3-login drops a client whose line overflows its input buffer.
            let reply = "-ERR Input buffer full, aborting\r\n";
            let mut c = LineConn::accept(conn, session, self.tls.clone(), reply);
            c.close_on_too_long = true;
            c.overflow_at_once = true;
            c.line_cap = super::LOGIN_INPUT_BUFFER;
            session::Pop3Session::new(&self, c).run().await
        })
    }
}

/// A message's text dot-stuffed for RETR/TOP, the body cut after
/// `max_body_lines` lines when given.
fn dot_stuff(text: &str, max_body_lines: Option<usize>) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_body = false;
    let mut body_lines = 0;
    for line in text.split("\r\n") {
        if in_body {
            if let Some(max) = max_body_lines {
                if body_lines >= max {
                    break;
                }
            }
            body_lines += 1;
        }
        if line.starts_with('.') {
            out.push('.');
        }
        out.push_str(line);
        out.push_str("\r\n");
        if line.is_empty() {
            in_body = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn apop_and_dot_stuffing() {
        // RFC 1939 example digest.
        assert_eq!(
            apop_digest("<1896.697170952@dbc.mtview.ca.us>", b"tanstaaf"),
            "c4c9334bac560ecc979e58001b3e22fb"
        );
        assert_eq!(
            dot_stuff("A: b\r\n\r\n.x\r\nl2\r\nl3", Some(1)),
            "A: b\r\n\r\n..x\r\n"
        );
    }

    proptest! {
        #[test]
        fn dot_stuff_never_panics(line in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = dot_stuff(&String::from_utf8_lossy(&line), Some(2));
        }
    }
}
