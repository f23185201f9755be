//! Write transactions. Every change to Palisade's state goes through a
//! [`WriteTx`], and the only way to commit one is [`WriteTx::commit`] with
//! the audit event that records the change: the event is appended to its
//! tenant's hash chain inside the same database transaction, so there is no
//! change without its event, and when the event cannot be written the change
//! is rolled back (fail-closed).
//!
//! A transaction is bound to a scope: one tenant (calls naming another
//! tenant answer `NotFound`; on PostgreSQL row-level security enforces the
//! same), or the platform (tenant creation and deletion, counters).
//! Dropping a transaction without committing rolls it back.

use async_trait::async_trait;
use palisade_core::Uid;
use palisade_core::audit::{AuditEntry, AuditEvent};
use palisade_core::model::{
    CloudAccount, Cluster, CustomRole, Project, RoleBinding, Team, Tenant, User, UserStatus,
};
use palisade_core::rbac::{self, Binding, PermissionSet, RoleRef, Subject};
use sqlx::Any;

use crate::bus::{IssuedCredentials, Job, JobKind};
use crate::identity::{ApiKey, RefreshOutcome, Session, Throttle};
use crate::sql::{Scope, SqlStore};
use crate::{NewCloudAccount, NewCluster, NewUser, Result, RoleChange, StoreError};

/// A query with owned arguments, as the SQL helpers build them.
pub(crate) type OwnedQuery = sqlx::query::Query<'static, Any, sqlx::any::AnyArguments>;

/// The changes Palisade makes, inside one transaction. See the module docs.
#[async_trait]
pub trait WriteTx: Send {
    /// The tenant this transaction is bound to (`None`: platform scope).
    fn tenant(&self) -> Option<Uid>;

    /// Creates a tenant, its first data key and its (empty, signed) audit log.
    async fn create_tenant(&mut self, name: &str) -> Result<Tenant>;
    /// Deletes a tenant, all its data and its keys (crypto-shredding). Its
    /// audit log stays until retention removes it.
    async fn delete_tenant(&mut self, uid: Uid) -> Result<()>;

    /// Creates a user; email and display name are sealed.
    async fn create_user(&mut self, tenant: Uid, user: NewUser) -> Result<User>;
    /// Replaces a user's password hash.
    async fn set_password(
        &mut self,
        tenant: Uid,
        uid: Uid,
        password_hash: &str,
        must_change: bool,
    ) -> Result<()>;
    /// Enables or disables a user.
    async fn set_user_status(&mut self, tenant: Uid, uid: Uid, status: UserStatus) -> Result<()>;
    /// A user's status, read inside this transaction (`NotFound` when the
    /// user does not exist). Reading through the store instead while this
    /// transaction is open would hold one connection while waiting for
    /// another.
    async fn user_status(&mut self, tenant: Uid, uid: Uid) -> Result<UserStatus>;
    /// Renames a user (display name, sealed).
    async fn set_display_name(&mut self, tenant: Uid, uid: Uid, display_name: &str) -> Result<()>;
    /// Deletes a user.
    async fn delete_user(&mut self, tenant: Uid, uid: Uid) -> Result<()>;
    /// Records a hash in the user's password history (keeps the last 24).
    async fn push_password_history(&mut self, tenant: Uid, user: Uid, hash: &str) -> Result<()>;

    /// Creates a project.
    async fn create_project(
        &mut self,
        tenant: Uid,
        name: &str,
        description: &str,
    ) -> Result<Project>;
    /// Deletes a project with its cloud accounts and clusters.
    async fn delete_project(&mut self, tenant: Uid, uid: Uid) -> Result<()>;
    /// Creates a cloud account; credentials are sealed.
    async fn create_cloud_account(
        &mut self,
        tenant: Uid,
        project: Uid,
        account: NewCloudAccount,
    ) -> Result<CloudAccount>;
    /// Deletes a cloud account (refused while a cluster uses it).
    async fn delete_cloud_account(&mut self, tenant: Uid, project: Uid, uid: Uid) -> Result<()>;
    /// Creates a cluster record.
    async fn create_cluster(
        &mut self,
        tenant: Uid,
        project: Uid,
        cluster: NewCluster,
    ) -> Result<Cluster>;
    /// Deletes a cluster record; its bus credentials are revoked (the
    /// tenant's account revision moves) and its jobs removed.
    async fn delete_cluster(&mut self, tenant: Uid, project: Uid, uid: Uid) -> Result<()>;

    /// Records a cluster's new bus credentials and revokes its previous key
    /// in the tenant's account (an outbox revision). Returns the previous key.
    async fn set_cluster_credentials(
        &mut self,
        tenant: Uid,
        project: Uid,
        cluster: Uid,
        creds: &IssuedCredentials,
    ) -> Result<Option<String>>;
    /// Moves the expiry of the cluster's current credentials (a renewal);
    /// `NotFound` unless `user_key` is the cluster's current key.
    async fn renew_cluster_credentials(
        &mut self,
        tenant: Uid,
        cluster: Uid,
        user_key: &str,
        expires_at: i64,
    ) -> Result<()>;
    /// Creates a pending job on a cluster of the project.
    async fn create_job(
        &mut self,
        tenant: Uid,
        project: Uid,
        cluster: Uid,
        kind: JobKind,
    ) -> Result<Job>;

    /// Changes a project's description.
    async fn set_project_description(
        &mut self,
        tenant: Uid,
        uid: Uid,
        description: &str,
    ) -> Result<Project>;

    /// Creates a team.
    async fn create_team(&mut self, tenant: Uid, name: &str, description: &str) -> Result<Team>;
    /// Changes a team's description.
    async fn set_team_description(
        &mut self,
        tenant: Uid,
        uid: Uid,
        description: &str,
    ) -> Result<Team>;
    /// Deletes a team, its memberships and the bindings naming it.
    async fn delete_team(&mut self, tenant: Uid, uid: Uid) -> Result<()>;
    /// Adds a user to a team (`Conflict` when already a member).
    async fn add_team_member(&mut self, tenant: Uid, team: Uid, user: Uid) -> Result<()>;
    /// Removes a user from a team.
    async fn remove_team_member(&mut self, tenant: Uid, team: Uid, user: Uid) -> Result<()>;

    /// Creates a custom role (validated: a free name, no platform permissions).
    async fn create_role(
        &mut self,
        tenant: Uid,
        name: &str,
        description: &str,
        permissions: PermissionSet,
    ) -> Result<CustomRole>;
    /// Changes a custom role's description and/or permissions.
    async fn update_role(
        &mut self,
        tenant: Uid,
        uid: Uid,
        change: RoleChange,
    ) -> Result<CustomRole>;
    /// Deletes a custom role (refused while a binding names it).
    async fn delete_role(&mut self, tenant: Uid, uid: Uid) -> Result<()>;

    /// Binds a subject of the tenant to a role at a scope; the subject, the
    /// custom role and the project must exist in the tenant.
    async fn create_binding(
        &mut self,
        tenant: Uid,
        subject: Subject,
        role: RoleRef,
        scope: rbac::Scope,
    ) -> Result<RoleBinding>;
    /// Deletes a binding; with `project`, only a binding at that project's scope.
    async fn delete_binding(
        &mut self,
        tenant: Uid,
        uid: Uid,
        project: Option<Uid>,
    ) -> Result<Binding>;

    /// Stores the password policy JSON.
    async fn set_password_policy(&mut self, tenant: Uid, policy_json: &str) -> Result<()>;
    /// Sets whether MFA is required.
    async fn set_mfa_required(&mut self, tenant: Uid, required: bool) -> Result<()>;

    /// Starts a session with its first refresh token (hash).
    async fn create_session(
        &mut self,
        tenant: Uid,
        user: Uid,
        amr: &[String],
        expires_at: i64,
        refresh_hash: &str,
    ) -> Result<Session>;
    /// Revokes one live session.
    async fn revoke_session(&mut self, tenant: Uid, uid: Uid, reason: &str) -> Result<()>;
    /// Revokes every live session of a user; returns how many.
    async fn revoke_user_sessions(&mut self, tenant: Uid, user: Uid, reason: &str) -> Result<u64>;
    /// Uses a refresh token once: rotates it, or detects reuse and revokes
    /// the session (only that session).
    async fn use_refresh_token(
        &mut self,
        tenant: Uid,
        token_hash: &str,
        new_hash: &str,
        now: i64,
    ) -> Result<RefreshOutcome>;

    /// Stores a new API key (secret already hashed).
    async fn create_api_key(
        &mut self,
        tenant: Uid,
        user: Uid,
        name: &str,
        secret_hash: &str,
        expires_at: Option<i64>,
    ) -> Result<ApiKey>;
    /// Notes a successful use of a key, at most once a minute: true when
    /// this use was noted (and so must be recorded by this transaction's
    /// event), false when the key was used less than a minute ago.
    async fn touch_api_key(&mut self, tenant: Uid, uid: Uid, now: i64) -> Result<bool>;
    /// Revokes a key (of `user`, when given).
    async fn revoke_api_key(&mut self, tenant: Uid, uid: Uid, user: Option<Uid>) -> Result<()>;

    /// Starts (or restarts) an unconfirmed TOTP enrolment.
    async fn put_totp(&mut self, tenant: Uid, user: Uid, secret: &[u8]) -> Result<()>;
    /// Accepts time step `step` if it is newer than the last one; `confirm`
    /// also marks the enrolment confirmed. False when replayed.
    async fn accept_totp_step(
        &mut self,
        tenant: Uid,
        user: Uid,
        step: i64,
        confirm: bool,
    ) -> Result<bool>;
    /// Removes the enrolment and the recovery codes.
    async fn delete_totp(&mut self, tenant: Uid, user: Uid) -> Result<()>;
    /// Replaces the user's recovery codes (hashes).
    async fn replace_recovery_codes(
        &mut self,
        tenant: Uid,
        user: Uid,
        hashes: &[String],
    ) -> Result<()>;
    /// Uses a recovery code once; false when unknown or already used.
    async fn use_recovery_code(
        &mut self,
        tenant: Uid,
        user: Uid,
        hash: &str,
        now: i64,
    ) -> Result<bool>;

    /// Records a failed attempt; `block` computes `blocked_until` from the new count.
    async fn throttle_failure(
        &mut self,
        account_key: &str,
        client_key: &str,
        now: i64,
        block: &(dyn Fn(i64) -> i64 + Send + Sync),
    ) -> Result<Throttle>;
    /// Clears one counter (after a success).
    async fn throttle_clear(&mut self, account_key: &str, client_key: &str) -> Result<()>;
    /// Clears every counter of an account (admin); returns how many.
    async fn throttle_clear_account(&mut self, account_key: &str) -> Result<u64>;

    /// Removes events `..= through_seq` of `tenant`'s audit log after they
    /// were archived (retention); `through_hash` must be that event's hash.
    /// The cut is pinned by a signed checkpoint. Returns how many went.
    async fn prune_audit(
        &mut self,
        tenant: Uid,
        through_seq: i64,
        through_hash: &str,
    ) -> Result<u64>;

    /// Appends `entry` to its tenant's audit log and commits everything.
    /// If the event cannot be written, nothing is committed and the error is
    /// [`StoreError::AuditWrite`].
    async fn commit(self: Box<Self>, entry: AuditEntry) -> Result<AuditEvent>;
    /// Abandons every change.
    async fn rollback(self: Box<Self>) -> Result<()>;
}

/// The SQL implementation of [`WriteTx`].
pub struct SqlTx {
    pub(crate) store: SqlStore,
    pub(crate) tx: crate::sql::WriteTransaction,
    pub(crate) scope: Scope,
    /// The lane of each tenant's audit log this transaction appended to
    /// (held until the transaction ends).
    pub(crate) lanes: Vec<crate::audithead::LaneLease>,
}

impl std::fmt::Debug for SqlTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlTx")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl SqlTx {
    /// Appends every entry to its tenant's log and commits everything; an
    /// empty list commits the changes alone.
    pub(crate) async fn commit_all(mut self, entries: Vec<AuditEntry>) -> Result<Vec<AuditEvent>> {
        let mut events = Vec::with_capacity(entries.len());
        for entry in entries {
            events.push(self.append_audit(entry).await?);
        }
        let SqlTx { store, tx, .. } = self;
        tx.commit().await?;
        for event in &events {
            store.published(event);
        }
        Ok(events)
    }

    /// `NotFound` when this transaction may not touch `tenant`'s rows.
    pub(crate) fn check(&self, tenant: Uid) -> Result<()> {
        match self.scope {
            Scope::Tenant(t) if t != tenant => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    /// Runs a statement built by `build` for a fresh UID, retrying with
    /// another UID when the statement's `ON CONFLICT (uid) DO NOTHING`
    /// reports a collision (no row inserted). Returns the UID used.
    pub(crate) async fn insert_fresh(
        &mut self,
        conflict: &'static str,
        build: impl Fn(Uid) -> Result<OwnedQuery>,
    ) -> Result<Uid> {
        for _ in 0..8 {
            let uid = self.store.uids.next_uid()?;
            let done = build(uid)?
                .execute(&mut *self.tx)
                .await
                .map_err(|e| crate::sql::constraint(e, conflict))?;
            if done.rows_affected() == 1 {
                return Ok(uid);
            }
        }
        Err(StoreError::UidExhausted)
    }

    /// Runs one statement; `NotFound` when it touched no row.
    pub(crate) async fn exec_one(&mut self, query: OwnedQuery) -> Result<()> {
        let done = query
            .execute(&mut *self.tx)
            .await
            .map_err(|e| crate::sql::constraint(e, "in use"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Runs one statement; returns how many rows it touched.
    pub(crate) async fn exec(&mut self, query: OwnedQuery) -> Result<u64> {
        Ok(query.execute(&mut *self.tx).await?.rows_affected())
    }
}

#[async_trait]
impl WriteTx for SqlTx {
    fn tenant(&self) -> Option<Uid> {
        match self.scope {
            Scope::Tenant(t) => Some(t),
            Scope::Platform => None,
        }
    }

    async fn create_tenant(&mut self, name: &str) -> Result<Tenant> {
        self.tenant_create(name).await
    }
    async fn delete_tenant(&mut self, uid: Uid) -> Result<()> {
        self.tenant_delete(uid).await
    }

    async fn create_user(&mut self, tenant: Uid, user: NewUser) -> Result<User> {
        self.check(tenant)?;
        self.user_create(tenant, user).await
    }
    async fn set_password(
        &mut self,
        tenant: Uid,
        uid: Uid,
        password_hash: &str,
        must_change: bool,
    ) -> Result<()> {
        self.check(tenant)?;
        self.user_set_password(tenant, uid, password_hash, must_change)
            .await
    }
    async fn set_user_status(&mut self, tenant: Uid, uid: Uid, status: UserStatus) -> Result<()> {
        self.check(tenant)?;
        self.user_set_status(tenant, uid, status).await
    }
    async fn user_status(&mut self, tenant: Uid, uid: Uid) -> Result<UserStatus> {
        self.check(tenant)?;
        self.user_status_in(tenant, uid).await
    }
    async fn set_display_name(&mut self, tenant: Uid, uid: Uid, display_name: &str) -> Result<()> {
        self.check(tenant)?;
        self.user_set_display_name(tenant, uid, display_name).await
    }
    async fn delete_user(&mut self, tenant: Uid, uid: Uid) -> Result<()> {
        self.check(tenant)?;
        self.user_delete(tenant, uid).await
    }
    async fn push_password_history(&mut self, tenant: Uid, user: Uid, hash: &str) -> Result<()> {
        self.check(tenant)?;
        self.history_push(tenant, user, hash).await
    }

    async fn create_project(
        &mut self,
        tenant: Uid,
        name: &str,
        description: &str,
    ) -> Result<Project> {
        self.check(tenant)?;
        self.project_create(tenant, name, description).await
    }
    async fn delete_project(&mut self, tenant: Uid, uid: Uid) -> Result<()> {
        self.check(tenant)?;
        self.project_delete(tenant, uid).await
    }
    async fn create_cloud_account(
        &mut self,
        tenant: Uid,
        project: Uid,
        account: NewCloudAccount,
    ) -> Result<CloudAccount> {
        self.check(tenant)?;
        self.cloud_account_create(tenant, project, account).await
    }
    async fn delete_cloud_account(&mut self, tenant: Uid, project: Uid, uid: Uid) -> Result<()> {
        self.check(tenant)?;
        self.cloud_account_delete(tenant, project, uid).await
    }
    async fn create_cluster(
        &mut self,
        tenant: Uid,
        project: Uid,
        cluster: NewCluster,
    ) -> Result<Cluster> {
        self.check(tenant)?;
        self.cluster_create(tenant, project, cluster).await
    }
    async fn delete_cluster(&mut self, tenant: Uid, project: Uid, uid: Uid) -> Result<()> {
        self.check(tenant)?;
        self.cluster_delete(tenant, project, uid).await
    }
    async fn set_cluster_credentials(
        &mut self,
        tenant: Uid,
        project: Uid,
        cluster: Uid,
        creds: &IssuedCredentials,
    ) -> Result<Option<String>> {
        self.bus_set_credentials(tenant, project, cluster, creds)
            .await
    }
    async fn renew_cluster_credentials(
        &mut self,
        tenant: Uid,
        cluster: Uid,
        user_key: &str,
        expires_at: i64,
    ) -> Result<()> {
        self.bus_renew(tenant, cluster, user_key, expires_at).await
    }
    async fn create_job(
        &mut self,
        tenant: Uid,
        project: Uid,
        cluster: Uid,
        kind: JobKind,
    ) -> Result<Job> {
        self.bus_job_create(tenant, project, cluster, kind).await
    }

    async fn set_project_description(
        &mut self,
        tenant: Uid,
        uid: Uid,
        description: &str,
    ) -> Result<Project> {
        self.check(tenant)?;
        self.project_describe(tenant, uid, description).await
    }

    async fn create_team(&mut self, tenant: Uid, name: &str, description: &str) -> Result<Team> {
        self.check(tenant)?;
        self.team_create(tenant, name, description).await
    }
    async fn set_team_description(
        &mut self,
        tenant: Uid,
        uid: Uid,
        description: &str,
    ) -> Result<Team> {
        self.check(tenant)?;
        self.team_describe(tenant, uid, description).await
    }
    async fn delete_team(&mut self, tenant: Uid, uid: Uid) -> Result<()> {
        self.check(tenant)?;
        self.team_delete(tenant, uid).await
    }
    async fn add_team_member(&mut self, tenant: Uid, team: Uid, user: Uid) -> Result<()> {
        self.check(tenant)?;
        self.member_add(tenant, team, user).await
    }
    async fn remove_team_member(&mut self, tenant: Uid, team: Uid, user: Uid) -> Result<()> {
        self.check(tenant)?;
        self.member_remove(tenant, team, user).await
    }

    async fn create_role(
        &mut self,
        tenant: Uid,
        name: &str,
        description: &str,
        permissions: PermissionSet,
    ) -> Result<CustomRole> {
        self.check(tenant)?;
        self.role_create(tenant, name, description, permissions)
            .await
    }
    async fn update_role(
        &mut self,
        tenant: Uid,
        uid: Uid,
        change: RoleChange,
    ) -> Result<CustomRole> {
        self.check(tenant)?;
        self.role_update(tenant, uid, change).await
    }
    async fn delete_role(&mut self, tenant: Uid, uid: Uid) -> Result<()> {
        self.check(tenant)?;
        self.role_delete(tenant, uid).await
    }

    async fn create_binding(
        &mut self,
        tenant: Uid,
        subject: Subject,
        role: RoleRef,
        scope: rbac::Scope,
    ) -> Result<RoleBinding> {
        self.check(tenant)?;
        self.binding_create(tenant, subject, role, scope).await
    }
    async fn delete_binding(
        &mut self,
        tenant: Uid,
        uid: Uid,
        project: Option<Uid>,
    ) -> Result<Binding> {
        self.check(tenant)?;
        self.binding_delete(tenant, uid, project).await
    }

    async fn set_password_policy(&mut self, tenant: Uid, policy_json: &str) -> Result<()> {
        self.check(tenant)?;
        self.settings_policy(tenant, policy_json).await
    }
    async fn set_mfa_required(&mut self, tenant: Uid, required: bool) -> Result<()> {
        self.check(tenant)?;
        self.settings_mfa(tenant, required).await
    }

    async fn create_session(
        &mut self,
        tenant: Uid,
        user: Uid,
        amr: &[String],
        expires_at: i64,
        refresh_hash: &str,
    ) -> Result<Session> {
        self.check(tenant)?;
        self.session_create(tenant, user, amr, expires_at, refresh_hash)
            .await
    }
    async fn revoke_session(&mut self, tenant: Uid, uid: Uid, reason: &str) -> Result<()> {
        self.check(tenant)?;
        self.session_revoke(tenant, uid, reason).await
    }
    async fn revoke_user_sessions(&mut self, tenant: Uid, user: Uid, reason: &str) -> Result<u64> {
        self.check(tenant)?;
        self.sessions_revoke_user(tenant, user, reason).await
    }
    async fn use_refresh_token(
        &mut self,
        tenant: Uid,
        token_hash: &str,
        new_hash: &str,
        now: i64,
    ) -> Result<RefreshOutcome> {
        self.check(tenant)?;
        self.refresh_use(tenant, token_hash, new_hash, now).await
    }

    async fn create_api_key(
        &mut self,
        tenant: Uid,
        user: Uid,
        name: &str,
        secret_hash: &str,
        expires_at: Option<i64>,
    ) -> Result<ApiKey> {
        self.check(tenant)?;
        self.api_key_create(tenant, user, name, secret_hash, expires_at)
            .await
    }
    async fn touch_api_key(&mut self, tenant: Uid, uid: Uid, now: i64) -> Result<bool> {
        self.check(tenant)?;
        self.api_key_touch(tenant, uid, now).await
    }
    async fn revoke_api_key(&mut self, tenant: Uid, uid: Uid, user: Option<Uid>) -> Result<()> {
        self.check(tenant)?;
        self.api_key_revoke(tenant, uid, user).await
    }

    async fn put_totp(&mut self, tenant: Uid, user: Uid, secret: &[u8]) -> Result<()> {
        self.check(tenant)?;
        self.totp_put(tenant, user, secret).await
    }
    async fn accept_totp_step(
        &mut self,
        tenant: Uid,
        user: Uid,
        step: i64,
        confirm: bool,
    ) -> Result<bool> {
        self.check(tenant)?;
        self.totp_accept(tenant, user, step, confirm).await
    }
    async fn delete_totp(&mut self, tenant: Uid, user: Uid) -> Result<()> {
        self.check(tenant)?;
        self.totp_delete(tenant, user).await
    }
    async fn replace_recovery_codes(
        &mut self,
        tenant: Uid,
        user: Uid,
        hashes: &[String],
    ) -> Result<()> {
        self.check(tenant)?;
        self.recovery_replace(tenant, user, hashes).await
    }
    async fn use_recovery_code(
        &mut self,
        tenant: Uid,
        user: Uid,
        hash: &str,
        now: i64,
    ) -> Result<bool> {
        self.check(tenant)?;
        self.recovery_use(tenant, user, hash, now).await
    }

    async fn throttle_failure(
        &mut self,
        account_key: &str,
        client_key: &str,
        now: i64,
        block: &(dyn Fn(i64) -> i64 + Send + Sync),
    ) -> Result<Throttle> {
        self.throttle_fail(account_key, client_key, now, block)
            .await
    }
    async fn throttle_clear(&mut self, account_key: &str, client_key: &str) -> Result<()> {
        self.throttle_reset(account_key, client_key).await
    }
    async fn throttle_clear_account(&mut self, account_key: &str) -> Result<u64> {
        self.throttle_reset_account(account_key).await
    }

    async fn prune_audit(
        &mut self,
        tenant: Uid,
        through_seq: i64,
        through_hash: &str,
    ) -> Result<u64> {
        self.check(tenant)?;
        self.audit_prune(tenant, through_seq, through_hash).await
    }

    async fn commit(self: Box<Self>, entry: AuditEntry) -> Result<AuditEvent> {
        let mut events = (*self).commit_all(vec![entry]).await?;
        events
            .pop()
            .ok_or_else(|| StoreError::Corrupt("a change was committed without its event".into()))
    }

    async fn rollback(self: Box<Self>) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}
