//! Sealing and opening of private fields with tenant data keys, and the
//! wrapping of those keys by the root key. Holds the cache of unwrapped
//! tenant keys (zeroized when dropped).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use palisade_core::Uid;
use palisade_crypto::{Aad, CryptoError, Envelope, Key32};
use zeroize::Zeroizing;

use crate::{KeyringHandle, StoreError};

/// Table and column names used in wrapped-key associated data.
const KEY_TABLE: &str = "tenant_keys";
const KEY_COLUMN: &str = "wrapped_key";

/// The store's cryptographic helper.
#[derive(Debug)]
pub(crate) struct Sealer {
    pub(crate) keys: KeyringHandle,
    cache: Mutex<HashMap<(Uid, u32), Arc<Key32>>>,
}

/// A wrapped tenant key as stored.
pub(crate) struct WrappedKey {
    pub version: u32,
    pub wrapped: String,
}

impl Sealer {
    pub(crate) fn new(keys: KeyringHandle) -> Self {
        Sealer {
            keys,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<(Uid, u32), Arc<Key32>>> {
        match self.cache.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// A fresh data key for `tenant`, wrapped with the current root key.
    /// Returns (root version, wrapped text).
    pub(crate) fn new_tenant_key(
        &self,
        tenant: Uid,
        version: u32,
    ) -> Result<(u32, String), StoreError> {
        let dek = Key32::generate()?;
        let wrapped = self.wrap(tenant, version, &dek)?;
        self.cache().insert((tenant, version), Arc::new(dek));
        Ok(wrapped)
    }

    /// Wraps `dek` with the current root key.
    pub(crate) fn wrap(
        &self,
        tenant: Uid,
        version: u32,
        dek: &Key32,
    ) -> Result<(u32, String), StoreError> {
        let keyring = self.keys.get();
        let (root_version, root) = keyring.current_root();
        let t = tenant.to_string();
        let v = version.to_string();
        let env = Envelope::seal(root, root_version, &wrap_aad(&t, &v), dek.expose())?;
        Ok((root_version, env))
    }

    /// Unwraps a tenant key; reloads the keyring once if the wrap names a
    /// root version this process does not hold yet.
    pub(crate) fn unwrap(&self, tenant: Uid, key: &WrappedKey) -> Result<Arc<Key32>, StoreError> {
        if let Some(k) = self.cache().get(&(tenant, key.version)) {
            return Ok(Arc::clone(k));
        }
        let t = tenant.to_string();
        let v = key.version.to_string();
        let aad = wrap_aad(&t, &v);
        let attempt =
            |keyring: &palisade_crypto::Keyring| -> Result<Zeroizing<Vec<u8>>, CryptoError> {
                Envelope::open(|rv| keyring.root_key(rv), &aad, &key.wrapped)
            };
        let opened = match attempt(&self.keys.get()) {
            Err(CryptoError::UnknownKeyVersion(_)) => {
                self.keys.reload()?;
                attempt(&self.keys.get())
            }
            other => other,
        };
        let bytes = opened.map_err(|source| StoreError::Decrypt {
            what: format!("data key {} of tenant {tenant}", key.version),
            source,
        })?;
        let dek = Key32::from_slice(&bytes).ok_or_else(|| {
            StoreError::Corrupt(format!("data key of tenant {tenant} is not 32 bytes"))
        })?;
        let dek = Arc::new(dek);
        self.cache().insert((tenant, key.version), Arc::clone(&dek));
        Ok(dek)
    }

    /// A cached data key, if present.
    pub(crate) fn cached(&self, tenant: Uid, version: u32) -> Option<Arc<Key32>> {
        self.cache().get(&(tenant, version)).cloned()
    }

    /// Drops every cached key of `tenant` (after deletion).
    pub(crate) fn forget_tenant(&self, tenant: Uid) {
        self.cache().retain(|(t, _), _| *t != tenant);
    }

    /// Seals a field value of `row` in `table.column` of `tenant`.
    pub(crate) fn seal(
        dek: &Key32,
        dek_version: u32,
        tenant: Uid,
        table: &str,
        column: &str,
        row: Uid,
        plaintext: &[u8],
    ) -> Result<String, StoreError> {
        let t = tenant.to_string();
        let r = row.to_string();
        Ok(Envelope::seal(
            dek,
            dek_version,
            &Aad {
                tenant: &t,
                table,
                column,
                row: &r,
            },
            plaintext,
        )?)
    }

    /// Opens a field sealed by [`Sealer::seal`].
    pub(crate) fn open(
        dek: &Key32,
        tenant: Uid,
        table: &str,
        column: &str,
        row: Uid,
        text: &str,
    ) -> Result<Zeroizing<String>, StoreError> {
        let t = tenant.to_string();
        let r = row.to_string();
        let version = Envelope::key_version(text).map_err(|source| StoreError::Decrypt {
            what: format!("{table}.{column} of {row}"),
            source,
        })?;
        Envelope::open_string(
            |v| (v == version).then_some(dek),
            &Aad {
                tenant: &t,
                table,
                column,
                row: &r,
            },
            text,
        )
        .map_err(|source| StoreError::Decrypt {
            what: format!("{table}.{column} of {row}"),
            source,
        })
    }
}

fn wrap_aad<'a>(tenant: &'a str, version: &'a str) -> Aad<'a> {
    Aad {
        tenant,
        table: KEY_TABLE,
        column: KEY_COLUMN,
        row: version,
    }
}
