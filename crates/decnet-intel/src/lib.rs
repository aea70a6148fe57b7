//! decnet-intel: turns raw events into what an analyst reads (DESIGN §9).

pub mod identity;
