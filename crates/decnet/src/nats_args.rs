//! NATS connection flags shared by `serve` and `sensor`.

use std::path::{Path, PathBuf};

use clap::Args;

/// How to authenticate to NATS and check its certificate.
#[derive(Args, Clone, Debug, Default)]
pub struct NatsArgs {
    /// NATS credentials: an NKEY seed file (from `decnet sensor enroll`) or a .creds file.
    #[arg(long, env = "DECNET_NATS_CREDS", value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,
    /// CA certificate the NATS server's certificate must chain to (implies TLS).
    #[arg(long, env = "DECNET_NATS_CA", value_name = "FILE")]
    pub nats_ca: Option<PathBuf>,
}

impl NatsArgs {
    /// The NATS configuration for `url`, spooling under `spool_dir`;
    /// `sensor` scopes what it publishes.
    pub fn config(
        &self,
        url: &str,
        spool_dir: &Path,
        sensor: Option<decnet_nats::SensorName>,
    ) -> decnet_nats::NatsConfig {
        let mut cfg = decnet_nats::NatsConfig::new(url, spool_dir.to_owned());
        if self.nats_creds.is_some() {
            cfg.creds_file = self.nats_creds.clone();
        }
        if self.nats_ca.is_some() {
            cfg.ca_file = self.nats_ca.clone();
        }
        cfg.sensor = sensor;
        cfg
    }
}
