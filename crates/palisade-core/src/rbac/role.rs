//! Roles: the six built-in roles, and the rules a tenant's custom role must
//! satisfy.
//!
//! Built-in roles have fixed names and permission sets, the same in every
//! tenant, and cannot be edited; their names are reserved so no custom role
//! can impersonate one. This module validates names and permission sets; it
//! must not look anything up (the store resolves a custom role's name to its
//! UID within the principal's tenant).

use std::fmt;
use std::str::FromStr;

use serde::de;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::permission::{Permission as P, PermissionSet};
use crate::model::validate_name;
use crate::{CoreError, Uid};

/// A built-in role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BuiltinRole {
    /// Everything: the platform permissions (only in the platform tenant
    /// `system`, bound at tenant scope) and everything `tenant-admin` has.
    PlatformAdmin,
    /// Every tenant-level and project-level permission.
    TenantAdmin,
    /// Read-only view of the tenant: every `list`/`get` of tenant and project
    /// level except `audit.list` and `apikey.list`.
    TenantViewer,
    /// Every project-level permission.
    ProjectAdmin,
    /// Works with clusters: `project.get`, `cloudaccount.list`/`get`, every
    /// `cluster.*`.
    ProjectEditor,
    /// Reads clusters: `project.get`, `cloudaccount.list`/`get`,
    /// `cluster.list`/`get`.
    ProjectViewer,
}

const TENANT_ADMIN: PermissionSet = PermissionSet::TENANT.union(PermissionSet::PROJECT);

/// Read-only view of a tenant. Leaves out `audit.list` (the audit log shows
/// every actor's actions and client addresses: a security function reserved
/// to admins or a custom auditor role) and `apikey.list` (other people's key
/// metadata; everyone lists their own keys without a permission).
const TENANT_VIEWER: PermissionSet = PermissionSet::of(&[
    P::UserList,
    P::UserGet,
    P::TeamList,
    P::TeamGet,
    P::RoleList,
    P::RoleGet,
    P::RolebindingList,
    P::RolebindingGet,
    P::SettingsGet,
    P::ProjectList,
    P::ProjectGet,
    P::CloudaccountList,
    P::CloudaccountGet,
    P::ClusterList,
    P::ClusterGet,
    P::ProjectbindingList,
    P::ProjectbindingGet,
]);

const PROJECT_EDITOR: PermissionSet = PermissionSet::of(&[
    P::ProjectGet,
    P::CloudaccountList,
    P::CloudaccountGet,
    P::ClusterList,
    P::ClusterGet,
    P::ClusterCreate,
    P::ClusterUpdate,
    P::ClusterDelete,
    P::ClusterCredentials,
    P::ClusterScan,
]);

const PROJECT_VIEWER: PermissionSet = PermissionSet::of(&[
    P::ProjectGet,
    P::CloudaccountList,
    P::CloudaccountGet,
    P::ClusterList,
    P::ClusterGet,
]);

impl BuiltinRole {
    /// Every built-in role, most powerful first.
    pub const ALL: [BuiltinRole; 6] = [
        BuiltinRole::PlatformAdmin,
        BuiltinRole::TenantAdmin,
        BuiltinRole::TenantViewer,
        BuiltinRole::ProjectAdmin,
        BuiltinRole::ProjectEditor,
        BuiltinRole::ProjectViewer,
    ];

    /// The fixed name.
    pub const fn name(self) -> &'static str {
        match self {
            BuiltinRole::PlatformAdmin => "platform-admin",
            BuiltinRole::TenantAdmin => "tenant-admin",
            BuiltinRole::TenantViewer => "tenant-viewer",
            BuiltinRole::ProjectAdmin => "project-admin",
            BuiltinRole::ProjectEditor => "project-editor",
            BuiltinRole::ProjectViewer => "project-viewer",
        }
    }

    /// One line saying what the role is for.
    pub const fn description(self) -> &'static str {
        match self {
            BuiltinRole::PlatformAdmin => {
                "Administers the installation's tenants (in tenant system) and everything in its own tenant."
            }
            BuiltinRole::TenantAdmin => "Administers everything in the tenant.",
            BuiltinRole::TenantViewer => {
                "Reads everything in the tenant except the audit log and other people's API keys."
            }
            BuiltinRole::ProjectAdmin => {
                "Administers projects: cloud accounts, clusters and project role bindings."
            }
            BuiltinRole::ProjectEditor => "Creates, changes, scans and deletes clusters.",
            BuiltinRole::ProjectViewer => "Reads clusters and cloud accounts.",
        }
    }

    /// The permissions the role carries. What a binding of it actually
    /// confers depends on the binding's scope and tenant (see
    /// [`super::Grants`]).
    pub const fn permissions(self) -> PermissionSet {
        match self {
            BuiltinRole::PlatformAdmin => PermissionSet::ALL,
            BuiltinRole::TenantAdmin => TENANT_ADMIN,
            BuiltinRole::TenantViewer => TENANT_VIEWER,
            BuiltinRole::ProjectAdmin => PermissionSet::PROJECT,
            BuiltinRole::ProjectEditor => PROJECT_EDITOR,
            BuiltinRole::ProjectViewer => PROJECT_VIEWER,
        }
    }

    /// Parses a built-in role name exactly; anything else is
    /// [`CoreError::UnknownRole`].
    pub fn parse(s: &str) -> Result<BuiltinRole, CoreError> {
        BuiltinRole::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or(CoreError::UnknownRole)
    }
}

impl fmt::Display for BuiltinRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BuiltinRole {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BuiltinRole::parse(s)
    }
}

impl Serialize for BuiltinRole {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for BuiltinRole {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        BuiltinRole::parse(&s).map_err(de::Error::custom)
    }
}

/// A role as a request names it: a built-in role, or a custom role of the
/// principal's tenant by name (which the store resolves to a [`RoleRef`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RoleName {
    /// One of the built-in roles.
    Builtin(BuiltinRole),
    /// A custom role's name (a valid, non-reserved name; it may not exist).
    Custom(String),
}

impl RoleName {
    /// A built-in name gives [`RoleName::Builtin`]; any other valid role name
    /// (see [`validate_custom_role_name`]) gives [`RoleName::Custom`];
    /// anything else is [`CoreError::InvalidName`].
    pub fn parse(s: &str) -> Result<RoleName, CoreError> {
        if let Ok(b) = BuiltinRole::parse(s) {
            return Ok(RoleName::Builtin(b));
        }
        validate_custom_role_name(s)?;
        Ok(RoleName::Custom(s.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        match self {
            RoleName::Builtin(b) => b.name(),
            RoleName::Custom(n) => n,
        }
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RoleName {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RoleName::parse(s)
    }
}

impl Serialize for RoleName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RoleName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        RoleName::parse(&s).map_err(de::Error::custom)
    }
}

/// The role a binding points at, as stored: a built-in role (which has no
/// per-tenant row) or a custom role by UID (so renaming it keeps bindings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RoleRef {
    /// A built-in role.
    Builtin(BuiltinRole),
    /// A custom role of the binding's tenant.
    Custom(Uid),
}

/// Checks a custom role's name: a DNS label (see
/// [`crate::model::validate_name`]) that is not a built-in role's name
/// ([`CoreError::ReservedRoleName`]).
pub fn validate_custom_role_name(name: &str) -> Result<(), CoreError> {
    validate_name("role name", name)?;
    if let Ok(b) = BuiltinRole::parse(name) {
        return Err(CoreError::ReservedRoleName(b.name()));
    }
    Ok(())
}

/// Checks a custom role's permissions: at least one
/// ([`CoreError::EmptyRole`]) and none of platform level
/// ([`CoreError::PlatformPermissionInCustomRole`], naming the first).
///
/// Tenant-level permissions are allowed: a custom role bound at tenant scope
/// confers them; bound at project scope it confers only its project-level
/// permissions, for that project.
pub fn validate_custom_role_permissions(permissions: PermissionSet) -> Result<(), CoreError> {
    if permissions.is_empty() {
        return Err(CoreError::EmptyRole);
    }
    if let Some(p) = permissions
        .intersection(PermissionSet::PLATFORM)
        .iter()
        .next()
    {
        return Err(CoreError::PlatformPermissionInCustomRole(p));
    }
    Ok(())
}

/// Checks a custom role: its name, then its permissions. Whether the actor
/// may create it is a separate question: [`super::check_grantable`] at
/// tenant scope.
pub fn validate_custom_role(name: &str, permissions: PermissionSet) -> Result<(), CoreError> {
    validate_custom_role_name(name)?;
    validate_custom_role_permissions(permissions)
}
