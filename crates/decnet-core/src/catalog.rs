//! Every service name decnet knows, with its default ports.
//!
//! The catalog is what the validator checks names against; whether a
//! service is implemented is the services crate's business (the engine
//! reports catalog services it cannot run yet).

use serde::Serialize;

/// Socket type of a listening port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Stream socket.
    Tcp,
    /// Datagram socket.
    Udp,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        })
    }
}

/// A catalog entry.
#[derive(Debug, Serialize)]
pub struct ServiceInfo {
    /// INI / API name.
    pub name: &'static str,
    /// Default listening ports.
    pub ports: &'static [(Transport, u16)],
    /// One-line description.
    pub description: &'static str,
}

use Transport::{Tcp, Udp};

/// All known services, sorted by name.
pub static SERVICE_CATALOG: &[ServiceInfo] = &[
    ServiceInfo {
        name: "conpot",
        ports: &[(Tcp, 502), (Tcp, 102)],
        description: "ICS PLC (Modbus + S7), conpot-style",
    },
    ServiceInfo {
        name: "dns",
        ports: &[(Udp, 53), (Tcp, 53)],
        description: "DNS server for a decoy zone",
    },
    ServiceInfo {
        name: "docker_api",
        ports: &[(Tcp, 2375)],
        description: "Unauthenticated Docker Engine API",
    },
    ServiceInfo {
        name: "elasticsearch",
        ports: &[(Tcp, 9200)],
        description: "Elasticsearch REST",
    },
    ServiceInfo {
        name: "ftp",
        ports: &[(Tcp, 21)],
        description: "FTP server",
    },
    ServiceInfo {
        name: "http",
        ports: &[(Tcp, 80)],
        description: "HTTP server with persona site",
    },
    ServiceInfo {
        name: "https",
        ports: &[(Tcp, 443)],
        description: "HTTPS server with persona certificate",
    },
    ServiceInfo {
        name: "imap",
        ports: &[(Tcp, 143)],
        description: "IMAP4 server",
    },
    ServiceInfo {
        name: "k8s",
        ports: &[(Tcp, 6443)],
        description: "Kubernetes API server",
    },
    ServiceInfo {
        name: "ldap",
        ports: &[(Tcp, 389)],
        description: "LDAP directory",
    },
    ServiceInfo {
        name: "llmnr",
        ports: &[(Udp, 5355), (Udp, 137)],
        description: "LLMNR + NBNS name responder",
    },
    ServiceInfo {
        name: "modbus",
        ports: &[(Tcp, 502)],
        description: "Modbus/TCP PLC",
    },
    ServiceInfo {
        name: "mongodb",
        ports: &[(Tcp, 27017)],
        description: "MongoDB server",
    },
    ServiceInfo {
        name: "mqtt",
        ports: &[(Tcp, 1883)],
        description: "MQTT broker",
    },
    ServiceInfo {
        name: "mssql",
        ports: &[(Tcp, 1433)],
        description: "Microsoft SQL Server (TDS)",
    },
    ServiceInfo {
        name: "mysql",
        ports: &[(Tcp, 3306)],
        description: "MySQL server",
    },
    ServiceInfo {
        name: "pop3",
        ports: &[(Tcp, 110)],
        description: "POP3 server",
    },
    ServiceInfo {
        name: "postgres",
        ports: &[(Tcp, 5432)],
        description: "PostgreSQL server",
    },
    ServiceInfo {
        name: "printer",
        ports: &[(Tcp, 631), (Tcp, 9100)],
        description: "Network printer (IPP + JetDirect)",
    },
    ServiceInfo {
        name: "rdp",
        ports: &[(Tcp, 3389)],
        description: "Remote Desktop (X.224 + CredSSP)",
    },
    ServiceInfo {
        name: "redis",
        ports: &[(Tcp, 6379)],
        description: "Redis server",
    },
    ServiceInfo {
        name: "s7",
        ports: &[(Tcp, 102)],
        description: "Siemens S7comm PLC",
    },
    ServiceInfo {
        name: "sip",
        ports: &[(Udp, 5060), (Tcp, 5060)],
        description: "SIP registrar/PBX",
    },
    ServiceInfo {
        name: "smb",
        ports: &[(Tcp, 445), (Tcp, 139)],
        description: "SMB2 file server with NTLMSSP",
    },
    ServiceInfo {
        name: "smtp",
        ports: &[(Tcp, 25)],
        description: "SMTP server",
    },
    ServiceInfo {
        name: "smtp_relay",
        ports: &[(Tcp, 25)],
        description: "SMTP open relay bait",
    },
    ServiceInfo {
        name: "snmp",
        ports: &[(Udp, 161)],
        description: "SNMP v1/v2c agent",
    },
    ServiceInfo {
        name: "ssh",
        ports: &[(Tcp, 22)],
        description: "OpenSSH-like server with fake shell",
    },
    ServiceInfo {
        name: "telnet",
        ports: &[(Tcp, 23)],
        description: "Telnet login with fake shell",
    },
    ServiceInfo {
        name: "tftp",
        ports: &[(Udp, 69)],
        description: "TFTP server",
    },
    ServiceInfo {
        name: "vnc",
        ports: &[(Tcp, 5900)],
        description: "VNC (RFB) server",
    },
];

/// Looks a service up by name.
pub fn service(name: &str) -> Option<&'static ServiceInfo> {
    SERVICE_CATALOG.iter().find(|s| s.name == name)
}

/// Comma-separated list of all names, for error messages.
pub fn service_names() -> String {
    SERVICE_CATALOG
        .iter()
        .map(|s| s.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn catalog_sorted_and_unique() {
        let names: Vec<_> = super::SERVICE_CATALOG.iter().map(|s| s.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(names, sorted);
    }
}
