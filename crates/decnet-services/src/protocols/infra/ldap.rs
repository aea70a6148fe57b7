//! LDAP v3 (RFC 4511): BER-framed messages, simple binds captured (DN +
//! password; SASL mechanism + credentials), anonymous binds accepted like a
//! stock slapd, searches answered from a small persona directory (rootDSE,
//! the naming context, People/Groups and a few users) and logged.

use std::sync::Arc;

use decnet_core::EventKind;
use futures::future::BoxFuture;
use tokio::io::AsyncWriteExt;

use crate::ctx::DeckyCtx;
use crate::io::ReadError;
use crate::product::OsKind;
use crate::session::Session;
use crate::wire::ber::{self, Tlv};
use crate::wire::{self, WResult, WireError};
use crate::{fields, Conn, Handler, Service, ServiceError};

/// Largest LDAP message accepted.
pub const MAX_MESSAGE: usize = 64 * 1024;
const MAX_FILTER_DEPTH: usize = 16;

/// A decoded LDAP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// BindRequest.
    Bind {
        /// Protocol version.
        version: i64,
        /// Bind DN.
        dn: String,
        /// Simple password, or SASL (mechanism, credentials).
        auth: BindAuth,
    },
    /// UnbindRequest.
    Unbind,
    /// SearchRequest.
    Search {
        /// Base DN.
        base: String,
        /// 0 base, 1 one level, 2 subtree.
        scope: i64,
        /// Filter in RFC 4515 string form.
        filter: String,
        /// Requested attributes.
        attrs: Vec<String>,
    },
    /// ExtendedRequest (OID).
    Extended(String),
    /// Abandon.
    Abandon,
    /// Any other operation (application tag number).
    Other(u8),
}

/// Bind credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindAuth {
    /// Simple bind password.
    Simple(Vec<u8>),
    /// SASL mechanism and credentials.
    Sasl(String, Vec<u8>),
}

fn s(v: &[u8]) -> String {
    wire::excerpt(v, 1024)
}

/// Decodes one LDAPMessage: (messageID, op).
pub fn decode_message(buf: &[u8]) -> WResult<(i64, Op)> {
    let (msg, _) = ber::read(buf)?;
    if msg.tag != 0x30 {
        return Err(WireError::new("LDAPMessage is not a SEQUENCE"));
    }
    let parts = ber::children(msg.value)?;
    let (id, op) = match parts.as_slice() {
        [id, op, ..] if id.tag == 0x02 => (ber::int(id.value)?, op),
        _ => return Err(WireError::new("LDAPMessage without id and operation")),
    };
    let op = match op.tag {
        0x60 => decode_bind(op)?,
        0x42 => Op::Unbind,
        0x63 => decode_search(op)?,
        0x77 => {
            let oid = ber::children(op.value)?
                .into_iter()
                .find(|t| t.tag == 0x80)
                .map(|t| s(t.value))
                .unwrap_or_default();
            Op::Extended(oid)
        }
        0x50 => Op::Abandon,
        t => Op::Other(t & 0x1f),
    };
    Ok((id, op))
}

fn decode_bind(op: &Tlv<'_>) -> WResult<Op> {
    let p = ber::children(op.value)?;
    let [ver, name, auth, ..] = p.as_slice() else {
        return Err(WireError::new("short BindRequest"));
    };
    let auth = match auth.tag {
        0x80 => BindAuth::Simple(auth.value.to_vec()),
        0xa3 => {
            let c = ber::children(auth.value)?;
            let mech = c.first().map(|t| s(t.value)).unwrap_or_default();
            let cred = c.get(1).map(|t| t.value.to_vec()).unwrap_or_default();
            BindAuth::Sasl(mech, cred)
        }
        t => {
            return Err(WireError::new(format!(
                "unknown bind authentication 0x{t:02x}"
            )))
        }
    };
    Ok(Op::Bind {
        version: ber::int(ver.value)?,
        dn: s(name.value),
        auth,
    })
}

fn decode_search(op: &Tlv<'_>) -> WResult<Op> {
    let p = ber::children(op.value)?;
    let [base, scope, _deref, _size, _time, _types, filter, rest @ ..] = p.as_slice() else {
        return Err(WireError::new("short SearchRequest"));
    };
    let mut f = String::new();
    render_filter(filter, 0, &mut f)?;
    let attrs = match rest.first() {
        Some(a) => ber::children(a.value)?
            .iter()
            .take(64)
            .map(|t| s(t.value))
            .collect(),
        None => Vec::new(),
    };
    Ok(Op::Search {
        base: s(base.value),
        scope: ber::int(scope.value)?,
        filter: f,
        attrs,
    })
}

/// Renders a Filter in RFC 4515 form (bounded depth and length).
pub fn render_filter(t: &Tlv<'_>, depth: usize, out: &mut String) -> WResult<()> {
    if depth > MAX_FILTER_DEPTH {
        return Err(WireError::new("filter nested too deeply"));
    }
    if out.len() > 4096 {
        return Ok(());
    }
    let pair = |v: &[u8]| -> WResult<(String, String)> {
        let c = ber::children(v)?;
        match c.as_slice() {
            [a, b, ..] => Ok((s(a.value), s(b.value))),
            _ => Err(WireError::new("short attribute assertion")),
        }
    };
    match t.tag {
        0xa0..=0xa2 => {
            out.push('(');
            out.push(match t.tag {
                0xa0 => '&',
                0xa1 => '|',
                _ => '!',
            });
            for c in ber::children(t.value)? {
                render_filter(&c, depth + 1, out)?;
            }
            out.push(')');
        }
        0xa3 | 0xa5 | 0xa6 | 0xa8 => {
            let (a, v) = pair(t.value)?;
            let op = match t.tag {
                0xa3 => "=",
                0xa5 => ">=",
                0xa6 => "<=",
                _ => "~=",
            };
            out.push_str(&format!("({a}{op}{v})"));
        }
        0xa4 => {
            let c = ber::children(t.value)?;
            let attr = c.first().map(|x| s(x.value)).unwrap_or_default();
            let mut pat = String::new();
            if let Some(subs) = c.get(1) {
                let subs = ber::children(subs.value)?;
                if subs.first().map(|x| x.tag) != Some(0x80) {
                    pat.push('*');
                }
                for x in &subs {
                    pat.push_str(&s(x.value));
                    if x.tag != 0x82 {
                        pat.push('*');
                    }
                }
            }
            out.push_str(&format!("({attr}={pat})"));
        }
        0x87 => out.push_str(&format!("({}=*)", s(t.value))),
        0xa9 => out.push_str("(extensible)"),
        other => {
            return Err(WireError::new(format!(
                "unknown filter choice 0x{other:02x}"
            )))
        }
    }
    Ok(())
}

fn ldap_result(tag: u8, code: i64, matched: &str, diag: &str) -> Vec<u8> {
    let mut v = ber::int_tlv(0x0a, code);
    v.extend_from_slice(&ber::tlv(0x04, matched.as_bytes()));
    v.extend_from_slice(&ber::tlv(0x04, diag.as_bytes()));
    ber::tlv(tag, &v)
}

fn message(id: i64, op: Vec<u8>) -> Vec<u8> {
    let mut v = ber::int_tlv(0x02, id);
    v.extend_from_slice(&op);
    ber::tlv(0x30, &v)
}

/// An entry of the fake directory.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Distinguished name.
    pub dn: String,
    /// (attribute, values).
    pub attrs: Vec<(String, Vec<String>)>,
}

fn entry_pdu(e: &Entry, wanted: &[String]) -> Vec<u8> {
    let all = wanted.is_empty() || wanted.iter().any(|a| a == "*");
    let mut attrs = Vec::new();
    for (k, vals) in &e.attrs {
        if !all && !wanted.iter().any(|w| w.eq_ignore_ascii_case(k)) {
            continue;
        }
        let mut set = Vec::new();
        for v in vals {
            set.extend_from_slice(&ber::tlv(0x04, v.as_bytes()));
        }
        let mut a = ber::tlv(0x04, k.as_bytes());
        a.extend_from_slice(&ber::tlv(0x31, &set));
        attrs.extend_from_slice(&ber::tlv(0x30, &a));
    }
    let mut v = ber::tlv(0x04, e.dn.as_bytes());
    v.extend_from_slice(&ber::tlv(0x30, &attrs));
    ber::tlv(0x64, &v)
}

/// The `ldap` service.
pub struct Ldap;

/// Per-decky directory.
pub struct LdapHandler {
    root_dse: Entry,
    base: String,
    entries: Vec<Entry>,
    login: Option<(String, String)>,
}

/// `dc=corp,dc=local` for `corp.local`.
pub fn base_dn(domain: &str) -> String {
    domain
        .split('.')
        .filter(|p| !p.is_empty())
        .map(|p| format!("dc={p}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn attrs(pairs: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.iter().map(|x| (*x).to_owned()).collect()))
        .collect()
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
        let first_dc = mail_domain.split('.').next().unwrap_or("corp").to_owned();
        let windows = crate::product::os_kind(decky) == OsKind::Windows;
        let root_dse = if windows {
            let host = p
                .hostname
                .split('.')
                .next()
                .unwrap_or("DC01")
                .to_ascii_uppercase();
            let fqdn = p.fqdn();
            let cfg = format!("CN=Configuration,{base}");
            let schema = format!("CN=Schema,{cfg}");
            let server = format!("CN={host},CN=Servers,CN=Default-First-Site-Name,CN=Sites,{cfg}");
            Entry {
                dn: String::new(),
                attrs: attrs(&[
                    ("defaultNamingContext", &[&base]),
                    ("rootDomainNamingContext", &[&base]),
                    ("configurationNamingContext", &[&cfg]),
                    ("schemaNamingContext", &[&schema]),
                    ("namingContexts", &[&base, &cfg, &schema]),
                    ("dnsHostName", &[&fqdn]),
                    ("serverName", &[&server]),
                    (
                        "ldapServiceName",
                        &[&format!(
                            "{}:{}$@{}",
                            p.domain,
                            host.to_ascii_lowercase(),
                            p.domain.to_ascii_uppercase()
                        )],
                    ),
                    ("supportedLDAPVersion", &["3", "2"]),
                    (
                        "supportedSASLMechanisms",
                        &["GSSAPI", "GSS-SPNEGO", "EXTERNAL", "DIGEST-MD5"],
                    ),
                    ("domainFunctionality", &["7"]),
                    ("forestFunctionality", &["7"]),
                    ("domainControllerFunctionality", &["7"]),
                    ("isGlobalCatalogReady", &["TRUE"]),
                    ("isSynchronized", &["TRUE"]),
                ]),
            }
        } else {
            Entry {
                dn: String::new(),
                attrs: attrs(&[
                    ("objectClass", &["top", "OpenLDAProotDSE"]),
                    ("namingContexts", &[&base]),
                    (
                        "supportedControl",
                        &[
                            "2.16.840.1.113730.3.4.18",
                            "1.3.6.1.4.1.4203.1.10.1",
                            "1.2.840.113556.1.4.319",
                        ],
                    ),
                    (
                        "supportedExtension",
                        &["1.3.6.1.4.1.4203.1.11.1", "1.3.6.1.4.1.4203.1.11.3"],
                    ),
                    ("supportedLDAPVersion", &["3"]),
                    (
                        "supportedSASLMechanisms",
                        &[
                            "SCRAM-SHA-1",
                            "SCRAM-SHA-256",
                            "GS2-IAKERB",
                            "GS2-KRB5",
                            "GSSAPI",
                            "DIGEST-MD5",
                            "NTLM",
                        ],
                    ),
                    ("entryDN", &[""]),
                    ("subschemaSubentry", &["cn=Subschema"]),
                ]),
            }
        };
        let mut entries = vec![
            Entry {
                dn: base.clone(),
                attrs: attrs(&[
                    ("objectClass", &["top", "dcObject", "organization"]),
                    ("o", &[&first_dc]),
                    ("dc", &[&first_dc]),
                ]),
            },
            Entry {
                dn: format!("cn=admin,{base}"),
                attrs: attrs(&[
                    (
                        "objectClass",
                        &["simpleSecurityObject", "organizationalRole"],
                    ),
                    ("cn", &["admin"]),
                    ("description", &["LDAP administrator"]),
                ]),
            },
            Entry {
                dn: format!("ou=People,{base}"),
                attrs: attrs(&[
                    ("objectClass", &["organizationalUnit"]),
                    ("ou", &["People"]),
                ]),
            },
            Entry {
                dn: format!("ou=Groups,{base}"),
                attrs: attrs(&[
                    ("objectClass", &["organizationalUnit"]),
                    ("ou", &["Groups"]),
                ]),
            },
        ];
        for (i, (uid, cn, title)) in [
            ("jsmith", "John Smith", "Systems Administrator"),
            ("mgarcia", "Maria Garcia", "Accountant"),
            ("tnguyen", "Thanh Nguyen", "Developer"),
            ("svc_backup", "Backup Service", "Service account"),
        ]
        .iter()
        .enumerate()
        {
            let uidn = (10001 + i).to_string();
            let mail = format!("{uid}@{mail_domain}");
            let home = format!("/home/{uid}");
            entries.push(Entry {
                dn: format!("uid={uid},ou=People,{base}"),
                attrs: attrs(&[
                    (
                        "objectClass",
                        &["inetOrgPerson", "posixAccount", "shadowAccount"],
                    ),
                    ("uid", &[uid]),
                    ("cn", &[cn]),
                    ("sn", &[cn.split(' ').next_back().unwrap_or(cn)]),
                    ("title", &[title]),
                    ("mail", &[&mail]),
                    ("uidNumber", &[&uidn]),
                    ("gidNumber", &["10000"]),
                    ("homeDirectory", &[&home]),
                    ("loginShell", &["/bin/bash"]),
                ]),
            });
        }
        entries.push(Entry {
            dn: format!("cn=admins,ou=Groups,{base}"),
            attrs: attrs(&[
                ("objectClass", &["posixGroup"]),
                ("cn", &["admins"]),
                ("gidNumber", &["10000"]),
                ("memberUid", &["jsmith", "svc_backup"]),
            ]),
        });
        Ok(Arc::new(LdapHandler {
            root_dse,
            login: crate::creds::configured_login(&decky.spec, "ldap", &format!("cn=admin,{base}")),
            base,
            entries,
        }))
    }
}

fn under(dn: &str, base: &str, scope: i64) -> bool {
    let (dn_l, base_l) = (dn.to_ascii_lowercase(), base.to_ascii_lowercase());
    match scope {
        0 => dn_l == base_l,
        1 => dn_l
            .split_once(',')
            .map(|(_, parent)| parent == base_l)
            .unwrap_or(false),
        _ => dn_l == base_l || dn_l.ends_with(&format!(",{base_l}")),
    }
}

/// Very small filter evaluation: `(attr=value)` equality is honoured (with
/// `*` wildcards), everything else matches.
fn matches(e: &Entry, filter: &str) -> bool {
    let f = filter.trim_start_matches('(').trim_end_matches(')');
    if filter.starts_with("(&") || filter.starts_with("(|") || filter.starts_with("(!") {
        return true;
    }
    let Some((attr, val)) = f.split_once('=') else {
        return true;
    };
    if val == "*" || attr.ends_with(['>', '<', '~']) {
        return true;
    }
    let pat = val.to_ascii_lowercase().into_bytes();
    e.attrs.iter().any(|(k, vs)| {
        k.eq_ignore_ascii_case(attr)
            && vs
                .iter()
                .any(|v| crate::wire::resp::glob(&pat, v.to_ascii_lowercase().as_bytes()))
    })
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
                        match decode_message(&msg) {
                            Err(e) => {
                                session.emit_error(format!("ldap: malformed message: {e}"));
                                // Notice of disconnection, as slapd does on a decoding error.
                                let mut ext = ber::int_tlv(0x0a, 2);
                                ext.extend_from_slice(&ber::tlv(0x04, b""));
                                ext.extend_from_slice(&ber::tlv(0x04, b"decoding error"));
                                ext.extend_from_slice(&ber::tlv(0x8a, b"1.3.6.1.4.1.1466.20036"));
                                let _ = conn
                                    .stream
                                    .write_all(&message(0, ber::tlv(0x78, &ext)))
                                    .await;
                                return;
                            }
                            Ok((id, op)) => {
                                let (out, close) = self.answer(id, op, &session, &mut bound_dn);
                                if conn.stream.write_all(&out).await.is_err() || close {
                                    return;
                                }
                            }
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
    fn answer(&self, id: i64, op: Op, session: &Session, bound_dn: &mut String) -> (Vec<u8>, bool) {
        match op {
            Op::Bind { version, dn, auth } => {
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
                    return (message(id, ldap_result(0x61, 0, "", "")), false);
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
                if ok {
                    *bound_dn = dn;
                    (message(id, ldap_result(0x61, 0, "", "")), false)
                } else if !matches!(auth, BindAuth::Simple(_)) {
                    (
                        message(
                            id,
                            ldap_result(0x61, 7, "", "SASL(-4): no mechanism available: "),
                        ),
                        false,
                    )
                } else {
                    (message(id, ldap_result(0x61, 49, "", "")), false)
                }
            }
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
                let mut out = Vec::new();
                if base.is_empty() && scope == 0 {
                    out.extend_from_slice(&message(id, entry_pdu(&self.root_dse, &attrs)));
                    out.extend_from_slice(&message(id, ldap_result(0x65, 0, "", "")));
                    return (out, false);
                }
                let known = self
                    .entries
                    .iter()
                    .any(|e| e.dn.eq_ignore_ascii_case(&base));
                if !known {
                    let matched = if under(&base, &self.base, 2) {
                        self.base.as_str()
                    } else {
                        ""
                    };
                    out.extend_from_slice(&message(id, ldap_result(0x65, 32, matched, "")));
                    return (out, false);
                }
                for e in self
                    .entries
                    .iter()
                    .filter(|e| under(&e.dn, &base, scope) && matches(e, &filter))
                    .take(500)
                {
                    out.extend_from_slice(&message(id, entry_pdu(e, &attrs)));
                }
                out.extend_from_slice(&message(id, ldap_result(0x65, 0, "", "")));
                (out, false)
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_simple_bind_and_search() {
        // ldapsearch -x -D cn=admin,dc=corp,dc=local -w pw
        let mut bind = ber::int_tlv(0x02, 3);
        bind.extend_from_slice(&ber::tlv(0x04, b"cn=admin,dc=corp,dc=local"));
        bind.extend_from_slice(&ber::tlv(0x80, b"pw"));
        let mut m = ber::int_tlv(0x02, 1);
        m.extend_from_slice(&ber::tlv(0x60, &bind));
        let msg = ber::tlv(0x30, &m);
        assert_eq!(
            decode_message(&msg).unwrap(),
            (
                1,
                Op::Bind {
                    version: 3,
                    dn: "cn=admin,dc=corp,dc=local".into(),
                    auth: BindAuth::Simple(b"pw".to_vec())
                }
            )
        );
        // nmap's LDAPBindReq probe answered with the short-form bind response.
        let probe = [
            0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x02, 0x04, 0x00, 0x80, 0x00,
        ];
        assert!(matches!(
            decode_message(&probe).unwrap(),
            (1, Op::Bind { .. })
        ));
        assert_eq!(
            message(1, ldap_result(0x61, 0, "", "")),
            vec![
                0x30, 0x0c, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00
            ]
        );
        let mut f = String::new();
        let mut and = ber::tlv(0x87, b"objectClass");
        let mut eq = ber::tlv(0x04, b"uid");
        eq.extend_from_slice(&ber::tlv(0x04, b"jsmith"));
        and.extend_from_slice(&ber::tlv(0xa3, &eq));
        let t = ber::tlv(0xa0, &and);
        render_filter(&ber::read(&t).unwrap().0, 0, &mut f).unwrap();
        assert_eq!(f, "(&(objectClass=*)(uid=jsmith))");
    }

    proptest! {
        #[test]
        fn decoder_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_message(&data);
        }

        #[test]
        fn deep_filters_are_refused_not_overflowed(depth in 1usize..200) {
            let mut t = ber::tlv(0x87, b"cn");
            for _ in 0..depth { t = ber::tlv(0xa2, &t); }
            let mut f = String::new();
            let r = render_filter(&ber::read(&t).unwrap().0, 0, &mut f);
            prop_assert_eq!(r.is_ok(), depth <= MAX_FILTER_DEPTH);
        }
    }
}
