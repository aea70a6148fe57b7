//! Where formatted records go. A [`Sink`] writes one batch at a time; a
//! retryable error makes the output wait and try the same batch again.

pub mod file;
pub mod http;
pub mod tcp;

use futures::future::BoxFuture;

use super::Record;

/// A sink failure.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    /// Worth retrying the same batch?
    pub retryable: bool,
    /// What happened (never a secret).
    pub message: String,
}

impl SinkError {
    /// A failure that may pass.
    pub fn transient(m: impl Into<String>) -> Self {
        SinkError {
            retryable: true,
            message: m.into(),
        }
    }
}

/// A destination for records.
pub trait Sink: Send + 'static {
    /// Writes one batch.
    fn write<'a>(&'a mut self, batch: &'a [Record]) -> BoxFuture<'a, Result<(), SinkError>>;
}
