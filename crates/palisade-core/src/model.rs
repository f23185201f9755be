//! Tenants and the resources they own, as the domain sees them (plaintext).
//!
//! The store encrypts the private fields (user email and display name, cloud
//! credentials) before they reach the database; these types never carry
//! ciphertext.

use serde::{Deserialize, Serialize};

use crate::{CoreError, Timestamp, Uid};

/// Name of the platform tenant created on first start.
pub const SYSTEM_TENANT: &str = "system";

/// A tenant: the isolation boundary for users, projects and clusters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tenant {
    /// Identifier.
    pub uid: Uid,
    /// Unique, human-chosen name (`system` for the platform tenant).
    pub name: String,
    /// Creation time.
    pub created_at: Timestamp,
}

/// Whether a user may log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserStatus {
    /// May log in.
    Active,
    /// Refused at login; sessions end.
    Disabled,
}

impl UserStatus {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }
    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(UserStatus::Active),
            "disabled" => Some(UserStatus::Disabled),
            _ => None,
        }
    }
}

/// A user of one tenant. The email is the login ID within that tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Identifier.
    pub uid: Uid,
    /// Owning tenant.
    pub tenant_uid: Uid,
    /// Login ID (stored encrypted, looked up through a blind index).
    pub email: String,
    /// Display name (stored encrypted).
    pub display_name: String,
    /// Active or disabled.
    pub status: UserStatus,
    /// True until the user sets a password of their own.
    pub must_change_password: bool,
    /// When the password was last set (0 when never).
    pub password_changed_at: Timestamp,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A project inside a tenant; clusters and cloud accounts belong to one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    /// Identifier.
    pub uid: Uid,
    /// Owning tenant.
    pub tenant_uid: Uid,
    /// Name, unique within the tenant.
    pub name: String,
    /// Free-text description.
    pub description: String,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A cloud account: where clusters are provisioned. Its credentials are
/// write-only through the API and stored only as an envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloudAccount {
    /// Identifier.
    pub uid: Uid,
    /// Owning tenant.
    pub tenant_uid: Uid,
    /// Owning project.
    pub project_uid: Uid,
    /// Name, unique within the project.
    pub name: String,
    /// Provider kind, e.g. `aws`, `azure`, `gcp`, `vsphere`.
    pub provider: String,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A cluster record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    /// Identifier.
    pub uid: Uid,
    /// Owning tenant.
    pub tenant_uid: Uid,
    /// Owning project.
    pub project_uid: Uid,
    /// Name, unique within the project.
    pub name: String,
    /// The cloud account it runs in, if any.
    pub cloud_account_uid: Option<Uid>,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A team: a named group of users of one tenant, which role bindings can
/// name as their subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    /// Identifier.
    pub uid: Uid,
    /// Owning tenant.
    pub tenant_uid: Uid,
    /// Name, unique within the tenant.
    pub name: String,
    /// Free-text description.
    pub description: String,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A tenant's own role: a named set of permissions (never platform ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomRole {
    /// Identifier.
    pub uid: Uid,
    /// Owning tenant.
    pub tenant_uid: Uid,
    /// Name, unique within the tenant; never a built-in role's name.
    pub name: String,
    /// Free-text description.
    pub description: String,
    /// What it grants.
    pub permissions: crate::rbac::PermissionSet,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// A stored role binding: who holds which role where, in which tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleBinding {
    /// The binding.
    pub binding: crate::rbac::Binding,
    /// Owning tenant.
    pub tenant_uid: Uid,
    /// Creation time.
    pub created_at: Timestamp,
}

/// Checks a resource name: 1–63 characters of lowercase letters, digits and
/// `-`, starting with a letter and not ending with `-` (a DNS label, so it is
/// safe in subjects, URLs and Kubernetes objects).
pub fn validate_name(field: &'static str, name: &str) -> Result<(), CoreError> {
    let bad = |reason| Err(CoreError::InvalidName { field, reason });
    if name.is_empty() || name.len() > 63 {
        return bad("must be 1 to 63 characters");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return bad("may contain only lowercase letters, digits and '-'");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return bad("must start with a lowercase letter");
    }
    if name.ends_with('-') {
        return bad("must not end with '-'");
    }
    Ok(())
}

/// Normalises an email for lookup: trimmed and lowercased. The stored value
/// keeps the user's spelling; the blind index is computed on this form.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A light syntactic check of an email address: one `@`, non-empty local and
/// domain parts, no whitespace or control characters, at most 254 characters.
pub fn validate_email(email: &str) -> Result<(), CoreError> {
    let bad = |reason| {
        Err(CoreError::InvalidName {
            field: "email",
            reason,
        })
    };
    if email.chars().nth(254).is_some() {
        return bad("must be at most 254 characters");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain whitespace or control characters");
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(())
        }
        _ => bad("must have the form local@domain"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("name", "prod-eu-1").is_ok());
        for bad in ["", "-a", "a-", "Prod", "1abc", "a_b", &"a".repeat(64)] {
            assert!(validate_name("name", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert!(validate_email("admin@localhost").is_ok());
        assert!(validate_email("o'reilly+x@example.com").is_ok());
        for bad in ["", "a", "@b", "a@", "a@@b", "a b@c", "a@b@c"] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
        assert_eq!(normalize_email(" A@B.Com "), "a@b.com");
    }
}
