//! Authentication: a bearer credential becomes a [`Principal`]. The
//! gateway (`crate::gateway`) calls [`authenticate`] for every non-public
//! route and decides the route's permission; handlers get the principal from
//! the gateway. The tenant scope of every call comes from here, never from
//! the request's path or body.
//!
//! Accepted credentials: `Authorization: Bearer <access JWT>` (checked
//! against its session on every request, so a revoked session stops at once)
//! or `Authorization: Bearer pak.<tenant>.<key>.<secret>` (an API key, acting
//! with its owner's permissions).

use axum::http::request::Parts;
use palisade_core::Uid;
use palisade_core::audit::{ActorKind, AuditContext, AuditEntry, Outcome};
use palisade_core::model::UserStatus;
use palisade_core::rbac::Grant;
use palisade_crypto::secret::ct_eq;
use palisade_crypto::token::hash_bearer_secret;
use palisade_proto::codes;
use palisade_store::{ApiKey, StoreError};

use crate::ApiError;
use crate::app::AppState;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Tenant scope of every call.
    pub tenant: Uid,
    /// The user (for API keys: the key's owner).
    pub user: Uid,
    /// The session, for token logins.
    pub session: Option<Uid>,
    /// The API key, for key logins.
    pub api_key: Option<Uid>,
    /// Authentication methods (`pwd`, `otp`, `recovery`, `apikey`).
    pub amr: Vec<String>,
    /// True while the user must enrol MFA before anything else.
    pub mfa_enrollment_pending: bool,
    /// Who and from where, for the audit events of this request.
    pub ctx: AuditContext,
}

impl Principal {
    /// A successful audit event of `action` by this principal in its tenant.
    pub fn entry(&self, action: &str) -> AuditEntry {
        self.ctx.entry(action).tenant(self.tenant)
    }
}

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

async fn user_state(state: &AppState, tenant: Uid, user: Uid) -> Result<(), ApiError> {
    match state.store.user_status(tenant, user).await {
        Ok(UserStatus::Active) => Ok(()),
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

/// Records a refused use of an existing API key (no change; best effort:
/// the caller answers 401 either way).
async fn record_key_refusal(state: &AppState, base: &AuditContext, key: &ApiKey, reason: &str) {
    let ctx = AuditContext {
        actor_kind: ActorKind::ApiKey,
        actor_uid: Some(key.user_uid),
        api_key_uid: Some(key.uid),
        ..base.clone()
    };
    let entry = ctx
        .entry("auth.apikey")
        .tenant(key.tenant_uid)
        .target("apikey", key.uid)
        .outcome(Outcome::Failure)
        .detail("reason", reason);
    if let Err(e) = state.store.record(entry).await {
        tracing::error!(error = %e, "could not record a refused API key use");
    }
}

async fn from_api_key(
    state: &AppState,
    token: &str,
    base: &AuditContext,
) -> Result<(Principal, Vec<Grant>), ApiError> {
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
    let access = match state.store.api_key_access(tenant, key_uid).await {
        Ok(found) => found,
        Err(StoreError::NotFound) => return Err(invalid()),
        Err(e) => return Err(e.into()),
    };
    let (key, stored_hash) = (&access.key, &access.secret_hash);
    if !ct_eq(
        hash_bearer_secret(secret).as_bytes(),
        stored_hash.as_bytes(),
    ) {
        record_key_refusal(state, base, key, codes::API_KEY_INVALID).await;
        return Err(invalid());
    }
    let now = state.clock.now_ms();
    if key.revoked_at.is_some() {
        record_key_refusal(state, base, key, codes::API_KEY_REVOKED).await;
        return Err(ApiError::unauthorized(
            codes::API_KEY_REVOKED,
            "the API key was revoked",
        ));
    }
    if key.expires_at.is_some_and(|e| e <= now) {
        record_key_refusal(state, base, key, codes::API_KEY_EXPIRED).await;
        return Err(ApiError::unauthorized(
            codes::API_KEY_EXPIRED,
            "the API key has expired",
        ));
    }
    if access.status != UserStatus::Active {
        return Err(ApiError::unauthorized(
            codes::USER_DISABLED,
            "the user is disabled",
        ));
    }
    let ctx = AuditContext {
        actor_kind: ActorKind::ApiKey,
        actor_uid: Some(key.user_uid),
        api_key_uid: Some(key_uid),
        session_uid: None,
        ..base.clone()
    };
    // Key use is recorded at most once a minute per key (every change made
    // with the key is recorded in full anyway). The last-use time and the
    // event are written together: a use whose event cannot be written is
    // refused and leaves the time as it was, so the next use records it.
    // Most uses fall within the minute and take no write lock.
    if key.last_used_at.is_none_or(|t| t < now - 60_000) {
        let mut tx = state.store.write(tenant).await?;
        if tx.touch_api_key(tenant, key_uid, now).await? {
            tx.commit(
                ctx.entry("auth.apikey")
                    .tenant(tenant)
                    .target("apikey", key_uid),
            )
            .await?;
        } else {
            tx.rollback().await?;
        }
    }
    Ok((
        Principal {
            tenant,
            user: key.user_uid,
            session: None,
            api_key: Some(key_uid),
            amr: vec!["apikey".into()],
            mfa_enrollment_pending: false,
            ctx,
        },
        access.grants,
    ))
}

async fn from_access_token(
    state: &AppState,
    token: &str,
    base: &AuditContext,
) -> Result<(Principal, Vec<Grant>), ApiError> {
    let now = state.clock.now_ms();
    let claims = state.auth.verify_access(token, now / 1000)?;
    let malformed = || ApiError::unauthorized(codes::TOKEN_MALFORMED, "token claims are malformed");
    let tenant = Uid::parse(&claims.tid).map_err(|_| malformed())?;
    let user = Uid::parse(&claims.sub).map_err(|_| malformed())?;
    let sid = Uid::parse(&claims.sid).map_err(|_| malformed())?;
    let access = match state.store.session_access(tenant, sid).await {
        Ok(found) => found,
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
    let session = &access.session;
    if session.user_uid != user {
        return Err(malformed());
    }
    super::check_session_live(session, now, &state.auth.cfg)?;
    if access.status != UserStatus::Active {
        return Err(ApiError::unauthorized(
            codes::USER_DISABLED,
            "the user is disabled",
        ));
    }
    if now - session.last_seen_at > 60_000 {
        state.store.touch_session(tenant, sid, now).await?;
    }
    Ok((
        Principal {
            tenant,
            user,
            session: Some(sid),
            api_key: None,
            amr: claims.amr.clone(),
            mfa_enrollment_pending: claims.mfa_enroll,
            ctx: base.as_user(user, Some(sid)),
        },
        access.grants,
    ))
}

/// Authenticates the request's bearer credential (an access token checked
/// against its live session, or an API key) and returns the principal with
/// the grants of its user, read in the same query.
pub async fn authenticate(
    parts: &Parts,
    state: &AppState,
) -> Result<(Principal, Vec<Grant>), ApiError> {
    let token = bearer(parts)?;
    let base = crate::audit::request_context(parts);
    if token.starts_with("pak.") {
        from_api_key(state, token, &base).await
    } else {
        from_access_token(state, token, &base).await
    }
}
