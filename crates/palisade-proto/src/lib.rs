//! Wire types of the Palisade API: request and response bodies and the
//! stable error codes. No I/O and no framework types.
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};

/// The one error shape of the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Stable `snake_case` code (see [`codes`]).
    pub code: String,
    /// Human-readable message; never contains secrets.
    pub message: String,
    /// The request's UID, also in the `X-Request-Uid` header.
    pub request_uid: String,
}

/// Body of `/healthz` and `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    /// `ok` (healthz) or `ready` (readyz).
    pub status: String,
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
}

/// Name of the response header carrying the request UID.
pub const REQUEST_UID_HEADER: &str = "x-request-uid";
