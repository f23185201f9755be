//! The audit log in the database: appending an event inside the
//! transaction of the change it records, the signed head of each tenant's
//! log, checkpoints, queries, verification and the retention cut.
//!
//! Layout: `audit_events` holds each tenant's chain (`seq` 1, 2, 3… and the
//! hash links, see `palisade_crypto::audit`); `audit_heads` holds, per
//! tenant, the last `seq` and hash with a signature that is renewed on every
//! append, plus the `base` where retention cut the log; `audit_checkpoints`
//! holds signed statements issued every [`CHECKPOINT_EVERY`] events or
//! [`CHECKPOINT_INTERVAL_MS`], whichever comes first.

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use palisade_core::Uid;
use palisade_core::audit::{ActorKind, AuditEntry, AuditEvent, Outcome};
use palisade_crypto::audit::{self as chain, AuditVerifier, ChainHash, LogStatement};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::audithead::{Advanced, Head, LaneLease};
use crate::sql::{Scope, SqlStore, parse_uid};
use crate::tx::SqlTx;
use crate::{Result, StoreError};

/// A checkpoint is issued at least every this many events…
pub const CHECKPOINT_EVERY: i64 = 256;
/// …and at least this often while events are written (ms).
pub const CHECKPOINT_INTERVAL_MS: i64 = 60_000;

/// Lanes of the log of a tenant created on PostgreSQL: more than the
/// transactions of one tenant that usually write at once, so that they do
/// not queue on one head row (see `crate::audithead`). SQLite lets one
/// writer in at a time, so its logs keep one lane.
pub const POSTGRES_LANES: u32 = 8;
/// Most lanes a log may have.
pub const MAX_LANES: u32 = 64;

/// UIDs tried for one event before giving up (a collision is rare).
const UID_ATTEMPTS: usize = 8;

/// Where each committed event goes besides the database (a SIEM stream).
pub trait AuditSink: Send + Sync + std::fmt::Debug {
    /// Called after the event's transaction committed. Must not block.
    fn publish(&self, event: &AuditEvent);
}

/// Filters of an audit query. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Events at or after this time (ms).
    pub from: Option<i64>,
    /// Events before this time (ms).
    pub to: Option<i64>,
    /// Events of this acting user.
    pub actor_uid: Option<Uid>,
    /// Events of this action (exact), or of every action under a prefix
    /// ending in `.` (`user.` matches `user.create`, `user.delete`…).
    pub action: Option<String>,
    /// Events on this object.
    pub target_uid: Option<String>,
    /// Events with this outcome.
    pub outcome: Option<Outcome>,
}

/// Which way to page through a log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuditOrder {
    /// Newest first (the API's default).
    #[default]
    NewestFirst,
    /// Oldest first (exports).
    OldestFirst,
}

/// A page request over a log: events after the cursor `seq` (exclusive, in
/// the chosen order), at most `limit` (1–1000, default 100).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditPage {
    /// Cursor: the last `seq` of the previous page.
    pub after: Option<i64>,
    /// Page size.
    pub limit: u32,
    /// Order.
    pub order: AuditOrder,
}

/// One page of a log and the cursor (`seq`) for the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPage {
    /// The events, in the requested order.
    pub items: Vec<AuditEvent>,
    /// Cursor for the next page, `None` on the last page.
    pub next: Option<i64>,
}

/// The state of one lane of a tenant's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogHead {
    /// Tenant.
    pub tenant_uid: Uid,
    /// The lane (0 ≤ lane < lanes).
    pub lane: u32,
    /// How many lanes the log has.
    pub lanes: u32,
    /// The lane's last event's number ([`empty_seq`] when empty).
    pub seq: i64,
    /// Last event's hash (hex).
    pub hash: String,
    /// When the head was last signed (ms).
    pub at: i64,
    /// Signature over (tenant, lanes, seq, hash, at).
    pub signature: String,
    /// The lane's last event removed by retention ([`empty_seq`]: none).
    pub base_seq: i64,
    /// Its hash (genesis when none).
    pub base_hash: String,
}

/// The first thing found wrong in a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogProblem {
    /// The tenant exists but its log has no head: the log was removed.
    #[error("the log has no signed head: it was removed or never initialised")]
    HeadMissing,
    /// A lane's head is missing.
    #[error("the signed head of lane {lane} of the log's {lanes} is missing: it was removed")]
    LaneHeadMissing {
        /// The lane.
        lane: u32,
        /// Lanes the other heads sign.
        lanes: u32,
    },
    /// The head's signature does not verify.
    #[error("the signed head (#{seq}) has an invalid signature: the head was forged or altered")]
    HeadSignature {
        /// Head's seq.
        seq: i64,
    },
    /// An event's content no longer matches its hash.
    #[error("event #{seq} ({uid}) was modified: its content no longer matches its hash")]
    Modified {
        /// Position.
        seq: i64,
        /// Its UID as stored.
        uid: String,
    },
    /// An event sits at another position than the one it was recorded at.
    #[error("event #{seq} ({uid}) was reordered: it was recorded as #{recorded_as}")]
    Reordered {
        /// Where it is now.
        seq: i64,
        /// Its UID.
        uid: String,
        /// Where it was recorded.
        recorded_as: i64,
    },
    /// An intact event does not follow its predecessor.
    #[error(
        "event #{seq} ({uid}) does not follow the event before it: the log was modified or reordered at or just before #{seq}"
    )]
    Unlinked {
        /// Position.
        seq: i64,
        /// Its UID.
        uid: String,
    },
    /// Events are missing in the middle.
    #[error("event #{seq} was removed{}", next.as_ref().map(|(s, u)| format!(" (the next event present is #{s}, {u})")).unwrap_or_default())]
    Removed {
        /// The first missing position.
        seq: i64,
        /// The next event present, if any.
        next: Option<(i64, String)>,
    },
    /// Events are missing at the end (of a lane).
    #[error(
        "the log was truncated: it ends at #{last} but its signed head (or a checkpoint) says #{expected}; event #{removed} and later were removed"
    )]
    Truncated {
        /// Last event present (in the lane).
        last: i64,
        /// Last event the signatures account for.
        expected: i64,
        /// The first event missing.
        removed: i64,
    },
    /// Events past the signed head (appended without the key).
    #[error(
        "event #{seq} ({uid}) is not covered by the signed head: it was added outside Palisade"
    )]
    Unsigned {
        /// Position.
        seq: i64,
        /// Its UID.
        uid: String,
    },
    /// The last event is not the one the head signed.
    #[error("event #{seq} ({uid}) is not the event the signed head names: it was replaced")]
    HeadMismatch {
        /// Position.
        seq: i64,
        /// Its UID.
        uid: String,
    },
    /// A checkpoint is forged or disagrees with the log.
    #[error("checkpoint #{seq} {reason}")]
    Checkpoint {
        /// Its seq.
        seq: i64,
        /// What is wrong.
        reason: &'static str,
    },
    /// A stored value cannot be read as an event.
    #[error("event #{seq} is unreadable: {reason}")]
    Unreadable {
        /// Position.
        seq: i64,
        /// Why.
        reason: String,
    },
}

impl LogProblem {
    /// Where in the log the problem lies, to name the earliest of several.
    fn position(&self) -> i64 {
        match self {
            LogProblem::HeadMissing | LogProblem::LaneHeadMissing { .. } => i64::MIN,
            LogProblem::HeadSignature { seq }
            | LogProblem::Modified { seq, .. }
            | LogProblem::Reordered { seq, .. }
            | LogProblem::Unlinked { seq, .. }
            | LogProblem::Removed { seq, .. }
            | LogProblem::Unsigned { seq, .. }
            | LogProblem::HeadMismatch { seq, .. }
            | LogProblem::Checkpoint { seq, .. }
            | LogProblem::Unreadable { seq, .. } => *seq,
            LogProblem::Truncated { removed, .. } => *removed,
        }
    }
}

/// What verifying one tenant's log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogReport {
    /// Tenant.
    pub tenant_uid: Uid,
    /// Events checked.
    pub events: u64,
    /// Checkpoints checked.
    pub checkpoints: u64,
    /// First remaining event's number (after retention), if any.
    pub first_seq: Option<i64>,
    /// Highest number a lane's head names.
    pub head_seq: i64,
    /// Lanes of the log (0 when its heads are missing).
    pub lanes: u32,
    /// The first problem, or `None` when the log is intact.
    pub problem: Option<LogProblem>,
}

pub(crate) const EVENT_COLUMNS: &str = "tenant_uid, seq, uid, at, actor_kind, actor_uid, api_key_uid, session_uid, request_uid, client_ip, user_agent, action, target_type, target_uid, outcome, details, prev_hash, hash";

fn opt_uid(row: &AnyRow, col: &str) -> Result<Option<Uid>> {
    row.try_get::<Option<String>, _>(col)?
        .as_deref()
        .map(parse_uid)
        .transpose()
}

pub(crate) fn event_row(row: &AnyRow) -> Result<AuditEvent> {
    let kind: String = row.try_get("actor_kind")?;
    let outcome: String = row.try_get("outcome")?;
    Ok(AuditEvent {
        tenant_uid: parse_uid(&row.try_get::<String, _>("tenant_uid")?)?,
        seq: row.try_get("seq")?,
        uid: parse_uid(&row.try_get::<String, _>("uid")?)?,
        at: row.try_get("at")?,
        actor_kind: ActorKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("audit actor kind {kind:?}")))?,
        actor_uid: opt_uid(row, "actor_uid")?,
        api_key_uid: opt_uid(row, "api_key_uid")?,
        session_uid: opt_uid(row, "session_uid")?,
        request_uid: opt_uid(row, "request_uid")?,
        client_ip: row.try_get("client_ip")?,
        user_agent: row.try_get("user_agent")?,
        action: row.try_get("action")?,
        target_type: row.try_get("target_type")?,
        target_uid: row.try_get("target_uid")?,
        outcome: Outcome::parse(&outcome)
            .ok_or_else(|| StoreError::Corrupt(format!("audit outcome {outcome:?}")))?,
        details: row.try_get("details")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

/// The `seq` of lane `lane` of a log of `lanes` lanes while the lane is
/// empty: one stride before its first event (`lane + 1`).
pub fn empty_seq(lane: u32, lanes: u32) -> i64 {
    i64::from(lane) + 1 - i64::from(lanes)
}

/// The lane event `seq` (1, 2, 3…) of a log of `lanes` lanes falls in.
pub fn lane_of(seq: i64, lanes: u32) -> u32 {
    let n = i64::from(lanes.max(1));
    // rem_euclid of a positive modulus is in 0..n, which fits.
    u32::try_from((seq - 1).rem_euclid(n)).unwrap_or(0)
}

/// A head row's `seq, hash, checkpoint_at`.
fn head_of(tenant: Uid, row: &AnyRow) -> Result<Head> {
    let hex: String = row.try_get(1)?;
    Ok(Head {
        seq: row.try_get(0)?,
        hash: chain::from_hex(&hex)
            .ok_or_else(|| StoreError::Corrupt(format!("audit head of {tenant} is malformed")))?,
        checkpoint_at: row.try_get(2)?,
    })
}

fn audit_write(e: impl std::fmt::Display) -> StoreError {
    StoreError::AuditWrite(e.to_string())
}

impl SqlTx {
    /// Appends `entry` to its tenant's chain (see the module docs). Any
    /// failure is [`StoreError::AuditWrite`]; the caller does not commit.
    pub(crate) async fn append_audit(&mut self, entry: AuditEntry) -> Result<AuditEvent> {
        let tenant = match (entry.tenant_uid, self.scope) {
            (Some(t), Scope::Tenant(s)) if t != s => {
                return Err(StoreError::Invalid(
                    "an audit event belongs to the transaction's tenant".into(),
                ));
            }
            (Some(t), _) => t,
            (None, Scope::Tenant(s)) => s,
            (None, Scope::Platform) => {
                return Err(StoreError::Invalid(
                    "a platform change must name the tenant whose log records it".into(),
                ));
            }
        };
        #[cfg(feature = "bench")]
        if self.store.bench_unaudited() {
            return Ok(unrecorded(tenant, &entry, self.store.now()));
        }
        self.append_inner(tenant, entry).await.map_err(|e| match e {
            StoreError::AuditWrite(_) => e,
            other => audit_write(other),
        })
    }

    async fn append_inner(&mut self, tenant: Uid, entry: AuditEntry) -> Result<AuditEvent> {
        let now = self.store.now();
        let details = entry.details_text();
        let mut event = AuditEvent {
            tenant_uid: tenant,
            seq: 0,
            uid: Uid::from_u64(0),
            at: now,
            actor_kind: entry.ctx.actor_kind,
            actor_uid: entry.ctx.actor_uid,
            api_key_uid: entry.ctx.api_key_uid,
            session_uid: entry.ctx.session_uid,
            request_uid: entry.ctx.request_uid,
            client_ip: entry.ctx.client_ip,
            user_agent: entry.ctx.user_agent,
            action: entry.action,
            target_type: entry.target_type,
            target_uid: entry.target_uid,
            outcome: entry.outcome,
            details,
            prev_hash: String::new(),
            hash: String::new(),
        };
        // The lane to append to: the one this transaction holds in the
        // tenant's log, else one that no other transaction of this process
        // holds, if any.
        let (lane, lanes) = match self.lanes.iter().find(|l| l.tenant == tenant) {
            Some(l) => (l.lane, l.lanes),
            None => {
                let l = self.lease_lane(tenant, now).await?;
                let held = (l.lane, l.lanes);
                self.lanes.push(l);
                held
            }
        };
        let stride = i64::from(lanes);
        // The head to chain onto: the one this process's last append left
        // (checked by the database in the same statement), else the
        // database's, read with its lock.
        let cache = &self.store.audit_heads;
        let (mut head, mut locked) = match cache.get(tenant, lane) {
            Some(h) => (h, false),
            None => (self.lock_head(tenant, lane).await?, true),
        };
        // What the head row must hold for the advance to apply: the head,
        // except after a UID collision, when this transaction already moved it.
        let mut expect = (head.seq, chain::to_hex(&head.hash));
        for _ in 0..UID_ATTEMPTS + 1 {
            event.seq = head.seq + stride;
            event.prev_hash = chain::to_hex(&head.hash);
            event.uid = self.store.uids.next_uid()?;
            let hash = chain::link(&head.hash, &event.canonical_bytes());
            event.hash = chain::to_hex(&hash);
            let signature = self.store.audit_signer.sign(&LogStatement {
                tenant,
                lanes,
                seq: event.seq,
                hash,
                at: now,
            });
            // Counted within the lane: its first, second… event.
            let nth = (event.seq - 1) / stride + 1;
            let checkpoint =
                nth % CHECKPOINT_EVERY == 0 || now - head.checkpoint_at >= CHECKPOINT_INTERVAL_MS;
            let checkpoint_at = if checkpoint { now } else { head.checkpoint_at };
            match self
                .advance_head(lane, &event, expect.0, &expect.1, &signature, checkpoint_at)
                .await?
            {
                Advanced::Both => {
                    self.store.audit_heads.put(
                        tenant,
                        lane,
                        Head {
                            seq: event.seq,
                            hash,
                            checkpoint_at,
                        },
                    );
                    if checkpoint {
                        self.insert_checkpoint(tenant, event.seq, &event.hash, now, &signature)
                            .await?;
                    }
                    return Ok(event);
                }
                // The UID is taken and the head now names this attempt's
                // event: the next attempt replaces it.
                Advanced::HeadOnly => {
                    expect = (event.seq, event.hash.clone());
                    locked = true;
                }
                Advanced::Neither if !locked => {
                    self.store.audit_heads.forget(tenant, lane);
                    head = self.lock_head(tenant, lane).await?;
                    locked = true;
                    expect = (head.seq, chain::to_hex(&head.hash));
                }
                Advanced::Neither => {
                    return Err(StoreError::Corrupt(format!(
                        "the audit head of {tenant} (lane {lane}) changed while this transaction held it"
                    )));
                }
            }
        }
        Err(StoreError::UidExhausted)
    }

    /// Holds a lane of `tenant`'s log for this transaction, learning the
    /// log's lanes from the database the first time (and creating the
    /// one-lane head of a tenant created before the log existed).
    async fn lease_lane(&mut self, tenant: Uid, now: i64) -> Result<LaneLease> {
        if let Some(l) = self.store.audit_heads.lease(tenant) {
            return Ok(l);
        }
        let rows = sqlx::query(
            "SELECT seq, hash, checkpoint_at, lane, lanes FROM audit_heads WHERE tenant_uid = $1 ORDER BY lane",
        )
        .bind(tenant.to_string())
        .fetch_all(&mut *self.tx)
        .await?;
        let mut heads = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            let lane: i64 = r.try_get(3)?;
            let lanes: i64 = r.try_get(4)?;
            if lane != i as i64 || lanes != rows.len() as i64 || lanes > i64::from(MAX_LANES) {
                return Err(StoreError::Corrupt(format!(
                    "the audit heads of {tenant} are malformed"
                )));
            }
            heads.push(head_of(tenant, r)?);
        }
        if heads.is_empty() {
            heads.push(self.create_head(tenant, now).await?);
        }
        self.store.audit_heads.learn(tenant, heads);
        self.store
            .audit_heads
            .lease(tenant)
            .ok_or_else(|| StoreError::Corrupt(format!("the audit log of {tenant} has no lanes")))
    }

    /// Creates (or, if another transaction just did, takes the lock of) the
    /// one-lane head of a tenant created before the log existed.
    async fn create_head(&mut self, tenant: Uid, now: i64) -> Result<Head> {
        let genesis = chain::to_hex(&chain::genesis(tenant));
        let row = sqlx::query(
            "INSERT INTO audit_heads (tenant_uid, lane, lanes, seq, hash, at, signature, base_seq, base_hash, checkpoint_at) \
             VALUES ($1, 0, 1, 0, $2, $3, '', 0, $2, 0) \
             ON CONFLICT (tenant_uid, lane) DO UPDATE SET tenant_uid = excluded.tenant_uid \
             RETURNING seq, hash, checkpoint_at, lanes",
        )
        .bind(tenant.to_string())
        .bind(genesis)
        .bind(now)
        .fetch_one(&mut *self.tx)
        .await?;
        let lanes: i64 = row.try_get(3)?;
        if lanes != 1 {
            self.store.audit_heads.forget_log(tenant);
            return Err(StoreError::Corrupt(format!(
                "the audit heads of {tenant} changed while this transaction read them"
            )));
        }
        head_of(tenant, &row)
    }

    /// Reads the head of lane `lane` of `tenant`'s log and takes its row
    /// lock (PostgreSQL; on SQLite the write lock is already held by `BEGIN
    /// IMMEDIATE`).
    async fn lock_head(&mut self, tenant: Uid, lane: u32) -> Result<Head> {
        let row = sqlx::query(
            "UPDATE audit_heads SET lane = lane WHERE tenant_uid = $1 AND lane = $2 \
             RETURNING seq, hash, checkpoint_at",
        )
        .bind(tenant.to_string())
        .bind(i64::from(lane))
        .fetch_optional(&mut *self.tx)
        .await?;
        match row {
            Some(row) => head_of(tenant, &row),
            None => {
                self.store.audit_heads.forget_log(tenant);
                Err(StoreError::Corrupt(format!(
                    "the audit head of {tenant} (lane {lane}) is missing"
                )))
            }
        }
    }

    async fn insert_checkpoint(
        &mut self,
        tenant: Uid,
        seq: i64,
        hash: &str,
        at: i64,
        signature: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit_checkpoints (tenant_uid, seq, hash, at, signature) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (tenant_uid, seq) DO NOTHING",
        )
        .bind(tenant.to_string())
        .bind(seq)
        .bind(hash.to_owned())
        .bind(at)
        .bind(signature.to_owned())
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Writes the signed, empty heads of the lanes of a new tenant's log.
    pub(crate) async fn init_log(&mut self, tenant: Uid) -> Result<()> {
        let now = self.store.now();
        let lanes = self.store.audit_lanes;
        for lane in 0..lanes {
            let seq = empty_seq(lane, lanes);
            let genesis = chain::lane_genesis(tenant, lane);
            let signature = self.store.audit_signer.sign(&LogStatement {
                tenant,
                lanes,
                seq,
                hash: genesis,
                at: now,
            });
            let g = chain::to_hex(&genesis);
            sqlx::query(
                "INSERT INTO audit_heads (tenant_uid, lane, lanes, seq, hash, at, signature, base_seq, base_hash, checkpoint_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $4, $5, $6) ON CONFLICT (tenant_uid, lane) DO NOTHING",
            )
            .bind(tenant.to_string())
            .bind(i64::from(lane))
            .bind(i64::from(lanes))
            .bind(seq)
            .bind(g)
            .bind(now)
            .bind(signature)
            .execute(&mut *self.tx)
            .await?;
        }
        Ok(())
    }

    /// Removes the events of the lane of `through_seq` in `tenant`'s log up
    /// to `through_seq` after they were archived; the cut is pinned by a
    /// signed checkpoint at `through_seq`. `through_hash` must be the hash
    /// of that event (so a concurrent change cannot make this remove events
    /// nobody archived).
    pub(crate) async fn audit_prune(
        &mut self,
        tenant: Uid,
        through_seq: i64,
        through_hash: &str,
    ) -> Result<u64> {
        let t = tenant.to_string();
        let found = sqlx::query(
            "SELECT e.hash, h.lanes FROM audit_events e JOIN audit_heads h \
             ON h.tenant_uid = e.tenant_uid AND h.lane = 0 \
             WHERE e.tenant_uid = $1 AND e.seq = $2",
        )
        .bind(t.clone())
        .bind(through_seq)
        .fetch_optional(&mut *self.tx)
        .await?;
        let lanes: i64 = match found {
            Some(r) if r.try_get::<String, _>(0)? == through_hash => r.try_get(1)?,
            _ => {
                return Err(StoreError::Invalid(format!(
                    "event #{through_seq} of the log is not the one archived; nothing was removed"
                )));
            }
        };
        let lanes = u32::try_from(lanes)
            .ok()
            .filter(|n| (1..=MAX_LANES).contains(n))
            .ok_or_else(|| {
                StoreError::Corrupt(format!("the audit heads of {tenant} are malformed"))
            })?;
        let lane = lane_of(through_seq, lanes);
        sqlx::query("INSERT INTO audit_prune_permits (tenant_uid) VALUES ($1)")
            .bind(t.clone())
            .execute(&mut *self.tx)
            .await?;
        let removed = sqlx::query(
            "DELETE FROM audit_events WHERE tenant_uid = $1 AND seq <= $2 AND ($3 = 1 OR (seq - 1) % $3 = $4)",
        )
        .bind(t.clone())
        .bind(through_seq)
        .bind(i64::from(lanes))
        .bind(i64::from(lane))
        .execute(&mut *self.tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM audit_prune_permits WHERE tenant_uid = $1")
            .bind(t.clone())
            .execute(&mut *self.tx)
            .await?;
        let now = self.store.now();
        let hash = chain::from_hex(through_hash)
            .ok_or_else(|| StoreError::Corrupt("archived hash is malformed".into()))?;
        let signature = self.store.audit_signer.sign(&LogStatement {
            tenant,
            lanes,
            seq: through_seq,
            hash,
            at: now,
        });
        // Replace a checkpoint at the cut, if any, with this one.
        sqlx::query("DELETE FROM audit_checkpoints WHERE tenant_uid = $1 AND seq = $2")
            .bind(t.clone())
            .bind(through_seq)
            .execute(&mut *self.tx)
            .await?;
        self.insert_checkpoint(tenant, through_seq, through_hash, now, &signature)
            .await?;
        sqlx::query(
            "UPDATE audit_heads SET base_seq = $1, base_hash = $2 WHERE tenant_uid = $3 AND lane = $4",
        )
        .bind(through_seq)
        .bind(through_hash.to_owned())
        .bind(t)
        .bind(i64::from(lane))
        .execute(&mut *self.tx)
        .await?;
        Ok(removed)
    }
}

#[cfg(feature = "bench")]
impl SqlStore {
    /// Benchmarks only: appends `entries` to `tenant`'s log in one
    /// transaction through the real append path (chain links, re-signed
    /// head, checkpoints) and changes nothing else, to build large logs
    /// quickly. Not compiled into Palisade.
    pub async fn append_for_bench(&self, tenant: Uid, entries: Vec<AuditEntry>) -> Result<()> {
        let mut tx = self.write_in(Scope::Tenant(tenant)).await?;
        for entry in entries {
            tx.append_audit(entry).await?;
        }
        tx.tx.commit().await?;
        Ok(())
    }
}

/// What a bench run with auditing switched off returns instead of an event.
#[cfg(feature = "bench")]
fn unrecorded(tenant: Uid, entry: &AuditEntry, now: i64) -> AuditEvent {
    AuditEvent {
        tenant_uid: tenant,
        seq: 0,
        uid: Uid::from_u64(0),
        at: now,
        actor_kind: entry.ctx.actor_kind,
        actor_uid: entry.ctx.actor_uid,
        api_key_uid: None,
        session_uid: None,
        request_uid: None,
        client_ip: None,
        user_agent: None,
        action: entry.action.clone(),
        target_type: None,
        target_uid: None,
        outcome: entry.outcome,
        details: String::new(),
        prev_hash: String::new(),
        hash: String::new(),
    }
}

fn head_row(row: &AnyRow) -> Result<LogHead> {
    let tenant_uid = parse_uid(&row.try_get::<String, _>("tenant_uid")?)?;
    let small = |col: &str| -> Result<u32> {
        let v: i64 = row.try_get(col)?;
        u32::try_from(v).map_err(|_| {
            StoreError::Corrupt(format!("the audit head of {tenant_uid} has {col} {v}"))
        })
    };
    Ok(LogHead {
        tenant_uid,
        lane: small("lane")?,
        lanes: small("lanes")?,
        seq: row.try_get("seq")?,
        hash: row.try_get("hash")?,
        at: row.try_get("at")?,
        signature: row.try_get("signature")?,
        base_seq: row.try_get("base_seq")?,
        base_hash: row.try_get("base_hash")?,
    })
}

impl SqlStore {
    /// Gives every tenant without a log head its signed, empty head (for
    /// tenants created before the audit log existed). Run only by the open
    /// that applies the audit log's migration (see `SqlStore::open`).
    pub(crate) async fn ensure_log_heads(&self) -> Result<()> {
        let mut tx = self.write_in(Scope::Platform).await?;
        let rows = sqlx::query(
            "SELECT uid FROM tenants WHERE uid NOT IN (SELECT tenant_uid FROM audit_heads)",
        )
        .fetch_all(&mut *tx.tx)
        .await?;
        if rows.is_empty() {
            tx.tx.rollback().await?;
            return Ok(());
        }
        for row in rows {
            let tenant = parse_uid(&row.try_get::<String, _>(0)?)?;
            tx.init_log(tenant).await?;
        }
        tx.tx.commit().await?;
        Ok(())
    }

    /// Hands a committed event to the sink, if one is set.
    pub(crate) fn published(&self, event: &AuditEvent) {
        if let Some(sink) = &self.audit_sink {
            sink.publish(event);
        }
    }

    /// One page of `tenant`'s log.
    pub(crate) async fn audit_list(
        &self,
        tenant: Uid,
        filter: &AuditFilter,
        page: AuditPage,
    ) -> Result<EventPage> {
        let limit = match page.limit {
            0 => 100,
            n => n.min(1000),
        };
        let (cmp, dir) = match page.order {
            AuditOrder::NewestFirst => ("<", "DESC"),
            AuditOrder::OldestFirst => (">", "ASC"),
        };
        let cursor = match (page.after, page.order) {
            (Some(s), _) => s,
            (None, AuditOrder::NewestFirst) => i64::MAX,
            (None, AuditOrder::OldestFirst) => -1,
        };
        let (action_exact, action_prefix) = match filter.action.as_deref() {
            Some(a) if a.ends_with('.') => (String::new(), format!("{}%", like_escape(a))),
            Some(a) => (a.to_owned(), String::new()),
            None => (String::new(), String::new()),
        };
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events WHERE tenant_uid = $1 AND seq {cmp} $2 \
             AND ($3 < 0 OR at >= $3) AND ($4 < 0 OR at < $4) \
             AND ($5 = '' OR actor_uid = $5) AND ($6 = '' OR action = $6) \
             AND ($7 = '' OR action LIKE $7 ESCAPE '\\') AND ($8 = '' OR target_uid = $8) \
             AND ($9 = '' OR outcome = $9) ORDER BY seq {dir} LIMIT $10"
        );
        let mut tx = self.begin_read(Scope::Tenant(tenant)).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.to_string())
            .bind(cursor)
            .bind(filter.from.unwrap_or(-1))
            .bind(filter.to.unwrap_or(-1))
            .bind(filter.actor_uid.map(|u| u.to_string()).unwrap_or_default())
            .bind(action_exact)
            .bind(action_prefix)
            .bind(filter.target_uid.clone().unwrap_or_default())
            .bind(filter.outcome.map(|o| o.as_str()).unwrap_or(""))
            .bind(i64::from(limit) + 1)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut items = rows.iter().map(event_row).collect::<Result<Vec<_>>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|e| e.seq)
        } else {
            None
        };
        Ok(EventPage { items, next })
    }

    /// The heads of every lane of every log (platform scope), by tenant and lane.
    pub(crate) async fn audit_heads(&self) -> Result<Vec<LogHead>> {
        let mut tx = self.begin_read(Scope::Platform).await?;
        let rows = sqlx::query(
            "SELECT tenant_uid, lane, lanes, seq, hash, at, signature, base_seq, base_hash FROM audit_heads ORDER BY tenant_uid, lane",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(head_row).collect()
    }

    /// Events of the lane `head` names recorded before `before` (ms), oldest
    /// first, at most `limit`: what retention archives next.
    pub(crate) async fn audit_expired(
        &self,
        head: &LogHead,
        before: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>> {
        let tenant = head.tenant_uid;
        let mut tx = self.begin_read(Scope::Tenant(tenant)).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events WHERE tenant_uid = $1 AND at < $2 \
             AND ($4 = 1 OR (seq - 1) % $4 = $5) ORDER BY seq LIMIT $3"
        )))
        .bind(tenant.to_string())
        .bind(before)
        .bind(i64::from(limit))
        .bind(i64::from(head.lanes.max(1)))
        .bind(i64::from(head.lane))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(event_row).collect()
    }

    /// Verifies the logs of `tenant` (or of every tenant): chains, signed
    /// heads, checkpoints and retention cuts. Reads only.
    pub(crate) async fn audit_verify(&self, tenant: Option<Uid>) -> Result<Vec<LogReport>> {
        let verifier = self.audit_signer.verifier();
        let mut heads: BTreeMap<Uid, Vec<LogHead>> = BTreeMap::new();
        for h in self.audit_heads().await? {
            heads.entry(h.tenant_uid).or_default().push(h);
        }
        // Every tenant must have a log; logs of deleted tenants are kept.
        let mut tenants: Vec<Uid> = {
            let mut tx = self.begin_read(Scope::Platform).await?;
            let rows = sqlx::query("SELECT uid FROM tenants")
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            rows.iter()
                .map(|r| parse_uid(&r.try_get::<String, _>(0)?))
                .collect::<Result<Vec<_>>>()?
        };
        tenants.extend(heads.keys().copied());
        {
            let mut tx = self.begin_read(Scope::Platform).await?;
            let rows = sqlx::query("SELECT DISTINCT tenant_uid FROM audit_events")
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            for r in rows {
                tenants.push(parse_uid(&r.try_get::<String, _>(0)?)?);
            }
        }
        tenants.sort();
        tenants.dedup();
        if let Some(t) = tenant {
            tenants.retain(|x| *x == t);
            if tenants.is_empty() {
                return Err(StoreError::NotFound);
            }
        }
        let mut reports = Vec::with_capacity(tenants.len());
        for t in tenants {
            let lanes = heads.get(&t).map(Vec::as_slice).unwrap_or_default();
            reports.push(self.verify_log(t, lanes, &verifier).await?);
        }
        Ok(reports)
    }

    async fn verify_log(
        &self,
        tenant: Uid,
        heads: &[LogHead],
        verifier: &AuditVerifier,
    ) -> Result<LogReport> {
        let mut report = LogReport {
            tenant_uid: tenant,
            events: 0,
            checkpoints: 0,
            first_seq: None,
            head_seq: heads.iter().map(|h| h.seq).max().unwrap_or(0),
            lanes: heads.first().map_or(0, |h| h.lanes),
            problem: None,
        };
        let Some(first) = heads.first() else {
            report.problem = Some(LogProblem::HeadMissing);
            return Ok(report);
        };
        // Every lane's head signed, each in its place, all of one count.
        let lanes = first.lanes;
        let statement = |seq: i64, hash: &str, at: i64| {
            chain::from_hex(hash).map(|hash| LogStatement {
                tenant,
                lanes,
                seq,
                hash,
                at,
            })
        };
        for h in heads {
            let signed = h.lanes == lanes
                && (1..=MAX_LANES).contains(&lanes)
                && h.lane < lanes
                && lane_of(h.seq, lanes) == h.lane
                && statement(h.seq, &h.hash, h.at)
                    .is_some_and(|s| verifier.verify(&s, &h.signature));
            if !signed {
                report.problem = Some(LogProblem::HeadSignature { seq: h.seq });
                return Ok(report);
            }
        }
        if let Some(lane) = (0..lanes).find(|l| heads.get(*l as usize).map(|h| h.lane) != Some(*l))
        {
            report.problem = Some(LogProblem::LaneHeadMissing { lane, lanes });
            return Ok(report);
        }
        let stride = i64::from(lanes);
        // Checkpoints: each signed, none beyond its lane's head; then the
        // events, all in one snapshot.
        let mut tx = self.begin_snapshot(Scope::Tenant(tenant)).await?;
        let rows = sqlx::query(
            "SELECT seq, hash, at, signature FROM audit_checkpoints WHERE tenant_uid = $1 ORDER BY seq",
        )
        .bind(tenant.to_string())
        .fetch_all(&mut *tx)
        .await?;
        let mut checkpoints: BTreeMap<i64, String> = BTreeMap::new();
        for r in &rows {
            let seq: i64 = r.try_get(0)?;
            let hash: String = r.try_get(1)?;
            let at: i64 = r.try_get(2)?;
            let sig: String = r.try_get(3)?;
            report.checkpoints += 1;
            if !statement(seq, &hash, at).is_some_and(|s| verifier.verify(&s, &sig)) {
                tx.commit().await?;
                report.problem = Some(LogProblem::Checkpoint {
                    seq,
                    reason: "has an invalid signature (forged or altered)",
                });
                return Ok(report);
            }
            // Every lane has its head (checked above).
            let head_seq = heads
                .get(lane_of(seq, lanes) as usize)
                .map_or(i64::MIN, |h| h.seq);
            if seq > head_seq {
                tx.commit().await?;
                report.problem = Some(LogProblem::Truncated {
                    last: head_seq,
                    expected: seq,
                    removed: head_seq.saturating_add(stride),
                });
                return Ok(report);
            }
            checkpoints.insert(seq, hash);
        }
        // Each lane's retention cut must be pinned by a checkpoint; each lane
        // starts from it (or its genesis).
        let mut states = Vec::with_capacity(heads.len());
        for (lane, head) in (0..lanes).zip(heads) {
            let empty = empty_seq(lane, lanes);
            if head.base_seq > empty && checkpoints.get(&head.base_seq) != Some(&head.base_hash) {
                tx.commit().await?;
                report.problem = Some(LogProblem::Checkpoint {
                    seq: head.base_seq,
                    reason: "pinning the retention cut is missing or disagrees with it",
                });
                return Ok(report);
            }
            let base = if head.base_seq <= empty {
                Some(chain::lane_genesis(tenant, lane))
            } else {
                chain::from_hex(&head.base_hash)
            };
            let Some(prev) = base else {
                tx.commit().await?;
                report.problem = Some(LogProblem::HeadSignature { seq: head.seq });
                return Ok(report);
            };
            states.push(LaneCheck {
                prev,
                expected: head.base_seq.max(empty) + stride,
                last_uid: String::from("-"),
                problem: None,
            });
        }
        // One pass over the events in order, each checked against the one
        // before it in its lane. A lane stops at its first problem; the
        // report names the earliest problem of all lanes.
        let mut open_lanes = states.len();
        let mut last_seen = None;
        {
            let mut rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {EVENT_COLUMNS} FROM audit_events WHERE tenant_uid = $1 ORDER BY seq"
            )))
            .bind(tenant.to_string())
            .fetch(&mut *tx);
            while let Some(row) = rows.try_next().await? {
                let seq: i64 = row.try_get("seq")?;
                let lane = lane_of(seq, lanes);
                let (Some(st), Some(head)) =
                    (states.get_mut(lane as usize), heads.get(lane as usize))
                else {
                    break;
                };
                last_seen = Some(seq);
                if st.problem.is_some() {
                    continue;
                }
                report.first_seq.get_or_insert(seq);
                let found = match event_row(&row) {
                    Err(e) => Some(LogProblem::Unreadable {
                        seq,
                        reason: e.to_string(),
                    }),
                    Ok(_) if seq < 1 || seq < st.expected => Some(LogProblem::Unreadable {
                        seq,
                        reason: "it lies before the retention cut".into(),
                    }),
                    Ok(event) if seq > head.seq => Some(LogProblem::Unsigned {
                        seq,
                        uid: event.uid.to_string(),
                    }),
                    // The next event present in the log is named below.
                    Ok(_) if seq > st.expected => Some(LogProblem::Removed {
                        seq: st.expected,
                        next: None,
                    }),
                    Ok(event) => match check_event(&event, &st.prev) {
                        Some(p) => Some(p),
                        None if checkpoints.get(&seq).is_some_and(|h| *h != event.hash) => {
                            Some(LogProblem::Checkpoint {
                                seq,
                                reason: "disagrees with the event at its position",
                            })
                        }
                        None => {
                            st.prev = chain::from_hex(&event.hash).unwrap_or(st.prev);
                            st.expected += stride;
                            st.last_uid = event.uid.to_string();
                            report.events += 1;
                            None
                        }
                    },
                };
                if found.is_some() {
                    st.problem = found;
                    open_lanes -= 1;
                    if open_lanes == 0 {
                        break;
                    }
                }
            }
        }
        // The end of each lane against its signed head.
        for (st, head) in states.iter_mut().zip(heads) {
            if st.problem.is_some() {
                continue;
            }
            let last = st.expected - stride;
            if last < head.seq {
                st.problem = Some(LogProblem::Truncated {
                    last,
                    expected: head.seq,
                    removed: st.expected,
                });
            } else if chain::to_hex(&st.prev) != head.hash {
                st.problem = Some(LogProblem::HeadMismatch {
                    seq: last,
                    uid: st.last_uid.clone(),
                });
            }
        }
        let first = states
            .into_iter()
            .filter_map(|st| st.problem)
            .min_by_key(LogProblem::position);
        // A lane cut short is, for the log, events removed in the middle
        // when later events (of other lanes) remain, and a cut end when
        // none do; the event named after a removal is the next one present
        // in the log, of whichever lane.
        report.problem = match first {
            Some(
                LogProblem::Truncated { removed, .. } | LogProblem::Removed { seq: removed, .. },
            ) => {
                let next = sqlx::query(
                    "SELECT seq, uid FROM audit_events WHERE tenant_uid = $1 AND seq > $2 ORDER BY seq LIMIT 1",
                )
                .bind(tenant.to_string())
                .bind(removed)
                .fetch_optional(&mut *tx)
                .await?;
                match next {
                    Some(r) => Some(LogProblem::Removed {
                        seq: removed,
                        next: Some((r.try_get(0)?, r.try_get(1)?)),
                    }),
                    None => Some(LogProblem::Truncated {
                        last: last_seen.unwrap_or(removed - 1).min(removed - 1),
                        expected: report.head_seq,
                        removed,
                    }),
                }
            }
            other => other,
        };
        tx.commit().await?;
        Ok(report)
    }
}

/// What verification knows about one lane while it reads the events.
struct LaneCheck {
    /// Hash of the lane's last good event (or its start).
    prev: ChainHash,
    /// Number the lane's next event must have.
    expected: i64,
    /// UID of the lane's last good event.
    last_uid: String,
    /// The lane's first problem.
    problem: Option<LogProblem>,
}

/// Checks one event against the hash before it; names what is wrong.
fn check_event(event: &AuditEvent, prev: &ChainHash) -> Option<LogProblem> {
    let uid = event.uid.to_string();
    let stored_prev = chain::from_hex(&event.prev_hash);
    let self_consistent = stored_prev
        .is_some_and(|p| chain::to_hex(&chain::link(&p, &event.canonical_bytes())) == event.hash);
    if stored_prev.as_ref() == Some(prev) {
        if self_consistent {
            return None;
        }
        return Some(LogProblem::Modified {
            seq: event.seq,
            uid,
        });
    }
    if self_consistent {
        return Some(LogProblem::Unlinked {
            seq: event.seq,
            uid,
        });
    }
    // Was it recorded at another position? (Its content is intact but its
    // number was changed.)
    if let Some(p) = stored_prev {
        for delta in 1..=64i64 {
            for cand in [event.seq - delta, event.seq + delta] {
                if cand < 1 {
                    continue;
                }
                let moved = AuditEvent {
                    seq: cand,
                    ..event.clone()
                };
                if chain::to_hex(&chain::link(&p, &moved.canonical_bytes())) == event.hash {
                    return Some(LogProblem::Reordered {
                        seq: event.seq,
                        uid,
                        recorded_as: cand,
                    });
                }
            }
        }
    }
    Some(LogProblem::Modified {
        seq: event.seq,
        uid,
    })
}

fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
