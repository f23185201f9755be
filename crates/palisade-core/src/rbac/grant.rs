//! Bindings as stored, and grants: what one principal holds through them.
//!
//! The store loads, for one principal, every binding that applies to the
//! user — bound to the user directly or to a team the user belongs to — and
//! hands them over as [`Grant`]s inside one [`Grants`]. Building [`Grants`]
//! works out once what each grant actually confers (scope and tenant rules
//! applied), so every later decision is a few bit operations.
//!
//! This module must not trust a grant's role for more than its scope and
//! tenant allow: platform permissions come only from the built-in
//! `platform-admin` role bound at tenant scope in the platform tenant, and a
//! project-scope binding confers only project-level permissions for that
//! project, whatever the role carries.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::permission::{Level, Permission, PermissionSet};
use super::role::{BuiltinRole, RoleRef};
use crate::Uid;

/// Who a binding is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Subject {
    /// One user of the tenant.
    User(Uid),
    /// Every member of a team of the tenant.
    Team(Uid),
}

/// Where a binding applies. Always inside the tenant that owns the binding;
/// a project scope names a project of that same tenant (the store checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Scope {
    /// The whole tenant, including every project in it.
    Tenant,
    /// One project.
    Project(Uid),
}

/// A role binding as stored: a subject holds a role at a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Binding {
    /// Identifier.
    pub uid: Uid,
    /// Who holds the role.
    pub subject: Subject,
    /// Which role.
    pub role: RoleRef,
    /// Where it applies.
    pub scope: Scope,
}

/// What a decision is about. The tenant is always the principal's own: no
/// target names another tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Target {
    /// The installation as a whole (platform-level permissions only).
    Platform,
    /// The principal's tenant as a whole: tenant-level permissions, or a
    /// project-level permission on every project at once.
    Tenant,
    /// One project of the principal's tenant. The caller must have found the
    /// project within the principal's tenant first (another tenant's project
    /// is a 404 before any decision).
    Project(Uid),
}

impl From<Scope> for Target {
    fn from(s: Scope) -> Target {
        match s {
            Scope::Tenant => Target::Tenant,
            Scope::Project(p) => Target::Project(p),
        }
    }
}

/// How a binding reaches the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Via {
    /// Bound to the user.
    Direct,
    /// Bound to this team, of which the user is a member.
    Team(Uid),
}

/// The role behind a grant, with its name for explanations.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrantRole {
    /// A built-in role.
    Builtin(BuiltinRole),
    /// A custom role of the tenant.
    Custom {
        /// Its UID.
        uid: Uid,
        /// Its current name.
        name: String,
    },
}

impl GrantRole {
    /// The role's name.
    pub fn name(&self) -> &str {
        match self {
            GrantRole::Builtin(b) => b.name(),
            GrantRole::Custom { name, .. } => name,
        }
    }

    /// The stored reference to the role.
    pub fn role_ref(&self) -> RoleRef {
        match self {
            GrantRole::Builtin(b) => RoleRef::Builtin(*b),
            GrantRole::Custom { uid, .. } => RoleRef::Custom(*uid),
        }
    }
}

/// One binding that applies to the principal, with its role's permissions.
///
/// Built only through [`Grant::builtin`] (permissions fixed by the role) or
/// [`Grant::custom`], so a built-in role's permissions cannot be misstated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    binding: Uid,
    role: GrantRole,
    role_permissions: PermissionSet,
    scope: Scope,
    via: Via,
    /// What the grant confers; set by [`Grants::new`].
    effective: PermissionSet,
}

impl Grant {
    /// A binding of a built-in role.
    pub fn builtin(binding: Uid, role: BuiltinRole, scope: Scope, via: Via) -> Grant {
        Grant {
            binding,
            role: GrantRole::Builtin(role),
            role_permissions: role.permissions(),
            scope,
            via,
            effective: PermissionSet::EMPTY,
        }
    }

    /// A binding of a custom role with its current permissions. Platform
    /// permissions in `permissions` (which validation refuses, so only a
    /// tampered row has them) never take effect.
    pub fn custom(
        binding: Uid,
        role_uid: Uid,
        role_name: impl Into<String>,
        permissions: PermissionSet,
        scope: Scope,
        via: Via,
    ) -> Grant {
        Grant {
            binding,
            role: GrantRole::Custom {
                uid: role_uid,
                name: role_name.into(),
            },
            role_permissions: permissions,
            scope,
            via,
            effective: PermissionSet::EMPTY,
        }
    }

    /// The binding's UID.
    pub fn binding(&self) -> Uid {
        self.binding
    }

    /// The bound role.
    pub fn role(&self) -> &GrantRole {
        &self.role
    }

    /// Everything the role carries, whether or not this binding confers it.
    pub fn role_permissions(&self) -> PermissionSet {
        self.role_permissions
    }

    /// Where the binding applies.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// How the binding reaches the user.
    pub fn via(&self) -> Via {
        self.via
    }

    /// What this binding actually confers, at its scope.
    pub fn effective(&self) -> PermissionSet {
        self.effective
    }

    /// Whether this grant allows `p` on `target`. `target` must suit `p`'s
    /// level (see [`super::decide`]); this does not check that.
    pub(super) fn covers(&self, p: Permission, target: Target) -> bool {
        if !self.effective.contains(p) {
            return false;
        }
        match (self.scope, target) {
            // Platform permissions are only ever effective at tenant scope.
            (Scope::Tenant, _) => true,
            (Scope::Project(a), Target::Project(b)) => a == b,
            (Scope::Project(_), _) => false,
        }
    }
}

/// What a binding of `role` with `permissions` at `scope` confers, in a
/// tenant that is (`platform_tenant`) or is not the platform tenant.
pub(super) fn conferred(
    platform_admin: bool,
    permissions: PermissionSet,
    scope: Scope,
    platform_tenant: bool,
) -> PermissionSet {
    match scope {
        Scope::Project(_) => permissions.intersection(PermissionSet::PROJECT),
        Scope::Tenant => {
            let mut levels = PermissionSet::TENANT.union(PermissionSet::PROJECT);
            if platform_admin && platform_tenant {
                levels = levels.union(PermissionSet::PLATFORM);
            }
            permissions.intersection(levels)
        }
    }
}

/// Everything one principal holds: its grants, and whether its tenant is the
/// platform tenant `system`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grants {
    platform_tenant: bool,
    grants: Vec<Grant>,
    /// Union of what tenant-scope grants confer (platform permissions apart).
    tenant_wide: PermissionSet,
    /// Platform permissions held.
    platform: PermissionSet,
    /// Union of what every grant confers, at any scope.
    anywhere: PermissionSet,
    /// Union of what every grant's role carries.
    carried: PermissionSet,
}

impl Grants {
    /// Works out what each grant confers. `platform_tenant` is true only
    /// when the principal's tenant is the platform tenant `system`.
    pub fn new(platform_tenant: bool, grants: Vec<Grant>) -> Grants {
        let mut out = Grants {
            platform_tenant,
            grants: Vec::with_capacity(grants.len()),
            tenant_wide: PermissionSet::EMPTY,
            platform: PermissionSet::EMPTY,
            anywhere: PermissionSet::EMPTY,
            carried: PermissionSet::EMPTY,
        };
        for g in grants {
            out.push(g);
        }
        out
    }

    /// A principal with no grant: denied everything.
    pub fn none(platform_tenant: bool) -> Grants {
        Grants::new(platform_tenant, Vec::new())
    }

    /// Adds one more grant.
    pub fn push(&mut self, mut g: Grant) {
        let platform_admin = g.role == GrantRole::Builtin(BuiltinRole::PlatformAdmin);
        g.effective = conferred(
            platform_admin,
            g.role_permissions,
            g.scope,
            self.platform_tenant,
        );
        if g.scope == Scope::Tenant {
            self.tenant_wide = self
                .tenant_wide
                .union(g.effective.difference(PermissionSet::PLATFORM));
            self.platform = self
                .platform
                .union(g.effective.intersection(PermissionSet::PLATFORM));
        }
        self.anywhere = self.anywhere.union(g.effective);
        self.carried = self.carried.union(g.role_permissions);
        self.grants.push(g);
    }

    /// Whether the principal's tenant is the platform tenant.
    pub fn is_platform_tenant(&self) -> bool {
        self.platform_tenant
    }

    /// The grants, in the order given.
    pub fn iter(&self) -> std::slice::Iter<'_, Grant> {
        self.grants.iter()
    }

    /// Whether there is no grant at all.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }

    /// Every permission allowed on `target`, with the same answer as
    /// [`super::decide`] for each permission whose level suits `target`.
    pub fn held_at(&self, target: Target) -> PermissionSet {
        match target {
            Target::Platform => self.platform,
            Target::Tenant => self.tenant_wide,
            Target::Project(p) => self
                .grants
                .iter()
                .filter(|g| g.scope == Scope::Project(p))
                .fold(
                    self.tenant_wide.intersection(PermissionSet::PROJECT),
                    |acc, g| acc.union(g.effective),
                ),
        }
    }

    /// The projects named by project-scope grants, in order.
    pub fn project_scopes(&self) -> BTreeSet<Uid> {
        self.grants
            .iter()
            .filter_map(|g| match g.scope {
                Scope::Project(p) => Some(p),
                Scope::Tenant => None,
            })
            .collect()
    }

    pub(super) fn tenant_wide(&self) -> PermissionSet {
        self.tenant_wide
    }

    pub(super) fn anywhere(&self) -> PermissionSet {
        self.anywhere
    }

    pub(super) fn carried(&self) -> PermissionSet {
        self.carried
    }
}

impl<'a> IntoIterator for &'a Grants {
    type Item = &'a Grant;
    type IntoIter = std::slice::Iter<'a, Grant>;
    fn into_iter(self) -> Self::IntoIter {
        self.grants.iter()
    }
}

/// Whether `target` is a sensible target for a permission of `level`.
pub(super) fn suits(level: Level, target: Target) -> bool {
    matches!(
        (level, target),
        (Level::Platform, Target::Platform)
            | (Level::Tenant, Target::Tenant)
            | (Level::Project, Target::Tenant | Target::Project(_))
    )
}
