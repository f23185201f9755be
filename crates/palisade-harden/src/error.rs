//! The crate's single error type.
//!
//! Holds [`Error`], returned by everything in this crate that can fail as a
//! whole (reading the catalogue, writing the journal, rendering). A problem
//! with one file under the scanned root is *not* an error: it becomes a
//! finding with status `ERROR` or `WARN` so one bad file never stops a scan.

use std::path::PathBuf;

/// Everything that can stop a scan, fix or rollback from running at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation on a path failed.
    #[error("{path}: {source}")]
    Io {
        /// The path the operation was on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The root directory given with `--root` is not a directory.
    #[error("root {0} is not a directory")]
    BadRoot(PathBuf),
    /// A path would resolve outside the scanned root.
    #[error("path {0} escapes the root")]
    EscapesRoot(PathBuf),
    /// The embedded check catalogue does not parse or is inconsistent.
    #[error("check catalogue: {0}")]
    Catalogue(String),
    /// No profile with that name exists.
    #[error("unknown profile {0:?} (known: level1, level2, k8s-node)")]
    UnknownProfile(String),
    /// The fix journal is missing, unreadable or malformed.
    #[error("journal {path}: {reason}")]
    Journal {
        /// Where the journal was looked for.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// Serialising a report failed.
    #[error("serialising report: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl Error {
    /// Wrap an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
