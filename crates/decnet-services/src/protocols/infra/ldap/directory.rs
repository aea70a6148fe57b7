//! The fake directory of an LDAP decky: a root DSE like Active Directory
//! or OpenLDAP (by persona), the naming context, People/Groups and a few
//! users, and the small search evaluation the decoy needs.

use decnet_core::Persona;

use crate::wire::ber;

/// An entry of the fake directory.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// Distinguished name.
    pub dn: String,
    /// User attributes: (attribute, values).
    pub attrs: Vec<(String, Vec<String>)>,
    /// Operational attributes (RFC 4512 §3.4), returned only when asked
    /// for by name or with `+`, after the user attributes.
    pub operational: Vec<(String, Vec<String>)>,
}

/// A SearchResultEntry with the wanted attributes: user attributes when
/// none or `*` are named, operational ones with `+`, and any named one.
pub fn entry_pdu(e: &Entry, wanted: &[String]) -> Vec<u8> {
    let all_user = wanted.is_empty() || wanted.iter().any(|a| a == "*");
    let all_operational = wanted.iter().any(|a| a == "+");
    let named = |k: &str| wanted.iter().any(|w| w.eq_ignore_ascii_case(k));
    let mut attrs = Vec::new();
    let user = e.attrs.iter().filter(|(k, _)| all_user || named(k));
    let operational = e
        .operational
        .iter()
        .filter(|(k, _)| all_operational || named(k));
    for (k, vals) in user.chain(operational) {
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

/// True when `dn` is within `scope` (0 base, 1 one level, 2 subtree) of `base`.
pub fn under(dn: &str, base: &str, scope: i64) -> bool {
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
pub fn matches(e: &Entry, filter: &str) -> bool {
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

/// The root DSE of a domain controller (Active Directory).
pub fn ad_root_dse(p: &Persona, base: &str) -> Entry {
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
            ("defaultNamingContext", &[base]),
            ("rootDomainNamingContext", &[base]),
            ("configurationNamingContext", &[&cfg]),
            ("schemaNamingContext", &[&schema]),
            ("namingContexts", &[base, &cfg, &schema]),
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
        operational: Vec::new(),
    }
}

/// The root DSE of Debian 12's slapd 2.5 (back_mdb, cn=config, the
/// SASL mechanisms of Debian's libsasl2 modules): only `objectClass` is a
/// user attribute, the rest comes with `+` or by name.
pub fn openldap_root_dse(base: &str) -> Entry {
    Entry {
        dn: String::new(),
        attrs: attrs(&[("objectClass", &["top", "OpenLDAProotDSE"])]),
        operational: attrs(&[
            ("structuralObjectClass", &["OpenLDAProotDSE"]),
            ("configContext", &["cn=config"]),
            ("namingContexts", &[base]),
            (
                "supportedControl",
                &[
                    "2.16.840.1.113730.3.4.18",
                    "2.16.840.1.113730.3.4.2",
                    "1.3.6.1.4.1.4203.1.10.1",
                    "1.3.6.1.1.22",
                    "1.2.840.113556.1.4.319",
                    "1.2.826.0.1.3344810.2.3",
                    "1.3.6.1.1.13.2",
                    "1.3.6.1.1.13.1",
                    "1.3.6.1.1.12",
                ],
            ),
            (
                "supportedExtension",
                &[
                    "1.3.6.1.4.1.4203.1.11.1",
                    "1.3.6.1.4.1.4203.1.11.3",
                    "1.3.6.1.1.8",
                    "1.3.6.1.1.21.3",
                    "1.3.6.1.1.21.1",
                ],
            ),
            (
                "supportedFeatures",
                &[
                    "1.3.6.1.1.14",
                    "1.3.6.1.4.1.4203.1.5.1",
                    "1.3.6.1.4.1.4203.1.5.2",
                    "1.3.6.1.4.1.4203.1.5.3",
                    "1.3.6.1.4.1.4203.1.5.4",
                    "1.3.6.1.4.1.4203.1.5.5",
                ],
            ),
            ("supportedLDAPVersion", &["3"]),
            (
                "supportedSASLMechanisms",
                &[
                    "SCRAM-SHA-512",
                    "SCRAM-SHA-384",
                    "SCRAM-SHA-256",
                    "SCRAM-SHA-224",
                    "SCRAM-SHA-1",
                    "DIGEST-MD5",
                    "CRAM-MD5",
                    "NTLM",
                ],
            ),
            ("entryDN", &[""]),
            ("subschemaSubentry", &[SUBSCHEMA_DN]),
        ]),
    }
}

/// Where slapd publishes its schema.
pub const SUBSCHEMA_DN: &str = "cn=Subschema";

/// slapd's subschema subentry, without the schema definitions themselves
/// (an attacker who lists them reads Debian's stock core/cosine/nis/
/// inetorgperson schema, which the decoy does not need to serve).
pub fn openldap_subschema() -> Entry {
    Entry {
        dn: SUBSCHEMA_DN.to_owned(),
        attrs: attrs(&[
            (
                "objectClass",
                &["top", "subentry", "subschema", "extensibleObject"],
            ),
            ("cn", &["Subschema"]),
        ]),
        operational: attrs(&[
            ("structuralObjectClass", &["subentry"]),
            ("entryDN", &[SUBSCHEMA_DN]),
            ("subschemaSubentry", &[SUBSCHEMA_DN]),
        ]),
    }
}

/// The naming context, admin, People/Groups, a few users and a group.
pub fn entries(base: &str, mail_domain: &str) -> Vec<Entry> {
    let first_dc = mail_domain.split('.').next().unwrap_or("corp").to_owned();
    let mut entries = vec![
        Entry {
            dn: base.to_owned(),
            operational: Vec::new(),
            attrs: attrs(&[
                ("objectClass", &["top", "dcObject", "organization"]),
                ("o", &[&first_dc]),
                ("dc", &[&first_dc]),
            ]),
        },
        Entry {
            dn: format!("cn=admin,{base}"),
            operational: Vec::new(),
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
            operational: Vec::new(),
            attrs: attrs(&[
                ("objectClass", &["organizationalUnit"]),
                ("ou", &["People"]),
            ]),
        },
        Entry {
            dn: format!("ou=Groups,{base}"),
            operational: Vec::new(),
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
            operational: Vec::new(),
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
        operational: Vec::new(),
    });
    entries
}
