//! The crate's one error type.
//!
//! The split that matters to callers is retryable against permanent: the queue
//! edge redelivers a message only for a retryable error, and the resilience
//! helpers retry only those.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration variable is missing or invalid; names the variable.
    #[error("configuration: {0}")]
    Config(String),
    /// A dependency could not be reached or refused for load. Retryable.
    #[error("{service} unavailable: {message}")]
    Unavailable { service: &'static str, message: String },
    /// An operation ran past its deadline. Retryable.
    #[error("{operation} timed out after {after:?}")]
    Timeout { operation: String, after: Duration },
    #[error("not found: {0}")]
    NotFound(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// The input is wrong and will stay wrong. Permanent.
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A dependency answered with an error that retrying will not change.
    #[error("{service}: {message}")]
    Backend { service: &'static str, message: String },
}

impl Error {
    /// Whether trying the same operation again may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Unavailable { .. } | Error::Timeout { .. })
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { field: field.into(), message: message.into() }
    }
}
