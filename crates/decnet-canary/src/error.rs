//! Everything that can go wrong making, storing or rendering a token.

use uuid::Uuid;

/// Canary failures. The API maps the input errors to 4xx with the message
/// as `detail`, so every message names what was wrong.
#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    /// The requested kind is not in the registry.
    #[error("unknown token kind '{0}' (known: {known})", known = crate::kinds::names().join(", "))]
    UnknownKind(String),
    /// A text field (label, memo, created_by) is empty, too long or holds control characters.
    #[error("{field}: {reason}")]
    InvalidText {
        /// Which field.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A placement names no valid decky.
    #[error("invalid decky name '{0}': 1-63 letters, digits, '-' or '_'")]
    InvalidDecky(String),
    /// A placement path is relative, not normalised, traverses or holds NUL.
    #[error("invalid path '{path}': {reason}")]
    InvalidPath {
        /// The path as given (control characters escaped).
        path: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A kind needs a decky the fleet does not have (e.g. kubeconfig without a k8s decky).
    #[error("token kind '{kind}' needs a {target} decky to point at, and none is configured")]
    MissingTarget {
        /// The kind.
        kind: &'static str,
        /// The target it needs (`ssh`, `k8s`…).
        target: &'static str,
    },
    /// No such token.
    #[error("canary token {0} not found")]
    NotFound(Uuid),
    /// The token is revoked (it can no longer be planted or downloaded).
    #[error("canary token {0} is revoked")]
    Revoked(Uuid),
    /// Building a file failed (zip writer, key encoding).
    #[error("rendering failed: {0}")]
    Render(String),
    /// A stored token could not be decoded.
    #[error("stored canary token is corrupt: {0}")]
    Corrupt(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] decnet_store::StoreError),
}

impl From<zip::result::ZipError> for CanaryError {
    fn from(e: zip::result::ZipError) -> Self {
        CanaryError::Render(format!("zip: {e}"))
    }
}

impl From<std::io::Error> for CanaryError {
    fn from(e: std::io::Error) -> Self {
        CanaryError::Render(format!("io: {e}"))
    }
}

/// Result alias.
pub type CanaryResult<T> = Result<T, CanaryError>;
