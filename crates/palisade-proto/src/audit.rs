//! Audit log bodies: one event as the API, the CLI and the SIEM stream show
//! it, and a page of them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One audit event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventView {
    /// Identifier.
    #[schemars(with = "palisade_core::Uid")]
    pub uid: String,
    /// The tenant whose log holds it.
    #[schemars(with = "palisade_core::Uid")]
    pub tenant_uid: String,
    /// Position in that log (1, 2, 3…): unique in the log and in commit
    /// order within its lane (a log of N lanes interleaves N chains; lane L
    /// holds L+1, L+1+N, …).
    pub seq: i64,
    /// When (ms since the epoch).
    pub at: i64,
    /// `user`, `apikey`, `system` or `anonymous`.
    pub actor_kind: String,
    /// The acting user (for an API key: its owner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor_uid: Option<String>,
    /// The API key used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_uid: Option<String>,
    /// The session used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_uid: Option<String>,
    /// The request (see `X-Request-Uid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_uid: Option<String>,
    /// The client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// The client's user agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// What, as `resource.verb` (`user.create`, `auth.login`, …).
    pub action: String,
    /// Kind of object acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<String>,
    /// The object acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_uid: Option<String>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// Non-secret particulars.
    pub details: serde_json::Value,
    /// Hash of the previous event (hex).
    pub prev_hash: String,
    /// This event's hash (hex).
    pub hash: String,
}

/// A page of audit events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPageView {
    /// Events, newest first unless `order=asc` was asked.
    pub items: Vec<AuditEventView>,
    /// Cursor for `?after=` (a sequence number), absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<String>", extend("pattern" = "^[0-9]+$"))]
    pub next: Option<String>,
}
