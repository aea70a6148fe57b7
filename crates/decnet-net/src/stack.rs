//! The TCP/IP stack a persona's OS family shows to fingerprinting, as the
//! per-namespace sysctls that shape it (what `nmap -O` reads first: the
//! initial TTL, then the TCP options of the SYN/ACK).

use std::io;
use std::path::Path;

use decnet_core::OsFamily;

use crate::netns::run_in;
use crate::NetError;

/// Stack settings of one OS family, applied to a decky's namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackProfile {
    /// `net.ipv4.ip_default_ttl` and the IPv6 hop limit (Linux/BSD 64,
    /// Windows 128, network gear 255).
    pub ttl: u8,
    /// `net.ipv4.tcp_timestamps`: 0 off, 1 on with a random offset per
    /// connection, 2 on with one clock. Windows answers a client's
    /// timestamps in its SYN/ACK, and nmap reads their rate across its
    /// probes (`TS=A`, 1 kHz); Linux's per-connection offsets make that
    /// rate noise (`TS=21`), so Windows personas use 2.
    pub timestamps: u8,
    /// `net.ipv4.tcp_window_scaling`.
    pub window_scaling: bool,
    /// `net.ipv4.tcp_sack`.
    pub sack: bool,
    /// `net.ipv4.tcp_ecn` (0 off, 1 request, 2 accept when asked).
    pub ecn: u8,
    /// `net.ipv4.ip_no_pmtu_disc`: embedded stacks often send without DF.
    pub no_pmtu_disc: bool,
    /// Largest receive buffer (`net.ipv4.tcp_rmem` max), which decides the
    /// window-scale shift offered in the SYN/ACK: 16 MB → 8 (Windows),
    /// 6 MiB → 7 (Linux defaults), 4 MiB → 6 (FreeBSD).
    pub rmem_max: u32,
}

impl StackProfile {
    /// The profile of an `nmap_os` family (`linux`, `windows`,
    /// `windows_server`, `embedded`, `bsd`); unknown families get Linux's.
    pub fn for_os(nmap_os: &str) -> StackProfile {
        let linux = StackProfile {
            ttl: OsFamily::Linux.default_ttl(),
            timestamps: 1,
            window_scaling: true,
            sack: true,
            ecn: 2,
            no_pmtu_disc: false,
            rmem_max: 6 << 20,
        };
        if nmap_os == "bsd" {
            return StackProfile {
                ecn: 0,
                rmem_max: 4 << 20,
                ..linux
            };
        }
        match OsFamily::from_nmap_os(nmap_os).unwrap_or(OsFamily::Linux) {
            OsFamily::Windows => StackProfile {
                ttl: OsFamily::Windows.default_ttl(),
                timestamps: 2,
                // Windows Server accepts ECN when asked (nmap's Server
                // 2016 prints: `CC=Y`), Windows 10 does not (`CC=N`).
                ecn: if nmap_os == "windows_server" { 2 } else { 0 },
                rmem_max: 16_000_000,
                ..linux
            },
            OsFamily::Embedded => StackProfile {
                ttl: OsFamily::Embedded.default_ttl(),
                timestamps: 0,
                window_scaling: false,
                sack: false,
                ecn: 0,
                no_pmtu_disc: true,
                rmem_max: 174_760,
            },
            OsFamily::Linux => linux,
        }
    }

    /// `(sysctl path under /proc/sys, value)` pairs of this profile.
    pub fn sysctls(&self) -> Vec<(&'static str, String)> {
        let flag = |b: bool| if b { "1" } else { "0" }.to_owned();
        vec![
            ("net/ipv4/ip_default_ttl", self.ttl.to_string()),
            // IPv6's initial hop limit is the same fingerprint as the TTL.
            // Per interface: `default` is what an interface moved into the
            // namespace afterwards starts with.
            ("net/ipv6/conf/default/hop_limit", self.ttl.to_string()),
            ("net/ipv6/conf/all/hop_limit", self.ttl.to_string()),
            ("net/ipv4/tcp_timestamps", self.timestamps.to_string()),
            ("net/ipv4/tcp_window_scaling", flag(self.window_scaling)),
            ("net/ipv4/tcp_sack", flag(self.sack)),
            ("net/ipv4/tcp_ecn", self.ecn.to_string()),
            ("net/ipv4/ip_no_pmtu_disc", flag(self.no_pmtu_disc)),
            (
                "net/ipv4/tcp_rmem",
                format!("4096 {} {}", 131_072.min(self.rmem_max), self.rmem_max),
            ),
        ]
    }

    /// Writes the sysctls inside the namespace `ns` (before its interface
    /// moves in, so the interface takes the IPv6 defaults). `/proc/sys/net` shows
    /// the namespace of the thread that opens it, so the writes happen on
    /// the namespace thread.
    pub fn apply(&self, ns: &Path) -> Result<(), NetError> {
        let settings = self.sysctls();
        run_in(ns, || {
            for (key, value) in &settings {
                std::fs::write(format!("/proc/sys/{key}"), value)
                    .map_err(|e| io::Error::new(e.kind(), format!("{key} = {value}: {e}")))?;
            }
            Ok(())
        })
        .map_err(|e| NetError::io(format!("sysctls in {}", ns.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_differ_where_fingerprints_look() {
        let linux = StackProfile::for_os("linux");
        let windows = StackProfile::for_os("windows");
        let gear = StackProfile::for_os("embedded");
        assert_eq!((linux.ttl, windows.ttl, gear.ttl), (64, 128, 255));
        assert_eq!(
            (linux.timestamps, windows.timestamps, gear.timestamps),
            (1, 2, 0)
        );
        let server = StackProfile::for_os("windows_server");
        assert_eq!((server.ecn, windows.ecn), (2, 0));
        assert_eq!(StackProfile { ecn: 0, ..server }, windows);
        assert_eq!(StackProfile::for_os("no-such-family"), linux);
        let keys: Vec<_> = linux.sysctls().into_iter().map(|(k, _)| k).collect();
        assert!(keys.contains(&"net/ipv4/ip_default_ttl"));
    }
}
