//! The tokio runtime of a subcommand, built in one place so every command
//! reports a failure to start it the same way.

use std::process::ExitCode;

/// Which scheduler a command runs on.
#[derive(Clone, Copy, Debug)]
pub enum Flavor {
    /// All cores: `serve`, `demo`, `sensor`.
    MultiThread,
    /// One thread: short administrative commands (`user`).
    CurrentThread,
}

/// The runtime, or the exit code after saying why there is none.
pub fn build(flavor: Flavor) -> Result<tokio::runtime::Runtime, ExitCode> {
    let mut builder = match flavor {
        Flavor::MultiThread => tokio::runtime::Builder::new_multi_thread(),
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
    };
    builder.enable_all().build().map_err(|e| {
        eprintln!("cannot start runtime: {e}");
        ExitCode::FAILURE
    })
}
