//! Tenants, their data keys, and root-key rotation.

use palisade_core::Uid;
use palisade_core::model::{Tenant, validate_name};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::{
    Scope, SqlStore, commit_if_affected, constraint, cursor, page_of, parse_uid, to_u32,
};
use crate::{Page, PageRequest, Result, RotationReport, StoreError};

fn tenant_row(row: &AnyRow) -> Result<Tenant> {
    Ok(Tenant {
        uid: parse_uid(&row.try_get::<String, _>("uid")?)?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

impl SqlStore {
    pub(crate) async fn tenant_create(&self, name: &str) -> Result<Tenant> {
        validate_name("tenant name", name).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.with_fresh_uid(|uid| async move {
            let now = self.now();
            let mut tx = self.begin(Scope::Tenant(uid)).await?;
            sqlx::query("INSERT INTO tenants (uid, name, created_at) VALUES ($1, $2, $3)")
                .bind(uid.to_string())
                .bind(name)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| constraint(e, "a tenant with this name exists"))?;
            let (root_version, wrapped) = self.sealer.new_tenant_key(uid, 1)?;
            sqlx::query(
                "INSERT INTO tenant_keys (tenant_uid, version, root_version, wrapped_key, created_at) VALUES ($1, 1, $2, $3, $4)",
            )
            .bind(uid.to_string())
            .bind(i64::from(root_version))
            .bind(wrapped)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Tenant {
                uid,
                name: name.to_owned(),
                created_at: now,
            })
        })
        .await
    }

    pub(crate) async fn tenant_get(&self, uid: Uid) -> Result<Tenant> {
        let row = sqlx::query("SELECT uid, name, created_at FROM tenants WHERE uid = $1")
            .bind(uid.to_string())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        tenant_row(&row)
    }

    pub(crate) async fn tenant_by_name_impl(&self, name: &str) -> Result<Tenant> {
        let row = sqlx::query("SELECT uid, name, created_at FROM tenants WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound)?;
        tenant_row(&row)
    }

    pub(crate) async fn tenant_list(&self, page: PageRequest) -> Result<Page<Tenant>> {
        let limit = page.size();
        let rows = sqlx::query(
            "SELECT uid, name, created_at FROM tenants WHERE uid > $1 ORDER BY uid LIMIT $2",
        )
        .bind(cursor(&page))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows.iter().map(tenant_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, limit, |t| t.uid))
    }

    /// Deletes the tenant row; foreign keys cascade to its keys and data.
    /// Once the wrapped keys are gone, every copy of the tenant's sealed
    /// fields (in old backups too) is unreadable.
    pub(crate) async fn tenant_delete(&self, uid: Uid) -> Result<()> {
        let mut tx = self.begin(Scope::Tenant(uid)).await?;
        // Delete dependants explicitly in order so RLS-scoped deletes and
        // cascades agree on both back ends.
        for sql in [
            "DELETE FROM clusters WHERE tenant_uid = $1",
            "DELETE FROM cloud_accounts WHERE tenant_uid = $1",
            "DELETE FROM projects WHERE tenant_uid = $1",
            "DELETE FROM users WHERE tenant_uid = $1",
            "DELETE FROM tenant_keys WHERE tenant_uid = $1",
        ] {
            sqlx::query(sql)
                .bind(uid.to_string())
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query("DELETE FROM tenants WHERE uid = $1")
            .bind(uid.to_string())
            .execute(&mut *tx)
            .await?;
        commit_if_affected(tx, done).await?;
        self.sealer.forget_tenant(uid);
        Ok(())
    }

    /// Re-wraps every tenant key still wrapped with an older root version,
    /// in batches, each batch its own transaction (online: readers keep
    /// working; an interrupted run resumes where it stopped).
    pub(crate) async fn root_rotate(&self) -> Result<RotationReport> {
        let keyring = self.sealer.keys.get();
        let (current, _) = keyring.current_root();
        let mut rewrapped = 0u64;
        loop {
            let mut tx = self.begin(Scope::Platform).await?;
            let rows = sqlx::query(
                "SELECT tenant_uid, version, wrapped_key FROM tenant_keys WHERE root_version <> $1 ORDER BY tenant_uid, version LIMIT 100",
            )
            .bind(i64::from(current))
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                tx.commit().await?;
                break;
            }
            for row in &rows {
                let tenant = parse_uid(&row.try_get::<String, _>(0)?)?;
                let key = crate::sealer::WrappedKey {
                    version: to_u32(row.try_get(1)?)?,
                    wrapped: row.try_get(2)?,
                };
                let dek = self.sealer.unwrap(tenant, &key)?;
                let (root_version, wrapped) = self.sealer.wrap(tenant, key.version, &dek)?;
                sqlx::query(
                    "UPDATE tenant_keys SET root_version = $1, wrapped_key = $2 WHERE tenant_uid = $3 AND version = $4 AND wrapped_key = $5",
                )
                .bind(i64::from(root_version))
                .bind(wrapped)
                .bind(tenant.to_string())
                .bind(i64::from(key.version))
                .bind(&key.wrapped)
                .execute(&mut *tx)
                .await?;
                rewrapped += 1;
            }
            tx.commit().await?;
        }
        // Re-seal the key check with the new root so the old root version
        // can be dropped from the keyring afterwards.
        let mut tx = self.begin(Scope::Platform).await?;
        sqlx::query("UPDATE installation SET key_check = $1 WHERE id = 1")
            .bind(keyring.seal_key_check()?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(RotationReport {
            root_version: current,
            rewrapped,
        })
    }
}
