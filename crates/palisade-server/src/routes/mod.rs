//! Route handlers, grouped by resource, and [`table`]: the one list of every
//! route with who may call it. The router is built only from the table, so
//! a route without a declaration cannot exist; the authorization matrix
//! test and the API document are generated from it too.
//!
//! Handlers are thin: extract the validated body and the [`Caller`], call
//! the store, map the answer.

pub mod apikeys;
pub mod audit;
pub mod auth;
pub mod bindings;
pub mod bus;
pub mod meta;
pub mod mfa;
pub mod projects;
pub mod roles;
pub mod settings;
pub mod teams;
pub mod tenants;
pub mod users;

use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};
use palisade_core::Uid;
use palisade_core::model::User;
use palisade_core::rbac::{Missing, Permission as P};
use palisade_proto::auth::UserView;
use palisade_store::PageRequest;
use serde::Deserialize;

use crate::ApiError;
use crate::app::AppState;
use crate::gateway::{Access, RouteSpec};

pub use crate::gateway::{Caller, client_ip};

/// A declared route and its handler.
#[derive(Debug)]
pub struct Route {
    /// The declaration.
    pub spec: RouteSpec,
    /// The handler for `spec.method`.
    pub router: MethodRouter<AppState>,
    /// The handler's part of the API document, read from its types.
    pub doc: crate::openapi::DocFn,
}

macro_rules! route {
    ($method:ident $path:literal, $access:expr, $action:literal, $summary:literal, $handler:expr) => {
        Route {
            spec: RouteSpec {
                method: Method::$method,
                path: $path,
                access: $access,
                action: $action,
                summary: $summary,
            },
            router: on(MethodFilter::$method, $handler),
            doc: crate::openapi::doc_of(&$handler),
        }
    };
}

/// Every route of the API.
pub fn table() -> Vec<Route> {
    use Access::{Enrolling, Permission as Needs, Public, SelfService};
    vec![
        // Health, keys, document.
        route!(GET "/healthz", Public, "-", "Liveness", meta::healthz),
        route!(GET "/readyz", Public, "-", "Readiness (the database answers)", meta::readyz),
        route!(GET "/.well-known/jwks.json", Public, "-", "Public keys of the access tokens", auth::jwks),
        route!(GET "/v1/openapi.json", Public, "-", "This API's OpenAPI 3.1 document", meta::openapi),
        // Authentication.
        route!(POST "/v1/auth/login", Public, "auth.login", "Log in with tenant, email and password", auth::login),
        route!(POST "/v1/auth/mfa", Public, "auth.mfa", "Complete a login with a second factor", auth::mfa),
        route!(POST "/v1/auth/refresh", Public, "auth.refresh", "Exchange a refresh token (single use)", auth::refresh),
        route!(POST "/v1/auth/password", Public, "auth.password-change", "Change a password (also when expired or one-time)", auth::change_password),
        route!(POST "/v1/auth/logout", Enrolling, "auth.logout", "End this session", auth::logout),
        // The caller.
        route!(GET "/v1/me", SelfService, "-", "The caller", users::me),
        route!(POST "/v1/me/mfa/totp", Enrolling, "mfa.enrol", "Start TOTP enrolment", mfa::enrol),
        route!(POST "/v1/me/mfa/totp/confirm", Enrolling, "mfa.confirm", "Confirm TOTP with a first code", mfa::confirm),
        route!(POST "/v1/me/mfa/totp/disable", Enrolling, "mfa.disable", "Disable TOTP with a code", mfa::disable),
        // API keys: own keys; apikey.list / apikey.delete for everyone's.
        route!(GET "/v1/apikeys", SelfService, "-", "API keys (own; all with apikey.list)", apikeys::list),
        route!(POST "/v1/apikeys", SelfService, "apikey.create", "Create an API key (secret shown once)", apikeys::create),
        route!(DELETE "/v1/apikeys/{uid}", SelfService, "apikey.delete", "Revoke an API key (own; any with apikey.delete)", apikeys::revoke),
        // Users.
        route!(GET "/v1/users", Needs(P::UserList), "-", "Users of the tenant", users::list),
        route!(POST "/v1/users", Needs(P::UserCreate), "user.create", "Create a user (one-time password shown once)", users::create),
        route!(GET "/v1/users/{uid}", Needs(P::UserGet), "-", "A user", users::get),
        route!(PATCH "/v1/users/{uid}", Needs(P::UserUpdate), "user.update", "Rename a user", users::update),
        route!(DELETE "/v1/users/{uid}", Needs(P::UserDelete), "user.delete", "Delete a user", users::delete),
        route!(POST "/v1/users/{uid}/disable", Needs(P::UserUpdate), "user.update", "Disable a user and end their sessions", users::disable),
        route!(POST "/v1/users/{uid}/enable", Needs(P::UserUpdate), "user.update", "Enable a user", users::enable),
        route!(POST "/v1/users/{uid}/reset-password", Needs(P::UserResetPassword), "user.reset-password", "Reset a password (one-time password shown once)", users::reset_password),
        route!(POST "/v1/users/{uid}/sessions/revoke", Needs(P::UserRevokeSessions), "user.revoke-sessions", "End every session of a user", users::revoke_sessions),
        route!(POST "/v1/users/{uid}/unlock", Needs(P::UserUnlock), "user.unlock", "Clear a user's failed-login counters", users::unlock),
        route!(GET "/v1/users/{uid}/permissions", SelfService, "-", "What a user may do and why (self; others with rolebinding.list)", users::permissions),
        // Teams.
        route!(GET "/v1/teams", Needs(P::TeamList), "-", "Teams", teams::list),
        route!(POST "/v1/teams", Needs(P::TeamCreate), "team.create", "Create a team", teams::create),
        route!(GET "/v1/teams/{uid}", Needs(P::TeamGet), "-", "A team", teams::get),
        route!(PATCH "/v1/teams/{uid}", Needs(P::TeamUpdate), "team.update", "Change a team's description", teams::update),
        route!(DELETE "/v1/teams/{uid}", Needs(P::TeamDelete), "team.delete", "Delete a team and its bindings", teams::delete),
        route!(GET "/v1/teams/{uid}/members", Needs(P::TeamGet), "-", "Members of a team", teams::members),
        route!(POST "/v1/teams/{uid}/members", Needs(P::TeamUpdate), "team.update", "Add a member", teams::add_member),
        route!(DELETE "/v1/teams/{uid}/members/{userUid}", Needs(P::TeamUpdate), "team.update", "Remove a member", teams::remove_member),
        // Roles.
        route!(GET "/v1/roles", Needs(P::RoleList), "-", "Built-in and custom roles", roles::list),
        route!(POST "/v1/roles", Needs(P::RoleCreate), "role.create", "Create a custom role", roles::create),
        route!(GET "/v1/roles/{uid}", Needs(P::RoleGet), "-", "A custom role", roles::get),
        route!(PATCH "/v1/roles/{uid}", Needs(P::RoleUpdate), "role.update", "Change a custom role", roles::update),
        route!(DELETE "/v1/roles/{uid}", Needs(P::RoleDelete), "role.delete", "Delete an unbound custom role", roles::delete),
        // Role bindings, tenant-wide.
        route!(GET "/v1/rolebindings", Needs(P::RolebindingList), "-", "Role bindings of the tenant", bindings::list),
        route!(POST "/v1/rolebindings", Needs(P::RolebindingCreate), "rolebinding.create", "Bind a user or team to a role", bindings::create),
        route!(GET "/v1/rolebindings/{uid}", Needs(P::RolebindingGet), "-", "A role binding", bindings::get),
        route!(DELETE "/v1/rolebindings/{uid}", Needs(P::RolebindingDelete), "rolebinding.delete", "Delete a role binding", bindings::delete),
        // Projects and their resources.
        route!(GET "/v1/projects", SelfService, "-", "Projects the caller can see", projects::list),
        route!(POST "/v1/projects", Needs(P::ProjectCreate), "project.create", "Create a project", projects::create),
        route!(GET "/v1/projects/{projectUid}", Needs(P::ProjectGet), "-", "A project", projects::get),
        route!(PATCH "/v1/projects/{projectUid}", Needs(P::ProjectUpdate), "project.update", "Change a project's description", projects::update),
        route!(DELETE "/v1/projects/{projectUid}", Needs(P::ProjectDelete), "project.delete", "Delete a project with its resources", projects::delete),
        route!(GET "/v1/projects/{projectUid}/rolebindings", Needs(P::ProjectbindingList), "-", "Role bindings at this project's scope", bindings::project_list),
        route!(POST "/v1/projects/{projectUid}/rolebindings", Needs(P::ProjectbindingCreate), "projectbinding.create", "Bind a user or team to a role at this project's scope", bindings::project_create),
        route!(DELETE "/v1/projects/{projectUid}/rolebindings/{uid}", Needs(P::ProjectbindingDelete), "projectbinding.delete", "Delete a binding at this project's scope", bindings::project_delete),
        route!(GET "/v1/projects/{projectUid}/cloudaccounts", Needs(P::CloudaccountList), "-", "Cloud accounts of a project", projects::accounts),
        route!(POST "/v1/projects/{projectUid}/cloudaccounts", Needs(P::CloudaccountCreate), "cloudaccount.create", "Create a cloud account (credentials write-only)", projects::create_account),
        route!(GET "/v1/projects/{projectUid}/cloudaccounts/{uid}", Needs(P::CloudaccountGet), "-", "A cloud account (never its credentials)", projects::account),
        route!(DELETE "/v1/projects/{projectUid}/cloudaccounts/{uid}", Needs(P::CloudaccountDelete), "cloudaccount.delete", "Delete a cloud account no cluster uses", projects::delete_account),
        route!(GET "/v1/projects/{projectUid}/clusters", Needs(P::ClusterList), "-", "Clusters of a project", projects::clusters),
        route!(POST "/v1/projects/{projectUid}/clusters", Needs(P::ClusterCreate), "cluster.create", "Create a cluster record", projects::create_cluster),
        route!(GET "/v1/projects/{projectUid}/clusters/{uid}", Needs(P::ClusterGet), "-", "A cluster", projects::cluster),
        route!(DELETE "/v1/projects/{projectUid}/clusters/{uid}", Needs(P::ClusterDelete), "cluster.delete", "Delete a cluster record", projects::delete_cluster),
        // The tenant bus (503 without `serve --bus`).
        route!(POST "/v1/projects/{projectUid}/clusters/{uid}/credentials", Needs(P::ClusterCredentials), "cluster.credentials", "Issue NATS credentials for the cluster's agent (revokes the previous ones)", bus::credentials),
        route!(GET "/v1/projects/{projectUid}/clusters/{uid}/jobs", Needs(P::ClusterGet), "-", "Jobs of a cluster", bus::jobs),
        route!(POST "/v1/projects/{projectUid}/clusters/{uid}/jobs", Needs(P::ClusterScan), "job.create", "Run a job (ping or harden-scan) on a cluster", bus::create_job),
        route!(GET "/v1/projects/{projectUid}/clusters/{uid}/jobs/{jobUid}", Needs(P::ClusterGet), "-", "A job, with its report once it ended", bus::job),
        // Settings and audit.
        route!(GET "/v1/settings/password-policy", Needs(P::SettingsGet), "-", "The password policy", settings::get_password_policy),
        route!(PUT "/v1/settings/password-policy", Needs(P::SettingsUpdate), "settings.update", "Set the password policy", settings::put_password_policy),
        route!(GET "/v1/settings/mfa", Needs(P::SettingsGet), "-", "Whether MFA is required", settings::get_mfa),
        route!(PUT "/v1/settings/mfa", Needs(P::SettingsUpdate), "settings.update", "Require MFA or not", settings::put_mfa),
        route!(GET "/v1/audit", Needs(P::AuditList), "-", "The audit log (platform admins may name a tenant)", audit::list),
        // Tenants (platform administrators).
        route!(GET "/v1/tenants", Needs(P::TenantList), "-", "Tenants", tenants::list),
        route!(POST "/v1/tenants", Needs(P::TenantCreate), "tenant.create", "Create a tenant and its first administrator", tenants::create),
        route!(GET "/v1/tenants/{uid}", Needs(P::TenantGet), "-", "A tenant", tenants::get),
        route!(DELETE "/v1/tenants/{uid}", Needs(P::TenantDelete), "tenant.delete", "Delete a tenant and destroy its keys", tenants::delete),
    ]
}

/// The declarations of every route.
pub fn specs() -> Vec<RouteSpec> {
    table().into_iter().map(|r| r.spec).collect()
}

/// Cursor pagination parameters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Paging {
    /// The `next` of the previous page.
    pub after: Option<Uid>,
    /// Page size (1–500, default 50).
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
}

impl Paging {
    /// Validated page request.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::invalid("limit must be between 1 and 500"));
        }
        Ok(PageRequest {
            after: self.after,
            limit,
        })
    }
}

/// Parses a UID path parameter (anything else is 400).
pub fn path_uid(raw: &str) -> Result<Uid, ApiError> {
    Uid::parse(raw)
        .map_err(|_| ApiError::invalid("the path UID must be 12 lowercase hex characters"))
}

/// 403 for an attempt to grant more than the caller holds.
pub fn escalation(m: Missing) -> ApiError {
    ApiError::forbidden(
        palisade_proto::codes::PERMISSION_DENIED,
        format!("this would grant permissions you do not hold: {m}"),
    )
}

/// The API view of a user.
pub fn user_view(u: &User) -> UserView {
    UserView {
        uid: u.uid.to_string(),
        email: u.email.clone(),
        display_name: u.display_name.clone(),
        status: u.status.as_str().to_owned(),
        must_change_password: u.must_change_password,
        created_at: u.created_at,
    }
}
