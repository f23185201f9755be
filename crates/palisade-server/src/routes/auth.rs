//! `/v1/auth/*` and the JWKS: login, MFA, refresh, logout, password change.

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use palisade_core::audit::{AuditContext, AuditEntry, Outcome};
use palisade_core::model::{UserStatus, normalize_email};
use palisade_core::{PasswordPolicy, Uid};
use palisade_proto::auth::{
    LoginRequest, LoginResponse, MfaRequest, PasswordChangeRequest, RefreshRequest,
};
use palisade_proto::codes;
use palisade_store::{LoginAccount, RefreshOutcome, TenantSecurity, Throttle};
use secrecy::{ExposeSecret, SecretString};

use crate::ApiError;
use crate::app::AppState;
use crate::audit::RequestContext;
use crate::auth::throttle::{delay_ms, too_many};
use crate::auth::{
    MFA_AUDIENCE, MfaClaims, issue_session, new_refresh_token, refresh_token_tenant,
};
use crate::gateway::client_ip;
use crate::json::{Json, NoContent, ValidJson};

use palisade_proto::auth::{
    MAX_CODE_CHARS, MAX_EMAIL_CHARS, MAX_PASSWORD_CHARS, MAX_TENANT_CHARS, MAX_TOKEN_CHARS,
};

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

/// Checks that `value` has 1 to `max` characters (as the API document's
/// `maxLength` counts them).
pub(crate) fn bounded(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    if value.is_empty() || value.chars().nth(max).is_some() {
        return Err(ApiError::invalid(format!(
            "{field} must be 1 to {max} characters"
        )));
    }
    Ok(())
}

/// A checked password: the account, its tenant's settings, and its
/// brute-force counter as it was.
struct Checked {
    tenant: Uid,
    account: LoginAccount,
    settings: TenantSecurity,
    throttle: Throttle,
    account_key: String,
    client_key: String,
}

/// Checks tenant, email and password with equal cost whether or not the
/// account exists, under the brute-force counters. A failure is counted and
/// recorded as `action` (or `auth.lockout` when it starts a lockout) in one
/// transaction, in the tenant's log (the platform's for an unknown tenant).
async fn check_password(
    state: &AppState,
    ctx: &AuditContext,
    tenant_name: &str,
    email: &str,
    password: &SecretString,
    action: &str,
) -> Result<Checked, ApiError> {
    let auth = &state.auth;
    let now = state.clock.now_ms();
    let ip = ctx.client_ip.as_deref().unwrap_or("-");
    let account_key = auth.account_key(tenant_name, email);
    let client_key = auth.client_key_text(ip);
    let found = state
        .store
        .login_state(tenant_name, email, &account_key, &client_key)
        .await?;
    let t = found.throttle;
    if t.blocked_until > now {
        return Err(too_many(
            codes::LOGIN_THROTTLED,
            "too many failed attempts from this client; retry later",
            t.blocked_until - now,
        ));
    }
    let tenant = found.tenant;
    let stored = found
        .account
        .as_ref()
        .and_then(|a| a.password_hash.as_deref());
    let ok = auth.verify_password(password, stored).await?;
    if let (Some(tenant), Some(account), true) = (tenant, found.account, ok) {
        return Ok(Checked {
            tenant,
            account,
            settings: found.settings,
            throttle: t,
            account_key,
            client_key,
        });
    }
    let (free, max) = (auth.cfg.login_free_attempts, auth.cfg.login_max_delay_s);
    let mut tx = state.store.write_platform().await?;
    let counted = tx
        .throttle_failure(&account_key, &client_key, now, &move |n| {
            now + delay_ms(n, free, max)
        })
        .await?;
    let locked = counted.blocked_until > now && t.blocked_until <= now;
    let mut entry = ctx
        .entry(if locked { "auth.lockout" } else { action })
        .tenant(tenant.unwrap_or(state.platform_tenant))
        .outcome(if locked {
            Outcome::Denied
        } else {
            Outcome::Failure
        })
        .detail("reason", codes::INVALID_CREDENTIALS)
        .detail("emailHash", auth.email_hash(tenant_name, email))
        .detail("failures", counted.failures);
    entry = match tenant {
        Some(_) => entry.detail("tenantName", tenant_name),
        None => entry.detail("tenantHash", auth.name_hash(tenant_name)),
    };
    if locked {
        entry = entry
            .detail("failedAction", action)
            .detail("blockedUntil", counted.blocked_until);
    }
    tx.commit(entry).await?;
    tracing::info!(client_ip = %ip, "login failed");
    Err(invalid_credentials())
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

/// Records a refused step of an otherwise correct login (no change).
async fn refused(state: &AppState, entry: AuditEntry, err: ApiError) -> ApiError {
    let entry = entry.outcome(Outcome::Failure).detail("reason", err.code());
    if let Err(e) = state.store.record(entry).await {
        return e.into();
    }
    err.recorded()
}

/// `POST /v1/auth/login`.
pub async fn login(
    State(state): State<AppState>,
    RequestContext(ctx): RequestContext,
    ValidJson(body): ValidJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    bounded("tenant", &body.tenant, MAX_TENANT_CHARS)?;
    bounded("email", &body.email, MAX_EMAIL_CHARS)?;
    bounded("password", &body.password, MAX_PASSWORD_CHARS)?;
    let password = SecretString::from(body.password);
    let c = check_password(
        &state,
        &ctx,
        &body.tenant,
        &body.email,
        &password,
        "auth.login",
    )
    .await?;
    let (tenant, user) = (c.tenant, &c.account);
    let ctx = ctx.as_user(user.uid, None);
    let entry = ctx
        .entry("auth.login")
        .tenant(tenant)
        .target("user", user.uid);
    if user.status != UserStatus::Active {
        let err = ApiError::forbidden(codes::ACCOUNT_DISABLED, "the account is disabled");
        return Err(refused(&state, entry, err).await);
    }
    // Upgrade the hash when the parameters changed (hashed before the
    // transaction: no write lock is held across Argon2).
    let rehash = match user.password_hash.as_deref() {
        Some(h) if palisade_crypto::password::needs_rehash(h) => {
            Some(state.auth.hash_password(&password).await?)
        }
        _ => None,
    };
    let settings = &c.settings;
    let policy = policy_of(settings)?;
    let now = state.clock.now_ms();
    let expired = policy.is_expired(user.password_changed_at, now);
    let mut tx = state.store.write(tenant).await?;
    if c.throttle.failures > 0 {
        tx.throttle_clear(&c.account_key, &c.client_key).await?;
    }
    if let Some(fresh) = &rehash {
        tx.set_password(tenant, user.uid, fresh, user.must_change_password)
            .await?;
    }
    let entry = entry.detail("rehashed", rehash.is_some());
    if user.must_change_password || expired {
        let reason = if expired && !user.must_change_password {
            "expired"
        } else if user.password_changed_at == 0 || user.created_at == user.password_changed_at {
            "initial"
        } else {
            "reset"
        };
        tx.commit(
            entry
                .detail("next", "password-change")
                .detail("why", reason),
        )
        .await?;
        return Ok(Json(LoginResponse {
            password_change_required: Some(true),
            reason: Some(reason.into()),
            ..Default::default()
        }));
    }
    if user.totp_confirmed {
        let mfa_token = state.auth.mfa_token(tenant, user.uid, now)?;
        tx.commit(entry.detail("next", "mfa")).await?;
        return Ok(Json(LoginResponse {
            mfa_required: Some(true),
            mfa_token: Some(mfa_token),
            ..Default::default()
        }));
    }
    let mfa_enroll = settings.mfa_required;
    let (resp, session) = issue_session(
        &state.auth,
        &mut *tx,
        now,
        tenant,
        user.uid,
        vec!["pwd".into()],
        mfa_enroll,
    )
    .await?;
    let ctx = ctx.as_user(user.uid, Some(session));
    tx.commit(
        ctx.entry("auth.login")
            .tenant(tenant)
            .target("session", session)
            .detail("amr", "pwd")
            .detail("rehashed", rehash.is_some())
            .detail("mfaEnrollmentRequired", mfa_enroll),
    )
    .await?;
    tracing::info!(tenant_uid = %tenant, user_uid = %user.uid, "login");
    Ok(Json(resp))
}

/// `POST /v1/auth/mfa`.
pub async fn mfa(
    State(state): State<AppState>,
    RequestContext(ctx): RequestContext,
    ValidJson(body): ValidJson<MfaRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    bounded("mfaToken", &body.mfa_token, MAX_TOKEN_CHARS)?;
    for (field, code) in [("code", &body.code), ("recoveryCode", &body.recovery_code)] {
        if let Some(c) = code {
            bounded(field, c, MAX_CODE_CHARS)?;
        }
    }
    let now = state.clock.now_ms();
    let claims: MfaClaims = state
        .auth
        .tokens
        .verify(&body.mfa_token, MFA_AUDIENCE, now / 1000)
        .map_err(|_| ApiError::unauthorized(codes::MFA_INVALID, "the MFA token is not valid"))?;
    let invalid = || ApiError::unauthorized(codes::MFA_INVALID, "the MFA token or code is wrong");
    let tenant = Uid::parse(&claims.tid).map_err(|_| invalid())?;
    let user = Uid::parse(&claims.sub).map_err(|_| invalid())?;
    let ctx = ctx.as_user(user, None);
    let key = state.auth.mfa_key(user);
    let t = state.store.throttle(&key, "-").await?;
    if t.blocked_until > now {
        return Err(too_many(
            codes::MFA_THROTTLED,
            "too many wrong codes; retry later",
            t.blocked_until - now,
        ));
    }
    let totp = match (&body.code, &body.recovery_code) {
        (Some(_), None) => state
            .store
            .get_totp(tenant, user)
            .await?
            .filter(|t| t.confirmed),
        (None, Some(_)) => None,
        _ => {
            return Err(ApiError::invalid(
                "send exactly one of code and recoveryCode",
            ));
        }
    };
    // Read before the write transaction: no pool read while it holds the
    // write lock.
    let u = state.store.get_user(tenant, user).await?;
    let mut tx = state.store.write(tenant).await?;
    let method = match (&body.code, &body.recovery_code) {
        (Some(code), _) => {
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
                Some(step) if tx.accept_totp_step(tenant, user, step, false).await? => Some("otp"),
                _ => None,
            }
        }
        (None, Some(rc)) => {
            let hash =
                palisade_crypto::totp::hash_recovery_code(state.auth.keys.get().hash_salt(), rc);
            tx.use_recovery_code(tenant, user, &hash, now)
                .await?
                .then_some("recovery")
        }
        (None, None) => None,
    };
    let entry = ctx.entry("auth.mfa").tenant(tenant).target("user", user);
    let Some(method) = method else {
        let (free, max) = (
            state.auth.cfg.mfa_free_attempts,
            state.auth.cfg.login_max_delay_s,
        );
        let counted = tx
            .throttle_failure(&key, "-", now, &move |n| now + delay_ms(n, free, max))
            .await?;
        tx.commit(
            entry
                .outcome(Outcome::Failure)
                .detail("reason", codes::MFA_INVALID)
                .detail("failures", counted.failures),
        )
        .await?;
        return Err(invalid());
    };
    if t.failures > 0 {
        tx.throttle_clear(&key, "-").await?;
    }
    if u.status != UserStatus::Active {
        drop(tx);
        let err = ApiError::forbidden(codes::ACCOUNT_DISABLED, "the account is disabled");
        return Err(refused(&state, entry, err).await);
    }
    let amr = vec!["pwd".to_owned(), method.to_owned()];
    let (resp, session) =
        issue_session(&state.auth, &mut *tx, now, tenant, user, amr, false).await?;
    let ctx = ctx.as_user(user, Some(session));
    tx.commit(
        ctx.entry("auth.mfa")
            .tenant(tenant)
            .target("session", session)
            .detail("method", method),
    )
    .await?;
    Ok(Json(resp))
}

/// `POST /v1/auth/refresh`: single use, rotated; reuse revokes the session.
pub async fn refresh(
    State(state): State<AppState>,
    RequestContext(ctx): RequestContext,
    ValidJson(body): ValidJson<RefreshRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    bounded("refreshToken", &body.refresh_token, MAX_TOKEN_CHARS)?;
    let presented = SecretString::from(body.refresh_token);
    let invalid =
        || ApiError::unauthorized(codes::REFRESH_INVALID, "the refresh token is not valid");
    let tenant = refresh_token_tenant(&presented).ok_or_else(invalid)?;
    let now = state.clock.now_ms();
    let (next, next_hash) = new_refresh_token(tenant)?;
    let old_hash = palisade_crypto::token::hash_bearer_secret(presented.expose_secret());
    let mut tx = state.store.write(tenant).await?;
    let session = match tx
        .use_refresh_token(tenant, &old_hash, &next_hash, now)
        .await?
    {
        RefreshOutcome::Unknown => return Err(invalid()),
        RefreshOutcome::Reused(s) => {
            tracing::warn!(tenant_uid = %tenant, session_uid = %s.uid, "refresh token reuse: session revoked");
            tx.commit(
                ctx.as_user(s.user_uid, Some(s.uid))
                    .entry("auth.refresh-reuse")
                    .target("session", s.uid)
                    .outcome(Outcome::Denied)
                    .detail("sessionRevoked", true),
            )
            .await?;
            return Err(ApiError::unauthorized(
                codes::REFRESH_REUSED,
                "this refresh token was already used; the session has been revoked",
            ));
        }
        RefreshOutcome::Rotated(s) => s,
    };
    let ctx = ctx.as_user(session.user_uid, Some(session.uid));
    let entry = ctx.entry("auth.refresh").target("session", session.uid);
    if let Err(e) = crate::auth::check_session_live(&session, now, &state.auth.cfg) {
        if e.code() == codes::SESSION_EXPIRED {
            tx.revoke_session(tenant, session.uid, "expired").await?;
            tx.commit(
                entry
                    .outcome(Outcome::Failure)
                    .detail("reason", codes::SESSION_EXPIRED)
                    .detail("sessionRevoked", true),
            )
            .await?;
        }
        return Err(e);
    }
    // Inside the transaction: no pool read while it holds the write lock.
    if tx.user_status(tenant, session.user_uid).await? != UserStatus::Active {
        return Err(ApiError::unauthorized(
            codes::USER_DISABLED,
            "the user is disabled",
        ));
    }
    let access = state.auth.access_token(&session, now, false)?;
    tx.commit(entry).await?;
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
    p: crate::auth::principal::Principal,
) -> Result<NoContent, ApiError> {
    let Some(sid) = p.session else {
        return Err(ApiError::forbidden(
            codes::FORBIDDEN,
            "an API key has no session to end; revoke the key instead",
        ));
    };
    let mut tx = state.store.write(p.tenant).await?;
    tx.revoke_session(p.tenant, sid, "logout").await?;
    tx.commit(p.entry("auth.logout").target("session", sid))
        .await?;
    Ok(NoContent)
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
    RequestContext(ctx): RequestContext,
    ValidJson(body): ValidJson<PasswordChangeRequest>,
) -> Result<NoContent, ApiError> {
    bounded("tenant", &body.tenant, MAX_TENANT_CHARS)?;
    bounded("email", &body.email, MAX_EMAIL_CHARS)?;
    bounded(
        "currentPassword",
        &body.current_password,
        MAX_PASSWORD_CHARS,
    )?;
    bounded("newPassword", &body.new_password, MAX_PASSWORD_CHARS)?;
    let current = SecretString::from(body.current_password);
    let new = SecretString::from(body.new_password);
    let c = check_password(
        &state,
        &ctx,
        &body.tenant,
        &body.email,
        &current,
        "auth.password-change",
    )
    .await?;
    let tenant = c.tenant;
    let user = state.store.get_user(tenant, c.account.uid).await?;
    let user = &user;
    let ctx = ctx.as_user(user.uid, None);
    let entry = ctx
        .entry("auth.password-change")
        .tenant(tenant)
        .target("user", user.uid);
    if user.status != UserStatus::Active {
        let err = ApiError::forbidden(codes::ACCOUNT_DISABLED, "the account is disabled");
        return Err(refused(&state, entry, err).await);
    }
    if let Err(err) = check_new_password(
        &state,
        tenant,
        user,
        c.account.password_hash.as_deref(),
        &new,
    )
    .await
    {
        if err.status().is_client_error() {
            return Err(refused(&state, entry, err).await);
        }
        return Err(err);
    }
    let hash = state.auth.hash_password(&new).await?;
    let mut tx = state.store.write(tenant).await?;
    if c.throttle.failures > 0 {
        tx.throttle_clear(&c.account_key, &c.client_key).await?;
    }
    if let Some(old) = c.account.password_hash.as_deref() {
        tx.push_password_history(tenant, user.uid, old).await?;
    }
    tx.set_password(tenant, user.uid, &hash, false).await?;
    let n = tx
        .revoke_user_sessions(tenant, user.uid, "password_change")
        .await?;
    tx.commit(entry.detail("sessionsRevoked", n)).await?;
    Ok(NoContent)
}

/// `GET /.well-known/jwks.json`.
pub async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.auth.tokens.jwks())
}
