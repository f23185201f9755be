//! First start and every start of a data directory: keyring, database,
//! TLS material, platform tenant and bootstrap admin.
//!
//! Refusals happen before anything is modified: a keyring readable by
//! others, a corrupt or foreign keyring, a database without its keyring,
//! a schema newer than this binary.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use palisade_core::Clock;
use palisade_core::model::SYSTEM_TENANT;
use palisade_crypto::Keyring;
use palisade_store::{
    Database, KeyringHandle, KeyringSource, NewUser, SqlStore, Store, StoreError, StoreOptions,
};
use rand::TryRng;
use secrecy::{ExposeSecret, SecretString};

use crate::ServerError;
use crate::auth::hashpool::HashPool;
use crate::config::{DatabaseConfig, KeyringConfig, ServeConfig};
use crate::tls;

/// Name of the file holding the bootstrap admin's one-time password.
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";

/// What a prepared data directory offers the server.
pub struct Prepared {
    /// The open store.
    pub store: Arc<SqlStore>,
    /// TLS configuration.
    pub tls: Arc<rustls::ServerConfig>,
    /// The internal CA certificate path (when the server certificate is generated).
    pub ca_cert: Option<PathBuf>,
    /// The bootstrap admin's one-time password, on the start that created it.
    pub admin_password: Option<SecretString>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("ca_cert", &self.ca_cert)
            .finish_non_exhaustive()
    }
}

fn data_dir_err(m: String) -> ServerError {
    ServerError::DataDir(m)
}

/// Creates the data directory (0700) or checks an existing one is private.
pub fn ensure_data_dir(dir: &Path) -> Result<(), ServerError> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)
            .map_err(|e| data_dir_err(format!("cannot create {}: {e}", dir.display())))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| data_dir_err(format!("cannot chmod {}: {e}", dir.display())))?;
    }
    let meta = std::fs::metadata(dir)
        .map_err(|e| data_dir_err(format!("cannot read {}: {e}", dir.display())))?;
    if !meta.is_dir() {
        return Err(data_dir_err(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(data_dir_err(format!(
            "{} has mode {mode:04o}; it holds keys and must not be accessible by group or others (chmod 700 {})",
            dir.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// Loads the configured keyring without ever generating one (for tools that
/// work on an existing installation).
pub fn configured_keyring(cfg: &ServeConfig) -> Result<(Keyring, KeyringSource), ServerError> {
    let kerr = |e: palisade_crypto::CryptoError| ServerError::Keyring(e.to_string());
    match &cfg.keyring {
        KeyringConfig::Inline(text) => Ok((
            Keyring::from_text(text.expose_secret()).map_err(kerr)?,
            KeyringSource::Fixed,
        )),
        KeyringConfig::File { path, .. } => Ok((
            Keyring::load_file(path).map_err(kerr)?,
            KeyringSource::File(path.clone()),
        )),
    }
}

/// Loads the keyring; generates `DATA_DIR/keyring` only for a brand-new
/// embedded installation. Returns the keyring, its source and the path of a
/// file created now (to remove again if the database refuses it).
pub fn load_keyring(
    cfg: &ServeConfig,
) -> Result<(Keyring, KeyringSource, Option<PathBuf>), ServerError> {
    let kerr = |e: palisade_crypto::CryptoError| ServerError::Keyring(e.to_string());
    match &cfg.keyring {
        KeyringConfig::Inline(_) => {
            let (k, source) = configured_keyring(cfg)?;
            Ok((k, source, None))
        }
        KeyringConfig::File { path, default } => {
            if path.exists() {
                let (k, source) = configured_keyring(cfg)?;
                return Ok((k, source, None));
            }
            if !default {
                return Err(ServerError::Keyring(format!(
                    "keyring file {} does not exist",
                    path.display()
                )));
            }
            if let DatabaseConfig::Sqlite(db) = &cfg.database
                && db.exists()
            {
                return Err(ServerError::Keyring(format!(
                    "{} exists but its keyring {} is missing; restore the keyring from your backup (a new keyring cannot open existing data)",
                    db.display(),
                    path.display()
                )));
            }
            let keyring = Keyring::generate().map_err(kerr)?;
            keyring.write_file(path).map_err(kerr)?;
            Ok((
                keyring,
                KeyringSource::File(path.clone()),
                Some(path.clone()),
            ))
        }
    }
}

/// Gives a keyring file written before the tenant bus its bus master secret
/// (32 fresh random bytes, written back atomically, 0600). A keyring handed
/// over inline cannot be written back: it stays without one, and `--bus`
/// then refuses to start with a message saying how to add it.
pub fn ensure_bus_secret(keys: &KeyringHandle, source: &KeyringSource) -> Result<(), ServerError> {
    let KeyringSource::File(path) = source else {
        return Ok(());
    };
    let kerr = |e: palisade_crypto::CryptoError| ServerError::Keyring(e.to_string());
    let (with, added) = keys.get().with_bus_secret().map_err(kerr)?;
    if added {
        with.write_file(path).map_err(kerr)?;
        keys.set(with);
        tracing::info!(keyring = %path.display(), "bus master secret added to the keyring");
    }
    Ok(())
}

/// Opens the store for `cfg` with `keys`.
pub async fn open_store(
    cfg: &ServeConfig,
    keys: KeyringHandle,
    clock: Arc<dyn Clock>,
) -> Result<SqlStore, ServerError> {
    let database = match &cfg.database {
        DatabaseConfig::Sqlite(p) => Database::Sqlite(p.clone()),
        DatabaseConfig::Postgres(u) => Database::Postgres(u.clone()),
    };
    let max_connections = match cfg.database {
        DatabaseConfig::Sqlite(_) => 4,
        DatabaseConfig::Postgres(_) => 16,
    };
    let store = SqlStore::open(
        &StoreOptions {
            database,
            max_connections,
        },
        keys,
        clock,
    )
    .await?;
    if let DatabaseConfig::Sqlite(p) = &cfg.database {
        restrict_sqlite_files(p)?;
    }
    Ok(match cfg.audit.lanes {
        Some(n) => store.with_audit_lanes(n),
        None => store,
    })
}

/// SQLite creates files with the umask; the database holds hashes and blind
/// indexes, so make it and its WAL private.
fn restrict_sqlite_files(db: &Path) -> Result<(), ServerError> {
    for suffix in ["", "-wal", "-shm"] {
        let p = PathBuf::from(format!("{}{suffix}", db.display()));
        if p.exists() {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| data_dir_err(format!("cannot chmod {}: {e}", p.display())))?;
        }
    }
    Ok(())
}

/// A random one-time password: 24 characters from a 57-symbol alphabet
/// without look-alikes (about 140 bits).
pub fn one_time_password() -> Result<SecretString, ServerError> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut out = String::with_capacity(24);
    let mut rng = rand::rngs::SysRng;
    while out.len() < 24 {
        let b = rng
            .try_next_u32()
            .map_err(|_| ServerError::Keyring("the OS random generator failed".into()))?
            as u8;
        // Rejection sampling keeps the choice uniform.
        let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
        if b < limit
            && let Some(c) = ALPHABET.get(usize::from(b) % ALPHABET.len())
        {
            out.push(char::from(*c));
        }
    }
    Ok(SecretString::from(out))
}

/// Creates the `system` tenant and the bootstrap admin when missing. Safe
/// when several replicas start at once: a lost race reads the winner's rows.
pub async fn ensure_platform(
    store: &SqlStore,
    data_dir: &Path,
    admin_email: &str,
    hashes: &HashPool,
) -> Result<Option<SecretString>, ServerError> {
    let boot = |action: &str| {
        palisade_core::audit::AuditContext::system()
            .entry(action)
            .detail("via", "bootstrap")
    };
    let tenant = match store.tenant_by_name(SYSTEM_TENANT).await {
        Ok(t) => t,
        Err(StoreError::NotFound) => {
            let mut tx = store.write_platform().await?;
            match tx.create_tenant(SYSTEM_TENANT).await {
                Ok(t) => {
                    tx.commit(boot("tenant.create").tenant(t.uid).target("tenant", t.uid))
                        .await?;
                    t
                }
                Err(StoreError::Conflict(_)) => {
                    drop(tx);
                    store.tenant_by_name(SYSTEM_TENANT).await?
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => return Err(e.into()),
    };
    let existing = store
        .list_users(tenant.uid, palisade_store::PageRequest::default())
        .await?;
    if !existing.items.is_empty() {
        return Ok(None);
    }
    let password = one_time_password()?;
    let hash = hashes.hash(store.keys().get(), password.clone()).await?;
    let mut tx = store.write(tenant.uid).await?;
    match tx
        .create_user(
            tenant.uid,
            NewUser {
                email: admin_email.to_owned(),
                display_name: "Platform administrator".into(),
                password_hash: Some(hash),
                must_change_password: true,
            },
        )
        .await
    {
        Ok(u) => {
            tx.create_binding(
                tenant.uid,
                palisade_core::rbac::Subject::User(u.uid),
                palisade_core::rbac::RoleRef::Builtin(
                    palisade_core::rbac::BuiltinRole::PlatformAdmin,
                ),
                palisade_core::rbac::Scope::Tenant,
            )
            .await?;
            tx.commit(
                boot("user.create")
                    .target("user", u.uid)
                    .detail("role", "platform-admin"),
            )
            .await?;
        }
        Err(StoreError::Conflict(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    palisade_crypto::keyring::write_private_file(
        &data_dir.join(INITIAL_PASSWORD_FILE),
        format!("{}\n", password.expose_secret()).as_bytes(),
    )
    .map_err(|e| data_dir_err(e.to_string()))?;
    Ok(Some(password))
}

/// Prepares everything `serve` needs, in an order that refuses bad states
/// before modifying anything. The bootstrap admin's password is hashed on
/// `hashes`.
pub async fn prepare(
    cfg: &ServeConfig,
    clock: Arc<dyn Clock>,
    hashes: &HashPool,
) -> Result<Prepared, ServerError> {
    crate::install_crypto_provider();
    ensure_data_dir(&cfg.data_dir)?;
    let (keyring, source, created) = load_keyring(cfg)?;
    let keys = KeyringHandle::new(keyring, source.clone());
    let store = match open_store(cfg, keys.clone(), Arc::clone(&clock)).await {
        Ok(s) => s,
        Err(e) => {
            if let Some(p) = created {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
    };
    // Only now that the database accepted the keyring: add a bus master
    // secret to one written before the tenant bus.
    ensure_bus_secret(&keys, &source)?;
    let now_s = clock.now_ms() / 1000;
    let (tls, ca_cert) = match &cfg.tls_import {
        Some((cert, key)) => (tls::rustls_config(cert, key)?, None),
        None => {
            let paths = tls::ensure_internal_pki(&cfg.data_dir, &cfg.hostnames, now_s)?;
            (
                tls::rustls_config(&paths.server_cert, &paths.server_key)?,
                Some(paths.ca_cert),
            )
        }
    };
    let admin_password = ensure_platform(&store, &cfg.data_dir, &cfg.admin_email, hashes).await?;
    Ok(Prepared {
        store: Arc::new(store),
        tls,
        ca_cert,
        admin_password,
    })
}
