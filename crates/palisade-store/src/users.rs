//! Users: email and display name sealed with the tenant key, found by the
//! keyed blind index of the email.

use palisade_core::Uid;
use palisade_core::model::{User, UserStatus, validate_email};
use palisade_crypto::email_index;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sealer::Sealer;
use crate::sql::{Scope, SqlStore, cursor, page_of, parse_uid};
use crate::tx::SqlTx;
use crate::{NewUser, Page, PageRequest, Result, StoreError, UserCredentials};

macro_rules! columns {
    () => {
        "uid, tenant_uid, email_enc, display_name_enc, password_hash, must_change_password, status, password_changed_at, created_at"
    };
}

impl SqlStore {
    async fn user_from_row(
        &self,
        tx: &mut sqlx::AnyConnection,
        tenant: Uid,
        row: &AnyRow,
    ) -> Result<(User, Option<String>)> {
        let uid = parse_uid(&row.try_get::<String, _>("uid")?)?;
        let email_enc: String = row.try_get("email_enc")?;
        let name_enc: String = row.try_get("display_name_enc")?;
        let email = self
            .open_field(tx, tenant, "users", "email", uid, &email_enc)
            .await?;
        let display_name = self
            .open_field(tx, tenant, "users", "display_name", uid, &name_enc)
            .await?;
        let status: String = row.try_get("status")?;
        let user = User {
            uid,
            tenant_uid: tenant,
            email: email.to_string(),
            display_name: display_name.to_string(),
            status: UserStatus::parse(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("user {uid} has status {status:?}")))?,
            must_change_password: row.try_get::<i64, _>("must_change_password")? != 0,
            password_changed_at: row.try_get("password_changed_at")?,
            created_at: row.try_get("created_at")?,
        };
        Ok((user, row.try_get("password_hash")?))
    }

    pub(crate) async fn user_get(&self, tenant: Uid, uid: Uid) -> Result<User> {
        let mut tx = self.begin_read(Scope::Tenant(tenant)).await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM users WHERE tenant_uid = $1 AND uid = $2"
        ))
        .bind(tenant.to_string())
        .bind(uid.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let (user, _) = self.user_from_row(&mut tx, tenant, &row).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub(crate) async fn user_by_email_impl(
        &self,
        tenant: Uid,
        email: &str,
    ) -> Result<UserCredentials> {
        let index = email_index(self.sealer.keys.get().hash_salt(), tenant, email);
        let mut tx = self.begin_read(Scope::Tenant(tenant)).await?;
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM users WHERE tenant_uid = $1 AND email_index = $2"
        ))
        .bind(tenant.to_string())
        .bind(index)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let (user, password_hash) = self.user_from_row(&mut tx, tenant, &row).await?;
        tx.commit().await?;
        Ok(UserCredentials {
            user,
            password_hash,
        })
    }

    pub(crate) async fn user_list(&self, tenant: Uid, page: PageRequest) -> Result<Page<User>> {
        let limit = page.size();
        let mut tx = self.begin_read(Scope::Tenant(tenant)).await?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM users WHERE tenant_uid = $1 AND uid > $2 ORDER BY uid LIMIT $3"
        ))
        .bind(tenant.to_string())
        .bind(cursor(&page))
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *tx)
        .await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            items.push(self.user_from_row(&mut tx, tenant, row).await?.0);
        }
        tx.commit().await?;
        Ok(page_of(items, limit, |u| u.uid))
    }
}

impl SqlTx {
    pub(crate) async fn user_create(&mut self, tenant: Uid, new: NewUser) -> Result<User> {
        validate_email(&new.email).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let index = email_index(self.store.sealer.keys.get().hash_salt(), tenant, &new.email);
        let now = self.store.now();
        let (v, dek) = self.store.tenant_key(&mut self.tx, tenant, None).await?;
        let changed_at = if new.password_hash.is_some() { now } else { 0 };
        let uid = self
            .insert_fresh("a user with this email exists in this tenant", |uid| {
                let email_enc =
                    Sealer::seal(&dek, v, tenant, "users", "email", uid, new.email.as_bytes())?;
                let name_enc = Sealer::seal(
                    &dek,
                    v,
                    tenant,
                    "users",
                    "display_name",
                    uid,
                    new.display_name.as_bytes(),
                )?;
                Ok(sqlx::query(
                    "INSERT INTO users (uid, tenant_uid, email_index, email_enc, display_name_enc, password_hash, must_change_password, status, password_changed_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $9, $9) ON CONFLICT (uid) DO NOTHING",
                )
                .bind(uid.to_string())
                .bind(tenant.to_string())
                .bind(index.clone())
                .bind(email_enc)
                .bind(name_enc)
                .bind(new.password_hash.clone())
                .bind(i64::from(new.must_change_password))
                .bind(changed_at)
                .bind(now))
            })
            .await?;
        Ok(User {
            uid,
            tenant_uid: tenant,
            email: new.email,
            display_name: new.display_name,
            status: UserStatus::Active,
            must_change_password: new.must_change_password,
            password_changed_at: changed_at,
            created_at: now,
        })
    }

    pub(crate) async fn user_set_password(
        &mut self,
        tenant: Uid,
        uid: Uid,
        hash: &str,
        must_change: bool,
    ) -> Result<()> {
        self.exec_one(
            sqlx::query(
                "UPDATE users SET password_hash = $1, must_change_password = $2, password_changed_at = $3, updated_at = $3 WHERE tenant_uid = $4 AND uid = $5",
            )
            .bind(hash.to_owned())
            .bind(i64::from(must_change))
            .bind(self.store.now())
            .bind(tenant.to_string())
            .bind(uid.to_string()),
        )
        .await
    }

    pub(crate) async fn user_set_status(
        &mut self,
        tenant: Uid,
        uid: Uid,
        status: UserStatus,
    ) -> Result<()> {
        self.exec_one(
            sqlx::query(
                "UPDATE users SET status = $1, updated_at = $2 WHERE tenant_uid = $3 AND uid = $4",
            )
            .bind(status.as_str())
            .bind(self.store.now())
            .bind(tenant.to_string())
            .bind(uid.to_string()),
        )
        .await
    }

    pub(crate) async fn user_set_display_name(
        &mut self,
        tenant: Uid,
        uid: Uid,
        display_name: &str,
    ) -> Result<()> {
        let (v, dek) = self.store.tenant_key(&mut self.tx, tenant, None).await?;
        let sealed = Sealer::seal(
            &dek,
            v,
            tenant,
            "users",
            "display_name",
            uid,
            display_name.as_bytes(),
        )?;
        self.exec_one(
            sqlx::query(
                "UPDATE users SET display_name_enc = $1, updated_at = $2 WHERE tenant_uid = $3 AND uid = $4",
            )
            .bind(sealed)
            .bind(self.store.now())
            .bind(tenant.to_string())
            .bind(uid.to_string()),
        )
        .await
    }

    pub(crate) async fn user_status_in(&mut self, tenant: Uid, uid: Uid) -> Result<UserStatus> {
        let row = sqlx::query("SELECT status FROM users WHERE tenant_uid = $1 AND uid = $2")
            .bind(tenant.to_string())
            .bind(uid.to_string())
            .fetch_optional(&mut *self.tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let s: String = row.try_get(0)?;
        UserStatus::parse(&s)
            .ok_or_else(|| StoreError::Corrupt(format!("user {uid} has status {s:?}")))
    }

    pub(crate) async fn user_delete(&mut self, tenant: Uid, uid: Uid) -> Result<()> {
        // Bindings name their subject without a foreign key (a user or a team).
        self.exec(
            sqlx::query(
                "DELETE FROM role_bindings WHERE tenant_uid = $1 AND subject_kind = 'user' AND subject_uid = $2",
            )
            .bind(tenant.to_string())
            .bind(uid.to_string()),
        )
        .await?;
        self.exec_one(
            sqlx::query("DELETE FROM users WHERE tenant_uid = $1 AND uid = $2")
                .bind(tenant.to_string())
                .bind(uid.to_string()),
        )
        .await
    }

    pub(crate) async fn history_push(&mut self, tenant: Uid, user: Uid, hash: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO password_history (tenant_uid, user_uid, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .bind(hash.to_owned())
        .bind(self.store.now())
        .execute(&mut *self.tx)
        .await?;
        sqlx::query(
            "DELETE FROM password_history WHERE tenant_uid = $1 AND user_uid = $2 AND created_at < \
             (SELECT MIN(created_at) FROM (SELECT created_at FROM password_history WHERE tenant_uid = $1 AND user_uid = $2 ORDER BY created_at DESC LIMIT 24) AS keep)",
        )
        .bind(tenant.to_string())
        .bind(user.to_string())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}
