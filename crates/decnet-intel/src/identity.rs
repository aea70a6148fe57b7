//! Identity clustering (DESIGN §9): which source addresses are one actor.
//!
//! Two layers:
//!
//! * [`IdentityGraph`] — the evidence graph (an undirected edge means "these
//!   two addresses are linked, score ≥ 1.0") and the identities over it: a
//!   union-find whose merges are *soft*. An identity is a connected
//!   component of two or more addresses. When components join, the younger
//!   identity is not deleted but marked `merged` with `merged_into` pointing
//!   at the survivor (and remembers its members); when evidence is retracted
//!   and the component splits again, the merged identity whose members make
//!   up a piece is restored (`unmerged`) under its old id.
//! * [`Linker`] (in [`crate::linker`]) — turns per-address signals into
//!   edges with the DESIGN §9 weights, exact evidence scaled by its rarity
//!   ([`crate::rarity`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An address (node of the evidence graph).
pub type Node = String;

/// Identity status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Live: its members are a component of the graph.
    Active,
    /// Soft-merged into another identity (`merged_into`).
    Merged,
    /// Its evidence was retracted and no component is left for it.
    Dissolved,
}

impl Status {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Merged => "merged",
            Status::Dissolved => "dissolved",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Status::Active),
            "merged" => Some(Status::Merged),
            "dissolved" => Some(Status::Dissolved),
            _ => None,
        }
    }
}

/// One identity.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    /// Stable id (UUIDv7: older ids sort first).
    pub id: Uuid,
    /// Status.
    pub status: Status,
    /// Soft-merge target (only when `Merged`).
    pub merged_into: Option<Uuid>,
    /// Active: current members; merged: members when merged; dissolved: last members.
    pub members: BTreeSet<Node>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

/// What changed, in order; published as `identity.<kind>`.
#[derive(Clone, Debug, PartialEq)]
pub enum IdentityEvent {
    /// A new identity.
    Formed {
        /// Its id.
        id: Uuid,
        /// Its members.
        members: Vec<Node>,
    },
    /// An address joined an existing identity.
    Linked {
        /// The identity.
        id: Uuid,
        /// The address.
        ip: Node,
    },
    /// `from` was soft-merged into `into`.
    Merged {
        /// Survivor.
        into: Uuid,
        /// Merged identity.
        from: Uuid,
    },
    /// Evidence was retracted: `id` was restored from `from`, lost members
    /// (`detached`), or was dissolved.
    Unmerged {
        /// The identity restored, shrunk or dissolved.
        id: Uuid,
        /// The identity it was merged into, if it was restored.
        from: Option<Uuid>,
        /// Its members now.
        members: Vec<Node>,
        /// Addresses that left it.
        detached: Vec<Node>,
        /// True when nothing is left of it.
        dissolved: bool,
    },
}

impl IdentityEvent {
    /// Bus type (`formed`, `observation.linked`, `merged`, `unmerged`).
    pub fn kind(&self) -> &'static str {
        match self {
            IdentityEvent::Formed { .. } => "formed",
            IdentityEvent::Linked { .. } => "observation.linked",
            IdentityEvent::Merged { .. } => "merged",
            IdentityEvent::Unmerged { .. } => "unmerged",
        }
    }

    /// JSON body.
    pub fn payload(&self) -> serde_json::Value {
        match self {
            IdentityEvent::Formed { id, members } => {
                serde_json::json!({"identity_id": id, "members": members})
            }
            IdentityEvent::Linked { id, ip } => serde_json::json!({"identity_id": id, "ip": ip}),
            IdentityEvent::Merged { into, from } => {
                serde_json::json!({"identity_id": into, "merged_id": from})
            }
            IdentityEvent::Unmerged {
                id,
                from,
                members,
                detached,
                dissolved,
            } => serde_json::json!({
                "identity_id": id, "from_identity_id": from, "members": members,
                "detached": detached, "dissolved": dissolved
            }),
        }
    }

    /// Identities this event concerns.
    pub fn identities(&self) -> Vec<Uuid> {
        match self {
            IdentityEvent::Formed { id, .. } | IdentityEvent::Linked { id, .. } => vec![*id],
            IdentityEvent::Merged { into, from } => vec![*into, *from],
            IdentityEvent::Unmerged { id, from, .. } => {
                let mut v = vec![*id];
                v.extend(from.iter().copied());
                v
            }
        }
    }
}

/// Evidence graph + soft-merge union-find over it.
#[derive(Clone, Debug, Default)]
pub struct IdentityGraph {
    adj: HashMap<Node, BTreeSet<Node>>,
    ids: HashMap<Uuid, Identity>,
    of: HashMap<Node, Uuid>,
    children: HashMap<Uuid, BTreeSet<Uuid>>,
    /// Address → merged identities that list it as a member. Lets a
    /// reconcile around an address find a merged identity whose parent no
    /// longer holds that address, so a narrow reconcile decides what a
    /// reconcile over every node would (idempotence).
    merged_at: HashMap<Node, BTreeSet<Uuid>>,
}

impl IdentityGraph {
    /// Empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or removes the edge a–b. Returns true if it changed.
    pub fn set_edge(&mut self, a: &str, b: &str, present: bool) -> bool {
        if a == b {
            return false;
        }
        if present {
            let n = self
                .adj
                .entry(a.to_owned())
                .or_default()
                .insert(b.to_owned());
            self.adj
                .entry(b.to_owned())
                .or_default()
                .insert(a.to_owned());
            n
        } else {
            let mut changed = false;
            if let Some(s) = self.adj.get_mut(a) {
                changed = s.remove(b);
                if s.is_empty() {
                    self.adj.remove(a);
                }
            }
            if let Some(s) = self.adj.get_mut(b) {
                s.remove(a);
                if s.is_empty() {
                    self.adj.remove(b);
                }
            }
            changed
        }
    }

    /// Neighbours of a node.
    pub fn neighbours(&self, a: &str) -> impl Iterator<Item = &Node> {
        self.adj.get(a).into_iter().flatten()
    }

    /// True if a–b is an edge.
    pub fn has_edge(&self, a: &str, b: &str) -> bool {
        self.adj.get(a).is_some_and(|s| s.contains(b))
    }

    /// Active identity of an address.
    pub fn identity_of(&self, ip: &str) -> Option<Uuid> {
        self.of.get(ip).copied()
    }

    /// An identity by id.
    pub fn get(&self, id: Uuid) -> Option<&Identity> {
        self.ids.get(&id)
    }

    /// Every identity.
    pub fn identities(&self) -> impl Iterator<Item = &Identity> {
        self.ids.values()
    }

    /// Follows `merged_into` to the identity that now holds `id`'s members.
    pub fn find(&self, mut id: Uuid) -> Uuid {
        for _ in 0..64 {
            match self.ids.get(&id).and_then(|i| i.merged_into) {
                Some(next) => id = next,
                None => break,
            }
        }
        id
    }

    /// Restores an identity from storage (call [`reconcile`](Self::reconcile) after edges are rebuilt).
    pub fn restore(&mut self, ident: Identity) {
        if ident.status == Status::Active {
            for m in &ident.members {
                self.of.insert(m.clone(), ident.id);
            }
        }
        if let (Status::Merged, Some(p)) = (ident.status, ident.merged_into) {
            self.children.entry(p).or_default().insert(ident.id);
        }
        let (id, merged) = (ident.id, ident.status == Status::Merged);
        self.ids.insert(id, ident);
        if merged {
            self.index_merged(id);
        }
    }

    /// Records a merged identity's members in `merged_at`.
    fn index_merged(&mut self, id: Uuid) {
        if let Some(ident) = self.ids.get(&id) {
            for m in &ident.members {
                self.merged_at.entry(m.clone()).or_default().insert(id);
            }
        }
    }

    /// Removes an identity's members from `merged_at` (before it stops
    /// being merged or its members change).
    fn unindex_merged(&mut self, id: Uuid) {
        let Some(ident) = self.ids.get(&id) else {
            return;
        };
        for m in &ident.members {
            if let Some(set) = self.merged_at.get_mut(m) {
                set.remove(&id);
                if set.is_empty() {
                    self.merged_at.remove(m);
                }
            }
        }
    }

    fn own(&self, id: Uuid) -> BTreeSet<Node> {
        let Some(ident) = self.ids.get(&id) else {
            return BTreeSet::new();
        };
        let mut own = ident.members.clone();
        if ident.status == Status::Active {
            for c in self.children.get(&id).into_iter().flatten() {
                if let Some(ci) = self.ids.get(c) {
                    for m in &ci.members {
                        own.remove(m);
                    }
                }
            }
            if own.is_empty() {
                own = ident.members.clone();
            }
        }
        own
    }

    /// Brings identities in line with the graph around `touched` (every
    /// endpoint of every changed edge must be in it). Returns the events.
    pub fn reconcile<I>(
        &mut self,
        touched: I,
        now: DateTime<Utc>,
        new_id: &mut dyn FnMut() -> Uuid,
    ) -> Vec<IdentityEvent>
    where
        I: IntoIterator<Item = Node>,
    {
        let (nodes, idset) = self.closure(touched);
        let comps = self.components(&nodes);
        let big: Vec<usize> = (0..comps.len()).filter(|&i| comps[i].len() >= 2).collect();
        // Members as they were before anything below moves them.
        let homes: BTreeMap<Uuid, BTreeSet<Node>> = idset
            .iter()
            .map(|id| (*id, self.ids[id].members.clone()))
            .collect();
        let (mut owner, assigned) = self.assign_owners(&idset, &comps, &big);
        let mut events = Vec::new();
        // Components: existing owner (kept or restored) or a new identity.
        for &ci in &big {
            match owner.get(&ci).copied() {
                Some(id) => self.settle_owner(id, &comps[ci], &mut events),
                None => {
                    let id = self.form(&comps[ci], now, new_id(), &mut events);
                    owner.insert(ci, id);
                }
            }
        }
        // Unassigned identities: merged into the component holding most of
        // their members, or dissolved when none is left.
        for id in &idset {
            if assigned.contains_key(id) {
                continue;
            }
            let target = merge_target(&homes[id], self.ids[id].merged_into, &comps, &big, &owner);
            self.retire(*id, target, &assigned, &mut events);
        }
        // Address → identity.
        for (ci, comp) in comps.iter().enumerate() {
            for n in comp {
                match owner.get(&ci) {
                    Some(id) if comp.len() >= 2 => {
                        self.of.insert(n.clone(), *id);
                    }
                    _ => {
                        self.of.remove(n);
                    }
                }
            }
        }
        events
    }

    /// Nodes reachable from `touched`, plus every member of every identity
    /// (active, or merged) they belong to, with those identities. It is
    /// closed under "shares an address", so what a reconcile decides over
    /// it is what a reconcile over every node would decide for the same
    /// nodes.
    fn closure<I>(&self, touched: I) -> (BTreeSet<Node>, BTreeSet<Uuid>)
    where
        I: IntoIterator<Item = Node>,
    {
        let mut nodes: BTreeSet<Node> = BTreeSet::new();
        let mut idset: BTreeSet<Uuid> = BTreeSet::new();
        let mut queue: VecDeque<Node> = touched.into_iter().collect();
        let mut id_queue: VecDeque<Uuid> = VecDeque::new();
        loop {
            while let Some(n) = queue.pop_front() {
                if !nodes.insert(n.clone()) {
                    continue;
                }
                for m in self.neighbours(&n) {
                    if !nodes.contains(m) {
                        queue.push_back(m.clone());
                    }
                }
                if let Some(id) = self.of.get(&n) {
                    id_queue.push_back(*id);
                }
                id_queue.extend(self.merged_at.get(&n).into_iter().flatten().copied());
            }
            let Some(id) = id_queue.pop_front() else {
                break;
            };
            if !idset.insert(id) {
                continue;
            }
            if let Some(ident) = self.ids.get(&id) {
                queue.extend(
                    ident
                        .members
                        .iter()
                        .filter(|m| !nodes.contains(*m))
                        .cloned(),
                );
            }
            id_queue.extend(self.children.get(&id).into_iter().flatten().copied());
        }
        (nodes, idset)
    }

    /// The connected components of the graph restricted to `nodes`.
    fn components(&self, nodes: &BTreeSet<Node>) -> Vec<BTreeSet<Node>> {
        let mut comp_of: HashMap<&Node, usize> = HashMap::new();
        let mut comps: Vec<BTreeSet<Node>> = Vec::new();
        for n in nodes {
            if comp_of.contains_key(n) {
                continue;
            }
            let idx = comps.len();
            let mut c = BTreeSet::new();
            let mut q = VecDeque::from([n]);
            comp_of.insert(n, idx);
            while let Some(x) = q.pop_front() {
                c.insert(x.clone());
                for y in self.adj.get(x).into_iter().flatten() {
                    if let Some(y) = nodes.get(y) {
                        if !comp_of.contains_key(y) {
                            comp_of.insert(y, idx);
                            q.push_back(y);
                        }
                    }
                }
            }
            comps.push(c);
        }
        comps
    }

    /// Greedy assignment of identities to the `big` components by overlap
    /// with their own members: component → owner, identity → component.
    fn assign_owners(
        &self,
        idset: &BTreeSet<Uuid>,
        comps: &[BTreeSet<Node>],
        big: &[usize],
    ) -> (HashMap<usize, Uuid>, HashMap<Uuid, usize>) {
        let mut pairs: Vec<(usize, bool, DateTime<Utc>, Uuid, usize)> = Vec::new();
        for id in idset {
            let home = self.own(*id);
            let ident = &self.ids[id];
            for &ci in big {
                let ov = home.iter().filter(|m| comps[ci].contains(*m)).count();
                if ov > 0 {
                    pairs.push((
                        ov,
                        ident.status == Status::Active,
                        ident.created_at,
                        *id,
                        ci,
                    ));
                }
            }
        }
        // Active identities first (stability: a reconcile with nothing new
        // changes nothing), then by overlap, then the oldest.
        pairs.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then(b.0.cmp(&a.0))
                .then(a.2.cmp(&b.2))
                .then(a.3.cmp(&b.3))
        });
        let mut owner: HashMap<usize, Uuid> = HashMap::new();
        let mut assigned: HashMap<Uuid, usize> = HashMap::new();
        for (_, _, _, id, ci) in &pairs {
            if owner.contains_key(ci) || assigned.contains_key(id) {
                continue;
            }
            owner.insert(*ci, *id);
            assigned.insert(*id, *ci);
        }
        (owner, assigned)
    }

    /// Gives component `comp` to its owner `id`: an active owner takes its
    /// members as they are now, a merged or dissolved one is restored.
    fn settle_owner(&mut self, id: Uuid, comp: &BTreeSet<Node>, events: &mut Vec<IdentityEvent>) {
        let ident = self.ids.get_mut(&id).expect("identity in idset");
        let before = ident.members.clone();
        if ident.status == Status::Active {
            let detached: Vec<Node> = before.difference(comp).cloned().collect();
            let added: Vec<Node> = comp.difference(&before).cloned().collect();
            ident.members = comp.clone();
            if !detached.is_empty() {
                events.push(IdentityEvent::Unmerged {
                    id,
                    from: None,
                    members: comp.iter().cloned().collect(),
                    detached,
                    dissolved: false,
                });
            }
            for ip in added {
                events.push(IdentityEvent::Linked { id, ip });
            }
            return;
        }
        if ident.status == Status::Merged {
            self.unindex_merged(id);
        }
        let ident = self.ids.get_mut(&id).expect("identity in idset");
        let from = ident.merged_into.take();
        ident.status = Status::Active;
        ident.members = comp.clone();
        if let Some(p) = from {
            if let Some(ch) = self.children.get_mut(&p) {
                ch.remove(&id);
            }
        }
        events.push(IdentityEvent::Unmerged {
            id,
            from,
            members: comp.iter().cloned().collect(),
            detached: Vec::new(),
            dissolved: false,
        });
    }

    /// A new identity `id` for a component nobody owns.
    fn form(
        &mut self,
        comp: &BTreeSet<Node>,
        now: DateTime<Utc>,
        id: Uuid,
        events: &mut Vec<IdentityEvent>,
    ) -> Uuid {
        self.ids.insert(
            id,
            Identity {
                id,
                status: Status::Active,
                merged_into: None,
                members: comp.clone(),
                created_at: now,
            },
        );
        events.push(IdentityEvent::Formed {
            id,
            members: comp.iter().cloned().collect(),
        });
        id
    }

    /// An identity that owns no component: merged into `target`, or
    /// dissolved when there is none; its children follow it.
    fn retire(
        &mut self,
        id: Uuid,
        target: Option<Uuid>,
        assigned: &HashMap<Uuid, usize>,
        events: &mut Vec<IdentityEvent>,
    ) {
        let old_parent = self.ids[&id].merged_into;
        let status = self.ids[&id].status;
        if let Some(p) = old_parent {
            if Some(p) != target {
                if let Some(ch) = self.children.get_mut(&p) {
                    ch.remove(&id);
                }
            }
        }
        match target {
            Some(t) => {
                let ident = self.ids.get_mut(&id).expect("identity");
                ident.status = Status::Merged;
                ident.merged_into = Some(t);
                self.children.entry(t).or_default().insert(id);
                // Merged members do not change while merged: only an
                // identity that was not merged yet enters the index.
                if status != Status::Merged {
                    self.index_merged(id);
                }
                if old_parent != Some(t) && status != Status::Dissolved {
                    events.push(IdentityEvent::Merged { into: t, from: id });
                }
            }
            None => {
                if status == Status::Merged {
                    self.unindex_merged(id);
                }
                let ident = self.ids.get_mut(&id).expect("identity");
                ident.merged_into = None;
                if status != Status::Dissolved {
                    ident.status = Status::Dissolved;
                    if status == Status::Active {
                        events.push(IdentityEvent::Unmerged {
                            id,
                            from: None,
                            members: Vec::new(),
                            detached: ident.members.iter().cloned().collect(),
                            dissolved: true,
                        });
                    }
                }
            }
        }
        self.rehome_children(id, target, assigned);
    }

    /// An identity that is no longer active has no children of its own:
    /// they move to its `target`, or are dissolved with it (those that
    /// took a component of their own stay as they are).
    fn rehome_children(&mut self, id: Uuid, target: Option<Uuid>, assigned: &HashMap<Uuid, usize>) {
        let Some(ch) = self.children.remove(&id) else {
            return;
        };
        if let Some(t) = target {
            self.children
                .entry(t)
                .or_default()
                .extend(ch.iter().copied());
            for c in ch {
                if let Some(ci) = self.ids.get_mut(&c) {
                    ci.merged_into = Some(t);
                }
            }
            return;
        }
        for c in ch {
            if assigned.contains_key(&c) {
                continue;
            }
            if self
                .ids
                .get(&c)
                .is_some_and(|ci| ci.status == Status::Merged)
            {
                self.unindex_merged(c);
            }
            if let Some(ci) = self.ids.get_mut(&c) {
                ci.merged_into = None;
                ci.status = Status::Dissolved;
            }
        }
    }

    /// Checks every invariant against a from-scratch computation; used by
    /// the property tests. Returns a description of the first violation.
    pub fn check(&self) -> Result<(), String> {
        let mut all: BTreeSet<&Node> = self.adj.keys().collect();
        all.extend(self.of.keys());
        let mut seen: BTreeSet<&Node> = BTreeSet::new();
        let mut active_seen: BTreeSet<Uuid> = BTreeSet::new();
        for n in &all {
            if seen.contains(*n) {
                continue;
            }
            let mut comp: BTreeSet<Node> = BTreeSet::new();
            let mut q = VecDeque::from([*n]);
            seen.insert(n);
            while let Some(x) = q.pop_front() {
                comp.insert(x.clone());
                for y in self.adj.get(x).into_iter().flatten() {
                    if seen.insert(y) {
                        q.push_back(y);
                    }
                }
            }
            if comp.len() < 2 {
                if let Some(id) = self.of.get(*n) {
                    return Err(format!("singleton {n} still mapped to {id}"));
                }
                continue;
            }
            let ids: BTreeSet<Uuid> = comp
                .iter()
                .filter_map(|m| self.of.get(m).copied())
                .collect();
            if ids.len() != 1 || comp.iter().any(|m| !self.of.contains_key(m)) {
                return Err(format!("component {comp:?} maps to identities {ids:?}"));
            }
            let id = *ids.iter().next().expect("one id");
            let ident = self.ids.get(&id).ok_or("dangling identity")?;
            if ident.status != Status::Active || ident.members != comp {
                return Err(format!(
                    "identity {id} {:?} members {:?} != component {comp:?}",
                    ident.status, ident.members
                ));
            }
            active_seen.insert(id);
        }
        for ident in self.ids.values() {
            match ident.status {
                Status::Active => {
                    if !active_seen.contains(&ident.id) {
                        return Err(format!("active identity {} is not a component", ident.id));
                    }
                    if ident.merged_into.is_some() {
                        return Err("active identity with merged_into".into());
                    }
                }
                Status::Merged => {
                    let p = ident.merged_into.ok_or("merged identity without target")?;
                    let parent = self.ids.get(&p).ok_or("merged into unknown identity")?;
                    if parent.status != Status::Active {
                        return Err(format!("{} merged into non-active {p}", ident.id));
                    }
                    if !self.children.get(&p).is_some_and(|c| c.contains(&ident.id)) {
                        return Err("children index out of date".into());
                    }
                }
                Status::Dissolved => {
                    if ident.merged_into.is_some() {
                        return Err("dissolved identity with merged_into".into());
                    }
                }
            }
        }
        for (p, ch) in &self.children {
            for c in ch {
                if self.ids.get(c).and_then(|i| i.merged_into) != Some(*p) {
                    return Err(format!("child {c} of {p} points elsewhere"));
                }
            }
        }
        let mut expected: HashMap<&Node, BTreeSet<Uuid>> = HashMap::new();
        for ident in self.ids.values().filter(|i| i.status == Status::Merged) {
            for m in &ident.members {
                expected.entry(m).or_default().insert(ident.id);
            }
        }
        let indexed: HashMap<&Node, BTreeSet<Uuid>> =
            self.merged_at.iter().map(|(n, s)| (n, s.clone())).collect();
        if indexed != expected {
            return Err(format!("merged-member index {indexed:?} != {expected:?}"));
        }
        Ok(())
    }
}

/// Where an identity that owns no component goes: the component holding
/// most of its members `home`. Ties keep the current parent, then go to
/// the oldest owner — never to the component's position in this closure,
/// which a wider reconcile would number differently.
fn merge_target(
    home: &BTreeSet<Node>,
    old_parent: Option<Uuid>,
    comps: &[BTreeSet<Node>],
    big: &[usize],
    owner: &HashMap<usize, Uuid>,
) -> Option<Uuid> {
    big.iter()
        .map(|&ci| {
            (
                home.iter().filter(|m| comps[ci].contains(*m)).count(),
                owner[&ci],
            )
        })
        .filter(|(ov, _)| *ov > 0)
        .max_by(|a, b| {
            a.0.cmp(&b.0)
                .then((Some(a.1) == old_parent).cmp(&(Some(b.1) == old_parent)))
                .then(b.1.cmp(&a.1))
        })
        .map(|(_, owner_id)| owner_id)
}

pub use crate::linker::{weights, Linker, Signals};
