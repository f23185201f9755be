//! The tenant bus, server side: configuration, the keys derived from the
//! keyring's bus master secret, and what the HTTP routes need (minting
//! cluster credentials, waking the outbox). The NATS runtime (pushing
//! account JWTs, serving agents) lives in [`runtime`].
//!
//! This module must not log or return a seed or a user JWT: credentials
//! leave only in the body of the one response that issues them.

pub mod limit;
pub mod runtime;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use palisade_bus::{BusMasterSecret, OperatorKeys, TenantKeys, TenantLimits};
use palisade_core::Uid;
use palisade_crypto::Keyring;

use crate::ServerError;

/// Default heartbeat timeout, seconds.
pub const DEFAULT_HEARTBEAT_TIMEOUT_S: i64 = 60;

/// Where the bus is and how Palisade talks to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusConfig {
    /// `tls://HOST:PORT`.
    pub url: String,
    /// CA certificate that verifies nats-server (default: internal CA).
    pub ca: Option<PathBuf>,
    /// Lifetime of cluster user JWTs, seconds.
    pub credentials_ttl_s: i64,
}

/// Accepts only `tls://HOST:PORT` (no credentials, path or query): Palisade
/// never talks to the bus in clear.
pub fn parse_bus_url(url: &str) -> Result<String, ServerError> {
    let bad = || {
        ServerError::Config(format!(
            "bus URL {url:?} is not tls://HOST:PORT (plain nats:// and other schemes are refused)"
        ))
    };
    let rest = url.strip_prefix("tls://").ok_or_else(bad)?;
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'));
    let port_ok = port.parse::<u16>().map(|p| p != 0).unwrap_or(false);
    if !host_ok || !port_ok {
        return Err(bad());
    }
    Ok(url.to_owned())
}

/// Counters the health route and tests read.
#[derive(Debug, Default)]
pub struct BusStats {
    /// Account JWT pushes the server confirmed.
    pub pushes_applied: AtomicU64,
    /// Pushes that failed (retried).
    pub push_failures: AtomicU64,
    /// Slow-consumer events (messages dropped by the client library).
    pub slow_consumers: AtomicU64,
    /// Messages from agents refused (bad subject, headers or body).
    pub refused_messages: AtomicU64,
    /// Whether the system connection is up.
    pub connected: AtomicBool,
}

/// The bus as the HTTP side sees it. Cheap to share.
pub struct Bus {
    master: BusMasterSecret,
    operator: OperatorKeys,
    /// Configuration.
    pub config: BusConfig,
    /// Limits written into every tenant account.
    pub limits: TenantLimits,
    /// Wakes the runtime: an account revision or a job is waiting.
    pub wake: tokio::sync::Notify,
    /// Counters.
    pub stats: BusStats,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("operator", &self.operator.operator_public_key())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// The bus for `keyring`'s bus master secret. Fails with a clear message
    /// when the keyring has none (an inline keyring from before the bus).
    pub fn new(keyring: &Keyring, config: BusConfig) -> Result<Arc<Self>, ServerError> {
        let master = bus_master(keyring)?;
        let operator =
            OperatorKeys::derive(&master).map_err(|e| ServerError::Bus(e.to_string()))?;
        Ok(Arc::new(Bus {
            master,
            operator,
            config,
            limits: TenantLimits::default(),
            wake: tokio::sync::Notify::new(),
            stats: BusStats::default(),
        }))
    }

    /// The operator keys.
    pub fn operator(&self) -> &OperatorKeys {
        &self.operator
    }

    /// A tenant's keys at signing-key `version`.
    pub fn tenant_keys(&self, tenant: Uid, version: u32) -> Result<TenantKeys, ServerError> {
        TenantKeys::derive(&self.master, tenant, version)
            .map_err(|e| ServerError::Bus(e.to_string()))
    }

    /// Tells the runtime there is work (an account revision, a job).
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// Whether the system connection is up.
    pub fn is_connected(&self) -> bool {
        self.stats.connected.load(Ordering::Relaxed)
    }
}

/// The keyring's bus master secret.
pub fn bus_master(keyring: &Keyring) -> Result<BusMasterSecret, ServerError> {
    let key = keyring.bus_secret().ok_or_else(|| {
        ServerError::Keyring(
            "the keyring has no bus master secret (it predates the tenant bus); start once with the keyring as a file so one is added, then update the Secret".into(),
        )
    })?;
    Ok(BusMasterSecret::from_bytes(*key.expose()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tls_urls() {
        assert!(parse_bus_url("tls://127.0.0.1:4222").is_ok());
        assert!(parse_bus_url("tls://nats.example.org:7422").is_ok());
        for bad in [
            "nats://127.0.0.1:4222",
            "127.0.0.1:4222",
            "tls://127.0.0.1",
            "tls://:4222",
            "tls://user:pw@host:4222",
            "tls://host:0",
            "tls://host:4222/path",
        ] {
            assert!(parse_bus_url(bad).is_err(), "{bad}");
        }
    }
}
