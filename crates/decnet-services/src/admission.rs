//! Who gets a connection slot on a decky.
//!
//! A decky has [`Limits::max_conns_per_decky`] slots shared by all its
//! services, and one source address may hold at most
//! [`Limits::max_conns_per_source`] of them, so a single attacker cannot
//! starve the decky for everyone else. Like sshd's `MaxStartups`, a decky
//! under load refuses at random before its hard limit: once half its
//! slots are taken, 30 % of the new connections of sources already
//! holding several are dropped, rising linearly to all of them when the
//! decky is full. Sources holding few connections are never dropped
//! early, so newcomers keep getting in while the heavy users are thinned.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use parking_lot::Mutex;
use rand::Rng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::ctx::Limits;

/// Drop probability at the start of the early-drop zone, in percent.
const EARLY_DROP_RATE: u32 = 30;
/// A source holding fewer than `max_conns_per_source / LIGHT_SHARE`
/// connections is never dropped early.
const LIGHT_SHARE: usize = 8;

/// Why a connection was turned away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Every slot of the decky is taken.
    #[error("connection limit of the decky reached")]
    DeckyFull,
    /// This source holds its whole share.
    #[error("connection limit per source reached")]
    SourceFull,
    /// The decky is under load, this source holds several slots, and it
    /// lost the early-drop draw.
    #[error("connection dropped early: decky under load")]
    EarlyDrop,
}

impl Refusal {
    /// Short reason for events.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::DeckyFull => "decky_full",
            Refusal::SourceFull => "source_full",
            Refusal::EarlyDrop => "early_drop",
        }
    }
}

/// The connection slots of one decky (kept across live config changes).
pub struct Slots {
    decky: Arc<Semaphore>,
    sources: Mutex<HashMap<IpAddr, usize>>,
}

/// A connection's hold on its slots; released when dropped.
pub struct Admission {
    _permit: OwnedSemaphorePermit,
    slots: Arc<Slots>,
    source: IpAddr,
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut sources = self.slots.sources.lock();
        if let Some(n) = sources.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                sources.remove(&self.source);
            }
        }
    }
}

impl Slots {
    /// Slots for a decky with these limits.
    pub fn new(limits: &Limits) -> Arc<Slots> {
        Arc::new(Slots {
            decky: Arc::new(Semaphore::new(limits.max_conns_per_decky)),
            sources: Mutex::new(HashMap::new()),
        })
    }

    /// Connections `source` holds now.
    pub fn held_by(&self, source: IpAddr) -> usize {
        self.sources.lock().get(&source).copied().unwrap_or(0)
    }

    /// Free slots of the decky.
    pub fn available(&self) -> usize {
        self.decky.available_permits()
    }

    /// Admits a connection from `source`, or says why not.
    pub fn admit(self: &Arc<Self>, source: IpAddr, limits: &Limits) -> Result<Admission, Refusal> {
        let mut sources = self.sources.lock();
        let held = sources.get(&source).copied().unwrap_or(0);
        let cap = limits.max_conns_per_source.max(1);
        if held >= cap {
            return Err(Refusal::SourceFull);
        }
        let decky_cap = limits.max_conns_per_decky.max(1);
        let used = decky_cap.saturating_sub(self.decky.available_permits());
        let heavy = held >= (cap / LIGHT_SHARE).max(1);
        if heavy && early_drop(used, decky_cap, &mut rand::thread_rng()) {
            return Err(Refusal::EarlyDrop);
        }
        let permit = self
            .decky
            .clone()
            .try_acquire_owned()
            .map_err(|_| Refusal::DeckyFull)?;
        *sources.entry(source).or_insert(0) += 1;
        Ok(Admission {
            _permit: permit,
            slots: self.clone(),
            source,
        })
    }
}

/// The MaxStartups draw: `used` of the decky's `cap` slots are taken.
fn early_drop(used: usize, cap: usize, rng: &mut impl Rng) -> bool {
    let start = cap / 2;
    if cap < 4 || used < start {
        return false;
    }
    let span = (cap - start).max(1) as u32;
    let pct =
        EARLY_DROP_RATE + (100 - EARLY_DROP_RATE) * (used - start).min(cap - start) as u32 / span;
    rng.gen_range(0..100) < pct
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(decky: usize, source: usize) -> Limits {
        Limits {
            max_conns_per_decky: decky,
            max_conns_per_source: source,
            ..Limits::default()
        }
    }

    #[test]
    fn one_source_cannot_take_the_whole_decky() {
        let l = limits(8, 4);
        let slots = Slots::new(&l);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let mut held = Vec::new();
        let mut refusals = Vec::new();
        for _ in 0..50 {
            match slots.admit(a, &l) {
                Ok(x) => held.push(x),
                Err(r) => refusals.push(r),
            }
        }
        assert_eq!(held.len(), 4);
        assert!(refusals.iter().all(|r| *r == Refusal::SourceFull));
        assert_eq!(slots.held_by(a), held.len());
        // Another source still gets in.
        let other = slots.admit(b, &l).expect("second source admitted");
        drop(held);
        assert_eq!(slots.held_by(a), 0);
        assert_eq!(slots.available(), 7);
        drop(other);
        assert_eq!(slots.available(), 8);
    }

    #[test]
    fn decky_cap_still_applies_across_sources() {
        let l = limits(3, 64);
        let slots = Slots::new(&l);
        let held: Vec<_> = (2..5)
            .map(|i| slots.admit(IpAddr::from([127, 0, 0, i]), &l).unwrap())
            .collect();
        assert_eq!(
            slots.admit("127.0.0.9".parse().unwrap(), &l).err(),
            Some(Refusal::DeckyFull)
        );
        drop(held);
        assert!(slots.admit("127.0.0.9".parse().unwrap(), &l).is_ok());
    }

    #[test]
    fn early_drop_rises_to_certainty_when_the_decky_fills() {
        let mut rng = rand::thread_rng();
        let rate = |used: usize, rng: &mut rand::rngs::ThreadRng| {
            (0..2000).filter(|_| early_drop(used, 512, rng)).count() as f64 / 2000.0
        };
        assert_eq!(rate(255, &mut rng), 0.0);
        let at_start = rate(256, &mut rng);
        assert!((0.2..0.4).contains(&at_start), "{at_start}");
        assert!(rate(511, &mut rng) > 0.9);
        assert!(!early_drop(2, 3, &mut rng));
    }

    #[test]
    fn under_load_heavy_sources_are_thinned_and_newcomers_admitted() {
        let l = limits(64, 32);
        let slots = Slots::new(&l);
        let mut held = Vec::new();
        // Eight heavy sources fill the decky past half.
        for i in 0..8u8 {
            for _ in 0..6 {
                if let Ok(a) = slots.admit(IpAddr::from([127, 0, 1, i]), &l) {
                    held.push(a);
                }
            }
        }
        assert!(held.len() >= 40, "{}", held.len());
        let drops = (0..200)
            .filter(|_| {
                matches!(
                    slots.admit(IpAddr::from([127, 0, 1, 0]), &l),
                    Err(Refusal::EarlyDrop)
                )
            })
            .count();
        assert!(drops > 0, "a heavy source is thinned under load");
        // A newcomer holding nothing is never dropped early.
        for i in 0..10u8 {
            let r = slots.admit(IpAddr::from([127, 0, 2, i]), &l);
            assert!(!matches!(r, Err(Refusal::EarlyDrop)), "{:?}", r.err());
        }
    }
}
