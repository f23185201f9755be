//! The error type of the core crate.

/// Errors raised by domain validation.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoreError {
    /// A UID was not exactly 12 lowercase hexadecimal characters.
    #[error("invalid UID: expected 12 lowercase hexadecimal characters")]
    InvalidUid,
    /// A name did not satisfy the naming rules; the message says which.
    #[error("invalid {field}: {reason}")]
    InvalidName {
        /// The field that was checked.
        field: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
}
