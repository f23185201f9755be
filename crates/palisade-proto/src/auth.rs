//! Authentication, session, API key and MFA bodies.

use serde::{Deserialize, Serialize};

/// `POST /v1/auth/login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    /// Tenant name.
    pub tenant: String,
    /// Login ID.
    pub email: String,
    /// Password.
    pub password: String,
}

/// Answer of login and MFA: tokens, or the next step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    pub reason: Option<String>,
}

/// `POST /v1/auth/mfa`: one of `code` or `recoveryCode`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MfaRequest {
    /// From the login answer.
    pub mfa_token: String,
    /// Six-digit TOTP code.
    #[serde(default)]
    pub code: Option<String>,
    /// A single-use recovery code.
    #[serde(default)]
    pub recovery_code: Option<String>,
}

/// `POST /v1/auth/refresh`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token (used once).
    pub refresh_token: String,
}

/// `POST /v1/auth/password`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordChangeRequest {
    /// Tenant name.
    pub tenant: String,
    /// Login ID.
    pub email: String,
    /// The password in use (or the one-time password).
    pub current_password: String,
    /// The new password.
    pub new_password: String,
}

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    /// UID.
    pub uid: String,
    /// Login ID.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// `active` or `disabled`.
    pub status: String,
    /// A password change is pending.
    pub must_change_password: bool,
    /// Creation time (ms since the epoch).
    pub created_at: i64,
}

/// `POST /v1/users`.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserWithPassword {
    /// The user.
    pub user: UserView,
    /// One-time password; must be changed at first login.
    pub initial_password: String,
}

/// A page of items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageOf<T> {
    /// Items.
    pub items: Vec<T>,
    /// Cursor for `?after=`, absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// `POST /v1/apikeys`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// Label.
    pub name: crate::fields::DisplayName,
    /// Lifetime in days (1–3650); none for no expiry.
    #[serde(default)]
    pub expires_in_days: Option<u32>,
}

/// An API key as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    /// UID.
    pub uid: String,
    /// Owner.
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyCreated {
    /// The key's record.
    pub api_key: ApiKeyView,
    /// The secret to send as `Authorization: Bearer <key>`.
    pub key: String,
}

/// `POST /v1/me/mfa/totp`: an unconfirmed enrolment.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeRequest {
    /// Six-digit code (or, to disable, a recovery code).
    pub code: String,
}

/// Ten single-use recovery codes, shown once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryCodes {
    /// The codes.
    pub recovery_codes: Vec<String>,
}

/// `GET/PUT /v1/settings/mfa`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MfaSetting {
    /// Every user must enrol a second factor.
    pub required: bool,
}

/// How many sessions an action revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Revoked {
    /// Count.
    pub revoked: u64,
}
