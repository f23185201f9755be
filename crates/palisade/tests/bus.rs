//! The tenant bus end to end with the three real processes: `palisade bus
//! config` writes the nats-server configuration, `/usr/sbin/nats-server`
//! runs it, `palisade serve --bus` pushes tenant accounts and talks to the
//! agents, and two `palisade agent` processes (one per tenant) connect with
//! credentials issued over the HTTPS API. Shows: clusters seen connected
//! (and each connection and disconnection in the tenant's audit log),
//! ping and harden-scan jobs answered and their reports stored, tenants
//! created while everything runs pushed live, tenant B's credentials unable
//! to read tenant A's subjects, rotated and deleted credentials refused by
//! nats-server (an agent with the rotated credentials taking over), a
//! deleted tenant's credentials refused while the others' still work, a
//! flood from one cluster refused past its budget and logged sparingly, clean
//! SIGTERM exits and no seed or user JWT in any log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods
)]

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use palisade_bus::Credentials;
use palisade_bus::client::{SharedCredentials, connect_options};
use palisade_bus::protocol::{self, Heartbeat, MessageContext};
use palisade_bus::subjects::{self, UpKind};
use palisade_bus::testing::{Events, nats_server_binary, services_required};
use palisade_client::Client;
use palisade_core::Uid;
use reqwest::Method;
use serde_json::{Value, json};
use support::{Server, client, palisade, run};

const ADMIN: &str = "admin@localhost";
const GOOD: &str = "lantern orchard quietly 7 rivers";
/// Bound for every wait on something the processes do.
const T: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);
/// Time limit of a harden-scan job (see [`run_job`]).
const SCAN_LIMIT: Duration = Duration::from_secs(180);

/// A child process killed (and reaped) when dropped; its output in `log`.
struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(cmd: &mut Command, log: PathBuf) -> Proc {
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .unwrap();
        Proc { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then a bounded wait for the exit code.
    fn terminate(&mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + T;
        while Instant::now() < deadline {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` every [`POLL`] until it gives `Some`, for at most [`T`];
/// panics with `what` and `context()` otherwise.
async fn wait_for<V>(
    what: &str,
    context: impl Fn() -> String,
    f: impl AsyncFnMut() -> Option<V>,
) -> V {
    wait_for_within(T, what, context, f).await
}

/// [`wait_for`] with its own time limit.
async fn wait_for_within<V>(
    limit: Duration,
    what: &str,
    context: impl Fn() -> String,
    mut f: impl AsyncFnMut() -> Option<V>,
) -> V {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}\n{}", context());
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn call(c: &Client, at: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    c.call::<Value, Value>(method.clone(), path, Some(at), body.as_ref())
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
        .body
}

/// One tenant's side: its UID, its admin's token, its project and cluster.
struct Tenant {
    uid: String,
    token: String,
    project: String,
    cluster: String,
}

impl Tenant {
    fn cluster_path(&self) -> String {
        format!("/v1/projects/{}/clusters/{}", self.project, self.cluster)
    }
    fn cluster_uid(&self) -> Uid {
        Uid::parse(&self.cluster).unwrap()
    }
}

/// Creates tenant `name` as the platform admin, sets its admin's password,
/// and in it a project, a cloud account and a cluster.
async fn tenant(c: &Client, root: &str, name: &str) -> Tenant {
    let email = format!("admin@{name}.test");
    let t = call(
        c,
        root,
        Method::POST,
        "/v1/tenants",
        Some(json!({"name": name, "adminEmail": email})),
    )
    .await;
    let otp = t["adminInitialPassword"].as_str().unwrap();
    c.change_password(name, &email, otp, GOOD).await.unwrap();
    let token = c
        .login(name, &email, GOOD)
        .await
        .unwrap()
        .body
        .access_token
        .unwrap();
    let project = call(
        c,
        &token,
        Method::POST,
        "/v1/projects",
        Some(json!({"name": "web"})),
    )
    .await["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let account = call(
        c,
        &token,
        Method::POST,
        &format!("/v1/projects/{project}/cloudaccounts"),
        Some(json!({"name": "aws-main", "provider": "aws", "credentials": "{\"k\":\"v\"}"})),
    )
    .await["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    let cluster = call(
        c,
        &token,
        Method::POST,
        &format!("/v1/projects/{project}/clusters"),
        Some(json!({"name": "prod", "cloudAccountUid": account})),
    )
    .await["uid"]
        .as_str()
        .unwrap()
        .to_owned();
    Tenant {
        uid: t["uid"].as_str().unwrap().to_owned(),
        token,
        project,
        cluster,
    }
}

/// Issues the cluster's credentials and writes them to `file` (0600).
async fn credentials(c: &Client, t: &Tenant, file: &Path) -> String {
    let r = c
        .call::<Value, Value>(
            Method::POST,
            &format!("{}/credentials", t.cluster_path()),
            Some(&t.token),
            None,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201);
    let text = r.body["credentials"].as_str().unwrap().to_owned();
    let parsed = Credentials::parse(&text).unwrap();
    assert_eq!(
        r.body["userPublicKey"].as_str(),
        Some(parsed.public_key()),
        "the answer names the key of the file it carries"
    );
    std::fs::write(file, &text).unwrap();
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).unwrap();
    text
}

fn agent(creds: &Path, url: &str, ca: &Path, log: PathBuf) -> Proc {
    Proc::spawn(
        palisade()
            .args(["agent", "--creds"])
            .arg(creds)
            .args(["--server", url, "--ca"])
            .arg(ca)
            .args(["--heartbeat", "1"]),
        log,
    )
}

/// Creates a job and waits (bounded) until it ended; returns its view. A
/// harden scan of the test host walks its whole root filesystem (up to the
/// scanner's walk limit), which on a cold disk cache takes far longer than
/// a ping: it gets [`SCAN_LIMIT`].
async fn run_job(c: &Client, t: &Tenant, body: Value, logs: &impl Fn() -> String) -> Value {
    let limit = if body["kind"] == "harden-scan" {
        SCAN_LIMIT
    } else {
        T
    };
    let r = c
        .call::<Value, Value>(
            Method::POST,
            &format!("{}/jobs", t.cluster_path()),
            Some(&t.token),
            Some(&body),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 201, "{}", r.body);
    let job = r.body["uid"].as_str().unwrap().to_owned();
    let path = format!("{}/jobs/{job}", t.cluster_path());
    wait_for_within(limit, &format!("job {body} to end"), logs, async || {
        let v = call(c, &t.token, Method::GET, &path, None).await;
        matches!(v["status"].as_str(), Some("succeeded" | "failed")).then_some(v)
    })
    .await
}

/// Tries a fresh connection with `creds_text`: Ok(()) when nats-server
/// accepts it, the error text when it refuses.
async fn try_connect(creds_text: &str, url: &str, ca: &Path, cluster: Uid) -> Result<(), String> {
    let creds = Credentials::parse(creds_text).unwrap();
    let events = Events::default();
    let opts = events.attach(
        connect_options(
            SharedCredentials::new(creds),
            ca,
            &subjects::cluster_inbox_prefix(cluster),
        )
        .connection_timeout(Duration::from_secs(3))
        .max_reconnects(Some(1)),
    );
    match opts.connect(url).await {
        Ok(c) => {
            // The server may also accept the handshake and close right
            // after: a round trip settles it.
            match tokio::time::timeout(Duration::from_secs(3), c.flush()).await {
                Ok(Ok(())) if !events.all().iter().any(|e| e.contains("authorization")) => Ok(()),
                _ => Err(format!("closed after connect: {:?}", events.all())),
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Waits until nats-server refuses `creds` for `cluster` as unauthorized.
async fn wait_refused(
    what: &str,
    logs: impl Fn() -> String,
    creds: &str,
    url: &str,
    ca: &Path,
    cluster: Uid,
) {
    let refused = wait_for(what, logs, async || {
        try_connect(creds, url, ca, cluster).await.err()
    })
    .await;
    assert!(
        refused.to_lowercase().contains("authorization"),
        "{what}: {refused}"
    );
}

/// Deletes `path` as `token` and checks the 204.
async fn delete(c: &Client, path: &str, token: &str) {
    let status = c
        .call::<Value, Value>(Method::DELETE, path, Some(token), None)
        .await
        .unwrap()
        .status;
    assert_eq!(status, 204, "DELETE {path}");
}

#[test]
fn three_real_processes() {
    if nats_server_binary().is_none() {
        assert!(
            !services_required(),
            "PALISADE_REQUIRE_SERVICES=1 but no nats-server binary was found"
        );
        eprintln!("skipping the bus end-to-end test: no nats-server binary");
        return;
    }
    let nats_bin = nats_server_binary().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let ca = data.join("tls/ca.pem");

    // A first start creates the keyring (with its bus master secret) and
    // the internal CA that `bus config` needs.
    let first = Server::start(&data, &[]).unwrap();
    assert_eq!(first.stop(), 0);

    // nats-server with the generated configuration, on a free loopback port
    // (another process may take the port between the probe and the start:
    // a few tries).
    let mut nats = None;
    let mut bus_port = 0;
    for _ in 0..3 {
        bus_port = free_port();
        let out = run(palisade()
            .args(["bus", "config", "--data-dir"])
            .arg(&data)
            .args(["--listen", &format!("127.0.0.1:{bus_port}")]));
        assert_eq!(out.code, 0, "{}", out.stderr);
        let conf = data.join("nats/nats-server.conf");
        assert!(out.stdout.contains("nats-server -c"), "{}", out.stdout);
        assert_eq!(support::mode(&conf), 0o600);
        assert_eq!(support::mode(&data.join("nats/nats-server-key.pem")), 0o600);
        let mut p = Proc::spawn(
            Command::new(&nats_bin).arg("-c").arg(&conf),
            tmp.path().join("nats.log"),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        let up = loop {
            if std::net::TcpStream::connect(("127.0.0.1", bus_port)).is_ok() {
                break true;
            }
            if p.child.try_wait().unwrap().is_some() || Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        if up {
            nats = Some(p);
            break;
        }
        eprintln!("nats-server did not start, retrying:\n{}", p.log());
    }
    let nats = nats.expect("nats-server started");
    let url = format!("tls://127.0.0.1:{bus_port}");
    // `bus config` issues the nats-server certificate from the internal
    // CA: the data directory's CA is the one to trust (serve's default).
    // A short heartbeat timeout (the least allowed), so that the agents'
    // end is seen as a disconnection within the test.
    let server = Server::start_cmd(
        &data,
        palisade()
            .args(["serve", "--data-dir"])
            .arg(&data)
            .args(["--listen", "127.0.0.1:0", "--bus", &url])
            .env("PALISADE_BUS_HEARTBEAT_TIMEOUT", "5"),
    )
    .unwrap();
    let c = client(&ca, server.port);
    let serve_log = || server.stderr();
    let a_log_path = tmp.path().join("agent-a.log");
    let a2_log_path = tmp.path().join("agent-a2.log");
    let b_log_path = tmp.path().join("agent-b.log");
    let logs = || {
        format!(
            "--- serve:\n{}\n--- nats-server:\n{}\n--- agent A:\n{}\n--- agent A (new credentials):\n{}\n--- agent B:\n{}",
            serve_log(),
            std::fs::read_to_string(tmp.path().join("nats.log")).unwrap_or_default(),
            std::fs::read_to_string(&a_log_path).unwrap_or_default(),
            std::fs::read_to_string(&a2_log_path).unwrap_or_default(),
            std::fs::read_to_string(&b_log_path).unwrap_or_default(),
        )
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut secrets: Vec<String> = Vec::new();
    let (mut agent_a, mut agent_a2, mut agent_b, a) = rt.block_on(async {
        let otp = std::fs::read_to_string(data.join("initial-admin-password")).unwrap();
        c.change_password("system", ADMIN, otp.trim(), GOOD)
            .await
            .unwrap();
        let root = c
            .login("system", ADMIN, GOOD)
            .await
            .unwrap()
            .body
            .access_token
            .unwrap();

        // Tenant A, created while nats-server and serve run: its account
        // reaches nats-server through the live push.
        let a = tenant(&c, &root, "acme").await;
        let a_creds_file = tmp.path().join("a.creds");
        let a_creds = credentials(&c, &a, &a_creds_file).await;
        secrets.push(a_creds.clone());
        let agent_a = agent(&a_creds_file, &url, &ca, a_log_path.clone());

        // 1. Connected, with a lastSeen.
        let view = wait_for("cluster A connected", logs, async || {
            let v = call(&c, &a.token, Method::GET, &a.cluster_path(), None).await;
            (v["connected"] == json!(true)).then_some(v)
        })
        .await;
        assert!(view["lastSeen"].as_i64().unwrap() > 0, "{view}");
        assert!(!view["agent"]["hostname"].as_str().unwrap().is_empty());
        assert!(view["credentialsExpireAt"].as_i64().is_some(), "{view}");
        // The connection is in tenant A's audit log, with the agent's host.
        let log = call(
            &c,
            &a.token,
            Method::GET,
            "/v1/audit?action=cluster.agent.connect",
            None,
        )
        .await;
        let items = log["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{log}");
        assert_eq!(items[0]["targetUid"], json!(a.cluster), "{log}");
        assert_eq!(items[0]["actorKind"], "system", "{log}");
        assert_eq!(items[0]["details"]["reason"], "first heartbeat", "{log}");
        assert_eq!(
            items[0]["details"]["hostname"], view["agent"]["hostname"],
            "{log}"
        );

        // 2. A ping job: succeeded, its (empty) report readable.
        let ping = run_job(&c, &a, json!({"kind": "ping"}), &logs).await;
        assert_eq!(ping["status"], "succeeded", "{ping}\n{}", logs());
        assert_eq!(ping["kind"], "ping");
        assert_eq!(ping["report"], json!({}), "{ping}");
        assert!(ping["finishedAt"].as_i64().is_some(), "{ping}");
        // Listed too.
        let list = call(
            &c,
            &a.token,
            Method::GET,
            &format!("{}/jobs", a.cluster_path()),
            None,
        )
        .await;
        assert!(list.to_string().contains(ping["uid"].as_str().unwrap()));

        // 3. A harden-scan job: the agent scans its own host's root (`/`).
        // The test host is no hardened node, so individual checks may fail
        // or not apply; that is the report's content, not the job's status:
        // the scan runs and the job succeeds with the scanner's whole report
        // (the same JSON as `palisade harden scan --output json`) stored.
        let scan = run_job(
            &c,
            &a,
            json!({"kind": "harden-scan", "profile": "level1"}),
            &logs,
        )
        .await;
        assert_eq!(scan["status"], "succeeded", "{scan}\n{}", logs());
        assert_eq!(scan["profile"], "level1");
        assert!(scan["error"].is_null(), "{scan}");
        let report = &scan["report"];
        assert_eq!(report["tool"], "palisade-harden", "{report}");
        assert_eq!(report["profile"], "level1", "{report}");
        assert_eq!(report["root"], "/", "{report}");
        let findings = report["findings"].as_array().unwrap();
        let total = report["summary"]["total"].as_u64().unwrap();
        assert!(total > 0 && findings.len() as u64 == total, "{report}");

        // 4. Tenant B at the same time, with its own agent.
        let b = tenant(&c, &root, "initech").await;
        let b_creds_file = tmp.path().join("b.creds");
        let b_creds = credentials(&c, &b, &b_creds_file).await;
        secrets.push(b_creds.clone());
        let agent_b = agent(&b_creds_file, &url, &ca, b_log_path.clone());
        wait_for("cluster B connected", logs, async || {
            let v = call(&c, &b.token, Method::GET, &b.cluster_path(), None).await;
            (v["connected"] == json!(true)).then_some(())
        })
        .await;
        let ping_b = run_job(&c, &b, json!({"kind": "ping"}), &logs).await;
        assert_eq!(ping_b["status"], "succeeded", "{ping_b}");

        // A raw client with B's credentials: its own cluster's down
        // subjects are readable (positive control), A's are not.
        let events = Events::default();
        let spy = events
            .attach(
                connect_options(
                    SharedCredentials::new(Credentials::parse(&b_creds).unwrap()),
                    &ca,
                    &subjects::cluster_inbox_prefix(b.cluster_uid()),
                )
                .connection_timeout(Duration::from_secs(3)),
            )
            .connect(url.as_str())
            .await
            .unwrap();
        let mut own = spy
            .subscribe(subjects::cluster_down_wildcard(b.cluster_uid()))
            .await
            .unwrap();
        let mut foreign = spy
            .subscribe(format!("palisade.c.{}.down.>", a.cluster))
            .await
            .unwrap();
        spy.flush().await.unwrap();
        assert!(
            events
                .wait_for("permissions violation", Duration::from_secs(10))
                .await,
            "subscribing to A's subjects with B's credentials is refused: {:?}",
            events.all()
        );
        // Same account's other subjects still work for the spy: a job for
        // B is seen on B's subject.
        let ping_b2 = run_job(&c, &b, json!({"kind": "ping"}), &logs).await;
        assert_eq!(ping_b2["status"], "succeeded");
        let seen = tokio::time::timeout(T, own.next()).await.unwrap().unwrap();
        assert!(
            seen.subject
                .as_str()
                .starts_with(&format!("palisade.c.{}.down.", b.cluster))
        );
        // A job for A meanwhile: A's agent gets it, the spy nothing.
        let ping_a2 = run_job(&c, &a, json!({"kind": "ping"}), &logs).await;
        assert_eq!(ping_a2["status"], "succeeded");
        assert!(
            tokio::time::timeout(Duration::from_millis(500), foreign.next())
                .await
                .ok()
                .flatten()
                .is_none(),
            "B's credentials received a message for A"
        );
        drop(spy);

        // 5. Rotation: new credentials for A; nats-server refuses the old
        // ones on a new connection once the revocation is pushed, and
        // accepts the new ones.
        let a2_creds_file = tmp.path().join("a2.creds");
        let a_creds2 = credentials(&c, &a, &a2_creds_file).await;
        secrets.push(a_creds2.clone());
        wait_refused(
            "A's old credentials refused",
            logs,
            &a_creds,
            &url,
            &ca,
            a.cluster_uid(),
        )
        .await;
        try_connect(&a_creds2, &url, &ca, a.cluster_uid())
            .await
            .unwrap();
        // An agent with the new credentials takes over: once its first
        // heartbeat is in (lastSeen moves), a ping job reaches it.
        let seen_before =
            call(&c, &a.token, Method::GET, &a.cluster_path(), None).await["lastSeen"]
                .as_i64()
                .unwrap();
        let agent_a2 = agent(&a2_creds_file, &url, &ca, a2_log_path.clone());
        wait_for("agent A (new credentials) heard from", logs, async || {
            let v = call(&c, &a.token, Method::GET, &a.cluster_path(), None).await;
            (v["lastSeen"].as_i64().unwrap_or(0) > seen_before).then_some(())
        })
        .await;
        let ping_a3 = run_job(&c, &a, json!({"kind": "ping"}), &logs).await;
        assert_eq!(ping_a3["status"], "succeeded", "{ping_a3}");

        // Deleting B's cluster revokes its credentials likewise.
        delete(&c, &b.cluster_path(), &b.token).await;
        wait_refused(
            "B's credentials refused after the delete",
            logs,
            &b_creds,
            &url,
            &ca,
            b.cluster_uid(),
        )
        .await;

        // Deleting a whole tenant revokes its account on the running
        // nats-server (a tombstone push): credentials that connected a
        // moment before are refused, and the other tenant's still work.
        // Palisade's own connection as the tenant's server user, which the
        // tombstone cuts off, ends too instead of retrying for ever.
        let logged = |message: &str, tenant: &str| {
            let tenant = format!("\"tenant\":\"{tenant}\"");
            serve_log()
                .lines()
                .any(|l| l.contains(message) && l.contains(&tenant))
        };
        let d = tenant(&c, &root, "umbrella").await;
        wait_for("a server connection for the new tenant", logs, async || {
            logged("bus: tenant connection opened", &d.uid).then_some(())
        })
        .await;
        let d_creds = credentials(&c, &d, &tmp.path().join("d.creds")).await;
        secrets.push(d_creds.clone());
        try_connect(&d_creds, &url, &ca, d.cluster_uid())
            .await
            .unwrap();
        delete(&c, &format!("/v1/tenants/{}", d.uid), &root).await;
        wait_refused(
            "the deleted tenant's credentials refused",
            logs,
            &d_creds,
            &url,
            &ca,
            d.cluster_uid(),
        )
        .await;
        wait_for(
            "the deleted tenant's server connection to end",
            logs,
            async || logged("bus: tenant connection closed", &d.uid).then_some(()),
        )
        .await;
        try_connect(&a_creds2, &url, &ca, a.cluster_uid())
            .await
            .unwrap();

        // A flood from one cluster's credentials: past the cluster's budget
        // (a burst of 200, then 20 a second) its messages are refused and
        // counted without being acted on, and logged a line at a time.
        let readyz = async || {
            call(&c, &root, Method::GET, "/readyz", None).await["bus"]["refusedMessages"]
                .as_u64()
                .unwrap()
        };
        let refused_before = readyz().await;
        let flood = connect_options(
            SharedCredentials::new(Credentials::parse(&a_creds2).unwrap()),
            &ca,
            &subjects::cluster_inbox_prefix(a.cluster_uid()),
        )
        .connect(&url)
        .await
        .unwrap();
        let ctx = MessageContext {
            request: Uid::generate().unwrap(),
            tenant: Uid::parse(&a.uid).unwrap(),
            cluster: a.cluster_uid(),
        };
        let body = protocol::encode(&Heartbeat {
            agent_version: "flood".into(),
            hostname: "flood".into(),
            time: 1,
        })
        .unwrap();
        for _ in 0..2000 {
            flood
                .publish_with_headers(
                    subjects::up(a.cluster_uid(), UpKind::Heartbeat),
                    ctx.headers(),
                    body.clone().into(),
                )
                .await
                .unwrap();
        }
        flood.flush().await.unwrap();
        wait_for("the flood refused past the budget", logs, async || {
            (readyz().await >= refused_before + 1500).then_some(())
        })
        .await;
        (agent_a, agent_a2, agent_b, a)
    });

    // 6. SIGTERM: the agents and serve exit cleanly. The agents with
    // revoked credentials lost their connection (nats-server closes revoked
    // users' connections) and exit without waiting for a flush that cannot
    // happen; the agent with the current credentials flushes and exits.
    assert_eq!(agent_a2.terminate(), Some(0), "{}", agent_a2.log());
    assert!(agent_a2.log().contains("SIGTERM: stopping"));
    assert!(!agent_a2.log().contains("not connected at shutdown"));
    for (name, agent) in [("A", &mut agent_a), ("B", &mut agent_b)] {
        let started = Instant::now();
        assert_eq!(agent.terminate(), Some(0), "agent {name}:\n{}", agent.log());
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "agent {name} took {:?}",
            started.elapsed()
        );
        let log = agent.log();
        assert!(log.contains("SIGTERM: stopping"), "agent {name}:\n{log}");
        assert!(
            log.contains("not connected at shutdown"),
            "agent {name}:\n{log}"
        );
    }
    // With every agent stopped, cluster A falls silent: once the heartbeat
    // timeout has passed, its disconnection is in tenant A's audit log.
    rt.block_on(async {
        let event = wait_for("cluster A recorded as disconnected", logs, async || {
            let log = call(
                &c,
                &a.token,
                Method::GET,
                "/v1/audit?action=cluster.agent.disconnect",
                None,
            )
            .await;
            log["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["targetUid"] == json!(a.cluster))
                .cloned()
        })
        .await;
        assert_eq!(event["actorKind"], "system", "{event}");
        assert!(event["details"]["lastSeen"].as_i64().is_some(), "{event}");
        let view = call(&c, &a.token, Method::GET, &a.cluster_path(), None).await;
        assert_eq!(view["connected"], json!(false), "{view}");
    });
    let serve_stderr = server.stderr();
    let serve_stdout = server.stdout_lines.join("\n");
    assert_eq!(server.stop(), 0, "{serve_stderr}");
    let serve_stderr = std::fs::read_to_string(data.with_extension("stderr.log")).unwrap();
    let refusal_lines = serve_stderr.matches("agent message refused").count();
    assert!(
        (1..50).contains(&refusal_lines),
        "{refusal_lines} log lines for the flood's refusals"
    );
    assert!(serve_stderr.contains("refused_not_logged"));
    let nats_log = nats.log();
    // Stops nats-server (SIGKILL and reap).
    drop(nats);

    // No seed and no user JWT in any process's output (nats-server's
    // included: it names users by public key only).
    let outputs = [
        ("serve", serve_stderr + &serve_stdout),
        ("agent A", agent_a.log()),
        ("agent A (new credentials)", agent_a2.log()),
        ("agent B", agent_b.log()),
        ("nats-server", nats_log),
    ];
    for text in &secrets {
        let parsed = Credentials::parse(text).unwrap();
        let seed = text
            .lines()
            .find(|l| l.starts_with("SU"))
            .expect("a seed line");
        for (who, out) in &outputs {
            assert!(!out.is_empty(), "{who} logged nothing");
            assert!(!out.contains(seed), "{who} logged a seed");
            assert!(!out.contains(parsed.jwt()), "{who} logged a user JWT");
        }
    }
}
