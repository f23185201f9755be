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
//! The connections are `query_only`: they cannot change the database. A busy
//! database (a checkpoint, a recovery) answers [`Busy`] after at most
//! [`BUSY_TIMEOUT_MS`], and the caller falls back to sqlx, so a runtime
//! thread never waits long here.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rusqlite::types::Value;

use crate::cols::Cols;
use crate::{Result, StoreError};

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

thread_local! {
    static CONNECTIONS: RefCell<HashMap<PathBuf, rusqlite::Connection>> = RefCell::new(HashMap::new());
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

/// Runs `sql` with text parameters on this thread's connection to `path`
/// and returns every row, owned; `Err(Busy)` when the database is busy.
pub(crate) fn query(
    path: &Path,
    sql: &str,
    params: &[&str],
) -> std::result::Result<Result<Vec<OwnedRow>>, Busy> {
    CONNECTIONS.with(|cell| {
        let mut map = cell.borrow_mut();
        let conn = match map.get(path) {
            Some(c) => c,
            None => match open(path) {
                Ok(c) => map.entry(path.to_owned()).or_insert(c),
                Err(e) => {
                    return Ok(Err(StoreError::LocalRead(format!(
                        "opening the database: {e}"
                    ))));
                }
            },
        };
        let run = || -> rusqlite::Result<Vec<OwnedRow>> {
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
        };
        match run() {
            Ok(rows) => Ok(Ok(rows)),
            Err(e) if is_busy(&e) => Err(Busy),
            Err(e) => Ok(Err(StoreError::LocalRead(e.to_string()))),
        }
    })
}
