//! Tarpits asked of a topology: for all its deckies, for the deckies of
//! one LAN, or for one decky — the same `ssh:22, http:8080` list and
//! interval as the fleet file's `tarpit =` / `tarpit_interval =`.
//!
//! The most specific level that names a list wins (decky, then its LANs
//! in edge order, then the topology); the interval is found the same way,
//! on its own, so a topology-wide interval also paces a decky's own list.
//! `none` at a decky or LAN opts it out of a wider list.

use decnet_core::tarpit::{self, TarpitSpec, DEFAULT_INTERVAL_SECS};
use serde::{Deserialize, Serialize};

use super::model::{TopoResult, Topology, TopologyDecky, TopologyError};

/// The value that opts a decky or LAN out of a wider tarpit list.
const NONE: &str = "none";

/// Tarpit ports asked at one level of a topology.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TarpitPlan {
    /// `kind:port` entries (`ssh:22, http:8080, tcp:445`), or `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tarpit: Option<String>,
    /// Seconds between two trickles (1–3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tarpit_interval: Option<u32>,
}

impl TarpitPlan {
    /// The ports this level names (`none` names an empty list); `None` when
    /// it names nothing and a wider level decides. Every bad entry is
    /// reported, prefixed with `whose`.
    pub fn specs(&self, whose: &str) -> TopoResult<Option<Vec<TarpitSpec>>> {
        let Some(list) = self.tarpit.as_deref() else {
            return Ok(None);
        };
        if list.trim().eq_ignore_ascii_case(NONE) {
            return Ok(Some(Vec::new()));
        }
        let (specs, errors) = tarpit::parse_list(list);
        if errors.is_empty() {
            Ok(Some(specs))
        } else {
            Err(TopologyError::Invalid(format!(
                "{whose}: {}",
                errors.join("; ")
            )))
        }
    }

    /// Checks the list and the interval of this level.
    pub fn check(&self, whose: &str) -> TopoResult<()> {
        self.specs(whose)?;
        if let Some(n) = self.tarpit_interval {
            tarpit::parse_interval(&n.to_string())
                .map_err(|e| TopologyError::Invalid(format!("{whose}: {e}")))?;
        }
        Ok(())
    }
}

/// A decky's tarpits and their interval, from the most specific level
/// that names them.
pub fn tarpits_of(t: &Topology, d: &TopologyDecky) -> TopoResult<(Vec<TarpitSpec>, u32)> {
    let lans = t
        .edges
        .iter()
        .filter(|e| e.decky == d.name)
        .filter_map(|e| t.lans.iter().find(|l| l.name == e.lan));
    let levels: Vec<(String, &TarpitPlan)> =
        std::iter::once((format!("decky '{}'", d.name), &d.tarpit))
            .chain(lans.map(|l| (format!("LAN '{}'", l.name), &l.tarpit)))
            .chain(std::iter::once(("topology".to_owned(), &t.tarpit)))
            .collect();
    let mut specs = None;
    for (whose, plan) in &levels {
        if let Some(found) = plan.specs(whose)? {
            specs = Some(found);
            break;
        }
    }
    let interval = levels
        .iter()
        .find_map(|(_, p)| p.tarpit_interval)
        .unwrap_or(DEFAULT_INTERVAL_SECS);
    Ok((specs.unwrap_or_default(), interval))
}

/// Every level's plan is valid, and no decky's tarpit takes a port one of
/// its services listens on.
pub(super) fn check(t: &Topology) -> TopoResult<()> {
    t.tarpit.check("topology")?;
    for l in &t.lans {
        l.tarpit.check(&format!("LAN '{}'", l.name))?;
    }
    for d in &t.deckies {
        d.tarpit.check(&format!("decky '{}'", d.name))?;
        let (specs, _) = tarpits_of(t, d)?;
        let services = d.effective_services();
        for spec in &specs {
            if let Some(service) = tarpit::service_on_port(&services, spec.port) {
                return Err(TopologyError::Invalid(format!(
                    "decky '{}': tarpit {}:{} and service '{service}' both listen on {}/tcp; move the tarpit, drop the service or give the decky tarpit = none",
                    d.name,
                    spec.kind.as_str(),
                    spec.port,
                    spec.port
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::tarpit::TarpitKind;

    fn plan(list: &str, interval: Option<u32>) -> TarpitPlan {
        TarpitPlan {
            tarpit: Some(list.into()),
            tarpit_interval: interval,
        }
    }

    /// `web` on LAN `dmz` and `b` on none, both serving http.
    fn topo() -> Topology {
        let mut t = crate::topology::edit::tests::topo();
        t.deckies.push(TopologyDecky {
            name: "b".into(),
            services: vec!["http".into()],
            ..Default::default()
        });
        t
    }

    fn ports(t: &Topology, i: usize) -> (Vec<u16>, u32) {
        let (specs, interval) = tarpits_of(t, &t.deckies[i]).unwrap();
        (specs.iter().map(|s| s.port).collect(), interval)
    }

    #[test]
    fn no_plan_means_no_tarpit() {
        assert_eq!(ports(&topo(), 0), (vec![], DEFAULT_INTERVAL_SECS));
    }

    #[test]
    fn the_most_specific_level_wins_and_intervals_fall_through() {
        let mut t = topo();
        t.tarpit = plan("tcp:445", Some(30));
        assert_eq!(ports(&t, 0), (vec![445], 30));
        assert_eq!(ports(&t, 1), (vec![445], 30));
        // The LAN's list applies to the deckies attached to it only.
        t.lans[0].tarpit = plan("ssh:2222", None);
        assert_eq!(ports(&t, 0), (vec![2222], 30));
        assert_eq!(ports(&t, 1), (vec![445], 30));
        t.deckies[0].tarpit = plan("ssh:22, tcp:23", Some(2));
        assert_eq!(ports(&t, 0), (vec![22, 23], 2));
        // `none` opts a decky out of the wider lists.
        t.deckies[1].tarpit = plan("none", None);
        assert_eq!(ports(&t, 1), (vec![], 30));
        check(&t).unwrap();
    }

    #[test]
    fn bad_lists_and_intervals_say_where_and_what() {
        let mut t = topo();
        t.lans[0].tarpit = plan("smtp:25", None);
        let e = check(&t).unwrap_err().to_string();
        assert!(
            e.contains("LAN 'dmz'") && e.contains("unknown tarpit kind 'smtp'"),
            "{e}"
        );
        let mut t = topo();
        t.tarpit = plan("ssh:22", Some(0));
        let e = check(&t).unwrap_err().to_string();
        assert!(e.starts_with("topology: tarpit_interval"), "{e}");
    }

    #[test]
    fn a_tarpit_on_a_service_port_is_refused() {
        let mut t = topo();
        t.tarpit = plan("http:80", None);
        let e = check(&t).unwrap_err().to_string();
        assert!(
            e.contains("decky 'web'") && e.contains("'http' both listen on 80/tcp"),
            "{e}"
        );
        // The decky that opts out no longer conflicts; the other still does.
        t.deckies[0].tarpit = plan("none", None);
        let e = check(&t).unwrap_err().to_string();
        assert!(e.contains("decky 'b'"), "{e}");
        t.deckies[1].tarpit = plan("http:8080", None);
        check(&t).unwrap();
        assert_eq!(
            tarpits_of(&t, &t.deckies[1]).unwrap().0[0].kind,
            TarpitKind::Http
        );
    }
}
