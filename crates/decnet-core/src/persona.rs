//! Distro profiles and the per-decky persona drawn from them.
//!
//! A persona is everything that makes one decky look like one particular
//! machine: hostname, OS, kernel, product banners, boot time, MAC. It is
//! derived only from the decky's seed, so restarts reproduce it and a
//! mutation (new generation) re-rolls all of it at once.

use chrono::{DateTime, Duration, Utc};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;

use crate::seed::DeckySeed;

/// Broad OS family, what TTLs and banners must agree with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OsFamily {
    /// Linux distributions.
    Linux,
    /// Windows desktops and servers.
    Windows,
    /// Printers, PLCs, routers, BusyBox boxes.
    Embedded,
}

impl OsFamily {
    /// The family an `nmap_os` value names (`bsd` and unknown values name
    /// none: the distro decides).
    pub fn from_nmap_os(nmap_os: &str) -> Option<OsFamily> {
        match nmap_os {
            "windows" | "windows_server" => Some(OsFamily::Windows),
            "embedded" => Some(OsFamily::Embedded),
            "linux" => Some(OsFamily::Linux),
            _ => None,
        }
    }

    /// Default IP TTL a host of this family sends.
    pub fn default_ttl(self) -> u8 {
        match self {
            OsFamily::Linux => 64,
            OsFamily::Windows => 128,
            OsFamily::Embedded => 255,
        }
    }
}

/// How hostnames look on this distro.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostnameStyle {
    /// `web-prod-03`
    Generic,
    /// `app12.localdomain`
    Rhel,
    /// `kali`, `archbox`
    Rolling,
    /// `WIN-7Q2K9XJ3LMP` / `DESKTOP-…`
    Windows,
    /// `NPI3F2A1C` printers, `plc-0042` devices
    Device,
}

/// A distribution or OS build a decky can present.
#[derive(Debug, Serialize)]
pub struct Distro {
    /// Slug (`debian`, `ubuntu22`, `windows2019`…).
    pub slug: &'static str,
    /// Human label, also `PRETTY_NAME` in `/etc/os-release`.
    pub display_name: &'static str,
    /// OS family.
    pub family: OsFamily,
    /// Hostname convention.
    pub hostname_style: HostnameStyle,
    /// `ID=` of os-release.
    pub os_id: &'static str,
    /// `VERSION_ID=` of os-release.
    pub version_id: &'static str,
    /// SSH software version (what follows `SSH-2.0-`).
    pub ssh_version: &'static str,
    /// Kernel releases to draw from (`uname -r`).
    pub kernels: &'static [&'static str],
    /// HTTP `Server:` headers that fit this OS.
    pub http_servers: &'static [&'static str],
    /// FTP daemon banner (220 text).
    pub ftp_banner: &'static str,
    /// Line printed before the telnet `login:` prompt (`\n`-separated).
    pub telnet_issue: &'static str,
}

/// All distro profiles (DECNET's nine Linux ones plus Windows and devices).
pub static DISTROS: &[Distro] = &[
    Distro {
        slug: "debian",
        display_name: "Debian GNU/Linux 12 (bookworm)",
        family: OsFamily::Linux,
        hostname_style: HostnameStyle::Generic,
        os_id: "debian",
        version_id: "12",
        ssh_version: "OpenSSH_9.2p1 Debian-2+deb12u3",
        kernels: &["6.1.0-18-amd64", "6.1.0-21-amd64", "6.1.0-25-amd64"],
        http_servers: &["nginx/1.22.1", "Apache/2.4.62 (Debian)"],
        ftp_banner: "(vsFTPd 3.0.3)",
        telnet_issue: "Debian GNU/Linux 12",
    },
    Distro {
        slug: "ubuntu22",
        display_name: "Ubuntu 22.04.4 LTS",
        family: OsFamily::Linux,
        hostname_style: HostnameStyle::Generic,
        os_id: "ubuntu",
        version_id: "22.04",
        ssh_version: "OpenSSH_8.9p1 Ubuntu-3ubuntu0.10",
        kernels: &[
            "5.15.0-105-generic",
            "5.15.0-112-generic",
            "6.5.0-35-generic",
        ],
        http_servers: &["nginx/1.18.0 (Ubuntu)", "Apache/2.4.52 (Ubuntu)"],
        ftp_banner: "(vsFTPd 3.0.5)",
        telnet_issue: "Ubuntu 22.04.4 LTS",
    },
    Distro {
        slug: "ubuntu20",
        display_name: "Ubuntu 20.04.6 LTS",
        family: OsFamily::Linux,
        hostname_style: HostnameStyle::Generic,
        os_id: "ubuntu",
        version_id: "20.04",
        ssh_version: "OpenSSH_8.2p1 Ubuntu-4ubuntu0.11",
        kernels: &["5.4.0-182-generic", "5.4.0-187-generic"],
        http_servers: &["nginx/1.18.0 (Ubuntu)", "Apache/2.4.41 (Ubuntu)"],
        ftp_banner: "(vsFTPd 3.0.3)",
        telnet_issue: "Ubuntu 20.04.6 LTS",
    },
    Distro {
        slug: "rocky9",
        display_name: "Rocky Linux 9.4 (Blue Onyx)",
        family: OsFamily::Linux,
        hostname_style: HostnameStyle::Rhel,
        os_id: "rocky",
        version_id: "9.4",
        ssh_version: "OpenSSH_8.7",
        kernels: &[
            "5.14.0-427.13.1.el9_4.x86_64",
            "5.14.0-427.22.1.el9_4.x86_64",
        ],
        http_servers: &["Apache/2.4.57 (Rocky Linux)", "nginx/1.20.1"],
        ftp_banner: "(vsFTPd 3.0.5)",
        telnet_issue: "Kernel \\r on an \\m",
    },
    Distro {
        slug: "centos7",
        display_name: "CentOS Linux 7 (Core)",
        family: OsFamily::Linux,
        hostname_style: HostnameStyle::Rhel,
        os_id: "centos",
        version_id: "7",
        ssh_version: "OpenSSH_7.4",
        kernels: &[
            "3.10.0-1160.119.1.el7.x86_64",
            "3.10.0-1160.108.1.el7.x86_64",
        ],
        http_servers: &["Apache/2.4.6 (CentOS)", "nginx/1.20.1"],
        ftp_banner: "(vsFTPd 3.0.2)",
        telnet_issue: "CentOS Linux 7 (Core)\nKernel \\r on an \\m",
    },
    Distro {
        slug: "alpine",
        display_name: "Alpine Linux v3.19",
        family: OsFamily::Linux,
        hostname_style: HostnameStyle::Generic,
        os_id: "alpine",
        version_id: "3.19.1",
        ssh_version: "OpenSSH_9.6",
        kernels: &["6.6.14-0-lts", "6.6.22-0-lts"],
        http_servers: &["nginx/1.24.0", "lighttpd/1.4.73"],
        ftp_banner: "(vsFTPd 3.0.5)",
        telnet_issue: "Welcome to Alpine Linux 3.19",
    },
    Distro {
        slug: "fedora",
        display_name: "Fedora Linux 39 (Server Edition)",
        family: OsFamily::Linux,
        hostname_style: HostnameStyle::Rhel,
        os_id: "fedora",
        version_id: "39",
        ssh_version: "OpenSSH_9.3",
        kernels: &["6.8.9-100.fc39.x86_64", "6.7.11-100.fc39.x86_64"],
        http_servers: &["Apache/2.4.59 (Fedora Linux)", "nginx/1.24.0"],
        ftp_banner: "(vsFTPd 3.0.5)",
        telnet_issue: "Fedora Linux 39 (Server Edition)\nKernel \\r on an \\m",
    },
    Distro {
        slug: "kali",
        display_name: "Kali GNU/Linux Rolling",
        family: OsFamily::Linux,
        hostname_style: HostnameStyle::Rolling,
        os_id: "kali",
        version_id: "2024.2",
        ssh_version: "OpenSSH_9.7p1 Debian-5",
        kernels: &["6.8.11-amd64", "6.6.15-amd64"],
        http_servers: &["Apache/2.4.59 (Debian)", "nginx/1.26.0"],
        ftp_banner: "(vsFTPd 3.0.3)",
        telnet_issue: "Kali GNU/Linux Rolling",
    },
    Distro {
        slug: "arch",
        display_name: "Arch Linux",
        family: OsFamily::Linux,
        hostname_style: HostnameStyle::Rolling,
        os_id: "arch",
        version_id: "",
        ssh_version: "OpenSSH_9.7",
        kernels: &["6.9.7-arch1-1", "6.8.9-arch1-2"],
        http_servers: &["nginx/1.26.1", "Apache/2.4.59 (Unix)"],
        ftp_banner: "(vsFTPd 3.0.5)",
        telnet_issue: "Arch Linux \\r (\\l)",
    },
    Distro {
        slug: "windows10",
        display_name: "Windows 10 Pro 10.0.19045",
        family: OsFamily::Windows,
        hostname_style: HostnameStyle::Windows,
        os_id: "windows",
        version_id: "10.0.19045",
        ssh_version: "OpenSSH_for_Windows_8.1",
        kernels: &["10.0.19045"],
        http_servers: &["Microsoft-IIS/10.0"],
        ftp_banner: "Microsoft FTP Service",
        telnet_issue: "Welcome to Microsoft Telnet Service",
    },
    Distro {
        slug: "windows11",
        display_name: "Windows 11 Pro 10.0.22631",
        family: OsFamily::Windows,
        hostname_style: HostnameStyle::Windows,
        os_id: "windows",
        version_id: "10.0.22631",
        ssh_version: "OpenSSH_for_Windows_9.5",
        kernels: &["10.0.22631"],
        http_servers: &["Microsoft-IIS/10.0"],
        ftp_banner: "Microsoft FTP Service",
        telnet_issue: "Welcome to Microsoft Telnet Service",
    },
    Distro {
        slug: "windows2019",
        display_name: "Windows Server 2019 Standard 10.0.17763",
        family: OsFamily::Windows,
        hostname_style: HostnameStyle::Windows,
        os_id: "windows",
        version_id: "10.0.17763",
        ssh_version: "OpenSSH_for_Windows_7.7",
        kernels: &["10.0.17763"],
        http_servers: &["Microsoft-IIS/10.0"],
        ftp_banner: "Microsoft FTP Service",
        telnet_issue: "Welcome to Microsoft Telnet Service",
    },
    Distro {
        slug: "windows2022",
        display_name: "Windows Server 2022 Standard 10.0.20348",
        family: OsFamily::Windows,
        hostname_style: HostnameStyle::Windows,
        os_id: "windows",
        version_id: "10.0.20348",
        ssh_version: "OpenSSH_for_Windows_8.1",
        kernels: &["10.0.20348"],
        http_servers: &["Microsoft-IIS/10.0"],
        ftp_banner: "Microsoft FTP Service",
        telnet_issue: "Welcome to Microsoft Telnet Service",
    },
    Distro {
        slug: "embedded",
        display_name: "Embedded Linux",
        family: OsFamily::Embedded,
        hostname_style: HostnameStyle::Device,
        os_id: "embedded",
        version_id: "",
        ssh_version: "dropbear_2019.78",
        kernels: &["4.9.37", "4.14.180"],
        http_servers: &[
            "HP HTTP Server; HP LaserJet Pro MFP M428fdw",
            "Boa/0.94.14rc21",
            "GoAhead-Webs",
        ],
        ftp_banner: "FTP server ready.",
        telnet_issue: "",
    },
    Distro {
        slug: "busybox",
        display_name: "BusyBox v1.31.1",
        family: OsFamily::Embedded,
        hostname_style: HostnameStyle::Device,
        os_id: "buildroot",
        version_id: "2020.02",
        ssh_version: "dropbear_2020.81",
        kernels: &["4.14.180", "5.4.61"],
        http_servers: &["lighttpd/1.4.55", "uhttpd", "GoAhead-Webs"],
        ftp_banner: "FTP server ready.",
        telnet_issue: "",
    },
];

/// Looks a distro up by slug.
pub fn distro(slug: &str) -> Option<&'static Distro> {
    DISTROS.iter().find(|d| d.slug == slug)
}

/// Comma-separated distro slugs, for error messages.
pub fn distro_names() -> String {
    DISTROS
        .iter()
        .map(|d| d.slug)
        .collect::<Vec<_>>()
        .join(", ")
}

const WORDS: &[&str] = &[
    "alpha", "atlas", "bravo", "cedar", "delta", "ember", "falcon", "granite", "harbor", "iris",
    "juniper", "kestrel", "lumen", "maple", "nova", "orion", "pine", "quartz", "raven", "sierra",
    "titan", "umber", "vega", "willow", "zephyr",
];
const ROLES: &[&str] = &[
    "web", "db", "app", "mail", "files", "backup", "proxy", "build", "mon", "vpn", "dev", "stage",
    "prod", "intranet", "ci", "log",
];
const OUIS: &[(&str, [u8; 3])] = &[
    ("Dell", [0x00, 0x14, 0x22]),
    ("Dell", [0xf8, 0xbc, 0x12]),
    ("HP", [0x3c, 0xd9, 0x2b]),
    ("Lenovo", [0x54, 0xee, 0x75]),
    ("VMware", [0x00, 0x50, 0x56]),
    ("Supermicro", [0x0c, 0xc4, 0x7a]),
];
const DEVICE_OUIS: &[(&str, [u8; 3])] = &[
    ("HP", [0x9c, 0x8e, 0x99]),
    ("Brother", [0x00, 0x80, 0x77]),
    ("Siemens", [0x00, 0x1b, 0x1b]),
    ("Cisco", [0x00, 0x1e, 0x13]),
    ("Hikvision", [0x44, 0x19, 0xb6]),
];

/// Everything that makes one decky look like one machine.
#[derive(Clone, Debug, Serialize)]
pub struct Persona {
    /// Distro/OS build.
    pub distro: &'static Distro,
    /// OS family as fingerprinted (`nmap_os` of the decky).
    pub nmap_os: String,
    /// Short hostname (never contains the decky name).
    pub hostname: String,
    /// DNS / NetBIOS domain (`corp.local` / `CORP`).
    pub domain: String,
    /// Kernel release (`uname -r`) or Windows build.
    pub kernel: String,
    /// Full SSH identification string (`SSH-2.0-…`).
    pub ssh_banner: String,
    /// HTTP `Server:` header value.
    pub http_server: String,
    /// When this host "booted".
    pub boot_time: DateTime<Utc>,
    /// MAC address (vendor OUI + seeded NIC part).
    pub mac: [u8; 6],
    /// NIC vendor of the MAC.
    pub mac_vendor: &'static str,
    /// `/etc/machine-id`.
    pub machine_id: String,
    /// CPU model shown in `/proc/cpuinfo`.
    pub cpu_model: &'static str,
    /// CPU cores.
    pub cpus: u32,
    /// Memory in KiB.
    pub mem_kib: u64,
}

const CPUS: &[&str] = &[
    "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz",
    "Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz",
    "AMD EPYC 7302P 16-Core Processor",
    "Intel(R) Core(TM) i7-10700 CPU @ 2.90GHz",
    "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz",
];

impl Persona {
    /// Derives the persona of a decky from its seed.
    ///
    /// `distro_slug` pins the distro; otherwise one of `preferred` is drawn
    /// (falling back to Debian). `now` anchors the boot time.
    pub fn generate(
        seed: &DeckySeed,
        distro_slug: Option<&str>,
        preferred: &[&str],
        nmap_os: &str,
        now: DateTime<Utc>,
    ) -> Persona {
        let mut rng = seed.rng("persona");
        let distro = distro_slug
            .and_then(distro)
            .or_else(|| preferred.choose(&mut rng).and_then(|s| distro(s)))
            .unwrap_or(&DISTROS[0]);
        let hostname = make_hostname(distro.hostname_style, &mut seed.rng("hostname"));
        let domain = [
            "corp.local",
            "int.example-co.com",
            "ad.local",
            "office.lan",
            "hq.internal",
        ]
        .choose(&mut rng)
        .copied()
        .unwrap_or("corp.local")
        .to_owned();
        let kernel = distro
            .kernels
            .choose(&mut rng)
            .copied()
            .unwrap_or("6.1.0-18-amd64")
            .to_owned();
        let http_server = distro
            .http_servers
            .choose(&mut rng)
            .copied()
            .unwrap_or("nginx")
            .to_owned();
        // Uptime between 2 and 180 days, to the second, different per decky.
        let uptime = Duration::seconds(rng.gen_range(2 * 86_400..180 * 86_400));
        let ouis = if distro.family == OsFamily::Embedded {
            DEVICE_OUIS
        } else {
            OUIS
        };
        let mut mac_rng = seed.rng("mac");
        let (mac_vendor, oui) = ouis[mac_rng.gen_range(0..ouis.len())];
        let nic: [u8; 3] = mac_rng.gen();
        let machine_id: [u8; 16] = seed.rng("machine-id").gen();
        let cpus = *[2u32, 4, 4, 8, 8, 16].choose(&mut rng).unwrap_or(&4);
        let mem_gib = *[4u64, 8, 16, 16, 32, 64].choose(&mut rng).unwrap_or(&8);
        Persona {
            distro,
            nmap_os: nmap_os.to_owned(),
            hostname,
            domain,
            kernel,
            ssh_banner: format!("SSH-2.0-{}", distro.ssh_version),
            http_server,
            boot_time: now - uptime,
            mac: [oui[0], oui[1], oui[2], nic[0], nic[1], nic[2]],
            mac_vendor,
            machine_id: hex::encode(machine_id),
            cpu_model: CPUS[rng.gen_range(0..CPUS.len())],
            cpus,
            // Usable RAM is a little below the nominal size, as on real machines.
            mem_kib: mem_gib * 1024 * 1024 - rng.gen_range(150_000..400_000),
        }
    }

    /// OS family, from `nmap_os` when it says so, else the distro's.
    pub fn family(&self) -> OsFamily {
        OsFamily::from_nmap_os(&self.nmap_os).unwrap_or(self.distro.family)
    }

    /// MAC as `aa:bb:cc:dd:ee:ff`.
    pub fn mac_string(&self) -> String {
        format_mac(self.mac)
    }

    /// Uptime at `now`.
    pub fn uptime(&self, now: DateTime<Utc>) -> Duration {
        now - self.boot_time
    }

    /// Fully-qualified name.
    pub fn fqdn(&self) -> String {
        format!(
            "{}.{}",
            self.hostname.split('.').next().unwrap_or(&self.hostname),
            self.domain
        )
    }
}

fn make_hostname(style: HostnameStyle, rng: &mut impl Rng) -> String {
    let word = WORDS[rng.gen_range(0..WORDS.len())];
    let role = ROLES[rng.gen_range(0..ROLES.len())];
    let n: u32 = rng.gen_range(1..40);
    match style {
        HostnameStyle::Generic => format!("{role}-{word}-{n:02}"),
        HostnameStyle::Rhel => format!("{role}{n:02}.localdomain"),
        HostnameStyle::Rolling => format!("{word}-{role}"),
        HostnameStyle::Windows => {
            const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
            let suffix: String = (0..7)
                .map(|_| ALNUM[rng.gen_range(0..ALNUM.len())] as char)
                .collect();
            let prefix = ["DESKTOP", "WIN", "SRV", "PC"][rng.gen_range(0..4)];
            format!("{prefix}-{suffix}")
        }
        HostnameStyle::Device => {
            let tag: u32 = rng.gen_range(0x100000..0xffffff);
            ["NPI", "plc-", "cam-", "gw-"][rng.gen_range(0..4)].to_owned() + &format!("{tag:06X}")
        }
    }
}

/// A MAC as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_distinct() {
        let now = Utc::now();
        let a = Persona::generate(
            &DeckySeed::new("web01", 0),
            None,
            &["debian", "ubuntu22"],
            "linux",
            now,
        );
        let b = Persona::generate(
            &DeckySeed::new("web01", 0),
            None,
            &["debian", "ubuntu22"],
            "linux",
            now,
        );
        assert_eq!(a.hostname, b.hostname);
        assert_eq!(a.mac, b.mac);
        assert_eq!(a.boot_time, b.boot_time);
        let names: std::collections::HashSet<_> = (0..20)
            .map(|i| {
                Persona::generate(
                    &DeckySeed::new(&format!("d{i}"), 0),
                    None,
                    &["debian"],
                    "linux",
                    now,
                )
                .hostname
            })
            .collect();
        assert!(names.len() >= 18, "hostnames should vary: {names:?}");
        assert!(!a.hostname.contains("web01"));
    }

    #[test]
    fn family_follows_nmap_os() {
        let p = Persona::generate(
            &DeckySeed::new("w", 0),
            Some("windows2019"),
            &[],
            "windows_server",
            Utc::now(),
        );
        assert_eq!(p.family(), OsFamily::Windows);
        assert_eq!(p.family().default_ttl(), 128);
    }
}
