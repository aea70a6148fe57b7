//! The edits a topology model takes — the same whether a client makes them
//! directly (a versioned write) or through the mutation queue — and how a
//! queued [`Mutation`] maps onto them.

use serde::de::DeserializeOwned;

use super::model::{
    Edge, Lan, Mutation, MutationOp, TopoResult, Topology, TopologyDecky, TopologyError,
};

/// A part of a topology known by a unique name (LANs, deckies).
trait Named {
    fn name(&self) -> &str;
}

impl Named for Lan {
    fn name(&self) -> &str {
        &self.name
    }
}

impl Named for TopologyDecky {
    fn name(&self) -> &str {
        &self.name
    }
}

/// Appends `item`; `Conflict` when `list` already has its name.
fn add_named<T: Named>(list: &mut Vec<T>, item: T, what: &str) -> TopoResult<()> {
    if list.iter().any(|x| x.name() == item.name()) {
        return Err(TopologyError::Conflict(format!(
            "{what} '{}' exists",
            item.name()
        )));
    }
    list.push(item);
    Ok(())
}

/// Replaces the entry named like `item`; `NotFound` when there is none.
fn replace_named<T: Named>(list: &mut [T], item: T, what: &str) -> TopoResult<()> {
    let slot = list
        .iter_mut()
        .find(|x| x.name() == item.name())
        .ok_or_else(|| TopologyError::NotFound(format!("{what} '{}'", item.name())))?;
    *slot = item;
    Ok(())
}

/// Removes the entry `name`; `NotFound` when there is none.
fn remove_named<T: Named>(list: &mut Vec<T>, name: &str, what: &str) -> TopoResult<()> {
    if !list.iter().any(|x| x.name() == name) {
        return Err(TopologyError::NotFound(format!("{what} '{name}'")));
    }
    list.retain(|x| x.name() != name);
    Ok(())
}

impl Topology {
    /// Adds a LAN; a LAN of that name already there is a conflict.
    pub fn add_lan(&mut self, lan: Lan) -> TopoResult<()> {
        add_named(&mut self.lans, lan, "LAN")
    }

    /// Replaces the LAN with `lan`'s name.
    pub fn update_lan(&mut self, lan: Lan) -> TopoResult<()> {
        replace_named(&mut self.lans, lan, "LAN")
    }

    /// Removes a LAN and every edge to it.
    pub fn remove_lan(&mut self, name: &str) -> TopoResult<()> {
        remove_named(&mut self.lans, name, "LAN")?;
        self.edges.retain(|e| e.lan != name);
        Ok(())
    }

    /// Adds a decky; a decky of that name already there is a conflict.
    pub fn add_decky(&mut self, decky: TopologyDecky) -> TopoResult<()> {
        add_named(&mut self.deckies, decky, "decky")
    }

    /// Replaces the decky with `decky`'s name.
    pub fn update_decky(&mut self, decky: TopologyDecky) -> TopoResult<()> {
        replace_named(&mut self.deckies, decky, "decky")
    }

    /// Removes a decky and every edge from it.
    pub fn remove_decky(&mut self, name: &str) -> TopoResult<()> {
        remove_named(&mut self.deckies, name, "decky")?;
        self.edges.retain(|e| e.decky != name);
        Ok(())
    }

    /// Attaches a decky to a LAN (attaching twice changes nothing).
    pub fn attach(&mut self, edge: Edge) {
        if !self.edges.contains(&edge) {
            self.edges.push(edge);
        }
    }

    /// Detaches a decky from a LAN.
    pub fn detach(&mut self, edge: &Edge) -> TopoResult<()> {
        if !self.edges.contains(edge) {
            return Err(TopologyError::NotFound(format!(
                "edge {} ↔ {}",
                edge.decky, edge.lan
            )));
        }
        self.edges.retain(|x| x != edge);
        Ok(())
    }
}

/// What a mutation asks of the running fleet once the model took it (only
/// when the topology is live).
#[derive(Debug, Default)]
pub(super) struct LiveChange {
    /// A decky of the topology to stop.
    pub stop: Option<String>,
    /// A decky to start (after `stop`, for a replacement).
    pub start: Option<TopologyDecky>,
}

fn args<T: DeserializeOwned>(m: &Mutation, what: &str) -> TopoResult<T> {
    serde_json::from_value(m.args.clone())
        .map_err(|e| TopologyError::Invalid(format!("{what}: {e}")))
}

fn arg_str<'a>(m: &'a Mutation, key: &str) -> TopoResult<&'a str> {
    m.args
        .get(key)
        .and_then(|v| v.as_str())
        .ok_or_else(|| TopologyError::Invalid(format!("{:?} needs '{key}'", m.op)))
}

impl Mutation {
    /// Applies this mutation to `t`'s model; `live` says whether its
    /// deckies run, and so whether the fleet must follow.
    pub(super) fn apply_to(&self, t: &mut Topology, live: bool) -> TopoResult<LiveChange> {
        let mut change = LiveChange::default();
        match self.op {
            MutationOp::AddLan => t.add_lan(args(self, "add_lan")?)?,
            MutationOp::UpdateLan => t.update_lan(args(self, "update_lan")?)?,
            MutationOp::RemoveLan => t.remove_lan(arg_str(self, "name")?)?,
            MutationOp::AddDecky => {
                let d: TopologyDecky = args(self, "add_decky")?;
                t.add_decky(d.clone())?;
                change.start = live.then_some(d);
            }
            MutationOp::UpdateDecky => {
                let d: TopologyDecky = args(self, "update_decky")?;
                t.update_decky(d.clone())?;
                if live {
                    change.stop = Some(d.name.clone());
                    change.start = Some(d);
                }
            }
            MutationOp::Remove => {
                let name = arg_str(self, "name")?;
                t.remove_decky(name)?;
                change.stop = live.then(|| name.to_owned());
            }
            MutationOp::Attach => t.attach(args(self, "attach")?),
            MutationOp::Detach => t.detach(&args(self, "detach")?)?,
        }
        Ok(change)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::topology::model::{MutationStatus, TopologyStatus};
    use chrono::Utc;

    /// A pending topology: LAN `dmz`, decky `web` (http) attached to it.
    pub(crate) fn topo() -> Topology {
        Topology {
            id: "t".into(),
            name: "t".into(),
            status: TopologyStatus::Pending,
            version: 1,
            lans: vec![Lan {
                name: "dmz".into(),
                cidr: "127.0.80.0/24".into(),
                cidr6: None,
                tarpit: Default::default(),
            }],
            deckies: vec![TopologyDecky {
                name: "web".into(),
                services: vec!["http".into()],
                ..Default::default()
            }],
            edges: vec![Edge {
                decky: "web".into(),
                lan: "dmz".into(),
            }],
            tarpit: Default::default(),
            error: None,
            created_at: Utc::now(),
        }
    }

    fn mutation(op: MutationOp, args: serde_json::Value) -> Mutation {
        Mutation {
            id: "m".into(),
            topology_id: "t".into(),
            op,
            args,
            status: MutationStatus::Pending,
            error: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
            version: 1,
        }
    }

    #[test]
    fn removals_take_their_edges_and_duplicates_conflict() {
        let mut t = topo();
        assert!(matches!(
            t.add_lan(t.lans[0].clone()),
            Err(TopologyError::Conflict(_))
        ));
        assert!(matches!(
            t.add_decky(t.deckies[0].clone()),
            Err(TopologyError::Conflict(_))
        ));
        t.attach(t.edges[0].clone());
        assert_eq!(t.edges.len(), 1, "attaching twice changes nothing");
        t.remove_lan("dmz").unwrap();
        assert!(t.lans.is_empty() && t.edges.is_empty());
        assert!(matches!(
            t.remove_lan("dmz"),
            Err(TopologyError::NotFound(_))
        ));
        let mut t = topo();
        t.remove_decky("web").unwrap();
        assert!(t.deckies.is_empty() && t.edges.is_empty());
        let gone = Edge {
            decky: "web".into(),
            lan: "dmz".into(),
        };
        assert!(matches!(t.detach(&gone), Err(TopologyError::NotFound(_))));
    }

    #[test]
    fn mutations_edit_the_model_and_say_what_the_fleet_must_do() {
        let replace = mutation(
            MutationOp::UpdateDecky,
            serde_json::json!({"name": "web", "services": ["ssh"]}),
        );
        let mut t = topo();
        let change = replace.apply_to(&mut t, true).unwrap();
        assert_eq!(t.deckies[0].services, ["ssh"]);
        assert_eq!(change.stop.as_deref(), Some("web"));
        assert_eq!(change.start.map(|d| d.name), Some("web".to_owned()));
        // Not live: the model changes, the fleet is left alone.
        let mut t = topo();
        let change = replace.apply_to(&mut t, false).unwrap();
        assert!(change.stop.is_none() && change.start.is_none());
        let remove = mutation(MutationOp::Remove, serde_json::json!({}));
        assert!(matches!(
            remove.apply_to(&mut topo(), true),
            Err(TopologyError::Invalid(m)) if m.contains("needs 'name'")
        ));
        let bad = mutation(MutationOp::AddLan, serde_json::json!({"name": 3}));
        assert!(matches!(
            bad.apply_to(&mut topo(), false),
            Err(TopologyError::Invalid(m)) if m.starts_with("add_lan:")
        ));
    }
}
