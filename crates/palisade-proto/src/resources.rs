//! Tenant resources and access control: users' profile changes, teams,
//! roles, role bindings, projects, cloud accounts, clusters, tenants, and
//! the permissions explanation.

use palisade_core::Uid;
use palisade_core::rbac::{PermissionSet, RoleName};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::fields::{Description, DisplayName, Email, Name};

/// `PATCH /v1/users/{uid}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// New display name.
    pub display_name: DisplayName,
}

/// A team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamView {
    /// UID.
    #[schemars(with = "palisade_core::Uid")]
    pub uid: String,
    /// Name, unique in the tenant.
    pub name: String,
    /// Description.
    pub description: String,
    /// Creation time (ms).
    pub created_at: i64,
}

/// `POST /v1/teams`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTeamRequest {
    /// Name (a DNS label).
    pub name: Name,
    /// Description.
    #[serde(default)]
    pub description: Option<Description>,
}

/// `PATCH /v1/teams/{uid}`, `PATCH /v1/projects/{projectUid}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DescriptionRequest {
    /// New description.
    pub description: Description,
}

/// `POST /v1/teams/{uid}/members`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TeamMemberRequest {
    /// The user to add.
    pub user_uid: Uid,
}

/// A page of a team's members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TeamMembersView {
    /// User UIDs, in order.
    #[schemars(with = "Vec<palisade_core::Uid>")]
    pub items: Vec<String>,
    /// Cursor for `?after=`, absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A role: built-in (no UID) or the tenant's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleView {
    /// UID of a custom role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<palisade_core::Uid>")]
    pub uid: Option<String>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// True for the six built-in roles.
    pub builtin: bool,
    /// What it grants.
    pub permissions: PermissionSet,
}

/// A page of roles: built-in roles first (on the first page), then custom ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolePage {
    /// Roles.
    pub items: Vec<RoleView>,
    /// Cursor for `?after=`, absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<palisade_core::Uid>")]
    pub next: Option<String>,
}

/// `POST /v1/roles`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRoleRequest {
    /// Name (a DNS label, not a built-in role's).
    #[schemars(with = "palisade_core::schema::CustomRoleName")]
    pub name: Name,
    /// Description.
    #[serde(default)]
    pub description: Option<Description>,
    /// Permissions (tenant and project level).
    #[schemars(with = "palisade_core::schema::CustomRolePermissions")]
    pub permissions: PermissionSet,
}

/// `PATCH /v1/roles/{uid}`: absent fields stay.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateRoleRequest {
    /// New description.
    #[serde(default)]
    pub description: Option<Description>,
    /// New permissions.
    #[serde(default)]
    #[schemars(with = "Option<palisade_core::schema::CustomRolePermissions>")]
    pub permissions: Option<PermissionSet>,
}

/// Who a binding is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    /// A user.
    User,
    /// A team.
    Team,
}

/// A role binding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BindingView {
    /// UID.
    #[schemars(with = "palisade_core::Uid")]
    pub uid: String,
    /// `user` or `team`.
    pub subject_kind: SubjectKind,
    /// The user or team.
    #[schemars(with = "palisade_core::Uid")]
    pub subject_uid: String,
    /// The role's name.
    pub role: String,
    /// The custom role's UID (absent for built-in roles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<palisade_core::Uid>")]
    pub role_uid: Option<String>,
    /// The project, for a binding at one project's scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<palisade_core::Uid>")]
    pub project_uid: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
}

/// `POST /v1/rolebindings` (and, without `projectUid`, `POST
/// /v1/projects/{projectUid}/rolebindings`).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateBindingRequest {
    /// `user` or `team`.
    pub subject_kind: SubjectKind,
    /// The user or team.
    pub subject_uid: Uid,
    /// A built-in role's name or the tenant's custom role's name.
    pub role: RoleName,
    /// Bind at this project's scope (absent: the whole tenant).
    #[serde(default)]
    pub project_uid: Option<Uid>,
}

/// A project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectView {
    /// UID.
    #[schemars(with = "palisade_core::Uid")]
    pub uid: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Creation time (ms).
    pub created_at: i64,
}

/// `POST /v1/projects`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateProjectRequest {
    /// Name (a DNS label).
    pub name: Name,
    /// Description.
    #[serde(default)]
    pub description: Option<Description>,
}

/// A cloud account (its credentials are never returned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CloudAccountView {
    /// UID.
    #[schemars(with = "palisade_core::Uid")]
    pub uid: String,
    /// Project.
    #[schemars(with = "palisade_core::Uid")]
    pub project_uid: String,
    /// Name.
    pub name: String,
    /// Provider kind.
    pub provider: String,
    /// Creation time (ms).
    pub created_at: i64,
}

/// Longest cloud credentials accepted, in characters (so that the largest
/// body, every character escaped as JSON allows, still fits the 64 KiB
/// body limit).
pub const MAX_CREDENTIALS_CHARS: usize = 4096;

/// `POST /v1/projects/{projectUid}/cloudaccounts`.
#[derive(Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateCloudAccountRequest {
    /// Name (a DNS label).
    pub name: Name,
    /// Provider kind (a DNS label: `aws`, `azure`, `gcp`, `vsphere`…).
    pub provider: Name,
    /// Credentials (write-only; sealed at rest; never returned): 1 to
    /// [`MAX_CREDENTIALS_CHARS`] characters.
    #[schemars(length(min = 1, max = MAX_CREDENTIALS_CHARS), extend("writeOnly" = true))]
    pub credentials: String,
}

impl std::fmt::Debug for CreateCloudAccountRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateCloudAccountRequest")
            .field("name", &self.name)
            .field("provider", &self.provider)
            .field("credentials", &"***")
            .finish()
    }
}

/// A cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterView {
    /// UID.
    #[schemars(with = "palisade_core::Uid")]
    pub uid: String,
    /// Project.
    #[schemars(with = "palisade_core::Uid")]
    pub project_uid: String,
    /// Name.
    pub name: String,
    /// Cloud account it runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<palisade_core::Uid>")]
    pub cloud_account_uid: Option<String>,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last heartbeat of the cluster's agent (ms); absent before the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<i64>,
    /// Whether the agent's last heartbeat is within the heartbeat timeout.
    #[serde(default)]
    pub connected: bool,
    /// What the agent last reported about itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentView>,
    /// Expiry of the cluster's current bus credentials (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_expire_at: Option<i64>,
}

/// A cluster agent, as its heartbeats describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentView {
    /// Agent version.
    pub version: String,
    /// Host the agent runs on.
    pub hostname: String,
}

/// `POST /v1/projects/{projectUid}/clusters/{clusterUid}/credentials`: a
/// NATS credentials file for the cluster's agent. Shown once; issuing new
/// credentials revokes the previous ones.
#[derive(Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterCredentialsView {
    /// The credentials file text (user JWT and seed): keep it secret.
    pub credentials: String,
    /// The user public key the credentials are for.
    pub user_public_key: String,
    /// When the user JWT expires (Unix seconds); the agent renews it.
    pub expires_at: i64,
}

impl std::fmt::Debug for ClusterCredentialsView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterCredentialsView")
            .field("credentials", &"***")
            .field("user_public_key", &self.user_public_key)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The kinds of job an agent runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum JobKindName {
    /// Answer at once.
    Ping,
    /// `harden scan` with a profile.
    HardenScan,
}

/// `POST /v1/projects/{projectUid}/clusters/{clusterUid}/jobs`: a `ping`
/// takes no profile (absent or `null`), a `harden-scan` needs one.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["kind"], "properties": {"kind": {"const": "ping"}, "profile": {"type": "null"}}},
    {"required": ["kind", "profile"], "properties": {"kind": {"const": "harden-scan"}, "profile": {"type": "string"}}}
]))]
pub struct CreateJobRequest {
    /// What to run.
    pub kind: JobKindName,
    /// The scan profile (`harden-scan` only): 1 to 64 lowercase letters,
    /// digits, `-` and `_`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[a-z0-9_-]+$"))]
    pub profile: Option<String>,
}

/// A job on a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    /// UID.
    #[schemars(with = "palisade_core::Uid")]
    pub uid: String,
    /// Project.
    #[schemars(with = "palisade_core::Uid")]
    pub project_uid: String,
    /// Cluster.
    #[schemars(with = "palisade_core::Uid")]
    pub cluster_uid: String,
    /// What it runs.
    pub kind: JobKindName,
    /// Scan profile (`harden-scan`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// `pending`, `sent`, `succeeded` or `failed`.
    #[schemars(extend("enum" = ["pending", "sent", "succeeded", "failed"]))]
    pub status: String,
    /// Created (ms).
    pub created_at: i64,
    /// Last sent to the agent (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<i64>,
    /// Ended (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The agent's report (single-job reads of ended jobs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
}

/// `POST /v1/projects/{projectUid}/clusters`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateClusterRequest {
    /// Name (a DNS label).
    pub name: Name,
    /// A cloud account of the same project.
    #[serde(default)]
    pub cloud_account_uid: Option<Uid>,
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantView {
    /// UID.
    #[schemars(with = "palisade_core::Uid")]
    pub uid: String,
    /// Name.
    pub name: String,
    /// Creation time (ms).
    pub created_at: i64,
}

/// `POST /v1/tenants`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTenantRequest {
    /// Name (a DNS label).
    pub name: Name,
    /// The first administrator's email.
    pub admin_email: Email,
}

/// A new tenant: its first administrator's one-time password is shown once
/// and must be changed at first login.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantCreated {
    /// The tenant's UID.
    #[schemars(with = "palisade_core::Uid")]
    pub uid: String,
    /// Name.
    pub name: String,
    /// The first administrator's UID.
    #[schemars(with = "palisade_core::Uid")]
    pub admin_uid: String,
    /// The first administrator's one-time password.
    pub admin_initial_password: String,
}

/// One permission a user holds, where, and through what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PermissionHeld {
    /// `resource.verb`.
    pub permission: String,
    /// What it allows.
    pub description: String,
    /// `platform`, `tenant` or `project`.
    #[schemars(extend("enum" = ["platform", "tenant", "project"]))]
    pub scope: String,
    /// The project, for `project` scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<palisade_core::Uid>")]
    pub project_uid: Option<String>,
    /// The binding that grants it.
    #[schemars(with = "palisade_core::Uid")]
    pub binding_uid: String,
    /// The bound role.
    pub role: String,
    /// The team it comes through, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<palisade_core::Uid>")]
    pub via_team_uid: Option<String>,
}

/// A permission a user's role carries but that does not apply, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PermissionIgnored {
    /// `resource.verb`.
    pub permission: String,
    /// The binding.
    #[schemars(with = "palisade_core::Uid")]
    pub binding_uid: String,
    /// The role.
    pub role: String,
    /// Why it does not apply.
    pub reason: String,
}

/// `GET /v1/users/{uid}/permissions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PermissionsView {
    /// The user.
    #[schemars(with = "palisade_core::Uid")]
    pub user_uid: String,
    /// What they may do, and why.
    pub effective: Vec<PermissionHeld>,
    /// What their roles carry that does not apply, and why.
    pub ignored: Vec<PermissionIgnored>,
}
