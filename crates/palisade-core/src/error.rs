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
    /// A permission name outside the RBAC catalogue.
    #[error("unknown permission: expected a `resource.verb` name from the catalogue")]
    UnknownPermission,
    /// A permission was listed more than once.
    #[error("permission {0} is listed more than once")]
    DuplicatePermission(crate::rbac::Permission),
    /// A name that is not one of the built-in roles.
    #[error("unknown built-in role")]
    UnknownRole,
    /// A custom role may not take a built-in role's name.
    #[error("role name {0} is reserved for a built-in role")]
    ReservedRoleName(&'static str),
    /// A custom role must carry at least one permission.
    #[error("a custom role needs at least one permission")]
    EmptyRole,
    /// A custom role may not carry a platform permission.
    #[error("permission {0} is platform-level and cannot be part of a custom role")]
    PlatformPermissionInCustomRole(crate::rbac::Permission),
}
