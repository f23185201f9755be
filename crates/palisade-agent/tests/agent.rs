//! `palisade agent` against a real nats-server (the private harness of
//! palisade-bus, TLS from a throwaway CA). The test plays Palisade's side
//! with the library: its server user subscribes to the cluster's `up`
//! subjects, sends jobs and acks, answers renewals.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, Message, Subscriber};
use futures_util::StreamExt;
use palisade_agent::{AgentError, AgentOptions};
use palisade_bus::client::{SharedCredentials, connect_options};
use palisade_bus::protocol::{
    self, Ack, Heartbeat, Job, JobKind, JobResult, JobStatus, MessageContext, RenewAnswer,
    RenewRequest,
};
use palisade_bus::subjects::{self, Direction, DownKind, SERVER_INBOX_PREFIX, UpKind};
use palisade_bus::testing::{TestNats, now};
use palisade_bus::{Credentials, Revocations, TenantKeys, TenantLimits, push_account_jwt};
use palisade_core::{SystemClock, Uid};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const T: Duration = Duration::from_secs(10);
const TENANT: u64 = 0xa1;
const CLUSTER: u64 = 0xc1;

struct Env {
    nats: TestNats,
    server: Client,
    up: Subscriber,
    dir: tempfile::TempDir,
    creds_file: PathBuf,
}

fn cluster() -> Uid {
    Uid::from_u64(CLUSTER)
}

fn tenant_uid() -> Uid {
    Uid::from_u64(TENANT)
}

fn write_creds(path: &Path, creds: &Credentials) {
    std::fs::write(path, creds.to_file_text().as_bytes()).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A nats-server with tenant A's account pushed, cluster credentials of
/// `ttl` seconds in a 0600 file, and Palisade's server user (reconnecting
/// forever) subscribed to the cluster's `up` subjects.
async fn setup(ttl: i64) -> Option<Env> {
    palisade_agent::install_crypto_provider();
    let nats = TestNats::start().await?;
    let pusher = nats.pusher().await;
    let tenant = TenantKeys::derive(&nats.master, tenant_uid(), 1).unwrap();
    let token = nats
        .operator
        .tenant_account_jwt(
            &tenant,
            &TenantLimits::default(),
            &Revocations::default(),
            now(),
        )
        .unwrap();
    push_account_jwt(&pusher, &token, T).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let creds_file = dir.path().join("cluster.creds");
    let creds = tenant
        .issue_cluster_credentials(cluster(), now(), ttl)
        .unwrap();
    write_creds(&creds_file, &creds);
    let server_creds = tenant.server_user_credentials(now(), 600).unwrap();
    let server = connect_options(
        SharedCredentials::new(server_creds),
        &nats.ca_file,
        SERVER_INBOX_PREFIX,
    )
    .max_reconnects(None)
    .connect(nats.url.as_str())
    .await
    .unwrap_or_else(|e| panic!("server user: {e}\n{}", nats.log()));
    let up = server
        .subscribe(subjects::cluster_up_wildcard(cluster()))
        .await
        .unwrap();
    server.flush().await.unwrap();
    Some(Env {
        nats,
        server,
        up,
        dir,
        creds_file,
    })
}

impl Env {
    fn spool(&self) -> PathBuf {
        self.dir.path().join("spool")
    }

    fn options(&self) -> AgentOptions {
        let mut o = AgentOptions::new(
            self.creds_file.clone(),
            self.nats.url.clone(),
            Some(self.nats.ca_file.clone()),
            Some(self.spool()),
            Duration::from_secs(1),
            Arc::new(SystemClock),
        )
        .unwrap();
        // Scans read an empty root: fast and the same everywhere.
        o.scan_root = self.dir.path().join("root");
        std::fs::create_dir_all(&o.scan_root).unwrap();
        o
    }

    fn start_agent(&self) -> (oneshot::Sender<()>, JoinHandle<Result<(), AgentError>>) {
        let (tx, rx) = oneshot::channel::<()>();
        let opts = self.options();
        let h = tokio::spawn(palisade_agent::run(opts, async move {
            let _ = rx.await;
        }));
        (tx, h)
    }

    async fn send(&self, kind: DownKind, body: Vec<u8>) {
        let ctx = MessageContext {
            request: Uid::generate().unwrap(),
            tenant: tenant_uid(),
            cluster: cluster(),
        };
        self.server
            .publish_with_headers(subjects::down(cluster(), kind), ctx.headers(), body.into())
            .await
            .unwrap();
        self.server.flush().await.unwrap();
    }

    async fn job(&self, job_uid: u64, kind: JobKind) {
        let body = protocol::encode(&Job {
            job_uid: Uid::from_u64(job_uid),
            kind,
        })
        .unwrap();
        self.send(DownKind::Job, body).await;
    }

    async fn ack(&self, message_uid: Uid) {
        self.send(
            DownKind::Ack,
            protocol::encode(&Ack { message_uid }).unwrap(),
        )
        .await;
    }

    /// The next message of `kind` within `wait`, checked like Palisade
    /// checks what it receives (headers, subject, tenant).
    async fn next(&mut self, kind: UpKind, wait: Duration) -> Option<Message> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.checked_duration_since(tokio::time::Instant::now())?;
            let m = tokio::time::timeout(left, self.up.next()).await.ok()??;
            let (s, ctx) = protocol::check_incoming(
                m.subject.as_str(),
                m.headers.as_ref(),
                tenant_uid(),
                Direction::Up,
            )
            .unwrap_or_else(|e| panic!("{}: {e}", m.subject));
            assert_eq!(ctx.cluster, cluster());
            if s.to_subject() == subjects::up(cluster(), kind) {
                return Some(m);
            }
        }
    }

    async fn result(&mut self, wait: Duration) -> Option<JobResult> {
        let m = self.next(UpKind::Result, wait).await?;
        Some(protocol::decode::<JobResult>(&m.payload).unwrap())
    }

    fn spooled(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.spool())
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".result"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

async fn stop(tx: oneshot::Sender<()>, h: JoinHandle<Result<(), AgentError>>) {
    let _ = tx.send(());
    tokio::time::timeout(Duration::from_secs(20), h)
        .await
        .expect("agent stops")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn heartbeats_jobs_acks_and_duplicates() {
    let Some(mut env) = setup(300).await else {
        return;
    };
    let (tx, h) = env.start_agent();

    // A heartbeat with the three headers (checked in `next`).
    let hb = env.next(UpKind::Heartbeat, T).await.expect("heartbeat");
    let hb: Heartbeat = protocol::decode(&hb.payload).unwrap();
    assert_eq!(hb.agent_version, env!("CARGO_PKG_VERSION"));
    assert!((hb.time - now()).abs() < 10);

    // A ping job, sent twice: runs once; its result is republished (same
    // messageUid) until acknowledged, then never again.
    env.job(1, JobKind::Ping {}).await;
    env.job(1, JobKind::Ping {}).await;
    let first = env.result(T).await.expect("ping result");
    assert_eq!(first.job_uid, Uid::from_u64(1));
    assert_eq!(first.status, JobStatus::Succeeded);
    assert_eq!(first.report, Some(serde_json::json!({})));
    assert_eq!(env.spooled(), vec![format!("{}.result", first.message_uid)]);
    let again = env.result(T).await.expect("republished before the ack");
    assert_eq!(again.message_uid, first.message_uid);
    env.ack(first.message_uid).await;
    // Drain what was in flight, then expect silence longer than the
    // longest retry pause reached so far.
    let quiet = Duration::from_secs(9);
    let deadline = tokio::time::Instant::now() + quiet;
    let mut extra = 0;
    while let Some(r) = env
        .result(deadline.saturating_duration_since(tokio::time::Instant::now()))
        .await
    {
        assert_eq!(r.message_uid, first.message_uid, "the duplicate job ran");
        extra += 1;
    }
    assert!(extra <= 1, "{extra} republications after the ack");
    assert!(env.spooled().is_empty());

    // A scan job reports the same JSON as `harden scan --output json`.
    env.job(
        2,
        JobKind::HardenScan {
            profile: "level1".into(),
        },
    )
    .await;
    let scan = env.result(T).await.expect("scan result");
    assert_eq!(scan.job_uid, Uid::from_u64(2));
    assert_eq!(scan.status, JobStatus::Succeeded, "{:?}", scan.error);
    let report = scan.report.unwrap();
    assert_eq!(report["profile"], "level1");
    assert_eq!(report["tool"], "palisade-harden");
    env.ack(scan.message_uid).await;
    // An unknown profile fails the job with a clear error.
    env.job(
        3,
        JobKind::HardenScan {
            profile: "nope".into(),
        },
    )
    .await;
    let bad = env.result(T).await.expect("failed scan result");
    assert_eq!(bad.status, JobStatus::Failed);
    assert!(bad.error.unwrap().contains("harden scan failed"));
    env.ack(bad.message_uid).await;

    stop(tx, h).await;
}

#[tokio::test]
async fn results_survive_a_stopped_server_and_agent_restarts() {
    let Some(mut env) = setup(300).await else {
        return;
    };
    let (tx, h) = env.start_agent();
    env.next(UpKind::Heartbeat, T).await.expect("heartbeat");
    env.job(7, JobKind::Ping {}).await;
    let r = env.result(T).await.expect("result");
    // No ack: the result stays in the spool across the agent's stop…
    stop(tx, h).await;
    assert_eq!(env.spooled(), vec![format!("{}.result", r.message_uid)]);
    // …and a corrupt file next to it is set aside, not fatal.
    std::fs::write(env.spool().join("000000000bad.result"), b"{").unwrap();

    // The agent starts while nats-server is down and delivers once it is
    // back.
    env.nats.stop();
    let (tx, h) = env.start_agent();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!h.is_finished(), "the agent must wait for the server");
    env.nats.restart().await.unwrap();
    let again = env
        .result(Duration::from_secs(60))
        .await
        .expect("result after restart");
    assert_eq!(again.message_uid, r.message_uid);
    assert_eq!(again.job_uid, Uid::from_u64(7));
    env.ack(r.message_uid).await;
    let deadline = tokio::time::Instant::now() + T;
    while !env.spooled().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(env.spooled().is_empty());
    assert_eq!(
        std::fs::read_dir(env.spool().join("corrupt"))
            .unwrap()
            .count(),
        1
    );
    // The restarted agent takes new jobs.
    env.job(8, JobKind::Ping {}).await;
    let r8 = env.result(T).await.expect("new job after restart");
    assert_eq!(r8.job_uid, Uid::from_u64(8));
    env.ack(r8.message_uid).await;

    // A result produced while the server is stopped is delivered when it
    // is back.
    env.job(9, JobKind::Ping {}).await;
    let r9 = env.result(T).await.expect("result 9");
    env.nats.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(env.spooled(), vec![format!("{}.result", r9.message_uid)]);
    env.nats.restart().await.unwrap();
    let again = env
        .result(Duration::from_secs(60))
        .await
        .expect("redelivered");
    assert_eq!(again.message_uid, r9.message_uid);
    env.ack(r9.message_uid).await;
    let deadline = tokio::time::Instant::now() + T;
    while !env.spooled().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(env.spooled().is_empty());
    stop(tx, h).await;
}

/// Answers renewal requests like Palisade: a new JWT for the same key.
fn renewer(env: &Env, answer: fn(&TenantKeys, &str) -> RenewAnswer) -> JoinHandle<usize> {
    let server = env.server.clone();
    let tenant = TenantKeys::derive(&env.nats.master, tenant_uid(), 1).unwrap();
    tokio::spawn(async move {
        let mut sub = server
            .subscribe(subjects::up(cluster(), UpKind::Renew))
            .await
            .unwrap();
        let mut n = 0;
        while let Some(m) = sub.next().await {
            let (s, ctx) = protocol::check_incoming(
                m.subject.as_str(),
                m.headers.as_ref(),
                tenant_uid(),
                Direction::Up,
            )
            .unwrap();
            let reply = protocol::check_reply(&s, m.reply.as_deref())
                .unwrap()
                .to_owned();
            let req: RenewRequest = protocol::decode(&m.payload).unwrap();
            let body = protocol::encode(&answer(&tenant, &req.public_key)).unwrap();
            server
                .publish_with_headers(reply, ctx.headers(), body.into())
                .await
                .unwrap();
            n += 1;
        }
        n
    })
}

#[tokio::test]
async fn renewal_rewrites_the_creds_file_and_outlives_the_old_jwt() {
    let Some(mut env) = setup(6).await else {
        return;
    };
    let old = std::fs::read_to_string(&env.creds_file).unwrap();
    let old_exp = Credentials::parse(&old)
        .unwrap()
        .claims()
        .unwrap()
        .exp
        .unwrap();
    let r = renewer(&env, |t, key| {
        let jwt = t.cluster_user_jwt(cluster(), key, now(), 120).unwrap();
        RenewAnswer::Renewed {
            jwt,
            expires_at: now() + 120,
        }
    });
    env.server.flush().await.unwrap();
    let (tx, h) = env.start_agent();
    env.next(UpKind::Heartbeat, T).await.expect("heartbeat");
    // Renewal at 2/3 of 6 s.
    let deadline = tokio::time::Instant::now() + T;
    let new = loop {
        let now_text = std::fs::read_to_string(&env.creds_file).unwrap();
        if now_text != old {
            break now_text;
        }
        assert!(tokio::time::Instant::now() < deadline, "no renewal");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let new = Credentials::parse(&new).unwrap();
    let old = Credentials::parse(&old).unwrap();
    assert_eq!(new.public_key(), old.public_key());
    assert!(new.claims().unwrap().exp.unwrap() > old_exp + 60);
    assert_eq!(
        std::fs::metadata(&env.creds_file).unwrap().mode() & 0o777,
        0o600
    );
    // Past the old JWT's expiry the server cuts the old connection; the
    // agent reconnects with the renewed JWT and keeps working.
    while now() <= old_exp + 1 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    while env.up.next().now_or_never_ok() {}
    env.job(11, JobKind::Ping {}).await;
    let res = env
        .result(Duration::from_secs(30))
        .await
        .expect("works after expiry");
    assert_eq!(res.job_uid, Uid::from_u64(11));
    env.ack(res.message_uid).await;
    assert!(
        env.next(UpKind::Heartbeat, T).await.is_some(),
        "heartbeats continue"
    );
    stop(tx, h).await;
    r.abort();
}

#[tokio::test]
async fn refused_renewal_stops_the_agent_when_the_credentials_expire() {
    let Some(env) = setup(4).await else { return };
    let _r = renewer(&env, |_, _| RenewAnswer::Refused {
        code: "cluster_deleted".into(),
    });
    env.server.flush().await.unwrap();
    let (_tx, h) = env.start_agent();
    let res = tokio::time::timeout(Duration::from_secs(20), h)
        .await
        .expect("agent exits at expiry")
        .unwrap();
    match res {
        Err(AgentError::Expired { refused, .. }) => {
            assert_eq!(refused.as_deref(), Some("cluster_deleted"));
        }
        other => panic!("expected Expired, got {other:?}"),
    }
}

#[tokio::test]
async fn plaintext_urls_and_readable_credentials_are_refused() {
    palisade_agent::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("c.creds");
    for url in [
        "nats://127.0.0.1:4222",
        "127.0.0.1:4222",
        "ws://127.0.0.1:1",
    ] {
        let e = AgentOptions::new(
            creds.clone(),
            url.into(),
            None,
            None,
            Duration::from_secs(5),
            Arc::new(SystemClock),
        )
        .unwrap_err();
        assert!(e.to_string().contains("TLS only"), "{url}: {e}");
    }
    // Options built by hand are checked again by `run`.
    let mut o = AgentOptions::new(
        creds.clone(),
        "tls://127.0.0.1:1".into(),
        None,
        None,
        Duration::from_secs(5),
        Arc::new(SystemClock),
    )
    .unwrap();
    assert_eq!(o.spool_dir, dir.path().join("agent-spool"));
    o.server = "nats://127.0.0.1:4222".into();
    let e = palisade_agent::run(o.clone(), std::future::pending())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("TLS only"), "{e}");

    // A group- or world-readable credentials file is refused.
    let tenant = TenantKeys::derive(
        &palisade_bus::BusMasterSecret::from_bytes([9; 32]),
        tenant_uid(),
        1,
    )
    .unwrap();
    write_creds(
        &creds,
        &tenant
            .issue_cluster_credentials(cluster(), now(), 60)
            .unwrap(),
    );
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o640)).unwrap();
    o.server = "tls://127.0.0.1:1".into();
    let e = palisade_agent::run(o, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        matches!(e, AgentError::CredsPermissions { mode: 0o640, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("chmod 600"), "{e}");
}

trait NowOrNever {
    fn now_or_never_ok(self) -> bool;
}

impl<F: std::future::Future<Output = Option<Message>>> NowOrNever for F {
    /// True when the future is ready with a message at once (drains
    /// messages queued before a point in the test).
    fn now_or_never_ok(self) -> bool {
        matches!(futures_util::FutureExt::now_or_never(self), Some(Some(_)))
    }
}
