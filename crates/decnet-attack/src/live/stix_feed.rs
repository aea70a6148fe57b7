//! STIX objects from stored tags: the per-attacker bundles the tag worker
//! stores for TAXII, and the exports (STIX, MISP, Navigator) the API builds
//! for an attacker, an identity, a campaign or the whole fleet.

use chrono::{DateTime, Utc};
use decnet_store::attack_sql::{StixRow, TagFilter, TechniqueCount};
use decnet_store::{BountyQuery, Store, StoreResult};
use serde_json::Value;

use crate::catalogue::Catalogue;
use crate::navigator::TechniqueStat;
use crate::stix::{self, Defender, Export, FingerprintMethod, Observable, ObservableKind, Subject};
use crate::taxii::StixRecord;

/// Addresses (most recently tagged first) given indicators in a fleet export.
pub const MAX_EXPORT_ADDRESSES: u32 = 200;

/// Captured URLs and files per attacker given indicators (the most recent).
pub const MAX_BOUNTY_PER_ATTACKER: u32 = 100;

/// Technique a captured URL or file is evidence of when the attacker was
/// tagged with it (else: everything the attacker was tagged with).
const INGRESS_TOOL_TRANSFER: &str = "T1105";

/// Stored collection every object goes to.
pub const FLEET_COLLECTION: &str = "fleet";

/// Collection of a campaign's objects.
pub fn campaign_collection(id: uuid::Uuid) -> String {
    format!("campaign-{id}")
}

/// How STIX objects are published.
#[derive(Clone, Debug)]
pub struct FeedConfig {
    /// Publisher identity name.
    pub defender: String,
    /// Versions of each object kept for TAXII `versions`.
    pub keep_versions: u32,
}

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            defender: "decnet".into(),
            keep_versions: 20,
        }
    }
}

/// Navigator/STIX technique figures from stored counts.
pub fn technique_stats(counts: &[TechniqueCount]) -> Vec<TechniqueStat> {
    counts
        .iter()
        .map(|c| TechniqueStat {
            technique_id: c.technique_id.clone(),
            count: c.count,
            first_seen: c.first_seen,
            last_seen: c.last_seen,
            max_confidence: c.max_confidence,
            comment: Some(format!("{} attacker(s)", c.attackers)),
        })
        .collect()
}

/// The export of `subject` over `filter`'s tags; `None` when nothing was tagged.
pub async fn export(
    store: &dyn Store,
    subject: Subject,
    filter: &TagFilter,
    defender: &str,
) -> StoreResult<Option<Export>> {
    let counts = store.attack_technique_counts(filter).await?;
    let Some(first) = counts.iter().map(|c| c.first_seen).min() else {
        return Ok(None);
    };
    let last = counts.iter().map(|c| c.last_seen).max().unwrap_or(first);
    let mut observables = Vec::new();
    let ips: Vec<String> = if filter.src_ips.is_empty() {
        let tagged = store.attack_attackers(filter, MAX_EXPORT_ADDRESSES).await?;
        tagged.into_iter().map(|a| a.src_ip).collect()
    } else {
        filter.src_ips.clone()
    };
    for ip in ips {
        let Ok(addr) = ip.parse() else { continue };
        let per_ip = TagFilter {
            src_ips: vec![ip.clone()],
            ..filter.clone()
        };
        let counts = store.attack_technique_counts(&per_ip).await?;
        let Some(seen) = span(&counts) else { continue };
        let techniques: Vec<String> = counts.iter().map(|c| c.technique_id.clone()).collect();
        observables.push(Observable {
            kind: ObservableKind::Ip(addr),
            count: counts.iter().map(|c| c.count).sum(),
            first_seen: seen.0,
            last_seen: seen.1,
            techniques: techniques.clone(),
        });
        observables.extend(captured(store, &ip, addr, &techniques).await?);
    }
    let observables = stix::merge_observables(observables);
    Ok(Some(Export {
        defender: Defender {
            name: defender.to_owned(),
        },
        subject,
        first_seen: first,
        last_seen: last,
        techniques: technique_stats(&counts),
        observables,
    }))
}

/// What intel captured of a tagged attacker, as indicator values: files
/// it uploaded (SHA-256), URLs it fetched and their domain names, and the
/// HASSH/JA3 of its tools. Credentials it tried are left out: an attacker
/// may try real secrets (a leaked password, a decky's own), and a STIX
/// feed is shared beyond the operator.
async fn captured(
    store: &dyn Store,
    ip: &str,
    addr: std::net::IpAddr,
    techniques: &[String],
) -> StoreResult<Vec<Observable>> {
    let mut out = Vec::new();
    let ingress: Vec<String> = if techniques.iter().any(|t| t == INGRESS_TOOL_TRANSFER) {
        vec![INGRESS_TOOL_TRANSFER.to_owned()]
    } else {
        techniques.to_vec()
    };
    let bounty = store
        .list_bounty(&BountyQuery {
            ip: Some(ip.to_owned()),
            limit: MAX_BOUNTY_PER_ATTACKER,
            ..BountyQuery::default()
        })
        .await?;
    for row in bounty.data {
        let seen = |kind| Observable {
            kind,
            count: row.count,
            first_seen: row.first_seen,
            last_seen: row.last_seen,
            techniques: ingress.clone(),
        };
        match row.kind.as_str() {
            "file" if is_sha256(&row.value) => {
                out.push(seen(ObservableKind::Sha256(row.value.clone())))
            }
            "url" => {
                if let Some(domain) = stix::url_domain(&row.value) {
                    out.push(seen(ObservableKind::Domain(domain)));
                }
                out.push(seen(ObservableKind::Url(row.value.clone())));
            }
            _ => {}
        }
    }
    if let Some(attacker) = store.get_attacker(ip).await? {
        for stored in &attacker.fingerprints {
            if let Some((method, value)) = FingerprintMethod::parse(stored) {
                out.push(Observable {
                    kind: ObservableKind::Fingerprint {
                        method,
                        value: value.to_owned(),
                        src: addr,
                    },
                    count: attacker.sessions.max(1),
                    first_seen: attacker.first_seen,
                    last_seen: attacker.last_seen,
                    techniques: techniques.to_vec(),
                });
            }
        }
    }
    Ok(out)
}

fn is_sha256(v: &str) -> bool {
    v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit())
}

fn span(counts: &[TechniqueCount]) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let first = counts.iter().map(|c| c.first_seen).min()?;
    let last = counts.iter().map(|c| c.last_seen).max()?;
    Some((first, last))
}

/// The objects of a bundle as stored rows of `collection`, added `now`.
pub fn rows_of(bundle: &Value, collection: &str, now: DateTime<Utc>) -> Vec<StixRow> {
    let objects = bundle
        .get("objects")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    objects
        .into_iter()
        .filter_map(|o| StixRecord::new(o, now))
        .map(|r| StixRow {
            collection: collection.to_owned(),
            stix_type: r.stix_type().to_owned(),
            id: r.id,
            version: r.version,
            date_added: r.date_added,
            spec_version: r.spec_version,
            object: r.object.to_string(),
        })
        .collect()
}

/// Rebuilds one attacker's STIX objects from its stored tags and stores
/// the versions that are new, in the fleet collection and, when intel has
/// put the attacker in a campaign, in that campaign's. Returns how many
/// versions were added.
pub async fn publish_attacker(store: &dyn Store, ip: &str, cfg: &FeedConfig) -> StoreResult<u64> {
    let Ok(addr) = ip.parse() else { return Ok(0) };
    let filter = TagFilter {
        src_ips: vec![ip.to_owned()],
        ..TagFilter::default()
    };
    let Some(export) = export(
        store,
        Subject::Attacker { ip: addr },
        &filter,
        &cfg.defender,
    )
    .await?
    else {
        return Ok(0);
    };
    let bundle = stix::bundle(&export, Catalogue::builtin());
    let now = Utc::now();
    let mut rows = rows_of(&bundle, FLEET_COLLECTION, now);
    if let Some(campaign) = campaign_of(store, ip).await? {
        let mut more = rows_of(&bundle, &campaign_collection(campaign), now);
        rows.append(&mut more);
    }
    store.stix_put(&rows, cfg.keep_versions).await
}

async fn campaign_of(store: &dyn Store, ip: &str) -> StoreResult<Option<uuid::Uuid>> {
    let Some(identity) = store.get_attacker(ip).await?.and_then(|a| a.identity_id) else {
        return Ok(None);
    };
    Ok(store
        .get_identity(identity)
        .await?
        .and_then(|i| i.campaign_id))
}
