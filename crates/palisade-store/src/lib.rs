//! Palisade's storage: the [`Store`] trait and its SQLite and PostgreSQL
//! implementations.
//!
//! The store owns encryption at rest: callers hand it plaintext domain values
//! and it seals private fields (user email and display name, cloud
//! credentials) with the tenant's data key before they reach SQL, and finds
//! users by a keyed blind index of their email. Tenant data keys are stored
//! only wrapped by the installation root key.
//!
//! Every tenant-owned call takes the tenant UID explicitly (the server takes
//! it from the authenticated principal, never from the request). On
//! PostgreSQL, row-level security enforces the same scope a second time.
#![warn(missing_docs)]

pub mod audit;
mod audithead;
pub mod bus;
mod cols;
pub mod error;
mod fastread;
pub mod identity;
pub mod keys;
pub mod login;
pub mod migrate;
mod rbac;
mod resources;
mod sealer;
pub mod sql;
mod tenants;
#[doc(hidden)]
pub mod testing;
pub mod tx;
mod users;

use async_trait::async_trait;
use palisade_core::Uid;
use palisade_core::audit::{AuditEntry, AuditEvent};
use palisade_core::model::{
    CloudAccount, Cluster, CustomRole, Project, RoleBinding, Team, Tenant, User,
};
use secrecy::SecretString;

pub use audit::{
    AuditFilter, AuditOrder, AuditPage, AuditSink, EventPage, LogHead, LogProblem, LogReport,
    MAX_LANES, POSTGRES_LANES, empty_seq, lane_of,
};
pub use bus::{
    AgentPresence, BusAccount, BusStore, ClusterBus, HeartbeatSeen, IssuedCredentials, Job,
    JobKind, JobOutcome, JobStatus, ResultStored,
};
pub use error::StoreError;
pub use identity::{
    ApiKey, ApiKeyAccess, IdentityStore, RefreshOutcome, Session, SessionAccess, TenantSecurity,
    Throttle, TotpRecord,
};
pub use keys::{KeyringHandle, KeyringSource};
pub use login::{LoginAccount, LoginState};
pub use rbac::{BindingFilter, RoleChange};
pub use sql::{Backend, Database, SqlStore, StoreOptions, UidSource};
pub use tx::WriteTx;

/// Result alias for store calls.
pub type Result<T> = std::result::Result<T, StoreError>;

/// A page request: items after `after` (exclusive, by UID), at most `limit`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageRequest {
    /// Cursor: the last UID of the previous page.
    pub after: Option<Uid>,
    /// Page size; clamped to 1..=500, default 50.
    pub limit: u32,
}

impl PageRequest {
    /// The effective page size.
    pub fn size(&self) -> u32 {
        match self.limit {
            0 => 50,
            n => n.min(500),
        }
    }
}

/// One page of results and the cursor for the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, ordered by UID.
    pub items: Vec<T>,
    /// Cursor for the next page, `None` on the last page.
    pub next: Option<Uid>,
}

/// A user to create.
#[derive(Debug)]
pub struct NewUser {
    /// Login ID.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Argon2id PHC string, if a password is set.
    pub password_hash: Option<String>,
    /// Force a password change at next login.
    pub must_change_password: bool,
}

/// What login needs: the user and their password hash.
#[derive(Debug)]
pub struct UserCredentials {
    /// The user.
    pub user: User,
    /// Their Argon2id PHC string, if set.
    pub password_hash: Option<String>,
}

/// A cloud account to create; the credentials are sealed before storage.
#[derive(Debug)]
pub struct NewCloudAccount {
    /// Name, unique within the project.
    pub name: String,
    /// Provider kind.
    pub provider: String,
    /// Credentials (JSON or a provider-specific secret); write-only.
    pub credentials: SecretString,
}

/// A cluster to create.
#[derive(Debug)]
pub struct NewCluster {
    /// Name, unique within the project.
    pub name: String,
    /// Cloud account to use, in the same project.
    pub cloud_account_uid: Option<Uid>,
}

/// What `rotate_root` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// The root key version now wrapping every tenant key.
    pub root_version: u32,
    /// How many tenant keys were re-wrapped.
    pub rewrapped: u64,
}

/// The storage API. Implemented for SQLite and PostgreSQL by [`SqlStore`].
///
/// Reads are methods here; every change goes through a [`WriteTx`] whose
/// commit records its audit event in the same transaction.
#[async_trait]
pub trait Store: IdentityStore + BusStore + Send + Sync + std::fmt::Debug {
    /// Which back end this is.
    fn backend(&self) -> Backend;
    /// Checks the database answers.
    async fn ping(&self) -> Result<()>;

    /// A write transaction bound to `tenant`.
    async fn write(&self, tenant: Uid) -> Result<Box<dyn WriteTx>>;
    /// A write transaction over every tenant (tenant creation and deletion,
    /// brute-force counters). Its event must name the tenant whose log records it.
    async fn write_platform(&self) -> Result<Box<dyn WriteTx>>;
    /// Records an event that changes nothing else (a refused or failed
    /// attempt); `entry` must name its tenant.
    async fn record(&self, entry: AuditEntry) -> Result<AuditEvent>;

    /// A tenant by UID.
    async fn get_tenant(&self, uid: Uid) -> Result<Tenant>;
    /// A tenant by name.
    async fn tenant_by_name(&self, name: &str) -> Result<Tenant>;
    /// Tenants, by UID.
    async fn list_tenants(&self, page: PageRequest) -> Result<Page<Tenant>>;

    /// A user by UID.
    async fn get_user(&self, tenant: Uid, uid: Uid) -> Result<User>;
    /// A user and password hash by email, through the blind index.
    async fn user_by_email(&self, tenant: Uid, email: &str) -> Result<UserCredentials>;
    /// Users of a tenant.
    async fn list_users(&self, tenant: Uid, page: PageRequest) -> Result<Page<User>>;

    /// A project by UID.
    async fn get_project(&self, tenant: Uid, uid: Uid) -> Result<Project>;
    /// Projects of a tenant.
    async fn list_projects(&self, tenant: Uid, page: PageRequest) -> Result<Page<Project>>;
    /// A cloud account (without credentials).
    async fn get_cloud_account(&self, tenant: Uid, project: Uid, uid: Uid) -> Result<CloudAccount>;
    /// Cloud accounts of a project.
    async fn list_cloud_accounts(
        &self,
        tenant: Uid,
        project: Uid,
        page: PageRequest,
    ) -> Result<Page<CloudAccount>>;
    /// Opens a cloud account's credentials (for provisioning, never for the API).
    async fn cloud_account_credentials(&self, tenant: Uid, uid: Uid) -> Result<SecretString>;
    /// A cluster by UID.
    async fn get_cluster(&self, tenant: Uid, project: Uid, uid: Uid) -> Result<Cluster>;
    /// Clusters of a project.
    async fn list_clusters(
        &self,
        tenant: Uid,
        project: Uid,
        page: PageRequest,
    ) -> Result<Page<Cluster>>;

    /// A team.
    async fn get_team(&self, tenant: Uid, uid: Uid) -> Result<Team>;
    /// Teams of a tenant.
    async fn list_teams(&self, tenant: Uid, page: PageRequest) -> Result<Page<Team>>;
    /// Members of a team (user UIDs), in UID order.
    async fn team_members(&self, tenant: Uid, team: Uid) -> Result<Vec<Uid>>;
    /// A custom role.
    async fn get_role(&self, tenant: Uid, uid: Uid) -> Result<CustomRole>;
    /// A custom role by name.
    async fn role_by_name(&self, tenant: Uid, name: &str) -> Result<CustomRole>;
    /// Custom roles of a tenant.
    async fn list_roles(&self, tenant: Uid, page: PageRequest) -> Result<Page<CustomRole>>;
    /// A role binding.
    async fn get_binding(&self, tenant: Uid, uid: Uid) -> Result<RoleBinding>;
    /// Role bindings of a tenant, filtered.
    async fn list_bindings(
        &self,
        tenant: Uid,
        filter: BindingFilter,
        page: PageRequest,
    ) -> Result<Page<RoleBinding>>;
    /// What applies to `user`: one grant per binding of the user or of a
    /// team they belong to, with the role's current permissions.
    async fn grants_of(&self, tenant: Uid, user: Uid) -> Result<Vec<palisade_core::rbac::Grant>>;
    /// A live user's status, without opening sealed fields (for the
    /// per-request checks); `NotFound` when the user does not exist.
    async fn user_status(&self, tenant: Uid, uid: Uid) -> Result<palisade_core::model::UserStatus>;

    /// One page of a tenant's audit log.
    async fn list_audit(
        &self,
        tenant: Uid,
        filter: &AuditFilter,
        page: AuditPage,
    ) -> Result<EventPage>;
    /// The signed heads of every lane of every log.
    async fn audit_heads(&self) -> Result<Vec<LogHead>>;
    /// Events of the lane `head` names recorded before `before` (ms),
    /// oldest first.
    async fn audit_expired(
        &self,
        head: &LogHead,
        before: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>>;
    /// Verifies the audit logs of one tenant or all: chains, signed heads,
    /// checkpoints, retention cuts. `NotFound` for an unknown tenant.
    async fn verify_audit(&self, tenant: Option<Uid>) -> Result<Vec<LogReport>>;

    /// Re-wraps every tenant key with the keyring's current root key,
    /// online; `entry` (naming the platform tenant) records it.
    async fn rotate_root(&self, entry: AuditEntry) -> Result<RotationReport>;
    /// Proves the keyring opens this database: key check and every tenant key.
    async fn verify_keyring(&self) -> Result<()>;
}
