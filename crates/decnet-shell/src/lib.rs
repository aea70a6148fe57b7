//! decnet-shell: the fake shell and per-decky virtual filesystem shared by
//! ssh, telnet, ftp and API file drops. No network code, no host I/O:
//! nothing an attacker types ever runs on the host or touches a real file.
//!
//! * [`Vfs`] — one per decky (`Arc`), generated from the persona and seed by
//!   [`generate`]; uploads and file drops enter through [`Vfs::add_file`].
//! * [`Shell`] — one per login session: `execute(line) -> Output` with the
//!   text to show and the [`ShellEvent`]s to record; writes stay in the
//!   session's quota-bounded overlay. Each emulated command is one item of
//!   the private `commands` registry (see ARCHITECTURE.md, "Adding a shell
//!   command").
//! * [`parse`] — bash-like command-line parser (proptested).

pub mod arith;
mod commands;
pub mod gen;
pub mod lived;
pub mod parse;
pub mod shell;
pub mod vfs;

pub use gen::{generate, generate_on};
pub use shell::{Output, Overlay, Shell, ShellEvent, ShellOptions};
pub use vfs::{Account, Content, HostAddrs, HostInfo, Kind, Node, Vfs, VfsError};
