//! Role-based access control in the database: teams and their members,
//! custom roles, role bindings, and the grants of one user (what the
//! decision function in `palisade_core::rbac` decides on).
//!
//! Bindings name their subject (a user or a team) and their role (built-in
//! by name, custom by UID) without a polymorphic foreign key: deleting a user
//! or a team deletes the bindings naming it in the same transaction; a custom
//! role cannot be deleted while a binding names it.

use palisade_core::Uid;
use palisade_core::model::{CustomRole, RoleBinding, Team, validate_name};
use palisade_core::rbac::{
    Binding, BuiltinRole, Grant, PermissionSet, RoleRef, Scope, Subject, Via, validate_custom_role,
    validate_custom_role_permissions,
};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::cols::Cols;
use crate::sql::{Scope as TxScope, SqlStore, cursor, ensure_project, page_of, parse_uid};
use crate::tx::SqlTx;
use crate::{Page, PageRequest, Result, StoreError};

/// Which bindings to list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BindingFilter {
    /// Only bindings of this subject.
    pub subject: Option<Subject>,
    /// Only bindings at this project's scope.
    pub project: Option<Uid>,
    /// Only bindings at tenant scope.
    pub tenant_scope_only: bool,
}

/// A change to a custom role; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleChange {
    /// New description.
    pub description: Option<String>,
    /// New permission set.
    pub permissions: Option<PermissionSet>,
}

fn invalid(e: palisade_core::CoreError) -> StoreError {
    StoreError::Invalid(e.to_string())
}

fn team_row(row: &AnyRow) -> Result<Team> {
    Ok(Team {
        uid: parse_uid(&row.try_get::<String, _>("uid")?)?,
        tenant_uid: parse_uid(&row.try_get::<String, _>("tenant_uid")?)?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        created_at: row.try_get("created_at")?,
    })
}

fn permissions_of(text: &str, role: &str) -> Result<PermissionSet> {
    let names: Vec<String> = serde_json::from_str(text)
        .map_err(|_| StoreError::Corrupt(format!("permissions of role {role} are not a list")))?;
    PermissionSet::parse_names(names.iter().map(String::as_str))
        .map_err(|e| StoreError::Corrupt(format!("permissions of role {role}: {e}")))
}

fn permissions_text(set: PermissionSet) -> String {
    let names: Vec<&str> = set.iter().map(|p| p.as_str()).collect();
    serde_json::Value::from(names).to_string()
}

fn role_row(row: &AnyRow) -> Result<CustomRole> {
    let uid = parse_uid(&row.try_get::<String, _>("uid")?)?;
    let text: String = row.try_get("permissions")?;
    Ok(CustomRole {
        uid,
        tenant_uid: parse_uid(&row.try_get::<String, _>("tenant_uid")?)?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        permissions: permissions_of(&text, &uid.to_string())?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn subject_of(kind: &str, uid: &str) -> Result<Subject> {
    let uid = parse_uid(uid)?;
    match kind {
        "user" => Ok(Subject::User(uid)),
        "team" => Ok(Subject::Team(uid)),
        other => Err(StoreError::Corrupt(format!(
            "binding subject kind {other:?}"
        ))),
    }
}

fn subject_parts(s: Subject) -> (&'static str, String) {
    match s {
        Subject::User(u) => ("user", u.to_string()),
        Subject::Team(t) => ("team", t.to_string()),
    }
}

fn role_ref_of(name: Option<String>, uid: Option<String>) -> Result<RoleRef> {
    match (name, uid) {
        (Some(n), None) => BuiltinRole::parse(&n)
            .map(RoleRef::Builtin)
            .map_err(|_| StoreError::Corrupt(format!("binding names unknown role {n:?}"))),
        (None, Some(u)) => Ok(RoleRef::Custom(parse_uid(&u)?)),
        _ => Err(StoreError::Corrupt("binding names no role or two".into())),
    }
}

fn scope_of(project: Option<String>) -> Result<Scope> {
    Ok(match project {
        None => Scope::Tenant,
        Some(p) => Scope::Project(parse_uid(&p)?),
    })
}

/// Columns of a grant, as [`with_grants`] names them.
pub(crate) const GRANT_COLUMNS: &str = "b.uid AS b_uid, b.subject_kind AS b_kind, b.subject_uid AS b_subject, \
    b.role_name AS b_role_name, b.role_uid AS b_role_uid, b.project_uid AS b_project, \
    r.name AS r_name, r.permissions AS r_permissions";

/// A query of `cols` from the one row that `from` and `filter` find (its
/// user is `user` of tenant `tenant`, SQL expressions over `from`), with
/// the user's grants: one row per binding, direct or through a team, with
/// the custom role it names ([`GRANT_COLUMNS`]); a row with NULL grant
/// columns when the user has no direct binding. Rows come in no particular
/// order ([`grants_of_rows`] sorts the grants).
///
/// Two arms, each a chain of index searches: the user's own bindings, and,
/// from the user's team memberships, the bindings of those teams (`CROSS
/// JOIN` keeps SQLite's planner from starting at the tenant's team
/// bindings). A single condition with `OR` instead made SQLite scan every
/// binding of the tenant on every authenticated request.
pub(crate) fn with_grants(
    cols: &str,
    from: &str,
    filter: &str,
    tenant: &str,
    user: &str,
) -> String {
    format!(
        "SELECT {cols}, {GRANT_COLUMNS} FROM {from} \
           LEFT JOIN role_bindings b ON b.tenant_uid = {tenant} AND b.subject_kind = 'user' AND b.subject_uid = {user} \
           LEFT JOIN roles r ON r.uid = b.role_uid AND r.tenant_uid = b.tenant_uid \
         WHERE {filter} \
         UNION ALL \
         SELECT {cols}, {GRANT_COLUMNS} FROM {from} \
           CROSS JOIN team_members m CROSS JOIN role_bindings b \
           LEFT JOIN roles r ON r.uid = b.role_uid AND r.tenant_uid = b.tenant_uid \
         WHERE {filter} AND m.tenant_uid = {tenant} AND m.user_uid = {user} \
           AND b.tenant_uid = m.tenant_uid AND b.subject_kind = 'team' AND b.subject_uid = m.team_uid"
    )
}

/// The grants in rows of a [`with_grants`] query, ordered by binding UID.
pub(crate) fn grants_of_rows(rows: &[impl Cols]) -> Result<Vec<Grant>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(binding) = row.text("b_uid")? else {
            continue;
        };
        let binding = parse_uid(&binding)?;
        let kind = row.req_text("b_kind")?;
        let via = match subject_of(&kind, &row.req_text("b_subject")?)? {
            Subject::User(_) => Via::Direct,
            Subject::Team(t) => Via::Team(t),
        };
        let scope = scope_of(row.text("b_project")?)?;
        match role_ref_of(row.text("b_role_name")?, row.text("b_role_uid")?)? {
            RoleRef::Builtin(role) => out.push(Grant::builtin(binding, role, scope, via)),
            RoleRef::Custom(role_uid) => {
                let name = row.text("r_name")?;
                let perms = row.text("r_permissions")?;
                let (Some(name), Some(perms)) = (name, perms) else {
                    return Err(StoreError::Corrupt(format!(
                        "binding {binding} names a missing custom role"
                    )));
                };
                let set = permissions_of(&perms, &role_uid.to_string())?;
                out.push(Grant::custom(binding, role_uid, name, set, scope, via));
            }
        }
    }
    out.sort_by_key(|g| g.binding());
    Ok(out)
}

const BINDING_COLUMNS: &str =
    "uid, tenant_uid, subject_kind, subject_uid, role_name, role_uid, project_uid, created_at";

fn binding_row(row: &AnyRow) -> Result<RoleBinding> {
    let kind: String = row.try_get("subject_kind")?;
    let subject: String = row.try_get("subject_uid")?;
    Ok(RoleBinding {
        binding: Binding {
            uid: parse_uid(&row.try_get::<String, _>("uid")?)?,
            subject: subject_of(&kind, &subject)?,
            role: role_ref_of(row.try_get("role_name")?, row.try_get("role_uid")?)?,
            scope: scope_of(row.try_get("project_uid")?)?,
        },
        tenant_uid: parse_uid(&row.try_get::<String, _>("tenant_uid")?)?,
        created_at: row.try_get("created_at")?,
    })
}

impl SqlStore {
    pub(crate) async fn team_get(&self, tenant: Uid, uid: Uid) -> Result<Team> {
        let mut tx = self.begin_read(TxScope::Tenant(tenant)).await?;
        let row = sqlx::query(
            "SELECT uid, tenant_uid, name, description, created_at FROM teams WHERE tenant_uid = $1 AND uid = $2",
        )
        .bind(tenant.to_string())
        .bind(uid.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        team_row(&row)
    }

    pub(crate) async fn team_list(&self, tenant: Uid, page: PageRequest) -> Result<Page<Team>> {
        let limit = page.size();
        let mut tx = self.begin_read(TxScope::Tenant(tenant)).await?;
        let rows = sqlx::query(
            "SELECT uid, tenant_uid, name, description, created_at FROM teams WHERE tenant_uid = $1 AND uid > $2 ORDER BY uid LIMIT $3",
        )
        .bind(tenant.to_string())
        .bind(cursor(&page))
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let items = rows.iter().map(team_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, limit, |t| t.uid))
    }

    pub(crate) async fn team_member_list(&self, tenant: Uid, team: Uid) -> Result<Vec<Uid>> {
        let mut tx = self.begin_read(TxScope::Tenant(tenant)).await?;
        let exists = sqlx::query("SELECT 1 FROM teams WHERE tenant_uid = $1 AND uid = $2")
            .bind(tenant.to_string())
            .bind(team.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let rows = sqlx::query(
            "SELECT user_uid FROM team_members WHERE tenant_uid = $1 AND team_uid = $2 ORDER BY user_uid",
        )
        .bind(tenant.to_string())
        .bind(team.to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter()
            .map(|r| parse_uid(&r.try_get::<String, _>(0)?))
            .collect()
    }

    async fn role_where(&self, tenant: Uid, column: &str, value: String) -> Result<CustomRole> {
        let mut tx = self.begin_read(TxScope::Tenant(tenant)).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT uid, tenant_uid, name, description, permissions, created_at, updated_at FROM roles WHERE tenant_uid = $1 AND {column} = $2"
        )))
        .bind(tenant.to_string())
        .bind(value)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        role_row(&row)
    }

    pub(crate) async fn role_get(&self, tenant: Uid, uid: Uid) -> Result<CustomRole> {
        self.role_where(tenant, "uid", uid.to_string()).await
    }

    pub(crate) async fn role_by_name_impl(&self, tenant: Uid, name: &str) -> Result<CustomRole> {
        self.role_where(tenant, "name", name.to_owned()).await
    }

    pub(crate) async fn role_list(
        &self,
        tenant: Uid,
        page: PageRequest,
    ) -> Result<Page<CustomRole>> {
        let limit = page.size();
        let mut tx = self.begin_read(TxScope::Tenant(tenant)).await?;
        let rows = sqlx::query(
            "SELECT uid, tenant_uid, name, description, permissions, created_at, updated_at FROM roles WHERE tenant_uid = $1 AND uid > $2 ORDER BY uid LIMIT $3",
        )
        .bind(tenant.to_string())
        .bind(cursor(&page))
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let items = rows.iter().map(role_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, limit, |r| r.uid))
    }

    pub(crate) async fn binding_get(&self, tenant: Uid, uid: Uid) -> Result<RoleBinding> {
        let mut tx = self.begin_read(TxScope::Tenant(tenant)).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {BINDING_COLUMNS} FROM role_bindings WHERE tenant_uid = $1 AND uid = $2"
        )))
        .bind(tenant.to_string())
        .bind(uid.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        binding_row(&row)
    }

    pub(crate) async fn binding_list(
        &self,
        tenant: Uid,
        filter: BindingFilter,
        page: PageRequest,
    ) -> Result<Page<RoleBinding>> {
        let limit = page.size();
        let (kind, subject) = match filter.subject {
            Some(s) => {
                let (k, u) = subject_parts(s);
                (k.to_owned(), u)
            }
            None => (String::new(), String::new()),
        };
        let mut tx = self.begin_read(TxScope::Tenant(tenant)).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {BINDING_COLUMNS} FROM role_bindings WHERE tenant_uid = $1 \
             AND ($2 = '' OR (subject_kind = $2 AND subject_uid = $3)) \
             AND ($4 = '' OR project_uid = $4) AND ($5 = 0 OR project_uid IS NULL) \
             AND uid > $6 ORDER BY uid LIMIT $7"
        )))
        .bind(tenant.to_string())
        .bind(kind)
        .bind(subject)
        .bind(filter.project.map(|p| p.to_string()).unwrap_or_default())
        .bind(i64::from(filter.tenant_scope_only))
        .bind(cursor(&page))
        .bind(i64::from(limit) + 1)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let items = rows.iter().map(binding_row).collect::<Result<Vec<_>>>()?;
        Ok(page_of(items, limit, |b| b.binding.uid))
    }

    /// One grant per binding of `user`, direct or through a team.
    pub(crate) async fn grants(&self, tenant: Uid, user: Uid) -> Result<Vec<Grant>> {
        let mut tx = self.begin_read(TxScope::Tenant(tenant)).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(with_grants(
            "s.uid",
            "users s",
            "s.tenant_uid = $1 AND s.uid = $2",
            "s.tenant_uid",
            "s.uid",
        )))
        .bind(tenant.to_string())
        .bind(user.to_string())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        grants_of_rows(&rows)
    }

    pub(crate) async fn status_of(
        &self,
        tenant: Uid,
        uid: Uid,
    ) -> Result<palisade_core::model::UserStatus> {
        let mut tx = self.begin_read(TxScope::Tenant(tenant)).await?;
        let row = sqlx::query("SELECT status FROM users WHERE tenant_uid = $1 AND uid = $2")
            .bind(tenant.to_string())
            .bind(uid.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        tx.commit().await?;
        let s: String = row.try_get(0)?;
        palisade_core::model::UserStatus::parse(&s)
            .ok_or_else(|| StoreError::Corrupt(format!("user {uid} has status {s:?}")))
    }
}

impl SqlTx {
    async fn exists(&mut self, sql: &'static str, tenant: Uid, uid: Uid) -> Result<bool> {
        Ok(sqlx::query(sql)
            .bind(tenant.to_string())
            .bind(uid.to_string())
            .fetch_optional(&mut *self.tx)
            .await?
            .is_some())
    }

    pub(crate) async fn project_describe(
        &mut self,
        tenant: Uid,
        uid: Uid,
        description: &str,
    ) -> Result<palisade_core::model::Project> {
        self.exec_one(
            sqlx::query("UPDATE projects SET description = $1 WHERE tenant_uid = $2 AND uid = $3")
                .bind(description.to_owned())
                .bind(tenant.to_string())
                .bind(uid.to_string()),
        )
        .await?;
        let row = sqlx::query(
            "SELECT uid, tenant_uid, name, description, created_at FROM projects WHERE tenant_uid = $1 AND uid = $2",
        )
        .bind(tenant.to_string())
        .bind(uid.to_string())
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(palisade_core::model::Project {
            uid,
            tenant_uid: tenant,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            created_at: row.try_get("created_at")?,
        })
    }

    pub(crate) async fn team_create(
        &mut self,
        tenant: Uid,
        name: &str,
        description: &str,
    ) -> Result<Team> {
        validate_name("team name", name).map_err(invalid)?;
        let now = self.store.now();
        let uid = self
            .insert_fresh("a team with this name exists", |uid| {
                Ok(sqlx::query(
                    "INSERT INTO teams (uid, tenant_uid, name, description, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (uid) DO NOTHING",
                )
                .bind(uid.to_string())
                .bind(tenant.to_string())
                .bind(name.to_owned())
                .bind(description.to_owned())
                .bind(now))
            })
            .await?;
        Ok(Team {
            uid,
            tenant_uid: tenant,
            name: name.to_owned(),
            description: description.to_owned(),
            created_at: now,
        })
    }

    pub(crate) async fn team_describe(
        &mut self,
        tenant: Uid,
        uid: Uid,
        description: &str,
    ) -> Result<Team> {
        self.exec_one(
            sqlx::query("UPDATE teams SET description = $1 WHERE tenant_uid = $2 AND uid = $3")
                .bind(description.to_owned())
                .bind(tenant.to_string())
                .bind(uid.to_string()),
        )
        .await?;
        let row = sqlx::query(
            "SELECT uid, tenant_uid, name, description, created_at FROM teams WHERE tenant_uid = $1 AND uid = $2",
        )
        .bind(tenant.to_string())
        .bind(uid.to_string())
        .fetch_one(&mut *self.tx)
        .await?;
        team_row(&row)
    }

    pub(crate) async fn team_delete(&mut self, tenant: Uid, uid: Uid) -> Result<()> {
        self.exec(
            sqlx::query(
                "DELETE FROM role_bindings WHERE tenant_uid = $1 AND subject_kind = 'team' AND subject_uid = $2",
            )
            .bind(tenant.to_string())
            .bind(uid.to_string()),
        )
        .await?;
        self.exec_one(
            sqlx::query("DELETE FROM teams WHERE tenant_uid = $1 AND uid = $2")
                .bind(tenant.to_string())
                .bind(uid.to_string()),
        )
        .await
    }

    pub(crate) async fn member_add(&mut self, tenant: Uid, team: Uid, user: Uid) -> Result<()> {
        if !self
            .exists(
                "SELECT 1 FROM teams WHERE tenant_uid = $1 AND uid = $2",
                tenant,
                team,
            )
            .await?
        {
            return Err(StoreError::NotFound);
        }
        if !self
            .exists(
                "SELECT 1 FROM users WHERE tenant_uid = $1 AND uid = $2",
                tenant,
                user,
            )
            .await?
        {
            return Err(StoreError::MissingReference(
                "userUid does not name a user of this tenant".into(),
            ));
        }
        let done = sqlx::query(
            "INSERT INTO team_members (tenant_uid, team_uid, user_uid, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (team_uid, user_uid) DO NOTHING",
        )
        .bind(tenant.to_string())
        .bind(team.to_string())
        .bind(user.to_string())
        .bind(self.store.now())
        .execute(&mut *self.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Conflict(
                "the user is already a member of this team",
            ));
        }
        Ok(())
    }

    pub(crate) async fn member_remove(&mut self, tenant: Uid, team: Uid, user: Uid) -> Result<()> {
        self.exec_one(
            sqlx::query(
                "DELETE FROM team_members WHERE tenant_uid = $1 AND team_uid = $2 AND user_uid = $3",
            )
            .bind(tenant.to_string())
            .bind(team.to_string())
            .bind(user.to_string()),
        )
        .await
    }

    pub(crate) async fn role_create(
        &mut self,
        tenant: Uid,
        name: &str,
        description: &str,
        permissions: PermissionSet,
    ) -> Result<CustomRole> {
        validate_custom_role(name, permissions).map_err(invalid)?;
        let now = self.store.now();
        let text = permissions_text(permissions);
        let uid = self
            .insert_fresh("a role with this name exists", |uid| {
                Ok(sqlx::query(
                    "INSERT INTO roles (uid, tenant_uid, name, description, permissions, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (uid) DO NOTHING",
                )
                .bind(uid.to_string())
                .bind(tenant.to_string())
                .bind(name.to_owned())
                .bind(description.to_owned())
                .bind(text.clone())
                .bind(now))
            })
            .await?;
        Ok(CustomRole {
            uid,
            tenant_uid: tenant,
            name: name.to_owned(),
            description: description.to_owned(),
            permissions,
            created_at: now,
            updated_at: now,
        })
    }

    pub(crate) async fn role_update(
        &mut self,
        tenant: Uid,
        uid: Uid,
        change: RoleChange,
    ) -> Result<CustomRole> {
        if let Some(p) = change.permissions {
            validate_custom_role_permissions(p).map_err(invalid)?;
        }
        let now = self.store.now();
        self.exec_one(
            sqlx::query(
                "UPDATE roles SET description = CASE WHEN $1 = 1 THEN $2 ELSE description END, \
                 permissions = CASE WHEN $3 = 1 THEN $4 ELSE permissions END, updated_at = $5 \
                 WHERE tenant_uid = $6 AND uid = $7",
            )
            .bind(i64::from(change.description.is_some()))
            .bind(change.description.unwrap_or_default())
            .bind(i64::from(change.permissions.is_some()))
            .bind(change.permissions.map(permissions_text).unwrap_or_default())
            .bind(now)
            .bind(tenant.to_string())
            .bind(uid.to_string()),
        )
        .await?;
        let row = sqlx::query(
            "SELECT uid, tenant_uid, name, description, permissions, created_at, updated_at FROM roles WHERE tenant_uid = $1 AND uid = $2",
        )
        .bind(tenant.to_string())
        .bind(uid.to_string())
        .fetch_one(&mut *self.tx)
        .await?;
        role_row(&row)
    }

    pub(crate) async fn role_delete(&mut self, tenant: Uid, uid: Uid) -> Result<()> {
        let bound =
            sqlx::query("SELECT 1 FROM role_bindings WHERE tenant_uid = $1 AND role_uid = $2")
                .bind(tenant.to_string())
                .bind(uid.to_string())
                .fetch_optional(&mut *self.tx)
                .await?;
        if bound.is_some() {
            return Err(StoreError::Conflict(
                "the role is still bound; delete its bindings first",
            ));
        }
        self.exec_one(
            sqlx::query("DELETE FROM roles WHERE tenant_uid = $1 AND uid = $2")
                .bind(tenant.to_string())
                .bind(uid.to_string()),
        )
        .await
    }

    pub(crate) async fn binding_create(
        &mut self,
        tenant: Uid,
        subject: Subject,
        role: RoleRef,
        scope: Scope,
    ) -> Result<RoleBinding> {
        let (kind, subject_uid) = subject_parts(subject);
        let subject_exists = match subject {
            Subject::User(u) => {
                self.exists(
                    "SELECT 1 FROM users WHERE tenant_uid = $1 AND uid = $2",
                    tenant,
                    u,
                )
                .await?
            }
            Subject::Team(t) => {
                self.exists(
                    "SELECT 1 FROM teams WHERE tenant_uid = $1 AND uid = $2",
                    tenant,
                    t,
                )
                .await?
            }
        };
        if !subject_exists {
            return Err(StoreError::MissingReference(format!(
                "the subject is not a {kind} of this tenant"
            )));
        }
        let (role_name, role_uid) = match role {
            RoleRef::Builtin(b) => (Some(b.name().to_owned()), None),
            RoleRef::Custom(r) => {
                if !self
                    .exists(
                        "SELECT 1 FROM roles WHERE tenant_uid = $1 AND uid = $2",
                        tenant,
                        r,
                    )
                    .await?
                {
                    return Err(StoreError::MissingReference(
                        "the role is not a role of this tenant".into(),
                    ));
                }
                (None, Some(r.to_string()))
            }
        };
        let project = match scope {
            Scope::Tenant => None,
            Scope::Project(p) => {
                ensure_project(&mut self.tx, tenant, p)
                    .await
                    .map_err(|e| match e {
                        StoreError::NotFound => StoreError::MissingReference(
                            "the project is not a project of this tenant".into(),
                        ),
                        other => other,
                    })?;
                Some(p.to_string())
            }
        };
        let now = self.store.now();
        let uid = self
            .insert_fresh("this subject already holds this role at this scope", |uid| {
                Ok(sqlx::query(
                    "INSERT INTO role_bindings (uid, tenant_uid, subject_kind, subject_uid, role_name, role_uid, project_uid, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (uid) DO NOTHING",
                )
                .bind(uid.to_string())
                .bind(tenant.to_string())
                .bind(kind)
                .bind(subject_uid.clone())
                .bind(role_name.clone())
                .bind(role_uid.clone())
                .bind(project.clone())
                .bind(now))
            })
            .await?;
        Ok(RoleBinding {
            binding: Binding {
                uid,
                subject,
                role,
                scope,
            },
            tenant_uid: tenant,
            created_at: now,
        })
    }

    pub(crate) async fn binding_delete(
        &mut self,
        tenant: Uid,
        uid: Uid,
        project: Option<Uid>,
    ) -> Result<Binding> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {BINDING_COLUMNS} FROM role_bindings WHERE tenant_uid = $1 AND uid = $2 AND ($3 = '' OR project_uid = $3)"
        )))
        .bind(tenant.to_string())
        .bind(uid.to_string())
        .bind(project.map(|p| p.to_string()).unwrap_or_default())
        .fetch_optional(&mut *self.tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let b = binding_row(&row)?;
        self.exec_one(
            sqlx::query("DELETE FROM role_bindings WHERE tenant_uid = $1 AND uid = $2")
                .bind(tenant.to_string())
                .bind(uid.to_string()),
        )
        .await?;
        Ok(b.binding)
    }
}
