//! Reading columns by name from a result row, whichever driver produced it
//! (sqlx's `AnyRow`, or an owned row of the in-place SQLite reads in
//! [`crate::fastread`]), so row parsing is written once.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, StoreError};

/// A result row whose columns can be read by name.
pub(crate) trait Cols {
    /// A text column (`None` for SQL NULL).
    fn text(&self, col: &str) -> Result<Option<String>>;
    /// An integer column (`None` for SQL NULL).
    fn int(&self, col: &str) -> Result<Option<i64>>;

    /// A text column that must not be NULL.
    fn req_text(&self, col: &str) -> Result<String> {
        self.text(col)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {col} is NULL")))
    }
    /// An integer column that must not be NULL.
    fn req_int(&self, col: &str) -> Result<i64> {
        self.int(col)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {col} is NULL")))
    }
}

impl Cols for AnyRow {
    fn text(&self, col: &str) -> Result<Option<String>> {
        Ok(self.try_get::<Option<String>, _>(col)?)
    }
    fn int(&self, col: &str) -> Result<Option<i64>> {
        Ok(self.try_get::<Option<i64>, _>(col)?)
    }
}
