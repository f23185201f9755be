//! `/v1/me/mfa/totp`: enrol (otpauth URI and QR code), confirm with a first
//! code (which returns ten single-use recovery codes), disable with a code.
//! Reachable while a tenant's MFA requirement is still pending.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use palisade_crypto::TotpSecret;
use palisade_crypto::totp;
use palisade_proto::auth::{CodeRequest, RecoveryCodes, TotpEnrolment};
use palisade_proto::codes;

use crate::ApiError;
use crate::app::AppState;
use crate::auth::principal::EnrollingPrincipal;
use crate::json::ValidJson;

/// Number of recovery codes issued at confirmation.
pub const RECOVERY_CODES: usize = 10;

/// `POST /v1/me/mfa/totp`.
pub async fn enrol(
    State(state): State<AppState>,
    EnrollingPrincipal(p): EnrollingPrincipal,
) -> Result<(StatusCode, Json<TotpEnrolment>), ApiError> {
    if let Some(t) = state.store.get_totp(p.tenant, p.user).await?
        && t.confirmed
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::MFA_ALREADY_ENROLLED,
            "TOTP is already enrolled; disable it first",
        ));
    }
    let user = state.store.get_user(p.tenant, p.user).await?;
    let tenant = state.store.get_tenant(p.tenant).await?;
    let secret = TotpSecret::generate().map_err(ApiError::internal)?;
    state
        .store
        .put_totp(p.tenant, p.user, secret.expose())
        .await?;
    let uri = totp::otpauth_uri(&secret, &format!("Palisade {}", tenant.name), &user.email)
        .map_err(ApiError::internal)?;
    let qr_svg = totp::qr_svg(&uri).map_err(ApiError::internal)?;
    Ok((
        StatusCode::CREATED,
        Json(TotpEnrolment {
            otpauth_uri: uri.to_string(),
            secret: secret.to_base32().to_string(),
            qr_svg,
        }),
    ))
}

async fn check_code(
    state: &AppState,
    p: &crate::auth::principal::Principal,
    code: &str,
    confirm: bool,
) -> Result<bool, ApiError> {
    let Some(t) = state.store.get_totp(p.tenant, p.user).await? else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::MFA_NOT_ENROLLED,
            "no TOTP enrolment",
        ));
    };
    let secret = TotpSecret::from_bytes(t.secret.to_vec()).map_err(ApiError::internal)?;
    let now_s = state.clock.now_ms() / 1000;
    match totp::verify_code(&secret, code.trim(), now_s, t.last_step) {
        Some(step) => Ok(state
            .store
            .accept_totp_step(p.tenant, p.user, step, confirm)
            .await?),
        None => Ok(false),
    }
}

/// `POST /v1/me/mfa/totp/confirm`: the first code turns the enrolment on.
pub async fn confirm(
    State(state): State<AppState>,
    EnrollingPrincipal(p): EnrollingPrincipal,
    ValidJson(body): ValidJson<CodeRequest>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    if state
        .store
        .get_totp(p.tenant, p.user)
        .await?
        .is_some_and(|t| t.confirmed)
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::MFA_ALREADY_ENROLLED,
            "TOTP is already confirmed",
        ));
    }
    if !check_code(&state, &p, &body.code, true).await? {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::MFA_INVALID,
            "the code is wrong",
        ));
    }
    let recovery = totp::generate_recovery_codes(RECOVERY_CODES).map_err(ApiError::internal)?;
    let pepper = state.auth.keys.get();
    let hashes: Vec<String> = recovery
        .iter()
        .map(|c| totp::hash_recovery_code(pepper.hash_salt(), c))
        .collect();
    state
        .store
        .replace_recovery_codes(p.tenant, p.user, &hashes)
        .await?;
    // Sessions opened before enrolment (including a pending-enrolment one)
    // end: the next login goes through the second factor.
    if p.mfa_enrollment_pending {
        state
            .store
            .revoke_user_sessions(p.tenant, p.user, "mfa_enrolled")
            .await?;
    }
    Ok(Json(RecoveryCodes {
        recovery_codes: recovery.iter().map(|c| c.to_string()).collect(),
    }))
}

/// `POST /v1/me/mfa/totp/disable`: needs a current code or a recovery code.
pub async fn disable(
    State(state): State<AppState>,
    EnrollingPrincipal(p): EnrollingPrincipal,
    ValidJson(body): ValidJson<CodeRequest>,
) -> Result<StatusCode, ApiError> {
    let ok = check_code(&state, &p, &body.code, false).await? || {
        let hash = totp::hash_recovery_code(state.auth.keys.get().hash_salt(), &body.code);
        state
            .store
            .use_recovery_code(p.tenant, p.user, &hash, state.clock.now_ms())
            .await?
    };
    if !ok {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            codes::MFA_INVALID,
            "the code is wrong",
        ));
    }
    state.store.delete_totp(p.tenant, p.user).await?;
    Ok(StatusCode::NO_CONTENT)
}
