//! `/v1/tenants`: tenants, for platform administrators. Creating a tenant
//! creates its first administrator (bound to `tenant-admin`) with a one-time
//! password shown once; deleting one destroys its data keys (its audit log
//! is kept). The platform tenant itself cannot be deleted.

use axum::extract::{Path, State};
use palisade_core::model::{SYSTEM_TENANT, Tenant};
use palisade_core::rbac::{BuiltinRole, RoleRef, Scope, Subject};
use palisade_proto::auth::PageOf;
use palisade_proto::codes;
use palisade_proto::resources::{CreateTenantRequest, TenantCreated, TenantView};
use palisade_store::NewUser;

use super::{Caller, Paging, path_uid};
use crate::ApiError;
use crate::app::AppState;
use crate::json::{Created, Json, NoContent, ValidJson, ValidQuery};

fn view(t: &Tenant) -> TenantView {
    TenantView {
        uid: t.uid.to_string(),
        name: t.name.clone(),
        created_at: t.created_at,
    }
}

/// `GET /v1/tenants`.
pub async fn list(
    State(state): State<AppState>,
    _c: Caller,
    ValidQuery(q): ValidQuery<Paging>,
) -> Result<Json<PageOf<TenantView>>, ApiError> {
    let got = state.store.list_tenants(q.page()?).await?;
    Ok(Json(PageOf {
        items: got.items.iter().map(view).collect(),
        next: got.next.map(|u| u.to_string()),
    }))
}

/// `POST /v1/tenants`: the tenant and its first administrator, in one change.
pub async fn create(
    State(state): State<AppState>,
    c: Caller,
    ValidJson(body): ValidJson<CreateTenantRequest>,
) -> Result<Created<TenantCreated>, ApiError> {
    let password = crate::bootstrap::one_time_password().map_err(ApiError::internal)?;
    let hash = state.auth.hash_password(&password).await?;
    let mut tx = state.store.write_platform().await?;
    let tenant = tx.create_tenant(body.name.as_str()).await?;
    let admin = tx
        .create_user(
            tenant.uid,
            NewUser {
                email: body.admin_email.as_str().to_owned(),
                display_name: "Tenant administrator".into(),
                password_hash: Some(hash),
                must_change_password: true,
            },
        )
        .await?;
    tx.create_binding(
        tenant.uid,
        Subject::User(admin.uid),
        RoleRef::Builtin(BuiltinRole::TenantAdmin),
        Scope::Tenant,
    )
    .await?;
    tx.commit(
        c.principal
            .entry("tenant.create")
            .target("tenant", tenant.uid)
            .detail("name", tenant.name.clone())
            .detail("adminUid", admin.uid.to_string()),
    )
    .await?;
    Ok(Created(TenantCreated {
        uid: tenant.uid.to_string(),
        name: tenant.name,
        admin_uid: admin.uid.to_string(),
        admin_initial_password: secrecy::ExposeSecret::expose_secret(&password).to_owned(),
    }))
}

/// `GET /v1/tenants/{uid}`.
pub async fn get(
    State(state): State<AppState>,
    _c: Caller,
    Path(uid): Path<String>,
) -> Result<Json<TenantView>, ApiError> {
    let uid = path_uid(&uid)?;
    Ok(Json(view(&state.store.get_tenant(uid).await?)))
}

/// `DELETE /v1/tenants/{uid}`.
pub async fn delete(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
) -> Result<NoContent, ApiError> {
    let uid = path_uid(&uid)?;
    let tenant = state.store.get_tenant(uid).await?;
    if tenant.name == SYSTEM_TENANT || uid == state.platform_tenant {
        return Err(ApiError::forbidden(
            codes::FORBIDDEN,
            "the platform tenant cannot be deleted",
        ));
    }
    let mut tx = state.store.write_platform().await?;
    tx.delete_tenant(uid).await?;
    tx.commit(
        c.principal
            .entry("tenant.delete")
            .target("tenant", uid)
            .detail("name", tenant.name),
    )
    .await?;
    Ok(NoContent)
}
