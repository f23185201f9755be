//! The closed catalogue of permissions and a copyable set of them.
//!
//! Every permission is `resource.verb`, has a [`Level`] that says which
//! bindings can confer it, and a one-line description for the explain
//! endpoint. The catalogue is an enum so a typo in a route table is a compile
//! error, and so a set of permissions is a 128-bit mask: deciding costs a few
//! bit operations and never allocates.
//!
//! This module must not grow wildcards or a "parse anything" escape hatch:
//! names outside the catalogue are refused with [`CoreError::UnknownPermission`].

use std::fmt;
use std::str::FromStr;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::CoreError;

/// Which kind of binding can confer a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Only the built-in `platform-admin` role, bound at tenant scope in the
    /// platform tenant `system`.
    Platform,
    /// Only a binding at tenant scope.
    Tenant,
    /// A binding at tenant scope (covering every project of the tenant) or a
    /// binding at the scope of one project (covering that project).
    Project,
}

impl Level {
    /// The spelling used in JSON and messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Platform => "platform",
            Level::Tenant => "tenant",
            Level::Project => "project",
        }
    }
}

/// Declares the catalogue once: variant, name, level, description.
macro_rules! catalogue {
    ($( $(#[$meta:meta])* $variant:ident = $name:literal, $level:ident, $desc:literal; )+) => {
        /// A permission from the closed catalogue. The declaration order is
        /// the catalogue order: platform, then tenant, then project level.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(u8)]
        pub enum Permission {
            $( $(#[$meta])* #[doc = $desc] $variant, )+
        }

        impl Permission {
            /// Every permission, in catalogue order (`ALL[p as usize] == p`).
            pub const ALL: &'static [Permission] = &[ $( Permission::$variant, )+ ];

            /// The `resource.verb` name.
            pub const fn as_str(self) -> &'static str {
                match self { $( Permission::$variant => $name, )+ }
            }

            /// Which kind of binding can confer it.
            pub const fn level(self) -> Level {
                match self { $( Permission::$variant => Level::$level, )+ }
            }

            /// One line saying what it allows.
            pub const fn description(self) -> &'static str {
                match self { $( Permission::$variant => $desc, )+ }
            }

            /// Parses a `resource.verb` name exactly (case-sensitive, no
            /// surrounding spaces). Anything outside the catalogue is
            /// [`CoreError::UnknownPermission`].
            pub fn parse(s: &str) -> Result<Permission, CoreError> {
                match s {
                    $( $name => Ok(Permission::$variant), )+
                    _ => Err(CoreError::UnknownPermission),
                }
            }
        }
    };
}

catalogue! {
    // Platform level: the installation as a whole.
    TenantList = "tenant.list", Platform, "List every tenant of the installation.";
    TenantGet = "tenant.get", Platform, "Read any tenant of the installation.";
    TenantCreate = "tenant.create", Platform, "Create a tenant.";
    TenantDelete = "tenant.delete", Platform, "Delete a tenant and crypto-shred its data.";

    // Tenant level: the principal's tenant as a whole.
    UserList = "user.list", Tenant, "List the tenant's users.";
    UserGet = "user.get", Tenant, "Read a user of the tenant.";
    UserCreate = "user.create", Tenant, "Create a user in the tenant.";
    UserUpdate = "user.update", Tenant, "Enable, disable or rename a user.";
    UserDelete = "user.delete", Tenant, "Delete a user.";
    UserResetPassword = "user.reset-password", Tenant, "Set a one-time password for a user.";
    UserRevokeSessions = "user.revoke-sessions", Tenant, "End every session of a user.";
    UserUnlock = "user.unlock", Tenant, "Clear a user's failed-login delays.";
    TeamList = "team.list", Tenant, "List the tenant's teams.";
    TeamGet = "team.get", Tenant, "Read a team and its members.";
    TeamCreate = "team.create", Tenant, "Create a team.";
    TeamUpdate = "team.update", Tenant, "Rename a team or change its members.";
    TeamDelete = "team.delete", Tenant, "Delete a team.";
    RoleList = "role.list", Tenant, "List built-in and custom roles.";
    RoleGet = "role.get", Tenant, "Read a role and its permissions.";
    RoleCreate = "role.create", Tenant, "Create a custom role.";
    RoleUpdate = "role.update", Tenant, "Change a custom role's name or permissions.";
    RoleDelete = "role.delete", Tenant, "Delete a custom role.";
    RolebindingList = "rolebinding.list", Tenant, "List role bindings at every scope of the tenant.";
    RolebindingGet = "rolebinding.get", Tenant, "Read any role binding of the tenant.";
    RolebindingCreate = "rolebinding.create", Tenant, "Bind a role at tenant or project scope.";
    RolebindingDelete = "rolebinding.delete", Tenant, "Remove any role binding of the tenant.";
    ApikeyList = "apikey.list", Tenant, "List every API key of the tenant (own keys need no permission).";
    ApikeyDelete = "apikey.delete", Tenant, "Revoke anyone's API key (own keys need no permission).";
    SettingsGet = "settings.get", Tenant, "Read the tenant's security settings.";
    SettingsUpdate = "settings.update", Tenant, "Change the tenant's security settings.";
    AuditList = "audit.list", Tenant, "Read the tenant's audit log.";
    AuditExport = "audit.export", Tenant, "Export the tenant's audit log.";
    ProjectList = "project.list", Tenant, "List every project of the tenant.";
    ProjectCreate = "project.create", Tenant, "Create a project.";

    // Project level: one project, or every project through a tenant binding.
    ProjectGet = "project.get", Project, "Read a project.";
    ProjectUpdate = "project.update", Project, "Rename or describe a project.";
    ProjectDelete = "project.delete", Project, "Delete a project.";
    CloudaccountList = "cloudaccount.list", Project, "List a project's cloud accounts.";
    CloudaccountGet = "cloudaccount.get", Project, "Read a cloud account (never its credentials).";
    CloudaccountCreate = "cloudaccount.create", Project, "Add a cloud account with its credentials.";
    CloudaccountDelete = "cloudaccount.delete", Project, "Delete a cloud account.";
    ClusterList = "cluster.list", Project, "List a project's clusters.";
    ClusterGet = "cluster.get", Project, "Read a cluster.";
    ClusterCreate = "cluster.create", Project, "Create a cluster.";
    ClusterUpdate = "cluster.update", Project, "Change a cluster.";
    ClusterDelete = "cluster.delete", Project, "Delete a cluster and revoke its bus credentials.";
    ClusterCredentials = "cluster.credentials", Project, "Mint message-bus credentials for a cluster's agent.";
    ClusterScan = "cluster.scan", Project, "Run a hardening scan job on a cluster.";
    ProjectbindingList = "projectbinding.list", Project, "List the role bindings at this project's scope.";
    ProjectbindingGet = "projectbinding.get", Project, "Read a role binding at this project's scope.";
    ProjectbindingCreate = "projectbinding.create", Project, "Bind a role at this project's scope.";
    ProjectbindingDelete = "projectbinding.delete", Project, "Remove a role binding at this project's scope.";
}

// The set is a u128 mask indexed by discriminant.
const _: () = assert!(Permission::ALL.len() <= 128);

impl Permission {
    /// The permission at a catalogue position, if there is one.
    pub fn from_index(i: usize) -> Option<Permission> {
        Permission::ALL.get(i).copied()
    }

    const fn bit(self) -> u128 {
        1u128 << (self as u8)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Permission {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Permission::parse(s)
    }
}

impl Serialize for Permission {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Permission::parse(&s).map_err(de::Error::custom)
    }
}

/// A set of permissions: a copyable bit mask, so checks never allocate.
///
/// Serialises as a JSON array of names in catalogue order; deserialising
/// refuses unknown names and duplicates (see [`PermissionSet::parse_names`]).
/// The order (`Ord`) is that of the masks: deterministic, for sorting only.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PermissionSet(u128);

impl PermissionSet {
    /// No permission.
    pub const EMPTY: PermissionSet = PermissionSet(0);
    /// The whole catalogue.
    pub const ALL: PermissionSet = PermissionSet::of(Permission::ALL);
    /// Every platform-level permission.
    pub const PLATFORM: PermissionSet = PermissionSet::of_level(Level::Platform);
    /// Every tenant-level permission.
    pub const TENANT: PermissionSet = PermissionSet::of_level(Level::Tenant);
    /// Every project-level permission.
    pub const PROJECT: PermissionSet = PermissionSet::of_level(Level::Project);

    /// The set of the listed permissions.
    pub const fn of(list: &[Permission]) -> PermissionSet {
        let mut bits = 0u128;
        let mut rest = list;
        while let Some((p, tail)) = rest.split_first() {
            bits |= p.bit();
            rest = tail;
        }
        PermissionSet(bits)
    }

    /// Every permission of one level.
    pub const fn of_level(level: Level) -> PermissionSet {
        let mut bits = 0u128;
        let mut rest = Permission::ALL;
        while let Some((p, tail)) = rest.split_first() {
            if p.level() as u8 == level as u8 {
                bits |= p.bit();
            }
            rest = tail;
        }
        PermissionSet(bits)
    }

    /// Whether `p` is in the set.
    pub const fn contains(self, p: Permission) -> bool {
        self.0 & p.bit() != 0
    }

    /// The set with `p` added.
    #[must_use]
    pub const fn with(self, p: Permission) -> PermissionSet {
        PermissionSet(self.0 | p.bit())
    }

    /// Permissions in either set.
    #[must_use]
    pub const fn union(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 | other.0)
    }

    /// Permissions in both sets.
    #[must_use]
    pub const fn intersection(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 & other.0)
    }

    /// Permissions in `self` but not in `other`.
    #[must_use]
    pub const fn difference(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 & !other.0)
    }

    /// Whether every permission of `self` is in `other`.
    pub const fn is_subset(self, other: PermissionSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Number of permissions in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The permissions in catalogue order.
    pub fn iter(self) -> impl Iterator<Item = Permission> + Clone {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            while bits != 0 {
                let i = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(p) = Permission::from_index(i) {
                    return Some(p);
                }
            }
            None
        })
    }

    /// Parses a list of names, refusing unknown names
    /// ([`CoreError::UnknownPermission`]) and names given twice
    /// ([`CoreError::DuplicatePermission`]), so a request that misspells or
    /// repeats a permission is answered rather than silently reshaped.
    pub fn parse_names<'a, I>(names: I) -> Result<PermissionSet, CoreError>
    where
        I: IntoIterator<Item = &'a str>,
    {
        let mut set = PermissionSet::EMPTY;
        for name in names {
            set = set.insert_new(Permission::parse(name)?)?;
        }
        Ok(set)
    }

    fn insert_new(self, p: Permission) -> Result<PermissionSet, CoreError> {
        if self.contains(p) {
            return Err(CoreError::DuplicatePermission(p));
        }
        Ok(self.with(p))
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        iter.into_iter()
            .fold(PermissionSet::EMPTY, PermissionSet::with)
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Permission::as_str))
            .finish()
    }
}

impl fmt::Display for PermissionSet {
    /// Names in catalogue order, separated by `, `.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(p.as_str())?;
        }
        Ok(())
    }
}

impl Serialize for PermissionSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.len()))?;
        for p in self.iter() {
            seq.serialize_element(&p)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for PermissionSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SetVisitor;
        impl<'de> Visitor<'de> for SetVisitor {
            type Value = PermissionSet;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of distinct permission names")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PermissionSet, A::Error> {
                let mut set = PermissionSet::EMPTY;
                while let Some(p) = seq.next_element::<Permission>()? {
                    set = set.insert_new(p).map_err(de::Error::custom)?;
                }
                Ok(set)
            }
        }
        d.deserialize_seq(SetVisitor)
    }
}
