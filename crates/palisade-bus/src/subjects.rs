//! The subject scheme inside a tenant's NATS account, and the permission
//! lists that pin each kind of user to its part of it.
//!
//! ```text
//! palisade.c.<clusterUid>.up.<kind>     agent → server (heartbeat, result, renew)
//! palisade.c.<clusterUid>.down.<kind>   server → agent (job, ack)
//! _INBOX.<clusterUid>.>                 replies to the agent's own requests
//! ```
//!
//! A cluster user may publish only `palisade.c.<its uid>.up.>` and subscribe
//! only `palisade.c.<its uid>.down.>` and `_INBOX.<its uid>.>` (the agent
//! connects with that custom inbox prefix), so no cluster can read another
//! cluster's jobs or replies, nor speak in its name. These lists live in the
//! *template* of the tenant's cluster-scoped signing key, with
//! `{{name()}}` standing for the cluster UID that the user JWT carries as
//! its `name`: nats-server 2.9.10 substitutes it at connect time and
//! refuses scoped user JWTs that carry permissions of their own. The
//! server's user may subscribe to every cluster's `up` subjects, publish to
//! every cluster's `down` subjects and answer requests it received
//! (response permission). Tenants are separated by accounts: these subjects
//! mean nothing across accounts, and no account exports or imports.
//!
//! This module builds and parses subjects; it must not decide who is
//! allowed to publish what beyond the lists above.

use palisade_core::Uid;

use crate::BusError;

/// First two tokens of every Palisade bus subject.
pub const PREFIX: &str = "palisade.c";

/// The user-JWT template variable nats-server replaces with the user's name.
pub const NAME_VARIABLE: &str = "{{name()}}";

/// Inbox prefix of Palisade's own server user (`_INBOX.server.>`); cannot
/// collide with a cluster's, which is 12 hex characters.
pub const SERVER_INBOX_PREFIX: &str = "_INBOX.server";

/// Direction of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Agent → server.
    Up,
    /// Server → agent.
    Down,
}

impl Direction {
    fn token(self) -> &'static str {
        match self {
            Direction::Up => "up",
            Direction::Down => "down",
        }
    }
}

/// What an agent sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpKind {
    /// Periodic liveness and version.
    Heartbeat,
    /// The result of a job (a report), retried until acknowledged.
    Result,
    /// A credential renewal request (request/reply).
    Renew,
}

/// What the server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DownKind {
    /// A job for the agent.
    Job,
    /// Acknowledgement of a message the agent sent.
    Ack,
}

/// The kind part of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Agent → server.
    Up(UpKind),
    /// Server → agent.
    Down(DownKind),
}

impl Kind {
    /// The direction of this kind.
    pub fn direction(self) -> Direction {
        match self {
            Kind::Up(_) => Direction::Up,
            Kind::Down(_) => Direction::Down,
        }
    }

    fn token(self) -> &'static str {
        match self {
            Kind::Up(UpKind::Heartbeat) => "heartbeat",
            Kind::Up(UpKind::Result) => "result",
            Kind::Up(UpKind::Renew) => "renew",
            Kind::Down(DownKind::Job) => "job",
            Kind::Down(DownKind::Ack) => "ack",
        }
    }

    fn parse(direction: &str, kind: &str) -> Option<Kind> {
        Some(match (direction, kind) {
            ("up", "heartbeat") => Kind::Up(UpKind::Heartbeat),
            ("up", "result") => Kind::Up(UpKind::Result),
            ("up", "renew") => Kind::Up(UpKind::Renew),
            ("down", "job") => Kind::Down(DownKind::Job),
            ("down", "ack") => Kind::Down(DownKind::Ack),
            _ => return None,
        })
    }
}

/// A parsed Palisade bus subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BusSubject {
    /// The cluster the subject belongs to.
    pub cluster: Uid,
    /// What the message is.
    pub kind: Kind,
}

impl BusSubject {
    /// The subject text.
    pub fn to_subject(&self) -> String {
        format!(
            "{PREFIX}.{}.{}.{}",
            self.cluster,
            self.kind.direction().token(),
            self.kind.token()
        )
    }

    /// Parses `palisade.c.<uid>.<up|down>.<kind>`; anything else is refused.
    pub fn parse(subject: &str) -> Result<BusSubject, BusError> {
        let rest = subject
            .strip_prefix(PREFIX)
            .and_then(|r| r.strip_prefix('.'))
            .ok_or(BusError::Subject("not under palisade.c"))?;
        let mut t = rest.split('.');
        let (Some(uid), Some(dir), Some(kind), None) = (t.next(), t.next(), t.next(), t.next())
        else {
            return Err(BusError::Subject("not five tokens"));
        };
        let cluster = Uid::parse(uid).map_err(|_| BusError::Subject("cluster is not a UID"))?;
        let kind = Kind::parse(dir, kind).ok_or(BusError::Subject("unknown direction or kind"))?;
        Ok(BusSubject { cluster, kind })
    }
}

/// `palisade.c.<cluster>.up.<kind>`.
pub fn up(cluster: Uid, kind: UpKind) -> String {
    BusSubject {
        cluster,
        kind: Kind::Up(kind),
    }
    .to_subject()
}

/// `palisade.c.<cluster>.down.<kind>`.
pub fn down(cluster: Uid, kind: DownKind) -> String {
    BusSubject {
        cluster,
        kind: Kind::Down(kind),
    }
    .to_subject()
}

/// The agent's inbox prefix, to pass to async-nats
/// `ConnectOptions::custom_inbox_prefix`: `_INBOX.<cluster>`.
pub fn cluster_inbox_prefix(cluster: Uid) -> String {
    format!("_INBOX.{cluster}")
}

/// Everything one cluster may receive: `palisade.c.<cluster>.down.>`.
pub fn cluster_down_wildcard(cluster: Uid) -> String {
    format!("{PREFIX}.{cluster}.down.>")
}

/// Everything one cluster may send: `palisade.c.<cluster>.up.>`.
pub fn cluster_up_wildcard(cluster: Uid) -> String {
    format!("{PREFIX}.{cluster}.up.>")
}

/// What the server user subscribes to: every cluster's `up` subjects.
pub const ALL_UP: &str = "palisade.c.*.up.>";

/// What the server user publishes to: every cluster's `down` subjects.
pub const ALL_DOWN: &str = "palisade.c.*.down.>";

/// Publish allow-list of the cluster template (with `{{name()}}`).
pub fn cluster_template_publish() -> Vec<String> {
    vec![format!("{PREFIX}.{NAME_VARIABLE}.up.>")]
}

/// Subscribe allow-list of the cluster template (with `{{name()}}`).
pub fn cluster_template_subscribe() -> Vec<String> {
    vec![
        format!("{PREFIX}.{NAME_VARIABLE}.down.>"),
        format!("_INBOX.{NAME_VARIABLE}.>"),
    ]
}

/// The lists nats-server derives from the cluster template for `cluster`
/// (publish, subscribe): what the tests assert against.
pub fn cluster_effective_permissions(cluster: Uid) -> (Vec<String>, Vec<String>) {
    let c = cluster.to_string();
    let sub = |v: Vec<String>| {
        v.into_iter()
            .map(|s| s.replace(NAME_VARIABLE, &c))
            .collect()
    };
    (
        sub(cluster_template_publish()),
        sub(cluster_template_subscribe()),
    )
}

/// Publish allow-list of the server template.
pub fn server_template_publish() -> Vec<String> {
    vec![ALL_DOWN.to_owned()]
}

/// Subscribe allow-list of the server template.
pub fn server_template_subscribe() -> Vec<String> {
    vec![ALL_UP.to_owned(), format!("{SERVER_INBOX_PREFIX}.>")]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn builds_and_parses() {
        let c = Uid::from_u64(0xabcdef);
        let s = up(c, UpKind::Heartbeat);
        assert_eq!(s, "palisade.c.000000abcdef.up.heartbeat");
        assert_eq!(
            BusSubject::parse(&s).unwrap(),
            BusSubject {
                cluster: c,
                kind: Kind::Up(UpKind::Heartbeat)
            }
        );
        assert_eq!(down(c, DownKind::Job), "palisade.c.000000abcdef.down.job");
        assert_eq!(cluster_inbox_prefix(c), "_INBOX.000000abcdef");
        let (p, s) = cluster_effective_permissions(c);
        assert_eq!(p, vec!["palisade.c.000000abcdef.up.>"]);
        assert_eq!(
            s,
            vec!["palisade.c.000000abcdef.down.>", "_INBOX.000000abcdef.>"]
        );
    }

    #[test]
    fn refuses_foreign_subjects() {
        for bad in [
            "",
            "palisade.c",
            "palisade.c.",
            "palisade.cx.000000abcdef.up.heartbeat",
            "palisade.c.000000ABCDEF.up.heartbeat",
            "palisade.c.000000abcdef.up.job",
            "palisade.c.000000abcdef.down.heartbeat",
            "palisade.c.000000abcdef.up.heartbeat.x",
            "palisade.c.*.up.heartbeat",
            "palisade.c.000000abcdef.up.>",
        ] {
            assert!(BusSubject::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn round_trip(v in 0u64..(1 << 48), k in 0usize..5) {
            let kinds = [Kind::Up(UpKind::Heartbeat), Kind::Up(UpKind::Result),
                Kind::Up(UpKind::Renew), Kind::Down(DownKind::Job), Kind::Down(DownKind::Ack)];
            let s = BusSubject { cluster: Uid::from_u64(v), kind: kinds[k] };
            prop_assert_eq!(BusSubject::parse(&s.to_subject()).unwrap(), s);
        }

        #[test]
        fn parse_never_panics(s in ".{0,80}") {
            let _ = BusSubject::parse(&s);
        }
    }
}
