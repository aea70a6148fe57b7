//! LDAP v3 (RFC 4511): BER-framed messages, simple binds captured (DN +
//! password; SASL mechanism + credentials), anonymous binds accepted like a
//! stock slapd, searches answered from a small persona directory (rootDSE,
//! the naming context, People/Groups and a few users) and logged.
//!
//! Messages are decoded by [`crate::wire::ldap`] into an [`Op`]; each
//! operation has its own method here; the directory is in `directory`.

use std::sync::Arc;

use decnet_core::EventKind;
use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;

use crate::ctx::DeckyCtx;
use crate::io::ReadError;
use crate::product::OsKind;
use crate::session::Session;
use crate::wire::ber;
use crate::wire::ldap::{decode_message, ldap_result, message, BindAuth, Op, MAX_MESSAGE};
use crate::{fields, Conn, Handler, Service, ServiceError};

mod directory;

pub use directory::{base_dn, Entry};
use directory::{entry_pdu, matches, under};

/// Most entries one search returns.
const MAX_RESULTS: usize = 500;

/// The `ldap` service.
pub struct Ldap;

/// Per-decky directory.
pub struct LdapHandler {
    root_dse: Entry,
    base: String,
    entries: Vec<Entry>,
    login: Option<(String, String)>,
}

impl Service for Ldap {
    fn name(&self) -> &'static str {
        "ldap"
    }

    fn bind(&self, decky: &Arc<DeckyCtx>) -> Result<Arc<dyn Handler>, ServiceError> {
        let p = &decky.persona;
        let base = decky
            .config("ldap", "base_dn")
            .map(str::to_owned)
            .unwrap_or_else(|| base_dn(&p.domain));
        let mail_domain: String = base
            .split(',')
            .filter_map(|rdn| {
                rdn.trim()
                    .strip_prefix("dc=")
                    .or_else(|| rdn.trim().strip_prefix("DC="))
            })
            .collect::<Vec<_>>()
            .join(".");
        let root_dse = if crate::product::os_kind(decky) == OsKind::Windows {
            directory::ad_root_dse(p, &base)
        } else {
            directory::openldap_root_dse(&base)
        };
        Ok(Arc::new(LdapHandler {
            root_dse,
            login: crate::creds::configured_login(&decky.spec, "ldap", &format!("cn=admin,{base}")),
            entries: directory::entries(&base, &mail_domain),
            base,
        }))
    }
}

/// Notice of disconnection, as slapd sends on a decoding error.
fn notice_of_disconnection() -> Vec<u8> {
    let mut ext = ber::int_tlv(0x0a, 2);
    ext.extend_from_slice(&ber::tlv(0x04, b""));
    ext.extend_from_slice(&ber::tlv(0x04, b"decoding error"));
    ext.extend_from_slice(&ber::tlv(0x8a, b"1.3.6.1.4.1.1466.20036"));
    message(0, ber::tlv(0x78, &ext))
}

impl Handler for LdapHandler {
    fn serve_tcp(self: Arc<Self>, mut conn: Conn, session: Session) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let idle = session.limits().idle_timeout;
            let mut buf = Vec::with_capacity(512);
            let mut chunk = [0u8; 4096];
            let mut bound_dn = String::new();
            loop {
                match ber::frame_len(&buf, MAX_MESSAGE) {
                    Err(e) => {
                        session.emit_error(format!("ldap: {e}"));
                        return;
                    }
                    Ok(Some(n)) => {
                        let msg: Vec<u8> = buf.drain(..n).collect();
                        let (out, close) = match decode_message(&msg) {
                            Err(e) => {
                                session.emit_error(format!("ldap: malformed message: {e}"));
                                (notice_of_disconnection(), true)
                            }
                            Ok((id, op)) => self.answer(id, op, &session, &mut bound_dn),
                        };
                        if conn.stream.write_all(&out).await.is_err() || close {
                            return;
                        }
                        continue;
                    }
                    Ok(None) => {}
                }
                match crate::io::read_some_idle(&mut conn.stream, &mut chunk, idle).await {
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(ReadError::Eof) => return,
                    Err(e) => {
                        session.emit_error(format!("ldap: {e}"));
                        return;
                    }
                }
            }
        })
    }
}

impl LdapHandler {
    /// Answers one operation: (bytes to send, close afterwards).
    fn answer(&self, id: i64, op: Op, session: &Session, bound_dn: &mut String) -> (Vec<u8>, bool) {
        match op {
            Op::Bind { version, dn, auth } => (
                self.bind_op(id, version, dn, auth, session, bound_dn),
                false,
            ),
            Op::Unbind => (Vec::new(), true),
            Op::Abandon => (Vec::new(), false),
            Op::Search {
                base,
                scope,
                filter,
                attrs,
            } => {
                session.emit(
                    EventKind::Command,
                    fields! {
                        "command" => format!("search base=\"{base}\" scope={scope} filter={filter}"),
                        "base" => base.clone(),
                        "scope" => scope,
                        "filter" => filter.clone(),
                        "attributes" => attrs.join(","),
                        "bound_dn" => bound_dn.clone(),
                    },
                );
                (self.search(id, &base, scope, &filter, &attrs), false)
            }
            Op::Extended(oid) => {
                session.emit(
                    EventKind::Command,
                    fields! {"command" => format!("extended {oid}"), "oid" => oid.clone()},
                );
                let mut v = ber::int_tlv(0x0a, 2);
                v.extend_from_slice(&ber::tlv(0x04, b""));
                v.extend_from_slice(&ber::tlv(0x04, b"unsupported extended operation"));
                (message(id, ber::tlv(0x78, &v)), false)
            }
            Op::Other(n) => {
                session.emit(
                    EventKind::Command,
                    fields! {"command" => format!("operation {n}")},
                );
                // Modify/Add/Delete/ModDN/Compare responses are tag n+1.
                let resp_tag = 0x60 | ((n + 1) & 0x1f);
                (message(id, ldap_result(resp_tag, 50, "", "")), false)
            }
        }
    }

    /// A bind: anonymous accepted, the configured login accepted, the rest
    /// recorded and refused as slapd would.
    fn bind_op(
        &self,
        id: i64,
        version: i64,
        dn: String,
        auth: BindAuth,
        session: &Session,
        bound_dn: &mut String,
    ) -> Vec<u8> {
        let (kind, secret, mech) = match &auth {
            BindAuth::Simple(p) => ("password", p.clone(), String::new()),
            BindAuth::Sasl(m, c) => ("ldap_sasl", c.clone(), m.clone()),
        };
        if dn.is_empty() && secret.is_empty() && mech.is_empty() {
            session.emit(
                EventKind::Command,
                fields! {"command" => "anonymous bind", "version" => version},
            );
            bound_dn.clear();
            return message(id, ldap_result(0x61, 0, "", ""));
        }
        let ok = matches!(&auth, BindAuth::Simple(p)
            if matches!(&self.login, Some((u, pw)) if u.eq_ignore_ascii_case(&dn) && pw.as_bytes() == p.as_slice()));
        session.emit_auth(
            &dn,
            kind,
            &secret,
            ok,
            fields! {"dn" => dn.clone(), "version" => version, "sasl_mechanism" => mech},
        );
        let result = if ok {
            *bound_dn = dn;
            ldap_result(0x61, 0, "", "")
        } else if !matches!(auth, BindAuth::Simple(_)) {
            ldap_result(0x61, 7, "", "SASL(-4): no mechanism available: ")
        } else {
            ldap_result(0x61, 49, "", "")
        };
        message(id, result)
    }

    /// A search: the root DSE, or the entries under a known base.
    fn search(&self, id: i64, base: &str, scope: i64, filter: &str, attrs: &[String]) -> Vec<u8> {
        let mut out = Vec::new();
        if base.is_empty() && scope == 0 {
            out.extend_from_slice(&message(id, entry_pdu(&self.root_dse, attrs)));
            out.extend_from_slice(&message(id, ldap_result(0x65, 0, "", "")));
            return out;
        }
        if !self.entries.iter().any(|e| e.dn.eq_ignore_ascii_case(base)) {
            let matched = if under(base, &self.base, 2) {
                self.base.as_str()
            } else {
                ""
            };
            out.extend_from_slice(&message(id, ldap_result(0x65, 32, matched, "")));
            return out;
        }
        for e in self
            .entries
            .iter()
            .filter(|e| under(&e.dn, base, scope) && matches(e, filter))
            .take(MAX_RESULTS)
        {
            out.extend_from_slice(&message(id, entry_pdu(e, attrs)));
        }
        out.extend_from_slice(&message(id, ldap_result(0x65, 0, "", "")));
        out
    }
}
