//! Audit events: who did what to which object, from where, with what
//! outcome — and the canonical byte form that the per-tenant hash chain
//! covers.
//!
//! This module only describes events. The store assigns each event its
//! place in its tenant's chain (sequence number and hashes) inside the same
//! database transaction as the change it records; `palisade-crypto` hashes
//! and signs. Events never carry secret values: where a value must be
//! correlatable (an attempted email, say) callers put a keyed hash in the
//! details instead.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Timestamp, Uid};

/// Longest user agent kept in an event, in characters.
pub const MAX_USER_AGENT_CHARS: usize = 256;
/// Longest action or target type, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// What kind of actor caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorKind {
    /// A user with a session (password, MFA).
    User,
    /// A user's API key.
    #[serde(rename = "apikey")]
    ApiKey,
    /// Palisade itself or an operator's CLI on the server's host.
    System,
    /// Nobody authenticated (a failed login, say).
    Anonymous,
}

impl ActorKind {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::ApiKey => "apikey",
            ActorKind::System => "system",
            ActorKind::Anonymous => "anonymous",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(ActorKind::User),
            "apikey" => Some(ActorKind::ApiKey),
            "system" => Some(ActorKind::System),
            "anonymous" => Some(ActorKind::Anonymous),
            _ => None,
        }
    }
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Done.
    Success,
    /// Attempted and failed (wrong password, conflict, invalid input…).
    Failure,
    /// Refused by authorization.
    Denied,
}

impl Outcome {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(Outcome::Success),
            "failure" => Some(Outcome::Failure),
            "denied" => Some(Outcome::Denied),
            _ => None,
        }
    }
}

/// Who acted and from where, taken from the authenticated principal and
/// the request (never from a request body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditContext {
    /// Kind of actor.
    pub actor_kind: ActorKind,
    /// The acting user (for an API key: its owner).
    pub actor_uid: Option<Uid>,
    /// The API key used, if any.
    pub api_key_uid: Option<Uid>,
    /// The session used, if any.
    pub session_uid: Option<Uid>,
    /// The request's UID (also in `X-Request-Uid`).
    pub request_uid: Option<Uid>,
    /// The client's address as the server saw it.
    pub client_ip: Option<String>,
    /// The client's `User-Agent`, bounded and stripped of control characters.
    pub user_agent: Option<String>,
}

impl AuditContext {
    /// Palisade itself, or an operator's command on the server's host.
    pub fn system() -> Self {
        AuditContext {
            actor_kind: ActorKind::System,
            actor_uid: None,
            api_key_uid: None,
            session_uid: None,
            request_uid: None,
            client_ip: None,
            user_agent: None,
        }
    }

    /// An unauthenticated caller of a request.
    pub fn anonymous(
        request_uid: Option<Uid>,
        client_ip: Option<String>,
        user_agent: Option<&str>,
    ) -> Self {
        AuditContext {
            actor_kind: ActorKind::Anonymous,
            request_uid,
            client_ip,
            user_agent: user_agent.map(clean_user_agent),
            ..Self::system()
        }
    }

    /// The same request, now acting as `user` (after a successful login).
    pub fn as_user(&self, user: Uid, session: Option<Uid>) -> Self {
        AuditContext {
            actor_kind: ActorKind::User,
            actor_uid: Some(user),
            api_key_uid: None,
            session_uid: session,
            ..self.clone()
        }
    }

    /// A successful event of `action` in this context.
    pub fn entry(&self, action: &str) -> AuditEntry {
        AuditEntry {
            tenant_uid: None,
            ctx: self.clone(),
            action: bounded(action),
            target_type: None,
            target_uid: None,
            outcome: Outcome::Success,
            details: Map::new(),
        }
    }
}

/// Bounds a user agent and drops control characters (they could forge log
/// lines in a SIEM that prints events as text).
pub fn clean_user_agent(ua: &str) -> String {
    ua.chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_AGENT_CHARS)
        .collect()
}

fn bounded(name: &str) -> String {
    let mut end = name.len().min(MAX_NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.get(..end).unwrap_or_default().to_owned()
}

/// An event to record; the store gives it its UID, time and place in the
/// chain when the transaction it belongs to commits.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// The tenant whose log holds it (`None`: the transaction's tenant).
    pub tenant_uid: Option<Uid>,
    /// Who and from where.
    pub ctx: AuditContext,
    /// What, as `resource.verb` (`user.create`, `auth.login`, …).
    pub action: String,
    /// Kind of object acted on (`user`, `project`, …).
    pub target_type: Option<String>,
    /// The object acted on.
    pub target_uid: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Non-secret particulars.
    pub details: Map<String, Value>,
}

impl AuditEntry {
    /// Records the event in `tenant`'s log.
    pub fn tenant(mut self, tenant: Uid) -> Self {
        self.tenant_uid = Some(tenant);
        self
    }

    /// Names the object acted on.
    pub fn target(mut self, kind: &str, uid: impl std::fmt::Display) -> Self {
        self.target_type = Some(bounded(kind));
        self.target_uid = Some(uid.to_string());
        self
    }

    /// Names the kind of object acted on, when it has no UID yet (a
    /// creation that failed) or none at all (a setting).
    pub fn target_kind(mut self, kind: &str) -> Self {
        self.target_type = Some(bounded(kind));
        self
    }

    /// Sets the outcome.
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// Adds a detail. Never pass a secret.
    pub fn detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_owned(), value.into());
        self
    }

    /// The details as the JSON text that is stored and hashed.
    pub fn details_text(&self) -> String {
        Value::Object(self.details.clone()).to_string()
    }
}

/// A recorded event, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    /// The tenant whose log holds it.
    pub tenant_uid: Uid,
    /// Position in that log: 1, 2, 3… without gaps.
    pub seq: i64,
    /// Identifier.
    pub uid: Uid,
    /// When it was recorded (ms since the epoch).
    pub at: Timestamp,
    /// Kind of actor.
    pub actor_kind: ActorKind,
    /// The acting user.
    pub actor_uid: Option<Uid>,
    /// The API key used.
    pub api_key_uid: Option<Uid>,
    /// The session used.
    pub session_uid: Option<Uid>,
    /// The request.
    pub request_uid: Option<Uid>,
    /// The client's address.
    pub client_ip: Option<String>,
    /// The client's user agent.
    pub user_agent: Option<String>,
    /// What.
    pub action: String,
    /// Kind of object.
    pub target_type: Option<String>,
    /// The object.
    pub target_uid: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Details, as the JSON text that was hashed.
    pub details: String,
    /// Hex SHA-256 of the previous event (or of the log's genesis).
    pub prev_hash: String,
    /// Hex SHA-256 over `prev_hash` and this event's canonical form.
    pub hash: String,
}

impl AuditEvent {
    /// The canonical byte form the chain hash covers: every field in a fixed
    /// order, each length-prefixed (absent fields marked as such), so no two
    /// different events share a form.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.details.len());
        out.extend_from_slice(b"palisade-audit-event-v1");
        let uid = |u: Option<Uid>| u.map(|u| u.to_string());
        push(&mut out, Some(self.tenant_uid.to_string().as_str()));
        out.extend_from_slice(&self.seq.to_be_bytes());
        push(&mut out, Some(self.uid.to_string().as_str()));
        out.extend_from_slice(&self.at.to_be_bytes());
        push(&mut out, Some(self.actor_kind.as_str()));
        push(&mut out, uid(self.actor_uid).as_deref());
        push(&mut out, uid(self.api_key_uid).as_deref());
        push(&mut out, uid(self.session_uid).as_deref());
        push(&mut out, uid(self.request_uid).as_deref());
        push(&mut out, self.client_ip.as_deref());
        push(&mut out, self.user_agent.as_deref());
        push(&mut out, Some(self.action.as_str()));
        push(&mut out, self.target_type.as_deref());
        push(&mut out, self.target_uid.as_deref());
        push(&mut out, Some(self.outcome.as_str()));
        push(&mut out, Some(self.details.as_str()));
        out
    }

    /// The details as JSON (an empty object when the stored text is not JSON).
    pub fn details_json(&self) -> Value {
        serde_json::from_str(&self.details).unwrap_or_else(|_| Value::Object(Map::new()))
    }
}

fn push(out: &mut Vec<u8>, field: Option<&str>) {
    match field {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> AuditEvent {
        AuditEvent {
            tenant_uid: Uid::from_u64(1),
            seq: 1,
            uid: Uid::from_u64(2),
            at: 1_700_000_000_000,
            actor_kind: ActorKind::User,
            actor_uid: Some(Uid::from_u64(3)),
            api_key_uid: None,
            session_uid: Some(Uid::from_u64(4)),
            request_uid: Some(Uid::from_u64(5)),
            client_ip: Some("127.0.0.1".into()),
            user_agent: Some("curl/8".into()),
            action: "project.create".into(),
            target_type: Some("project".into()),
            target_uid: Some("000000000006".into()),
            outcome: Outcome::Success,
            details: "{}".into(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn canonical_form_separates_fields() {
        let a = event();
        // Moving a character from one field to the next changes the form.
        let mut b = event();
        b.client_ip = Some("127.0.0.1c".into());
        b.user_agent = Some("url/8".into());
        assert_ne!(a.canonical_bytes(), b.canonical_bytes());
        // An absent field differs from an empty one.
        let mut c = event();
        c.api_key_uid = None;
        c.client_ip = Some(String::new());
        let mut d = event();
        d.client_ip = None;
        assert_ne!(c.canonical_bytes(), d.canonical_bytes());
        // Hash fields are not covered (they are computed over this form).
        let mut e = event();
        e.hash = "x".into();
        assert_eq!(a.canonical_bytes(), e.canonical_bytes());
    }

    #[test]
    fn user_agents_are_bounded_and_clean() {
        assert_eq!(clean_user_agent("a\nb\u{1b}[31mc"), "ab[31mc");
        assert_eq!(
            clean_user_agent(&"x".repeat(1000)).len(),
            MAX_USER_AGENT_CHARS
        );
    }

    #[test]
    fn names_are_bounded_on_char_boundaries() {
        let e = AuditContext::system().entry(&"é".repeat(100));
        assert!(e.action.len() <= MAX_NAME_BYTES);
        assert!(e.action.chars().all(|c| c == 'é'));
    }

    #[test]
    fn spellings_round_trip() {
        for k in [
            ActorKind::User,
            ActorKind::ApiKey,
            ActorKind::System,
            ActorKind::Anonymous,
        ] {
            assert_eq!(ActorKind::parse(k.as_str()), Some(k));
        }
        for o in [Outcome::Success, Outcome::Failure, Outcome::Denied] {
            assert_eq!(Outcome::parse(o.as_str()), Some(o));
        }
        assert_eq!(Outcome::parse("ok"), None);
    }
}
