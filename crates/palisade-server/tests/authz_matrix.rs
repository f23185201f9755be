//! The authorization matrix, generated from the route table.
//!
//! Every declared route is called over HTTPS by every built-in role (bound
//! at tenant scope; the project roles also at one project's scope; plus a
//! user with no binding), on the caller's own tenant and on a foreign
//! tenant's objects, with a minimal valid request. Each answer is sorted
//! into allowed (2xx), denied (403 `permission_denied`) or hidden (404
//! `not_found`) and compared with a decision table written here from the
//! issue's role definitions — not computed with `palisade_core::rbac`.
//!
//! The same table is the build's guard on the route table: a route missing
//! from it, a public route outside the allow-list, or a self-service or
//! enrolling route without a stated reason fails the tests.

// Test code: failing loudly on unexpected errors is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use palisade_client::Method;
use palisade_core::Uid;
use palisade_core::rbac::{BuiltinRole, Permission, RoleRef, Scope, Subject};
use palisade_server::gateway::{Access, RouteSpec};
use palisade_store::testing::OneShot;
use palisade_store::{NewCloudAccount, NewCluster, NewUser, SqlStore, Store};
use secrecy::SecretString;
use serde_json::{Value, json};
use support::{call, unique};

// ---------------------------------------------------------------------------
// The model, written out: permission levels and built-in roles.

/// Platform level: only `platform-admin`, bound at tenant scope in `system`.
const PLATFORM: &[&str] = &[
    "tenant.list",
    "tenant.get",
    "tenant.create",
    "tenant.delete",
];

/// Tenant level: only through a binding at tenant scope.
const TENANT: &[&str] = &[
    "user.list",
    "user.get",
    "user.create",
    "user.update",
    "user.delete",
    "user.reset-password",
    "user.revoke-sessions",
    "user.unlock",
    "team.list",
    "team.get",
    "team.create",
    "team.update",
    "team.delete",
    "role.list",
    "role.get",
    "role.create",
    "role.update",
    "role.delete",
    "rolebinding.list",
    "rolebinding.get",
    "rolebinding.create",
    "rolebinding.delete",
    "apikey.list",
    "apikey.delete",
    "settings.get",
    "settings.update",
    "audit.list",
    "audit.export",
    "project.list",
    "project.create",
];

/// Project level: a tenant-scope binding (every project) or a binding at
/// one project's scope (that project only).
const PROJECT: &[&str] = &[
    "project.get",
    "project.update",
    "project.delete",
    "cloudaccount.list",
    "cloudaccount.get",
    "cloudaccount.create",
    "cloudaccount.delete",
    "cluster.list",
    "cluster.get",
    "cluster.create",
    "cluster.update",
    "cluster.delete",
    "cluster.credentials",
    "cluster.scan",
    "projectbinding.list",
    "projectbinding.get",
    "projectbinding.create",
    "projectbinding.delete",
];

/// Reads the tenant, but not the audit log nor other people's API keys.
const TENANT_VIEWER: &[&str] = &[
    "user.list",
    "user.get",
    "team.list",
    "team.get",
    "role.list",
    "role.get",
    "rolebinding.list",
    "rolebinding.get",
    "settings.get",
    "project.list",
    "project.get",
    "cloudaccount.list",
    "cloudaccount.get",
    "cluster.list",
    "cluster.get",
    "projectbinding.list",
    "projectbinding.get",
];

/// Works with clusters.
const PROJECT_EDITOR: &[&str] = &[
    "project.get",
    "cloudaccount.list",
    "cloudaccount.get",
    "cluster.list",
    "cluster.get",
    "cluster.create",
    "cluster.update",
    "cluster.delete",
    "cluster.credentials",
    "cluster.scan",
];

/// Reads clusters.
const PROJECT_VIEWER: &[&str] = &[
    "project.get",
    "cloudaccount.list",
    "cloudaccount.get",
    "cluster.list",
    "cluster.get",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    PlatformAdmin,
    TenantAdmin,
    TenantViewer,
    ProjectAdmin,
    ProjectEditor,
    ProjectViewer,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform-admin",
            Role::TenantAdmin => "tenant-admin",
            Role::TenantViewer => "tenant-viewer",
            Role::ProjectAdmin => "project-admin",
            Role::ProjectEditor => "project-editor",
            Role::ProjectViewer => "project-viewer",
        }
    }

    fn builtin(self) -> BuiltinRole {
        BuiltinRole::parse(self.name()).unwrap()
    }

    /// What the role carries (what a binding confers depends on where).
    fn carries(self) -> BTreeSet<&'static str> {
        let lists: &[&[&str]] = match self {
            Role::PlatformAdmin => &[PLATFORM, TENANT, PROJECT],
            Role::TenantAdmin => &[TENANT, PROJECT],
            Role::TenantViewer => &[TENANT_VIEWER],
            Role::ProjectAdmin => &[PROJECT],
            Role::ProjectEditor => &[PROJECT_EDITOR],
            Role::ProjectViewer => &[PROJECT_VIEWER],
        };
        lists.iter().flat_map(|l| l.iter().copied()).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Platform,
    Tenant,
    Project,
}

fn level(p: &str) -> Level {
    if PLATFORM.contains(&p) {
        Level::Platform
    } else if TENANT.contains(&p) {
        Level::Tenant
    } else if PROJECT.contains(&p) {
        Level::Project
    } else {
        panic!("{p} is in no level of this test's catalogue")
    }
}

// ---------------------------------------------------------------------------
// Who may call each route: the allow-lists and the permission of every
// other route, as this test expects them.

/// Routes anyone may call, without credentials.
const PUBLIC: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/v1/openapi.json"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/mfa"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/password"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Any authenticated caller, also while MFA enrolment is pending; why.
    Enrolling(&'static str),
    /// Any authenticated caller, for their own things; why.
    SelfService(&'static str),
    /// This permission on the route's target.
    Needs(&'static str),
}

use Rule::{Enrolling, Needs, SelfService};

const RULES: &[(&str, &str, Rule)] = &[
    (
        "POST",
        "/v1/auth/logout",
        Enrolling("ending one's own session must always work"),
    ),
    (
        "POST",
        "/v1/me/mfa/totp",
        Enrolling("enrolment is what a pending caller must do"),
    ),
    (
        "POST",
        "/v1/me/mfa/totp/confirm",
        Enrolling("completes one's own enrolment"),
    ),
    (
        "POST",
        "/v1/me/mfa/totp/disable",
        Enrolling("one's own second factor, proven by a code"),
    ),
    ("GET", "/v1/me", SelfService("the caller's own profile")),
    (
        "GET",
        "/v1/apikeys",
        SelfService("own keys; everyone's only with apikey.list"),
    ),
    (
        "POST",
        "/v1/apikeys",
        SelfService("a key acts with its owner's permissions, no more"),
    ),
    (
        "DELETE",
        "/v1/apikeys/{uid}",
        SelfService("own keys; others' only with apikey.delete"),
    ),
    (
        "GET",
        "/v1/users/{uid}/permissions",
        SelfService("oneself; others only with rolebinding.list"),
    ),
    (
        "GET",
        "/v1/projects",
        SelfService("lists only the projects the caller may read"),
    ),
    ("GET", "/v1/users", Needs("user.list")),
    ("POST", "/v1/users", Needs("user.create")),
    ("GET", "/v1/users/{uid}", Needs("user.get")),
    ("PATCH", "/v1/users/{uid}", Needs("user.update")),
    ("DELETE", "/v1/users/{uid}", Needs("user.delete")),
    ("POST", "/v1/users/{uid}/disable", Needs("user.update")),
    ("POST", "/v1/users/{uid}/enable", Needs("user.update")),
    (
        "POST",
        "/v1/users/{uid}/reset-password",
        Needs("user.reset-password"),
    ),
    (
        "POST",
        "/v1/users/{uid}/sessions/revoke",
        Needs("user.revoke-sessions"),
    ),
    ("POST", "/v1/users/{uid}/unlock", Needs("user.unlock")),
    ("GET", "/v1/teams", Needs("team.list")),
    ("POST", "/v1/teams", Needs("team.create")),
    ("GET", "/v1/teams/{uid}", Needs("team.get")),
    ("PATCH", "/v1/teams/{uid}", Needs("team.update")),
    ("DELETE", "/v1/teams/{uid}", Needs("team.delete")),
    ("GET", "/v1/teams/{uid}/members", Needs("team.get")),
    ("POST", "/v1/teams/{uid}/members", Needs("team.update")),
    (
        "DELETE",
        "/v1/teams/{uid}/members/{userUid}",
        Needs("team.update"),
    ),
    ("GET", "/v1/roles", Needs("role.list")),
    ("POST", "/v1/roles", Needs("role.create")),
    ("GET", "/v1/roles/{uid}", Needs("role.get")),
    ("PATCH", "/v1/roles/{uid}", Needs("role.update")),
    ("DELETE", "/v1/roles/{uid}", Needs("role.delete")),
    ("GET", "/v1/rolebindings", Needs("rolebinding.list")),
    ("POST", "/v1/rolebindings", Needs("rolebinding.create")),
    ("GET", "/v1/rolebindings/{uid}", Needs("rolebinding.get")),
    (
        "DELETE",
        "/v1/rolebindings/{uid}",
        Needs("rolebinding.delete"),
    ),
    ("POST", "/v1/projects", Needs("project.create")),
    ("GET", "/v1/projects/{projectUid}", Needs("project.get")),
    (
        "PATCH",
        "/v1/projects/{projectUid}",
        Needs("project.update"),
    ),
    (
        "DELETE",
        "/v1/projects/{projectUid}",
        Needs("project.delete"),
    ),
    (
        "GET",
        "/v1/projects/{projectUid}/rolebindings",
        Needs("projectbinding.list"),
    ),
    (
        "POST",
        "/v1/projects/{projectUid}/rolebindings",
        Needs("projectbinding.create"),
    ),
    (
        "DELETE",
        "/v1/projects/{projectUid}/rolebindings/{uid}",
        Needs("projectbinding.delete"),
    ),
    (
        "GET",
        "/v1/projects/{projectUid}/cloudaccounts",
        Needs("cloudaccount.list"),
    ),
    (
        "POST",
        "/v1/projects/{projectUid}/cloudaccounts",
        Needs("cloudaccount.create"),
    ),
    (
        "GET",
        "/v1/projects/{projectUid}/cloudaccounts/{uid}",
        Needs("cloudaccount.get"),
    ),
    (
        "DELETE",
        "/v1/projects/{projectUid}/cloudaccounts/{uid}",
        Needs("cloudaccount.delete"),
    ),
    (
        "GET",
        "/v1/projects/{projectUid}/clusters",
        Needs("cluster.list"),
    ),
    (
        "POST",
        "/v1/projects/{projectUid}/clusters",
        Needs("cluster.create"),
    ),
    (
        "GET",
        "/v1/projects/{projectUid}/clusters/{uid}",
        Needs("cluster.get"),
    ),
    (
        "DELETE",
        "/v1/projects/{projectUid}/clusters/{uid}",
        Needs("cluster.delete"),
    ),
    (
        "POST",
        "/v1/projects/{projectUid}/clusters/{uid}/credentials",
        Needs("cluster.credentials"),
    ),
    (
        "GET",
        "/v1/projects/{projectUid}/clusters/{uid}/jobs",
        Needs("cluster.get"),
    ),
    (
        "POST",
        "/v1/projects/{projectUid}/clusters/{uid}/jobs",
        Needs("cluster.scan"),
    ),
    (
        "GET",
        "/v1/projects/{projectUid}/clusters/{uid}/jobs/{jobUid}",
        Needs("cluster.get"),
    ),
    ("GET", "/v1/settings/password-policy", Needs("settings.get")),
    (
        "PUT",
        "/v1/settings/password-policy",
        Needs("settings.update"),
    ),
    ("GET", "/v1/settings/mfa", Needs("settings.get")),
    ("PUT", "/v1/settings/mfa", Needs("settings.update")),
    ("GET", "/v1/audit", Needs("audit.list")),
    ("GET", "/v1/tenants", Needs("tenant.list")),
    ("POST", "/v1/tenants", Needs("tenant.create")),
    ("GET", "/v1/tenants/{uid}", Needs("tenant.get")),
    ("DELETE", "/v1/tenants/{uid}", Needs("tenant.delete")),
];

fn rule_of(spec: &RouteSpec) -> Option<Rule> {
    RULES
        .iter()
        .find(|(m, p, _)| *m == spec.method.as_str() && *p == spec.path)
        .map(|(_, _, r)| *r)
}

fn is_public(spec: &RouteSpec) -> bool {
    PUBLIC.contains(&(spec.method.as_str(), spec.path))
}

#[test]
fn route_table_matches_the_expected_access_of_every_route() {
    let specs = palisade_server::routes::specs();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for spec in &specs {
        let id = format!("{} {}", spec.method, spec.path);
        if !seen.insert(id.clone()) {
            problems.push(format!("{id}: declared twice"));
        }
        // Exhaustive on purpose: a new kind of access must be handled here.
        match spec.access {
            Access::Public => {
                if !is_public(spec) {
                    problems.push(format!("{id}: public but not in the public allow-list"));
                }
            }
            Access::Enrolling => match rule_of(spec) {
                Some(Enrolling(why)) if !why.is_empty() => {}
                other => problems.push(format!(
                    "{id}: Enrolling without a reason in the allow-list (test has {other:?})"
                )),
            },
            Access::SelfService => match rule_of(spec) {
                Some(SelfService(why)) if !why.is_empty() => {}
                other => problems.push(format!(
                    "{id}: SelfService without a reason in the allow-list (test has {other:?})"
                )),
            },
            Access::Permission(p) => match rule_of(spec) {
                Some(Needs(q)) if q == p.as_str() => {}
                other => problems.push(format!(
                    "{id}: declares {p}, this test expects {other:?} (a route without an expectation is an error)"
                )),
            },
        }
        if matches!(spec.access, Access::Public) == rule_of(spec).is_some() {
            problems.push(format!("{id}: both public and ruled, or neither"));
        }
    }
    // No stale expectation: everything this test expects is declared.
    for (m, p) in PUBLIC
        .iter()
        .copied()
        .chain(RULES.iter().map(|(m, p, _)| (*m, *p)))
    {
        if !specs.iter().any(|s| s.method.as_str() == m && s.path == p) {
            problems.push(format!("{m} {p}: expected by this test but not declared"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // This test's catalogue is the server's, level for level, so the
    // decision table below covers every permission.
    let ours: BTreeSet<&str> = PLATFORM
        .iter()
        .chain(TENANT)
        .chain(PROJECT)
        .copied()
        .collect();
    let theirs: BTreeSet<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(ours, theirs);
    for p in Permission::ALL {
        let expected = match level(p.as_str()) {
            Level::Platform => palisade_core::rbac::Level::Platform,
            Level::Tenant => palisade_core::rbac::Level::Tenant,
            Level::Project => palisade_core::rbac::Level::Project,
        };
        assert_eq!(p.level(), expected, "{p}");
    }
    // Every route's permission is one a role can hold, and every role's
    // list is inside the catalogue.
    for role in [
        Role::PlatformAdmin,
        Role::TenantAdmin,
        Role::TenantViewer,
        Role::ProjectAdmin,
        Role::ProjectEditor,
        Role::ProjectViewer,
    ] {
        assert!(role.carries().is_subset(&ours), "{}", role.name());
    }
}

// ---------------------------------------------------------------------------
// The expected decision.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Allowed,
    Denied,
    Hidden,
}

/// Which target a call names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Variant {
    /// The caller's own tenant (its objects, when the path names one).
    Own,
    /// The caller themselves (`/v1/users/{uid}/permissions`).
    Myself,
    /// The project the project-scoped roles are bound at.
    Bound,
    /// Another project of the caller's tenant.
    Other,
    /// Another tenant's objects.
    Foreign,
}

/// A caller: a user holding one built-in role at one scope (or nothing).
#[derive(Debug, Clone)]
struct Who {
    label: String,
    /// Index of their tenant in the fixtures (0: system, 1: acme).
    tenant: usize,
    role: Option<Role>,
    at_project: bool,
    uid: Uid,
    token: String,
}

impl Who {
    fn in_system(&self) -> bool {
        self.tenant == 0
    }

    /// What the caller holds on the tenant as a whole (and so on every
    /// project): a tenant-scope binding's role, platform permissions only
    /// for platform-admin in `system`.
    fn tenant_wide(&self) -> BTreeSet<&'static str> {
        match self.role {
            Some(r) if !self.at_project => r
                .carries()
                .into_iter()
                .filter(|p| {
                    level(p) != Level::Platform || (r == Role::PlatformAdmin && self.in_system())
                })
                .collect(),
            _ => BTreeSet::new(),
        }
    }

    /// What the caller holds in a project of their tenant: the tenant-wide
    /// project permissions, plus a project-scope binding's project-level
    /// permissions in the project it is bound at.
    fn in_project(&self, bound: bool) -> BTreeSet<&'static str> {
        let mut held: BTreeSet<&str> = self
            .tenant_wide()
            .into_iter()
            .filter(|p| level(p) == Level::Project)
            .collect();
        if let (Some(r), true, true) = (self.role, self.at_project, bound) {
            held.extend(
                r.carries()
                    .into_iter()
                    .filter(|p| level(p) == Level::Project),
            );
        }
        held
    }
}

fn expected(spec: &RouteSpec, rule: Rule, who: &Who, v: Variant) -> Outcome {
    let tw = who.tenant_wide();
    match rule {
        Enrolling(_) => Outcome::Allowed,
        SelfService(_) => match (spec.method.as_str(), spec.path, v) {
            ("DELETE", "/v1/apikeys/{uid}", Variant::Own) if tw.contains("apikey.delete") => {
                Outcome::Allowed
            }
            // Someone else's key is not among one's own keys.
            ("DELETE", "/v1/apikeys/{uid}", _) => Outcome::Hidden,
            ("GET", "/v1/users/{uid}/permissions", Variant::Myself) => Outcome::Allowed,
            ("GET", "/v1/users/{uid}/permissions", _) if !tw.contains("rolebinding.list") => {
                Outcome::Denied
            }
            ("GET", "/v1/users/{uid}/permissions", Variant::Foreign) => Outcome::Hidden,
            _ => Outcome::Allowed,
        },
        Needs(p) => match level(p) {
            Level::Platform => {
                if tw.contains(p) {
                    Outcome::Allowed
                } else {
                    Outcome::Denied
                }
            }
            Level::Tenant => match (tw.contains(p), v) {
                (false, _) => Outcome::Denied,
                // Permitted, but another tenant's object is not there.
                (true, Variant::Foreign) => Outcome::Hidden,
                (true, _) => Outcome::Allowed,
            },
            Level::Project => {
                let held = match v {
                    Variant::Bound => who.in_project(true),
                    Variant::Other => who.in_project(false),
                    // Another tenant's project does not exist for the caller.
                    _ => return Outcome::Hidden,
                };
                if !held.contains("project.get") {
                    // A project the caller cannot read does not exist for them.
                    Outcome::Hidden
                } else if held.contains(p) {
                    Outcome::Allowed
                } else {
                    Outcome::Denied
                }
            }
        },
    }
}

fn variants(spec: &RouteSpec) -> Vec<Variant> {
    let p = spec.path;
    if p.contains("{projectUid}") {
        vec![Variant::Bound, Variant::Other, Variant::Foreign]
    } else if p == "/v1/users/{uid}/permissions" {
        vec![Variant::Myself, Variant::Own, Variant::Foreign]
    } else if p.starts_with("/v1/tenants/") {
        // Tenants are the platform's objects: no tenant owns them.
        vec![Variant::Own]
    } else if p.contains('{') {
        vec![Variant::Own, Variant::Foreign]
    } else {
        vec![Variant::Own]
    }
}

// ---------------------------------------------------------------------------
// Fixtures.

/// One tenant's objects, made straight in the store.
#[derive(Debug, Clone)]
struct Fix {
    tenant: Uid,
    name: String,
    projects: [Uid; 2],
    accounts: [Uid; 2],
    clusters: [Uid; 2],
    project_bindings: [Uid; 2],
    victim: Uid,
    team: Uid,
    role: Uid,
    binding: Uid,
    key: Uid,
}

fn new_user(email: String) -> NewUser {
    NewUser {
        email,
        display_name: "Fixture user".into(),
        password_hash: None,
        must_change_password: false,
    }
}

async fn fresh_user(s: &SqlStore, t: Uid) -> Uid {
    s.create_user(t, new_user(format!("u{}@fixture.test", unique())))
        .await
        .unwrap()
        .uid
}

async fn viewer_binding(s: &SqlStore, t: Uid, scope: Scope) -> Uid {
    let u = fresh_user(s, t).await;
    s.create_binding(
        t,
        Subject::User(u),
        RoleRef::Builtin(BuiltinRole::ProjectViewer),
        scope,
    )
    .await
    .unwrap()
    .binding
    .uid
}

async fn fresh_account(s: &SqlStore, t: Uid, p: Uid) -> Uid {
    s.create_cloud_account(
        t,
        p,
        NewCloudAccount {
            name: format!("a{}", unique()),
            provider: "aws".into(),
            credentials: SecretString::from("fixture-credentials"),
        },
    )
    .await
    .unwrap()
    .uid
}

async fn fresh_cluster(s: &SqlStore, t: Uid, p: Uid) -> Uid {
    s.create_cluster(
        t,
        p,
        NewCluster {
            name: format!("c{}", unique()),
            cloud_account_uid: None,
        },
    )
    .await
    .unwrap()
    .uid
}

async fn fresh_key(s: &SqlStore, t: Uid, owner: Uid) -> Uid {
    s.create_api_key(t, owner, "fixture", &"0".repeat(64), None)
        .await
        .unwrap()
        .uid
}

async fn fixture(s: &SqlStore, tenant: Uid, name: &str) -> Fix {
    let mut projects = [Uid::from_u64(0); 2];
    let mut accounts = projects;
    let mut clusters = projects;
    let mut project_bindings = projects;
    for (i, pn) in ["first", "second"].iter().enumerate() {
        let p = s.create_project(tenant, pn, "").await.unwrap().uid;
        projects[i] = p;
        accounts[i] = fresh_account(s, tenant, p).await;
        clusters[i] = fresh_cluster(s, tenant, p).await;
        project_bindings[i] = viewer_binding(s, tenant, Scope::Project(p)).await;
    }
    let victim = fresh_user(s, tenant).await;
    let binding = s
        .create_binding(
            tenant,
            Subject::User(victim),
            RoleRef::Builtin(BuiltinRole::ProjectViewer),
            Scope::Tenant,
        )
        .await
        .unwrap()
        .binding
        .uid;
    let team = s.create_team(tenant, "fixture", "").await.unwrap().uid;
    s.add_team_member(tenant, team, victim).await.unwrap();
    let role = s
        .create_role(
            tenant,
            "fixture",
            "",
            palisade_core::rbac::PermissionSet::of(&[Permission::ClusterGet]),
        )
        .await
        .unwrap()
        .uid;
    let key = fresh_key(s, tenant, victim).await;
    Fix {
        tenant,
        name: name.to_owned(),
        projects,
        accounts,
        clusters,
        project_bindings,
        victim,
        team,
        role,
        binding,
        key,
    }
}

struct World {
    store: Arc<SqlStore>,
    /// 0: system, 1: acme (the callers' tenants), 2: globex (foreign).
    fix: Vec<Fix>,
    password_policy: Value,
}

impl World {
    /// The path and body of a minimal valid call of `spec` by `who` on
    /// target `v`; objects a call would consume are made fresh.
    async fn request(&self, spec: &RouteSpec, who: &Who, v: Variant) -> (String, Option<Value>) {
        let s = &*self.store;
        let own = &self.fix[who.tenant];
        let foreign = &self.fix[2];
        let f = if v == Variant::Foreign { foreign } else { own };
        let k = usize::from(v == Variant::Other);
        let deleting = spec.method == Method::DELETE;
        let mut project = f.projects[k];
        let mut out = String::new();
        let mut prev = "";
        let mut in_project = false;
        let mut cluster = f.clusters[k];
        for seg in spec.path.split('/').skip(1) {
            out.push('/');
            if !seg.starts_with('{') {
                out.push_str(seg);
                prev = seg;
                continue;
            }
            let last = spec.path.ends_with(seg);
            let fresh = deleting && last && v != Variant::Foreign;
            let uid = match prev {
                "projects" => {
                    in_project = true;
                    if deleting && last {
                        // Deleting a project: a fresh one in the same place.
                        project = s
                            .create_project(f.tenant, &format!("d{}", unique()), "")
                            .await
                            .unwrap()
                            .uid;
                        if let (Variant::Bound, Some(r), true) = (v, who.role, who.at_project) {
                            s.create_binding(
                                f.tenant,
                                Subject::User(who.uid),
                                RoleRef::Builtin(r.builtin()),
                                Scope::Project(project),
                            )
                            .await
                            .unwrap();
                        }
                    }
                    project
                }
                "users" if v == Variant::Myself => who.uid,
                "users" if fresh => fresh_user(s, f.tenant).await,
                "users" => f.victim,
                "teams" if fresh => {
                    s.create_team(f.tenant, &format!("t{}", unique()), "")
                        .await
                        .unwrap()
                        .uid
                }
                "teams" => f.team,
                "members" if fresh => {
                    let u = fresh_user(s, f.tenant).await;
                    s.add_team_member(f.tenant, f.team, u).await.unwrap();
                    u
                }
                "members" => f.victim,
                "roles" if fresh => {
                    s.create_role(
                        f.tenant,
                        &format!("r{}", unique()),
                        "",
                        palisade_core::rbac::PermissionSet::of(&[Permission::ClusterGet]),
                    )
                    .await
                    .unwrap()
                    .uid
                }
                "roles" => f.role,
                "rolebindings" if in_project && fresh => {
                    viewer_binding(s, f.tenant, Scope::Project(project)).await
                }
                "rolebindings" if in_project => f.project_bindings[k],
                "rolebindings" if fresh => viewer_binding(s, f.tenant, Scope::Tenant).await,
                "rolebindings" => f.binding,
                "apikeys" if fresh => fresh_key(s, f.tenant, f.victim).await,
                "apikeys" => f.key,
                "tenants" if deleting => {
                    s.create_tenant(&format!("gone{}", unique()))
                        .await
                        .unwrap()
                        .uid
                }
                "tenants" => foreign.tenant,
                "cloudaccounts" if fresh => fresh_account(s, f.tenant, project).await,
                "cloudaccounts" => f.accounts[k],
                "clusters" if fresh => fresh_cluster(s, f.tenant, project).await,
                "clusters" => {
                    cluster = f.clusters[k];
                    cluster
                }
                "jobs" => {
                    s.create_job(f.tenant, project, cluster, palisade_store::JobKind::Ping)
                        .await
                        .unwrap()
                        .uid
                }
                other => panic!("{}: no fixture for a parameter after {other:?}", spec.path),
            };
            out.push_str(&uid.to_string());
            prev = seg;
        }
        let n = unique();
        let body = match (spec.method.as_str(), spec.path) {
            ("POST", "/v1/apikeys") => Some(json!({"name": "matrix key"})),
            ("POST", "/v1/me/mfa/totp/confirm" | "/v1/me/mfa/totp/disable") => {
                Some(json!({"code": "000000"}))
            }
            ("POST", "/v1/users") => Some(json!({
                "email": format!("m{n}@matrix.test"),
                "displayName": "Matrix user"
            })),
            ("PATCH", "/v1/users/{uid}") => Some(json!({"displayName": "Renamed"})),
            ("POST", "/v1/teams") => Some(json!({"name": format!("t{n}")})),
            ("PATCH", "/v1/teams/{uid}" | "/v1/projects/{projectUid}" | "/v1/roles/{uid}") => {
                Some(json!({"description": "changed"}))
            }
            ("POST", "/v1/teams/{uid}/members") => {
                Some(json!({"userUid": fresh_user(s, own.tenant).await.to_string()}))
            }
            ("POST", "/v1/roles") => Some(json!({
                "name": format!("r{n}"),
                "permissions": ["cluster.get"]
            })),
            ("POST", "/v1/rolebindings" | "/v1/projects/{projectUid}/rolebindings") => {
                Some(json!({
                    "subjectKind": "user",
                    "subjectUid": fresh_user(s, own.tenant).await.to_string(),
                    "role": "project-viewer"
                }))
            }
            ("POST", "/v1/projects") => Some(json!({"name": format!("p{n}")})),
            ("POST", "/v1/projects/{projectUid}/cloudaccounts") => Some(json!({
                "name": format!("a{n}"),
                "provider": "aws",
                "credentials": "{\"key\":\"k\"}"
            })),
            ("POST", "/v1/projects/{projectUid}/clusters") => {
                Some(json!({"name": format!("c{n}")}))
            }
            ("POST", "/v1/projects/{projectUid}/clusters/{uid}/jobs") => {
                Some(json!({"kind": "ping"}))
            }
            ("PUT", "/v1/settings/password-policy") => Some(self.password_policy.clone()),
            ("PUT", "/v1/settings/mfa") => Some(json!({"required": false})),
            ("POST", "/v1/tenants") => Some(json!({
                "name": format!("new{n}"),
                "adminEmail": format!("admin@new{n}.test")
            })),
            _ => None,
        };
        (out, body)
    }
}

/// Sorts an answer. Allowed means 2xx: every request of the matrix is
/// valid — except a second-factor code, which needs the secret of an
/// enrolment: there the handler's refusal of the code (403 `mfa_invalid`,
/// 409 `mfa_not_enrolled`) counts as having passed the gate.
fn classify(spec: &RouteSpec, status: u16, code: &str) -> Result<Outcome, String> {
    let needs_code = matches!(
        spec.path,
        "/v1/me/mfa/totp/confirm" | "/v1/me/mfa/totp/disable"
    );
    match (status, code) {
        (200..=299, _) => Ok(Outcome::Allowed),
        (403, "mfa_invalid") | (409, "mfa_not_enrolled") if needs_code => Ok(Outcome::Allowed),
        (403, "permission_denied") => Ok(Outcome::Denied),
        // The matrix server runs without a bus: a bus route that passed
        // the gate answers 503 from its handler.
        (503, "bus_unavailable") if spec.path.contains("/clusters/{uid}/") => Ok(Outcome::Allowed),
        (404, "not_found") => Ok(Outcome::Hidden),
        _ => Err(format!("{status} {code}")),
    }
}

async fn caller(
    s: &palisade_testkit::TestServer,
    w: &World,
    admin: &str,
    tenant: usize,
    role: Option<Role>,
    at_project: bool,
) -> Who {
    let fix = &w.fix[tenant];
    let label = match role {
        None => format!("(no role)@{}", fix.name),
        Some(r) if at_project => format!("{}@{}:first", r.name(), fix.name),
        Some(r) => format!("{}@{}", r.name(), fix.name),
    };
    let email = format!("caller{}@{}.test", unique(), fix.name);
    let (uid, token) = support::user(&s.client, admin, &fix.name, &email).await;
    let uid = Uid::parse(&uid).unwrap();
    if let Some(r) = role {
        let scope = if at_project {
            Scope::Project(fix.projects[0])
        } else {
            Scope::Tenant
        };
        w.store
            .create_binding(
                fix.tenant,
                Subject::User(uid),
                RoleRef::Builtin(r.builtin()),
                scope,
            )
            .await
            .unwrap();
    }
    Who {
        label,
        tenant,
        role,
        at_project,
        uid,
        token,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_every_role_own_and_foreign_tenant() {
    let (s, root) = support::server().await;
    let c = &s.client;
    let store = s.running.store.clone();

    // Tenants: system (the bootstrap admin's), acme (the callers'), globex
    // (the foreign one), each with the same objects.
    let system = store.tenant_by_name("system").await.unwrap().uid;
    let (acme, _, acme_admin) = support::tenant(c, &root, "acme").await;
    let (globex, _, _) = support::tenant(c, &root, "globex").await;
    let mut fix = Vec::new();
    for (uid, name) in [
        (system, "system"),
        (Uid::parse(&acme).unwrap(), "acme"),
        (Uid::parse(&globex).unwrap(), "globex"),
    ] {
        fix.push(fixture(&store, uid, name).await);
    }
    let password_policy = call(
        c,
        Method::GET,
        "/v1/settings/password-policy",
        Some(&root),
        None,
    )
    .await
    .ok()
    .body;
    let w = Arc::new(World {
        store: store.clone(),
        fix,
        password_policy,
    });

    // The callers.
    let root_uid = Uid::parse(
        &call(c, Method::GET, "/v1/me", Some(&root), None)
            .await
            .ok()
            .str("uid"),
    )
    .unwrap();
    let mut callers = vec![Who {
        label: "platform-admin@system".into(),
        tenant: 0,
        role: Some(Role::PlatformAdmin),
        at_project: false,
        uid: root_uid,
        token: root.clone(),
    }];
    for role in [
        Role::PlatformAdmin,
        Role::TenantAdmin,
        Role::TenantViewer,
        Role::ProjectAdmin,
        Role::ProjectEditor,
        Role::ProjectViewer,
    ] {
        callers.push(caller(&s, &w, &acme_admin, 1, Some(role), false).await);
    }
    for role in [Role::ProjectAdmin, Role::ProjectEditor, Role::ProjectViewer] {
        callers.push(caller(&s, &w, &acme_admin, 1, Some(role), true).await);
    }
    callers.push(caller(&s, &w, &acme_admin, 1, None, false).await);

    // Project lists show exactly what each caller may read.
    for who in &callers {
        let (items, _) = support::all_pages(c, &who.token, "/v1/projects", 500).await;
        let got: BTreeSet<String> = items
            .iter()
            .map(|p| p["uid"].as_str().unwrap().to_owned())
            .collect();
        let f = &w.fix[who.tenant];
        let want: BTreeSet<String> = match (who.role, who.at_project) {
            (None, _) => BTreeSet::new(),
            (Some(_), true) => [f.projects[0].to_string()].into(),
            (Some(_), false) => f.projects.iter().map(Uid::to_string).collect(),
        };
        assert_eq!(got, want, "{}: GET /v1/projects", who.label);
    }

    // Unauthenticated: every route but the public ones answers 401.
    let specs = palisade_server::routes::specs();
    for spec in &specs {
        let (path, body) = w.request(spec, &callers[0], variants(spec)[0]).await;
        let r = call(c, spec.method.clone(), &path, None, body.as_ref()).await;
        if is_public(spec) {
            assert!(
                r.code() != "token_missing" && !matches!(r.status, 403 | 404 | 500..=599),
                "{} {}: public route answered {} {}",
                spec.method,
                spec.path,
                r.status,
                r.text()
            );
        } else {
            assert_eq!(
                (r.status, r.code()),
                (401, "token_missing"),
                "{} {path} without credentials",
                spec.method
            );
        }
    }

    // The matrix: every caller, every ruled route, every target, in
    // parallel per caller; logout comes last (it ends the session).
    // Every caller at once (the embedded SQLite store has four connections;
    // fixtures are made through the same pool): this also keeps requests
    // from ever holding one connection while waiting for another.
    let gate = Arc::new(tokio::sync::Semaphore::new(12));
    let mut tasks = tokio::task::JoinSet::new();
    for who in callers.clone() {
        let w = Arc::clone(&w);
        let specs = specs.clone();
        let client = c.clone();
        let gate = Arc::clone(&gate);
        tasks.spawn(async move {
            let mut rows = Vec::new();
            let mut specs: Vec<&RouteSpec> = specs.iter().filter(|s| !is_public(s)).collect();
            specs.sort_by_key(|s| s.path == "/v1/auth/logout");
            for spec in specs {
                let rule = rule_of(spec).unwrap();
                for v in variants(spec) {
                    let _permit = gate.acquire().await.unwrap();
                    let want = expected(spec, rule, &who, v);
                    let (path, body) = w.request(spec, &who, v).await;
                    let r = call(
                        &client,
                        spec.method.clone(),
                        &path,
                        Some(&who.token),
                        body.as_ref(),
                    )
                    .await;
                    let got = classify(spec, r.status, r.code());
                    rows.push((
                        who.label.clone(),
                        format!("{} {}", spec.method, spec.path),
                        v,
                        rule,
                        want,
                        got.clone(),
                        r.text(),
                    ));
                }
            }
            rows
        });
    }
    let mut rows = Vec::new();
    while let Some(r) = tasks.join_next().await {
        rows.extend(r.unwrap());
    }

    let mut wrong = Vec::new();
    let mut tally: BTreeMap<Outcome, usize> = BTreeMap::new();
    for (who, route, v, rule, want, got, text) in &rows {
        *tally.entry(*want).or_default() += 1;
        if got.as_ref() != Ok(want) {
            wrong.push(format!(
                "{who:<28} {route:<55} {v:?}: expected {want:?} ({rule:?}), got {got:?}: {text}"
            ));
        }
    }
    println!("{} calls: {tally:?}", rows.len());
    assert!(
        wrong.is_empty(),
        "{} of {} calls differ from the decision table:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );

    // Every refusal by the gate left a denied event in the caller's tenant.
    let mut denied_expected: BTreeMap<String, usize> = BTreeMap::new();
    for who in callers.iter().filter(|w| w.tenant == 1) {
        let n = rows
            .iter()
            .filter(|(label, _, _, rule, want, _, _)| {
                *label == who.label && matches!(rule, Needs(_)) && *want == Outcome::Denied
            })
            .count();
        denied_expected.insert(who.uid.to_string(), n);
    }
    let (events, _) = support::all_pages(c, &acme_admin, "/v1/audit?outcome=denied", 1000).await;
    let mut denied_seen: BTreeMap<String, usize> =
        denied_expected.keys().map(|k| (k.clone(), 0)).collect();
    for e in &events {
        if let Some(n) = e["actorUid"].as_str().and_then(|a| denied_seen.get_mut(a)) {
            *n += 1;
        }
    }
    assert_eq!(denied_seen, denied_expected);
    s.stop().await.unwrap();
}
