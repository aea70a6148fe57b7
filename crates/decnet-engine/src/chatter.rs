//! The fleet's own traffic ([`decnet_services::chatter`]) at the rate of
//! `[content] chatter`: every so often one decky opens a flow to another
//! decky that runs the flow's service, from the source decky's address
//! (in netns mode its socket is made in the source decky's namespace, so
//! the flow crosses the LAN between the two deckies' links).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use decnet_services::chatter::{self, ChatterError, Flow};
use decnet_shell::lived::note::Note;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use crate::Fleet;

/// Flows run so far.
#[derive(Debug, Default)]
pub struct ChatterStats {
    /// Flows that completed their dialog.
    pub completed: AtomicU64,
    /// Flows that failed (refused, timed out, unexpected answer).
    pub failed: AtomicU64,
}

/// One flow between two running deckies, chosen at random; `None` when no
/// two deckies can talk (fewer than two, or no target runs a flow's service).
pub async fn once(fleet: &Fleet, rng: &mut impl Rng) -> Option<(Flow, Result<(), ChatterError>)> {
    let deckies = fleet.contexts().await;
    let mut pairs = Vec::new();
    for src in &deckies {
        for dst in &deckies {
            if Arc::ptr_eq(src, dst) {
                continue;
            }
            for flow in Flow::ALL {
                if dst.spec.services.iter().any(|s| s == flow.service()) {
                    pairs.push((src, dst, flow));
                }
            }
        }
    }
    let (src, dst, flow) = pairs.choose(rng)?;
    let port = flow.port().saturating_add(dst.port_offset);
    let target = std::net::SocketAddr::new(dst.ip(), port);
    let helo = src.persona.fqdn();
    let accounts = decnet_services::creds::Credentials::for_service(&dst.spec, "ssh", &[]).accepted;
    let letter = (*flow == Flow::Mail).then(|| letter_for(src, dst, rng));
    let peer = chatter::Peer {
        helo: &helo,
        // The login user (root only when it is the only account).
        login: accounts.last().map(|(u, p)| (u.as_str(), p.as_str())),
        mail: letter.as_ref().map(|(rcpt, note)| (rcpt.as_str(), note)),
    };
    let netns = src.net.as_ref().and_then(|n| n.netns.clone());
    let from = chatter::Source {
        ip: src.ip(),
        netns: netns.as_deref(),
    };
    let result = chatter::run(*flow, from, target, &peer).await;
    if let Err(e) = &result {
        tracing::debug!(from = src.name(), to = dst.name(), ?flow, error = %e, "chatter flow failed");
    }
    Some((*flow, result))
}

/// A colleague's message to the target decky's user (its first user
/// account, else root), dated by the target's clock.
fn letter_for(
    src: &decnet_services::DeckyCtx,
    dst: &decnet_services::DeckyCtx,
    rng: &mut impl Rng,
) -> (String, Note) {
    let vfs = dst.vfs();
    let host = vfs.host();
    let user = host
        .accounts
        .iter()
        .find(|a| a.uid >= 1000)
        .map_or("root", |a| a.name.as_str());
    let domain = &dst.persona.domain;
    let rcpt = format!("{user}@{domain}");
    let note = decnet_shell::lived::note::note(
        domain,
        &src.persona.fqdn(),
        &dst.persona.hostname,
        &rcpt,
        vfs.now(),
        rng,
    );
    (rcpt, note)
}

/// Runs flows at `per_hour` (spaced at random around the mean) until the
/// fleet shuts down; 0 runs nothing.
pub fn start(fleet: Arc<Fleet>, per_hour: u32) -> Arc<ChatterStats> {
    let stats = Arc::new(ChatterStats::default());
    if per_hour == 0 {
        return stats;
    }
    let mean = 3600.0 / f64::from(per_hour);
    let counted = stats.clone();
    let cancel = fleet.cancellation();
    tokio::spawn(async move {
        let mut rng = rand::rngs::StdRng::from_entropy();
        loop {
            let wait = Duration::from_secs_f64(mean * rng.gen_range(0.5..1.5));
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            match once(&fleet, &mut rng).await {
                Some((_, Ok(()))) => counted.completed.fetch_add(1, Ordering::Relaxed),
                Some((_, Err(_))) => counted.failed.fetch_add(1, Ordering::Relaxed),
                None => 0,
            };
        }
    });
    stats
}
