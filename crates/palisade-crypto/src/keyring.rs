//! The installation keyring: every secret key of one Palisade installation.
//!
//! - root keys (256-bit, versioned) wrap the tenant data keys;
//! - JWT signing keys (Ed25519 seeds, versioned; the version is the `kid`);
//! - the hash salt (256-bit), pepper for passwords and key of the blind index;
//! - the audit signing key (Ed25519 seed) for signed audit checkpoints;
//! - the bus master secret (256-bit, random, its own key): every NATS key of
//!   the tenant bus derives from it (`palisade_bus::BusMasterSecret`).
//!   Keyrings written before the bus lack it; [`Keyring::with_bus_secret`]
//!   adds one and the checksum covers it only when present, so older files
//!   still verify.
//!
//! It is stored as JSON in a file of mode 0600 (or handed over in an
//! environment variable from a mounted Secret). A SHA-256 checksum over the
//! canonical contents tells a corrupt file from a wrong one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use palisade_core::Uid;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::envelope::{Aad, Envelope};
use crate::{CryptoError, Key32};

const FORMAT: &str = "palisade-keyring";
const FORMAT_VERSION: u32 = 1;
const KEY_CHECK_PLAINTEXT: &[u8] = b"palisade keyring check v1";

/// All keys of one installation. Never `Debug`-prints key material.
#[derive(Clone, PartialEq, Eq)]
pub struct Keyring {
    installation_uid: Uid,
    root_keys: BTreeMap<u32, Key32>,
    current_root: u32,
    jwt_keys: BTreeMap<u32, Key32>,
    current_jwt: u32,
    hash_salt: Key32,
    audit_key: Key32,
    bus_secret: Option<Key32>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("installation_uid", &self.installation_uid)
            .field("root_versions", &self.root_keys.keys().collect::<Vec<_>>())
            .field("current_root", &self.current_root)
            .finish_non_exhaustive()
    }
}

/// On-disk shape. Key fields are base64 and zeroized after decoding.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KeyringFile {
    format: String,
    format_version: u32,
    installation_uid: String,
    current_root_key: u32,
    root_keys: BTreeMap<u32, String>,
    current_jwt_key: u32,
    jwt_keys: BTreeMap<u32, String>,
    hash_salt: String,
    audit_signing_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bus_master_secret: Option<String>,
    checksum: String,
}

impl Drop for KeyringFile {
    fn drop(&mut self) {
        self.root_keys.values_mut().for_each(Zeroize::zeroize);
        self.jwt_keys.values_mut().for_each(Zeroize::zeroize);
        self.hash_salt.zeroize();
        self.audit_signing_key.zeroize();
        if let Some(b) = self.bus_master_secret.as_mut() {
            b.zeroize();
        }
    }
}

impl Keyring {
    /// A new keyring with fresh keys, version 1 of each.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Keyring {
            installation_uid: Uid::generate().map_err(|_| CryptoError::Random)?,
            root_keys: BTreeMap::from([(1, Key32::generate()?)]),
            current_root: 1,
            jwt_keys: BTreeMap::from([(1, Key32::generate()?)]),
            current_jwt: 1,
            hash_salt: Key32::generate()?,
            audit_key: Key32::generate()?,
            bus_secret: Some(Key32::generate()?),
        })
    }

    /// The UID of the installation this keyring belongs to.
    pub fn installation_uid(&self) -> Uid {
        self.installation_uid
    }

    /// The current root key and its version.
    pub fn current_root(&self) -> (u32, &Key32) {
        // The constructor and parser guarantee the current version is present;
        // fall back to the newest key rather than panic.
        match self.root_keys.get(&self.current_root) {
            Some(k) => (self.current_root, k),
            None => self
                .root_keys
                .last_key_value()
                .map(|(v, k)| (*v, k))
                .unwrap_or((0, &self.hash_salt)),
        }
    }

    /// The root key of a given version, if held.
    pub fn root_key(&self, version: u32) -> Option<&Key32> {
        self.root_keys.get(&version)
    }

    /// Versions of all root keys held, oldest first.
    pub fn root_versions(&self) -> Vec<u32> {
        self.root_keys.keys().copied().collect()
    }

    /// The current JWT signing seed and its version (the JWT `kid`).
    pub fn current_jwt(&self) -> (u32, &Key32) {
        match self.jwt_keys.get(&self.current_jwt) {
            Some(k) => (self.current_jwt, k),
            None => (self.current_jwt, &self.audit_key),
        }
    }

    /// All JWT signing seeds by version (for the JWKS).
    pub fn jwt_keys(&self) -> &BTreeMap<u32, Key32> {
        &self.jwt_keys
    }

    /// The hash salt: password pepper and blind-index key.
    pub fn hash_salt(&self) -> &Key32 {
        &self.hash_salt
    }

    /// The audit checkpoint signing seed.
    pub fn audit_key(&self) -> &Key32 {
        &self.audit_key
    }

    /// The bus master secret, when this keyring has one (keyrings written
    /// before the tenant bus do not).
    pub fn bus_secret(&self) -> Option<&Key32> {
        self.bus_secret.as_ref()
    }

    /// This keyring with a bus master secret: unchanged when it has one,
    /// otherwise a copy with 32 fresh random bytes. Returns whether one was
    /// added (the caller then writes the keyring back).
    pub fn with_bus_secret(&self) -> Result<(Keyring, bool), CryptoError> {
        if self.bus_secret.is_some() {
            return Ok((self.clone(), false));
        }
        let mut k = self.clone();
        k.bus_secret = Some(Key32::generate()?);
        Ok((k, true))
    }

    /// A copy of this keyring with a new root key version made current.
    /// Older root versions are kept so existing wraps still open until they
    /// are re-wrapped.
    pub fn with_new_root(&self) -> Result<Keyring, CryptoError> {
        let next = self.root_keys.keys().max().copied().unwrap_or(0) + 1;
        let mut k = self.clone();
        k.root_keys.insert(next, Key32::generate()?);
        k.current_root = next;
        Ok(k)
    }

    /// A copy without root keys older than `keep_from` (after every wrap
    /// has moved to the current version).
    pub fn without_roots_before(&self, keep_from: u32) -> Keyring {
        let mut k = self.clone();
        k.root_keys
            .retain(|v, _| *v >= keep_from || *v == k.current_root);
        k
    }

    /// Seals the key-check value stored in the database, proving later that
    /// a keyring is the one the database was made with.
    pub fn seal_key_check(&self) -> Result<String, CryptoError> {
        let (v, key) = self.current_root();
        Envelope::seal(key, v, &self.key_check_aad(), KEY_CHECK_PLAINTEXT)
    }

    /// Checks a stored key-check value against this keyring.
    pub fn verify_key_check(&self, sealed: &str) -> Result<(), CryptoError> {
        let pt = Envelope::open(|v| self.root_key(v), &self.key_check_aad(), sealed)?;
        if crate::secret::ct_eq(&pt, KEY_CHECK_PLAINTEXT) {
            Ok(())
        } else {
            Err(CryptoError::Authentication)
        }
    }

    fn key_check_aad(&self) -> Aad<'static> {
        Aad {
            tenant: "-",
            table: "installation",
            column: "key_check",
            row: "1",
        }
    }

    // One argument per keyring field, in file order: the checksum's input
    // is the file's contents, spelled out.
    #[allow(clippy::too_many_arguments)]
    fn checksum(
        installation: &str,
        current_root: u32,
        roots: &BTreeMap<u32, String>,
        current_jwt: u32,
        jwts: &BTreeMap<u32, String>,
        salt: &str,
        audit: &str,
        bus: Option<&str>,
    ) -> String {
        let mut h = Sha256::new();
        h.update(format!(
            "{FORMAT}/{FORMAT_VERSION}\n{installation}\n{current_root}\n"
        ));
        for (v, k) in roots {
            h.update(format!("root {v} {k}\n"));
        }
        h.update(format!("{current_jwt}\n"));
        for (v, k) in jwts {
            h.update(format!("jwt {v} {k}\n"));
        }
        h.update(format!("salt {salt}\naudit {audit}\n"));
        if let Some(bus) = bus {
            h.update(format!("bus {bus}\n"));
        }
        hex::encode(h.finalize())
    }

    /// Serialises to the keyring file's JSON text.
    pub fn to_text(&self) -> Zeroizing<String> {
        let enc = |k: &Key32| STANDARD.encode(k.expose());
        let root_keys: BTreeMap<u32, String> =
            self.root_keys.iter().map(|(v, k)| (*v, enc(k))).collect();
        let jwt_keys: BTreeMap<u32, String> =
            self.jwt_keys.iter().map(|(v, k)| (*v, enc(k))).collect();
        let installation_uid = self.installation_uid.to_string();
        let hash_salt = enc(&self.hash_salt);
        let audit_signing_key = enc(&self.audit_key);
        let bus_master_secret = self.bus_secret.as_ref().map(enc);
        let checksum = Self::checksum(
            &installation_uid,
            self.current_root,
            &root_keys,
            self.current_jwt,
            &jwt_keys,
            &hash_salt,
            &audit_signing_key,
            bus_master_secret.as_deref(),
        );
        let file = KeyringFile {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            installation_uid,
            current_root_key: self.current_root,
            root_keys,
            current_jwt_key: self.current_jwt,
            jwt_keys,
            hash_salt,
            audit_signing_key,
            bus_master_secret,
            checksum,
        };
        // Serialising plain strings and integers cannot fail.
        Zeroizing::new(serde_json::to_string_pretty(&file).unwrap_or_default() + "\n")
    }

    /// Parses keyring JSON text.
    pub fn from_text(text: &str) -> Result<Self, CryptoError> {
        let bad = |m: &str| CryptoError::KeyringFormat(m.to_owned());
        let file: KeyringFile = serde_json::from_str(text).map_err(|e| {
            // serde_json's message names a line and column, never the content.
            CryptoError::KeyringFormat(format!(
                "not valid keyring JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if file.format != FORMAT {
            return Err(bad("the format field is not \"palisade-keyring\""));
        }
        if file.format_version != FORMAT_VERSION {
            return Err(CryptoError::KeyringFormat(format!(
                "format version {} is not supported (this binary reads version {FORMAT_VERSION})",
                file.format_version
            )));
        }
        let expected = Self::checksum(
            &file.installation_uid,
            file.current_root_key,
            &file.root_keys,
            file.current_jwt_key,
            &file.jwt_keys,
            &file.hash_salt,
            &file.audit_signing_key,
            file.bus_master_secret.as_deref(),
        );
        if !crate::secret::ct_eq(expected.as_bytes(), file.checksum.as_bytes()) {
            return Err(bad("checksum mismatch: the file was modified or damaged"));
        }
        let installation_uid =
            Uid::parse(&file.installation_uid).map_err(|_| bad("installationUid is not a UID"))?;
        let dec = |s: &str, what: &str| -> Result<Key32, CryptoError> {
            let bytes = Zeroizing::new(
                STANDARD
                    .decode(s)
                    .map_err(|_| CryptoError::KeyringFormat(format!("{what} is not base64")))?,
            );
            Key32::from_slice(&bytes)
                .ok_or_else(|| CryptoError::KeyringFormat(format!("{what} is not 32 bytes")))
        };
        let mut root_keys = BTreeMap::new();
        for (v, s) in &file.root_keys {
            root_keys.insert(*v, dec(s, "a root key")?);
        }
        let mut jwt_keys = BTreeMap::new();
        for (v, s) in &file.jwt_keys {
            jwt_keys.insert(*v, dec(s, "a JWT key")?);
        }
        if !root_keys.contains_key(&file.current_root_key) {
            return Err(bad("currentRootKey names a root key that is not present"));
        }
        if !jwt_keys.contains_key(&file.current_jwt_key) {
            return Err(bad("currentJwtKey names a JWT key that is not present"));
        }
        Ok(Keyring {
            installation_uid,
            current_root: file.current_root_key,
            root_keys,
            current_jwt: file.current_jwt_key,
            jwt_keys,
            hash_salt: dec(&file.hash_salt, "hashSalt")?,
            audit_key: dec(&file.audit_signing_key, "auditSigningKey")?,
            bus_secret: match &file.bus_master_secret {
                Some(s) => Some(dec(s, "busMasterSecret")?),
                None => None,
            },
        })
    }

    /// Reads a keyring file, refusing one that group or others can access.
    pub fn load_file(path: &Path) -> Result<Self, CryptoError> {
        let io = |source| CryptoError::KeyringIo {
            path: path.display().to_string(),
            source,
        };
        check_private(path)?;
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
        Self::from_text(&text)
    }

    /// Writes the keyring to `path` atomically with mode 0600: a temporary
    /// file in the same directory, fsync, rename, fsync of the directory.
    pub fn write_file(&self, path: &Path) -> Result<(), CryptoError> {
        write_private_file(path, self.to_text().as_bytes())
    }
}

/// Fails unless `path` is a regular file without group/other permissions.
pub fn check_private(path: &Path) -> Result<(), CryptoError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| CryptoError::KeyringIo {
        path: path.display().to_string(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(CryptoError::KeyringPermissions {
            path: path.display().to_string(),
            mode,
        });
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically with mode 0600.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), CryptoError> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| CryptoError::KeyringIo {
        path: path.display().to_string(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keyring".into());
    let mut suffix = [0u8; 6];
    crate::secret::fill_random(&mut suffix)?;
    let tmp = dir.join(format!(".{name}.{}.tmp", hex::encode(suffix)));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn text_roundtrip() {
        let k = Keyring::generate().unwrap();
        let back = Keyring::from_text(&k.to_text()).unwrap();
        assert_eq!(k, back);
        assert!(!format!("{k:?}").contains(&STANDARD.encode(k.hash_salt().expose())));
    }

    #[test]
    fn corrupt_is_refused_with_reason() {
        let k = Keyring::generate().unwrap();
        let text = k.to_text();
        let salt = STANDARD.encode(k.hash_salt().expose());
        let mut other = [0u8; 32];
        other[0] = 1;
        let tampered = text.replace(&salt, &STANDARD.encode(other));
        let err = Keyring::from_text(&tampered).unwrap_err().to_string();
        assert!(err.contains("checksum mismatch"), "{err}");
        let err = Keyring::from_text(&text[..text.len() / 2])
            .unwrap_err()
            .to_string();
        assert!(err.contains("not valid keyring JSON"), "{err}");
        assert!(!err.contains(&salt));
    }

    #[test]
    fn checksum_format_is_pinned() {
        // A keyring written by an independent script (the fuzz corpus seed,
        // fixed test keys) must parse: the file format is a contract.
        let text = include_str!("../../../fuzz/corpus/keyring_text/valid-test-only");
        let k = Keyring::from_text(text).unwrap();
        assert_eq!(k.installation_uid().to_string(), "0123456789ab");
        assert_eq!(k.hash_salt(), &Key32::from_bytes([3; 32]));
        // Written before the bus: no bus secret until one is added.
        assert!(k.bus_secret().is_none());
        let (with, added) = k.with_bus_secret().unwrap();
        assert!(added);
        let again = Keyring::from_text(&with.to_text()).unwrap();
        assert_eq!(again, with);
        assert_eq!(again.bus_secret(), with.bus_secret());
        assert_eq!(again.hash_salt(), k.hash_salt());
        let (same, added) = again.with_bus_secret().unwrap();
        assert!(!added);
        assert_eq!(same, again);
    }

    #[test]
    fn bus_secret_is_its_own_key_and_checksummed() {
        let k = Keyring::generate().unwrap();
        let bus = k.bus_secret().unwrap();
        assert_ne!(bus, k.hash_salt());
        assert_ne!(bus, k.audit_key());
        let text = k.to_text();
        let enc = STANDARD.encode(bus.expose());
        assert!(text.contains("busMasterSecret"));
        let tampered = text.replace(&enc, &STANDARD.encode([9u8; 32]));
        let err = Keyring::from_text(&tampered).unwrap_err().to_string();
        assert!(err.contains("checksum mismatch"), "{err}");
        assert!(!format!("{k:?}").contains(&enc));
    }

    #[test]
    fn file_mode_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keyring");
        let k = Keyring::generate().unwrap();
        k.write_file(&p).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(Keyring::load_file(&p).unwrap(), k);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = Keyring::load_file(&p).unwrap_err().to_string();
        assert!(err.contains("mode 0640"), "{err}");
    }

    #[test]
    fn key_check_and_rotation() {
        let k = Keyring::generate().unwrap();
        let check = k.seal_key_check().unwrap();
        k.verify_key_check(&check).unwrap();
        assert!(
            Keyring::generate()
                .unwrap()
                .verify_key_check(&check)
                .is_err()
        );
        let rotated = k.with_new_root().unwrap();
        assert_eq!(rotated.current_root().0, 2);
        rotated.verify_key_check(&check).unwrap();
        let pruned = rotated.without_roots_before(2);
        assert!(pruned.verify_key_check(&check).is_err());
        pruned
            .verify_key_check(&rotated.seal_key_check().unwrap())
            .unwrap();
    }
}
