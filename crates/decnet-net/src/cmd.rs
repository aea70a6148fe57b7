//! Runs iproute2's `ip`: present on every Linux host, and what operators
//! use to inspect the result, so the commands in errors are reproducible.

use std::process::Command;

use crate::NetError;

/// Runs `ip ARGS…`; a non-zero exit becomes [`NetError::Command`] with stderr.
pub(crate) fn ip(args: &[&str]) -> Result<(), NetError> {
    ip_output(args).map(|_| ())
}

/// Runs `ip ARGS…` and returns its stdout.
pub(crate) fn ip_output(args: &[&str]) -> Result<String, NetError> {
    let command = format!("ip {}", args.join(" "));
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| NetError::Command {
            command: command.clone(),
            message: e.to_string(),
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(NetError::Command {
            command,
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}
