//! The TAXII collections of a running server, read from the store's STIX
//! objects: everything the fleet saw, its indicators only, and one
//! collection per campaign intel has formed.

use std::sync::Arc;

use decnet_store::attack_sql::{StixQuery, StixVersion};
use decnet_store::{Store, StoreError};
use uuid::Uuid;

use super::stix_feed::{campaign_collection, FLEET_COLLECTION};
use crate::taxii::{
    CollectionInfo, ObjectQuery, Page, SourceError, StixRecord, TaxiiSource, VersionFilter,
};

/// Id of the collection of every object.
pub const FLEET_COLLECTION_ID: &str = "2f7e4f3a-5d1c-4c8e-9b0a-6e1d2c3b4a50";
/// Id of the indicators-only collection.
pub const INDICATORS_COLLECTION_ID: &str = "8a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
/// Campaign collections listed at most.
const MAX_CAMPAIGN_COLLECTIONS: u32 = 100;

/// A [`TaxiiSource`] over the store.
pub struct StoreSource {
    store: Arc<dyn Store>,
}

impl StoreSource {
    /// Serves `store`'s STIX objects.
    pub fn new(store: Arc<dyn Store>) -> StoreSource {
        StoreSource { store }
    }
}

fn unavailable(e: StoreError) -> SourceError {
    SourceError::Unavailable(e.to_string())
}

fn versions(v: &VersionFilter) -> Vec<StixVersion> {
    match v {
        VersionFilter::Last => vec![StixVersion::Last],
        VersionFilter::First => vec![StixVersion::First],
        VersionFilter::All => vec![StixVersion::All],
        VersionFilter::Exactly(list) => list.iter().cloned().map(StixVersion::Exactly).collect(),
        VersionFilter::Union(fs) => fs.iter().flat_map(versions).collect(),
    }
}

/// The stored collection and forced type of a TAXII collection.
struct Target {
    stored: String,
    only_type: Option<&'static str>,
}

impl StoreSource {
    async fn target(&self, collection: &str) -> Result<Option<Target>, SourceError> {
        let fixed = |stored: &str, only_type| {
            Ok(Some(Target {
                stored: stored.to_owned(),
                only_type,
            }))
        };
        match collection {
            FLEET_COLLECTION_ID | FLEET_COLLECTION => return fixed(FLEET_COLLECTION, None),
            INDICATORS_COLLECTION_ID | "indicators" => {
                return fixed(FLEET_COLLECTION, Some("indicator"))
            }
            _ => {}
        }
        let raw = collection.strip_prefix("campaign-").unwrap_or(collection);
        let Ok(id) = Uuid::parse_str(raw) else {
            return Ok(None);
        };
        match self.store.get_campaign(id).await.map_err(unavailable)? {
            Some(_) => fixed(&campaign_collection(id), None),
            None => Ok(None),
        }
    }
}

impl TaxiiSource for StoreSource {
    async fn collections(&self) -> Result<Vec<CollectionInfo>, SourceError> {
        let mut out = vec![
            CollectionInfo {
                id: FLEET_COLLECTION_ID.into(),
                title: "decnet fleet".into(),
                description: Some(
                    "Every attacker the fleet tagged: threat actors, ATT&CK attack patterns, indicators, sightings"
                        .into(),
                ),
                alias: Some(FLEET_COLLECTION.into()),
            },
            CollectionInfo {
                id: INDICATORS_COLLECTION_ID.into(),
                title: "decnet indicators".into(),
                description: Some("Indicators only (attacker addresses)".into()),
                alias: Some("indicators".into()),
            },
        ];
        let campaigns = self
            .store
            .list_campaigns(MAX_CAMPAIGN_COLLECTIONS, 0)
            .await
            .map_err(unavailable)?;
        for c in campaigns.data {
            out.push(CollectionInfo {
                id: c.id.to_string(),
                title: format!("decnet campaign {}", c.id),
                description: Some(format!("Attackers of a campaign: {}", c.reasons.join("; "))),
                alias: Some(campaign_collection(c.id)),
            });
        }
        Ok(out)
    }

    async fn objects(
        &self,
        collection: &str,
        query: &ObjectQuery,
    ) -> Result<Option<Page>, SourceError> {
        let Some(target) = self.target(collection).await? else {
            return Ok(None);
        };
        let types = match target.only_type {
            None => query.types.clone(),
            Some(t) if query.types.is_empty() || query.types.iter().any(|q| q == t) => {
                vec![t.to_owned()]
            }
            Some(_) => return Ok(Some(Page::default())),
        };
        let after = match &query.next {
            Some(c) => Some(crate::taxii::decode_cursor(c)?),
            None => None,
        };
        let limit = query.limit.max(1);
        let q = StixQuery {
            collection: target.stored,
            added_after: query.added_after,
            after,
            ids: query.ids.clone(),
            types,
            spec_versions: query.spec_versions.clone(),
            versions: versions(&query.versions),
            limit: u32::try_from(limit + 1).unwrap_or(u32::MAX),
        };
        let rows = self.store.stix_page(&q).await.map_err(unavailable)?;
        let mut records: Vec<StixRecord> = rows
            .into_iter()
            .filter_map(|r| {
                let object = serde_json::from_str(&r.object).ok()?;
                StixRecord::new(object, r.date_added)
            })
            .collect();
        let more = records.len() > limit;
        records.truncate(limit);
        let next = if more {
            records.last().map(crate::taxii::encode_cursor)
        } else {
            None
        };
        Ok(Some(Page {
            records,
            more,
            next,
        }))
    }
}
