//! The store conformance suite: the same tests on SQLite and PostgreSQL.
//!
//! PostgreSQL tests run on a fresh database owned by a fresh ordinary role
//! (so row-level security applies) on the local server, dropped afterwards.

// Test code: failing loudly on unexpected errors is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use palisade_core::audit::{AuditContext, Outcome};
use palisade_core::model::UserStatus;
use palisade_core::rbac::{
    BuiltinRole, Grants, Permission, PermissionSet, RoleRef, Scope, Subject, Target, Via,
};
use palisade_core::{SystemClock, Uid};
use palisade_crypto::Keyring;
use palisade_store::testing::{OneShot, PgTestDb};
use palisade_store::{
    AgentPresence, BusStore, HeartbeatSeen, IssuedCredentials, JobKind, JobOutcome, JobStatus,
    ResultStored,
};
use palisade_store::{
    AuditFilter, AuditOrder, AuditPage, Backend, BindingFilter, Database, IdentityStore,
    KeyringHandle, KeyringSource, LogProblem, NewCloudAccount, NewCluster, NewUser, PageRequest,
    RefreshOutcome, RoleChange, SqlStore, Store, StoreError, StoreOptions, UidSource,
};
use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;

struct Harness {
    store: SqlStore,
    keys: KeyringHandle,
    opts: StoreOptions,
    dir: tempfile::TempDir,
    pg: Option<PgTestDb>,
    /// Whether `finish` checks that every audit log verifies.
    verify_at_finish: std::sync::atomic::AtomicBool,
}

impl Harness {
    async fn sqlite() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let opts = StoreOptions {
            database: Database::Sqlite(dir.path().join("palisade.db")),
            max_connections: 4,
        };
        Self::open(opts, dir, None).await
    }

    async fn postgres() -> Option<Harness> {
        let pg = PgTestDb::create().await?;
        let opts = StoreOptions {
            database: Database::Postgres(SecretString::from(pg.url.clone())),
            max_connections: 4,
        };
        Some(Self::open(opts, tempfile::tempdir().unwrap(), Some(pg)).await)
    }

    async fn open(opts: StoreOptions, dir: tempfile::TempDir, pg: Option<PgTestDb>) -> Harness {
        let keys = KeyringHandle::new(Keyring::generate().unwrap(), KeyringSource::Fixed);
        let store = SqlStore::open(&opts, keys.clone(), Arc::new(SystemClock))
            .await
            .unwrap();
        Harness {
            store,
            keys,
            opts,
            dir,
            pg,
            verify_at_finish: std::sync::atomic::AtomicBool::new(true),
        }
    }

    async fn reopen(&self, keyring: Keyring) -> Result<SqlStore, StoreError> {
        SqlStore::open(
            &self.opts,
            KeyringHandle::new(keyring, KeyringSource::Fixed),
            Arc::new(SystemClock),
        )
        .await
    }

    /// A transaction that sees every tenant's rows (RLS scope `*` on PostgreSQL).
    async fn platform_tx(&self) -> sqlx::Transaction<'static, sqlx::Any> {
        let mut tx = self.store.pool().begin().await.unwrap();
        if self.store.backend() == Backend::Postgres {
            sqlx::query("SELECT set_config('palisade.tenant_uid', '*', true)")
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx
    }

    /// Runs raw SQL as an attacker with write access to the database would.
    async fn raw(&self, sql: &str, binds: &[&str]) -> u64 {
        let mut tx = self.platform_tx().await;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
        for b in binds {
            q = q.bind((*b).to_owned());
        }
        let n = q.execute(&mut *tx).await.unwrap().rows_affected();
        tx.commit().await.unwrap();
        n
    }

    /// The UID of event `seq` of `t`'s log.
    async fn uid_at(&self, t: Uid, seq: i64) -> String {
        self.raw_text(
            &format!("SELECT uid FROM audit_events WHERE tenant_uid = $1 AND seq = {seq}"),
            &t.to_string(),
        )
        .await
    }

    async fn raw_text(&self, sql: &str, bind: &str) -> String {
        let mut tx = self.platform_tx().await;
        let row = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(bind.to_owned())
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        row.try_get(0).unwrap()
    }

    /// For tests that tamper with the audit log on purpose.
    fn skip_final_verify(&self) {
        self.verify_at_finish.store(false, Ordering::SeqCst);
    }

    async fn finish(self) {
        if self.verify_at_finish.load(Ordering::SeqCst) {
            assert_all_verify(&self.store).await;
        }
        self.store.close().await;
        if let Some(pg) = &self.pg {
            pg.drop_db().await;
        }
        drop(self.dir);
    }
}

fn user(email: &str) -> NewUser {
    NewUser {
        email: email.to_owned(),
        display_name: format!("Name of {email}"),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        must_change_password: false,
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let h = super::Harness::sqlite().await;
                    super::$name(&h).await;
                    h.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(h) = super::Harness::postgres().await else { return };
                    super::$name(&h).await;
                    h.finish().await;
                }
            )*
        }
    };
}

conformance!(
    tenants_unique_and_listed,
    users_sealed_and_found_by_email,
    tenant_scope_isolates_everything,
    resources_crud_and_pagination,
    ciphertext_moved_between_rows_or_tenants_fails,
    flipped_bit_fails,
    canaries_never_stored_in_clear,
    delete_tenant_destroys_keys,
    rotate_root_rewraps_every_tenant_key,
    wrong_keyring_refused_and_database_untouched,
    newer_schema_refused,
    uid_collision_is_retried,
    invalid_input_rejected,
    identity_state_is_scoped_single_use_and_atomic,
    audit_events_written_with_their_change,
    audit_write_failure_leaves_no_change,
    audit_log_is_append_only,
    audit_tampering_is_detected_and_named,
    audit_queries_filter_page_and_stay_in_tenant,
    audit_retention_cut_keeps_log_verifiable,
    audit_log_given_once_to_tenants_older_than_it,
    audit_appends_chain_onto_the_databases_head,
    audit_lanes_chain_apart_and_tampering_is_named,
    audit_any_one_event_changed_or_removed_is_named_in_any_lane_count,
    concurrent_writes_take_turns_and_all_land,
    access_reads_bring_status_and_every_grant,
    access_reads_see_every_commit,
    rbac_teams_and_members,
    rbac_custom_roles,
    rbac_bindings,
    rbac_grants_direct_via_team_and_custom,
    rbac_tenant_isolation,
    rbac_tenant_deletion_removes_rbac_rows,
    rbac_migration_from_v3_makes_bindings,
    bus_account_outbox_and_revocations,
    bus_heartbeat_and_scope,
    bus_jobs_lifecycle_sealed_and_once,
    bus_jobs_claimed_by_one_replica,
);

async fn tenants_unique_and_listed(h: &Harness) {
    let s = &h.store;
    let a = s.create_tenant("acme").await.unwrap();
    assert_eq!(a.uid.to_string().len(), 12);
    assert!(matches!(
        s.create_tenant("acme").await,
        Err(StoreError::Conflict(_))
    ));
    let b = s.create_tenant("globex").await.unwrap();
    assert_eq!(s.tenant_by_name("globex").await.unwrap(), b);
    assert_eq!(s.get_tenant(a.uid).await.unwrap(), a);
    let all = s.list_tenants(PageRequest::default()).await.unwrap();
    assert_eq!(all.items.len(), 2);
    assert!(matches!(
        s.get_tenant(Uid::from_u64(1)).await,
        Err(StoreError::NotFound)
    ));
}

async fn users_sealed_and_found_by_email(h: &Harness) {
    let s = &h.store;
    let t = s.create_tenant("acme").await.unwrap();
    let u = s
        .create_user(t.uid, user("Alice@Example.com"))
        .await
        .unwrap();
    let found = s.user_by_email(t.uid, "  alice@example.COM").await.unwrap();
    assert_eq!(found.user, u);
    assert_eq!(found.user.email, "Alice@Example.com");
    assert!(found.password_hash.unwrap().starts_with("$argon2id$"));
    assert!(matches!(
        s.create_user(t.uid, user("alice@example.com")).await,
        Err(StoreError::Conflict(_))
    ));
    s.set_user_status(t.uid, u.uid, UserStatus::Disabled)
        .await
        .unwrap();
    s.set_password(t.uid, u.uid, "$argon2id$new", true)
        .await
        .unwrap();
    let again = s.get_user(t.uid, u.uid).await.unwrap();
    assert_eq!(again.status, UserStatus::Disabled);
    assert!(again.must_change_password);
    let stored = h
        .raw_text(
            "SELECT email_enc FROM users WHERE uid = $1",
            &u.uid.to_string(),
        )
        .await;
    assert!(stored.starts_with("pal1.1."), "{stored}");
    let index = h
        .raw_text(
            "SELECT email_index FROM users WHERE uid = $1",
            &u.uid.to_string(),
        )
        .await;
    assert_eq!(index.len(), 64);
    s.delete_user(t.uid, u.uid).await.unwrap();
    assert!(matches!(
        s.get_user(t.uid, u.uid).await,
        Err(StoreError::NotFound)
    ));
}

async fn tenant_scope_isolates_everything(h: &Harness) {
    let s = &h.store;
    let a = s.create_tenant("acme").await.unwrap();
    let b = s.create_tenant("globex").await.unwrap();
    let u = s.create_user(a.uid, user("a@acme.test")).await.unwrap();
    let p = s.create_project(a.uid, "web", "").await.unwrap();
    let acc = s
        .create_cloud_account(
            a.uid,
            p.uid,
            NewCloudAccount {
                name: "aws-main".into(),
                provider: "aws".into(),
                credentials: SecretString::from("AKIA-secret"),
            },
        )
        .await
        .unwrap();
    let c = s
        .create_cluster(
            a.uid,
            p.uid,
            NewCluster {
                name: "prod".into(),
                cloud_account_uid: Some(acc.uid),
            },
        )
        .await
        .unwrap();
    // Tenant B sees none of tenant A's objects, and cannot change them.
    assert!(matches!(
        s.get_user(b.uid, u.uid).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.user_by_email(b.uid, "a@acme.test").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.get_project(b.uid, p.uid).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.get_cloud_account(b.uid, p.uid, acc.uid).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.cloud_account_credentials(b.uid, acc.uid).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.get_cluster(b.uid, p.uid, c.uid).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.delete_user(b.uid, u.uid).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.delete_cluster(b.uid, p.uid, c.uid).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.create_cluster(
            b.uid,
            p.uid,
            NewCluster {
                name: "sneaky".into(),
                cloud_account_uid: None
            }
        )
        .await,
        Err(StoreError::NotFound)
    ));
    assert!(
        s.list_users(b.uid, PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(
        s.list_projects(b.uid, PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // Still there for A.
    assert_eq!(s.get_cluster(a.uid, p.uid, c.uid).await.unwrap(), c);

    if s.backend() == Backend::Postgres {
        // Row-level security: a transaction scoped to B sees no row of A
        // even with no tenant filter in the query; an unscoped one sees none.
        for scope in [Some(b.uid.to_string()), None] {
            let mut tx = s.pool().begin().await.unwrap();
            if let Some(scope) = &scope {
                sqlx::query("SELECT set_config('palisade.tenant_uid', $1, true)")
                    .bind(scope.clone())
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
            for table in [
                "users",
                "projects",
                "cloud_accounts",
                "clusters",
                "tenant_keys",
            ] {
                let n: i64 =
                    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                        .fetch_one(&mut *tx)
                        .await
                        .unwrap()
                        .try_get(0)
                        .unwrap();
                let expected = if scope.is_some() && table == "tenant_keys" {
                    1
                } else {
                    0
                };
                assert_eq!(n, expected, "{table} visible under scope {scope:?}");
            }
            tx.rollback().await.unwrap();
        }
    }
}

async fn resources_crud_and_pagination(h: &Harness) {
    let s = &h.store;
    let t = s.create_tenant("acme").await.unwrap();
    let p = s.create_project(t.uid, "web", "Web shop").await.unwrap();
    assert!(matches!(
        s.create_project(t.uid, "web", "").await,
        Err(StoreError::Conflict(_))
    ));
    let mut made = Vec::new();
    for i in 0..7 {
        made.push(
            s.create_cluster(
                t.uid,
                p.uid,
                NewCluster {
                    name: format!("c{i}"),
                    cloud_account_uid: None,
                },
            )
            .await
            .unwrap()
            .uid,
        );
    }
    made.sort();
    let mut seen = Vec::new();
    let mut page = PageRequest {
        after: None,
        limit: 3,
    };
    let mut pages = 0;
    loop {
        let got = s.list_clusters(t.uid, p.uid, page).await.unwrap();
        pages += 1;
        seen.extend(got.items.iter().map(|c| c.uid));
        match got.next {
            Some(n) => page.after = Some(n),
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, made);
    let acc = s
        .create_cloud_account(
            t.uid,
            p.uid,
            NewCloudAccount {
                name: "aws".into(),
                provider: "aws".into(),
                credentials: SecretString::from("{\"key\":\"k\",\"secret\":\"s\"}"),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        s.cloud_account_credentials(t.uid, acc.uid)
            .await
            .unwrap()
            .expose_secret(),
        "{\"key\":\"k\",\"secret\":\"s\"}"
    );
    let c = s
        .create_cluster(
            t.uid,
            p.uid,
            NewCluster {
                name: "uses-aws".into(),
                cloud_account_uid: Some(acc.uid),
            },
        )
        .await
        .unwrap();
    let del = s.delete_cloud_account(t.uid, p.uid, acc.uid).await;
    assert!(matches!(del, Err(StoreError::Invalid(_))), "{del:?}");
    s.delete_cluster(t.uid, p.uid, c.uid).await.unwrap();
    s.delete_cloud_account(t.uid, p.uid, acc.uid).await.unwrap();
    s.delete_project(t.uid, p.uid).await.unwrap();
    assert!(
        s.list_clusters(t.uid, p.uid, PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn ciphertext_moved_between_rows_or_tenants_fails(h: &Harness) {
    let s = &h.store;
    let a = s.create_tenant("acme").await.unwrap();
    let b = s.create_tenant("globex").await.unwrap();
    let u1 = s.create_user(a.uid, user("one@acme.test")).await.unwrap();
    let u2 = s.create_user(a.uid, user("two@acme.test")).await.unwrap();
    let u3 = s
        .create_user(b.uid, user("three@globex.test"))
        .await
        .unwrap();
    let e1 = h
        .raw_text(
            "SELECT email_enc FROM users WHERE uid = $1",
            &u1.uid.to_string(),
        )
        .await;
    // Same tenant, other row.
    h.raw(
        "UPDATE users SET email_enc = $1 WHERE uid = $2",
        &[&e1, &u2.uid.to_string()],
    )
    .await;
    let err = s.get_user(a.uid, u2.uid).await.unwrap_err();
    assert!(matches!(err, StoreError::Decrypt { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("belongs to another tenant, table, column or row"),
        "{err}"
    );
    // Other tenant.
    h.raw(
        "UPDATE users SET email_enc = $1 WHERE uid = $2",
        &[&e1, &u3.uid.to_string()],
    )
    .await;
    assert!(matches!(
        s.get_user(b.uid, u3.uid).await,
        Err(StoreError::Decrypt { .. })
    ));
    // Other column of the same row.
    let n1 = h
        .raw_text(
            "SELECT display_name_enc FROM users WHERE uid = $1",
            &u1.uid.to_string(),
        )
        .await;
    h.raw(
        "UPDATE users SET email_enc = $1 WHERE uid = $2",
        &[&n1, &u1.uid.to_string()],
    )
    .await;
    assert!(matches!(
        s.get_user(a.uid, u1.uid).await,
        Err(StoreError::Decrypt { .. })
    ));
    // A wrapped tenant key moved to another tenant fails too.
    let ka = h
        .raw_text(
            "SELECT wrapped_key FROM tenant_keys WHERE tenant_uid = $1",
            &a.uid.to_string(),
        )
        .await;
    h.raw(
        "UPDATE tenant_keys SET wrapped_key = $1 WHERE tenant_uid = $2",
        &[&ka, &b.uid.to_string()],
    )
    .await;
    let fresh = h.reopen(h.keys.get().as_ref().clone()).await.unwrap_err();
    assert!(matches!(fresh, StoreError::KeyringMismatch(_)), "{fresh}");
    assert!(fresh.to_string().contains(&b.uid.to_string()), "{fresh}");
}

async fn flipped_bit_fails(h: &Harness) {
    use base64::Engine;
    let s = &h.store;
    let t = s.create_tenant("acme").await.unwrap();
    let p = s.create_project(t.uid, "web", "").await.unwrap();
    let acc = s
        .create_cloud_account(
            t.uid,
            p.uid,
            NewCloudAccount {
                name: "aws".into(),
                provider: "aws".into(),
                credentials: SecretString::from("secret"),
            },
        )
        .await
        .unwrap();
    let sealed = h
        .raw_text(
            "SELECT credentials_enc FROM cloud_accounts WHERE uid = $1",
            &acc.uid.to_string(),
        )
        .await;
    let (head, body) = sealed.split_at(7);
    let mut raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(body)
        .unwrap();
    let last = raw.len() - 1;
    raw[last / 2] ^= 0x01;
    let flipped = format!(
        "{head}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw)
    );
    h.raw(
        "UPDATE cloud_accounts SET credentials_enc = $1 WHERE uid = $2",
        &[&flipped, &acc.uid.to_string()],
    )
    .await;
    let err = s
        .cloud_account_credentials(t.uid, acc.uid)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Decrypt { .. }), "{err}");
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

async fn canaries_never_stored_in_clear(h: &Harness) {
    let s = &h.store;
    let email = format!("canary-{}@example.com", Uid::generate().unwrap());
    let secret = format!("canary-secret-{}", Uid::generate().unwrap());
    let name = format!("Canary Person {}", Uid::generate().unwrap());
    let t = s.create_tenant("acme").await.unwrap();
    s.create_user(
        t.uid,
        NewUser {
            email: email.clone(),
            display_name: name.clone(),
            password_hash: None,
            must_change_password: true,
        },
    )
    .await
    .unwrap();
    let p = s.create_project(t.uid, "web", "").await.unwrap();
    s.create_cloud_account(
        t.uid,
        p.uid,
        NewCloudAccount {
            name: "aws".into(),
            provider: "aws".into(),
            credentials: SecretString::from(secret.clone()),
        },
    )
    .await
    .unwrap();
    let lower = email.to_lowercase();
    let needles = [
        email.as_bytes(),
        lower.as_bytes(),
        secret.as_bytes(),
        name.as_bytes(),
    ];
    match s.backend() {
        Backend::Sqlite => {
            // Read the files while the store is open (WAL not yet checkpointed).
            let db = h.dir.path().join("palisade.db");
            let mut files = vec![std::fs::read(&db).unwrap()];
            for suffix in ["-wal", "-shm"] {
                if let Ok(b) = std::fs::read(format!("{}{suffix}", db.display())) {
                    files.push(b);
                }
            }
            assert!(files.iter().map(Vec::len).sum::<usize>() > 0);
            for f in &files {
                for n in &needles {
                    assert!(!contains(f, n), "canary found in SQLite files");
                }
            }
        }
        Backend::Postgres => {
            let pg = h.pg.as_ref().unwrap();
            let out = std::process::Command::new("pg_dump")
                .arg("--dbname")
                .arg(pg.admin_url_for_db().unwrap())
                .output()
                .expect("pg_dump runs");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(contains(&out.stdout, b"pal1."), "dump holds the envelopes");
            for n in &needles {
                assert!(!contains(&out.stdout, n), "canary found in pg_dump output");
            }
        }
    }
}

async fn delete_tenant_destroys_keys(h: &Harness) {
    let s = &h.store;
    let t = s.create_tenant("doomed").await.unwrap();
    let keep = s.create_tenant("keeper").await.unwrap();
    let u = s.create_user(t.uid, user("x@doomed.test")).await.unwrap();
    s.create_user(keep.uid, user("y@keeper.test"))
        .await
        .unwrap();
    let sealed = h
        .raw_text(
            "SELECT email_enc FROM users WHERE uid = $1",
            &u.uid.to_string(),
        )
        .await;
    s.delete_tenant(t.uid).await.unwrap();
    assert!(matches!(
        s.get_tenant(t.uid).await,
        Err(StoreError::NotFound)
    ));
    for table in ["tenant_keys", "users"] {
        let n = h
            .raw_text(
                &format!("SELECT CAST(COUNT(*) AS TEXT) FROM {table} WHERE tenant_uid = $1"),
                &t.uid.to_string(),
            )
            .await;
        assert_eq!(n, "0", "{table}");
    }
    // A copy of the ciphertext (as in an old backup) has no key left to open
    // it: restoring the row without its key yields NotFound for the key.
    h.raw(
        "INSERT INTO tenants (uid, name, created_at) VALUES ($1, 'restored', 0)",
        &[&t.uid.to_string()],
    )
    .await;
    h.raw(
        "INSERT INTO users (uid, tenant_uid, email_index, email_enc, display_name_enc, must_change_password, status, created_at, updated_at) VALUES ($1, $2, 'x', $3, $3, 0, 'active', 0, 0)",
        &[&u.uid.to_string(), &t.uid.to_string(), &sealed],
    )
    .await;
    let fresh = h.reopen(h.keys.get().as_ref().clone()).await.unwrap();
    assert!(fresh.get_user(t.uid, u.uid).await.is_err());
    fresh.close().await;
    // The other tenant is untouched.
    assert_eq!(
        s.list_users(keep.uid, PageRequest::default())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
}

async fn rotate_root_rewraps_every_tenant_key(h: &Harness) {
    let s = &h.store;
    let mut uids = Vec::new();
    for i in 0..5 {
        let t = s.create_tenant(&format!("t{i}")).await.unwrap();
        uids.push((
            t.uid,
            s.create_user(t.uid, user(&format!("u{i}@x.test")))
                .await
                .unwrap()
                .uid,
        ));
    }
    let old = h.keys.get().as_ref().clone();
    let rotated = old.with_new_root().unwrap();
    h.keys.set(rotated.clone());
    let entry = || {
        AuditContext::system()
            .entry("keys.rotate-root")
            .tenant(uids[0].0)
    };
    let report = s.rotate_root(entry()).await.unwrap();
    assert_eq!(report.root_version, 2);
    assert_eq!(report.rewrapped, 5);
    assert_eq!(
        s.rotate_root(entry()).await.unwrap().rewrapped,
        0,
        "idempotent"
    );
    // The rotation is in the audit log, and the log still verifies.
    let events = s
        .list_audit(uids[0].0, &AuditFilter::default(), AuditPage::default())
        .await
        .unwrap();
    assert_eq!(events.items[0].action, "keys.rotate-root");
    assert!(
        events.items[0].details.contains("\"rewrapped\":0"),
        "{}",
        events.items[0].details
    );
    assert_all_verify(s).await;
    // The old root alone no longer opens anything; the new one alone opens all.
    let pruned = rotated.without_roots_before(2);
    assert_eq!(pruned.root_versions(), vec![2]);
    let fresh = h.reopen(pruned).await.unwrap();
    for (t, u) in &uids {
        fresh.get_user(*t, *u).await.unwrap();
    }
    fresh.close().await;
    assert!(matches!(
        h.reopen(old).await,
        Err(StoreError::KeyringMismatch(_))
    ));
}

async fn wrong_keyring_refused_and_database_untouched(h: &Harness) {
    let s = &h.store;
    let t = s.create_tenant("acme").await.unwrap();
    s.create_user(t.uid, user("a@acme.test")).await.unwrap();
    let before = snapshot(h).await;
    let err = h.reopen(Keyring::generate().unwrap()).await.unwrap_err();
    assert!(matches!(err, StoreError::KeyringMismatch(_)), "{err}");
    assert!(err.to_string().contains("belongs to installation"), "{err}");
    assert_eq!(snapshot(h).await, before);
}

async fn snapshot(h: &Harness) -> Vec<String> {
    let mut tx = h.platform_tx().await;
    let mut out = Vec::new();
    for sql in [
        "SELECT uid || name FROM tenants ORDER BY uid",
        "SELECT uid || email_enc || display_name_enc FROM users ORDER BY uid",
        "SELECT tenant_uid || wrapped_key FROM tenant_keys ORDER BY tenant_uid",
        "SELECT installation_uid || key_check FROM installation",
        "SELECT CAST(version AS TEXT) || checksum FROM schema_migrations ORDER BY version",
    ] {
        for row in sqlx::query(sql).fetch_all(&mut *tx).await.unwrap() {
            out.push(row.try_get::<String, _>(0).unwrap());
        }
    }
    tx.rollback().await.unwrap();
    out
}

async fn newer_schema_refused(h: &Harness) {
    h.raw(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES (999, 'future', 'x', 0)",
        &[],
    )
    .await;
    let before = snapshot(h).await;
    let err = h.reopen(h.keys.get().as_ref().clone()).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                database: 999,
                binary: 7
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("newer than this binary"), "{err}");
    assert_eq!(snapshot(h).await, before);
}

#[derive(Debug)]
struct Scripted {
    script: Mutex<Vec<Uid>>,
    calls: AtomicUsize,
}

impl UidSource for Scripted {
    fn next_uid(&self) -> Result<Uid, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut s = self.script.lock().unwrap();
        Ok(if s.is_empty() {
            Uid::generate().unwrap()
        } else {
            s.remove(0)
        })
    }
}

async fn uid_collision_is_retried(h: &Harness) {
    let fixed = Uid::from_u64(0xabcdef);
    let scripted = Arc::new(Scripted {
        script: Mutex::new(vec![fixed, fixed, fixed]),
        calls: AtomicUsize::new(0),
    });
    let s = h.store.clone().with_uids(scripted.clone());
    let first = s.create_tenant("first").await.unwrap();
    assert_eq!(first.uid, fixed);
    // Draws: first's UID, first's audit event UID (another table, no
    // collision), then second's UID collides; the store retries past it.
    let second = s.create_tenant("second").await.unwrap();
    assert_ne!(second.uid, fixed);
    assert_eq!(scripted.calls.load(Ordering::SeqCst), 5);
    assert_eq!(s.get_tenant(fixed).await.unwrap().name, "first");
}

async fn invalid_input_rejected(h: &Harness) {
    let s = &h.store;
    assert!(matches!(
        s.create_tenant("Bad Name").await,
        Err(StoreError::Invalid(_))
    ));
    let t = s.create_tenant("acme").await.unwrap();
    assert!(matches!(
        s.create_user(t.uid, user("not-an-email")).await,
        Err(StoreError::Invalid(_))
    ));
    let p = s.create_project(t.uid, "web", "").await.unwrap();
    let other = s.create_project(t.uid, "other", "").await.unwrap();
    let acc = s
        .create_cloud_account(
            t.uid,
            other.uid,
            NewCloudAccount {
                name: "aws".into(),
                provider: "aws".into(),
                credentials: SecretString::from("s"),
            },
        )
        .await
        .unwrap();
    let err = s
        .create_cluster(
            t.uid,
            p.uid,
            NewCluster {
                name: "c".into(),
                cloud_account_uid: Some(acc.uid),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::MissingReference(_)), "{err}");
}

async fn identity_state_is_scoped_single_use_and_atomic(h: &Harness) {
    let s = &h.store;
    let a = s.create_tenant("acme").await.unwrap();
    let b = s.create_tenant("globex").await.unwrap();
    let u = s.create_user(a.uid, user("a@acme.test")).await.unwrap();
    // Sessions and refresh tokens: rotation, then reuse revokes the session.
    let sess = s
        .create_session(a.uid, u.uid, &["pwd".into()], i64::MAX, "h1")
        .await
        .unwrap();
    assert_eq!(sess.amr, vec!["pwd".to_owned()]);
    assert!(matches!(
        s.use_refresh_token(a.uid, "h1", "h2", 10).await.unwrap(),
        RefreshOutcome::Rotated(_)
    ));
    // Another tenant cannot see or use it.
    assert_eq!(
        s.use_refresh_token(b.uid, "h2", "h3", 11).await.unwrap(),
        RefreshOutcome::Unknown
    );
    assert!(matches!(
        s.get_session(b.uid, sess.uid).await,
        Err(StoreError::NotFound)
    ));
    match s.use_refresh_token(a.uid, "h1", "h9", 12).await.unwrap() {
        RefreshOutcome::Reused(r) => assert_eq!(r.revoked_reason.as_deref(), Some("refresh_reuse")),
        other => panic!("{other:?}"),
    }
    assert!(
        s.get_session(a.uid, sess.uid)
            .await
            .unwrap()
            .revoked_at
            .is_some()
    );
    // API keys.
    let k = s
        .create_api_key(a.uid, u.uid, "robot", "kh", None)
        .await
        .unwrap();
    assert_eq!(
        s.api_key_access(a.uid, k.uid).await.unwrap().secret_hash,
        "kh"
    );
    assert!(matches!(
        s.api_key_access(b.uid, k.uid).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.revoke_api_key(b.uid, k.uid, None).await,
        Err(StoreError::NotFound)
    ));
    s.revoke_api_key(a.uid, k.uid, Some(u.uid)).await.unwrap();
    // TOTP: sealed secret, a step is accepted once.
    s.put_totp(a.uid, u.uid, b"0123456789abcdefghij")
        .await
        .unwrap();
    let t = s.get_totp(a.uid, u.uid).await.unwrap().unwrap();
    assert_eq!(&t.secret[..], b"0123456789abcdefghij");
    assert!(!t.confirmed);
    assert!(s.accept_totp_step(a.uid, u.uid, 100, true).await.unwrap());
    assert!(
        !s.accept_totp_step(a.uid, u.uid, 100, false).await.unwrap(),
        "replay"
    );
    assert!(
        !s.accept_totp_step(a.uid, u.uid, 99, false).await.unwrap(),
        "older step"
    );
    assert!(s.get_totp(a.uid, u.uid).await.unwrap().unwrap().confirmed);
    assert!(s.get_totp(b.uid, u.uid).await.unwrap().is_none());
    let stored = h
        .raw_text(
            "SELECT secret_enc FROM user_totp WHERE user_uid = $1",
            &u.uid.to_string(),
        )
        .await;
    assert!(stored.starts_with("pal1."), "the TOTP secret is sealed");
    // Recovery codes: single use.
    s.replace_recovery_codes(a.uid, u.uid, &["r1".into(), "r2".into()])
        .await
        .unwrap();
    assert!(s.use_recovery_code(a.uid, u.uid, "r1", 5).await.unwrap());
    assert!(!s.use_recovery_code(a.uid, u.uid, "r1", 6).await.unwrap());
    assert!(!s.use_recovery_code(b.uid, u.uid, "r2", 6).await.unwrap());
    assert_eq!(s.recovery_codes_left(a.uid, u.uid).await.unwrap(), 1);
    // Throttle counters.
    let t1 = s
        .throttle_failure("acct", "ip", 1000, &|n| 1000 + n * 10)
        .await
        .unwrap();
    let t2 = s
        .throttle_failure("acct", "ip", 1001, &|n| 1001 + n * 10)
        .await
        .unwrap();
    assert_eq!((t1.failures, t2.failures, t2.blocked_until), (1, 2, 1021));
    s.throttle_failure("acct", "other-ip", 1002, &|_| 0)
        .await
        .unwrap();
    assert_eq!(s.throttle("acct", "ip").await.unwrap().failures, 2);
    s.throttle_clear("acct", "ip").await.unwrap();
    assert_eq!(s.throttle("acct", "ip").await.unwrap().failures, 0);
    assert_eq!(s.throttle_clear_account("acct").await.unwrap(), 1);
    // Password history keeps the newest first.
    s.push_password_history(a.uid, u.uid, "old1").await.unwrap();
    s.push_password_history(a.uid, u.uid, "old2").await.unwrap();
    let hist = s.password_history(a.uid, u.uid, 5).await.unwrap();
    assert_eq!(hist.len(), 2);
    assert!(
        s.password_history(b.uid, u.uid, 5)
            .await
            .unwrap()
            .is_empty()
    );
    // Settings.
    s.set_mfa_required(a.uid, true).await.unwrap();
    s.set_password_policy(a.uid, "{}").await.unwrap();
    let sec = s.security_settings(a.uid).await.unwrap();
    assert!(sec.mfa_required && sec.password_policy.as_deref() == Some("{}"));
    assert!(!s.security_settings(b.uid).await.unwrap().mfa_required);
}

/// Every audit log of the store verifies.
async fn assert_all_verify(s: &SqlStore) {
    for r in s.verify_audit(None).await.unwrap() {
        assert!(
            r.problem.is_none(),
            "log of {}: {:?}",
            r.tenant_uid,
            r.problem
        );
    }
}

/// As an attacker with raw write access: drop the append-only guard.
async fn drop_audit_guard(h: &Harness) {
    let sql = match h.store.backend() {
        Backend::Sqlite => vec![
            "DROP TRIGGER audit_events_no_update",
            "DROP TRIGGER audit_events_no_delete",
        ],
        Backend::Postgres => vec!["ALTER TABLE audit_events DISABLE TRIGGER audit_events_guard"],
    };
    for q in sql {
        h.raw(q, &[]).await;
    }
}

/// A tenant whose log holds `n` project creations after its creation event.
async fn tenant_with_events(s: &SqlStore, name: &str, n: usize) -> Uid {
    let t = s.create_tenant(name).await.unwrap();
    for i in 0..n {
        s.create_project(t.uid, &format!("p{i}"), "").await.unwrap();
    }
    t.uid
}

async fn report_of(s: &SqlStore, t: Uid) -> Option<LogProblem> {
    let r = s.verify_audit(Some(t)).await.unwrap();
    assert_eq!(r.len(), 1);
    r.into_iter().next().unwrap().problem
}

async fn audit_events_written_with_their_change(h: &Harness) {
    let s = &h.store;
    let t = s.create_tenant("acme").await.unwrap();
    let ctx = AuditContext::system();
    let mut tx = s.write(t.uid).await.unwrap();
    let p = tx.create_project(t.uid, "web", "shop").await.unwrap();
    let c = tx
        .create_cluster(
            t.uid,
            p.uid,
            NewCluster {
                name: "prod".into(),
                cloud_account_uid: None,
            },
        )
        .await
        .unwrap();
    let ev = tx
        .commit(
            ctx.entry("cluster.create")
                .target("cluster", c.uid)
                .detail("project", p.uid.to_string()),
        )
        .await
        .unwrap();
    assert_eq!(ev.tenant_uid, t.uid);
    assert_eq!(ev.seq, 2, "after the tenant's creation event");
    assert_eq!(ev.target_uid.as_deref(), Some(c.uid.to_string().as_str()));
    assert_eq!(ev.hash.len(), 64);
    // A rolled-back transaction leaves neither change nor event.
    let mut tx = s.write(t.uid).await.unwrap();
    tx.create_project(t.uid, "gone", "").await.unwrap();
    tx.rollback().await.unwrap();
    // A dropped one neither.
    {
        let mut tx = s.write(t.uid).await.unwrap();
        tx.create_project(t.uid, "dropped", "").await.unwrap();
    }
    let projects = s
        .list_projects(t.uid, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(projects.items.len(), 1);
    let log = s
        .list_audit(t.uid, &AuditFilter::default(), AuditPage::default())
        .await
        .unwrap();
    assert_eq!(log.items.len(), 2);
    assert_eq!(log.items[0].seq, 2, "newest first");
    // A transaction of tenant A refuses to touch tenant B, and to record
    // its event in B's log.
    let b = s.create_tenant("globex").await.unwrap();
    let mut tx = s.write(t.uid).await.unwrap();
    assert!(matches!(
        tx.create_project(b.uid, "x", "").await,
        Err(StoreError::NotFound)
    ));
    tx.rollback().await.unwrap();
    let mut tx = s.write(t.uid).await.unwrap();
    tx.create_project(t.uid, "ok", "").await.unwrap();
    assert!(matches!(
        tx.commit(ctx.entry("project.create").tenant(b.uid)).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.get_project(t.uid, Uid::from_u64(1)).await,
        Err(StoreError::NotFound)
    ));
    // A platform change must name the log that records it.
    let mut tx = s.write_platform().await.unwrap();
    tx.create_tenant("initech").await.unwrap();
    assert!(matches!(
        tx.commit(ctx.entry("tenant.create")).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.tenant_by_name("initech").await,
        Err(StoreError::NotFound)
    ));
    // Failed attempts are recorded on their own.
    let ev = s
        .record(
            ctx.entry("project.delete")
                .tenant(t.uid)
                .outcome(Outcome::Denied),
        )
        .await
        .unwrap();
    assert_eq!(ev.seq, 3);
    assert_eq!(ev.outcome, Outcome::Denied);
    assert_all_verify(s).await;
}

async fn audit_write_failure_leaves_no_change(h: &Harness) {
    let s = &h.store;
    let t = s.create_tenant("acme").await.unwrap();
    // Inject a failure of the audit write only.
    let (make, remove) = match s.backend() {
        Backend::Sqlite => (
            vec![
                "CREATE TRIGGER inject BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'injected audit failure'); END",
            ],
            vec!["DROP TRIGGER inject"],
        ),
        Backend::Postgres => (
            vec![
                "CREATE FUNCTION inject() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected audit failure'; END; $$",
                "CREATE TRIGGER inject BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION inject()",
            ],
            vec![
                "DROP TRIGGER inject ON audit_events",
                "DROP FUNCTION inject()",
            ],
        ),
    };
    for q in make {
        h.raw(q, &[]).await;
    }
    let err = s.create_project(t.uid, "web", "").await.unwrap_err();
    assert!(matches!(err, StoreError::AuditWrite(_)), "{err}");
    assert!(err.to_string().contains("the change was not made"), "{err}");
    assert!(
        s.list_projects(t.uid, PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "no change without its event"
    );
    let err = s.create_user(t.uid, user("a@acme.test")).await.unwrap_err();
    assert!(matches!(err, StoreError::AuditWrite(_)), "{err}");
    assert!(matches!(
        s.user_by_email(t.uid, "a@acme.test").await,
        Err(StoreError::NotFound)
    ));
    for q in remove {
        h.raw(q, &[]).await;
    }
    s.create_project(t.uid, "web", "").await.unwrap();
    assert_all_verify(s).await;
}

async fn audit_log_is_append_only(h: &Harness) {
    let s = &h.store;
    let t = tenant_with_events(s, "acme", 2).await;
    for sql in [
        "UPDATE audit_events SET details = '{}' WHERE tenant_uid = $1",
        "DELETE FROM audit_events WHERE tenant_uid = $1",
    ] {
        let mut tx = h.platform_tx().await;
        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(t.to_string())
            .execute(&mut *tx)
            .await;
        let err = r.expect_err(sql).to_string();
        assert!(err.contains("audit events are"), "{err}");
    }
    assert_all_verify(s).await;
}

async fn audit_tampering_is_detected_and_named(h: &Harness) {
    let s = &h.store;
    // One tenant per kind of tampering; each log: #1 tenant.create, #2..#11 projects.
    let edited = tenant_with_events(s, "edited", 10).await;
    let removed = tenant_with_events(s, "removed", 10).await;
    let reordered = tenant_with_events(s, "reordered", 10).await;
    let truncated = tenant_with_events(s, "truncated", 10).await;
    let forged = tenant_with_events(s, "forged", 10).await;
    let untouched = tenant_with_events(s, "untouched", 10).await;
    let appended = tenant_with_events(s, "appended", 3).await;
    assert_all_verify(s).await;
    drop_audit_guard(h).await;

    // Edit: change one event's details.
    let victim = h.uid_at(edited, 5).await;
    h.raw(
        "UPDATE audit_events SET details = '{\"innocent\":true}' WHERE tenant_uid = $1 AND seq = 5",
        &[&edited.to_string()],
    )
    .await;
    assert_eq!(
        report_of(s, edited).await,
        Some(LogProblem::Modified {
            seq: 5,
            uid: victim.clone()
        })
    );
    // An edit that also recomputes the event's own hash still breaks the next link.
    h.raw(
        "UPDATE audit_events SET hash = $2 WHERE tenant_uid = $1 AND seq = 5",
        &[&edited.to_string(), &"00".repeat(32)],
    )
    .await;
    assert!(
        matches!(
            report_of(s, edited).await,
            Some(LogProblem::Modified { seq: 5, .. })
        ),
        "still names #5"
    );

    // Delete one event in the middle.
    let next = h.uid_at(removed, 7).await;
    h.raw(
        "DELETE FROM audit_events WHERE tenant_uid = $1 AND seq = 6",
        &[&removed.to_string()],
    )
    .await;
    assert_eq!(
        report_of(s, removed).await,
        Some(LogProblem::Removed {
            seq: 6,
            next: Some((7, next))
        })
    );

    // Reorder: swap the positions of #4 and #5.
    let fourth = h.uid_at(reordered, 4).await;
    let fifth = h.uid_at(reordered, 5).await;
    for sql in [
        "UPDATE audit_events SET seq = -1 WHERE tenant_uid = $1 AND seq = 4",
        "UPDATE audit_events SET seq = 4 WHERE tenant_uid = $1 AND seq = 5",
        "UPDATE audit_events SET seq = 5 WHERE tenant_uid = $1 AND seq = -1",
    ] {
        h.raw(sql, &[&reordered.to_string()]).await;
    }
    assert_eq!(
        report_of(s, reordered).await,
        Some(LogProblem::Reordered {
            seq: 4,
            uid: fifth,
            recorded_as: 5
        })
    );
    assert_ne!(fourth, h.uid_at(reordered, 4).await);

    // Truncate: cut the last four events.
    h.raw(
        "DELETE FROM audit_events WHERE tenant_uid = $1 AND seq > 7",
        &[&truncated.to_string()],
    )
    .await;
    let p = report_of(s, truncated).await;
    assert_eq!(
        p,
        Some(LogProblem::Truncated {
            last: 7,
            expected: 11,
            removed: 8
        })
    );
    assert!(
        p.unwrap()
            .to_string()
            .contains("event #8 and later were removed"),
        "names the first removed event"
    );

    // Truncate and move the head back: its signature gives it away.
    let hash7 = h
        .raw_text(
            "SELECT hash FROM audit_events WHERE tenant_uid = $1 AND seq = 7",
            &forged.to_string(),
        )
        .await;
    h.raw(
        "DELETE FROM audit_events WHERE tenant_uid = $1 AND seq > 7",
        &[&forged.to_string()],
    )
    .await;
    h.raw(
        "UPDATE audit_heads SET seq = 7, hash = $2 WHERE tenant_uid = $1",
        &[&forged.to_string(), &hash7],
    )
    .await;
    assert_eq!(
        report_of(s, forged).await,
        Some(LogProblem::HeadSignature { seq: 7 })
    );

    // An event appended outside Palisade (copied from another log).
    let copy = h.uid_at(untouched, 3).await;
    h.raw(
        "INSERT INTO audit_events (tenant_uid, seq, uid, at, actor_kind, action, outcome, details, prev_hash, hash) \
         SELECT $1, 5, 'aaaaaaaaaaaa', at, actor_kind, action, outcome, details, prev_hash, hash FROM audit_events WHERE uid = $2",
        &[&appended.to_string(), &copy],
    )
    .await;
    assert_eq!(
        report_of(s, appended).await,
        Some(LogProblem::Unsigned {
            seq: 5,
            uid: "aaaaaaaaaaaa".into()
        })
    );

    // Removing a whole log, head included, is noticed too.
    let gone = tenant_with_events(s, "gone", 1).await;
    h.raw(
        "DELETE FROM audit_events WHERE tenant_uid = $1",
        &[&gone.to_string()],
    )
    .await;
    h.raw(
        "DELETE FROM audit_checkpoints WHERE tenant_uid = $1",
        &[&gone.to_string()],
    )
    .await;
    h.raw(
        "DELETE FROM audit_heads WHERE tenant_uid = $1",
        &[&gone.to_string()],
    )
    .await;
    assert_eq!(report_of(s, gone).await, Some(LogProblem::HeadMissing));

    // The untouched log still verifies.
    assert_eq!(report_of(s, untouched).await, None);
    h.skip_final_verify();
}

async fn audit_queries_filter_page_and_stay_in_tenant(h: &Harness) {
    let s = &h.store;
    let a = tenant_with_events(s, "acme", 12).await;
    let b = tenant_with_events(s, "globex", 3).await;
    let u = s.create_user(a, user("a@acme.test")).await.unwrap();
    s.record(
        AuditContext::system()
            .as_user(u.uid, None)
            .entry("cluster.delete")
            .tenant(a)
            .target("cluster", "0000000000aa")
            .outcome(Outcome::Denied),
    )
    .await
    .unwrap();
    // Pages of 5, oldest first, cover the log exactly once.
    let mut seen = Vec::new();
    let mut page = AuditPage {
        after: None,
        limit: 5,
        order: AuditOrder::OldestFirst,
    };
    for _ in 0..10 {
        let got = s
            .list_audit(a, &AuditFilter::default(), page)
            .await
            .unwrap();
        seen.extend(got.items.iter().map(|e| e.seq));
        match got.next {
            Some(n) => page.after = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, (1..=15).collect::<Vec<i64>>());
    // Every event of A is A's.
    let all = s
        .list_audit(
            a,
            &AuditFilter::default(),
            AuditPage {
                limit: 1000,
                ..AuditPage::default()
            },
        )
        .await
        .unwrap();
    assert!(all.items.iter().all(|e| e.tenant_uid == a));
    assert_eq!(all.items.len(), 15);
    let by = |f: AuditFilter| async move {
        s.list_audit(a, &f, AuditPage::default())
            .await
            .unwrap()
            .items
            .len()
    };
    assert_eq!(
        by(AuditFilter {
            action: Some("project.create".into()),
            ..Default::default()
        })
        .await,
        12
    );
    assert_eq!(
        by(AuditFilter {
            action: Some("project.".into()),
            ..Default::default()
        })
        .await,
        12
    );
    assert_eq!(
        by(AuditFilter {
            action: Some("proj%".into()),
            ..Default::default()
        })
        .await,
        0,
        "LIKE wildcards in the filter are literal"
    );
    assert_eq!(
        by(AuditFilter {
            outcome: Some(Outcome::Denied),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        by(AuditFilter {
            actor_uid: Some(u.uid),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        by(AuditFilter {
            target_uid: Some("0000000000aa".into()),
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        by(AuditFilter {
            from: Some(i64::MAX - 1),
            ..Default::default()
        })
        .await,
        0
    );
    // B's log is B's alone.
    let bl = s
        .list_audit(b, &AuditFilter::default(), AuditPage::default())
        .await
        .unwrap();
    assert_eq!(bl.items.len(), 4);
    if s.backend() == Backend::Postgres {
        // Row-level security hides A's log from a transaction scoped to B.
        let mut tx = s.pool().begin().await.unwrap();
        sqlx::query("SELECT set_config('palisade.tenant_uid', $1, true)")
            .bind(b.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
        for table in ["audit_events", "audit_heads", "audit_checkpoints"] {
            let n: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM {table} WHERE tenant_uid = '{a}'"
            )))
            .fetch_one(&mut *tx)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
            assert_eq!(n, 0, "{table}");
        }
        tx.rollback().await.unwrap();
    }
}

async fn audit_retention_cut_keeps_log_verifiable(h: &Harness) {
    let s = &h.store;
    let t = tenant_with_events(s, "acme", 9).await;
    // Retention cuts lane by lane (a log of one lane: the whole log).
    let head = lane_heads(s, t).await.remove(0);
    let stride = head.lanes as usize;
    let expired = s.audit_expired(&head, i64::MAX, 6).await.unwrap();
    let cut: Vec<i64> = (1..=10).step_by(stride).take(6).collect();
    assert_eq!(expired.iter().map(|e| e.seq).collect::<Vec<_>>(), cut);
    let last = expired.last().unwrap();
    // A stale or wrong hash removes nothing.
    let mut tx = s.write(t).await.unwrap();
    assert!(matches!(
        tx.prune_audit(t, last.seq, &"00".repeat(32)).await,
        Err(StoreError::Invalid(_))
    ));
    tx.rollback().await.unwrap();
    let mut tx = s.write(t).await.unwrap();
    assert_eq!(
        tx.prune_audit(t, last.seq, &last.hash).await.unwrap(),
        cut.len() as u64
    );
    tx.commit(
        AuditContext::system()
            .entry("audit.prune")
            .detail("throughSeq", last.seq),
    )
    .await
    .unwrap();
    let r = s.verify_audit(Some(t)).await.unwrap().remove(0);
    assert_eq!(r.problem, None);
    let first_left = (1..).find(|n| !cut.contains(n)).unwrap();
    assert_eq!(r.first_seq, Some(first_left));
    assert_eq!(r.head_seq, 11, "the prune itself is event #11");
    // More events after the cut still chain on.
    s.create_project(t, "after-cut", "").await.unwrap();
    assert_eq!(report_of(s, t).await, None);
    // Deleting the next events too, without the retention path, is caught.
    drop_audit_guard(h).await;
    h.raw(
        "DELETE FROM audit_events WHERE tenant_uid = $1 AND seq = 7",
        &[&t.to_string()],
    )
    .await;
    assert!(matches!(
        report_of(s, t).await,
        Some(LogProblem::Removed { seq: 7, .. })
    ));
    h.skip_final_verify();
}

/// The heads of the lanes of `t`'s log, by lane.
async fn lane_heads(s: &SqlStore, t: Uid) -> Vec<palisade_store::LogHead> {
    s.audit_heads()
        .await
        .unwrap()
        .into_iter()
        .filter(|h| h.tenant_uid == t)
        .collect()
}

/// A database from before the audit log: the open that creates the log
/// gives every existing tenant an empty, signed log. Later opens never
/// give a tenant a fresh log: a missing head then means a removed log.
/// Appends chain onto the head the database holds, whatever this process
/// remembers of it: another process (a second store on the same database)
/// appending in between, an event UID that is already taken, and many
/// concurrent appends in one tenant from two stores each leave one
/// contiguous chain that verifies.
/// Write transactions of one store: on SQLite a second writer waits for
/// the first to end (the process's writer turn), then goes ahead; many
/// concurrent writers all land, each with its audit event.
async fn concurrent_writes_take_turns_and_all_land(h: &Harness) {
    let s = &h.store;
    let a = s.create_tenant("acme").await.unwrap().uid;
    let b = s.create_tenant("globex").await.unwrap().uid;
    let mut first = s.write(a).await.unwrap();
    first.create_project(a, "first", "").await.unwrap();
    let other = s.clone();
    let second = tokio::spawn(async move {
        let mut tx = other.write(b).await.unwrap();
        tx.create_project(b, "second", "").await.unwrap();
        tx.commit(AuditContext::system().entry("project.create"))
            .await
            .unwrap()
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    if s.backend() == Backend::Sqlite {
        assert!(!second.is_finished(), "the second writer waits its turn");
    }
    first
        .commit(AuditContext::system().entry("project.create"))
        .await
        .unwrap();
    let ev = second.await.unwrap();
    assert_eq!((ev.tenant_uid, ev.seq), (b, 2));
    let mut set = tokio::task::JoinSet::new();
    for task in 0..16 {
        let store = s.clone();
        let tenant = if task % 2 == 0 { a } else { b };
        set.spawn(async move {
            for i in 0..5 {
                let mut tx = store.write(tenant).await.unwrap();
                tx.create_project(tenant, &format!("p{task}-{i}"), "")
                    .await
                    .unwrap();
                tx.commit(AuditContext::system().entry("project.create"))
                    .await
                    .unwrap();
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    for (tenant, made) in [(a, 41), (b, 41)] {
        let page = PageRequest {
            limit: 100,
            ..PageRequest::default()
        };
        assert_eq!(
            s.list_projects(tenant, page).await.unwrap().items.len(),
            made
        );
    }
    assert_all_verify(s).await;
}

async fn record_event(store: &SqlStore, t: Uid, action: &str) -> palisade_core::audit::AuditEvent {
    store
        .record(AuditContext::system().entry(action).tenant(t))
        .await
        .unwrap()
}

async fn audit_appends_chain_onto_the_databases_head(h: &Harness) {
    let s = &h.store;
    let t = s.create_tenant("acme").await.unwrap().uid;
    let first = record_event(s, t, "test.first").await;
    assert_eq!(first.seq, 2);
    // A second process appends: this store's remembered head is stale.
    let other = h.reopen(h.keys.get().as_ref().clone()).await.unwrap();
    let second = record_event(&other, t, "test.second").await;
    // In a log of several lanes the other process takes another lane, and
    // this one finds its remembered head of that lane stale.
    let one_lane = lane_heads(s, t).await.len() == 1;
    if one_lane {
        assert_eq!(
            (second.seq, second.prev_hash.as_str()),
            (3, first.hash.as_str())
        );
    } else {
        assert_eq!(second.seq, 3);
    }
    let third = record_event(s, t, "test.third").await;
    if one_lane {
        assert_eq!(
            (third.seq, third.prev_hash.as_str()),
            (4, second.hash.as_str())
        );
    }
    // An event UID that is taken: the append moves on to another UID.
    let scripted = Arc::new(Scripted {
        script: Mutex::new(vec![first.uid, second.uid]),
        calls: AtomicUsize::new(0),
    });
    let fourth = record_event(&s.clone().with_uids(scripted.clone()), t, "test.fourth").await;
    assert_eq!(scripted.calls.load(Ordering::SeqCst), 3);
    assert_ne!(fourth.uid, first.uid);
    assert_ne!(fourth.uid, second.uid);
    if one_lane {
        assert_eq!(
            (fourth.seq, fourth.prev_hash.as_str()),
            (5, third.hash.as_str())
        );
    }
    // Concurrent appends in one tenant from both stores.
    let mut set = tokio::task::JoinSet::new();
    for task in 0..8 {
        let store = [s, &other][task % 2].clone();
        set.spawn(async move {
            for _ in 0..10 {
                record_event(&store, t, "test.concurrent").await;
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    let reports = s.verify_audit(Some(t)).await.unwrap();
    assert_eq!(reports.len(), 1);
    assert!(reports[0].problem.is_none(), "{:?}", reports[0].problem);
    assert_eq!(reports[0].events, 85);
    if one_lane {
        assert_eq!(reports[0].head_seq, 85);
    }
    let log = s
        .list_audit(t, &AuditFilter::default(), AuditPage::default())
        .await
        .unwrap();
    assert_eq!(log.items[0].seq, reports[0].head_seq, "newest first");
    other.close().await;
}

async fn audit_lanes_chain_apart_and_tampering_is_named(h: &Harness) {
    // A log of four lanes, on either database.
    let s = h.store.clone().with_audit_lanes(4);
    let t = s.create_tenant("laned").await.unwrap().uid;
    let heads = lane_heads(&s, t).await;
    assert_eq!(
        heads
            .iter()
            .map(|h| (h.lane, h.lanes, h.seq))
            .collect::<Vec<_>>(),
        vec![(0, 4, 1), (1, 4, -2), (2, 4, -1), (3, 4, 0)],
        "lane 0 holds the tenant's creation, #1"
    );
    // Concurrent appends from two processes; every lane stays a chain.
    let other = h.reopen(h.keys.get().as_ref().clone()).await.unwrap();
    let mut set = tokio::task::JoinSet::new();
    for task in 0..6 {
        let store = [&s, &other][task % 2].clone();
        set.spawn(async move {
            for _ in 0..10 {
                record_event(&store, t, "test.lane").await;
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    other.close().await;
    let r = s.verify_audit(Some(t)).await.unwrap().remove(0);
    assert_eq!((r.events, &r.problem), (61, &None));
    let all = s
        .list_audit(
            t,
            &AuditFilter::default(),
            AuditPage {
                after: None,
                limit: 1000,
                order: AuditOrder::OldestFirst,
            },
        )
        .await
        .unwrap()
        .items;
    assert_eq!(all.len(), 61);
    let mut prev: Vec<String> = (0..4)
        .map(|l| palisade_crypto::audit::to_hex(&palisade_crypto::audit::lane_genesis(t, l)))
        .collect();
    let mut used = [0; 4];
    for e in &all {
        let lane = palisade_store::lane_of(e.seq, 4) as usize;
        assert_eq!(e.prev_hash, prev[lane], "#{} follows its lane", e.seq);
        prev[lane] = e.hash.clone();
        used[lane] += 1;
    }
    assert!(
        used.iter().filter(|n| **n > 0).count() >= 2,
        "concurrent writers took several lanes: {used:?}"
    );

    // Tampering, one tenant each; the log is #1..#13 over four lanes.
    let removed = tenant_with_events(&s, "removed", 12).await;
    let truncated = tenant_with_events(&s, "truncated", 12).await;
    let edited = tenant_with_events(&s, "edited", 12).await;
    let headless = tenant_with_events(&s, "headless", 12).await;
    let relaned = tenant_with_events(&s, "relaned", 12).await;
    assert_all_verify(&s).await;
    drop_audit_guard(h).await;
    // The last event of a lane removed, later events of other lanes kept:
    // an event removed in the middle of the log.
    let next = h.uid_at(removed, 12).await;
    h.raw(
        "DELETE FROM audit_events WHERE tenant_uid = $1 AND seq = 11",
        &[&removed.to_string()],
    )
    .await;
    assert_eq!(
        report_of(&s, removed).await,
        Some(LogProblem::Removed {
            seq: 11,
            next: Some((12, next))
        })
    );
    // The end of the log cut, across lanes.
    h.raw(
        "DELETE FROM audit_events WHERE tenant_uid = $1 AND seq > 9",
        &[&truncated.to_string()],
    )
    .await;
    let p = report_of(&s, truncated).await;
    assert_eq!(
        p,
        Some(LogProblem::Truncated {
            last: 9,
            expected: 13,
            removed: 10
        })
    );
    // An edit, and an earlier removal in another lane: the earliest is named.
    let victim = h.uid_at(edited, 7).await;
    h.raw(
        "UPDATE audit_events SET details = '{\"innocent\":true}' WHERE tenant_uid = $1 AND seq = 7",
        &[&edited.to_string()],
    )
    .await;
    assert_eq!(
        report_of(&s, edited).await,
        Some(LogProblem::Modified {
            seq: 7,
            uid: victim
        })
    );
    h.raw(
        "DELETE FROM audit_events WHERE tenant_uid = $1 AND seq = 4",
        &[&edited.to_string()],
    )
    .await;
    assert!(matches!(
        report_of(&s, edited).await,
        Some(LogProblem::Removed { seq: 4, .. })
    ));
    // A lane's head and its events removed.
    h.raw(
        "DELETE FROM audit_events WHERE tenant_uid = $1 AND seq IN (2, 6, 10)",
        &[&headless.to_string()],
    )
    .await;
    h.raw(
        "DELETE FROM audit_heads WHERE tenant_uid = $1 AND lane = 1",
        &[&headless.to_string()],
    )
    .await;
    assert_eq!(
        report_of(&s, headless).await,
        Some(LogProblem::LaneHeadMissing { lane: 1, lanes: 4 })
    );
    // Claiming the log has one lane: the heads' signatures give it away.
    h.raw(
        "UPDATE audit_heads SET lanes = 1 WHERE tenant_uid = $1",
        &[&relaned.to_string()],
    )
    .await;
    assert!(matches!(
        report_of(&s, relaned).await,
        Some(LogProblem::HeadSignature { .. })
    ));
    h.skip_final_verify();
}

/// For logs of 1, 2, 3 and 8 lanes, each of several events in turn is
/// edited or removed (one tenant per case): verification names exactly
/// that event, whichever lane it is in and wherever it lies in its lane.
async fn audit_any_one_event_changed_or_removed_is_named_in_any_lane_count(h: &Harness) {
    const LAST: i64 = 13; // #1 the tenant's creation, #2..#13 projects
    let mut cases = Vec::new();
    for lanes in [1u32, 2, 3, 8] {
        let s = h.store.clone().with_audit_lanes(lanes);
        for victim in [1, 2, 4, 7, 12, LAST] {
            for edit in [true, false] {
                let name = format!("l{lanes}-v{victim}-{}", if edit { "e" } else { "d" });
                let t = tenant_with_events(&s, &name, (LAST - 1) as usize).await;
                assert_eq!(lane_heads(&s, t).await.len(), lanes as usize);
                cases.push((t, lanes, victim, edit));
            }
        }
    }
    assert_all_verify(&h.store).await;
    drop_audit_guard(h).await;
    for (t, lanes, victim, edit) in cases {
        let uid = h.uid_at(t, victim).await;
        let expected = if edit {
            h.raw(
                &format!(
                    "UPDATE audit_events SET details = '{{\"x\":1}}' WHERE tenant_uid = $1 AND seq = {victim}"
                ),
                &[&t.to_string()],
            )
            .await;
            LogProblem::Modified { seq: victim, uid }
        } else {
            let next = if victim < LAST {
                Some((victim + 1, h.uid_at(t, victim + 1).await))
            } else {
                None
            };
            h.raw(
                &format!("DELETE FROM audit_events WHERE tenant_uid = $1 AND seq = {victim}"),
                &[&t.to_string()],
            )
            .await;
            match next {
                Some(next) => LogProblem::Removed {
                    seq: victim,
                    next: Some(next),
                },
                None => LogProblem::Truncated {
                    last: LAST - 1,
                    expected: LAST,
                    removed: LAST,
                },
            }
        };
        assert_eq!(
            report_of(&h.store, t).await,
            Some(expected),
            "{lanes} lanes, #{victim} {}",
            if edit { "edited" } else { "removed" }
        );
    }
    h.skip_final_verify();
}

async fn audit_log_given_once_to_tenants_older_than_it(h: &Harness) {
    let s = &h.store;
    let old = s.create_tenant("old").await.unwrap().uid;
    // Back to schema 2: the audit tables as they were before they existed.
    let down: &[&str] = match s.backend() {
        Backend::Sqlite => &[
            "DROP TABLE audit_events",
            "DROP TABLE audit_heads",
            "DROP TABLE audit_checkpoints",
            "DROP TABLE audit_prune_permits",
            "DELETE FROM schema_migrations WHERE version IN (3, 7)",
        ],
        Backend::Postgres => &[
            "DROP TABLE audit_events, audit_heads, audit_checkpoints, audit_prune_permits",
            "DROP FUNCTION audit_events_guard()",
            "DELETE FROM schema_migrations WHERE version IN (3, 7)",
        ],
    };
    for q in down {
        h.raw(q, &[]).await;
    }
    let keyring = h.keys.get().as_ref().clone();
    let upgraded = h.reopen(keyring.clone()).await.unwrap();
    let r = upgraded.verify_audit(Some(old)).await.unwrap();
    assert_eq!((r[0].head_seq, r[0].events, &r[0].problem), (0, 0, &None));
    upgraded.create_project(old, "p", "").await.unwrap();
    assert_all_verify(&upgraded).await;
    // Removing that log entirely, head included, stays visible across opens.
    drop_audit_guard(h).await;
    for table in ["audit_events", "audit_checkpoints", "audit_heads"] {
        h.raw(
            &format!("DELETE FROM {table} WHERE tenant_uid = $1"),
            &[&old.to_string()],
        )
        .await;
    }
    upgraded.close().await;
    let reopened = h.reopen(keyring).await.unwrap();
    let r = reopened.verify_audit(Some(old)).await.unwrap();
    assert_eq!(r[0].problem, Some(LogProblem::HeadMissing));
    reopened.close().await;
    h.skip_final_verify();
}

async fn access_reads_bring_status_and_every_grant(h: &Harness) {
    let s = &h.store;
    let t = s.create_tenant("acme").await.unwrap();
    let u = s.create_user(t.uid, user("a@acme.test")).await.unwrap();
    let other = s.create_user(t.uid, user("b@acme.test")).await.unwrap();
    let p = s.create_project(t.uid, "web", "").await.unwrap();
    let team = s.create_team(t.uid, "ops", "").await.unwrap();
    s.add_team_member(t.uid, team.uid, u.uid).await.unwrap();
    let custom = s
        .create_role(
            t.uid,
            "auditor",
            "",
            PermissionSet::parse_names(["audit.list"]).unwrap(),
        )
        .await
        .unwrap();
    let direct = s
        .create_binding(
            t.uid,
            Subject::User(u.uid),
            RoleRef::Builtin(BuiltinRole::ProjectViewer),
            Scope::Project(p.uid),
        )
        .await
        .unwrap();
    let via_team = s
        .create_binding(
            t.uid,
            Subject::Team(team.uid),
            RoleRef::Custom(custom.uid),
            Scope::Tenant,
        )
        .await
        .unwrap();
    // Someone else's binding never shows up.
    s.create_binding(
        t.uid,
        Subject::User(other.uid),
        RoleRef::Builtin(BuiltinRole::TenantAdmin),
        Scope::Tenant,
    )
    .await
    .unwrap();
    // Nor does the binding of a team the user is not in.
    let others = s.create_team(t.uid, "others", "").await.unwrap();
    s.add_team_member(t.uid, others.uid, other.uid)
        .await
        .unwrap();
    s.create_binding(
        t.uid,
        Subject::Team(others.uid),
        RoleRef::Builtin(BuiltinRole::TenantAdmin),
        Scope::Tenant,
    )
    .await
    .unwrap();
    let sess = s
        .create_session(t.uid, u.uid, &["pwd".to_owned()], i64::MAX, "rh")
        .await
        .unwrap();
    let got = s.session_access(t.uid, sess.uid).await.unwrap();
    assert_eq!(got.session.uid, sess.uid);
    assert_eq!(got.status, UserStatus::Active);
    let mut seen: Vec<_> = got.grants.iter().map(|g| (g.binding(), g.via())).collect();
    seen.sort();
    let mut want = vec![
        (direct.binding.uid, Via::Direct),
        (via_team.binding.uid, Via::Team(team.uid)),
    ];
    want.sort();
    assert_eq!(seen, want);
    assert_eq!(
        s.grants_of(t.uid, u.uid).await.unwrap().len(),
        2,
        "grants_of agrees"
    );
    let k = s
        .create_api_key(t.uid, u.uid, "robot", "kh", None)
        .await
        .unwrap();
    let ka = s.api_key_access(t.uid, k.uid).await.unwrap();
    assert_eq!(ka.grants.len(), 2);
    // The other user: their own binding and their team's, with their status.
    let sess2 = s
        .create_session(t.uid, other.uid, &["pwd".to_owned()], i64::MAX, "rh2")
        .await
        .unwrap();
    s.set_user_status(t.uid, other.uid, UserStatus::Disabled)
        .await
        .unwrap();
    let got = s.session_access(t.uid, sess2.uid).await.unwrap();
    assert_eq!(got.status, UserStatus::Disabled);
    assert_eq!(got.grants.len(), 2);
    assert!(got.grants.iter().any(|g| g.via() == Via::Team(others.uid)));
    // A user without bindings: found, with no grant.
    let lone = s.create_user(t.uid, user("c@acme.test")).await.unwrap();
    let sess3 = s
        .create_session(t.uid, lone.uid, &["pwd".to_owned()], i64::MAX, "rh3")
        .await
        .unwrap();
    let got = s.session_access(t.uid, sess3.uid).await.unwrap();
    assert_eq!(got.status, UserStatus::Active);
    assert!(got.grants.is_empty());
    // Another tenant sees nothing.
    let b = s.create_tenant("globex").await.unwrap();
    assert!(matches!(
        s.session_access(b.uid, sess.uid).await,
        Err(StoreError::NotFound)
    ));
}

/// The per-request reads (which SQLite answers from what it kept while the
/// database did not change) see each change on the very next read, whether
/// it was made through this store, another store on the same database (as
/// another replica or `palisade admin` would), or plain SQL.
async fn access_reads_see_every_commit(h: &Harness) {
    let s = &h.store;
    let t = s.create_tenant("acme").await.unwrap();
    let u = s.create_user(t.uid, user("a@acme.test")).await.unwrap();
    let team = s.create_team(t.uid, "ops", "").await.unwrap();
    let sess = s
        .create_session(t.uid, u.uid, &["pwd".to_owned()], i64::MAX, "rh")
        .await
        .unwrap();
    let key = s
        .create_api_key(t.uid, u.uid, "robot", "kh", None)
        .await
        .unwrap();
    let access = || async { s.session_access(t.uid, sess.uid).await.unwrap() };
    let key_access = || async { s.api_key_access(t.uid, key.uid).await.unwrap() };
    // Read more than once, as requests do, before each change.
    for _ in 0..3 {
        assert!(access().await.grants.is_empty());
        assert!(key_access().await.grants.is_empty());
    }
    s.create_binding(
        t.uid,
        Subject::Team(team.uid),
        RoleRef::Builtin(BuiltinRole::TenantViewer),
        Scope::Tenant,
    )
    .await
    .unwrap();
    assert!(access().await.grants.is_empty(), "not yet in the team");
    s.add_team_member(t.uid, team.uid, u.uid).await.unwrap();
    assert_eq!(access().await.grants.len(), 1);
    assert_eq!(key_access().await.grants.len(), 1);
    s.set_user_status(t.uid, u.uid, UserStatus::Disabled)
        .await
        .unwrap();
    assert_eq!(access().await.status, UserStatus::Disabled);
    assert_eq!(key_access().await.status, UserStatus::Disabled);
    // Another store on the same database.
    let other = h.reopen(h.keys.get().as_ref().clone()).await.unwrap();
    other
        .set_user_status(t.uid, u.uid, UserStatus::Active)
        .await
        .unwrap();
    assert_eq!(access().await.status, UserStatus::Active);
    other.revoke_session(t.uid, sess.uid, "test").await.unwrap();
    assert!(access().await.session.revoked_at.is_some());
    other.revoke_api_key(t.uid, key.uid, None).await.unwrap();
    assert!(key_access().await.key.revoked_at.is_some());
    other.close().await;
    // Plain SQL.
    let n = raw_on(
        s,
        "UPDATE sessions SET last_seen_at = 42 WHERE uid = $1",
        &[&sess.uid.to_string()],
    )
    .await
    .unwrap();
    assert_eq!(n, 1);
    assert_eq!(access().await.session.last_seen_at, 42);
    s.delete_user(t.uid, u.uid).await.unwrap();
    assert!(matches!(
        s.session_access(t.uid, sess.uid).await,
        Err(StoreError::NotFound)
    ));
}

// ---------------------------------------------------------------------------
// Role-based access control: teams, custom roles, bindings, grants.

/// Runs one write-transaction call: commits it with a system event when it
/// succeeds, rolls it back otherwise, and gives back its result.
macro_rules! in_tx {
    ($s:expr, $t:expr, $action:literal, |$tx:ident| $call:expr) => {{
        let mut $tx = $s.write($t).await.unwrap();
        let r = $call.await;
        if r.is_ok() {
            $tx.commit(AuditContext::system().entry($action))
                .await
                .unwrap();
        } else {
            $tx.rollback().await.unwrap();
        }
        r
    }};
}

/// Every item of a paged listing, 3 a page, and how many pages it took.
async fn all_pages<T>(
    mut list: impl AsyncFnMut(PageRequest) -> Result<palisade_store::Page<T>, StoreError>,
    limit: u32,
) -> (Vec<T>, usize) {
    let mut page = PageRequest { after: None, limit };
    let mut items = Vec::new();
    for pages in 1..=100 {
        let got = list(page).await.unwrap();
        assert!(got.items.len() <= limit as usize);
        items.extend(got.items);
        match got.next {
            Some(n) => page.after = Some(n),
            None => return (items, pages),
        }
    }
    panic!("more than 100 pages");
}

/// Raw SQL on any store, seeing every tenant (RLS scope `*` on PostgreSQL).
async fn raw_on(s: &SqlStore, sql: &str, binds: &[&str]) -> Result<u64, sqlx::Error> {
    let mut tx = s.pool().begin().await?;
    if s.backend() == Backend::Postgres {
        sqlx::query("SELECT set_config('palisade.tenant_uid', '*', true)")
            .execute(&mut *tx)
            .await?;
    }
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for b in binds {
        q = q.bind((*b).to_owned());
    }
    let n = q.execute(&mut *tx).await?.rows_affected();
    tx.commit().await?;
    Ok(n)
}

/// `SELECT COUNT(*) …` with one bound value, seeing every tenant.
async fn count_on(s: &SqlStore, sql: &str, bind: &str) -> i64 {
    let mut tx = s.pool().begin().await.unwrap();
    if s.backend() == Backend::Postgres {
        sqlx::query("SELECT set_config('palisade.tenant_uid', '*', true)")
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    let n: i64 = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
        .bind(bind.to_owned())
        .fetch_one(&mut *tx)
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
    tx.rollback().await.unwrap();
    n
}

fn perms(list: &[Permission]) -> PermissionSet {
    PermissionSet::of(list)
}

async fn rbac_teams_and_members(h: &Harness) {
    let s = &h.store;
    let t = s.create_tenant("acme").await.unwrap();
    let other = s.create_tenant("globex").await.unwrap();
    let alice = s.create_user(t.uid, user("alice@acme.test")).await.unwrap();
    let bob = s.create_user(t.uid, user("bob@acme.test")).await.unwrap();
    let mallory = s
        .create_user(other.uid, user("mallory@globex.test"))
        .await
        .unwrap();
    // Names are DNS labels, unique within the tenant.
    let long = "a".repeat(64);
    for bad in ["Ops", "", "ops team", "-ops", "ops-", long.as_str()] {
        let r = s.create_team(t.uid, bad, "").await;
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{bad:?}: {r:?}");
    }
    let ops = s.create_team(t.uid, "ops", "Operations").await.unwrap();
    assert_eq!(
        (ops.name.as_str(), ops.description.as_str(), ops.tenant_uid),
        ("ops", "Operations", t.uid)
    );
    assert!(matches!(
        s.create_team(t.uid, "ops", "").await,
        Err(StoreError::Conflict(_))
    ));
    let theirs = s.create_team(other.uid, "ops", "").await.unwrap();
    assert_ne!(theirs.uid, ops.uid);
    assert_eq!(s.get_team(t.uid, ops.uid).await.unwrap(), ops);

    // Members: users of the tenant, once each, listed in UID order.
    s.add_team_member(t.uid, ops.uid, alice.uid).await.unwrap();
    s.add_team_member(t.uid, ops.uid, bob.uid).await.unwrap();
    assert!(matches!(
        s.add_team_member(t.uid, ops.uid, alice.uid).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.add_team_member(t.uid, ops.uid, mallory.uid).await,
        Err(StoreError::MissingReference(_))
    ));
    assert!(matches!(
        s.add_team_member(t.uid, ops.uid, Uid::from_u64(77)).await,
        Err(StoreError::MissingReference(_))
    ));
    assert!(matches!(
        s.add_team_member(t.uid, Uid::from_u64(77), alice.uid).await,
        Err(StoreError::NotFound)
    ));
    let mut both = vec![alice.uid, bob.uid];
    both.sort();
    assert_eq!(s.team_members(t.uid, ops.uid).await.unwrap(), both);
    assert!(matches!(
        s.team_members(t.uid, Uid::from_u64(77)).await,
        Err(StoreError::NotFound)
    ));

    // Description, removal (a non-member is NotFound).
    let changed = in_tx!(s, t.uid, "team.update", |tx| tx.set_team_description(
        t.uid,
        ops.uid,
        "Ops & on-call"
    ))
    .unwrap();
    assert_eq!(changed.description, "Ops & on-call");
    assert_eq!(
        s.get_team(t.uid, ops.uid).await.unwrap().description,
        "Ops & on-call"
    );
    in_tx!(s, t.uid, "team.update", |tx| tx
        .remove_team_member(t.uid, ops.uid, bob.uid))
    .unwrap();
    assert_eq!(
        s.team_members(t.uid, ops.uid).await.unwrap(),
        vec![alice.uid]
    );
    let again = in_tx!(s, t.uid, "team.update", |tx| tx
        .remove_team_member(t.uid, ops.uid, bob.uid));
    assert!(matches!(again, Err(StoreError::NotFound)), "{again:?}");

    // Deleting a user removes their memberships.
    s.delete_user(t.uid, alice.uid).await.unwrap();
    assert!(s.team_members(t.uid, ops.uid).await.unwrap().is_empty());

    // Pagination: 7 teams, 3 a page, in UID order, only this tenant's.
    for i in 0..6 {
        s.create_team(t.uid, &format!("team-{i}"), "")
            .await
            .unwrap();
    }
    let (seen, pages) = all_pages(async |p| s.list_teams(t.uid, p).await, 3).await;
    assert_eq!((seen.len(), pages), (7, 3));
    assert!(seen.windows(2).all(|w| w[0].uid < w[1].uid));
    assert!(seen.iter().all(|x| x.tenant_uid == t.uid));

    // Deleting a team deletes its memberships and its bindings.
    s.add_team_member(t.uid, ops.uid, bob.uid).await.unwrap();
    let b = s
        .create_binding(
            t.uid,
            Subject::Team(ops.uid),
            RoleRef::Builtin(BuiltinRole::TenantViewer),
            Scope::Tenant,
        )
        .await
        .unwrap();
    assert_eq!(s.grants_of(t.uid, bob.uid).await.unwrap().len(), 1);
    in_tx!(s, t.uid, "team.delete", |tx| tx.delete_team(t.uid, ops.uid)).unwrap();
    assert!(matches!(
        s.get_team(t.uid, ops.uid).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.get_binding(t.uid, b.binding.uid).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.grants_of(t.uid, bob.uid).await.unwrap().is_empty());
    assert_eq!(
        count_on(
            s,
            "SELECT COUNT(*) FROM team_members WHERE team_uid = $1",
            &ops.uid.to_string()
        )
        .await,
        0
    );
    let again = in_tx!(s, t.uid, "team.delete", |tx| tx.delete_team(t.uid, ops.uid));
    assert!(matches!(again, Err(StoreError::NotFound)), "{again:?}");
}

async fn rbac_custom_roles(h: &Harness) {
    let s = &h.store;
    let t = s.create_tenant("acme").await.unwrap();
    let other = s.create_tenant("globex").await.unwrap();
    let read = perms(&[Permission::ClusterList, Permission::ClusterGet]);
    // A DNS label that is no built-in role's name; at least one permission;
    // none of platform level.
    for (name, set) in [
        ("Auditor", read),
        ("", read),
        ("tenant-admin", read),
        ("platform-admin", read),
        ("project-viewer", read),
        ("auditor", PermissionSet::EMPTY),
        ("auditor", perms(&[Permission::TenantCreate])),
        ("auditor", read.with(Permission::TenantList)),
    ] {
        let r = s.create_role(t.uid, name, "", set).await;
        assert!(
            matches!(r, Err(StoreError::Invalid(_))),
            "{name:?} {set:?}: {r:?}"
        );
    }
    let audit = perms(&[Permission::AuditList, Permission::AuditExport]);
    let auditor = s
        .create_role(t.uid, "auditor", "Reads the log", audit)
        .await
        .unwrap();
    assert_eq!(
        (
            auditor.name.as_str(),
            auditor.permissions,
            auditor.tenant_uid
        ),
        ("auditor", audit, t.uid)
    );
    assert!(matches!(
        s.create_role(t.uid, "auditor", "", read).await,
        Err(StoreError::Conflict(_))
    ));
    let theirs = s.create_role(other.uid, "auditor", "", read).await.unwrap();
    assert_eq!(s.get_role(t.uid, auditor.uid).await.unwrap(), auditor);
    assert_eq!(s.role_by_name(t.uid, "auditor").await.unwrap(), auditor);
    assert_eq!(s.role_by_name(other.uid, "auditor").await.unwrap(), theirs);
    assert!(matches!(
        s.role_by_name(t.uid, "nobody").await,
        Err(StoreError::NotFound)
    ));

    // Updates: each field optional, permissions validated as on creation.
    let r = in_tx!(s, t.uid, "role.update", |tx| tx.update_role(
        t.uid,
        auditor.uid,
        RoleChange {
            description: Some("Reads and exports".into()),
            permissions: None,
        }
    ))
    .unwrap();
    assert_eq!(
        (r.description.as_str(), r.permissions),
        ("Reads and exports", audit)
    );
    let r = in_tx!(s, t.uid, "role.update", |tx| tx.update_role(
        t.uid,
        auditor.uid,
        RoleChange {
            description: None,
            permissions: Some(read),
        }
    ))
    .unwrap();
    assert_eq!(
        (r.description.as_str(), r.permissions),
        ("Reads and exports", read)
    );
    for bad in [PermissionSet::EMPTY, read.with(Permission::TenantDelete)] {
        let e = in_tx!(s, t.uid, "role.update", |tx| tx.update_role(
            t.uid,
            auditor.uid,
            RoleChange {
                description: None,
                permissions: Some(bad),
            }
        ));
        assert!(matches!(e, Err(StoreError::Invalid(_))), "{e:?}");
    }
    assert_eq!(
        s.get_role(t.uid, auditor.uid).await.unwrap().permissions,
        read
    );
    let e = in_tx!(s, t.uid, "role.update", |tx| tx.update_role(
        t.uid,
        Uid::from_u64(99),
        RoleChange {
            description: Some("x".into()),
            permissions: None,
        }
    ));
    assert!(matches!(e, Err(StoreError::NotFound)), "{e:?}");

    // Deletion is refused while a binding names the role.
    let u = s.create_user(t.uid, user("u@acme.test")).await.unwrap();
    let b = s
        .create_binding(
            t.uid,
            Subject::User(u.uid),
            RoleRef::Custom(auditor.uid),
            Scope::Tenant,
        )
        .await
        .unwrap();
    let e = in_tx!(s, t.uid, "role.delete", |tx| tx
        .delete_role(t.uid, auditor.uid));
    assert!(matches!(e, Err(StoreError::Conflict(_))), "{e:?}");
    assert!(s.get_role(t.uid, auditor.uid).await.is_ok());
    in_tx!(s, t.uid, "rolebinding.delete", |tx| tx.delete_binding(
        t.uid,
        b.binding.uid,
        None
    ))
    .unwrap();
    in_tx!(s, t.uid, "role.delete", |tx| tx
        .delete_role(t.uid, auditor.uid))
    .unwrap();
    assert!(matches!(
        s.get_role(t.uid, auditor.uid).await,
        Err(StoreError::NotFound)
    ));
    let e = in_tx!(s, t.uid, "role.delete", |tx| tx
        .delete_role(t.uid, auditor.uid));
    assert!(matches!(e, Err(StoreError::NotFound)), "{e:?}");
    // The name is free again.
    s.create_role(t.uid, "auditor", "", audit).await.unwrap();

    // Pagination: 6 roles, 4 a page.
    for i in 0..5 {
        s.create_role(t.uid, &format!("role-{i}"), "", read)
            .await
            .unwrap();
    }
    let (seen, pages) = all_pages(async |p| s.list_roles(t.uid, p).await, 4).await;
    assert_eq!((seen.len(), pages), (6, 2));
    assert!(seen.windows(2).all(|w| w[0].uid < w[1].uid));
    assert!(seen.iter().all(|r| r.tenant_uid == t.uid));
}

async fn rbac_bindings(h: &Harness) {
    let s = &h.store;
    let t = s.create_tenant("acme").await.unwrap();
    let o = s.create_tenant("globex").await.unwrap();
    let u = s.create_user(t.uid, user("u@acme.test")).await.unwrap();
    let v = s.create_user(t.uid, user("v@acme.test")).await.unwrap();
    let ou = s.create_user(o.uid, user("o@globex.test")).await.unwrap();
    let team = s.create_team(t.uid, "ops", "").await.unwrap();
    let oteam = s.create_team(o.uid, "ops", "").await.unwrap();
    let p = s.create_project(t.uid, "web", "").await.unwrap();
    let q = s.create_project(t.uid, "api", "").await.unwrap();
    let op = s.create_project(o.uid, "web", "").await.unwrap();
    let audit = perms(&[Permission::AuditList]);
    let role = s.create_role(t.uid, "auditor", "", audit).await.unwrap();
    let orole = s.create_role(o.uid, "auditor", "", audit).await.unwrap();
    let viewer = RoleRef::Builtin(BuiltinRole::ProjectViewer);
    let missing = Uid::from_u64(5);

    // Subject, role and project must all be of the binding's tenant.
    for (subject, role_ref, scope) in [
        (Subject::User(ou.uid), viewer, Scope::Tenant),
        (Subject::User(missing), viewer, Scope::Tenant),
        (Subject::User(team.uid), viewer, Scope::Tenant),
        (Subject::Team(oteam.uid), viewer, Scope::Tenant),
        (Subject::Team(missing), viewer, Scope::Tenant),
        (Subject::Team(u.uid), viewer, Scope::Tenant),
        (
            Subject::User(u.uid),
            RoleRef::Custom(orole.uid),
            Scope::Tenant,
        ),
        (
            Subject::User(u.uid),
            RoleRef::Custom(missing),
            Scope::Tenant,
        ),
        (Subject::User(u.uid), viewer, Scope::Project(op.uid)),
        (Subject::User(u.uid), viewer, Scope::Project(missing)),
    ] {
        let r = s.create_binding(t.uid, subject, role_ref, scope).await;
        assert!(
            matches!(r, Err(StoreError::MissingReference(_))),
            "{subject:?} {role_ref:?} {scope:?}: {r:?}"
        );
    }
    let none = s
        .list_bindings(t.uid, BindingFilter::default(), PageRequest::default())
        .await
        .unwrap();
    assert!(none.items.is_empty(), "{none:?}");

    let at_tenant = s
        .create_binding(t.uid, Subject::User(u.uid), viewer, Scope::Tenant)
        .await
        .unwrap();
    assert_eq!(at_tenant.tenant_uid, t.uid);
    assert_eq!(
        (
            at_tenant.binding.subject,
            at_tenant.binding.role,
            at_tenant.binding.scope
        ),
        (Subject::User(u.uid), viewer, Scope::Tenant)
    );
    let at_p = s
        .create_binding(t.uid, Subject::User(u.uid), viewer, Scope::Project(p.uid))
        .await
        .unwrap();
    let at_q = s
        .create_binding(t.uid, Subject::User(u.uid), viewer, Scope::Project(q.uid))
        .await
        .unwrap();
    let team_b = s
        .create_binding(
            t.uid,
            Subject::Team(team.uid),
            RoleRef::Custom(role.uid),
            Scope::Tenant,
        )
        .await
        .unwrap();
    let v_p = s
        .create_binding(
            t.uid,
            Subject::User(v.uid),
            RoleRef::Builtin(BuiltinRole::ProjectAdmin),
            Scope::Project(p.uid),
        )
        .await
        .unwrap();
    // The same subject, role and scope twice is refused, whatever the kind.
    for (subject, role_ref, scope) in [
        (Subject::User(u.uid), viewer, Scope::Tenant),
        (Subject::User(u.uid), viewer, Scope::Project(p.uid)),
        (
            Subject::Team(team.uid),
            RoleRef::Custom(role.uid),
            Scope::Tenant,
        ),
    ] {
        let r = s.create_binding(t.uid, subject, role_ref, scope).await;
        assert!(
            matches!(r, Err(StoreError::Conflict(_))),
            "{subject:?} {role_ref:?} {scope:?}: {r:?}"
        );
    }
    assert_eq!(s.get_binding(t.uid, at_p.binding.uid).await.unwrap(), at_p);

    // Filters.
    let uids = |items: Vec<palisade_core::model::RoleBinding>| {
        let mut v: Vec<Uid> = items.iter().map(|b| b.binding.uid).collect();
        v.sort();
        v
    };
    let sorted = |mut v: Vec<Uid>| {
        v.sort();
        v
    };
    let list = async |f: BindingFilter| {
        s.list_bindings(t.uid, f, PageRequest::default())
            .await
            .unwrap()
            .items
    };
    assert_eq!(uids(list(BindingFilter::default()).await).len(), 5);
    assert_eq!(
        uids(
            list(BindingFilter {
                subject: Some(Subject::User(u.uid)),
                ..BindingFilter::default()
            })
            .await
        ),
        sorted(vec![
            at_tenant.binding.uid,
            at_p.binding.uid,
            at_q.binding.uid
        ])
    );
    assert_eq!(
        uids(
            list(BindingFilter {
                project: Some(p.uid),
                ..BindingFilter::default()
            })
            .await
        ),
        sorted(vec![at_p.binding.uid, v_p.binding.uid])
    );
    assert_eq!(
        uids(
            list(BindingFilter {
                tenant_scope_only: true,
                ..BindingFilter::default()
            })
            .await
        ),
        sorted(vec![at_tenant.binding.uid, team_b.binding.uid])
    );
    assert_eq!(
        uids(
            list(BindingFilter {
                subject: Some(Subject::User(u.uid)),
                project: Some(p.uid),
                ..BindingFilter::default()
            })
            .await
        ),
        vec![at_p.binding.uid]
    );
    let (seen, pages) = all_pages(
        async |pg| s.list_bindings(t.uid, BindingFilter::default(), pg).await,
        2,
    )
    .await;
    assert_eq!((seen.len(), pages), (5, 3));
    assert!(seen.windows(2).all(|w| w[0].binding.uid < w[1].binding.uid));

    // Deleting through a project reaches only that project's bindings.
    for (uid, project) in [
        (at_tenant.binding.uid, p.uid),
        (at_q.binding.uid, p.uid),
        (at_p.binding.uid, q.uid),
    ] {
        let r = in_tx!(s, t.uid, "projectbinding.delete", |tx| tx.delete_binding(
            t.uid,
            uid,
            Some(project)
        ));
        assert!(matches!(r, Err(StoreError::NotFound)), "{r:?}");
    }
    let gone = in_tx!(s, t.uid, "projectbinding.delete", |tx| tx.delete_binding(
        t.uid,
        at_p.binding.uid,
        Some(p.uid)
    ))
    .unwrap();
    assert_eq!(gone, at_p.binding);
    assert!(matches!(
        s.get_binding(t.uid, at_p.binding.uid).await,
        Err(StoreError::NotFound)
    ));
    // Deleting a project deletes the bindings at its scope, and only those.
    s.delete_project(t.uid, q.uid).await.unwrap();
    assert!(matches!(
        s.get_binding(t.uid, at_q.binding.uid).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        uids(list(BindingFilter::default()).await),
        sorted(vec![
            at_tenant.binding.uid,
            team_b.binding.uid,
            v_p.binding.uid
        ])
    );
}

async fn rbac_grants_direct_via_team_and_custom(h: &Harness) {
    let s = &h.store;
    let t = s.create_tenant("acme").await.unwrap();
    let u = s.create_user(t.uid, user("u@acme.test")).await.unwrap();
    let v = s.create_user(t.uid, user("v@acme.test")).await.unwrap();
    let ops = s.create_team(t.uid, "ops", "").await.unwrap();
    s.add_team_member(t.uid, ops.uid, u.uid).await.unwrap();
    let p = s.create_project(t.uid, "web", "").await.unwrap();
    let deploy = perms(&[Permission::ClusterCreate, Permission::ClusterGet]);
    let deployer = s.create_role(t.uid, "deployer", "", deploy).await.unwrap();
    let b1 = s
        .create_binding(
            t.uid,
            Subject::User(u.uid),
            RoleRef::Builtin(BuiltinRole::TenantViewer),
            Scope::Tenant,
        )
        .await
        .unwrap();
    let b2 = s
        .create_binding(
            t.uid,
            Subject::Team(ops.uid),
            RoleRef::Custom(deployer.uid),
            Scope::Project(p.uid),
        )
        .await
        .unwrap();
    let b3 = s
        .create_binding(
            t.uid,
            Subject::User(v.uid),
            RoleRef::Builtin(BuiltinRole::ProjectEditor),
            Scope::Project(p.uid),
        )
        .await
        .unwrap();

    type Row = (Uid, String, RoleRef, Scope, Via, PermissionSet);
    let rows = async |user: Uid| -> Vec<Row> {
        let mut out: Vec<Row> = s
            .grants_of(t.uid, user)
            .await
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g.binding(),
                    g.role().name().to_owned(),
                    g.role().role_ref(),
                    g.scope(),
                    g.via(),
                    g.role_permissions(),
                )
            })
            .collect();
        out.sort_by_key(|r| r.0);
        out
    };
    let direct = (
        b1.binding.uid,
        "tenant-viewer".to_owned(),
        RoleRef::Builtin(BuiltinRole::TenantViewer),
        Scope::Tenant,
        Via::Direct,
        BuiltinRole::TenantViewer.permissions(),
    );
    let via_team = |set| {
        (
            b2.binding.uid,
            "deployer".to_owned(),
            RoleRef::Custom(deployer.uid),
            Scope::Project(p.uid),
            Via::Team(ops.uid),
            set,
        )
    };
    let mut expected = vec![direct.clone(), via_team(deploy)];
    expected.sort_by_key(|r| r.0);
    assert_eq!(rows(u.uid).await, expected);
    assert_eq!(
        rows(v.uid).await,
        vec![(
            b3.binding.uid,
            "project-editor".to_owned(),
            RoleRef::Builtin(BuiltinRole::ProjectEditor),
            Scope::Project(p.uid),
            Via::Direct,
            BuiltinRole::ProjectEditor.permissions(),
        )]
    );
    // What the decision function makes of them.
    let g = Grants::new(false, s.grants_of(t.uid, u.uid).await.unwrap());
    assert!(
        g.decide(Permission::ClusterCreate, Target::Project(p.uid))
            .is_allowed()
    );
    assert!(
        !g.decide(Permission::ClusterCreate, Target::Tenant)
            .is_allowed()
    );
    assert!(g.decide(Permission::UserList, Target::Tenant).is_allowed());

    // A custom role's change applies to its bindings at once.
    let narrower = perms(&[Permission::ClusterGet]);
    in_tx!(s, t.uid, "role.update", |tx| tx.update_role(
        t.uid,
        deployer.uid,
        RoleChange {
            description: None,
            permissions: Some(narrower),
        }
    ))
    .unwrap();
    let mut expected = vec![direct.clone(), via_team(narrower)];
    expected.sort_by_key(|r| r.0);
    assert_eq!(rows(u.uid).await, expected);
    let g = Grants::new(false, s.grants_of(t.uid, u.uid).await.unwrap());
    assert!(
        !g.decide(Permission::ClusterCreate, Target::Project(p.uid))
            .is_allowed()
    );

    // Leaving the team loses its grants; joining again restores them.
    in_tx!(s, t.uid, "team.update", |tx| tx
        .remove_team_member(t.uid, ops.uid, u.uid))
    .unwrap();
    assert_eq!(rows(u.uid).await, vec![direct.clone()]);
    s.add_team_member(t.uid, ops.uid, u.uid).await.unwrap();
    assert_eq!(rows(u.uid).await.len(), 2);

    // Deleting a user deletes their bindings (none is left to a later
    // user); an unknown user simply has no grants.
    s.delete_user(t.uid, v.uid).await.unwrap();
    assert!(matches!(
        s.get_binding(t.uid, b3.binding.uid).await,
        Err(StoreError::NotFound)
    ));
    assert!(rows(v.uid).await.is_empty());
    assert_eq!(
        count_on(
            s,
            "SELECT COUNT(*) FROM role_bindings WHERE subject_uid = $1",
            &v.uid.to_string()
        )
        .await,
        0
    );
    assert!(rows(Uid::from_u64(3)).await.is_empty());
    // Deleting the team deletes its bindings: its former members lose them.
    in_tx!(s, t.uid, "team.delete", |tx| tx.delete_team(t.uid, ops.uid)).unwrap();
    assert_eq!(rows(u.uid).await, vec![direct]);
}

async fn rbac_tenant_isolation(h: &Harness) {
    let s = &h.store;
    let a = s.create_tenant("acme").await.unwrap();
    let b = s.create_tenant("globex").await.unwrap();
    let ua = s.create_user(a.uid, user("u@acme.test")).await.unwrap();
    let ub = s.create_user(b.uid, user("u@globex.test")).await.unwrap();
    let ta = s.create_team(a.uid, "ops", "").await.unwrap();
    s.add_team_member(a.uid, ta.uid, ua.uid).await.unwrap();
    let pa = s.create_project(a.uid, "web", "").await.unwrap();
    let ra = s
        .create_role(a.uid, "auditor", "", perms(&[Permission::AuditList]))
        .await
        .unwrap();
    let ba = s
        .create_binding(
            a.uid,
            Subject::Team(ta.uid),
            RoleRef::Custom(ra.uid),
            Scope::Project(pa.uid),
        )
        .await
        .unwrap();
    let ba2 = s
        .create_binding(
            a.uid,
            Subject::User(ua.uid),
            RoleRef::Builtin(BuiltinRole::TenantAdmin),
            Scope::Tenant,
        )
        .await
        .unwrap();

    // Tenant B sees nothing of tenant A's teams, roles and bindings…
    let nf = |r: Result<(), StoreError>, what: &str| {
        assert!(matches!(r, Err(StoreError::NotFound)), "{what}: {r:?}");
    };
    nf(s.get_team(b.uid, ta.uid).await.map(drop), "get_team");
    nf(
        s.team_members(b.uid, ta.uid).await.map(drop),
        "team_members",
    );
    nf(s.get_role(b.uid, ra.uid).await.map(drop), "get_role");
    nf(
        s.role_by_name(b.uid, "auditor").await.map(drop),
        "role_by_name",
    );
    nf(
        s.get_binding(b.uid, ba.binding.uid).await.map(drop),
        "get_binding",
    );
    let pr = PageRequest::default();
    assert!(s.list_teams(b.uid, pr).await.unwrap().items.is_empty());
    assert!(s.list_roles(b.uid, pr).await.unwrap().items.is_empty());
    assert!(
        s.list_bindings(b.uid, BindingFilter::default(), pr)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(s.grants_of(b.uid, ua.uid).await.unwrap().is_empty());
    // …and changes none of it.
    nf(
        s.add_team_member(b.uid, ta.uid, ub.uid).await,
        "add_team_member",
    );
    nf(
        in_tx!(s, b.uid, "team.update", |tx| tx
            .set_team_description(b.uid, ta.uid, "mine"))
        .map(drop),
        "set_team_description",
    );
    nf(
        in_tx!(s, b.uid, "team.update", |tx| tx
            .remove_team_member(b.uid, ta.uid, ua.uid)),
        "remove_team_member",
    );
    nf(
        in_tx!(s, b.uid, "team.delete", |tx| tx.delete_team(b.uid, ta.uid)),
        "delete_team",
    );
    nf(
        in_tx!(s, b.uid, "role.update", |tx| tx.update_role(
            b.uid,
            ra.uid,
            RoleChange {
                description: Some("mine".into()),
                permissions: None
            }
        ))
        .map(drop),
        "update_role",
    );
    nf(
        in_tx!(s, b.uid, "role.delete", |tx| tx.delete_role(b.uid, ra.uid)),
        "delete_role",
    );
    nf(
        in_tx!(s, b.uid, "rolebinding.delete", |tx| tx.delete_binding(
            b.uid,
            ba2.binding.uid,
            None
        ))
        .map(drop),
        "delete_binding",
    );
    // B cannot bind A's user, team, role or project.
    for (subject, role, scope) in [
        (
            Subject::User(ua.uid),
            RoleRef::Builtin(BuiltinRole::TenantAdmin),
            Scope::Tenant,
        ),
        (
            Subject::Team(ta.uid),
            RoleRef::Builtin(BuiltinRole::TenantAdmin),
            Scope::Tenant,
        ),
        (
            Subject::User(ub.uid),
            RoleRef::Custom(ra.uid),
            Scope::Tenant,
        ),
        (
            Subject::User(ub.uid),
            RoleRef::Builtin(BuiltinRole::ProjectAdmin),
            Scope::Project(pa.uid),
        ),
    ] {
        let r = s.create_binding(b.uid, subject, role, scope).await;
        assert!(matches!(r, Err(StoreError::MissingReference(_))), "{r:?}");
    }
    // Everything is still there for A.
    assert_eq!(s.get_team(a.uid, ta.uid).await.unwrap(), ta);
    assert_eq!(s.team_members(a.uid, ta.uid).await.unwrap(), vec![ua.uid]);
    assert_eq!(s.get_role(a.uid, ra.uid).await.unwrap(), ra);
    assert_eq!(s.grants_of(a.uid, ua.uid).await.unwrap().len(), 2);

    if s.backend() == Backend::Postgres {
        // Row-level security: scoped to B, or unscoped, no row of A is
        // visible even without a tenant filter, and none can be written.
        for scope in [Some(b.uid.to_string()), None] {
            let mut tx = s.pool().begin().await.unwrap();
            if let Some(scope) = &scope {
                sqlx::query("SELECT set_config('palisade.tenant_uid', $1, true)")
                    .bind(scope.clone())
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
            for table in ["teams", "team_members", "roles", "role_bindings"] {
                let n: i64 =
                    sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                        .fetch_one(&mut *tx)
                        .await
                        .unwrap()
                        .try_get(0)
                        .unwrap();
                assert_eq!(n, 0, "{table} visible under scope {scope:?}");
                let changed = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {table} WHERE tenant_uid = $1"
                )))
                .bind(a.uid.to_string())
                .execute(&mut *tx)
                .await
                .unwrap()
                .rows_affected();
                assert_eq!(changed, 0, "{table} deletable under scope {scope:?}");
            }
            tx.rollback().await.unwrap();
        }
        // Writing a row of A while scoped to B is refused outright.
        let mut tx = s.pool().begin().await.unwrap();
        sqlx::query("SELECT set_config('palisade.tenant_uid', $1, true)")
            .bind(b.uid.to_string())
            .execute(&mut *tx)
            .await
            .unwrap();
        let r = sqlx::query(
            "INSERT INTO role_bindings (uid, tenant_uid, subject_kind, subject_uid, role_name, created_at) \
             VALUES ('0000000000ab', $1, 'user', $2, 'tenant-admin', 0)",
        )
        .bind(a.uid.to_string())
        .bind(ub.uid.to_string())
        .execute(&mut *tx)
        .await;
        let e = r.unwrap_err().to_string();
        assert!(e.contains("row-level security"), "{e}");
        tx.rollback().await.unwrap();
        assert_eq!(s.grants_of(a.uid, ua.uid).await.unwrap().len(), 2);
    }
}

async fn rbac_tenant_deletion_removes_rbac_rows(h: &Harness) {
    let s = &h.store;
    let mut tenants = Vec::new();
    for name in ["acme", "globex"] {
        let t = s.create_tenant(name).await.unwrap();
        let u = s
            .create_user(t.uid, user(&format!("u@{name}.test")))
            .await
            .unwrap();
        let team = s.create_team(t.uid, "ops", "").await.unwrap();
        s.add_team_member(t.uid, team.uid, u.uid).await.unwrap();
        let p = s.create_project(t.uid, "web", "").await.unwrap();
        let role = s
            .create_role(t.uid, "auditor", "", perms(&[Permission::AuditList]))
            .await
            .unwrap();
        for (subject, role_ref, scope) in [
            (
                Subject::Team(team.uid),
                RoleRef::Custom(role.uid),
                Scope::Tenant,
            ),
            (
                Subject::User(u.uid),
                RoleRef::Custom(role.uid),
                Scope::Project(p.uid),
            ),
            (
                Subject::User(u.uid),
                RoleRef::Builtin(BuiltinRole::TenantAdmin),
                Scope::Tenant,
            ),
        ] {
            s.create_binding(t.uid, subject, role_ref, scope)
                .await
                .unwrap();
        }
        tenants.push(t.uid.to_string());
    }
    let tables = ["teams", "team_members", "roles", "role_bindings"];
    let counts = async |t: &str| {
        let mut out = Vec::new();
        for table in tables {
            out.push(
                count_on(
                    s,
                    &format!("SELECT COUNT(*) FROM {table} WHERE tenant_uid = $1"),
                    t,
                )
                .await,
            );
        }
        out
    };
    assert_eq!(counts(&tenants[0]).await, vec![1, 1, 1, 3]);
    let kept = counts(&tenants[1]).await;
    // A bound custom role does not stop its tenant's deletion.
    s.delete_tenant(Uid::parse(&tenants[0]).unwrap())
        .await
        .unwrap();
    assert_eq!(counts(&tenants[0]).await, vec![0, 0, 0, 0]);
    assert_eq!(counts(&tenants[1]).await, kept);
}

async fn rbac_migration_from_v3_makes_bindings(h: &Harness) {
    // A fresh database of the same back end, built with migrations 1–3 of
    // the store's own list, written by the store at that version.
    let pg = match h.store.backend() {
        Backend::Postgres => Some(PgTestDb::create().await.unwrap()),
        Backend::Sqlite => None,
    };
    let opts = StoreOptions {
        database: match &pg {
            Some(pg) => Database::Postgres(SecretString::from(pg.url.clone())),
            None => Database::Sqlite(h.dir.path().join("v3.db")),
        },
        max_connections: 2,
    };
    let keys = KeyringHandle::new(Keyring::generate().unwrap(), KeyringSource::Fixed);
    let old = SqlStore::open_through(&opts, keys.clone(), Arc::new(SystemClock), 3)
        .await
        .unwrap()
        .with_audit_lanes(1);
    // This binary writes audit heads by lane (schema v7): give the v3 table
    // those columns while the old store writes, and take them away again
    // before the upgrade, leaving the one-lane rows a v3 binary wrote.
    let shim = [
        "ALTER TABLE audit_heads ADD COLUMN lane BIGINT NOT NULL DEFAULT 0",
        "ALTER TABLE audit_heads ADD COLUMN lanes BIGINT NOT NULL DEFAULT 1",
        "CREATE UNIQUE INDEX audit_heads_v3_shim ON audit_heads (tenant_uid, lane)",
    ];
    for q in shim {
        raw_on(&old, q, &[]).await.unwrap();
    }
    let version = async |st: &SqlStore| -> i64 {
        sqlx::query("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(st.pool())
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    };
    assert_eq!(version(&old).await, 3);
    let system = old.create_tenant("system").await.unwrap();
    let acme = old.create_tenant("acme").await.unwrap();
    let root = old
        .create_user(system.uid, user("root@localhost"))
        .await
        .unwrap();
    let helper = old
        .create_user(system.uid, user("helper@localhost"))
        .await
        .unwrap();
    let boss = old
        .create_user(acme.uid, user("boss@acme.test"))
        .await
        .unwrap();
    let staff = old
        .create_user(acme.uid, user("staff@acme.test"))
        .await
        .unwrap();
    // Schema v3 kept a two-level role on the user row.
    for u in [root.uid, boss.uid] {
        let n = raw_on(
            &old,
            "UPDATE users SET role = 'tenant-admin' WHERE uid = $1",
            &[&u.to_string()],
        )
        .await
        .unwrap();
        assert_eq!(n, 1);
    }
    for q in [
        "DROP INDEX audit_heads_v3_shim",
        "ALTER TABLE audit_heads DROP COLUMN lane",
        "ALTER TABLE audit_heads DROP COLUMN lanes",
    ] {
        raw_on(&old, q, &[]).await.unwrap();
    }
    old.close().await;

    // Opening with this binary migrates to the latest version (v4 and on).
    let new = SqlStore::open(&opts, keys, Arc::new(SystemClock))
        .await
        .unwrap();
    assert_eq!(
        version(&new).await,
        palisade_store::migrate::latest(new.backend())
    );
    let only = async |t: Uid, u: Uid| {
        let g = new.grants_of(t, u).await.unwrap();
        g.iter()
            .map(|g| (g.role().role_ref(), g.scope(), g.via()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        only(system.uid, root.uid).await,
        vec![(
            RoleRef::Builtin(BuiltinRole::PlatformAdmin),
            Scope::Tenant,
            Via::Direct
        )]
    );
    assert_eq!(
        only(acme.uid, boss.uid).await,
        vec![(
            RoleRef::Builtin(BuiltinRole::TenantAdmin),
            Scope::Tenant,
            Via::Direct
        )]
    );
    assert!(only(system.uid, helper.uid).await.is_empty());
    assert!(only(acme.uid, staff.uid).await.is_empty());
    // One binding per former admin, with a fresh UID, in its own tenant.
    let mut seen = Vec::new();
    for t in [system.uid, acme.uid] {
        let got = new
            .list_bindings(t, BindingFilter::default(), PageRequest::default())
            .await
            .unwrap();
        assert_eq!(got.items.len(), 1, "{got:?}");
        let b = got.items[0];
        assert_eq!(b.tenant_uid, t);
        assert!(Uid::parse(&b.binding.uid.to_string()).is_ok());
        seen.push(b.binding.uid);
    }
    assert_ne!(seen[0], seen[1]);
    // The platform admin decides as one.
    let g = Grants::new(true, new.grants_of(system.uid, root.uid).await.unwrap());
    assert!(
        g.decide(Permission::TenantCreate, Target::Platform)
            .is_allowed()
    );
    // The old column is gone; sealed fields still open.
    assert!(
        sqlx::query("SELECT role FROM users")
            .fetch_all(new.pool())
            .await
            .is_err()
    );
    assert_eq!(
        new.get_user(acme.uid, boss.uid).await.unwrap().email,
        "boss@acme.test"
    );
    // Logs written before lanes stay one lane (also on PostgreSQL, whose
    // new tenants get several) and keep chaining.
    new.create_project(acme.uid, "after-upgrade", "")
        .await
        .unwrap();
    let heads = lane_heads(&new, acme.uid).await;
    assert_eq!(
        heads.iter().map(|h| (h.lane, h.lanes)).collect::<Vec<_>>(),
        vec![(0, 1)]
    );
    assert_all_verify(&new).await;
    new.close().await;
    if let Some(pg) = pg {
        pg.drop_db().await;
    }
}

// ---------------------------------------------------------------------------
// Tenant bus: account outbox, cluster credentials and liveness, jobs.

fn creds(key: &str, issued_at: i64) -> IssuedCredentials {
    IssuedCredentials {
        user_key: key.to_owned(),
        issued_at,
        expires_at: issued_at + 3600,
    }
}

async fn cluster_in(s: &SqlStore, t: Uid, p: Uid, name: &str) -> Uid {
    s.create_cluster(
        t,
        p,
        NewCluster {
            name: name.to_owned(),
            cloud_account_uid: None,
        },
    )
    .await
    .unwrap()
    .uid
}

async fn bus_account_outbox_and_revocations(h: &Harness) {
    let s = &h.store;
    let t = s.create_tenant("acme").await.unwrap();
    let a = s.bus_account(t.uid).await.unwrap();
    assert_eq!((a.revision, a.applied, a.signing_version), (1, 0, 1));
    assert!(a.pending() && !a.deleted && a.revocations.is_empty());
    s.bus_applied(t.uid, 1).await.unwrap();
    assert!(!s.bus_account(t.uid).await.unwrap().pending());
    // An older revision never moves `applied` back.
    s.bus_applied(t.uid, 0).await.unwrap();
    assert_eq!(s.bus_account(t.uid).await.unwrap().applied, 1);

    let p = s.create_project(t.uid, "web", "").await.unwrap();
    let c = cluster_in(s, t.uid, p.uid, "c1").await;
    // First credentials: nothing to revoke, no new revision.
    let prev = s
        .set_cluster_credentials(t.uid, p.uid, c, &creds("UAAA", 100))
        .await
        .unwrap();
    assert_eq!(prev, None);
    assert!(!s.bus_account(t.uid).await.unwrap().pending());
    let cb = s.cluster_bus(t.uid, c).await.unwrap();
    assert_eq!(cb.user_key.as_deref(), Some("UAAA"));
    assert_eq!((cb.issued_at, cb.expires_at), (Some(100), Some(3700)));
    // New credentials revoke the previous key (as of the new issue time).
    let prev = s
        .set_cluster_credentials(t.uid, p.uid, c, &creds("UBBB", 200))
        .await
        .unwrap();
    assert_eq!(prev.as_deref(), Some("UAAA"));
    let a = s.bus_account(t.uid).await.unwrap();
    assert_eq!(a.revision, 2);
    assert!(a.pending());
    assert_eq!(a.revocations.get("UAAA"), Some(&200));
    // Renewal: only the current key, only the expiry.
    s.renew_cluster_credentials(t.uid, c, "UBBB", 9999)
        .await
        .unwrap();
    assert!(matches!(
        s.renew_cluster_credentials(t.uid, c, "UAAA", 9999).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        s.cluster_bus(t.uid, c).await.unwrap().expires_at,
        Some(9999)
    );
    // The cluster must be in the named project.
    let other = s.create_project(t.uid, "other", "").await.unwrap();
    assert!(matches!(
        s.set_cluster_credentials(t.uid, other.uid, c, &creds("UCCC", 300))
            .await,
        Err(StoreError::NotFound)
    ));

    // Deleting the cluster revokes its current key and removes its rows.
    s.delete_cluster(t.uid, p.uid, c).await.unwrap();
    let a = s.bus_account(t.uid).await.unwrap();
    assert_eq!(a.revision, 3);
    assert!(a.revocations.contains_key("UBBB"));
    assert_eq!(
        count_on(
            s,
            "SELECT COUNT(*) FROM bus_clusters WHERE cluster_uid = $1",
            &c.to_string()
        )
        .await,
        0
    );
    // Deleting a project revokes every cluster key in it.
    let c2 = cluster_in(s, t.uid, p.uid, "c2").await;
    s.set_cluster_credentials(t.uid, p.uid, c2, &creds("UDDD", 400))
        .await
        .unwrap();
    s.delete_project(t.uid, p.uid).await.unwrap();
    let a = s.bus_account(t.uid).await.unwrap();
    assert_eq!(a.revision, 4);
    assert!(a.revocations.contains_key("UDDD"));

    // Deleting the tenant leaves a tombstone to push; applied, it goes.
    s.delete_tenant(t.uid).await.unwrap();
    let a = s.bus_account(t.uid).await.unwrap();
    assert!(a.deleted && a.pending());
    assert!(
        s.bus_accounts()
            .await
            .unwrap()
            .iter()
            .any(|x| x.tenant_uid == t.uid)
    );
    s.bus_applied(t.uid, a.revision).await.unwrap();
    assert!(matches!(
        s.bus_account(t.uid).await,
        Err(StoreError::NotFound)
    ));
}

/// The events of `tenant`'s log with `action`, newest first (one page).
async fn events_of(
    s: &SqlStore,
    tenant: Uid,
    action: &str,
) -> Vec<palisade_core::audit::AuditEvent> {
    let filter = AuditFilter {
        action: Some(action.to_owned()),
        ..AuditFilter::default()
    };
    s.list_audit(tenant, &filter, AuditPage::default())
        .await
        .unwrap()
        .items
}

/// The event and details of a heartbeat that must be a connection.
fn connection(
    r: Result<AgentPresence, StoreError>,
) -> (palisade_core::audit::AuditEvent, serde_json::Value) {
    match r.unwrap() {
        AgentPresence::Connected(ev) => {
            let details = serde_json::from_str(&ev.details).unwrap();
            (*ev, details)
        }
        AgentPresence::Continued => panic!("the heartbeat is a connection"),
    }
}

async fn bus_heartbeat_and_scope(h: &Harness) {
    let s = &h.store;
    let a = s.create_tenant("alpha").await.unwrap();
    let b = s.create_tenant("beta").await.unwrap();
    let p = s.create_project(a.uid, "web", "").await.unwrap();
    let c = cluster_in(s, a.uid, p.uid, "c1").await;
    let quiet = cluster_in(s, a.uid, p.uid, "c2").await;
    let fresh = s.cluster_bus(a.uid, c).await.unwrap();
    assert_eq!(fresh.last_seen, None);
    assert_eq!(fresh.user_key, None);
    // The first heartbeat is a connection, recorded in the audit log; the
    // next within the timeout is not; after a silence longer than the
    // timeout, or from another host or agent version, it is again.
    let hb = |at_ms: i64, agent_version: &'static str, hostname: &'static str| HeartbeatSeen {
        at_ms,
        agent_version,
        hostname,
        gap_ms: 60_000,
        request_uid: Uid::from_u64(0x7e),
    };
    let (ev, details) = connection(s.bus_heartbeat(a.uid, c, hb(5000, "0.1.0", "node-1")).await);
    assert_eq!(ev.action, "cluster.agent.connect");
    assert_eq!(ev.target_uid, Some(c.to_string()));
    assert_eq!(ev.request_uid, Some(Uid::from_u64(0x7e)));
    assert_eq!(details["reason"], "first heartbeat");
    assert_eq!(details["hostname"], "node-1");
    assert_eq!(details["project"], p.uid.to_string());
    assert_eq!(
        s.bus_heartbeat(a.uid, c, hb(6000, "0.1.0", "node-1"))
            .await
            .unwrap(),
        AgentPresence::Continued
    );
    // A silence not swept yet: its disconnection is recorded with the
    // connection.
    let (_, details) = connection(
        s.bus_heartbeat(a.uid, c, hb(70_000, "0.1.0", "node-1"))
            .await,
    );
    assert_eq!(details["reason"], "after a disconnection");
    assert_eq!(details["lastSeen"], 6000);
    let (_, details) = connection(
        s.bus_heartbeat(a.uid, c, hb(71_000, "0.1.0", "node-2"))
            .await,
    );
    assert_eq!(details["reason"], "another host");
    assert_eq!(details["previousHostname"], "node-1");
    let upgraded = s
        .bus_heartbeat(a.uid, c, hb(72_000, "0.1.1", "node-2"))
        .await;
    assert!(matches!(upgraded.unwrap(), AgentPresence::Connected(_)));
    assert_eq!(
        s.bus_heartbeat(a.uid, c, hb(73_000, "0.1.1", "node-2"))
            .await
            .unwrap(),
        AgentPresence::Continued
    );
    assert_eq!(events_of(s, a.uid, "cluster.agent.connect").await.len(), 4);
    assert_eq!(
        events_of(s, a.uid, "cluster.agent.disconnect").await.len(),
        1
    );
    // The sweep: nothing within the timeout; past it, the agent is recorded
    // as disconnected once, however often (and by however many replicas)
    // it sweeps; the next heartbeat is a connection again.
    assert!(
        s.bus_sweep_disconnected(133_000, 60_000)
            .await
            .unwrap()
            .is_empty()
    );
    let swept = s.bus_sweep_disconnected(133_001, 60_000).await.unwrap();
    assert_eq!(swept.len(), 1);
    assert_eq!(swept[0].action, "cluster.agent.disconnect");
    assert_eq!(swept[0].tenant_uid, a.uid);
    assert_eq!(swept[0].target_uid, Some(c.to_string()));
    let details: serde_json::Value = serde_json::from_str(&swept[0].details).unwrap();
    assert_eq!(details["lastSeen"], 73_000);
    assert_eq!(details["hostname"], "node-2");
    assert_eq!(details["project"], p.uid.to_string());
    let other = h.reopen(h.keys.get().as_ref().clone()).await.unwrap();
    assert!(
        other
            .bus_sweep_disconnected(200_000, 60_000)
            .await
            .unwrap()
            .is_empty()
    );
    other.close().await;
    assert_eq!(
        events_of(s, a.uid, "cluster.agent.disconnect").await.len(),
        2
    );
    let (_, details) = connection(
        s.bus_heartbeat(a.uid, c, hb(200_000, "0.1.1", "node-2"))
            .await,
    );
    assert_eq!(details["reason"], "after a disconnection");
    assert_eq!(
        events_of(s, a.uid, "cluster.agent.disconnect").await.len(),
        2,
        "swept already"
    );
    assert_eq!(
        s.bus_heartbeat(a.uid, c, hb(201_000, "0.1.1", "node-2"))
            .await
            .unwrap(),
        AgentPresence::Continued
    );
    assert_all_verify(s).await;
    let cb = s.cluster_bus(a.uid, c).await.unwrap();
    assert_eq!(cb.last_seen, Some(201_000));
    assert_eq!(cb.agent_version.as_deref(), Some("0.1.1"));
    assert_eq!(cb.hostname.as_deref(), Some("node-2"));
    let all = s.project_cluster_bus(a.uid, p.uid).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].cluster_uid, c);
    assert_eq!(s.cluster_bus(a.uid, quiet).await.unwrap().last_seen, None);
    // Another tenant sees nothing and can change nothing.
    assert!(matches!(
        s.cluster_bus(b.uid, c).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.bus_heartbeat(b.uid, c, hb(202_000, "x", "y")).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.set_cluster_credentials(b.uid, p.uid, c, &creds("UEEE", 1))
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.create_job(b.uid, p.uid, c, JobKind::Ping).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        s.project_cluster_bus(b.uid, p.uid)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        s.bus_heartbeat(a.uid, Uid::from_u64(42), hb(1, "x", "y"))
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn bus_jobs_lifecycle_sealed_and_once(h: &Harness) {
    let s = &h.store;
    let t = s.create_tenant("acme").await.unwrap();
    let other = s.create_tenant("other").await.unwrap();
    let p = s.create_project(t.uid, "web", "").await.unwrap();
    let c = cluster_in(s, t.uid, p.uid, "c1").await;
    let c2 = cluster_in(s, t.uid, p.uid, "c2").await;
    assert!(matches!(
        s.create_job(
            t.uid,
            p.uid,
            c,
            JobKind::HardenScan {
                profile: "Bad Profile".into()
            }
        )
        .await,
        Err(StoreError::Invalid(_))
    ));
    let ping = s.create_job(t.uid, p.uid, c, JobKind::Ping).await.unwrap();
    assert_eq!(ping.status, JobStatus::Pending);
    let scan = s
        .create_job(
            t.uid,
            p.uid,
            c,
            JobKind::HardenScan {
                profile: "cis-level1".into(),
            },
        )
        .await
        .unwrap();
    let elsewhere = s.create_job(t.uid, p.uid, c2, JobKind::Ping).await.unwrap();

    // Pending jobs are claimed once and marked sent; a sent one is claimed
    // again only once its send is older than the cut, oldest first.
    let claimed = s.claim_jobs(t.uid, 0, 1000, 10).await.unwrap();
    let mut uids: Vec<Uid> = claimed.iter().map(|j| j.uid).collect();
    uids.sort();
    let mut all = vec![ping.uid, scan.uid, elsewhere.uid];
    all.sort();
    assert_eq!(uids, all);
    assert!(
        claimed
            .iter()
            .all(|j| j.status == JobStatus::Sent && j.sent_at == Some(1000))
    );
    assert!(
        claimed
            .windows(2)
            .all(|w| (w[0].created_at, w[0].uid) < (w[1].created_at, w[1].uid))
    );
    assert!(
        s.claim_jobs(t.uid, 1000, 1500, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = s.claim_jobs(t.uid, 1001, 2000, 1).await.unwrap();
    assert_eq!(again.len(), 1, "the limit holds");
    assert_eq!(again[0].uid, claimed[0].uid, "the oldest first");
    assert_eq!(again[0].sent_at, Some(2000));
    assert_eq!(s.claim_jobs(t.uid, 1001, 2000, 10).await.unwrap().len(), 2);
    assert!(
        s.claim_jobs(other.uid, i64::MAX, 3000, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Results: stored once; a retry is a duplicate; another result ignored.
    let canary = "host-detail-canary-7d1c";
    let m1 = Uid::from_u64(0xabc);
    let outcome = JobOutcome {
        message_uid: m1,
        succeeded: true,
        report: Some(format!("{{\"host\":\"{canary}\"}}")),
        error: None,
    };
    // A result names its cluster: the wrong one finds no job.
    assert!(matches!(
        s.store_job_result(t.uid, c2, scan.uid, outcome.clone())
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.store_job_result(other.uid, c, scan.uid, outcome.clone())
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        s.store_job_result(t.uid, c, scan.uid, outcome.clone())
            .await
            .unwrap(),
        ResultStored::Stored
    );
    assert_eq!(
        s.store_job_result(t.uid, c, scan.uid, outcome.clone())
            .await
            .unwrap(),
        ResultStored::Duplicate
    );
    let late = JobOutcome {
        message_uid: Uid::from_u64(0xdef),
        succeeded: false,
        report: None,
        error: Some("late".into()),
    };
    assert_eq!(
        s.store_job_result(t.uid, c, scan.uid, late).await.unwrap(),
        ResultStored::AlreadyDone
    );
    let done = s.get_job(t.uid, p.uid, c, scan.uid, true).await.unwrap();
    assert_eq!(done.status, JobStatus::Succeeded);
    assert!(done.finished_at.is_some());
    assert!(done.report.as_deref().unwrap().contains(canary));
    let light = s.get_job(t.uid, p.uid, c, scan.uid, false).await.unwrap();
    assert_eq!(light.report, None);
    // Sealed at rest: the canary is nowhere in clear.
    assert_eq!(
        count_on(
            s,
            "SELECT COUNT(*) FROM bus_jobs WHERE report_enc LIKE $1",
            &format!("%{canary}%")
        )
        .await,
        0
    );
    // A finished job is not sent again.
    assert!(
        !s.claim_jobs(t.uid, i64::MAX, 4000, 10)
            .await
            .unwrap()
            .iter()
            .any(|j| j.uid == scan.uid)
    );
    // Failure with an error; bad shapes refused.
    assert!(matches!(
        s.store_job_result(
            t.uid,
            c,
            ping.uid,
            JobOutcome {
                message_uid: Uid::from_u64(1),
                succeeded: true,
                report: None,
                error: Some("x".into()),
            }
        )
        .await,
        Err(StoreError::Invalid(_))
    ));
    s.store_job_result(
        t.uid,
        c,
        ping.uid,
        JobOutcome {
            message_uid: Uid::from_u64(2),
            succeeded: false,
            report: None,
            error: Some("agent refused".into()),
        },
    )
    .await
    .unwrap();
    let failed = s.get_job(t.uid, p.uid, c, ping.uid, true).await.unwrap();
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("agent refused"));

    // Listing: per cluster, paginated; other tenants see nothing.
    for _ in 0..4 {
        s.create_job(t.uid, p.uid, c, JobKind::Ping).await.unwrap();
    }
    let (jobs, pages) = all_pages(async |pg| s.list_jobs(t.uid, p.uid, c, pg).await, 3).await;
    assert_eq!(jobs.len(), 6);
    assert_eq!(pages, 2);
    assert!(
        jobs.iter()
            .all(|j| j.cluster_uid == c && j.report.is_none())
    );
    assert!(
        s.list_jobs(other.uid, p.uid, c, PageRequest::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(matches!(
        s.get_job(other.uid, p.uid, c, scan.uid, true).await,
        Err(StoreError::NotFound)
    ));
    // Deleting the cluster removes its jobs.
    s.delete_cluster(t.uid, p.uid, c2).await.unwrap();
    assert!(matches!(
        s.get_job(t.uid, p.uid, c2, elsewhere.uid, false).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        count_on(
            s,
            "SELECT COUNT(*) FROM bus_jobs WHERE cluster_uid = $1",
            &c2.to_string()
        )
        .await,
        0
    );
}

/// Two stores on one database (two replicas) claiming at once: every job is
/// claimed by exactly one of them, and a claimed job is not claimed again
/// before its resend time.
async fn bus_jobs_claimed_by_one_replica(h: &Harness) {
    let s = &h.store;
    let other = h.reopen(h.keys.get().as_ref().clone()).await.unwrap();
    let t = s.create_tenant("acme").await.unwrap();
    let p = s.create_project(t.uid, "web", "").await.unwrap();
    let c = cluster_in(s, t.uid, p.uid, "c1").await;
    let mut created = Vec::new();
    for _ in 0..30 {
        created.push(
            s.create_job(t.uid, p.uid, c, JobKind::Ping)
                .await
                .unwrap()
                .uid,
        );
    }
    let mut set = tokio::task::JoinSet::new();
    for task in 0..8 {
        let store = [s, &other][task % 2].clone();
        let tenant = t.uid;
        set.spawn(async move {
            let mut got = Vec::new();
            for _ in 0..6 {
                let jobs = store.claim_jobs(tenant, 0, 1000, 2).await.unwrap();
                assert!(jobs.len() <= 2, "the limit holds: {}", jobs.len());
                got.extend(jobs.into_iter().map(|j| j.uid));
            }
            got
        });
    }
    let mut claimed = Vec::new();
    while let Some(r) = set.join_next().await {
        claimed.extend(r.unwrap());
    }
    claimed.sort();
    created.sort();
    assert_eq!(claimed, created, "each job claimed exactly once");
    assert!(
        other
            .claim_jobs(t.uid, 1000, 1500, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        other
            .claim_jobs(t.uid, 1001, 2000, 100)
            .await
            .unwrap()
            .len(),
        30,
        "due again after the resend time"
    );
    other.close().await;
}
