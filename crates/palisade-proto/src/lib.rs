//! Wire types of the Palisade API: request and response bodies and the
//! stable error codes. No I/O and no framework types.
#![warn(missing_docs)]

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub mod audit;
pub mod auth;
pub mod fields;
pub mod resources;

/// The one error shape of the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Stable `snake_case` code (see [`codes`]).
    pub code: String,
    /// Human-readable message; never contains secrets.
    pub message: String,
    /// The request's UID, also in the `X-Request-Uid` header.
    #[schemars(with = "palisade_core::Uid")]
    pub request_uid: String,
}

/// Body of `/healthz` and `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `ok` (healthz) or `ready` (readyz).
    #[schemars(extend("enum" = ["ok", "ready"]))]
    pub status: String,
    /// The tenant bus (readyz, when the server runs with `--bus`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus: Option<BusHealth>,
}

/// The tenant bus as `/readyz` reports it. The bus being down does not
/// make the API unready: only bus routes and agents are affected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BusHealth {
    /// Whether Palisade's system connection to nats-server is up.
    pub connected: bool,
    /// Account JWT pushes nats-server confirmed since start.
    pub pushes_applied: u64,
    /// Account JWT pushes that failed (and were retried) since start.
    pub push_failures: u64,
    /// Slow-consumer events (messages dropped) since start.
    pub slow_consumers: u64,
    /// Agent messages refused since start.
    pub refused_messages: u64,
}

/// Stable error codes.
pub mod codes {
    /// No such route or resource (also: a resource of another tenant).
    pub const NOT_FOUND: &str = "not_found";
    /// The route exists but not for this method.
    pub const METHOD_NOT_ALLOWED: &str = "method_not_allowed";
    /// A dependency (the database) is not answering.
    pub const NOT_READY: &str = "not_ready";
    /// Something failed inside the server; details are in its log.
    pub const INTERNAL: &str = "internal_error";
    /// The request body or parameters are invalid.
    pub const INVALID_REQUEST: &str = "invalid_request";
    /// A uniqueness rule was violated.
    pub const CONFLICT: &str = "conflict";
    /// The body is not JSON of `application/json`.
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";
    /// The body is too large.
    pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
    /// Unknown tenant, unknown email or wrong password (never told apart).
    pub const INVALID_CREDENTIALS: &str = "invalid_credentials";
    /// Too many failed attempts from this client for this account: retry later.
    pub const LOGIN_THROTTLED: &str = "login_throttled";
    /// Too many requests from this address: retry later.
    pub const RATE_LIMITED: &str = "rate_limited";
    /// Too many password checks are queued on the server (503 with
    /// `Retry-After`): retry shortly. Nothing was checked or counted.
    pub const PASSWORD_HASHING_BUSY: &str = "password_hashing_busy";
    /// The embedded database stayed busy with other writes (503 with
    /// `Retry-After`): nothing was changed; retry shortly.
    pub const DATABASE_BUSY: &str = "database_busy";
    /// The account is disabled.
    pub const ACCOUNT_DISABLED: &str = "account_disabled";
    /// No `Authorization` header.
    pub const TOKEN_MISSING: &str = "token_missing";
    /// The bearer token is not a well-formed token.
    pub const TOKEN_MALFORMED: &str = "token_malformed";
    /// `alg` is not EdDSA.
    pub const TOKEN_ALGORITHM: &str = "token_algorithm_not_allowed";
    /// `kid` is unknown.
    pub const TOKEN_KID: &str = "token_kid_unknown";
    /// Signature does not verify.
    pub const TOKEN_SIGNATURE: &str = "token_signature_invalid";
    /// Expired.
    pub const TOKEN_EXPIRED: &str = "token_expired";
    /// Not yet valid.
    pub const TOKEN_NOT_YET_VALID: &str = "token_not_yet_valid";
    /// Issuer is not this installation.
    pub const TOKEN_ISSUER: &str = "token_issuer_invalid";
    /// Audience is wrong.
    pub const TOKEN_AUDIENCE: &str = "token_audience_invalid";
    /// The session was revoked (logout, reuse detection, admin, password change).
    pub const SESSION_REVOKED: &str = "session_revoked";
    /// The session passed its idle or absolute timeout.
    pub const SESSION_EXPIRED: &str = "session_expired";
    /// The token's user no longer exists.
    pub const USER_UNKNOWN: &str = "user_unknown";
    /// The token's user is disabled.
    pub const USER_DISABLED: &str = "user_disabled";
    /// The API key is unknown or its secret is wrong.
    pub const API_KEY_INVALID: &str = "api_key_invalid";
    /// The API key was revoked.
    pub const API_KEY_REVOKED: &str = "api_key_revoked";
    /// The API key expired.
    pub const API_KEY_EXPIRED: &str = "api_key_expired";
    /// The refresh token is unknown.
    pub const REFRESH_INVALID: &str = "refresh_token_invalid";
    /// The refresh token was used before: the session is revoked.
    pub const REFRESH_REUSED: &str = "refresh_token_reused";
    /// The MFA challenge token or code is wrong.
    pub const MFA_INVALID: &str = "mfa_invalid";
    /// Too many wrong MFA codes: retry later.
    pub const MFA_THROTTLED: &str = "mfa_throttled";
    /// The tenant requires MFA: enrol before using the API.
    pub const MFA_ENROLLMENT_REQUIRED: &str = "mfa_enrollment_required";
    /// MFA is already enrolled.
    pub const MFA_ALREADY_ENROLLED: &str = "mfa_already_enrolled";
    /// No MFA enrolment to confirm or disable.
    pub const MFA_NOT_ENROLLED: &str = "mfa_not_enrolled";
    /// The caller may not do this.
    pub const FORBIDDEN: &str = "forbidden";
    /// The new password was used recently.
    pub const PASSWORD_REUSED: &str = "password_reused";
    /// A free-text field looks like SQL injection or cross-site scripting.
    pub const SUSPICIOUS_INPUT: &str = "suspicious_input";
    /// The caller's permissions do not allow this (RBAC).
    pub const PERMISSION_DENIED: &str = "permission_denied";
    /// The change's audit event could not be written, so the change was not made.
    pub const AUDIT_UNAVAILABLE: &str = "audit_unavailable";
    /// The tenant bus is not configured on this server (`serve --bus`).
    pub const BUS_UNAVAILABLE: &str = "bus_unavailable";
}

/// Name of the response header carrying the request UID.
pub const REQUEST_UID_HEADER: &str = "x-request-uid";
