//! Tenants, their data keys, and root-key rotation.

use palisade_core::Uid;
use palisade_core::model::{Tenant, validate_name};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sql::{Scope, SqlStore, cursor, page_of, parse_uid, to_u32};
use crate::tx::SqlTx;
use crate::{Page, PageRequest, Result, RotationReport, StoreError};

fn tenant_row(row: &AnyRow) -> Result<Tenant> {
    Ok(Tenant {
        uid: parse_uid(&row.try_get::<String, _>("uid")?)?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
    })
}

impl SqlTx {
    pub(crate) async fn tenant_create(&mut self, name: &str) -> Result<Tenant> {
        validate_name("tenant name", name).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let now = self.store.now();
        let owned = name.to_owned();
        let uid = self
            .insert_fresh("a tenant with this name exists", |uid| {
                Ok(sqlx::query(
                    "INSERT INTO tenants (uid, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (uid) DO NOTHING",
                )
                .bind(uid.to_string())
                .bind(owned.clone())
                .bind(now))
            })
            .await?;
        let (root_version, wrapped) = self.store.sealer.new_tenant_key(uid, 1)?;
        sqlx::query(
            "INSERT INTO tenant_keys (tenant_uid, version, root_version, wrapped_key, created_at) VALUES ($1, 1, $2, $3, $4)",
        )
        .bind(uid.to_string())
        .bind(i64::from(root_version))
        .bind(wrapped)
        .bind(now)
        .execute(&mut *self.tx)
        .await?;
        self.init_log(uid).await?;
        self.bus_account_create(uid).await?;
        Ok(Tenant {
            uid,
            name: name.to_owned(),
            created_at: now,
        })
    }

    /// Deletes the tenant row and its data; once the wrapped keys are gone,
    /// every copy of the tenant's sealed fields (in old backups too) is
    /// unreadable. The tenant's audit log is kept.
    pub(crate) async fn tenant_delete(&mut self, uid: Uid) -> Result<()> {
        self.check(uid)?;
        // Delete dependants explicitly in order so RLS-scoped deletes and
        // cascades agree on both back ends.
        self.bus_account_delete(uid).await?;
        for sql in [
            "DELETE FROM clusters WHERE tenant_uid = $1",
            "DELETE FROM cloud_accounts WHERE tenant_uid = $1",
            "DELETE FROM projects WHERE tenant_uid = $1",
            "DELETE FROM users WHERE tenant_uid = $1",
            "DELETE FROM tenant_keys WHERE tenant_uid = $1",
        ] {
            sqlx::query(sql)
                .bind(uid.to_string())
                .execute(&mut *self.tx)
                .await?;
        }
        self.exec_one(sqlx::query("DELETE FROM tenants WHERE uid = $1").bind(uid.to_string()))
            .await?;
        self.store.sealer.forget_tenant(uid);
        Ok(())
    }
}

impl SqlStore {
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

    /// Re-wraps every tenant key still wrapped with an older root version,
    /// in batches, each batch its own transaction (online: readers keep
    /// working; an interrupted run resumes where it stopped).
    ///
    /// The last step re-seals the key check and records `entry` (naming the
    /// platform tenant's log) in one transaction.
    pub(crate) async fn root_rotate(
        &self,
        entry: palisade_core::audit::AuditEntry,
    ) -> Result<RotationReport> {
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
        let mut tx = self.write_in(Scope::Platform).await?;
        sqlx::query("UPDATE installation SET key_check = $1 WHERE id = 1")
            .bind(keyring.seal_key_check()?)
            .execute(&mut *tx.tx)
            .await?;
        let entry = entry
            .target("installation", keyring.installation_uid())
            .detail("rootVersion", current)
            .detail("rewrapped", rewrapped);
        crate::WriteTx::commit(Box::new(tx), entry).await?;
        Ok(RotationReport {
            root_version: current,
            rewrapped,
        })
    }
}
