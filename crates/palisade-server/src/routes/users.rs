//! `/v1/me` and `/v1/users`: user lifecycle by tenant admins (create or
//! invite, disable, enable, delete, reset password, revoke sessions, clear
//! brute-force counters). Until role-based access control lands, managing
//! users needs the tenant-admin role.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use palisade_core::Uid;
use palisade_core::model::{UserRole, UserStatus};
use palisade_proto::auth::{CreateUserRequest, PageOf, Revoked, UserView, UserWithPassword};
use palisade_proto::codes;
use palisade_store::{NewUser, PageRequest};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::user_view;
use crate::ApiError;
use crate::app::AppState;
use crate::auth::principal::{AdminPrincipal, Principal};
use crate::json::ValidJson;

/// Cursor pagination parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// Page size (1–500, default 50).
    pub limit: Option<u32>,
}

impl PageParams {
    /// Validated page request.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let after = self
            .after
            .as_deref()
            .map(Uid::parse)
            .transpose()
            .map_err(|_| ApiError::invalid("after must be a UID (12 lowercase hex characters)"))?;
        let limit = self.limit.unwrap_or(50);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::invalid("limit must be between 1 and 500"));
        }
        Ok(PageRequest { after, limit })
    }
}

/// Parses a UID path parameter (anything else is 400).
pub fn path_uid(raw: &str) -> Result<Uid, ApiError> {
    Uid::parse(raw)
        .map_err(|_| ApiError::invalid("the path UID must be 12 lowercase hex characters"))
}

/// `GET /v1/me`.
pub async fn me(State(state): State<AppState>, p: Principal) -> Result<Json<UserView>, ApiError> {
    Ok(Json(user_view(
        &state.store.get_user(p.tenant, p.user).await?,
    )))
}

/// `GET /v1/users`.
pub async fn list(
    State(state): State<AppState>,
    AdminPrincipal(p): AdminPrincipal,
    Query(q): Query<PageParams>,
) -> Result<Json<PageOf<UserView>>, ApiError> {
    let page = state.store.list_users(p.tenant, q.page()?).await?;
    Ok(Json(PageOf {
        items: page.items.iter().map(user_view).collect(),
        next: page.next.map(|u| u.to_string()),
    }))
}

/// `GET /v1/users/{uid}`.
pub async fn get(
    State(state): State<AppState>,
    AdminPrincipal(p): AdminPrincipal,
    Path(uid): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let uid = path_uid(&uid)?;
    Ok(Json(user_view(&state.store.get_user(p.tenant, uid).await?)))
}

/// `POST /v1/users`: creates a user with a one-time password (shown once).
pub async fn create(
    State(state): State<AppState>,
    AdminPrincipal(p): AdminPrincipal,
    ValidJson(body): ValidJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<UserWithPassword>), ApiError> {
    if body.display_name.trim().is_empty() || body.display_name.chars().count() > 200 {
        return Err(ApiError::invalid("displayName must be 1 to 200 characters"));
    }
    let role = match body.role.as_deref() {
        None => UserRole::Member,
        Some(r) => UserRole::parse(r)
            .ok_or_else(|| ApiError::invalid("role must be tenant-admin or member"))?,
    };
    let password = crate::bootstrap::one_time_password().map_err(ApiError::internal)?;
    let hash = state.auth.hash_password(&password).await?;
    let mut tx = state.store.write(p.tenant).await?;
    let user = tx
        .create_user(
            p.tenant,
            NewUser {
                email: body.email,
                display_name: body.display_name,
                password_hash: Some(hash),
                must_change_password: true,
                role,
            },
        )
        .await?;
    tx.commit(
        p.entry("user.create")
            .target("user", user.uid)
            .detail("role", role.as_str()),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(UserWithPassword {
            user: user_view(&user),
            initial_password: password.expose_secret().to_owned(),
        }),
    ))
}

fn not_self(p: &Principal, uid: Uid) -> Result<(), ApiError> {
    if p.user == uid {
        return Err(ApiError::forbidden(
            codes::FORBIDDEN,
            "administrators cannot disable, delete or reset themselves",
        ));
    }
    Ok(())
}

/// `POST /v1/users/{uid}/disable`: refuses logins and ends sessions.
pub async fn disable(
    State(state): State<AppState>,
    AdminPrincipal(p): AdminPrincipal,
    Path(uid): Path<String>,
) -> Result<StatusCode, ApiError> {
    let uid = path_uid(&uid)?;
    not_self(&p, uid)?;
    let mut tx = state.store.write(p.tenant).await?;
    tx.set_user_status(p.tenant, uid, UserStatus::Disabled)
        .await?;
    let n = tx.revoke_user_sessions(p.tenant, uid, "disabled").await?;
    tx.commit(
        p.entry("user.update")
            .target("user", uid)
            .detail("status", "disabled")
            .detail("sessionsRevoked", n),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/users/{uid}/enable`.
pub async fn enable(
    State(state): State<AppState>,
    AdminPrincipal(p): AdminPrincipal,
    Path(uid): Path<String>,
) -> Result<StatusCode, ApiError> {
    let uid = path_uid(&uid)?;
    let mut tx = state.store.write(p.tenant).await?;
    tx.set_user_status(p.tenant, uid, UserStatus::Active)
        .await?;
    tx.commit(
        p.entry("user.update")
            .target("user", uid)
            .detail("status", "active"),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/users/{uid}`.
pub async fn delete(
    State(state): State<AppState>,
    AdminPrincipal(p): AdminPrincipal,
    Path(uid): Path<String>,
) -> Result<StatusCode, ApiError> {
    let uid = path_uid(&uid)?;
    not_self(&p, uid)?;
    let mut tx = state.store.write(p.tenant).await?;
    tx.delete_user(p.tenant, uid).await?;
    tx.commit(p.entry("user.delete").target("user", uid))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/users/{uid}/reset-password`: a new one-time password (shown
/// once), to be changed at next login; ends the user's sessions.
pub async fn reset_password(
    State(state): State<AppState>,
    AdminPrincipal(p): AdminPrincipal,
    Path(uid): Path<String>,
) -> Result<Json<UserWithPassword>, ApiError> {
    let uid = path_uid(&uid)?;
    not_self(&p, uid)?;
    let user = state.store.get_user(p.tenant, uid).await?;
    let password = crate::bootstrap::one_time_password().map_err(ApiError::internal)?;
    let hash = state.auth.hash_password(&password).await?;
    let mut tx = state.store.write(p.tenant).await?;
    tx.set_password(p.tenant, uid, &hash, true).await?;
    let n = tx
        .revoke_user_sessions(p.tenant, uid, "password_reset")
        .await?;
    tx.commit(
        p.entry("user.reset-password")
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
        initial_password: password.expose_secret().to_owned(),
    }))
}

/// `POST /v1/users/{uid}/sessions/revoke`: ends every session of the user.
pub async fn revoke_sessions(
    State(state): State<AppState>,
    AdminPrincipal(p): AdminPrincipal,
    Path(uid): Path<String>,
) -> Result<Json<Revoked>, ApiError> {
    let uid = path_uid(&uid)?;
    state.store.get_user(p.tenant, uid).await?;
    let mut tx = state.store.write(p.tenant).await?;
    let revoked = tx.revoke_user_sessions(p.tenant, uid, "admin").await?;
    tx.commit(
        p.entry("user.revoke-sessions")
            .target("user", uid)
            .detail("sessionsRevoked", revoked),
    )
    .await?;
    Ok(Json(Revoked { revoked }))
}

/// `POST /v1/users/{uid}/unlock`: clears the user's login and MFA counters.
pub async fn unlock(
    State(state): State<AppState>,
    AdminPrincipal(p): AdminPrincipal,
    Path(uid): Path<String>,
) -> Result<StatusCode, ApiError> {
    let uid = path_uid(&uid)?;
    let user = state.store.get_user(p.tenant, uid).await?;
    let tenant = state.store.get_tenant(p.tenant).await?;
    let mut tx = state.store.write(p.tenant).await?;
    let n = tx
        .throttle_clear_account(&state.auth.account_key(&tenant.name, &user.email))
        .await?
        + tx.throttle_clear_account(&state.auth.mfa_key(uid)).await?;
    tx.commit(
        p.entry("user.unlock")
            .target("user", uid)
            .detail("countersCleared", n),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
