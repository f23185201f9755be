//! Versioned schema migrations, one folder per dialect, applied at start.
//!
//! A database whose schema is newer than this binary is refused before
//! anything is written; an applied migration whose text differs from this
//! binary's is refused too (someone edited history).

use sha2::{Digest, Sha256};
use sqlx::{AnyPool, Row};

use crate::sql::Backend;
use crate::{Result, StoreError};

/// One migration: version, name, SQL.
pub type Migration = (i64, &'static str, &'static str);

const SQLITE: &[Migration] = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "identity",
        include_str!("../migrations/sqlite/0002_identity.sql"),
    ),
    (
        3,
        "audit",
        include_str!("../migrations/sqlite/0003_audit.sql"),
    ),
    (
        4,
        "rbac",
        include_str!("../migrations/sqlite/0004_rbac.sql"),
    ),
    (5, "bus", include_str!("../migrations/sqlite/0005_bus.sql")),
    (
        6,
        "agent_presence",
        include_str!("../migrations/sqlite/0006_agent_presence.sql"),
    ),
    (
        7,
        "audit_lanes",
        include_str!("../migrations/sqlite/0007_audit_lanes.sql"),
    ),
];
const POSTGRES: &[Migration] = &[
    (
        1,
        "init",
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "identity",
        include_str!("../migrations/postgres/0002_identity.sql"),
    ),
    (
        3,
        "audit",
        include_str!("../migrations/postgres/0003_audit.sql"),
    ),
    (
        4,
        "rbac",
        include_str!("../migrations/postgres/0004_rbac.sql"),
    ),
    (
        5,
        "bus",
        include_str!("../migrations/postgres/0005_bus.sql"),
    ),
    (
        6,
        "agent_presence",
        include_str!("../migrations/postgres/0006_agent_presence.sql"),
    ),
    (
        7,
        "audit_lanes",
        include_str!("../migrations/postgres/0007_audit_lanes.sql"),
    ),
];

/// The schema version that creates the tenant bus tables (both dialects).
pub const BUS_VERSION: i64 = 5;

/// The schema version that creates the audit log (both dialects).
pub const AUDIT_LOG_VERSION: i64 = 3;

/// The migrations for a back end.
pub fn migrations(backend: Backend) -> &'static [Migration] {
    match backend {
        Backend::Sqlite => SQLITE,
        Backend::Postgres => POSTGRES,
    }
}

/// The newest schema version this binary knows.
pub fn latest(backend: Backend) -> i64 {
    migrations(backend).iter().map(|m| m.0).max().unwrap_or(0)
}

fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// The schema version recorded in the database (0 for an empty database).
/// Reads only.
pub async fn current_version(pool: &AnyPool, backend: Backend) -> Result<i64> {
    let exists_sql = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations'"
        }
    };
    let n: i64 = sqlx::query(exists_sql).fetch_one(pool).await?.try_get(0)?;
    if n == 0 {
        return Ok(0);
    }
    let v: Option<i64> = sqlx::query("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    Ok(v.unwrap_or(0))
}

/// Refuses a database newer than this binary, or one whose applied
/// migrations differ from this binary's. Reads only.
pub async fn check(pool: &AnyPool, backend: Backend) -> Result<i64> {
    let version = current_version(pool, backend).await?;
    let binary = latest(backend);
    if version > binary {
        return Err(StoreError::SchemaTooNew {
            database: version,
            binary,
        });
    }
    if version > 0 {
        let rows = sqlx::query("SELECT version, checksum FROM schema_migrations ORDER BY version")
            .fetch_all(pool)
            .await?;
        for row in rows {
            let v: i64 = row.try_get(0)?;
            let sum: String = row.try_get(1)?;
            let known = migrations(backend).iter().find(|m| m.0 == v);
            if known.map(|m| checksum(m.2)) != Some(sum) {
                return Err(StoreError::MigrationMismatch(v));
            }
        }
    }
    Ok(version)
}

/// Applies pending migrations, each in its own transaction. On PostgreSQL an
/// advisory lock keeps concurrently starting replicas from racing, and each
/// migration sees every tenant's rows (row-level security scope `*`).
pub async fn apply(pool: &AnyPool, backend: Backend, now: i64) -> Result<Vec<i64>> {
    apply_through(pool, backend, now, latest(backend)).await
}

/// Like [`apply`], but only the migrations up to and including version
/// `last`: builds an older schema, for tests of the migrations themselves.
pub async fn apply_through(
    pool: &AnyPool,
    backend: Backend,
    now: i64,
    last: i64,
) -> Result<Vec<i64>> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT NOT NULL PRIMARY KEY,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )
    .execute(pool)
    .await?;
    let mut applied = Vec::new();
    for (version, name, sql) in migrations(backend).iter().filter(|m| m.0 <= last) {
        let mut tx = match backend {
            Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(7461626973616465)")
                    .execute(&mut *tx)
                    .await?;
                // A migration works on every tenant's rows: without this,
                // row-level security would hide them from data migrations
                // (v4 would find no admin to turn into a binding).
                sqlx::query("SELECT set_config('palisade.tenant_uid', '*', true)")
                    .execute(&mut *tx)
                    .await?;
                tx
            }
        };
        let done: i64 = sqlx::query("SELECT COUNT(*) FROM schema_migrations WHERE version = $1")
            .bind(*version)
            .fetch_one(&mut *tx)
            .await?
            .try_get(0)?;
        if done > 0 {
            tx.rollback().await?;
            continue;
        }
        sqlx::raw_sql(*sql).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(*version)
        .bind(*name)
        .bind(checksum(sql))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        applied.push(*version);
    }
    Ok(applied)
}
