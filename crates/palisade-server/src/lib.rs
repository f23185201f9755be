//! The Palisade HTTPS server: configuration, bootstrap of a data directory
//! (keyring, internal CA, database, platform tenant, first admin), the
//! request pipeline and handlers.
//!
//! It is an adapter over the store and the core: no business rule lives in
//! a handler.
#![warn(missing_docs)]

pub mod app;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod bus;
pub mod config;
pub mod error;
pub mod gateway;
pub mod json;
pub mod logging;
pub mod openapi;
pub mod routes;
pub mod serve;
pub mod tls;

pub use config::{ConfigLayer, ServeConfig};
pub use error::{ApiError, ServerError};
pub use serve::{Running, start};

/// Installs aws-lc-rs as rustls's process-wide crypto provider. Several
/// dependencies enable other providers; without this rustls would refuse to
/// choose. Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
