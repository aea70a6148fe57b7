//! `[passive]`: the optional passive sensor on the deckies' LAN.
//!
//! ```ini
//! [passive]
//! interface = eth1              ; the interface to capture on
//! allow_host_interface = false  ; required for anything but the netns LAN
//! p0f_db = /etc/p0f/p0f.fp      ; p0f's database, read when present
//! ```
//!
//! Off unless configured. By default it only captures on the interface the
//! netns-mode deckies hang off (`[general] interface` with `mode = netns`):
//! that link carries the deckies' traffic. Any other interface — the host's
//! own, or the alias-mode interface the host also uses — carries the
//! host's traffic too, so capturing there needs `allow_host_interface = true`.

use serde::Serialize;

use crate::fleet::{General, NetMode, ValidationError};

/// The passive sensor's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PassiveConfig {
    /// Interface to capture on.
    pub interface: String,
    /// Capture even when `interface` is not the netns deckies' LAN.
    pub allow_host_interface: bool,
    /// p0f database to read OS signatures from (default `/etc/p0f/p0f.fp`,
    /// used only when present).
    pub p0f_db: Option<String>,
}

/// Keys `[passive]` knows.
const KEYS: &str = "interface, allow_host_interface, p0f_db";

/// Parses the `[passive]` section (`line`: its header's line).
pub fn parse(
    line: usize,
    entries: &[(String, String, usize)],
) -> Result<PassiveConfig, Vec<ValidationError>> {
    let mut c = PassiveConfig::default();
    let mut errors = Vec::new();
    for (k, v, l) in entries {
        match k.as_str() {
            "interface" => c.interface = v.trim().to_owned(),
            "allow_host_interface" => match crate::parse::parse_bool(v) {
                Some(b) => c.allow_host_interface = b,
                None => errors.push(ValidationError {
                    line: *l,
                    message: format!(
                        "[passive] allow_host_interface = {v:?}: expected true or false"
                    ),
                }),
            },
            "p0f_db" => c.p0f_db = Some(v.trim().to_owned()),
            _ => errors.push(ValidationError {
                line: *l,
                message: format!("[passive]: unknown key {k:?} (known: {KEYS})"),
            }),
        }
    }
    if c.interface.is_empty() {
        errors.push(ValidationError {
            line,
            message: "[passive] needs interface = <the deckies' LAN interface>".into(),
        });
    }
    if errors.is_empty() {
        Ok(c)
    } else {
        Err(errors)
    }
}

impl PassiveConfig {
    /// True when `interface` is the link the netns deckies hang off.
    pub fn is_decky_lan(&self, general: &General) -> bool {
        general.mode == NetMode::Netns && general.interface.as_deref() == Some(&self.interface)
    }

    /// Refuses a capture on anything but the deckies' LAN unless
    /// `allow_host_interface` says so; the error says how to proceed.
    pub fn check(&self, general: &General) -> Result<(), String> {
        if self.is_decky_lan(general) || self.allow_host_interface {
            return Ok(());
        }
        let lan = match (general.mode, general.interface.as_deref()) {
            (NetMode::Netns, Some(i)) => format!("the deckies' LAN is {i:?}"),
            (NetMode::Alias, Some(i)) => {
                format!("mode = alias puts the deckies on host interface {i:?}")
            }
            _ => "no netns decky LAN is configured".to_owned(),
        };
        Err(format!(
            "[passive] interface = {:?} is not the deckies' netns LAN ({lan}); capturing there would read the host's own traffic: set allow_host_interface = true (or --passive-allow-host-interface) to do it anyway",
            self.interface
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::parse::section_entries as entries;

    fn general(mode: NetMode, interface: &str) -> General {
        General {
            mode,
            interface: Some(interface.to_owned()),
            ..General::default()
        }
    }

    #[test]
    fn only_the_netns_lan_is_allowed_without_the_flag() {
        let c = parse(1, &entries(&[("interface", "br-decoy")])).expect("valid");
        assert!(c.check(&general(NetMode::Netns, "br-decoy")).is_ok());
        let e = c
            .check(&general(NetMode::Netns, "eth0"))
            .expect_err("other if");
        assert!(e.contains("allow_host_interface"), "{e}");
        let e = c
            .check(&general(NetMode::Alias, "br-decoy"))
            .expect_err("alias");
        assert!(e.contains("mode = alias"), "{e}");
        assert!(c.check(&General::default()).is_err());
        let forced = parse(
            1,
            &entries(&[("interface", "eth0"), ("allow_host_interface", "true")]),
        )
        .expect("valid");
        assert!(forced.check(&general(NetMode::Alias, "eth0")).is_ok());
    }

    #[test]
    fn bad_sections_say_what_is_wrong_where() {
        let e = parse(
            7,
            &entries(&[("allow_host_interface", "maybe"), ("iface", "x")]),
        )
        .expect_err("invalid");
        let lines: Vec<usize> = e.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 7]);
    }
}
