//! What a principal may do and why, for `GET /v1/users/{uid}/permissions`.
//!
//! [`explain`] lists every permission the grants confer, each with where it
//! holds and which binding, role and team it comes from; [`explain_ignored`]
//! lists what the principal's roles carry but their bindings do not confer,
//! and why. Both are sorted and deterministic, and agree with
//! [`super::decide`] (a property test checks it for every permission and
//! target).
//!
//! This module allocates freely: it serves an explain endpoint, not the
//! per-request decision, and must never be used in place of `decide`.

use serde::Serialize;

use super::grant::{Grant, GrantRole, Grants, Scope, Target, Via};
use super::permission::{Level, Permission, PermissionSet};
use super::role::RoleRef;
use crate::Uid;

/// One permission the principal holds, and everything that confers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Effective {
    /// The permission.
    pub permission: Permission,
    /// Its level.
    pub level: Level,
    /// What it allows.
    pub description: &'static str,
    /// Where it holds and why; never empty; sorted by target, then binding.
    pub holdings: Vec<Holding>,
}

/// One reason a permission holds somewhere.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Holding {
    /// Where it holds: [`Target::Platform`], [`Target::Tenant`] (for a
    /// project-level permission: every project of the tenant) or one
    /// [`Target::Project`].
    pub at: Target,
    /// The binding that confers it.
    pub binding: Uid,
    /// The bound role's name.
    pub role: String,
    /// The bound role, as stored.
    pub role_ref: RoleRef,
    /// Directly, or through which team.
    pub via: Via,
}

/// Where a grant's permission holds, given that the grant confers it.
fn holding_target(g: &Grant, p: Permission) -> Target {
    match (g.scope(), p.level()) {
        (Scope::Project(project), _) => Target::Project(project),
        (Scope::Tenant, Level::Platform) => Target::Platform,
        (Scope::Tenant, Level::Tenant | Level::Project) => Target::Tenant,
    }
}

fn holding(g: &Grant, at: Target) -> Holding {
    Holding {
        at,
        binding: g.binding(),
        role: g.role().name().to_owned(),
        role_ref: g.role().role_ref(),
        via: g.via(),
    }
}

/// Every permission the grants confer, in catalogue order, each with its
/// holdings sorted and free of duplicates. Permissions held nowhere are left
/// out.
pub fn explain(grants: &Grants) -> Vec<Effective> {
    let held = grants
        .iter()
        .fold(PermissionSet::EMPTY, |acc, g| acc.union(g.effective()));
    held.iter()
        .map(|p| {
            let mut holdings: Vec<Holding> = grants
                .iter()
                .filter(|g| g.effective().contains(p))
                .map(|g| holding(g, holding_target(g, p)))
                .collect();
            holdings.sort();
            holdings.dedup();
            Effective {
                permission: p,
                level: p.level(),
                description: p.description(),
                holdings,
            }
        })
        .collect()
}

/// Why permissions that a role carries are not conferred by its binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IgnoredReason {
    /// A binding at project scope confers only project-level permissions.
    ProjectScope,
    /// Platform permissions are conferred only in the platform tenant.
    NotPlatformTenant,
    /// Only the built-in `platform-admin` role confers platform permissions.
    CustomRole,
}

/// Permissions one grant's role carries that the grant does not confer.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ignored {
    /// The binding.
    pub binding: Uid,
    /// The bound role's name.
    pub role: String,
    /// The bound role, as stored.
    pub role_ref: RoleRef,
    /// Where it is bound.
    pub scope: Scope,
    /// Directly, or through which team.
    pub via: Via,
    /// Why.
    pub reason: IgnoredReason,
    /// The permissions not conferred (never empty).
    pub permissions: PermissionSet,
}

/// What the principal's roles carry but their bindings do not confer, one
/// row per binding that drops something, sorted.
pub fn explain_ignored(grants: &Grants) -> Vec<Ignored> {
    let mut out: Vec<Ignored> = grants
        .iter()
        .filter_map(|g| {
            let dropped = g.role_permissions().difference(g.effective());
            if dropped.is_empty() {
                return None;
            }
            // At tenant scope only platform permissions are ever dropped.
            let reason = match (g.scope(), g.role()) {
                (Scope::Project(_), _) => IgnoredReason::ProjectScope,
                (Scope::Tenant, GrantRole::Custom { .. }) => IgnoredReason::CustomRole,
                (Scope::Tenant, GrantRole::Builtin(_)) => IgnoredReason::NotPlatformTenant,
            };
            Some(Ignored {
                binding: g.binding(),
                role: g.role().name().to_owned(),
                role_ref: g.role().role_ref(),
                scope: g.scope(),
                via: g.via(),
                reason,
                permissions: dropped,
            })
        })
        .collect();
    out.sort();
    out.dedup();
    out
}
