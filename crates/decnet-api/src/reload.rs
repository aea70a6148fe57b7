//! Re-reading the fleet file without a restart (`POST /config/reload`,
//! and SIGHUP in the binary): what the API is given to call, and what it
//! answers with. The binary owns the work (it holds the engine, the
//! responder and the alerts engine); the API only triggers and reports.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

/// What one reload did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, ToSchema)]
pub struct ReloadReport {
    /// Deckies deployed because the file now names them.
    pub added: Vec<String>,
    /// Deckies torn down because the file no longer names them.
    pub removed: Vec<String>,
    /// Deckies redeployed because their section changed.
    pub changed: Vec<String>,
    /// Deckies left running as they were.
    pub unchanged: usize,
    /// `decky: error` for each decky the file names that could not be
    /// (re)deployed; the rest of the reload still applied.
    pub failed: Vec<String>,
    /// Active response policy: `applied`, `unchanged` or `restart required`.
    pub response: String,
    /// Alerts: `applied` or the engine's error.
    pub alerts: String,
    /// Sections that changed but only take effect at the next start
    /// (`[general]`, `[canary]`, `[attack]`, a `[response]` added or removed).
    pub restart_required: Vec<String>,
}

/// A reload in progress.
pub type ReloadFuture = Pin<Box<dyn Future<Output = Result<ReloadReport, Vec<String>>> + Send>>;

/// Starts a reload: `Err` carries one `FILE:LINE: message` per problem of
/// an invalid file, in which case nothing changed.
#[derive(Clone)]
pub struct FleetReload(pub Arc<dyn Fn() -> ReloadFuture + Send + Sync>);

impl std::fmt::Debug for FleetReload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FleetReload")
    }
}
