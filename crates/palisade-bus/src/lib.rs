//! Palisade as the NATS operator of the tenant message bus.
//!
//! Palisade runs nats-server in decentralized JWT mode: it is the operator
//! (identity and signing keys derived from the installation's bus master
//! secret), owns the system account, and gives every tenant its own NATS
//! account with explicit limits. Clusters connect as users of their
//! tenant's account, signed by a per-tenant *scoped* signing key whose
//! template pins them to their own subjects.
//!
//! Modules: [`keys`] (derivation), [`jwt`] (the NATS JWT v2 format),
//! [`operator`] (what Palisade mints: operator, accounts, users),
//! [`subjects`] (the subject scheme and permission lists), [`creds`]
//! (credentials files), [`client`] (TLS connection options with renewable
//! credentials), [`config`] (nats-server configuration), [`push`]
//! (live account updates and their verification), [`protocol`] (agent
//! messages and headers), and `testing` (a private nats-server harness,
//! behind the `testing` feature).
//!
//! Clocks are parameters: every function that stamps or checks a time
//! takes `now` in Unix seconds. This crate depends on `palisade-core` only
//! among Palisade's crates.
#![warn(missing_docs)]

pub mod client;
pub mod config;
pub mod creds;
pub mod error;
pub mod jwt;
pub mod keys;
pub mod operator;
pub mod protocol;
pub mod push;
pub mod subjects;
#[cfg(feature = "testing")]
pub mod testing;

pub use creds::Credentials;
pub use error::BusError;
pub use keys::{BusMasterSecret, NatsKey, OperatorKeys, TenantKeys};
pub use operator::{ClusterIdentity, Revocations, TenantLimits};
pub use push::{Applied, PushReport, push_account_jwt};
