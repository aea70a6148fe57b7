//! What `/api/v1/alerts/*` serves from: the running alerts engine
//! (decnet-alerts) and, when there is one, where its configuration can be
//! read again (the fleet file) for a reload.

use std::sync::Arc;

use decnet_alerts::{AlertHandle, AlertsConfig};

/// Reads the alerts configuration again. `Err` carries one `FILE:LINE:
/// message` per problem (messages never quote a secret).
pub type AlertsSource = Arc<dyn Fn() -> Result<AlertsConfig, Vec<String>> + Send + Sync>;

/// The alerts engine as the API sees it.
#[derive(Clone)]
pub struct AlertsBackend {
    /// The engine (views without secrets, history, test, reload).
    pub handle: Arc<AlertHandle>,
    /// The configuration's source for `POST /alerts/reload`; `None` when
    /// there is nothing to re-read (the bundled demo fleet) → 409.
    pub source: Option<AlertsSource>,
}
