//! `palisade audit verify|list|export` on the built binary, against logs an
//! attacker with write access to the database edited, deleted from,
//! reordered and truncated (SQLite and PostgreSQL); sealed archives; and
//! the crash test: `palisade serve` killed with SIGKILL under concurrent
//! writers loses no acknowledged change's event and its log still verifies.

// Test code: failing loudly on unexpected errors is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use palisade_client::{Client, Method};
use palisade_proto::audit::AuditEventView;
use palisade_proto::auth::{ApiKeyCreated, PageOf};
use palisade_store::testing::PgTestDb;
use serde_json::{Value, json};
use sqlx::Row;
use support::{Out, Server, client, mode, palisade, rt, run};

const ADMIN: &str = "admin@localhost";
const GOOD: &str = "lantern orchard quietly 7 rivers";
/// API keys made by [`populate`]: the system log then holds #1 tenant.create,
/// #2 user.create, #3 auth.password-change, #4 auth.login, #5–#12 apikey.create.
const KEYS: usize = 8;
const EVENTS: i64 = 4 + KEYS as i64;

/// Sets the admin's password, logs in, returns an access token.
async fn admin_token(c: &Client, dir: &Path) -> String {
    let otp = std::fs::read_to_string(dir.join("initial-admin-password")).unwrap();
    c.change_password("system", ADMIN, otp.trim(), GOOD)
        .await
        .unwrap();
    c.login("system", ADMIN, GOOD)
        .await
        .unwrap()
        .body
        .access_token
        .unwrap()
}

/// Starts `palisade serve` on `dir` (with `extra` flags), writes the events
/// listed at [`KEYS`], stops it. Returns the API keys' UIDs.
fn populate(dir: &Path, extra: &[&str]) -> Vec<String> {
    let server = Server::start(dir, extra).unwrap();
    let c = client(&dir.join("tls/ca.pem"), server.port);
    let keys = rt().block_on(async {
        let at = admin_token(&c, dir).await;
        let mut keys = Vec::new();
        for i in 0..KEYS {
            let k: ApiKeyCreated = c
                .call(
                    Method::POST,
                    "/v1/apikeys",
                    Some(&at),
                    Some(&json!({"name": format!("key {i}")})),
                )
                .await
                .unwrap()
                .body;
            keys.push(k.api_key.uid);
        }
        keys
    });
    assert_eq!(server.stop(), 0);
    keys
}

/// Where a test's installation is: the flags naming it, and a database
/// URL with which an attacker writes to it directly.
struct Target {
    args: Vec<String>,
    raw_url: String,
    postgres: bool,
}

impl Target {
    fn sqlite(dir: &Path) -> Target {
        Target {
            args: vec!["--data-dir".into(), dir.display().to_string()],
            raw_url: format!("sqlite://{}", dir.join("palisade.db").display()),
            postgres: false,
        }
    }

    fn postgres(dir: &Path, db: &PgTestDb) -> Target {
        Target {
            args: vec![
                "--data-dir".into(),
                dir.display().to_string(),
                "--database-url".into(),
                db.url.clone(),
            ],
            // The database's superuser, as an attacker with full access
            // (row-level security does not apply to it).
            raw_url: db.admin_url_for_db().unwrap(),
            postgres: true,
        }
    }

    /// `palisade audit SUB <target flags> EXTRA…`.
    fn audit(&self, sub: &str, extra: &[&str]) -> Out {
        run(palisade().args(["audit", sub]).args(&self.args).args(extra))
    }

    /// Runs statements as the attacker, in one transaction.
    fn raw(&self, statements: &[&str]) {
        let url = self.raw_url.clone();
        let statements: Vec<String> = statements.iter().map(|s| (*s).to_owned()).collect();
        rt().block_on(async move {
            use sqlx::Connection;
            sqlx::any::install_default_drivers();
            let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
            let mut tx = conn.begin().await.unwrap();
            for s in statements {
                sqlx::query(sqlx::AssertSqlSafe(s.clone()))
                    .execute(&mut *tx)
                    .await
                    .unwrap_or_else(|e| panic!("{s}: {e}"));
            }
            tx.commit().await.unwrap();
            conn.close().await.unwrap();
        });
    }

    /// One text value.
    fn text(&self, sql: &str) -> String {
        let url = self.raw_url.clone();
        let sql = sql.to_owned();
        rt().block_on(async move {
            use sqlx::Connection;
            sqlx::any::install_default_drivers();
            let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
            let v: String = sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_one(&mut conn)
                .await
                .unwrap()
                .try_get(0)
                .unwrap();
            conn.close().await.unwrap();
            v
        })
    }
}

impl Target {
    /// As an attacker who knows the chain's construction: sets the details
    /// of event `from` of `tenant`'s log and recomputes every hash from
    /// there to the end, so that each event links to the one before.
    fn rewrite_chain(&self, tenant: &str, from: i64, details: &str) {
        use palisade_core::Uid;
        use palisade_core::audit::{ActorKind, AuditEvent, Outcome};
        use palisade_crypto::audit as chain;
        // A log of several lanes chains every `lanes`-th event: rewrite the
        // lane of `from`.
        let lanes = self.lanes(tenant);
        let url = self.raw_url.clone();
        let events: Vec<AuditEvent> = rt().block_on(async {
            use sqlx::Connection;
            sqlx::any::install_default_drivers();
            let mut conn = sqlx::AnyConnection::connect(&url).await.unwrap();
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT tenant_uid, seq, uid, at, actor_kind, actor_uid, api_key_uid, session_uid, \
                 request_uid, client_ip, user_agent, action, target_type, target_uid, outcome, \
                 details, prev_hash, hash FROM audit_events WHERE tenant_uid = '{tenant}' AND seq >= {from} \
                 AND (seq - {from}) % {lanes} = 0 ORDER BY seq"
            )))
            .fetch_all(&mut conn)
            .await
            .unwrap();
            conn.close().await.unwrap();
            let uid = |r: &sqlx::any::AnyRow, c: &str| {
                r.try_get::<Option<String>, _>(c)
                    .unwrap()
                    .map(|u| Uid::parse(&u).unwrap())
            };
            rows.iter()
                .map(|r| AuditEvent {
                    tenant_uid: Uid::parse(&r.try_get::<String, _>("tenant_uid").unwrap()).unwrap(),
                    seq: r.try_get("seq").unwrap(),
                    uid: Uid::parse(&r.try_get::<String, _>("uid").unwrap()).unwrap(),
                    at: r.try_get("at").unwrap(),
                    actor_kind: ActorKind::parse(&r.try_get::<String, _>("actor_kind").unwrap())
                        .unwrap(),
                    actor_uid: uid(r, "actor_uid"),
                    api_key_uid: uid(r, "api_key_uid"),
                    session_uid: uid(r, "session_uid"),
                    request_uid: uid(r, "request_uid"),
                    client_ip: r.try_get("client_ip").unwrap(),
                    user_agent: r.try_get("user_agent").unwrap(),
                    action: r.try_get("action").unwrap(),
                    target_type: r.try_get("target_type").unwrap(),
                    target_uid: r.try_get("target_uid").unwrap(),
                    outcome: Outcome::parse(&r.try_get::<String, _>("outcome").unwrap()).unwrap(),
                    details: r.try_get("details").unwrap(),
                    prev_hash: r.try_get("prev_hash").unwrap(),
                    hash: r.try_get("hash").unwrap(),
                })
                .collect()
        });
        let mut prev = chain::from_hex(&events[0].prev_hash).unwrap();
        let mut statements = Vec::new();
        for mut e in events {
            if e.seq == from {
                e.details = details.to_owned();
            }
            e.prev_hash = chain::to_hex(&prev);
            prev = chain::link(&prev, &e.canonical_bytes());
            statements.push(format!(
                "UPDATE audit_events SET details = '{}', prev_hash = '{}', hash = '{}' WHERE uid = '{}'",
                e.details,
                e.prev_hash,
                chain::to_hex(&prev),
                e.uid
            ));
        }
        let refs: Vec<&str> = statements.iter().map(String::as_str).collect();
        self.raw(&refs);
    }
}

impl Target {
    /// How many lanes `tenant`'s log has.
    fn lanes(&self, tenant: &str) -> i64 {
        self.text(&format!(
            "SELECT CAST(lanes AS TEXT) FROM audit_heads WHERE tenant_uid = '{tenant}' AND lane = 0"
        ))
        .parse()
        .unwrap()
    }
}

fn system_uid(t: &Target) -> String {
    t.text("SELECT uid FROM tenants WHERE name = 'system'")
}

fn uid_at(t: &Target, tenant: &str, seq: i64) -> String {
    t.text(&format!(
        "SELECT uid FROM audit_events WHERE tenant_uid = '{tenant}' AND seq = {seq}"
    ))
}

/// `audit verify` (table and JSON, all logs and the one tenant's) exits 1
/// and every form names `problem`; an intact log exits 0.
fn assert_verify(t: &Target, tenant: &str, problem: Option<&str>) {
    for (extra, json) in [
        (vec![], false),
        (vec!["--output", "json"], true),
        (vec!["--tenant", "system"], false),
        (vec!["--tenant", tenant, "--output", "json"], true),
    ] {
        let out = t.audit("verify", &extra);
        let what = format!("verify {extra:?}: {}{}", out.stdout, out.stderr);
        match problem {
            None => {
                assert_eq!(out.code, 0, "{what}");
                if json {
                    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
                    assert_eq!(v["ok"], true, "{what}");
                    assert_eq!(v["tenantUid"], tenant, "{what}");
                    assert!(v["events"].as_u64().unwrap() >= EVENTS as u64, "{what}");
                    assert!(v["problem"].is_null(), "{what}");
                    // SQLite logs are one lane; new PostgreSQL logs eight.
                    assert_eq!(v["lanes"], t.lanes(tenant), "{what}");
                } else {
                    assert!(
                        out.stdout.contains(&format!("tenant {tenant}: ok")),
                        "{what}"
                    );
                    assert!(out.stdout.contains("1 of 1 logs verified"), "{what}");
                }
            }
            Some(p) => {
                assert_eq!(out.code, 1, "{what}");
                if json {
                    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
                    assert_eq!(v["ok"], false, "{what}");
                    assert_eq!(v["tenantUid"], tenant, "{what}");
                    assert!(v["problem"].as_str().unwrap().contains(p), "{what}");
                } else {
                    assert!(
                        out.stdout
                            .contains(&format!("tenant {tenant}: TAMPERED — ")),
                        "{what}"
                    );
                    assert!(out.stdout.contains(p), "{what}");
                    assert!(out.stdout.contains("0 of 1 logs verified"), "{what}");
                }
            }
        }
    }
}

/// The attacker's moves, each undone afterwards: edit, delete, reorder,
/// truncate, and removing a whole log with its signed head.
fn tamper_and_verify(t: &Target) {
    let tenant = system_uid(t);
    assert_verify(t, &tenant, None);
    // The append-only guard is the first thing an attacker removes.
    if t.postgres {
        t.raw(&["ALTER TABLE audit_events DISABLE TRIGGER audit_events_guard"]);
    } else {
        t.raw(&[
            "DROP TRIGGER audit_events_no_update",
            "DROP TRIGGER audit_events_no_delete",
        ]);
    }
    let w = |cond: &str| format!("WHERE tenant_uid = '{tenant}' AND {cond}");
    t.raw(&[
        "CREATE TABLE saved_events AS SELECT * FROM audit_events",
        "CREATE TABLE saved_checkpoints AS SELECT * FROM audit_checkpoints",
        "CREATE TABLE saved_heads AS SELECT * FROM audit_heads",
    ]);
    let restore = || {
        t.raw(&[
            "DELETE FROM audit_events",
            "INSERT INTO audit_events SELECT * FROM saved_events",
            "DELETE FROM audit_checkpoints",
            "INSERT INTO audit_checkpoints SELECT * FROM saved_checkpoints",
            "DELETE FROM audit_heads",
            "INSERT INTO audit_heads SELECT * FROM saved_heads",
        ]);
        assert_verify(t, &tenant, None);
    };
    let uid = |seq| uid_at(t, &tenant, seq);

    // Edit one event's details.
    let sixth = uid(6);
    t.raw(&[&format!(
        "UPDATE audit_events SET details = '{{\"name\":\"innocent\"}}' {}",
        w("seq = 6")
    )]);
    assert_verify(
        t,
        &tenant,
        Some(&format!("event #6 ({sixth}) was modified")),
    );
    restore();
    // Edit who acted and overwrite that event's hash too: still named.
    t.raw(&[&format!(
        "UPDATE audit_events SET actor_uid = NULL, hash = '{}' {}",
        "0".repeat(64),
        w("seq = 6")
    )]);
    assert_verify(
        t,
        &tenant,
        Some(&format!("event #6 ({sixth}) was modified")),
    );
    restore();

    // Delete one event in the middle.
    let eighth = uid(8);
    t.raw(&[&format!("DELETE FROM audit_events {}", w("seq = 7"))]);
    assert_verify(
        t,
        &tenant,
        Some(&format!(
            "event #7 was removed (the next event present is #8, {eighth})"
        )),
    );
    restore();

    // Reorder: swap #5 and #6.
    let (fifth, sixth) = (uid(5), uid(6));
    t.raw(&[
        &format!("UPDATE audit_events SET seq = -1 {}", w("seq = 5")),
        &format!("UPDATE audit_events SET seq = 5 {}", w("seq = 6")),
        &format!("UPDATE audit_events SET seq = 6 {}", w("seq = -1")),
    ]);
    assert_eq!(uid(5), sixth);
    assert_verify(
        t,
        &tenant,
        Some(&format!(
            "event #5 ({sixth}) was reordered: it was recorded as #6"
        )),
    );
    assert_eq!(uid(6), fifth);
    restore();

    // Truncate: the last three events.
    t.raw(&[&format!("DELETE FROM audit_events {}", w("seq > 9"))]);
    assert_verify(
        t,
        &tenant,
        Some(&format!(
            "it ends at #9 but its signed head (or a checkpoint) says #{EVENTS}; event #10 and later were removed"
        )),
    );
    restore();

    // Truncate and move the head back to the cut: its signature fails.
    let hash9 = t.text(&format!("SELECT hash FROM audit_events {}", w("seq = 9")));
    t.raw(&[
        &format!("DELETE FROM audit_events {}", w("seq > 9")),
        &format!("UPDATE audit_heads SET seq = 9, hash = '{hash9}' WHERE tenant_uid = '{tenant}'"),
    ]);
    assert_verify(
        t,
        &tenant,
        Some("the signed head (#9) has an invalid signature"),
    );
    restore();

    // Edit one event and recompute the chain from there to the end (the
    // chain is plain SHA-256, so anyone can): every link holds, but the
    // signed head names another last event. Detected; the log is pinned
    // only by signed statements (the head, a checkpoint every 256 events
    // or minute), so the report names the event where the rewritten
    // chain meets the head, not the one edited.
    t.rewrite_chain(&tenant, 6, "{\"name\":\"innocent\"}");
    // The last event of the rewritten chain (of the lane of #6, in a log
    // of several lanes).
    let lanes = t.lanes(&tenant);
    let last = (6..=EVENTS).rev().find(|s| (s - 6) % lanes == 0).unwrap();
    assert_verify(
        t,
        &tenant,
        Some(&format!(
            "event #{last} ({}) is not the event the signed head names",
            uid(last)
        )),
    );
    restore();

    // Remove the whole log, head and checkpoints included: opening the
    // database (as `audit verify` and `serve` do) must not quietly give
    // the tenant a fresh, empty log.
    t.raw(&[
        &format!("DELETE FROM audit_events WHERE tenant_uid = '{tenant}'"),
        &format!("DELETE FROM audit_checkpoints WHERE tenant_uid = '{tenant}'"),
        &format!("DELETE FROM audit_heads WHERE tenant_uid = '{tenant}'"),
    ]);
    assert_verify(t, &tenant, Some("the log has no signed head"));
    restore();
}

#[test]
fn verify_names_the_first_tampered_event_on_sqlite() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    populate(&dir, &[]);
    tamper_and_verify(&Target::sqlite(&dir));
}

#[test]
fn verify_names_the_first_tampered_event_on_postgres() {
    let Some(db) = rt().block_on(PgTestDb::create()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    populate(&dir, &["--database-url", &db.url]);
    tamper_and_verify(&Target::postgres(&dir, &db));
    rt().block_on(db.drop_db());
}

// --------------------------------------------------------------- archives

/// Writes the first `n` events of the system log to a sealed archive in
/// `out`, as retention would (the server's library, the installation's key).
fn archive(dir: &Path, out: &Path, n: usize) -> PathBuf {
    rt().block_on(async {
        use palisade_store::Store;
        let keyring = palisade_crypto::Keyring::load_file(&dir.join("keyring")).unwrap();
        let signer = palisade_crypto::audit::AuditSigner::from_keyring(&keyring).unwrap();
        let store = palisade_store::SqlStore::open(
            &palisade_store::StoreOptions {
                database: palisade_store::Database::Sqlite(dir.join("palisade.db")),
                max_connections: 1,
            },
            palisade_store::KeyringHandle::new(
                palisade_crypto::Keyring::load_file(&dir.join("keyring")).unwrap(),
                palisade_store::KeyringSource::Fixed,
            ),
            Arc::new(palisade_core::SystemClock),
        )
        .await
        .unwrap();
        let tenant = store.tenant_by_name("system").await.unwrap().uid;
        let head = store
            .audit_heads()
            .await
            .unwrap()
            .into_iter()
            .find(|h| h.tenant_uid == tenant)
            .unwrap();
        let events = store
            .audit_expired(&head, i64::MAX, n as u32)
            .await
            .unwrap();
        assert_eq!(events.len(), n);
        store.close().await;
        palisade_server::audit::write_archive(
            out,
            &signer,
            keyring.installation_uid(),
            head.lanes,
            &events,
            palisade_core::Clock::now_ms(&palisade_core::SystemClock),
        )
        .unwrap()
    })
}

#[test]
fn verify_archive_accepts_a_sealed_file_and_names_what_was_changed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    populate(&dir, &[]);
    let t = Target::sqlite(&dir);
    let tenant = system_uid(&t);
    let good = archive(&dir, &tmp.path().join("archive"), 6);
    let g = good.display().to_string();
    let out = t.audit("verify", &["--archive", &g]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "{g}: ok — tenant {tenant}, events #1–#6 (6), sealed"
        )),
        "{}",
        out.stdout
    );
    let out = t.audit("verify", &["--archive", &g, "--output", "json"]);
    assert_eq!(out.code, 0);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(
        (
            v["ok"].clone(),
            v["fromSeq"].clone(),
            v["toSeq"].clone(),
            v["events"].clone()
        ),
        (json!(true), json!(1), json!(6), json!(6))
    );

    // One event's action changed in the file.
    let text = std::fs::read_to_string(&good).unwrap();
    let bad = tmp.path().join("edited.jsonl");
    std::fs::write(&bad, text.replacen("apikey.create", "apikey.delete", 1)).unwrap();
    // The last event dropped (seal recomputed by someone without the key is
    // not possible; the seal no longer matches).
    let cut = tmp.path().join("cut.jsonl");
    let lines: Vec<&str> = text.lines().collect();
    let mut shorter: Vec<&str> = lines[..lines.len() - 2].to_vec();
    shorter.push(lines[lines.len() - 1]);
    std::fs::write(&cut, shorter.join("\n") + "\n").unwrap();
    // The seal line removed.
    let unsealed = tmp.path().join("unsealed.jsonl");
    std::fs::write(&unsealed, lines[..lines.len() - 1].join("\n") + "\n").unwrap();
    for (path, problem) in [
        (&bad, "does not match its seal"),
        (&cut, "does not match its seal"),
        (&unsealed, "the last line is not a seal"),
    ] {
        let p = path.display().to_string();
        let out = t.audit("verify", &["--archive", &g, "--archive", &p]);
        assert_eq!(out.code, 1, "{}{}", out.stdout, out.stderr);
        assert!(out.stdout.contains(&format!("{g}: ok")), "{}", out.stdout);
        assert!(
            out.stdout.contains(&format!("{p}: TAMPERED — ")) && out.stdout.contains(problem),
            "{}",
            out.stdout
        );
        let out = t.audit("verify", &["--archive", &p, "--output", "json"]);
        assert_eq!(out.code, 1);
        let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
        assert_eq!(v["ok"], false);
        assert!(v["problem"].as_str().unwrap().contains(problem), "{v}");
    }
    // An archive of another installation: its seal does not verify here.
    let tmp2 = tempfile::tempdir().unwrap();
    let other = tmp2.path().join("data");
    populate(&other, &[]);
    let foreign = archive(&other, &tmp2.path().join("archive"), 3);
    let out = t.audit("verify", &["--archive", &foreign.display().to_string()]);
    assert_eq!(out.code, 1);
    assert!(
        out.stdout.contains("signature is invalid"),
        "{}",
        out.stdout
    );
    // A missing file is an error, not a pass.
    let out = t.audit("verify", &["--archive", "/nonexistent/archive.jsonl"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("reading /nonexistent/archive.jsonl"),
        "{}",
        out.stderr
    );
}

// ---------------------------------------------------------- list, export

fn lines_of(out: &Out) -> Vec<AuditEventView> {
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn list_and_export_filter_and_refuse_bad_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let keys = populate(&dir, &[]);
    let t = Target::sqlite(&dir);
    let tenant = system_uid(&t);
    let admin = t.text(&format!(
        "SELECT actor_uid FROM audit_events WHERE tenant_uid = '{tenant}' AND action = 'auth.login'"
    ));

    // JSON lines, newest first, the default tenant being `system`.
    let out = t.audit("list", &["--output", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let all = lines_of(&out);
    assert_eq!(all.len() as i64, EVENTS);
    assert!(all.windows(2).all(|w| w[0].seq == w[1].seq + 1));
    assert_eq!(all[0].seq, EVENTS);
    assert!(all.iter().all(|e| e.tenant_uid == tenant));
    // The table: a header, then one row per event.
    let out = t.audit("list", &["--limit", "3"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(rows.len(), 4, "{}", out.stdout);
    assert!(
        rows[0].contains("seq") && rows[0].contains("action"),
        "{}",
        rows[0]
    );
    assert!(
        rows[1].trim_start().starts_with(&EVENTS.to_string()),
        "{}",
        rows[1]
    );
    assert!(
        rows[1].contains("apikey.create") && rows[1].contains(&keys[KEYS - 1]),
        "{}",
        rows[1]
    );
    assert!(
        rows[1].contains(&admin) && rows[1].contains("success"),
        "{}",
        rows[1]
    );

    // Filters.
    let only = |extra: &[&str]| {
        let out = t.audit("list", &[&["--output", "json"], extra].concat());
        assert_eq!(out.code, 0, "{extra:?}: {}", out.stderr);
        lines_of(&out)
    };
    let made = only(&["--action", "apikey.create"]);
    assert_eq!(made.len(), KEYS);
    assert_eq!(only(&["--action", "apikey."]).len(), KEYS);
    assert_eq!(only(&["--action", "auth."]).len(), 2);
    assert_eq!(
        only(&["--actor", &admin]).len(),
        2 + KEYS,
        "password change, login, keys"
    );
    let k = only(&["--target", &keys[0]]);
    assert_eq!((k.len(), k[0].action.as_str()), (1, "apikey.create"));
    assert!(only(&["--outcome", "failure"]).is_empty());
    assert_eq!(
        only(&["--outcome", "success", "--tenant", &tenant]).len() as i64,
        EVENTS
    );
    let at = made[KEYS / 2].at;
    let from = only(&["--from", &at.to_string()]);
    assert!(!from.is_empty() && from.iter().all(|e| e.at >= at));
    let to = only(&["--to", &at.to_string()]);
    assert_eq!(
        from.len() + to.len(),
        EVENTS as usize,
        "from and to split the log"
    );
    let rfc = time_text(at);
    assert_eq!(only(&["--from", &rfc]).len(), from.len(), "{rfc}");

    // Export: JSON lines, oldest first, mode 0600, never over a file.
    let file = tmp.path().join("export.jsonl");
    let f = file.display().to_string();
    let out = t.audit("export", &["--out", &f]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("exported {EVENTS} events")),
        "{}",
        out.stderr
    );
    assert_eq!(mode(&file), 0o600);
    let exported: Vec<AuditEventView> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut oldest_first = all.clone();
    oldest_first.reverse();
    assert_eq!(exported, oldest_first);
    let before = std::fs::read(&file).unwrap();
    let out = t.audit("export", &["--out", &f]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains(&format!("creating {f}")),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read(&file).unwrap(), before, "left as it was");
    let out = t.audit("export", &["--action", "apikey.create"]);
    assert_eq!(out.code, 0);
    assert_eq!(
        lines_of(&out).iter().map(|e| e.seq).collect::<Vec<_>>(),
        (5..=EVENTS).collect::<Vec<_>>()
    );

    // Bad flags: a specific message and a non-zero exit, nothing written.
    for (sub, extra, message) in [
        (
            "list",
            vec!["--limit", "0"],
            "--limit must be between 1 and 1000",
        ),
        (
            "list",
            vec!["--limit", "1001"],
            "--limit must be between 1 and 1000",
        ),
        (
            "list",
            vec!["--output", "yaml"],
            "--output \"yaml\" is not table or json",
        ),
        ("list", vec!["--actor", "ADMIN"], "--actor must be a UID"),
        ("list", vec!["--target", "12345"], "--target must be a UID"),
        (
            "list",
            vec!["--outcome", "ok"],
            "--outcome must be success, failure or denied",
        ),
        (
            "list",
            vec!["--from", "yesterday"],
            "--from is neither ms since the epoch nor an RFC 3339 time",
        ),
        (
            "list",
            vec!["--to", "2026-13-01T00:00:00Z"],
            "--to is neither",
        ),
        (
            "list",
            vec!["--tenant", "no-such-tenant"],
            "tenant \"no-such-tenant\"",
        ),
        ("export", vec!["--actor", "nope"], "--actor must be a UID"),
        (
            "export",
            vec!["--out", "/nonexistent/dir/x.jsonl"],
            "creating /nonexistent/dir/x.jsonl",
        ),
        (
            "verify",
            vec!["--tenant", "no-such-tenant"],
            "tenant \"no-such-tenant\"",
        ),
        (
            "verify",
            vec!["--tenant", "abcdefabcdef"],
            "there is no audit log of tenant \"abcdefabcdef\"",
        ),
        (
            "verify",
            vec!["--output", "xml"],
            "--output \"xml\" is not table or json",
        ),
    ] {
        let out = t.audit(sub, &extra);
        assert_ne!(out.code, 0, "{sub} {extra:?}");
        assert!(
            out.stderr.contains(message),
            "{sub} {extra:?}: {}",
            out.stderr
        );
        assert!(
            out.stdout.is_empty() || sub == "verify",
            "{sub} {extra:?}: {}",
            out.stdout
        );
    }
    // Without a data directory or database it says so.
    let out = run(palisade().args(["audit", "verify"]));
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("data_dir"), "{}", out.stderr);
}

fn time_text(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

// ------------------------------------------------------------ crash test

/// Every API key of the tenant, through the API.
async fn all_keys(c: &Client, at: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut after = String::new();
    for _ in 0..100 {
        let page: PageOf<Value> = c
            .call::<(), _>(
                Method::GET,
                &format!("/v1/apikeys?limit=500{after}"),
                Some(at),
                None,
            )
            .await
            .unwrap()
            .body;
        out.extend(
            page.items
                .iter()
                .map(|k| k["uid"].as_str().unwrap().to_owned()),
        );
        match page.next {
            Some(n) => after = format!("&after={n}"),
            None => return out,
        }
    }
    panic!("paging does not end");
}

/// Eight writers create API keys while `server` is SIGKILLed once at least
/// `min_acks` were acknowledged; returns every acknowledged (2xx) key.
fn write_until_killed(
    runtime: &tokio::runtime::Runtime,
    server: &mut Server,
    c: &Client,
    at: &str,
    round: usize,
    min_acks: usize,
) -> BTreeSet<String> {
    const WRITERS: usize = 8;
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (c, at, acked, stop) = (c.clone(), at.to_owned(), acked.clone(), stop.clone());
        tasks.push(runtime.spawn(async move {
            let mut errors = 0;
            for i in 0..100_000 {
                if stop.load(Ordering::SeqCst) || errors > 50 {
                    break;
                }
                let r = c
                    .call::<Value, ApiKeyCreated>(
                        Method::POST,
                        "/v1/apikeys",
                        Some(&at),
                        Some(&json!({"name": format!("r{round} w{w} #{i}")})),
                    )
                    .await;
                match r {
                    Ok(a) if (200..300).contains(&a.status) => {
                        acked.lock().unwrap().push(a.body.api_key.uid)
                    }
                    // Expected once the server is gone; otherwise back off.
                    _ => {
                        errors += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }));
    }
    let started = Instant::now();
    while acked.lock().unwrap().len() < min_acks {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {} acknowledgements",
            acked.lock().unwrap().len()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // Mid-flight, at a point that varies from round to round.
    let jitter = u64::from(started.elapsed().subsec_nanos() % 200);
    std::thread::sleep(Duration::from_millis(jitter));
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    runtime.block_on(async {
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(60), t)
                .await
                .expect("writers stop")
                .unwrap();
        }
    });
    acked.lock().unwrap().iter().cloned().collect()
}

#[test]
fn sigkill_under_concurrent_writers_loses_no_acknowledged_event() {
    const ROUNDS: usize = 3;
    const MIN_ACKS: usize = 50;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut server = Server::start(&dir, &[]).unwrap();
    let t = Target::sqlite(&dir);
    let mut acked = BTreeSet::new();
    for round in 0..ROUNDS {
        let c = client(&dir.join("tls/ca.pem"), server.port);
        let at = if round == 0 {
            runtime.block_on(admin_token(&c, &dir))
        } else {
            runtime
                .block_on(c.login("system", ADMIN, GOOD))
                .unwrap()
                .body
                .access_token
                .unwrap()
        };
        let this_round = write_until_killed(&runtime, &mut server, &c, &at, round, MIN_ACKS);
        assert!(this_round.len() >= MIN_ACKS);
        acked.extend(this_round.iter().cloned());
        drop(server);

        // Restart on the same data directory: every acknowledged key has
        // its event, and no key exists without one.
        server = Server::start(&dir, &[]).unwrap();
        let out = t.audit("export", &["--action", "apikey.create"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let recorded: BTreeSet<String> = lines_of(&out)
            .into_iter()
            .map(|e| e.target_uid.unwrap())
            .collect();
        let missing: Vec<&String> = acked.difference(&recorded).collect();
        assert!(
            missing.is_empty(),
            "round {round}: {} of {} acknowledged keys have no event: {missing:?}",
            missing.len(),
            acked.len()
        );
        let c = client(&dir.join("tls/ca.pem"), server.port);
        let at = runtime
            .block_on(c.login("system", ADMIN, GOOD))
            .unwrap()
            .body
            .access_token
            .unwrap();
        let existing = runtime.block_on(all_keys(&c, &at));
        assert_eq!(
            existing, recorded,
            "round {round}: every key has its event and every event its key"
        );
        let out = t.audit("verify", &[]);
        assert_eq!(out.code, 0, "round {round}: {}{}", out.stdout, out.stderr);
        assert!(
            out.stdout.contains("1 of 1 logs verified"),
            "{}",
            out.stdout
        );
        eprintln!(
            "crash round {round}: {} acknowledged this round, {} in all, {} recorded \
             (committed but unacknowledged at the kills: {})",
            this_round.len(),
            acked.len(),
            recorded.len(),
            recorded.len() - acked.len()
        );
    }
    assert_eq!(server.stop(), 0);
}
