//! decnet-attack: MITRE ATT&CK mapping for decnet (DESIGN §14).
//!
//! * [`catalogue`]: the Enterprise + ICS technique catalogue shipped in the binary.
//! * [`rules`]: declarative TOML rules (single event, sequence, aggregate),
//!   their validator (`FILE:LINE: message`) and the reloadable [`RuleHandle`].
//! * [`engine`]: the [`Tagger`] that turns events into technique [`Tag`]s with
//!   bounded state.
//! * Exchange: [`navigator`] layers, [`stix`] 2.1 bundles, [`misp`] events and a
//!   [`taxii`] 2.1 server router.

pub mod catalogue;
pub mod corpus;
pub mod engine;
pub mod live;
pub mod misp;
pub mod navigator;
pub mod rules;
pub mod stix;
pub mod tag;
pub mod taxii;

pub use catalogue::{Catalogue, Domain, Technique};
pub use engine::{Limits, Tagger};
pub use rules::{validate_dir, RuleError, RuleHandle, RuleSet};
pub use tag::{Evidence, Tag, Tags};
