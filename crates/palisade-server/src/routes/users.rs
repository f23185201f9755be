//! `/v1/me` and `/v1/users`: user lifecycle (create, rename, disable,
//! enable, delete, reset password, revoke sessions, clear counters) and the
//! permissions explanation. Acting on another user's credentials or standing
//! (rename, disable, enable, delete, reset password, end sessions) needs
//! every permission that user holds (no one can take over, re-enable or
//! lock out a more powerful account).

use axum::extract::{Path, State};
use palisade_core::Uid;
use palisade_core::model::UserStatus;
use palisade_core::rbac::{
    Grants, Permission, RoleName, RoleRef, Scope, Target, Via, check_covers, check_grantable,
    explain, explain_ignored,
};
use palisade_proto::auth::{CreateUserRequest, PageOf, Revoked, UserView, UserWithPassword};
use palisade_proto::codes;
use palisade_proto::resources::{
    PermissionHeld, PermissionIgnored, PermissionsView, UpdateUserRequest,
};
use palisade_store::{NewUser, StoreError};

use super::{Caller, Paging, escalation, path_uid, user_view};
use crate::ApiError;
use crate::app::AppState;
use crate::auth::principal::Principal;
use crate::json::{Created, Json, NoContent, ValidJson, ValidQuery};

/// `GET /v1/me`.
pub async fn me(State(state): State<AppState>, p: Principal) -> Result<Json<UserView>, ApiError> {
    Ok(Json(user_view(
        &state.store.get_user(p.tenant, p.user).await?,
    )))
}

/// `GET /v1/users`.
pub async fn list(
    State(state): State<AppState>,
    c: Caller,
    ValidQuery(q): ValidQuery<Paging>,
) -> Result<Json<PageOf<UserView>>, ApiError> {
    let page = state
        .store
        .list_users(c.principal.tenant, q.page()?)
        .await?;
    Ok(Json(PageOf {
        items: page.items.iter().map(user_view).collect(),
        next: page.next.map(|u| u.to_string()),
    }))
}

/// `GET /v1/users/{uid}`.
pub async fn get(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let uid = path_uid(&uid)?;
    Ok(Json(user_view(
        &state.store.get_user(c.principal.tenant, uid).await?,
    )))
}

/// Resolves a role name in the tenant: built-in, or the tenant's custom role.
pub async fn resolve_role(
    state: &AppState,
    tenant: Uid,
    name: &RoleName,
) -> Result<(RoleRef, palisade_core::rbac::PermissionSet, String), ApiError> {
    match name {
        RoleName::Builtin(b) => Ok((RoleRef::Builtin(*b), b.permissions(), b.name().to_owned())),
        RoleName::Custom(n) => match state.store.role_by_name(tenant, n).await {
            Ok(r) => Ok((RoleRef::Custom(r.uid), r.permissions, r.name)),
            // A well-formed name of no role: the request fits the document
            // but names nothing, as an unknown subject UID does.
            Err(StoreError::NotFound) => Err(ApiError::unprocessable(
                "role names neither a built-in role nor a role of this tenant",
            )),
            Err(e) => Err(e.into()),
        },
    }
}

/// `POST /v1/users`: creates a user with a one-time password (shown once),
/// optionally bound to a role at tenant scope in the same change.
pub async fn create(
    State(state): State<AppState>,
    c: Caller,
    ValidJson(body): ValidJson<CreateUserRequest>,
) -> Result<Created<UserWithPassword>, ApiError> {
    let tenant = c.principal.tenant;
    let role = match &body.role {
        None => None,
        Some(name) => {
            let (role, perms, label) = resolve_role(&state, tenant, name).await?;
            if !c.may(Permission::RolebindingCreate, Target::Tenant) {
                return Err(crate::gateway::denied(Permission::RolebindingCreate));
            }
            check_grantable(&c.grants, perms, Scope::Tenant).map_err(escalation)?;
            Some((role, label))
        }
    };
    let password = crate::bootstrap::one_time_password().map_err(ApiError::internal)?;
    let hash = state.auth.hash_password(&password).await?;
    let mut tx = state.store.write(tenant).await?;
    let user = tx
        .create_user(
            tenant,
            NewUser {
                email: body.email.into_string(),
                display_name: body.display_name.into_string(),
                password_hash: Some(hash),
                must_change_password: true,
            },
        )
        .await?;
    let mut entry = c.principal.entry("user.create").target("user", user.uid);
    if let Some((role, label)) = role {
        let b = tx
            .create_binding(
                tenant,
                palisade_core::rbac::Subject::User(user.uid),
                role,
                Scope::Tenant,
            )
            .await?;
        entry = entry
            .detail("role", label)
            .detail("binding", b.binding.uid.to_string());
    }
    tx.commit(entry).await?;
    Ok(Created(UserWithPassword {
        user: user_view(&user),
        initial_password: secrecy::ExposeSecret::expose_secret(&password).to_owned(),
    }))
}

/// The grants of another user of the caller's tenant.
async fn grants_of(state: &AppState, c: &Caller, user: Uid) -> Result<Grants, ApiError> {
    let rows = state.store.grants_of(c.principal.tenant, user).await?;
    Ok(Grants::new(c.grants.is_platform_tenant(), rows))
}

/// Refuses acting on `target`'s credentials or standing: on oneself (use
/// the self-service routes), or on a user who holds more than the caller.
async fn guard_other(state: &AppState, c: &Caller, target: Uid) -> Result<(), ApiError> {
    if c.principal.user == target {
        return Err(ApiError::forbidden(
            codes::FORBIDDEN,
            "administrators cannot disable, delete or reset themselves",
        ));
    }
    guard_covers(state, c, target).await
}

/// Refuses acting on a user who holds more than the caller (renaming,
/// enabling, ending sessions); the caller themselves is always covered.
async fn guard_covers(state: &AppState, c: &Caller, target: Uid) -> Result<(), ApiError> {
    state.store.get_user(c.principal.tenant, target).await?;
    let theirs = grants_of(state, c, target).await?;
    check_covers(&c.grants, &theirs).map_err(|m| {
        ApiError::forbidden(
            codes::PERMISSION_DENIED,
            format!("this user holds permissions you do not hold ({m}); ask an administrator who holds them"),
        )
    })
}

/// `PATCH /v1/users/{uid}`: renames a user.
pub async fn update(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
    ValidJson(body): ValidJson<UpdateUserRequest>,
) -> Result<Json<UserView>, ApiError> {
    let uid = path_uid(&uid)?;
    guard_covers(&state, &c, uid).await?;
    let tenant = c.principal.tenant;
    let mut tx = state.store.write(tenant).await?;
    tx.set_display_name(tenant, uid, body.display_name.as_str())
        .await?;
    tx.commit(
        c.principal
            .entry("user.update")
            .target("user", uid)
            .detail("changed", "displayName"),
    )
    .await?;
    Ok(Json(user_view(&state.store.get_user(tenant, uid).await?)))
}

/// `POST /v1/users/{uid}/disable`: refuses logins and ends sessions.
pub async fn disable(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
) -> Result<NoContent, ApiError> {
    let uid = path_uid(&uid)?;
    guard_other(&state, &c, uid).await?;
    let tenant = c.principal.tenant;
    let mut tx = state.store.write(tenant).await?;
    tx.set_user_status(tenant, uid, UserStatus::Disabled)
        .await?;
    let n = tx.revoke_user_sessions(tenant, uid, "disabled").await?;
    tx.commit(
        c.principal
            .entry("user.update")
            .target("user", uid)
            .detail("status", "disabled")
            .detail("sessionsRevoked", n),
    )
    .await?;
    Ok(NoContent)
}

/// `POST /v1/users/{uid}/enable`.
pub async fn enable(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
) -> Result<NoContent, ApiError> {
    let uid = path_uid(&uid)?;
    guard_covers(&state, &c, uid).await?;
    let tenant = c.principal.tenant;
    let mut tx = state.store.write(tenant).await?;
    tx.set_user_status(tenant, uid, UserStatus::Active).await?;
    tx.commit(
        c.principal
            .entry("user.update")
            .target("user", uid)
            .detail("status", "active"),
    )
    .await?;
    Ok(NoContent)
}

/// `DELETE /v1/users/{uid}`.
pub async fn delete(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
) -> Result<NoContent, ApiError> {
    let uid = path_uid(&uid)?;
    guard_other(&state, &c, uid).await?;
    let tenant = c.principal.tenant;
    let mut tx = state.store.write(tenant).await?;
    tx.delete_user(tenant, uid).await?;
    tx.commit(c.principal.entry("user.delete").target("user", uid))
        .await?;
    Ok(NoContent)
}

/// `POST /v1/users/{uid}/reset-password`: a new one-time password (shown
/// once), to be changed at next login; ends the user's sessions.
pub async fn reset_password(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
) -> Result<Json<UserWithPassword>, ApiError> {
    let uid = path_uid(&uid)?;
    guard_other(&state, &c, uid).await?;
    let tenant = c.principal.tenant;
    let user = state.store.get_user(tenant, uid).await?;
    let password = crate::bootstrap::one_time_password().map_err(ApiError::internal)?;
    let hash = state.auth.hash_password(&password).await?;
    let mut tx = state.store.write(tenant).await?;
    tx.set_password(tenant, uid, &hash, true).await?;
    let n = tx
        .revoke_user_sessions(tenant, uid, "password_reset")
        .await?;
    tx.commit(
        c.principal
            .entry("user.reset-password")
            .target("user", uid)
            .detail("sessionsRevoked", n),
    )
    .await?;
    let user = palisade_core::model::User {
        must_change_password: true,
        ..user
    };
    Ok(Json(UserWithPassword {
        user: user_view(&user),
        initial_password: secrecy::ExposeSecret::expose_secret(&password).to_owned(),
    }))
}

/// `POST /v1/users/{uid}/sessions/revoke`: ends every session of the user.
pub async fn revoke_sessions(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
) -> Result<Json<Revoked>, ApiError> {
    let uid = path_uid(&uid)?;
    let tenant = c.principal.tenant;
    guard_covers(&state, &c, uid).await?;
    let mut tx = state.store.write(tenant).await?;
    let revoked = tx.revoke_user_sessions(tenant, uid, "admin").await?;
    tx.commit(
        c.principal
            .entry("user.revoke-sessions")
            .target("user", uid)
            .detail("sessionsRevoked", revoked),
    )
    .await?;
    Ok(Json(Revoked { revoked }))
}

/// `POST /v1/users/{uid}/unlock`: clears the user's login and MFA counters.
pub async fn unlock(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
) -> Result<NoContent, ApiError> {
    let uid = path_uid(&uid)?;
    let tenant = c.principal.tenant;
    let user = state.store.get_user(tenant, uid).await?;
    let tenant_row = state.store.get_tenant(tenant).await?;
    let mut tx = state.store.write(tenant).await?;
    let n = tx
        .throttle_clear_account(&state.auth.account_key(&tenant_row.name, &user.email))
        .await?
        + tx.throttle_clear_account(&state.auth.mfa_key(uid)).await?;
    tx.commit(
        c.principal
            .entry("user.unlock")
            .target("user", uid)
            .detail("countersCleared", n),
    )
    .await?;
    Ok(NoContent)
}

/// `GET /v1/users/{uid}/permissions`: what the user may do and why. A user
/// may always explain themselves; explaining someone else reveals their
/// bindings and needs `rolebinding.list`.
pub async fn permissions(
    State(state): State<AppState>,
    c: Caller,
    Path(uid): Path<String>,
) -> Result<Json<PermissionsView>, ApiError> {
    let uid = path_uid(&uid)?;
    let grants = if uid == c.principal.user {
        c.grants.clone()
    } else {
        if !c.may(Permission::RolebindingList, Target::Tenant) {
            return Err(crate::gateway::denied(Permission::RolebindingList));
        }
        state.store.get_user(c.principal.tenant, uid).await?;
        std::sync::Arc::new(grants_of(&state, &c, uid).await?)
    };
    let at = |t: Target| match t {
        Target::Platform => ("platform", None),
        Target::Tenant => ("tenant", None),
        Target::Project(p) => ("project", Some(p.to_string())),
    };
    let via = |v: Via| match v {
        Via::Direct => None,
        Via::Team(t) => Some(t.to_string()),
    };
    let mut effective = Vec::new();
    for e in explain(&grants) {
        for h in &e.holdings {
            let (scope, project_uid) = at(h.at);
            effective.push(PermissionHeld {
                permission: e.permission.as_str().to_owned(),
                description: e.description.to_owned(),
                scope: scope.to_owned(),
                project_uid,
                binding_uid: h.binding.to_string(),
                role: h.role.clone(),
                via_team_uid: via(h.via),
            });
        }
    }
    let mut ignored = Vec::new();
    for i in explain_ignored(&grants) {
        for p in i.permissions.iter() {
            ignored.push(PermissionIgnored {
                permission: p.as_str().to_owned(),
                binding_uid: i.binding.to_string(),
                role: i.role.clone(),
                reason: match i.reason {
                    palisade_core::rbac::IgnoredReason::ProjectScope => {
                        "a binding at project scope confers only project-level permissions"
                    }
                    palisade_core::rbac::IgnoredReason::NotPlatformTenant => {
                        "platform permissions are conferred only in the platform tenant"
                    }
                    palisade_core::rbac::IgnoredReason::CustomRole => {
                        "only the built-in platform-admin role confers platform permissions"
                    }
                    _ => "it does not apply at this binding's scope",
                }
                .to_owned(),
            });
        }
    }
    Ok(Json(PermissionsView {
        user_uid: uid.to_string(),
        effective,
        ignored,
    }))
}
