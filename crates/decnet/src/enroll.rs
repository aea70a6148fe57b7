//! `decnet sensor enroll` / `decnet sensor revoke`: per-sensor NATS
//! credentials, made on the operator's side (see `decnet_nats::enroll`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use decnet_nats::enroll::{self, files, Pki};
use decnet_nats::SensorName;

/// Operator commands about sensors.
#[derive(Subcommand, Debug)]
pub enum SensorCmd {
    /// Make a sensor's NATS credentials bundle and add it to the NATS authorization config.
    Enroll(EnrollArgs),
    /// Remove a sensor from the NATS authorization config.
    Revoke(RevokeArgs),
}

/// Where the operator's NATS PKI lives.
#[derive(Args, Debug)]
pub struct PkiArgs {
    /// Directory of the CA, the NATS server certificate and the authorization config (created on first use).
    #[arg(long, env = "DECNET_NATS_PKI", default_value = "decnet-nats-pki")]
    pub pki: PathBuf,
}

/// `decnet sensor enroll`.
#[derive(Args, Debug)]
pub struct EnrollArgs {
    /// Sensor name (what `decnet sensor --name` will say): letters, digits, '-' or '_'.
    #[arg(long)]
    pub name: String,
    /// Directory to write the sensor's bundle into (copy it to the sensor).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    pub pki: PkiArgs,
    /// Names and addresses of the NATS server, for its certificate (only when the PKI is created).
    #[arg(long = "host", default_values_t = ["localhost".to_owned(), "127.0.0.1".to_owned()])]
    pub hosts: Vec<String>,
    /// NATS URL the sensor connects to (written into its sensor.env); default tls://FIRST_HOST:4222.
    #[arg(long)]
    pub nats_url: Option<String>,
    /// Where the bundle will be installed on the sensor (paths in sensor.env).
    #[arg(long, default_value = "/etc/decnet/nats")]
    pub install_dir: PathBuf,
}

/// `decnet sensor revoke`.
#[derive(Args, Debug)]
pub struct RevokeArgs {
    /// Sensor name.
    #[arg(long)]
    pub name: String,
    #[command(flatten)]
    pub pki: PkiArgs,
}

/// Runs a `decnet sensor …` operator command.
pub fn run(cmd: SensorCmd) -> ExitCode {
    let result = match cmd {
        SensorCmd::Enroll(a) => enroll(a),
        SensorCmd::Revoke(a) => revoke(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn enroll(a: EnrollArgs) -> anyhow::Result<()> {
    let name = SensorName::new(&a.name)?;
    let (pki, created) = Pki::open_or_init(&a.pki.pki, &a.hosts)?;
    if created {
        println!(
            "created NATS PKI in {} (CA, server certificate for {}, serve credentials {})",
            a.pki.pki.display(),
            a.hosts.join(", "),
            pki.serve_seed_path().display()
        );
    }
    let creds = pki.enroll(&name)?;
    let url = a.nats_url.clone().unwrap_or_else(|| {
        let host = a.hosts.first().map(String::as_str).unwrap_or("localhost");
        format!("tls://{host}:4222")
    });
    enroll::write_bundle(&a.out, &creds, &pki.ca_pem()?, &url, &a.install_dir)?;
    println!(
        "sensor '{name}' enrolled (public key {}); bundle in {}:",
        creds.public_key,
        a.out.display()
    );
    println!("  sensor.nk (secret: its NKEY seed), ca.pem, sensor.env, authorization-snippet.conf");
    println!(
        "nats-server: include {} (see {}) and reload it (nats-server --signal reload)",
        a.pki.pki.join(files::AUTHORIZATION).display(),
        a.pki.pki.join(files::SERVER_CONF).display()
    );
    println!(
        "on the sensor: install the bundle in {} and run `decnet sensor --config FLEET.ini` with sensor.env",
        a.install_dir.display()
    );
    Ok(())
}

fn revoke(a: RevokeArgs) -> anyhow::Result<()> {
    let name = SensorName::new(&a.name)?;
    let pki = Pki::open(&a.pki.pki)?;
    if pki.revoke(&name)? {
        println!("sensor '{name}' removed; reload nats-server (nats-server --signal reload)");
        Ok(())
    } else {
        anyhow::bail!("no sensor '{name}' is enrolled in {}", a.pki.pki.display())
    }
}
