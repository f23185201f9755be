//! The agent protocol: JSON messages (camelCase, unknown fields refused,
//! bounded sizes) and the headers every message carries.
//!
//! | subject kind | body | direction |
//! |---|---|---|
//! | `up.heartbeat` | [`Heartbeat`] | agent → server |
//! | `up.result` | [`JobResult`] (retried until acknowledged) | agent → server |
//! | `up.renew` | [`RenewRequest`] → reply [`RenewAnswer`] | agent → server, request/reply |
//! | `down.job` | [`Job`] | server → agent |
//! | `down.ack` | [`Ack`] | server → agent |
//!
//! Every message carries the request, tenant and cluster UIDs in the
//! headers [`HEADER_REQUEST_UID`], [`HEADER_TENANT_UID`] and
//! [`HEADER_CLUSTER_UID`]; [`check_incoming`] refuses a message whose
//! cluster header differs from the cluster in its subject, or whose tenant
//! header differs from the tenant whose account it arrived in. (The
//! account already isolates tenants and the scoped permissions already pin
//! clusters; the check catches a confused or buggy sender and keeps the
//! UIDs in logs trustworthy.)
//!
//! This module only encodes, decodes and checks; it must not do I/O.

use async_nats::HeaderMap;
use palisade_core::Uid;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::BusError;
use crate::subjects::{BusSubject, Direction};

/// Largest message body, bytes (the default nats-server `max_payload`).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// Header: the UID of the request this message belongs to.
pub const HEADER_REQUEST_UID: &str = "Palisade-Request-Uid";
/// Header: the tenant UID.
pub const HEADER_TENANT_UID: &str = "Palisade-Tenant-Uid";
/// Header: the cluster UID.
pub const HEADER_CLUSTER_UID: &str = "Palisade-Cluster-Uid";

const MAX_SHORT_TEXT: usize = 64;
const MAX_HOSTNAME: usize = 253;
const MAX_ERROR_TEXT: usize = 4096;

/// A message body: bounds-checked before encoding and after decoding.
pub trait Message: Serialize + DeserializeOwned {
    /// Checks field bounds.
    fn validate(&self) -> Result<(), BusError>;
}

/// Encodes a message as JSON, refusing out-of-bound fields and bodies
/// larger than [`MAX_MESSAGE_BYTES`].
pub fn encode<M: Message>(msg: &M) -> Result<Vec<u8>, BusError> {
    msg.validate()?;
    let v = serde_json::to_vec(msg).map_err(|e| BusError::Protocol(format!("encode: {e}")))?;
    if v.len() > MAX_MESSAGE_BYTES {
        return Err(BusError::Protocol("message larger than 1 MiB".to_owned()));
    }
    Ok(v)
}

/// Decodes a message body, refusing oversize bodies, unknown fields and
/// out-of-bound values.
pub fn decode<M: Message>(body: &[u8]) -> Result<M, BusError> {
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(BusError::Protocol("message larger than 1 MiB".to_owned()));
    }
    let m: M = serde_json::from_slice(body).map_err(|e| {
        // serde_json's message names the field or position, not the data.
        BusError::Protocol(format!("JSON: {}", truncate(&e.to_string(), 200)))
    })?;
    m.validate()?;
    Ok(m)
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn short_text(field: &str, v: &str, max: usize) -> Result<(), BusError> {
    if v.is_empty() || v.len() > max {
        return Err(BusError::Protocol(format!(
            "{field} must be 1..={max} bytes"
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(BusError::Protocol(format!(
            "{field} contains control characters"
        )));
    }
    Ok(())
}

/// Agent liveness, every few seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Heartbeat {
    /// The agent's version.
    pub agent_version: String,
    /// The host the agent runs on.
    pub hostname: String,
    /// The agent's clock, Unix seconds.
    pub time: i64,
}

impl Message for Heartbeat {
    fn validate(&self) -> Result<(), BusError> {
        short_text("agentVersion", &self.agent_version, MAX_SHORT_TEXT)?;
        short_text("hostname", &self.hostname, MAX_HOSTNAME)?;
        if self.time < 0 {
            return Err(BusError::Protocol("time must not be negative".to_owned()));
        }
        Ok(())
    }
}

/// What a job asks the agent to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum JobKind {
    /// Answer at once (liveness of the job path). A struct variant, so
    /// that unknown fields next to the tag are refused too.
    Ping {},
    /// Run `harden scan` with `profile` on the agent's host.
    #[serde(rename_all = "camelCase")]
    HardenScan {
        /// Profile name: lowercase letters, digits, `-` and `_`.
        profile: String,
    },
}

/// A job for an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Job {
    /// The job.
    pub job_uid: Uid,
    /// What to do.
    pub kind: JobKind,
}

impl Message for Job {
    fn validate(&self) -> Result<(), BusError> {
        if let JobKind::HardenScan { profile } = &self.kind {
            short_text("profile", profile, MAX_SHORT_TEXT)?;
            if !profile
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            {
                return Err(BusError::Protocol(
                    "profile must be lowercase letters, digits, - and _".to_owned(),
                ));
            }
        }
        Ok(())
    }
}

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum JobStatus {
    /// The job ran; `report` holds its output.
    Succeeded,
    /// The job could not run or failed; `error` says why.
    Failed,
}

/// The result of a job, published until acknowledged (same `messageUid`
/// on every retry, so the server can deduplicate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobResult {
    /// Identifies this result for [`Ack`] and deduplication.
    pub message_uid: Uid,
    /// The job this answers.
    pub job_uid: Uid,
    /// How it ended.
    pub status: JobStatus,
    /// The report (e.g. `harden scan --format json` output; `{}` for ping).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Message for JobResult {
    fn validate(&self) -> Result<(), BusError> {
        match (self.status, &self.report, &self.error) {
            (JobStatus::Succeeded, Some(_), None) => Ok(()),
            (JobStatus::Failed, None, Some(e)) => short_text("error", e, MAX_ERROR_TEXT),
            (JobStatus::Succeeded, _, _) => Err(BusError::Protocol(
                "a succeeded result has a report and no error".to_owned(),
            )),
            (JobStatus::Failed, _, _) => Err(BusError::Protocol(
                "a failed result has an error and no report".to_owned(),
            )),
        }
    }
}

/// Acknowledges a message the agent sent (it stops retrying it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ack {
    /// The acknowledged message.
    pub message_uid: Uid,
}

impl Message for Ack {
    fn validate(&self) -> Result<(), BusError> {
        Ok(())
    }
}

/// The agent asks for a new JWT for the key it already holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenewRequest {
    /// The agent's user public key (must be the cluster's current key).
    pub public_key: String,
}

impl Message for RenewRequest {
    fn validate(&self) -> Result<(), BusError> {
        crate::keys::verify_public_key(&self.public_key, crate::keys::KeyKind::User)
            .map_err(|_| BusError::Protocol("publicKey is not a user public key".to_owned()))
    }
}

/// The answer to a [`RenewRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum RenewAnswer {
    /// A new user JWT for the same key.
    #[serde(rename_all = "camelCase")]
    Renewed {
        /// The JWT.
        jwt: String,
        /// Its expiry, Unix seconds.
        expires_at: i64,
    },
    /// Refused (unknown key, cluster deleted); the agent needs new
    /// credentials from an operator.
    Refused {
        /// A stable snake_case reason.
        code: String,
    },
}

impl Message for RenewAnswer {
    fn validate(&self) -> Result<(), BusError> {
        match self {
            RenewAnswer::Renewed { jwt, .. } => {
                if jwt.is_empty() || jwt.len() > crate::jwt::MAX_JWT_LEN {
                    return Err(BusError::Protocol("jwt size out of bounds".to_owned()));
                }
                Ok(())
            }
            RenewAnswer::Refused { code } => {
                short_text("code", code, MAX_SHORT_TEXT)?;
                if !code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                    return Err(BusError::Protocol("code must be snake_case".to_owned()));
                }
                Ok(())
            }
        }
    }
}

/// The UIDs every message carries in its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageContext {
    /// The request (trace) UID.
    pub request: Uid,
    /// The tenant.
    pub tenant: Uid,
    /// The cluster.
    pub cluster: Uid,
}

impl MessageContext {
    /// The headers to publish with.
    pub fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HEADER_REQUEST_UID, self.request.to_string());
        h.insert(HEADER_TENANT_UID, self.tenant.to_string());
        h.insert(HEADER_CLUSTER_UID, self.cluster.to_string());
        h
    }
}

fn header_uid(headers: &HeaderMap, name: &'static str) -> Result<Uid, BusError> {
    let mut all = headers.get_all(name);
    let first = all
        .next()
        .ok_or_else(|| BusError::Protocol(format!("missing header {name}")))?;
    if all.next().is_some() {
        return Err(BusError::Protocol(format!("header {name} appears twice")));
    }
    Uid::parse(first.as_str())
        .map_err(|_| BusError::Protocol(format!("header {name} is not a UID")))
}

/// Checks an incoming message: the subject is a Palisade bus subject of
/// the `expected` direction (Palisade receives `Up`, agents `Down`), the
/// three UID headers are present once each and well-formed, the cluster
/// header names the subject's cluster, and the tenant header names
/// `account_tenant` (the tenant whose account the receiving connection is
/// in).
pub fn check_incoming(
    subject: &str,
    headers: Option<&HeaderMap>,
    account_tenant: Uid,
    expected: Direction,
) -> Result<(BusSubject, MessageContext), BusError> {
    let s = BusSubject::parse(subject)?;
    if s.kind.direction() != expected {
        return Err(BusError::Protocol(
            "message of the wrong direction for this receiver".to_owned(),
        ));
    }
    let h = headers.ok_or_else(|| BusError::Protocol("message has no headers".to_owned()))?;
    let ctx = MessageContext {
        request: header_uid(h, HEADER_REQUEST_UID)?,
        tenant: header_uid(h, HEADER_TENANT_UID)?,
        cluster: header_uid(h, HEADER_CLUSTER_UID)?,
    };
    if ctx.cluster != s.cluster {
        return Err(BusError::Protocol(
            "cluster header differs from the subject's cluster".to_owned(),
        ));
    }
    if ctx.tenant != account_tenant {
        return Err(BusError::Protocol(
            "tenant header differs from the account's tenant".to_owned(),
        ));
    }
    Ok((s, ctx))
}

/// Checks the reply subject of a request received on `subject` (e.g. a
/// renewal): it must lie in the requesting cluster's inbox,
/// `_INBOX.<cluster>.…`. nats-server does not check reply subjects against
/// the requester's permissions, and Palisade's user may answer any request
/// it receives, so without this check one cluster could have Palisade's
/// answers delivered into another cluster's inbox.
pub fn check_reply<'a>(subject: &BusSubject, reply: Option<&'a str>) -> Result<&'a str, BusError> {
    let reply =
        reply.ok_or_else(|| BusError::Protocol("request has no reply subject".to_owned()))?;
    let prefix = crate::subjects::cluster_inbox_prefix(subject.cluster);
    let rest = reply
        .strip_prefix(prefix.as_str())
        .and_then(|r| r.strip_prefix('.'))
        .ok_or_else(|| {
            BusError::Protocol("reply subject is not in the requesting cluster's inbox".to_owned())
        })?;
    if rest.is_empty()
        || rest.len() > 128
        || rest
            .split('.')
            .any(|t| t.is_empty() || t == "*" || t == ">")
        || rest
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(BusError::Protocol("reply subject is malformed".to_owned()));
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subjects::{self, UpKind};
    use proptest::prelude::*;

    #[test]
    fn wire_shapes_are_camel_case() {
        let j = Job {
            job_uid: Uid::from_u64(1),
            kind: JobKind::HardenScan {
                profile: "cis-level1".into(),
            },
        };
        assert_eq!(
            String::from_utf8(encode(&j).unwrap()).unwrap(),
            r#"{"jobUid":"000000000001","kind":{"type":"hardenScan","profile":"cis-level1"}}"#
        );
        let p = Job {
            job_uid: Uid::from_u64(2),
            kind: JobKind::Ping {},
        };
        assert_eq!(
            String::from_utf8(encode(&p).unwrap()).unwrap(),
            r#"{"jobUid":"000000000002","kind":{"type":"ping"}}"#
        );
        assert_eq!(
            decode::<Job>(br#"{"jobUid":"000000000002","kind":{"type":"ping"}}"#).unwrap(),
            p
        );
        let h = Heartbeat {
            agent_version: "0.1.0".into(),
            hostname: "node-1".into(),
            time: 5,
        };
        assert_eq!(
            String::from_utf8(encode(&h).unwrap()).unwrap(),
            r#"{"agentVersion":"0.1.0","hostname":"node-1","time":5}"#
        );
        let r = RenewAnswer::Renewed {
            jwt: "x".into(),
            expires_at: 9,
        };
        assert_eq!(
            String::from_utf8(encode(&r).unwrap()).unwrap(),
            r#"{"renewed":{"jwt":"x","expiresAt":9}}"#
        );
    }

    #[test]
    fn unknown_fields_and_bad_values_are_refused() {
        for bad in [
            r#"{"jobUid":"000000000001","kind":{"type":"ping"},"x":1}"#,
            r#"{"jobUid":"000000000001","kind":{"type":"ping","x":1}}"#,
            r#"{"jobUid":"000000000001","kind":{"type":"rm"}}"#,
            r#"{"jobUid":"00000000000G","kind":{"type":"ping"}}"#,
            r#"{"jobUid":"000000000001","kind":{"type":"hardenScan","profile":"../x"}}"#,
            r#"{"jobUid":"000000000001","kind":{"type":"hardenScan"}}"#,
        ] {
            assert!(decode::<Job>(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(decode::<Heartbeat>(br#"{"agentVersion":"","hostname":"h","time":1}"#).is_err());
        assert!(
            decode::<JobResult>(
                br#"{"messageUid":"000000000001","jobUid":"000000000002","status":"succeeded"}"#
            )
            .is_err()
        );
        let big = vec![b' '; MAX_MESSAGE_BYTES + 1];
        assert!(decode::<Ack>(&big).is_err());
    }

    #[test]
    fn results_round_trip() {
        let r = JobResult {
            message_uid: Uid::from_u64(7),
            job_uid: Uid::from_u64(8),
            status: JobStatus::Succeeded,
            report: Some(serde_json::json!({"checks": [{"id": "1.1", "status": "pass"}]})),
            error: None,
        };
        assert_eq!(decode::<JobResult>(&encode(&r).unwrap()).unwrap(), r);
    }

    #[test]
    fn headers_must_match_the_subject_and_account() {
        let tenant = Uid::from_u64(0xa);
        let cluster = Uid::from_u64(0xc1);
        let ctx = MessageContext {
            request: Uid::from_u64(0x99),
            tenant,
            cluster,
        };
        let subject = subjects::up(cluster, UpKind::Heartbeat);
        let (s, c) = check_incoming(&subject, Some(&ctx.headers()), tenant, Direction::Up).unwrap();
        assert_eq!(s.cluster, cluster);
        assert_eq!(c, ctx);

        let other = subjects::up(Uid::from_u64(0xc2), UpKind::Heartbeat);
        assert!(check_incoming(&other, Some(&ctx.headers()), tenant, Direction::Up).is_err());
        assert!(
            check_incoming(
                &subject,
                Some(&ctx.headers()),
                Uid::from_u64(0xb),
                Direction::Up
            )
            .is_err()
        );
        assert!(check_incoming(&subject, None, tenant, Direction::Up).is_err());
        assert!(check_incoming(&subject, Some(&ctx.headers()), tenant, Direction::Down).is_err());
        let mut twice = ctx.headers();
        twice.append(HEADER_CLUSTER_UID, cluster.to_string());
        assert!(check_incoming(&subject, Some(&twice), tenant, Direction::Up).is_err());
        let mut missing = HeaderMap::new();
        missing.insert(HEADER_TENANT_UID, tenant.to_string());
        assert!(check_incoming(&subject, Some(&missing), tenant, Direction::Up).is_err());
    }

    #[test]
    fn replies_must_go_to_the_requesting_cluster() {
        let c1 = Uid::from_u64(0xc1);
        let s = BusSubject::parse(&subjects::up(c1, UpKind::Renew)).unwrap();
        assert_eq!(
            check_reply(&s, Some("_INBOX.0000000000c1.abc.def")).unwrap(),
            "_INBOX.0000000000c1.abc.def"
        );
        for bad in [
            None,
            Some("_INBOX.0000000000c2.abc"),
            Some("_INBOX.0000000000c1"),
            Some("_INBOX.0000000000c1."),
            Some("_INBOX.0000000000c1.>"),
            Some("_INBOX.0000000000c1.a..b"),
            Some("_INBOX.0000000000c1x.a"),
            Some("palisade.c.0000000000c1.down.job"),
        ] {
            assert!(check_reply(&s, bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn decoders_never_panic(s in "(?s).{0,200}") {
            let b = s.as_bytes();
            let _ = decode::<Heartbeat>(b);
            let _ = decode::<Job>(b);
            let _ = decode::<JobResult>(b);
            let _ = decode::<Ack>(b);
            let _ = decode::<RenewRequest>(b);
            let _ = decode::<RenewAnswer>(b);
        }

        #[test]
        fn heartbeats_round_trip(v in "[ -~]{1,64}", h in "[a-z0-9.-]{1,253}", t in 0i64..i64::MAX) {
            let hb = Heartbeat { agent_version: v, hostname: h, time: t };
            prop_assert_eq!(decode::<Heartbeat>(&encode(&hb).unwrap()).unwrap(), hb);
        }
    }
}
