//! `/v1/roles`: the six built-in roles and the tenant's custom roles. A
//! custom role may hold only permissions its creator holds (no escalation);
//! changing one is checked the same way.

use axum::extract::{Path, State};
use palisade_core::model::CustomRole;
use palisade_core::rbac::{BuiltinRole, Scope, check_grantable};
use palisade_proto::resources::{CreateRoleRequest, RolePage, RoleView, UpdateRoleRequest};
use palisade_store::RoleChange;

use super::{Caller, Paging, escalation, path_uid};
use crate::ApiError;
use crate::app::AppState;
use crate::json::{Created, Json, NoContent, ValidJson, ValidQuery};

fn view(r: &CustomRole) -> RoleView {
    RoleView {
        uid: Some(r.uid.to_string()),
        name: r.name.clone(),
        description: r.description.clone(),
        builtin: false,
        permissions: r.permissions,
    }
}

/// `GET /v1/roles`: built-in roles (on the first page), then custom ones.
pub async fn list(
    State(state): State<AppState>,
    c: Caller,
    ValidQuery(q): ValidQuery<Paging>,
) -> Result<Json<RolePage>, ApiError> {
    let page = q.page()?;
    let mut items: Vec<RoleView> = if page.after.is_none() {
        BuiltinRole::ALL
            .iter()
            .map(|b| RoleView {
                uid: None,
                name: b.name().to_owned(),
                description: b.description().to_owned(),
                builtin: true,
                permissions: b.permissions(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let custom = state.store.list_roles(c.principal.tenant, page).await?;
    items.extend(custom.items.iter().map(view));
    Ok(Json(RolePage {
        items,
        next: custom.next.map(|u| u.to_string()),
    }))
}

/// `POST /v1/roles`.
pub async fn create(
    State(state): State<AppState>,
    c: Caller,
    ValidJson(body): ValidJson<CreateRoleRequest>,
) -> Result<Created<RoleView>, ApiError> {
    check_grantable(&c.grants, body.permissions, Scope::Tenant).map_err(escalation)?;
    let tenant = c.principal.tenant;
    let description = body.description.as_ref().map(|d| d.as_str()).unwrap_or("");
    let mut tx = state.store.write(tenant).await?;
    let role = tx
        .create_role(tenant, body.name.as_str(), description, body.permissions)
        .await?;
    tx.commit(
        c.principal
            .entry("role.create")
            .target("role", role.uid)
            .detail("name", role.name.clone())
            .detail("permissions", role.permissions.to_string()),
    )
    .await?;
    Ok(Created(view(&role)))
}

/// `GET /v1/roles/{uid}`.
pub async fn get(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
) -> Result<Json<RoleView>, ApiError> {
    let uid = path_uid(&uid)?;
    Ok(Json(view(
        &state.store.get_role(c.principal.tenant, uid).await?,
    )))
}

/// `PATCH /v1/roles/{uid}`.
pub async fn update(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
    ValidJson(body): ValidJson<UpdateRoleRequest>,
) -> Result<Json<RoleView>, ApiError> {
    let uid = path_uid(&uid)?;
    let tenant = c.principal.tenant;
    let before = state.store.get_role(tenant, uid).await?;
    if let Some(p) = body.permissions {
        // Whoever holds this role gains what is added: the caller must hold
        // it all.
        check_grantable(&c.grants, p, Scope::Tenant).map_err(escalation)?;
    }
    let mut tx = state.store.write(tenant).await?;
    let role = tx
        .update_role(
            tenant,
            uid,
            RoleChange {
                description: body.description.map(|d| d.into_string()),
                permissions: body.permissions,
            },
        )
        .await?;
    tx.commit(
        c.principal
            .entry("role.update")
            .target("role", uid)
            .detail("permissionsBefore", before.permissions.to_string())
            .detail("permissions", role.permissions.to_string()),
    )
    .await?;
    Ok(Json(view(&role)))
}

/// `DELETE /v1/roles/{uid}`: refused (409) while a binding names it.
pub async fn delete(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
) -> Result<NoContent, ApiError> {
    let uid = path_uid(&uid)?;
    let tenant = c.principal.tenant;
    let mut tx = state.store.write(tenant).await?;
    tx.delete_role(tenant, uid).await?;
    tx.commit(c.principal.entry("role.delete").target("role", uid))
        .await?;
    Ok(NoContent)
}
