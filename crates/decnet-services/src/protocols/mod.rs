//! Every protocol, grouped by what a newcomer would look for: one folder
//! per family, one module per protocol. A family's `mod.rs` holds what its
//! protocols share (mail's SASL, files' filesystem reads, windows' NTLM,
//! ics' PLC persona, web's REST decoy server); protocols never import a
//! protocol of another family.

pub mod db;
pub mod files;
pub mod ics;
pub mod infra;
pub mod mail;
pub mod remote;
pub mod web;
pub mod windows;
