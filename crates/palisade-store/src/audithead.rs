//! Advancing a tenant's audit head: the event insert and the head update in
//! one statement, chained onto a head remembered from the last append.
//!
//! An append needs the head (last `seq` and hash) to link its event. Reading
//! it from the database costs a round trip per append, so the store
//! remembers the head each append leaves ([`HeadCache`]) and makes the
//! update conditional on the database still holding that head: the update
//! and the event insert go out together, one round trip, and a stale
//! remembered head (another process or replica appended, or a transaction
//! rolled back) changes nothing and is told apart by the counts. The append
//! then reads the head with its lock (the old path) and tries again. The
//! database stays the authority: a remembered head is only ever a guess
//! that the conditional update checks.
//!
//! A log has one or more lanes (interleaved chains, see
//! `palisade_crypto::audit`), each with its own head row. A transaction
//! holds one lane ([`LaneLease`]) for all its appends, and this process
//! gives concurrent transactions of one tenant different lanes while there
//! are free ones, so that on PostgreSQL they do not queue on one head row
//! from their append to the end of their commit. Transactions of other
//! processes (replicas, the CLI) may pick a held lane; they then wait for its
//! row lock, as all appends did before lanes.
//!
//! Lock order is the same in every path (a head row, then the event's
//! index entries), and a transaction takes one head row per log, so appends
//! to one log cannot deadlock each other.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use palisade_core::Uid;
use palisade_core::audit::AuditEvent;
use palisade_crypto::audit::ChainHash;
use sqlx::Row;

use crate::Result;
use crate::audit::EVENT_COLUMNS;
use crate::sql::Backend;
use crate::tx::SqlTx;

/// The last event of a lane as an append left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    /// Number of the lane's last event (empty lane: its number + 1 − lanes).
    pub seq: i64,
    /// Hash of the last event (the lane's genesis hash when empty).
    pub hash: ChainHash,
    /// When the lane's last checkpoint was issued (ms).
    pub checkpoint_at: i64,
}

/// One lane as this process knows it.
#[derive(Debug, Clone, Copy, Default)]
struct LaneState {
    /// The head this process's last append left (a guess), if known.
    head: Option<Head>,
    /// Transactions of this process holding the lane.
    holders: u32,
}

/// The lanes of each tenant's log that this process appended to: their
/// heads as its last appends left them, committed or not, and which
/// transactions hold which lane. A head is a guess checked by the database
/// (see the module docs), never trusted on its own.
#[derive(Debug, Default)]
pub(crate) struct HeadCache {
    tenants: Mutex<HashMap<Uid, Vec<LaneState>>>,
}

/// A transaction's hold on one lane of a tenant's log: appends of that
/// transaction go to this lane, and other transactions of this process are
/// given another lane while one is free. Released when dropped (the
/// transaction ended).
#[derive(Debug)]
pub(crate) struct LaneLease {
    cache: Arc<HeadCache>,
    /// Tenant.
    pub tenant: Uid,
    /// The lane held.
    pub lane: u32,
    /// How many lanes the log has.
    pub lanes: u32,
}

impl Drop for LaneLease {
    fn drop(&mut self) {
        self.cache.update(self.tenant, self.lane, |l| {
            l.holders = l.holders.saturating_sub(1);
        });
    }
}

impl HeadCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<Uid, Vec<LaneState>>> {
        match self.tenants.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Changes what this process knows of lane `lane` of `tenant`'s log, if
    /// it knows the log.
    fn update(&self, tenant: Uid, lane: u32, change: impl FnOnce(&mut LaneState)) {
        if let Some(l) = self
            .lock()
            .get_mut(&tenant)
            .and_then(|lanes| lanes.get_mut(lane as usize))
        {
            change(l);
        }
    }

    /// Holds a lane of `tenant`'s log, if this process knows the log: the
    /// one fewest transactions hold, and among those the one whose head is
    /// furthest behind, so that event numbers are handed out about in
    /// order.
    pub(crate) fn lease(self: &Arc<Self>, tenant: Uid) -> Option<LaneLease> {
        let mut tenants = self.lock();
        let lanes = tenants.get_mut(&tenant)?;
        let (lane, state) = lanes
            .iter_mut()
            .enumerate()
            .min_by_key(|(_, l)| (l.holders, l.head.map_or(i64::MIN, |h| h.seq)))?;
        state.holders += 1;
        Some(LaneLease {
            cache: Arc::clone(self),
            tenant,
            lane: u32::try_from(lane).ok()?,
            lanes: u32::try_from(lanes.len()).ok()?,
        })
    }

    /// Learns that `tenant`'s log has these lanes with these heads (read
    /// from the database), unless this process already knows it.
    pub(crate) fn learn(&self, tenant: Uid, heads: Vec<Head>) {
        self.lock().entry(tenant).or_insert_with(|| {
            heads
                .into_iter()
                .map(|h| LaneState {
                    head: Some(h),
                    holders: 0,
                })
                .collect()
        });
    }

    /// The remembered head of lane `lane` of `tenant`'s log, if any.
    pub(crate) fn get(&self, tenant: Uid, lane: u32) -> Option<Head> {
        self.lock()
            .get(&tenant)
            .and_then(|lanes| lanes.get(lane as usize))
            .and_then(|l| l.head)
    }

    /// Remembers `head` as that of lane `lane` of `tenant`'s log.
    pub(crate) fn put(&self, tenant: Uid, lane: u32, head: Head) {
        self.update(tenant, lane, |l| l.head = Some(head));
    }

    /// Forgets the head of lane `lane` of `tenant`'s log (it was found stale).
    pub(crate) fn forget(&self, tenant: Uid, lane: u32) {
        self.update(tenant, lane, |l| l.head = None);
    }

    /// Forgets all of `tenant`'s log (its lanes changed under this process).
    pub(crate) fn forget_log(&self, tenant: Uid) {
        self.lock().remove(&tenant);
    }
}

/// What one advance statement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Advanced {
    /// The head moved and the event was inserted.
    Both,
    /// The head moved (and is now held by this transaction) but the event's
    /// UID was taken: retry with another UID, conditioned on the head as
    /// this statement left it.
    HeadOnly,
    /// Nothing changed: the head was not the one expected.
    Neither,
}

/// The head update then the event insert, if the update applied; SQLite
/// runs both statements of one query, sharing the numbered parameters, and
/// `changes()` is the update's row count when the insert runs.
static SQLITE_ADVANCE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "UPDATE audit_heads SET seq = $2, hash = $18, at = $4, signature = $21, checkpoint_at = $22 \
         WHERE tenant_uid = $1 AND lane = $23 AND seq = $19 AND hash = $20; \
         INSERT INTO audit_events ({EVENT_COLUMNS}) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18 \
         WHERE changes() = 1 ON CONFLICT (uid) DO NOTHING"
    )
});

/// The same on PostgreSQL, as one statement with data-modifying parts; the
/// counts tell what applied.
static POSTGRES_ADVANCE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH h AS (UPDATE audit_heads SET seq = $2, hash = $18, at = $4, signature = $21, checkpoint_at = $22 \
         WHERE tenant_uid = $1 AND lane = $23 AND seq = $19 AND hash = $20 RETURNING 1), \
         e AS (INSERT INTO audit_events ({EVENT_COLUMNS}) \
         SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18 FROM h \
         ON CONFLICT (uid) DO NOTHING RETURNING 1) \
         SELECT (SELECT count(*) FROM h) AS head, (SELECT count(*) FROM e) AS event"
    )
});

fn uid_text(u: Option<Uid>) -> Option<String> {
    u.map(|u| u.to_string())
}

impl SqlTx {
    /// Inserts `event` and moves the head of lane `lane` to it, signed by
    /// `signature`, if that head is still `(expect_seq, expect_hash)`.
    pub(crate) async fn advance_head(
        &mut self,
        lane: u32,
        event: &AuditEvent,
        expect_seq: i64,
        expect_hash: &str,
        signature: &str,
        checkpoint_at: i64,
    ) -> Result<Advanced> {
        let sql = match self.store.backend {
            Backend::Sqlite => SQLITE_ADVANCE.as_str(),
            Backend::Postgres => POSTGRES_ADVANCE.as_str(),
        };
        let e = event;
        let query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(e.tenant_uid.to_string())
            .bind(e.seq)
            .bind(e.uid.to_string())
            .bind(e.at)
            .bind(e.actor_kind.as_str())
            .bind(uid_text(e.actor_uid))
            .bind(uid_text(e.api_key_uid))
            .bind(uid_text(e.session_uid))
            .bind(uid_text(e.request_uid))
            .bind(e.client_ip.clone())
            .bind(e.user_agent.clone())
            .bind(e.action.clone())
            .bind(e.target_type.clone())
            .bind(e.target_uid.clone())
            .bind(e.outcome.as_str())
            .bind(e.details.clone())
            .bind(e.prev_hash.clone())
            .bind(e.hash.clone())
            .bind(expect_seq)
            .bind(expect_hash.to_owned())
            .bind(signature.to_owned())
            .bind(checkpoint_at)
            .bind(i64::from(lane));
        let (head, inserted) = match self.store.backend {
            Backend::Sqlite => {
                // The insert runs only after the update applied, so the
                // sum of the two row counts tells both.
                let n = query.execute(&mut *self.tx).await?.rows_affected();
                (n >= 1, n == 2)
            }
            Backend::Postgres => {
                let row = query.fetch_one(&mut *self.tx).await?;
                let h: i64 = row.try_get(0)?;
                let e: i64 = row.try_get(1)?;
                (h == 1, e == 1)
            }
        };
        Ok(match (head, inserted) {
            (true, true) => Advanced::Both,
            (true, false) => Advanced::HeadOnly,
            (false, _) => Advanced::Neither,
        })
    }
}
