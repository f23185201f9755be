//! The authorization decision: may this principal use this permission on
//! this target, and why.
//!
//! [`decide`] runs on every request, so it is a handful of bit operations on
//! sets that [`Grants`] computed once; it never allocates. The grants that
//! allowed a request are produced lazily by [`Allowed::grants`], only when a
//! caller wants to log or explain them.
//!
//! This module must not turn an unclear question into a yes: every path that
//! is not an explicit allow is a deny.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use super::grant::{Grant, Grants, Scope, Target, suits};
use super::permission::{Level, Permission, PermissionSet};
use crate::Uid;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Denial {
    /// No grant of the principal confers the permission anywhere (nor does
    /// any role of theirs carry it).
    NoGrant,
    /// The principal holds the permission, or a role of theirs carries it,
    /// but not where it was asked for: another project, a project binding
    /// asked about the whole tenant, or a tenant-level permission in a role
    /// bound at project scope.
    WrongScope,
    /// A platform permission asked by a principal outside the platform
    /// tenant `system`: nobody there can ever hold it.
    PlatformOnly,
    /// The target does not suit the permission's level (a platform
    /// permission on a tenant, a tenant permission on a project…): a bug in
    /// the caller's route table, refused rather than guessed.
    TargetMismatch,
}

impl Denial {
    /// A stable `snake_case` code for logs and audit events.
    pub const fn code(self) -> &'static str {
        match self {
            Denial::NoGrant => "no_grant",
            Denial::WrongScope => "wrong_scope",
            Denial::PlatformOnly => "platform_only",
            Denial::TargetMismatch => "target_mismatch",
        }
    }

    /// One line for a human.
    pub const fn message(self) -> &'static str {
        match self {
            Denial::NoGrant => "no role binding grants this permission",
            Denial::WrongScope => "this permission is granted, but not at this scope",
            Denial::PlatformOnly => {
                "only platform admins of the platform tenant have this permission"
            }
            Denial::TargetMismatch => "this permission does not apply to this kind of target",
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// The outcome of [`decide`].
#[derive(Debug, Clone, Copy)]
#[must_use]
pub enum Decision<'a> {
    /// Allowed; says by which grants.
    Allow(Allowed<'a>),
    /// Refused; says why.
    Deny(Denial),
}

impl<'a> Decision<'a> {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allow(_))
    }

    /// The reason for a refusal, if refused.
    pub fn denial(&self) -> Option<Denial> {
        match self {
            Decision::Allow(_) => None,
            Decision::Deny(d) => Some(*d),
        }
    }

    /// `Ok` with the allowance, or `Err` with the reason.
    pub fn into_result(self) -> Result<Allowed<'a>, Denial> {
        match self {
            Decision::Allow(a) => Ok(a),
            Decision::Deny(d) => Err(d),
        }
    }
}

/// An allowed decision: the question asked and the grants that answer it.
#[derive(Debug, Clone, Copy)]
pub struct Allowed<'a> {
    grants: &'a Grants,
    permission: Permission,
    target: Target,
}

impl<'a> Allowed<'a> {
    /// The permission that was allowed.
    pub fn permission(&self) -> Permission {
        self.permission
    }

    /// Where it was allowed.
    pub fn target(&self) -> Target {
        self.target
    }

    /// Every grant that allows it (at least one), in the order given to
    /// [`Grants::new`]. Lazy: costs nothing unless iterated.
    pub fn grants(&self) -> impl Iterator<Item = &'a Grant> + 'a {
        let (p, t) = (self.permission, self.target);
        self.grants.iter().filter(move |g| g.covers(p, t))
    }
}

/// Decides whether the principal holding `grants` may use `permission` on
/// `target`. Deny by default:
///
/// - a platform permission needs `platform-admin` bound at tenant scope in
///   the platform tenant, and the target [`Target::Platform`];
/// - a tenant permission needs a tenant-scope grant, and the target
///   [`Target::Tenant`];
/// - a project permission on [`Target::Project`]`(p)` needs a tenant-scope
///   grant or a grant at the scope of `p`; on [`Target::Tenant`] (every
///   project at once) it needs a tenant-scope grant.
pub fn decide(grants: &Grants, permission: Permission, target: Target) -> Decision<'_> {
    let level = permission.level();
    if !suits(level, target) {
        return Decision::Deny(Denial::TargetMismatch);
    }
    let allowed = match target {
        Target::Platform | Target::Tenant => grants.held_at(target).contains(permission),
        Target::Project(p) => {
            grants.tenant_wide().contains(permission)
                || grants
                    .iter()
                    .any(|g| g.scope() == Scope::Project(p) && g.effective().contains(permission))
        }
    };
    if allowed {
        return Decision::Allow(Allowed {
            grants,
            permission,
            target,
        });
    }
    let denial = if level == Level::Platform && !grants.is_platform_tenant() {
        Denial::PlatformOnly
    } else if grants.anywhere().contains(permission) || grants.carried().contains(permission) {
        Denial::WrongScope
    } else {
        Denial::NoGrant
    };
    Decision::Deny(denial)
}

impl Grants {
    /// Same as [`decide`].
    pub fn decide(&self, permission: Permission, target: Target) -> Decision<'_> {
        decide(self, permission, target)
    }
}

/// Which projects a principal may use a permission on, for filtering lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectVisibility {
    /// Every project of the tenant (a tenant-scope grant).
    All,
    /// Only these projects (possibly none).
    Only(BTreeSet<Uid>),
}

impl ProjectVisibility {
    /// Whether `project` is visible.
    pub fn contains(&self, project: Uid) -> bool {
        match self {
            ProjectVisibility::All => true,
            ProjectVisibility::Only(set) => set.contains(&project),
        }
    }

    /// Whether no project at all is visible.
    pub fn is_none(&self) -> bool {
        matches!(self, ProjectVisibility::Only(set) if set.is_empty())
    }
}

/// Which projects `permission` (normally a project-level one such as
/// `project.get` or `cluster.list`) is allowed on: [`ProjectVisibility::All`]
/// when a tenant-scope grant confers it, otherwise the projects of the
/// project-scope grants that confer it. For a tenant- or platform-level
/// permission the answer is `All` when [`decide`] allows it on its own
/// target, and no project otherwise.
///
/// The set agrees with [`decide`]: `visible_projects(g, p).contains(q)` ⇔
/// `decide(g, p, Target::Project(q))` is allowed, for project-level `p`.
pub fn visible_projects(grants: &Grants, permission: Permission) -> ProjectVisibility {
    let whole = match permission.level() {
        Level::Platform => Target::Platform,
        Level::Tenant | Level::Project => Target::Tenant,
    };
    if decide(grants, permission, whole).is_allowed() {
        return ProjectVisibility::All;
    }
    if permission.level() != Level::Project {
        return ProjectVisibility::Only(BTreeSet::new());
    }
    ProjectVisibility::Only(
        grants
            .iter()
            .filter_map(|g| match g.scope() {
                Scope::Project(p) if g.effective().contains(permission) => Some(p),
                _ => None,
            })
            .collect(),
    )
}

/// Permissions missing for an action, and where they are missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Missing {
    /// Where the actor lacks them.
    pub at: Target,
    /// The permissions the actor lacks there (never empty).
    pub permissions: PermissionSet,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Target::Platform => f.write_str("missing at platform scope: ")?,
            Target::Tenant => f.write_str("missing at tenant scope: ")?,
            Target::Project(p) => write!(f, "missing in project {p}: ")?,
        }
        write!(f, "{}", self.permissions)
    }
}

impl std::error::Error for Missing {}

fn require(actor: &Grants, at: Target, needed: PermissionSet) -> Result<(), Missing> {
    let permissions = needed.difference(actor.held_at(at));
    if permissions.is_empty() {
        Ok(())
    } else {
        Err(Missing { at, permissions })
    }
}

/// Escalation guard (as Kubernetes RBAC does it): an actor may confer only
/// permissions they hold themselves where they are conferred.
///
/// `permissions` is what a role carries; `scope` is where it would be bound
/// (custom role creation and update: [`Scope::Tenant`]). Only what such a
/// binding would confer is checked — at project scope its project-level
/// permissions for that project; at tenant scope its tenant and project
/// permissions, and platform permissions in the platform tenant — and each
/// must be allowed to `actor` there. Binding a built-in role is this check
/// with [`super::BuiltinRole::permissions`].
///
/// This is in addition to the route's own permission (`role.create`,
/// `rolebinding.create`, `projectbinding.create`…), which the caller checks
/// with [`decide`].
pub fn check_grantable(
    actor: &Grants,
    permissions: PermissionSet,
    scope: Scope,
) -> Result<(), Missing> {
    // Checked as if the role could be platform-admin: platform permissions
    // in `permissions` must be held too (stricter, never looser).
    let conferred = super::grant::conferred(true, permissions, scope, actor.is_platform_tenant());
    match scope {
        Scope::Tenant => {
            require(
                actor,
                Target::Platform,
                conferred.intersection(PermissionSet::PLATFORM),
            )?;
            require(
                actor,
                Target::Tenant,
                conferred.difference(PermissionSet::PLATFORM),
            )
        }
        Scope::Project(p) => require(actor, Target::Project(p), conferred),
    }
}

/// Escalation guard for adding a member to a team: the new member gains
/// every binding of the team, so the actor must be able to grant each of
/// them ([`check_grantable`] for every `(role permissions, scope)` of the
/// team's bindings). The first shortfall is returned.
pub fn check_team_membership<I>(actor: &Grants, team_bindings: I) -> Result<(), Missing>
where
    I: IntoIterator<Item = (PermissionSet, Scope)>,
{
    team_bindings
        .into_iter()
        .try_for_each(|(permissions, scope)| check_grantable(actor, permissions, scope))
}

/// Guard for acting on another user's credentials or standing
/// (`user.reset-password`, `user.update`, `user.delete`,
/// `user.revoke-sessions`, `apikey.delete` of someone else's key): the actor
/// must hold everything the subject holds, wherever the subject holds it,
/// so a narrow administrator cannot take over a broader one. The first
/// shortfall is returned.
pub fn check_covers(actor: &Grants, subject: &Grants) -> Result<(), Missing> {
    let wholes = [Target::Platform, Target::Tenant];
    let projects = subject.project_scopes().into_iter().map(Target::Project);
    for at in wholes.into_iter().chain(projects) {
        require(actor, at, subject.held_at(at))?;
    }
    Ok(())
}
