//! The server's error types: [`ServerError`] for start-up and operations,
//! [`ApiError`] for HTTP responses (one `IntoResponse`, one body shape).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use palisade_proto::{ErrorBody, codes};
use palisade_store::StoreError;

/// Errors starting or operating the server. Messages name files and
/// reasons, never secrets.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The configuration is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// The data directory is unusable.
    #[error("data directory: {0}")]
    DataDir(String),
    /// The keyring is missing, corrupt, loose or wrong.
    #[error("keyring: {0}")]
    Keyring(String),
    /// TLS material could not be made or loaded.
    #[error("TLS: {0}")]
    Tls(String),
    /// The store refused to open or failed.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The listener could not be bound or failed.
    #[error("listener: {0}")]
    Listen(std::io::Error),
    /// The password-hashing queue is full: retry later.
    #[error("password hashing is at capacity")]
    HashingBusy,
    /// The password-hashing pool is stopped or could not start.
    #[error("password hashing stopped: {0}")]
    HashingStopped(String),
    /// A password could not be hashed, or a stored hash could not be read.
    #[error("password hashing: {0}")]
    Password(#[from] palisade_crypto::CryptoError),
    /// The tenant bus: keys, minting or the NATS connection.
    #[error("bus: {0}")]
    Bus(String),
}

tokio::task_local! {
    /// The UID of the request being handled (set by the request-UID layer).
    pub static REQUEST_UID: String;
}

/// The current request's UID, or `-` outside a request.
pub fn current_request_uid() -> String {
    REQUEST_UID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".to_owned())
}

/// An API error: status, stable code, safe message.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<i64>,
    recorded: bool,
}

impl ApiError {
    /// A new error.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            recorded: false,
        }
    }

    /// Marks the failure as already recorded in the audit log (the gateway
    /// then does not record it again).
    pub fn recorded(mut self) -> Self {
        self.recorded = true;
        self
    }

    /// Adds a `Retry-After` header (seconds).
    pub fn with_retry_after(mut self, secs: i64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// 401 with a specific code.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403 with a specific code.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// 400 invalid_request.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::INVALID_REQUEST, message)
    }

    /// 422 invalid_request: the request matches the API document but breaks
    /// a rule the document cannot state (a name of no existing object, a
    /// rule across fields). 400 stays for requests the document refuses.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            codes::INVALID_REQUEST,
            message,
        )
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message (safe to show: never a request value).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// 404 not_found.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, codes::NOT_FOUND, "no such resource")
    }

    /// 500 with a generic message; `detail` goes to the log only.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(request_uid = %current_request_uid(), error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            codes::INTERNAL,
            "internal error; quote the request UID to the operator",
        )
    }
}

impl From<ServerError> for ApiError {
    /// A full hashing queue is `503 password_hashing_busy` with
    /// `Retry-After: 1`; anything else is an internal error.
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::HashingBusy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::PASSWORD_HASHING_BUSY,
                "too many password checks in progress; retry shortly",
            )
            .with_retry_after(1),
            other => ApiError::internal(other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, codes::CONFLICT, m),
            StoreError::MissingReference(m) => ApiError::unprocessable(m),
            StoreError::Invalid(m) => {
                ApiError::new(StatusCode::BAD_REQUEST, codes::INVALID_REQUEST, m)
            }
            StoreError::Busy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::DATABASE_BUSY,
                "the database is busy with other changes; nothing was changed, retry shortly",
            )
            .with_retry_after(1),
            StoreError::AuditWrite(detail) => {
                tracing::error!(request_uid = %current_request_uid(), error = %detail, "audit write failed; change refused");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::AUDIT_UNAVAILABLE,
                    "the change was not made because its audit record could not be written; retry later",
                )
            }
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let info = crate::gateway::ErrorInfo {
            code: self.code,
            message: self.message.clone(),
        };
        let body = ErrorBody {
            code: self.code.to_owned(),
            message: self.message,
            request_uid: current_request_uid(),
        };
        let mut resp = (self.status, crate::json::Json(body)).into_response();
        resp.extensions_mut().insert(info);
        if self.recorded {
            resp.extensions_mut().insert(crate::gateway::Recorded);
        }
        if let Some(secs) = self.retry_after
            && let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

impl From<palisade_crypto::token::TokenError> for ApiError {
    fn from(e: palisade_crypto::token::TokenError) -> Self {
        use palisade_crypto::token::TokenError as T;
        let code = match e {
            T::Malformed => codes::TOKEN_MALFORMED,
            T::AlgorithmNotAllowed => codes::TOKEN_ALGORITHM,
            T::UnknownKid => codes::TOKEN_KID,
            T::BadSignature => codes::TOKEN_SIGNATURE,
            T::Expired => codes::TOKEN_EXPIRED,
            T::NotYetValid => codes::TOKEN_NOT_YET_VALID,
            T::WrongIssuer => codes::TOKEN_ISSUER,
            T::WrongAudience => codes::TOKEN_AUDIENCE,
            _ => codes::TOKEN_MALFORMED,
        };
        ApiError::unauthorized(code, e.to_string())
    }
}
