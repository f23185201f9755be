//! Authentication, session, API key and MFA bodies.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

// Bounds are in characters (Unicode scalar values), as JSON Schema's
// `maxLength` counts them, and small enough that every body the document
// allows fits the 64 KiB body limit even with every character escaped.

/// Longest password accepted at login and password change, in characters
/// (no password policy allows more than 1024).
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Longest MFA challenge token or refresh token accepted, in characters.
pub const MAX_TOKEN_CHARS: usize = 4096;
/// Longest TOTP or recovery code accepted, in characters.
pub const MAX_CODE_CHARS: usize = 64;
/// Longest tenant name accepted at login, in characters.
pub const MAX_TENANT_CHARS: usize = 63;
/// Longest login ID accepted at login, in characters.
pub const MAX_EMAIL_CHARS: usize = 254;

/// `POST /v1/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    /// Tenant name (1 to 63 characters).
    #[schemars(length(min = 1, max = MAX_TENANT_CHARS))]
    pub tenant: String,
    /// Login ID (1 to 254 characters).
    #[schemars(length(min = 1, max = MAX_EMAIL_CHARS))]
    pub email: String,
    /// Password (1 to [`MAX_PASSWORD_CHARS`] characters).
    #[schemars(length(min = 1, max = MAX_PASSWORD_CHARS), extend("writeOnly" = true))]
    pub password: String,
}

/// Answer of login and MFA: tokens, or the next step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    /// Short-lived JWT for `Authorization: Bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// Single-use refresh token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Access-token lifetime in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    /// Always `Bearer` with tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// A second factor is needed: send `mfaToken` with a code to `/v1/auth/mfa`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_required: Option<bool>,
    /// Challenge token for `/v1/auth/mfa` (5 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
    /// The tenant requires MFA and the user has none: enrol first (the
    /// tokens only reach the enrolment endpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa_enrollment_required: Option<bool>,
    /// The password must be changed through `/v1/auth/password` first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_change_required: Option<bool>,
    /// Why: `initial`, `reset` or `expired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = ["initial", "reset", "expired", null]))]
    pub reason: Option<String>,
}

/// `POST /v1/auth/mfa`: exactly one of `code` or `recoveryCode`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["code"], "properties": {"code": {"type": "string"}}},
    {"required": ["recoveryCode"], "properties": {"recoveryCode": {"type": "string"}}}
]))]
pub struct MfaRequest {
    /// From the login answer.
    #[schemars(length(min = 1, max = MAX_TOKEN_CHARS), extend("writeOnly" = true))]
    pub mfa_token: String,
    /// Six-digit TOTP code.
    #[serde(default)]
    #[schemars(length(min = 1, max = MAX_CODE_CHARS), extend("writeOnly" = true))]
    pub code: Option<String>,
    /// A single-use recovery code.
    #[serde(default)]
    #[schemars(length(min = 1, max = MAX_CODE_CHARS), extend("writeOnly" = true))]
    pub recovery_code: Option<String>,
}

/// `POST /v1/auth/refresh`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token (used once).
    #[schemars(length(min = 1, max = MAX_TOKEN_CHARS), extend("writeOnly" = true))]
    pub refresh_token: String,
}

/// `POST /v1/auth/password`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordChangeRequest {
    /// Tenant name (1 to 63 characters).
    #[schemars(length(min = 1, max = MAX_TENANT_CHARS))]
    pub tenant: String,
    /// Login ID (1 to 254 characters).
    #[schemars(length(min = 1, max = MAX_EMAIL_CHARS))]
    pub email: String,
    /// The password in use, or the one-time password (1 to
    /// [`MAX_PASSWORD_CHARS`] characters).
    #[schemars(length(min = 1, max = MAX_PASSWORD_CHARS), extend("writeOnly" = true))]
    pub current_password: String,
    /// The new password (1 to [`MAX_PASSWORD_CHARS`] characters; the tenant's
    /// password policy decides the rest).
    #[schemars(length(min = 1, max = MAX_PASSWORD_CHARS), extend("writeOnly" = true))]
    pub new_password: String,
}

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// UID.
    #[schemars(with = "palisade_core::Uid")]
    pub uid: String,
    /// Login ID.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// `active` or `disabled`.
    #[schemars(extend("enum" = ["active", "disabled"]))]
    pub status: String,
    /// A password change is pending.
    pub must_change_password: bool,
    /// Creation time (ms since the epoch).
    pub created_at: i64,
}

/// `POST /v1/users`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Login ID.
    pub email: crate::fields::Email,
    /// Display name.
    pub display_name: crate::fields::DisplayName,
    /// A role (built-in or the tenant's own, by name) to bind at tenant
    /// scope in the same change; none by default (no access until bound).
    #[serde(default)]
    pub role: Option<palisade_core::rbac::RoleName>,
}

/// A new user or a reset: the one-time password is shown once.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserWithPassword {
    /// The user.
    pub user: UserView,
    /// One-time password; must be changed at first login.
    pub initial_password: String,
}

/// A page of items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "PageOf{T}")]
pub struct PageOf<T> {
    /// Items.
    pub items: Vec<T>,
    /// Cursor for `?after=`, absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<palisade_core::Uid>")]
    pub next: Option<String>,
}

/// `POST /v1/apikeys`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// Label.
    pub name: crate::fields::DisplayName,
    /// Lifetime in days (1–3650); none for no expiry.
    #[serde(default, deserialize_with = "palisade_core::integer::optional_integer")]
    #[schemars(with = "Option<u32>", range(min = 1, max = 3650))]
    pub expires_in_days: Option<u32>,
}

/// An API key as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    /// UID.
    #[schemars(with = "palisade_core::Uid")]
    pub uid: String,
    /// Owner.
    #[schemars(with = "palisade_core::Uid")]
    pub user_uid: String,
    /// Label.
    pub name: String,
    /// Creation time (ms).
    pub created_at: i64,
    /// Expiry (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Revocation time (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<i64>,
    /// Last use (ms, minute precision).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<i64>,
}

/// A created API key: `key` is shown once.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyCreated {
    /// The key's record.
    pub api_key: ApiKeyView,
    /// The secret to send as `Authorization: Bearer <key>`.
    pub key: String,
}

/// `POST /v1/me/mfa/totp`: an unconfirmed enrolment.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TotpEnrolment {
    /// For authenticator apps.
    pub otpauth_uri: String,
    /// Base32 secret, for manual entry.
    pub secret: String,
    /// QR code of the URI (SVG document).
    pub qr_svg: String,
}

/// A code, to confirm or disable TOTP.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeRequest {
    /// Six-digit code (or, to disable, a recovery code).
    #[schemars(length(min = 1, max = MAX_CODE_CHARS), extend("writeOnly" = true))]
    pub code: String,
}

/// Ten single-use recovery codes, shown once.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryCodes {
    /// The codes.
    pub recovery_codes: Vec<String>,
}

/// `GET/PUT /v1/settings/mfa`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MfaSetting {
    /// Every user must enrol a second factor.
    pub required: bool,
}

/// How many sessions an action revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Revoked {
    /// Count.
    pub revoked: u64,
}
