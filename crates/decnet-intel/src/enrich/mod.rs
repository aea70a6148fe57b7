//! Optional online enrichment of attacker addresses (`[enrich]`): what
//! AbuseIPDB and GreyNoise say about an address, asked with the user's own
//! keys, behind intel and never in its way.
//!
//! Intel offers the addresses of every batch it committed
//! ([`EnrichQueue::offer`]): one store read says which (address, provider)
//! answers are younger than `ttl` (those are reused, also across restarts
//! and servers), the rest go to the providers with a `try_send` each,
//! nothing that waits for a provider. Addresses no registry places
//! (private, loopback, CGNAT, ULA… — the same test as geolocation,
//! [`crate::geo::is_routable`]) are never sent anywhere. Each provider has
//! its own task and bounded queue, so a slow or failing provider delays
//! nothing but its own lookups; when its queue is full the address is
//! dropped (counted) and offered again with the attacker's next batch. A
//! task waits for its turn under the provider's rate (`rate` lookups a
//! minute, spaced evenly), asks with a timeout, and stores the answer with
//! the time it was fetched.
//! Failures are logged without flooding ([`decnet_store::outage::Outage`])
//! and the address is asked again after [`RETRY_AFTER`]. Keys go only into
//! the provider's header: never into a log line, an error or the API.

mod abuseipdb;
mod greynoise;
pub mod provider;
mod worker;

use std::time::Duration;

use decnet_core::enrich::{EnrichConfig, WrittenSecret};
use decnet_core::secret::Secret;

pub use provider::{Answer, LookupError, Provider, PROVIDERS};
pub use worker::{EnrichQueue, EnrichStats, Enricher};

/// Addresses waiting per provider; past it offers are dropped.
pub const QUEUE: usize = 1024;
/// A failed lookup is retried no sooner than this.
pub const RETRY_AFTER: Duration = Duration::from_secs(300);
/// How long to pause a provider that answered 429 without `Retry-After`.
pub const RATE_LIMITED_PAUSE: Duration = Duration::from_secs(60);
/// Largest answer read.
pub const MAX_BODY: usize = 64 * 1024;

/// One provider to ask.
pub struct ProviderSetup {
    /// The provider.
    pub provider: &'static dyn Provider,
    /// Its API root (`https://api.abuseipdb.com`).
    pub root: String,
    /// The user's key.
    pub key: Secret,
}

impl std::fmt::Debug for ProviderSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSetup")
            .field("provider", &self.provider.name())
            .field("root", &self.root)
            .field("key", &self.key)
            .finish()
    }
}

/// Enrichment, ready to run: keys resolved.
#[derive(Debug)]
pub struct EnrichSettings {
    /// The providers with a key.
    pub providers: Vec<ProviderSetup>,
    /// Answers are reused this long.
    pub ttl: Duration,
    /// Lookups per minute, per provider.
    pub rate: u32,
    /// Per-lookup timeout.
    pub timeout: Duration,
}

impl EnrichSettings {
    /// The `[enrich]` section with its keys read (`env:`/`file:`); an
    /// unreadable key is `(line, message)`, the message without the value.
    pub fn from_config(c: &EnrichConfig) -> Result<Self, (usize, String)> {
        let mut providers = Vec::new();
        let configured: [(&'static dyn Provider, &Option<WrittenSecret>, &str); 2] = [
            (&abuseipdb::AbuseIpDb, &c.abuseipdb_key, &c.abuseipdb_url),
            (&greynoise::GreyNoise, &c.greynoise_key, &c.greynoise_url),
        ];
        for (provider, key, root) in configured {
            let Some(key) = key else { continue };
            let key = key
                .resolve()
                .map_err(|e| (key.line, format!("[enrich] {}_key: {e}", provider.name())))?;
            providers.push(ProviderSetup {
                provider,
                root: root.to_owned(),
                key,
            });
        }
        Ok(EnrichSettings {
            providers,
            ttl: c.ttl,
            rate: c.rate,
            timeout: c.timeout,
        })
    }

    /// `abuseipdb (https://api.abuseipdb.com), …; ttl 24h, 10/min` for the
    /// startup log (no key).
    pub fn describe(&self) -> String {
        let names: Vec<String> = self
            .providers
            .iter()
            .map(|p| format!("{} ({})", p.provider.name(), p.root))
            .collect();
        format!(
            "{}; reused {} s, {} lookups/min per provider",
            names.join(", "),
            self.ttl.as_secs(),
            self.rate
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn providers_are_named_uniquely() {
        let mut names: Vec<&str> = PROVIDERS.iter().map(|p| p.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names, ["abuseipdb", "greynoise"]);
    }

    #[test]
    fn keys_are_resolved_and_never_shown() {
        let c = decnet_core::enrich::parse(
            1,
            &[
                ("greynoise_key".into(), "gn-secret-key".into(), 2),
                (
                    "abuseipdb_key".into(),
                    "env:DECNET_INTEL_UNSET_ABUSE_KEY".into(),
                    3,
                ),
            ],
        )
        .unwrap();
        let (line, msg) = EnrichSettings::from_config(&c).unwrap_err();
        assert_eq!(line, 3);
        assert!(msg.contains("DECNET_INTEL_UNSET_ABUSE_KEY"), "{msg}");
        let only_gn =
            decnet_core::enrich::parse(1, &[("greynoise_key".into(), "gn-secret-key".into(), 2)])
                .unwrap();
        let s = EnrichSettings::from_config(&only_gn).unwrap();
        assert_eq!(s.providers.len(), 1);
        assert_eq!(s.providers[0].provider.name(), "greynoise");
        assert_eq!(s.providers[0].key.expose(), "gn-secret-key");
        assert!(!format!("{s:?}").contains("gn-secret-key"));
        assert!(!s.describe().contains("gn-secret-key"));
    }
}
