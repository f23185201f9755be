//! `/v1/settings/*`: the tenant's password policy and MFA requirement
//! (`settings.get` to read, `settings.update` to change).

use axum::extract::State;
use palisade_core::PasswordPolicy;
use palisade_proto::auth::MfaSetting;

use crate::ApiError;
use crate::app::AppState;
use crate::auth::principal::Principal;
use crate::json::{Json, ValidJson};

/// `GET /v1/settings/password-policy`.
pub async fn get_password_policy(
    State(state): State<AppState>,
    p: Principal,
) -> Result<Json<PasswordPolicy>, ApiError> {
    let s = state.store.security_settings(p.tenant).await?;
    Ok(Json(match s.password_policy {
        None => PasswordPolicy::default(),
        Some(j) => serde_json::from_str(&j).map_err(ApiError::internal)?,
    }))
}

/// `PUT /v1/settings/password-policy`.
pub async fn put_password_policy(
    State(state): State<AppState>,
    p: Principal,
    ValidJson(policy): ValidJson<PasswordPolicy>,
) -> Result<Json<PasswordPolicy>, ApiError> {
    policy
        .validate()
        .map_err(|e| ApiError::unprocessable(e.to_string()))?;
    let json = serde_json::to_string(&policy).map_err(ApiError::internal)?;
    let mut tx = state.store.write(p.tenant).await?;
    tx.set_password_policy(p.tenant, &json).await?;
    let details = serde_json::to_value(&policy).map_err(ApiError::internal)?;
    tx.commit(
        p.entry("settings.update")
            .target_kind("password-policy")
            .detail("passwordPolicy", details),
    )
    .await?;
    Ok(Json(policy))
}

/// `GET /v1/settings/mfa`.
pub async fn get_mfa(
    State(state): State<AppState>,
    p: Principal,
) -> Result<Json<MfaSetting>, ApiError> {
    let s = state.store.security_settings(p.tenant).await?;
    Ok(Json(MfaSetting {
        required: s.mfa_required,
    }))
}

/// `PUT /v1/settings/mfa`.
pub async fn put_mfa(
    State(state): State<AppState>,
    p: Principal,
    ValidJson(body): ValidJson<MfaSetting>,
) -> Result<Json<MfaSetting>, ApiError> {
    let mut tx = state.store.write(p.tenant).await?;
    tx.set_mfa_required(p.tenant, body.required).await?;
    tx.commit(
        p.entry("settings.update")
            .target_kind("mfa")
            .detail("mfaRequired", body.required),
    )
    .await?;
    Ok(Json(body))
}
