//! `palisade agent`: the tenant cluster's side of the Palisade bus.
//!
//! The agent connects to the platform's nats-server over TLS with its
//! cluster's credentials file, heartbeats, renews its credentials before
//! they expire, runs the jobs it receives (`ping`, `harden-scan` with the
//! `palisade-harden` library) and publishes their results until Palisade
//! acknowledges them. Every result is written to a spool directory before
//! it is first published, so neither a stopped server nor an agent restart
//! loses one.
//!
//! Modules: [`files`] (reading the credentials file, atomic 0600 writes),
//! [`spool`] (the result spool and its file format), [`jobs`] (running a
//! job into a result), [`agent`] (options and the run loop). The wire
//! protocol, subjects, credentials format and connection options come from
//! `palisade-bus`; this crate must not re-implement them.
#![warn(missing_docs)]

pub mod agent;
pub mod error;
pub mod files;
pub mod jobs;
pub mod spool;

pub use agent::{AgentOptions, run};
pub use error::AgentError;

/// Installs aws-lc-rs as the process's rustls provider (async-nats builds
/// its TLS configuration with the process default). Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
