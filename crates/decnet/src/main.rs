//! The `decnet` command line: a thin layer that wires the crates together.

mod alerts;
mod api;
mod attack;
mod canary;
mod canary_sensor;
mod durability;
mod enrich;
mod enroll;
mod geo;
mod memory;
mod metrics;
mod nats_args;
mod nats_link;
mod passive;
mod pipeline;
mod reload;
mod run;
mod runtime;
mod shutdown;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// decnet — a fleet of decoy hosts in one binary.
#[derive(Parser)]
#[command(name = "decnet", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the bundled demo fleet on 127.0.50.x with the API on 127.0.0.1:8000.
    Demo(run::RunArgs),
    /// Run a fleet from an INI file in the foreground.
    Serve {
        /// Fleet file.
        #[arg(long, short)]
        config: PathBuf,
        #[command(flatten)]
        run: run::RunArgs,
    },
    /// Deckies only, events to NATS JetStream (scale-out sensor); `sensor enroll` makes its credentials.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Sensor {
        #[command(subcommand)]
        admin: Option<enroll::SensorCmd>,
        /// Fleet file.
        #[arg(long, short, required = true)]
        config: Option<PathBuf>,
        /// Sensor name (publishes under `sensor.<name>.`, listens on `control.<name>.*`); default: hostname.
        #[arg(long, env = "DECNET_SENSOR_NAME")]
        name: Option<String>,
        #[command(flatten)]
        run: run::RunArgs,
    },
    /// Check a fleet file; exit 0 when valid, 2 with FILE:LINE: messages when not.
    Validate {
        /// Fleet file.
        file: PathBuf,
    },
    /// Check a directory of ATT&CK rule files; exit 0 when valid, 2 with FILE:LINE: messages when not.
    ValidateRules {
        /// Rule directory (every *.toml in it).
        dir: PathBuf,
    },
    /// Read a capture file (pcap) with the passive sensor's analyzer:
    /// fingerprint and scan events as JSON lines, counters on stderr.
    PassiveRead(passive::ReadArgs),
    /// Manage dashboard/API users in the store.
    #[command(subcommand)]
    User(api::UserCmd),
}

fn main() -> ExitCode {
    memory::tune_allocator();
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { file } => run::validate(&file),
        Command::ValidateRules { dir } => attack::validate_rules(&dir),
        Command::User(cmd) => api::user(cmd),
        Command::PassiveRead(args) => passive::read(args),
        Command::Demo(args) => run::start(None, args),
        Command::Serve { config, run } => run::start(Some(config), run),
        Command::Sensor {
            admin,
            config,
            name,
            run,
        } => match (admin, config) {
            (Some(cmd), _) => enroll::run(cmd),
            (None, Some(config)) => run::start_sensor(config, name, run),
            (None, None) => {
                eprintln!("error: decnet sensor needs --config FLEET.ini");
                ExitCode::from(2)
            }
        },
    }
}
