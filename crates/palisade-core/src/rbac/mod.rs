//! Role-based access control: the permission catalogue, built-in and custom
//! roles, bindings, and the pure decision function.
//!
//! # Model
//!
//! - A [`Permission`] is `resource.verb` from a closed catalogue, with a
//!   [`Level`]: platform (only `platform-admin` in the platform tenant
//!   `system`), tenant (only through a tenant-scope binding) or project
//!   (through a tenant-scope binding, covering every project, or a binding
//!   at one project's scope).
//! - A role is a set of permissions: one of six [`BuiltinRole`]s (fixed,
//!   the same in every tenant) or a tenant's custom role (validated by
//!   [`validate_custom_role`]; no platform permissions).
//! - A [`Binding`] gives a [`Subject`] (user or team) a role at a [`Scope`]
//!   (the tenant, or one project). A binding at project scope confers only
//!   the role's project-level permissions, for that project.
//! - The store turns the bindings that apply to a principal (direct, or via
//!   a team) into [`Grant`]s, collected in [`Grants`] with whether the
//!   principal's tenant is the platform tenant.
//! - [`decide`] answers one question, allocation-free, deny by default, and
//!   says why ([`Decision`], [`Denial`]). [`explain`] lists what a principal
//!   may do and why; [`visible_projects`] filters lists; [`check_grantable`],
//!   [`check_team_membership`] and [`check_covers`] stop escalation.
//!
//! # How the server is meant to use it
//!
//! 1. Authenticate; the tenant comes from the principal, never the request.
//! 2. Resolve any project in the path *within that tenant*; a project of
//!    another tenant, or none, is 404 before any decision. (To avoid telling
//!    a project-scoped user which other projects exist, answer 404 also when
//!    `decide(project.get, Project(p))` is denied.)
//! 3. `decide(grants, route_permission, target)`; deny → 403 with the
//!    denial's code in the log.
//! 4. For `role.create`/`role.update`: [`validate_custom_role`] and
//!    [`check_grantable`] at [`Scope::Tenant`]. For `rolebinding.create`
//!    and `projectbinding.create`: [`check_grantable`] with the role's
//!    permissions at the binding's scope. For adding a team member:
//!    [`check_team_membership`]. For acting on another user's credentials
//!    or standing: [`check_covers`].
//!
//! Route permissions for bindings: `/v1/rolebindings` (bindings at every
//! scope of the tenant) uses the tenant-level `rolebinding.*`;
//! `/v1/projects/{projectUid}/rolebindings` (bindings at that project's
//! scope) uses the project-level `projectbinding.*`, so a project admin can
//! manage their own project's bindings and nothing else. Listing projects:
//! `project.list` sees every project; otherwise filter with
//! `visible_projects(grants, Permission::ProjectGet)`.
//! `GET /v1/users/{uid}/permissions`: a user may always explain themselves;
//! explaining someone else reveals their bindings, so it needs
//! `rolebinding.list`. Serve [`explain`] and [`explain_ignored`] side by
//! side ("what you may do" and "what your roles carry that does not apply").
//!
//! # What this module must not do
//!
//! No I/O and no lookups: it never decides which tenant a resource belongs
//! to, and never treats an unclear question (an unknown name, a target that
//! does not suit the permission) as anything but a refusal.

mod decide;
mod explain;
mod grant;
mod permission;
mod role;

#[cfg(test)]
mod tests;

pub use decide::{
    Allowed, Decision, Denial, Missing, ProjectVisibility, check_covers, check_grantable,
    check_team_membership, decide, visible_projects,
};
pub use explain::{Effective, Holding, Ignored, IgnoredReason, explain, explain_ignored};
pub use grant::{Binding, Grant, GrantRole, Grants, Scope, Subject, Target, Via};
pub use permission::{Level, Permission, PermissionSet};
pub use role::{
    BuiltinRole, RoleName, RoleRef, validate_custom_role, validate_custom_role_name,
    validate_custom_role_permissions,
};
