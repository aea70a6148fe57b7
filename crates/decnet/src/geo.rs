//! The geolocation databases a fleet is run with: `[geoip] databases` in
//! the fleet file (relative to it) and `--geoip FILE` on the command line.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use decnet_core::FleetSpec;
use decnet_intel::geo::GeoDb;

/// Every database path, the fleet file's first.
pub fn paths(fleet: &FleetSpec, fleet_file: Option<&Path>, cli: &[PathBuf]) -> Vec<PathBuf> {
    let base = fleet_file.and_then(Path::parent);
    fleet
        .geoip
        .iter()
        .map(PathBuf::from)
        .map(|p| match base {
            Some(b) if p.is_relative() => b.join(p),
            _ => p,
        })
        .chain(cli.iter().cloned())
        .collect()
}

/// Opens them (`None` when there are none); an unusable file is an error
/// printed with its path.
pub fn open(
    fleet: &FleetSpec,
    fleet_file: Option<&Path>,
    cli: &[PathBuf],
) -> Result<Option<Arc<GeoDb>>, ExitCode> {
    let paths = paths(fleet, fleet_file, cli);
    if paths.is_empty() {
        return Ok(None);
    }
    match GeoDb::open(&paths) {
        Ok(db) => Ok(Some(Arc::new(db))),
        Err(e) => {
            eprintln!("geoip: {e}");
            Err(ExitCode::from(2))
        }
    }
}
