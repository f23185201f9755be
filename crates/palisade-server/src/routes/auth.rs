//! `/v1/auth/*` and the JWKS: login, MFA, refresh, logout, password change.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use palisade_core::model::{UserStatus, normalize_email};
use palisade_core::{PasswordPolicy, Uid};
use palisade_proto::auth::{
    LoginRequest, LoginResponse, MfaRequest, PasswordChangeRequest, RefreshRequest,
};
use palisade_proto::codes;
use palisade_store::{RefreshOutcome, StoreError, UserCredentials};
use secrecy::{ExposeSecret, SecretString};

use super::client_ip;
use crate::ApiError;
use crate::app::AppState;
use crate::auth::principal::EnrollingPrincipal;
use crate::auth::throttle::{delay_ms, too_many};
use crate::auth::{
    MFA_AUDIENCE, MfaClaims, issue_session, new_refresh_token, refresh_token_tenant,
};
use crate::json::ValidJson;

const MAX_PASSWORD_BYTES: usize = 4096;

/// Per-client-IP rate limit of the auth endpoints (429 + Retry-After).
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let ip = client_ip(req.extensions());
    match state.auth.limiter.check(ip) {
        Ok(()) => next.run(req).await,
        Err(wait_ms) => {
            tracing::warn!(client_ip = %ip, "auth rate limit exceeded");
            too_many(
                codes::RATE_LIMITED,
                "too many requests; retry later",
                wait_ms,
            )
            .into_response()
        }
    }
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized(
        codes::INVALID_CREDENTIALS,
        "unknown tenant, unknown email or wrong password",
    )
}

fn bounded(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() || value.len() > max {
        return Err(ApiError::invalid(format!(
            "{field} must be 1 to {max} bytes"
        )));
    }
    Ok(())
}

/// The account behind a tenant name and email, if both exist.
async fn find_account(
    state: &AppState,
    tenant_name: &str,
    email: &str,
) -> Result<Option<(Uid, UserCredentials)>, ApiError> {
    let tenant = match state.store.tenant_by_name(tenant_name).await {
        Ok(t) => t,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match state.store.user_by_email(tenant.uid, email).await {
        Ok(c) => Ok(Some((tenant.uid, c))),
        Err(StoreError::NotFound) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Checks tenant, email and password with equal cost whether or not the
/// account exists, under the brute-force counters. Returns the account.
async fn check_password(
    state: &AppState,
    ip: std::net::IpAddr,
    tenant_name: &str,
    email: &str,
    password: &SecretString,
) -> Result<(Uid, UserCredentials), ApiError> {
    let auth = &state.auth;
    let now = state.clock.now_ms();
    let account_key = auth.account_key(tenant_name, email);
    let client_key = auth.client_key(ip);
    let t = state.store.throttle(&account_key, &client_key).await?;
    if t.blocked_until > now {
        return Err(too_many(
            codes::LOGIN_THROTTLED,
            "too many failed attempts from this client; retry later",
            t.blocked_until - now,
        ));
    }
    let account = find_account(state, tenant_name, email).await?;
    let stored = account
        .as_ref()
        .and_then(|(_, c)| c.password_hash.as_deref());
    let ok = auth.verify_password(password, stored).await?;
    match account {
        Some(found) if ok => {
            // Only write when there is a counter to clear.
            if t.failures > 0 {
                state
                    .store
                    .throttle_clear(&account_key, &client_key)
                    .await?;
            }
            Ok(found)
        }
        _ => {
            let (free, max) = (auth.cfg.login_free_attempts, auth.cfg.login_max_delay_s);
            state
                .store
                .throttle_failure(&account_key, &client_key, now, &move |n| {
                    now + delay_ms(n, free, max)
                })
                .await?;
            tracing::info!(client_ip = %ip, "login failed");
            Err(invalid_credentials())
        }
    }
}

/// The password policy stored in a tenant's settings (the default when unset).
fn policy_of(settings: &palisade_store::TenantSecurity) -> Result<PasswordPolicy, ApiError> {
    match &settings.password_policy {
        None => Ok(PasswordPolicy::default()),
        Some(json) => serde_json::from_str(json).map_err(ApiError::internal),
    }
}

async fn tenant_policy(state: &AppState, tenant: Uid) -> Result<PasswordPolicy, ApiError> {
    policy_of(&state.store.security_settings(tenant).await?)
}

/// `POST /v1/auth/login`.
pub async fn login(
    State(state): State<AppState>,
    req_ext: axum::http::Extensions,
    ValidJson(body): ValidJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    bounded("tenant", &body.tenant, 63)?;
    bounded("email", &body.email, 254)?;
    bounded("password", &body.password, MAX_PASSWORD_BYTES)?;
    let ip = client_ip(&req_ext);
    let password = SecretString::from(body.password);
    let (tenant, creds) = check_password(&state, ip, &body.tenant, &body.email, &password).await?;
    let user = creds.user;
    if user.status != UserStatus::Active {
        return Err(ApiError::forbidden(
            codes::ACCOUNT_DISABLED,
            "the account is disabled",
        ));
    }
    // Upgrade the hash when the parameters changed.
    if let Some(h) = creds.password_hash.as_deref()
        && palisade_crypto::password::needs_rehash(h)
    {
        let fresh = state.auth.hash_password(&password).await?;
        state
            .store
            .set_password(tenant, user.uid, &fresh, user.must_change_password)
            .await?;
    }
    let settings = state.store.security_settings(tenant).await?;
    let policy = policy_of(&settings)?;
    let now = state.clock.now_ms();
    let expired = policy.is_expired(user.password_changed_at, now);
    if user.must_change_password || expired {
        let reason = if expired && !user.must_change_password {
            "expired"
        } else if user.password_changed_at == 0 || user.created_at == user.password_changed_at {
            "initial"
        } else {
            "reset"
        };
        return Ok(Json(LoginResponse {
            password_change_required: Some(true),
            reason: Some(reason.into()),
            ..Default::default()
        }));
    }
    let totp = state.store.get_totp(tenant, user.uid).await?;
    if totp.as_ref().is_some_and(|t| t.confirmed) {
        return Ok(Json(LoginResponse {
            mfa_required: Some(true),
            mfa_token: Some(state.auth.mfa_token(tenant, user.uid, now)?),
            ..Default::default()
        }));
    }
    let mfa_enroll = settings.mfa_required;
    let resp = issue_session(
        &state.auth,
        &state.store,
        &state.clock,
        tenant,
        user.uid,
        vec!["pwd".into()],
        mfa_enroll,
    )
    .await?;
    tracing::info!(tenant_uid = %tenant, user_uid = %user.uid, "login");
    Ok(Json(resp))
}

/// `POST /v1/auth/mfa`.
pub async fn mfa(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<MfaRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let now = state.clock.now_ms();
    let claims: MfaClaims = state
        .auth
        .tokens
        .verify(&body.mfa_token, MFA_AUDIENCE, now / 1000)
        .map_err(|_| ApiError::unauthorized(codes::MFA_INVALID, "the MFA token is not valid"))?;
    let invalid = || ApiError::unauthorized(codes::MFA_INVALID, "the MFA token or code is wrong");
    let tenant = Uid::parse(&claims.tid).map_err(|_| invalid())?;
    let user = Uid::parse(&claims.sub).map_err(|_| invalid())?;
    let key = state.auth.mfa_key(user);
    let t = state.store.throttle(&key, "-").await?;
    if t.blocked_until > now {
        return Err(too_many(
            codes::MFA_THROTTLED,
            "too many wrong codes; retry later",
            t.blocked_until - now,
        ));
    }
    let method = match (&body.code, &body.recovery_code) {
        (Some(code), None) => {
            let totp = state
                .store
                .get_totp(tenant, user)
                .await?
                .filter(|t| t.confirmed);
            let secret = totp
                .as_ref()
                .map(|t| palisade_crypto::TotpSecret::from_bytes(t.secret.to_vec()))
                .transpose()
                .map_err(ApiError::internal)?;
            let step = secret.as_ref().and_then(|s| {
                palisade_crypto::totp::verify_code(
                    s,
                    code.trim(),
                    now / 1000,
                    totp.as_ref().and_then(|t| t.last_step),
                )
            });
            match step {
                Some(step)
                    if state
                        .store
                        .accept_totp_step(tenant, user, step, false)
                        .await? =>
                {
                    Some("otp")
                }
                _ => None,
            }
        }
        (None, Some(rc)) => {
            let hash =
                palisade_crypto::totp::hash_recovery_code(state.auth.keys.get().hash_salt(), rc);
            state
                .store
                .use_recovery_code(tenant, user, &hash, now)
                .await?
                .then_some("recovery")
        }
        _ => {
            return Err(ApiError::invalid(
                "send exactly one of code and recoveryCode",
            ));
        }
    };
    let Some(method) = method else {
        let (free, max) = (
            state.auth.cfg.mfa_free_attempts,
            state.auth.cfg.login_max_delay_s,
        );
        state
            .store
            .throttle_failure(&key, "-", now, &move |n| now + delay_ms(n, free, max))
            .await?;
        return Err(invalid());
    };
    state.store.throttle_clear(&key, "-").await?;
    let u = state.store.get_user(tenant, user).await?;
    if u.status != UserStatus::Active {
        return Err(ApiError::forbidden(
            codes::ACCOUNT_DISABLED,
            "the account is disabled",
        ));
    }
    let resp = issue_session(
        &state.auth,
        &state.store,
        &state.clock,
        tenant,
        user,
        vec!["pwd".into(), method.into()],
        false,
    )
    .await?;
    Ok(Json(resp))
}

/// `POST /v1/auth/refresh`: single use, rotated; reuse revokes the session.
pub async fn refresh(
    State(state): State<AppState>,
    ValidJson(body): ValidJson<RefreshRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let presented = SecretString::from(body.refresh_token);
    let invalid =
        || ApiError::unauthorized(codes::REFRESH_INVALID, "the refresh token is not valid");
    let tenant = refresh_token_tenant(&presented).ok_or_else(invalid)?;
    let now = state.clock.now_ms();
    let (next, next_hash) = new_refresh_token(tenant)?;
    let old_hash = palisade_crypto::token::hash_bearer_secret(presented.expose_secret());
    let session = match state
        .store
        .use_refresh_token(tenant, &old_hash, &next_hash, now)
        .await?
    {
        RefreshOutcome::Unknown => return Err(invalid()),
        RefreshOutcome::Reused(s) => {
            tracing::warn!(tenant_uid = %tenant, session_uid = %s.uid, "refresh token reuse: session revoked");
            return Err(ApiError::unauthorized(
                codes::REFRESH_REUSED,
                "this refresh token was already used; the session has been revoked",
            ));
        }
        RefreshOutcome::Rotated(s) => s,
    };
    if let Err(e) = crate::auth::check_session_live(&session, now, &state.auth.cfg) {
        if e.code() == codes::SESSION_EXPIRED {
            let _ = state
                .store
                .revoke_session(tenant, session.uid, "expired")
                .await;
        }
        return Err(e);
    }
    let user = state.store.get_user(tenant, session.user_uid).await?;
    if user.status != UserStatus::Active {
        return Err(ApiError::unauthorized(
            codes::USER_DISABLED,
            "the user is disabled",
        ));
    }
    let access = state.auth.access_token(&session, now, false)?;
    Ok(Json(LoginResponse {
        access_token: Some(access),
        refresh_token: Some(next.expose_secret().to_owned()),
        expires_in: Some(state.auth.cfg.access_token_ttl_s),
        token_type: Some("Bearer".into()),
        ..Default::default()
    }))
}

/// `POST /v1/auth/logout`: ends the caller's session.
pub async fn logout(
    State(state): State<AppState>,
    EnrollingPrincipal(p): EnrollingPrincipal,
) -> Result<StatusCode, ApiError> {
    let Some(sid) = p.session else {
        return Err(ApiError::invalid(
            "an API key has no session to end; revoke the key instead",
        ));
    };
    state.store.revoke_session(p.tenant, sid, "logout").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks a new password against the tenant's policy and the user's history.
pub async fn check_new_password(
    state: &AppState,
    tenant: Uid,
    user: &palisade_core::model::User,
    current_hash: Option<&str>,
    new: &SecretString,
) -> Result<(), ApiError> {
    let policy = tenant_policy(state, tenant).await?;
    let tenant_name = state.store.get_tenant(tenant).await?.name;
    let email = normalize_email(&user.email);
    let local = email.split('@').next().unwrap_or("").to_owned();
    let context = [email.clone(), local, user.display_name.clone(), tenant_name];
    let candidate = new.clone();
    let checker = policy.clone();
    let checked = tokio::task::spawn_blocking(move || {
        let words: Vec<&str> = context.iter().map(String::as_str).collect();
        checker.check(candidate.expose_secret(), &words)
    })
    .await
    .map_err(ApiError::internal)?;
    if let Err(v) = checked {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            v.code(),
            v.to_string(),
        ));
    }
    // No reuse of the current password or the last `history` ones.
    let mut previous: Vec<String> = current_hash.map(str::to_owned).into_iter().collect();
    if policy.history > 0 {
        previous.extend(
            state
                .store
                .password_history(tenant, user.uid, policy.history)
                .await?,
        );
    }
    for h in &previous {
        if state.auth.verify_password(new, Some(h)).await? {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                codes::PASSWORD_REUSED,
                "choose a password you have not used recently",
            ));
        }
    }
    Ok(())
}

/// `POST /v1/auth/password`: also works when the password has expired or
/// must be changed. Ends every session of the user.
pub async fn change_password(
    State(state): State<AppState>,
    req_ext: axum::http::Extensions,
    ValidJson(body): ValidJson<PasswordChangeRequest>,
) -> Result<StatusCode, ApiError> {
    bounded("tenant", &body.tenant, 63)?;
    bounded("email", &body.email, 254)?;
    bounded(
        "currentPassword",
        &body.current_password,
        MAX_PASSWORD_BYTES,
    )?;
    bounded("newPassword", &body.new_password, MAX_PASSWORD_BYTES)?;
    let ip = client_ip(&req_ext);
    let current = SecretString::from(body.current_password);
    let new = SecretString::from(body.new_password);
    let (tenant, creds) = check_password(&state, ip, &body.tenant, &body.email, &current).await?;
    if creds.user.status != UserStatus::Active {
        return Err(ApiError::forbidden(
            codes::ACCOUNT_DISABLED,
            "the account is disabled",
        ));
    }
    check_new_password(
        &state,
        tenant,
        &creds.user,
        creds.password_hash.as_deref(),
        &new,
    )
    .await?;
    let hash = state.auth.hash_password(&new).await?;
    if let Some(old) = creds.password_hash.as_deref() {
        state
            .store
            .push_password_history(tenant, creds.user.uid, old)
            .await?;
    }
    state
        .store
        .set_password(tenant, creds.user.uid, &hash, false)
        .await?;
    state
        .store
        .revoke_user_sessions(tenant, creds.user.uid, "password_change")
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /.well-known/jwks.json`.
pub async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.auth.tokens.jwks())
}
