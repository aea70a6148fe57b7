//! Mail protocols (smtp, pop3, imap) and what they share: SASL PLAIN/LOGIN
//! exchanges over a [`LineConn`], the login check and the plausible
//! mailbox shown after a login.

pub mod imap;
pub mod pop3;
pub mod smtp;

use base64::Engine;

use std::sync::Arc;

use crate::config::parse_bool;
use crate::creds::Credentials;
use crate::ctx::DeckyCtx;
use crate::line_conn::LineConn;
use crate::tls::TlsIdentity;
use crate::ServiceError;

/// Outcome of a SASL exchange.
#[derive(Debug, PartialEq, Eq)]
pub enum SaslOutcome {
    /// Credentials received.
    Creds {
        /// Username (authcid).
        user: String,
        /// Password bytes.
        pass: Vec<u8>,
    },
    /// Client sent `*`.
    Cancelled,
    /// Undecodable response.
    Malformed,
    /// Connection gone.
    Closed,
}

/// A SASL mechanism we speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mech {
    /// RFC 4616.
    Plain,
    /// The de-facto LOGIN mechanism.
    Login,
}

impl Mech {
    /// Parses a mechanism name.
    pub fn parse(s: &str) -> Option<Mech> {
        if s.eq_ignore_ascii_case("PLAIN") {
            Some(Mech::Plain)
        } else if s.eq_ignore_ascii_case("LOGIN") {
            Some(Mech::Login)
        } else {
            None
        }
    }

    /// Lowercase name for events.
    pub fn name(self) -> &'static str {
        match self {
            Mech::Plain => "plain",
            Mech::Login => "login",
        }
    }
}

/// Decodes a base64 SASL response (whitespace trimmed; `=` is empty).
pub fn b64(data: &[u8]) -> Option<Vec<u8>> {
    let t = data.trim_ascii();
    if t == b"=" {
        return Some(Vec::new());
    }
    base64::engine::general_purpose::STANDARD.decode(t).ok()
}

/// Splits a decoded PLAIN message `authzid\0authcid\0passwd`.
pub fn split_plain(raw: &[u8]) -> Option<(String, Vec<u8>)> {
    let mut parts = raw.splitn(3, |&b| b == 0);
    let _authz = parts.next()?;
    let user = parts.next()?;
    let pass = parts.next()?;
    Some((decnet_core::event::printable(user), pass.to_vec()))
}

/// Strips `@domain` from a mail login, for checking against decky users.
pub fn local_part(user: &str) -> &str {
    user.split('@').next().unwrap_or(user)
}

/// The certificate STARTTLS upgrades to, unless `[decky.<service>]
/// starttls = false`.
pub fn starttls_identity(
    decky: &Arc<DeckyCtx>,
    service: &'static str,
) -> Result<Option<Arc<TlsIdentity>>, ServiceError> {
    let on = decky
        .config(service, "starttls")
        .and_then(parse_bool)
        .unwrap_or(true);
    Ok(match on {
        true => Some(Arc::new(TlsIdentity::for_decky(decky, service, &[])?)),
        false => None,
    })
}

/// The input buffer of Dovecot's login processes (imap-login and
/// pop3-login, `LOGIN_MAX_INBUF_SIZE`): a line that outgrows it gets the
/// "Input buffer full" reply and a hang-up as soon as the buffer fills.
pub const LOGIN_INPUT_BUFFER: usize = 1024;

/// The greeting text of a Dovecot persona: the distributions that patch
/// Dovecot's banner name themselves in it (Debian's package, and Kali and
/// Ubuntu built from it), the others say Dovecot's own `Dovecot ready.`.
pub fn dovecot_greeting(decky: &DeckyCtx) -> &'static str {
    match decky.persona.distro.os_id {
        "debian" | "kali" => "Dovecot (Debian) ready.",
        "ubuntu" => "Dovecot (Ubuntu) ready.",
        _ => "Dovecot ready.",
    }
}

/// Whether a Dovecot persona takes passwords before TLS
/// (`[decky.<service>] plaintext_auth`). Off by default, as Dovecot ships
/// (`disable_plaintext_auth = yes`): the password a client sends anyway is
/// still recorded, only the login is refused.
pub fn plaintext_auth(decky: &DeckyCtx, service: &str) -> bool {
    decky
        .config(service, "plaintext_auth")
        .and_then(parse_bool)
        .unwrap_or(false)
}

/// True when `user`/`pass` is one of the decky's accepted logins for `service`.
pub fn login_ok(decky: &DeckyCtx, service: &str, user: &str, pass: &[u8]) -> bool {
    Credentials::for_service(&decky.spec, service, &["imap", "pop3", "smtp"])
        .check(local_part(user), pass)
}

async fn ask(c: &mut LineConn, prompt: &str, challenge: String) -> Option<Vec<u8>> {
    if !c.send(&format!("{prompt}{challenge}\r\n")).await {
        return None;
    }
    c.read_line("").await
}

/// Runs a SASL PLAIN/LOGIN exchange. `prompt` prefixes server
/// challenges (`"334 "` for SMTP, `"+ "` for IMAP/POP3). `initial` is
/// an initial response sent with the command.
pub async fn sasl(
    c: &mut LineConn,
    mech: Mech,
    initial: Option<&[u8]>,
    prompt: &str,
) -> SaslOutcome {
    let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    match mech {
        Mech::Plain => {
            let resp = match initial {
                Some(r) => r.to_vec(),
                None => match ask(c, prompt, String::new()).await {
                    Some(l) => l,
                    None => return SaslOutcome::Closed,
                },
            };
            if resp.trim_ascii() == b"*" {
                return SaslOutcome::Cancelled;
            }
            match b64(&resp).as_deref().and_then(split_plain) {
                Some((user, pass)) => SaslOutcome::Creds { user, pass },
                None => SaslOutcome::Malformed,
            }
        }
        Mech::Login => {
            let user = match initial {
                Some(r) => r.to_vec(),
                None => match ask(c, prompt, enc("Username:")).await {
                    Some(l) => l,
                    None => return SaslOutcome::Closed,
                },
            };
            if user.trim_ascii() == b"*" {
                return SaslOutcome::Cancelled;
            }
            let Some(user) = b64(&user) else {
                return SaslOutcome::Malformed;
            };
            let pass = match ask(c, prompt, enc("Password:")).await {
                Some(l) => l,
                None => return SaslOutcome::Closed,
            };
            if pass.trim_ascii() == b"*" {
                return SaslOutcome::Cancelled;
            }
            match b64(&pass) {
                Some(pass) => SaslOutcome::Creds {
                    user: decnet_core::event::printable(&user),
                    pass,
                },
                None => SaslOutcome::Malformed,
            }
        }
    }
}

/// A message of the mailbox.
#[derive(Clone, Debug)]
pub struct Message {
    /// Full RFC 5322 text, CRLF line ends.
    pub text: String,
    /// Stable unique id.
    pub uid: u32,
}

/// The mailbox a logged-in user sees: the Maildir of the decky's
/// filesystem (see `decnet_shell::lived`), which the shell, FTP and SMB
/// show too and which fills as the decky's time passes.
pub fn mailbox(decky: &DeckyCtx, user: &str) -> Vec<Message> {
    decnet_shell::lived::mail::messages(&decky.vfs(), user)
        .into_iter()
        .map(|m| Message {
            text: m.text,
            uid: m.uid,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_and_login_decoding() {
        let enc = base64::engine::general_purpose::STANDARD.encode(b"\0alice\0pa:ss");
        let (u, p) = split_plain(&b64(enc.as_bytes()).unwrap()).unwrap();
        assert_eq!(u, "alice");
        assert_eq!(p, b"pa:ss");
        assert_eq!(b64(b"="), Some(vec![]));
        assert!(split_plain(b"nonul").is_none());
        assert_eq!(local_part("root@corp.local"), "root");
        assert_eq!(Mech::parse("login"), Some(Mech::Login));
        assert_eq!(Mech::parse("CRAM-MD5"), None);
    }

    proptest! {
        #[test]
        fn sasl_decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Some(raw) = b64(&data) { let _ = split_plain(&raw); }
            let _ = split_plain(&data);
            let _ = local_part(&String::from_utf8_lossy(&data));
        }
    }
}
