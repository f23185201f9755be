//! What a login needs, in one read: the tenant (by name), the account (by
//! the keyed blind index of its email), the tenant's security settings,
//! whether the account has confirmed TOTP, and the brute-force counter of
//! the (account, client) pair. Nothing sealed is opened: a login needs no
//! email or display name in clear.
//!
//! Tenant names are remembered (name → UID, positive answers only) and the
//! remembered UID is checked in the same query (`tenants.uid` and `name`
//! must still match), so a deleted and re-created tenant is never mistaken
//! for its predecessor.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use palisade_core::Uid;
use palisade_core::model::UserStatus;
use palisade_crypto::email_index;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::identity::{TenantSecurity, Throttle};
use crate::sql::{Scope, SqlStore, parse_uid};
use crate::{Result, StoreError};

/// Tenant names remembered at most (then the memo starts over).
const NAMES_CAPACITY: usize = 4096;

/// Remembered tenant names (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct TenantNames(Mutex<HashMap<String, Uid>>);

impl TenantNames {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Uid>> {
        match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
    fn get(&self, name: &str) -> Option<Uid> {
        self.map().get(name).copied()
    }
    fn put(&self, name: &str, uid: Uid) {
        let mut m = self.map();
        if m.len() >= NAMES_CAPACITY {
            m.clear();
        }
        m.insert(name.to_owned(), uid);
    }
    fn forget(&self, name: &str) {
        self.map().remove(name);
    }
}

/// The account a login names, without anything sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginAccount {
    /// The user.
    pub uid: Uid,
    /// Active or disabled.
    pub status: UserStatus,
    /// Argon2id PHC string, if a password is set.
    pub password_hash: Option<String>,
    /// A password change is pending.
    pub must_change_password: bool,
    /// When the password was last set (0 when never).
    pub password_changed_at: i64,
    /// Creation time.
    pub created_at: i64,
    /// TOTP is enrolled and confirmed.
    pub totp_confirmed: bool,
}

/// What a login needs (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginState {
    /// The tenant, when one has this name.
    pub tenant: Option<Uid>,
    /// The account, when the tenant has one with this email.
    pub account: Option<LoginAccount>,
    /// The tenant's security settings (defaults without a tenant).
    pub settings: TenantSecurity,
    /// The counter of this (account, client) pair.
    pub throttle: Throttle,
}

fn throttle_of(row: &AnyRow) -> Result<Throttle> {
    Ok(Throttle {
        failures: row.try_get::<Option<i64>, _>("failures")?.unwrap_or(0),
        blocked_until: row.try_get::<Option<i64>, _>("blocked_until")?.unwrap_or(0),
    })
}

impl SqlStore {
    /// The login state of `email` in the tenant named `tenant_name`, with the
    /// counter of (`account_key`, `client_key`). Two reads when the tenant
    /// name is not remembered (or no tenant has it), one otherwise.
    pub(crate) async fn login_read(
        &self,
        tenant_name: &str,
        email: &str,
        account_key: &str,
        client_key: &str,
    ) -> Result<LoginState> {
        if let Some(uid) = self.tenant_names.get(tenant_name) {
            if let Some(state) = self
                .login_in(uid, tenant_name, email, account_key, client_key)
                .await?
            {
                return Ok(state);
            }
            self.tenant_names.forget(tenant_name);
        }
        match self.tenant_by_name_impl(tenant_name).await {
            Ok(t) => {
                self.tenant_names.put(tenant_name, t.uid);
                if let Some(state) = self
                    .login_in(t.uid, tenant_name, email, account_key, client_key)
                    .await?
                {
                    return Ok(state);
                }
                // Deleted between the two reads: as if it never existed.
                self.unknown_tenant(account_key, client_key).await
            }
            Err(StoreError::NotFound) => self.unknown_tenant(account_key, client_key).await,
            Err(e) => Err(e),
        }
    }

    async fn unknown_tenant(&self, account_key: &str, client_key: &str) -> Result<LoginState> {
        Ok(LoginState {
            tenant: None,
            account: None,
            settings: TenantSecurity::default(),
            throttle: crate::IdentityStore::throttle(self, account_key, client_key).await?,
        })
    }

    /// The login state in tenant `uid`, or `None` when no tenant has that
    /// UID and name any more.
    async fn login_in(
        &self,
        uid: Uid,
        tenant_name: &str,
        email: &str,
        account_key: &str,
        client_key: &str,
    ) -> Result<Option<LoginState>> {
        let index = email_index(self.sealer.keys.get().hash_salt(), uid, email);
        let mut tx = self.begin_read(Scope::Tenant(uid)).await?;
        let row = sqlx::query(
            "SELECT tn.uid AS tn_uid, u.uid AS u_uid, u.status, u.password_hash, u.must_change_password, \
                    u.password_changed_at, u.created_at, ts.password_policy, ts.mfa_required, \
                    ut.confirmed AS totp_confirmed, th.failures, th.blocked_until \
             FROM (SELECT 1 AS one) o \
             LEFT JOIN tenants tn ON tn.uid = $1 AND tn.name = $2 \
             LEFT JOIN users u ON u.tenant_uid = tn.uid AND u.email_index = $3 \
             LEFT JOIN tenant_settings ts ON ts.tenant_uid = tn.uid \
             LEFT JOIN user_totp ut ON ut.tenant_uid = tn.uid AND ut.user_uid = u.uid \
             LEFT JOIN auth_throttle th ON th.account_key = $4 AND th.client_key = $5",
        )
        .bind(uid.to_string())
        .bind(tenant_name.to_owned())
        .bind(index)
        .bind(account_key.to_owned())
        .bind(client_key.to_owned())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        if row.try_get::<Option<String>, _>("tn_uid")?.is_none() {
            return Ok(None);
        }
        let account = match row.try_get::<Option<String>, _>("u_uid")? {
            None => None,
            Some(u) => {
                let status: String = row.try_get("status")?;
                Some(LoginAccount {
                    uid: parse_uid(&u)?,
                    status: UserStatus::parse(&status).ok_or_else(|| {
                        StoreError::Corrupt(format!("user {u} has status {status:?}"))
                    })?,
                    password_hash: row.try_get("password_hash")?,
                    must_change_password: row.try_get::<i64, _>("must_change_password")? != 0,
                    password_changed_at: row.try_get("password_changed_at")?,
                    created_at: row.try_get("created_at")?,
                    totp_confirmed: row
                        .try_get::<Option<i64>, _>("totp_confirmed")?
                        .unwrap_or(0)
                        != 0,
                })
            }
        };
        let settings = TenantSecurity {
            password_policy: row.try_get("password_policy")?,
            mfa_required: row.try_get::<Option<i64>, _>("mfa_required")?.unwrap_or(0) != 0,
        };
        Ok(Some(LoginState {
            tenant: Some(uid),
            account,
            settings,
            throttle: throttle_of(&row)?,
        }))
    }
}

/// The memo shared by clones of one store.
pub(crate) fn names() -> Arc<TenantNames> {
    Arc::new(TenantNames::default())
}
