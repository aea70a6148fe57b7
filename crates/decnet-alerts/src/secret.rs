//! The secret string type is shared with NATS credentials: it lives in
//! `decnet-core`.

pub use decnet_core::secret::{Secret, REDACTED};
