//! Projects, cloud accounts (credentials sealed, write-only) and clusters.

use palisade_core::Uid;
use palisade_core::model::{CloudAccount, Cluster, Project, validate_name};
use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::sealer::Sealer;
use crate::sql::{Scope, SqlStore, cursor, ensure_project, page_of, parse_uid};
use crate::tx::SqlTx;
use crate::{NewCloudAccount, NewCluster, Page, PageRequest, Result, StoreError};

fn invalid(e: palisade_core::CoreError) -> StoreError {
    StoreError::Invalid(e.to_string())
}

fn project_row(row: &AnyRow) -> Result<Project> {
    Ok(Project {
        uid: parse_uid(&row.try_get::<String, _>("uid")?)?,
        tenant_uid: parse_uid(&row.try_get::<String, _>("tenant_uid")?)?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
    })
}

fn account_row(row: &AnyRow) -> Result<CloudAccount> {
    Ok(CloudAccount {
        uid: parse_uid(&row.try_get::<String, _>("uid")?)?,
        tenant_uid: parse_uid(&row.try_get::<String, _>("tenant_uid")?)?,
        project_uid: parse_uid(&row.try_get::<String, _>("project_uid")?)?,
        name: row.try_get("name")?,
        provider: row.try_get("provider")?,
        created_at: row.try_get("created_at")?,
    })
}

fn cluster_row(row: &AnyRow) -> Result<Cluster> {
    let account: Option<String> = row.try_get("cloud_account_uid")?;
    Ok(Cluster {
        uid: parse_uid(&row.try_get::<String, _>("uid")?)?,
        tenant_uid: parse_uid(&row.try_get::<String, _>("tenant_uid")?)?,
        project_uid: parse_uid(&row.try_get::<String, _>("project_uid")?)?,
        name: row.try_get("name")?,
        cloud_account_uid: account.as_deref().map(parse_uid).transpose()?,
        created_at: row.try_get("created_at")?,
    })
}

/// Fetches one row in tenant scope; NotFound when nothing matched.
macro_rules! fetch_one {
    ($self:ident, $tenant:expr, $sql:literal, $map:expr, $($bind:expr),+) => {{
        let mut tx = $self.begin_read(Scope::Tenant($tenant)).await?;
        let row = sqlx::query($sql)
            $(.bind($bind.to_string()))+
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        $map(&row)
    }};
}

/// Fetches a page in tenant scope.
macro_rules! fetch_page {
    ($self:ident, $tenant:expr, $page:expr, $sql:literal, $map:expr, $($bind:expr),+) => {{
        let limit = $page.size();
        let mut tx = $self.begin_read(Scope::Tenant($tenant)).await?;
        let rows = sqlx::query($sql)
            $(.bind($bind.to_string()))+
            .bind(cursor(&$page))
            .bind(i64::from(limit) + 1)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let items = rows.iter().map($map).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, limit, |x| x.uid))
    }};
}

impl SqlStore {
    pub(crate) async fn project_get(&self, tenant: Uid, uid: Uid) -> Result<Project> {
        fetch_one!(
            self,
            tenant,
            "SELECT uid, tenant_uid, name, description, created_at FROM projects WHERE tenant_uid = $1 AND uid = $2",
            project_row,
            tenant,
            uid
        )
    }

    pub(crate) async fn project_list(
        &self,
        tenant: Uid,
        page: PageRequest,
    ) -> Result<Page<Project>> {
        fetch_page!(
            self,
            tenant,
            page,
            "SELECT uid, tenant_uid, name, description, created_at FROM projects WHERE tenant_uid = $1 AND uid > $2 ORDER BY uid LIMIT $3",
            project_row,
            tenant
        )
    }

    pub(crate) async fn cloud_account_get(
        &self,
        tenant: Uid,
        project: Uid,
        uid: Uid,
    ) -> Result<CloudAccount> {
        fetch_one!(
            self,
            tenant,
            "SELECT uid, tenant_uid, project_uid, name, provider, created_at FROM cloud_accounts WHERE tenant_uid = $1 AND project_uid = $2 AND uid = $3",
            account_row,
            tenant,
            project,
            uid
        )
    }

    pub(crate) async fn cloud_account_list(
        &self,
        tenant: Uid,
        project: Uid,
        page: PageRequest,
    ) -> Result<Page<CloudAccount>> {
        fetch_page!(
            self,
            tenant,
            page,
            "SELECT uid, tenant_uid, project_uid, name, provider, created_at FROM cloud_accounts WHERE tenant_uid = $1 AND project_uid = $2 AND uid > $3 ORDER BY uid LIMIT $4",
            account_row,
            tenant,
            project
        )
    }

    pub(crate) async fn cloud_account_secret(&self, tenant: Uid, uid: Uid) -> Result<SecretString> {
        let mut tx = self.begin_read(Scope::Tenant(tenant)).await?;
        let row = sqlx::query(
            "SELECT credentials_enc FROM cloud_accounts WHERE tenant_uid = $1 AND uid = $2",
        )
        .bind(tenant.to_string())
        .bind(uid.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let sealed: String = row.try_get(0)?;
        let plain = self
            .open_field(
                &mut tx,
                tenant,
                "cloud_accounts",
                "credentials",
                uid,
                &sealed,
            )
            .await?;
        tx.commit().await?;
        Ok(SecretString::from(plain.as_str()))
    }

    pub(crate) async fn cluster_get(&self, tenant: Uid, project: Uid, uid: Uid) -> Result<Cluster> {
        fetch_one!(
            self,
            tenant,
            "SELECT uid, tenant_uid, project_uid, name, cloud_account_uid, created_at FROM clusters WHERE tenant_uid = $1 AND project_uid = $2 AND uid = $3",
            cluster_row,
            tenant,
            project,
            uid
        )
    }

    pub(crate) async fn cluster_list(
        &self,
        tenant: Uid,
        project: Uid,
        page: PageRequest,
    ) -> Result<Page<Cluster>> {
        fetch_page!(
            self,
            tenant,
            page,
            "SELECT uid, tenant_uid, project_uid, name, cloud_account_uid, created_at FROM clusters WHERE tenant_uid = $1 AND project_uid = $2 AND uid > $3 ORDER BY uid LIMIT $4",
            cluster_row,
            tenant,
            project
        )
    }
}

impl SqlTx {
    pub(crate) async fn project_create(
        &mut self,
        tenant: Uid,
        name: &str,
        description: &str,
    ) -> Result<Project> {
        validate_name("project name", name).map_err(invalid)?;
        let now = self.store.now();
        let uid = self
            .insert_fresh("a project with this name exists", |uid| {
                Ok(sqlx::query(
                    "INSERT INTO projects (uid, tenant_uid, name, description, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (uid) DO NOTHING",
                )
                .bind(uid.to_string())
                .bind(tenant.to_string())
                .bind(name.to_owned())
                .bind(description.to_owned())
                .bind(now))
            })
            .await?;
        Ok(Project {
            uid,
            tenant_uid: tenant,
            name: name.to_owned(),
            description: description.to_owned(),
            created_at: now,
        })
    }

    pub(crate) async fn project_delete(&mut self, tenant: Uid, uid: Uid) -> Result<()> {
        self.bus_clusters_delete(tenant, uid, None).await?;
        for sql in [
            "DELETE FROM clusters WHERE tenant_uid = $1 AND project_uid = $2",
            "DELETE FROM cloud_accounts WHERE tenant_uid = $1 AND project_uid = $2",
        ] {
            self.exec(
                sqlx::query(sql)
                    .bind(tenant.to_string())
                    .bind(uid.to_string()),
            )
            .await?;
        }
        self.exec_one(
            sqlx::query("DELETE FROM projects WHERE tenant_uid = $1 AND uid = $2")
                .bind(tenant.to_string())
                .bind(uid.to_string()),
        )
        .await
    }

    pub(crate) async fn cloud_account_create(
        &mut self,
        tenant: Uid,
        project: Uid,
        new: NewCloudAccount,
    ) -> Result<CloudAccount> {
        validate_name("cloud account name", &new.name).map_err(invalid)?;
        validate_name("provider", &new.provider).map_err(invalid)?;
        let now = self.store.now();
        ensure_project(&mut self.tx, tenant, project).await?;
        let (v, dek) = self.store.tenant_key(&mut self.tx, tenant, None).await?;
        let uid = self
            .insert_fresh("a cloud account with this name exists in this project", |uid| {
                let sealed = Sealer::seal(
                    &dek,
                    v,
                    tenant,
                    "cloud_accounts",
                    "credentials",
                    uid,
                    new.credentials.expose_secret().as_bytes(),
                )?;
                Ok(sqlx::query(
                    "INSERT INTO cloud_accounts (uid, tenant_uid, project_uid, name, provider, credentials_enc, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (uid) DO NOTHING",
                )
                .bind(uid.to_string())
                .bind(tenant.to_string())
                .bind(project.to_string())
                .bind(new.name.clone())
                .bind(new.provider.clone())
                .bind(sealed)
                .bind(now))
            })
            .await?;
        Ok(CloudAccount {
            uid,
            tenant_uid: tenant,
            project_uid: project,
            name: new.name,
            provider: new.provider,
            created_at: now,
        })
    }

    pub(crate) async fn cloud_account_delete(
        &mut self,
        tenant: Uid,
        project: Uid,
        uid: Uid,
    ) -> Result<()> {
        self.exec_one(
            sqlx::query(
                "DELETE FROM cloud_accounts WHERE tenant_uid = $1 AND project_uid = $2 AND uid = $3",
            )
            .bind(tenant.to_string())
            .bind(project.to_string())
            .bind(uid.to_string()),
        )
        .await
    }

    pub(crate) async fn cluster_create(
        &mut self,
        tenant: Uid,
        project: Uid,
        new: NewCluster,
    ) -> Result<Cluster> {
        validate_name("cluster name", &new.name).map_err(invalid)?;
        let now = self.store.now();
        ensure_project(&mut self.tx, tenant, project).await?;
        if let Some(account) = new.cloud_account_uid {
            let same_project = sqlx::query(
                "SELECT 1 FROM cloud_accounts WHERE tenant_uid = $1 AND project_uid = $2 AND uid = $3",
            )
            .bind(tenant.to_string())
            .bind(project.to_string())
            .bind(account.to_string())
            .fetch_optional(&mut *self.tx)
            .await?;
            if same_project.is_none() {
                return Err(StoreError::MissingReference(
                    "cloudAccountUid does not name a cloud account of this project".into(),
                ));
            }
        }
        let uid = self
            .insert_fresh("a cluster with this name exists in this project", |uid| {
                Ok(sqlx::query(
                    "INSERT INTO clusters (uid, tenant_uid, project_uid, name, cloud_account_uid, created_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (uid) DO NOTHING",
                )
                .bind(uid.to_string())
                .bind(tenant.to_string())
                .bind(project.to_string())
                .bind(new.name.clone())
                .bind(new.cloud_account_uid.map(|u| u.to_string()))
                .bind(now))
            })
            .await?;
        Ok(Cluster {
            uid,
            tenant_uid: tenant,
            project_uid: project,
            name: new.name,
            cloud_account_uid: new.cloud_account_uid,
            created_at: now,
        })
    }

    pub(crate) async fn cluster_delete(
        &mut self,
        tenant: Uid,
        project: Uid,
        uid: Uid,
    ) -> Result<()> {
        self.bus_clusters_delete(tenant, project, Some(uid)).await?;
        self.exec_one(
            sqlx::query(
                "DELETE FROM clusters WHERE tenant_uid = $1 AND project_uid = $2 AND uid = $3",
            )
            .bind(tenant.to_string())
            .bind(project.to_string())
            .bind(uid.to_string()),
        )
        .await
    }
}
