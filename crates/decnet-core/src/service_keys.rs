//! Every `[decky.<service>]` key decnet reads, and every per-service key
//! DECNET's INI accepts, with what decnet does with it.
//!
//! The fleet validator warns (naming the line and the key) about a DECNET
//! key decnet does not implement and about any key neither project knows
//! (typo protection), so no key is ever silently ignored. Keep this table
//! in step with the services: a key a service starts reading goes here.

/// What decnet does with a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStatus {
    /// Read by the service; `values`, when given, are the values it can
    /// act on (others are warned about).
    Honoured {
        /// Accepted values, `None` for free-form.
        values: Option<&'static [&'static str]>,
    },
    /// A DECNET key decnet does not implement; the text says what decnet
    /// does instead.
    Unsupported(&'static str),
}

/// One key of one service (`*`: every service).
#[derive(Debug)]
pub struct ServiceKey {
    /// Service name, or `*` for keys every service section may carry.
    pub service: &'static str,
    /// Key name.
    pub key: &'static str,
    /// Whether DECNET's INI has this key for this service.
    pub decnet: bool,
    /// What decnet does with it.
    pub status: KeyStatus,
}

const FREE: KeyStatus = KeyStatus::Honoured { values: None };

const fn ours(service: &'static str, key: &'static str) -> ServiceKey {
    ServiceKey {
        service,
        key,
        decnet: false,
        status: FREE,
    }
}

const fn shared(service: &'static str, key: &'static str) -> ServiceKey {
    ServiceKey {
        service,
        key,
        decnet: true,
        status: FREE,
    }
}

const fn theirs(service: &'static str, key: &'static str, why: &'static str) -> ServiceKey {
    ServiceKey {
        service,
        key,
        decnet: true,
        status: KeyStatus::Unsupported(why),
    }
}

const HTTP_CHROME: &str =
    "decnet answers as the persona's site; choose another with `site`, change the header with `server_header`";
const TLS_FROM_PERSONA: &str =
    "decnet makes the certificate from the decky's persona (its FQDN), so every scan sees a matching host";
const HOSTNAME_FROM_PERSONA: &str =
    "the hostname comes from the decky's persona (stable per decky, changed by mutation)";
const EMAIL_FROM_PERSONA: &str = "mailboxes are generated from the decky's persona";

/// DECNET's `fake_app` skins decnet has a site for.
pub const FAKE_APPS: &[&str] = &["none", "phpmyadmin", "tomcat"];

/// The table. Services with no row take no keys.
pub static SERVICE_KEYS: &[ServiceKey] = &[
    // Login services share DECNET's credential keys.
    shared("ssh", "password"),
    shared("ssh", "user"),
    shared("ssh", "user_password"),
    theirs("ssh", "hostname", HOSTNAME_FROM_PERSONA),
    ours("ssh", "version"),
    ours("ssh", "keyboard_interactive"),
    shared("telnet", "password"),
    shared("telnet", "user"),
    shared("telnet", "user_password"),
    theirs("telnet", "hostname", HOSTNAME_FROM_PERSONA),
    ours("ftp", "password"),
    ours("ftp", "user"),
    ours("ftp", "user_password"),
    ours("ftp", "anonymous"),
    ours("ftp", "banner"),
    // Web.
    shared("http", "server_header"),
    shared("http", "response_code"),
    ServiceKey {
        service: "http",
        key: "fake_app",
        decnet: true,
        status: KeyStatus::Honoured {
            values: Some(FAKE_APPS),
        },
    },
    theirs("http", "extra_headers", HTTP_CHROME),
    theirs("http", "custom_body", HTTP_CHROME),
    theirs(
        "http",
        "http_versions",
        "decnet speaks HTTP/1.0 and 1.1 on http (and HTTP/2 by ALPN on https)",
    ),
    theirs(
        "http",
        "files",
        "drop files into the decky's filesystem through the API instead",
    ),
    ours("http", "site"),
    ours("http", "bait_files"),
    ours("http", "title"),
    // https reads every http key too (its own section first).
    theirs(
        "https",
        "http_versions",
        "decnet offers HTTP/1.1 and HTTP/2 by ALPN; no HTTP/3",
    ),
    theirs("https", "tls_cn", TLS_FROM_PERSONA),
    theirs("https", "tls_cert", TLS_FROM_PERSONA),
    theirs("https", "tls_key", TLS_FROM_PERSONA),
    ours("docker_api", "version"),
    ours("elasticsearch", "version"),
    ours("elasticsearch", "cluster_name"),
    ours("k8s", "version"),
    ours("k8s", "anonymous"),
    // Mail.
    shared("smtp", "banner"),
    theirs(
        "smtp",
        "mta",
        "the MTA's dialect follows `banner` and the persona (Postfix)",
    ),
    ours("smtp", "starttls"),
    ours("smtp", "max_message"),
    ours("smtp", "password"),
    ours("smtp", "user"),
    ours("smtp", "user_password"),
    shared("smtp_relay", "banner"),
    theirs(
        "smtp_relay",
        "mta",
        "the MTA's dialect follows `banner` and the persona (Postfix)",
    ),
    theirs(
        "smtp_relay",
        "upstream_host",
        "decnet never relays mail: messages are captured, not forwarded",
    ),
    theirs(
        "smtp_relay",
        "upstream_port",
        "decnet never relays mail: messages are captured, not forwarded",
    ),
    theirs(
        "smtp_relay",
        "upstream_user",
        "decnet never relays mail: messages are captured, not forwarded",
    ),
    theirs(
        "smtp_relay",
        "upstream_pass",
        "decnet never relays mail: messages are captured, not forwarded",
    ),
    theirs(
        "smtp_relay",
        "upstream_sender",
        "decnet never relays mail: messages are captured, not forwarded",
    ),
    theirs(
        "smtp_relay",
        "probe_limit",
        "decnet never relays mail, so there is no relay probe to limit",
    ),
    ours("smtp_relay", "starttls"),
    ours("smtp_relay", "max_message"),
    ours("smtp_relay", "password"),
    ours("smtp_relay", "user"),
    ours("smtp_relay", "user_password"),
    theirs("imap", "email_seed", EMAIL_FROM_PERSONA),
    ours("imap", "banner"),
    ours("imap", "starttls"),
    ours("imap", "plaintext_auth"),
    ours("imap", "password"),
    ours("imap", "user"),
    ours("imap", "user_password"),
    theirs("pop3", "email_seed", EMAIL_FROM_PERSONA),
    ours("pop3", "banner"),
    ours("pop3", "starttls"),
    ours("pop3", "plaintext_auth"),
    ours("pop3", "apop"),
    ours("pop3", "password"),
    ours("pop3", "user"),
    ours("pop3", "user_password"),
    // Databases.
    shared("mysql", "version"),
    ours("mysql", "databases"),
    ours("mysql", "password"),
    ours("mysql", "user"),
    ours("mssql", "version"),
    ours("mssql", "password"),
    ours("mssql", "user"),
    ours("postgres", "version"),
    ours("postgres", "auth"),
    ours("postgres", "password"),
    ours("postgres", "user"),
    ours("mongodb", "version"),
    ours("mongodb", "databases"),
    ours("mongodb", "password"),
    ours("mongodb", "user"),
    shared("redis", "version"),
    theirs(
        "redis",
        "os_string",
        "INFO's os line follows the decky's persona (kernel and architecture)",
    ),
    ours("redis", "password"),
    // Infrastructure.
    ours("dns", "zone"),
    shared("dns", "domain"),
    ours("dns", "version"),
    shared("dns", "bind_version"),
    theirs(
        "dns",
        "zone_mode",
        "decnet serves one generated zone for `zone` (or `domain`)",
    ),
    theirs(
        "dns",
        "nsid",
        "decnet answers without an NSID option, like a default BIND",
    ),
    theirs(
        "dns",
        "extra_records",
        "records are generated from the fleet's deckies",
    ),
    theirs(
        "dns",
        "real_recursive",
        "decnet never forwards queries (no traffic leaves the decky)",
    ),
    theirs(
        "dns",
        "upstream",
        "decnet never forwards queries (no traffic leaves the decky)",
    ),
    theirs(
        "dns",
        "forward_budget",
        "decnet never forwards queries (no traffic leaves the decky)",
    ),
    theirs(
        "dns",
        "forward_window",
        "decnet never forwards queries (no traffic leaves the decky)",
    ),
    theirs(
        "dns",
        "state_path",
        "decnet keeps its state under the data directory",
    ),
    ours("ldap", "base_dn"),
    ours("ldap", "password"),
    ours("ldap", "user"),
    ours("mqtt", "version"),
    ours("mqtt", "password"),
    ours("mqtt", "user"),
    ours("sip", "server"),
    ours("sip", "realm"),
    ours("sip", "password"),
    ours("sip", "user"),
    ours("snmp", "community"),
    ours("snmp", "sys_descr"),
    ours("snmp", "sys_contact"),
    ours("snmp", "sys_location"),
    // Windows, remote desktop, files, ICS.
    theirs(
        "rdp",
        "nla",
        "decnet always offers CredSSP/NLA so NTLM hashes are captured",
    ),
    ours("smb", "share"),
    ours("smb", "null_share"),
    ours("smb", "version"),
    ours("vnc", "version"),
    ours("vnc", "password"),
    ours("printer", "model"),
    ours("printer", "location"),
    ours("conpot", "plant"),
    ours("conpot", "system_name"),
    ours("modbus", "plant"),
    ours("modbus", "system_name"),
    ours("s7", "plant"),
    ours("s7", "system_name"),
];

/// Where a service's keys are looked up: its own rows, then those of the
/// service it shares a handler with (https serves http's site).
fn sections(service: &str) -> impl Iterator<Item = &str> {
    std::iter::once(service).chain((service == "https").then_some("http"))
}

/// The entry of `key` in `[decky.<service>]`, if either project knows it.
pub fn lookup(service: &str, key: &str) -> Option<&'static ServiceKey> {
    sections(service).find_map(|svc| {
        SERVICE_KEYS
            .iter()
            .find(|k| (k.service == svc || k.service == "*") && k.key == key)
    })
}

/// Keys decnet honours for `service`, for messages.
pub fn honoured_keys(service: &str) -> Vec<&'static str> {
    let mut keys: Vec<&str> = sections(service)
        .flat_map(|svc| {
            SERVICE_KEYS
                .iter()
                .filter(move |k| k.service == svc && matches!(k.status, KeyStatus::Honoured { .. }))
                .map(|k| k.key)
        })
        .collect();
    keys.dedup();
    keys
}

/// Why `key = value` in `[section]` (a `service` section) is not fully
/// honoured, as a warning; `None` when decnet acts on it.
pub fn warning(section: &str, service: &str, key: &str, value: &str) -> Option<String> {
    match lookup(service, key) {
        None => {
            let known = honoured_keys(service);
            let known = if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            };
            Some(format!(
                "unknown key '{key}' in [{section}] (not a decnet or DECNET key of {service}); ignored; {service} keys: {known}"
            ))
        }
        Some(ServiceKey {
            status: KeyStatus::Unsupported(why),
            ..
        }) => Some(format!(
            "DECNET key '{key}' in [{section}] is not supported by decnet and is ignored: {why}"
        )),
        Some(ServiceKey {
            status: KeyStatus::Honoured {
                values: Some(values),
            },
            ..
        }) if !values.iter().any(|v| v.eq_ignore_ascii_case(value.trim())) => Some(format!(
            "{key} = '{value}' in [{section}] is not supported by decnet and is ignored; supported values: {}",
            values.join(", ")
        )),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_names_a_catalog_service_once() {
        for (i, k) in SERVICE_KEYS.iter().enumerate() {
            assert!(
                k.service == "*" || crate::catalog::service(k.service).is_some(),
                "{}",
                k.service
            );
            assert!(
                !SERVICE_KEYS[..i]
                    .iter()
                    .any(|o| o.service == k.service && o.key == k.key),
                "{}.{} listed twice",
                k.service,
                k.key
            );
        }
    }

    #[test]
    fn warnings_name_the_key_and_say_why() {
        assert_eq!(warning("web.http", "http", "response_code", "403"), None);
        assert_eq!(warning("web.ssh", "ssh", "password", "x"), None);
        let w = warning("web.https", "https", "tls_cert", "/x.pem").unwrap();
        assert!(w.contains("DECNET key 'tls_cert' in [web.https]"), "{w}");
        assert!(w.contains("persona"), "{w}");
        // https takes http's keys; http does not take https's.
        assert_eq!(warning("web.https", "https", "response_code", "403"), None);
        let w = warning("web.https", "https", "http_versions", "h3").unwrap();
        assert!(w.contains("HTTP/3"), "{w}");
        assert!(warning("web.http", "http", "tls_cn", "x")
            .unwrap()
            .starts_with("unknown key"));
        let w = warning("web.http", "http", "respons_code", "403").unwrap();
        assert!(
            w.starts_with("unknown key 'respons_code' in [web.http]"),
            "{w}"
        );
        assert!(w.contains("response_code"), "{w}");
        let w = warning("t.tftp", "tftp", "x", "1").unwrap();
        assert!(w.ends_with("tftp keys: none"), "{w}");
    }

    #[test]
    fn restricted_values_are_checked() {
        assert_eq!(warning("w.http", "http", "fake_app", "Tomcat"), None);
        let w = warning("w.http", "http", "fake_app", "jenkins").unwrap();
        assert!(w.contains("fake_app = 'jenkins'"), "{w}");
        assert!(w.contains("phpmyadmin"), "{w}");
    }
}
