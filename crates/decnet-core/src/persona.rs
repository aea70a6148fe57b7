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
    /// Point release the package set below belongs to (`/etc/debian_version`,
    /// Ubuntu's `VERSION`): `12.11`, `22.04.4`.
    pub point_release: &'static str,
    /// Date of the newest package below: no kernel, OpenSSH or OpenSSL of
    /// this profile was built after it.
    pub packages_date: &'static str,
    /// SSH software version (what follows `SSH-2.0-`).
    pub ssh_version: &'static str,
    /// What `ssh -V` prints after the OpenSSH version (`OpenSSL 3.0.19 27 Jan 2026`).
    pub openssl: &'static str,
    /// `$BASH_VERSION` (`5.2.15(1)-release`); empty where bash is not the shell.
    pub bash: &'static str,
    /// Whether a default install has sudo (Debian's installer leaves it
    /// out when a root password is set, as on every decky).
    pub has_sudo: bool,
    /// Kernels this release really shipped, to draw from.
    pub kernels: &'static [Kernel],
    /// HTTP `Server:` headers that fit this OS.
    pub http_servers: &'static [&'static str],
    /// FTP daemon banner (220 text).
    pub ftp_banner: &'static str,
    /// Line printed before the telnet `login:` prompt (`\n`-separated).
    pub telnet_issue: &'static str,
}

/// A kernel build a distribution shipped: what `uname -r` and `uname -v` print.
#[derive(Debug, Serialize)]
pub struct Kernel {
    /// `uname -r` (`6.1.0-44-amd64`).
    pub release: &'static str,
    /// `uname -v` (`#1 SMP PREEMPT_DYNAMIC Debian 6.1.164-1 (2026-03-09)`).
    pub version: &'static str,
    /// Build date (`2026-03-09`).
    pub built: &'static str,
}

/// Shorthand for the kernel table.
const fn k(release: &'static str, version: &'static str, built: &'static str) -> Kernel {
    Kernel {
        release,
        version,
        built,
    }
}

/// All distro profiles (DECNET's nine Linux ones plus Windows and devices).
///
/// Each Linux profile is one real machine state: a point release with the
/// security updates up to `packages_date`, and the kernels, OpenSSH,
/// OpenSSL and bash builds that state had (the kernel strings are as those
/// kernels print them). Debian's is the newest Debian 12 state: the
/// point release and security updates a current bookworm server shows.
pub static DISTROS: &[Distro] = &[
    Distro {
        slug: "debian",
        display_name: "Debian GNU/Linux 12 (bookworm)",
        family: OsFamily::Linux,
        hostname_style: HostnameStyle::Generic,
        os_id: "debian",
        version_id: "12",
        point_release: "12.11",
        packages_date: "2026-03-09",
        ssh_version: "OpenSSH_9.2p1 Debian-2+deb12u10",
        openssl: "OpenSSL 3.0.19 27 Jan 2026",
        bash: "5.2.15(1)-release",
        has_sudo: false,
        kernels: &[
            k(
                "6.1.0-40-amd64",
                "#1 SMP PREEMPT_DYNAMIC Debian 6.1.153-1 (2025-09-20)",
                "2025-09-20",
            ),
            k(
                "6.1.0-43-amd64",
                "#1 SMP PREEMPT_DYNAMIC Debian 6.1.162-1 (2026-02-08)",
                "2026-02-08",
            ),
            k(
                "6.1.0-44-amd64",
                "#1 SMP PREEMPT_DYNAMIC Debian 6.1.164-1 (2026-03-09)",
                "2026-03-09",
            ),
        ],
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
        point_release: "22.04.4",
        packages_date: "2024-08-02",
        ssh_version: "OpenSSH_8.9p1 Ubuntu-3ubuntu0.10",
        openssl: "OpenSSL 3.0.2 15 Mar 2022",
        bash: "5.1.16(1)-release",
        has_sudo: true,
        kernels: &[
            k(
                "5.15.0-105-generic",
                "#115-Ubuntu SMP Mon Apr 15 09:52:04 UTC 2024",
                "2024-04-15",
            ),
            k(
                "5.15.0-119-generic",
                "#129-Ubuntu SMP Fri Aug 2 19:25:20 UTC 2024",
                "2024-08-02",
            ),
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
        point_release: "20.04.6",
        packages_date: "2024-04-26",
        ssh_version: "OpenSSH_8.2p1 Ubuntu-4ubuntu0.11",
        openssl: "OpenSSL 1.1.1f  31 Mar 2020",
        bash: "5.0.17(1)-release",
        has_sudo: true,
        kernels: &[
            k(
                "5.4.0-122-generic",
                "#138-Ubuntu SMP Wed Jun 22 15:00:31 UTC 2022",
                "2022-06-22",
            ),
            k(
                "5.4.0-182-generic",
                "#202-Ubuntu SMP Fri Apr 26 12:29:36 UTC 2024",
                "2024-04-26",
            ),
        ],
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
        point_release: "9.4",
        packages_date: "2024-05-01",
        ssh_version: "OpenSSH_8.7",
        openssl: "OpenSSL 3.0.7 1 Nov 2022",
        bash: "5.1.8(1)-release",
        has_sudo: true,
        kernels: &[k(
            "5.14.0-427.13.1.el9_4.x86_64",
            "#1 SMP PREEMPT_DYNAMIC Wed May 1 19:11:28 UTC 2024",
            "2024-05-01",
        )],
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
        point_release: "7.9.2009",
        packages_date: "2024-06-04",
        ssh_version: "OpenSSH_7.4",
        openssl: "OpenSSL 1.0.2k-fips  26 Jan 2017",
        bash: "4.2.46(2)-release",
        has_sudo: true,
        kernels: &[k(
            "3.10.0-1160.119.1.el7.x86_64",
            "#1 SMP Tue Jun 4 14:43:51 UTC 2024",
            "2024-06-04",
        )],
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
        point_release: "3.19.1",
        packages_date: "2024-01-26",
        ssh_version: "OpenSSH_9.6",
        openssl: "OpenSSL 3.1.4 24 Oct 2023",
        bash: "",
        has_sudo: false,
        kernels: &[k(
            "6.6.14-0-lts",
            "#1-Alpine SMP PREEMPT_DYNAMIC Fri, 26 Jan 2024 11:08:07 +0000",
            "2024-01-26",
        )],
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
        point_release: "39",
        packages_date: "2024-07-11",
        ssh_version: "OpenSSH_9.3",
        openssl: "OpenSSL 3.1.1 30 May 2023",
        bash: "5.2.26(1)-release",
        has_sudo: true,
        kernels: &[
            k(
                "6.7.11-200.fc39.x86_64",
                "#1 SMP PREEMPT_DYNAMIC Wed Mar 27 16:50:39 UTC 2024",
                "2024-03-27",
            ),
            k(
                "6.8.5-201.fc39.x86_64",
                "#1 SMP PREEMPT_DYNAMIC Thu Apr 11 18:25:26 UTC 2024",
                "2024-04-11",
            ),
            k(
                "6.9.9-100.fc39.x86_64",
                "#1 SMP PREEMPT_DYNAMIC Thu Jul 11 19:26:10 UTC 2024",
                "2024-07-11",
            ),
        ],
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
        point_release: "2024.2",
        packages_date: "2024-05-30",
        ssh_version: "OpenSSH_9.7p1 Debian-5",
        openssl: "OpenSSL 3.2.1 30 Jan 2024",
        bash: "5.2.21(1)-release",
        has_sudo: true,
        kernels: &[k(
            "6.8.11-amd64",
            "#1 SMP PREEMPT_DYNAMIC Kali 6.8.11-1kali2 (2024-05-30)",
            "2024-05-30",
        )],
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
        point_release: "",
        packages_date: "2024-06-28",
        ssh_version: "OpenSSH_9.7",
        openssl: "OpenSSL 3.3.1 4 Jun 2024",
        bash: "5.2.26(1)-release",
        has_sudo: false,
        kernels: &[k(
            "6.9.7-arch1-1",
            "#1 SMP PREEMPT_DYNAMIC Fri, 28 Jun 2024 04:32:50 +0000",
            "2024-06-28",
        )],
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
        point_release: "",
        packages_date: "",
        ssh_version: "OpenSSH_for_Windows_8.1",
        openssl: "",
        bash: "",
        has_sudo: false,
        kernels: &[k("10.0.19045", "", "")],
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
        point_release: "",
        packages_date: "",
        ssh_version: "OpenSSH_for_Windows_9.5",
        openssl: "",
        bash: "",
        has_sudo: false,
        kernels: &[k("10.0.22631", "", "")],
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
        point_release: "",
        packages_date: "",
        ssh_version: "OpenSSH_for_Windows_7.7",
        openssl: "",
        bash: "",
        has_sudo: false,
        kernels: &[k("10.0.17763", "", "")],
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
        point_release: "",
        packages_date: "",
        ssh_version: "OpenSSH_for_Windows_8.1",
        openssl: "",
        bash: "",
        has_sudo: false,
        kernels: &[k("10.0.20348", "", "")],
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
        point_release: "",
        packages_date: "",
        ssh_version: "dropbear_2019.78",
        openssl: "",
        bash: "",
        has_sudo: false,
        kernels: &[k("4.9.37", "", ""), k("4.14.180", "", "")],
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
        point_release: "",
        packages_date: "",
        ssh_version: "dropbear_2020.81",
        openssl: "",
        bash: "",
        has_sudo: false,
        kernels: &[k("4.14.180", "", ""), k("5.4.61", "", "")],
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

/// What a profile without kernels falls back to.
const DEBIAN_KERNEL: Kernel = k(
    "6.1.0-44-amd64",
    "#1 SMP PREEMPT_DYNAMIC Debian 6.1.164-1 (2026-03-09)",
    "2026-03-09",
);

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
    /// Kernel build string (`uname -v`); empty for Windows.
    pub kernel_version: String,
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

impl Distro {
    /// Whether a default install has net-tools (`ifconfig`, `netstat`,
    /// `route`). Debian since 9, Ubuntu since 18.04, the RHEL family, Fedora
    /// and Arch leave it out (iproute2's `ip`/`ss` replaced it); Kali
    /// installs it, and BusyBox systems have the applets. An `ifconfig`
    /// that answers on a stock Debian is a known honeypot tell.
    pub fn ships_net_tools(&self) -> bool {
        matches!(self.os_id, "kali" | "alpine" | "embedded" | "buildroot")
    }
}

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
        let kernel = distro.kernels.choose(&mut rng).unwrap_or(&DEBIAN_KERNEL);
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
            kernel: kernel.release.to_owned(),
            kernel_version: kernel.version.to_owned(),
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
    fn linux_profiles_are_real_machine_states() {
        use chrono::NaiveDate;
        let date = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        for d in DISTROS.iter().filter(|d| d.family == OsFamily::Linux) {
            let packages = date(d.packages_date);
            assert!(!d.kernels.is_empty(), "{}", d.slug);
            for k in d.kernels {
                // No kernel built after the state it belongs to.
                assert!(date(k.built) <= packages, "{}: {}", d.slug, k.release);
                // The build string names its own date, in the distro's format.
                let day = date(k.built);
                let shown = [
                    day.format("(%Y-%m-%d)").to_string(),
                    day.format("%a %b %-d ").to_string(),
                    day.format("%a, %d %b %Y").to_string(),
                ];
                assert!(
                    shown.iter().any(|s| k.version.contains(s.as_str())),
                    "{}: {} does not show {}",
                    d.slug,
                    k.version,
                    k.built
                );
            }
            assert!(d.ssh_version.starts_with("OpenSSH_"), "{}", d.slug);
            assert!(d.openssl.starts_with("OpenSSL "), "{}", d.slug);
        }
        let debian = distro("debian").unwrap();
        for k in debian.kernels {
            // 6.1.0-44-amd64 is Debian's 6.1.x upload: `Debian 6.1.164-1 (…)`.
            assert!(k.release.starts_with("6.1.0-") && k.release.ends_with("-amd64"));
            assert!(
                k.version.starts_with("#1 SMP PREEMPT_DYNAMIC Debian 6.1."),
                "{}",
                k.version
            );
        }
        assert_eq!(debian.ssh_version, "OpenSSH_9.2p1 Debian-2+deb12u10");
        assert_eq!(debian.point_release, "12.11");
    }

    #[test]
    fn persona_kernel_is_one_the_distro_shipped() {
        for i in 0..20 {
            let p = Persona::generate(
                &DeckySeed::new(&format!("u{i}"), 0),
                Some("ubuntu22"),
                &[],
                "linux",
                Utc::now(),
            );
            let k = p
                .distro
                .kernels
                .iter()
                .find(|k| k.release == p.kernel)
                .unwrap();
            assert_eq!(p.kernel_version, k.version);
            assert!(p.kernel.ends_with("-generic"), "{}", p.kernel);
        }
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
