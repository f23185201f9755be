//! The error type of the agent crate. Messages name the file, the subject
//! or the step that failed; never a seed, a JWT or a credentials file's
//! content.

use std::path::PathBuf;

use palisade_bus::BusError;

/// Errors of the agent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// An option was refused (plaintext URL, heartbeat out of range); the
    /// message says which and why.
    #[error("invalid option: {0}")]
    Options(String),
    /// The credentials file may be read by other users than its owner.
    #[error(
        "credentials file {path} is readable by group or others (mode {mode:04o}); \
         it holds a secret seed: chmod 600 it"
    )]
    CredsPermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The credentials (file) were refused.
    #[error("credentials {path}: {source}")]
    Creds {
        /// The file.
        path: PathBuf,
        /// Why.
        source: BusError,
    },
    /// Reading or writing a file failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A spool file is not a valid spooled result; the message says why.
    #[error("invalid spool file: {0}")]
    Spool(String),
    /// A bus protocol or credentials operation failed.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The NATS client failed.
    #[error("NATS: {0}")]
    Nats(String),
    /// A renewal answer was refused (wrong key, other cluster, expired).
    #[error("renewal answer refused: {0}")]
    Renewal(&'static str),
    /// The credentials expired without being renewed.
    #[error(
        "the credentials expired at {expired_at} (Unix seconds) without renewal{}; \
         get new credentials for this cluster from Palisade",
        refused.as_ref().map(|c| format!(" (renewal refused: {c})")).unwrap_or_default()
    )]
    Expired {
        /// The expiry.
        expired_at: i64,
        /// The code of the last renewal refusal, if Palisade refused.
        refused: Option<String>,
    },
}
