//! Authentication: the token keys, session issuing, password checks off the
//! async runtime (on [`hashpool::HashPool`]), and the brute-force defences.
//! Handlers in `routes::auth` call into this module; `principal` turns a
//! bearer credential into a [`principal::Principal`].

pub mod hashpool;
pub mod principal;
pub mod throttle;

use std::net::IpAddr;
use std::sync::Arc;

use palisade_core::Uid;
use palisade_crypto::token::{TimeClaims, TokenKeys, hash_bearer_secret, random_secret};
use palisade_store::{KeyringHandle, Session, WriteTx};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::ApiError;
use hashpool::HashPool;

/// Audience of access tokens.
pub const ACCESS_AUDIENCE: &str = "palisade-api";
/// Audience of MFA challenge tokens.
pub const MFA_AUDIENCE: &str = "palisade-mfa";
/// Lifetime of an MFA challenge token, seconds.
pub const MFA_TOKEN_TTL_S: i64 = 300;

/// Tunables of authentication (all in seconds unless named otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// Access-token lifetime.
    pub access_token_ttl_s: i64,
    /// A session unused this long ends.
    pub session_idle_timeout_s: i64,
    /// A session ends this long after login, whatever its use.
    pub session_absolute_timeout_s: i64,
    /// Failed logins per (account, client) before delays start.
    pub login_free_attempts: i64,
    /// Longest delay imposed after repeated failures.
    pub login_max_delay_s: i64,
    /// Failed MFA codes per user before delays start.
    pub mfa_free_attempts: i64,
    /// Requests per minute per client IP on the `/v1/auth/*` endpoints.
    pub auth_requests_per_minute: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            access_token_ttl_s: 15 * 60,
            session_idle_timeout_s: 30 * 60,
            session_absolute_timeout_s: 12 * 3600,
            login_free_attempts: 5,
            login_max_delay_s: 15 * 60,
            mfa_free_attempts: 5,
            auth_requests_per_minute: 60,
        }
    }
}

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer (this installation).
    pub iss: String,
    /// User UID.
    pub sub: String,
    /// Audience.
    pub aud: String,
    /// Tenant UID.
    pub tid: String,
    /// Session UID.
    pub sid: String,
    /// Issued at.
    pub iat: i64,
    /// Expires at.
    pub exp: i64,
    /// Token UID.
    pub jti: String,
    /// Authentication methods.
    pub amr: Vec<String>,
    /// Set while the user must enrol MFA before anything else.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mfa_enroll: bool,
}

impl TimeClaims for AccessClaims {
    fn iat(&self) -> i64 {
        self.iat
    }
    fn exp(&self) -> i64 {
        self.exp
    }
}

/// Claims of an MFA challenge token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MfaClaims {
    /// Issuer.
    pub iss: String,
    /// User UID.
    pub sub: String,
    /// Audience ([`MFA_AUDIENCE`]).
    pub aud: String,
    /// Tenant UID.
    pub tid: String,
    /// Issued at.
    pub iat: i64,
    /// Expires at.
    pub exp: i64,
    /// Token UID.
    pub jti: String,
}

impl TimeClaims for MfaClaims {
    fn iat(&self) -> i64 {
        self.iat
    }
    fn exp(&self) -> i64 {
        self.exp
    }
}

/// Shared authentication state.
pub struct AuthState {
    /// JWT keys.
    pub tokens: TokenKeys,
    /// The keyring (hash salt for peppering and keyed counters).
    pub keys: KeyringHandle,
    /// Tunables.
    pub cfg: AuthConfig,
    /// A hash of a random password with the current parameters: unknown
    /// accounts are checked against it so that timing does not reveal them.
    dummy_hash: Arc<str>,
    /// Where every Argon2 computation runs (one thread per core, lowest
    /// priority, bounded queue).
    hashes: Arc<HashPool>,
    /// Per-client-IP limiter of the auth endpoints.
    pub limiter: throttle::IpLimiter,
    /// Access tokens whose signature was verified, by SHA-256 of the whole
    /// token (signature included, so an entry cannot be forged): verifying
    /// Ed25519 once per token rather than once per request. Time claims
    /// and the session are still checked on every request.
    verified: std::sync::Mutex<std::collections::HashMap<[u8; 32], Arc<AccessClaims>>>,
}

/// Verified tokens kept at most (then the memo starts over).
const VERIFIED_CAPACITY: usize = 16_384;

impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthState")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl AuthState {
    /// Builds the state; computes the dummy hash once on `hashes` (about
    /// one password hash).
    pub async fn new(
        keys: KeyringHandle,
        cfg: AuthConfig,
        hashes: Arc<HashPool>,
    ) -> Result<Self, crate::ServerError> {
        let keyring = keys.get();
        let tokens = TokenKeys::from_keyring(&keyring)
            .map_err(|e| crate::ServerError::Keyring(e.to_string()))?;
        let dummy_pw = random_secret().map_err(|e| crate::ServerError::Keyring(e.to_string()))?;
        let dummy_hash = hashes
            .hash(keyring, SecretString::from(dummy_pw.as_str()))
            .await?
            .into();
        let limiter = throttle::IpLimiter::new(cfg.auth_requests_per_minute);
        Ok(AuthState {
            tokens,
            keys,
            cfg,
            dummy_hash,
            hashes,
            limiter,
            verified: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// Verifies `password` against `stored`, or against the dummy hash when
    /// there is no account (same pool, same cost), on the hashing pool.
    /// A full pool answers `503 password_hashing_busy`.
    pub async fn verify_password(
        &self,
        password: &SecretString,
        stored: Option<&str>,
    ) -> Result<bool, ApiError> {
        let (hash, real) = match stored {
            Some(h) => (Arc::from(h), true),
            None => (Arc::clone(&self.dummy_hash), false),
        };
        let ok = self
            .hashes
            .verify(self.keys.get(), password.clone(), hash)
            .await?;
        Ok(ok && real)
    }

    /// Verifies an access token (signature, `kid`, `alg`, issuer, audience,
    /// time claims) and returns its claims. A token seen before skips the
    /// signature check but not the time checks.
    pub fn verify_access(&self, token: &str, now_s: i64) -> Result<Arc<AccessClaims>, ApiError> {
        use sha2::Digest;
        let key: [u8; 32] = sha2::Sha256::digest(token.as_bytes()).into();
        let cached = self.memo().get(&key).cloned();
        let claims = match cached {
            Some(c) => c,
            None => {
                let c: AccessClaims = self.tokens.verify(token, ACCESS_AUDIENCE, now_s)?;
                let c = Arc::new(c);
                let mut m = self.memo();
                if m.len() >= VERIFIED_CAPACITY {
                    m.clear();
                }
                m.insert(key, Arc::clone(&c));
                c
            }
        };
        // The same time rules as the full verification.
        if claims.exp <= now_s {
            return Err(palisade_crypto::token::TokenError::Expired.into());
        }
        if claims.iat > now_s + palisade_crypto::token::SKEW_S {
            return Err(palisade_crypto::token::TokenError::NotYetValid.into());
        }
        Ok(claims)
    }

    fn memo(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<[u8; 32], Arc<AccessClaims>>> {
        match self.verified.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Hashes a new password on the hashing pool.
    pub async fn hash_password(&self, password: &SecretString) -> Result<String, ApiError> {
        Ok(self.hashes.hash(self.keys.get(), password.clone()).await?)
    }

    /// Keyed hash naming an account for the brute-force counters.
    pub fn account_key(&self, tenant: &str, email: &str) -> String {
        throttle::account_key(self.keys.get().hash_salt(), tenant, email)
    }

    /// Keyed hash naming a client address for the counters.
    pub fn client_key(&self, ip: IpAddr) -> String {
        self.client_key_text(&ip.to_string())
    }

    /// Keyed hash naming a client address (as text) for the counters.
    pub fn client_key_text(&self, ip: &str) -> String {
        palisade_crypto::blind::keyed_hash(
            self.keys.get().hash_salt(),
            &[b"login-client", ip.as_bytes()],
        )
    }

    /// Keyed hash of an attempted login email for audit events: correlates
    /// attempts on one account without storing the address.
    pub fn email_hash(&self, tenant: &str, email: &str) -> String {
        palisade_crypto::blind::keyed_hash(
            self.keys.get().hash_salt(),
            &[
                b"audit-email",
                tenant.as_bytes(),
                palisade_core::model::normalize_email(email).as_bytes(),
            ],
        )
    }

    /// Keyed hash of a tenant name nobody has (audit events of attempts on
    /// unknown tenants keep no attacker-chosen text).
    pub fn name_hash(&self, name: &str) -> String {
        palisade_crypto::blind::keyed_hash(
            self.keys.get().hash_salt(),
            &[b"audit-tenant-name", name.as_bytes()],
        )
    }

    /// Keyed hash naming a user's MFA counter.
    pub fn mfa_key(&self, user: Uid) -> String {
        throttle::mfa_key(self.keys.get().hash_salt(), user)
    }

    /// Signs an access token for `session`.
    pub fn access_token(
        &self,
        session: &Session,
        now_ms: i64,
        mfa_enroll: bool,
    ) -> Result<String, ApiError> {
        let now_s = now_ms / 1000;
        let claims = AccessClaims {
            iss: self.tokens.issuer().to_owned(),
            sub: session.user_uid.to_string(),
            aud: ACCESS_AUDIENCE.to_owned(),
            tid: session.tenant_uid.to_string(),
            sid: session.uid.to_string(),
            iat: now_s,
            exp: now_s + self.cfg.access_token_ttl_s,
            jti: Uid::generate().map_err(ApiError::internal)?.to_string(),
            amr: session.amr.clone(),
            mfa_enroll,
        };
        self.tokens.sign(&claims).map_err(ApiError::internal)
    }

    /// Signs an MFA challenge token.
    pub fn mfa_token(&self, tenant: Uid, user: Uid, now_ms: i64) -> Result<String, ApiError> {
        let now_s = now_ms / 1000;
        self.tokens
            .sign(&MfaClaims {
                iss: self.tokens.issuer().to_owned(),
                sub: user.to_string(),
                aud: MFA_AUDIENCE.to_owned(),
                tid: tenant.to_string(),
                iat: now_s,
                exp: now_s + MFA_TOKEN_TTL_S,
                jti: Uid::generate().map_err(ApiError::internal)?.to_string(),
            })
            .map_err(ApiError::internal)
    }
}

/// Fails unless `session` is live at `now`: not revoked, within its
/// absolute lifetime, and used within the idle timeout.
pub fn check_session_live(session: &Session, now: i64, cfg: &AuthConfig) -> Result<(), ApiError> {
    use palisade_proto::codes;
    if session.revoked_at.is_some() {
        return Err(ApiError::unauthorized(
            codes::SESSION_REVOKED,
            "the session was revoked",
        ));
    }
    if now >= session.expires_at || now - session.last_seen_at > cfg.session_idle_timeout_s * 1000 {
        return Err(ApiError::unauthorized(
            codes::SESSION_EXPIRED,
            "the session has expired",
        ));
    }
    Ok(())
}

/// A new refresh token for `tenant`: `prt.<tenant>.<secret>`, and its hash.
pub fn new_refresh_token(tenant: Uid) -> Result<(SecretString, String), ApiError> {
    let secret = random_secret().map_err(ApiError::internal)?;
    let token = format!("prt.{tenant}.{}", secret.as_str());
    let hash = hash_bearer_secret(&token);
    Ok((SecretString::from(token), hash))
}

/// The tenant named in a refresh token, if it is well formed.
pub fn refresh_token_tenant(token: &SecretString) -> Option<Uid> {
    let mut parts = token.expose_secret().splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("prt"), Some(t), Some(s)) if s.len() == 43 => Uid::parse(t).ok(),
        _ => None,
    }
}

/// Starts a session inside `tx` and answers with its tokens and the
/// session's UID. The caller commits `tx` with the login's audit event
/// before the tokens leave the server.
pub async fn issue_session(
    auth: &AuthState,
    tx: &mut dyn WriteTx,
    now: i64,
    tenant: Uid,
    user: Uid,
    amr: Vec<String>,
    mfa_enroll: bool,
) -> Result<(palisade_proto::auth::LoginResponse, Uid), ApiError> {
    let (refresh, refresh_hash) = new_refresh_token(tenant)?;
    let session = tx
        .create_session(
            tenant,
            user,
            &amr,
            now + auth.cfg.session_absolute_timeout_s * 1000,
            &refresh_hash,
        )
        .await?;
    let access = auth.access_token(&session, now, mfa_enroll)?;
    Ok((
        palisade_proto::auth::LoginResponse {
            access_token: Some(access),
            refresh_token: Some(refresh.expose_secret().to_owned()),
            expires_in: Some(auth.cfg.access_token_ttl_s),
            token_type: Some("Bearer".into()),
            mfa_enrollment_required: mfa_enroll.then_some(true),
            ..Default::default()
        },
        session.uid,
    ))
}
