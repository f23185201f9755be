//! The keyring as the store sees it: shared, reloadable from its source.
//!
//! `palisade keys rotate-root` writes a new root version into the keyring
//! file while servers run; a server that meets a wrap made with a root
//! version it does not hold reloads the keyring from its source once.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use palisade_crypto::{CryptoError, Keyring};

/// Where the keyring comes from.
#[derive(Debug, Clone)]
pub enum KeyringSource {
    /// A file (mode 0600), reloaded on demand.
    File(PathBuf),
    /// Fixed at start (an environment variable or a test); never reloaded.
    Fixed,
}

/// A shared, reloadable keyring.
#[derive(Debug, Clone)]
pub struct KeyringHandle {
    current: Arc<RwLock<Arc<Keyring>>>,
    source: KeyringSource,
}

impl KeyringHandle {
    /// A handle over `keyring`, reloadable from `source`.
    pub fn new(keyring: Keyring, source: KeyringSource) -> Self {
        KeyringHandle {
            current: Arc::new(RwLock::new(Arc::new(keyring))),
            source,
        }
    }

    /// The keyring now in use.
    pub fn get(&self) -> Arc<Keyring> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the keyring in use (after a rotation done in-process).
    pub fn set(&self, keyring: Keyring) {
        let mut g = match self.current.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *g = Arc::new(keyring);
    }

    /// Re-reads the keyring from its source. Returns whether it changed.
    /// The new keyring must belong to the same installation.
    pub fn reload(&self) -> Result<bool, CryptoError> {
        let KeyringSource::File(path) = &self.source else {
            return Ok(false);
        };
        let fresh = Keyring::load_file(path)?;
        let old = self.get();
        if fresh.installation_uid() != old.installation_uid() {
            return Err(CryptoError::KeyringFormat(
                "the keyring file now belongs to another installation; not reloaded".into(),
            ));
        }
        if *old == fresh {
            return Ok(false);
        }
        self.set(fresh);
        Ok(true)
    }
}
