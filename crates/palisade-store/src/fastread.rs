//! In-place reads for the per-request checks on SQLite.
//!
//! sqlx runs every SQLite connection on its own worker thread: each query
//! is a round trip between threads (futex wake-ups and context switches),
//! which is most of the CPU an authenticated request costs on two cores.
//! The two reads every authenticated request makes — a session or API key
//! with its user's status and grants ([`crate::IdentityStore::session_access`],
//! [`crate::IdentityStore::api_key_access`]) — run here instead, on the
//! calling thread, on a per-thread connection to the same database file
//! (the same SQLite library sqlx links). They see exactly what sqlx's
//! connections see: committed data, in WAL mode never blocked by a writer.
//!
//! Each thread also keeps what these reads built, for as long as the database
//! has not changed: before answering from it, the thread asks its connection
//! for SQLite's `data_version`, which moves whenever any other connection —
//! sqlx's, or another process such as `palisade admin` — commits. Any commit
//! at all empties the thread's results, so a revoked session, a disabled user
//! or a changed binding is seen on the very next request, as without them.
//! Only successful reads are kept; the checks that depend on the time
//! (expiry, idle timeout) run on every request against the kept values.
//!
//! The connections are `query_only`: they cannot change the database. A busy
//! database (a checkpoint, a recovery) answers [`Busy`] after at most
//! [`BUSY_TIMEOUT_MS`], and the caller falls back to sqlx, so a runtime
//! thread never waits long here.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use palisade_core::Uid;
use rusqlite::types::Value;

use crate::cols::Cols;
use crate::{Result, StoreError};

/// Most results a thread keeps per database; past it the thread starts over.
const KEPT_RESULTS: usize = 4096;

/// Longest wait for a busy database before falling back.
pub(crate) const BUSY_TIMEOUT_MS: u64 = 20;

/// The database was busy: use the sqlx path.
#[derive(Debug)]
pub(crate) struct Busy;

/// Column names of one statement, shared by its rows.
type Names = Arc<[Box<str>]>;

/// One result row, owned.
pub(crate) struct OwnedRow {
    names: Names,
    values: Vec<Value>,
}

impl OwnedRow {
    fn get(&self, col: &str) -> Option<&Value> {
        let i = self.names.iter().position(|n| &**n == col)?;
        self.values.get(i)
    }
}

impl Cols for OwnedRow {
    fn text(&self, col: &str) -> Result<Option<String>> {
        match self.get(col) {
            Some(Value::Text(t)) => Ok(Some(t.clone())),
            Some(Value::Null) => Ok(None),
            Some(_) => Err(StoreError::Corrupt(format!("column {col} is not text"))),
            None => Err(StoreError::Corrupt(format!("no column {col}"))),
        }
    }
    fn int(&self, col: &str) -> Result<Option<i64>> {
        match self.get(col) {
            Some(Value::Integer(i)) => Ok(Some(*i)),
            Some(Value::Null) => Ok(None),
            Some(_) => Err(StoreError::Corrupt(format!(
                "column {col} is not an integer"
            ))),
            None => Err(StoreError::Corrupt(format!("no column {col}"))),
        }
    }
}

/// A thread's connection to one database and the results built from it.
struct Local {
    conn: rusqlite::Connection,
    /// `data_version` when `kept` was last known to be current.
    version: Option<i64>,
    /// Built results by (statement's address and length, tenant, row UID):
    /// the statements are statics, and hashing their text on every request
    /// would cost more than the lookup. The length keeps apart two
    /// statements that start at one address (one a prefix of the other).
    kept: HashMap<KeptKey, Box<dyn Any>>,
}

/// Statement address, statement length, tenant, row UID.
type KeptKey = (usize, usize, Uid, Uid);

thread_local! {
    static CONNECTIONS: RefCell<HashMap<PathBuf, Local>> = RefCell::new(HashMap::new());
}

fn open(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let c = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    c.busy_timeout(std::time::Duration::from_millis(BUSY_TIMEOUT_MS))?;
    c.execute_batch("PRAGMA query_only = ON; PRAGMA foreign_keys = ON;")?;
    c.set_prepared_statement_cache_capacity(32);
    Ok(c)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn rows_of(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[&str],
) -> rusqlite::Result<Vec<OwnedRow>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let names: Names = stmt.column_names().iter().map(|s| Box::from(*s)).collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(params.iter()))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(names.len());
        for i in 0..names.len() {
            values.push(row.get::<_, Value>(i)?);
        }
        out.push(OwnedRow {
            names: Arc::clone(&names),
            values,
        });
    }
    Ok(out)
}

/// Why an in-place read gave no result.
enum Failed {
    /// Busy: fall back to sqlx.
    Busy,
    /// Any other failure, reported as it is.
    Store(StoreError),
}

impl From<rusqlite::Error> for Failed {
    fn from(e: rusqlite::Error) -> Self {
        if is_busy(&e) {
            Failed::Busy
        } else {
            Failed::Store(StoreError::LocalRead(e.to_string()))
        }
    }
}

impl From<StoreError> for Failed {
    fn from(e: StoreError) -> Self {
        Failed::Store(e)
    }
}

/// Runs `sql` (a static) with the parameters `tenant` and `uid` on this
/// thread's connection to `path` (opened on first use) and builds its result
/// with `build`, or returns the result built before if the database has not
/// changed since; `Err(Busy)` when the database is busy.
pub(crate) fn query_kept<T: Clone + 'static>(
    path: &Path,
    sql: &'static str,
    tenant: Uid,
    uid: Uid,
    build: fn(&[OwnedRow]) -> Result<T>,
) -> std::result::Result<Result<T>, Busy> {
    let run = |map: &mut HashMap<PathBuf, Local>| -> std::result::Result<T, Failed> {
        let local = match map.get_mut(path) {
            Some(l) => l,
            None => {
                let conn = open(path)
                    .map_err(|e| StoreError::LocalRead(format!("opening the database: {e}")))?;
                map.entry(path.to_owned()).or_insert(Local {
                    conn,
                    version: None,
                    kept: HashMap::new(),
                })
            }
        };
        let version = local
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get::<_, i64>(0))?;
        if local.version != Some(version) || local.kept.len() >= KEPT_RESULTS {
            local.kept.clear();
            local.version = Some(version);
        }
        let key: KeptKey = (sql.as_ptr() as usize, sql.len(), tenant, uid);
        if let Some(hit) = local.kept.get(&key).and_then(|v| v.downcast_ref::<T>()) {
            return Ok(hit.clone());
        }
        let rows = rows_of(&local.conn, sql, &[&tenant.to_string(), &uid.to_string()])?;
        let built = build(&rows)?;
        local.kept.insert(key, Box::new(built.clone()));
        Ok(built)
    };
    match CONNECTIONS.with(|cell| run(&mut cell.borrow_mut())) {
        Ok(v) => Ok(Ok(v)),
        Err(Failed::Busy) => Err(Busy),
        Err(Failed::Store(e)) => Ok(Err(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static BUILT: AtomicUsize = AtomicUsize::new(0);
    /// A static, as the store's statements are (kept results are keyed by
    /// the statement's address).
    static SQL: &str = "SELECT v FROM t WHERE tenant = $1 AND uid = $2";

    fn value_of(rows: &[OwnedRow]) -> Result<String> {
        BUILT.fetch_add(1, Ordering::SeqCst);
        rows.first().ok_or(StoreError::NotFound)?.req_text("v")
    }

    #[test]
    fn kept_until_any_connection_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let writer = rusqlite::Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (tenant TEXT, uid TEXT, v TEXT);",
            )
            .unwrap();
        let (t, u) = (Uid::generate().unwrap(), Uid::generate().unwrap());
        let set = |v: &str| {
            writer
                .execute(
                    "INSERT INTO t VALUES (?1, ?2, ?3)",
                    [t.to_string(), u.to_string(), v.to_owned()],
                )
                .unwrap()
        };
        let get = || query_kept(&path, SQL, t, u, value_of).unwrap();
        let built = || BUILT.load(Ordering::SeqCst);

        // Not found is not kept.
        assert!(matches!(get(), Err(StoreError::NotFound)));
        assert!(matches!(get(), Err(StoreError::NotFound)));
        assert_eq!(built(), 2);
        set("one");
        assert_eq!(get().unwrap(), "one");
        assert_eq!(get().unwrap(), "one");
        assert_eq!(built(), 3, "the second read is answered from what was kept");
        // A commit by another connection (sqlx's, another process's), even
        // to another row, is seen.
        writer
            .execute("UPDATE t SET v = 'two' WHERE uid = ?1", [u.to_string()])
            .unwrap();
        assert_eq!(get().unwrap(), "two");
        assert_eq!(built(), 4);
        writer
            .execute("INSERT INTO t VALUES ('x', 'y', 'z')", [])
            .unwrap();
        assert_eq!(get().unwrap(), "two");
        assert_eq!(built(), 5);
        // Another key of the same statement is its own entry.
        let other = Uid::generate().unwrap();
        assert!(matches!(
            query_kept(&path, SQL, t, other, value_of),
            Ok(Err(StoreError::NotFound))
        ));
    }
}
