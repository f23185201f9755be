//! async-nats connection options for every Palisade bus client (server,
//! agent, pusher, tests): TLS required and verified against the given CA,
//! credentials read afresh on every (re)connect, a custom inbox prefix,
//! bounded connect timeout and bounded reconnect back-off.
//!
//! Renewal works through [`SharedCredentials`]: the holder of a connection
//! replaces the credentials after a renewal, and the next reconnect signs
//! the server's nonce with them — no restart, no stale JWT.
//!
//! Callers must have installed a rustls crypto provider (the binary and the
//! tests install aws-lc-rs): async-nats builds its TLS configuration with
//! the process default. This module must not mint credentials.

use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::{Auth, AuthError, ConnectOptions};

use crate::Credentials;

/// Longest wait for a connection (TCP, TLS and the server's answer).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest pause between reconnect attempts.
pub const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(30);

/// Credentials shared between their owner (who renews them) and the
/// connection's auth callback (which reads them on every connect).
#[derive(Clone)]
pub struct SharedCredentials(Arc<RwLock<Arc<Credentials>>>);

impl SharedCredentials {
    /// Shares `creds`.
    pub fn new(creds: Credentials) -> Self {
        SharedCredentials(Arc::new(RwLock::new(Arc::new(creds))))
    }

    /// The current credentials.
    pub fn current(&self) -> Arc<Credentials> {
        match self.0.read() {
            Ok(g) => Arc::clone(&g),
            // A writer panicked mid-replace; the Arc inside is still whole.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the credentials used from the next connect on.
    pub fn replace(&self, creds: Credentials) {
        let new = Arc::new(creds);
        match self.0.write() {
            Ok(mut g) => *g = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }
}

impl std::fmt::Debug for SharedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedCredentials")
            .field(&self.current())
            .finish()
    }
}

/// Exponential back-off for reconnect attempt `attempts` (1-based): 0 for
/// the first, then 250 ms doubling, capped at [`MAX_RECONNECT_DELAY`].
pub fn reconnect_delay(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let exp = u32::try_from(attempts - 2).unwrap_or(u32::MAX).min(16);
    Duration::from_millis(250u64.saturating_mul(1u64 << exp)).min(MAX_RECONNECT_DELAY)
}

/// Connection options: TLS required with `ca_file` as the only trust
/// anchor, credentials from `creds` at every connect, replies under
/// `inbox_prefix`, bounded timeouts. Add `event_callback`,
/// `max_reconnects` or `subscription_capacity` as the caller needs.
pub fn connect_options(
    creds: SharedCredentials,
    ca_file: &Path,
    inbox_prefix: &str,
) -> ConnectOptions {
    connect_options_with_roots(creds, Some(ca_file), inbox_prefix)
}

/// As [`connect_options`], with `ca_file` optional: `None` trusts the
/// operating system's root certificates instead (an agent connecting to a
/// bus whose certificate comes from a public CA). TLS stays required.
pub fn connect_options_with_roots(
    creds: SharedCredentials,
    ca_file: Option<&Path>,
    inbox_prefix: &str,
) -> ConnectOptions {
    let opts = ConnectOptions::with_auth_callback(move |nonce: Vec<u8>| {
        let current = creds.current();
        async move {
            let key = current
                .key()
                .map_err(|_| AuthError::new("credentials hold no usable key"))?;
            let signature = key
                .sign(&nonce)
                .map_err(|_| AuthError::new("signing the server nonce failed"))?;
            let mut auth = Auth::new();
            auth.jwt = Some(current.jwt().to_owned());
            auth.signature = Some(signature);
            Ok(auth)
        }
    })
    .require_tls(true)
    .custom_inbox_prefix(inbox_prefix)
    .connection_timeout(CONNECT_TIMEOUT)
    .reconnect_delay_callback(reconnect_delay);
    match ca_file {
        Some(ca) => opts.add_root_certificates(ca.to_path_buf()),
        None => opts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_is_bounded_and_grows() {
        assert_eq!(reconnect_delay(0), Duration::ZERO);
        assert_eq!(reconnect_delay(1), Duration::ZERO);
        assert_eq!(reconnect_delay(2), Duration::from_millis(250));
        assert_eq!(reconnect_delay(3), Duration::from_millis(500));
        assert_eq!(reconnect_delay(9), Duration::from_secs(30));
        assert_eq!(reconnect_delay(usize::MAX), MAX_RECONNECT_DELAY);
    }
}
