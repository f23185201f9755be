//! End-to-end tests of `palisade serve` on the embedded default: the files a
//! first start creates, TLS as real clients see it, and every refusal.

// Test code: failing loudly on unexpected errors is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

mod support;

use std::path::Path;
use std::process::Command;

use support::{Server, client, mode, palisade, rt, run, tree_bytes};

#[test]
fn first_start_creates_the_contract_files_and_serves_https_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let server = Server::start(&dir, &[]).unwrap();

    // The contract files, with their modes.
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("keyring")), 0o600);
    assert_eq!(mode(&dir.join("initial-admin-password")), 0o600);
    assert_eq!(mode(&dir.join("palisade.db")), 0o600);
    assert_eq!(mode(&dir.join("tls/ca-key.pem")), 0o600);
    assert_eq!(mode(&dir.join("tls/server-key.pem")), 0o600);
    let ca = dir.join("tls/ca.pem");
    assert!(ca.exists());

    // The one-time password is printed once and matches the file.
    let password = std::fs::read_to_string(dir.join("initial-admin-password")).unwrap();
    let password = password.trim();
    assert_eq!(password.len(), 24);
    let printed: Vec<_> = server
        .stdout_lines
        .iter()
        .filter(|l| l.contains(password))
        .collect();
    assert_eq!(printed.len(), 1, "{:?}", server.stdout_lines);
    // …and never reaches the log.
    assert!(!server.stderr().contains(password));

    // The CA is RSA-2048, as the seed states.
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&ca)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
    assert!(text.contains("CA:TRUE"), "{text}");

    // A real TLS client verifying with the generated CA gets 200.
    let port = server.port;
    rt().block_on(async {
        let c = client(&ca, port);
        let h = c.healthz().await.unwrap();
        assert_eq!(h.status, 200);
        assert_eq!(h.body.status, "ok");
        assert_eq!(h.request_uid.as_deref().map(str::len), Some(12));
        assert_eq!(c.readyz().await.unwrap().body.status, "ready");
        let nf = c.get::<serde_json::Value>("/nope").await.unwrap_err();
        assert!(nf.to_string().contains("not_found"), "{nf}");

        // A client that trusts nothing fails the handshake.
        let nothing = palisade_client::Client::with_roots(
            &format!("https://localhost:{port}"),
            rustls::RootCertStore::empty(),
        )
        .unwrap();
        let err = nothing.healthz().await.unwrap_err();
        assert!(
            matches!(err, palisade_client::ClientError::Transport(_)),
            "{err}"
        );
    });

    // OpenSSL as an independent client: verifies with the CA over TLS 1.3
    // and 1.2; TLS 1.1 is refused.
    let s_client = |extra: &[&str]| {
        let mut c = Command::new("openssl");
        c.args(["s_client", "-brief", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .args([
                "-servername",
                "localhost",
                "-verify_return_error",
                "-CAfile",
            ])
            .arg(&ca)
            .args(extra)
            .stdin(std::process::Stdio::null());
        run(&mut c)
    };
    let t13 = s_client(&["-tls1_3"]);
    assert!(t13.stderr.contains("TLSv1.3"), "{}", t13.stderr);
    assert!(t13.stderr.contains("Verification: OK"), "{}", t13.stderr);
    let t12 = s_client(&["-tls1_2"]);
    assert!(t12.stderr.contains("TLSv1.2"), "{}", t12.stderr);
    let t11 = s_client(&["-tls1_1"]);
    assert_ne!(t11.code, 0, "TLS 1.1 must be refused: {}", t11.stderr);

    // No plaintext HTTP: a cleartext request gets no HTTP response.
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let _ = tcp.read_to_end(&mut buf);
    assert!(!String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"));

    // JSON access log with the request UID, and SIGTERM stops cleanly.
    let log = server.stderr();
    assert!(log.contains("\"request_uid\""), "{log}");
    assert_eq!(server.stop(), 0);

    // A second start reuses everything and prints no new password.
    let keyring_before = std::fs::read(dir.join("keyring")).unwrap();
    let again = Server::start(&dir, &[]).unwrap();
    assert!(
        again
            .stdout_lines
            .iter()
            .all(|l| !l.contains("one-time password"))
    );
    assert_eq!(std::fs::read(dir.join("keyring")).unwrap(), keyring_before);
    assert_eq!(again.stop(), 0);
}

/// Starts once so the directory holds real data, then stops.
fn initialised() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let s = Server::start(&dir, &[]).unwrap();
    assert_eq!(s.stop(), 0);
    (tmp, dir)
}

fn refused(dir: &Path, expect: &str) {
    let before = tree_bytes(dir);
    let out = run(palisade()
        .args(["serve", "--data-dir"])
        .arg(dir)
        .args(["--listen", "127.0.0.1:0"]));
    assert_ne!(out.code, 0, "must refuse; stdout {}", out.stdout);
    assert!(
        out.stderr.contains(expect),
        "expected {expect:?} in: {}",
        out.stderr
    );
    assert_eq!(tree_bytes(dir), before, "the data directory was modified");
}

#[test]
fn keyring_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let (_t, dir) = initialised();
    std::fs::set_permissions(dir.join("keyring"), std::fs::Permissions::from_mode(0o644)).unwrap();
    refused(
        &dir,
        "has mode 0644; it must not be accessible by group or others",
    );
}

#[test]
fn corrupt_keyring_is_refused() {
    let (_t, dir) = initialised();
    let k = dir.join("keyring");
    let text = std::fs::read_to_string(&k).unwrap();
    // Change one character of the hash salt's base64.
    let pos = text.find("\"hashSalt\": \"").unwrap() + 14;
    let mut bytes = text.into_bytes();
    bytes[pos] = if bytes[pos] == b'A' { b'B' } else { b'A' };
    std::fs::write(&k, bytes).unwrap();
    refused(&dir, "checksum mismatch");
    std::fs::write(&k, b"{ not json").unwrap();
    refused(&dir, "not valid keyring JSON");
}

#[test]
fn another_installations_keyring_is_refused() {
    let (_t, dir) = initialised();
    let (_t2, other) = initialised();
    std::fs::copy(other.join("keyring"), dir.join("keyring")).unwrap();
    refused(&dir, "belongs to installation");
}

#[test]
fn database_without_its_keyring_is_refused() {
    let (_t, dir) = initialised();
    std::fs::remove_file(dir.join("keyring")).unwrap();
    refused(&dir, "exists but its keyring");
}

#[test]
fn newer_schema_is_refused() {
    let (_t, dir) = initialised();
    let db = dir.join("palisade.db");
    rt().block_on(async {
        use sqlx::{ConnectOptions, Connection};
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&db)
            .connect()
            .await
            .unwrap();
        sqlx::query("INSERT INTO schema_migrations VALUES (99, 'future', 'x', 0)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    });
    refused(
        &dir,
        "schema is version 99, newer than this binary supports",
    );
}

#[test]
fn loose_data_directory_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let (_t, dir) = initialised();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    refused(&dir, "chmod 700");
}

#[test]
fn config_check_layers_and_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("palisade.toml");
    std::fs::write(
        &file,
        "data_dir = \"/from/file\"\nlisten = \"127.0.0.1:1111\"\nadmin_email = \"file@example.com\"\n",
    )
    .unwrap();
    // Flags over environment over file.
    let out = run(palisade()
        .args(["config", "check", "--config"])
        .arg(&file)
        .args(["--admin-email", "flag@example.com"])
        .env("PALISADE_LISTEN", "127.0.0.1:2222")
        .env(
            "PALISADE_DATABASE_URL",
            "postgres://u:hunter2@db.internal/palisade",
        ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("data_dir    = /from/file"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("listen      = 127.0.0.1:2222"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("admin_email = flag@example.com"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("database    = postgres ***"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("hunter2") && !out.stderr.contains("hunter2"));

    // Unknown key in the file: named, with its line, and nothing else echoed.
    std::fs::write(&file, "data_dir = \"/x\"\nlisten_addr = \"secret-ish\"\n").unwrap();
    let out = run(palisade().args(["config", "check", "--config"]).arg(&file));
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("listen_addr") && out.stderr.contains("line 2"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("secret-ish"), "{}", out.stderr);

    for (args, env, expect) in [
        (vec![], vec![], "no data directory"),
        (
            vec!["--data-dir", "/d", "--listen", "nonsense"],
            vec![],
            "listen address",
        ),
        (
            vec!["--data-dir", "/d", "--admin-email", "nope"],
            vec![],
            "admin email",
        ),
        (
            vec!["--data-dir", "/d", "--keyring-file", "/k"],
            vec![("PALISADE_KEYRING", "{}")],
            "not both",
        ),
        (
            vec!["--data-dir", "/d"],
            vec![("PALISADE_LOG_FORMAT", "xml")],
            "log format",
        ),
    ] {
        let mut c = palisade();
        c.args(["config", "check"]).args(&args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = run(&mut c);
        assert_ne!(out.code, 0, "{args:?}");
        assert!(out.stderr.contains(expect), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn rotate_root_online_then_restart_with_only_the_new_root() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let server = Server::start(&dir, &[]).unwrap();
    let before: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("keyring")).unwrap()).unwrap();
    assert_eq!(before["currentRootKey"], 1);

    // Rotate while the server runs.
    let out = run(palisade()
        .args(["keys", "rotate-root", "--data-dir"])
        .arg(&dir));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout
            .contains("rotated to version 2: 1 tenant keys re-wrapped"),
        "{}",
        out.stdout
    );
    let after: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("keyring")).unwrap()).unwrap();
    assert_eq!(after["currentRootKey"], 2);
    assert_eq!(
        after["rootKeys"].as_object().unwrap().len(),
        1,
        "old root dropped"
    );
    assert_eq!(after["hashSalt"], before["hashSalt"]);
    assert_eq!(mode(&dir.join("keyring")), 0o600);

    let port = server.port;
    rt().block_on(async {
        assert_eq!(
            client(&dir.join("tls/ca.pem"), port)
                .readyz()
                .await
                .unwrap()
                .status,
            200
        );
    });
    assert_eq!(server.stop(), 0);
    // A restart opens every tenant key with the new root alone.
    let again = Server::start(&dir, &[]).unwrap();
    assert_eq!(again.stop(), 0);
}

#[test]
fn hostname_flag_and_imported_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let s = Server::start(&dir, &["--hostname", "palisade.example.com"]).unwrap();
    let text = run(Command::new("openssl")
        .args(["x509", "-noout", "-ext", "subjectAltName", "-in"])
        .arg(dir.join("tls/server.pem")));
    assert!(
        text.stdout.contains("DNS:palisade.example.com"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("IP Address:127.0.0.1"),
        "{}",
        text.stdout
    );
    assert_eq!(s.stop(), 0);

    // Import an operator certificate made by openssl for another CA.
    let op = tmp.path().join("op");
    std::fs::create_dir(&op).unwrap();
    // An operator CA and a leaf for localhost, as cert-manager would issue.
    let ossl = |args: &[&str]| {
        let out = run(Command::new("openssl").current_dir(&op).args(args));
        assert_eq!(out.code, 0, "openssl {args:?}: {}", out.stderr);
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
        "30",
        "-subj",
        "/CN=Operator CA",
    ]);
    ossl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        op.join("ext.cnf"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    ossl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "30",
        "-extfile",
        "ext.cnf",
    ]);
    let dir2 = tmp.path().join("data2");
    let s = Server::start(
        &dir2,
        &[
            "--tls-cert",
            op.join("cert.pem").to_str().unwrap(),
            "--tls-key",
            op.join("key.pem").to_str().unwrap(),
        ],
    )
    .unwrap();
    let port = s.port;
    rt().block_on(async {
        // The operator's certificate is served: trusted by its own CA…
        assert_eq!(
            client(&op.join("ca.pem"), port)
                .healthz()
                .await
                .unwrap()
                .status,
            200
        );
        // …and not by the installation's internal one.
        assert!(
            client(&dir.join("tls/ca.pem"), port)
                .healthz()
                .await
                .is_err()
        );
    });
    assert_eq!(s.stop(), 0);

    // A key that does not match the certificate is refused.
    let other = run(Command::new("openssl").current_dir(&op).args([
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "other.pem",
    ]));
    assert_eq!(other.code, 0);
    let out = run(palisade()
        .args(["serve", "--data-dir"])
        .arg(tmp.path().join("data3"))
        .args(["--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(op.join("cert.pem"))
        .arg("--tls-key")
        .arg(op.join("other.pem")));
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("TLS"), "{}", out.stderr);
}

#[test]
fn keyring_from_environment_and_rotation_with_out() {
    let (tmp, dir) = initialised();
    // Move the keyring out of the data directory into an environment
    // variable, as a Kubernetes Secret exposed as env would.
    let keyring = std::fs::read_to_string(dir.join("keyring")).unwrap();
    std::fs::remove_file(dir.join("keyring")).unwrap();
    let mut cmd = palisade();
    cmd.args(["serve", "--data-dir"])
        .arg(&dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("PALISADE_KEYRING", &keyring);
    let s = Server::start_cmd(&dir, &mut cmd).unwrap();
    assert!(
        !dir.join("keyring").exists(),
        "an env keyring is never written to disk"
    );
    assert!(!s.stderr().contains(&keyring[..40]));
    assert_eq!(s.stop(), 0);

    // Rotation cannot write back into an environment variable…
    let out = run(palisade()
        .args(["keys", "rotate-root", "--data-dir"])
        .arg(&dir)
        .env("PALISADE_KEYRING", &keyring));
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("--out FILE"), "{}", out.stderr);
    // …so it writes the rotated keyring where it is told, mode 0600.
    let rotated = tmp.path().join("rotated-keyring");
    let out = run(palisade()
        .args(["keys", "rotate-root", "--data-dir"])
        .arg(&dir)
        .arg("--out")
        .arg(&rotated)
        .env("PALISADE_KEYRING", &keyring));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(mode(&rotated), 0o600);
    let new_keyring = std::fs::read_to_string(&rotated).unwrap();

    // The old keyring no longer opens the database; the new one does.
    let mut old = palisade();
    old.args(["serve", "--data-dir"])
        .arg(&dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("PALISADE_KEYRING", &keyring);
    let out = run(&mut old);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("keyring"), "{}", out.stderr);
    let mut cmd = palisade();
    cmd.args(["serve", "--data-dir"])
        .arg(&dir)
        .args(["--listen", "127.0.0.1:0"])
        .env("PALISADE_KEYRING", &new_keyring);
    let s = Server::start_cmd(&dir, &mut cmd).unwrap();
    assert_eq!(s.stop(), 0);
}

#[test]
fn admin_user_lifecycle_from_the_cli() {
    let (_t, dir) = initialised();
    let admin = |args: &[&str]| {
        run(palisade()
            .args(["admin", "user"])
            .args(args)
            .arg("--data-dir")
            .arg(&dir))
    };
    let out = admin(&[
        "create",
        "--tenant",
        "system",
        "--email",
        "ops@example.com",
        "--name",
        "Ops",
        "--role",
        "tenant-admin",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let pw_line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("one-time password: "))
        .unwrap();
    assert_eq!(pw_line.len(), "one-time password: ".len() + 24);
    let out = admin(&["list", "--tenant", "system"]);
    assert!(
        out.stdout.contains("ops@example.com") && out.stdout.contains("tenant-admin"),
        "{}",
        out.stdout
    );
    let out = admin(&[
        "disable",
        "--tenant",
        "system",
        "--email",
        "ops@example.com",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        admin(&["list", "--tenant", "system"])
            .stdout
            .contains("disabled")
    );
    assert_eq!(
        admin(&["enable", "--tenant", "system", "--email", "OPS@example.com"]).code,
        0
    );
    let out = admin(&[
        "reset-password",
        "--tenant",
        "system",
        "--email",
        "ops@example.com",
    ]);
    assert!(out.stdout.contains("one-time password: "), "{}", out.stdout);
    assert!(!out.stdout.contains(pw_line), "a new password");
    assert_eq!(
        admin(&["unlock", "--tenant", "system", "--email", "ops@example.com"]).code,
        0
    );
    assert_eq!(
        admin(&[
            "revoke-sessions",
            "--tenant",
            "system",
            "--email",
            "ops@example.com"
        ])
        .code,
        0
    );
    assert_eq!(
        admin(&["delete", "--tenant", "system", "--email", "ops@example.com"]).code,
        0
    );
    // Specific errors.
    let out = admin(&[
        "disable",
        "--tenant",
        "system",
        "--email",
        "ops@example.com",
    ]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("user \"ops@example.com\""),
        "{}",
        out.stderr
    );
    let out = admin(&["list", "--tenant", "nope"]);
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("tenant \"nope\""), "{}", out.stderr);
    let out = admin(&[
        "create",
        "--tenant",
        "system",
        "--email",
        "x@example.com",
        "--name",
        "X",
        "--role",
        "root",
    ]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("role \"root\" of tenant \"system\""),
        "{}",
        out.stderr
    );
}

/// `palisade admin` run as another process against the database of a
/// running server takes effect on that server's very next request, even
/// right after the same token was accepted many times (the server keeps
/// what it read per thread while the database does not change).
#[test]
fn admin_cli_changes_apply_to_a_running_server_on_the_next_request() {
    const GOOD: &str = "lantern orchard quietly 7 rivers";
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let server = Server::start(&dir, &[]).unwrap();
    let c = client(&dir.join("tls/ca.pem"), server.port);
    let admin = |args: &[&str]| {
        let out = run(palisade()
            .args(["admin", "user"])
            .args(args)
            .args(["--tenant", "system", "--email", "admin@localhost"])
            .arg("--data-dir")
            .arg(&dir));
        assert_eq!(out.code, 0, "{}", out.stderr);
    };
    let me = |token: String| {
        let c = c.clone();
        async move {
            let a = c
                .raw(palisade_client::Method::GET, "/v1/me", Some(&token), None)
                .await
                .unwrap();
            let code = serde_json::from_slice::<serde_json::Value>(&a.body)
                .ok()
                .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned));
            (a.status, code)
        }
    };
    rt().block_on(async {
        let otp = std::fs::read_to_string(dir.join("initial-admin-password")).unwrap();
        c.change_password("system", "admin@localhost", otp.trim(), GOOD)
            .await
            .unwrap();
        let login = || async {
            c.login("system", "admin@localhost", GOOD)
                .await
                .unwrap()
                .body
                .access_token
                .unwrap()
        };
        // Accepted many times, concurrently, so every server thread has
        // read the session.
        let token = login().await;
        for _ in 0..5 {
            let mut batch = tokio::task::JoinSet::new();
            for _ in 0..8 {
                batch.spawn(me(token.clone()));
            }
            while let Some(answer) = batch.join_next().await {
                assert_eq!(answer.unwrap(), (200, None));
            }
        }
        admin(&["revoke-sessions"]);
        for _ in 0..8 {
            assert_eq!(
                me(token.clone()).await,
                (401, Some("session_revoked".to_owned()))
            );
        }
        let token = login().await;
        for _ in 0..16 {
            assert_eq!(me(token.clone()).await.0, 200);
        }
        // Disabling ends the user's sessions too, and login is refused.
        admin(&["disable"]);
        for _ in 0..8 {
            assert_eq!(
                me(token.clone()).await,
                (401, Some("session_revoked".to_owned()))
            );
        }
        assert!(c.login("system", "admin@localhost", GOOD).await.is_err());
        admin(&["enable"]);
        let token = login().await;
        assert_eq!(me(token).await, (200, None));
    });
}
