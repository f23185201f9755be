//! Test support: a fresh PostgreSQL database and role per test, dropped
//! afterwards. Not part of the stable API.
//!
//! The admin URL comes from `PALISADE_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). When the server is not
//! reachable the caller skips — unless `PALISADE_REQUIRE_SERVICES=1`, in
//! which case [`PgTestDb::create`] panics so CI cannot silently skip.

use palisade_core::Uid;
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::str::FromStr;

/// A throwaway database owned by a throwaway ordinary role (so row-level
/// security applies to it).
#[derive(Debug)]
pub struct PgTestDb {
    /// URL connecting as the throwaway role.
    pub url: String,
    /// Database name.
    pub name: String,
    admin_url: String,
}

fn admin_url() -> String {
    std::env::var("PALISADE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// True when CI demands that service-backed tests run.
pub fn services_required() -> bool {
    std::env::var("PALISADE_REQUIRE_SERVICES").as_deref() == Ok("1")
}

async fn admin_conn(url: &str) -> Result<PgConnection, sqlx::Error> {
    PgConnectOptions::from_str(url)?.connect().await
}

impl PgTestDb {
    /// Creates the role and database, or returns `None` (after printing why)
    /// when PostgreSQL is unreachable and services are not required.
    #[allow(clippy::panic)]
    pub async fn create() -> Option<PgTestDb> {
        use sqlx::Executor;
        let admin = admin_url();
        let mut conn = match admin_conn(&admin).await {
            Ok(c) => c,
            Err(e) => {
                if services_required() {
                    panic!("PALISADE_REQUIRE_SERVICES=1 but PostgreSQL is unreachable: {e}");
                }
                eprintln!("skipping PostgreSQL test: server unreachable ({e})");
                return None;
            }
        };
        let suffix = palisade_core::Uid::generate().ok()?.to_string();
        let name = format!("palisade_t_{suffix}");
        let statements = [
            format!("CREATE ROLE {name} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"),
            format!("CREATE DATABASE {name} OWNER {name}"),
        ];
        for s in statements {
            if let Err(e) = conn.execute(sqlx::AssertSqlSafe(s)).await {
                panic!("creating the test database failed: {e}");
            }
        }
        let opts = PgConnectOptions::from_str(&admin).ok()?;
        let url = format!(
            "postgres://{name}@{}:{}/{name}?sslmode=disable",
            opts.get_host(),
            opts.get_port()
        );
        Some(PgTestDb {
            url,
            name,
            admin_url: admin,
        })
    }

    /// URL of the same database as the admin (superuser) role, which
    /// bypasses row-level security: for dumps in tests.
    pub fn admin_url_for_db(&self) -> Option<String> {
        let opts = PgConnectOptions::from_str(&self.admin_url).ok()?;
        Some(format!(
            "postgres://{}@{}:{}/{}?sslmode=disable",
            opts.get_username(),
            opts.get_host(),
            opts.get_port(),
            self.name
        ))
    }

    /// Drops the database (closing its connections) and the role.
    pub async fn drop_db(&self) {
        use sqlx::Executor;
        if let Ok(mut conn) = admin_conn(&self.admin_url).await {
            let _ = conn
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                )))
                .await;
            let _ = conn
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP ROLE IF EXISTS {}",
                    self.name
                )))
                .await;
        }
    }
}

macro_rules! one_shot {
    ($( $(#[$doc:meta])* fn $name:ident(tenant $(, $arg:ident : $ty:ty)*) -> $ret:ty = $action:literal; )*) => {
        /// One-shot changes for tests: each call opens a transaction, makes
        /// one change and commits it with a system audit event, as the old
        /// one-call API did. Production code uses [`crate::WriteTx`] directly
        /// so that one request's changes and its event share a transaction.
        #[async_trait::async_trait]
        pub trait OneShot: crate::Store {
            /// See [`crate::WriteTx::create_tenant`] (recorded in the new tenant's log).
            async fn create_tenant(&self, name: &str) -> crate::Result<palisade_core::model::Tenant> {
                let mut tx = self.write_platform().await?;
                let t = tx.create_tenant(name).await?;
                tx.commit(sys("tenant.create").tenant(t.uid)).await?;
                Ok(t)
            }
            /// See [`crate::WriteTx::delete_tenant`] (recorded in the deleted tenant's log).
            async fn delete_tenant(&self, uid: Uid) -> crate::Result<()> {
                let mut tx = self.write_platform().await?;
                tx.delete_tenant(uid).await?;
                tx.commit(sys("tenant.delete").tenant(uid)).await?;
                Ok(())
            }
            /// See [`crate::WriteTx::throttle_failure`].
            async fn throttle_failure(
                &self,
                account_key: &str,
                client_key: &str,
                now: i64,
                block: &(dyn Fn(i64) -> i64 + Send + Sync),
            ) -> crate::Result<crate::Throttle> {
                let mut tx = self.write_platform().await?;
                let out = tx.throttle_failure(account_key, client_key, now, block).await?;
                tx.commit(sys("auth.login").tenant(Uid::from_u64(0))).await?;
                Ok(out)
            }
            /// See [`crate::WriteTx::throttle_clear`].
            async fn throttle_clear(&self, account_key: &str, client_key: &str) -> crate::Result<()> {
                let mut tx = self.write_platform().await?;
                tx.throttle_clear(account_key, client_key).await?;
                tx.commit(sys("auth.login").tenant(Uid::from_u64(0))).await?;
                Ok(())
            }
            /// See [`crate::WriteTx::throttle_clear_account`].
            async fn throttle_clear_account(&self, account_key: &str) -> crate::Result<u64> {
                let mut tx = self.write_platform().await?;
                let out = tx.throttle_clear_account(account_key).await?;
                tx.commit(sys("user.unlock").tenant(Uid::from_u64(0))).await?;
                Ok(out)
            }
            $(
                $(#[$doc])*
                async fn $name(&self, tenant: Uid $(, $arg: $ty)*) -> crate::Result<$ret> {
                    let mut tx = self.write(tenant).await?;
                    let out = tx.$name(tenant $(, $arg)*).await?;
                    tx.commit(sys($action)).await?;
                    Ok(out)
                }
            )*
        }
    };
}

one_shot! {
    /// See [`crate::WriteTx::create_user`].
    fn create_user(tenant, user: crate::NewUser) -> palisade_core::model::User = "user.create";
    /// See [`crate::WriteTx::set_password`].
    fn set_password(tenant, uid: Uid, hash: &str, must_change: bool) -> () = "user.reset-password";
    /// See [`crate::WriteTx::set_user_status`].
    fn set_user_status(tenant, uid: Uid, status: palisade_core::model::UserStatus) -> () = "user.update";
    /// See [`crate::WriteTx::create_binding`].
    fn create_binding(tenant, subject: palisade_core::rbac::Subject, role: palisade_core::rbac::RoleRef, scope: palisade_core::rbac::Scope) -> palisade_core::model::RoleBinding = "rolebinding.create";
    /// See [`crate::WriteTx::create_team`].
    fn create_team(tenant, name: &str, description: &str) -> palisade_core::model::Team = "team.create";
    /// See [`crate::WriteTx::add_team_member`].
    fn add_team_member(tenant, team: Uid, user: Uid) -> () = "team.update";
    /// See [`crate::WriteTx::create_role`].
    fn create_role(tenant, name: &str, description: &str, permissions: palisade_core::rbac::PermissionSet) -> palisade_core::model::CustomRole = "role.create";
    /// See [`crate::WriteTx::delete_user`].
    fn delete_user(tenant, uid: Uid) -> () = "user.delete";
    /// See [`crate::WriteTx::push_password_history`].
    fn push_password_history(tenant, user: Uid, hash: &str) -> () = "auth.password-change";
    /// See [`crate::WriteTx::create_project`].
    fn create_project(tenant, name: &str, description: &str) -> palisade_core::model::Project = "project.create";
    /// See [`crate::WriteTx::delete_project`].
    fn delete_project(tenant, uid: Uid) -> () = "project.delete";
    /// See [`crate::WriteTx::create_cloud_account`].
    fn create_cloud_account(tenant, project: Uid, account: crate::NewCloudAccount) -> palisade_core::model::CloudAccount = "cloudaccount.create";
    /// See [`crate::WriteTx::delete_cloud_account`].
    fn delete_cloud_account(tenant, project: Uid, uid: Uid) -> () = "cloudaccount.delete";
    /// See [`crate::WriteTx::create_cluster`].
    fn create_cluster(tenant, project: Uid, cluster: crate::NewCluster) -> palisade_core::model::Cluster = "cluster.create";
    /// See [`crate::WriteTx::delete_cluster`].
    fn delete_cluster(tenant, project: Uid, uid: Uid) -> () = "cluster.delete";
    /// See [`crate::WriteTx::set_cluster_credentials`].
    fn set_cluster_credentials(tenant, project: Uid, cluster: Uid, creds: &crate::IssuedCredentials) -> Option<String> = "cluster.credentials";
    /// See [`crate::WriteTx::renew_cluster_credentials`].
    fn renew_cluster_credentials(tenant, cluster: Uid, user_key: &str, expires_at: i64) -> () = "cluster.credentials-renew";
    /// See [`crate::WriteTx::create_job`].
    fn create_job(tenant, project: Uid, cluster: Uid, kind: crate::JobKind) -> crate::Job = "job.create";
    /// See [`crate::WriteTx::set_password_policy`].
    fn set_password_policy(tenant, policy_json: &str) -> () = "settings.update";
    /// See [`crate::WriteTx::set_mfa_required`].
    fn set_mfa_required(tenant, required: bool) -> () = "settings.update";
    /// See [`crate::WriteTx::create_session`].
    fn create_session(tenant, user: Uid, amr: &[String], expires_at: i64, refresh_hash: &str) -> crate::Session = "auth.login";
    /// See [`crate::WriteTx::revoke_session`].
    fn revoke_session(tenant, uid: Uid, reason: &str) -> () = "auth.logout";
    /// See [`crate::WriteTx::revoke_user_sessions`].
    fn revoke_user_sessions(tenant, user: Uid, reason: &str) -> u64 = "user.revoke-sessions";
    /// See [`crate::WriteTx::use_refresh_token`].
    fn use_refresh_token(tenant, token_hash: &str, new_hash: &str, now: i64) -> crate::RefreshOutcome = "auth.refresh";
    /// See [`crate::WriteTx::create_api_key`].
    fn create_api_key(tenant, user: Uid, name: &str, secret_hash: &str, expires_at: Option<i64>) -> crate::ApiKey = "apikey.create";
    /// See [`crate::WriteTx::revoke_api_key`].
    fn revoke_api_key(tenant, uid: Uid, user: Option<Uid>) -> () = "apikey.delete";
    /// See [`crate::WriteTx::put_totp`].
    fn put_totp(tenant, user: Uid, secret: &[u8]) -> () = "mfa.enrol";
    /// See [`crate::WriteTx::accept_totp_step`].
    fn accept_totp_step(tenant, user: Uid, step: i64, confirm: bool) -> bool = "auth.mfa";
    /// See [`crate::WriteTx::delete_totp`].
    fn delete_totp(tenant, user: Uid) -> () = "mfa.disable";
    /// See [`crate::WriteTx::replace_recovery_codes`].
    fn replace_recovery_codes(tenant, user: Uid, hashes: &[String]) -> () = "mfa.confirm";
    /// See [`crate::WriteTx::use_recovery_code`].
    fn use_recovery_code(tenant, user: Uid, hash: &str, now: i64) -> bool = "auth.mfa";
}

impl<S: crate::Store + ?Sized> OneShot for S {}

fn sys(action: &str) -> palisade_core::audit::AuditEntry {
    palisade_core::audit::AuditContext::system().entry(action)
}
