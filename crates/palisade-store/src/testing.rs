//! Test support: a fresh PostgreSQL database and role per test, dropped
//! afterwards. Not part of the stable API.
//!
//! The admin URL comes from `PALISADE_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). When the server is not
//! reachable the caller skips — unless `PALISADE_REQUIRE_SERVICES=1`, in
//! which case [`PgTestDb::create`] panics so CI cannot silently skip.

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use std::str::FromStr;

/// A throwaway database owned by a throwaway ordinary role (so row-level
/// security applies to it).
#[derive(Debug)]
pub struct PgTestDb {
    /// URL connecting as the throwaway role.
    pub url: String,
    /// Database name.
    pub name: String,
    admin_url: String,
}

fn admin_url() -> String {
    std::env::var("PALISADE_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// True when CI demands that service-backed tests run.
pub fn services_required() -> bool {
    std::env::var("PALISADE_REQUIRE_SERVICES").as_deref() == Ok("1")
}

async fn admin_conn(url: &str) -> Result<PgConnection, sqlx::Error> {
    PgConnectOptions::from_str(url)?.connect().await
}

impl PgTestDb {
    /// Creates the role and database, or returns `None` (after printing why)
    /// when PostgreSQL is unreachable and services are not required.
    #[allow(clippy::panic)]
    pub async fn create() -> Option<PgTestDb> {
        use sqlx::Executor;
        let admin = admin_url();
        let mut conn = match admin_conn(&admin).await {
            Ok(c) => c,
            Err(e) => {
                if services_required() {
                    panic!("PALISADE_REQUIRE_SERVICES=1 but PostgreSQL is unreachable: {e}");
                }
                eprintln!("skipping PostgreSQL test: server unreachable ({e})");
                return None;
            }
        };
        let suffix = palisade_core::Uid::generate().ok()?.to_string();
        let name = format!("palisade_t_{suffix}");
        let statements = [
            format!("CREATE ROLE {name} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"),
            format!("CREATE DATABASE {name} OWNER {name}"),
        ];
        for s in statements {
            if let Err(e) = conn.execute(sqlx::AssertSqlSafe(s)).await {
                panic!("creating the test database failed: {e}");
            }
        }
        let opts = PgConnectOptions::from_str(&admin).ok()?;
        let url = format!(
            "postgres://{name}@{}:{}/{name}?sslmode=disable",
            opts.get_host(),
            opts.get_port()
        );
        Some(PgTestDb {
            url,
            name,
            admin_url: admin,
        })
    }

    /// URL of the same database as the admin (superuser) role, which
    /// bypasses row-level security: for dumps in tests.
    pub fn admin_url_for_db(&self) -> Option<String> {
        let opts = PgConnectOptions::from_str(&self.admin_url).ok()?;
        Some(format!(
            "postgres://{}@{}:{}/{}?sslmode=disable",
            opts.get_username(),
            opts.get_host(),
            opts.get_port(),
            self.name
        ))
    }

    /// Drops the database (closing its connections) and the role.
    pub async fn drop_db(&self) {
        use sqlx::Executor;
        if let Ok(mut conn) = admin_conn(&self.admin_url).await {
            let _ = conn
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.name
                )))
                .await;
            let _ = conn
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP ROLE IF EXISTS {}",
                    self.name
                )))
                .await;
        }
    }
}
