//! What the audit log costs, side by side in one run (issue 4; see
//! `bench/audit.sh` and `BENCHMARKS.md`):
//!
//! 1. Mutation throughput: concurrent tasks create projects, each in a write
//!    transaction committed with its audit event (actor, session, request,
//!    client, target, details — as a request writes it), against the same
//!    transactions with the audit write switched off (the `bench` feature's
//!    `set_unaudited_for_bench`). Many short rounds alternate on/off and
//!    off/on on one store, so both modes see the same table sizes, caches
//!    and machine load; each mode's rate is all its creations over all its time.
//!    SQLite runs with Palisade's settings (WAL, `synchronous = FULL`, a pool
//!    of 4 as `serve` opens it); PostgreSQL (pool of 16) when reachable.
//! 2. `verify_audit` speed on one log of one million events, built through
//!    the real append path (chain link, re-signed head, checkpoints) many
//!    events per transaction.
//!
//! Environment (all optional): `PALISADE_BENCH_DIR` (where the SQLite files
//! go; default the temporary directory), `PALISADE_BENCH_TASKS` (4),
//! `PALISADE_BENCH_ROUNDS` (40), `PALISADE_BENCH_OPS` (100 creations per
//! round and mode), `PALISADE_BENCH_VERIFY_EVENTS` (1000000; 0 skips),
//! `PALISADE_BENCH_PG_VERIFY_EVENTS` (0: PostgreSQL verify skipped),
//! `PALISADE_TEST_DATABASE_URL` (as for the tests).

// A benchmark has no caller to report to: a store that cannot be opened or
// a write that fails is a broken run, and failing loudly is the right outcome.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade_core::audit::{ActorKind, AuditContext, AuditEntry};
use palisade_core::{SystemClock, Uid};
use palisade_crypto::Keyring;
use palisade_store::testing::{OneShot, PgTestDb};
use palisade_store::{Database, KeyringHandle, KeyringSource, SqlStore, Store, StoreOptions};
use secrecy::SecretString;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn open(database: Database, max_connections: u32) -> SqlStore {
    let keys = KeyringHandle::new(Keyring::generate().unwrap(), KeyringSource::Fixed);
    SqlStore::open(
        &StoreOptions {
            database,
            max_connections,
        },
        keys,
        Arc::new(SystemClock),
    )
    .await
    .expect("store opens")
}

/// The context a request by a logged-in user carries.
fn request_ctx() -> AuditContext {
    AuditContext {
        actor_kind: ActorKind::User,
        actor_uid: Some(Uid::from_u64(0x00be_4c40_0001)),
        api_key_uid: None,
        session_uid: Some(Uid::from_u64(0x00be_4c40_0002)),
        request_uid: Some(Uid::generate().unwrap()),
        client_ip: Some("203.0.113.7".into()),
        user_agent: Some("palisade-bench/1.0 (audit)".into()),
    }
}

/// `ops` project creations by `tasks` concurrent tasks, task `t` in tenant
/// `tenants[t % len]`; returns (creations, seconds).
async fn batch(
    store: &SqlStore,
    tenants: &[Uid],
    tasks: usize,
    ops: usize,
    tag: &str,
) -> (usize, f64) {
    let per_task = ops / tasks;
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for t in 0..tasks {
        let store = store.clone();
        let tag = format!("{tag}-{t}");
        let tenant = tenants[t % tenants.len()];
        set.spawn(async move {
            for i in 0..per_task {
                let name = format!("{tag}-{i}");
                let mut tx = store.write(tenant).await.unwrap();
                let p = tx
                    .create_project(tenant, &name, "benchmark project")
                    .await
                    .unwrap();
                tx.commit(
                    request_ctx()
                        .entry("project.create")
                        .target("project", p.uid)
                        .detail("name", name),
                )
                .await
                .unwrap();
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    (per_task * tasks, started.elapsed().as_secs_f64())
}

/// The value at quantile `q` (0–1) of `v`, sorted in place.
fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i.min(v.len() - 1)]
}

/// Mutation throughput with auditing on and off, in many short alternating
/// rounds (on/off, then off/on…) so that both modes see the same load on a
/// shared machine; all tasks in one tenant (one hash chain), or each task
/// in its own tenant.
async fn throughput(store: &SqlStore, backend: &str, spread: bool) {
    let tasks = env_usize("PALISADE_BENCH_TASKS", 4).max(1);
    let rounds = env_usize("PALISADE_BENCH_ROUNDS", 40).max(1);
    let ops = env_usize("PALISADE_BENCH_OPS", 100).max(tasks);
    let n_tenants = if spread { tasks } else { 1 };
    let mut tenants = Vec::new();
    for i in 0..n_tenants {
        let name = format!(
            "bench-{}-{}-{i}",
            backend
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == ' ')
                .collect::<String>()
                .replace(' ', "-"),
            if spread { "spread" } else { "one" }
        );
        tenants.push(store.create_tenant(&name).await.unwrap().uid);
    }
    let label = format!(
        "{backend} ({})",
        if spread {
            "a tenant per task"
        } else {
            "one tenant"
        }
    );
    let label = label.as_str();
    let tenant_list = tenants.as_slice();
    println!(
        "{label}: mutation throughput, {tasks} concurrent tasks in {n_tenants} tenant(s), \
         {rounds} alternating rounds × {ops} project creations per mode"
    );
    // Warm-up (not counted): connections, statement caches, key cache.
    for unaudited in [false, true] {
        store.set_unaudited_for_bench(unaudited);
        batch(store, tenant_list, tasks, ops, &format!("warm-{unaudited}")).await;
    }
    let (mut on, mut off) = ((0usize, 0.0f64), (0usize, 0.0f64));
    let mut ratios = Vec::new();
    for r in 0..rounds {
        let order = if r % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        let mut rate = [0.0f64; 2];
        for unaudited in order {
            store.set_unaudited_for_bench(unaudited);
            let tag = format!("r{r}-{}", if unaudited { "off" } else { "on" });
            let (n, secs) = batch(store, tenant_list, tasks, ops, &tag).await;
            let total = if unaudited { &mut off } else { &mut on };
            total.0 += n;
            total.1 += secs;
            rate[usize::from(unaudited)] = n as f64 / secs;
        }
        ratios.push(rate[0] / rate[1]);
    }
    store.set_unaudited_for_bench(false);
    let (r_on, r_off) = (on.0 as f64 / on.1, off.0 as f64 / off.1);
    let shown: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    println!(
        "{label}:   round ratios (audited ÷ unaudited): {}",
        shown.join(" ")
    );
    println!(
        "{label}: RESULT audited {r_on:.0} creations/s, unaudited {r_off:.0} creations/s \
         (all creations ÷ all time per mode), ratio {:.3}; round ratios median {:.3}, \
         quartiles {:.3}–{:.3} (target >= 0.9)",
        r_on / r_off,
        quantile(&mut ratios, 0.5),
        quantile(&mut ratios, 0.25),
        quantile(&mut ratios, 0.75)
    );
    // The audited rounds wrote whole, verifiable logs.
    for tenant in tenant_list {
        let reports = store.verify_audit(Some(*tenant)).await.unwrap();
        assert!(reports.iter().all(|r| r.problem.is_none()), "{reports:?}");
    }
}

/// Builds a log of `n` events, then times `verify_audit` on it (twice).
/// The log is written by as many concurrent transactions as it has lanes
/// (each transaction appends to one lane), so that a log of several lanes
/// is spread over all of them as concurrent writers would spread it.
async fn verify_speed(store: &SqlStore, label: &str, n: usize) {
    const PER_TX: usize = 10_000;
    let tenant = store.create_tenant("verify").await.unwrap().uid;
    let lanes = store
        .audit_heads()
        .await
        .unwrap()
        .iter()
        .filter(|h| h.tenant_uid == tenant)
        .count()
        .max(1);
    let started = Instant::now();
    let mut made = 1; // tenant.create
    let mut last_report = Instant::now();
    while made < n {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..lanes {
            let k = PER_TX.min(n - made);
            if k == 0 {
                break;
            }
            let entries: Vec<AuditEntry> = (0..k)
                .map(|i| {
                    request_ctx()
                        .entry("project.create")
                        .target("project", Uid::from_u64((made + i) as u64))
                        .detail("name", format!("project {}", made + i))
                })
                .collect();
            let store = store.clone();
            set.spawn(async move { store.append_for_bench(tenant, entries).await });
            made += k;
        }
        while let Some(r) = set.join_next().await {
            r.unwrap().unwrap();
        }
        if last_report.elapsed() > Duration::from_secs(30) {
            println!("{label}:   … {made} events written");
            last_report = Instant::now();
        }
    }
    let build = started.elapsed().as_secs_f64();
    println!(
        "{label}: built a log of {made} events in {build:.1} s ({:.0} appends/s, {PER_TX} per transaction, {lanes} lane(s) written side by side)",
        made as f64 / build
    );
    for attempt in 1..=2 {
        let started = Instant::now();
        let reports = store.verify_audit(Some(tenant)).await.unwrap();
        let secs = started.elapsed().as_secs_f64();
        let r = &reports[0];
        assert!(r.problem.is_none(), "{:?}", r.problem);
        assert_eq!(r.events as usize, made);
        println!(
            "{label}: RESULT verify #{attempt}: {} events, {} checkpoints in {secs:.2} s = {:.0} events/s",
            r.events,
            r.checkpoints,
            r.events as f64 / secs
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter we do not use.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let base = std::env::var_os("PALISADE_BENCH_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let dir = tempfile::tempdir_in(&base).unwrap();
        println!("SQLite files in {}", dir.path().display());

        // 1. Throughput, SQLite then PostgreSQL.
        let sqlite = open(Database::Sqlite(dir.path().join("throughput.db")), 4).await;
        throughput(&sqlite, "sqlite", false).await;
        throughput(&sqlite, "sqlite", true).await;
        sqlite.close().await;
        match PgTestDb::create().await {
            Some(db) => {
                let pg = open(Database::Postgres(SecretString::from(db.url.clone())), 16).await;
                for setting in ["synchronous_commit", "fsync", "server_version"] {
                    let v: String = sqlx::Row::try_get(
                        &sqlx::query(sqlx::AssertSqlSafe(format!("SHOW {setting}")))
                            .fetch_one(pg.pool())
                            .await
                            .unwrap(),
                        0,
                    )
                    .unwrap();
                    println!("postgres: {setting} = {v}");
                }
                // Logs of one lane (as on SQLite, and as every log was
                // before lanes) against the default for PostgreSQL.
                throughput(&pg.clone().with_audit_lanes(1), "postgres, 1 lane", false).await;
                let lanes = format!("postgres, {} lanes", palisade_store::POSTGRES_LANES);
                throughput(&pg, &lanes, false).await;
                throughput(&pg, &lanes, true).await;
                let n = env_usize("PALISADE_BENCH_PG_VERIFY_EVENTS", 0);
                if n > 0 {
                    verify_speed(&pg, "postgres", n).await;
                }
                pg.close().await;
                db.drop_db().await;
            }
            None => println!("postgres: skipped (server unreachable)"),
        }

        // 2. Verification speed on SQLite.
        let n = env_usize("PALISADE_BENCH_VERIFY_EVENTS", 1_000_000);
        if n > 0 {
            let sqlite = open(Database::Sqlite(dir.path().join("verify.db")), 4).await;
            verify_speed(&sqlite, "sqlite", n).await;
            let bytes = std::fs::metadata(dir.path().join("verify.db"))
                .map(|m| m.len())
                .unwrap_or(0);
            println!("sqlite: the log's database file is {} MiB", bytes >> 20);
            sqlite.close().await;
        }
    });
}
