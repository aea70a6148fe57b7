//! decnet-canary: canary tokens and breadcrumbs (DESIGN §13).
//!
//! A token is something an intruder may find and use — a URL, a hostname,
//! a document, a key, a credential file — that reports back when used.
//! Nobody legitimate ever touches one, so every trigger is an intruder.
//!
//! * [`kinds`]: the registry of token kinds; each mints its secrets and
//!   renders its files for a [`kinds::Ctx`] (receivers and target deckies).
//! * [`CanaryService`] ([`store`]): create/list/get/revoke/download on the
//!   store's documents, keeping the [`TokenIndex`] current.
//! * [`receivers`]: the HTTP call-home server (nginx lookalike, also an
//!   S3/git lookalike for the credential kinds) and the authoritative DNS
//!   server for the canary zone.
//! * [`watch`]: the credential watcher, matching what deckies see (logins,
//!   keys, bearer tokens, paths) against the index.
//! * [`notice`]: token change notices on the bus, so servers sharing a
//!   store keep their indexes current without polling.
//! * [`remote_plant`]: a sensor's deckies planted by the servers, over
//!   the bus's request/reply.
//! * [`plant`] and [`bundle`]: files for deckies by archetype, and zips with
//!   install scripts for real workstations.
//!
//! Every trigger is one `canary_trigger` [`decnet_core::Event`] on the bus
//! ([`trigger`]), so the store, intel, response and alerts see it like any
//! other event.

pub mod bundle;
pub mod error;
pub mod index;
pub mod kinds;
pub mod notice;
pub mod plant;
pub mod receivers;
pub mod remote_plant;
pub mod secrets;
pub mod store;
pub mod token;
pub mod trigger;
pub mod watch;
mod zipfile;

pub use error::{CanaryError, CanaryResult};
pub use index::{KeyKind, TokenIndex};
pub use kinds::{Artifact, Ctx, Endpoint, Location, Targets, TokenKind};
pub use store::CanaryService;
pub use token::{Credential, NewToken, Placement, Token, TokenSummary};
pub use trigger::{TriggerCounter, Via};
