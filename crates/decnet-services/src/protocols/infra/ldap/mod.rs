//! LDAP v3 (RFC 4511): BER-framed messages, simple binds captured (DN +
//! password; SASL mechanism + credentials), anonymous binds accepted like a
//! stock slapd, searches answered from a small persona directory (rootDSE,
//! the naming context, People/Groups and a few users) and logged.
//!
//! A Linux persona answers as Debian's slapd: LDAPv2 binds and
//! unauthenticated binds refused with slapd's texts, the subschema entry,
//! "Who am I?", and a silent close on undecodable input. A Windows persona
//! answers as an Active Directory domain controller's root DSE.
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
use directory::{entry_pdu, matches, under, SUBSCHEMA_DN};

/// Most entries one search returns.
const MAX_RESULTS: usize = 500;

/// The `ldap` service.
pub struct Ldap;

/// The "Who am I?" extended operation (RFC 4532).
const WHOAMI_OID: &str = "1.3.6.1.4.1.4203.1.11.3";

/// Per-decky directory.
pub struct LdapHandler {
    root_dse: Entry,
    /// slapd's subschema subentry; `None` for an Active Directory persona.
    subschema: Option<Entry>,
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
        let (root_dse, subschema) = if crate::product::os_kind(decky) == OsKind::Windows {
            (directory::ad_root_dse(p, &base), None)
        } else {
            (
                directory::openldap_root_dse(&base),
                Some(directory::openldap_subschema()),
            )
        };
        Ok(Arc::new(LdapHandler {
            root_dse,
            subschema,
            login: crate::creds::configured_login(&decky.spec, "ldap", &format!("cn=admin,{base}")),
            entries: directory::entries(&base, &mail_domain),
            base,
        }))
    }
}

/// Notice of disconnection, as Active Directory sends on a decoding error
/// (slapd closes without a word).
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
                                if self.is_slapd() {
                                    return;
                                }
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
    fn is_slapd(&self) -> bool {
        self.subschema.is_some()
    }

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
                if oid == WHOAMI_OID && self.is_slapd() {
                    return (whoami(id, bound_dn), false);
                }
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
        if version != 3 && self.is_slapd() {
            session.emit(
                EventKind::Command,
                fields! {"command" => "bind", "dn" => dn, "version" => version},
            );
            return message(
                id,
                ldap_result(
                    0x61,
                    2,
                    "",
                    "historical protocol version requested, use LDAPv3 instead",
                ),
            );
        }
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
        let unauthenticated = matches!(&auth, BindAuth::Simple(p) if p.is_empty());
        let result = if ok {
            *bound_dn = dn;
            ldap_result(0x61, 0, "", "")
        } else if unauthenticated && self.is_slapd() {
            // slapd refuses RFC 4513 unauthenticated binds unless
            // `allow bind_anon_dn` is configured.
            ldap_result(
                0x61,
                53,
                "",
                "unauthenticated bind (DN with no password) disallowed",
            )
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
        if let Some(schema) = self
            .subschema
            .as_ref()
            .filter(|_| base.eq_ignore_ascii_case(SUBSCHEMA_DN))
        {
            if scope == 0 && matches(schema, filter) {
                out.extend_from_slice(&message(id, entry_pdu(schema, attrs)));
            }
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
        let mut found: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| under(&e.dn, base, scope) && matches(e, filter))
            .take(MAX_RESULTS)
            .collect();
        if scope == 1 {
            // back-mdb lists an entry's children from its dn2id index,
            // ordered by normalised RDN (length first, then bytes); a
            // subtree search comes back in entry-id (creation) order.
            found.sort_by_cached_key(|e| {
                let rdn = e.dn.split(',').next().unwrap_or("").to_ascii_lowercase();
                (rdn.len(), rdn)
            });
        }
        for e in found {
            out.extend_from_slice(&message(id, entry_pdu(e, attrs)));
        }
        out.extend_from_slice(&message(id, ldap_result(0x65, 0, "", "")));
        out
    }
}

/// The "Who am I?" answer: `dn:<bound DN>`, empty for anonymous.
fn whoami(id: i64, bound_dn: &str) -> Vec<u8> {
    let authz = if bound_dn.is_empty() {
        String::new()
    } else {
        format!("dn:{bound_dn}")
    };
    let mut v = ber::int_tlv(0x0a, 0);
    v.extend_from_slice(&ber::tlv(0x04, b""));
    v.extend_from_slice(&ber::tlv(0x04, b""));
    v.extend_from_slice(&ber::tlv(0x8b, authz.as_bytes()));
    message(id, ber::tlv(0x78, &v))
}
