//! Machine archetypes: a realistic bundle of services and OS for a class of host.

use serde::Serialize;

/// A pre-packaged identity (workstation, printer, database server…).
#[derive(Debug, Serialize)]
pub struct Archetype {
    /// INI name.
    pub slug: &'static str,
    /// Human label.
    pub display_name: &'static str,
    /// Default services when the decky lists none.
    pub services: &'static [&'static str],
    /// Distro slugs a decky of this kind is drawn from.
    pub preferred_distros: &'static [&'static str],
    /// OS family presented to fingerprinting (`linux`, `windows`, `windows_server`, `embedded`).
    pub nmap_os: &'static str,
}

/// The 15 DECNET archetypes.
pub static ARCHETYPES: &[Archetype] = &[
    Archetype {
        slug: "windows-workstation",
        display_name: "Windows Workstation",
        services: &["smb", "rdp"],
        preferred_distros: &["windows10", "windows11"],
        nmap_os: "windows",
    },
    Archetype {
        slug: "windows-server",
        display_name: "Windows Server",
        services: &["smb", "rdp", "ldap"],
        preferred_distros: &["windows2019", "windows2022"],
        nmap_os: "windows_server",
    },
    Archetype {
        slug: "domain-controller",
        display_name: "Domain Controller",
        services: &["ldap", "smb", "rdp", "llmnr"],
        preferred_distros: &["windows2019", "windows2022"],
        nmap_os: "windows_server",
    },
    Archetype {
        slug: "linux-server",
        display_name: "Linux Server",
        services: &["ssh", "http"],
        preferred_distros: &["debian", "ubuntu22", "rocky9", "fedora"],
        nmap_os: "linux",
    },
    Archetype {
        slug: "web-server",
        display_name: "Web Server",
        services: &["http", "ftp"],
        preferred_distros: &["debian", "ubuntu22", "ubuntu20"],
        nmap_os: "linux",
    },
    Archetype {
        slug: "database-server",
        display_name: "Database Server",
        services: &["mysql", "postgres", "redis"],
        preferred_distros: &["debian", "ubuntu22"],
        nmap_os: "linux",
    },
    Archetype {
        slug: "mail-server",
        display_name: "Mail Server",
        services: &["smtp", "pop3", "imap"],
        preferred_distros: &["debian", "ubuntu22"],
        nmap_os: "linux",
    },
    Archetype {
        slug: "file-server",
        display_name: "File Server",
        services: &["smb", "ftp", "ssh"],
        preferred_distros: &["debian", "ubuntu22", "rocky9"],
        nmap_os: "linux",
    },
    Archetype {
        slug: "printer",
        display_name: "Network Printer",
        services: &["snmp", "ftp"],
        preferred_distros: &["embedded"],
        nmap_os: "embedded",
    },
    Archetype {
        slug: "iot-device",
        display_name: "IoT Device",
        services: &["mqtt", "snmp", "telnet"],
        preferred_distros: &["busybox"],
        nmap_os: "embedded",
    },
    Archetype {
        slug: "industrial-control",
        display_name: "Industrial Control System",
        services: &["conpot", "snmp"],
        preferred_distros: &["embedded"],
        nmap_os: "embedded",
    },
    Archetype {
        slug: "voip-server",
        display_name: "VoIP Server",
        services: &["sip"],
        preferred_distros: &["debian", "ubuntu22"],
        nmap_os: "linux",
    },
    Archetype {
        slug: "monitoring-node",
        display_name: "Monitoring Node",
        services: &["snmp", "ssh"],
        preferred_distros: &["debian", "rocky9"],
        nmap_os: "linux",
    },
    Archetype {
        slug: "devops-host",
        display_name: "DevOps Host",
        services: &["docker_api", "ssh", "k8s"],
        preferred_distros: &["ubuntu22", "debian"],
        nmap_os: "linux",
    },
    Archetype {
        slug: "deaddeck",
        display_name: "Deaddeck (Entry Point)",
        services: &["ssh"],
        preferred_distros: &["debian", "ubuntu22"],
        nmap_os: "linux",
    },
];

/// Looks an archetype up by slug.
pub fn archetype(slug: &str) -> Option<&'static Archetype> {
    ARCHETYPES.iter().find(|a| a.slug == slug)
}

/// Comma-separated list of slugs, for error messages.
pub fn archetype_names() -> String {
    ARCHETYPES
        .iter()
        .map(|a| a.slug)
        .collect::<Vec<_>>()
        .join(", ")
}
