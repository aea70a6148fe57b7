//! LDAPv3 messages (RFC 4511) over BER: the requests a decoy must
//! understand (bind, search with its filter rendered in RFC 4515 form,
//! extended, unbind) and the result envelopes it answers with.

use super::ber::{self, Tlv};
use super::{excerpt, WResult, WireError};

/// Largest LDAP message accepted.
pub const MAX_MESSAGE: usize = 64 * 1024;
/// Deepest filter nesting rendered.
pub const MAX_FILTER_DEPTH: usize = 16;

fn s(v: &[u8]) -> String {
    excerpt(v, 1024)
}

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

/// An LDAPResult of operation `tag`.
pub fn ldap_result(tag: u8, code: i64, matched: &str, diag: &str) -> Vec<u8> {
    let mut v = ber::int_tlv(0x0a, code);
    v.extend_from_slice(&ber::tlv(0x04, matched.as_bytes()));
    v.extend_from_slice(&ber::tlv(0x04, diag.as_bytes()));
    ber::tlv(tag, &v)
}

/// An LDAPMessage around an encoded operation.
pub fn message(id: i64, op: Vec<u8>) -> Vec<u8> {
    let mut v = ber::int_tlv(0x02, id);
    v.extend_from_slice(&op);
    ber::tlv(0x30, &v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ber;
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
