//! `palisade serve` on PostgreSQL: the shared local server (trust auth, a
//! fresh database and ordinary role per test), and a private instance with
//! TLS and SCRAM for `sslmode=verify-full`.

// Test code: failing loudly on unexpected errors is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use palisade_store::testing::{PgTestDb, services_required};
use support::{Server, client, palisade, rt, run};

#[test]
fn serve_on_postgres_and_restart() {
    let rt = rt();
    let Some(db) = rt.block_on(PgTestDb::create()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let s = Server::start(&dir, &["--database-url", &db.url]).unwrap();
    assert!(
        !dir.join("palisade.db").exists(),
        "no SQLite file on PostgreSQL"
    );
    let port = s.port;
    rt.block_on(async {
        let c = client(&dir.join("tls/ca.pem"), port);
        assert_eq!(c.readyz().await.unwrap().body.status, "ready");
    });
    assert!(
        !s.stderr().contains(&db.url),
        "the database URL must not be logged"
    );
    assert_eq!(s.stop(), 0);
    // Second start: same keyring, no new admin.
    let again = Server::start(&dir, &["--database-url", &db.url]).unwrap();
    assert!(
        again
            .stdout_lines
            .iter()
            .all(|l| !l.contains("one-time password"))
    );
    assert_eq!(again.stop(), 0);

    // Another installation's keyring is refused against this database.
    let other = tmp.path().join("other");
    let out = run(palisade().args(["serve", "--data-dir"]).arg(&other).args([
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        &db.url,
    ]));
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("belongs to installation"),
        "{}",
        out.stderr
    );
    assert!(
        !other.join("keyring").exists(),
        "a refused first start leaves no keyring behind"
    );
    rt.block_on(db.drop_db());
}

/// A private PostgreSQL with TLS (certificate from a test CA) and SCRAM,
/// refusing non-TLS connections. Stopped on drop.
struct PrivatePg {
    dir: tempfile::TempDir,
    port: u16,
    ca: PathBuf,
}

impl PrivatePg {
    fn start() -> Option<PrivatePg> {
        let bin = Path::new("/usr/lib/postgresql/15/bin");
        let is_root = run(Command::new("id").arg("-u")).stdout.trim() == "0";
        if !bin.join("initdb").exists() || !is_root {
            if services_required() {
                panic!("PALISADE_REQUIRE_SERVICES=1 but PostgreSQL binaries or root are missing");
            }
            eprintln!("skipping verify-full test: needs /usr/lib/postgresql/15/bin and root");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("palisade-pg")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let ok = |out: support::Out, what: &str| assert_eq!(out.code, 0, "{what}: {}", out.stderr);
        // TLS material: a test CA and a server certificate for localhost.
        let ossl = |args: &[&str]| {
            ok(
                run(Command::new("openssl").current_dir(d).args(args)),
                "openssl",
            )
        };
        ossl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=pg test CA",
        ]);
        ossl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ]);
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
        )
        .unwrap();
        ossl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
        std::fs::write(d.join("pw"), "superpw\n").unwrap();
        ok(
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(d)),
            "chown",
        );
        let data = d.join("data");
        ok(
            run(Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(bin.join("initdb"))
                .args([
                    "--auth-host=scram-sha-256",
                    "--auth-local=peer",
                    "--no-sync",
                    "-U",
                    "postgres",
                    "--pwfile",
                ])
                .arg(d.join("pw"))
                .arg("-D")
                .arg(&data)),
            "initdb",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{sock}'\nssl = on\nssl_cert_file = '{d}/server.crt'\nssl_key_file = '{d}/server.key'\nssl_min_protocol_version = 'TLSv1.2'\npassword_encryption = 'scram-sha-256'\nfsync = off\n",
            sock = d.display(),
            d = d.display()
        );
        let mut pg_conf = std::fs::read_to_string(data.join("postgresql.conf")).unwrap();
        pg_conf.push_str(&conf);
        std::fs::write(data.join("postgresql.conf"), pg_conf).unwrap();
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all peer\nhostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 0.0.0.0/0 reject\n",
        )
        .unwrap();
        ok(
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:postgres")
                .arg(d)),
            "chown",
        );
        ok(
            run(Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(bin.join("pg_ctl"))
                .arg("-D")
                .arg(&data)
                .args(["-w", "-t", "30", "-l"])
                .arg(d.join("log"))
                .arg("start")),
            "pg_ctl start",
        );
        let psql = |sql: &str| {
            ok(
                run(Command::new("runuser")
                    .args(["-u", "postgres", "--", "psql", "-h"])
                    .arg(d)
                    .args(["-p", &port.to_string(), "-v", "ON_ERROR_STOP=1", "-c", sql])),
                sql,
            )
        };
        psql("CREATE ROLE palisade LOGIN PASSWORD 'app-secret-pw'");
        psql("CREATE DATABASE palisade OWNER palisade");
        Some(PrivatePg {
            ca: d.join("ca.pem"),
            dir,
            port,
        })
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args([
                "-u",
                "postgres",
                "--",
                "/usr/lib/postgresql/15/bin/pg_ctl",
                "-D",
            ])
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

#[test]
fn verify_full_tls_and_scram() {
    let Some(pg) = PrivatePg::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let url = |mode: &str, ca: &Path| {
        format!(
            "postgres://palisade:app-secret-pw@localhost:{}/palisade?sslmode={mode}&sslrootcert={}",
            pg.port,
            ca.display()
        )
    };
    // The database URL comes from a file, as from a mounted Secret.
    let url_file = tmp.path().join("db-url");
    std::fs::write(&url_file, url("verify-full", &pg.ca)).unwrap();
    let dir = tmp.path().join("data");
    let s = Server::start(&dir, &["--database-url-file", url_file.to_str().unwrap()]).unwrap();
    let port = s.port;
    rt().block_on(async {
        assert_eq!(
            client(&dir.join("tls/ca.pem"), port)
                .readyz()
                .await
                .unwrap()
                .body
                .status,
            "ready"
        );
    });
    assert!(
        !s.stderr().contains("app-secret-pw"),
        "password leaked into the log"
    );
    assert_eq!(s.stop(), 0);

    // A CA that did not sign the server's certificate, and a connection
    // without TLS (hostnossl reject): both refused, no secret echoed.
    for (name, mode, ca) in [
        ("d2", "verify-full", dir.join("tls/ca.pem")),
        ("d3", "disable", pg.ca.clone()),
    ] {
        let out = run(palisade()
            .args(["serve", "--data-dir"])
            .arg(tmp.path().join(name))
            .args(["--listen", "127.0.0.1:0", "--database-url", &url(mode, &ca)]));
        assert_ne!(out.code, 0, "{mode}: {}", out.stdout);
        assert!(!out.stderr.contains("app-secret-pw"), "{}", out.stderr);
    }
}
