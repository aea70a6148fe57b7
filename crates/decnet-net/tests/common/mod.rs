//! What the root-only namespace tests share: `ip` runs, the root check and
//! a test LAN (a veth pair whose host end is the macvlan parent and whose
//! other end sits in a "scanner" namespace), removed on drop.
#![allow(dead_code)] // each test binary uses its own subset

use std::process::Command;

pub fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub fn ip_output(args: &[&str]) -> String {
    Command::new("ip")
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// Why these tests cannot run here, if they cannot (root and iproute2).
pub fn root_with_iproute() -> Result<(), &'static str> {
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root");
    }
    if !ip(&["-V"]) {
        return Err("iproute2 `ip` is missing");
    }
    Ok(())
}

pub struct Lan {
    pub parent: String,
    pub scanner: String,
    pub decky_ns: String,
}

impl Lan {
    /// Makes the scanner namespace and the veth pair, the scanner end
    /// `eth0` up with `scanner_cidr` (an IPv4 `a.b.c.d/len`).
    pub fn new(parent: String, scanner: String, decky_ns: String, scanner_cidr: &str) -> Lan {
        let lan = Lan {
            parent,
            scanner,
            decky_ns,
        };
        assert!(ip(&["netns", "add", &lan.scanner]));
        assert!(ip(&[
            "link",
            "add",
            &lan.parent,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &lan.scanner
        ]));
        assert!(ip(&["link", "set", &lan.parent, "up"]));
        assert!(ip(&[
            "-n",
            &lan.scanner,
            "addr",
            "add",
            scanner_cidr,
            "dev",
            "eth0"
        ]));
        lan
    }

    /// Brings the scanner's `eth0` up (after any further addresses).
    pub fn up(&self) {
        assert!(ip(&["-n", &self.scanner, "link", "set", "eth0", "up"]));
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        ip(&["netns", "del", &self.decky_ns]);
        ip(&["netns", "del", &self.scanner]);
        ip(&["link", "del", &self.parent]);
    }
}
