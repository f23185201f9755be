//! The authenticated caller. `Principal` (and `AdminPrincipal`) are axum
//! extractors: a handler that takes one is authenticated, one that takes
//! neither is public. The tenant scope of every call comes from here, never
//! from the request's path or body.
//!
//! Accepted credentials: `Authorization: Bearer <access JWT>` (checked
//! against its session on every request, so a revoked session stops at once)
//! or `Authorization: Bearer pak.<tenant>.<key>.<secret>` (an API key, acting
//! with its owner's permissions).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use palisade_core::Uid;
use palisade_core::model::{UserRole, UserStatus};
use palisade_crypto::secret::ct_eq;
use palisade_crypto::token::hash_bearer_secret;
use palisade_proto::codes;
use palisade_store::StoreError;

use super::{ACCESS_AUDIENCE, AccessClaims};
use crate::ApiError;
use crate::app::AppState;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Tenant scope of every call.
    pub tenant: Uid,
    /// The user (for API keys: the key's owner).
    pub user: Uid,
    /// The user's role.
    pub role: UserRole,
    /// The session, for token logins.
    pub session: Option<Uid>,
    /// The API key, for key logins.
    pub api_key: Option<Uid>,
    /// Authentication methods (`pwd`, `otp`, `recovery`, `apikey`).
    pub amr: Vec<String>,
    /// True while the user must enrol MFA before anything else.
    pub mfa_enrollment_pending: bool,
}

/// A principal still allowed to reach only the MFA enrolment endpoints.
#[derive(Debug, Clone)]
pub struct EnrollingPrincipal(pub Principal);

/// A principal with the tenant-admin role.
#[derive(Debug, Clone)]
pub struct AdminPrincipal(pub Principal);

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthorized(codes::TOKEN_MISSING, "no Authorization header"))?;
    let text = value
        .to_str()
        .map_err(|_| ApiError::unauthorized(codes::TOKEN_MALFORMED, "Authorization is not text"))?;
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
            Ok(token.trim())
        }
        _ => Err(ApiError::unauthorized(
            codes::TOKEN_MALFORMED,
            "expected Authorization: Bearer <token>",
        )),
    }
}

async fn user_state(state: &AppState, tenant: Uid, user: Uid) -> Result<UserRole, ApiError> {
    match state.store.get_user(tenant, user).await {
        Ok(u) if u.status == UserStatus::Active => Ok(u.role),
        Ok(_) => Err(ApiError::unauthorized(
            codes::USER_DISABLED,
            "the user is disabled",
        )),
        Err(StoreError::NotFound) => Err(ApiError::unauthorized(
            codes::USER_UNKNOWN,
            "the token's user no longer exists",
        )),
        Err(e) => Err(e.into()),
    }
}

async fn from_api_key(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let invalid = || ApiError::unauthorized(codes::API_KEY_INVALID, "the API key is not valid");
    let mut parts = token.splitn(4, '.');
    let (Some("pak"), Some(t), Some(k), Some(secret)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let (tenant, key_uid) = match (Uid::parse(t), Uid::parse(k)) {
        (Ok(t), Ok(k)) => (t, k),
        _ => return Err(invalid()),
    };
    let (key, stored_hash) = match state.store.api_key_for_auth(tenant, key_uid).await {
        Ok(found) => found,
        Err(StoreError::NotFound) => return Err(invalid()),
        Err(e) => return Err(e.into()),
    };
    if !ct_eq(
        hash_bearer_secret(secret).as_bytes(),
        stored_hash.as_bytes(),
    ) {
        return Err(invalid());
    }
    let now = state.clock.now_ms();
    if key.revoked_at.is_some() {
        return Err(ApiError::unauthorized(
            codes::API_KEY_REVOKED,
            "the API key was revoked",
        ));
    }
    if key.expires_at.is_some_and(|e| e <= now) {
        return Err(ApiError::unauthorized(
            codes::API_KEY_EXPIRED,
            "the API key has expired",
        ));
    }
    let role = user_state(state, tenant, key.user_uid).await?;
    state.store.touch_api_key(tenant, key_uid, now).await?;
    Ok(Principal {
        tenant,
        user: key.user_uid,
        role,
        session: None,
        api_key: Some(key_uid),
        amr: vec!["apikey".into()],
        mfa_enrollment_pending: false,
    })
}

async fn from_access_token(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let now = state.clock.now_ms();
    let claims: AccessClaims = state
        .auth
        .tokens
        .verify(token, ACCESS_AUDIENCE, now / 1000)?;
    let malformed = || ApiError::unauthorized(codes::TOKEN_MALFORMED, "token claims are malformed");
    let tenant = Uid::parse(&claims.tid).map_err(|_| malformed())?;
    let user = Uid::parse(&claims.sub).map_err(|_| malformed())?;
    let sid = Uid::parse(&claims.sid).map_err(|_| malformed())?;
    let session = match state.store.get_session(tenant, sid).await {
        Ok(s) => s,
        Err(StoreError::NotFound) => {
            // Sessions go with their user: name the more specific cause.
            user_state(state, tenant, user).await?;
            return Err(ApiError::unauthorized(
                codes::SESSION_REVOKED,
                "the session no longer exists",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    if session.user_uid != user {
        return Err(malformed());
    }
    super::check_session_live(&session, now, &state.auth.cfg)?;
    let role = user_state(state, tenant, user).await?;
    if now - session.last_seen_at > 60_000 {
        state.store.touch_session(tenant, sid, now).await?;
    }
    Ok(Principal {
        tenant,
        user,
        role,
        session: Some(sid),
        api_key: None,
        amr: claims.amr,
        mfa_enrollment_pending: claims.mfa_enroll,
    })
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let token = bearer(parts)?;
    let principal = if token.starts_with("pak.") {
        from_api_key(state, token).await?
    } else {
        from_access_token(state, token).await?
    };
    tracing::Span::current().record("tenant_uid", tracing::field::display(principal.tenant));
    Ok(principal)
}

impl FromRequestParts<AppState> for EnrollingPrincipal {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state).await.map(EnrollingPrincipal)
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let p = authenticate(parts, state).await?;
        if p.mfa_enrollment_pending {
            return Err(ApiError::forbidden(
                codes::MFA_ENROLLMENT_REQUIRED,
                "this tenant requires MFA: enrol at /v1/me/mfa/totp first",
            ));
        }
        Ok(p)
    }
}

impl FromRequestParts<AppState> for AdminPrincipal {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let p = Principal::from_request_parts(parts, state).await?;
        if p.role != UserRole::TenantAdmin {
            return Err(ApiError::forbidden(
                codes::FORBIDDEN,
                "this needs the tenant-admin role",
            ));
        }
        Ok(AdminPrincipal(p))
    }
}
