//! Online enrichment a fleet is run with: `[enrich]` in the fleet file,
//! its keys read (`env:`/`file:`) here, at startup and by `validate`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use decnet_core::FleetSpec;
use decnet_intel::enrich::EnrichSettings;

/// The settings (`None` without `[enrich]`); an unreadable key is printed
/// as `FILE:LINE: …` (never with its value).
pub fn settings(
    fleet: &FleetSpec,
    fleet_file: Option<&Path>,
) -> Result<Option<Arc<EnrichSettings>>, ExitCode> {
    let Some(cfg) = &fleet.enrich else {
        return Ok(None);
    };
    match EnrichSettings::from_config(cfg) {
        Ok(s) => Ok(Some(Arc::new(s))),
        Err((line, msg)) => {
            let shown = fleet_file.unwrap_or(Path::new("<fleet>")).display();
            eprintln!("{shown}:{line}: {msg}");
            Err(ExitCode::from(2))
        }
    }
}
