//! Identity state: tenant security settings, sessions and their rotating
//! refresh tokens, API keys, TOTP enrolments, recovery codes, password
//! history and brute-force counters.
//!
//! Every secret arrives here already hashed (refresh tokens, API key
//! secrets, recovery codes: SHA-256/HMAC of high-entropy values) or is
//! sealed here with the tenant key (TOTP secrets). Nothing in these tables
//! lets a database reader log in.

use async_trait::async_trait;
use palisade_core::Uid;
use sqlx::Row;
use zeroize::Zeroizing;

use crate::cols::Cols;
use crate::rbac::{grants_of_rows, with_grants};
use crate::sealer::Sealer;
use crate::sql::{Scope, SqlStore, cursor, page_of, parse_uid};
use crate::tx::SqlTx;
use crate::{Page, PageRequest, Result, StoreError};
use palisade_core::model::UserStatus;
use palisade_core::rbac::Grant;

/// A tenant's security settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantSecurity {
    /// The password policy as JSON, `None` for the default profile.
    pub password_policy: Option<String>,
    /// Whether every user must enrol a second factor.
    pub mfa_required: bool,
}

/// A login session: one refresh-token family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Identifier (the JWT `sid`).
    pub uid: Uid,
    /// Tenant.
    pub tenant_uid: Uid,
    /// User.
    pub user_uid: Uid,
    /// Authentication methods used (`pwd`, `otp`, `recovery`).
    pub amr: Vec<String>,
    /// Start.
    pub created_at: i64,
    /// Last refresh or request seen.
    pub last_seen_at: i64,
    /// Absolute end.
    pub expires_at: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// Why (`logout`, `refresh_reuse`, `admin`, `password_change`, …).
    pub revoked_reason: Option<String>,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// The token was valid and unused: it is now used and the new one stored.
    Rotated(Session),
    /// The token had been used before: its session is now revoked.
    Reused(Session),
    /// No such token.
    Unknown,
}

/// An API key (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Identifier.
    pub uid: Uid,
    /// Tenant.
    pub tenant_uid: Uid,
    /// Owner: the key acts with this user's permissions.
    pub user_uid: Uid,
    /// Label.
    pub name: String,
    /// Creation time.
    pub created_at: i64,
    /// Optional expiry.
    pub expires_at: Option<i64>,
    /// Revocation time.
    pub revoked_at: Option<i64>,
    /// Last successful use.
    pub last_used_at: Option<i64>,
}

/// A TOTP enrolment.
#[derive(Debug)]
pub struct TotpRecord {
    /// The shared secret (opened from its envelope).
    pub secret: Zeroizing<Vec<u8>>,
    /// Confirmed with a first code.
    pub confirmed: bool,
    /// The last accepted time step.
    pub last_step: Option<i64>,
}

/// What checking an access token needs (see [`IdentityStore::session_access`]).
#[derive(Debug, Clone)]
pub struct SessionAccess {
    /// The session.
    pub session: Session,
    /// Its user's status.
    pub status: UserStatus,
    /// Its user's grants.
    pub grants: Vec<Grant>,
}

/// What checking an API key needs (see [`IdentityStore::api_key_access`]).
#[derive(Debug, Clone)]
pub struct ApiKeyAccess {
    /// The key.
    pub key: ApiKey,
    /// Hash of its secret.
    pub secret_hash: String,
    /// Its owner's status.
    pub status: UserStatus,
    /// Its owner's grants.
    pub grants: Vec<Grant>,
}

fn status_of_row(row: &impl Cols) -> Result<UserStatus> {
    let status = row.req_text("status")?;
    UserStatus::parse(&status)
        .ok_or_else(|| StoreError::Corrupt(format!("a user has status {status:?}")))
}

/// A brute-force counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Throttle {
    /// Consecutive failures.
    pub failures: i64,
    /// No attempt is evaluated before this time (ms).
    pub blocked_until: i64,
}

/// Identity storage, implemented by [`SqlStore`] on both back ends.
#[async_trait]
pub trait IdentityStore: Send + Sync {
    /// The tenant's security settings (defaults when never set).
    async fn security_settings(&self, tenant: Uid) -> Result<TenantSecurity>;
    /// The user's previous password hashes, newest first, at most `n`.
    async fn password_history(&self, tenant: Uid, user: Uid, n: u32) -> Result<Vec<String>>;
    /// A session by UID.
    async fn get_session(&self, tenant: Uid, uid: Uid) -> Result<Session>;
    /// What checking an access token needs, in one read: the session, its
    /// user's status and the user's grants; `NotFound` when the session (or
    /// its user) is gone.
    async fn session_access(&self, tenant: Uid, uid: Uid) -> Result<SessionAccess>;
    /// What checking an API key needs, in one read: the key, its secret's
    /// hash, its owner's status and grants; `NotFound` when the key is gone.
    async fn api_key_access(&self, tenant: Uid, uid: Uid) -> Result<ApiKeyAccess>;
    /// Records activity (for the idle timeout).
    async fn touch_session(&self, tenant: Uid, uid: Uid, now: i64) -> Result<()>;
    /// Keys of a tenant, optionally of one user.
    async fn list_api_keys(
        &self,
        tenant: Uid,
        user: Option<Uid>,
        page: PageRequest,
    ) -> Result<Page<ApiKey>>;

    /// The user's TOTP enrolment, if any.
    async fn get_totp(&self, tenant: Uid, user: Uid) -> Result<Option<TotpRecord>>;
    /// Unused recovery codes left.
    async fn recovery_codes_left(&self, tenant: Uid, user: Uid) -> Result<u64>;

    /// A brute-force counter.
    async fn throttle(&self, account_key: &str, client_key: &str) -> Result<Throttle>;
    /// What a login needs, in one read (see [`crate::login`]).
    async fn login_state(
        &self,
        tenant_name: &str,
        email: &str,
        account_key: &str,
        client_key: &str,
    ) -> Result<crate::LoginState>;
}

const SESSION_COLUMNS: &str = "uid, tenant_uid, user_uid, amr, created_at, last_seen_at, expires_at, revoked_at, revoked_reason";

fn session_row(row: &impl Cols) -> Result<Session> {
    let amr = row.req_text("amr")?;
    Ok(Session {
        uid: parse_uid(&row.req_text("uid")?)?,
        tenant_uid: parse_uid(&row.req_text("tenant_uid")?)?,
        user_uid: parse_uid(&row.req_text("user_uid")?)?,
        amr: amr
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        created_at: row.req_int("created_at")?,
        last_seen_at: row.req_int("last_seen_at")?,
        expires_at: row.req_int("expires_at")?,
        revoked_at: row.int("revoked_at")?,
        revoked_reason: row.text("revoked_reason")?,
    })
}

fn api_key_row(row: &impl Cols) -> Result<ApiKey> {
    Ok(ApiKey {
        uid: parse_uid(&row.req_text("uid")?)?,
        tenant_uid: parse_uid(&row.req_text("tenant_uid")?)?,
        user_uid: parse_uid(&row.req_text("user_uid")?)?,
        name: row.req_text("name")?,
        created_at: row.req_int("created_at")?,
        expires_at: row.int("expires_at")?,
        revoked_at: row.int("revoked_at")?,
        last_used_at: row.int("last_used_at")?,
    })
}

/// A session with its user's status and grants (every authenticated request
/// reads it; built once).
static SESSION_ACCESS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    with_grants(
        "s.uid, s.tenant_uid, s.user_uid, s.amr, s.created_at, s.last_seen_at, s.expires_at, s.revoked_at, s.revoked_reason, u.status",
        "sessions s JOIN users u ON u.tenant_uid = s.tenant_uid AND u.uid = s.user_uid",
        "s.tenant_uid = $1 AND s.uid = $2",
        "s.tenant_uid",
        "s.user_uid",
    )
});

/// An API key with its owner's status and grants (built once).
static API_KEY_ACCESS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    with_grants(
        "k.uid, k.tenant_uid, k.user_uid, k.name, k.created_at, k.expires_at, k.revoked_at, k.last_used_at, k.secret_hash, u.status",
        "api_keys k JOIN users u ON u.tenant_uid = k.tenant_uid AND u.uid = k.user_uid",
        "k.tenant_uid = $1 AND k.uid = $2",
        "k.tenant_uid",
        "k.user_uid",
    )
});

fn session_access_of(rows: &[impl Cols]) -> Result<SessionAccess> {
    let row = rows.first().ok_or(StoreError::NotFound)?;
    Ok(SessionAccess {
        session: session_row(row)?,
        status: status_of_row(row)?,
        grants: grants_of_rows(rows)?,
    })
}

fn api_key_access_of(rows: &[impl Cols]) -> Result<ApiKeyAccess> {
    let row = rows.first().ok_or(StoreError::NotFound)?;
    Ok(ApiKeyAccess {
        key: api_key_row(row)?,
        secret_hash: row.req_text("secret_hash")?,
        status: status_of_row(row)?,
        grants: grants_of_rows(rows)?,
    })
}

impl SqlStore {
    async fn session_in(
        &self,
        tx: &mut sqlx::AnyConnection,
        tenant: Uid,
        uid: &str,
    ) -> Result<Session> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE tenant_uid = $1 AND uid = $2"
        )))
        .bind(tenant.to_string())
        .bind(uid.to_owned())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        session_row(&row)
    }
}

#[async_trait]
impl IdentityStore for SqlStore {
    async fn security_settings(&self, tenant: Uid) -> Result<TenantSecurity> {
        let mut tx = self.begin_read(Scope::Tenant(tenant)).await?;
        let row = sqlx::query(
            "SELECT password_policy, mfa_required FROM tenant_settings WHERE tenant_uid = $1",
        )
        .bind(tenant.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(match row {
            None => TenantSecurity::default(),
            Some(r) => TenantSecurity {
                password_policy: r.try_get(0)?,
                mfa_required: r.try_get::<i64, _>(1)? != 0,
            },
        })
    }

    async fn password_history(&self, tenant: Uid, user: Uid, n: u32) -> Result<Vec<String>> {
        let mut tx = self.begin_read(Scope::Tenant(tenant)).await?;
        let rows = sqlx::query(
            "SELECT password_hash FROM password_history WHERE tenant_uid = $1 AND user_uid = $2 ORDER BY created_at DESC LIMIT $3",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(i64::from(n))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(StoreError::from))
            .collect()
    }

    async fn get_session(&self, tenant: Uid, uid: Uid) -> Result<Session> {
        let mut tx = self.begin_read(Scope::Tenant(tenant)).await?;
        let s = self.session_in(&mut tx, tenant, &uid.to_string()).await?;
        tx.commit().await?;
        Ok(s)
    }

    async fn session_access(&self, tenant: Uid, uid: Uid) -> Result<SessionAccess> {
        let sql: &'static str = SESSION_ACCESS_SQL.as_str();
        if let Some(found) = self.read_in_place(sql, tenant, uid, session_access_of) {
            return found;
        }
        let mut tx = self.begin_read(Scope::Tenant(tenant)).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(uid.to_string())
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        session_access_of(&rows)
    }

    async fn api_key_access(&self, tenant: Uid, uid: Uid) -> Result<ApiKeyAccess> {
        let sql: &'static str = API_KEY_ACCESS_SQL.as_str();
        if let Some(found) = self.read_in_place(sql, tenant, uid, api_key_access_of) {
            return found;
        }
        let mut tx = self.begin_read(Scope::Tenant(tenant)).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(uid.to_string())
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        api_key_access_of(&rows)
    }

    async fn touch_session(&self, tenant: Uid, uid: Uid, now: i64) -> Result<()> {
        self
        .exec_in(
            Scope::Tenant(tenant),
            sqlx::query(
            "UPDATE sessions SET last_seen_at = $1 WHERE tenant_uid = $2 AND uid = $3 AND last_seen_at < $1",
        )
        .bind(now)
        .bind(tenant.to_string())
        .bind(uid.to_string()),
        )
        .await?;
        Ok(())
    }

    async fn list_api_keys(
        &self,
        tenant: Uid,
        user: Option<Uid>,
        page: PageRequest,
    ) -> Result<Page<ApiKey>> {
        let limit = page.size();
        let mut tx = self.begin_read(Scope::Tenant(tenant)).await?;
        let rows = sqlx::query(
            "SELECT uid, tenant_uid, user_uid, name, created_at, expires_at, revoked_at, last_used_at FROM api_keys \
             WHERE tenant_uid = $1 AND ($2 = '' OR user_uid = $2) AND uid > $3 ORDER BY uid LIMIT $4",
        )
        .bind(tenant.to_string())
        .bind(user.map(|u| u.to_string()).unwrap_or_default())
        .bind(cursor(&page))
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let items = rows.iter().map(api_key_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, limit, |k| k.uid))
    }

    async fn get_totp(&self, tenant: Uid, user: Uid) -> Result<Option<TotpRecord>> {
        let mut tx = self.begin_read(Scope::Tenant(tenant)).await?;
        let row = sqlx::query(
            "SELECT secret_enc, confirmed, last_step FROM user_totp WHERE tenant_uid = $1 AND user_uid = $2",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(None);
        };
        let sealed: String = row.try_get(0)?;
        let version = palisade_crypto::Envelope::key_version(&sealed).map_err(|source| {
            StoreError::Decrypt {
                what: format!("user_totp.secret of {user}"),
                source,
            }
        })?;
        let (_, dek) = self.tenant_key(&mut tx, tenant, Some(version)).await?;
        tx.commit().await?;
        let t = tenant.to_string();
        let u = user.to_string();
        let secret = palisade_crypto::Envelope::open(
            |v| (v == version).then_some(dek.as_ref()),
            &palisade_crypto::Aad {
                tenant: &t,
                table: "user_totp",
                column: "secret",
                row: &u,
            },
            &sealed,
        )
        .map_err(|source| StoreError::Decrypt {
            what: format!("user_totp.secret of {user}"),
            source,
        })?;
        Ok(Some(TotpRecord {
            secret,
            confirmed: row.try_get::<i64, _>(1)? != 0,
            last_step: row.try_get(2)?,
        }))
    }

    async fn recovery_codes_left(&self, tenant: Uid, user: Uid) -> Result<u64> {
        let mut tx = self.begin_read(Scope::Tenant(tenant)).await?;
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) FROM recovery_codes WHERE tenant_uid = $1 AND user_uid = $2 AND used_at IS NULL",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
        tx.commit().await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn login_state(
        &self,
        tenant_name: &str,
        email: &str,
        account_key: &str,
        client_key: &str,
    ) -> Result<crate::LoginState> {
        self.login_read(tenant_name, email, account_key, client_key)
            .await
    }

    async fn throttle(&self, account_key: &str, client_key: &str) -> Result<Throttle> {
        let row = sqlx::query(
            "SELECT failures, blocked_until FROM auth_throttle WHERE account_key = $1 AND client_key = $2",
        )
        .bind(account_key.to_owned())
        .bind(client_key.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            None => Throttle::default(),
            Some(r) => Throttle {
                failures: r.try_get(0)?,
                blocked_until: r.try_get(1)?,
            },
        })
    }
}

impl SqlTx {
    pub(crate) async fn settings_policy(&mut self, tenant: Uid, policy_json: &str) -> Result<()> {
        self.exec(
            sqlx::query(
                "INSERT INTO tenant_settings (tenant_uid, password_policy, mfa_required, updated_at) VALUES ($1, $2, 0, $3) \
                 ON CONFLICT (tenant_uid) DO UPDATE SET password_policy = excluded.password_policy, updated_at = excluded.updated_at",
            )
            .bind(tenant.to_string())
            .bind(policy_json.to_owned())
            .bind(self.store.now()),
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn settings_mfa(&mut self, tenant: Uid, required: bool) -> Result<()> {
        self.exec(
            sqlx::query(
                "INSERT INTO tenant_settings (tenant_uid, password_policy, mfa_required, updated_at) VALUES ($1, NULL, $2, $3) \
                 ON CONFLICT (tenant_uid) DO UPDATE SET mfa_required = excluded.mfa_required, updated_at = excluded.updated_at",
            )
            .bind(tenant.to_string())
            .bind(i64::from(required))
            .bind(self.store.now()),
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn session_create(
        &mut self,
        tenant: Uid,
        user: Uid,
        amr: &[String],
        expires_at: i64,
        refresh_hash: &str,
    ) -> Result<Session> {
        let now = self.store.now();
        let amr_text = amr.join(",");
        let uid = self
            .insert_fresh("session", |uid| {
                Ok(sqlx::query(
                    "INSERT INTO sessions (uid, tenant_uid, user_uid, amr, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $5, $6) ON CONFLICT (uid) DO NOTHING",
                )
                .bind(uid.to_string())
                .bind(tenant.to_string())
                .bind(user.to_string())
                .bind(amr_text.clone())
                .bind(now)
                .bind(expires_at))
            })
            .await?;
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, tenant_uid, session_uid, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(refresh_hash.to_owned())
        .bind(tenant.to_string())
        .bind(uid.to_string())
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        Ok(Session {
            uid,
            tenant_uid: tenant,
            user_uid: user,
            amr: amr.to_vec(),
            created_at: now,
            last_seen_at: now,
            expires_at,
            revoked_at: None,
            revoked_reason: None,
        })
    }

    pub(crate) async fn session_revoke(
        &mut self,
        tenant: Uid,
        uid: Uid,
        reason: &str,
    ) -> Result<()> {
        self.exec_one(
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE tenant_uid = $3 AND uid = $4 AND revoked_at IS NULL",
            )
            .bind(self.store.now())
            .bind(reason.to_owned())
            .bind(tenant.to_string())
            .bind(uid.to_string()),
        )
        .await
    }

    pub(crate) async fn sessions_revoke_user(
        &mut self,
        tenant: Uid,
        user: Uid,
        reason: &str,
    ) -> Result<u64> {
        self.exec(
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE tenant_uid = $3 AND user_uid = $4 AND revoked_at IS NULL",
            )
            .bind(self.store.now())
            .bind(reason.to_owned())
            .bind(tenant.to_string())
            .bind(user.to_string()),
        )
        .await
    }

    pub(crate) async fn refresh_use(
        &mut self,
        tenant: Uid,
        token_hash: &str,
        new_hash: &str,
        now: i64,
    ) -> Result<RefreshOutcome> {
        let row = sqlx::query(
            "SELECT session_uid, used_at FROM refresh_tokens WHERE tenant_uid = $1 AND token_hash = $2",
        )
        .bind(tenant.to_string())
        .bind(token_hash.to_owned())
        .fetch_optional(&mut *self.tx)
        .await?;
        let Some(row) = row else {
            return Ok(RefreshOutcome::Unknown);
        };
        let session_uid: String = row.try_get(0)?;
        let used_at: Option<i64> = row.try_get(1)?;
        // Mark used only if still unused: two concurrent refreshes with the
        // same token cannot both win.
        let claimed = used_at.is_none()
            && self
                .exec(
                    sqlx::query(
                        "UPDATE refresh_tokens SET used_at = $1 WHERE tenant_uid = $2 AND token_hash = $3 AND used_at IS NULL",
                    )
                    .bind(now)
                    .bind(tenant.to_string())
                    .bind(token_hash.to_owned()),
                )
                .await?
                == 1;
        if !claimed {
            self.exec(
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $1, revoked_reason = 'refresh_reuse' WHERE tenant_uid = $2 AND uid = $3 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(tenant.to_string())
                .bind(session_uid.clone()),
            )
            .await?;
            let s = self
                .store
                .session_in(&mut self.tx, tenant, &session_uid)
                .await?;
            return Ok(RefreshOutcome::Reused(s));
        }
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, tenant_uid, session_uid, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(new_hash.to_owned())
        .bind(tenant.to_string())
        .bind(session_uid.clone())
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        // The session as it was before this use: the caller judges the idle
        // timeout on the previous activity.
        let s = self
            .store
            .session_in(&mut self.tx, tenant, &session_uid)
            .await?;
        self.exec(
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE tenant_uid = $2 AND uid = $3")
                .bind(now)
                .bind(tenant.to_string())
                .bind(session_uid),
        )
        .await?;
        Ok(RefreshOutcome::Rotated(s))
    }

    pub(crate) async fn api_key_create(
        &mut self,
        tenant: Uid,
        user: Uid,
        name: &str,
        secret_hash: &str,
        expires_at: Option<i64>,
    ) -> Result<ApiKey> {
        let now = self.store.now();
        let uid = self
            .insert_fresh("api key", |uid| {
                Ok(sqlx::query(
                    "INSERT INTO api_keys (uid, tenant_uid, user_uid, name, secret_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (uid) DO NOTHING",
                )
                .bind(uid.to_string())
                .bind(tenant.to_string())
                .bind(user.to_string())
                .bind(name.to_owned())
                .bind(secret_hash.to_owned())
                .bind(now)
                .bind(expires_at))
            })
            .await?;
        Ok(ApiKey {
            uid,
            tenant_uid: tenant,
            user_uid: user,
            name: name.to_owned(),
            created_at: now,
            expires_at,
            revoked_at: None,
            last_used_at: None,
        })
    }

    pub(crate) async fn api_key_touch(&mut self, tenant: Uid, uid: Uid, now: i64) -> Result<bool> {
        let done = self
            .exec(
                sqlx::query(
                    "UPDATE api_keys SET last_used_at = $1 WHERE tenant_uid = $2 AND uid = $3 AND (last_used_at IS NULL OR last_used_at < $4)",
                )
                .bind(now)
                .bind(tenant.to_string())
                .bind(uid.to_string())
                .bind(now - 60_000),
            )
            .await?;
        Ok(done == 1)
    }

    pub(crate) async fn api_key_revoke(
        &mut self,
        tenant: Uid,
        uid: Uid,
        user: Option<Uid>,
    ) -> Result<()> {
        self.exec_one(
            sqlx::query(
                "UPDATE api_keys SET revoked_at = $1 WHERE tenant_uid = $2 AND uid = $3 AND ($4 = '' OR user_uid = $4) AND revoked_at IS NULL",
            )
            .bind(self.store.now())
            .bind(tenant.to_string())
            .bind(uid.to_string())
            .bind(user.map(|u| u.to_string()).unwrap_or_default()),
        )
        .await
    }

    pub(crate) async fn totp_put(&mut self, tenant: Uid, user: Uid, secret: &[u8]) -> Result<()> {
        let (v, dek) = self.store.tenant_key(&mut self.tx, tenant, None).await?;
        let sealed = Sealer::seal(&dek, v, tenant, "user_totp", "secret", user, secret)?;
        self.exec(
            sqlx::query("DELETE FROM user_totp WHERE tenant_uid = $1 AND user_uid = $2")
                .bind(tenant.to_string())
                .bind(user.to_string()),
        )
        .await?;
        self.exec(
            sqlx::query(
                "INSERT INTO user_totp (user_uid, tenant_uid, secret_enc, confirmed, last_step, created_at) VALUES ($1, $2, $3, 0, NULL, $4)",
            )
            .bind(user.to_string())
            .bind(tenant.to_string())
            .bind(sealed)
            .bind(self.store.now()),
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn totp_accept(
        &mut self,
        tenant: Uid,
        user: Uid,
        step: i64,
        confirm: bool,
    ) -> Result<bool> {
        let done = self
            .exec(
                sqlx::query(
                    "UPDATE user_totp SET last_step = $1, confirmed = CASE WHEN $2 = 1 THEN 1 ELSE confirmed END \
                     WHERE tenant_uid = $3 AND user_uid = $4 AND (last_step IS NULL OR last_step < $1)",
                )
                .bind(step)
                .bind(i64::from(confirm))
                .bind(tenant.to_string())
                .bind(user.to_string()),
            )
            .await?;
        Ok(done == 1)
    }

    pub(crate) async fn totp_delete(&mut self, tenant: Uid, user: Uid) -> Result<()> {
        for sql in [
            "DELETE FROM recovery_codes WHERE tenant_uid = $1 AND user_uid = $2",
            "DELETE FROM user_totp WHERE tenant_uid = $1 AND user_uid = $2",
        ] {
            self.exec(
                sqlx::query(sql)
                    .bind(tenant.to_string())
                    .bind(user.to_string()),
            )
            .await?;
        }
        Ok(())
    }

    pub(crate) async fn recovery_replace(
        &mut self,
        tenant: Uid,
        user: Uid,
        hashes: &[String],
    ) -> Result<()> {
        self.exec(
            sqlx::query("DELETE FROM recovery_codes WHERE tenant_uid = $1 AND user_uid = $2")
                .bind(tenant.to_string())
                .bind(user.to_string()),
        )
        .await?;
        for h in hashes {
            self.exec(
                sqlx::query(
                    "INSERT INTO recovery_codes (code_hash, tenant_uid, user_uid) VALUES ($1, $2, $3)",
                )
                .bind(h.clone())
                .bind(tenant.to_string())
                .bind(user.to_string()),
            )
            .await?;
        }
        Ok(())
    }

    pub(crate) async fn recovery_use(
        &mut self,
        tenant: Uid,
        user: Uid,
        hash: &str,
        now: i64,
    ) -> Result<bool> {
        let done = self
            .exec(
                sqlx::query(
                    "UPDATE recovery_codes SET used_at = $1 WHERE tenant_uid = $2 AND user_uid = $3 AND code_hash = $4 AND used_at IS NULL",
                )
                .bind(now)
                .bind(tenant.to_string())
                .bind(user.to_string())
                .bind(hash.to_owned()),
            )
            .await?;
        Ok(done == 1)
    }

    pub(crate) async fn throttle_fail(
        &mut self,
        account_key: &str,
        client_key: &str,
        now: i64,
        block: &(dyn Fn(i64) -> i64 + Send + Sync),
    ) -> Result<Throttle> {
        let row = sqlx::query(
            "INSERT INTO auth_throttle (account_key, client_key, failures, last_failure_at, blocked_until) VALUES ($1, $2, 1, $3, 0) \
             ON CONFLICT (account_key, client_key) DO UPDATE SET failures = auth_throttle.failures + 1, last_failure_at = excluded.last_failure_at \
             RETURNING failures",
        )
        .bind(account_key.to_owned())
        .bind(client_key.to_owned())
        .bind(now)
        .fetch_one(&mut *self.tx)
        .await?;
        let failures: i64 = row.try_get(0)?;
        let blocked_until = block(failures);
        self.exec(
            sqlx::query(
                "UPDATE auth_throttle SET blocked_until = $1 WHERE account_key = $2 AND client_key = $3",
            )
            .bind(blocked_until)
            .bind(account_key.to_owned())
            .bind(client_key.to_owned()),
        )
        .await?;
        Ok(Throttle {
            failures,
            blocked_until,
        })
    }

    pub(crate) async fn throttle_reset(
        &mut self,
        account_key: &str,
        client_key: &str,
    ) -> Result<()> {
        self.exec(
            sqlx::query("DELETE FROM auth_throttle WHERE account_key = $1 AND client_key = $2")
                .bind(account_key.to_owned())
                .bind(client_key.to_owned()),
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn throttle_reset_account(&mut self, account_key: &str) -> Result<u64> {
        self.exec(
            sqlx::query("DELETE FROM auth_throttle WHERE account_key = $1")
                .bind(account_key.to_owned()),
        )
        .await
    }
}
