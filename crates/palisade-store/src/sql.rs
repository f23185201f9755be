//! [`SqlStore`]: the SQLite and PostgreSQL implementation of [`Store`].
//!
//! Both dialects run the same SQL text through sqlx's `Any` driver (`$N`
//! placeholders work on both). The differences live here: SQLite write
//! transactions start with `BEGIN IMMEDIATE` (no lock upgrades, no busy
//! deadlocks); PostgreSQL transactions set `palisade.tenant_uid` for the
//! row-level-security policies.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use palisade_core::model::{
    CloudAccount, Cluster, CustomRole, Project, RoleBinding, Team, Tenant, User,
};
use palisade_core::{Clock, Uid};
use secrecy::SecretString;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyPool, Row, Transaction};

use crate::KeyringHandle;
use crate::audit::{AuditFilter, AuditPage, EventPage, LogHead, LogReport};
use crate::sealer::Sealer;
use crate::{
    Page, PageRequest, Result, RotationReport, Store, StoreError, UserCredentials, WriteTx, migrate,
};
use palisade_core::audit::{AuditEntry, AuditEvent};

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file (WAL).
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// A source of fresh UIDs (the OS CSPRNG in production; scripted in tests
/// to exercise collision retry).
pub trait UidSource: Send + Sync + std::fmt::Debug {
    /// The next UID.
    fn next_uid(&self) -> Result<Uid>;
}

#[derive(Debug)]
struct OsUids;
impl UidSource for OsUids {
    fn next_uid(&self) -> Result<Uid> {
        Uid::generate().map_err(|_| StoreError::Crypto(palisade_crypto::CryptoError::Random))
    }
}

/// How to open a store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite:` path or `postgres://` URL.
    pub database: Database,
    /// Largest pool size.
    pub max_connections: u32,
}

/// Which database to open.
#[derive(Debug, Clone)]
pub enum Database {
    /// A SQLite file, created if missing.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL URL (`postgres://…?sslmode=verify-full&sslrootcert=…`).
    Postgres(SecretString),
}

/// The SQL store.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
    pub(crate) sealer: Arc<Sealer>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) uids: Arc<dyn UidSource>,
    pub(crate) tenant_names: Arc<crate::login::TenantNames>,
    /// The SQLite file, for the in-place reads (`crate::fastread`).
    pub(crate) sqlite_path: Option<Arc<std::path::PathBuf>>,
    pub(crate) audit_signer: Arc<palisade_crypto::audit::AuditSigner>,
    /// The heads of the lanes of each tenant's log as this process's last
    /// appends left them, and which lanes are held (see `crate::audithead`).
    pub(crate) audit_heads: Arc<crate::audithead::HeadCache>,
    /// How many lanes the log of a tenant created from now on gets.
    pub(crate) audit_lanes: u32,
    /// SQLite: the writer turn (see [`WriteTransaction`]).
    pub(crate) writer: Arc<tokio::sync::Mutex<()>>,
    pub(crate) audit_sink: Option<Arc<dyn crate::audit::AuditSink>>,
    /// Whether the schema has the tenant bus tables (false only for a
    /// store opened by `open_through` below that version, in tests).
    pub(crate) bus_schema: bool,
    #[cfg(feature = "bench")]
    pub(crate) unaudited: Arc<std::sync::atomic::AtomicBool>,
}

/// Longest wait for the writer turn, as SQLite's own busy timeout.
pub const WRITER_WAIT: Duration = Duration::from_secs(10);

/// A write transaction. On SQLite it also holds this process's writer turn
/// until it ends: SQLite lets one writer in at a time, and a writer that
/// finds the database locked sleeps and polls (1, 2, 5… ms, SQLite's busy
/// handler), so concurrent writers of one process queue here instead, in
/// order, each woken as soon as the one before ends. Other processes on the
/// same file (the CLI) still meet SQLite's lock and its busy timeout.
pub(crate) struct WriteTransaction {
    tx: Transaction<'static, Any>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl WriteTransaction {
    /// Commits, then gives up the writer turn.
    pub(crate) async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Rolls back, then gives up the writer turn.
    pub(crate) async fn rollback(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

impl std::ops::Deref for WriteTransaction {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTransaction {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        &mut self.tx
    }
}

/// A connection for reads (see [`SqlStore::begin_read`]).
pub(crate) enum Reader {
    /// SQLite: a pooled connection, no transaction.
    Pooled(sqlx::pool::PoolConnection<Any>),
    /// PostgreSQL: a transaction carrying the row-level-security scope.
    Scoped(Transaction<'static, Any>),
}

impl std::ops::Deref for Reader {
    type Target = sqlx::AnyConnection;
    fn deref(&self) -> &sqlx::AnyConnection {
        match self {
            Reader::Pooled(c) => c,
            Reader::Scoped(t) => t,
        }
    }
}

impl std::ops::DerefMut for Reader {
    fn deref_mut(&mut self) -> &mut sqlx::AnyConnection {
        match self {
            Reader::Pooled(c) => c,
            Reader::Scoped(t) => t,
        }
    }
}

impl Reader {
    /// Ends the read (commits the PostgreSQL transaction, which changed nothing).
    pub(crate) async fn commit(self) -> Result<()> {
        match self {
            Reader::Pooled(_) => Ok(()),
            Reader::Scoped(t) => Ok(t.commit().await?),
        }
    }
}

/// The scope a transaction runs in.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scope {
    /// One tenant's rows only.
    Tenant(Uid),
    /// Platform operations over all tenants.
    Platform,
}

fn sqlite_url(path: &Path) -> String {
    // sqlx percent-decodes the path part; encode what would be misread.
    let mut out = String::from("sqlite://");
    for c in path.to_string_lossy().chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3F"),
            '#' => out.push_str("%23"),
            c => out.push(c),
        }
    }
    out.push_str("?mode=rwc");
    out
}

impl SqlStore {
    /// Connects without touching the schema or any row.
    pub async fn connect(
        options: &StoreOptions,
        keys: KeyringHandle,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        use secrecy::ExposeSecret;
        sqlx::any::install_default_drivers();
        let (url, backend) = match &options.database {
            Database::Sqlite(p) => (sqlite_url(p), Backend::Sqlite),
            Database::Postgres(u) => (u.expose_secret().to_owned(), Backend::Postgres),
        };
        let mut pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10));
        if backend == Backend::Sqlite {
            // A local file does not go stale between uses: checking each
            // connection before handing it out would cost one more hand-off
            // to its worker thread per query, for nothing.
            pool = pool.test_before_acquire(false);
            pool = pool.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::raw_sql(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                         PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                         PRAGMA secure_delete = ON;",
                    )
                    .execute(conn)
                    .await?;
                    Ok(())
                })
            });
        }
        let connect_opts = sqlx::any::AnyConnectOptions::from_str(&url)?;
        let audit_signer = Arc::new(palisade_crypto::audit::AuditSigner::from_keyring(
            &keys.get(),
        )?);
        let pool = pool.connect_with(connect_opts).await?;
        Ok(SqlStore {
            pool,
            backend,
            sealer: Arc::new(Sealer::new(keys)),
            clock,
            uids: Arc::new(OsUids),
            tenant_names: crate::login::names(),
            sqlite_path: match &options.database {
                Database::Sqlite(p) => Some(Arc::new(p.clone())),
                Database::Postgres(_) => None,
            },
            audit_signer,
            audit_heads: Arc::default(),
            audit_lanes: match backend {
                Backend::Sqlite => 1,
                Backend::Postgres => crate::audit::POSTGRES_LANES,
            },
            writer: Arc::default(),
            audit_sink: None,
            bus_schema: true,
            #[cfg(feature = "bench")]
            unaudited: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        })
    }

    /// Connects, refuses a too-new schema, checks the keyring against an
    /// existing database *before* changing anything, applies migrations,
    /// records the installation on a fresh database and checks every
    /// tenant key opens.
    pub async fn open(
        options: &StoreOptions,
        keys: KeyringHandle,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        Self::open_through(options, keys, clock, i64::MAX).await
    }

    /// Like [`SqlStore::open`], but migrates only up to schema version
    /// `last`: for tests that build an older database and then open it with
    /// [`SqlStore::open`] to test a migration. Not for production use (the
    /// store's own queries expect the newest schema).
    #[doc(hidden)]
    pub async fn open_through(
        options: &StoreOptions,
        keys: KeyringHandle,
        clock: Arc<dyn Clock>,
        last: i64,
    ) -> Result<Self> {
        let mut store = Self::connect(options, keys, clock).await?;
        store.bus_schema = last >= migrate::BUS_VERSION;
        let version = migrate::check(&store.pool, store.backend).await?;
        if version > 0 {
            store.check_installation().await?;
        }
        let applied =
            migrate::apply_through(&store.pool, store.backend, store.clock.now_ms(), last).await?;
        store.ensure_installation().await?;
        store.verify_all_keys().await?;
        // Tenants older than the audit log get their empty, signed log once,
        // when the migration creating it runs. Never later: a tenant whose
        // head is missing afterwards had its log removed, and opening the
        // database must not hide that behind a fresh log.
        if applied.contains(&migrate::AUDIT_LOG_VERSION) {
            store.ensure_log_heads().await?;
        }
        if store.backend == Backend::Postgres {
            store.warn_if_rls_bypassed().await;
        }
        Ok(store)
    }

    /// Replaces the UID source (tests).
    pub fn with_uids(mut self, uids: Arc<dyn UidSource>) -> Self {
        self.uids = uids;
        self
    }

    /// Gives the log of each tenant created from now on `lanes` lanes,
    /// brought within 1–[`crate::audit::MAX_LANES`] (see `crate::audithead`).
    pub fn with_audit_lanes(mut self, lanes: u32) -> Self {
        self.audit_lanes = lanes.clamp(1, crate::audit::MAX_LANES);
        self
    }

    /// Sends every committed audit event to `sink` too (a SIEM stream).
    pub fn with_audit_sink(mut self, sink: Arc<dyn crate::audit::AuditSink>) -> Self {
        self.audit_sink = Some(sink);
        self
    }

    /// Benchmarks only: commit changes without writing their audit events,
    /// to measure what auditing costs. Not compiled into Palisade itself.
    #[cfg(feature = "bench")]
    pub fn set_unaudited_for_bench(&self, off: bool) {
        self.unaudited
            .store(off, std::sync::atomic::Ordering::SeqCst);
    }

    #[cfg(feature = "bench")]
    pub(crate) fn bench_unaudited(&self) -> bool {
        self.unaudited.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Runs a read of the per-request checks in place on SQLite (see
    /// `crate::fastread`, which also keeps its result while the database
    /// does not change): `$1` is the tenant, `$2` the UID, `build` makes
    /// the result of the rows. `None` when the store is not SQLite or the
    /// database is busy (use sqlx then).
    pub(crate) fn read_in_place<T: Clone + 'static>(
        &self,
        sql: &'static str,
        tenant: Uid,
        uid: Uid,
        build: fn(&[crate::fastread::OwnedRow]) -> Result<T>,
    ) -> Option<Result<T>> {
        let path = self.sqlite_path.as_ref()?;
        crate::fastread::query_kept(path, sql, tenant, uid, build).ok()
    }

    /// A write transaction in `scope` (see [`crate::WriteTx`]).
    pub(crate) async fn write_in(&self, scope: Scope) -> Result<crate::tx::SqlTx> {
        let tx = self.begin(scope).await?;
        Ok(crate::tx::SqlTx {
            store: self.clone(),
            tx,
            scope,
            lanes: Vec::new(),
        })
    }

    /// The keyring handle in use.
    pub fn keys(&self) -> &KeyringHandle {
        &self.sealer.keys
    }

    /// The connection pool (for back-end specific tests and tools).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Closes the pool, waiting for connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Begins a write transaction in `scope`.
    pub(crate) async fn begin(&self, scope: Scope) -> Result<WriteTransaction> {
        let turn = match self.backend {
            Backend::Sqlite => Some(
                tokio::time::timeout(WRITER_WAIT, Arc::clone(&self.writer).lock_owned())
                    .await
                    .map_err(|_| StoreError::Busy)?,
            ),
            Backend::Postgres => None,
        };
        Ok(WriteTransaction {
            tx: self.begin_mode(scope, true).await?,
            _turn: turn,
        })
    }

    /// A connection for reads in `scope`. On SQLite it is a pooled
    /// connection without a transaction (each statement sees committed
    /// data; no `BEGIN`/`COMMIT` round trips on the hot path); on PostgreSQL
    /// a transaction that sets the row-level-security scope. For several
    /// statements that must see one snapshot, use [`Self::begin_snapshot`].
    pub(crate) async fn begin_read(&self, scope: Scope) -> Result<Reader> {
        match self.backend {
            Backend::Sqlite => Ok(Reader::Pooled(self.pool.acquire().await?)),
            Backend::Postgres => Ok(Reader::Scoped(self.begin_mode(scope, false).await?)),
        }
    }

    /// A read-only transaction in `scope`: one consistent snapshot for
    /// several statements. On SQLite it is deferred (`BEGIN`): readers never
    /// take the write lock, so they never queue behind writers' commits.
    pub(crate) async fn begin_snapshot(&self, scope: Scope) -> Result<Transaction<'static, Any>> {
        self.begin_mode(scope, false).await
    }

    async fn begin_mode(&self, scope: Scope, write: bool) -> Result<Transaction<'static, Any>> {
        match self.backend {
            Backend::Sqlite if write => Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Sqlite => Ok(self.pool.begin().await?),
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                let value = match scope {
                    Scope::Tenant(t) => t.to_string(),
                    Scope::Platform => "*".to_owned(),
                };
                sqlx::query("SELECT set_config('palisade.tenant_uid', $1, true)")
                    .bind(value)
                    .execute(&mut *tx)
                    .await?;
                Ok(tx)
            }
        }
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    async fn check_installation(&self) -> Result<()> {
        let row = sqlx::query("SELECT installation_uid, key_check FROM installation WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(());
        };
        let uid: String = row.try_get(0)?;
        let check: String = row.try_get(1)?;
        let keyring = self.sealer.keys.get();
        if uid != keyring.installation_uid().to_string() {
            return Err(StoreError::KeyringMismatch(format!(
                "this database belongs to installation {uid}, but the keyring belongs to installation {}; use the keyring this database was created with",
                keyring.installation_uid()
            )));
        }
        keyring.verify_key_check(&check).map_err(|e| {
            StoreError::KeyringMismatch(format!(
                "the keyring cannot open this database's key check ({e}); it is not the keyring this database was created with, or it lacks the root key version used"
            ))
        })
    }

    async fn ensure_installation(&self) -> Result<()> {
        let mut tx = self.begin(Scope::Platform).await?;
        let exists = sqlx::query("SELECT 1 FROM installation WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !exists {
            let keyring = self.sealer.keys.get();
            sqlx::query(
                "INSERT INTO installation (id, installation_uid, key_check, created_at) VALUES (1, $1, $2, $3)",
            )
            .bind(keyring.installation_uid().to_string())
            .bind(keyring.seal_key_check()?)
            .bind(self.now())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        if exists {
            self.check_installation().await?;
        }
        Ok(())
    }

    async fn verify_all_keys(&self) -> Result<()> {
        let mut tx = self.begin(Scope::Platform).await?;
        let rows = sqlx::query("SELECT tenant_uid, version, wrapped_key FROM tenant_keys")
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        for row in rows {
            let tenant = parse_uid(&row.try_get::<String, _>(0)?)?;
            let key = crate::sealer::WrappedKey {
                version: to_u32(row.try_get(1)?)?,
                wrapped: row.try_get(2)?,
            };
            self.sealer.unwrap(tenant, &key).map_err(|e| {
                StoreError::KeyringMismatch(format!(
                    "the data key of tenant {tenant} cannot be opened with this keyring: {e}"
                ))
            })?;
        }
        Ok(())
    }

    async fn warn_if_rls_bypassed(&self) {
        let row = sqlx::query(
            "SELECT CASE WHEN rolsuper OR rolbypassrls THEN 1 ELSE 0 END FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_optional(&self.pool)
        .await;
        if let Ok(Some(row)) = row
            && row.try_get::<i32, _>(0).unwrap_or(0) == 1
        {
            tracing::warn!(
                "connected to PostgreSQL as a superuser or a BYPASSRLS role: row-level security is not enforced; connect as an ordinary role"
            );
        }
    }

    /// Loads and unwraps a tenant's data key (the newest, or `version`).
    pub(crate) async fn tenant_key(
        &self,
        tx: &mut sqlx::AnyConnection,
        tenant: Uid,
        version: Option<u32>,
    ) -> Result<(u32, Arc<palisade_crypto::Key32>)> {
        if let Some(v) = version
            && let Some(k) = self.sealer.cached(tenant, v)
        {
            return Ok((v, k));
        }
        let row = match version {
            Some(v) => sqlx::query(
                "SELECT version, wrapped_key FROM tenant_keys WHERE tenant_uid = $1 AND version = $2",
            )
            .bind(tenant.to_string())
            .bind(i64::from(v))
            .fetch_optional(&mut *tx)
            .await?,
            None => sqlx::query(
                "SELECT version, wrapped_key FROM tenant_keys WHERE tenant_uid = $1 ORDER BY version DESC LIMIT 1",
            )
            .bind(tenant.to_string())
            .fetch_optional(&mut *tx)
            .await?,
        };
        let Some(row) = row else {
            return Err(StoreError::NotFound);
        };
        let key = crate::sealer::WrappedKey {
            version: to_u32(row.try_get(0)?)?,
            wrapped: row.try_get(1)?,
        };
        let dek = self.sealer.unwrap(tenant, &key)?;
        Ok((key.version, dek))
    }

    /// Opens a sealed field, loading the data key version it names.
    pub(crate) async fn open_field(
        &self,
        tx: &mut sqlx::AnyConnection,
        tenant: Uid,
        table: &str,
        column: &str,
        row: Uid,
        text: &str,
    ) -> Result<zeroize::Zeroizing<String>> {
        let version =
            palisade_crypto::Envelope::key_version(text).map_err(|source| StoreError::Decrypt {
                what: format!("{table}.{column} of {row}"),
                source,
            })?;
        let (_, dek) = self.tenant_key(tx, tenant, Some(version)).await?;
        Sealer::open(&dek, tenant, table, column, row, text)
    }
}

impl SqlStore {
    /// Runs one statement in its own transaction in `scope` and commits;
    /// returns the number of rows it touched.
    pub(crate) async fn exec_in(
        &self,
        scope: Scope,
        query: sqlx::query::Query<'static, Any, sqlx::any::AnyArguments>,
    ) -> Result<u64> {
        let mut tx = self.begin(scope).await?;
        let done = query.execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

/// `NotFound` unless `project` belongs to `tenant`.
pub(crate) async fn ensure_project(
    tx: &mut sqlx::AnyConnection,
    tenant: Uid,
    project: Uid,
) -> Result<()> {
    sqlx::query("SELECT 1 FROM projects WHERE tenant_uid = $1 AND uid = $2")
        .bind(tenant.to_string())
        .bind(project.to_string())
        .fetch_optional(&mut *tx)
        .await?
        .map(|_| ())
        .ok_or(StoreError::NotFound)
}

/// True when a database error is a primary-key (UID) collision.
fn is_pk_collision(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    if !db.is_unique_violation() {
        return false;
    }
    match db.constraint() {
        Some(c) => c.ends_with("_pkey"),
        // SQLite: "UNIQUE constraint failed: users.uid"
        None => db.message().ends_with(".uid"),
    }
}

/// Maps constraint violations to domain errors; other errors pass through.
pub(crate) fn constraint(e: sqlx::Error, conflict: &'static str) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() && !is_pk_collision(&e) {
            return StoreError::Conflict(conflict);
        }
        // SQLite reports ON DELETE RESTRICT as a trigger constraint (1811).
        if db.is_foreign_key_violation() || db.message() == "FOREIGN KEY constraint failed" {
            return StoreError::Invalid("a referenced object does not exist or is in use".into());
        }
    }
    StoreError::Database(e)
}

pub(crate) fn parse_uid(s: &str) -> Result<Uid> {
    Uid::parse(s).map_err(|_| StoreError::Corrupt(format!("stored UID {s:?} is malformed")))
}

pub(crate) fn to_u32(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("key version {v} out of range")))
}

pub(crate) fn page_of<T>(mut items: Vec<T>, limit: u32, uid: impl Fn(&T) -> Uid) -> Page<T> {
    let next = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(uid)
    } else {
        None
    };
    Page { items, next }
}

pub(crate) fn cursor(page: &PageRequest) -> String {
    page.after.map(|u| u.to_string()).unwrap_or_default()
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
    async fn write(&self, tenant: Uid) -> Result<Box<dyn WriteTx>> {
        Ok(Box::new(self.write_in(Scope::Tenant(tenant)).await?))
    }
    async fn write_platform(&self) -> Result<Box<dyn WriteTx>> {
        Ok(Box::new(self.write_in(Scope::Platform).await?))
    }
    async fn record(&self, entry: AuditEntry) -> Result<AuditEvent> {
        let scope = match entry.tenant_uid {
            Some(t) => Scope::Tenant(t),
            None => {
                return Err(StoreError::Invalid(
                    "a recorded event must name its tenant".into(),
                ));
            }
        };
        let tx = self.write_in(scope).await?;
        WriteTx::commit(Box::new(tx), entry).await
    }
    async fn get_tenant(&self, uid: Uid) -> Result<Tenant> {
        self.tenant_get(uid).await
    }
    async fn tenant_by_name(&self, name: &str) -> Result<Tenant> {
        self.tenant_by_name_impl(name).await
    }
    async fn list_tenants(&self, page: PageRequest) -> Result<Page<Tenant>> {
        self.tenant_list(page).await
    }
    async fn get_user(&self, tenant: Uid, uid: Uid) -> Result<User> {
        self.user_get(tenant, uid).await
    }
    async fn user_by_email(&self, tenant: Uid, email: &str) -> Result<UserCredentials> {
        self.user_by_email_impl(tenant, email).await
    }
    async fn list_users(&self, tenant: Uid, page: PageRequest) -> Result<Page<User>> {
        self.user_list(tenant, page).await
    }
    async fn get_project(&self, tenant: Uid, uid: Uid) -> Result<Project> {
        self.project_get(tenant, uid).await
    }
    async fn list_projects(&self, tenant: Uid, page: PageRequest) -> Result<Page<Project>> {
        self.project_list(tenant, page).await
    }
    async fn get_cloud_account(&self, tenant: Uid, project: Uid, uid: Uid) -> Result<CloudAccount> {
        self.cloud_account_get(tenant, project, uid).await
    }
    async fn list_cloud_accounts(
        &self,
        tenant: Uid,
        project: Uid,
        page: PageRequest,
    ) -> Result<Page<CloudAccount>> {
        self.cloud_account_list(tenant, project, page).await
    }
    async fn cloud_account_credentials(&self, tenant: Uid, uid: Uid) -> Result<SecretString> {
        self.cloud_account_secret(tenant, uid).await
    }
    async fn get_cluster(&self, tenant: Uid, project: Uid, uid: Uid) -> Result<Cluster> {
        self.cluster_get(tenant, project, uid).await
    }
    async fn list_clusters(
        &self,
        tenant: Uid,
        project: Uid,
        page: PageRequest,
    ) -> Result<Page<Cluster>> {
        self.cluster_list(tenant, project, page).await
    }
    async fn get_team(&self, tenant: Uid, uid: Uid) -> Result<Team> {
        self.team_get(tenant, uid).await
    }
    async fn list_teams(&self, tenant: Uid, page: PageRequest) -> Result<Page<Team>> {
        self.team_list(tenant, page).await
    }
    async fn team_members(&self, tenant: Uid, team: Uid) -> Result<Vec<Uid>> {
        self.team_member_list(tenant, team).await
    }
    async fn get_role(&self, tenant: Uid, uid: Uid) -> Result<CustomRole> {
        self.role_get(tenant, uid).await
    }
    async fn role_by_name(&self, tenant: Uid, name: &str) -> Result<CustomRole> {
        self.role_by_name_impl(tenant, name).await
    }
    async fn list_roles(&self, tenant: Uid, page: PageRequest) -> Result<Page<CustomRole>> {
        self.role_list(tenant, page).await
    }
    async fn get_binding(&self, tenant: Uid, uid: Uid) -> Result<RoleBinding> {
        self.binding_get(tenant, uid).await
    }
    async fn list_bindings(
        &self,
        tenant: Uid,
        filter: crate::BindingFilter,
        page: PageRequest,
    ) -> Result<Page<RoleBinding>> {
        self.binding_list(tenant, filter, page).await
    }
    async fn grants_of(&self, tenant: Uid, user: Uid) -> Result<Vec<palisade_core::rbac::Grant>> {
        self.grants(tenant, user).await
    }
    async fn user_status(&self, tenant: Uid, uid: Uid) -> Result<palisade_core::model::UserStatus> {
        self.status_of(tenant, uid).await
    }
    async fn list_audit(
        &self,
        tenant: Uid,
        filter: &AuditFilter,
        page: AuditPage,
    ) -> Result<EventPage> {
        self.audit_list(tenant, filter, page).await
    }
    async fn audit_heads(&self) -> Result<Vec<LogHead>> {
        SqlStore::audit_heads(self).await
    }
    async fn audit_expired(
        &self,
        head: &LogHead,
        before: i64,
        limit: u32,
    ) -> Result<Vec<AuditEvent>> {
        SqlStore::audit_expired(self, head, before, limit).await
    }
    async fn verify_audit(&self, tenant: Option<Uid>) -> Result<Vec<LogReport>> {
        self.audit_verify(tenant).await
    }
    async fn rotate_root(&self, entry: AuditEntry) -> Result<RotationReport> {
        self.root_rotate(entry).await
    }
    async fn verify_keyring(&self) -> Result<()> {
        self.check_installation().await?;
        self.verify_all_keys().await
    }
}
