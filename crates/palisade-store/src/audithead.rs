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
//! Lock order is the same in every path (the head row, then the event's
//! index entries), so appends in one tenant queue on the head row as before
//! and cannot deadlock each other.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, MutexGuard};

use palisade_core::Uid;
use palisade_core::audit::AuditEvent;
use palisade_crypto::audit::ChainHash;
use sqlx::Row;

use crate::Result;
use crate::audit::EVENT_COLUMNS;
use crate::sql::Backend;
use crate::tx::SqlTx;

/// The last event of a log as an append left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    /// Number of the last event (0: empty log).
    pub seq: i64,
    /// Hash of the last event (the genesis hash of an empty log).
    pub hash: ChainHash,
    /// When the last checkpoint was issued (ms).
    pub checkpoint_at: i64,
}

/// The head each tenant's last append in this process left, committed or
/// not. One entry per tenant that appended; an entry is a guess checked by
/// the database (see the module docs), never trusted on its own.
#[derive(Debug, Default)]
pub(crate) struct HeadCache {
    heads: Mutex<HashMap<Uid, Head>>,
}

impl HeadCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<Uid, Head>> {
        match self.heads.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The remembered head of `tenant`'s log, if any.
    pub(crate) fn get(&self, tenant: Uid) -> Option<Head> {
        self.lock().get(&tenant).copied()
    }

    /// Remembers `head` as `tenant`'s.
    pub(crate) fn put(&self, tenant: Uid, head: Head) {
        self.lock().insert(tenant, head);
    }

    /// Forgets `tenant`'s head (it was found stale).
    pub(crate) fn forget(&self, tenant: Uid) {
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
         WHERE tenant_uid = $1 AND seq = $19 AND hash = $20; \
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
         WHERE tenant_uid = $1 AND seq = $19 AND hash = $20 RETURNING 1), \
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
    /// Inserts `event` and moves the head to it, signed by `signature`, if
    /// the head is still `(expect_seq, expect_hash)`.
    pub(crate) async fn advance_head(
        &mut self,
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
            .bind(checkpoint_at);
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
