//! The error type of the store crate.

use palisade_crypto::CryptoError;

/// Errors from the store. `NotFound` is its own variant so that the server
/// can answer 404 for both missing and foreign resources.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such object in this tenant's scope.
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was violated (for example a duplicate name).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The request breaks a rule.
    #[error("invalid: {0}")]
    Invalid(String),
    /// The request names another object that does not exist in this
    /// tenant (a subject, role or project of a binding, a team member); the
    /// message says which.
    #[error("missing reference: {0}")]
    MissingReference(String),
    /// The database schema is newer than this binary understands.
    #[error(
        "the database schema is version {database}, newer than this binary supports (version {binary}); upgrade Palisade before starting it on this database"
    )]
    SchemaTooNew {
        /// Version found in the database.
        database: i64,
        /// Newest version this binary knows.
        binary: i64,
    },
    /// An applied migration differs from the one in this binary.
    #[error("migration {0} applied to this database differs from the one in this binary")]
    MigrationMismatch(i64),
    /// The keyring does not belong to this database or cannot open its data.
    #[error("keyring mismatch: {0}")]
    KeyringMismatch(String),
    /// An encrypted value failed to open (tampering, a moved ciphertext, a lost key).
    #[error("encrypted {what} could not be opened: {source}")]
    Decrypt {
        /// Which value (table.column of row).
        what: String,
        /// Why.
        source: CryptoError,
    },
    /// Another cryptographic failure.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A stored value is not what the schema promises.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// UID allocation kept colliding (should never happen with 48 random bits).
    #[error("could not allocate a unique UID")]
    UidExhausted,
    /// The audit event of a change could not be written, so the change was
    /// not made (the log is fail-closed).
    #[error("the audit event could not be written, so the change was not made: {0}")]
    AuditWrite(String),
    /// Another write of this process held the database for longer than
    /// [`crate::sql::WRITER_WAIT`] (SQLite).
    #[error("the database stayed busy: another write did not finish in time")]
    Busy,
    /// An in-place SQLite read (the per-request checks) failed.
    #[error("database read: {0}")]
    LocalRead(String),
    /// The database failed or could not be reached.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}
