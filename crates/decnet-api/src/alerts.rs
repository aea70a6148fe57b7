//! What `/api/v1/alerts/*` serves from: the running alerts engine
//! (decnet-alerts), the fleet file's alerts sections (and where to read
//! them again for a reload), and the channel/rule edits made through the
//! API, kept in the store as one settings document ([`OVERRIDES_KEY`]) so
//! they survive a restart and reach every server sharing the store.
//!
//! Precedence (see `decnet_alerts::config::overrides`): an API edit of a
//! channel or custom rule replaces the file's section of that name; an API
//! delete hides a file rule; a built-in's enabled/severity edit wins over
//! the file's `[alerts]` lists; everything else comes from the file.

use std::path::Path;
use std::sync::Arc;

use decnet_alerts::config::overrides::{Edit, EditError, Sections};
use decnet_alerts::config::{ConfigErrors, Overrides};
use decnet_alerts::{AlertEngine, AlertHandle, AlertsConfig, EngineError, EngineOptions};
use decnet_bus::Bus;
use decnet_store::{Store, StoreError};

use crate::alerts_history::{HistoryWriter, StoreHistory};
use crate::settings_notice;

/// Reads the fleet file's alerts sections again (after checking the whole
/// file still validates). `Err` carries one `FILE:LINE: message` per
/// problem (messages never quote a secret).
pub type AlertsSource = Arc<dyn Fn() -> Result<Sections, Vec<String>> + Send + Sync>;

/// Settings key of the API's channel and rule edits.
pub const OVERRIDES_KEY: &str = "alerts.overrides";

/// Why an edit or a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum AlertsChangeError {
    /// The edit is refused (invalid, unknown rule, built-in delete).
    #[error(transparent)]
    Edit(#[from] EditError),
    /// The file's sections with the stored edits do not validate.
    #[error("{0}")]
    Invalid(ConfigErrors),
    /// The file does not validate (`FILE:LINE: message` each).
    #[error("{}", .0.join("; "))]
    File(Vec<String>),
    /// No file to re-read (the bundled demo fleet).
    #[error("this server's alerts configuration has no file to re-read")]
    NoFile,
    /// The store could not read or keep the edits.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine refused or is not running.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The file's sections and the edits in force on this server.
struct Layers {
    base: Sections,
    /// The stored edits last seen (applied, or refused as not fitting this
    /// server's file: not retried until they change).
    overrides: Overrides,
}

/// The alerts engine as the API sees it.
#[derive(Clone)]
pub struct AlertsBackend {
    /// The engine (views without secrets, history, test, reload).
    pub handle: Arc<AlertHandle>,
    /// The configuration's source for `POST /alerts/reload`; `None` when
    /// there is nothing to re-read (the bundled demo fleet) → 409.
    pub source: Option<AlertsSource>,
    layers: Arc<tokio::sync::Mutex<Layers>>,
    /// Where edits are announced to the other servers.
    bus: Arc<dyn Bus>,
}

/// The stored edits (none when never edited; an unreadable document is
/// reported and ignored rather than keeping alerts from starting).
pub async fn load_overrides(store: &dyn Store) -> Result<Overrides, StoreError> {
    Ok(match store.get_setting(OVERRIDES_KEY).await? {
        None => Overrides::default(),
        Some(v) => serde_json::from_value(v).unwrap_or_else(|e| {
            tracing::warn!("alerts: stored channel/rule edits unreadable ({e}); ignored");
            Overrides::default()
        }),
    })
}

/// The configuration the engine starts with: the file's sections with the
/// stored edits, or the file alone (with a warning) when the edits no
/// longer fit it.
pub fn effective_config(base: &Sections, overrides: &Overrides) -> AlertsConfig {
    overrides.config(base).unwrap_or_else(|e| {
        tracing::warn!(
            "alerts: the API's stored channel/rule edits do not fit the fleet file any more ({e}); running the file's configuration"
        );
        AlertsConfig::from_sections(base).unwrap_or_default()
    })
}

/// A started engine: the API's backend, its history writer, and the task
/// following edits made through other servers.
pub struct Started {
    /// For `Backends::alerts`.
    pub backend: AlertsBackend,
    /// Finish it after the engine (its last history changes).
    pub history: HistoryWriter,
    /// Abort it at shutdown.
    pub follow: tokio::task::JoinHandle<()>,
}

/// Starts the engine on `bus` with the file's sections `base` and the
/// edits stored in `store`, its history going to `store`, spooling in
/// `spool`; `opts` as the caller needs (standby, SIEM bus).
pub async fn start(
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    base: Sections,
    source: Option<AlertsSource>,
    spool: &Path,
    opts: EngineOptions,
) -> Result<Started, AlertsChangeError> {
    AlertsConfig::from_sections(&base).map_err(AlertsChangeError::Invalid)?;
    let stored = load_overrides(&*store).await?;
    let config = effective_config(&base, &stored);
    let (sink, history) = StoreHistory::start(store.clone(), config.delivery.history as u64);
    // The registered webhooks are channels from the start, so what the
    // spool holds for them is delivered, not dropped as unconfigured.
    let registered = crate::webhooks::stored_channels(&*store).await?;
    let opts = EngineOptions {
        history_sink: Some(sink),
        registered,
        ..opts
    };
    let handle = Arc::new(AlertEngine::spawn_with(bus.clone(), config, spool, opts).await?);
    let backend = AlertsBackend::new(handle, source, base, stored, bus);
    let follow = backend.clone().follow(store);
    Ok(Started {
        backend,
        history,
        follow,
    })
}

impl AlertsBackend {
    /// A backend over a running engine started from `base` with
    /// `overrides`, announcing its edits on `bus`.
    pub fn new(
        handle: Arc<AlertHandle>,
        source: Option<AlertsSource>,
        base: Sections,
        overrides: Overrides,
        bus: Arc<dyn Bus>,
    ) -> Self {
        AlertsBackend {
            handle,
            source,
            layers: Arc::new(tokio::sync::Mutex::new(Layers { base, overrides })),
            bus,
        }
    }

    /// Applies an API edit: over the newest stored edits (another server's
    /// included), validated, stored, then applied to the engine. On error
    /// nothing changes.
    pub async fn edit(&self, store: &dyn Store, edit: Edit) -> Result<(), AlertsChangeError> {
        let mut layers = self.layers.lock().await;
        let stored = load_overrides(store).await?;
        let (next, cfg) = stored.edit(&layers.base, edit)?;
        let doc = serde_json::to_value(&next).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.handle.reload(cfg).await?;
        if let Err(e) = store.put_setting(OVERRIDES_KEY, &doc).await {
            // Not kept: put the engine back as it was.
            if let Ok(cfg) = layers.overrides.config(&layers.base) {
                let _ = self.handle.reload(cfg).await;
            }
            return Err(e.into());
        }
        layers.overrides = next;
        settings_notice::publish(&*self.bus, OVERRIDES_KEY);
        Ok(())
    }

    /// Re-reads the file and applies it with the stored edits over it.
    pub async fn reload_file(&self, store: &dyn Store) -> Result<AlertsConfig, AlertsChangeError> {
        let source = self.source.as_ref().ok_or(AlertsChangeError::NoFile)?;
        let base = source().map_err(AlertsChangeError::File)?;
        self.replace_base(store, base).await
    }

    /// Makes `base` the sections the edits are laid over (a re-read file,
    /// or the alerts sections of an INI deployed through the API) and
    /// applies the result. On error nothing changes.
    pub async fn replace_base(
        &self,
        store: &dyn Store,
        base: Sections,
    ) -> Result<AlertsConfig, AlertsChangeError> {
        let mut layers = self.layers.lock().await;
        let overrides = load_overrides(store).await?;
        let cfg = overrides
            .config(&base)
            .map_err(AlertsChangeError::Invalid)?;
        self.handle.reload(cfg.clone()).await?;
        *layers = Layers { base, overrides };
        Ok(cfg)
    }

    /// Applies the stored edits when they differ from those in force here
    /// (made through another server). True when something was applied.
    pub async fn follow_once(&self, store: &dyn Store) -> Result<bool, AlertsChangeError> {
        let mut layers = self.layers.lock().await;
        let stored = load_overrides(store).await?;
        if stored == layers.overrides {
            return Ok(false);
        }
        let applied = match stored.config(&layers.base) {
            Ok(cfg) => self
                .handle
                .reload(cfg)
                .await
                .map_err(AlertsChangeError::from),
            Err(e) => Err(AlertsChangeError::Invalid(e)),
        };
        // Seen either way: a refused document is reported once, not every
        // period, and tried again when it changes.
        layers.overrides = stored;
        applied.map(|()| true)
    }

    /// Follows the stored edits until aborted: re-read on each change
    /// notice (and on the notices' safety-net period).
    pub fn follow(self, store: Arc<dyn Store>) -> tokio::task::JoinHandle<()> {
        let mut changes =
            settings_notice::Follower::new(&self.bus, OVERRIDES_KEY, settings_notice::SAFETY_NET);
        tokio::spawn(async move {
            loop {
                changes.changed().await;
                match self.follow_once(&*store).await {
                    Ok(true) => {
                        tracing::info!("alerts: channel/rule edits made on another server applied")
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!("alerts: cannot apply stored channel/rule edits: {e}"),
                }
            }
        })
    }
}
