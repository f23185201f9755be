//! `/v1/me/mfa/totp`: enrol (otpauth URI and QR code), confirm with a first
//! code (which returns ten single-use recovery codes), disable with a code.
//! Reachable while a tenant's MFA requirement is still pending.

use axum::extract::State;
use axum::http::StatusCode;
use palisade_crypto::TotpSecret;
use palisade_crypto::totp;
use palisade_proto::auth::{CodeRequest, MAX_CODE_CHARS, RecoveryCodes, TotpEnrolment};
use palisade_proto::codes;

use crate::ApiError;
use crate::app::AppState;
use crate::auth::principal::Principal;
use crate::json::{Created, Json, NoContent, ValidJson};
use palisade_core::audit::Outcome;
use palisade_store::{TotpRecord, WriteTx};

/// Number of recovery codes issued at confirmation.
pub const RECOVERY_CODES: usize = 10;

/// `POST /v1/me/mfa/totp`.
pub async fn enrol(
    State(state): State<AppState>,
    p: Principal,
) -> Result<Created<TotpEnrolment>, ApiError> {
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
    let mut tx = state.store.write(p.tenant).await?;
    tx.put_totp(p.tenant, p.user, secret.expose()).await?;
    tx.commit(p.entry("mfa.enrol").target("user", p.user))
        .await?;
    let uri = totp::otpauth_uri(&secret, &format!("Palisade {}", tenant.name), &user.email)
        .map_err(ApiError::internal)?;
    let qr_svg = totp::qr_svg(&uri).map_err(ApiError::internal)?;
    Ok(Created(TotpEnrolment {
        otpauth_uri: uri.to_string(),
        secret: secret.to_base32().to_string(),
        qr_svg,
    }))
}

/// The caller's TOTP enrolment, read before any write transaction opens
/// (a read through the pool while holding the write lock could wait on
/// connections that themselves wait for that lock).
async fn enrolment(state: &AppState, p: &Principal) -> Result<TotpRecord, ApiError> {
    state
        .store
        .get_totp(p.tenant, p.user)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                codes::MFA_NOT_ENROLLED,
                "no TOTP enrolment",
            )
        })
}

/// Checks `code` (a current TOTP code, or when `recovery` a recovery code)
/// against enrolment `t` inside `tx`, consuming the step or the code. False
/// when wrong or replayed.
async fn check_code(
    state: &AppState,
    tx: &mut dyn WriteTx,
    t: &TotpRecord,
    p: &Principal,
    code: &str,
    confirm: bool,
    recovery: bool,
) -> Result<bool, ApiError> {
    let secret = TotpSecret::from_bytes(t.secret.to_vec()).map_err(ApiError::internal)?;
    let now = state.clock.now_ms();
    if let Some(step) = totp::verify_code(&secret, code.trim(), now / 1000, t.last_step)
        && tx.accept_totp_step(p.tenant, p.user, step, confirm).await?
    {
        return Ok(true);
    }
    if recovery {
        let hash = totp::hash_recovery_code(state.auth.keys.get().hash_salt(), code);
        return Ok(tx.use_recovery_code(p.tenant, p.user, &hash, now).await?);
    }
    Ok(false)
}

/// Answers a wrong code: records the failed attempt, then 403 (the request
/// is well formed; the proof it carries is refused).
async fn wrong_code(state: &AppState, p: &Principal, action: &str) -> ApiError {
    let entry = p
        .entry(action)
        .target("user", p.user)
        .outcome(Outcome::Failure)
        .detail("reason", codes::MFA_INVALID);
    if let Err(e) = state.store.record(entry).await {
        return e.into();
    }
    ApiError::new(
        StatusCode::FORBIDDEN,
        codes::MFA_INVALID,
        "the code is wrong",
    )
}

/// `POST /v1/me/mfa/totp/confirm`: the first code turns the enrolment on.
pub async fn confirm(
    State(state): State<AppState>,
    p: Principal,
    ValidJson(body): ValidJson<CodeRequest>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    super::auth::bounded("code", &body.code, MAX_CODE_CHARS)?;
    let t = enrolment(&state, &p).await?;
    if t.confirmed {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            codes::MFA_ALREADY_ENROLLED,
            "TOTP is already confirmed",
        ));
    }
    let recovery = totp::generate_recovery_codes(RECOVERY_CODES).map_err(ApiError::internal)?;
    let pepper = state.auth.keys.get();
    let hashes: Vec<String> = recovery
        .iter()
        .map(|c| totp::hash_recovery_code(pepper.hash_salt(), c))
        .collect();
    let mut tx = state.store.write(p.tenant).await?;
    if !check_code(&state, &mut *tx, &t, &p, &body.code, true, false).await? {
        drop(tx);
        return Err(wrong_code(&state, &p, "mfa.confirm").await);
    }
    tx.replace_recovery_codes(p.tenant, p.user, &hashes).await?;
    // Sessions opened before enrolment (including a pending-enrolment one)
    // end: the next login goes through the second factor.
    let revoked = if p.mfa_enrollment_pending {
        tx.revoke_user_sessions(p.tenant, p.user, "mfa_enrolled")
            .await?
    } else {
        0
    };
    tx.commit(
        p.entry("mfa.confirm")
            .target("user", p.user)
            .detail("recoveryCodes", RECOVERY_CODES)
            .detail("sessionsRevoked", revoked),
    )
    .await?;
    Ok(Json(RecoveryCodes {
        recovery_codes: recovery.iter().map(|c| c.to_string()).collect(),
    }))
}

/// `POST /v1/me/mfa/totp/disable`: needs a current code or a recovery code.
pub async fn disable(
    State(state): State<AppState>,
    p: Principal,
    ValidJson(body): ValidJson<CodeRequest>,
) -> Result<NoContent, ApiError> {
    super::auth::bounded("code", &body.code, MAX_CODE_CHARS)?;
    let t = enrolment(&state, &p).await?;
    let mut tx = state.store.write(p.tenant).await?;
    if !check_code(&state, &mut *tx, &t, &p, &body.code, false, true).await? {
        drop(tx);
        return Err(wrong_code(&state, &p, "mfa.disable").await);
    }
    tx.delete_totp(p.tenant, p.user).await?;
    tx.commit(p.entry("mfa.disable").target("user", p.user))
        .await?;
    Ok(NoContent)
}
