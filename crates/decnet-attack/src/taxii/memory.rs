//! An in-memory [`TaxiiSource`]: collections held as record lists. Used by
//! tests and the example server; small deployments could use it too.

use parking_lot::RwLock;

use super::source::{
    paginate, CollectionInfo, ObjectQuery, Page, SourceError, StixRecord, TaxiiSource,
};

/// Collections in memory.
#[derive(Default)]
pub struct MemorySource {
    collections: RwLock<Vec<(CollectionInfo, Vec<StixRecord>)>>,
}

impl MemorySource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a collection.
    pub fn set_collection(&self, info: CollectionInfo, records: Vec<StixRecord>) {
        let mut c = self.collections.write();
        c.retain(|(i, _)| i.id != info.id);
        c.push((info, records));
    }

    /// Appends records to a collection; false if it does not exist.
    pub fn add(&self, collection: &str, records: impl IntoIterator<Item = StixRecord>) -> bool {
        let mut c = self.collections.write();
        match c.iter_mut().find(|(i, _)| i.id == collection) {
            Some((_, list)) => {
                list.extend(records);
                true
            }
            None => false,
        }
    }
}

impl TaxiiSource for MemorySource {
    async fn collections(&self) -> Result<Vec<CollectionInfo>, SourceError> {
        Ok(self
            .collections
            .read()
            .iter()
            .map(|(i, _)| i.clone())
            .collect())
    }

    async fn objects(
        &self,
        collection: &str,
        query: &ObjectQuery,
    ) -> Result<Option<Page>, SourceError> {
        let c = self.collections.read();
        let Some((_, records)) = c
            .iter()
            .find(|(i, _)| i.id == collection || i.alias.as_deref() == Some(collection))
        else {
            return Ok(None);
        };
        Ok(Some(paginate(records, query)?))
    }
}
